/* The STM32Cube HAL types, macros and functions the npubench STM32 port uses. */
#ifndef SHIM_STM32_HAL_H
#define SHIM_STM32_HAL_H
#include <stdint.h>
extern uint32_t SystemCoreClock;
typedef enum { HAL_OK = 0 } HAL_StatusTypeDef;
typedef enum { GPIO_PIN_RESET = 0, GPIO_PIN_SET } GPIO_PinState;
typedef struct { volatile uint32_t reg[16]; } GPIO_TypeDef;
typedef struct { volatile uint32_t ISR; volatile uint32_t RDR; } USART_TypeDef;
#define GPIOB ((GPIO_TypeDef *)0x58020400u)
#define GPIOD ((GPIO_TypeDef *)0x58020C00u)
#define GPIOE ((GPIO_TypeDef *)0x58021000u)
#define USART1 ((USART_TypeDef *)0x40011000u)
#define USART3 ((USART_TypeDef *)0x40004800u)
typedef struct { uint32_t Pin, Mode, Pull, Speed, Alternate; } GPIO_InitTypeDef;
typedef struct {
    uint32_t BaudRate, WordLength, StopBits, Parity, Mode, HwFlowCtl, OverSampling;
} UART_InitTypeDef;
typedef struct { USART_TypeDef *Instance; UART_InitTypeDef Init; } UART_HandleTypeDef;
#define GPIO_PIN_0 0x0001u
#define GPIO_PIN_5 0x0020u
#define GPIO_PIN_6 0x0040u
#define GPIO_PIN_8 0x0100u
#define GPIO_PIN_9 0x0200u
#define GPIO_MODE_AF_PP 2u
#define GPIO_MODE_OUTPUT_PP 1u
#define GPIO_PULLUP 1u
#define GPIO_NOPULL 0u
#define GPIO_SPEED_FREQ_HIGH 2u
#define GPIO_SPEED_FREQ_VERY_HIGH 3u
#define GPIO_AF7_USART1 7u
#define GPIO_AF7_USART3 7u
#define UART_WORDLENGTH_8B 0u
#define UART_STOPBITS_1 0u
#define UART_PARITY_NONE 0u
#define UART_MODE_TX_RX 0xCu
#define UART_HWCONTROL_NONE 0u
#define UART_OVERSAMPLING_16 0u
#define UART_FLAG_RXNE (1u << 5)
#define UART_FLAG_ORE (1u << 3)
#define UART_CLEAR_OREF (1u << 3)
#define HAL_MAX_DELAY 0xFFFFFFFFu
#define __HAL_UART_GET_FLAG(h, f) (((h)->Instance->ISR & (f)) == (f))
#define __HAL_UART_CLEAR_FLAG(h, f) ((h)->Instance->ISR = (f))
#define __HAL_RCC_GPIOB_CLK_ENABLE() ((void)0)
#define __HAL_RCC_GPIOD_CLK_ENABLE() ((void)0)
#define __HAL_RCC_GPIOE_CLK_ENABLE() ((void)0)
#define __HAL_RCC_USART1_CLK_ENABLE() ((void)0)
#define __HAL_RCC_USART3_CLK_ENABLE() ((void)0)
HAL_StatusTypeDef HAL_Init(void);
void HAL_IncTick(void);
void HAL_GPIO_Init(GPIO_TypeDef *port, GPIO_InitTypeDef *init);
void HAL_GPIO_WritePin(GPIO_TypeDef *port, uint16_t pin, GPIO_PinState state);
HAL_StatusTypeDef HAL_UART_Init(UART_HandleTypeDef *huart);
HAL_StatusTypeDef HAL_UART_Transmit(UART_HandleTypeDef *huart, const uint8_t *data, uint16_t size,
                                    uint32_t timeout);
void SCB_CleanDCache_by_Addr(volatile void *addr, int32_t size);
void SCB_InvalidateDCache_by_Addr(volatile void *addr, int32_t size);
#endif

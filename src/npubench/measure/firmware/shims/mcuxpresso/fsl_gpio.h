#ifndef SHIM_FSL_GPIO_H
#define SHIM_FSL_GPIO_H
#include <stdint.h>
typedef struct { volatile uint32_t reg[32]; } GPIO_Type;
#define GPIO0 ((GPIO_Type *)0x40096000u)
typedef enum { kGPIO_DigitalInput = 0, kGPIO_DigitalOutput = 1 } gpio_pin_direction_t;
typedef struct { gpio_pin_direction_t pinDirection; uint8_t outputLogic; } gpio_pin_config_t;
void GPIO_PinInit(GPIO_Type *base, uint32_t pin, const gpio_pin_config_t *config);
void GPIO_PinWrite(GPIO_Type *base, uint32_t pin, uint8_t output);
#endif

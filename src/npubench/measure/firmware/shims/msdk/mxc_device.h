#ifndef SHIM_MXC_DEVICE_H
#define SHIM_MXC_DEVICE_H
#include <stdint.h>
extern uint32_t SystemCoreClock;
void SystemCoreClockUpdate(void);
#define E_OVERFLOW (-9)
typedef struct { volatile uint32_t reg[16]; } mxc_uart_regs_t;
typedef struct { volatile uint32_t reg[32]; } mxc_gpio_regs_t;
#define MXC_GPIO0 ((mxc_gpio_regs_t *)0x40008000u)
#define MXC_GPIO1 ((mxc_gpio_regs_t *)0x40009000u)
#define MXC_GPIO2 ((mxc_gpio_regs_t *)0x40080400u)
#endif

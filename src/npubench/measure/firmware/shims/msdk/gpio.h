#ifndef SHIM_GPIO_H
#define SHIM_GPIO_H
#include <stdint.h>
#include "mxc_device.h"
typedef enum { MXC_GPIO_FUNC_IN, MXC_GPIO_FUNC_OUT } mxc_gpio_func_t;
typedef enum { MXC_GPIO_PAD_NONE } mxc_gpio_pad_t;
typedef enum { MXC_GPIO_VSSEL_VDDIO, MXC_GPIO_VSSEL_VDDIOH } mxc_gpio_vssel_t;
typedef struct {
    mxc_gpio_regs_t *port;
    uint32_t mask;
    mxc_gpio_func_t func;
    mxc_gpio_pad_t pad;
    mxc_gpio_vssel_t vssel;
} mxc_gpio_cfg_t;
#define MXC_GPIO_PIN_6 (1u << 6)
int MXC_GPIO_Config(const mxc_gpio_cfg_t *cfg);
void MXC_GPIO_OutSet(mxc_gpio_regs_t *port, uint32_t mask);
void MXC_GPIO_OutClr(mxc_gpio_regs_t *port, uint32_t mask);
#endif

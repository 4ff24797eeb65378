#ifndef SHIM_HX_DRV_SCU_H
#define SHIM_HX_DRV_SCU_H
typedef enum { SCU_PB5_PINMUX_GPIO16 = 0 } SCU_PB5_PINMUX_E;
int hx_drv_scu_set_PB5_pinmux(SCU_PB5_PINMUX_E pinmux, int direction);
#endif

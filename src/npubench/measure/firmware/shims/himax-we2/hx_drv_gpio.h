#ifndef SHIM_HX_DRV_GPIO_H
#define SHIM_HX_DRV_GPIO_H
typedef enum { GPIO16 = 16 } GPIO_INDEX_E;
typedef enum { GPIO_OUT_LOW = 0, GPIO_OUT_HIGH = 1 } GPIO_OUT_LEVEL_E;
int hx_drv_gpio_set_output(GPIO_INDEX_E gpio, GPIO_OUT_LEVEL_E level);
int hx_drv_gpio_set_out_value(GPIO_INDEX_E gpio, GPIO_OUT_LEVEL_E level);
#endif

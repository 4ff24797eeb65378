#ifndef SHIM_HX_DRV_UART_H
#define SHIM_HX_DRV_UART_H
#include <stdint.h>
typedef enum { USE_DW_UART_0 = 0 } USE_DW_UART_E;
typedef struct dev_uart {
    int32_t (*uart_write)(const void *data, uint32_t len);
    int32_t (*uart_read_nonblock)(void *data, uint32_t len);
} DEV_UART, *DEV_UART_PTR;
DEV_UART_PTR hx_drv_uart_get_dev(USE_DW_UART_E uart_id);
#endif

#ifndef SHIM_UART_H
#define SHIM_UART_H
#include <stdint.h>
#include "mxc_device.h"
mxc_uart_regs_t *MXC_UART_GET_UART(int idx);
int MXC_UART_ReadCharacterRaw(mxc_uart_regs_t *uart);
int MXC_UART_WriteCharacterRaw(mxc_uart_regs_t *uart, uint8_t character);
#endif

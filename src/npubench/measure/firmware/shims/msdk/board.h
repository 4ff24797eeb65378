#ifndef SHIM_BOARD_H
#define SHIM_BOARD_H
#define CONSOLE_UART 0
#endif

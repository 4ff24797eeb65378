#ifndef SHIM_BOARD_H
#define SHIM_BOARD_H
#include <stdint.h>
extern uint32_t SystemCoreClock;
int BOARD_InitDebugConsole(void);
#endif

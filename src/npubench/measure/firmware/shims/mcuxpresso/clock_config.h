#ifndef SHIM_CLOCK_CONFIG_H
#define SHIM_CLOCK_CONFIG_H
void BOARD_InitBootClocks(void);
#endif

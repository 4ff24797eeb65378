#ifndef SHIM_PIN_MUX_H
#define SHIM_PIN_MUX_H
void BOARD_InitPins(void);
#endif

#ifndef SHIM_WE2_DEVICE_H
#define SHIM_WE2_DEVICE_H
#include <stdint.h>
extern uint32_t SystemCoreClock;
#endif

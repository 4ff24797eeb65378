#ifndef SHIM_MXC_H
#define SHIM_MXC_H
#include "mxc_device.h"
void MXC_LP_EnterSleepMode(void);
#define MXC_S_GCR_PCLKDIV_CNNCLKSEL_PCLK 0u
#define MXC_S_GCR_PCLKDIV_CNNCLKSEL_IPLL 1u
#define MXC_S_GCR_PCLKDIV_CNNCLKDIV_DIV1 0u
#define MXC_S_GCR_PCLKDIV_CNNCLKDIV_DIV4 2u
#endif

#ifndef SHIM_MXC_SYS_H
#define SHIM_MXC_SYS_H
typedef enum { MXC_SYS_CLOCK_IPO = 0 } mxc_sys_system_clock_t;
int MXC_SYS_Clock_Select(mxc_sys_system_clock_t clock);
#endif

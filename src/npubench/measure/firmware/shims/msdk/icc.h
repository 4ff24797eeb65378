#ifndef SHIM_ICC_H
#define SHIM_ICC_H
typedef struct { int r; } mxc_icc_regs_t;
#define MXC_ICC0 ((mxc_icc_regs_t *)0x4002A000u)
void MXC_ICC_Enable(mxc_icc_regs_t *icc);
#endif

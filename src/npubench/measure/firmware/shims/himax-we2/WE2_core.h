#ifndef SHIM_WE2_CORE_H
#define SHIM_WE2_CORE_H
#endif

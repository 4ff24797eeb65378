/* The ST LL_ATON runtime API the npubench N6 model port calls (ll_aton_runtime.h). */
#ifndef SHIM_LL_ATON_RUNTIME_H
#define SHIM_LL_ATON_RUNTIME_H
#include <stdint.h>
typedef enum { LL_ATON_RT_NO_WFE, LL_ATON_RT_WFE, LL_ATON_RT_DONE } LL_ATON_RT_RetValues_t;
typedef struct { const char *name; uintptr_t addr_base; uint32_t offset_start, offset_end; }
    LL_Buffer_InfoTypeDef;
typedef struct { int unused; } NN_Instance_TypeDef;
#define LL_ATON_DECLARE_NAMED_NN_INSTANCE_AND_INTERFACE(name) \
    extern NN_Instance_TypeDef NN_Instance_##name;            \
    const LL_Buffer_InfoTypeDef *LL_ATON_Input_Buffers_Info_##name(void); \
    const LL_Buffer_InfoTypeDef *LL_ATON_Output_Buffers_Info_##name(void);
void LL_ATON_RT_RuntimeInit(void);
void LL_ATON_RT_Init_Network(NN_Instance_TypeDef *nn);
void LL_ATON_RT_Reset_Network(NN_Instance_TypeDef *nn);
LL_ATON_RT_RetValues_t LL_ATON_RT_RunEpochBlock(NN_Instance_TypeDef *nn);
void LL_ATON_OSAL_WFE(void);
void *LL_Buffer_addr_start(const LL_Buffer_InfoTypeDef *buf);
uint32_t LL_Buffer_len(const LL_Buffer_InfoTypeDef *buf);
#endif

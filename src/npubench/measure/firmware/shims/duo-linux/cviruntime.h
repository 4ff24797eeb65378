/* The cviruntime API (Sophgo cvitek_tpu_sdk include/cviruntime.h) the Duo model port calls. */
#ifndef SHIM_CVIRUNTIME_H
#define SHIM_CVIRUNTIME_H
#include <stddef.h>
#include <stdint.h>
typedef void *CVI_MODEL_HANDLE;
typedef int CVI_RC;
#define CVI_RC_SUCCESS 0
typedef struct { char *name; size_t count; } CVI_TENSOR;
CVI_RC CVI_NN_RegisterModel(const char *model_file, CVI_MODEL_HANDLE *model);
CVI_RC CVI_NN_GetInputOutputTensors(CVI_MODEL_HANDLE model, CVI_TENSOR **inputs,
                                    int32_t *input_num, CVI_TENSOR **outputs,
                                    int32_t *output_num);
CVI_RC CVI_NN_Forward(CVI_MODEL_HANDLE model, CVI_TENSOR inputs[], int32_t input_num,
                      CVI_TENSOR outputs[], int32_t output_num);
void *CVI_NN_TensorPtr(CVI_TENSOR *tensor);
size_t CVI_NN_TensorSize(CVI_TENSOR *tensor);
#endif

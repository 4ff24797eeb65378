/*
 * npb_model_weak.c - default init, input copy, output copy and argmax for
 * model ports that only provide npb_model_invoke() (e.g. generated code).
 *
 * Kept in its own file so that the compiler cannot inline a weak default into
 * the harness and bypass a port's strong definition.
 */
#include "npb_model.h"

#if defined(__GNUC__)
#define NPB_WEAK __attribute__((weak))
#else
#define NPB_WEAK
#endif

NPB_WEAK int npb_model_init(void) { return 0; }

NPB_WEAK int npb_model_set_input(const uint8_t *staged, int8_t *tensor, uint32_t len)
{
    uint32_t i;
    for (i = 0; i < len; i++) {
        tensor[i] = (int8_t)staged[i];
    }
    return 0;
}

NPB_WEAK int npb_model_get_output(const int8_t *tensor, uint8_t *out, uint32_t len)
{
    uint32_t i;
    for (i = 0; i < len; i++) {
        out[i] = (uint8_t)tensor[i];
    }
    return 0;
}

NPB_WEAK int npb_model_postprocess(const uint8_t *output, uint32_t len, int32_t *result)
{
    uint32_t j, best = 0;
    for (j = 1; j < len; j++) {
        if ((int8_t)output[j] > (int8_t)output[best]) {
            best = j;
        }
    }
    *result = (int32_t)best;
    return 0;
}

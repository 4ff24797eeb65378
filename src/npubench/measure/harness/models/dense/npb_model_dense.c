/*
 * npb_model_dense.c - the built-in workload "npb-dense-v1": one int8 fully
 * connected layer, 1024 inputs -> 128 outputs, whose weights are a closed
 * formula so that the host can recompute the exact output in numpy
 * (npubench.measure.model_stub.dense_reference).  It stands in for a
 * generated model.c until real int8 networks are compiled for the harness.
 *
 *   w[j][i] = ((37 i + 101 j + 13) mod 255) - 127
 *   b[j]    = ((7919 j) mod 2001) - 1000
 *   y[j]    = clamp(floor((b[j] + sum_i x[i] w[j][i]) / 4096), -128, 127)
 *   post    = argmax_j y[j] (first maximum)
 *
 * init unpacks the weights into RAM (like a runtime copying weights from
 * flash), inference is the MAC loop; input_io, output_io (tensor copies) and
 * postprocess (argmax) are the harness defaults.
 */
#include <stdint.h>

#include "npb_model.h"

#define DENSE_IN 1024u
#define DENSE_OUT 128u
#define DENSE_SHIFT 12u
/* Offset making every accumulator positive so that ">>" floors portably:
 * |acc| <= 1024 * 128 * 127 + 1000 < 2^24. */
#define DENSE_BIAS_OFFSET 16777216

/* The first 16 hex digits of the SHA-256 of the model descriptor string in
 * model_stub.py; a unit test checks that both agree. */
#define DENSE_HASH "f68df171e0e5ebd9"

static int8_t g_weights[DENSE_OUT][DENSE_IN];
static int32_t g_bias[DENSE_OUT];

const char *npb_model_name(void) { return "npb-dense-v1"; }
const char *npb_model_hash(void) { return DENSE_HASH; }
uint32_t npb_model_input_bytes(void) { return DENSE_IN; }
uint32_t npb_model_output_bytes(void) { return DENSE_OUT; }

int npb_model_init(void)
{
    uint32_t i, j;
    for (j = 0; j < DENSE_OUT; j++) {
        uint32_t v = (101u * j + 13u) % 255u;
        for (i = 0; i < DENSE_IN; i++) {
            g_weights[j][i] = (int8_t)((int32_t)v - 127);
            v += 37u;
            if (v >= 255u) {
                v -= 255u;
            }
        }
        g_bias[j] = (int32_t)((7919u * j) % 2001u) - 1000;
    }
    return 0;
}

int npb_model_invoke(const int8_t *input, int8_t *output)
{
    uint32_t i, j;
    for (j = 0; j < DENSE_OUT; j++) {
        int32_t acc = g_bias[j];
        int32_t q;
        const int8_t *w = g_weights[j];
        for (i = 0; i < DENSE_IN; i++) {
            acc += (int32_t)input[i] * (int32_t)w[i];
        }
        q = (int32_t)((uint32_t)(acc + DENSE_BIAS_OFFSET) >> DENSE_SHIFT) -
            (int32_t)(DENSE_BIAS_OFFSET >> DENSE_SHIFT);
        output[j] = (int8_t)(q > 127 ? 127 : (q < -128 ? -128 : q));
    }
    return 0;
}

/* input_io, output_io and postprocess (argmax) use the defaults of npb_model_weak.c. */

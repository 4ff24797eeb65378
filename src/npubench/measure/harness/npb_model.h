/*
 * npb_model.h - the interface a model port implements for the harness.
 *
 * Only npb_model_invoke() and the four identity functions are required; the
 * other stages have weak defaults (npb_model_weak.c) that a port may replace.
 * The signature of npb_model_invoke() is the one npubench's C code generator
 * (compilers/cgen, prefix "npb_model") emits, so a generated model.c links in
 * unchanged next to models/cgen/npb_model_glue.c.
 *
 * The harness owns the input and output tensors (static, 8-byte aligned) and
 * times each call as one stage:
 *
 *   init        npb_model_init()                        default: nothing
 *   input_io    npb_model_set_input(staged, tensor, n)  default: copy n bytes
 *   inference   npb_model_invoke(tensor_in, tensor_out)  required
 *   output_io   npb_model_get_output(tensor, out, n)    default: copy n bytes
 *   postprocess npb_model_postprocess(out, n, &result)  default: argmax over int8
 *
 * Every call returns 0 on success; any other value is reported to the host as
 * an ERR line naming the stage.  npb_model_init() runs before every repetition
 * and must be idempotent.  Tensors are raw bytes (int8 as two's complement).
 */
#ifndef NPB_MODEL_API_H /* not NPB_MODEL_H: that is the generated model.h's guard */
#define NPB_MODEL_API_H

#include <stdint.h>

#define NPB_MODEL_API_VERSION 2

/* ---- required ---- */
/* Short name without spaces (<= 24 chars), e.g. "npb-dense-v1". */
const char *npb_model_name(void);
/* First 16 hex digits of the SHA-256 of the model file this firmware runs. */
const char *npb_model_hash(void);
uint32_t npb_model_input_bytes(void);
uint32_t npb_model_output_bytes(void);
/* One inference: reads npb_model_input_bytes() bytes, writes npb_model_output_bytes(). */
int npb_model_invoke(const int8_t *input, int8_t *output);

/* ---- optional (weak defaults) ---- */
int npb_model_init(void);
int npb_model_set_input(const uint8_t *staged, int8_t *tensor, uint32_t len);
int npb_model_get_output(const int8_t *tensor, uint8_t *out, uint32_t len);
/* result: a model-defined summary of the output (default: index of the first maximum). */
int npb_model_postprocess(const uint8_t *output, uint32_t len, int32_t *result);

#endif /* NPB_MODEL_API_H */

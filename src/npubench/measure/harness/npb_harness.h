/*
 * npb_harness.h - the portable measurement harness: answers the host over the
 * npubench serial protocol (docs/protocol.md), stages the input, runs N
 * warm-ups and M timed repetitions of the five stages around the model port's
 * callbacks (npb_model.h), and reports per-stage ticks and the output.
 *
 * Portable C99, no dynamic allocation: buffer sizes are compile-time macros
 * that a port or the Makefile may override.
 */
#ifndef NPB_HARNESS_H
#define NPB_HARNESS_H

#include <stdint.h>

#include "npb_protocol.h"

#define NPB_FW_VERSION "0.1.0"

#ifndef NPB_MAX_INPUT_BYTES
#define NPB_MAX_INPUT_BYTES 4096u
#endif
#ifndef NPB_MAX_OUTPUT_BYTES
#define NPB_MAX_OUTPUT_BYTES 1024u
#endif
#ifndef NPB_MAX_REPEAT
#define NPB_MAX_REPEAT 256u
#endif
#define NPB_MAX_WARMUP 100000u
#define NPB_IN_CHUNK 64u     /* input bytes per NEED/IN exchange */
#define NPB_OUT_CHUNK 32u    /* output bytes per OUT line */
#define NPB_IN_RETRIES 5u    /* NEED is sent at most this many times per chunk */
#define NPB_IN_TIMEOUT_MS 1000u

enum npb_stage {
    NPB_STAGE_INIT = 0,
    NPB_STAGE_INPUT_IO,
    NPB_STAGE_INFERENCE,
    NPB_STAGE_OUTPUT_IO,
    NPB_STAGE_POSTPROCESS,
    NPB_NUM_STAGES
};

extern const char *const npb_stage_names[NPB_NUM_STAGES];

/* One timed repetition. */
typedef struct {
    uint32_t ticks[NPB_NUM_STAGES];
    uint32_t out_crc; /* CRC-32 of the output bytes of this repetition */
    int32_t post;     /* npb_model_postprocess() result */
} npb_rep;

/* Runs the five stages once on in[0..in_len) and leaves the output in out
 * (in_len/out_len must not exceed NPB_MAX_INPUT_BYTES/NPB_MAX_OUTPUT_BYTES).
 * Returns 0, or the stage index + 1 of the first failing callback. */
int npb_run_once(npb_rep *rep, const uint8_t *in, uint32_t in_len, uint8_t *out,
                 uint32_t out_len);

/* Initialises the port and announces the board with a HELLO line. */
void npb_boot(void);
/* Reads and answers host lines until max_lines lines were handled or the port
 * reports NPB_PORT_EOF.  Returns the number of lines handled, or -1 on EOF. */
long npb_serve(uint32_t max_lines);
/* npb_boot() then npb_serve() forever: the body of a port's main(). */
void npb_main(void);

#endif /* NPB_HARNESS_H */

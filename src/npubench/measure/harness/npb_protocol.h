/*
 * npb_protocol.h - the board side of the npubench serial protocol, version 1.
 *
 * Every message is one ASCII line:  "NPB1 <TYPE> key=value key=value *<crc32>\n"
 * where <crc32> is the CRC-32/ISO-HDLC (the zlib crc32) of every byte before
 * the " *" separator, as 8 lower-case hex digits.  docs/protocol.md is the
 * normative description; src/npubench/measure/protocol.py is the host codec.
 *
 * Portable C99, no dynamic allocation, no libc beyond <stdint.h>/<stddef.h>.
 */
#ifndef NPB_PROTOCOL_H
#define NPB_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define NPB_PROTO_VERSION 1u
#define NPB_MAGIC "NPB1"

/* Longest line, without its '\n'.  An IN line carrying 64 input bytes
 * (128 hex digits) plus its header and checksum fits with room to spare. */
#define NPB_LINE_MAX 240u
#define NPB_MAX_FIELDS 14

/* Result codes of the parser. */
#define NPB_OK 0
#define NPB_E_MAGIC (-1)  /* the line does not start with "NPB1 " */
#define NPB_E_CRC (-2)    /* missing or wrong checksum */
#define NPB_E_SYNTAX (-3) /* a token is not key=value, or too many fields */

/* ---- CRC-32/ISO-HDLC (poly 0x04C11DB7 reflected = 0xEDB88320) ---- */
uint32_t npb_crc32_begin(void);
uint32_t npb_crc32_step(uint32_t state, const void *data, size_t n);
uint32_t npb_crc32_end(uint32_t state);
uint32_t npb_crc32(const void *data, size_t n);

/* ---- Input PRNG: xorshift32 (Marsaglia 13/17/5), one byte = top 8 bits ---- */
#define NPB_PRNG_ZERO_SEED 0x6E706231u /* "npb1": replaces seed 0, a fixed point */
void npb_prng_fill(uint32_t seed, uint8_t *out, size_t n);

/* ---- Building a line ---- */
typedef struct {
    char buf[NPB_LINE_MAX + 2]; /* + '\n' + NUL */
    size_t len;
    int overflow; /* set when anything did not fit; npb_line_finish then fails */
} npb_line;

void npb_line_start(npb_line *l, const char *type);
void npb_line_str(npb_line *l, const char *key, const char *value);
void npb_line_u32(npb_line *l, const char *key, uint32_t value);
void npb_line_i32(npb_line *l, const char *key, int32_t value);
void npb_line_hex32(npb_line *l, const char *key, uint32_t value);
void npb_line_bytes(npb_line *l, const char *key, const uint8_t *data, size_t n);
/* Appends " *<crc>\n"; returns the finished line (NUL-terminated) or NULL on overflow. */
const char *npb_line_finish(npb_line *l);

/* ---- Receiving bytes into lines ---- */
typedef struct {
    char buf[NPB_LINE_MAX + 1];
    size_t len;
    int discarding; /* an overlong line is dropped up to its '\n' */
} npb_rx;

void npb_rx_reset(npb_rx *rx);
/* Feed one byte.  Returns 1 when buf holds a complete line (NUL-terminated,
 * without "\r\n"), -1 when an overlong line ended (it was dropped), else 0. */
int npb_rx_push(npb_rx *rx, int byte);

/* ---- Parsing a line ---- */
typedef struct {
    const char *key;
    const char *value;
} npb_field;

typedef struct {
    const char *type;
    npb_field fields[NPB_MAX_FIELDS];
    int nfields;
} npb_msg;

/* Checks magic and checksum and splits the line in place (it writes NULs into it). */
int npb_parse_line(char *line, npb_msg *msg);
const char *npb_msg_str(const npb_msg *msg, const char *key);
/* 0 when the key is present and is a decimal number < 2^32, else -1. */
int npb_msg_u32(const npb_msg *msg, const char *key, uint32_t *out);
/* Decodes an even-length hex string into out; returns the byte count or -1. */
long npb_hex_decode(const char *hex, uint8_t *out, size_t max);

int npb_streq(const char *a, const char *b);

#endif /* NPB_PROTOCOL_H */

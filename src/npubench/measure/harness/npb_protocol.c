/*
 * npb_protocol.c - line encoder, line receiver, parser, CRC-32 and input PRNG
 * of the npubench serial protocol (see npb_protocol.h and docs/protocol.md).
 */
#include "npb_protocol.h"

static const char hex_digits[] = "0123456789abcdef";

/* ---------------------------------------------------------------- CRC-32 */

/* Half-byte table: 64 bytes of flash instead of 1 KiB, fast enough for
 * lines and outputs of a few KiB. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t npb_crc32_begin(void) { return 0xFFFFFFFFu; }

uint32_t npb_crc32_step(uint32_t state, const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    size_t i;
    for (i = 0; i < n; i++) {
        state ^= p[i];
        state = (state >> 4) ^ crc_nibble[state & 0x0Fu];
        state = (state >> 4) ^ crc_nibble[state & 0x0Fu];
    }
    return state;
}

uint32_t npb_crc32_end(uint32_t state) { return state ^ 0xFFFFFFFFu; }

uint32_t npb_crc32(const void *data, size_t n)
{
    return npb_crc32_end(npb_crc32_step(npb_crc32_begin(), data, n));
}

/* ------------------------------------------------------------------- PRNG */

void npb_prng_fill(uint32_t seed, uint8_t *out, size_t n)
{
    uint32_t x = seed ? seed : NPB_PRNG_ZERO_SEED;
    size_t i;
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (uint8_t)(x >> 24);
    }
}

/* ---------------------------------------------------------------- strings */

int npb_streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* --------------------------------------------------------------- encoding */

/* Room kept free for the " *xxxxxxxx" trailer. */
#define TRAILER_LEN 10u

static void put_char(npb_line *l, char c)
{
    if (l->len + 1u > NPB_LINE_MAX - TRAILER_LEN) {
        l->overflow = 1;
        return;
    }
    l->buf[l->len++] = c;
}

static void put_str(npb_line *l, const char *s)
{
    while (*s) {
        put_char(l, *s++);
    }
}

static void put_key(npb_line *l, const char *key)
{
    put_char(l, ' ');
    put_str(l, key);
    put_char(l, '=');
}

static void put_u32(npb_line *l, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v);
    while (n) {
        put_char(l, tmp[--n]);
    }
}

static void put_hex32(npb_line *l, uint32_t v)
{
    int shift;
    for (shift = 28; shift >= 0; shift -= 4) {
        put_char(l, hex_digits[(v >> shift) & 0x0Fu]);
    }
}

void npb_line_start(npb_line *l, const char *type)
{
    l->len = 0;
    l->overflow = 0;
    put_str(l, NPB_MAGIC);
    put_char(l, ' ');
    put_str(l, type);
}

void npb_line_str(npb_line *l, const char *key, const char *value)
{
    put_key(l, key);
    /* Values may not contain separators: replace them rather than break the line. */
    while (*value) {
        char c = *value++;
        put_char(l, (c == ' ' || c == '*' || c == '=' || c < 0x21 || c > 0x7E) ? '_' : c);
    }
}

void npb_line_u32(npb_line *l, const char *key, uint32_t value)
{
    put_key(l, key);
    put_u32(l, value);
}

void npb_line_i32(npb_line *l, const char *key, int32_t value)
{
    put_key(l, key);
    if (value < 0) {
        put_char(l, '-');
        put_u32(l, (uint32_t)0u - (uint32_t)value);
    } else {
        put_u32(l, (uint32_t)value);
    }
}

void npb_line_hex32(npb_line *l, const char *key, uint32_t value)
{
    put_key(l, key);
    put_hex32(l, value);
}

void npb_line_bytes(npb_line *l, const char *key, const uint8_t *data, size_t n)
{
    size_t i;
    put_key(l, key);
    for (i = 0; i < n; i++) {
        put_char(l, hex_digits[data[i] >> 4]);
        put_char(l, hex_digits[data[i] & 0x0Fu]);
    }
}

const char *npb_line_finish(npb_line *l)
{
    uint32_t crc;
    int shift;
    if (l->overflow) {
        return NULL;
    }
    crc = npb_crc32(l->buf, l->len);
    l->buf[l->len++] = ' ';
    l->buf[l->len++] = '*';
    for (shift = 28; shift >= 0; shift -= 4) {
        l->buf[l->len++] = hex_digits[(crc >> shift) & 0x0Fu];
    }
    l->buf[l->len++] = '\n';
    l->buf[l->len] = '\0';
    return l->buf;
}

/* -------------------------------------------------------------- receiving */

void npb_rx_reset(npb_rx *rx)
{
    rx->len = 0;
    rx->discarding = 0;
}

int npb_rx_push(npb_rx *rx, int byte)
{
    if (byte == '\n') {
        int was_discarding = rx->discarding;
        rx->discarding = 0;
        if (rx->len && rx->buf[rx->len - 1u] == '\r') {
            rx->len--;
        }
        rx->buf[rx->len] = '\0';
        rx->len = 0;
        return was_discarding ? -1 : 1;
    }
    if (rx->discarding) {
        return 0;
    }
    if (rx->len >= NPB_LINE_MAX) {
        rx->discarding = 1;
        rx->len = 0;
        return 0;
    }
    rx->buf[rx->len++] = (char)byte;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int npb_parse_line(char *line, npb_msg *msg)
{
    size_t len = 0;
    size_t body_len;
    uint32_t want = 0;
    size_t i;
    char *p;
    static const char magic[] = NPB_MAGIC " ";

    msg->type = "";
    msg->nfields = 0;
    for (i = 0; magic[i]; i++) {
        if (line[i] != magic[i]) {
            return NPB_E_MAGIC;
        }
    }
    while (line[len]) {
        len++;
    }
    /* "... *xxxxxxxx": 8 hex digits, preceded by " *" */
    if (len < sizeof(magic) - 1u + TRAILER_LEN || line[len - 10u] != ' ' || line[len - 9u] != '*') {
        return NPB_E_CRC;
    }
    for (i = len - 8u; i < len; i++) {
        int v = hex_value(line[i]);
        if (v < 0) {
            return NPB_E_CRC;
        }
        want = (want << 4) | (uint32_t)v;
    }
    body_len = len - TRAILER_LEN;
    if (npb_crc32(line, body_len) != want) {
        return NPB_E_CRC;
    }
    line[body_len] = '\0';

    /* Tokenise "TYPE k=v k=v" after the magic. */
    p = line + sizeof(magic) - 1u;
    msg->type = p;
    while (*p && *p != ' ') {
        p++;
    }
    while (*p == ' ') {
        *p++ = '\0';
        if (*p == '\0' || *p == ' ') {
            continue;
        }
        if (msg->nfields >= NPB_MAX_FIELDS) {
            return NPB_E_SYNTAX;
        }
        msg->fields[msg->nfields].key = p;
        while (*p && *p != ' ' && *p != '=') {
            p++;
        }
        if (*p != '=') {
            return NPB_E_SYNTAX;
        }
        *p++ = '\0';
        msg->fields[msg->nfields].value = p;
        msg->nfields++;
        while (*p && *p != ' ') {
            p++;
        }
    }
    return *msg->type ? NPB_OK : NPB_E_SYNTAX;
}

const char *npb_msg_str(const npb_msg *msg, const char *key)
{
    int i;
    for (i = 0; i < msg->nfields; i++) {
        if (npb_streq(msg->fields[i].key, key)) {
            return msg->fields[i].value;
        }
    }
    return NULL;
}

int npb_msg_u32(const npb_msg *msg, const char *key, uint32_t *out)
{
    const char *s = npb_msg_str(msg, key);
    uint32_t v = 0;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (; *s; s++) {
        uint32_t d;
        if (*s < '0' || *s > '9') {
            return -1;
        }
        d = (uint32_t)(*s - '0');
        if (v > (0xFFFFFFFFu - d) / 10u) {
            return -1;
        }
        v = v * 10u + d;
    }
    *out = v;
    return 0;
}

long npb_hex_decode(const char *hex, uint8_t *out, size_t max)
{
    size_t n = 0;
    while (hex[0] && hex[1]) {
        int hi = hex_value(hex[0]);
        int lo = hex_value(hex[1]);
        if (hi < 0 || lo < 0 || n >= max) {
            return -1;
        }
        out[n++] = (uint8_t)((hi << 4) | lo);
        hex += 2;
    }
    return hex[0] ? -1 : (long)n;
}

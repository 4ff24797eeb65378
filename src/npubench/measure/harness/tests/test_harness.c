/*
 * test_harness.c - host unit tests of the harness core and the protocol
 * encoder, with a fake port (scripted UART, fake clock, recorded markers)
 * and a fake model (records call order, advances the clock by known amounts).
 *
 * Build and run: make test   (built with -DNPB_MAX_REPEAT=8u)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npb_harness.h"
#include "npb_model.h"
#include "npb_port.h"

static int g_failures;
static int g_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        g_checks++;                                                                  \
        if (!(cond)) {                                                               \
            g_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* ------------------------------------------------------------ fake clock + port */

static uint32_t g_now;
static char g_tx[65536];
static size_t g_tx_len;
static const char *g_script;
static size_t g_script_pos;
static long g_idle_polls_left;

/* (stage, level, time) of every marker call */
static int g_marks[64][3];
static int g_nmarks;

void npb_port_init(void) {}
uint32_t npb_port_ticks(void) { return g_now; }
uint32_t npb_port_tick_hz(void) { return 1000000u; }
uint32_t npb_port_clock_hz(void) { return 1000000u; }
int npb_port_cycle_accurate(void) { return 0; }
const char *npb_port_board_name(void) { return "fake board"; }

void npb_port_putc(int c)
{
    if (g_tx_len + 1 < sizeof(g_tx)) {
        g_tx[g_tx_len++] = (char)c;
        g_tx[g_tx_len] = '\0';
    }
}

int npb_port_getc(void)
{
    if (g_script && g_script[g_script_pos]) {
        return (unsigned char)g_script[g_script_pos++];
    }
    if (g_idle_polls_left-- <= 0) {
        return NPB_PORT_EOF;
    }
    g_now += 1000u; /* an idle poll lets 1 ms pass */
    return NPB_PORT_NONE;
}

void npb_port_marker(int stage, int level)
{
    if (g_nmarks < 64) {
        g_marks[g_nmarks][0] = stage;
        g_marks[g_nmarks][1] = level;
        g_marks[g_nmarks][2] = (int)g_now;
        g_nmarks++;
    }
}

/* ------------------------------------------------------------ fake model */

#define FAKE_IN 100u
#define FAKE_OUT 70u
enum { CALL_INIT = 'i', CALL_SET = 's', CALL_INVOKE = 'v', CALL_GET = 'g', CALL_POST = 'p' };

static char g_calls[4096];
static size_t g_ncalls;
static int g_count[128];
static uint8_t g_model_in[FAKE_IN];
static int g_fail_invoke_at = -1; /* fail the n-th invoke (0-based), -1 never */
/* Stage durations the fake model burns, in ticks. */
static const uint32_t dur[NPB_NUM_STAGES] = {100u, 20u, 1000u, 30u, 5u};

static void record(char c)
{
    if (g_ncalls + 1 < sizeof(g_calls)) {
        g_calls[g_ncalls++] = c;
        g_calls[g_ncalls] = '\0';
    }
    g_count[(int)c]++;
}

const char *npb_model_name(void) { return "fake-model"; }
const char *npb_model_hash(void) { return "0123456789abcdef"; }
uint32_t npb_model_input_bytes(void) { return FAKE_IN; }
uint32_t npb_model_output_bytes(void) { return FAKE_OUT; }

int npb_model_init(void)
{
    record(CALL_INIT);
    g_now += dur[NPB_STAGE_INIT];
    return 0;
}

int npb_model_set_input(const uint8_t *staged, int8_t *tensor, uint32_t len)
{
    record(CALL_SET);
    g_now += dur[NPB_STAGE_INPUT_IO];
    if (len != FAKE_IN) {
        return 1;
    }
    memcpy(g_model_in, staged, len);
    memcpy(tensor, staged, len);
    return 0;
}

int npb_model_invoke(const int8_t *input, int8_t *output)
{
    uint32_t j;
    record(CALL_INVOKE);
    g_now += dur[NPB_STAGE_INFERENCE];
    /* output j = input j + j (mod 256): depends on the input, easy to check */
    for (j = 0; j < FAKE_OUT; j++) {
        output[j] = (int8_t)(uint8_t)((uint8_t)input[j % FAKE_IN] + j);
    }
    return (g_fail_invoke_at >= 0 && g_count[CALL_INVOKE] - 1 == g_fail_invoke_at) ? 7 : 0;
}

int npb_model_get_output(const int8_t *tensor, uint8_t *out, uint32_t len)
{
    record(CALL_GET);
    g_now += dur[NPB_STAGE_OUTPUT_IO];
    memcpy(out, tensor, len);
    return 0;
}

int npb_model_postprocess(const uint8_t *output, uint32_t len, int32_t *result)
{
    record(CALL_POST);
    g_now += dur[NPB_STAGE_POSTPROCESS];
    *result = (int32_t)output[len - 1u] - 1000;
    return 0;
}

/* ------------------------------------------------------------ helpers */

static void reset_all(const char *script)
{
    g_now = 5u;
    g_tx_len = 0;
    g_tx[0] = '\0';
    g_script = script;
    g_script_pos = 0;
    g_idle_polls_left = 100000;
    g_nmarks = 0;
    g_ncalls = 0;
    g_calls[0] = '\0';
    memset(g_count, 0, sizeof(g_count));
    g_fail_invoke_at = -1;
}

/* Builds a checksummed host line into a static buffer ring. */
static const char *host_line(const char *body)
{
    static char ring[8][NPB_LINE_MAX + 2];
    static int k;
    char *out = ring[k++ % 8];
    uint32_t crc = npb_crc32(body, strlen(body));
    snprintf(out, NPB_LINE_MAX + 2, "%s *%08lx\n", body, (unsigned long)crc);
    return out;
}

/* The n-th transmitted line (0-based) parsed into msg; copy kept in buf. */
static int tx_line(int n, char *buf, size_t cap, npb_msg *msg)
{
    const char *p = g_tx;
    const char *e;
    size_t len;
    while (n-- > 0) {
        p = strchr(p, '\n');
        if (p == NULL) {
            return -100;
        }
        p++;
    }
    e = strchr(p, '\n');
    if (e == NULL) {
        return -100;
    }
    len = (size_t)(e - p);
    if (len + 1 > cap) {
        return -101;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    return npb_parse_line(buf, msg);
}

static int tx_count(void)
{
    int n = 0;
    size_t i;
    for (i = 0; i < g_tx_len; i++) {
        n += g_tx[i] == '\n';
    }
    return n;
}

static int tx_type_count(const char *type)
{
    int n = 0, i, total = tx_count();
    for (i = 0; i < total; i++) {
        char buf[NPB_LINE_MAX + 2];
        npb_msg m;
        if (tx_line(i, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, type) == 0) {
            n++;
        }
    }
    return n;
}

static uint32_t field_u32(const npb_msg *m, const char *key)
{
    uint32_t v = 0xDEADBEEFu;
    CHECK(npb_msg_u32(m, key, &v) == 0);
    return v;
}

/* ------------------------------------------------------------ tests */

static void test_crc32(void)
{
    uint32_t s = npb_crc32_begin();
    CHECK(npb_crc32("123456789", 9) == 0xCBF43926u); /* the standard check value */
    CHECK(npb_crc32("", 0) == 0u);
    s = npb_crc32_step(s, "1234", 4);
    s = npb_crc32_step(s, "56789", 5);
    CHECK(npb_crc32_end(s) == 0xCBF43926u);
}

static void test_prng(void)
{
    uint8_t a[8], b[8];
    /* Marsaglia's xorshift32 example state 2463534242 gives 723471715 first;
     * the byte is its top 8 bits. */
    npb_prng_fill(2463534242u, a, 1);
    CHECK(a[0] == (uint8_t)(723471715u >> 24));
    npb_prng_fill(0u, a, 8);
    npb_prng_fill(NPB_PRNG_ZERO_SEED, b, 8);
    CHECK(memcmp(a, b, 8) == 0);
    npb_prng_fill(1u, b, 8);
    CHECK(memcmp(a, b, 8) != 0);
}

static void test_line_encoding(void)
{
    npb_line l;
    const char *s;
    uint8_t bytes[3] = {0x00, 0xAB, 0x7F};

    npb_line_start(&l, "ACK");
    npb_line_u32(&l, "id", 1);
    s = npb_line_finish(&l);
    /* crc computed independently with zlib.crc32(b"NPB1 ACK id=1") */
    CHECK(s != NULL && strcmp(s, "NPB1 ACK id=1 *f9cca1d3\n") == 0);

    npb_line_start(&l, "T");
    npb_line_i32(&l, "n", -2147483647 - 1);
    npb_line_hex32(&l, "h", 0x00C0FFEEu);
    npb_line_bytes(&l, "d", bytes, 3);
    npb_line_str(&l, "s", "a b*c=d");
    s = npb_line_finish(&l);
    CHECK(s != NULL && strncmp(s, "NPB1 T n=-2147483648 h=00c0ffee d=00ab7f s=a_b_c_d *", 52) == 0);

    /* overflow is reported, never a truncated line */
    {
        uint8_t big[200];
        memset(big, 0x55, sizeof(big));
        npb_line_start(&l, "OUT");
        npb_line_bytes(&l, "data", big, sizeof(big));
        CHECK(npb_line_finish(&l) == NULL);
    }
}

static void test_parse(void)
{
    char line[NPB_LINE_MAX + 2];
    npb_msg m;
    uint8_t out[4];
    uint32_t v;

    strcpy(line, "NPB1 T a=1 b=xyz *20f9c1f1");
    CHECK(npb_parse_line(line, &m) == NPB_OK);
    CHECK(strcmp(m.type, "T") == 0 && m.nfields == 2);
    CHECK(npb_msg_u32(&m, "a", &v) == 0 && v == 1u);
    CHECK(strcmp(npb_msg_str(&m, "b"), "xyz") == 0);
    CHECK(npb_msg_str(&m, "c") == NULL);
    CHECK(npb_msg_u32(&m, "b", &v) == -1);

    strcpy(line, "NPB1 T a=2 b=xyz *20f9c1f1"); /* one byte changed */
    CHECK(npb_parse_line(line, &m) == NPB_E_CRC);
    strcpy(line, "NPB1 T a=1 b=xyz");
    CHECK(npb_parse_line(line, &m) == NPB_E_CRC);
    strcpy(line, "XPB1 T a=1 b=xyz *20f9c1f1");
    CHECK(npb_parse_line(line, &m) == NPB_E_MAGIC);
    strcpy(line, host_line("NPB1 T novalue"));
    line[strlen(line) - 1] = '\0';
    CHECK(npb_parse_line(line, &m) == NPB_E_SYNTAX);

    CHECK(npb_hex_decode("00ff7A", out, 4) == 3 && out[1] == 0xFF && out[2] == 0x7A);
    CHECK(npb_hex_decode("0", out, 4) == -1);
    CHECK(npb_hex_decode("zz", out, 4) == -1);
    CHECK(npb_hex_decode("0102030405", out, 4) == -1);

    {
        npb_line l;
        npb_msg m2;
        char copy[NPB_LINE_MAX + 2];
        npb_line_start(&l, "X");
        npb_line_u32(&l, "big", 4294967295u);
        strcpy(copy, npb_line_finish(&l));
        copy[strlen(copy) - 1] = '\0';
        CHECK(npb_parse_line(copy, &m2) == NPB_OK && npb_msg_u32(&m2, "big", &v) == 0 &&
              v == 4294967295u);
    }
}

static void test_rx(void)
{
    npb_rx rx;
    int i, r = 0;
    npb_rx_reset(&rx);
    for (i = 0; "ab\r\n"[i]; i++) {
        r = npb_rx_push(&rx, "ab\r\n"[i]);
    }
    CHECK(r == 1 && strcmp(rx.buf, "ab") == 0);
    for (i = 0; i < (int)NPB_LINE_MAX + 50; i++) {
        CHECK(npb_rx_push(&rx, 'x') == 0);
    }
    CHECK(npb_rx_push(&rx, '\n') == -1);
    CHECK(npb_rx_push(&rx, 'y') == 0 && npb_rx_push(&rx, '\n') == 1 && strcmp(rx.buf, "y") == 0);
}

static void test_run_once_order_and_timing(void)
{
    npb_rep rep;
    uint8_t in[FAKE_IN], out[FAKE_OUT];
    int s;
    reset_all(NULL);
    memset(in, 3, sizeof(in));
    CHECK(npb_run_once(&rep, in, FAKE_IN, out, FAKE_OUT) == 0);
    CHECK(strcmp(g_calls, "isvgp") == 0);
    for (s = 0; s < NPB_NUM_STAGES; s++) {
        CHECK(rep.ticks[s] == dur[s]);
    }
    /* markers: high then low per stage, in stage order, bracketing the stage */
    CHECK(g_nmarks == 2 * NPB_NUM_STAGES);
    for (s = 0; s < NPB_NUM_STAGES && g_nmarks == 2 * NPB_NUM_STAGES; s++) {
        CHECK(g_marks[2 * s][0] == s && g_marks[2 * s][1] == 1);
        CHECK(g_marks[2 * s + 1][0] == s && g_marks[2 * s + 1][1] == 0);
        CHECK((uint32_t)(g_marks[2 * s + 1][2] - g_marks[2 * s][2]) == dur[s]);
    }
    CHECK(rep.out_crc == npb_crc32(out, FAKE_OUT));
    CHECK(rep.post == (int32_t)out[FAKE_OUT - 1] - 1000);

    /* a failing stage stops the sequence and names itself */
    reset_all(NULL);
    g_fail_invoke_at = 0;
    CHECK(npb_run_once(&rep, in, FAKE_IN, out, FAKE_OUT) == NPB_STAGE_INFERENCE + 1);
    CHECK(strcmp(g_calls, "isv") == 0);
}

static void test_session_seed(void)
{
    char buf[NPB_LINE_MAX + 2];
    npb_msg m;
    char script[1024];
    uint8_t expect_in[FAKE_IN], expect_out[FAKE_OUT];
    int i, n, s;
    uint32_t j;

    snprintf(script, sizeof(script), "%s", host_line("NPB1 RUN id=9 warmup=3 repeat=4 input=seed:7"));
    reset_all(script);
    npb_boot();
    CHECK(npb_serve(1) == 1);

    CHECK(g_count[CALL_INIT] == 7 && g_count[CALL_INVOKE] == 7 && g_count[CALL_POST] == 7);
    CHECK(tx_count() == 1 + 1 + 1 + 4 + 3 + 1); /* HELLO ACK INPUT 4xREP 3xOUT DONE */
    n = tx_count();
    for (i = 0; i < n; i++) {
        CHECK(tx_line(i, buf, sizeof(buf), &m) == NPB_OK); /* every line checksummed */
    }
    CHECK(tx_line(0, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "HELLO") == 0);
    CHECK(strcmp(npb_msg_str(&m, "board"), "fake_board") == 0); /* space replaced */
    CHECK(strcmp(npb_msg_str(&m, "model"), "0123456789abcdef") == 0);
    CHECK(field_u32(&m, "proto") == 1u && field_u32(&m, "cycle_accurate") == 0u);
    CHECK(field_u32(&m, "in") == FAKE_IN && field_u32(&m, "out") == FAKE_OUT);
    CHECK(field_u32(&m, "max_repeat") == 8u);

    CHECK(tx_line(1, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "ACK") == 0);
    CHECK(field_u32(&m, "id") == 9u);
    npb_prng_fill(7u, expect_in, FAKE_IN);
    CHECK(tx_line(2, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "INPUT") == 0);
    CHECK(field_u32(&m, "len") == FAKE_IN);
    {
        char want[9];
        snprintf(want, sizeof(want), "%08lx", (unsigned long)npb_crc32(expect_in, FAKE_IN));
        CHECK(strcmp(npb_msg_str(&m, "crc"), want) == 0);
    }
    for (j = 0; j < FAKE_OUT; j++) {
        expect_out[j] = (uint8_t)(expect_in[j % FAKE_IN] + j);
    }
    for (i = 0; i < 4; i++) {
        CHECK(tx_line(3 + i, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "REP") == 0);
        CHECK(field_u32(&m, "i") == (uint32_t)i);
        for (s = 0; s < NPB_NUM_STAGES; s++) {
            CHECK(field_u32(&m, npb_stage_names[s]) == dur[s]);
        }
    }
    /* OUT chunks reassemble to the expected output */
    {
        uint8_t got[FAKE_OUT];
        uint32_t total = 0;
        for (i = 0; i < 3; i++) {
            long k;
            CHECK(tx_line(7 + i, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "OUT") == 0);
            CHECK(field_u32(&m, "off") == (uint32_t)(i * (int)NPB_OUT_CHUNK));
            k = npb_hex_decode(npb_msg_str(&m, "data"), got + total, FAKE_OUT - total);
            CHECK(k > 0);
            total += (uint32_t)(k > 0 ? k : 0);
        }
        CHECK(total == FAKE_OUT && memcmp(got, expect_out, FAKE_OUT) == 0);
    }
    CHECK(tx_line(10, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "DONE") == 0);
    CHECK(field_u32(&m, "n") == 4u && field_u32(&m, "olen") == FAKE_OUT);

    /* GET re-sends without re-running; a duplicate RUN id does not run again */
    snprintf(script, sizeof(script), "%s%s%s%s%s", host_line("NPB1 GET rep=2"),
             host_line("NPB1 GET out=64"), host_line("NPB1 GET done=1"),
             host_line("NPB1 RUN id=9 warmup=3 repeat=4 input=seed:7"),
             host_line("NPB1 GET rep=4"));
    g_script = script;
    g_script_pos = 0;
    g_tx_len = 0;
    g_tx[0] = '\0';
    CHECK(npb_serve(5) == 5);
    CHECK(g_count[CALL_INVOKE] == 7);
    CHECK(tx_line(0, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "REP") == 0 &&
          field_u32(&m, "i") == 2u);
    CHECK(tx_line(1, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "OUT") == 0 &&
          field_u32(&m, "off") == 64u && strlen(npb_msg_str(&m, "data")) == 2u * (FAKE_OUT - 64u));
    CHECK(tx_line(2, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "DONE") == 0);
    CHECK(tx_line(3, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "ACK") == 0 &&
          field_u32(&m, "dup") == 1u);
    CHECK(tx_line(4, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "DONE") == 0);
    CHECK(tx_line(5, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "ERR") == 0 &&
          strcmp(npb_msg_str(&m, "code"), "bad-arg") == 0);
}

static void test_session_host_input(void)
{
    char buf[NPB_LINE_MAX + 2];
    char script[2048];
    char body[NPB_LINE_MAX];
    npb_msg m;
    uint8_t in[FAKE_IN];
    npb_line l;
    uint32_t j;

    for (j = 0; j < FAKE_IN; j++) {
        in[j] = (uint8_t)(200u + j);
    }
    /* the board asks for 64 + 36 bytes; the first IN for offset 0 is corrupted
     * so the board must ask for it again */
    script[0] = '\0';
    strcat(script, host_line("NPB1 RUN id=1 warmup=0 repeat=1 input=host"));
    npb_line_start(&l, "IN");
    npb_line_u32(&l, "off", 0);
    npb_line_bytes(&l, "data", in, 64);
    strcpy(body, npb_line_finish(&l));
    body[20] ^= 1; /* flips a bit inside the hex data: checksum must catch it */
    strcat(script, body);
    npb_line_start(&l, "IN");
    npb_line_u32(&l, "off", 0);
    npb_line_bytes(&l, "data", in, 64);
    strcat(script, npb_line_finish(&l));
    npb_line_start(&l, "IN");
    npb_line_u32(&l, "off", 64);
    npb_line_bytes(&l, "data", in + 64, FAKE_IN - 64);
    strcat(script, npb_line_finish(&l));

    reset_all(script);
    npb_boot();
    CHECK(npb_serve(1) == 1);
    CHECK(tx_type_count("NEED") == 3);
    CHECK(tx_type_count("REP") == 1);
    CHECK(memcmp(g_model_in, in, FAKE_IN) == 0);
    CHECK(tx_line(2, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "NEED") == 0 &&
          field_u32(&m, "off") == 0u && field_u32(&m, "len") == 64u);
    CHECK(tx_line(4, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "NEED") == 0 &&
          field_u32(&m, "off") == 64u && field_u32(&m, "len") == FAKE_IN - 64u);

    /* a duplicate IN for an earlier chunk is skipped without asking again */
    script[0] = '\0';
    strcat(script, host_line("NPB1 RUN id=3 warmup=0 repeat=1 input=host"));
    npb_line_start(&l, "IN");
    npb_line_u32(&l, "off", 0);
    npb_line_bytes(&l, "data", in, 64);
    strcpy(body, npb_line_finish(&l));
    strcat(script, body);
    strcat(script, body);
    npb_line_start(&l, "IN");
    npb_line_u32(&l, "off", 64);
    npb_line_bytes(&l, "data", in + 64, FAKE_IN - 64);
    strcat(script, npb_line_finish(&l));
    reset_all(script);
    npb_boot();
    CHECK(npb_serve(1) == 1);
    CHECK(tx_type_count("NEED") == 2);
    CHECK(tx_type_count("REP") == 1);
    CHECK(memcmp(g_model_in, in, FAKE_IN) == 0);

    /* a silent host: NEED is retried NPB_IN_RETRIES times, 1 s apart, then ERR */
    reset_all(host_line("NPB1 RUN id=2 warmup=0 repeat=1 input=host"));
    npb_boot();
    CHECK(npb_serve(1) == 1);
    CHECK(tx_type_count("NEED") == (int)NPB_IN_RETRIES);
    CHECK(tx_type_count("REP") == 0);
    CHECK(g_count[CALL_INVOKE] == 0);
    CHECK(g_now >= 5u + NPB_IN_RETRIES * NPB_IN_TIMEOUT_MS * 1000u);
    CHECK(tx_line(tx_count() - 1, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "ERR") == 0 &&
          strcmp(npb_msg_str(&m, "code"), "input-timeout") == 0);
}

static void test_session_errors(void)
{
    char buf[NPB_LINE_MAX + 2];
    char script[1024];
    npb_msg m;
    char bad[NPB_LINE_MAX + 2];

    strcpy(bad, host_line("NPB1 PING"));
    bad[6] = 'X'; /* corrupt */
    snprintf(script, sizeof(script), "%s%s%s%s%s%s", bad, host_line("NPB1 RUN id=3 warmup=0 repeat=9 input=seed:1"),
             host_line("NPB1 RUN id=3 warmup=0 repeat=2 input=rand"), host_line("NPB1 FOO"),
             host_line("NPB1 GET rep=0"), host_line("NPB1 PING"));
    reset_all(script);
    npb_boot();
    CHECK(npb_serve(6) == 6);
    CHECK(tx_count() == 7);
    CHECK(tx_line(1, buf, sizeof(buf), &m) == NPB_OK && strcmp(npb_msg_str(&m, "code"), "bad-line") == 0);
    CHECK(tx_line(2, buf, sizeof(buf), &m) == NPB_OK && strcmp(npb_msg_str(&m, "code"), "too-many-reps") == 0);
    CHECK(tx_line(3, buf, sizeof(buf), &m) == NPB_OK && strcmp(npb_msg_str(&m, "code"), "bad-arg") == 0);
    CHECK(tx_line(4, buf, sizeof(buf), &m) == NPB_OK && strcmp(npb_msg_str(&m, "code"), "unknown-type") == 0);
    CHECK(tx_line(5, buf, sizeof(buf), &m) == NPB_OK && strcmp(npb_msg_str(&m, "code"), "no-run") == 0);
    CHECK(tx_line(6, buf, sizeof(buf), &m) == NPB_OK && strcmp(m.type, "HELLO") == 0);
    CHECK(g_count[CALL_INVOKE] == 0);

    /* a model failure in repetition 1 is reported with the stage and index */
    reset_all(host_line("NPB1 RUN id=4 warmup=1 repeat=3 input=seed:1"));
    npb_boot();
    g_fail_invoke_at = 2; /* warm-up is invoke 0, rep 0 is 1, rep 1 is 2 */
    CHECK(npb_serve(1) == 1);
    CHECK(tx_type_count("REP") == 1 && tx_type_count("DONE") == 0);
    CHECK(tx_line(tx_count() - 1, buf, sizeof(buf), &m) == NPB_OK &&
          strcmp(npb_msg_str(&m, "code"), "model-invoke") == 0 && field_u32(&m, "value") == 1u);
    /* the port saying EOF ends npb_serve */
    reset_all("");
    g_idle_polls_left = 3;
    CHECK(npb_serve(10) == -1);
}

int main(void)
{
    test_crc32();
    test_prng();
    test_line_encoding();
    test_parse();
    test_rx();
    test_run_once_order_and_timing();
    test_session_seed();
    test_session_host_input();
    test_session_errors();
    printf("npb harness tests: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}

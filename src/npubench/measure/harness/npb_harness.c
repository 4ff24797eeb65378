/*
 * npb_harness.c - board side of the npubench measurement protocol.
 *
 * State machine: idle, answering PING / RUN / GET lines.  A RUN stages the
 * input (from the PRNG or pulled from the host chunk by chunk), runs the
 * warm-ups and repetitions, streams one REP line per repetition, then the
 * output as OUT lines and a closing DONE line.  Serial I/O never happens
 * inside a timed stage.  Everything the host may ask again (REP lines, output
 * chunks, DONE) stays in static memory until the next RUN.
 */
#include "npb_harness.h"

#include "npb_model.h"
#include "npb_port.h"

const char *const npb_stage_names[NPB_NUM_STAGES] = {"init", "input_io", "inference",
                                                     "output_io", "postprocess"};

static uint8_t g_input[NPB_MAX_INPUT_BYTES];   /* staged input, from the host or the PRNG */
static uint8_t g_output[NPB_MAX_OUTPUT_BYTES]; /* output as sent to the host */
/* The model's input and output tensors, 8-byte aligned for SIMD kernels. */
static union {
    uint64_t align;
    int8_t bytes[NPB_MAX_INPUT_BYTES];
} g_in_tensor;
static union {
    uint64_t align;
    int8_t bytes[NPB_MAX_OUTPUT_BYTES];
} g_out_tensor;
static npb_rep g_reps[NPB_MAX_REPEAT];
static npb_rep g_scratch;
static npb_rx g_rx;

/* The last completed run, kept so that GET and a duplicate RUN can be answered. */
static struct {
    int valid;
    uint32_t id;
    uint32_t repeat;
    uint32_t out_len;
    uint32_t out_crc;
} g_last;

/* ------------------------------------------------------------ output side */

static void send_raw(const char *s)
{
    while (*s) {
        npb_port_putc((unsigned char)*s++);
    }
}

static void send_line(npb_line *l)
{
    const char *s = npb_line_finish(l);
    if (s == NULL) {
        /* A value too long for a line is a bug in the caller: say so on the wire. */
        npb_line_start(l, "ERR");
        npb_line_str(l, "code", "line-overflow");
        s = npb_line_finish(l);
    }
    send_raw(s);
}

static void send_err(const char *code, const char *detail, int has_value, uint32_t value)
{
    npb_line l;
    npb_line_start(&l, "ERR");
    npb_line_str(&l, "code", code);
    if (detail) {
        npb_line_str(&l, "detail", detail);
    }
    if (has_value) {
        npb_line_u32(&l, "value", value);
    }
    send_line(&l);
}

static void send_hello(void)
{
    npb_line l;
    npb_line_start(&l, "HELLO");
    npb_line_str(&l, "board", npb_port_board_name());
    npb_line_str(&l, "fw", NPB_FW_VERSION);
    npb_line_u32(&l, "proto", NPB_PROTO_VERSION);
    npb_line_str(&l, "model", npb_model_hash());
    npb_line_str(&l, "name", npb_model_name());
    npb_line_u32(&l, "in", npb_model_input_bytes());
    npb_line_u32(&l, "out", npb_model_output_bytes());
    npb_line_u32(&l, "clock_hz", npb_port_clock_hz());
    npb_line_u32(&l, "tick_hz", npb_port_tick_hz());
    npb_line_u32(&l, "cycle_accurate", npb_port_cycle_accurate() ? 1u : 0u);
    npb_line_u32(&l, "max_repeat", NPB_MAX_REPEAT);
    send_line(&l);
}

static void send_rep(uint32_t i)
{
    npb_line l;
    int s;
    npb_line_start(&l, "REP");
    npb_line_u32(&l, "i", i);
    for (s = 0; s < NPB_NUM_STAGES; s++) {
        npb_line_u32(&l, npb_stage_names[s], g_reps[i].ticks[s]);
    }
    npb_line_hex32(&l, "ocrc", g_reps[i].out_crc);
    npb_line_i32(&l, "post", g_reps[i].post);
    send_line(&l);
}

static void send_out(uint32_t off)
{
    npb_line l;
    uint32_t n = g_last.out_len - off;
    if (n > NPB_OUT_CHUNK) {
        n = NPB_OUT_CHUNK;
    }
    npb_line_start(&l, "OUT");
    npb_line_u32(&l, "off", off);
    npb_line_bytes(&l, "data", g_output + off, n);
    send_line(&l);
}

static void send_done(void)
{
    npb_line l;
    npb_line_start(&l, "DONE");
    npb_line_u32(&l, "id", g_last.id);
    npb_line_u32(&l, "n", g_last.repeat);
    npb_line_u32(&l, "olen", g_last.out_len);
    npb_line_hex32(&l, "ocrc", g_last.out_crc);
    send_line(&l);
}

/* ------------------------------------------------------------ timed stages */

/* The marker goes high before the start time is read and low after the end
 * time is read, so the GPIO pulse brackets the timed interval. */
static uint32_t stage_begin(int stage)
{
    npb_port_marker(stage, 1);
    return npb_port_ticks();
}

static uint32_t stage_end(int stage, uint32_t t0)
{
    uint32_t t1 = npb_port_ticks();
    npb_port_marker(stage, 0);
    return t1 - t0; /* wrap-safe */
}

int npb_run_once(npb_rep *rep, const uint8_t *in, uint32_t in_len, uint8_t *out,
                 uint32_t out_len)
{
    int8_t *tin = g_in_tensor.bytes;
    int8_t *tout = g_out_tensor.bytes;
    uint32_t t0;
    int rc;
    int32_t post = 0;

    t0 = stage_begin(NPB_STAGE_INIT);
    rc = npb_model_init();
    rep->ticks[NPB_STAGE_INIT] = stage_end(NPB_STAGE_INIT, t0);
    if (rc) {
        return NPB_STAGE_INIT + 1;
    }
    t0 = stage_begin(NPB_STAGE_INPUT_IO);
    rc = npb_model_set_input(in, tin, in_len);
    rep->ticks[NPB_STAGE_INPUT_IO] = stage_end(NPB_STAGE_INPUT_IO, t0);
    if (rc) {
        return NPB_STAGE_INPUT_IO + 1;
    }
    t0 = stage_begin(NPB_STAGE_INFERENCE);
    rc = npb_model_invoke(tin, tout);
    rep->ticks[NPB_STAGE_INFERENCE] = stage_end(NPB_STAGE_INFERENCE, t0);
    if (rc) {
        return NPB_STAGE_INFERENCE + 1;
    }
    t0 = stage_begin(NPB_STAGE_OUTPUT_IO);
    rc = npb_model_get_output(tout, out, out_len);
    rep->ticks[NPB_STAGE_OUTPUT_IO] = stage_end(NPB_STAGE_OUTPUT_IO, t0);
    if (rc) {
        return NPB_STAGE_OUTPUT_IO + 1;
    }
    t0 = stage_begin(NPB_STAGE_POSTPROCESS);
    rc = npb_model_postprocess(out, out_len, &post);
    rep->ticks[NPB_STAGE_POSTPROCESS] = stage_end(NPB_STAGE_POSTPROCESS, t0);
    if (rc) {
        return NPB_STAGE_POSTPROCESS + 1;
    }
    rep->post = post;
    rep->out_crc = npb_crc32(out, out_len);
    return 0;
}

/* ------------------------------------------------------------ input side */

#define WAIT_TIMEOUT 0
#define WAIT_LINE 1
#define WAIT_BAD (-1)
#define WAIT_EOF (-2)

/* Waits up to timeout_ms for one line; on WAIT_LINE msg is parsed from g_rx. */
static int wait_line(uint32_t timeout_ms, npb_msg *msg)
{
    uint32_t hz = npb_port_tick_hz();
    uint32_t limit = (hz / 1000u) * timeout_ms;
    uint32_t t0 = npb_port_ticks();
    for (;;) {
        int c = npb_port_getc();
        if (c == NPB_PORT_EOF) {
            return WAIT_EOF;
        }
        if (c != NPB_PORT_NONE) {
            int r = npb_rx_push(&g_rx, c);
            if (r < 0) {
                return WAIT_BAD;
            }
            if (r > 0 && g_rx.buf[0] != '\0') {
                return npb_parse_line(g_rx.buf, msg) == NPB_OK ? WAIT_LINE : WAIT_BAD;
            }
        }
        if ((uint32_t)(npb_port_ticks() - t0) >= limit) {
            return WAIT_TIMEOUT;
        }
    }
}

/* Pulls the input from the host: NEED off len -> IN off data.  0 on success. */
static int receive_input(uint32_t len)
{
    uint32_t off = 0;
    while (off < len) {
        uint32_t n = len - off;
        uint32_t tries;
        int got = 0;
        if (n > NPB_IN_CHUNK) {
            n = NPB_IN_CHUNK;
        }
        for (tries = 0; tries < NPB_IN_RETRIES && !got; tries++) {
            npb_line l;
            npb_msg msg;
            int w;
            uint32_t stale = 0;
            npb_line_start(&l, "NEED");
            npb_line_u32(&l, "off", off);
            npb_line_u32(&l, "len", n);
            send_line(&l);
            for (;;) {
                uint32_t moff = 0;
                w = wait_line(NPB_IN_TIMEOUT_MS, &msg);
                if (w == WAIT_EOF) {
                    return -1;
                }
                if (w == WAIT_LINE && npb_streq(msg.type, "IN") &&
                    npb_msg_u32(&msg, "off", &moff) == 0 && moff < off && ++stale <= 8u) {
                    /* The host's second answer to an earlier, re-sent NEED: keep listening. */
                    continue;
                }
                if (w == WAIT_LINE && npb_streq(msg.type, "IN") && moff == off) {
                    const char *hex = npb_msg_str(&msg, "data");
                    got = hex != NULL && npb_hex_decode(hex, g_input + off, n) == (long)n;
                }
                break;
            }
            /* Anything else (bad line, wrong IN, timeout) asks for the chunk again. */
        }
        if (!got) {
            send_err("input-timeout", "no-valid-IN-line", 1, off);
            return -1;
        }
        off += n;
    }
    return 0;
}

/* ------------------------------------------------------------ commands */

static const char *const stage_err_codes[NPB_NUM_STAGES] = {
    "model-init", "model-input", "model-invoke", "model-output", "model-postprocess"};

static void do_run(const npb_msg *msg)
{
    uint32_t id, warmup, repeat, seed = 0, i;
    uint32_t in_len = npb_model_input_bytes();
    uint32_t out_len = npb_model_output_bytes();
    const char *input = npb_msg_str(msg, "input");
    int from_host;
    npb_line l;

    if (npb_msg_u32(msg, "id", &id) || npb_msg_u32(msg, "warmup", &warmup) ||
        npb_msg_u32(msg, "repeat", &repeat) || input == NULL) {
        send_err("bad-arg", "RUN-needs-id-warmup-repeat-input", 0, 0);
        return;
    }
    if (g_last.valid && id == g_last.id) {
        /* A retransmitted RUN: the run already happened, do not repeat it. */
        npb_line_start(&l, "ACK");
        npb_line_u32(&l, "id", id);
        npb_line_u32(&l, "dup", 1);
        send_line(&l);
        send_done();
        return;
    }
    from_host = npb_streq(input, "host");
    if (!from_host) {
        npb_msg m2;
        char tmp[24];
        const char *s = input;
        uint32_t k = 0;
        /* input=seed:<decimal>: reuse the field parser on a tiny fake message. */
        static const char prefix[] = "seed:";
        for (k = 0; prefix[k]; k++) {
            if (s[k] != prefix[k]) {
                send_err("bad-arg", "input-must-be-host-or-seed:N", 0, 0);
                return;
            }
        }
        s += k;
        for (k = 0; s[k] && k + 1u < sizeof(tmp); k++) {
            tmp[k] = s[k];
        }
        tmp[k] = '\0';
        m2.type = "RUN";
        m2.nfields = 1;
        m2.fields[0].key = "seed";
        m2.fields[0].value = tmp;
        if (s[k] != '\0' || npb_msg_u32(&m2, "seed", &seed)) {
            send_err("bad-arg", "bad-seed", 0, 0);
            return;
        }
    }
    if (repeat == 0 || repeat > NPB_MAX_REPEAT) {
        send_err("too-many-reps", "repeat-must-be-1..max_repeat", 1, repeat);
        return;
    }
    if (warmup > NPB_MAX_WARMUP) {
        send_err("bad-arg", "warmup-too-large", 1, warmup);
        return;
    }
    if (in_len > NPB_MAX_INPUT_BYTES || out_len > NPB_MAX_OUTPUT_BYTES) {
        send_err("buffer-too-small", "rebuild-with-larger-NPB_MAX_INPUT/OUTPUT_BYTES", 1,
                 in_len > NPB_MAX_INPUT_BYTES ? in_len : out_len);
        return;
    }

    g_last.valid = 0;
    npb_line_start(&l, "ACK");
    npb_line_u32(&l, "id", id);
    send_line(&l);

    if (from_host) {
        if (receive_input(in_len)) {
            return;
        }
    } else {
        npb_prng_fill(seed, g_input, in_len);
    }
    npb_line_start(&l, "INPUT");
    npb_line_u32(&l, "len", in_len);
    npb_line_hex32(&l, "crc", npb_crc32(g_input, in_len));
    send_line(&l);

    for (i = 0; i < warmup; i++) {
        int rc = npb_run_once(&g_scratch, g_input, in_len, g_output, out_len);
        if (rc) {
            send_err(stage_err_codes[rc - 1], "during-warmup", 1, i);
            return;
        }
    }
    for (i = 0; i < repeat; i++) {
        int rc = npb_run_once(&g_reps[i], g_input, in_len, g_output, out_len);
        if (rc) {
            send_err(stage_err_codes[rc - 1], "during-repetition", 1, i);
            return;
        }
        send_rep(i);
    }
    g_last.valid = 1;
    g_last.id = id;
    g_last.repeat = repeat;
    g_last.out_len = out_len;
    g_last.out_crc = npb_crc32(g_output, out_len);
    for (i = 0; i < out_len; i += NPB_OUT_CHUNK) {
        send_out(i);
    }
    send_done();
}

static void do_get(const npb_msg *msg)
{
    uint32_t v;
    if (!g_last.valid) {
        send_err("no-run", "no-completed-run-to-GET-from", 0, 0);
        return;
    }
    if (npb_msg_u32(msg, "rep", &v) == 0) {
        if (v >= g_last.repeat) {
            send_err("bad-arg", "rep-out-of-range", 1, v);
        } else {
            send_rep(v);
        }
    } else if (npb_msg_u32(msg, "out", &v) == 0) {
        if (v >= g_last.out_len || v % NPB_OUT_CHUNK) {
            send_err("bad-arg", "out-offset-not-a-chunk-start", 1, v);
        } else {
            send_out(v);
        }
    } else if (npb_msg_str(msg, "done") != NULL) {
        send_done();
    } else {
        send_err("bad-arg", "GET-needs-rep-out-or-done", 0, 0);
    }
}

static void handle_line(char *line)
{
    npb_msg msg;
    int rc = npb_parse_line(line, &msg);
    if (rc == NPB_E_MAGIC) {
        send_err("bad-line", "magic", 0, 0);
    } else if (rc == NPB_E_CRC) {
        send_err("bad-line", "checksum", 0, 0);
    } else if (rc != NPB_OK) {
        send_err("bad-line", "syntax", 0, 0);
    } else if (npb_streq(msg.type, "PING")) {
        send_hello();
    } else if (npb_streq(msg.type, "RUN")) {
        do_run(&msg);
    } else if (npb_streq(msg.type, "GET")) {
        do_get(&msg);
    } else {
        send_err("unknown-type", msg.type, 0, 0);
    }
}

void npb_boot(void)
{
    npb_port_init();
    npb_rx_reset(&g_rx);
    g_last.valid = 0;
    send_hello();
}

long npb_serve(uint32_t max_lines)
{
    uint32_t handled = 0;
    while (handled < max_lines) {
        int c = npb_port_getc();
        int r;
        if (c == NPB_PORT_EOF) {
            return -1;
        }
        if (c == NPB_PORT_NONE) {
            continue;
        }
        r = npb_rx_push(&g_rx, c);
        if (r == 0) {
            continue;
        }
        handled++;
        if (r < 0) {
            send_err("bad-line", "too-long", 0, 0);
        } else if (g_rx.buf[0] != '\0') {
            handle_line(g_rx.buf);
        }
    }
    return (long)handled;
}

void npb_main(void)
{
    npb_boot();
    for (;;) {
        if (npb_serve(0xFFFFFFFFu) < 0) {
            return;
        }
    }
}

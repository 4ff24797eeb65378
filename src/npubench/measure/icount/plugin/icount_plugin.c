/*
 * icount_plugin.c - QEMU TCG plugin: counts retired guest instructions and
 * snapshots the count each time the guest calls a marker function.
 *
 *   qemu-system-arm ... -plugin libnpb_icount.so,mark=0x1234,out=/path/counts.txt
 *
 * mark  address of the first instruction of the marker function (Thumb bit
 *       clear); the firmware calls it between stages and between layers.
 * out   file written at exit: "total N", then one "mark N" line per marker
 *       call, in call order (N = instructions retired before that call).
 *
 * Every instruction gets an inline 64-bit add (no helper call), so the count
 * is exact and, for single-threaded code with no interrupts, the same on
 * every run.  The marker's own instructions are counted like any other; the
 * host subtracts the cost of one empty marker call (measured by the firmware
 * calling it twice in a row).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npb_qemu_plugin_api.h"

NPB_PLUGIN_EXPORT int qemu_plugin_version = NPB_QEMU_PLUGIN_API_VERSION;

#define NPB_MAX_MARKS 65536u

static uint64_t g_insns;
static uint64_t g_mark_addr;
static uint64_t g_marks[NPB_MAX_MARKS];
static unsigned g_n_marks;
static unsigned g_lost_marks;
static char g_out_path[4096];

static void on_mark(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (g_n_marks < NPB_MAX_MARKS) {
        g_marks[g_n_marks++] = g_insns;
    } else {
        g_lost_marks++;
    }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        /* The snapshot is registered first, so it excludes the marker's first instruction. */
        if (g_mark_addr != 0 && qemu_plugin_insn_vaddr(insn) == g_mark_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &g_insns, 1);
    }
}

static void on_exit_write(qemu_plugin_id_t id, void *userdata)
{
    FILE *f;
    unsigned i;
    (void)id;
    (void)userdata;
    f = fopen(g_out_path, "w");
    if (f == NULL) {
        qemu_plugin_outs("npb_icount: cannot open the out= file\n");
        return;
    }
    fprintf(f, "total %llu\n", (unsigned long long)g_insns);
    fprintf(f, "lost %u\n", g_lost_marks);
    for (i = 0; i < g_n_marks; i++) {
        fprintf(f, "mark %llu\n", (unsigned long long)g_marks[i]);
    }
    fclose(f);
}

NPB_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                          char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "mark=", 5) == 0) {
            g_mark_addr = strtoull(argv[i] + 5, NULL, 0);
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            strncpy(g_out_path, argv[i] + 4, sizeof g_out_path - 1);
        } else {
            qemu_plugin_outs("npb_icount: unknown argument (expected mark=ADDR, out=PATH)\n");
            return -1;
        }
    }
    if (g_out_path[0] == '\0') {
        qemu_plugin_outs("npb_icount: out=PATH is required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_write, NULL);
    return 0;
}

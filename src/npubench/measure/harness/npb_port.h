/*
 * npb_port.h - what a board port provides to the harness: a time base, a
 * UART, a name, and optionally a GPIO marker per stage.
 *
 * A port is one C file (plus startup code and a linker script on bare metal)
 * that implements every function below except npb_port_marker, which has a
 * weak no-op default in npb_port_weak.c.
 */
#ifndef NPB_PORT_H
#define NPB_PORT_H

#include <stdint.h>

#define NPB_PORT_NONE (-1) /* npb_port_getc: no byte available right now */
#define NPB_PORT_EOF (-2)  /* npb_port_getc: the link is gone for good (host port only) */

/* Clocks, UART and timer set-up; called once by npb_boot(). */
void npb_port_init(void);

/* Free-running tick counter.  It may wrap: the harness only uses differences
 * (uint32_t arithmetic), so one stage may last at most 2^32 ticks. */
uint32_t npb_port_ticks(void);
/* Ticks per second of npb_port_ticks(). */
uint32_t npb_port_tick_hz(void);
/* Core clock in Hz (reported to the host; 0 if unknown). */
uint32_t npb_port_clock_hz(void);
/* 1 if ticks count real core cycles (DWT->CYCCNT on silicon), 0 if they come
 * from an emulator or a coarse timer and must not be read as cycle counts. */
int npb_port_cycle_accurate(void);
/* Short board name without spaces, e.g. "qemu-mps2-an386". */
const char *npb_port_board_name(void);

/* Blocking write of one byte to the host link. */
void npb_port_putc(int c);
/* Non-blocking read: a byte 0..255, NPB_PORT_NONE or NPB_PORT_EOF. */
int npb_port_getc(void);

/* Drive the stage marker GPIO: level 1 just before the stage's start time is
 * read, level 0 just after its end time is read.  stage is an npb_stage. */
void npb_port_marker(int stage, int level);

#endif /* NPB_PORT_H */

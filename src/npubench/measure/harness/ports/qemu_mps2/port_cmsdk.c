/*
 * port_cmsdk.c - harness port for Arm MPS2/MPS3 FPGA images as emulated by
 * QEMU (mps2-an386 Cortex-M4, mps2-an500 Cortex-M7, mps2-an505 Cortex-M33,
 * mps3-an547 Cortex-M55): CMSDK APB UART0 as the host link, SysTick as the
 * time base.  The Makefile passes the board specifics:
 *
 *   NPB_UART_BASE   UART0 base address (secure alias on TrustZone images)
 *   NPB_CLOCK_HZ    core clock that SysTick counts (CLKSOURCE = processor)
 *   NPB_BOARD_NAME  name reported in HELLO
 *
 * DWT->CYCCNT reads 0 under QEMU, and QEMU's SysTick follows host time, not
 * executed instructions: the ticks are emulator wall time scaled to the
 * board clock, so this port reports cycle_accurate=0.
 */
#include <stdint.h>

#include "npb_harness.h"
#include "npb_port.h"

#ifndef NPB_UART_BASE
#error "NPB_UART_BASE must be defined by the board build"
#endif
#ifndef NPB_CLOCK_HZ
#error "NPB_CLOCK_HZ must be defined by the board build"
#endif
#ifndef NPB_BOARD_NAME
#error "NPB_BOARD_NAME must be defined by the board build"
#endif
#ifndef NPB_BAUD
#define NPB_BAUD 115200u
#endif

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART registers */
#define UART_DATA REG32(NPB_UART_BASE + 0x00u)
#define UART_STATE REG32(NPB_UART_BASE + 0x04u)
#define UART_CTRL REG32(NPB_UART_BASE + 0x08u)
#define UART_BAUDDIV REG32(NPB_UART_BASE + 0x10u)
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TXEN 0x1u
#define UART_CTRL_RXEN 0x2u

/* SysTick and the SCB interrupt control register */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SCB_ICSR REG32(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t g_systick_wraps;

void SysTick_Handler(void); /* referenced by the vector table in startup_cm.c */

void SysTick_Handler(void) { g_systick_wraps++; }

void npb_port_init(void)
{
    UART_BAUDDIV = NPB_CLOCK_HZ / NPB_BAUD;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* enable, interrupt on wrap, processor clock */
}

uint32_t npb_port_ticks(void)
{
    uint32_t hi, v, pending;
    do {
        hi = g_systick_wraps;
        v = SYST_CVR;
        pending = SCB_ICSR & ICSR_PENDSTSET;
    } while (hi != g_systick_wraps);
    /* The counter reloaded but the wrap interrupt has not run yet: count it here. */
    if (pending && v > SYST_RELOAD / 2u) {
        hi++;
    }
    return (hi << 24) + (SYST_RELOAD - v);
}

uint32_t npb_port_tick_hz(void) { return NPB_CLOCK_HZ; }
uint32_t npb_port_clock_hz(void) { return NPB_CLOCK_HZ; }
int npb_port_cycle_accurate(void) { return 0; }
const char *npb_port_board_name(void) { return NPB_BOARD_NAME; }

void npb_port_putc(int c)
{
    while (UART_STATE & UART_STATE_TXFULL) {
    }
    UART_DATA = (uint32_t)(unsigned char)c;
}

int npb_port_getc(void)
{
    if (UART_STATE & UART_STATE_RXFULL) {
        return (int)(UART_DATA & 0xFFu);
    }
    return NPB_PORT_NONE;
}

int main(void)
{
    npb_main();
    return 0;
}

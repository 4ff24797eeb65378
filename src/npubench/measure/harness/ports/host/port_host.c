/*
 * port_host.c - the harness as a POSIX process, for testing the host runner
 * against the real C harness without hardware or an emulator.
 *
 *   npb_fw_host            UART = stdin/stdout
 *   npb_fw_host --pty      opens a pseudo-terminal, prints its slave path as
 *                          "pty: /dev/pts/N" on stderr and uses the master as UART
 *
 * Time base: CLOCK_MONOTONIC in units of 10 ns (tick_hz = 100 MHz, so one
 * stage may last up to 42 s before the 32-bit difference wraps); not cycles.
 */
#define _XOPEN_SOURCE 600
#define _DEFAULT_SOURCE /* cfmakeraw */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "npb_harness.h"
#include "npb_port.h"

static int g_in_fd = 0;
static int g_out_fd = 1;

void npb_port_init(void) {}

uint32_t npb_port_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 100000000u + (uint64_t)ts.tv_nsec / 10u);
}

uint32_t npb_port_tick_hz(void) { return 100000000u; }
uint32_t npb_port_clock_hz(void) { return 0u; }
int npb_port_cycle_accurate(void) { return 0; }
const char *npb_port_board_name(void) { return "host-posix"; }

void npb_port_putc(int c)
{
    unsigned char b = (unsigned char)c;
    while (write(g_out_fd, &b, 1) < 0 && errno == EINTR) {
    }
}

int npb_port_getc(void)
{
    struct pollfd p;
    unsigned char b;
    ssize_t n;
    p.fd = g_in_fd;
    p.events = POLLIN;
    p.revents = 0;
    /* Block a little so an idle harness does not spin a host core. */
    if (poll(&p, 1, 5) <= 0) {
        return NPB_PORT_NONE;
    }
    if (p.revents & POLLIN) {
        n = read(g_in_fd, &b, 1);
        if (n == 1) {
            return b;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            return NPB_PORT_NONE;
        }
        if (g_in_fd != 0) {
            /* EIO on a pty master: the host closed the port; wait for the next open. */
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
            return NPB_PORT_NONE;
        }
        return NPB_PORT_EOF;
    }
    /* POLLHUP on a pty master means no process holds the slave open (yet):
     * keep waiting, like a board waiting for a cable. */
    if (p.revents & POLLHUP && g_in_fd != 0) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        return NPB_PORT_NONE;
    }
    return NPB_PORT_EOF;
}

static int open_pty(void)
{
    struct termios t;
    int fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (fd < 0 || grantpt(fd) != 0 || unlockpt(fd) != 0) {
        perror("posix_openpt");
        return -1;
    }
    /* Raw on the master side: no echo, no newline translation. */
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    fprintf(stderr, "pty: %s\n", ptsname(fd));
    fflush(stderr);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--pty") == 0) {
        int fd = open_pty();
        if (fd < 0) {
            return 1;
        }
        g_in_fd = fd;
        g_out_fd = fd;
    }
    npb_main();
    return 0;
}

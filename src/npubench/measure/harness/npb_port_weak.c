/*
 * npb_port_weak.c - default no-op stage marker for ports without a GPIO.
 *
 * Kept in its own file so that the compiler cannot inline the weak default
 * into the harness and bypass a port's strong definition.
 */
#include "npb_port.h"

#if defined(__GNUC__)
__attribute__((weak))
#endif
void npb_port_marker(int stage, int level)
{
    (void)stage;
    (void)level;
}

"""The serial link of a measurement: a guarded transport and one run over it.

``GuardedTransport`` wraps a serial port so that its death (QEMU exiting, a USB cable pulled)
reads as silence, which the runner turns into a fault carrying the repetitions received so far;
``run_on_port`` handshakes (checking the firmware's model hash) and runs, returning a partial
run with its fault rather than raising once repetitions have arrived.

May import the foundation modules and the sibling ``measure`` modules.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from npubench.measure import runner
from npubench.measure.runner import BoardLinkError, RunResult


class GuardedTransport:
    """A serial port whose death (QEMU exiting, a USB cable pulled) reads as silence.

    pyserial raises on a hung-up pty; the runner expects a silent link, which it turns into a
    ``RunTimeoutError`` carrying the repetitions received so far.
    """

    def __init__(self, inner: runner.SerialLike) -> None:
        self.inner = inner
        self.dead: str | None = None

    @property
    def in_waiting(self) -> int:
        if self.dead:
            return 0
        try:
            return self.inner.in_waiting
        except OSError as e:  # serial.SerialException is an OSError
            self.dead = str(e)
            return 0

    def read(self, size: int = 1) -> bytes:
        if self.dead:
            time.sleep(0.05)
            return b""
        try:
            return self.inner.read(size)
        except OSError as e:
            self.dead = str(e)
            return b""

    def write(self, data: bytes) -> int | None:
        if self.dead:
            return 0
        try:
            return self.inner.write(data)
        except OSError as e:
            self.dead = str(e)
            return 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.inner.close()

    def reset_input_buffer(self) -> None:
        if not self.dead:
            self.inner.reset_input_buffer()


def open_transport(port: str, baud: int) -> runner.SerialLike:
    """The serial port, guarded (tests replace this to inject faults)."""
    return GuardedTransport(runner.open_serial(port, baud))


@dataclass
class PortRun:
    """What a run on a port produced: the run (possibly partial) and the fault that cut it."""

    run: RunResult
    fault: BoardLinkError | None = None


def run_on_port(
    port: str,
    baud: int,
    expected_hash: str,
    warmup: int,
    repeat: int,
    seed: int,
) -> PortRun:
    """Handshake and run; a fault after the run started returns its partial run.

    A fault before any repetition arrived (no board, wrong model, silence) is raised.
    """
    with runner.BoardSession(port, baud, transport_factory=open_transport) as session:
        session.handshake(expected_hash)
        try:
            return PortRun(session.run(warmup, repeat, seed=seed))
        except BoardLinkError as e:
            if e.partial is None or not e.partial.reps:
                raise
            return PortRun(e.partial, e)

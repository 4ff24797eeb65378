"""Power instruments: a common streaming interface and the capture loop.

An ``Instrument`` is started, polled with ``read()`` (each call returns the samples that arrived
since the last one as a ``PowerTrace`` chunk, or None), and stopped; ``metadata()`` says what it
is for provenance. Adapters: ``ppk2.Ppk2Instrument`` (Nordic PPK2 via ppk2-api),
``joulescope.JoulescopeInstrument`` (via pyjoulescope-driver) and
``csv_replay.CsvReplayInstrument`` (replays a recorded CSV trace). The vendor packages are
imported only when an instrument starts, with a clear error naming the pip extra if missing.

An instrument that stops streaming for ``timeout_s`` raises ``InstrumentStalled`` (a
``MeasurementError``) carrying the samples captured so far in ``.partial``.

May import ``npubench.errors`` and ``npubench.measure.trace``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from npubench.errors import MeasurementError
from npubench.measure.trace import PowerTrace, concat_traces

DEFAULT_TIMEOUT_S = 2.0


class InstrumentStalled(MeasurementError):
    """The instrument sent no data for its timeout; ``partial`` holds what arrived before."""

    def __init__(self, message: str, hint: str | None = None, partial: PowerTrace | None = None):
        super().__init__(message, hint)
        self.partial = partial


@runtime_checkable
class Instrument(Protocol):
    """What the harness needs from a power instrument."""

    name: str

    def start(self) -> None: ...

    def read(self) -> PowerTrace | None: ...

    def stop(self) -> None: ...

    def metadata(self) -> dict[str, Any]: ...


def missing_driver(package: str, extra: str) -> MeasurementError:
    """The error for a vendor package that is not installed."""
    return MeasurementError(
        f"the {extra} instrument needs the Python package {package}, which is not installed",
        hint=f"pip install 'npubench[{extra}]'  (or: pip install {package})",
    )


class StreamingInstrument:
    """Shared plumbing: chunk bookkeeping, stall detection and the context-manager protocol.

    Subclasses implement ``_open()``, ``_poll() -> PowerTrace | None``, ``_close()`` and
    ``metadata()``.
    """

    name = "instrument"

    def __init__(
        self, *, timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._chunks: list[PowerTrace] = []
        self._last_data = 0.0
        self._running = False

    # --- subclass hooks -----------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _poll(self) -> PowerTrace | None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        return {"instrument": self.name}

    # --- the Instrument protocol --------------------------------------------------------
    def start(self) -> None:
        self._chunks = []
        self._open()
        self._running = True
        self._last_data = self._clock()

    def read(self) -> PowerTrace | None:
        if not self._running:
            raise MeasurementError(f"{self.name}: read() before start()", hint="call start() first")
        chunk = self._poll()
        now = self._clock()
        if chunk is not None and len(chunk):
            self._chunks.append(chunk)
            self._last_data = now
            return chunk
        if now - self._last_data > self.timeout_s:
            partial = self.captured()
            got = f"{len(partial)} samples ({partial.duration_ms:.1f} ms)" if partial else "nothing"
            raise InstrumentStalled(
                f"{self.name} sent no data for {now - self._last_data:.1f} s (timeout "
                f"{self.timeout_s:g} s); captured {got} before it stopped",
                hint="check the USB cable and that no other program holds the instrument; the "
                "samples captured so far are attached to this error (.partial)",
                partial=partial,
            )
        return None

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._close()

    def captured(self) -> PowerTrace | None:
        """Everything read since start(), as one trace."""
        return concat_traces(self._chunks) if self._chunks else None

    def __enter__(self) -> StreamingInstrument:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def capture(
    instrument: Instrument,
    duration_ms: float,
    *,
    poll_s: float = 0.01,
    sleep: Callable[[float], None] = time.sleep,
) -> PowerTrace:
    """Record ``duration_ms`` of samples (at least) and return them as one trace.

    The instrument is always stopped; a stall raises ``InstrumentStalled`` with the partial trace.
    """
    chunks: list[PowerTrace] = []
    instrument.start()
    try:
        while True:
            chunk = instrument.read()
            if chunk is not None and len(chunk):
                chunks.append(chunk)
                if chunks[-1].time_ms[-1] - chunks[0].time_ms[0] >= duration_ms:
                    break
            else:
                sleep(poll_s)
    finally:
        instrument.stop()
    return stamped(concat_traces(chunks), instrument)


def stamped(trace: PowerTrace, instrument: Any) -> PowerTrace:
    """``trace`` attributed to ``instrument``: its name, and its metadata over the trace's."""
    return PowerTrace(
        time_ms=trace.time_ms,
        power_mw=trace.power_mw,
        current_ma=trace.current_ma,
        voltage_v=trace.voltage_v,
        digital=trace.digital,
        digital_channels=trace.digital_channels,
        source=trace.source,
        instrument=instrument.name,
        metadata={**trace.metadata, **instrument.metadata()},
    )

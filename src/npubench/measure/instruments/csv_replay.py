"""A recorded CSV trace replayed as an ``Instrument``: hardware-free runs of the capture path.

Each ``read()`` returns the next ``chunk_ms`` of the file (time re-based to start at 0); once the
file is exhausted it returns nothing, so ``capture()`` of a longer duration than the file ends
with ``InstrumentStalled`` holding the whole file, like a real instrument unplugged mid-run.

May import ``npubench.errors`` and ``npubench.measure``'s trace and instruments modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from npubench.measure.instruments import DEFAULT_TIMEOUT_S, StreamingInstrument
from npubench.measure.trace import PowerTrace, load_trace


class CsvReplayInstrument(StreamingInstrument):
    """Replays a CSV trace (or a PowerTrace) chunk by chunk."""

    name = "csv-replay"

    def __init__(
        self,
        source: str | Path | PowerTrace,
        *,
        chunk_ms: float = 100.0,
        voltage_v: float | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(timeout_s=timeout_s, clock=clock)
        self.source = source
        self.chunk_ms = chunk_ms
        self.voltage_v = voltage_v
        self._trace: PowerTrace | None = None
        self._position = 0

    def _open(self) -> None:
        self._trace = load_trace(self.source, voltage_v=self.voltage_v)
        self._position = 0

    def _poll(self) -> PowerTrace | None:
        trace = self._trace
        assert trace is not None
        if self._position >= len(trace):
            return None
        t = trace.time_ms
        until = t[self._position] + self.chunk_ms
        end = max(int(np.searchsorted(t, until, side="left")), self._position + 1)
        chunk = trace.select(slice(self._position, end))
        self._position = end
        return PowerTrace(
            time_ms=chunk.time_ms - t[0],
            power_mw=chunk.power_mw,
            current_ma=chunk.current_ma,
            voltage_v=chunk.voltage_v,
            digital=chunk.digital,
            digital_channels=chunk.digital_channels,
            source=chunk.source,
            instrument=self.name,
            metadata=chunk.metadata,
        )

    def _close(self) -> None:
        self._position = 0

    def metadata(self) -> dict[str, Any]:
        source = self.source.source if isinstance(self.source, PowerTrace) else str(self.source)
        return {"instrument": self.name, "replayed": source, "chunk_ms": self.chunk_ms}

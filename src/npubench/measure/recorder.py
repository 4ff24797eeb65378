"""The power instrument of a measurement: which one ``--power`` names, and recording it.

``parse_power("ppk2" | "joulescope" | "csv:FILE")`` checks the spec, ``open_instrument`` opens
it, and ``Recorder`` polls a live instrument in a thread while the run goes on (a CSV replay is
read at once): ``finish()`` returns the stamped ``PowerTrace``, and an instrument that fails
mid-run becomes ``Recorder.error`` with the samples captured before it kept.

May import the foundation modules and the sibling ``measure`` modules.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from npubench.errors import MeasurementError
from npubench.measure.trace import PowerTrace

if TYPE_CHECKING:
    from npubench.measure.instruments import StreamingInstrument


class PowerSpec(NamedTuple):
    """A parsed ``--power``: the instrument kind and, for ``csv``, the capture file."""

    kind: str
    path: Path | None


def parse_power(spec: str) -> PowerSpec:
    """``ppk2`` | ``joulescope`` | ``csv:FILE`` -> (kind, file)."""
    if spec in ("ppk2", "joulescope"):
        return PowerSpec(spec, None)
    if spec.startswith("csv:") and len(spec) > 4:
        path = Path(spec[4:]).expanduser()
        if not path.is_file():
            raise MeasurementError(
                f"--power {spec}: no such trace file {path}",
                hint="give a CSV export of a capture (see `npubench trace analyze --help`)",
            )
        return PowerSpec("csv", path)
    raise MeasurementError(
        f"unknown --power {spec!r}", hint="use ppk2, joulescope or csv:FILE (replays a capture)"
    )


def open_instrument(spec: str) -> StreamingInstrument:
    """The instrument a ``--power`` spec names (not started yet)."""
    kind, path = parse_power(spec)
    if kind == "ppk2":
        from npubench.measure.instruments.ppk2 import Ppk2Instrument

        return Ppk2Instrument()
    if kind == "joulescope":
        from npubench.measure.instruments.joulescope import JoulescopeInstrument

        return JoulescopeInstrument(gpi=(0,))
    from npubench.measure.instruments.csv_replay import CsvReplayInstrument

    assert path is not None
    return CsvReplayInstrument(path)


class Recorder:
    """Polls a live instrument in a thread while the run goes on; replays a CSV at once."""

    def __init__(self, instrument: StreamingInstrument, replay: bool) -> None:
        self.instrument = instrument
        self.replay = replay
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: MeasurementError | None = None

    def start(self) -> None:
        self.instrument.start()
        if not self.replay:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def _fault(self, error: Exception, doing: str) -> MeasurementError:
        """The instrument's failure as a MeasurementError naming what it was doing."""
        if isinstance(error, MeasurementError):
            return error
        return MeasurementError(
            f"{self.instrument.name} failed while {doing} ({type(error).__name__}: {error})",
            hint="check the instrument's USB cable and that no other program holds it; the "
            "samples captured before the failure are kept",
        )

    def _poll(self) -> None:
        # Any exception ends this thread; it must become the recorder's error, or a pulled
        # instrument (an OSError from its serial port) would pass as a short, clean capture.
        try:
            while not self._stop.is_set():
                if self.instrument.read() is None:
                    time.sleep(0.01)
        except Exception as e:  # a stall or a lost device: keep what arrived
            self.error = self._fault(e, "recording")

    def finish(self) -> PowerTrace | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        elif self.replay:
            # A replay has no clock to follow: the whole file is the capture.
            while self.instrument.read() is not None:
                pass
        try:
            self.instrument.stop()
        except Exception as e:  # a pulled instrument cannot be stopped; the run still counts
            self.error = self.error or self._fault(e, "stopping")
        trace = self.instrument.captured()
        if trace is None:
            return None
        from npubench.measure.instruments import stamped

        return stamped(trace, self.instrument)

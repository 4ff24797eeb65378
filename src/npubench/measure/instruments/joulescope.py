"""Joulescope JS110/JS220 through ``pyjoulescope-driver`` 2.2.12 (pip extra ``joulescope``).

The driver is publish/subscribe: ``Driver().device_paths()`` lists devices (``u/js220/<serial>``),
``open(path, "defaults")`` opens one, ``publish(path + "/h/fs", rate)`` sets the output sample
rate, ``publish(path + "/s/i/ctrl", 1)`` starts a signal and ``subscribe(path + "/s/i/!data",
"pub", fn)`` delivers it as ``fn(topic, value)`` on the driver's thread, with ``value`` a dict:
``data`` (float32 numpy array: A for ``s/i``, V for ``s/v``; packed bits for ``s/gpi/N``),
``sample_id`` (of the first sample, in the device's base rate), ``sample_rate`` and
``decimate_factor`` (output index = sample_id // decimate_factor). Current and voltage arrive as
separate messages; this adapter buffers both and emits the samples both cover, as
power = current x voltage.

May import ``npubench.errors`` and ``npubench.measure``'s trace and instruments modules.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from npubench.errors import MeasurementError
from npubench.measure.instruments import DEFAULT_TIMEOUT_S, StreamingInstrument, missing_driver
from npubench.measure.trace import PowerTrace


def _driver_class() -> Any:
    try:
        from pyjoulescope_driver import Driver
    except ImportError:
        raise missing_driver("pyjoulescope-driver==2.2.12", "joulescope") from None
    return Driver


class _SignalBuffer:
    """Samples of one signal not yet emitted, keyed by output sample index."""

    def __init__(self) -> None:
        self.start = -1
        self.data = np.zeros(0)
        self.dropped = 0

    @property
    def end(self) -> int:
        return self.start + self.data.size

    def add(self, start: int, data: np.ndarray) -> None:
        if self.start < 0:
            self.start, self.data = start, data
        elif start > self.end:  # samples lost on USB: restart the buffer after the hole
            self.dropped += start - self.end
            self.start, self.data = start, data
        elif start == self.end:
            self.data = np.concatenate((self.data, data))
        else:  # overlap (repeated message): keep the new tail only
            skip = self.end - start
            if skip < data.size:
                self.data = np.concatenate((self.data, data[skip:]))

    def take(self, start: int, end: int) -> np.ndarray:
        """Remove and return samples [start, end); drops anything before ``start``."""
        out = self.data[start - self.start : end - self.start]
        self.data = self.data[end - self.start :]
        self.start = end
        return out


class JoulescopeInstrument(StreamingInstrument):
    """A Joulescope as an ``Instrument``."""

    name = "joulescope"

    def __init__(
        self,
        device: str | None = None,
        *,
        sample_rate_hz: int = 100_000,
        gpi: Sequence[int] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(timeout_s=timeout_s, clock=clock)
        self.device = device
        self.sample_rate_hz = int(sample_rate_hz)
        self.gpi = tuple(gpi)
        self._driver: Any = None
        self._path: str | None = None
        self._inbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._buffers: dict[str, _SignalBuffer] = {}
        self._first_index: int | None = None
        self._rate = float(sample_rate_hz)

    def _topics(self) -> dict[str, str]:
        """Signal name -> topic suffix."""
        topics = {"i": "s/i", "v": "s/v"}
        topics.update({f"gpi{n}": f"s/gpi/{n}" for n in self.gpi})
        return topics

    def _on_data(self, topic: str, value: dict[str, Any]) -> None:
        # Runs on the driver's thread: hand over, never block.
        self._inbox.put((topic, value))

    def _open(self) -> None:
        driver_class = _driver_class()
        self._driver = driver_class()
        paths = list(self._driver.device_paths())
        if self.device is not None:
            paths = [p for p in paths if self.device.lower() in p.lower()]
        if not paths:
            self._driver.finalize()
            self._driver = None
            raise MeasurementError(
                "no Joulescope found" + (f" matching {self.device!r}" if self.device else ""),
                hint="plug the Joulescope in and close the Joulescope UI, which holds the device",
            )
        path = self._path = paths[0]
        self._driver.open(path, "defaults")
        self._driver.publish(f"{path}/h/fs", self.sample_rate_hz)
        if "js110" in path:
            self._driver.publish(f"{path}/s/i/range/select", "auto")
        else:
            self._driver.publish(f"{path}/s/i/range/mode", "auto")
        self._buffers = {name: _SignalBuffer() for name in self._topics()}
        self._first_index = None
        for suffix in self._topics().values():
            self._driver.subscribe(f"{path}/{suffix}/!data", "pub", self._on_data)
            self._driver.publish(f"{path}/{suffix}/ctrl", 1)

    def _drain(self) -> None:
        assert self._path is not None
        names = {f"{self._path}/{suffix}/!data": name for name, suffix in self._topics().items()}
        while True:
            try:
                topic, value = self._inbox.get_nowait()
            except queue.Empty:
                return
            name = names.get(topic)
            if name is None:
                continue
            decimate = int(value.get("decimate_factor", 1)) or 1
            index = int(value["sample_id"]) // decimate
            self._rate = float(value["sample_rate"]) / decimate
            data = np.asarray(value["data"])
            if name.startswith("gpi"):
                data = np.unpackbits(data.astype(np.uint8), bitorder="little").astype(np.uint32)
            self._buffers[name].add(index, data.astype(np.float64))

    def _poll(self) -> PowerTrace | None:
        self._drain()
        buffers = self._buffers
        if any(b.start < 0 for b in buffers.values()):
            return None
        # gpi messages carry whole bytes; cap them by the analog signals' coverage.
        start = max(b.start for b in buffers.values())
        end = min(buffers["i"].end, buffers["v"].end)
        for name, buffer in buffers.items():
            if name.startswith("gpi"):
                end = min(end, buffer.end)
        if end <= start:
            return None
        current_a = buffers["i"].take(start, end)
        voltage_v = buffers["v"].take(start, end)
        digital = None
        if self.gpi:
            digital = np.zeros(end - start, dtype=np.uint32)
            for n in self.gpi:
                digital |= buffers[f"gpi{n}"].take(start, end).astype(np.uint32) << np.uint32(n)
        if self._first_index is None:
            self._first_index = start
        index = np.arange(start, end) - self._first_index
        return PowerTrace(
            time_ms=index * (1e3 / self._rate),
            power_mw=current_a * voltage_v * 1e3,
            current_ma=current_a * 1e3,
            voltage_v=voltage_v,
            digital=digital,
            digital_channels=(max(self.gpi) + 1) if self.gpi else 0,
            source=f"joulescope:{self._path}",
            instrument=self.name,
        )

    def _close(self) -> None:
        if self._driver is None:
            return
        path = self._path
        try:
            for suffix in self._topics().values():
                self._driver.publish(f"{path}/{suffix}/ctrl", 0)
                self._driver.unsubscribe(f"{path}/{suffix}/!data", self._on_data)
            self._driver.close(path)
        finally:
            self._driver.finalize()
            self._driver = None

    def metadata(self) -> dict[str, Any]:
        try:
            from importlib.metadata import version

            driver = version("pyjoulescope-driver")
        except Exception:
            driver = None
        dropped = sum(b.dropped for b in self._buffers.values())
        return {
            "instrument": self.name,
            "device": self._path or self.device,
            "sample_rate_hz": self._rate,
            "gpi": list(self.gpi),
            "dropped_samples": dropped,
            "driver": f"pyjoulescope-driver {driver}" if driver else "pyjoulescope-driver",
        }

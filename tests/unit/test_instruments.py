"""Instrument adapters without hardware.

PPK2: the real ``ppk2_api.PPK2_API`` (0.9.2) runs against a fake *serial port* that behaves like
the device at the byte level (calibration text on GET_META_DATA, 4-byte samples after
AVERAGE_START), so calibration parsing and sample decoding are the package's own code.
Joulescope: faked at the method level (``Driver`` with device_paths/open/publish/subscribe and
data callbacks shaped like pyjoulescope-driver 2.2.12's), since its driver is a compiled
extension that talks to USB directly.
CSV replay: the real reference trace.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from npubench.errors import MeasurementError
from npubench.measure.instruments import Instrument, InstrumentStalled, capture
from npubench.measure.instruments.csv_replay import CsvReplayInstrument
from npubench.measure.instruments.joulescope import JoulescopeInstrument
from npubench.measure.instruments.ppk2 import Ppk2Instrument
from npubench.measure.trace import read_trace_csv

REFERENCE = (
    Path(__file__).resolve().parents[1] / "data" / "traces" / "hxwe2_yolov1_size_power_trace.csv"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# --- PPK2 -----------------------------------------------------------------------------------

ADC_MULT = 1.8 / 163840  # ppk2-api's ADC scale
SHUNT_OHMS = {"0": 1031.64, "1": 101.65, "2": 10.15, "3": 0.94, "4": 0.043}
RANGE = 2  # 10.15 ohm shunt: up to ~70 mA in 4.33 µA steps
CALIBRATION = (
    "Calibrated: 1\n"
    + "".join(f"R{k}: {v}\n" for k, v in SHUNT_OHMS.items())
    + "".join(f"GS{k}: 0\nGI{k}: 1\nO{k}: 0\nS{k}: 0\nI{k}: 0\nUG{k}: 1\n" for k in range(5))
    + "HW: 9173\nmode: 2\nIA: 56\nEND\n"
)


def ppk2_sample_bytes(current_a: np.ndarray, logic: np.ndarray) -> bytes:
    """Encode samples as the PPK2 streams them: 14-bit ADC | 3-bit range << 14 | logic << 24."""
    adc = np.round(current_a * SHUNT_OHMS[str(RANGE)] / (4 * ADC_MULT)).astype(np.uint32)
    assert adc.max() < 2**14
    words = adc | (RANGE << 14) | (logic.astype(np.uint32) << 24)
    return words.astype("<u4").tobytes()


class FakePpk2Serial:
    """The PPK2 as its USB serial port looks to ppk2-api."""

    last: FakePpk2Serial | None = None

    def __init__(self, port: str, **kwargs: Any) -> None:
        self.port = port
        self.kwargs = kwargs
        self.baudrate = 0
        self.written: list[tuple[int, ...]] = []
        self.measuring = False
        self._out = bytearray()
        FakePpk2Serial.last = self

    def write(self, data: bytes) -> int:
        self.written.append(tuple(data))
        if data[0] == 0x19:  # GET_META_DATA
            self._out += CALIBRATION.encode()
        elif data[0] == 0x06:  # AVERAGE_START
            self.measuring = True
        elif data[0] == 0x07:  # AVERAGE_STOP
            self.measuring = False
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self._out)

    def read(self, size: int = 1) -> bytes:
        out = bytes(self._out[:size])
        del self._out[:size]
        return out

    def stream(self, raw: bytes) -> None:
        assert self.measuring, "the firmware streams only after AVERAGE_START"
        self._out += raw

    def close(self) -> None:
        pass


@pytest.fixture
def fake_ppk2(monkeypatch: pytest.MonkeyPatch) -> type[FakePpk2Serial]:
    pytest.importorskip("ppk2_api.ppk2_api")
    monkeypatch.setattr("ppk2_api.ppk2_api.serial.Serial", FakePpk2Serial)
    return FakePpk2Serial


def ppk2_waveform(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    current = np.full(n, 1.5e-3)
    current[100:150] = 25e-3
    logic = np.zeros(n, dtype=np.uint8)
    logic[100:150] = 0b0000_0001  # D0 marks the busy samples
    logic[:] |= 0b1000_0000  # D7 high throughout
    return current, logic


def test_ppk2_decodes_current_and_logic_through_the_real_api(fake_ppk2: Any) -> None:
    clock = FakeClock()
    ppk2 = Ppk2Instrument("/dev/ttyACM-fake", mode="source", voltage_mv=3000, clock=clock)
    assert isinstance(ppk2, Instrument)
    ppk2.start()
    device = fake_ppk2.last
    # Source mode at 3000 mV: (17, 2), REGULATOR_SET (13, 11, 184), DUT power on (12, 1), start.
    assert device.written[0] == (0x19,)
    assert (0x11, 0x02) in device.written
    assert (0x0D, 11, 184) in device.written
    assert device.written.index((0x0C, 0x01)) < device.written.index((0x06,))

    current, logic = ppk2_waveform()
    raw = ppk2_sample_bytes(current, logic)
    # USB delivers arbitrary byte counts: split mid-sample to exercise the remainder handling.
    device.stream(raw[:1001])
    first = ppk2.read()
    device.stream(raw[1001:])
    second = ppk2.read()
    assert first is not None and second is not None
    assert len(first) == 250 and len(second) == 50
    quantum_ma = 4 * ADC_MULT / SHUNT_OHMS[str(RANGE)] * 1e3
    both = np.concatenate((first.current_ma, second.current_ma))
    np.testing.assert_allclose(both, current * 1e3, atol=quantum_ma / 2 + 1e-9)
    np.testing.assert_allclose(
        np.concatenate((first.power_mw, second.power_mw)), both * 3.0, rtol=1e-12
    )
    # 100 kS/s, time from the sample count, continuous across reads.
    assert first.time_ms[1] == pytest.approx(0.01)
    assert second.time_ms[0] == pytest.approx(2.5)
    trace = ppk2.captured()
    assert trace is not None and trace.digital_channels == 8
    assert trace.marker(0).sum() == 50 and trace.marker(0)[100] and not trace.marker(0)[150]
    assert trace.marker(7).all()

    ppk2.stop()
    assert device.written[-2:] == [(0x07,), (0x0C, 0x00)]
    assert ppk2.metadata()["driver"].startswith("ppk2-api")


def test_ppk2_that_stops_streaming_raises_with_the_partial_trace(fake_ppk2: Any) -> None:
    clock = FakeClock()
    ppk2 = Ppk2Instrument("/dev/ttyACM-fake", mode="ampere", voltage_mv=1800, clock=clock)
    current, logic = ppk2_waveform(120)
    fed: list[bool] = []

    def feed_then_stall(seconds: float) -> None:
        clock.sleep(seconds)
        if not fed:  # one burst of 120 samples, then the PPK2 goes silent
            fake_ppk2.last.stream(ppk2_sample_bytes(current, logic))
            fed.append(True)

    with pytest.raises(InstrumentStalled) as err:
        capture(ppk2, duration_ms=100.0, sleep=feed_then_stall)
    assert "no data" in err.value.message and "120 samples" in err.value.message
    partial = err.value.partial
    assert partial is not None and len(partial) == 120
    assert partial.power_mw[0] == pytest.approx(1.5 * 1.8, abs=0.01)
    assert isinstance(err.value, MeasurementError)
    device = fake_ppk2.last
    assert (0x11, 0x01) in device.written and (0x0C, 0x01) not in device.written  # ampere mode
    assert not device.measuring  # capture() stopped the instrument on the way out


def test_ppk2_capture_returns_the_requested_duration(fake_ppk2: Any) -> None:
    clock = FakeClock()
    ppk2 = Ppk2Instrument("/dev/ttyACM-fake", voltage_mv=3300, clock=clock)
    current, logic = ppk2_waveform(600)
    blocks = iter(np.array_split(np.arange(600), 6))

    def stream_next_block(seconds: float) -> None:
        clock.sleep(seconds)
        block = next(blocks, None)
        if block is not None:
            fake_ppk2.last.stream(ppk2_sample_bytes(current[block], logic[block]))

    trace = capture(ppk2, duration_ms=3.0, sleep=stream_next_block)
    assert trace.duration_ms >= 3.0 and len(trace) == 400  # stops after the block passing 3 ms
    assert trace.instrument == "ppk2" and trace.metadata["voltage_mv"] == 3300


def test_missing_ppk2_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ppk2_api", None)
    monkeypatch.setitem(sys.modules, "ppk2_api.ppk2_api", None)
    with pytest.raises(MeasurementError) as err:
        Ppk2Instrument("/dev/x").start()
    assert "ppk2-api" in err.value.message and "npubench[ppk2]" in (err.value.hint or "")


def test_ppk2_voltage_out_of_range() -> None:
    with pytest.raises(MeasurementError, match="800-5000 mV"):
        Ppk2Instrument("/dev/x", voltage_mv=6000)


# --- Joulescope -----------------------------------------------------------------------------

DEVICE = "u/js220/001234"
BASE_RATE = 1_000_000
DECIMATE = 10  # 100 kS/s output


class FakeDriver:
    """pyjoulescope_driver.Driver's surface as the adapter uses it."""

    last: FakeDriver | None = None

    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []
        self.subscribers: dict[str, Any] = {}
        self.opened: list[tuple[str, str]] = []
        self.closed: list[str] = []
        self.finalized = False
        FakeDriver.last = self

    def device_paths(self, timeout: float | None = None) -> list[str]:
        return [DEVICE]

    def open(self, path: str, mode: str | None = None, timeout: float | None = None) -> None:
        self.opened.append((path, mode or ""))

    def publish(self, topic: str, value: Any, timeout: float | None = None) -> None:
        self.published.append((topic, value))

    def subscribe(self, topic: str, flags: Any, fn: Any, timeout: float | None = None) -> None:
        self.subscribers[topic] = fn

    def unsubscribe(self, topic: str, fn: Any, timeout: float | None = None) -> None:
        self.subscribers.pop(topic, None)

    def close(self, path: str, timeout: float | None = None) -> None:
        self.closed.append(path)

    def finalize(self, timeout: float | None = None) -> None:
        self.finalized = True

    def emit(self, signal: str, first_sample: int, data: np.ndarray) -> None:
        """Deliver one stream message the way the driver's thread does."""
        topic = f"{DEVICE}/{signal}/!data"
        self.subscribers[topic](
            topic,
            {
                "sample_id": first_sample * DECIMATE,
                "utc": 0,
                "field_id": 0,
                "index": 0,
                "sample_rate": BASE_RATE,
                "decimate_factor": DECIMATE,
                "time_map": {"offset_time": 0, "offset_counter": 0, "counter_rate": BASE_RATE},
                "data": data,
            },
        )


@pytest.fixture
def fake_joulescope(monkeypatch: pytest.MonkeyPatch) -> type[FakeDriver]:
    module = types.ModuleType("pyjoulescope_driver")
    module.Driver = FakeDriver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyjoulescope_driver", module)
    return FakeDriver


def test_joulescope_aligns_current_voltage_and_gpi(fake_joulescope: Any) -> None:
    clock = FakeClock()
    js = JoulescopeInstrument(sample_rate_hz=100_000, gpi=(0,), clock=clock)
    js.start()
    driver = fake_joulescope.last
    assert driver.opened == [(DEVICE, "defaults")]
    assert (f"{DEVICE}/h/fs", 100_000) in driver.published
    assert (f"{DEVICE}/s/i/range/mode", "auto") in driver.published
    assert (f"{DEVICE}/s/i/ctrl", 1) in driver.published and (
        f"{DEVICE}/s/v/ctrl",
        1,
    ) in driver.published

    n = 64
    start = 5000  # the device's counter does not start at 0
    current = np.linspace(0.001, 0.064, n).astype(np.float32)
    voltage = np.full(n, 3.3, dtype=np.float32)
    gpi = (np.arange(n) % 8 == 0).astype(np.uint8)
    # Current and voltage arrive in differently cut messages.
    driver.emit("s/i", start, current[:40])
    driver.emit("s/v", start, voltage[:24])
    driver.emit("s/gpi/0", start, np.packbits(gpi, bitorder="little"))
    first = js.read()
    assert first is not None and len(first) == 24  # only what all signals cover
    driver.emit("s/v", start + 24, voltage[24:])
    driver.emit("s/i", start + 40, current[40:])
    second = js.read()
    assert second is not None and len(second) == n - 24
    power = np.concatenate((first.power_mw, second.power_mw))
    np.testing.assert_allclose(power, current.astype(np.float64) * 3.3 * 1e3, rtol=1e-6)
    times = np.concatenate((first.time_ms, second.time_ms))
    np.testing.assert_allclose(times, np.arange(n) * 0.01)  # re-based, 100 kS/s
    markers = np.concatenate((first.marker(0), second.marker(0)))
    np.testing.assert_array_equal(markers, gpi.astype(bool))

    # A hole in the stream (USB overrun) is counted and time keeps the device's sample count.
    driver.emit("s/i", start + n + 100, current[:8])
    driver.emit("s/v", start + n + 100, voltage[:8])
    driver.emit("s/gpi/0", start + n + 100, np.packbits(gpi[:8], bitorder="little"))
    third = js.read()
    assert third is not None and third.time_ms[0] == pytest.approx((n + 100) * 0.01)
    assert js.metadata()["dropped_samples"] == 3 * 100

    js.stop()
    assert (f"{DEVICE}/s/i/ctrl", 0) in driver.published
    assert driver.closed == [DEVICE] and driver.finalized and not driver.subscribers


def test_joulescope_stall_keeps_the_samples(fake_joulescope: Any) -> None:
    clock = FakeClock()
    js = JoulescopeInstrument(clock=clock, timeout_s=0.5)
    js.start()
    driver = fake_joulescope.last
    driver.emit("s/i", 0, np.full(10, 0.01, dtype=np.float32))
    driver.emit("s/v", 0, np.full(10, 1.8, dtype=np.float32))
    with pytest.raises(InstrumentStalled) as err:
        capture(js, duration_ms=1000.0, sleep=clock.sleep)
    assert err.value.partial is not None and len(err.value.partial) == 10
    assert err.value.partial.power_mw[0] == pytest.approx(18.0, rel=1e-6)


def test_joulescope_not_found(fake_joulescope: Any) -> None:
    with pytest.raises(MeasurementError, match="no Joulescope found matching 'js110'"):
        JoulescopeInstrument(device="js110").start()


def test_missing_joulescope_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyjoulescope_driver", None)
    with pytest.raises(MeasurementError) as err:
        JoulescopeInstrument().start()
    assert "npubench[joulescope]" in (err.value.hint or "")


# --- CSV replay -----------------------------------------------------------------------------


def test_csv_replay_gives_back_the_file_in_chunks() -> None:
    clock = FakeClock()
    replay = CsvReplayInstrument(REFERENCE, chunk_ms=10.0, clock=clock)
    trace = capture(replay, duration_ms=30.0, sleep=clock.sleep)
    original = read_trace_csv(REFERENCE)
    assert trace.time_ms[0] == 0.0
    assert 30.0 <= trace.duration_ms < 40.0
    np.testing.assert_array_equal(trace.power_mw, original.power_mw[: len(trace)])
    assert trace.metadata["replayed"] == str(REFERENCE)


def test_csv_replay_past_the_end_stalls_with_the_whole_file() -> None:
    clock = FakeClock()
    replay = CsvReplayInstrument(REFERENCE, chunk_ms=25.0, clock=clock, timeout_s=1.0)
    with pytest.raises(InstrumentStalled) as err:
        capture(replay, duration_ms=10_000.0, sleep=clock.sleep)
    assert err.value.partial is not None and len(err.value.partial) == 439


def test_read_before_start_is_an_error() -> None:
    with pytest.raises(MeasurementError, match="before start"):
        CsvReplayInstrument(REFERENCE).read()

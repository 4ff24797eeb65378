"""Nordic Power Profiler Kit II (PPK2) through ``ppk2-api`` 0.9.2 (pip extra ``ppk2``).

The PPK2 streams 100 000 samples/s over USB serial, 4 bytes each (14-bit ADC value, 3-bit
range, 8 logic-port bits). ``PPK2_API.get_data()`` returns the raw bytes that arrived since the
last call and ``get_samples(buf)`` decodes them with the calibration read by ``get_modifiers()``
into current in µA plus one 8-bit logic word per sample (bit k = logic input Dk). There are no
timestamps: time is the sample count / 100 kHz.

Modes: ``"source"`` (the PPK2 powers the board at ``voltage_mv`` and measures its current) or
``"ampere"`` (the PPK2 is an ammeter in series with the board's own supply, whose voltage
``voltage_mv`` must then be given so current can become power).

May import ``npubench.errors`` and ``npubench.measure``'s trace and instruments modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from npubench.errors import MeasurementError
from npubench.measure.instruments import DEFAULT_TIMEOUT_S, StreamingInstrument, missing_driver
from npubench.measure.trace import PowerTrace

SAMPLE_RATE_HZ = 100_000
"""The PPK2's fixed streaming rate."""


def _ppk2_api_class() -> Any:
    try:
        from ppk2_api.ppk2_api import PPK2_API
    except ImportError:
        raise missing_driver("ppk2-api==0.9.2", "ppk2") from None
    return PPK2_API


class Ppk2Instrument(StreamingInstrument):
    """A PPK2 as an ``Instrument``."""

    name = "ppk2"

    def __init__(
        self,
        port: str | None = None,
        *,
        mode: Literal["source", "ampere"] = "source",
        voltage_mv: int = 3300,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(timeout_s=timeout_s, clock=clock)
        if mode not in ("source", "ampere"):
            raise MeasurementError(
                f"unknown PPK2 mode {mode!r}",
                hint="use 'source' (PPK2 powers the board) or "
                "'ampere' (ammeter in series with the board's supply)",
            )
        if not 800 <= voltage_mv <= 5000:
            raise MeasurementError(
                f"PPK2 voltage {voltage_mv} mV is outside its 800-5000 mV range",
                hint="give the board's supply voltage in mV",
            )
        self.port = port
        self.mode = mode
        self.voltage_mv = int(voltage_mv)
        self._api: Any = None
        self._samples_seen = 0

    def _open(self) -> None:
        api_class = _ppk2_api_class()
        port = self.port
        if port is None:
            devices = api_class.list_devices()
            if not devices:
                raise MeasurementError(
                    "no PPK2 found on USB",
                    hint="plug the PPK2's USB DATA/POWER port in, or give its serial port",
                )
            port = devices[0]
        try:
            self._api = api_class(port, timeout=1)
        except Exception as exc:  # pyserial raises SerialException/OSError with the reason
            raise MeasurementError(
                f"cannot open the PPK2 on {port}: {exc}",
                hint="check the port name and that no other program (nRF Connect) holds it",
            ) from exc
        self.port = port
        if not self._api.get_modifiers():
            raise MeasurementError(
                f"the PPK2 on {port} did not send its calibration data",
                hint="unplug and replug the PPK2; make sure the port is the PPK2's",
            )
        if self.mode == "source":
            self._api.use_source_meter()
        else:
            self._api.use_ampere_meter()
        # In ampere mode the voltage only enters the calibration formula; ppk2-api needs it set.
        self._api.set_source_voltage(self.voltage_mv)
        if self.mode == "source":
            self._api.toggle_DUT_power("ON")
        self._samples_seen = 0
        self._api.start_measuring()

    def _poll(self) -> PowerTrace | None:
        data = self._api.get_data()
        if not data:
            return None
        samples, logic = self._api.get_samples(data)
        if not samples:
            return None
        current_ua = np.asarray(samples, dtype=np.float64)
        # get_samples drops the logic word of a sample it cannot decode only together with the
        # sample itself, so the two lists have the same length.
        bits = np.asarray(logic[: current_ua.size], dtype=np.uint32)
        index = self._samples_seen + np.arange(current_ua.size)
        self._samples_seen += current_ua.size
        voltage_v = self.voltage_mv / 1e3
        current_ma = current_ua / 1e3
        return PowerTrace(
            time_ms=index * (1e3 / SAMPLE_RATE_HZ),
            power_mw=current_ma * voltage_v,
            current_ma=current_ma,
            voltage_v=np.full(current_ua.size, voltage_v),
            digital=bits if bits.size == current_ua.size else None,
            digital_channels=8 if bits.size == current_ua.size else 0,
            source=f"ppk2:{self.port}",
            instrument=self.name,
        )

    def _close(self) -> None:
        if self._api is None:
            return
        try:
            self._api.stop_measuring()
            if self.mode == "source":
                self._api.toggle_DUT_power("OFF")
        finally:
            self._api = None

    def metadata(self) -> dict[str, Any]:
        try:
            from importlib.metadata import version

            driver = version("ppk2-api")
        except Exception:
            driver = None
        return {
            "instrument": self.name,
            "port": self.port,
            "mode": self.mode,
            "voltage_mv": self.voltage_mv,
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "driver": f"ppk2-api {driver}" if driver else "ppk2-api",
        }

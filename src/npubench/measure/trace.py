"""Power traces: the ``PowerTrace`` model and import of instrument CSV exports.

A trace is time in ms (float64) and power in mW, optionally with current (mA), voltage (V) and
digital marker channels (one integer per sample, bit k = channel Dk). Every instrument adapter
and the CSV importer produce one, and the window, stage and plot modules consume it.

CSV formats recognised from the header (names are matched case-insensitively, units are read
from the header and converted):

- ``Time (ms)`` / ``Time (s)`` with ``Main Avg Power (mW|W)`` and/or ``Main Avg Current (mA)`` and
  ``Main Avg Voltage (V)``: the Monsoon PowerTool export (the reference trace uses this naming).
- ``Timestamp(ms),Current(uA)`` plus either ``D0-D7`` (one bit string, first character = D0) or
  ``D0,...,D7``: the Nordic Power Profiler (PPK2) desktop export.
- Otii exports: ``Time (s)`` or ``Timestamp (s)`` with ``Main Current (A)``, ``Main Power (W)``,
  ``Main Voltage (V)`` (an ``Arc``/device prefix is allowed).
- Generic: ``time_s|time_ms|time_us`` with ``power_w|power_mw|power_uw`` or
  ``current_a|current_ma|current_ua`` (and optionally ``voltage_v|voltage_mv``).

Current without a voltage column needs ``voltage_v=`` (``--voltage``) to become power.

Limits, checked before the file is parsed: at most ``MAX_TRACE_BYTES`` (1 GiB) and
``MAX_SAMPLES`` sample lines (5 million: 50 s at 100 kS/s; ``max_samples=`` / ``--max-samples``
raises it), a supply voltage in (0, ``MAX_VOLTAGE_V``], and a median time step of at least
``MIN_STEP_MS`` (1 ns). Binary files, malformed CSV (NUL bytes, a field over the CSV field
limit), NaN or infinite values and non-increasing time are refused naming the file and line.

May import ``npubench.errors`` only.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npubench.errors import ExitStatus, MeasurementError

GAP_FACTOR = 5.0
"""A time step larger than this many median steps is a gap (samples lost or logging paused)."""

MIN_SAMPLES = 3
"""Fewer samples than this cannot make a trace (no step, no integral)."""

MAX_TRACE_BYTES = 1 << 30
"""A trace file larger than this (1 GiB) is refused before it is read."""

MAX_SAMPLES = 5_000_000
"""Sample lines parsed at most unless the caller raises the limit (``max_samples``)."""

MAX_VOLTAGE_V = 60.0
"""Highest supply voltage accepted (``--voltage``); MCU boards run at 1-12 V."""

MIN_STEP_MS = 1e-6
"""Smallest median time step (1 ns, 1 GS/s): no power analyser samples faster."""

# Multipliers from a header unit to the trace's units (ms, mW, mA, V).
_TIME_UNITS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ns": 1e-6}
_POWER_UNITS = {"w": 1e3, "mw": 1.0, "uw": 1e-3, "µw": 1e-3, "μw": 1e-3}
_CURRENT_UNITS = {"a": 1e3, "ma": 1.0, "ua": 1e-3, "µa": 1e-3, "μa": 1e-3, "na": 1e-6}
_VOLTAGE_UNITS = {"v": 1.0, "mv": 1e-3}
_UNITS = {
    "time": _TIME_UNITS,
    "power": _POWER_UNITS,
    "current": _CURRENT_UNITS,
    "voltage": _VOLTAGE_UNITS,
}

ACCEPTED_COLUMNS = (
    "Time (ms) + Main Avg Power (mW) (Monsoon-style, as in the reference trace); "
    "Timestamp(ms) + Current(uA) [+ D0-D7] (Nordic PPK2); "
    "Time (s) + Main Current (A) / Main Power (W) (Otii); "
    "time_s|time_ms|time_us + power_w|power_mw|current_a|current_ma|current_ua (generic)"
)


@dataclass(frozen=True)
class PowerTrace:
    """A sampled power trace: time in ms, power in mW, and what recorded it.

    ``digital`` holds the marker channels as one unsigned integer per sample (bit k is channel
    Dk); ``digital_channels`` says how many bits are meaningful.
    """

    time_ms: np.ndarray
    power_mw: np.ndarray
    current_ma: np.ndarray | None = None
    voltage_v: np.ndarray | None = None
    digital: np.ndarray | None = None
    digital_channels: int = 0
    source: str = ""
    instrument: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        time_ms = np.asarray(self.time_ms, dtype=np.float64).reshape(-1)
        power_mw = np.asarray(self.power_mw, dtype=np.float64).reshape(-1)
        if time_ms.shape != power_mw.shape:
            raise ValueError(f"time ({time_ms.size}) and power ({power_mw.size}) differ in length")
        object.__setattr__(self, "time_ms", time_ms)
        object.__setattr__(self, "power_mw", power_mw)
        for name, dtype in (("current_ma", np.float64), ("voltage_v", np.float64)):
            value = getattr(self, name)
            if value is not None:
                array = np.asarray(value, dtype=dtype).reshape(-1)
                if array.shape != time_ms.shape:
                    raise ValueError(f"{name} has {array.size} samples, time has {time_ms.size}")
                object.__setattr__(self, name, array)
        if self.digital is not None:
            digital = np.asarray(self.digital).astype(np.uint32).reshape(-1)
            if digital.shape != time_ms.shape:
                raise ValueError(f"digital has {digital.size} samples, time has {time_ms.size}")
            object.__setattr__(self, "digital", digital)

    def __len__(self) -> int:
        return int(self.time_ms.size)

    @property
    def sample_period_ms(self) -> float:
        """The median time step (robust to the odd gap)."""
        if self.time_ms.size < 2:
            return float("nan")
        return float(np.median(np.diff(self.time_ms)))

    @property
    def sample_rate_hz(self) -> float:
        period = self.sample_period_ms
        return 1e3 / period if period > 0 else float("nan")

    @property
    def duration_ms(self) -> float:
        return float(self.time_ms[-1] - self.time_ms[0]) if self.time_ms.size else 0.0

    def marker(self, bit: int) -> np.ndarray:
        """Digital channel ``bit`` as a bool array."""
        if self.digital is None or bit >= max(self.digital_channels, 1):
            raise MeasurementError(
                f"the trace from {self.source or self.instrument or 'memory'} has no digital "
                f"channel D{bit}",
                hint="record the GPIO markers (PPK2 logic port D0-D7, Joulescope GPI) or align "
                "stages by timestamps instead",
            )
        return ((self.digital >> np.uint32(bit)) & np.uint32(1)).astype(bool)

    def slice_ms(self, start_ms: float, end_ms: float) -> PowerTrace:
        """The samples with start_ms <= t <= end_ms."""
        lo = int(np.searchsorted(self.time_ms, start_ms, side="left"))
        hi = int(np.searchsorted(self.time_ms, end_ms, side="right"))
        return self.select(slice(lo, hi))

    def select(self, index: slice) -> PowerTrace:
        """The samples at ``index`` (a slice), with the same metadata."""

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return PowerTrace(
            time_ms=self.time_ms[index],
            power_mw=self.power_mw[index],
            current_ma=pick(self.current_ma),
            voltage_v=pick(self.voltage_v),
            digital=pick(self.digital),
            digital_channels=self.digital_channels,
            source=self.source,
            instrument=self.instrument,
            metadata=dict(self.metadata),
        )

    def provenance(self) -> dict[str, Any]:
        """What a stored result should record about this trace."""
        return {
            "source": self.source,
            "instrument": self.instrument,
            "samples": len(self),
            "sample_rate_hz": self.sample_rate_hz,
            "duration_ms": self.duration_ms,
            **self.metadata,
        }

    def write_csv(self, path: str | Path) -> Path:
        """Write the generic format (``time_ms,power_mw[,current_ma,voltage_v][,D0..Dn]``)."""
        path = Path(path)
        columns: list[tuple[str, np.ndarray, str]] = [
            ("time_ms", self.time_ms, "%.6f"),
            ("power_mw", self.power_mw, "%.6g"),
        ]
        if self.current_ma is not None:
            columns.append(("current_ma", self.current_ma, "%.6g"))
        if self.voltage_v is not None:
            columns.append(("voltage_v", self.voltage_v, "%.6g"))
        if self.digital is not None:
            for bit in range(self.digital_channels):
                columns.append((f"D{bit}", self.marker(bit).astype(np.int64), "%d"))
        data = np.column_stack([c[1] for c in columns])
        np.savetxt(
            path,
            data,
            delimiter=",",
            header=",".join(c[0] for c in columns),
            comments="",
            fmt=[c[2] for c in columns],
        )
        return path


def concat_traces(chunks: list[PowerTrace]) -> PowerTrace:
    """Join chunks read from one instrument, in order, into one trace."""
    if not chunks:
        raise MeasurementError("no samples were captured", hint="check the instrument wiring")
    first = chunks[0]

    def join(name: str) -> np.ndarray | None:
        parts = [getattr(c, name) for c in chunks]
        if any(p is None for p in parts):
            return None
        return np.concatenate(parts)

    return PowerTrace(
        time_ms=np.concatenate([c.time_ms for c in chunks]),
        power_mw=np.concatenate([c.power_mw for c in chunks]),
        current_ma=join("current_ma"),
        voltage_v=join("voltage_v"),
        digital=join("digital"),
        digital_channels=first.digital_channels,
        source=first.source,
        instrument=first.instrument,
        metadata=dict(first.metadata),
    )


# --- CSV import -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    index: int
    header: str
    quantity: str  # time | power | current | voltage | bits | digital
    unit: str = ""
    bit: int = -1  # for a single digital channel column


_UNIT_IN_PARENS = re.compile(r"^(?P<name>.*?)\s*[\(\[](?P<unit>[^\)\]]*)[\)\]]\s*$")
_UNIT_SUFFIX = re.compile(r"^(?P<name>.*?)[_ ](?P<unit>[a-zµμ]{1,3})$")
_DIGITAL_BIT = re.compile(r"^d(?P<bit>[0-7])$")


def _quantity_of(name: str) -> str | None:
    if "time" in name or "timestamp" in name:
        return "time"
    for quantity in ("power", "current", "voltage"):
        if quantity in name:
            return quantity
    return None


def _classify(index: int, header: str) -> _Column | None:
    text = header.strip().strip('"').strip().lower()
    if text.replace(" ", "") == "d0-d7":
        return _Column(index, header, "bits")
    bit = _DIGITAL_BIT.match(text)
    if bit:
        return _Column(index, header, "digital", bit=int(bit.group("bit")))
    for pattern in (_UNIT_IN_PARENS, _UNIT_SUFFIX):
        match = pattern.match(text)
        if not match:
            continue
        name, unit = match.group("name"), match.group("unit").strip()
        quantity = _quantity_of(name)
        if quantity and unit in _UNITS[quantity]:
            # Wall-clock columns hold dates, not numbers: not a usable time axis.
            if quantity == "time" and "wall" in name:
                return None
            return _Column(index, header, quantity, unit)
    return None


def _preference(column: _Column) -> tuple[int, int]:
    """Lower sorts first: prefer averaged over min/max columns, then the first one."""
    text = column.header.lower()
    if "max" in text or "min" in text:
        rank = 2
    elif "avg" in text or "mean" in text:
        rank = 0
    else:
        rank = 1
    return rank, column.index


def _format_name(columns: dict[str, _Column], headers: list[str]) -> str:
    names = " ".join(h.lower() for h in headers)
    if "main avg" in names:
        return "monsoon-csv"
    if "timestamp(ms)" in names.replace(" ", "") and "current(ua)" in names.replace(" ", ""):
        return "ppk2-csv"
    if "main" in names and ("current (a)" in names or "power (w)" in names):
        return "otii-csv"
    return "generic-csv"


def _error(path: Path, problem: str, hint: str, line: int | None = None) -> MeasurementError:
    """A trace file the user gave that cannot be read: a usage error (exit status 2)."""
    where = f"{path}" if line is None else f"{path}, line {line}"
    return MeasurementError(f"{where}: {problem}", hint=hint, exit_code=ExitStatus.USAGE)


def _read_text(path: Path, max_samples: int) -> str:
    if not path.is_file():
        raise MeasurementError(
            f"{path}: no such trace file",
            hint="check the path; traces are CSV exports",
            exit_code=ExitStatus.USAGE,
        )
    size = path.stat().st_size
    if size > MAX_TRACE_BYTES:
        raise _error(
            path,
            f"the file has {size:,} bytes, more than the {MAX_TRACE_BYTES:,} a trace may have",
            "export only the part of the capture around the inference",
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise _error(path, "the file is empty", "export the capture again")
    if b"\x00" in raw[:4096]:
        raise _error(
            path,
            "this is a binary file, not a CSV",
            "export the recording as CSV from the instrument's software (PPK2: Export → CSV; "
            "Otii: Export → CSV)",
        )
    lines = raw.count(b"\n")
    if lines > max_samples + 100:
        raise _error(
            path,
            f"the trace has {lines:,} lines, more than the limit of {max_samples:,} samples",
            "export only the part of the capture around the inference, or raise the limit "
            "with --max-samples N (max_samples=N); analysing it is slow",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _parse_bitstring(text: str) -> int:
    """A PPK2 ``D0-D7`` cell: first character is D0; '1' and 'X' (toggling) count as high."""
    value = 0
    for bit, char in enumerate(text.strip()[:8]):
        if char in "1Xx":
            value |= 1 << bit
    return value


def read_trace_csv(
    path: str | Path,
    *,
    voltage_v: float | None = None,
    drop_nan: bool = False,
    allow_gaps: bool = False,
    min_samples: int = MIN_SAMPLES,
    max_samples: int | None = None,
) -> PowerTrace:
    """Read a power trace from an instrument's CSV export (formats: see the module docstring).

    Refuses NaNs unless ``drop_nan``, gaps (a step > 5x the median step) unless ``allow_gaps``,
    and unsorted or duplicate timestamps always, naming the file and line; and files beyond
    the limits of the module docstring (``max_samples`` defaults to ``MAX_SAMPLES``).
    """
    path = Path(path)
    limit = MAX_SAMPLES if max_samples is None else int(max_samples)
    if limit < 1:
        raise _error(path, f"max_samples must be at least 1, got {limit}", "give a positive limit")
    check_voltage(voltage_v)
    text = _read_text(path, limit)
    try:
        return _parse(path, text, voltage_v, drop_nan, allow_gaps, min_samples)
    except csv.Error as e:
        raise _error(
            path,
            f"not a valid CSV file ({e})",
            "export the capture again as CSV (a binary or truncated file cannot be read)",
        ) from None


def check_voltage(voltage_v: float | None) -> None:
    """A supply voltage is finite, above 0 and at most ``MAX_VOLTAGE_V`` (usage error)."""
    if voltage_v is None:
        return
    ok = isinstance(voltage_v, int | float) and not isinstance(voltage_v, bool)
    if not ok or not math.isfinite(voltage_v) or not 0 < voltage_v <= MAX_VOLTAGE_V:
        raise MeasurementError(
            f"supply voltage {voltage_v!r} V is out of range",
            hint=f"give the board's supply in volts, above 0 and at most {MAX_VOLTAGE_V:g} "
            "(e.g. --voltage 3.3)",
            exit_code=ExitStatus.USAGE,
        )


def _parse(
    path: Path,
    text: str,
    voltage_v: float | None,
    drop_nan: bool,
    allow_gaps: bool,
    min_samples: int,
) -> PowerTrace:
    lines = text.splitlines()
    # Skip leading blank and comment lines; remember the header's physical line number.
    header_at = 0
    while header_at < len(lines) and (
        not lines[header_at].strip() or lines[header_at].lstrip().startswith("#")
    ):
        header_at += 1
    if header_at >= len(lines):
        raise _error(path, "the file has no header line", "export the capture again")
    delimiter = _sniff_delimiter(lines[header_at])
    reader = csv.reader(io.StringIO("\n".join(lines[header_at:])), delimiter=delimiter)
    headers = next(reader)
    columns = [c for c in (_classify(i, h) for i, h in enumerate(headers)) if c is not None]
    by_quantity: dict[str, _Column] = {}
    for quantity in ("time", "power", "current", "voltage", "bits"):
        candidates = sorted((c for c in columns if c.quantity == quantity), key=_preference)
        if candidates:
            by_quantity[quantity] = candidates[0]
    digital_columns = sorted((c for c in columns if c.quantity == "digital"), key=lambda c: c.bit)
    found = ", ".join(repr(h.strip()) for h in headers) or "(nothing)"
    if "time" not in by_quantity or not ({"power", "current"} & by_quantity.keys()):
        if len(headers) < 2 and delimiter == ",":
            problem = f"not a CSV with a recognisable header (first line: {lines[header_at]!r})"
        else:
            missing = "a time column" if "time" not in by_quantity else "a power or current column"
            problem = f"no recognisable columns: missing {missing}; found {found}"
        raise _error(path, problem, f"accepted columns: {ACCEPTED_COLUMNS}", line=header_at + 1)
    if "power" not in by_quantity and "voltage" not in by_quantity and voltage_v is None:
        raise _error(
            path,
            f"the trace has current ({by_quantity['current'].header.strip()}) but no power or "
            "voltage column, so power is unknown",
            "give the supply voltage: --voltage VOLTS (voltage_v=... in Python)",
        )

    wanted = [by_quantity[q] for q in ("time", "power", "current", "voltage") if q in by_quantity]
    values: dict[str, list[float]] = {c.quantity: [] for c in wanted}
    bits: list[int] = []
    line_numbers: list[int] = []
    width = len(headers)
    for row in reader:
        line = header_at + reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < width:
            raise _error(
                path,
                f"{len(row)} fields where the header has {width}",
                "the file is truncated or mixes formats; re-export it",
                line=line,
            )
        for column in wanted:
            cell = row[column.index].strip()
            try:
                number = float(cell) if cell else math.nan
            except ValueError:
                raise _error(
                    path,
                    f"{cell!r} in column {column.header.strip()!r} is not a number",
                    "check the export's decimal separator (a dot is expected) and delimiter",
                    line=line,
                ) from None
            values[column.quantity].append(number)
        if "bits" in by_quantity:
            bits.append(_parse_bitstring(row[by_quantity["bits"].index]))
        elif digital_columns:
            word = 0
            for column in digital_columns:
                if row[column.index].strip() in ("1", "X", "x"):
                    word |= 1 << column.bit
            bits.append(word)
        line_numbers.append(line)

    n = len(line_numbers)
    if n == 0:
        raise _error(path, "the file has a header but no samples", "export the capture again")
    scaled = {
        q: np.asarray(values[q], dtype=np.float64) * _UNITS[q][by_quantity[q].unit] for q in values
    }
    line_array = np.asarray(line_numbers)
    time_ms = scaled["time"]
    current = scaled.get("current")
    voltage = scaled.get("voltage")
    if voltage is None and voltage_v is not None and current is not None:
        voltage = np.full(n, float(voltage_v))
    power = scaled.get("power")
    if power is None:
        assert current is not None and voltage is not None
        power = current * voltage  # mA * V = mW

    digital = np.asarray(bits, dtype=np.uint32) if bits else None
    if "bits" in by_quantity:
        channels = 8
    elif digital_columns:
        channels = max(c.bit for c in digital_columns) + 1
    else:
        channels = 0

    # NaNs: refuse unless the caller opts into dropping them.
    arrays = [a for a in (time_ms, power, current, voltage) if a is not None]
    bad = np.zeros(n, dtype=bool)
    for array in arrays:
        bad |= ~np.isfinite(array)
    if bad.any():
        bad_lines = line_array[bad]
        shown = ", ".join(str(x) for x in bad_lines[:5]) + (" ..." if bad_lines.size > 5 else "")
        if not drop_nan:
            raise _error(
                path,
                f"{int(bad.sum())} of {n} samples are NaN or empty (lines {shown})",
                "drop them with --drop-nan (drop_nan=True) if the instrument marks lost samples "
                "that way, or re-export the capture",
            )
        keep = ~bad
        time_ms, power, line_array = time_ms[keep], power[keep], line_array[keep]
        current = None if current is None else current[keep]
        voltage = None if voltage is None else voltage[keep]
        digital = None if digital is None else digital[keep]
        n = int(keep.sum())

    if n < min_samples:
        raise _error(
            path,
            f"too few samples ({n}; at least {min_samples} are needed)",
            "capture a longer trace",
        )
    steps = np.diff(time_ms)
    not_increasing = np.flatnonzero(steps <= 0)
    if not_increasing.size:
        i = int(not_increasing[0]) + 1
        kind = "duplicate" if steps[i - 1] == 0 else "unsorted (time goes backwards)"
        raise _error(
            path,
            f"{kind} timestamp {time_ms[i]:g} ms after {time_ms[i - 1]:g} ms",
            "timestamps must strictly increase; re-export the capture, or sort and de-duplicate "
            "it if it was concatenated from several files",
            line=int(line_array[i]),
        )
    median_step = float(np.median(steps))
    if not median_step >= MIN_STEP_MS:
        raise _error(
            path,
            f"the median time step is {median_step:g} ms, below {MIN_STEP_MS:g} ms (1 GS/s): "
            "the time column's unit is wrong",
            "check the time column's unit in the header (s, ms, us)",
        )
    gaps = np.flatnonzero(steps > GAP_FACTOR * median_step)
    if gaps.size and not allow_gaps:
        i = int(gaps[0]) + 1
        raise _error(
            path,
            f"{gaps.size} gap(s) in time: the first is {steps[i - 1]:g} ms between "
            f"{time_ms[i - 1]:g} and {time_ms[i]:g} ms, > {GAP_FACTOR:g}x the median step "
            f"{median_step:g} ms",
            "samples were lost (USB overrun?); capture again, or accept the gaps with "
            "--allow-gaps (allow_gaps=True): energy is then interpolated across them",
            line=int(line_array[i]),
        )

    return PowerTrace(
        time_ms=time_ms,
        power_mw=power,
        current_ma=current,
        voltage_v=voltage,
        digital=digital,
        digital_channels=channels,
        source=str(path),
        instrument=_format_name(by_quantity, headers),
        metadata={
            "columns": {q: c.header.strip() for q, c in by_quantity.items()},
            **({"voltage_v_assumed": float(voltage_v)} if voltage_v is not None else {}),
            **({"gaps": int(gaps.size)} if gaps.size else {}),
        },
    )


def load_trace(
    source: str | Path | PowerTrace,
    *,
    voltage_v: float | None = None,
    drop_nan: bool = False,
    allow_gaps: bool = False,
    max_samples: int | None = None,
) -> PowerTrace:
    """A trace as given, or read from a CSV path."""
    if isinstance(source, PowerTrace):
        return source
    return read_trace_csv(
        source,
        voltage_v=voltage_v,
        drop_nan=drop_nan,
        allow_gaps=allow_gaps,
        max_samples=max_samples,
    )

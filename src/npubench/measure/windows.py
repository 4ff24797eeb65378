"""Active windows in a power trace: find them without being told where, and their energy.

What a board-level trace looks like (the reference Himax WE2 capture, 5 kS/s): a flat level with
~0.1 mW sample noise that also wanders by a few tenths of a mW over tens of ms; one inference
steps up by 10-20 mW for a few ms; afterwards the board settles to an idle level that can be a
couple of mW *below* the level before (set-up code was running before), sometimes with a short
dip (NPU power-down) on the way.

The detector, and why:

1. Noise. ``noise_mw`` is the larger of two robust (MAD) estimates: the sample-to-sample noise
   (MAD of first differences / sqrt 2, blind to level steps) and the wander of the level inside
   ``baseline_ms`` blocks (MAD per block, median over blocks, so blocks holding activity are
   outvoted). Using the larger keeps slow drift from opening windows.
2. Running baseline. Scanning in time, the baseline is the median of the quiet samples in the
   last ``baseline_ms``; it is frozen while a window is open, so windows of any length do not
   drag it up (a centred rolling median would follow any window longer than half its span).
3. Hysteresis. A window opens when power exceeds the baseline by ``k_enter`` x noise and stays
   open while it exceeds it by ``k_exit`` x noise; on opening, the preceding samples above the
   exit threshold join it, so the rise is not cut.
4. Both sides. The scan runs forwards (baseline measured before each window) and backwards
   (baseline measured after it), and a sample is active only if both scans say so. A window's
   start is thus found against the level before it and its end against the level after it: a
   level that differs before and after (as in the reference) does not stretch the window.
5. Clean-up. Windows closer than ``merge_gap_ms`` merge (brief dips inside one inference);
   windows shorter than ``min_duration_ms`` are dropped (single-sample glitches).

A reported window runs from the last quiet sample before the activity to the first quiet sample
after it, so its trapezoid integral covers the whole rise and fall. ``direction="both"`` also
counts excursions *below* the baseline as activity (e.g. the NPU de-init dip after an inference).

Energy: trapezoid of power over the window (mW x ms = µJ); net energy subtracts the baseline,
taken as a straight line from the level before the window to the level after it
(``net_baseline="interpolate"``) or one of the two.

May import ``npubench.errors`` and ``npubench.measure.trace``.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from npubench.errors import ExitStatus, MeasurementError
from npubench.measure.trace import PowerTrace, load_trace

DIRECTIONS: tuple[str, ...] = ("above", "both")
NET_BASELINES: tuple[str, ...] = ("interpolate", "before", "after")
MAX_K = 1000.0
"""Thresholds above this many noise sigmas would find nothing in any real trace."""


def _bad_param(name: str, value: Any, rule: str) -> MeasurementError:
    return MeasurementError(
        f"window-detector parameter {name}={value!r}: {rule}",
        hint="see `npubench trace analyze --help` for each parameter's meaning",
        exit_code=ExitStatus.USAGE,
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class DetectorParams:
    """Parameters of the window detector (module docstring explains each)."""

    k_enter: float = 8.0
    """Open a window at this many noise sigmas above the baseline (8: noise alone essentially
    never reaches it, an inference step is tens to hundreds of sigmas)."""
    k_exit: float = 3.0
    """Keep it open while above this many sigmas (3: the rise and fall edges stay inside)."""
    baseline_ms: float = 20.0
    """Span of quiet samples the running baseline is the median of (long enough to average the
    noise, short enough to follow drift)."""
    min_duration_ms: float | None = None
    """Drop windows shorter than this; None = 3 sample periods (at least two active samples)."""
    merge_gap_ms: float | None = None
    """Merge windows separated by less than this; None = max(1 ms, 5 sample periods)."""
    direction: Literal["above", "both"] = "above"
    """'above': only power above the baseline is activity; 'both': dips below count too."""
    min_threshold_mw: float = 0.0
    """A floor under the thresholds, for quantised or noiseless traces."""
    smooth_ms: float = 0.0
    """Moving-average width applied before detection only (energy uses the raw samples)."""
    net_baseline: Literal["interpolate", "before", "after"] = "interpolate"
    """Which baseline net energy subtracts."""

    def __post_init__(self) -> None:
        """Every parameter in its range (a usage error, exit 2, naming it)."""
        if not _finite(self.k_enter) or not 0 < self.k_enter <= MAX_K:
            raise _bad_param(
                "k_enter", self.k_enter, f"must be a number above 0, at most {MAX_K:g}"
            )
        if not _finite(self.k_exit) or not 0 <= self.k_exit <= self.k_enter:
            raise _bad_param(
                "k_exit",
                self.k_exit,
                f"must be a number from 0 to k_enter ({self.k_enter:g}): a window closes "
                "below the level that opens it",
            )
        if not _finite(self.baseline_ms) or self.baseline_ms <= 0:
            raise _bad_param("baseline_ms", self.baseline_ms, "must be a positive number of ms")
        for name in ("min_duration_ms", "merge_gap_ms"):
            value = getattr(self, name)
            if value is not None and (not _finite(value) or value < 0):
                raise _bad_param(name, value, "must be a non-negative number of ms")
        for name in ("min_threshold_mw", "smooth_ms"):
            value = getattr(self, name)
            if not _finite(value) or value < 0:
                raise _bad_param(name, value, "must be a non-negative finite number")
        if self.direction not in DIRECTIONS:
            raise _bad_param("direction", self.direction, f"use one of {', '.join(DIRECTIONS)}")
        if self.net_baseline not in NET_BASELINES:
            raise _bad_param(
                "net_baseline", self.net_baseline, f"use one of {', '.join(NET_BASELINES)}"
            )

    def resolved(self, period_ms: float) -> DetectorParams:
        """The parameters with the sample-rate-dependent defaults filled in."""
        return dataclasses.replace(
            self,
            min_duration_ms=3 * period_ms if self.min_duration_ms is None else self.min_duration_ms,
            merge_gap_ms=max(1.0, 5 * period_ms)
            if self.merge_gap_ms is None
            else self.merge_gap_ms,
        )


@dataclass(frozen=True)
class ActiveWindow:
    """One stretch of activity and its energy."""

    start_ms: float
    end_ms: float
    duration_ms: float
    mean_power_mw: float
    peak_power_mw: float
    energy_uj: float
    net_energy_uj: float
    baseline_before_mw: float
    baseline_after_mw: float
    start_index: int
    end_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "duration_ms": self.duration_ms,
            "mean_power_mw": self.mean_power_mw,
            "peak_power_mw": self.peak_power_mw,
            "energy_uj": self.energy_uj,
            "net_energy_uj": self.net_energy_uj,
            "baseline_before_mw": self.baseline_before_mw,
            "baseline_after_mw": self.baseline_after_mw,
        }


@dataclass
class TraceAnalysis:
    """The windows found in one trace, the baselines and the detector's settings.

    ``baseline_mw`` is the baseline net energy was measured against (averaged over the windows;
    the median of the whole trace when there is none); ``baseline_before_mw`` is the level before
    the first window and ``baseline_after_mw`` the level after the last.
    """

    trace: PowerTrace
    baseline_mw: float
    baseline_before_mw: float
    baseline_after_mw: float
    noise_mw: float
    enter_threshold_mw: float
    exit_threshold_mw: float
    windows: list[ActiveWindow]
    params: DetectorParams
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline_mw": self.baseline_mw,
            "windows": [w.to_json() for w in self.windows],
            "baseline_before_mw": self.baseline_before_mw,
            "baseline_after_mw": self.baseline_after_mw,
            "noise_mw": self.noise_mw,
            "enter_threshold_mw": self.enter_threshold_mw,
            "exit_threshold_mw": self.exit_threshold_mw,
            "params": dataclasses.asdict(self.params),
            "trace": self.trace.provenance(),
            "warnings": list(self.warnings),
        }


def trapezoid_uj(time_ms: np.ndarray, power_mw: np.ndarray) -> float:
    """Trapezoid integral of power over time: mW x ms = µJ."""
    if time_ms.size < 2:
        return 0.0
    return float(np.sum((power_mw[1:] + power_mw[:-1]) * np.diff(time_ms)) / 2.0)


def integrate_uj(trace: PowerTrace, start_ms: float, end_ms: float) -> float:
    """Energy between two instants, interpolating power at the ends (they need not be samples)."""
    t, p = trace.time_ms, trace.power_mw
    start_ms, end_ms = max(start_ms, float(t[0])), min(end_ms, float(t[-1]))
    if end_ms <= start_ms:
        return 0.0
    inside = (t > start_ms) & (t < end_ms)
    times = np.concatenate(([start_ms], t[inside], [end_ms]))
    powers = np.concatenate(([np.interp(start_ms, t, p)], p[inside], [np.interp(end_ms, t, p)]))
    return trapezoid_uj(times, powers)


def _mad_sigma(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def estimate_noise_mw(trace: PowerTrace, baseline_ms: float) -> float:
    """Robust noise: max of sample-to-sample noise and in-block level wander (docstring, 1.)."""
    p = trace.power_mw
    step_noise = _mad_sigma(np.diff(p)) / np.sqrt(2.0)
    per_block = max(round(baseline_ms / trace.sample_period_ms), 4)
    n_blocks = p.size // per_block
    wander = 0.0
    if n_blocks >= 1:
        # Per-block MAD, then the median over blocks: blocks holding a step (activity) are
        # outvoted by the quiet ones.
        blocks = p[: n_blocks * per_block].reshape(n_blocks, per_block)
        deviations = np.abs(blocks - np.median(blocks, axis=1, keepdims=True))
        wander = float(1.4826 * np.median(np.median(deviations, axis=1)))
    noise = max(step_noise, wander)
    if noise == 0.0:
        changes = np.abs(np.diff(p))
        nonzero = changes[changes > 0]
        if nonzero.size > 0.01 * changes.size:
            # Quantised: most samples repeat, the rest move by the ADC step; that step is the noise.
            noise = float(nonzero.min())
        else:
            # Noiseless (simulated) trace: any step is real; keep thresholds just above zero.
            noise = 1e-6 * max(float(np.abs(np.median(p))), 1e-9)
    return noise


def _smooth(power: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return power
    kernel = np.ones(width) / width
    padded = np.pad(power, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _scan(
    time_ms: np.ndarray,
    power: np.ndarray,
    enter: float,
    exit_: float,
    baseline_ms: float,
    both: bool,
) -> np.ndarray:
    """One causal hysteresis pass in the order given (callers reverse for the backward pass)."""
    n = power.size
    active = np.zeros(n, dtype=bool)
    # Scan-time increases in scan order (the backward pass gets negated times).
    seed = power[time_ms <= time_ms[0] + baseline_ms]
    base = float(np.median(seed))
    quiet_time: list[float] = []
    quiet_power: list[float] = []
    quiet_index: list[int] = []
    refresh_every = max(1, int(seed.size // 10))
    since_refresh = 0
    open_window = False
    values = power.tolist()
    times = time_ms.tolist()
    for i in range(n):
        d = values[i] - base
        dev = abs(d) if both else d
        if open_window:
            if dev > exit_:
                active[i] = True
                continue
            open_window = False
        elif dev > enter:
            open_window = True
            active[i] = True
            # The rise started before the sample that crossed the high threshold.
            j = i - 1
            while j >= 0 and not active[j]:
                dj = values[j] - base
                if (abs(dj) if both else dj) <= exit_:
                    break
                active[j] = True
                if quiet_index and quiet_index[-1] == j:
                    quiet_index.pop()
                    quiet_time.pop()
                    quiet_power.pop()
                j -= 1
            continue
        quiet_time.append(times[i])
        quiet_power.append(values[i])
        quiet_index.append(i)
        since_refresh += 1
        if since_refresh >= refresh_every:
            since_refresh = 0
            lo = bisect.bisect_left(quiet_time, times[i] - baseline_ms)
            base = float(np.median(quiet_power[lo:]))
    return active


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) index pairs of the True runs."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _quiet_median(
    power: np.ndarray, time_ms: np.ndarray, quiet: np.ndarray, lo_ms: float, hi_ms: float
) -> float:
    pick = quiet & (time_ms >= lo_ms) & (time_ms <= hi_ms)
    return float(np.median(power[pick])) if pick.any() else float("nan")


def _net_baseline(kind: str, before: float, after: float) -> float:
    if kind == "before":
        return before
    if kind == "after":
        return after
    return (before + after) / 2.0


def detect_windows(trace: PowerTrace, params: DetectorParams | None = None) -> TraceAnalysis:
    """Find the active windows of a trace (module docstring: how and why)."""
    params = params or DetectorParams()
    if len(trace) < 10:
        raise MeasurementError(
            f"{trace.source or 'the trace'} has {len(trace)} samples: too few to tell activity "
            "from the baseline",
            hint="capture at least a few ms of idle before and after the activity",
        )
    period = trace.sample_period_ms
    if not (math.isfinite(period) and period > 0 and math.isfinite(trace.duration_ms)):
        raise MeasurementError(
            f"{trace.source or 'the trace'}: its time axis is not usable (median step "
            f"{period!r} ms, duration {trace.duration_ms!r} ms)",
            hint="timestamps must be finite and strictly increasing",
            exit_code=ExitStatus.USAGE,
        )
    if params.smooth_ms / period > len(trace):
        raise _bad_param(
            "smooth_ms",
            params.smooth_ms,
            f"is longer than the whole trace ({trace.duration_ms:g} ms)",
        )
    params = params.resolved(period)
    assert params.min_duration_ms is not None and params.merge_gap_ms is not None
    t, p = trace.time_ms, trace.power_mw
    detect_on = _smooth(p, round(params.smooth_ms / period))
    noise = estimate_noise_mw(trace, params.baseline_ms)
    enter = max(params.k_enter * noise, params.min_threshold_mw)
    exit_ = max(params.k_exit * noise, params.min_threshold_mw * params.k_exit / params.k_enter)
    both = params.direction == "both"

    forward = _scan(t, detect_on, enter, exit_, params.baseline_ms, both)
    backward = _scan(-t[::-1], detect_on[::-1], enter, exit_, params.baseline_ms, both)[::-1]
    active = forward & backward

    # Merge close runs, then bracket each by its neighbouring quiet samples, then drop short ones.
    merged: list[list[int]] = []
    for first, last in _runs(active):
        if merged and t[first] - t[merged[-1][1]] <= params.merge_gap_ms:
            merged[-1][1] = last
        else:
            merged.append([first, last])
    n = p.size
    brackets = [(max(first - 1, 0), min(last + 1, n - 1)) for first, last in merged]
    brackets = [(i0, i1) for i0, i1 in brackets if t[i1] - t[i0] >= params.min_duration_ms]

    warnings: list[str] = []
    # Each pass takes the level where it starts as baseline. Activity seen only by the backward
    # pass at the very start (or only by the forward pass at the very end) means the capture
    # starts (ends) either inside activity or at a level different from the other end.
    span = t <= t[0] + params.baseline_ms
    start_level = float(np.median(p[span]))
    end_level = float(np.median(p[t >= t[-1] - params.baseline_ms]))
    if backward[0] and not forward[0]:
        warnings.append(
            f"the capture starts at {start_level:.3f} mW, {start_level - end_level:.3g} mW above "
            f"the {end_level:.3f} mW it ends at: taken as the baseline before the first window; "
            "if the capture started during activity, start it earlier, in idle"
        )
    if forward[-1] and not backward[-1]:
        warnings.append(
            f"the capture ends at {end_level:.3f} mW, {end_level - start_level:.3g} mW above "
            f"the {start_level:.3f} mW it starts at: taken as the baseline after the last "
            "window; if the capture ended during activity, capture longer"
        )

    in_window = np.zeros(n, dtype=bool)
    for i0, i1 in brackets:
        in_window[i0 + 1 : i1] = True
    quiet = ~in_window
    windows: list[ActiveWindow] = []
    global_baseline = float(np.median(p[quiet])) if quiet.any() else float("nan")
    for i0, i1 in brackets:
        before = _quiet_median(p, t, quiet, t[i0] - params.baseline_ms, t[i0])
        after = _quiet_median(p, t, quiet, t[i1], t[i1] + params.baseline_ms)
        if i0 == 0 or np.isnan(before):
            warnings.append(
                f"the capture starts inside the window at {t[i0]:.3f} ms: its start and the "
                "baseline before it are unknown; capture earlier"
            )
            before = after if not np.isnan(after) else global_baseline
        if i1 == n - 1 or np.isnan(after):
            warnings.append(
                f"the capture ends inside the window ending {t[i1]:.3f} ms: its end and the "
                "baseline after it are unknown; capture longer"
            )
            after = before if not np.isnan(before) else global_baseline
        energy = trapezoid_uj(t[i0 : i1 + 1], p[i0 : i1 + 1])
        duration = float(t[i1] - t[i0])
        net_base = _net_baseline(params.net_baseline, before, after)
        base_energy = net_base * duration
        windows.append(
            ActiveWindow(
                start_ms=float(t[i0]),
                end_ms=float(t[i1]),
                duration_ms=duration,
                mean_power_mw=energy / duration if duration > 0 else float(p[i0]),
                peak_power_mw=float(p[i0 : i1 + 1].max()),
                energy_uj=energy,
                net_energy_uj=energy - base_energy,
                baseline_before_mw=before,
                baseline_after_mw=after,
                start_index=i0,
                end_index=i1,
            )
        )
    if windows:
        baseline_before = windows[0].baseline_before_mw
        baseline_after = windows[-1].baseline_after_mw
        baseline = float(
            np.mean(
                [
                    _net_baseline(params.net_baseline, w.baseline_before_mw, w.baseline_after_mw)
                    for w in windows
                ]
            )
        )
    else:
        baseline = global_baseline
        baseline_before = baseline_after = global_baseline
        warnings.append(
            f"no activity found: nothing rose more than {enter:.3g} mW "
            f"({params.k_enter:g} x noise {noise:.3g} mW) above the baseline"
        )
    return TraceAnalysis(
        trace=trace,
        baseline_mw=baseline,
        baseline_before_mw=baseline_before,
        baseline_after_mw=baseline_after,
        noise_mw=noise,
        enter_threshold_mw=enter,
        exit_threshold_mw=exit_,
        windows=windows,
        params=params,
        warnings=warnings,
    )


def analyze_trace(
    path_or_trace: str | Path | PowerTrace,
    *,
    voltage_v: float | None = None,
    drop_nan: bool = False,
    allow_gaps: bool = False,
    max_samples: int | None = None,
    **params: Any,
) -> TraceAnalysis:
    """Load a trace (CSV path or PowerTrace) and find its active windows.

    ``params`` are ``DetectorParams`` fields (k_enter, k_exit, baseline_ms, min_duration_ms,
    merge_gap_ms, direction, min_threshold_mw, smooth_ms, net_baseline).
    """
    known = {f.name for f in dataclasses.fields(DetectorParams)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise MeasurementError(
            f"unknown window-detector parameter(s): {', '.join(unknown)}",
            hint=f"known parameters: {', '.join(sorted(known))}",
            exit_code=ExitStatus.USAGE,
        )
    detector = DetectorParams(**params)  # checked before the trace is read
    trace = load_trace(
        path_or_trace,
        voltage_v=voltage_v,
        drop_nan=drop_nan,
        allow_gaps=allow_gaps,
        max_samples=max_samples,
    )
    return detect_windows(trace, detector)


def render_table(analysis: TraceAnalysis) -> Any:
    """A rich table of the windows, for ``npubench trace analyze``."""
    from rich.table import Table

    trace = analysis.trace
    table = Table(
        title=(
            f"{Path(trace.source).name if trace.source else 'trace'}: "
            f"{len(analysis.windows)} active window(s), baseline "
            f"{analysis.baseline_before_mw:.3f} → {analysis.baseline_after_mw:.3f} mW, "
            f"noise {analysis.noise_mw:.3g} mW, {trace.sample_rate_hz / 1e3:.4g} kS/s"
        ),
        caption="; ".join(analysis.warnings) or None,
    )
    for name in ("#", "start ms", "end ms", "duration ms", "mean mW", "peak mW", "energy µJ"):
        table.add_column(name, justify="right")
    table.add_column("net energy µJ", justify="right")
    for number, w in enumerate(analysis.windows, start=1):
        table.add_row(
            str(number),
            f"{w.start_ms:.3f}",
            f"{w.end_ms:.3f}",
            f"{w.duration_ms:.3f}",
            f"{w.mean_power_mw:.3f}",
            f"{w.peak_power_mw:.3f}",
            f"{w.energy_uj:.3f}",
            f"{w.net_energy_uj:.3f}",
        )
    return table

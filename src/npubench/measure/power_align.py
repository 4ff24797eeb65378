"""Per-stage power of a run: the capture cut into the stages of every timed repetition.

``align_power(trace, run)`` finds each repetition's five stage spans in a power capture, from
the marker pulses (one per stage, on a digital input) if the trace has them, else from the
firmware's tick timestamps laid back to back and anchored on the capture's active windows,
then gives every repetition's per-stage power and energy, gross and net of the idle baseline,
as a ``PowerSummary``. ``measure.result.power_fields`` turns that into result fields.

May import the foundation modules and the sibling ``measure`` modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from npubench import STAGES
from npubench.errors import MeasurementError
from npubench.measure.runner import RunResult
from npubench.measure.stage_power import (
    StagePowerResult,
    StageSpan,
    idle_baseline_mw,
    stage_power,
)
from npubench.measure.trace import PowerTrace


@dataclass
class PowerSummary:
    """Per-repetition stage power of one capture and how the stages were found."""

    method: str
    baseline_mw: float
    per_rep: dict[int, StagePowerResult]
    instrument: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _pulses(trace: PowerTrace, bit: int) -> list[tuple[float, float]]:
    if trace.digital is None or bit >= max(trace.digital_channels, 1):
        return []
    level = trace.marker(bit).astype(np.int8)
    t = trace.time_ms
    mid = (t[1:] + t[:-1]) / 2.0
    change = np.diff(level)
    rising, falling = mid[change == 1], mid[change == -1]
    if level[0]:
        falling = falling[1:]
    return list(zip(rising.tolist(), falling[: rising.size].tolist(), strict=False))


def _marker_spans(
    trace: PowerTrace, run: RunResult, bit: int, warnings: list[str]
) -> dict[int, list[StageSpan]] | None:
    """Stage spans per received repetition from marker pulses (5 per repetition), or None."""
    pulses = _pulses(trace, bit)
    n = len(STAGES)
    if not pulses:
        return None
    if len(pulses) % n:
        warnings.append(
            f"marker D{bit} has {len(pulses)} pulses, not a multiple of {n} (one per stage): "
            "falling back to the firmware timestamps"
        )
        return None
    groups = [pulses[k : k + n] for k in range(0, len(pulses), n)]
    if len(groups) > run.repeat:
        # The timed repetitions are the last ones pulsed. Dropping ``warmup`` groups would be
        # wrong when the capture began mid-warm-up: fewer warm-ups were captured than were run.
        groups = groups[len(groups) - run.repeat :]
    if len(groups) != run.repeat:
        warnings.append(
            f"marker D{bit} shows {len(groups)} timed repetitions, the run has {run.repeat}: "
            "the capture is matched to the first ones"
        )
    order = sorted(run.reps)
    spans: dict[int, list[StageSpan]] = {}
    for index, group in enumerate(groups):
        if index in run.reps:
            spans[index] = [StageSpan(s, a, b) for s, (a, b) in zip(STAGES, group, strict=True)]
    if not spans and order:
        return None
    return spans


def _timestamp_spans(
    trace: PowerTrace, run: RunResult, warnings: list[str]
) -> dict[int, list[StageSpan]]:
    """Stage spans laid back to back from the REP ticks, each repetition anchored on an
    active window of the trace (one window per repetition, warm-ups included or not)."""
    from npubench.measure.windows import detect_windows

    windows = detect_windows(trace).windows
    hz = run.board.tick_hz
    if len(windows) == run.warmup + run.repeat:
        starts = {i: windows[run.warmup + i].start_ms for i in run.reps}
    elif len(windows) == run.repeat:
        starts = {i: windows[i].start_ms for i in run.reps}
    elif windows:
        first = min(run.reps)
        starts = {first: windows[min(run.warmup, len(windows) - 1)].start_ms}
        warnings.append(
            f"{len(windows)} active window(s) for {run.warmup} warm-up + {run.repeat} timed "
            f"repetitions: only repetition {first} is aligned (on window "
            f"{min(run.warmup, len(windows) - 1)}); add a marker GPIO for per-stage power"
        )
    else:
        raise MeasurementError(
            "the capture has no marker pulses and no active window to align the stages on",
            hint="wire the harness's marker GPIO to the instrument's digital input, or capture "
            "the run itself (the board must be busy during the capture)",
        )
    spans: dict[int, list[StageSpan]] = {}
    for i, start in starts.items():
        t = start
        rep: list[StageSpan] = []
        for stage in STAGES:
            d = run.reps[i].ticks[stage] * 1e3 / hz
            rep.append(StageSpan(stage, t, t + d))
            t += d
        spans[i] = rep
    return spans


def align_power(
    trace: PowerTrace,
    run: RunResult,
    *,
    marker_bit: int = 0,
    instrument: dict[str, Any] | None = None,
) -> PowerSummary:
    """Per-stage power of every timed repetition the capture covers."""
    warnings: list[str] = []
    spans = _marker_spans(trace, run, marker_bit, warnings)
    method = f"markers (pulse per stage, D{marker_bit})"
    if spans is None:
        spans = _timestamp_spans(trace, run, warnings)
        method = "firmware timestamps aligned on active windows"
    all_spans = [s for rep in spans.values() for s in rep]
    baseline = idle_baseline_mw(trace, all_spans)
    per_rep: dict[int, StagePowerResult] = {}
    for i, rep_spans in spans.items():
        try:
            per_rep[i] = stage_power(trace, rep_spans, baseline_mw=baseline, method=method)
        except MeasurementError as e:
            warnings.append(f"repetition {i}: {e.message}")
    if not per_rep:
        raise MeasurementError(
            "no repetition's stages lie inside the power capture",
            hint="start the capture before the run and stop it after",
        )
    for result in per_rep.values():
        warnings += [w for w in result.warnings if w not in warnings]
    if "marker" in method:
        # Marker pulses and the firmware's timer measure the same intervals: say if they disagree.
        for stage in STAGES:
            fw = np.median([run.reps[i].ticks[stage] * 1e3 / run.board.tick_hz for i in per_rep])
            mk = np.median([r.by_stage()[stage].duration_ms for r in per_rep.values()])
            if fw > 0 and abs(mk - fw) > max(0.2 * fw, 2 * trace.sample_period_ms):
                warnings.append(
                    f"stage {stage}: marker pulses last {mk:.3f} ms, the firmware timed "
                    f"{fw:.3f} ms (different run, clock or wiring?)"
                )
    return PowerSummary(
        method=method,
        baseline_mw=baseline,
        per_rep=per_rep,
        instrument=instrument or {"instrument": trace.instrument or None},
        warnings=warnings,
    )

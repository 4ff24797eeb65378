"""Per-stage power and energy: cut one capture into the five stages and integrate each.

Stage boundaries come from one of two sources:

**Digital markers** (a GPIO of the board wired to the instrument's logic input: PPK2 D0-D7,
Joulescope GPI). Conventions (``mode``):

- ``"pulse"`` (default; what the firmware harness should do): one marker bit is driven high at
  the start of each stage and low at its end, with idle gaps between stages (the method of
  Millar et al.: multi-second gaps so the trace can be cut). The k-th high pulse is the k-th
  stage of ``stages`` (default ``npubench.STAGES``).
- ``"toggle"``: one bit toggles at every stage boundary, stages back to back: edge k starts stage
  k and the last edge ends the last stage (len(stages) + 1 edges).
- ``"bits"``: one bit per stage (``bits[k]`` for stage k, default D0..D4), high during it.

An edge is placed midway between the last sample before it and the first after it (the
instrument cannot tell better; the error is at most half a sample period).

**Firmware timestamps**: (stage, start_ms, end_ms) on the firmware's clock, shifted by an offset
that ``find_offset`` gets by aligning the anchor stage's start to the first marker edge or to the
start of the first active window found by ``measure.windows``.

Per stage: duration, mean power, energy (trapezoid, power interpolated at the boundaries) and net
energy = energy - idle baseline x duration, the idle baseline being the median power of the same
capture outside every stage (minus a guard band around each stage, to skip edge transients).

May import ``npubench`` (STAGES), ``npubench.errors`` and the ``npubench.measure`` trace and
window modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from npubench import STAGES
from npubench.errors import MeasurementError
from npubench.measure.trace import PowerTrace
from npubench.measure.windows import DetectorParams, detect_windows, integrate_uj

MarkerMode = Literal["pulse", "toggle", "bits"]


@dataclass(frozen=True)
class StageSpan:
    """Where one stage ran, on the trace's clock."""

    stage: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class StagePower:
    """Power and energy of one stage."""

    stage: str
    start_ms: float
    end_ms: float
    duration_ms: float
    mean_power_mw: float
    energy_uj: float
    net_energy_uj: float
    samples: int

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "duration_ms": self.duration_ms,
            "mean_power_mw": self.mean_power_mw,
            "energy_uj": self.energy_uj,
            "net_energy_uj": self.net_energy_uj,
            "samples": self.samples,
        }


@dataclass
class StagePowerResult:
    """All stages of one capture, the idle baseline and how the stages were found."""

    trace: PowerTrace
    stages: list[StagePower]
    baseline_mw: float
    method: str
    offset_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def by_stage(self) -> dict[str, StagePower]:
        return {s.stage: s for s in self.stages}

    def bench_fields(self, net: bool = False) -> dict[str, dict[str, float | None]]:
        """``power_mw`` and ``energy_uj`` dicts for a BenchResult: STAGES keys (None when a stage
        was not captured), ``energy_uj["total"]`` (None unless all five are known) and
        ``power_mw["baseline"]`` (the idle baseline). With ``net`` the energies have the idle
        baseline subtracted.
        """
        found = self.by_stage()
        power: dict[str, float | None] = {}
        energy: dict[str, float | None] = {}
        for stage in STAGES:
            item = found.get(stage)
            power[stage] = item.mean_power_mw if item else None
            energy[stage] = (item.net_energy_uj if net else item.energy_uj) if item else None
        known = [e for e in energy.values() if e is not None]
        energy["total"] = float(sum(known)) if len(known) == len(STAGES) else None
        power["baseline"] = self.baseline_mw
        return {"power_mw": power, "energy_uj": energy}

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "offset_ms": self.offset_ms,
            "baseline_mw": self.baseline_mw,
            "stages": [s.to_json() for s in self.stages],
            "trace": self.trace.provenance(),
            "warnings": list(self.warnings),
        }


def _edges(trace: PowerTrace, bit: int) -> tuple[np.ndarray, np.ndarray]:
    """Rising and falling edge times of marker ``bit`` (midway between samples)."""
    level = trace.marker(bit).astype(np.int8)
    change = np.diff(level)
    t = trace.time_ms
    mid = (t[1:] + t[:-1]) / 2.0
    return mid[change == 1], mid[change == -1]


def _pulses(trace: PowerTrace, bit: int) -> list[tuple[float, float]]:
    rising, falling = _edges(trace, bit)
    if trace.marker(bit)[0]:
        raise MeasurementError(
            f"marker D{bit} is already high when the capture starts",
            hint="start the capture before the firmware's first stage (the marker must start low)",
        )
    if rising.size != falling.size:
        raise MeasurementError(
            f"marker D{bit} rises {rising.size} times but falls {falling.size} times: the "
            "capture ends while it is high",
            hint="capture until after the last stage has finished",
        )
    return list(zip(rising.tolist(), falling.tolist(), strict=True))


def spans_from_markers(
    trace: PowerTrace,
    *,
    mode: MarkerMode = "pulse",
    bit: int = 0,
    bits: Sequence[int] | None = None,
    stages: Sequence[str] = STAGES,
) -> list[StageSpan]:
    """Stage spans from digital marker channels (conventions: module docstring)."""
    stage_list = list(stages)
    names = ", ".join(stage_list)
    if mode == "pulse":
        pulses = _pulses(trace, bit)
        if len(pulses) != len(stage_list):
            raise MeasurementError(
                f"marker D{bit} has {len(pulses)} high pulse(s); expected {len(stage_list)}, "
                f"one per stage ({names})",
                hint="check the marker wiring and that the capture covers every stage; with "
                "back-to-back stages use mode='toggle'",
            )
        return [StageSpan(s, a, b) for s, (a, b) in zip(stage_list, pulses, strict=True)]
    if mode == "toggle":
        rising, falling = _edges(trace, bit)
        edges = np.sort(np.concatenate((rising, falling)))
        if edges.size != len(stage_list) + 1:
            raise MeasurementError(
                f"marker D{bit} toggles {edges.size} time(s); expected {len(stage_list) + 1} "
                f"(one at the start of each stage of {names} and one at the end)",
                hint="check the marker wiring and that the capture covers every stage",
            )
        return [
            StageSpan(s, float(edges[k]), float(edges[k + 1])) for k, s in enumerate(stage_list)
        ]
    if mode == "bits":
        chosen = list(bits) if bits is not None else list(range(len(stage_list)))
        if len(chosen) != len(stage_list):
            raise MeasurementError(
                f"{len(chosen)} marker bits for {len(stage_list)} stages",
                hint="give one bit per stage, in stage order",
            )
        spans = []
        for stage, stage_bit in zip(stage_list, chosen, strict=True):
            pulses = _pulses(trace, stage_bit)
            if len(pulses) != 1:
                raise MeasurementError(
                    f"marker D{stage_bit} (stage {stage}) has {len(pulses)} high pulses; "
                    "expected exactly one",
                    hint="capture one run of the stages per trace",
                )
            spans.append(StageSpan(stage, *pulses[0]))
        return spans
    raise MeasurementError(f"unknown marker mode {mode!r}", hint="use 'pulse', 'toggle' or 'bits'")


def spans_from_timestamps(
    timings: Iterable[tuple[str, float, float]], offset_ms: float = 0.0
) -> list[StageSpan]:
    """Stage spans from firmware timings (stage, start_ms, end_ms) shifted onto the trace clock."""
    spans = []
    for stage, start, end in timings:
        if end < start:
            raise MeasurementError(
                f"stage {stage} ends ({end} ms) before it starts ({start} ms)",
                hint="the firmware timings are corrupt; check the serial log",
            )
        spans.append(StageSpan(stage, float(start) + offset_ms, float(end) + offset_ms))
    return spans


def find_offset(
    trace: PowerTrace,
    timings: Sequence[tuple[str, float, float]],
    *,
    anchor: Literal["marker", "window"] = "marker",
    anchor_stage: str | None = None,
    bit: int = 0,
    window_index: int = 0,
    detector: DetectorParams | None = None,
) -> float:
    """Trace time minus firmware time: aligns ``anchor_stage`` (default: the first of
    ``timings``) with the first rising edge of marker ``bit`` or with the start of active window
    number ``window_index``."""
    if not timings:
        raise MeasurementError("no firmware timings to align", hint="run the harness first")
    starts = {stage: start for stage, start, _ in timings}
    stage = anchor_stage or timings[0][0]
    if stage not in starts:
        raise MeasurementError(
            f"anchor stage {stage!r} is not in the firmware timings ({', '.join(starts)})",
            hint="pick one of the timed stages",
        )
    if anchor == "marker":
        rising, _ = _edges(trace, bit)
        if rising.size == 0:
            raise MeasurementError(
                f"marker D{bit} never rises in the capture", hint="check the marker wiring"
            )
        return float(rising[0]) - float(starts[stage])
    analysis = detect_windows(trace, detector)
    if len(analysis.windows) <= window_index:
        raise MeasurementError(
            f"found {len(analysis.windows)} active window(s) in the capture; cannot anchor on "
            f"window {window_index}",
            hint="lower k_enter, or align on a marker instead",
        )
    return analysis.windows[window_index].start_ms - float(starts[stage])


def idle_baseline_mw(
    trace: PowerTrace, spans: Sequence[StageSpan], guard_ms: float | None = None
) -> float:
    """Median power outside every stage, skipping ``guard_ms`` around each (default: 5 samples)."""
    guard = 5 * trace.sample_period_ms if guard_ms is None else guard_ms
    t = trace.time_ms
    outside = np.ones(t.size, dtype=bool)
    for span in spans:
        outside &= (t < span.start_ms - guard) | (t > span.end_ms + guard)
    if not outside.any():
        raise MeasurementError(
            "the capture has no idle samples outside the stages, so the idle baseline is unknown",
            hint="capture some idle time before or after the stages, or pass baseline_mw=",
        )
    return float(np.median(trace.power_mw[outside]))


def stage_power(
    trace: PowerTrace,
    spans: Sequence[StageSpan],
    *,
    baseline_mw: float | None = None,
    guard_ms: float | None = None,
    method: str = "spans",
    offset_ms: float = 0.0,
) -> StagePowerResult:
    """Duration, mean power, energy and net energy of every stage span."""
    t0, t1 = float(trace.time_ms[0]), float(trace.time_ms[-1])
    warnings: list[str] = []
    baseline = idle_baseline_mw(trace, spans, guard_ms) if baseline_mw is None else baseline_mw
    period = trace.sample_period_ms
    results = []
    for span in spans:
        if span.start_ms < t0 or span.end_ms > t1:
            raise MeasurementError(
                f"stage {span.stage} ({span.start_ms:.3f}-{span.end_ms:.3f} ms) lies outside the "
                f"capture ({t0:.3f}-{t1:.3f} ms)",
                hint="check the alignment offset, or capture longer",
            )
        duration = span.end_ms - span.start_ms
        energy = integrate_uj(trace, span.start_ms, span.end_ms)
        inside = int(
            np.count_nonzero((trace.time_ms >= span.start_ms) & (trace.time_ms <= span.end_ms))
        )
        if duration < 2 * period:
            warnings.append(
                f"stage {span.stage} lasts {duration * 1e3:.1f} µs, under two sample periods "
                f"({period * 1e3:.1f} µs): its power is interpolated, not measured; sample faster "
                "or repeat the stage in a loop"
            )
        mean = (
            energy / duration
            if duration > 0
            else float(np.interp(span.start_ms, trace.time_ms, trace.power_mw))
        )
        results.append(
            StagePower(
                stage=span.stage,
                start_ms=span.start_ms,
                end_ms=span.end_ms,
                duration_ms=duration,
                mean_power_mw=mean,
                energy_uj=energy,
                net_energy_uj=energy - baseline * duration,
                samples=inside,
            )
        )
    return StagePowerResult(
        trace=trace,
        stages=results,
        baseline_mw=baseline,
        method=method,
        offset_ms=offset_ms,
        warnings=warnings,
    )


def stage_power_from_markers(
    trace: PowerTrace,
    *,
    mode: MarkerMode = "pulse",
    bit: int = 0,
    bits: Sequence[int] | None = None,
    stages: Sequence[str] = STAGES,
    baseline_mw: float | None = None,
    guard_ms: float | None = None,
) -> StagePowerResult:
    """Per-stage power with the boundaries taken from marker channels."""
    spans = spans_from_markers(trace, mode=mode, bit=bit, bits=bits, stages=stages)
    where = (
        f"D{bit}"
        if mode != "bits"
        else "D" + ",".join(str(b) for b in (bits or range(len(stages))))
    )
    return stage_power(
        trace,
        spans,
        baseline_mw=baseline_mw,
        guard_ms=guard_ms,
        method=f"markers ({mode}, {where})",
    )


def stage_power_from_timestamps(
    trace: PowerTrace,
    timings: Sequence[tuple[str, float, float]],
    *,
    offset_ms: float | None = None,
    anchor: Literal["marker", "window"] = "marker",
    anchor_stage: str | None = None,
    bit: int = 0,
    baseline_mw: float | None = None,
    guard_ms: float | None = None,
) -> StagePowerResult:
    """Per-stage power with the boundaries from firmware timings; the offset is found by
    ``find_offset`` unless given."""
    if offset_ms is None:
        offset_ms = find_offset(trace, timings, anchor=anchor, anchor_stage=anchor_stage, bit=bit)
        anchored_on = f"marker D{bit}" if anchor == "marker" else "first window"
        method = f"timestamps aligned on {anchored_on}"
    else:
        method = "timestamps with given offset"
    spans = spans_from_timestamps(timings, offset_ms)
    return stage_power(
        trace, spans, baseline_mw=baseline_mw, guard_ms=guard_ms, method=method, offset_ms=offset_ms
    )

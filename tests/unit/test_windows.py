"""Active-window detection on the real reference trace and on synthetic traces; stage power;
plots."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from npubench import STAGES
from npubench.errors import MeasurementError
from npubench.measure.plot import plot_analysis, plot_stages
from npubench.measure.stage_power import (
    find_offset,
    spans_from_markers,
    stage_power_from_markers,
    stage_power_from_timestamps,
)
from npubench.measure.trace import PowerTrace, read_trace_csv
from npubench.measure.windows import analyze_trace, integrate_uj, render_table

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
REFERENCE = TRACES / "hxwe2_yolov1_size_power_trace.csv"
# The authors' labels for this capture (tests/data/traces/README.md).
INFERENCE_START, INFERENCE_END, DEINIT_END = 16127.97, 16130.27, 16130.95


def hand_trapezoid(path: Path, start: float, end: float) -> float:
    """Trapezoid over the CSV rows with start <= t <= end, computed without npubench."""
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    points = [(float(t), float(p)) for t, p in rows if start - 1e-9 <= float(t) <= end + 1e-9]
    return sum((p0 + p1) / 2 * (t1 - t0) for (t0, p0), (t1, p1) in itertools.pairwise(points))


def test_reference_trace_has_one_inference_window() -> None:
    analysis = analyze_trace(REFERENCE)
    assert len(analysis.windows) == 1
    window = analysis.windows[0]
    assert window.start_ms < 16130 and window.end_ms > 16128
    assert abs(window.start_ms - INFERENCE_START) <= 0.5
    assert abs(window.end_ms - INFERENCE_END) <= 1.0
    # The window runs from the last quiet sample to the first quiet one: 16128.0-16130.4.
    assert window.start_ms == pytest.approx(16128.0)
    assert window.end_ms == pytest.approx(16130.4)
    assert window.peak_power_mw == pytest.approx(109.7273)
    expected = hand_trapezoid(REFERENCE, window.start_ms, window.end_ms)
    assert window.energy_uj == pytest.approx(expected, rel=1e-9)
    assert window.mean_power_mw == pytest.approx(expected / 2.4, rel=1e-9)
    # The level before (set-up, ~88 mW) and after (idle, ~86 mW) are measured separately.
    assert window.baseline_before_mw == pytest.approx(88.0, abs=0.3)
    assert window.baseline_after_mw == pytest.approx(86.1, abs=0.3)
    baseline = (window.baseline_before_mw + window.baseline_after_mw) / 2
    assert window.net_energy_uj == pytest.approx(expected - baseline * 2.4, rel=1e-9)
    assert analysis.baseline_mw == pytest.approx(baseline)
    # The set-up level before is ~2 mW above the idle level after: said, not hidden.
    assert len(analysis.warnings) == 1
    levels = re.search(
        r"starts at ([\d.]+) mW, .* the ([\d.]+) mW it ends at", analysis.warnings[0]
    )
    assert levels is not None
    assert float(levels.group(1)) == pytest.approx(88.0, abs=0.2)
    assert float(levels.group(2)) == pytest.approx(86.1, abs=0.2)


def test_reference_trace_both_directions_includes_the_deinit_dip() -> None:
    window = analyze_trace(REFERENCE, direction="both").windows[0]
    assert window.start_ms == pytest.approx(16128.0)
    # The dip to 80 mW after the inference is the NPU de-init: the window now ends near its end.
    assert abs(window.end_ms - DEINIT_END) <= 0.2
    assert window.energy_uj == pytest.approx(
        hand_trapezoid(REFERENCE, window.start_ms, window.end_ms), rel=1e-9
    )


def test_to_json_has_the_documented_keys() -> None:
    data = analyze_trace(REFERENCE).to_json()
    assert set(data) >= {"baseline_mw", "windows", "baseline_before_mw", "baseline_after_mw"}
    assert set(data["windows"][0]) >= {
        "start_ms",
        "end_ms",
        "duration_ms",
        "mean_power_mw",
        "peak_power_mw",
        "energy_uj",
        "net_energy_uj",
    }


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(MeasurementError, match="k_entr"):
        analyze_trace(REFERENCE, k_entr=5)


def test_render_table_lists_the_window() -> None:
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(render_table(analyze_trace(REFERENCE)))
    text = console.export_text()
    assert "16128.000" in text and "16130.400" in text and "1 active window" in text


def synthetic(
    levels: list[tuple[float, float, float]],
    *,
    rate_hz: float = 10_000,
    duration_ms: float = 400.0,
    base_mw: float = 20.0,
    noise_mw: float = 0.05,
    seed: int = 1,
) -> PowerTrace:
    """Baseline with noise plus (start_ms, end_ms, extra_mw) rectangles."""
    t = np.arange(0, duration_ms, 1e3 / rate_hz)
    p = base_mw + np.random.default_rng(seed).normal(0, noise_mw, t.size)
    for start, end, extra in levels:
        p[(t >= start) & (t < end)] += extra
    return PowerTrace(time_ms=t, power_mw=p, source="synthetic")


def test_several_windows_and_their_net_energy() -> None:
    trace = synthetic([(100, 110, 30.0), (200, 203, 5.0), (300, 350, 2.0)])
    windows = analyze_trace(trace).windows
    assert len(windows) == 3
    expected = [(100, 110, 30), (200, 203, 5), (300, 350, 2)]
    for window, (start, end, extra) in zip(windows, expected, strict=True):
        # Bracketing quiet samples sit one sample period (0.1 ms) outside the activity.
        assert window.start_ms == pytest.approx(start - 0.1, abs=1e-9)
        assert window.end_ms == pytest.approx(end, abs=1e-9)
        # Net energy = extra x active time (+ at most one half-sample trapezoid per edge).
        assert window.net_energy_uj == pytest.approx(extra * (end - start), rel=0.03)


def test_long_window_is_not_swallowed_by_the_baseline() -> None:
    # 150 ms of activity, far longer than the 20 ms baseline span.
    trace = synthetic([(100, 250, 10.0)])
    (window,) = analyze_trace(trace).windows
    assert window.duration_ms == pytest.approx(150.1, abs=0.01)
    assert window.net_energy_uj == pytest.approx(10.0 * 150.0, rel=0.01)


def test_different_levels_before_and_after() -> None:
    # Idle is 3 mW higher after the activity than before: the end is found against the level
    # after, not stretched to the end of the capture.
    trace = synthetic([(100, 120, 25.0), (120, 400, 3.0)])
    (window,) = analyze_trace(trace).windows
    assert window.end_ms == pytest.approx(120.0, abs=0.11)
    assert window.baseline_before_mw == pytest.approx(20.0, abs=0.05)
    assert window.baseline_after_mw == pytest.approx(23.0, abs=0.05)


def test_close_windows_merge_and_short_glitches_drop() -> None:
    trace = synthetic([(100, 110, 30.0), (110.5, 120, 30.0), (200, 200.1, 30.0)])
    windows = analyze_trace(trace).windows
    assert len(windows) == 1  # the 0.5 ms gap merges, the single-sample glitch is dropped
    assert windows[0].start_ms == pytest.approx(99.9) and windows[0].end_ms == pytest.approx(120.0)
    # With merging switched off the two halves are separate windows.
    assert len(analyze_trace(trace, merge_gap_ms=0.0).windows) == 2


def test_slow_drift_opens_no_window() -> None:
    trace = synthetic([])
    drifting = PowerTrace(
        time_ms=trace.time_ms, power_mw=trace.power_mw + 0.5 * np.sin(trace.time_ms / 30.0)
    )
    analysis = analyze_trace(drifting)
    assert analysis.windows == []
    assert "no activity found" in analysis.warnings[0]


def test_capture_starting_or_ending_inside_activity_warns() -> None:
    # Each pass takes the level it starts at as baseline, so activity at the very start (end)
    # of a capture is not a window; the warning says so and how to capture.
    analysis = analyze_trace(synthetic([(0, 20, 30.0)]))
    assert analysis.windows == []
    assert any(
        "starts at" in w and "30 mW above" in w and "earlier" in w for w in analysis.warnings
    )
    analysis = analyze_trace(synthetic([(380, 400, 30.0)]))
    assert any("ends at" in w and "30 mW above" in w and "longer" in w for w in analysis.warnings)


def test_too_short_trace_is_refused() -> None:
    with pytest.raises(MeasurementError, match="too few"):
        analyze_trace(PowerTrace(time_ms=np.arange(5.0), power_mw=np.ones(5)))


def test_integrate_interpolates_between_samples() -> None:
    trace = PowerTrace(time_ms=np.array([0.0, 1.0, 2.0]), power_mw=np.array([0.0, 10.0, 10.0]))
    # Power ramps 0 -> 10 mW over the first ms: 0.5-1.0 ms averages 7.5 mW (3.75 µJ), then
    # 1.0-1.5 ms is flat at 10 mW (5 µJ).
    assert integrate_uj(trace, 0.5, 1.5) == pytest.approx(8.75)
    assert integrate_uj(trace, -5.0, 9.0) == pytest.approx(5.0 + 10.0)  # clipped to the trace


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot_analysis(analyze_trace(REFERENCE), tmp_path / "trace.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000


# --- per-stage power ------------------------------------------------------------------------

STAGE_POWER_MW = {
    "init": 40.0,
    "input_io": 12.0,
    "inference": 90.0,
    "output_io": 11.0,
    "postprocess": 25.0,
}
STAGE_SPANS_MS = {
    "init": (10.0, 30.0),
    "input_io": (40.0, 40.5),
    "inference": (50.0, 58.0),
    "output_io": (70.0, 70.3),
    "postprocess": (80.0, 82.0),
}
IDLE_MW = 8.0
RATE_HZ = 100_000  # PPK2 rate: 10 µs per sample


def staged_trace(marker_mode: str = "pulse", offset_ms: float = 0.0) -> PowerTrace:
    """Idle at 8 mW, each stage at a known power, markers as the firmware would drive them."""
    t = np.arange(0, 100.0, 1e3 / RATE_HZ)
    p = np.full(t.size, IDLE_MW)
    digital = np.zeros(t.size, dtype=np.uint32)
    toggle_level = 0
    for number, stage in enumerate(STAGES):
        start, end = (x + offset_ms for x in STAGE_SPANS_MS[stage])
        inside = (t >= start) & (t < end)
        p[inside] = STAGE_POWER_MW[stage]
        if marker_mode == "pulse":
            digital[inside] |= 1
        elif marker_mode == "bits":
            digital[inside] |= 1 << number
    if marker_mode == "toggle":
        # Back-to-back variant: the bit flips at every stage start and at the end of the last.
        edges = [STAGE_SPANS_MS[s][0] + offset_ms for s in STAGES] + [
            STAGE_SPANS_MS["postprocess"][1] + offset_ms
        ]
        for edge in edges:
            toggle_level ^= 1
            digital[t >= edge] = toggle_level
    return PowerTrace(time_ms=t, power_mw=p, digital=digital, digital_channels=8, source="staged")


@pytest.mark.parametrize("mode", ["pulse", "bits"])
def test_stage_power_from_markers_recovers_known_stage_powers(mode: str) -> None:
    result = stage_power_from_markers(staged_trace(mode), mode=mode)  # type: ignore[arg-type]
    assert result.baseline_mw == pytest.approx(IDLE_MW)
    period = 1e3 / RATE_HZ
    for item in result.stages:
        start, end = STAGE_SPANS_MS[item.stage]
        duration = end - start
        power = STAGE_POWER_MW[item.stage]
        # Edges sit midway between samples: half a sample period early at each end.
        assert item.start_ms == pytest.approx(start - period / 2)
        assert item.duration_ms == pytest.approx(duration)
        assert item.energy_uj == pytest.approx(power * duration, rel=0.01)
        assert item.net_energy_uj == pytest.approx((power - IDLE_MW) * duration, rel=0.02)
        assert item.mean_power_mw == pytest.approx(power, rel=0.01)
    fields = result.bench_fields(net=True)
    assert fields["energy_uj"]["total"] == pytest.approx(
        sum((STAGE_POWER_MW[s] - IDLE_MW) * (e - b) for s, (b, e) in STAGE_SPANS_MS.items()),
        rel=0.02,
    )


def test_toggle_markers_give_back_to_back_stages() -> None:
    spans = spans_from_markers(staged_trace("toggle"), mode="toggle")
    assert [s.stage for s in spans] == list(STAGES)
    period = 1e3 / RATE_HZ
    for current, following in itertools.pairwise(spans):
        assert current.end_ms == pytest.approx(following.start_ms)
        assert current.start_ms == pytest.approx(STAGE_SPANS_MS[current.stage][0] - period / 2)
    assert spans[-1].end_ms == pytest.approx(STAGE_SPANS_MS["postprocess"][1] - period / 2)


def test_wrong_pulse_count_is_explained() -> None:
    trace = staged_trace()
    with pytest.raises(MeasurementError, match=r"5 high pulse\(s\); expected 4"):
        spans_from_markers(trace, stages=STAGES[:4])


def test_stage_power_from_timestamps_finds_the_offset(tmp_path: Path) -> None:
    # The firmware clock starts 1234.5 ms before the capture's clock.
    offset = 1234.5
    trace = staged_trace("pulse", offset_ms=0.0)
    timings = [(s, b - offset, e - offset) for s, (b, e) in STAGE_SPANS_MS.items()]
    period = 1e3 / RATE_HZ
    assert find_offset(trace, timings, anchor="marker") == pytest.approx(offset - period / 2)
    assert find_offset(trace, timings, anchor="window") == pytest.approx(offset, abs=2 * period)
    by_timestamps = stage_power_from_timestamps(trace, timings, anchor="window")
    by_markers = stage_power_from_markers(trace)
    for a, b in zip(by_timestamps.stages, by_markers.stages, strict=True):
        assert a.stage == b.stage
        assert a.energy_uj == pytest.approx(b.energy_uj, rel=0.02)
    plot = plot_stages(by_markers, tmp_path / "stages.png")
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_stage_outside_the_capture_is_refused() -> None:
    timings = [("inference", 500.0, 510.0)]
    with pytest.raises(MeasurementError, match="outside the capture"):
        stage_power_from_timestamps(staged_trace(), timings, offset_ms=0.0)


def test_short_stage_warns_about_sampling() -> None:
    trace = read_trace_csv(REFERENCE)
    result = stage_power_from_timestamps(trace, [("input_io", 16100.0, 16100.1)], offset_ms=0.0)
    assert "under two sample periods" in result.warnings[0]

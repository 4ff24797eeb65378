"""Trace import and window detection refuse what they cannot analyse, naming it (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from npubench.errors import ExitStatus, MeasurementError
from npubench.measure.trace import PowerTrace, read_trace_csv
from npubench.measure.windows import DetectorParams, analyze_trace, detect_windows

GOOD = "time_ms,power_mw\n" + "".join(f"{i * 0.2:.1f},1.0\n" for i in range(100))


def refused(path: Path, match: str, **kw: object) -> MeasurementError:
    with pytest.raises(MeasurementError, match=match) as info:
        read_trace_csv(path, **kw)  # type: ignore[arg-type]
    assert info.value.exit_code == ExitStatus.USAGE and info.value.hint
    return info.value


def test_malformed_csv_is_a_usage_error(tmp_path: Path) -> None:
    field = tmp_path / "field.csv"
    field.write_text("time_ms,power_mw\n1," + "9" * 200_000 + "\n" + GOOD[17:])
    refused(field, "not a valid CSV file")
    nul = tmp_path / "nul.csv"
    nul.write_bytes(GOOD.encode() * 50 + b"3,\x004\n")
    refused(nul, "not a valid CSV file|not a number")


def test_sample_and_size_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"time_ms,power_mw\n" + b"1,1\n" * 2000)
    error = refused(big, "more than the limit of 1,000 samples", max_samples=1000)
    assert "--max-samples" in (error.hint or "")
    ok = tmp_path / "ok.csv"
    ok.write_text(GOOD)
    assert len(read_trace_csv(ok, max_samples=100)) == 100


def test_time_steps_and_voltage_must_be_sane(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("time_ms,power_mw\n" + "".join(f"{i}e-300,1\n" for i in range(1, 50)))
    refused(tiny, "median time step")
    current = tmp_path / "current.csv"
    current.write_text("time_ms,current_ma\n" + "".join(f"{i},2\n" for i in range(50)))
    for voltage in (0.0, -3.3, float("inf"), float("nan"), 1e6):
        refused(current, "supply voltage", voltage_v=voltage)
    assert read_trace_csv(current, voltage_v=3.3).power_mw[0] == pytest.approx(6.6)


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"k_enter": 0}, "k_enter"),
        ({"k_enter": float("inf")}, "k_enter"),
        ({"k_enter": 4, "k_exit": 5}, "k_exit"),
        ({"k_exit": -1}, "k_exit"),
        ({"baseline_ms": 0}, "baseline_ms"),
        ({"min_duration_ms": float("nan")}, "min_duration_ms"),
        ({"smooth_ms": -1}, "smooth_ms"),
        ({"direction": "sideways"}, "direction"),
        ({"net_baseline": "guess"}, "net_baseline"),
    ],
)
def test_detector_parameters_are_range_checked(params: dict[str, object], names: str) -> None:
    with pytest.raises(MeasurementError, match=names) as info:
        DetectorParams(**params)  # type: ignore[arg-type]
    assert info.value.exit_code == ExitStatus.USAGE


def test_detection_refuses_an_unusable_time_axis_and_oversized_smoothing(tmp_path: Path) -> None:
    t = np.arange(100) * 0.2
    with pytest.raises(MeasurementError, match="longer than the whole trace"):
        detect_windows(PowerTrace(t, np.ones(100)), DetectorParams(smooth_ms=1e9))
    with pytest.raises(MeasurementError, match="time axis is not usable"):
        detect_windows(PowerTrace(np.zeros(100), np.ones(100)))
    path = tmp_path / "t.csv"
    path.write_text(GOOD)
    with pytest.raises(MeasurementError, match="k_exit"):
        analyze_trace(path, k_enter=2.0)  # k_exit's default (3) above k_enter

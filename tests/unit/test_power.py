"""Power per stage and energy sums of npubench.predict.power on hand-built latency figures."""

from __future__ import annotations

import pytest

from npubench import STAGES
from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.latency import Clocks, LatencyPrediction, StageEstimate
from npubench.predict.parameters import load_params
from npubench.predict.power import power_levels, predict_energy
from npubench.predict.predict import predict
from npubench.targets import get_target

STAGE_US = {
    "init": 3000.0,
    "input_io": 100.0,
    "inference": 8000.0,
    "output_io": 10.0,
    "postprocess": 50.0,
}


def latency(npu_us: float, cpu_us: float) -> LatencyPrediction:
    stages = {s: StageEstimate(v, v * 0.9, v * 1.1, "hand") for s, v in STAGE_US.items()}
    return LatencyPrediction(stages, Clocks(100, 100, 100, 1.0), "compiled", npu_us, cpu_us, [])


def test_energy_is_power_times_time_and_net_subtracts_idle() -> None:
    board = get_target("hx-we2")
    levels = power_levels(board, load_params(board))
    assert levels is not None
    e = predict_energy(latency(npu_us=8000.0, cpu_us=0.0), levels)
    cpu, npu, idle = levels.active_cpu.mw, levels.active_npu.mw, levels.idle.mw
    for stage in ("init", "input_io", "output_io", "postprocess"):
        assert e.power_mw[stage] == pytest.approx(cpu)
        assert e.energy_uj[stage] == pytest.approx(cpu * STAGE_US[stage] / 1000)
    assert e.power_mw["inference"] == pytest.approx(npu)
    assert e.energy_uj["inference"] == pytest.approx(npu * 8000 / 1000)
    total_us = sum(STAGE_US.values())
    assert e.energy_uj["total"] == pytest.approx(sum(e.energy_uj[s] for s in STAGES))
    assert e.energy_uj["net"] == pytest.approx(e.energy_uj["total"] - idle * total_us / 1000)
    assert e.power_mw["average"] == pytest.approx(e.energy_uj["total"] / total_us * 1000)
    for key in (*STAGES, "total", "net"):
        lo, hi = e.energy_interval[key]
        assert lo <= e.energy_uj[key] <= hi, key


def test_inference_power_mixes_npu_and_cpu_time() -> None:
    board = get_target("hx-we2")
    levels = power_levels(board, load_params(board))
    assert levels is not None
    e = predict_energy(latency(npu_us=6000.0, cpu_us=2000.0), levels)
    mixed = (levels.active_npu.mw * 6000 + levels.active_cpu.mw * 2000) / 8000
    assert e.power_mw["inference"] == pytest.approx(mixed)


def test_calibrated_levels_come_from_the_trace_file_values() -> None:
    board = get_target("hx-we2")
    params = load_params(board)
    levels = power_levels(board, params)
    assert levels is not None
    assert levels.active_npu.mw == pytest.approx(params.power["active_npu_mw"].value)
    # The trace levels are close to the board file's own trace means (88.0 / 101.2 / 86.1 mW).
    assert levels.active_cpu.mw == pytest.approx(board.power.active_cpu_mw.value, rel=0.01)
    assert levels.idle.mw == pytest.approx(board.power.idle_mw.value, rel=0.01)
    assert levels.active_npu.mw == pytest.approx(board.power.active_npu_mw.value, rel=0.02)


def test_clock_scaling_scales_only_the_part_above_idle() -> None:
    board = get_target("max78000")
    base = power_levels(board, load_params(board), 1.0)
    half = power_levels(board, load_params(board), 0.5)
    assert base is not None and half is not None
    assert half.idle.mw == base.idle.mw
    assert half.active_cpu.mw - half.idle.mw == pytest.approx(
        (base.active_cpu.mw - base.idle.mw) / 2
    )


def test_board_without_power_figures_reports_none() -> None:
    board = get_target("ethos-u55-64")
    assert board.power is None
    g = GraphAnalysis(
        "0" * 64,
        [LayerInfo(0, "r", "RESHAPE", [[1, 10]], [1, 10])],
        [1, 10],
        "int8",
        [1, 10],
        "int8",
        0,
        0,
        0,
        20,
    )
    result = predict(g, board)
    assert result.status == "ok"
    assert result.energy_uj["total"] is None and result.power_mw["inference"] is None
    assert "no power" in result.details["power_note"]

"""Calibration on synthetic cases: known parameters are recovered, bounds hold, held-out error
and coverage are computed honestly. Boards are fixtures built here, not the shipped files, so
correcting a datasheet figure never breaks these tests.
"""

from __future__ import annotations

import math
import statistics

import pytest

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.calibration.cases import Case
from npubench.predict.calibration.crossval import (
    HeldOut,
    jackknife_coverage,
    leave_one_model_out,
    leave_one_source_out,
    validate_group,
)
from npubench.predict.calibration.fitting import fit_group
from npubench.predict.calibration.groups import CpuKernels, interval_spread
from npubench.predict.reference import ReferenceRow
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board


def cpu_board(name: str, core: str, mhz: float = 100.0) -> Board:
    src = {"kind": "assumption", "title": "a fixture board built by the test, not real"}
    fig = lambda v: {"value": v, "source": "fixture"}  # noqa: E731
    return Board.model_validate(
        {
            "name": name,
            "display_name": name,
            "vendor": "test",
            "toolchain": "tflm",
            "sources": {"fixture": src},
            "cpu": {"core": core, "max_clock_mhz": fig(mhz), "clock_mhz": fig(mhz)},
            "memories": [
                {"name": "sram", "role": "sram", "size_bytes": fig(1 << 24)},
                {"name": "flash", "role": "flash", "size_bytes": fig(1 << 26)},
            ],
        }
    )


def conv_net(name: str, width: int, hw: int = 16) -> GraphAnalysis:
    layers = []
    c_in = 8
    for i in range(3):
        macs = hw * hw * width * 9 * c_in
        layers.append(
            LayerInfo(
                index=i,
                name=f"{name}/conv{i}",
                op="CONV_2D",
                input_shapes=[[1, hw, hw, c_in]],
                output_shape=[1, hw, hw, width],
                kernel=[3, 3],
                stride=[1, 1],
                macs=macs,
                params=9 * c_in * width + width,
                weight_bytes=9 * c_in * width + 4 * width,
                activation_bytes=hw * hw * (c_in + width),
            )
        )
        c_in = width
    fc_macs = width * 10
    layers.append(
        LayerInfo(3, f"{name}/fc", "FULLY_CONNECTED", [[1, width]], [1, 10], macs=fc_macs)
    )
    return GraphAnalysis(
        model_sha256=name * 4,
        layers=layers,
        input_shape=[1, hw, hw, 8],
        input_dtype="int8",
        output_shape=[1, 10],
        output_dtype="int8",
        total_macs=sum(x.macs for x in layers),
        total_params=0,
        total_weight_bytes=0,
        peak_activation_bytes=0,
    )


TRUE = {
    "class_factor_conv": 1.6,
    "class_factor_depthwise": 1.0,
    "class_factor_fully_connected": 1.0,
    "op_overhead_cycles": 800.0,
    "core_factor_cortex-m7": 0.7,
    "core_factor_cortex-m33": 1.2,
}


def make_cases(truth: dict[str, float], noise: dict[str, float] | None = None) -> list[Case]:
    group = CpuKernels()
    boards = [cpu_board("fix-m7", "cortex-m7"), cpu_board("fix-m33", "cortex-m33", 96.0)]
    cases = []
    for board in boards:
        # The smallest model is all overhead: it is what identifies the per-operator constant.
        for width, hw in ((2, 2), (8, 16), (16, 16), (32, 16), (64, 16)):
            analysis = conv_net(f"w{width}", width, hw)
            row = ReferenceRow(
                id=f"{board.name}-w{width}",
                board=board.name,
                model=f"fixture:w{width}",
                clock_mhz=board.cpu.clock_mhz.value,
                stages_us={"inference": 1.0},
                source="synthetic",
                kind="synthetic",
            )
            placement = [
                LayerPlacement(lay.index, lay.name, lay.op, "cpu") for lay in analysis.layers
            ]
            case = Case(row, board, analysis, placement, "analytical")
            measured = group.predict(case, truth) * (noise or {}).get(row.id, 1.0)
            case.row = ReferenceRow(**{**row.__dict__, "stages_us": {"inference": measured}})
            cases.append(case)
    return cases


def test_known_parameters_are_recovered_from_noise_free_cases() -> None:
    cases = make_cases(TRUE)
    group = CpuKernels()
    result = fit_group(group, cases, group.parameters(cases))
    assert result.success
    kernels = group.kernels(result.values)

    def effective(core: str) -> float:  # what a conv MAC costs on the core, over the table
        return kernels.class_factor(core, "conv") * kernels.core_factor(core)[0]

    assert effective("cortex-m7") == pytest.approx(1.6 * 0.7, rel=0.02)
    assert effective("cortex-m33") == pytest.approx(1.6 * 1.2, rel=0.02)
    assert result.values["op_overhead_cycles"] == pytest.approx(800.0, rel=0.1)
    assert max(abs(r) for r in result.residuals.values()) < 0.01


def test_bounds_keep_an_overhead_physical_even_when_the_data_would_want_more() -> None:
    # Every model measured 5 ms slower than the kernels explain: a constant the bounds forbid
    # (20,000 cycles per operator at most), so the fit cannot hide it and the residuals show it.
    truth = {**TRUE, "op_overhead_cycles": 200_000.0}
    cases = make_cases(truth)
    group = CpuKernels()
    result = fit_group(group, cases, group.parameters(cases))
    assert result.values["op_overhead_cycles"] <= 20_000.0 + 1e-6
    assert max(abs(r) for r in result.residuals.values()) > 0.2


def test_held_out_predictions_use_only_the_other_models_and_boards() -> None:
    noise = {"fix-m7-w16": 1.3, "fix-m33-w32": 0.8}
    cases = make_cases(TRUE, noise)
    group = CpuKernels()
    lomo = leave_one_model_out(group, cases)
    assert {h.row_id for h in lomo} == {c.row.id for c in cases}
    assert all(h.fold.startswith("model ") for h in lomo)
    loso = leave_one_source_out(group, cases)
    # With fix-m7 held out, its core factor falls back to the prior (1), so the held-out
    # error reflects the true 0.7: predictions 1/0.7 too slow, give or take the class factor.
    m7 = [h for h in loso if h.board == "fix-m7"]
    assert all(h.fold == "source fix-m7" for h in m7)
    assert statistics.median([h.log_ratio for h in m7]) > 0.1


def test_validation_sizes_intervals_from_held_out_residuals() -> None:
    cases = make_cases(TRUE, {"fix-m7-w16": 1.3, "fix-m33-w32": 0.8})
    v = validate_group(CpuKernels(), cases)
    assert v.lomo_spread is not None and v.lomo_spread.kind == "factor"
    assert v.lomo_spread.value >= 1.05
    assert v.loso_spread is not None and v.loso_spread.value > v.lomo_spread.value
    assert v.lomo_coverage is not None and 0.0 <= v.lomo_coverage <= 1.0


def test_interval_spread_is_the_90th_percentile_of_absolute_log_errors() -> None:
    residuals = [math.log(x) for x in (1.01, 0.98, 1.1, 0.9, 1.2, 1.05, 0.95, 1.3, 0.7, 1.02)]
    spread = interval_spread(residuals)
    # 9 of the 10 errors are within x1.3 (the 9th smallest |log|); x1/0.7 is the 10th.
    assert spread.value == pytest.approx(1.3, rel=1e-6)
    assert interval_spread([]).value == 3.0


def held(log_ratio: float, i: int) -> HeldOut:
    return HeldOut(f"r{i}", "b", "m", math.exp(log_ratio) * 100.0, 100.0, "fold")


def test_coverage_checks_each_point_against_the_others_interval() -> None:
    # Nine points within x1.1 and one at x3: the outlier is outside the interval the other nine
    # size (x1.1), and each inlier is inside the interval of the rest.
    points = [held(math.log(1.1) * (i % 2 * 2 - 1) * 0.5, i) for i in range(9)]
    points.append(held(math.log(3.0), 9))
    coverage = jackknife_coverage(points)
    assert coverage == pytest.approx(0.9)
    assert jackknife_coverage(points[:2]) is None

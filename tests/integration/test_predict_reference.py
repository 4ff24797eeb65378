"""Predictions against the Himax WE2 measurements through the real pipeline and Vela.

Runs zoo models -> int8 TFLite -> graph analysis -> Vela (hx-we2 system config, 100 MHz) ->
``predict`` in compiled mode, and checks every measured stage lies in the predicted interval;
then the analytical mode (no Vela) against Vela's own cycles. Slow the first time (TensorFlow
conversion), cached afterwards.
"""

from __future__ import annotations

import pytest

from npubench import STAGES
from npubench.predict.calibrate import MEASURED_CSV, POSTPROCESS_OF, read_measurements
from npubench.predict.latency import analytical_npu_cycles, resolve_clocks
from npubench.predict.parameters import load_params
from npubench.predict.predict import predict
from npubench.targets import get_target

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not MEASURED_CSV.is_file(), reason="reference data not present"),
]


@pytest.fixture(scope="module")
def pipeline():
    from npubench.analysis.graph import analyze_tflite
    from npubench.compilers.vela import compile_for_board
    from npubench.models.prepare import prepare_model
    from npubench.models.source import resolve_source

    board = get_target("hx-we2")
    out = {}
    for model in ("yolov1", "resnet"):
        prepared = prepare_model(resolve_source(f"zoo:{model}"))
        analysis = analyze_tflite(prepared.int8_tflite)
        for optimise in ("Size", "Performance"):
            out[(model, optimise)] = (
                analysis,
                compile_for_board(prepared.int8_tflite, board, optimise),
            )
    return board, out


def test_measured_stages_fall_in_compiled_prediction_intervals(pipeline) -> None:
    board, runs = pipeline
    rows = {(r.model, r.optimise): r for r in read_measurements()}
    for key, (analysis, vela) in runs.items():
        result = predict(analysis, board, vela=vela, postprocess=POSTPROCESS_OF.get(key[0]))
        assert result.status == "ok", result.message
        assert result.details["mode"] == "compiled" and result.details["calibrated"]
        assert result.compiler["cycles"] == vela.cycles_total
        row = rows[key]
        for stage in STAGES:
            measured = row.stages_us[stage]
            if measured is None:
                continue
            lo, hi = result.details["latency_us_intervals"][stage]
            assert lo <= measured <= hi, f"{key} {stage}: {measured} not in [{lo}, {hi}]"
        assert result.energy_uj["net"] > 0
        assert result.energy_uj["total"] > result.energy_uj["net"]


def test_analytical_mode_tracks_vela_within_its_stated_spread(pipeline) -> None:
    board, runs = pipeline
    params = load_params(board)
    spread = params.spread("analytical")
    clocks = resolve_clocks(board, None)
    for key, (analysis, vela) in runs.items():
        cycles = analytical_npu_cycles(analysis, board, params, clocks)
        rel = abs(cycles - vela.cycles_total) / vela.cycles_total
        # The fit was made on model totals averaged over Size/Performance; allow the spread
        # plus the Size/Performance difference of Vela's own estimate (< 1% here).
        assert rel <= spread.value + 0.02, (
            f"{key}: analytical {cycles:.0f} vs Vela {vela.cycles_total}"
        )
        result = predict(analysis, board)
        assert result.details["mode"] == "analytical"
        assert result.latency_us_low <= result.latency_us["total"] <= result.latency_us_high

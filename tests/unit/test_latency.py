"""Stage-model arithmetic of npubench.predict on hand-built graphs (no TFLite, no toolchain)."""

from __future__ import annotations

import math

import pytest

from npubench import STAGES
from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict import cpu_cost
from npubench.predict.latency import (
    npu_layer_us,
    npu_memories,
    predict_latency,
    resolve_clocks,
)
from npubench.predict.parameters import PredictError, load_params
from npubench.predict.predict import BASIS_KINDS, predict
from npubench.schema import LayerPlacement
from npubench.targets import all_targets, get_target


def conv_layer(index: int, hw: int, in_c: int, out_c: int, k: int = 3) -> LayerInfo:
    macs = hw * hw * out_c * k * k * in_c
    return LayerInfo(
        index=index,
        name=f"conv{index}",
        op="CONV_2D",
        input_shapes=[[1, hw, hw, in_c]],
        output_shape=[1, hw, hw, out_c],
        kernel=[k, k],
        stride=[1, 1],
        macs=macs,
        params=k * k * in_c * out_c + out_c,
        weight_bytes=k * k * in_c * out_c + 4 * out_c,
        activation_bytes=hw * hw * (in_c + out_c),
    )


def graph(
    layers: list[LayerInfo], input_shape: list[int], output_shape: list[int]
) -> GraphAnalysis:
    return GraphAnalysis(
        model_sha256="f" * 64,
        layers=layers,
        input_shape=input_shape,
        input_dtype="int8",
        output_shape=output_shape,
        output_dtype="int8",
        total_macs=sum(x.macs for x in layers),
        total_params=sum(x.params for x in layers),
        total_weight_bytes=sum(x.weight_bytes for x in layers),
        peak_activation_bytes=max((x.activation_bytes for x in layers), default=0),
    )


def tiny_classifier() -> GraphAnalysis:
    fc = LayerInfo(
        index=1,
        name="fc",
        op="FULLY_CONNECTED",
        input_shapes=[[1, 8 * 8 * 16]],
        output_shape=[1, 10],
        macs=8 * 8 * 16 * 10,
        params=8 * 8 * 16 * 10 + 10,
        weight_bytes=8 * 8 * 16 * 10 + 40,
        activation_bytes=8 * 8 * 16 + 10,
    )
    return graph([conv_layer(0, 8, 3, 16), fc], [1, 8, 8, 3], [1, 10])


def test_max78000_conv_layer_is_macs_over_576_plus_overhead() -> None:
    board = get_target("max78000")
    params = load_params(board)
    clocks = resolve_clocks(board, None)
    assert clocks.npu_mhz == 50 and clocks.cpu_mhz == 100
    layer = conv_layer(0, 8, 64, 64)
    # 64 input channels fill the 64 processors, 3x3 fills the 9 MAC slots: 576 MACs/clock.
    # Activations 8192 B over 64 B/clock = 128 clocks (+1 latency) < compute: compute-bound.
    expected_cycles = layer.macs / 576 + 100  # + layer_overhead_cycles (max78000-cnn.toml)
    us = npu_layer_us(layer, board, params, clocks, npu_memories(board))
    assert us == pytest.approx(expected_cycles / 50)


def test_max78000_channel_and_kernel_granules() -> None:
    board = get_target("max78000")
    params, clocks, mems = load_params(board), resolve_clocks(board, None), npu_memories(board)
    three = conv_layer(0, 16, 3, 64)  # 3 of 64 processors busy
    one_by_one = conv_layer(0, 16, 64, 64, k=1)  # 1 of 9 MAC slots used
    assert npu_layer_us(three, board, params, clocks, mems) == pytest.approx(
        (three.macs / (576 * 3 / 64) + 100) / 50
    )
    assert npu_layer_us(one_by_one, board, params, clocks, mems) == pytest.approx(
        (one_by_one.macs / (576 / 9) + 100) / 50
    )


def test_ethos_u_layer_is_memory_bound_when_weights_stream_from_flash() -> None:
    board = get_target("ethos-u55-64")
    params, clocks, mems = load_params(board), resolve_clocks(board, None), npu_memories(board)
    # A 1x1 fully connected layer with 1 MB of weights: weight streaming dominates.
    fc = LayerInfo(
        0,
        "fc",
        "FULLY_CONNECTED",
        [[1, 1024]],
        [1, 1024],
        macs=1024 * 1024,
        weight_bytes=1024 * 1024 + 4096,
        activation_bytes=2048,
    )
    flash, sram = board.memory("flash"), board.memory("sram")
    memory_us = (
        fc.weight_bytes / (flash.bandwidth_bytes_per_cycle.value * 100)
        + flash.latency_cycles.value / 100
        + fc.activation_bytes / (sram.bandwidth_bytes_per_cycle.value * 100)
        + sram.latency_cycles.value / 100
    )
    expected = memory_us + params.value("layer_overhead_cycles") / 100
    assert npu_layer_us(fc, board, params, clocks, mems) == pytest.approx(expected)


def test_cpu_layer_cost_is_table_figure_times_macs_plus_overhead() -> None:
    table = cpu_cost.load_cpu_cost()
    layer = conv_layer(0, 8, 16, 16)
    cost = cpu_cost.layer_cycles(layer, "cortex-m4f", table)
    assert cost.basis == "cost table"
    per_mac = table.entry("cortex-m4f", "conv").value
    overhead = table.entry("cortex-m4f", "layer_overhead").value
    assert cost.cycles == pytest.approx(layer.macs * per_mac + overhead)
    assert cost.low_cycles < cost.cycles < cost.high_cycles
    # An unknown core falls back to the scalar generic row.
    assert cpu_cost.layer_cycles(layer, "mystery-core", table).cycles == pytest.approx(
        layer.macs * table.entry("generic", "conv").value
        + table.entry("generic", "layer_overhead").value
    )


def test_host_stages_on_hx_we2_match_the_measured_copy_rates() -> None:
    board = get_target("hx-we2")
    params = load_params(board)
    g = tiny_classifier()
    lat = predict_latency(g, board, clocks=resolve_clocks(board, None), placement=[])
    in_bytes = 8 * 8 * 3
    expected_in = (params.value("input_fixed_cycles") + 4.0 * in_bytes) / 100
    assert params.value("input_cycles_per_byte") == pytest.approx(4.0, abs=1e-6)
    assert lat.stages["input_io"].value_us == pytest.approx(expected_in)
    expected_out = (
        params.value("output_fixed_cycles") + params.value("output_cycles_per_byte") * 10
    ) / 100
    assert lat.stages["output_io"].value_us == pytest.approx(expected_out)
    assert lat.stages["init"].value_us == pytest.approx(params.value("init_cycles") / 100)
    # Default postprocess of a 2-D output is a softmax over the 10 classes (cpu_cost table).
    softmax = cpu_cost.load_cpu_cost().entry("cortex-m55", "softmax").value
    assert lat.stages["postprocess"].value_us == pytest.approx(
        (params.value("postprocess_fixed_cycles") + 10 * softmax) / 100
    )


def test_compiled_mode_uses_vela_cycles_through_the_calibrated_line() -> None:
    board = get_target("hx-we2")
    params = load_params(board)
    g = tiny_classifier()
    clocks = resolve_clocks(board, None)
    lat = predict_latency(g, board, clocks=clocks, placement=[], compiled_cycles=800_000)
    # Whatever the parameters are: runtime overhead (CPU cycles) + fixed µs + scale x NPU time.
    expected = (
        params.value("inference_overhead_cycles", 0.0) / clocks.cpu_mhz
        + params.value("inference_fixed_us", 0.0)
        + params.value("inference_scale", 1.0) * 800_000 / clocks.npu_mhz
    )
    assert lat.mode == "compiled"
    assert lat.stages["inference"].value_us == pytest.approx(expected)


def test_max78000_init_includes_loading_the_cnn_weights() -> None:
    board = get_target("max78000")
    params = load_params(board)
    g = tiny_classifier()
    placement = [
        LayerPlacement(0, "conv0", "CONV_2D", "npu"),
        LayerPlacement(1, "fc", "FULLY_CONNECTED", "npu"),
    ]
    lat = predict_latency(g, board, clocks=resolve_clocks(board, None), placement=placement)
    flash = board.memory("flash")
    load_us = (
        g.total_weight_bytes
        / (flash.bandwidth_bytes_per_cycle.value * 100)
        * params.value("weight_load_overhead")
    )
    fixed_us = (params.value("init_cycles") + 2 * params.value("init_cycles_per_layer")) / 100
    assert lat.stages["init"].value_us == pytest.approx(fixed_us + load_us)


def test_cpu_fallback_layers_are_costed_on_the_cpu() -> None:
    board = get_target("max78000")
    g = tiny_classifier()
    on_npu = [
        LayerPlacement(0, "conv0", "CONV_2D", "npu"),
        LayerPlacement(1, "fc", "FULLY_CONNECTED", "npu"),
    ]
    fc_on_cpu = [on_npu[0], LayerPlacement(1, "fc", "FULLY_CONNECTED", "cpu")]
    clocks = resolve_clocks(board, None)
    a = predict_latency(g, board, clocks=clocks, placement=on_npu)
    b = predict_latency(g, board, clocks=clocks, placement=fc_on_cpu)
    fc_cpu_us = cpu_cost.layer_cycles(g.layers[1], "cortex-m4f", basis="deployed").cycles / 100
    assert b.cpu_us == pytest.approx(fc_cpu_us)
    assert b.npu_us < a.npu_us


def test_clock_scales_cpu_stages_and_is_checked() -> None:
    board = get_target("hx-we2")
    g = tiny_classifier()
    at100 = predict(g, board)
    at200 = predict(g, board, clock_mhz=200)
    assert at200.clock_mhz == 200
    assert at200.latency_us["input_io"] == pytest.approx(at100.latency_us["input_io"] / 2, rel=1e-4)
    with pytest.raises(PredictError, match=r"above its|cannot run"):
        resolve_clocks(get_target("max78000"), 100)
    with pytest.raises(PredictError):
        resolve_clocks(board, 0)


def test_yolo_postprocess_counts_output_elements() -> None:
    board = get_target("hx-we2")
    params = load_params(board)
    g = graph([conv_layer(0, 12, 3, 12)], [1, 12, 12, 3], [1, 12, 12, 12])
    lat = predict_latency(
        g, board, clocks=resolve_clocks(board, None), placement=[], postprocess="yolo"
    )
    assert lat.stages["postprocess"].value_us == pytest.approx(
        (params.value("postprocess_fixed_cycles") + 1728 * params.value("yolo_cycles_per_element"))
        / 100
    )
    # A 4-D output has no default post-processing.
    none = predict_latency(g, board, clocks=resolve_clocks(board, None), placement=[])
    assert none.stages["postprocess"].value_us == 0.0
    with pytest.raises(PredictError, match="postprocess"):
        predict_latency(
            g, board, clocks=resolve_clocks(board, None), placement=[], postprocess="nms"
        )


@pytest.mark.parametrize("name", sorted(all_targets()))
def test_every_board_gives_ordered_intervals(name: str) -> None:
    board = get_target(name)
    result = predict(tiny_classifier(), board)
    assert result.status == "ok", result.message
    assert result.kind == "predicted"
    assert result.latency_us_low <= result.latency_us["total"] <= result.latency_us_high
    total = sum(result.latency_us[s] for s in STAGES)
    assert result.latency_us["total"] == pytest.approx(total, rel=1e-5)
    for stage in STAGES:
        lo, hi = result.details["latency_us_intervals"][stage]
        assert lo <= result.latency_us[stage] <= hi, stage
    if result.energy_uj.get("total") is not None:
        for key, (lo, hi) in result.details["energy_uj_intervals"].items():
            assert lo <= result.energy_uj[key] <= hi, key
    calibrated = load_params(board).calibrated
    assert result.details["calibrated"] == calibrated
    assert result.details["basis_kind"] in BASIS_KINDS
    if board.has_npu:
        assert result.details["basis_kind"] == ("calibrated" if calibrated else "datasheet")
    assert result.details["basis"]
    # A prediction always has an interval; an uncalibrated NPU board's is the datasheet spread.
    width = result.latency_us_high / result.latency_us_low
    assert width > (1.0 if calibrated or not board.has_npu else 1.5)


@pytest.mark.parametrize("name", sorted(all_targets()))
def test_does_not_fit_never_crashes(name: str) -> None:
    board = get_target(name)
    huge = graph([conv_layer(0, 64, 512, 512)], [1, 64, 64, 512], [1, 64, 64, 512])
    huge.total_weight_bytes = 64 << 30  # more than any memory in the catalogue
    huge.layers[0].weight_bytes = huge.total_weight_bytes
    huge.peak_activation_bytes = 64 << 30
    result = predict(huge, board)
    assert result.status == "does_not_fit"
    assert result.message.startswith("does not fit")
    assert result.latency_us["total"] is None
    assert not result.fits
    assert math.isfinite(sum(m.used_bytes for m in result.fit.values()))


def test_npu_clock_limit_is_checked() -> None:
    # hx-we2's NPU tops out at 400 MHz.
    with pytest.raises(PredictError, match="400"):
        resolve_clocks(get_target("hx-we2"), 500)


def test_cpu_layer_cost_uses_measured_instruction_counts_where_they_exist() -> None:
    from npubench.predict import cpu_counts

    layer = conv_layer(0, 8, 16, 16)
    cost = cpu_cost.layer_cycles(layer, "cortex-m4f")
    assert cost.basis == cpu_cost.MEASURED_BASIS
    assert cost.cycles == pytest.approx(cpu_counts.lookup("cortex-m4f", layer))
    assert cost.low_cycles < cost.cycles < cost.high_cycles
    # No counts for RISC-V: the hand-set table serves it.
    assert cpu_cost.layer_cycles(layer, "riscv32-rv32imc").basis == cpu_cost.TABLE_BASIS

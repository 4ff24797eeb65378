"""Compiled-mode predictions take the fit verdict, placement and op counts from the toolchain.

The ``CompileReport`` is Vela's, built from the recorded output of the real Vela 5.2.0 in
``tests/data/vela/`` (the tiny model compiled for hx-we2), parsed by npubench's own parsers; only
its memory figures are edited by hand to make one memory overflow. The analysis is hand-built.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.fit import check_fit
from npubench.predict.parameters import PredictError
from npubench.predict.predict import predict
from npubench.predict.rules.base import kib
from npubench.targets import get_target
from npubench.toolchains.base import CompileReport
from npubench.toolchains.results import memory_fit
from npubench.toolchains.vela import VelaOptions, report_from_outputs
from npubench.toolchains.vela.parse import parse_console, parse_per_layer_csv, parse_summary_csv

VELA_DATA = Path(__file__).resolve().parents[1] / "data" / "vela"
IMAGE_BYTES = 12_000  # a plausible _vela.tflite size for the tiny model; only the fit uses it


def recorded_vela_report() -> CompileReport:
    """The tiny model's real Vela 5.2.0 report on hx-we2, parsed from the recorded files."""
    board = get_target("hx-we2")
    summary = parse_summary_csv((VELA_DATA / "tiny_hx-we2_performance_summary.csv").read_text())
    console = parse_console((VELA_DATA / "tiny_hx-we2_performance_console.txt").read_text())
    layers = parse_per_layer_csv(
        (VELA_DATA / "tiny_hx-we2_performance_per-layer.csv").read_text(), console
    )
    return report_from_outputs(
        board, summary, console, layers, IMAGE_BYTES, options=VelaOptions(), version="5.2.0"
    )


def overflowing(report: CompileReport, memory: str, used: int) -> CompileReport:
    """The same report with ``memory`` holding ``used`` bytes (more than its capacity)."""
    regions = [
        dataclasses.replace(m, used_bytes=used) if m.board_memory == memory else m
        for m in report.memory
    ]
    return dataclasses.replace(report, memory=regions)


def analysis(arena_bytes: int) -> GraphAnalysis:
    """Conv 3->8 on 16x16 then a dense layer; ``arena_bytes`` sets the TFLM arena to budget."""
    conv = LayerInfo(
        index=0,
        name="functional_1/conv2d_1/Relu;functional_1/conv2d_1/convolution",
        op="CONV_2D",
        input_shapes=[[1, 16, 16, 3]],
        output_shape=[1, 16, 16, 8],
        kernel=[3, 3],
        stride=[1, 1],
        macs=16 * 16 * 8 * 27,
        params=27 * 8 + 8,
        weight_bytes=27 * 8 + 32,
        activation_bytes=16 * 16 * 11,
    )
    dense = LayerInfo(
        index=1,
        name="functional_1/dense_1/MatMul2",
        op="FULLY_CONNECTED",
        input_shapes=[[1, 512]],
        output_shape=[1, 10],
        macs=5120,
        params=5130,
        weight_bytes=5160,
        activation_bytes=522,
    )
    layers = [conv, dense]
    return GraphAnalysis(
        model_sha256="e" * 64,
        layers=layers,
        input_shape=[1, 16, 16, 3],
        input_dtype="int8",
        output_shape=[1, 10],
        output_dtype="int8",
        total_macs=sum(x.macs for x in layers),
        total_params=sum(x.params for x in layers),
        total_weight_bytes=sum(x.weight_bytes for x in layers),
        peak_activation_bytes=max(x.activation_bytes for x in layers),
        tflm_arena_bytes=arena_bytes,
    )


def test_vela_overflow_is_the_verdict_although_the_analytical_check_fits() -> None:
    board = get_target("hx-we2")
    small = analysis(arena_bytes=4096)
    assert check_fit(small, board).fits  # the premise: analytically it fits
    sram = board.memory(board.npu.arena_memory)
    used = int(sram.size_bytes.value) + 300 * 1024
    vela = overflowing(recorded_vela_report(), sram.name, used)

    result = predict(small, board, compiled=vela)

    assert result.status == "does_not_fit"
    assert f"in {sram.name}" in result.message
    assert kib(used) in result.message and kib(int(sram.size_bytes.value)) in result.message
    assert "ethos-u-vela" in result.message
    assert result.fit == memory_fit(vela)
    assert result.details["analytical_fit"]["fits"] is True
    assert result.details["analytical_fit"]["verdict"] == "fits"


def test_vela_fit_is_the_verdict_although_the_analytical_check_does_not_fit() -> None:
    board = get_target("hx-we2")
    sram_bytes = int(board.memory(board.npu.arena_memory).size_bytes.value)
    big = analysis(arena_bytes=sram_bytes + 1024 * 1024)  # e.g. an over-estimated arena
    analytical = check_fit(big, board)
    assert not analytical.fits  # the premise
    vela = recorded_vela_report()
    assert vela.fits

    result = predict(big, board, compiled=vela)

    assert result.status != "does_not_fit"
    assert result.details["mode"] == "compiled"
    assert result.latency_us["inference"] > 0
    assert result.fit == memory_fit(vela)
    assert result.details["analytical_fit"]["fits"] is False
    assert result.details["analytical_fit"]["verdict"] == analytical.verdict


def test_analytical_mode_keeps_the_analytical_verdict() -> None:
    board = get_target("hx-we2")
    sram_bytes = int(board.memory(board.npu.arena_memory).size_bytes.value)
    big = analysis(arena_bytes=sram_bytes + 1024 * 1024)
    result = predict(big, board)
    assert result.status == "does_not_fit"
    assert result.message == check_fit(big, board).verdict
    assert "analytical_fit" not in result.details


def test_compiled_ops_and_placement_are_vela_figures_and_their_gap_is_explained() -> None:
    board = get_target("hx-we2")
    vela = recorded_vela_report()
    # Recorded Vela 5.2.0: the console counts 32 NPU operators, the per-layer CSV has 35 NPU
    # rows (two fused ReLUs and the Softmax LUT repeat the name of the row before them).
    assert vela.ops == {"npu": 32, "cpu": 0}
    assert sum(1 for p in vela.layers if p.placement == "npu") == 35

    result = predict(analysis(arena_bytes=4096), board, compiled=vela)

    assert result.ops == vela.ops  # what the compiled result reports too (pipeline)
    assert [(p.name, p.placement, p.cycles) for p in result.placement] == [
        (p.name, p.placement, p.cycles) for p in vela.layers
    ]
    (note,) = [n for n in result.details["notes"] if "per-layer rows" in n]
    assert "35 NPU and 0 CPU rows" in note and "32 NPU and 0 CPU operators" in note
    assert "3 NPU rows repeat the name" in note


@pytest.mark.parametrize("board_name", ["max78000", "qemu-cortex-m4"])
def test_a_report_for_another_board_is_refused(board_name: str) -> None:
    board = get_target(board_name)
    with pytest.raises(PredictError, match="compiled for hx-we2"):
        predict(analysis(arena_bytes=4096), board, compiled=recorded_vela_report())

"""Fit and operator-support checks (npubench.predict.fit) on hand-built layer tables.

Each model breaks one documented limit; the test asserts the verdict names the layer and the
limit. The Ethos-U cases run the installed Vela's own operator checker.
"""

from __future__ import annotations

import csv
import sys
import tomllib
from pathlib import Path

import pytest
from ethosu.vela.tflite_supported_operators import TFLiteSupportedOperators

from npubench.predict.fit import check_fit
from npubench.predict.rules.base import largest, load_limits, placement_by_index, runs_on_cpu
from npubench.schema import LayerPlacement
from npubench.targets import all_targets, get_target
from npubench.targets.families import families_dir, family_names

sys.path.insert(0, str(Path(__file__).parent))
from _graphs import GraphBuilder, small_cnn


def _plain_convs(n: int, channels: int = 16) -> GraphBuilder:
    g = GraphBuilder([1, 16, 16, 3])
    for i in range(n):
        g.conv(channels, name=f"conv{i}")
    return g


# --- every board, one healthy model --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(all_targets()))
def test_small_cnn_fits_every_board(name: str) -> None:
    report = check_fit(small_cnn(), get_target(name))
    assert report.fits, report.verdict
    assert report.verdict == "fits"
    assert len(report.placement) == len(small_cnn().layers)
    assert set(report.memory) == {m.name for m in get_target(name).memories}
    assert sum(m.used_bytes for m in report.memory.values()) > 0


def test_small_cnn_placement_per_family() -> None:
    counts = {name: check_fit(small_cnn(), get_target(name)).counts() for name in all_targets()}
    assert counts["hx-we2"] == {"npu": 8, "cpu": 0, "unsupported": 0}  # Vela takes all of it
    assert counts["stm32h7a3"] == {"npu": 0, "cpu": 8, "unsupported": 0}
    assert counts["max78000"]["cpu"] == 1  # softmax in host software
    assert counts["gap9"]["npu"] == 4  # NE16: three convs + FC; pools/reshape/softmax on cluster


# --- MAX78000 / MAX78002 --------------------------------------------------------------------


def test_max78000_rejects_5x5_conv() -> None:
    g = GraphBuilder([1, 16, 16, 3]).conv(16).conv(16, k=5, name="conv2d_big").build()
    report = check_fit(g, get_target("max78000"))
    assert not report.fits
    assert report.verdict == (
        "does not fit: layer 1 'conv2d_big' (CONV_2D 5x5): MAX78000 supports 3x3 and 1x1 "
        "2-D kernels only"
    )
    assert [p.placement for p in report.placement] == ["npu", "unsupported"]


def test_max78000_rejects_stride_2_conv() -> None:
    g = GraphBuilder([1, 16, 16, 3]).conv(16, stride=2, name="down").build()
    report = check_fit(g, get_target("max78000"))
    assert not report.fits
    assert "layer 0 'down' (CONV_2D 3x3)" in report.verdict
    assert "stride 2x2" in report.verdict and "stride 1" in report.verdict


def test_max78000_rejects_33_layers_max78002_accepts() -> None:
    g = _plain_convs(33).build()
    r0 = check_fit(g, get_target("max78000"))
    assert not r0.fits
    assert "layer 32 'conv32'" in r0.verdict
    assert "hardware layer 33 exceeds the MAX78000 limit of 32 layers" in r0.verdict
    assert check_fit(_plain_convs(32).build(), get_target("max78000")).fits
    r2 = check_fit(g, get_target("max78002"))
    assert r2.fits, r2.verdict


def test_max78000_pooling_and_add_do_not_count_as_layers() -> None:
    g = _plain_convs(31)
    g.pool().add().conv(16, name="last")
    assert check_fit(g.build(), get_target("max78000")).fits


def test_max78000_weights_over_capacity() -> None:
    # 12 layers of 64 -> 72 channels, 3x3: 497,664 B of 8-bit kernels > 442,368 B. ADI's
    # accounting counts 72-bit kernel words per processor (768 on the MAX78000), so the verdict
    # names the first layer that exhausts a processor's kernel memory.
    g = GraphBuilder([1, 8, 8, 64])
    for i in range(12):
        g.conv(72 if i % 2 == 0 else 64)
    report = check_fit(g.build(), get_target("max78000"))
    assert not report.fits
    weights = report.memory["cnn_weights"]
    assert weights.used_bytes > weights.capacity_bytes == 442368
    assert report.verdict.startswith("does not fit: layer ")
    assert "kernel memory exhausted at processor" in report.verdict
    assert "768 per processor" in report.verdict
    assert check_fit(g.build(), get_target("max78002")).fits


def test_max78000_rejects_too_many_channels() -> None:
    g = GraphBuilder([1, 4, 4, 8]).conv(1100, k=1, name="wide").build()
    report = check_fit(g, get_target("max78000"))
    assert not report.fits
    assert "layer 0 'wide' (CONV_2D 1x1): 1100 output channels: MAX78000 allows at most 1024" in (
        report.verdict
    )
    assert check_fit(g, get_target("max78002")).fits  # 2048 channels there


def test_max78000_rejects_padding_3() -> None:
    g = GraphBuilder([1, 16, 16, 8]).pad(3).conv(8, padding="VALID").build()
    report = check_fit(g, get_target("max78000"))
    assert not report.fits
    assert "layer 0 'pad_0' (PAD): padding 3: MAX78000 supports padding 0 to 2" in report.verdict
    ok = GraphBuilder([1, 16, 16, 8]).pad(1).conv(8, padding="VALID").build()
    assert check_fit(ok, get_target("max78000")).fits


def test_max78000_conv1d_kernel_9_fits_but_same_padding_4_does_not() -> None:
    valid = GraphBuilder([1, 1, 128, 8]).conv(8, k=(1, 9), padding="VALID").build()
    assert check_fit(valid, get_target("max78000")).fits
    same = GraphBuilder([1, 1, 128, 8]).conv(8, k=(1, 9), padding="SAME").build()
    assert "padding 4" in check_fit(same, get_target("max78000")).verdict


def test_max78000_depthwise_only_on_max78002() -> None:
    g = GraphBuilder([1, 16, 16, 8]).conv(16).depthwise().build()
    assert "does not support depthwise" in check_fit(g, get_target("max78000")).verdict
    assert check_fit(g, get_target("max78002")).fits


def test_max78000_unknown_op_is_unsupported_not_cpu() -> None:
    g = GraphBuilder([1, 8, 8, 8]).conv(8).op("HARD_SWISH").build()
    report = check_fit(g, get_target("max78000"))
    assert report.placement[1].placement == "unsupported"
    assert "no CPU fallback" in report.verdict


def test_max78000_large_frame_needs_streaming_in_first_layers() -> None:
    first = GraphBuilder([1, 128, 128, 3]).conv(8).pool(k=4).conv(8).build()
    assert check_fit(first, get_target("max78000")).fits  # streaming: first layers
    late = _plain_convs(9, channels=4).build()
    late.layers[8].input_shapes = [[1, 128, 128, 4]]
    late.layers[8].output_shape = [1, 128, 128, 4]
    report = check_fit(late, get_target("max78000"))
    assert "streaming is limited to the first 8 layers" in report.verdict


# --- Ethos-U (Vela's own checker) -------------------------------------------------------------


def test_ethos_u_unsupported_op_falls_back_to_cpu() -> None:
    g = GraphBuilder([1, 16, 16, 8]).conv(8).op("CUMSUM").conv(8).op("MADE_UP_OP").build()
    report = check_fit(g, get_target("hx-we2"))
    assert report.fits  # the Cortex-M55 runs what the NPU cannot
    assert [p.placement for p in report.placement] == ["npu", "cpu", "npu", "cpu"]
    assert "CUMSUM is a CPU-only operator" in report.placement[1].reason
    assert "MADE_UP_OP" in report.placement[3].reason


def test_ethos_u_kernel_too_tall_falls_back() -> None:
    g = GraphBuilder([1, 80, 80, 4]).conv(4, k=(65, 1), padding="VALID", name="tall").build()
    report = check_fit(g, get_target("ethos-u55-128"))
    assert report.placement[0].placement == "cpu"
    assert "Dilated kernel height must be in the range [1, 64]" in report.placement[0].reason


def test_ethos_u_stride_4_depthwise_falls_back() -> None:
    g = GraphBuilder([1, 32, 32, 8]).depthwise(k=3, stride=4).build()
    report = check_fit(g, get_target("hx-we2"))
    assert report.placement[0].placement == "cpu"
    assert "Stride values for both width and height must be between 1 and 3" in (
        report.placement[0].reason
    )
    ok = GraphBuilder([1, 32, 32, 8]).depthwise(k=3, stride=2).build()
    assert check_fit(ok, get_target("hx-we2")).placement[0].placement == "npu"


def test_ethos_u_activations_over_sram() -> None:
    g = GraphBuilder([1, 64, 64, 8]).conv(8).build(peak_activation_bytes=3 * 1024 * 1024)
    report = check_fit(g, get_target("hx-we2"))
    assert not report.fits
    assert report.verdict == (
        "does not fit: peak activations need 3072.0 KiB of 2048.0 KiB SRAM 'sram'"
    )
    arena = GraphBuilder([1, 64, 64, 8]).conv(8).build(tflm_arena_bytes=100_000)
    assert check_fit(arena, get_target("hx-we2")).memory["sram"].used_bytes == 100_000


def test_ethos_u_limits_file_matches_installed_vela() -> None:
    limits = load_limits("ethos-u")
    vela = TFLiteSupportedOperators
    for key in (
        "stride_range",
        "dilated_height_range",
        "dilated_product_range",
        "filter_range",
        "filter_height_range",
        "filter_product_range",
        "tens_dim_range",
    ):
        assert tuple(limits.value("ethos-u", key)) == tuple(getattr(vela, key)), key
    names = {n for n in dir(vela) if n.startswith("constraint_")}
    assert set(limits.value("ethos-u", "unchecked_constraints")) <= names


# --- CPU boards -------------------------------------------------------------------------------


def test_cpu_board_weights_over_flash() -> None:
    g = GraphBuilder([1, 1, 1, 2048]).reshape([1, 2048]).fc(1100, act="RELU").build()
    report = check_fit(g, get_target("stm32l4r5"))  # 2 MiB flash
    assert not report.fits
    assert report.verdict.startswith("does not fit: weights need 2204.3 KiB of 2048.0 KiB flash")
    assert all(p.placement == "cpu" for p in report.placement)
    assert check_fit(g, get_target("esp32s3")).fits  # 8 MiB flash


# --- other families ---------------------------------------------------------------------------


def test_mvp_falls_back_when_rows_too_wide() -> None:
    g = GraphBuilder([1, 64, 64, 33]).conv(33).build()  # odd C: W x C = 2112 > 2047
    report = check_fit(g, get_target("efr32mg24"))
    assert report.placement[0].placement == "cpu"
    assert "row stride" in report.placement[0].reason


def test_gap9_ne16_takes_3x3_not_5x5_and_gap8_l2_spill() -> None:
    g = GraphBuilder([1, 16, 16, 8]).conv(8).conv(8, k=5).build()
    report = check_fit(g, get_target("gap9"))
    assert [p.placement for p in report.placement] == ["npu", "cpu"]
    big = GraphBuilder([1, 1, 1, 1024]).reshape([1, 1024]).fc(1024).build()  # 1 MiB of weights
    gap8 = check_fit(big, get_target("gap8"))
    assert gap8.fits
    assert gap8.memory["hyperflash"].used_bytes == big.total_weight_bytes
    assert any("L3" in n for n in gap8.notes)


def test_family_specs_cite_declared_sources() -> None:
    for name in family_names():
        limits = load_limits(name)
        assert limits.tables, name
        raw = tomllib.loads((families_dir() / f"{name}.toml").read_text(encoding="utf-8"))
        assert raw["family"]["name"] == name
        for source in raw.get("sources", {}).values():
            assert source["kind"] and source["title"]


def test_ethos_u_placement_matches_recorded_vela_run() -> None:
    """The layer table of the 'cpuop' model (tests/data/vela/README.md) against Vela's own
    per-layer placement recorded for it on hx-we2 (cpuop_hx-we2_performance_per-layer.csv)."""
    shape = [1, 8, 8, 4]
    g = GraphBuilder(shape)
    g.conv(8, k=3, name="functional_1/conv2d_1/Relu;functional_1/conv2d_1/convolution")
    g.op("GATHER", [1, 8, 8, 4], name="functional_1/lambda_1/GatherV2;")
    g.op("DEQUANTIZE", shape, name="functional_1/lambda_1/GatherV2;1", dtype="float32")
    g.op("CUMSUM", shape, name="functional_1/lambda_1_2/Cumsum", dtype="float32")
    g.op("QUANTIZE", shape, name="tfl.quantize")
    g.conv(4, k=3, name="StatefulPartitionedCall_1:0")
    report = check_fit(g.build(), get_target("hx-we2"))
    recorded = (
        Path(__file__).parents[1] / "data" / "vela" / "cpuop_hx-we2_performance_per-layer.csv"
    )
    with recorded.open(newline="") as f:
        vela = {row["Name"]: row["Target"].lower() for row in csv.DictReader(f)}
    assert {p.name: p.placement for p in report.placement} == vela


def test_runs_on_cpu_is_one_rule_for_every_caller() -> None:
    npu_board, cpu_board = get_target("hx-we2"), get_target("qemu-cortex-m4")
    where = placement_by_index(
        [
            LayerPlacement(0, "conv", "CONV_2D", "npu"),
            LayerPlacement(1, "gather", "GATHER", "cpu"),
            LayerPlacement(2, "odd", "CUSTOM", "unsupported"),
        ]
    )
    assert [runs_on_cpu(npu_board, where, i) for i in range(4)] == [False, True, True, False]
    assert all(runs_on_cpu(cpu_board, where, i) for i in range(4))


def test_largest_takes_the_first_role_the_board_has() -> None:
    board = get_target("hx-we2")
    assert largest(board, "npu_weights", "flash").name == "flash"  # no NPU weight memory
    assert largest(board, "external_ram") is None

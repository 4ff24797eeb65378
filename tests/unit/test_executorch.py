"""The two ExecuTorch plug-ins on recorded real outputs (tests/data/executorch/, COMMAND.txt each).

``executorch-ethos-u``: ExecuTorch 1.5.1's Arm backend with its own Vela 5.1.0, compiled with
npubench's system configuration for hx-we2; its per-partition Vela CSVs are parsed with the
``vela`` plug-in's parsers. ``executorch-cortex-m``: ExecuTorch's CMSIS-NN lowering for a
Cortex-M core. No tool runs here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from npubench.errors import UsageError
from npubench.pipeline import takes_optimise
from npubench.targets.catalogue import load_board_file
from npubench.targets.schema import Board
from npubench.toolchains import get_toolchain
from npubench.toolchains.base import CompileReport
from npubench.toolchains.executorch_cortex_m import CortexMConfig, core_for
from npubench.toolchains.executorch_cortex_m import report_from_reply as cortex_m_report
from npubench.toolchains.executorch_ethos_u import (
    EthosUOptions,
    parse_partition_report,
    report_from_reply,
)
from npubench.toolchains.run import board_config, parse_options
from npubench.toolchains.vela import VelaOptions
from npubench.toolchains.vela.parse import parse_summary_csv

DATA = Path(__file__).resolve().parents[1] / "data" / "executorch"
BOARDS = Path(__file__).resolve().parents[2] / "src" / "npubench" / "targets" / "boards"
CORTEX_M_BOARDS = {
    "stm32h7a3": "cortex-m7",
    "stm32l4r5": "cortex-m4",
    "qemu-cortex-m4": "cortex-m4",
    "qemu-cortex-m7": "cortex-m7",
    "qemu-cortex-m33": "cortex-m33",
    "qemu-cortex-m55": "cortex-m55",
}


def board(name: str) -> Board:
    return load_board_file(BOARDS / f"{name}.toml")


def reply(case: str) -> dict[str, Any]:
    return dict(json.loads((DATA / case / "reply.json").read_text()))


def ethos(case: str) -> CompileReport:
    return report_from_reply(board("hx-we2"), reply(case), DATA / case, EthosUOptions())


def test_every_recording_says_how_it_was_made() -> None:
    cases = [d for d in DATA.iterdir() if d.is_dir()]
    assert len(cases) == 6
    for case in cases:
        text = (case / "COMMAND.txt").read_text()
        assert "executorch==1.5.1" in text and "2026-12-03" in text, case


def test_tiny_cnn_vela_cycles_through_executorch() -> None:
    report = ethos("ethos-u_tinycnn_hx-we2")
    assert report.toolchain == "executorch-ethos-u" and report.frontend == "pytorch"
    assert report.tool == "executorch" and report.tool_version == "1.5.1"
    assert report.extra_versions["ethos-u-vela"] == "5.1.0"
    assert report.extra_versions["tosa-tools"] == "2026.5.0"
    assert report.cost is not None
    # ExecuTorch's Vela at hx-we2's 100 MHz NPU clock, from npubench's own .ini.
    assert report.cost.cycles_total == 29579
    assert report.cost.cycles_npu == 29239
    assert report.cost.clock_hz == 100e6
    assert report.cost.time_us == pytest.approx(295.79)
    assert report.extra["system_config"] == "npubench_hx_we2_100MHz"
    assert report.extra["memory_mode"] == "npubench_Shared_Sram"
    # One delegate: every compute op on the NPU, only the int8 boundary on the CPU.
    npu = [lay.op for lay in report.layers if lay.placement == "npu"]
    assert npu == ["Transpose", "Transpose", "Conv2D", "MaxPool", "Conv2D", "AvgPool", "Conv2D"]
    cpu = [lay.op for lay in report.layers if lay.placement == "cpu"]
    assert cpu == [
        "quantized_decomposed.quantize_per_tensor.default",
        "quantized_decomposed.dequantize_per_tensor.default",
    ]
    conv = report.layers[3]
    assert (conv.op, conv.cycles, conv.macs) == ("Conv2D", 13584, 221184)
    assert conv.extra == {"partition": 0, "delegate": "executorch_call_delegate"}
    # Vela's per-layer cycles add up to its network total.
    assert sum(lay.cycles or 0 for lay in report.layers) == 29579
    assert any("2 NCHW<->NHWC Transpose" in n for n in report.notes)
    assert report.verdict == "fits"


def test_tiny_cnn_executorch_path_against_tflite_path() -> None:
    report = ethos("ethos-u_tinycnn_hx-we2")
    [csv] = (DATA / "ethos-u_tinycnn_hx-we2" / "tflite-path").glob("model_summary_*.csv")
    tflite = parse_summary_csv(csv.read_text())
    assert report.cost is not None
    assert (tflite.cycles_total, tflite.cycles_npu) == (31576, 31516)  # Vela 5.2.0, NHWC int8
    assert (report.cost.cycles_total, report.cost.cycles_npu) == (29579, 29239)  # 2 transposes
    assert tflite.memory_used_bytes["sram"] == report.extra["sram_used_bytes"] == 22000


def test_vela_rerun_reproduces_executorchs_own_compile() -> None:
    """With one partition ExecuTorch's own output/ survives: the worker's re-run matches it."""
    case = DATA / "ethos-u_tinycnn_hx-we2"
    [own] = (case / "executorch" / "output").glob("out_summary_*.csv")
    [rerun] = (case / "vela" / "partition0").glob("*_summary_*.csv")
    a, b = parse_summary_csv(own.read_text()), parse_summary_csv(rerun.read_text())
    assert (a.cycles_total, a.cycles_npu, a.memory_used_bytes) == (
        b.cycles_total,
        b.cycles_npu,
        b.memory_used_bytes,
    )


def test_tiny_cnn_memory_on_board_memories() -> None:
    report = ethos("ethos-u_tinycnn_hx-we2")
    by_memory = {m.board_memory: m for m in report.memory}
    # SRAM: Vela's arena (21.48 KiB) + ExecuTorch's planned buffers (15,360 B).
    assert by_memory["sram"].used_bytes == 22000 + 15360
    assert by_memory["sram"].capacity_bytes == 2 * 1024 * 1024
    # Flash: the .pte (6,816 B), larger than Vela's off-chip flash area (2.22 KiB).
    assert by_memory["flash"].used_bytes == 6816
    assert report.extra["sram_used_bytes"] == 22000


def test_split_cnn_delegated_and_cpu_nodes() -> None:
    report = ethos("ethos-u_splitcnn_hx-we2")
    assert report.extra["partitions"] == 2
    assert report.op_counts() == {"npu": 17, "cpu": 9}
    by_name = {lay.name: lay for lay in report.layers}
    for name in ("aten_gt_tensor", "aten_where_self"):
        lay = by_name[name]
        assert lay.placement == "cpu" and lay.cycles is None
        assert lay.reason.startswith("rejected by EthosUPartitioner: Had torch.bool")
        assert "TOSA-1.0+INT+int16+int4+u55" in lay.reason
    # The graph's first delegate is Vela's partition 1 (matched by its command stream).
    delegated = [lay.extra["partition"] for lay in report.layers if lay.placement == "npu"]
    assert delegated[0] == 1 and delegated[-1] == 0
    assert report.extra["cycles_per_partition"] == [20191, 36270]
    assert report.cost is not None
    assert report.cost.cycles_total == 20191 + 36270 == 56461
    # Two delegates share one scratch pool (the larger arena), their constants add up.
    assert report.extra["sram_used_bytes"] == 24576
    assert report.memory_in("sram") == 24576 + 106512


def test_resnet8_executorch_path_against_tflite_path() -> None:
    """The same model (zoo:ic_resnet8) and board (hx-we2): two front ends, one system config."""
    report = ethos("ethos-u_ic_resnet8_hx-we2")
    [csv] = (DATA / "ethos-u_ic_resnet8_hx-we2" / "tflite-path").glob("model_summary_*.csv")
    tflite = parse_summary_csv(csv.read_text())
    assert report.cost is not None
    assert report.cost.cycles_total == 352989  # ExecuTorch + Vela 5.1.0, avgpool not timed
    assert tflite.cycles_total == 353877  # npubench's int8 TFLite + Vela 5.2.0, all on the NPU
    assert tflite.system_config == report.extra["system_config"] == "npubench_hx_we2_100MHz"
    assert tflite.core_clock_hz == report.cost.clock_hz == 100e6
    # Same arena and the same encoded weights on both paths.
    assert tflite.memory_used_bytes["sram"] == report.extra["sram_used_bytes"] == 51952
    assert tflite.encoded_weights_bytes == report.extra["encoded_weights_bytes"] == 76624
    # The 8x8/stride-8 global average pool is what ExecuTorch's U55 partitioner rejects.
    [pool] = [lay for lay in report.layers if lay.op == "aten.avg_pool2d.default"]
    assert pool.placement == "cpu"
    assert "Avgpool2d needs stride <= 3, got [8, 8]" in pool.reason
    assert report.extra["cycles_per_partition"] == [448, 352541]


def test_partition_report_parser() -> None:
    text = (DATA / "ethos-u_splitcnn_hx-we2" / "executorch" / "partition_report.txt").read_text()
    assert parse_partition_report(text) == {
        "aten_where_self": "Had torch.bool input aten_gt_tensor that is not supported by "
        "TOSA-1.0+INT+int16+int4+u55.",
        "aten_gt_tensor": "Had torch.bool output that is not supported by "
        "TOSA-1.0+INT+int16+int4+u55.",
    }
    none = (DATA / "ethos-u_tinycnn_hx-we2" / "executorch" / "partition_report.txt").read_text()
    assert parse_partition_report(none) == {}


def test_ethos_u_plugin_shape() -> None:
    plugin = get_toolchain("executorch-ethos-u")
    assert plugin.consumes == "pytorch" and plugin.frontend == "executorch"
    assert plugin.gives == ("placement", "cycles", "memory")
    assert plugin.environment == "executorch"
    assert takes_optimise(plugin)
    assert set(plugin.Options.model_fields) <= set(VelaOptions.model_fields)
    assert parse_options(plugin, {"optimise": "Size"}) == EthosUOptions(optimise="Size")
    assert board_config(plugin, board("hx-we2")).model_dump() == {}
    with pytest.raises(UsageError, match="does not target stm32h7a3"):
        board_config(plugin, board("stm32h7a3"))


def test_cortex_m_tiny_cnn_planned_memory() -> None:
    report = cortex_m_report(board("qemu-cortex-m4"), reply("cortex-m_tinycnn_qemu-cortex-m4"))
    assert report.toolchain == "executorch-cortex-m" and report.cost is None
    assert all(lay.placement == "cpu" for lay in report.layers)
    planned = {m.region: m for m in report.memory}
    assert planned["planned buffers"].used_bytes == 15360
    assert planned["planned buffers"].board_memory == "ssram23"
    assert planned["model"].used_bytes == 9800 and planned["model"].board_memory == "ssram1"
    assert report.extra["planned_bytes_no_io"] == 11376
    assert report.extra["cmsis_nn_backend"] == "DSP"
    assert report.extra["cmsis_nn_scratch_bytes"] == {
        "cortex_m_quantized_conv2d_default": 112,
        "cortex_m_quantized_conv2d_default_1": 288,
        "cortex_m_quantized_avg_pool2d_default": 64,
    }
    assert report.extra["kernels"] == {"cmsis-nn": 5, "cortex-m": 2, "portable": 1}
    conv = report.layers[1]
    assert conv.reason == "CMSIS-NN quantized_conv2d (DSP kernels on the cortex-m4)"
    assert conv.macs == 221184  # 32x32x8 outputs x 3x3x3
    [portable] = [lay for lay in report.layers if lay.extra["kernel"] == "portable"]
    assert portable.op == "aten.view_copy.default"
    assert "portable kernel" in portable.reason


def test_cortex_m_scratch_differs_per_core() -> None:
    m4 = cortex_m_report(board("qemu-cortex-m4"), reply("cortex-m_ic_resnet8_qemu-cortex-m4"))
    m55 = cortex_m_report(board("qemu-cortex-m55"), reply("cortex-m_ic_resnet8_qemu-cortex-m55"))
    assert (m4.extra["cmsis_nn_backend"], m55.extra["cmsis_nn_backend"]) == ("DSP", "MVE")
    assert m4.extra["planned_bytes"] == m55.extra["planned_bytes"] == 49728
    assert m4.extra["cmsis_nn_scratch_total_bytes"] == 6704
    assert m55.extra["cmsis_nn_scratch_total_bytes"] == 6464
    assert m4.extra["cmsis_nn_scratch_bytes"]["cortex_m_quantized_conv2d_default"] == 112
    assert m55.extra["cmsis_nn_scratch_bytes"]["cortex_m_quantized_conv2d_default"] == 128
    assert "cortex_m_quantized_avg_pool2d_default" not in m55.extra["cmsis_nn_scratch_bytes"]
    assert m55.memory_in("isram") == 49728 and m55.verdict == "fits"


@pytest.mark.parametrize(("name", "core"), sorted(CORTEX_M_BOARDS.items()))
def test_cortex_m_board_tables(name: str, core: str) -> None:
    plugin = get_toolchain("executorch-cortex-m")
    b = board(name)
    assert "executorch-cortex-m" in b.toolchain_names()
    config = board_config(plugin, b)
    assert config == CortexMConfig(core=core)  # type: ignore[arg-type]
    assert core_for(b, CortexMConfig()) == core  # the default from cpu.core agrees


def test_cortex_m_core_default_and_rejection() -> None:
    plugin = get_toolchain("executorch-cortex-m")
    m4f = board("qemu-cortex-m4").model_copy(update={"toolchains": {}})
    assert m4f.cpu.core == "cortex-m4f"
    assert core_for(m4f, CortexMConfig()) == "cortex-m4"
    riscv = m4f.model_copy(update={"cpu": m4f.cpu.model_copy(update={"core": "riscv32-rv32imc"})})
    assert core_for(riscv, CortexMConfig()) is None
    assert plugin.check_board(riscv, CortexMConfig()) != []
    assert plugin.consumes == "pytorch" and plugin.gives == ("placement", "memory")


def test_detect_without_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPUBENCH_TOOLCHAINS_DIR", str(tmp_path))
    for name in ("executorch-ethos-u", "executorch-cortex-m"):
        info = get_toolchain(name).detect()
        assert not info.available and info.version is None
        assert info.install == "npubench toolchains install executorch"
        assert info.environment == str(tmp_path / "executorch")

"""The rknn plug-in on recorded real rknn-toolkit2 2.5.0 outputs (tests/data/rknn/).

Each folder holds one worker run of the probe (COMMAND.txt: command, tool version, date): the
tool's raw fd-1/fd-2 log (``rknn.log``), the request and the reply. The worker's parsers are
run on the raw logs and must give the figures the compiler printed; the host plug-in's mapping
turns the recorded replies into ``CompileReport``s against the shipped boards. No tool runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from npubench.targets.catalogue import all_targets, get_target
from npubench.toolchains import get_toolchain
from npubench.toolchains.base import CompileReport
from npubench.toolchains.rknn import (
    RknnBoardConfig,
    RknnOptions,
    TargetPlatform,
    _worker,
    report_from_reply,
)
from npubench.toolchains.run import board_config, parse_options

DATA = Path(__file__).resolve().parents[1] / "data" / "rknn"
OK_CASES = [
    "tiny_cnn_rv1106",
    "tiny_cnn_rv1103",
    "tiny_cnn_rk3566",
    "resnet8_rv1106",
    "resnet8_rv1103",
    "resnet8_rk3566",
    "resnet8-opt0_rv1106",
    "gridsample_rv1106",
    "gridsample_rk3566",
    "hardmax_rv1106",
    "einsum_rv1106",
]


def _reply(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / case / "reply.json").read_text())
    return data


def _lines(case: str) -> list[str]:
    return _worker.clean_lines((DATA / case / "rknn.log").read_text(errors="replace"))


def _parsed(case: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lines = _lines(case)
    _, rows = _worker.parse_layer_table(lines)
    layers, _ = _worker.layers_from_rows(rows)
    return layers, _worker.parse_memory(lines)


def _report(case: str, board: str | None = None, **options: Any) -> CompileReport:
    reply = _reply(case)
    platform = json.loads((DATA / case / "request.json").read_text())["board"]["target_platform"]
    target = get_target(board or platform)
    config = RknnBoardConfig(target_platform=platform)
    return report_from_reply(reply, target, config, RknnOptions(**options))


def test_every_recorded_folder_says_how_it_was_made() -> None:
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        text = (folder / "COMMAND.txt").read_text()
        assert "command:" in text, folder.name
        if folder.name != "models":
            assert "rknn-toolkit2: 2.5.0" in text, folder.name


# --- the worker's parsers on the raw logs ----------------------------------------------------


def test_tiny_cnn_rv1106_layer_table_cycles_and_memory() -> None:
    layers, memory = _parsed("tiny_cnn_rv1106")
    assert [lay["op"] for lay in layers] == [
        "InputOperator",
        "ConvRelu",
        "MaxPool",
        "ConvRelu",
        "Conv",
        "Conv",
        "Conv",
        "Reshape",
        "OutputOperator",
    ]
    assert [lay["placement"] for lay in layers] == ["cpu"] + ["npu"] * 7 + ["cpu"]
    conv1 = layers[1]
    assert conv1["name"] == "/c1/Conv"
    assert conv1["extra"]["onnx_op"] == "Conv"
    assert (conv1["extra"]["cycles_ddr"], conv1["extra"]["cycles_npu"]) == (3227, 9216)
    assert conv1["extra"]["input_shapes"] == ["(1,3,32,32)", "(8,3,3,3)", "(8)"]
    cost = _worker.cost_from_layers(layers)
    assert cost is not None
    assert cost["cycles_total"] == 12575
    assert cost["cycles_npu"] == 12512
    assert cost["cycles_ddr"] == 5932
    assert cost["clock_hz"] is None  # rknn states no clock
    assert {m["region"]: m["used_bytes"] for m in memory} == {"internal": 23552, "weight": 5568}
    assert [m["raw"] for m in memory] == [
        "Total Internal Memory Size: 23KB",
        "Total Weight Memory Size: 5.4375KB",
    ]


def test_maxpool_zero_cycle_estimate_is_flagged() -> None:
    lines = _lines("tiny_cnn_rv1106")
    layers, notes = _worker.layers_from_rows(_worker.parse_layer_table(lines)[1])
    maxpool = next(lay for lay in layers if lay["op"] == "MaxPool")
    assert maxpool["cycles"] == 0
    assert "not modelled" in maxpool["reason"]
    assert any("MaxPool /MaxPool" in n for n in notes)


@pytest.mark.parametrize(
    "case, cycles, internal, weight",
    [
        ("tiny_cnn_rv1106", 12575, 23552, 5568),
        ("tiny_cnn_rv1103", 12575, 23552, 5568),
        ("tiny_cnn_rk3566", 12532, 19456, 3904),
        ("resnet8_rv1106", 59888, 52224, 87936),
        ("resnet8_rv1103", 59888, 52224, 87936),
        ("resnet8-opt0_rv1106", 59888, 52224, 87936),
        ("resnet8_rk3566", 58403, 52224, 85376),
        ("gridsample_rv1106", 10208, 23552, 5184),
        ("hardmax_rv1106", 9216, 35840, 512),
        ("einsum_rv1106", 17819, 35840, 3648),
    ],
)
def test_parsers_reproduce_the_recorded_replies(
    case: str, cycles: int, internal: int, weight: int
) -> None:
    layers, memory = _parsed(case)
    reply = _reply(case)
    cost = _worker.cost_from_layers(layers)
    assert cost is not None and cost["cycles_total"] == cycles == reply["cost"]["cycles_total"]
    assert {m["region"]: m["used_bytes"] for m in memory} == {
        "internal": internal,
        "weight": weight,
    }
    # The adapted parser gives the probe's reply row for row.
    assert [(x["index"], x["name"], x["placement"], x["cycles"]) for x in layers] == [
        (x["index"], x["name"], x["placement"], x["cycles"]) for x in reply["layers"]
    ]


def test_header_columns_are_read_from_the_header_line() -> None:
    lines = _lines("resnet8_rv1106")
    header, rows = _worker.parse_layer_table(lines)
    assert header == list(_worker.KNOWN_COLUMNS)
    # A later version's extra column lands in extra["column:..."], positions follow the header.
    body = [
        "D RKNN: [00:00:00.000] Network Layer Information Table",
        "D RKNN: [00:00:00.000] ID   OpType DataType Target InputShape OutputShape "
        "Cycles(DDR/NPU/Total) Time(us) RW(KB) FullName",
        "D RKNN: [00:00:00.000] 1    Conv   INT8     NPU    (1,3,8,8)  (1,8,8,8)   "
        "10/20/20             3        1      Conv:/c",
        "D RKNN: [00:00:00.000] -----------",
    ]
    _, rows = _worker.parse_layer_table(body)
    layers, _ = _worker.layers_from_rows(rows)
    assert layers[0]["cycles"] == 20
    assert layers[0]["extra"]["rw_kb"] == 1
    assert layers[0]["extra"]["column:Time(us)"] == "3"


def test_gridsample_runs_on_the_cpu() -> None:
    for case in ("gridsample_rv1106", "gridsample_rk3566"):
        layers, _ = _parsed(case)
        grid = next(lay for lay in layers if lay["op"] == "GridSample")
        assert grid["placement"] == "cpu", case
        assert grid["cycles"] is None
        assert "placed on the CPU by rknn" in grid["reason"]
        assert not grid["extra"]["io_pseudo_op"]
    # Hardmax, listed 'Not Supported' by Rockchip, is also left on the CPU, not rejected.
    layers, _ = _parsed("hardmax_rv1106")
    assert next(lay for lay in layers if lay["op"] == "Hardmax")["placement"] == "cpu"


def test_per_layer_fidelity_table_from_the_log() -> None:
    rows = _worker.parse_error_analysis(_lines("tiny_cnn_rv1106"))
    assert rows == _reply("tiny_cnn_rv1106")["fidelity"]["per_layer"]
    assert len(rows) == 10
    assert rows[2] == {
        "op": "Relu",
        "tensor": "/Relu_output_0",
        "entire_cos": 0.99998,
        "entire_euc": 0.07004,
        "single_cos": 0.99998,
        "single_euc": 0.07004,
    }


def test_sqnr_helper() -> None:
    assert _worker.sqnr_db([1.0, 1.0], [1.0, 1.0]) == float("inf")
    assert _worker.sqnr_db([2.0, 0.0], [1.0, 0.0]) == pytest.approx(10 * 0.60206, rel=1e-4)


# --- failures: the message names the layer and the cause -------------------------------------


def test_custom_domain_op_gives_a_clear_error() -> None:
    recorded = _reply("customop_rv1106")
    assert recorded["ok"] is False
    assert "INVALID_GRAPH" in recorded["error"]  # what rknn itself says
    reply = _worker.failure("build", _lines("customop_rv1106"), None, {})
    assert reply["ok"] is False
    assert reply["error"] == (
        "build: layer 'output' (MyWeirdOp, domain 'com.example') is a custom-domain operator: "
        "rknn-toolkit2 cannot build it (onnxruntime: No opset import for domain 'com.example')"
    )
    assert "reg_custom_op" in reply["hint"]
    # The worker catches it before starting the tool, naming the layer index as well.
    error, hint = _worker.precheck_onnx(str(DATA / "models" / "customop.onnx")) or ("", "")
    assert error.startswith("layer 1 'output' (MyWeirdOp, domain 'com.example') is a custom-domain")
    assert "standard ONNX operators" in hint


def test_dynamic_batch_gives_a_clear_error() -> None:
    assert "is not support" in _reply("dynbatch_rv1106")["error"]
    reply = _worker.failure("load_onnx", _lines("dynbatch_rv1106"), None, {})
    assert reply["error"] == (
        "load_onnx: input 'input' has a dynamic shape ['N', 3, 32, 32]: rknn-toolkit2 compiles "
        "static shapes only"
    )
    assert "batch 1" in reply["hint"]
    error, _ = _worker.precheck_onnx(str(DATA / "models" / "dynbatch.onnx")) or ("", "")
    assert error == (
        "input 'input' has a dynamic shape ['N', 3, 32, 32]: rknn-toolkit2 compiles static "
        "shapes only"
    )


def test_bad_platform_and_missing_file_messages() -> None:
    bad = _reply("tiny_cnn_rv9999")
    assert bad["error"] == "config: Invalid target_platform 'rv9999'!"
    assert "rv1106" in bad["hint"]
    assert "not exists" in _reply("missing_rv1106")["error"]


def test_precheck_passes_a_standard_model(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "ok",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    path = tmp_path / "ok.onnx"
    onnx.save(helper.make_model(graph), path)
    assert _worker.precheck_onnx(str(path)) is None


# --- the host plug-in's mapping of a reply -----------------------------------------------------


def test_tiny_cnn_rv1106_reply_becomes_a_compile_report() -> None:
    report = _report("tiny_cnn_rv1106")
    assert report.toolchain == "rknn" and report.tool == "rknn-toolkit2"
    assert report.tool_version == "2.5.0"
    assert report.frontend == "onnx" and report.target == "rv1106"
    assert report.extra_versions["onnxruntime"] == "1.26.0"
    assert report.cost is not None
    assert report.cost.cycles_total == 12575
    assert report.cost.cycles_npu == 12512
    assert report.cost.clock_hz == 420e6  # the board file's NPU clock
    assert report.cost.latency_us is None  # rknn gives no time of its own
    assert report.cost.time_us == pytest.approx(12575 / 420)
    assert any(
        "states no clock" in n and "420 MHz" in n and "board file's NPU clock" in n
        for n in report.notes
    )
    assert report.extra["cycles_ddr"] == 5932
    assert report.extra["target_platform"] == "rv1106"
    regions = {m.region: m for m in report.memory}
    assert regions["internal"].used_bytes == 23552
    assert regions["weight"].used_bytes == 5568
    for m in regions.values():
        assert m.board_memory == "ddr"
        assert m.capacity_bytes == 256 * 1024 * 1024
        assert "shared with Linux" in m.what
    assert report.memory_in("ddr") == 23552 + 5568
    assert report.ops == {"npu": 7, "cpu": 0}  # the Input/Output pseudo-operators not counted
    assert len(report.layers) == 9
    assert report.fits and report.verdict == "fits"
    assert report.fidelity is not None
    assert report.fidelity.sqnr_db == pytest.approx(46.5885)
    assert report.fidelity.max_abs_error == pytest.approx(0.0016982629895210266)
    assert report.fidelity.samples == 8
    assert len(report.fidelity.per_layer) == 10
    assert report.log_tail and "\x1b[" not in report.log_tail
    assert report.seconds_tool == pytest.approx(6.642)
    # The report survives the cache's JSON round trip.
    again = CompileReport.from_json(json.loads(json.dumps(report.to_json(), default=str)))
    assert again.cost is not None and again.cost.cycles_total == 12575
    assert again.fidelity is not None and again.fidelity.sqnr_db == report.fidelity.sqnr_db


def test_report_clock_follows_the_board_and_the_run() -> None:
    rk = _report("resnet8_rk3566")
    assert rk.cost is not None and rk.cost.clock_hz == 900e6
    assert rk.cost.cycles_total == 58403
    assert {m.capacity_bytes for m in rk.memory} == {1 << 30}
    assert rk.ops is not None and rk.ops["cpu"] == 1  # the trailing Reshape on the CPU
    reply, board = _reply("resnet8_rk3566"), get_target("rk3566")
    slower = report_from_reply(
        reply, board, RknnBoardConfig(target_platform="rk3566"), RknnOptions(), clock_mhz=600
    )
    assert slower.cost is not None and slower.cost.clock_hz == 600e6
    from npubench.errors import UsageError

    with pytest.raises(UsageError, match="900"):
        report_from_reply(
            reply, board, RknnBoardConfig(target_platform="rk3566"), RknnOptions(), clock_mhz=1000
        )


def test_gridsample_report_counts_it_as_a_cpu_operator() -> None:
    report = _report("gridsample_rv1106")
    assert report.ops is not None and report.ops["cpu"] == 1
    grid = next(lay for lay in report.layers if lay.op == "GridSample")
    assert grid.placement == "cpu"
    assert report.op_counts()["cpu"] == 1
    assert report.fits  # CPU placement is not a rejection


def test_options_and_board_config_validation() -> None:
    rknn = get_toolchain("rknn")
    assert parse_options(rknn, {}) == RknnOptions(optimization_level=3, per_layer_fidelity=True)
    assert parse_options(rknn, {"optimization_level": 0}).model_dump()["optimization_level"] == 0
    from npubench.errors import UsageError

    with pytest.raises(UsageError, match="optimization_level"):
        parse_options(rknn, {"optimization_level": 4})
    with pytest.raises(UsageError, match="rknn accepts"):
        parse_options(rknn, {"optimise": "Size"})
    with pytest.raises(ValueError):
        RknnBoardConfig(target_platform="rv9999")  # type: ignore[arg-type]
    # The platforms the BoardConfig accepts are those the recorded 2.5.0 worker reported.
    assert sorted(get_args(TargetPlatform)) == _reply("version")["targets"]


def test_every_board_naming_rknn_validates_its_table() -> None:
    rknn = get_toolchain("rknn")
    boards = [b for b in all_targets().values() if "rknn" in b.toolchain_names()]
    assert {b.name for b in boards} >= {"rv1103", "rv1106", "rk3566"}
    for board in boards:
        config = board_config(rknn, board)
        assert isinstance(config, RknnBoardConfig), board.name
        assert board.npu is not None and board.npu.family == "rknpu", board.name
        assert board.npu.weights_memory and board.npu.arena_memory, board.name
        assert board.memory(board.npu.arena_memory).role == "external_ram", board.name


def test_detect_is_cheap_and_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPUBENCH_TOOLCHAINS_DIR", str(tmp_path))
    info = get_toolchain("rknn").detect()
    assert not info.available and info.version is None
    assert info.install == "npubench toolchains install rknn"
    assert info.environment == str(tmp_path / "rknn")


# --- the Rockchip board files ----------------------------------------------------------------

ROCKCHIP_BOARDS = ("rv1103", "rv1106", "rk3566")


@pytest.mark.parametrize("name", ROCKCHIP_BOARDS)
def test_rockchip_board_figures_are_sourced(name: str) -> None:
    board = get_target(name)
    used = {figure.source for _, figure in board.figures()}
    assert used == set(board.sources), f"{name}: declared but unused {set(board.sources) - used}"
    for key, source in board.sources.items():
        if source.kind == "assumption":
            assert len(source.title.split()) >= 8, f"{name}: assumption {key} gives no reason"
        else:
            assert source.pinned, f"{name}: source {key} is not pinned"
            assert source.url.startswith("https://") and source.locator, f"{name}: {key}"
    # Linux-class SoCs: the default clock is the NPU's real one, said so, never 100 MHz.
    assert board.npu is not None
    assert board.default_clock_mhz == board.npu.clock_mhz.value != 100
    assert board.npu.clock_mhz.note and board.cpu.clock_mhz.note
    assert board.allowed_clocks_mhz and board.default_clock_mhz in board.allowed_clocks_mhz
    assert [m.role for m in board.memories] == ["external_ram"]  # no NPU SRAM documented
    assert board.power is not None and board.power.active_npu_mw is not None
    assert board.power.active_npu_mw.value >= board.power.active_cpu_mw.value


def test_rockchip_board_figures() -> None:
    rv1106, rv1103, rk3566 = (get_target(n) for n in ("rv1106", "rv1103", "rk3566"))
    assert rv1106.npu is not None and rv1103.npu is not None and rk3566.npu is not None
    assert (rv1106.npu.clock_mhz.value, rv1103.npu.clock_mhz.value) == (420, 420)
    assert rk3566.npu.clock_mhz.value == 900
    assert {b.npu.macs_per_cycle.value for b in (rv1106, rv1103, rk3566) if b.npu} == {512}
    assert rv1106.memory("ddr").capacity_bytes == 256 << 20
    assert rv1103.memory("ddr").capacity_bytes == 64 << 20
    assert rk3566.memory("ddr").capacity_bytes == 1 << 30
    assert (rv1106.cpu.core, rk3566.cpu.core, rk3566.cpu.cores) == ("cortex-a7", "cortex-a55", 4)

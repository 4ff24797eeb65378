"""The esp-ppq plug-in on recorded outputs of the real esp-ppq 1.3.12 (tests/data/esp_ppq).

Checks the worker's parser of esp-ppq's printed noise:signal tables on the recorded logs, the
host side (``report_from_reply``) on the recorded replies for the real ESP32-S3 and ESP32-P4
board files, the plug-in's compile path against a stand-in worker that replays a recorded
reply (success and failure), option and board-table validation, detection of an absent
environment, and that every shipped board naming esp-ppq validates its table.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import npubench.toolchains.esp_ppq as esp
from npubench.errors import CompilerError, TargetError, ToolchainMissing, UsageError
from npubench.targets.catalogue import all_targets, get_target, load_board_file
from npubench.toolchains import get_toolchain
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.run import board_config, compile_with, parse_options

DATA = Path(__file__).resolve().parents[1] / "data" / "esp_ppq"
BOARDS_DIR = Path(esp.__file__).resolve().parents[2] / "targets" / "boards"

pytestmark = pytest.mark.usefixtures("fresh_catalogue")


def _worker() -> ModuleType:
    """The worker script as a module (it imports only the standard library at import time)."""
    spec = importlib.util.spec_from_file_location("esp_ppq_worker", esp.WORKER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reply(case: str) -> dict[str, Any]:
    return json.loads((DATA / case / "reply.json").read_text())


def _report(case: str, board: str) -> esp.CompileReport:
    b = get_target(board)
    config = board_config(esp.TOOLCHAIN, b)
    assert isinstance(config, esp.EspPpqBoardConfig)
    return esp.report_from_reply(_reply(case), b, config, esp.EspPpqOptions())


def test_every_recording_states_its_command() -> None:
    cases = [p for p in DATA.iterdir() if p.is_dir() and p.name != "models"]
    assert len(cases) == 8
    for case in cases:
        text = (case / "COMMAND.txt").read_text()
        assert "_worker.py" in text and "esp-ppq==1.3.12" in text and "date: 2026-12-03" in text


# --- the worker's parser on esp-ppq's console -------------------------------------------


def test_error_tables_parse_from_the_resnet8_log() -> None:
    w = _worker()
    tables = w.parse_error_tables((DATA / "resnet8_esp32s3" / "esp_ppq_log.txt").read_text())
    assert [t["measure"] for t in tables] == ["NOISE:SIGNAL POWER RATIO"] * 2
    cumulative, layer = tables
    assert len(cumulative["rows"]) == len(layer["rows"]) == 10
    assert cumulative["rows"][0] == {
        "name": "/fc/Gemm",
        "value": 3.936,
        "percent": True,
        "printed": "/fc/Gemm:          | ████████████████████ | 3.936%",
    }
    assert [r["name"] for r in cumulative["rows"]][-2:] == ["/l1/c1/Conv", "/stem/stem.0/Conv"]
    assert cumulative["rows"][-1]["value"] == 0.006
    assert layer["rows"][0]["value"] == 0.494
    assert {r["name"]: r["value"] for r in layer["rows"]}["/l1/c1/Conv"] == 0.0


def test_per_layer_rows_convert_ratios_to_db() -> None:
    w = _worker()
    tables = w.parse_error_tables((DATA / "tiny_cnn_esp32s3" / "esp_ppq_log.txt").read_text())
    rows = w.per_layer_rows(tables, {"/fc/Gemm": "Gemm", "/c1/Conv": "Conv", "/c2/Conv": "Conv"})
    assert [r["name"] for r in rows] == ["/fc/Gemm", "/c2/Conv", "/c1/Conv"]
    gemm = rows[0]
    assert (gemm["noise_signal_pct_cumulative"], gemm["noise_signal_pct_layer"]) == (0.538, 0.531)
    assert gemm["sqnr_db_cumulative"] == pytest.approx(-10 * np.log10(0.00538), abs=1e-3)
    assert gemm["sqnr_db_cumulative"] == 22.692
    # 0.000% is below esp-ppq's print resolution: no dB figure rather than infinity.
    assert rows[2]["noise_signal_pct_layer"] == 0.0 and rows[2]["sqnr_db_layer"] is None
    assert w.ratio_pct_to_db(100.0) == 0.0


def test_worker_rejects_bad_requests_before_starting_esp_ppq(tmp_path: Path) -> None:
    w = _worker()
    onnx = DATA / "models" / "tiny_cnn.onnx"
    good = tmp_path / "calib.npy"
    np.save(good, np.zeros((4, 3, 32, 32), np.float32))
    bad = tmp_path / "flat.npy"
    np.save(bad, np.zeros((4, 640), np.float32))
    model = {"onnx": str(onnx), "input_shape": [1, 3, 32, 32], "calibration_npy": str(good)}
    assert w.check_request({"model": model, "board": {"target": "esp32p4"}}) is None
    problem, hint = w.check_request({"model": model, "board": {"target": "esp32"}})
    assert "'esp32' is not one of ['esp32s3', 'esp32p4']" in problem and "[toolchains" in hint
    flat = {**model, "calibration_npy": str(bad)}
    problem, _ = w.check_request({"model": flat, "board": {"target": "esp32s3"}})
    assert problem.startswith("model.calibration_npy has shape [4, 640]")
    batch2 = {**model, "input_shape": [2, 3, 32, 32]}
    assert "batch 1" in w.check_request({"model": batch2, "board": {"target": "esp32s3"}})[0]
    opts = {"num_of_bits": 16}
    assert (
        "num_of_bits 16"
        in w.check_request({"model": model, "board": {"target": "esp32s3"}, "options": opts})[0]
    )


# --- the host side on recorded replies ------------------------------------------------------


def test_tiny_cnn_on_the_esp32s3() -> None:
    report = _report("tiny_cnn_esp32s3", "esp32s3")
    assert (report.toolchain, report.tool, report.tool_version) == ("esp-ppq", "esp-ppq", "1.3.12")
    assert report.extra_versions["torch"] == "2.13.0+cpu"
    assert report.extra_versions["onnx"] == "1.19.1"
    assert [(lay.name, lay.op) for lay in report.layers] == [
        ("/c1/Conv", "Conv"),
        ("/p/MaxPool", "MaxPool"),
        ("/c2/Conv", "Conv"),
        ("/g/GlobalAveragePool", "GlobalAveragePool"),
        ("PPQ_Operation_0", "Transpose"),  # esp-ppq's NHWC -> NCHW before Flatten
        ("/Flatten", "Flatten"),
        ("/fc/Gemm", "Gemm"),
    ]
    assert {lay.placement for lay in report.layers} == {"cpu"}
    assert {lay.reason for lay in report.layers} == {"ESP-DL kernel on the xtensa-lx7"}
    # 32x32x8 outputs x 27 weights; 16x16x16 x 72; 10 x 16.
    assert [lay.macs for lay in report.layers if lay.macs] == [221184, 294912, 160]
    c1 = report.layers[0]
    assert c1.extra["quant_type"] == "S8" and c1.extra["attributes"]["activation"] == "Relu"
    assert c1.extra["output_shapes"] == [[1, 32, 32, 8]]  # ESP-DL's NHWC
    assert c1.extra["weight_bytes_stored"] == 256  # 216 int8 weights -> 224 + 8 int32 biases
    assert report.op_counts() == {"npu": 0, "cpu": 7}

    espdl, activations = report.memory
    assert (espdl.region, espdl.used_bytes) == (".espdl model", 6832)
    assert (espdl.board_memory, espdl.capacity_bytes) == ("flash", 8388608)
    assert espdl.used_bytes == (DATA / "tiny_cnn_esp32s3" / "tiny_cnn.espdl").stat().st_size
    assert (activations.used_bytes, activations.board_memory) == (11264, None)
    assert report.extra["parameters_bytes"] == 1680
    assert report.extra["espdl"] == {
        "magic": "EDL2",
        "encrypted": False,
        "payload_bytes": 6816,
        "file_bytes": 6832,
    }
    assert report.extra["esp_target"] == "esp32s3" and report.extra["calib_steps"] == 32
    assert report.memory_in("flash") == 6832

    f = report.fidelity
    assert f is not None
    assert (f.sqnr_db, f.samples) == (22.879, 16)
    assert f.max_abs_error == pytest.approx(0.0313063, rel=1e-5)
    assert [r["name"] for r in f.per_layer] == ["/fc/Gemm", "/c2/Conv", "/c1/Conv"]
    assert [r["noise_signal_pct_cumulative"] for r in f.per_layer] == [0.538, 0.011, 0.005]
    assert f.per_layer[0]["op"] == "Gemm" and f.per_layer[0]["sqnr_db_layer"] == 22.749
    assert report.extra["argmax_agreement"] == 1.0

    assert report.cost is None
    assert any("no cost figures" in n and "no cycles, latency or clock" in n for n in report.notes)
    assert report.fits and report.verdict == "fits"
    assert report.seconds_tool == pytest.approx(11.577 + 2.777)
    assert "Layer     | NOISE:SIGNAL POWER RATIO" in report.log_tail
    assert report.frontend == "onnx" and report.target == "esp32s3"


def test_tiny_cnn_on_the_esp32p4() -> None:
    report = _report("tiny_cnn_esp32p4", "esp32p4")
    assert {lay.reason for lay in report.layers} == {"ESP-DL kernel on the riscv32-esp32p4"}
    assert len(report.layers) == 7
    espdl = report.memory[0]
    # The same graph and parameters as for the S3; the P4 export is 496 bytes larger.
    assert (espdl.used_bytes, espdl.board_memory, espdl.capacity_bytes) == (7328, "flash", 16 << 20)
    assert report.extra["parameters_bytes"] == 1680
    assert report.fidelity is not None and report.fidelity.sqnr_db == 22.879


def test_resnet8_on_the_esp32s3() -> None:
    report = _report("resnet8_esp32s3", "esp32s3")
    ops = [lay.op for lay in report.layers]
    assert len(ops) == 19
    assert ops.count("Conv") == 9 and ops.count("Add") == 3 and ops.count("Relu") == 3
    assert ops[-4:] == ["GlobalAveragePool", "Transpose", "Flatten", "Gemm"]
    assert sum(lay.macs or 0 for lay in report.layers) == 12501632
    assert report.memory[0].used_bytes == 93184
    assert report.extra["parameters_bytes"] == 79008
    assert report.memory[1].used_bytes == 49152  # two live 32x32x16 int8 tensors + one more
    f = report.fidelity
    assert f is not None and f.sqnr_db == 14.027
    assert len(f.per_layer) == 10
    fc = f.per_layer[0]
    assert (fc["name"], fc["noise_signal_pct_cumulative"], fc["noise_signal_pct_layer"]) == (
        "/fc/Gemm",
        3.936,
        0.494,
    )
    # The untrained model's logits are nearly equal: quantization moves every argmax.
    assert report.extra["argmax_agreement"] == 0.0


def test_fc_autoencoder_on_the_esp32p4() -> None:
    report = _report("fc_ae_esp32p4", "esp32p4")
    assert [lay.op for lay in report.layers] == ["Gemm"] * 4
    assert [lay.macs for lay in report.layers] == [81920, 1024, 1024, 81920]
    assert report.memory[0].used_bytes == 187488
    assert report.fidelity is not None and report.fidelity.sqnr_db == 34.154


def test_ops_esp_ppq_leaves_in_float_are_unsupported() -> None:
    report = _report("float_fallback_esp32s3", "esp32s3")
    assert [(lay.op, lay.placement, lay.extra["quant_type"]) for lay in report.layers] == [
        ("Conv", "cpu", "S8"),
        ("DequantizeLinear", "cpu", "F32"),  # ESP-DL runs it (RequantizeLinear module)
        ("Erf", "unsupported", "F32"),
        ("Sin", "unsupported", "F32"),
    ]
    assert not report.fits
    assert report.verdict.startswith("does not fit: esp-ppq rejects layer 2 '/Erf' (Erf)")
    assert "quant_type F32" in report.layers[2].reason
    assert any("measured on the calibration ones" in n for n in report.notes)


# --- the compile path against a worker that replays a recording ------------------------------


_REPLAY = textwrap.dedent(
    """
    import json, shutil, sys
    req = json.load(open(sys.argv[1]))
    assert req["board"] == {"target": "esp32s3"}, req["board"]
    assert req["options"] == {"num_of_bits": 8, "calib_steps": None}, req["options"]
    assert req["model"]["input_shape"] == [1, 3, 32, 32]
    for key in ("calibration_npy", "evaluation_npy"):
        open(req["model"][key], "rb").close()  # the samples exist while the worker runs
    shutil.copyfile(sys.argv[0].replace("replay.py", "reply.json"), req["reply"])
    """
)


class _FakeEnv:
    def __init__(self, python: Path, path: Path) -> None:
        self.python, self.path = python, path


def _replay_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str) -> CompileInput:
    bin_dir = tmp_path / "worker"
    bin_dir.mkdir()
    (bin_dir / "replay.py").write_text(_REPLAY)
    (bin_dir / "reply.json").write_text((DATA / case / "reply.json").read_text())
    monkeypatch.setattr(esp, "WORKER", bin_dir / "replay.py")
    monkeypatch.setattr(
        esp, "get_environment", lambda name: _FakeEnv(Path(sys.executable), tmp_path)
    )
    monkeypatch.setattr(esp.EspPpq, "detect", _available)
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    onnx = DATA / "models" / "tiny_cnn.onnx"
    return CompileInput(
        name="tiny_cnn",
        spec=str(onnx),
        source_kind="onnx",
        tflite_int8=tmp_path / "unused.tflite",
        onnx=onnx,
        source_input_shape=(1, 3, 32, 32),
        int8_sha256="-",
        source_sha256="tiny_cnn",
    )


def _available(self: esp.EspPpq) -> esp.ToolchainInfo:
    return esp.ToolchainInfo(self.name, self.display_name, self.tool, "1.3.12", True, "fake")


def test_compile_with_runs_the_worker_and_caches(monkeypatch, tmp_path) -> None:
    model = _replay_setup(monkeypatch, tmp_path, "tiny_cnn_esp32s3")
    board = get_target("esp32s3")
    report = compile_with(esp.TOOLCHAIN, model, board)
    assert not report.cached and report.memory[0].used_bytes == 6832
    assert len(report.layers) == 7 and report.fidelity and report.fidelity.sqnr_db == 22.879
    names = {a.path for a in report.artifacts}
    assert {"request.json", "reply.json", "worker.log"} <= names
    assert not any(name.endswith(".npy") for name in names)  # samples are not kept
    again = compile_with(esp.TOOLCHAIN, model, board, clock_mhz=160)
    assert again.cached  # the clock does not change what esp-ppq computes


def test_a_failed_reply_becomes_a_compiler_error_naming_the_op(monkeypatch, tmp_path) -> None:
    model = _replay_setup(monkeypatch, tmp_path, "fail_unsupported_op_esp32s3")
    with pytest.raises(CompilerError) as info:
        compile_with(esp.TOOLCHAIN, model, get_target("esp32s3"))
    assert "esp-ppq: op /CumSum (CumSum) is not implemented in esp-ppq's executor" in str(
        info.value
    )
    assert "replace the op" in (info.value.hint or "")


def test_recorded_request_failures_name_the_problem() -> None:
    assert _reply("fail_calib_shape_esp32s3")["error"] == (
        "model.calibration_npy has shape [32, 640], the model's input_shape is "
        "[1, 3, 32, 32] (want (N, 3, 32, 32))"
    )
    assert _reply("fail_target_esp32c3")["error"] == (
        "board.target 'esp32c3' is not one of ['esp32s3', 'esp32p4']"
    )


# --- options, board tables, detection ------------------------------------------------------


def test_options_are_validated() -> None:
    assert parse_options(esp.TOOLCHAIN, {"calib_steps": 16}) == esp.EspPpqOptions(calib_steps=16)
    for bad in ({"num_of_bits": 16}, {"calib_steps": 0}, {"quant_type": "w8a16"}):
        with pytest.raises(UsageError, match="options for esp-ppq"):
            parse_options(esp.TOOLCHAIN, bad)


def test_a_board_table_with_an_unknown_target_is_rejected(tmp_path: Path) -> None:
    text = (BOARDS_DIR / "esp32s3.toml").read_text()
    assert 'target = "esp32s3"' in text
    path = tmp_path / "esp32s3.toml"
    path.write_text(text.replace('target = "esp32s3"', 'target = "esp32c3"'))
    with pytest.raises(TargetError, match=r"\[toolchains.esp-ppq\]"):
        board_config(esp.TOOLCHAIN, load_board_file(path))


def test_detect_without_the_environment_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("NPUBENCH_TOOLCHAINS_DIR", str(tmp_path))
    info = get_toolchain("esp-ppq").detect()
    assert not info.available and info.version is None
    assert info.install == "npubench toolchains install esp-ppq"
    assert info.environment == str(tmp_path / "esp-ppq")
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolchainMissing) as missing:
        compile_with(esp.TOOLCHAIN, CompileInput.from_tflite(Path(__file__)), get_target("esp32p4"))
    assert "npubench toolchains install esp-ppq" in (missing.value.hint or "")


def test_plugin_declaration() -> None:
    plugin = get_toolchain("esp-ppq")
    assert plugin is esp.TOOLCHAIN
    assert (plugin.consumes, plugin.frontend, plugin.environment) == ("onnx", "onnx", "esp-ppq")
    assert "cycles" not in plugin.gives and "latency" not in plugin.gives
    assert {"memory", "fidelity"} <= set(plugin.gives)


# --- the shipped boards ----------------------------------------------------------------------


def test_every_shipped_board_naming_esp_ppq_validates_its_table() -> None:
    naming = {n: b for n, b in all_targets().items() if "esp-ppq" in b.toolchain_names()}
    assert {"esp32s3", "esp32p4"} <= set(naming)
    targets = {}
    for name, board in naming.items():
        config = board_config(esp.TOOLCHAIN, board)
        assert isinstance(config, esp.EspPpqBoardConfig)
        assert board.npu is None, f"{name}: ESP-DL runs on the CPU"
        assert board.memories_with_role("flash"), f"{name}: no flash for the .espdl"
        targets[name] = config.target
    assert targets["esp32s3"] == "esp32s3" and targets["esp32p4"] == "esp32p4"


def test_esp32p4_board_file_cites_every_figure() -> None:
    board = load_board_file(BOARDS_DIR / "esp32p4.toml")
    assert board.toolchain == "esp-ppq" and board.npu is None and board.power is None
    assert (board.cpu.core, board.cpu.cores) == ("riscv32-esp32p4", 2)
    assert (board.cpu.max_clock_mhz.value, board.cpu.clock_mhz.value) == (400, 100)
    assert "not verified on hardware" in board.cpu.clock_mhz.note
    sizes = {m.name: (m.role, m.capacity_bytes) for m in board.memories}
    assert sizes == {
        "l2mem": ("sram", 786432),
        "tcm": ("tcm", 8192),
        "lp_sram": ("sram", 32768),
        "psram": ("external_ram", 33554432),
        "flash": ("flash", 16777216),
    }
    used = {figure.source for _, figure in board.figures()}
    assert used == set(board.sources), "every declared source backs a figure"
    for key, source in board.sources.items():
        assert source.url.startswith("https://") and source.locator, key

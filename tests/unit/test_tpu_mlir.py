"""The tpu-mlir plug-in on recorded real TPU-MLIR 1.30.2 outputs (tests/data/tpu_mlir/).

Each folder holds what one run of the tpu-mlir probe left (COMMAND.txt: the commands, the tool
version, the date): the tool's own files (``model_tool --info`` text, ``*.layer_group_cache.json``,
``*_final.mlir``, model_deploy's console log) and the probe worker's request and reply. The
plug-in's worker parsers run on the tool's files and must give the figures the tool wrote; the
host side turns those replies into ``CompileReport``s for the shipped CV1800B board, both
directly and through ``compile_with`` with a stand-in worker that replays them. No tool runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import npubench.toolchains.tpu_mlir as plugin
from npubench.cache import file_sha256
from npubench.errors import CompilerError, ToolchainMissing, UsageError
from npubench.targets.catalogue import all_targets, get_target
from npubench.toolchains import get_toolchain
from npubench.toolchains.base import CompileReport
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.results import memory_fit, memory_totals
from npubench.toolchains.run import board_config, compile_with, parse_options
from npubench.toolchains.tpu_mlir import (
    ENV_VAR,
    INSTALL,
    TpuMlirBoardConfig,
    TpuMlirOptions,
    _worker,
    find_installation,
    report_from_reply,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "tpu_mlir"
OK_CASES = [
    "tiny_cnn_cv180x",
    "resnet8_cv180x",
    "argmax_cv180x",
    "topk_cv180x",
    "gridsample_cv180x",
    "cumsum_cv180x",
]
MIB = 1 << 20


def _recorded(case: str) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads((DATA / case / "reply.json").read_text())
    return reply


def _first(case: str, pattern: str) -> Path:
    found = sorted((DATA / case).glob(pattern))
    assert found, (case, pattern)
    return found[0]


def _nodes(case: str) -> list[dict[str, Any]]:
    onnx = sorted((DATA / case).glob("*.onnx"))
    return _worker.onnx_nodes(str(onnx[0])) if onnx else []


def _rebuilt(case: str) -> dict[str, Any]:
    """The plug-in worker's reply from the tool's recorded files (the fidelity figures, which
    need the simulator, are the recorded ones)."""
    recorded = _recorded(case)
    info = DATA / case / ("model_tool_info.txt" if case in OK_CASES[:2] else "model_info.txt")
    cache = _first(case, "*.layer_group_cache.json")
    measured = {
        k: recorded["fidelity"][k]
        for k in ("sqnr_db", "max_abs_error", "samples", "per_output", "top1_agreement")
    }
    return _worker.build_reply(
        info_txt=info.read_text(),
        lg_cache=json.loads(cache.read_text()),
        lg_cache_name=cache.name,
        final_mlir=_first(case, "*_final.mlir").read_text(),
        deploy_out=(DATA / case / "logs" / "03_model_deploy.log").read_text(),
        fidelity=measured,
        compare_all=True,
        version=recorded["tool"]["version"],
        extra_versions=recorded["tool"]["extra_versions"],
        nodes=_nodes(case),
    )


def _report(reply: dict[str, Any], **options: Any) -> CompileReport:
    board = get_target("cv1800b")
    return report_from_reply(
        reply, board, TpuMlirBoardConfig(processor="cv180x"), TpuMlirOptions(**options)
    )


def test_every_recorded_folder_says_how_it_was_made() -> None:
    folders = sorted(p for p in DATA.iterdir() if p.is_dir())
    assert len(folders) == 11
    for folder in folders:
        text = (folder / "COMMAND.txt").read_text()
        assert "command:" in text, folder.name
        assert "tpu-mlir: 1.30.2" in text, folder.name
        assert not list(folder.glob("*.cvimodel")), folder.name


# --- the worker's parsers on the tool's own files --------------------------------------------


def test_tiny_cnn_cost_memory_and_layers_from_the_tool_files() -> None:
    reply = _rebuilt("tiny_cnn_cv180x")
    cost = reply["cost"]
    assert cost["cycles_npu"] == cost["cycles_total"] == 25873
    assert (cost["n_grouped_layers"], cost["n_global_layers"]) == (4, 4)
    grouped = [g for g in cost["groups"] if g["kind"] == "group"]
    assert [(g["subfunc"], g["group_cost"], len(g["locs"])) for g in grouped] == [
        ("subfunc_1", 25873, 4)
    ]
    assert {m["region"]: m["used_bytes"] for m in reply["memory"]} == {
        "weight": 1872,
        "cmdbuf": 1824,
        "private_gmem": 3072,
        "shared_gmem": 32,
        "io_mem": 12328,  # fp32 input 1x3x32x32 + fp32 output 1x10
        "ion_total": 19128,
    }
    assert "(printed 0.02 MB)" in reply["memory"][-1]["what"]
    assert [(x["op"], x["placement"]) for x in reply["layers"]] == [
        ("quant", "cpu"),
        ("Conv2D", "npu"),
        ("Pool2D", "npu"),
        ("Conv2D", "npu"),
        ("Pool2D", "npu"),
        ("Reshape", "npu"),
        ("MatMul", "npu"),
        ("Cast", "npu"),
    ]
    conv = reply["layers"][1]
    assert conv["name"] == "/Relu_output_0_Relu"
    assert conv["extra"]["kernel_shape"] == [3, 3] and conv["extra"]["do_relu"] is True
    assert conv["extra"]["layer_group"]["group_cost"] == 25873
    assert conv["extra"]["onnx_op"] == "Relu"  # the ONNX node whose result it is (fused)
    assert reply["model_info"]["flops"] == 1069386
    assert reply["tool"]["extra_versions"]["mlir_build"] == "v1.30.2-20260831"


def test_resnet8_cost_and_ion_from_the_tool_files() -> None:
    reply = _rebuilt("resnet8_cv180x")
    assert reply["cost"]["cycles_npu"] == 463333
    assert reply["cost"]["n_grouped_layers"] == 13
    memory = {m["region"]: m["used_bytes"] for m in reply["memory"]}
    assert memory["ion_total"] == 150456
    assert memory["weight"] == 80192 and memory["shared_gmem"] == 49152
    ops = [x["op"] for x in reply["layers"]]
    assert len(ops) == 17 and ops.count("Conv2D") == 9 and ops.count("Add") == 3
    assert [x["placement"] for x in reply["layers"]] == ["cpu"] + ["npu"] * 16


@pytest.mark.parametrize("case", OK_CASES)
def test_the_adapted_worker_reproduces_the_probe_replies(case: str) -> None:
    mine, probe = _rebuilt(case), _recorded(case)
    assert [(x["name"], x["op"], x["placement"]) for x in mine["layers"]] == [
        (x["name"], x["op"], x["placement"]) for x in probe["layers"]
    ]
    assert mine["cost"]["cycles_npu"] == probe["cost"]["cycles_npu"]
    assert [(m["region"], m["used_bytes"]) for m in mine["memory"]] == [
        (m["region"], m["used_bytes"]) for m in probe["memory"]
    ]
    keys = ("name", "status", "shape", "cosine_similarity", "sqnr_similarity")
    assert [[t.get(k) for k in keys] for t in mine["fidelity"]["per_layer"]] == [
        [t.get(k) for k in keys] for t in probe["fidelity"]["per_layer"]
    ]


@pytest.mark.parametrize(
    "case, onnx_op, tpu_mlir_op",
    [
        ("argmax_cv180x", "ArgMax", "argmax_v3"),
        ("topk_cv180x", "TopK", "topk"),
        ("gridsample_cv180x", "GridSample", "grid_sampler"),
        ("cumsum_cv180x", "CumSum", "cumsum"),
    ],
)
def test_cpu_ops_are_placed_on_the_cpu(case: str, onnx_op: str, tpu_mlir_op: str) -> None:
    layers = _rebuilt(case)["layers"]
    cpu = [x for x in layers if x["placement"] == "cpu"]
    assert [x["op"] for x in cpu] == ["quant", tpu_mlir_op]  # input quantization, then the op
    row = cpu[1]
    assert row["extra"]["onnx_op"] == onnx_op
    assert row["extra"]["tpu_op"] == "tpu.GenericCpu" and row["extra"]["run_mode"] == "CPU"
    assert "CPU subfunction" in row["reason"] and f"cpu_op_name={tpu_mlir_op}" in row["reason"]
    assert all(x["placement"] == "npu" for x in layers[1:] if x is not row)
    report = _report(_rebuilt(case))
    assert report.op_counts()["cpu"] == 2 and report.fits


def test_det_import_failure_names_the_onnx_op_and_node() -> None:
    out = (DATA / "det_cv180x" / "logs" / "01_model_transform.log").read_text()
    error, hint = _worker.describe_failure(
        "model_transform", out, "cv180x", None, _nodes("det_cv180x")
    )
    assert error == (
        "model_transform: TPU-MLIR's ONNX importer does not support op Det: layer '/Det' (Det)"
    )
    assert "replace or remove the Det node(s)" in hint
    assert "{'Det'}" in _recorded("det_cv180x")["error"]  # the probe's reply, same finding


def test_fmod_lowering_abort_names_the_op_and_the_layer() -> None:
    case = DATA / "fmod_cv180x"
    out = (case / "logs" / "03_model_deploy.log").read_text()
    top = (case / "fmod.mlir").read_text()
    error, hint = _worker.describe_failure(
        "model_deploy", out, "cv180x", top, _nodes("fmod_cv180x")
    )
    assert error.startswith(
        "model_deploy: TPU-MLIR's CV18xx lowering of top.CompareConst at layer "
        "'output_Mod_NotEqual' (from ONNX node '/Mod', Mod) aborted for cv180x"
    )
    assert "CompareConst.cpp:32" in error and "Not support now." in error
    assert "top.CompareConst is not supported for cv180x" in hint
    tail = _worker.log_tail(out)
    assert "UNREACHABLE executed" in tail
    assert not any(_worker.STACK_FRAME_RE.match(line) for line in tail.splitlines())


def test_tolerance_failure_says_which_tensors_and_how_to_relax_it() -> None:
    out = (DATA / "tolerance_cv180x" / "logs" / "03_model_deploy.log").read_text()
    error, hint = _worker.describe_failure("model_deploy", out, "cv180x")
    assert "tolerance 0.99999,0.999): 15 tensor(s) below it" in error
    assert "first '/stem/stem.2/Relu_output_0_Relu'" in error
    assert "options.tolerance" in hint and "compare_all=false" in hint


def test_glibc_failure_and_version_recordings() -> None:
    log = (DATA / "glibc" / "bundled_glibc_model_transform.log").read_text()
    assert "GLIBC_2.36' not found" in log
    assert "bundled glibc (libc.so.6)" in _recorded("glibc")["error"]
    version = _recorded("version")
    assert version["tool"]["version"] == "1.30.2"
    assert version["tool"]["extra_versions"]["onnx"] == "1.14.1"


def test_compare_blocks_of_model_deploy() -> None:
    text = (DATA / "tiny_cnn_cv180x" / "logs" / "03_model_deploy.log").read_text()
    checks = _worker.parse_compares(text)
    assert [(c["tolerance"], c["verdict"], len(c["tensors"])) for c in checks] == [
        ("0.85,0.45", "PASSED", 7),
        ("0.99,0.90", "PASSED", 5),
    ]
    relu = checks[0]["tensors"][1]
    assert relu["name"] == "/Relu_output_0_Relu"
    assert relu["cosine_similarity"] == pytest.approx(0.999938)
    assert relu["sqnr_similarity"] == pytest.approx(37.973001)


def test_sqnr_helper_and_tolerance_text() -> None:
    assert _worker.sqnr_db([1.0, 2.0], [1.0, 2.0]) == float("inf")
    assert _worker.sqnr_db([1.0, 0.0], [0.9, 0.0]) == pytest.approx(20.0)
    assert _worker.tolerance_text([0.85, 0.45]) == "0.85,0.45"
    assert _worker.tolerance_text(None) == _worker.DEFAULT_TOLERANCE


# --- the host side: reply -> CompileReport -----------------------------------------------------


def test_tiny_cnn_report_on_cv1800b() -> None:
    report = _report(_rebuilt("tiny_cnn_cv180x"))
    assert report.toolchain == "tpu-mlir" and report.tool_version == "1.30.2"
    assert report.frontend == "onnx" and report.target == "cv1800b"
    cost = report.cost
    assert cost is not None
    assert cost.cycles_npu == cost.cycles_total == 25873
    assert cost.clock_hz == 500e6  # the board file's (assumed) TPU clock: TPU-MLIR states none
    assert cost.time_us == pytest.approx(25873 / 500)
    assert "partial" in cost.what and "board file's NPU clock (500 MHz" in cost.what
    assert any("states no clock" in n for n in report.notes)
    assert any("cycles are partial" in n and "4 layers outside" in n for n in report.notes)
    regions = {m.region: m for m in report.memory}
    assert regions["ion_total"].used_bytes == 19128
    assert {m.capacity_bytes for m in report.memory} == {64 * MIB}
    assert {m.board_memory for m in report.memory if m.region != "ion_total"} == {"dram"}
    assert regions["ion_total"].board_memory is None  # the sum: not counted twice
    assert report.memory_in("dram") == 19128
    board = get_target("cv1800b")
    assert memory_totals(board, report) == {"sram_bytes": 19128, "flash_bytes": 0}
    assert memory_fit(report)["dram"].used_bytes == 19128
    assert "ION carve-out" in regions["weight"].what
    fidelity = report.fidelity
    assert fidelity is not None
    assert fidelity.sqnr_db == pytest.approx(45.79, abs=0.005)
    assert fidelity.samples == 8 and len(fidelity.per_layer) == 12
    assert {r["stage"] for r in fidelity.per_layer} == {
        "tpu_mlir_int8_vs_top_f32",
        "cvimodel_vs_tpu_mlir",
    }
    assert "every tensor (--compare_all)" in fidelity.what
    assert report.extra["top1_agreement"] == 1.0 and report.extra["flops"] == 1069386
    assert report.fits and report.verdict == "fits"
    assert report.op_counts() == {"npu": 7, "cpu": 1}
    assert report.options == {"compare_all": True, "tolerance": [0.85, 0.45]}
    again = CompileReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.cost is not None and again.cost.cycles_total == 25873


def test_resnet8_report_and_the_probe_reply_map_the_same() -> None:
    for reply in (_rebuilt("resnet8_cv180x"), _recorded("resnet8_cv180x")):
        report = _report(reply)
        assert report.cost is not None and report.cost.cycles_total == 463333
        assert {m.region: m.used_bytes for m in report.memory}["ion_total"] == 150456
        assert report.memory_in("dram") == 150456
        assert report.fidelity is not None
        assert report.fidelity.sqnr_db == pytest.approx(46.3519)


def test_requested_clock_and_a_model_too_big_for_the_dram() -> None:
    reply = _rebuilt("tiny_cnn_cv180x")
    board = get_target("cv1800b")
    config, options = TpuMlirBoardConfig(processor="cv180x"), TpuMlirOptions()
    report = report_from_reply(reply, board, config, options, clock_mhz=250)
    assert report.cost is not None and report.cost.clock_hz == 250e6
    with pytest.raises(UsageError, match="cannot run at 600 MHz"):
        report_from_reply(reply, board, config, options, clock_mhz=600)
    big = json.loads(json.dumps(reply))
    big["memory"][-1]["used_bytes"] = 80 * MIB
    report = report_from_reply(big, board, config, options)
    assert not report.fits
    assert report.verdict.startswith("does not fit: tpu-mlir needs 81920.0 KiB of 65536.0 KiB")
    assert "ion_total" in report.verdict


def test_options_and_board_table() -> None:
    tool = get_toolchain("tpu-mlir")
    assert parse_options(tool, {}) == TpuMlirOptions(compare_all=True, tolerance=(0.85, 0.45))
    assert parse_options(tool, {"tolerance": [0.9, 0.8], "compare_all": False}).model_dump() == {
        "compare_all": False,
        "tolerance": (0.9, 0.8),
    }
    for bad in ({"tolerance": [1.5, 0.4]}, {"tolerance": [0.9]}, {"quantize": "F16"}):
        with pytest.raises(UsageError):
            parse_options(tool, bad)
    board = get_target("cv1800b")
    assert board.toolchain == "tpu-mlir"
    assert board_config(tool, board) == TpuMlirBoardConfig(processor="cv180x")
    with pytest.raises(ValueError):
        TpuMlirBoardConfig.model_validate({"processor": "bm1684x"})
    naming = [b for b in all_targets().values() if "tpu-mlir" in b.toolchain_names()]
    assert [b.name for b in naming] == ["cv1800b"]
    assert tool.check_board(board, board_config(tool, board)) == []


# --- detect(): the user's interpreter, looked at without running it --------------------------


def _fake_venv(root: Path, *, glibc: bool, version: str = "1.30.2") -> Path:
    venv = root / "venv310"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    site = venv / "lib" / "python3.10" / "site-packages"
    dist = site / f"tpu_mlir-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.4\nName: tpu_mlir\nVersion: {version}\n")
    third_party = site / "tpu_mlir" / "lib" / "third_party"
    third_party.mkdir(parents=True)
    if glibc:
        for name in ("libc.so.6", "libm.so.6", "libpthread.so.0"):
            (third_party / name).write_bytes(b"")
    return venv


def test_detect_without_the_variable_gives_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    info = get_toolchain("tpu-mlir").detect()
    assert not info.available and info.version is None
    assert info.install == INSTALL
    for piece in (
        "python3.10 -m venv",
        "pip install tpu-mlir==1.30.2",
        "onnx==1.14.1 onnxruntime==1.16.3 onnxsim==0.4.17 psutil opencv-python-headless==4.8.0.76",
        "mv libc.so.6 libm.so.6 libpthread.so.0 moved_aside_glibc/",
        f"export {ENV_VAR}=",
    ):
        assert piece in INSTALL, piece
    assert info.detail == f"${ENV_VAR} is not set"


def test_detect_reads_the_dist_info_and_wants_the_glibc_moved_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = _fake_venv(tmp_path, glibc=True)
    monkeypatch.setenv(ENV_VAR, str(venv / "bin" / "python"))
    info = get_toolchain("tpu-mlir").detect()
    third_party = venv / "lib/python3.10/site-packages/tpu_mlir/lib/third_party"
    assert not info.available
    assert "GLIBC_2.36' not found" in info.detail
    assert info.install == (
        f"mkdir -p {third_party}/moved_aside_glibc && mv {third_party}/libc.so.6 "
        f"{third_party}/libm.so.6 {third_party}/libpthread.so.0 {third_party}/moved_aside_glibc/"
    )
    with pytest.raises(ToolchainMissing, match="bundled glibc"):
        compile_with(get_toolchain("tpu-mlir"), _input(), get_target("cv1800b"))
    subprocess.run(info.install, shell=True, check=True)  # the hint works as given
    info = get_toolchain("tpu-mlir").detect()
    assert info.available and info.version == "1.30.2"
    assert info.environment == str(venv)


def test_detect_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope" / "python"))
    assert "is not an executable file" in get_toolchain("tpu-mlir").detect().detail
    (tmp_path / "bare" / "bin").mkdir(parents=True)
    (tmp_path / "bare" / "bin" / "python").symlink_to(sys.executable)
    found = find_installation(str(tmp_path / "bare" / "bin" / "python"))
    assert not found.usable and "no tpu_mlir-*.dist-info" in found.problem
    venv = _fake_venv(tmp_path / "newer", glibc=False, version="1.31")
    monkeypatch.setenv(ENV_VAR, str(venv))  # the venv folder itself is accepted too
    info = get_toolchain("tpu-mlir").detect()
    assert info.available and info.version == "1.31"
    assert "made with tpu-mlir 1.30.2" in info.detail


# --- compile_with, with a stand-in worker that replays recorded replies ----------------------

REPLAY = """
import json, os, shutil, sys
request = json.load(open(sys.argv[1]))
shutil.copyfile(os.environ["NPUBENCH_TEST_REPLAY"], request["reply"])
"""


def _input() -> CompileInput:
    onnx = DATA / "tiny_cnn_cv180x" / "tiny_cnn.onnx"
    digest = file_sha256(onnx)
    return CompileInput(
        name="tiny_cnn",
        spec=str(onnx),
        source_kind="onnx",
        tflite_int8=onnx,
        onnx=onnx,
        source_input_shape=(1, 3, 32, 32),
        int8_sha256=digest,
        source_sha256=digest,
        calib_samples=8,
        eval_samples=2,
    )


@pytest.fixture
def replaying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake TPU-MLIR venv and a worker that writes the reply file the test names."""
    venv = _fake_venv(tmp_path / "env", glibc=False)
    monkeypatch.setenv(ENV_VAR, str(venv / "bin" / "python"))
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    worker = tmp_path / "replay_worker.py"
    worker.write_text(REPLAY)
    monkeypatch.setattr(plugin, "WORKER", worker)
    reply = tmp_path / "replay.json"
    monkeypatch.setenv("NPUBENCH_TEST_REPLAY", str(reply))
    return reply


def test_compile_with_maps_the_worker_reply(replaying: Path) -> None:
    replaying.write_text(json.dumps(_rebuilt("tiny_cnn_cv180x")))
    tool = get_toolchain("tpu-mlir")
    report = compile_with(tool, _input(), get_target("cv1800b"), {"compare_all": False})
    assert report.cost is not None and report.cost.cycles_total == 25873
    assert report.memory_in("dram") == 19128 and not report.cached
    sent = json.loads((Path(report.artifact_dir) / "request.json").read_text())
    assert sent["board"] == {"name": "cv1800b", "processor": "cv180x"}
    assert sent["options"] == {"compare_all": False, "tolerance": [0.85, 0.45]}
    assert sent["model"]["input_shape"] == [1, 3, 32, 32]
    assert Path(sent["model"]["calibration_npy"]).name == "calibration.npy"
    again = compile_with(tool, _input(), get_target("cv1800b"), {"compare_all": False})
    assert again.cached and again.cost is not None and again.cost.cycles_total == 25873


@pytest.mark.parametrize(
    "case, log, top, named",
    [
        ("det_cv180x", "01_model_transform.log", None, "does not support op Det: layer '/Det'"),
        ("fmod_cv180x", "03_model_deploy.log", "fmod.mlir", "top.CompareConst at layer"),
    ],
)
def test_compile_with_raises_compiler_errors_naming_the_op(
    replaying: Path, case: str, log: str, top: str | None, named: str
) -> None:
    out = (DATA / case / "logs" / log).read_text()
    step = log[3:-4]
    top_text = (DATA / case / top).read_text() if top else None
    nodes = _nodes(case)
    error, hint = _worker.describe_failure(step, out, "cv180x", top_text, nodes)
    replaying.write_text(json.dumps(_worker.failure(error, hint, _worker.log_tail(out))))
    with pytest.raises(CompilerError) as info:
        compile_with(get_toolchain("tpu-mlir"), _input(), get_target("cv1800b"))
    assert named in str(info.value)
    assert "tpu-mlir: " + step in str(info.value)

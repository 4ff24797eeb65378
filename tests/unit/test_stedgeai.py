"""The ST Edge AI Core / X-CUBE-AI plug-in: its report parser on real reports, its compile path
on a fake ``stedgeai``.

The parser tests read reports recorded in ``tests/data/stedgeai/`` (see its COMMAND.txt): the
uNPU-Bench study's X-CUBE-AI 8.0.1 reports for the STM32H7A3 and an ST Edge AI Core 2.2.0
Neural-ART report for the STM32N6. The compile tests put a fake ``stedgeai`` / ``stm32ai`` on
PATH that replays one of those recorded real reports where the real tool writes it
(``<--output>/network_analyze_report.txt``), so that the command line, the subprocess handling,
the error paths and the parsing run for real; only ST's program is replaced.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from npubench.errors import CompilerError, ToolchainMissing
from npubench.targets.catalogue import builtin_dir, load_board_file
from npubench.targets.schema import Board
from npubench.toolchains import get_toolchain
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.run import board_config, compile_with
from npubench.toolchains.stedgeai import (
    ENV_VAR,
    HOMEPAGE,
    TOOLCHAIN,
    StEdgeAiBoardConfig,
    StEdgeAiOptions,
    build_command,
    report_from_parsed,
)
from npubench.toolchains.stedgeai.parse import parse_report, size_to_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "stedgeai"
AUTOENC = DATA / "xcubeai801_stm32h7a3_autoenc_network_generate_report.txt"
N6 = DATA / "stedgeai220_stm32n6_stft_tcnn_network_analyze_report.txt"


def _board(name: str) -> Board:
    return load_board_file(builtin_dir() / f"{name}.toml")


def _read(path: Path) -> str:
    return path.read_bytes().decode()  # keeps the CRLF line endings of the originals


# --- the parser on X-CUBE-AI 8.0.1 (STM32H7A3, the study's reports) -------------------------


def test_autoenc_report_summary_matches_the_study() -> None:
    assert b"\r\n" in AUTOENC.read_bytes()  # the recording is the CRLF original
    rep = parse_report(_read(AUTOENC))
    assert rep.tool_version == "8.0.1-19451"
    assert (rep.command, rep.target) == ("generate", "stm32h7")
    assert rep.macc == 203_108
    assert rep.weights == 140_944
    assert rep.activations == 7_360
    assert rep.ram_total_bytes == 7_360
    assert rep.params == 136_800
    assert rep.totals == {"macc": 203_108, "weights": 140_944, "act": 7_360, "ram_io": 0}
    assert [(t.name, t.nbytes, t.dtype) for t in rep.inputs] == [
        ("serving_default_input0", 768, "ai_i8")
    ]
    assert [(t.name, t.nbytes, t.shape) for t in rep.outputs] == [("dense_7", 768, "1,1,1,768")]


def test_autoenc_c_layers_add_up_to_the_totals() -> None:
    rep = parse_report(_read(AUTOENC))
    assert [c.layer_type for c in rep.c_layers] == ["conv2d", "conv2d"] + ["dense"] * 5
    assert sum(c.macc or 0 for c in rep.c_layers) == rep.macc == 203_108
    assert sum(c.rom_bytes or 0 for c in rep.c_layers) == rep.weights == 140_944
    first = rep.c_layers[0]
    assert (first.name, first.m_id, first.macc, first.rom_bytes) == ("conv2d_1", 1, 98_432, 33_280)
    # The model table: 16 rows, the first convolution implemented by conv2d_oi8[0].
    assert len(rep.model_layers) == 16
    conv = next(m for m in rep.model_layers if m.name == "conv2d_1")
    assert (conv.type, conv.original, conv.params, conv.param_bytes, conv.macc, conv.c_type) == (
        "Conv2D",
        "CONV_2D",
        32_896,
        33_280,
        98_432,
        "conv2d_oi8[0]",
    )
    assert rep.model_totals["macc"] == "202,944/203,108"


@pytest.mark.parametrize(
    ("model", "macc", "weights", "activations"),
    [
        ("resnet", 18_527_940, 386_672, 46_880),
        ("simplenet", 18_499_268, 386_672, 29_576),
        ("nas", 36_473_034, 355_816, 72_432),
        ("yolov1", 21_427_644, 42_080, 44_448),
    ],
)
def test_study_excerpts_give_the_study_figures(
    model: str, macc: int, weights: int, activations: int
) -> None:
    rep = parse_report(
        _read(DATA / f"xcubeai801_stm32h7a3_{model}_network_generate_report.EXCERPT.txt")
    )
    assert (rep.macc, rep.weights, rep.activations) == (macc, weights, activations)
    assert rep.tool_version == "8.0.1-19451" and rep.target == "stm32h7"


def test_yolov1_has_three_int8_outputs() -> None:
    rep = parse_report(
        _read(DATA / "xcubeai801_stm32h7a3_yolov1_network_generate_report.EXCERPT.txt")
    )
    assert [t.nbytes for t in rep.outputs] == [288, 1_440, 1_728]
    assert rep.inputs[0].nbytes == 27_648  # 96x96x3 int8
    assert rep.totals["act"] == 44_448


# --- the parser on ST Edge AI Core 2.2.0 (STM32N6, Neural-ART) --------------------------------


def test_n6_report_epochs_split_between_npu_and_cpu() -> None:
    rep = parse_report(N6.read_text())
    assert rep.tool_version == "2.2.0-20266"
    assert (rep.command, rep.target, rep.compiler_version) == ("analyze", "stm32n6", "1.1.1-14")
    assert (rep.epochs_total, rep.epochs_software) == (51, 16)
    assert [e.number for e in rep.epochs] == list(range(1, 52))
    software = Counter(e.op for e in rep.epochs if not e.on_npu)
    assert software == {
        "Conv": 6,
        "SpaceToDepth": 4,
        "DepthToSpace": 4,
        "DequantizeLinear": 1,
        "Sigmoid": 1,
    }
    assert sum(e.on_npu for e in rep.epochs) == 35


def test_n6_report_memory_pools_and_exact_sections() -> None:
    rep = parse_report(N6.read_text())
    pools = {p.name: p for p in rep.pools}
    assert list(pools) == ["flexMEM", "cpuRAM1", "cpuRAM2", "npuRAM6", "octoFlash", "hyperRAM"]
    npu = pools["npuRAM6"]
    assert npu.used_bytes == size_to_bytes("100.086", "kB") == 102_488  # printed, rounded
    assert npu.range_bytes == 0x34369060 - 0x34350000 == 102_496  # the used address span
    assert npu.size_bytes == 448 * 1024
    assert (npu.weights_bytes, npu.activations_bytes) == (0, 102_488)
    flash = pools["octoFlash"]
    assert flash.range_bytes == 0x70315320 - 0x70180000 == 1_659_680
    assert flash.size_bytes == 63 * 1024 * 1024
    # Exact bytes from "Requested memory size by section" and the final summary.
    assert rep.weights == rep.sections["weights"][1] == 1_659_665
    assert rep.activations == rep.sections["activations"][3] == 102_488
    assert rep.footprint == {
        "flash_runtime": 236_279,
        "ram_runtime": 1_741,
        "flash_total": 1_895_944,
        "ram_total": 104_229,
    }
    # The imported model's own totals (QDQ graph) agree with its table.
    assert rep.model_totals["macc"] == "65,217,184"
    assert sum(m.macc or 0 for m in rep.model_layers) == 65_217_184


def test_text_that_is_no_report_has_no_content() -> None:
    assert not parse_report("Segmentation fault (core dumped)\n\x00garbage\n").has_content
    assert not parse_report("").has_content


# --- from a parsed report to a CompileReport -------------------------------------------------


def test_n6_compile_report_places_epochs_and_pools_on_board_memories() -> None:
    board = _board("stm32n6")
    report = report_from_parsed(
        board, parse_report(N6.read_text()), options=StEdgeAiOptions(), version="2.2.0-20266"
    )
    assert report.op_counts() == {"npu": 35, "cpu": 16}
    sw = [lay for lay in report.layers if lay.placement == "cpu"]
    assert sw[0].name == "epoch 3" and sw[0].op == "Conv"
    assert "cortex-m55" in sw[0].reason
    assert {m.region: m.board_memory for m in report.memory} == {
        "npuRAM6": "sram",
        "octoFlash": "xspi_flash",
    }
    assert report.memory_in("sram") == 102_496
    assert report.memory_in("xspi_flash") == 1_659_680
    assert report.fits and report.verdict == "fits"
    assert report.cost is None
    assert any("no latency or cycle estimate" in n for n in report.notes)
    assert report.extra["footprint"]["flash_runtime"] == 236_279


def test_h7_compile_report_puts_weights_in_flash_and_activations_in_sram() -> None:
    board = _board("stm32h7a3")
    report = report_from_parsed(
        board, parse_report(_read(AUTOENC)), options=StEdgeAiOptions(), version="8.0.1-19451"
    )
    assert report.op_counts() == {"npu": 0, "cpu": 7}
    assert all("cortex-m7" in lay.reason for lay in report.layers)
    assert sum(lay.macs or 0 for lay in report.layers) == 203_108
    regions = {m.region: m for m in report.memory}
    assert set(regions) == {"weights (ro)", "activations (rw)"}  # I/O inside the arena
    assert regions["weights (ro)"].board_memory == "flash"
    assert regions["weights (ro)"].used_bytes == 140_944
    assert regions["weights (ro)"].capacity_bytes == 2_097_152
    assert regions["activations (rw)"].board_memory == "sram"
    assert regions["activations (rw)"].used_bytes == 7_360
    assert report.cost is None and report.fits
    assert report.extra["macc"] == 203_108


# --- board files and command lines ----------------------------------------------------------


def test_board_tables_validate_and_h7_keeps_its_default_toolchain() -> None:
    n6, h7 = _board("stm32n6"), _board("stm32h7a3")
    config = board_config(TOOLCHAIN, n6)
    assert isinstance(config, StEdgeAiBoardConfig)
    assert config.target == "stm32n6" and config.uses_neural_art
    assert n6.toolchain == "stedgeai"
    h7_config = board_config(TOOLCHAIN, h7)
    assert isinstance(h7_config, StEdgeAiBoardConfig)
    assert h7_config.target == "stm32h7" and not h7_config.uses_neural_art
    assert h7.toolchain == "tflm" and "stedgeai" in h7.toolchain_names()
    assert get_toolchain("stedgeai") is TOOLCHAIN


def test_command_lines_of_both_clis(tmp_path: Path) -> None:
    model, out, ws = tmp_path / "m.tflite", tmp_path / "o", tmp_path / "w"
    n6 = build_command(
        Path("/opt/st/stedgeai"),
        model,
        StEdgeAiBoardConfig(target="stm32n6"),
        StEdgeAiOptions(),
        out,
        ws,
    )
    assert n6[:6] == ["/opt/st/stedgeai", "analyze", "--model", str(model), "--target", "stm32n6"]
    assert n6[-1] == "--st-neural-art"
    assert n6[n6.index("--output") + 1] == str(out)
    assert n6[n6.index("--compression") + 1] == "none"
    old = build_command(
        Path("/opt/xcubeai/stm32ai"),
        model,
        StEdgeAiBoardConfig(target="stm32h7"),
        StEdgeAiOptions(),
        out,
        ws,
    )
    assert old[:2] == ["/opt/xcubeai/stm32ai", "analyze"]
    assert old[old.index("--series") + 1] == "stm32h7"
    assert "--target" not in old and "--allocate-inputs" in old


def test_detect_without_the_tool_says_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    info = TOOLCHAIN.detect()
    assert not info.available and info.version is None
    assert info.detail.startswith(f"not installed: get it from {HOMEPAGE}")
    assert "stedgeai" in info.detail and ENV_VAR in info.detail
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere" / "stedgeai"))
    assert f"${ENV_VAR}=" in TOOLCHAIN.detect().detail


# --- the compile path, on a fake stedgeai that replays a recorded real report ---------------

_FAKE = textwrap.dedent(
    """\
    #!{python}
    # Fake ST tool for npubench's tests: replays a recorded real report (FAKE_REPORT).
    import os, pathlib, shutil, sys
    args = sys.argv[1:]
    if "--version" in args:
        print(os.environ["FAKE_VERSION_LINE"])
        sys.exit(0)
    pathlib.Path(os.environ["FAKE_ARGS_LOG"]).write_text("\\n".join(args))
    mode = os.environ.get("FAKE_MODE", "ok")
    if mode == "fail":
        print("analyzing model...")
        print("NOT IMPLEMENTED: Unsupported layer types: Range, OneHot", file=sys.stderr)
        sys.exit(1)
    out = pathlib.Path(args[args.index("--output") + 1])
    out.mkdir(parents=True, exist_ok=True)
    if mode == "noreport":
        print("done")
        sys.exit(0)
    if mode == "garbage":
        report = out / "network_analyze_report.txt"
        report.write_text("@@@ not a report @@@\\nlast garbage line\\n")
        sys.exit(0)
    shutil.copyfile(os.environ["FAKE_REPORT"], out / "network_analyze_report.txt")
    print("Creating txt report file", out / "network_analyze_report.txt")
    """
)


def _install_fake(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    program: str,
    report: Path,
    version_line: str,
    mode: str = "ok",
) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / program
    fake.write_text(_FAKE.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("FAKE_REPORT", str(report))
    monkeypatch.setenv("FAKE_VERSION_LINE", version_line)
    monkeypatch.setenv("FAKE_ARGS_LOG", str(tmp_path / "args.txt"))
    monkeypatch.setenv("FAKE_MODE", mode)
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "args.txt"


def _model(tmp_path: Path) -> CompileInput:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3 not read by the fake tool")
    return CompileInput.from_tflite(path)


def test_compile_on_fake_stedgeai_replaying_the_n6_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake stedgeai replays the recorded real ST Edge AI Core 2.2.0 STM32N6 report."""
    args = _install_fake(
        tmp_path, monkeypatch, "stedgeai", N6, "ST Edge AI Core v2.2.0-20266 2adc00962"
    )
    info = TOOLCHAIN.detect()
    assert info.available and info.version == "2.2.0-20266"
    report = compile_with(TOOLCHAIN, _model(tmp_path), _board("stm32n6"))
    called = args.read_text().split("\n")
    assert called[:2] == ["analyze", "--model"]
    assert called[called.index("--target") + 1] == "stm32n6" and "--st-neural-art" in called
    assert report.tool == "stedgeai" and report.tool_version == "2.2.0-20266"
    assert report.op_counts() == {"npu": 35, "cpu": 16}
    assert report.memory_in("sram") == 102_496
    assert report.extra["report_file"] == "st_ai_output/network_analyze_report.txt"
    assert "st_ai_output/network_analyze_report.txt" in {a.path for a in report.artifacts}
    again = compile_with(TOOLCHAIN, _model(tmp_path), _board("stm32n6"))
    assert again.cached and again.op_counts() == report.op_counts()


def test_compile_on_fake_stm32ai_replaying_the_study_h7_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake stm32ai replays the study's recorded real X-CUBE-AI 8.0.1 autoenc report."""
    args = _install_fake(
        tmp_path,
        monkeypatch,
        "stm32ai",
        AUTOENC,
        "stm32ai - Neural Network Tools for STM32AI v1.7.0 (STM.ai v8.0.1-19451)",
    )
    report = compile_with(TOOLCHAIN, _model(tmp_path), _board("stm32h7a3"))
    called = args.read_text().split("\n")
    assert called[called.index("--series") + 1] == "stm32h7"
    assert report.tool == "stm32ai" and report.tool_version == "8.0.1-19451"
    assert report.extra["macc"] == 203_108
    assert report.memory_in("flash") == 140_944 and report.memory_in("sram") == 7_360
    assert report.op_counts() == {"npu": 0, "cpu": 7}


def test_tool_exiting_nonzero_is_a_compiler_error_naming_the_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake exits 1 with ST's 'NOT IMPLEMENTED' message, as stedgeai does on a bad model."""
    _install_fake(tmp_path, monkeypatch, "stedgeai", N6, "ST Edge AI Core v2.2.0-20266 x", "fail")
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board("stm32n6"))
    message = err.value.message
    assert "exit status 1" in message
    assert "NOT IMPLEMENTED: Unsupported layer types: Range, OneHot" in message
    assert "analyzing model..." in message  # the log tail


def test_garbage_report_is_a_compiler_error_with_its_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake(
        tmp_path, monkeypatch, "stedgeai", N6, "ST Edge AI Core v2.2.0-20266 x", "garbage"
    )
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board("stm32n6"))
    assert "not a report npubench can read" in err.value.message
    assert "last garbage line" in err.value.message


def test_missing_report_is_a_compiler_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake(
        tmp_path, monkeypatch, "stedgeai", N6, "ST Edge AI Core v2.2.0-20266 x", "noreport"
    )
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board("stm32n6"))
    assert "without writing a report" in err.value.message


def test_compile_without_the_tool_is_toolchain_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolchainMissing) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board("stm32n6"))
    assert HOMEPAGE in str(err.value)

"""The GreenWaves NNTool + AutoTiler plug-in: its parsers on real GAP-flow outputs, its memory
mapping on the GAP8/GAP9 boards, and its three-step compile path on fake SDK programs.

Recordings (``tests/data/nntool/``, see COMMAND.txt): the uNPU-Bench study's AutoTiler memory
reports for five models on the GAP8 (``mem_nums_gap8``) and an NNTool-generated AutoTiler model of
GreenWaves' MNIST example (GAP SDK 3.7). The compile tests put fake ``nntool``, ``gcc`` and (built
by the fake gcc) ``GenTile`` programs on PATH with a fake sourced SDK environment: the fake nntool
writes the recorded real AutoTiler model where the script's ``gen`` command says, the fake
GenTile prints a recorded real AutoTiler report (the study's ``nas``; the two recordings come from
different models). The script, the command lines, the subprocess handling, the error paths and
the parsing run for real; only GreenWaves' programs are replaced.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from npubench.errors import CompilerError, ToolchainMissing
from npubench.targets.catalogue import builtin_dir, load_board_file
from npubench.targets.schema import Board
from npubench.toolchains import get_toolchain
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.nntool import (
    HOMEPAGE,
    TOOLCHAIN,
    NnToolBoardConfig,
    NnToolOptions,
    budgets,
    nntool_script,
    report_from_outputs,
)
from npubench.toolchains.nntool.parse import (
    AutoTilerReport,
    parse_at_model,
    parse_autotiler_report,
)
from npubench.toolchains.run import board_config, compile_with

DATA = Path(__file__).resolve().parents[1] / "data" / "nntool"
MEM_NUMS = DATA / "unpu_bench_mem_nums_gap8.txt"
AT_MODEL = DATA / "aideck_mnist_modelModel.EXCERPT.c"
MODELS = ("resnet", "yolo", "autoenc", "nas", "simplenet")


def _board(name: str) -> Board:
    return load_board_file(builtin_dir() / f"{name}.toml")


def study_sections() -> dict[str, str]:
    """The study's hand-collected file: a model name on its own line, then its report."""
    sections: dict[str, str] = {}
    current = None
    for line in MEM_NUMS.read_text().splitlines():
        if re.fullmatch(r"[a-z0-9]+", line.strip()):
            current = line.strip()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def _report(model: str) -> AutoTilerReport:
    return parse_autotiler_report(study_sections()[model])


# --- the AutoTiler report (the study's GAP8 runs) -------------------------------------------


def test_the_study_file_has_five_reports_with_the_same_budgets() -> None:
    assert tuple(study_sections()) == MODELS
    for model in MODELS:
        rep = _report(model)
        assert [(lv.name, lv.given_bytes) for lv in rep.levels] == [
            ("Shared L1", 52_736),
            ("L2", 400_000),
            ("DefaultRam", 8_000_000),
            ("DefaultFlash", 67_108_864),
        ]
        flash = rep.level("DefaultFlash")
        assert flash is not None
        # The flash image, the flash level and the coefficients are one and the same.
        assert rep.flash_image_bytes == flash.used_bytes == rep.flash_coefficients_bytes
        assert rep.flash_device == "AT_MEM_L3_DEFAULTFLASH"


def test_nas_report_spills_to_l3() -> None:
    rep = _report("nas")
    used = {lv.name: lv.used_bytes for lv in rep.levels}
    assert used == {
        "Shared L1": 52_432,
        "L2": 383_040,
        "DefaultRam": 99_088,
        "DefaultFlash": 358_464,
    }
    assert rep.flash_image == "nas_L3_Flash_Const.dat"
    assert (rep.l3_bandwidth_bytes, rep.l2_bandwidth_bytes) == (93_949, 684_386)
    assert rep.kernel_args_bytes == 646_178 and rep.tiling_overhead == pytest.approx(1.059129)
    assert rep.baseline_bandwidth_bytes == 10_334_706
    assert (rep.baseline_pct_l2, rep.baseline_pct_l3) == (pytest.approx(6.62221), 0.909063)
    assert rep.operations == 36_578_816


@pytest.mark.parametrize(
    ("model", "l1", "l2", "operations"),
    [
        ("resnet", 52_720, 319_768, 18_478_976),
        ("yolo", 51_664, 107_800, 21_545_856),
        ("autoenc", 51_744, 144_456, 202_976),
        ("simplenet", 51_976, 299_224, 18_448_000),
    ],
)
def test_reports_without_l3_spill(model: str, l1: int, l2: int, operations: int) -> None:
    rep = _report(model)
    used = {lv.name: lv.used_bytes for lv in rep.levels}
    assert (used["Shared L1"], used["L2"], used["DefaultRam"]) == (l1, l2, 0)
    assert rep.l3_bandwidth_bytes == 0 and rep.baseline_pct_l3 == 0
    assert rep.operations == operations


def test_garbage_is_no_report() -> None:
    assert not parse_autotiler_report("Segmentation fault\nfoo : bar\n").has_content


# --- the AutoTiler model NNTool generates ---------------------------------------------------


def test_at_model_generators_in_graph_order() -> None:
    nodes = parse_at_model(AT_MODEL.read_text())
    assert [(n.node, n.generator, n.kernel) for n in nodes] == [
        ("input_1_formatter", "CNN_Norm", "S1_Op_input_1_formatter"),
        (
            "DEPTHWISE_CONV_2D_0_0_fusion",
            "CNN_ConvolutionPoolAct_SQ8",
            "S2_Conv2d_32x1x3x3_MaxPool_2x2_Relu",
        ),
        (
            "CONV_2D_0_2_fusion",
            "CNN_ConvolutionPoolAct_SQ8",
            "S3_Conv2d_64x32x3x3_MaxPool_2x2_Relu",
        ),
        ("FULLY_CONNECTED_0_4", "CNN_LinearAct_SQ8", "S4_Linear_10x2x2x64"),
        ("SOFTMAX_0_5", "CNN_SoftMax_SQ8", "S5_SoftMax"),
    ]


def test_generator_calls_after_gen_ctrl_lines_are_found() -> None:
    """Newer SDKs put CNN_GenControl_T set-up between the comment and the call."""
    text = textwrap.dedent(
        """\
        // generator for CONV_2D_0_0_fusion
        CNN_GenControl_T gen_ctrl_S3_Conv2d_24x3x3x3_Relu6;
        CNN_InitGenCtrl(&gen_ctrl_S3_Conv2d_24x3x3x3_Relu6);
        CNN_SetGenCtrl(&gen_ctrl_S3_Conv2d_24x3x3x3_Relu6, "PADTYPE", AT_OPT_VAL(1));
        CNN_ConvolutionPoolAct_SQ8("S3_Conv2d_24x3x3x3_Relu6", &gen_ctrl_S3_Conv2d_24x3x3x3_Relu6,
        """
    )
    [node] = parse_at_model(text)
    assert (node.node, node.kernel) == ("CONV_2D_0_0_fusion", "S3_Conv2d_24x3x3x3_Relu6")


# --- budgets, memory mapping, board tables --------------------------------------------------


def test_gap8_default_budgets_are_the_studys() -> None:
    l1, l2, l3, _ = budgets(_board("gap8"), NnToolOptions())
    given = {lv.name: lv.given_bytes for lv in _report("nas").levels}
    assert (l1, l2, l3) == (given["Shared L1"], given["L2"], given["DefaultRam"])
    assert budgets(_board("gap8"), NnToolOptions(l2_bytes=300_000))[1] == 300_000


def test_gap9_budgets_follow_its_board_and_say_so() -> None:
    l1, l2, l3, notes = budgets(_board("gap9"), NnToolOptions())
    assert (l1, l2, l3) == (131_072 - 12_800, 1_572_864 - 124_288, 8_000_000)
    assert any("no L3 RAM" in n for n in notes)


def test_gap8_report_puts_each_level_on_its_board_memory() -> None:
    board = _board("gap8")
    report = report_from_outputs(
        board,
        _report("nas"),
        parse_at_model(AT_MODEL.read_text()),
        options=NnToolOptions(),
        version="t",
    )
    regions = {m.region: m for m in report.memory}
    assert {k: m.board_memory for k, m in regions.items()} == {
        "Shared L1": "l1",
        "L2": "l2",
        "DefaultRam": "hyperram",
        "DefaultFlash": "hyperflash",
    }
    assert regions["Shared L1"].capacity_bytes == 65_536
    assert report.memory_in("l2") == 383_040
    assert report.memory_in("hyperram") == 99_088
    assert report.memory_in("hyperflash") == 358_464
    assert report.fits and report.cost is None
    assert report.extra["operations"] == 36_578_816
    assert report.op_counts() == {"npu": 5, "cpu": 0}
    assert report.layers[1].reason == (
        "AutoTiler kernel S2_Conv2d_32x1x3x3_MaxPool_2x2_Relu on the gap8-cluster (multi-core)"
    )
    assert any("no cycle" in n for n in report.notes)


def test_gap9_report_keeps_l3_levels_without_a_board_memory() -> None:
    report = report_from_outputs(
        _board("gap9"), _report("nas"), [], options=NnToolOptions(), version="t"
    )
    regions = {m.region: m for m in report.memory}
    assert regions["Shared L1"].board_memory == "l1" and regions["L2"].board_memory == "l2"
    assert regions["DefaultRam"].board_memory is None
    assert regions["DefaultRam"].capacity_bytes == 8_000_000  # the AutoTiler's budget


def test_board_tables_and_script() -> None:
    for chip in ("gap8", "gap9"):
        board = _board(chip)
        config = board_config(TOOLCHAIN, board)
        assert isinstance(config, NnToolBoardConfig) and config.chip == chip
        assert board.toolchain == "nntool"
    assert get_toolchain("nntool") is TOOLCHAIN
    script = nntool_script(Path("/w/BUILD_MODEL")).splitlines()
    assert script[:3] == ["adjust", "fusions --scale8", "show"]
    assert script[3] == "gen modelModel.c -M /w/BUILD_MODEL -T /w/BUILD_MODEL/tensors -t"
    assert script[4] == "save_state /w/BUILD_MODEL"


def test_detect_without_the_sdk_says_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for var in ("GAP_SDK_HOME", "TILER_LIB", "TILER_INC", "TILER_EMU_INC"):
        monkeypatch.delenv(var, raising=False)
    info = TOOLCHAIN.detect()
    assert not info.available
    assert info.detail.startswith(f"not installed: get it from {HOMEPAGE}")
    assert "nntool" in info.detail and "$GAP_SDK_HOME" in info.detail


# --- the compile path, on fake nntool / gcc / GenTile replaying recorded outputs ------------

_FAKE_NNTOOL = textwrap.dedent(
    """\
    #!{python}
    # Fake nntool: runs nothing, writes the recorded real AutoTiler model where `gen` says.
    import os, pathlib, shutil, sys
    args = sys.argv[1:]
    pathlib.Path(os.environ["FAKE_LOG_DIR"], "nntool.args").write_text("\\n".join(args))
    mode = os.environ.get("FAKE_MODE", "ok")
    script = pathlib.Path(args[args.index("-s") + 1]).read_text().splitlines()
    print("\\n".join("nntool> " + line for line in script))
    if mode == "nntool_fail":
        print("ERROR: Unsupported operator BROADCAST_TO in node 7")
        sys.exit(1)
    if mode == "nntool_nomodel":
        print("ERROR: graph is not adjusted")
        sys.exit(0)
    gen = next(line.split() for line in script if line.startswith("gen "))
    folder = pathlib.Path(gen[gen.index("-M") + 1])
    shutil.copyfile(os.environ["FAKE_AT_MODEL"], folder / gen[1])
    """
)
_FAKE_GCC = textwrap.dedent(
    """\
    #!{python}
    # Fake gcc: writes a GenTile that prints the recorded real AutoTiler report.
    import os, pathlib, sys
    args = sys.argv[1:]
    pathlib.Path(os.environ["FAKE_LOG_DIR"], "gcc.args").write_text("\\n".join(args))
    out = pathlib.Path(args[args.index("-o") + 1])
    out.write_text(
        "#!" + sys.executable + "\\n"
        "import os, pathlib, sys\\n"
        "log = pathlib.Path(os.environ['FAKE_LOG_DIR'], 'gentile.args')\\n"
        "log.write_text('\\\\n'.join(sys.argv[1:]))\\n"
        "mode = os.environ.get('FAKE_MODE', 'ok')\\n"
        "if mode == 'tiler_fail':\\n"
        "    print('Error: S3_Conv2d_64x32x3x3: cannot tile, L1 memory too small')\\n"
        "    sys.exit(1)\\n"
        "if mode == 'tiler_garbage':\\n"
        "    print('@@@ garbage @@@')\\n"
        "    sys.exit(0)\\n"
        "print(pathlib.Path(os.environ['FAKE_REPORT']).read_text())\\n"
    )
    out.chmod(0o755)
    """
)


def _script(path: Path, body: str) -> None:
    path.write_text(body.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _fake_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str = "ok", family: str = "GAP8"
) -> Path:
    bin_dir, sdk, logs = tmp_path / "bin", tmp_path / "gap_sdk", tmp_path / "logs"
    for d in (bin_dir, sdk, logs):
        d.mkdir()
    _script(bin_dir / "nntool", _FAKE_NNTOOL)
    _script(bin_dir / "gcc", _FAKE_GCC)
    gen, gen_sq8, nn_gen, inc = sdk / "gen", sdk / "gen_sq8", sdk / "nntool_gen", sdk / "inc"
    for d in (gen, gen_sq8, nn_gen, inc):
        d.mkdir()
    for path in (
        gen / "CNN_Generator_Util.c",
        gen_sq8 / "CNN_Generators_SQ8.c",
        gen_sq8 / "RNN_Generators_SQ8.c",
        nn_gen / "nntool_extra_generators.c",
        inc / "AutoTilerLib.h",
    ):
        path.write_text("/* empty stand-in */\n")
    env = {
        "GAP_SDK_HOME": str(sdk),
        "TARGET_CHIP_FAMILY": family,
        "TILER_INC": str(inc),
        "TILER_EMU_INC": str(inc),
        "TILER_LIB": str(sdk / "libtile.a"),
        "TILER_CNN_GENERATOR_PATH": str(gen),
        "TILER_CNN_GENERATOR_PATH_SQ8": str(gen_sq8),
        "NNTOOL_GENERATOR_PATH": str(nn_gen),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_LOG_DIR": str(logs),
        "FAKE_MODE": mode,
        "FAKE_AT_MODEL": str(AT_MODEL),
        "NPUBENCH_CACHE_DIR": str(tmp_path / "cache"),
    }
    report = tmp_path / "nas_report.txt"
    report.write_text(study_sections()["nas"])
    env["FAKE_REPORT"] = str(report)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for var in ("TILER_CNN_KERNEL_PATH", "TILER_CNN_KERNEL_PATH_SQ8", "NNTOOL_KERNELS_PATH"):
        monkeypatch.delenv(var, raising=False)
    return logs


def _model(tmp_path: Path) -> CompileInput:
    path = tmp_path / "in.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3 not read by the fake nntool")
    return CompileInput.from_tflite(path)


def test_compile_on_fake_sdk_replaying_recorded_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fake nntool/gcc/GenTile replay the recorded real AutoTiler model and the study's real
    AutoTiler report for nas."""
    logs = _fake_sdk(tmp_path, monkeypatch)
    info = TOOLCHAIN.detect()
    assert info.available and info.version and info.version.startswith("gap_sdk")
    report = compile_with(TOOLCHAIN, _model(tmp_path), _board("gap8"))
    nntool_args = (logs / "nntool.args").read_text().split("\n")
    assert nntool_args[0] == "-s" and nntool_args[2].endswith("model.tflite")
    assert nntool_args[3] == "-q"
    gcc_args = (logs / "gcc.args").read_text().split("\n")
    assert gcc_args[gcc_args.index("-o") + 1].endswith("BUILD_MODEL/GenTile")
    sources = [Path(a).name for a in gcc_args if a.endswith(".c")]
    # The model itself, then the generators its #includes name (+ the shared util file).
    assert sources == [
        "modelModel.c",
        "CNN_Generator_Util.c",
        "CNN_Generators_SQ8.c",
        "RNN_Generators_SQ8.c",
        "nntool_extra_generators.c",
    ]
    assert gcc_args[-1].endswith("libtile.a")
    tiler_args = (logs / "gentile.args").read_text().split("\n")
    assert tiler_args[tiler_args.index("--L1") + 1] == "52736"
    assert tiler_args[tiler_args.index("--L2") + 1] == "400000"
    assert tiler_args[tiler_args.index("--L3") + 1] == "8000000"
    assert report.memory_in("l2") == 383_040 and report.memory_in("hyperram") == 99_088
    assert [lay.op for lay in report.layers][:2] == ["CNN_Norm", "CNN_ConvolutionPoolAct_SQ8"]
    assert report.extra["operations"] == 36_578_816
    artifacts = {a.path for a in report.artifacts}
    assert {"nntool_script.txt", "autotiler_console.txt", "BUILD_MODEL/modelModel.c"} <= artifacts


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("nntool_fail", "nntool failed (exit status 1)"),
        ("nntool_nomodel", "nntool wrote no AutoTiler model"),
        ("tiler_fail", "the AutoTiler (GenTile) failed (exit status 1)"),
        ("tiler_garbage", "the AutoTiler printed no memory report"),
    ],
)
def test_failures_of_each_step_are_compiler_errors_with_the_log_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, expected: str
) -> None:
    _fake_sdk(tmp_path, monkeypatch, mode)
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board("gap8"))
    assert expected in err.value.message
    tail = {
        "nntool_fail": "Unsupported operator BROADCAST_TO",
        "nntool_nomodel": "graph is not adjusted",
        "tiler_fail": "L1 memory too small",
        "tiler_garbage": "@@@ garbage @@@",
    }[mode]
    assert tail in err.value.message


def test_sdk_sourced_for_another_chip_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_sdk(tmp_path, monkeypatch, family="GAP9")
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board("gap8"))
    assert "targets GAP9" in err.value.message


def test_compile_without_the_sdk_is_toolchain_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("GAP_SDK_HOME", raising=False)
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolchainMissing) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board("gap9"))
    assert HOMEPAGE in str(err.value)

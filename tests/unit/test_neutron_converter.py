"""The NXP eIQ Neutron converter plug-in: its console parser on published transcripts, placement
from a converted model, and its compile path on a fake ``neutron-converter``.

The console tests read transcripts kept in ``tests/data/neutron_converter/`` (see COMMAND.txt):
an eIQ Toolkit 1.17.0 conversion and the graph memory statistics block of NXP's MCUXpresso
examples. No converted ``.tflite`` could be recorded here (the study's ``*_eiq.tflite`` files are
binaries in a repository too large to fetch), so the tests build a small TFLite flatbuffer shaped
like the converter's output: one ``NEUTRON_GRAPH`` custom operator followed by TFLite builtins,
as many as the recorded transcript says stayed unconverted. The fake ``neutron-converter`` put on
PATH replays the recorded real transcript on its console and writes that file where the real
tool writes its output (``--output``), so the command line, the subprocess handling, the error
paths and the parsing run for real; only NXP's program is replaced.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest
from ethosu.vela.tflite import Buffer, Model, Operator, OperatorCode, SubGraph, Tensor
from ethosu.vela.tflite.BuiltinOperator import BuiltinOperator
from ethosu.vela.tflite.TensorType import TensorType

from npubench.analysis.tflite_reader import read_tflite
from npubench.errors import CompilerError, ToolchainMissing
from npubench.targets.catalogue import builtin_dir, load_board_file
from npubench.targets.schema import Board
from npubench.toolchains import get_toolchain
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.neutron_converter import (
    ENV_VAR,
    HOMEPAGE,
    TOOLCHAIN,
    NeutronBoardConfig,
    build_command,
    layers_from_converted,
    report_from_outputs,
)
from npubench.toolchains.neutron_converter.parse import parse_console
from npubench.toolchains.run import board_config, compile_with

DATA = Path(__file__).resolve().parents[1] / "data" / "neutron_converter"
TRANSCRIPT = DATA / "eiq1.17.0_imx95_yolov8s-seg_console.txt"
GRAPH_STATS = DATA / "mcxn94x_readme_graph_statistics.EXCERPT.txt"
# Builtins the synthetic converted model keeps on the CPU (the transcript's 35, cycled).
CPU_OPS = ("RESHAPE", "CONCATENATION", "LOGISTIC", "MUL", "SOFTMAX")


def _board() -> Board:
    return load_board_file(builtin_dir() / "mcxn947.toml")


def converted_tflite(path: Path, cpu_ops: int = 35) -> Path:
    """A TFLite model shaped like neutron-converter's output: ``NEUTRON_GRAPH`` (input, a
    constant microcode buffer) then a chain of ``cpu_ops`` builtins."""
    b = flatbuffers.Builder(4096)

    def vector(start: Callable[[Any, int], Any], offsets: list[int]) -> int:
        start(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return int(b.EndVector())

    microcode = b.CreateNumpyVector(np.arange(64, dtype=np.uint8))
    Buffer.BufferStart(b)
    empty = Buffer.BufferEnd(b)
    Buffer.BufferStart(b)
    Buffer.BufferAddData(b, microcode)
    constant = Buffer.BufferEnd(b)
    buffers = vector(Model.ModelStartBuffersVector, [empty, constant])

    n_tensors = cpu_ops + 3  # input, microcode, neutron output, one output per CPU operator
    tensors = []
    for i in range(n_tensors):
        name = b.CreateString("microcode" if i == 1 else f"t{i}")
        shape = b.CreateNumpyVector(np.array([64] if i == 1 else [1, 10], dtype=np.int32))
        Tensor.TensorStart(b)
        Tensor.TensorAddShape(b, shape)
        Tensor.TensorAddType(b, TensorType.INT8)
        Tensor.TensorAddBuffer(b, 1 if i == 1 else 0)
        Tensor.TensorAddName(b, name)
        tensors.append(Tensor.TensorEnd(b))
    tensor_vec = vector(SubGraph.SubGraphStartTensorsVector, tensors)

    codes = []
    custom = b.CreateString("NEUTRON_GRAPH")
    OperatorCode.OperatorCodeStart(b)
    OperatorCode.OperatorCodeAddDeprecatedBuiltinCode(b, BuiltinOperator.CUSTOM)
    OperatorCode.OperatorCodeAddBuiltinCode(b, BuiltinOperator.CUSTOM)
    OperatorCode.OperatorCodeAddCustomCode(b, custom)
    codes.append(OperatorCode.OperatorCodeEnd(b))
    for name in CPU_OPS:
        code = getattr(BuiltinOperator, name)
        OperatorCode.OperatorCodeStart(b)
        OperatorCode.OperatorCodeAddDeprecatedBuiltinCode(b, code)
        OperatorCode.OperatorCodeAddBuiltinCode(b, code)
        codes.append(OperatorCode.OperatorCodeEnd(b))
    code_vec = vector(Model.ModelStartOperatorCodesVector, codes)

    ops = []
    wiring = [(0, [0, 1], [2])] + [(1 + i % len(CPU_OPS), [2 + i], [3 + i]) for i in range(cpu_ops)]
    for opcode, inputs, outputs in wiring:
        ins = b.CreateNumpyVector(np.array(inputs, dtype=np.int32))
        outs = b.CreateNumpyVector(np.array(outputs, dtype=np.int32))
        Operator.OperatorStart(b)
        Operator.OperatorAddOpcodeIndex(b, opcode)
        Operator.OperatorAddInputs(b, ins)
        Operator.OperatorAddOutputs(b, outs)
        ops.append(Operator.OperatorEnd(b))
    op_vec = vector(SubGraph.SubGraphStartOperatorsVector, ops)

    g_in = b.CreateNumpyVector(np.array([0], dtype=np.int32))
    g_out = b.CreateNumpyVector(np.array([n_tensors - 1], dtype=np.int32))
    SubGraph.SubGraphStart(b)
    SubGraph.SubGraphAddTensors(b, tensor_vec)
    SubGraph.SubGraphAddInputs(b, g_in)
    SubGraph.SubGraphAddOutputs(b, g_out)
    SubGraph.SubGraphAddOperators(b, op_vec)
    graph = SubGraph.SubGraphEnd(b)
    graphs = vector(Model.ModelStartSubgraphsVector, [graph])

    Model.ModelStart(b)
    Model.ModelAddVersion(b, 3)
    Model.ModelAddOperatorCodes(b, code_vec)
    Model.ModelAddSubgraphs(b, graphs)
    Model.ModelAddBuffers(b, buffers)
    b.Finish(Model.ModelEnd(b), file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
    return path


# --- the console parser ---------------------------------------------------------------------


def test_eiq_117_transcript_conversion_statistics() -> None:
    c = parse_console(TRANSCRIPT.read_text())
    assert (c.input, c.output, c.target) == (
        "yolov8s-seg_full_integer_quant.tflite",
        "yolov8s-seg_full_integer_quant_converted.tflite",
        "imx95",
    )
    assert (c.after_import, c.after_optimize) == (293, 338)
    assert (c.converted, c.not_converted) == (303, 35)
    assert (c.after_extract, c.neutron_graphs, c.not_converted_after_extract) == (36, 1, 35)
    assert c.ratio == pytest.approx(303 / 338, abs=1e-5)
    assert len(c.converted_indices) == 303
    assert (c.converted_indices[0], c.converted_indices[-1]) == (0, 337)
    assert c.times_s == {"optimization": 0.0457691, "extraction": 0.459354, "generation": 154.223}
    assert c.has_statistics and not c.graphs


def test_graph_memory_statistics_block() -> None:
    c = parse_console(GRAPH_STATS.read_text())
    main = c.graphs["main"]
    assert (main.data, main.weights, main.total) == (16_512, 30_400, 46_912)
    assert main.data + main.weights == main.total


def test_garbage_has_no_statistics() -> None:
    assert not parse_console("Segmentation fault\n\x00\x01 = \n").has_statistics


# --- placement from the converted model -----------------------------------------------------


def test_neutron_graph_is_npu_and_builtins_are_cpu(tmp_path: Path) -> None:
    record = read_tflite(converted_tflite(tmp_path / "m.tflite"))
    console = parse_console(TRANSCRIPT.read_text())
    layers = layers_from_converted(record, console, "cortex-m33")
    assert len(layers) == 36 == console.after_extract
    assert layers[0].placement == "npu" and layers[0].op == "NEUTRON_GRAPH"
    assert layers[0].extra["converted_operators"] == 303
    assert {lay.placement for lay in layers[1:]} == {"cpu"}
    assert layers[1].op == "RESHAPE" and "cortex-m33" in layers[1].reason


def test_report_maps_model_to_flash_and_total_data_to_sram(tmp_path: Path) -> None:
    path = converted_tflite(tmp_path / "m.tflite", cpu_ops=1)
    console = parse_console(GRAPH_STATS.read_text())
    report = report_from_outputs(
        _board(), read_tflite(path), console, path.stat().st_size, version="test"
    )
    regions = {m.region: m for m in report.memory}
    assert regions["converted model"].board_memory == "flash"
    assert regions["converted model"].used_bytes == path.stat().st_size
    assert regions["Total data"].board_memory == "sram"
    assert regions["Total data"].used_bytes == 16_512
    assert regions["Total data"].capacity_bytes == 524_288
    assert report.extra["graph_memory"]["weights"] == 30_400
    assert report.cost is None and report.fits
    assert report.op_counts() == {"npu": 1, "cpu": 1}  # no operator count in this console


# --- board file and command line ------------------------------------------------------------


def test_board_table_and_study_command_line(tmp_path: Path) -> None:
    board = _board()
    config = board_config(TOOLCHAIN, board)
    assert isinstance(config, NeutronBoardConfig) and config.target == "mcxn94x"
    assert board.toolchain == "neutron-converter"
    assert get_toolchain("neutron-converter") is TOOLCHAIN
    cmd = build_command(Path("nc"), Path("m.tflite"), Path("m_eiq.tflite"), "mcxn94x")
    study = (DATA / "unpu_bench_cmd_s.md").read_text()
    assert "neutron-converter --input {model}_full_integer_quant.tflite --output" in study
    assert cmd == ["nc", "--input", "m.tflite", "--output", "m_eiq.tflite", "--target", "mcxn94x"]


def test_detect_without_the_tool_says_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    info = TOOLCHAIN.detect()
    assert not info.available
    assert info.detail.startswith(f"not installed: get it from {HOMEPAGE}")
    assert ENV_VAR in info.detail and "neutron-converter" in info.detail


# --- the compile path, on a fake neutron-converter replaying a recorded transcript ----------

_FAKE = textwrap.dedent(
    """\
    #!{python}
    # Fake neutron-converter for npubench's tests: prints a recorded real transcript
    # (FAKE_CONSOLE) and writes a prepared converted model (FAKE_OUTPUT) where --output says.
    import os, pathlib, shutil, sys
    args = sys.argv[1:]
    if "--version" in args:
        print("unknown option --version", file=sys.stderr)
        sys.exit(1)
    pathlib.Path(os.environ["FAKE_ARGS_LOG"]).write_text("\\n".join(args))
    mode = os.environ.get("FAKE_MODE", "ok")
    print(pathlib.Path(os.environ["FAKE_CONSOLE"]).read_text())
    if mode == "fail":
        print("ERROR: conversion failed", file=sys.stderr)
        sys.exit(2)
    output = pathlib.Path(args[args.index("--output") + 1])
    if mode == "nooutput":
        sys.exit(0)
    if mode == "garbage":
        output.write_bytes(b"\\x00garbage, not a flatbuffer\\x00")
        print("last garbage line")
        sys.exit(0)
    shutil.copyfile(os.environ["FAKE_OUTPUT"], output)
    """
)


def _install_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str = "ok", where: Path | None = None
) -> Path:
    fake = where or tmp_path / "bin" / "neutron-converter"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text(_FAKE.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    if where is None:
        monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, str(fake))
    monkeypatch.setenv("FAKE_CONSOLE", str(TRANSCRIPT))
    monkeypatch.setenv("FAKE_OUTPUT", str(converted_tflite(tmp_path / "converted.tflite")))
    monkeypatch.setenv("FAKE_ARGS_LOG", str(tmp_path / "args.txt"))
    monkeypatch.setenv("FAKE_MODE", mode)
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "args.txt"


def _model(tmp_path: Path) -> CompileInput:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3 not read by the fake converter")
    return CompileInput.from_tflite(path)


def test_compile_on_fake_converter_replaying_a_recorded_transcript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake prints the recorded real eIQ 1.17.0 transcript and writes a converted model."""
    where = (
        tmp_path / "eIQ_Toolkit_v1.13.1/bin/neutron-converter/MCU_SDK_2.16.000/neutron-converter"
    )
    args = _install_fake(tmp_path, monkeypatch, where=where)
    info = TOOLCHAIN.detect()
    assert info.available and info.version == "eIQ Toolkit 1.13.1 / MCU SDK 2.16.000"
    report = compile_with(TOOLCHAIN, _model(tmp_path), _board())
    called = args.read_text().split("\n")
    assert called[0] == "--input" and called[called.index("--target") + 1] == "mcxn94x"
    assert called[called.index("--output") + 1].endswith("model_neutron.tflite")
    assert report.ops == {"npu": 303, "cpu": 35}  # the converter's own operator counts
    assert sum(lay.placement == "npu" for lay in report.layers) == 1
    assert sum(lay.placement == "cpu" for lay in report.layers) == 35
    assert report.memory_in("flash") == (tmp_path / "converted.tflite").stat().st_size
    assert report.memory_in("sram") == 0  # this transcript prints no memory statistics
    assert any("no memory statistics" in n for n in report.notes)
    assert any("target 'imx95'" in n for n in report.notes)  # the transcript's own target
    assert "model_neutron.tflite" in {a.path for a in report.artifacts}
    assert report.tool_version == "eIQ Toolkit 1.13.1 / MCU SDK 2.16.000"


def test_converter_exiting_nonzero_is_a_compiler_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake(tmp_path, monkeypatch, "fail")
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board())
    assert "exit status 2" in err.value.message
    assert "ERROR: conversion failed" in err.value.message


def test_garbage_output_is_a_compiler_error_with_the_log_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake(tmp_path, monkeypatch, "garbage")
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board())
    assert "not a TFLite model" in err.value.message
    assert "last garbage line" in err.value.message


def test_missing_output_is_a_compiler_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake(tmp_path, monkeypatch, "nooutput")
    with pytest.raises(CompilerError) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board())
    assert "without writing model_neutron.tflite" in err.value.message


def test_compile_without_the_tool_is_toolchain_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolchainMissing) as err:
        compile_with(TOOLCHAIN, _model(tmp_path), _board())
    assert "eIQ" in str(err.value)

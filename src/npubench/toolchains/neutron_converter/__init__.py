"""NXP eIQ Neutron converter (``neutron-converter``): the MCX N94x NPU's model converter.

A proprietary program npubench cannot install: it ships with NXP's eIQ Toolkit (and the eIQ
Neutron SDK); npubench finds it as ``$NPUBENCH_NEUTRON_CONVERTER``, else ``neutron-converter``
(or ``neutron_converter``) on PATH. ``compile`` runs, as the uNPU-Bench study did (its cmd_s.md)
plus the target NXP's MCUXpresso examples pass for the FRDM-MCXN947::

    neutron-converter --input M.tflite --output M_neutron.tflite --target mcxn94x

The converter rewrites the int8 TFLite model: operators it supports are folded into custom
``NEUTRON_GRAPH`` operators (microcode + weights for the eIQ Neutron NPU), the others stay TFLite
builtins that TFLM runs on the Cortex-M33. Placement is read from the converted file itself
(``npubench.analysis.tflite_reader``): each Neutron custom operator is an NPU layer, each
remaining builtin a CPU layer; the console's statistics (``parse``) give how many original
operators went into the Neutron graphs and, for converters that print it, the memory of the
graph (``Total data`` = the TFLM tensor arena's tensors). The converter estimates no time.

May import errors, processes, targets, analysis (the TFLite reader), toolchains.base/inputs and
this package's parser.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from npubench import processes
from npubench.errors import AnalysisError, CompilerError, ToolchainMissing
from npubench.targets.schema import Board, Memory
from npubench.toolchains.base import (
    CompileReport,
    LayerReport,
    MemoryRegion,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.neutron_converter.parse import NeutronConsole, parse_console

if TYPE_CHECKING:
    from npubench.analysis.tflite_reader import ModelRecord

__all__ = [
    "ENV_VAR",
    "HOMEPAGE",
    "TOOLCHAIN",
    "NeutronBoardConfig",
    "NeutronConverter",
    "build_command",
    "find_tool",
    "is_neutron_op",
    "layers_from_converted",
    "report_from_outputs",
]

ENV_VAR = "NPUBENCH_NEUTRON_CONVERTER"
PROGRAMS = ("neutron-converter", "neutron_converter")
HOMEPAGE = (
    "https://www.nxp.com/design/design-center/software/eiq-ai-development-environment/"
    "eiq-toolkit-for-end-to-end-model-development-and-deployment:EIQ-TOOLKIT"
)
INSTALL = (
    f"get the eIQ Toolkit (or the eIQ Neutron SDK) from {HOMEPAGE} and put `neutron-converter` "
    f"on PATH, or set ${ENV_VAR} to its path"
)
OUTPUT_NAME = "model_neutron.tflite"
CONSOLE_NAME = "neutron_console.txt"
TIMEOUT_S = 1800
VERSION_TIMEOUT_S = 30
NO_COST_NOTE = (
    "neutron-converter gives no latency or cycle estimate; the time comes from a board run or "
    "npubench's predictor"
)
# Versions the install path carries (eIQ Toolkit, its MCU SDK converter folder, Neutron SDK).
_PATH_VERSIONS = (
    ("eIQ Toolkit", r"eIQ_Toolkit_v(\d+(?:\.\d+)+)"),
    ("MCU SDK", r"MCU_SDK_([0-9][\w.+-]*?)(?:[\\/]|$)"),
    ("Neutron SDK", r"eiq-neutron-sdk-[a-z]+-(\d+(?:\.\d+)+)"),
)


class NeutronBoardConfig(StrictModel):
    """The board file's ``[toolchains.neutron-converter]`` table."""

    target: str  # --target: mcxn94x (MCX N94x/N54x), imxrt700, imx95, ...


def find_tool() -> Path | None:
    """``$NPUBENCH_NEUTRON_CONVERTER``, else ``neutron-converter`` on PATH; None if neither."""
    named = os.environ.get(ENV_VAR)
    if named:
        path = Path(named).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    for program in PROGRAMS:
        found = shutil.which(program)
        if found:
            return Path(found)
    return None


@functools.cache
def _version(path: str, size: int, mtime: float) -> str:
    found = [f"{label} {m.group(1)}" for label, rx in _PATH_VERSIONS if (m := re.search(rx, path))]
    if found:
        return " / ".join(found)
    try:
        done = processes.run([path, "--version"], text=True, timeout=VERSION_TIMEOUT_S)
        for line in (done.stdout + "\n" + done.stderr).splitlines():
            m = re.search(r"\b[vV]?(\d+\.\d+(?:\.\d+)*)\b", line)
            if m and "version" in line.lower():
                return m.group(1)
    except (OSError, subprocess.SubprocessError):
        pass
    # No version anywhere: identify the program by its file so that a new one is not taken
    # for the old one by the cache.
    return f"unknown ({size} B, mtime {int(mtime)})"


def tool_version(tool: Path) -> str:
    """The converter's version: from its install path (eIQ Toolkit / MCU SDK folder names),
    else ``--version``, else its size and date."""
    st = tool.stat()
    return _version(str(tool.resolve()), st.st_size, st.st_mtime)


def build_command(tool: Path, tflite: Path, output: Path, target: str) -> list[str]:
    """The study's command line (``--input``, ``--output``) with the board's ``--target``."""
    return [str(tool), "--input", str(tflite), "--output", str(output), "--target", target]


def is_neutron_op(op: str) -> bool:
    """Whether a TFLite operator name (``CUSTOM:NEUTRON_GRAPH``) is a Neutron graph."""
    return op.startswith("CUSTOM:") and "neutron" in op.lower()


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def first_error(text: str) -> str | None:
    for line in text.splitlines():
        if re.search(r"\b(error|failed|unsupported|exception)\b", line, re.IGNORECASE):
            return line.strip()
    return None


def layers_from_converted(
    record: ModelRecord, console: NeutronConsole | None, cpu_core: str
) -> list[LayerReport]:
    """One layer per operator of the converted model (a ``tflite_reader.ModelRecord``)."""
    graphs = sum(is_neutron_op(op.op) for op in record.operators)
    folded = console.converted if console is not None and graphs == 1 else None
    out = []
    for op in record.operators:
        name = record.tensors[op.outputs[0]].name if op.outputs else f"op{op.index}"
        if is_neutron_op(op.op):
            reason = "Neutron graph: the operators neutron-converter folded into it run on the NPU"
            if folded is not None:
                reason += f" ({folded} operators of the optimized graph)"
            out.append(
                LayerReport(
                    index=op.index,
                    name=name,
                    op=op.op.removeprefix("CUSTOM:"),
                    placement="npu",
                    reason=reason,
                    extra={"converted_operators": folded},
                )
            )
        else:
            out.append(
                LayerReport(
                    index=op.index,
                    name=name,
                    op=op.op,
                    placement="cpu",
                    reason=f"not converted by neutron-converter: TFLM kernel on the {cpu_core}",
                )
            )
    return out


def _largest(board: Board, roles: tuple[str, ...]) -> Memory | None:
    for role in roles:
        found = board.memories_with_role(role)
        if found:
            return max(found, key=lambda m: m.capacity_bytes)
    return None


def report_from_outputs(
    board: Board,
    record: ModelRecord,
    console: NeutronConsole,
    image_bytes: int,
    *,
    version: str,
    original_operators: int | None = None,
    seconds_tool: float | None = None,
) -> CompileReport:
    """A ``CompileReport`` from the converted model (``ModelRecord``), its size and the console."""
    layers = layers_from_converted(record, console, board.cpu.core)
    npu_graphs = sum(lay.placement == "npu" for lay in layers)
    cpu_ops = sum(lay.placement == "cpu" for lay in layers)
    notes = [NO_COST_NOTE]
    if npu_graphs == 0:
        notes.append("neutron-converter converted no operator: the whole model runs on the CPU")
    left = console.not_converted_after_extract
    if left is not None and left != cpu_ops:
        notes.append(
            f"the converter says {left} operators were not converted, the converted file has "
            f"{cpu_ops} non-Neutron operators"
        )
    flash, ram = _largest(board, ("flash",)), _largest(board, ("sram", "tcm"))
    memory = [
        MemoryRegion(
            region="converted model",
            used_bytes=image_bytes,
            capacity_bytes=flash.capacity_bytes if flash else None,
            board_memory=flash.name if flash else None,
            what="the converted .tflite: Neutron microcode and weights, CPU operators' constants",
        )
    ]
    graph = console.graphs.get("main") or next(iter(console.graphs.values()), None)
    if graph is not None and graph.data is not None:
        memory.append(
            MemoryRegion(
                region="Total data",
                used_bytes=graph.data,
                capacity_bytes=ram.capacity_bytes if ram else None,
                board_memory=ram.name if ram else None,
                what="inputs + outputs + intermediate tensors as the converter counts them "
                "(NXP sizes the TFLM arena about 5 % above this)",
            )
        )
    else:
        notes.append(
            "this converter printed no memory statistics: the tensor arena in SRAM is not reported"
        )
    ops = {
        "npu": console.converted if console.converted is not None else npu_graphs,
        "cpu": cpu_ops,
    }
    extra: dict[str, Any] = {
        "target": console.target,
        "neutron_graphs": npu_graphs,
        "operators_after_import": console.after_import,
        "operators_after_optimize": console.after_optimize,
        "operators_converted": console.converted,
        "operators_not_converted": console.not_converted,
        "conversion_ratio": console.ratio,
        "converter_times_s": console.times_s,
        "original_operators": original_operators,
        "image_bytes": image_bytes,
    }
    if graph is not None:
        extra["graph_memory"] = {"data": graph.data, "weights": graph.weights, "total": graph.total}
    return CompileReport(
        toolchain="neutron-converter",
        tool="neutron-converter",
        tool_version=version,
        plugin_version=NeutronConverter.plugin_version,
        target=board.name,
        frontend="tflite-int8",
        layers=layers,
        memory=memory,
        cost=None,
        ops=ops,
        notes=notes,
        extra=extra,
        seconds_tool=seconds_tool,
    )


class NeutronConverter(Toolchain):
    name = "neutron-converter"
    display_name = "NXP eIQ Neutron converter"
    tool = "neutron-converter"
    consumes = "tflite-int8"
    frontend = "tflite"
    gives = ("placement", "memory")
    homepage = HOMEPAGE
    BoardConfig = NeutronBoardConfig

    def detect(self) -> ToolchainInfo:
        tool = find_tool()
        if tool is None:
            named = os.environ.get(ENV_VAR)
            where = (
                f"${ENV_VAR}={named} is not an executable file"
                if named
                else f"no `neutron-converter` on PATH and ${ENV_VAR} unset"
            )
            return ToolchainInfo(
                name=self.name,
                display_name=self.display_name,
                tool=self.tool,
                version=None,
                available=False,
                environment="not found",
                install=INSTALL,
                detail=f"not installed: get it from {HOMEPAGE} ({where})",
            )
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=tool_version(tool),
            available=True,
            environment=str(tool),
            install=INSTALL,
            detail=str(tool),
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        if not (board.memories_with_role("flash") and board.memories_with_role("sram")):
            return ["the board needs a flash and an sram memory for the model and its tensors"]
        return []

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        from npubench.analysis.tflite_reader import read_tflite

        assert isinstance(config, NeutronBoardConfig)
        tool = find_tool()
        if tool is None:
            raise ToolchainMissing(f"{self.display_name} is not installed here", INSTALL)
        tflite = model.tflite_int8
        if not tflite.is_file():
            raise CompilerError(f"model file {tflite} does not exist", "give the path of a .tflite")
        output = workdir / OUTPUT_NAME
        cmd = build_command(tool, tflite, output, config.target)
        started = time.perf_counter()
        try:
            done = processes.run(cmd, text=True, timeout=TIMEOUT_S, cwd=workdir)
        except subprocess.TimeoutExpired as e:
            raise CompilerError(
                f"neutron-converter did not finish within {TIMEOUT_S} s on {tflite.name} (stopped)",
                "try a smaller model",
            ) from e
        except OSError as e:
            raise ToolchainMissing(f"cannot run {tool}: {e}", INSTALL) from e
        seconds = time.perf_counter() - started
        console_text = (done.stdout or "") + "\n" + (done.stderr or "")
        (workdir / CONSOLE_NAME).write_text(console_text)
        log = f"the full console output is {workdir / CONSOLE_NAME}"
        if done.returncode != 0:
            why = first_error(console_text) or "no error message"
            raise CompilerError(
                f"neutron-converter rejected {tflite.name} (exit status {done.returncode}): "
                f"{why}\n{_tail(console_text)}",
                f"the converter's message above names the operator or option; {log}",
            )
        if not output.is_file():
            raise CompilerError(
                f"neutron-converter ended without writing {output.name}:\n{_tail(console_text)}",
                log,
            )
        try:
            record = read_tflite(output)
        except AnalysisError as e:
            raise CompilerError(
                f"neutron-converter wrote {output.name}, which is not a TFLite model "
                f"({e.message}):\n{_tail(console_text)}",
                log,
            ) from e
        try:
            original: int | None = len(read_tflite(tflite).operators)
        except AnalysisError:
            original = None
        console = parse_console(console_text)
        report = report_from_outputs(
            board,
            record,
            console,
            output.stat().st_size,
            version=tool_version(tool),
            original_operators=original,
            seconds_tool=seconds,
        )
        if console.target is not None and console.target != config.target:
            report.notes.append(
                f"the converter reports target {console.target!r}, npubench asked for "
                f"{config.target!r}"
            )
        if not console.has_statistics:
            report.notes.append(
                "the converter printed no conversion statistics; placement comes from the "
                "converted file alone"
            )
        report.log_tail = _tail(console_text)
        return report


TOOLCHAIN = NeutronConverter()

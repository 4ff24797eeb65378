"""ST Edge AI Core (``stedgeai``, and X-CUBE-AI's older ``stm32ai``): the STM32 model compiler.

A proprietary program npubench cannot install: the user installs it from ST and npubench finds
it as ``$NPUBENCH_STEDGEAI`` (the path of ``stedgeai`` or ``stm32ai``), else ``stedgeai`` or
``stm32ai`` on PATH. ``compile`` runs its ``analyze`` command on npubench's int8 TFLite::

    stedgeai analyze --model M.tflite --target <target> --type tflite --name network
        --compression none --optimization balanced --workspace W --output O
        [--st-neural-art [<profile>@<file.json>]]      (STM32N6: the Neural-ART compiler)
    stm32ai analyze --name network -m M.tflite --type tflite --compression none
        --workspace W --output O --allocate-inputs --allocate-outputs --series <series>

(options as ``stedgeai --help`` of 4.0.1 lists them; the ``stm32ai`` form is the one in the
uNPU-Bench study's X-CUBE-AI 8.0.1 reports) and parses the report it writes,
``O/network_analyze_report.txt`` (``parse``): per-layer placement (Neural-ART HW/EC epochs on
the NPU, software epochs and every STM32H7 C kernel on the CPU), the weights and activations in
the board's memories, MACC. ST's reports give no latency or cycle estimate; the plug-in says so
in the report's notes rather than inventing one.

May import errors, processes, targets, toolchains.base/inputs and this package's parser.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Literal

from npubench import processes
from npubench.errors import CompilerError, ToolchainMissing
from npubench.targets.schema import Board, Memory
from npubench.toolchains.base import (
    CompileReport,
    LayerReport,
    MemoryRegion,
    Placement,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.stedgeai.parse import StReport, parse_report, version_from_line

__all__ = [
    "ENV_VAR",
    "HOMEPAGE",
    "TOOLCHAIN",
    "StEdgeAi",
    "StEdgeAiBoardConfig",
    "StEdgeAiOptions",
    "build_command",
    "find_tool",
    "memory_regions",
    "report_from_parsed",
]

ENV_VAR = "NPUBENCH_STEDGEAI"
PROGRAMS = ("stedgeai", "stm32ai")
HOMEPAGE = "https://www.st.com/en/development-tools/stedgeai-core.html"
INSTALL = (
    f"get it from {HOMEPAGE} and put `stedgeai` on PATH, or set ${ENV_VAR} to its path "
    "(X-CUBE-AI's `stm32ai` is accepted too)"
)
MODEL_NAME = "network"  # --name: the report is <name>_analyze_report.txt
OUTPUT_DIR = "st_ai_output"
WORKSPACE_DIR = "st_ai_ws"
CONSOLE_NAME = "stedgeai_console.txt"
TIMEOUT_S = 1800
VERSION_TIMEOUT_S = 120
NO_COST_NOTE = (
    "ST's report gives no latency or cycle estimate (only MACC, ROM and RAM); the time comes "
    "from `stedgeai validate` on the board or from npubench's predictor"
)


class StEdgeAiBoardConfig(StrictModel):
    """The board file's ``[toolchains.stedgeai]`` table."""

    target: str  # the --target value of stedgeai: stm32n6, stm32h7, stm32f4, ...
    series: str | None = None  # the --series of X-CUBE-AI's stm32ai (default: target)
    neural_art: bool | None = None  # pass --st-neural-art (default: for target stm32n6)
    neural_art_profile: str | None = None  # "<profile>@<file.json>" given to --st-neural-art

    @property
    def uses_neural_art(self) -> bool:
        return self.neural_art if self.neural_art is not None else self.target == "stm32n6"


class StEdgeAiOptions(StrictModel):
    """Per-run options: ST's own, with the uNPU-Bench study's values as defaults."""

    compression: Literal["none", "lossless", "low", "medium", "high"] = "none"
    optimization: Literal["balanced", "time", "ram"] = "balanced"


def find_tool() -> Path | None:
    """``$NPUBENCH_STEDGEAI``, else ``stedgeai``, else ``stm32ai`` on PATH; None if none."""
    named = os.environ.get(ENV_VAR)
    if named:
        path = Path(named).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    for program in PROGRAMS:
        found = shutil.which(program)
        if found:
            return Path(found)
    return None


def flavour(tool: Path) -> str:
    """``stm32ai`` (X-CUBE-AI's CLI, --series) or ``stedgeai`` (ST Edge AI Core, --target)."""
    return "stm32ai" if "stm32ai" in tool.name.lower() else "stedgeai"


@functools.cache
def _version(path: str, mtime: float) -> str | None:
    del mtime  # part of the cache key only: a reinstalled tool is asked again
    try:
        done = processes.run([path, "--version"], text=True, timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        found = version_from_line(line)
        if found:
            return found
    return None


def tool_version(tool: Path) -> str | None:
    """The version ``<tool> --version`` prints, e.g. '2.2.0-20266' or '8.0.1-19451'."""
    return _version(str(tool), tool.stat().st_mtime)


def build_command(
    tool: Path,
    tflite: Path,
    config: StEdgeAiBoardConfig,
    options: StEdgeAiOptions,
    output: Path,
    workspace: Path,
) -> list[str]:
    """The ``analyze`` command line for either CLI (see the module docstring)."""
    if flavour(tool) == "stm32ai":
        cmd = [str(tool), "analyze", "--name", MODEL_NAME, "-m", str(tflite), "--type", "tflite"]
        cmd += ["--compression", options.compression]
        cmd += ["--workspace", str(workspace), "--output", str(output)]
        cmd += [
            "--allocate-inputs",
            "--allocate-outputs",
            "--series",
            config.series or config.target,
        ]
        if options.optimization != "balanced":
            cmd += ["--optimization", options.optimization]
        return cmd
    cmd = [str(tool), "analyze", "--model", str(tflite), "--target", config.target]
    cmd += ["--type", "tflite", "--name", MODEL_NAME, "--compression", options.compression]
    cmd += ["--optimization", options.optimization]
    cmd += ["--workspace", str(workspace), "--output", str(output)]
    if config.uses_neural_art:
        cmd.append("--st-neural-art")
        if config.neural_art_profile:
            cmd.append(config.neural_art_profile)
    return cmd


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


_ERROR_LINE = re.compile(r"\b(E\d{3}\(\w+\)|NOT IMPLEMENTED|INTERNAL ERROR|ERROR|Error)\b")


def first_error(text: str) -> str | None:
    """The tool's first error line (``E010(InvalidModelError): ...``, ``NOT IMPLEMENTED: ...``)."""
    for line in text.splitlines():
        if _ERROR_LINE.search(line):
            return line.strip()
    return None


def find_report(output: Path) -> Path | None:
    """The report the tool wrote in ``output`` (analyze, else generate, else any)."""
    for pattern in (f"{MODEL_NAME}_analyze_report.txt", "*_analyze_report.txt", "*_report.txt"):
        found = sorted(output.glob(pattern))
        if found:
            return found[0]
    return None


def _largest(board: Board, roles: tuple[str, ...]) -> Memory | None:
    for role in roles:
        found = board.memories_with_role(role)
        if found:
            return max(found, key=lambda m: m.capacity_bytes)
    return None


def _pool_memory(board: Board, pool: str) -> Memory | None:
    """The board memory a Neural-ART memory pool lives in, from the pool's name."""
    name = pool.lower()
    if "flash" in name:
        return _largest(board, ("flash",))
    if "hyper" in name or "psram" in name:
        return _largest(board, ("external_ram",))
    return _largest(board, ("sram", "tcm"))


def memory_regions(board: Board, rep: StReport) -> list[MemoryRegion]:
    """The report's memory use on the board's memories.

    With Neural-ART memory pools: one region per pool in use (exact span from ``Used memory
    ranges``), its capacity the pool's size; otherwise the weights (read-only) in the board's
    flash, the activation buffer in its RAM, and the I/O buffers when they lie outside it.
    """
    out = []
    if rep.pools:
        for pool in rep.pools:
            used = pool.exact_used_bytes
            if used == 0:
                continue
            memory = _pool_memory(board, pool.name)
            holds = [
                k
                for k, v in (
                    ("weights", pool.weights_bytes),
                    ("activations", pool.activations_bytes),
                )
                if v
            ]
            out.append(
                MemoryRegion(
                    region=pool.name,
                    used_bytes=used,
                    capacity_bytes=pool.size_bytes,
                    board_memory=memory.name if memory else None,
                    what=" + ".join(holds) + " (memory pool of the Neural-ART .mpool file)",
                )
            )
        return out
    flash, ram = _largest(board, ("flash",)), _largest(board, ("sram", "tcm", "external_ram"))
    weights, activations = rep.weights, rep.activations
    if weights is not None:
        out.append(
            MemoryRegion(
                region="weights (ro)",
                used_bytes=weights,
                capacity_bytes=flash.capacity_bytes if flash else None,
                board_memory=flash.name if flash else None,
                what="weights and biases, read-only",
            )
        )
    if activations is not None:
        out.append(
            MemoryRegion(
                region="activations (rw)",
                used_bytes=activations,
                capacity_bytes=ram.capacity_bytes if ram else None,
                board_memory=ram.name if ram else None,
                what="activation buffer (inputs and outputs allocated inside it)",
            )
        )
        io = (rep.ram_total_bytes or 0) - activations
        if io > 0:
            out.append(
                MemoryRegion(
                    region="io buffers",
                    used_bytes=io,
                    capacity_bytes=ram.capacity_bytes if ram else None,
                    board_memory=ram.name if ram else None,
                    what="input and output buffers outside the activation buffer",
                )
            )
    return out


def _layers(board: Board, rep: StReport, tool: str) -> list[LayerReport]:
    if rep.epochs:
        out = []
        for i, epoch in enumerate(rep.epochs):
            placement: Placement
            if epoch.on_npu:
                op, placement = f"Neural-ART epoch ({epoch.kind})", "npu"
                reason = "hardware epoch on the Neural-ART NPU" + (
                    " (epoch controller)" if epoch.kind == "EC" else ""
                )
            elif epoch.kind == "SW":
                op, placement = epoch.op or "software epoch", "cpu"
                reason = f"software epoch on the {board.cpu.core} (not mapped to the NPU)"
            else:
                op, placement = epoch.op or epoch.kind, "cpu"
                reason = f"epoch kind {epoch.kind!r} is not one npubench knows; counted on the CPU"
            out.append(
                LayerReport(
                    index=i,
                    name=f"epoch {epoch.number}",
                    op=op,
                    placement=placement,
                    reason=reason,
                    extra={"epoch": epoch.number, "kind": epoch.kind},
                )
            )
        return out
    reason = f"{tool} software kernel on the {board.cpu.core}"
    if rep.c_layers:
        return [
            LayerReport(
                index=c.c_id,
                name=c.name,
                op=c.layer_type,
                placement="cpu",
                reason=reason,
                macs=c.macc,
                extra={"rom_bytes": c.rom_bytes, "m_id": c.m_id},
            )
            for c in rep.c_layers
        ]
    return [
        LayerReport(
            index=i,
            name=layer.name,
            op=layer.type or layer.original,
            placement="cpu",
            reason=reason,
            macs=layer.macc,
            extra={"m_id": layer.m_id, "c_type": layer.c_type},
        )
        for i, layer in enumerate(rep.model_layers)
        if layer.type != "Input"
    ]


def report_from_parsed(
    board: Board,
    rep: StReport,
    *,
    options: StEdgeAiOptions,
    version: str,
    tool: str = "stedgeai",
    seconds_tool: float | None = None,
) -> CompileReport:
    """A ``CompileReport`` from a parsed report (a compile's or a recorded one)."""
    notes = [NO_COST_NOTE]
    if rep.epochs and rep.epochs_total is not None and rep.epochs_total != len(rep.epochs):
        notes.append(f"the report announces {rep.epochs_total} epochs but lists {len(rep.epochs)}")
    if rep.footprint:
        notes.append(
            "the regions count the network only; ST's runtime adds "
            f"{rep.footprint.get('flash_runtime', 0):,} B of flash and "
            f"{rep.footprint.get('ram_runtime', 0):,} B of RAM (report's 'RT total')"
        )
    if not rep.epochs and board.npu is not None:
        notes.append("the report has no Neural-ART epochs: every layer runs on the CPU")
    extra: dict[str, Any] = {
        "macc": rep.macc if rep.macc is not None else rep.totals.get("macc"),
        "params": rep.params,
        "weights_bytes": rep.weights,
        "activations_bytes": rep.activations,
        "ram_total_bytes": rep.ram_total_bytes,
        "target": rep.target,
        "command": rep.command,
        "model_totals": rep.model_totals,
        "model_layers": [
            {"m_id": m.m_id, "name": m.name, "type": m.type, "macc": m.macc, "params": m.params}
            for m in rep.model_layers
        ],
    }
    if rep.epochs:
        extra["epochs_total"] = rep.epochs_total
        extra["epochs_software"] = rep.epochs_software
        extra["neural_art_compiler"] = rep.compiler_version
    if rep.footprint:
        extra["footprint"] = rep.footprint
    if rep.sections:
        extra["sections"] = {k: list(v) for k, v in rep.sections.items()}
    layers = _layers(board, rep, tool)
    return CompileReport(
        toolchain="stedgeai",
        tool=tool,
        tool_version=version,
        plugin_version=StEdgeAi.plugin_version,
        target=board.name,
        frontend="tflite-int8",
        options=options.model_dump(),
        layers=layers,
        memory=memory_regions(board, rep),
        cost=None,
        ops=None,
        notes=notes,
        extra=extra,
        seconds_tool=seconds_tool,
    )


class StEdgeAi(Toolchain):
    name = "stedgeai"
    display_name = "ST Edge AI Core"
    tool = "stedgeai"
    consumes = "tflite-int8"
    frontend = "tflite"
    gives = ("placement", "memory")
    homepage = HOMEPAGE
    BoardConfig = StEdgeAiBoardConfig
    Options = StEdgeAiOptions

    def detect(self) -> ToolchainInfo:
        tool = find_tool()
        if tool is None:
            named = os.environ.get(ENV_VAR)
            where = (
                f"${ENV_VAR}={named} is not an executable file"
                if named
                else f"no `stedgeai` or `stm32ai` on PATH and ${ENV_VAR} unset"
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
        version = tool_version(tool)
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=flavour(tool),
            version=version,
            available=version is not None,
            environment=str(tool),
            install=INSTALL,
            detail=str(tool) if version else f"{tool} --version printed no version",
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        assert isinstance(config, StEdgeAiBoardConfig)
        problems = []
        if config.uses_neural_art and board.npu is None:
            problems.append("neural_art is set but the board has no [npu] (Neural-ART)")
        if config.neural_art_profile and not config.uses_neural_art:
            problems.append("neural_art_profile is given but neural_art is off")
        if not (board.memories_with_role("flash") and board.memories_with_role("sram")):
            problems.append(
                "the board needs a flash and an sram memory for weights and activations"
            )
        return problems

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        assert isinstance(config, StEdgeAiBoardConfig)
        assert isinstance(options, StEdgeAiOptions)
        tool = find_tool()
        if tool is None:
            raise ToolchainMissing(f"{self.display_name} is not installed here", INSTALL)
        version = tool_version(tool) or "unknown"
        tflite = model.tflite_int8
        if not tflite.is_file():
            raise CompilerError(f"model file {tflite} does not exist", "give the path of a .tflite")
        output, workspace = workdir / OUTPUT_DIR, workdir / WORKSPACE_DIR
        output.mkdir(parents=True, exist_ok=True)
        cmd = build_command(tool, tflite, config, options, output, workspace)
        started = time.perf_counter()
        try:
            done = processes.run(cmd, text=True, timeout=TIMEOUT_S, cwd=workdir)
        except subprocess.TimeoutExpired as e:
            raise CompilerError(
                f"{tool.name} did not finish within {TIMEOUT_S} s on {tflite.name} (stopped)",
                "try a smaller model",
            ) from e
        except OSError as e:
            raise ToolchainMissing(f"cannot run {tool}: {e}", INSTALL) from e
        seconds = time.perf_counter() - started
        console = (done.stdout or "") + "\n" + (done.stderr or "")
        (workdir / CONSOLE_NAME).write_text(console)
        log = f"the full console output is {workdir / CONSOLE_NAME}"
        if done.returncode != 0:
            why = first_error(console) or "no error message"
            raise CompilerError(
                f"{tool.name} analyze rejected {tflite.name} (exit status {done.returncode}): "
                f"{why}\n{_tail(console)}",
                f"ST's message above names the unsupported layer or option; {log}",
            )
        path = find_report(output)
        if path is None:
            raise CompilerError(
                f"{tool.name} analyze ended without writing a report in {output}:\n"
                + _tail(console),
                log,
            )
        text = path.read_text(errors="replace")
        rep = parse_report(text)
        if not rep.has_content:
            raise CompilerError(
                f"{path.name} is not a report npubench can read (no MACC, layer, memory or epoch "
                f"table found); its last lines:\n{_tail(text, 10)}",
                f"check the {tool.name} version ({version}); {log}",
            )
        report = report_from_parsed(
            board, rep, options=options, version=version, tool=flavour(tool), seconds_tool=seconds
        )
        report.log_tail = _tail(console)
        report.extra["report_file"] = str(path.relative_to(workdir))
        return report


TOOLCHAIN = StEdgeAi()

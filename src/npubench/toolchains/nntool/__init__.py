"""GreenWaves NNTool + AutoTiler (GAP SDK): the GAP8/GAP9 model compiler, as a toolchain.

A program npubench cannot install: it is part of GreenWaves' GAP SDK, which the user installs
and sources (``source $GAP_SDK_HOME/sourceme.sh`` or a ``configs/<board>.sh``: that puts
``nntool`` on PATH and sets ``GAP_SDK_HOME``, ``TARGET_CHIP_FAMILY`` and the ``TILER_*`` /
``NNTOOL_*`` paths of the AutoTiler). ``compile`` runs the GAP flow of NNTool's quick-start guide
(tools/nntool/docs/NNQuickStartGuide.md in the SDK) on npubench's int8 TFLite:

1. ``nntool -s nntool_script.txt model.tflite -q``: the script ``adjust``s the graph to the
   AutoTiler's CHW order, ``fusions --scale8`` (the 8-bit scheme of a quantized TFLite),
   ``show``s it, ``gen``erates the AutoTiler model ``modelModel.c`` with its constant tensors
   (``-t -T <dir>``, ``-M <dir>``) and ``save_state``s;
2. ``gcc`` compiles that model with the AutoTiler library into the generator ``GenTile``
   (``-I$TILER_INC -I$TILER_EMU_INC ...``, the generator sources the model includes, found in the
   SDK's generator paths, and ``$TILER_LIB``);
3. ``GenTile -o <out> -c <out> --L1 <bytes> --L2 <bytes> --L3 <bytes>`` tiles the graph into those
   budgets, writes the GAP kernels and prints the memory report (``parse``).

The report becomes a ``CompileReport``: every generated node placed on the cluster (the board's
"npu": the GAP8 8-core cluster, the GAP9 cluster), memory per level on the board's l1 / l2 / L3
memories, the AutoTiler's bandwidth and operation counts. The AutoTiler estimates no cycles; the
plug-in says so. May import errors, processes, targets, toolchains.base/inputs and this
package's parser.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from npubench import processes
from npubench.errors import CompilerError, ToolchainMissing
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
from npubench.toolchains.nntool.parse import (
    AtNode,
    AutoTilerReport,
    parse_at_model,
    parse_autotiler_report,
)

__all__ = [
    "HOMEPAGE",
    "TOOLCHAIN",
    "NnTool",
    "NnToolBoardConfig",
    "NnToolOptions",
    "budgets",
    "memory_regions",
    "nntool_script",
    "report_from_outputs",
]

HOMEPAGE = "https://github.com/GreenWaves-Technologies/gap_sdk"
INSTALL = (
    f"get the GAP SDK from {HOMEPAGE} (GAP9's SDK from GreenWaves on request), install it and "
    "`source $GAP_SDK_HOME/sourceme.sh` so that `nntool` is on PATH and $GAP_SDK_HOME is set"
)
MODEL_STEM = "model"  # NNTool names the graph and its files after the input file
MODEL_SRC = f"{MODEL_STEM}Model.c"
BUILD_DIR = "BUILD_MODEL"
SCRIPT_NAME = "nntool_script.txt"
NNTOOL_LOG = "nntool_console.txt"
GCC_LOG = "gentile_build.txt"
AUTOTILER_LOG = "autotiler_console.txt"
TIMEOUT_S = 1800
# The SDK variables the AutoTiler step needs (set when the SDK is sourced).
TILER_VARS = ("TILER_INC", "TILER_EMU_INC", "TILER_LIB")
INCLUDE_VARS = (
    "TILER_INC",
    "TILER_EMU_INC",
    "TILER_CNN_GENERATOR_PATH",
    "TILER_CNN_GENERATOR_PATH_SQ8",
    "NNTOOL_GENERATOR_PATH",
    "TILER_CNN_KERNEL_PATH",
    "TILER_CNN_KERNEL_PATH_SQ8",
    "NNTOOL_KERNELS_PATH",
)
# The study's GAP8 budgets (uNPU-Bench mem_nums_gap8, "Given"): L1 52,736 B = the 64 KiB cluster
# L1 less 12,800 B of stacks, L2 400,000 B = 512 KiB less 124,288 B, L3 RAM 8,000,000 B.
L1_HEADROOM = 65_536 - 52_736
L2_HEADROOM = 524_288 - 400_000
L3_DEFAULT = 8_000_000
NO_COST_NOTE = (
    "the AutoTiler gives no cycle or latency estimate; its operation count is in "
    "extra['operations']"
)


class NnToolBoardConfig(StrictModel):
    """The board file's ``[toolchains.nntool]`` table."""

    chip: Literal["gap8", "gap9"]  # must match the sourced SDK's TARGET_CHIP_FAMILY


class NnToolOptions(StrictModel):
    """Memory budgets given to the AutoTiler (bytes); None: the board's default."""

    l1_bytes: int | None = Field(default=None, gt=0)
    l2_bytes: int | None = Field(default=None, gt=0)
    l3_bytes: int | None = Field(default=None, gt=0)


def _memory(board: Board, role: str) -> Memory | None:
    found = board.memories_with_role(role)
    return max(found, key=lambda m: m.capacity_bytes) if found else None


def budgets(board: Board, options: NnToolOptions) -> tuple[int, int, int, list[str]]:
    """(L1, L2, L3) budgets for ``GenTile`` and notes on where they come from.

    Defaults: the board's L1 and L2 less the headroom the study's GAP8 budgets left (which gives
    exactly the study's 52,736 B and 400,000 B on the GAP8), and the SDK's 8,000,000 B of L3.
    """
    notes = []
    l1, l2 = _memory(board, "npu_data"), _memory(board, "sram")
    l1_budget = options.l1_bytes or (l1.capacity_bytes - L1_HEADROOM if l1 else 0)
    l2_budget = options.l2_bytes or (l2.capacity_bytes - L2_HEADROOM if l2 else 0)
    l3_budget = options.l3_bytes or L3_DEFAULT
    if not options.l1_bytes or not options.l2_bytes:
        notes.append(
            f"AutoTiler budgets L1 {l1_budget:,} B, L2 {l2_budget:,} B: the board's L1 and L2 "
            f"less the headroom the uNPU-Bench GAP8 budgets leave ({L1_HEADROOM:,} B and "
            f"{L2_HEADROOM:,} B for stacks and the application), npubench's default"
        )
    if not options.l3_bytes and _memory(board, "external_ram") is None:
        notes.append(
            f"the board file models no L3 RAM; the AutoTiler was given {l3_budget:,} B of it"
        )
    return l1_budget, l2_budget, l3_budget, notes


def nntool_script(build: Path) -> str:
    """The NNTool commands (one per line) npubench runs on a quantized TFLite model."""
    return "\n".join(
        [
            "adjust",
            "fusions --scale8",
            "show",
            f"gen {MODEL_SRC} -M {build} -T {build / 'tensors'} -t",
            f"save_state {build}",
            "",
        ]
    )


def _level_memory(board: Board, level: str) -> Memory | None:
    name = level.lower()
    if "l1" in name:
        return _memory(board, "npu_data")
    if name == "l2":
        return _memory(board, "sram")
    if "flash" in name:
        return _memory(board, "flash")
    if "ram" in name:
        return _memory(board, "external_ram")
    return None


_LEVEL_WHAT = {
    "Shared L1": "cluster L1 (TCDM): tiles of the running kernel",
    "L2": "L2: activations, and the weights of the running layers",
    "DefaultRam": "L3 RAM: activations the AutoTiler spills out of L2",
    "DefaultFlash": "L3 flash: the constant tensors (weights) image",
}


def memory_regions(board: Board, rep: AutoTilerReport) -> list[MemoryRegion]:
    """One region per AutoTiler memory level, on the board memory it lives in."""
    out = []
    for level in rep.levels:
        memory = _level_memory(board, level.name)
        out.append(
            MemoryRegion(
                region=level.name,
                used_bytes=level.used_bytes,
                capacity_bytes=memory.capacity_bytes if memory else level.given_bytes,
                board_memory=memory.name if memory else None,
                what=f"{_LEVEL_WHAT.get(level.name, level.name)} "
                f"(AutoTiler budget {level.given_bytes:,} B)",
            )
        )
    return out


def layers_from_model(board: Board, nodes: list[AtNode]) -> list[LayerReport]:
    cluster = board.npu.name if board.npu else "cluster"
    out = []
    for node in nodes:
        engine = "NE16 engine" if "NE16" in node.generator.upper() else f"{cluster} (multi-core)"
        out.append(
            LayerReport(
                index=node.index,
                name=node.node,
                op=node.generator,
                placement="npu",
                reason=f"AutoTiler kernel {node.kernel} on the {engine}",
                extra={"kernel": node.kernel},
            )
        )
    return out


def report_from_outputs(
    board: Board,
    rep: AutoTilerReport,
    nodes: list[AtNode],
    *,
    options: NnToolOptions,
    version: str,
    notes: list[str] | None = None,
    seconds_tool: float | None = None,
) -> CompileReport:
    """A ``CompileReport`` from the AutoTiler's report and the AutoTiler model's nodes."""
    extra: dict[str, Any] = {
        "operations": rep.operations,
        "l2_bandwidth_bytes": rep.l2_bandwidth_bytes,
        "l3_bandwidth_bytes": rep.l3_bandwidth_bytes,
        "kernel_args_bytes": rep.kernel_args_bytes,
        "tiling_overhead": rep.tiling_overhead,
        "baseline_bandwidth_bytes": rep.baseline_bandwidth_bytes,
        "baseline_pct_l2": rep.baseline_pct_l2,
        "baseline_pct_l3": rep.baseline_pct_l3,
        "flash_coefficients_bytes": rep.flash_coefficients_bytes,
        "flash_image": rep.flash_image,
        "flash_image_bytes": rep.flash_image_bytes,
        "budgets": {lv.name: lv.given_bytes for lv in rep.levels},
    }
    return CompileReport(
        toolchain="nntool",
        tool="nntool",
        tool_version=version,
        plugin_version=NnTool.plugin_version,
        target=board.name,
        frontend="tflite-int8",
        options=options.model_dump(),
        layers=layers_from_model(board, nodes),
        memory=memory_regions(board, rep),
        cost=None,
        notes=[NO_COST_NOTE, *(notes or [])],
        extra=extra,
        seconds_tool=seconds_tool,
    )


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def sdk_problems() -> list[str]:
    """What is missing for the GAP flow in this environment (empty when ready)."""
    problems = []
    if shutil.which("nntool") is None:
        problems.append("no `nntool` on PATH")
    if not os.environ.get("GAP_SDK_HOME"):
        problems.append("$GAP_SDK_HOME unset")
    missing = [v for v in TILER_VARS if not os.environ.get(v)]
    if missing:
        problems.append("the AutoTiler's $" + ", $".join(missing) + " unset (SDK not sourced)")
    return problems


def sdk_version() -> str:
    """The GAP SDK's version: ``git describe`` of $GAP_SDK_HOME, else 'unknown'."""
    home = os.environ.get("GAP_SDK_HOME", "")
    if home and (Path(home) / ".git").exists():
        try:
            done = processes.run(
                ["git", "-C", home, "describe", "--tags", "--always"], text=True, timeout=20
            )
            if done.returncode == 0 and done.stdout.strip():
                return f"gap_sdk {done.stdout.strip()}"
        except (OSError, subprocess.SubprocessError):
            pass
    return f"gap_sdk unknown ({home or 'GAP_SDK_HOME unset'})"


def generator_sources(model_c: str, env: dict[str, str]) -> list[str]:
    """The generator C files the AutoTiler model needs: one ``X.c`` per included ``X.h`` found
    in the SDK's generator paths, plus ``CNN_Generator_Util.c`` that they share."""
    dirs = [Path(env[v]) for v in INCLUDE_VARS if env.get(v)]
    wanted = ["CNN_Generator_Util", *re.findall(r'#include\s+"(\w+)\.h"', model_c)]
    found: list[str] = []
    for stem in wanted:
        for folder in dirs:
            candidate = folder / f"{stem}.c"
            if candidate.is_file() and str(candidate) not in found and "Kernels" not in stem:
                found.append(str(candidate))
                break
    return found


class NnTool(Toolchain):
    name = "nntool"
    display_name = "GreenWaves NNTool + AutoTiler"
    tool = "nntool"
    consumes = "tflite-int8"
    frontend = "tflite"
    gives = ("placement", "memory")
    homepage = HOMEPAGE
    BoardConfig = NnToolBoardConfig
    Options = NnToolOptions

    def detect(self) -> ToolchainInfo:
        problems = sdk_problems()
        nntool = shutil.which("nntool")
        if problems:
            detail = (
                f"not installed: get it from {HOMEPAGE} ({'; '.join(problems)})"
                if nntool is None
                else f"GAP SDK not ready: {'; '.join(problems)}; source $GAP_SDK_HOME/sourceme.sh"
            )
            return ToolchainInfo(
                name=self.name,
                display_name=self.display_name,
                tool=self.tool,
                version=None,
                available=False,
                environment=nntool or "not found",
                install=INSTALL,
                detail=detail,
            )
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=sdk_version(),
            available=True,
            environment=str(nntool),
            install=INSTALL,
            detail=f"{nntool}, chip family {os.environ.get('TARGET_CHIP_FAMILY', 'not set')}",
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        problems = []
        if _memory(board, "npu_data") is None or _memory(board, "sram") is None:
            problems.append("the board needs an npu_data memory (L1) and an sram memory (L2)")
        return problems

    def _run(self, step: str, cmd: list[str], workdir: Path, log: Path) -> str:
        try:
            done = processes.run(cmd, text=True, timeout=TIMEOUT_S, cwd=workdir)
        except subprocess.TimeoutExpired as e:
            raise CompilerError(f"{step} did not finish within {TIMEOUT_S} s (stopped)") from e
        except OSError as e:
            raise ToolchainMissing(f"cannot run {cmd[0]} ({step}): {e}", INSTALL) from e
        text = (done.stdout or "") + "\n" + (done.stderr or "")
        log.write_text(text)
        if done.returncode != 0:
            raise CompilerError(
                f"{step} failed (exit status {done.returncode}):\n{_tail(text)}",
                f"the full output is {log}",
            )
        return text

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        assert isinstance(config, NnToolBoardConfig)
        assert isinstance(options, NnToolOptions)
        problems = sdk_problems()
        if problems:
            raise ToolchainMissing(f"{self.display_name}: {'; '.join(problems)}", INSTALL)
        family = os.environ.get("TARGET_CHIP_FAMILY", "")
        if family and family.lower() != config.chip:
            raise CompilerError(
                f"the sourced GAP SDK targets {family}, board {board.name} is a {config.chip}",
                f"source the GAP SDK configuration of the {config.chip} and run again",
            )
        tflite = model.tflite_int8
        if not tflite.is_file():
            raise CompilerError(f"model file {tflite} does not exist", "give the path of a .tflite")
        build = workdir / BUILD_DIR
        (build / "tensors").mkdir(parents=True, exist_ok=True)
        local = workdir / f"{MODEL_STEM}.tflite"
        shutil.copyfile(tflite, local)
        script = workdir / SCRIPT_NAME
        script.write_text(nntool_script(build))
        started = time.perf_counter()

        nntool_log = self._run(
            "nntool",
            [str(shutil.which("nntool")), "-s", str(script), str(local), "-q"],
            workdir,
            workdir / NNTOOL_LOG,
        )
        model_c = build / MODEL_SRC
        if not model_c.is_file():
            raise CompilerError(
                f"nntool wrote no AutoTiler model ({MODEL_SRC}): the model has an operator it "
                f"cannot map, or a script command failed:\n{_tail(nntool_log)}",
                f"the full output is {workdir / NNTOOL_LOG}",
            )
        model_text = model_c.read_text(errors="replace")
        nodes = parse_at_model(model_text)

        env = dict(os.environ)
        gentile = build / "GenTile"
        gcc = ["gcc", "-g", "-o", str(gentile), f"-I{build}"]
        gcc += [f"-I{env[v]}" for v in INCLUDE_VARS if env.get(v)]
        gcc += [str(model_c), *generator_sources(model_text, env), env["TILER_LIB"]]
        self._run("building the AutoTiler generator (gcc)", gcc, build, workdir / GCC_LOG)

        l1, l2, l3, notes = budgets(board, options)
        tiler = [str(gentile), "-o", str(build), "-c", str(build)]
        tiler += ["--L1", str(l1), "--L2", str(l2), "--L3", str(l3)]
        tiler_log = self._run("the AutoTiler (GenTile)", tiler, workdir, workdir / AUTOTILER_LOG)
        seconds = time.perf_counter() - started
        rep = parse_autotiler_report(tiler_log)
        if not rep.has_content:
            raise CompilerError(
                "the AutoTiler printed no memory report (no 'Memory size (Bytes)' lines):\n"
                + _tail(tiler_log),
                f"check the GAP SDK version; the full output is {workdir / AUTOTILER_LOG}",
            )
        report = report_from_outputs(
            board,
            rep,
            nodes,
            options=options,
            version=sdk_version(),
            notes=notes,
            seconds_tool=seconds,
        )
        if not nodes:
            report.notes.append(f"no generator call found in {MODEL_SRC}: no layers listed")
        report.log_tail = _tail(tiler_log)
        return report


TOOLCHAIN = NnTool()

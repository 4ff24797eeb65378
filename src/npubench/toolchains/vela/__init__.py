"""Arm Vela: the Ethos-U compiler, driven on npubench's int8 TFLite (the first plug-in).

Vela is pinned in npubench's own environment (``ethos-u-vela==5.2.0``), so it runs here as its
own CLI in a subprocess (the ``vela`` beside this Python), with npubench's system configuration
for the board (``config.system_config_ini``: the board's clocks, memories, bandwidths,
latencies, burst lengths) or Vela's built-in one (``system_config="vela-default"``). Its
summary CSV, per-layer CSV and console report (``parse``) become a ``CompileReport``: Vela's
cycles at the clock it compiled for, per-layer placement with Vela's reasons, and the use of
each board memory Vela touches.

Vela's inference time covers the NPU only: operators it leaves on the CPU are listed with
placement "cpu" and no cycles. May import errors, processes, targets and toolchains.base.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

from npubench import processes
from npubench.errors import CompilerError, ToolchainMissing
from npubench.targets.schema import Board
from npubench.toolchains.base import (
    CompileReport,
    CostReport,
    LayerReport,
    MemoryRegion,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.inputs import CompileInput
from npubench.toolchains.vela.config import (
    VelaBoardConfig,
    VelaSystem,
    board_system,
    const_memory,
    port_memories,
    system_config_ini,
    vela_config,
)
from npubench.toolchains.vela.parse import (
    VelaConsole,
    VelaSummary,
    count_ops,
    parse_console,
    parse_per_layer_csv,
    parse_summary_csv,
)

__all__ = [
    "TOOLCHAIN",
    "Vela",
    "VelaOptions",
    "compile_tflite",
    "memory_regions",
    "system_config_ini",
    "vela_tflite",
]

VELA_TIMEOUT_S = 900
LOG_NAME = "vela_console.txt"
META_NAME = "npubench_vela.json"
MODEL_STEM = "model"  # Vela names its outputs after the input file
INSTALL = "pip install ethos-u-vela==5.2.0 (npubench's own environment: scripts/setup.sh)"


class VelaOptions(StrictModel):
    """Options of one Vela compile."""

    optimise: Literal["Performance", "Size"] = "Performance"
    # "board": npubench's system config from the board file; "vela-default": Vela's built-in
    # one for the accelerator (e.g. Ethos_U55_High_End_Embedded at 500 MHz, as the study used).
    system_config: Literal["board", "vela-default"] = "board"


def find_vela() -> Path:
    """The Vela CLI of this Python environment (next to ``sys.executable``), else on PATH."""
    beside = Path(sys.executable).parent / "vela"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("vela")
    if on_path:
        return Path(on_path)
    raise ToolchainMissing(
        "Arm Vela is not installed (no `vela` next to the Python interpreter or on PATH)",
        f"install it: {INSTALL}",
    )


@functools.cache
def vela_version() -> str:
    """The installed Vela version, e.g. '5.2.0'."""
    vela = find_vela()
    if vela.parent == Path(sys.executable).parent:
        # The CLI of this environment: its package metadata answers without starting Vela.
        try:
            return importlib.metadata.version("ethos-u-vela")
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        done = processes.run([str(vela), "--version"], text=True, timeout=120)
        if done.returncode != 0:
            raise subprocess.SubprocessError(f"exit status {done.returncode}: {done.stderr}")
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolchainMissing(
            f"cannot run {vela} --version: {e}", f"reinstall Vela: {INSTALL}"
        ) from e
    return str(done.stdout.strip().splitlines()[-1].strip())


def check_int8(tflite: Path) -> None:
    """Reject a model that computes in float: Vela would leave every operator on the CPU.

    Mixed models (int8 with a few float operators) pass; Vela reports the float ones on the CPU.
    A file that does not parse is left to Vela, whose own error is more telling.
    """
    try:
        from ethosu.vela.tflite.Model import Model
        from ethosu.vela.tflite.TensorType import TensorType

        model = Model.GetRootAs(tflite.read_bytes(), 0)
        quantized_types = {TensorType.INT8, TensorType.UINT8, TensorType.INT16}
        float_types = {TensorType.FLOAT32, TensorType.FLOAT16, TensorType.FLOAT64}
        quantized_ops = float_ops = 0
        for s in range(model.SubgraphsLength()):
            graph = model.Subgraphs(s)
            for o in range(graph.OperatorsLength()):
                op = graph.Operators(o)
                types = {graph.Tensors(op.Outputs(i)).Type() for i in range(op.OutputsLength())}
                quantized_ops += bool(types & quantized_types)
                float_ops += bool(types & float_types)
    except Exception:  # any parse failure: let Vela judge the file
        return
    if quantized_ops == 0 and float_ops > 0:
        raise CompilerError(
            f"{tflite.name} is not an int8 model: none of its operators produces int8/int16 "
            f"tensors ({float_ops} compute in float), so Vela would run nothing on the NPU",
            "quantize it to full-integer int8 first (npubench's prepare step, or "
            "TFLiteConverter with a representative dataset and TFLITE_BUILTINS_INT8)",
        )


def _tail(text: str, lines: int = 15) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run_vela(tflite: Path, system: VelaSystem, optimise: str, out_dir: Path) -> float:
    """Run the Vela CLI once into ``out_dir``; returns Vela's own wall time in seconds."""
    vela = find_vela()
    work = out_dir / "input"
    work.mkdir(parents=True, exist_ok=True)
    # Vela names its outputs after the input file: give it a fixed name.
    model = work / f"{MODEL_STEM}.tflite"
    shutil.copyfile(tflite, model)
    if system.ini_text is not None:
        ini = out_dir / "npubench_vela.ini"
        ini.write_text(system.ini_text)
        config = str(ini.resolve())  # absolute: Vela treats "dir/file.ini" as its own config
    else:
        config = "Arm/vela.ini"  # Vela's built-in configuration file
    cmd = [
        str(vela),
        str(model),
        "--accelerator-config",
        system.accelerator,
        "--config",
        config,
        "--system-config",
        system.system_config,
        "--memory-mode",
        system.memory_mode,
        "--optimise",
        optimise,
        "--output-dir",
        str(out_dir),
        "--verbose-performance",
    ]
    start = time.perf_counter()
    try:
        done = processes.run(cmd, text=True, timeout=VELA_TIMEOUT_S, cwd=work)
    except subprocess.TimeoutExpired as e:
        raise CompilerError(
            f"Vela did not finish within {VELA_TIMEOUT_S} s on {tflite.name}",
            "try --optimise Size, or a smaller model",
        ) from e
    except OSError as e:
        raise ToolchainMissing(f"cannot run Vela ({vela}): {e}", f"install it: {INSTALL}") from e
    seconds = time.perf_counter() - start
    (out_dir / LOG_NAME).write_text(done.stdout + "\n" + done.stderr)
    model.unlink()
    work.rmdir()
    if done.returncode != 0:
        raise CompilerError(
            f"Vela rejected {tflite.name} (exit status {done.returncode}):\n"
            + _tail(done.stderr + "\n" + done.stdout),
            "check the model is a valid int8 TFLite flatbuffer; Vela's message above names "
            "the operator or file problem",
        )
    recorded = [a.replace(str(out_dir), "<artifact>") for a in cmd[1:]]
    meta = {"command": recorded, "seconds": seconds, "vela_version": vela_version()}
    (out_dir / META_NAME).write_text(json.dumps(meta, indent=2))
    return seconds


def find_summary(artifact: Path) -> Path:
    found = sorted(artifact.glob(f"{MODEL_STEM}_summary_*.csv"))
    if not found:
        raise CompilerError(
            f"Vela wrote no summary CSV in {artifact}",
            "run the compile again; check Vela's log in that folder",
        )
    return found[0]


_VELA_AREA_PORT = {"sram": "Sram", "dram": "Dram", "off_chip_flash": "OffChipFlash"}


def memory_regions(board: Board, summary: VelaSummary, image_bytes: int) -> list[MemoryRegion]:
    """Use of each board memory Vela touches, against its capacity.

    Vela's areas map onto board memories through the AXI ports of the board's memory mode. The
    const memory holds the whole compiled model image (command stream, encoded weights, weights
    of CPU operators); in Sram_Only mode Vela reports the constants as "on-chip flash", which
    is the board's const memory (the SRAM itself).
    """
    v = vela_config(board)
    mem0, mem1 = port_memories(board)
    port_memory = {v.axi1_port: mem1, v.axi0_port: mem0}
    const_name = const_memory(board)
    used: dict[str, int] = {}
    areas: dict[str, list[str]] = {}
    const_by_vela = 0
    for area, nbytes in summary.memory_used_bytes.items():
        if area == "on_chip_flash":
            name = const_name
        elif _VELA_AREA_PORT[area] in port_memory:
            name = port_memory[_VELA_AREA_PORT[area]].name
        else:
            continue  # an area the board's ports do not have (Vela's own config): no capacity
        if nbytes:
            areas.setdefault(name, []).append(area)
        if name == const_name and area != "sram":
            const_by_vela += nbytes
        else:
            used[name] = used.get(name, 0) + nbytes
    used[const_name] = used.get(const_name, 0) + max(image_bytes, const_by_vela)
    areas.setdefault(const_name, []).append("compiled model image")
    return [
        MemoryRegion(
            region=name,
            used_bytes=n,
            capacity_bytes=int(board.memory(name).size_bytes.value),
            board_memory=name,
            what=" + ".join(areas.get(name, [])),
        )
        for name, n in used.items()
    ]


def report_from_outputs(
    board: Board,
    summary: VelaSummary,
    console: VelaConsole,
    layers: list[LayerReport],
    image_bytes: int,
    *,
    options: VelaOptions,
    version: str,
    seconds_tool: float | None = None,
) -> CompileReport:
    """A ``CompileReport`` from Vela's parsed outputs and the size of its compiled image."""
    return CompileReport(
        toolchain="vela",
        tool="ethos-u-vela",
        tool_version=version,
        plugin_version=Vela.plugin_version,
        target=board.name,
        frontend="tflite-int8",
        options=options.model_dump(),
        layers=layers,
        memory=memory_regions(board, summary, image_bytes),
        cost=CostReport(
            what="Vela's performance estimate of the NPU command stream (CPU operators not timed)",
            cycles_total=summary.cycles_total,
            cycles_npu=summary.cycles_npu,
            clock_hz=summary.core_clock_hz,
            latency_us=summary.inference_time_s * 1e6,
        ),
        ops=count_ops(layers, console),
        extra={
            "encoded_weights_bytes": summary.encoded_weights_bytes,
            "original_weights_bytes": summary.original_weights_bytes,
            "nn_macs": summary.nn_macs,
            "accelerator": summary.accelerator,
            "system_config": summary.system_config,
            "memory_mode": summary.memory_mode,
            "vela_memory_used_bytes": summary.memory_used_bytes,
            "sram_used_bytes": summary.memory_used_bytes["sram"],
            "image_bytes": image_bytes,
        },
        seconds_tool=seconds_tool,
    )


def report_from_dir(
    board: Board, artifact: Path, options: VelaOptions, version: str | None = None
) -> CompileReport:
    """Parse the outputs Vela wrote into ``artifact`` (a compile folder or recorded outputs)."""
    summary = parse_summary_csv(find_summary(artifact).read_text())
    log = artifact / LOG_NAME
    console = parse_console(log.read_text()) if log.exists() else VelaConsole()
    per_layer = artifact / f"{MODEL_STEM}_per-layer.csv"
    layers = parse_per_layer_csv(per_layer.read_text(), console) if per_layer.exists() else []
    image = artifact / f"{MODEL_STEM}_vela.tflite"
    image_bytes = image.stat().st_size if image.exists() else 0
    meta_path = artifact / META_NAME
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return report_from_outputs(
        board,
        summary,
        console,
        layers,
        image_bytes,
        options=options,
        version=str(version or meta.get("vela_version") or vela_version()),
        seconds_tool=meta.get("seconds"),
    )


class Vela(Toolchain):
    name = "vela"
    display_name = "Arm Vela"
    tool = "ethos-u-vela"
    plugin_version = 2
    consumes = "tflite-int8"
    frontend = "tflite"
    gives = ("placement", "cycles", "memory")
    homepage = "https://pypi.org/project/ethos-u-vela/"
    BoardConfig = VelaBoardConfig
    Options = VelaOptions

    def detect(self) -> ToolchainInfo:
        try:
            version: str | None = vela_version()
            where = str(find_vela())
            available, detail = True, where
        except ToolchainMissing as e:
            version, where, available, detail = None, "npubench", False, e.message
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=version,
            available=available,
            environment="npubench" if available else where,
            install=INSTALL,
            detail=detail,
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        problems = []
        if board.npu is None or board.npu.weights_memory is None:
            problems.append("npu.weights_memory is needed for Vela's constant memory")
        if board.npu is None or board.npu.arena_memory is None:
            problems.append("npu.arena_memory is needed for Vela's tensor arena")
        return problems

    def cache_inputs(
        self, model: CompileInput, board: Board, config: StrictModel, clock_mhz: float | None
    ) -> list[Any]:
        return [config.model_dump(mode="json"), clock_mhz, system_config_ini(board, clock_mhz)]

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        assert isinstance(options, VelaOptions)
        tflite = model.tflite_int8
        if not tflite.is_file():
            raise CompilerError(f"model file {tflite} does not exist", "give the path of a .tflite")
        system = board_system(board, clock_mhz, options.system_config)
        check_int8(tflite)
        seconds = run_vela(tflite, system, options.optimise, workdir)
        report = report_from_dir(board, workdir, options, vela_version())
        report.seconds_tool = seconds
        return report


TOOLCHAIN = Vela()


def compile_tflite(
    tflite: Path,
    board: Board,
    optimise: str = "Performance",
    clock_mhz: float | None = None,
    system_config: str = "board",
) -> CompileReport:
    """Vela on one int8 ``.tflite`` for ``board``, through the cached plug-in path."""
    from npubench.toolchains.run import compile_with

    return compile_with(
        TOOLCHAIN,
        CompileInput.from_tflite(Path(tflite)),
        board,
        {"optimise": optimise, "system_config": system_config},
        clock_mhz,
    )


def vela_tflite(report: CompileReport) -> Path:
    """The Vela-compiled model of a report (what the firmware embeds)."""
    return Path(report.artifact_dir) / f"{MODEL_STEM}_vela.tflite"

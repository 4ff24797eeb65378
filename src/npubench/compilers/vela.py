"""Compile an int8 TFLite model for an Ethos-U board with the real Arm Vela, and read its report.

May import ``npubench.errors``, ``npubench.schema``, ``npubench.cache`` and ``npubench.targets``.
Vela runs as its own CLI in a subprocess (the ``vela`` next to this Python), with npubench's
system configuration for the board (``vela_config``) or Vela's built-in one ("vela-default").
Outputs (``<model>_vela.tflite``, the summary and per-layer CSVs, the console log) are cached by
content; a cached compile is re-parsed, not re-run.

Vela's inference time covers the NPU only: operators it leaves on the CPU are listed with
placement "cpu" and no cycles.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from npubench import processes
from npubench.cache import cache_key, cached_dir, file_sha256
from npubench.compilers.vela_config import (
    VelaSystem,
    board_system,
    port_memories,
    require_ethos_board,
    system_config_ini,
)
from npubench.compilers.vela_parse import (
    VelaConsole,
    VelaSummary,
    count_ops,
    parse_console,
    parse_per_layer_csv,
    parse_summary_csv,
)
from npubench.errors import CompilerError
from npubench.schema import LayerPlacement, MemoryUse
from npubench.targets.schema import Board

__all__ = [
    "OPTIMISE_CHOICES",
    "VelaReport",
    "compile_for_board",
    "find_vela",
    "memory_fit",
    "system_config_ini",
    "vela_version",
]

OPTIMISE_CHOICES = ("Performance", "Size")
VELA_TIMEOUT_S = 900
_LOG_NAME = "vela_console.txt"
_META_NAME = "npubench_vela.json"
_MODEL_STEM = "model"  # Vela names its outputs after the input file

# Bumped when the way npubench drives Vela changes, so old cache entries are not reused.
_DRIVER_VERSION = 1


@dataclass
class VelaReport:
    """What Vela says about one model on one board (see docs/ARCHITECTURE.md)."""

    cycles_npu: int
    cycles_total: int
    inference_time_s: float  # cycles_total at clock_hz: the NPU part of one inference
    clock_hz: float
    sram_used_bytes: int  # Vela's SRAM use (arena, plus constants placed in SRAM)
    flash_used_bytes: int  # the compiled model image (``_vela.tflite``) kept in the const memory
    encoded_weights_bytes: int
    nn_macs: int
    layers: list[LayerPlacement]
    fits: bool
    fit: dict[str, MemoryUse]
    vela_version: str
    artifact_dir: Path
    cached: bool
    ops: dict[str, int] = field(default_factory=lambda: {"npu": 0, "cpu": 0})
    accelerator: str = ""
    system_config: str = ""
    memory_mode: str = ""
    optimise: str = "Performance"
    vela_memory_used_bytes: dict[str, int] = field(default_factory=dict)  # by Vela area
    compile_seconds: float | None = None  # wall time of the Vela run that built the artifact

    @property
    def vela_tflite(self) -> Path:
        return self.artifact_dir / f"{_MODEL_STEM}_vela.tflite"

    @property
    def fit_message(self) -> str:
        """'' when everything fits, else which memory overflows by how much."""
        over = [
            f"{name}: {m.used_bytes} B used > {m.capacity_bytes} B"
            for name, m in self.fit.items()
            if not m.fits
        ]
        return "; ".join(over)


def find_vela() -> Path:
    """The Vela CLI of this Python environment (next to ``sys.executable``), else on PATH."""
    beside = Path(sys.executable).parent / "vela"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("vela")
    if on_path:
        return Path(on_path)
    raise CompilerError(
        "Arm Vela is not installed (no `vela` next to the Python interpreter or on PATH)",
        "install it into this environment: pip install ethos-u-vela==5.2.0",
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
        raise CompilerError(
            f"cannot run {vela} --version: {e}",
            "reinstall Vela: pip install --force-reinstall ethos-u-vela==5.2.0",
        ) from e
    return done.stdout.strip().splitlines()[-1].strip()


def _check_int8(tflite: Path) -> None:
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


def _run_vela(tflite: Path, system: VelaSystem, optimise: str, out_dir: Path) -> None:
    """Run the Vela CLI once into ``out_dir`` (a cache entry being built)."""
    vela = find_vela()
    with tempfile.TemporaryDirectory(prefix="npubench-vela-") as work:
        # Vela names its outputs after the input file: give it a fixed name.
        model = Path(work) / f"{_MODEL_STEM}.tflite"
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
            raise CompilerError(
                f"cannot run Vela ({vela}): {e}", "pip install ethos-u-vela==5.2.0"
            ) from e
        seconds = time.perf_counter() - start
    (out_dir / _LOG_NAME).write_text(done.stdout + "\n" + done.stderr)
    if done.returncode != 0:
        raise CompilerError(
            f"Vela rejected {tflite.name} (exit status {done.returncode}):\n"
            + _tail(done.stderr + "\n" + done.stdout),
            "check the model is a valid int8 TFLite flatbuffer; Vela's message above names "
            "the operator or file problem",
        )
    # Paths in the recorded command are relative to the cache entry (which is renamed after).
    recorded = [a.replace(str(out_dir), "<artifact>").replace(work, "<tmp>") for a in cmd[1:]]
    meta = {"command": recorded, "seconds": seconds, "vela_version": vela_version()}
    (out_dir / _META_NAME).write_text(json.dumps(meta, indent=2))


def _find_summary(artifact: Path) -> Path:
    found = sorted(artifact.glob(f"{_MODEL_STEM}_summary_*.csv"))
    if not found:
        raise CompilerError(
            f"Vela wrote no summary CSV in {artifact}",
            "delete that cache folder and compile again; check Vela's log in it",
        )
    return found[0]


_VELA_AREA_PORT = {"sram": "Sram", "dram": "Dram", "off_chip_flash": "OffChipFlash"}


def memory_fit(board: Board, summary: VelaSummary, image_bytes: int) -> dict[str, MemoryUse]:
    """Use of each board memory Vela touches, against its capacity.

    Vela's areas map onto board memories through the AXI ports of the board's memory mode. The
    const memory holds the whole compiled model image (command stream, encoded weights, weights
    of CPU operators); in Sram_Only mode Vela reports the constants as "on-chip flash", which
    is the board's const memory (the SRAM itself).
    """
    assert board.vela is not None
    mem0, mem1 = port_memories(board)
    port_memory = {board.vela.axi1_port: mem1, board.vela.axi0_port: mem0}
    const_name = board.vela.const_memory
    used: dict[str, int] = {}
    const_by_vela = 0
    for area, nbytes in summary.memory_used_bytes.items():
        if area == "on_chip_flash":
            name = const_name
        elif _VELA_AREA_PORT[area] in port_memory:
            name = port_memory[_VELA_AREA_PORT[area]].name
        else:
            continue  # an area the board's ports do not have (Vela's own config): no capacity
        if name == const_name and area != "sram":
            const_by_vela += nbytes
        else:
            used[name] = used.get(name, 0) + nbytes
    used[const_name] = used.get(const_name, 0) + max(image_bytes, const_by_vela)
    return {
        name: MemoryUse(used_bytes=n, capacity_bytes=int(board.memory(name).size_bytes.value))
        for name, n in used.items()
    }


def _report(
    board: Board, system: VelaSystem, optimise: str, artifact: Path, cached: bool
) -> VelaReport:
    summary = parse_summary_csv(_find_summary(artifact).read_text())
    log = artifact / _LOG_NAME
    console = parse_console(log.read_text()) if log.exists() else VelaConsole()
    per_layer = artifact / f"{_MODEL_STEM}_per-layer.csv"
    layers = parse_per_layer_csv(per_layer.read_text(), console) if per_layer.exists() else []
    image = artifact / f"{_MODEL_STEM}_vela.tflite"
    image_bytes = image.stat().st_size if image.exists() else 0
    meta_path = artifact / _META_NAME
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return assemble_report(
        board,
        summary,
        console,
        layers,
        image_bytes,
        optimise=optimise,
        version=str(meta.get("vela_version") or vela_version()),
        artifact_dir=artifact,
        cached=cached,
        compile_seconds=meta.get("seconds"),
    )


def assemble_report(
    board: Board,
    summary: VelaSummary,
    console: VelaConsole,
    layers: list[LayerPlacement],
    image_bytes: int,
    *,
    optimise: str,
    version: str,
    artifact_dir: Path,
    cached: bool,
    compile_seconds: float | None = None,
) -> VelaReport:
    """A ``VelaReport`` from Vela's parsed outputs (summary, console, per-layer rows) and the
    size of the compiled image; the fit is checked against the board here."""
    fit = memory_fit(board, summary, image_bytes)
    return VelaReport(
        cycles_npu=summary.cycles_npu,
        cycles_total=summary.cycles_total,
        inference_time_s=summary.inference_time_s,
        clock_hz=summary.core_clock_hz,
        sram_used_bytes=summary.memory_used_bytes["sram"],
        flash_used_bytes=image_bytes,
        encoded_weights_bytes=summary.encoded_weights_bytes,
        nn_macs=summary.nn_macs,
        layers=layers,
        fits=all(m.fits for m in fit.values()),
        fit=fit,
        vela_version=version,
        artifact_dir=artifact_dir,
        cached=cached,
        ops=count_ops(layers, console),
        accelerator=summary.accelerator,
        system_config=summary.system_config,
        memory_mode=summary.memory_mode,
        optimise=optimise,
        vela_memory_used_bytes=summary.memory_used_bytes,
        compile_seconds=compile_seconds,
    )


def compile_for_board(
    tflite: Path,
    board: Board,
    optimise: str = "Performance",
    clock_mhz: float | None = None,
    system_config: str = "board",
) -> VelaReport:
    """Compile ``tflite`` with Vela for ``board`` and report cycles, time, memory and placement.

    ``system_config``: "board" (npubench's configuration from the board file, at ``clock_mhz``
    or the board's default clock) or "vela-default" (Vela's built-in system config for the
    accelerator, e.g. Ethos_U55_High_End_Embedded at 500 MHz, as the paper's authors used).
    A model that does not fit the board's memories comes back with ``fits=False`` and the
    figures in ``fit``; it is not an error.
    """
    if optimise not in OPTIMISE_CHOICES:
        raise CompilerError(
            f"unknown Vela optimisation {optimise!r}",
            f"use one of {', '.join(OPTIMISE_CHOICES)}",
        )
    require_ethos_board(board)
    tflite = Path(tflite)
    if not tflite.is_file():
        raise CompilerError(f"model file {tflite} does not exist", "give the path of a .tflite")
    system = board_system(board, clock_mhz, system_config)
    _check_int8(tflite)
    version = vela_version()
    key = cache_key(
        "vela",
        _DRIVER_VERSION,
        file_sha256(tflite),
        system.accelerator,
        system.system_config,
        system.memory_mode,
        system.ini_text,
        optimise,
        version,
    )
    artifact, cached = cached_dir("vela", key, lambda out: _run_vela(tflite, system, optimise, out))
    return _report(board, system, optimise, artifact, cached)

"""Emulated boards in a measurement: the model as C, the harness built for the board, QEMU booted.

``start_emulator(prepared, target)`` generates the prepared int8 model's C with
``compilers.cgen`` (cached per model and generator version), refuses a model whose arena or
input does not fit the emulated build, builds the harness for the board (``qemu.build_firmware``)
and boots it in QEMU with its UART on a pty; the returned ``EmulatorBoot`` carries the running
board, the image and what the result records about them. ``add_instruction_profile`` adds the
retired instructions per stage and layer of the same model, counted in a separate QEMU run.

A layer cgen cannot generate raises ``compilers.cgen.generator.UnsupportedOperatorError``
unchanged: which targets that matters on is the caller's question (``pipeline.measure``).

May import the foundation modules, ``targets``, ``compilers`` and the sibling ``measure``
modules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npubench import __version__
from npubench.errors import MeasurementError, NpubenchError
from npubench.measure import qemu
from npubench.schema import BenchResult, MemoryUse

Progress = Callable[[str], None]

EMULATOR_MAX_INPUT_BYTES = 4096  # NPB_MAX_INPUT_BYTES of the QEMU builds (harness Makefile)


def _quiet(_: str) -> None:
    pass


@dataclass
class EmulatorBoot:
    """A harness image running in QEMU, and what the result records about it."""

    elf: Path
    board: qemu.QemuBoard
    compiler: dict[str, Any]  # the result's ``compiler``: npubench-cgen and its figures
    cgen: dict[str, Any]  # arena, constant and input bytes, operators
    firmware: dict[str, Any]  # provenance["firmware"]: path, sha256, builder, emulator
    tick_source: str

    @property
    def port(self) -> str:
        return self.board.port

    @property
    def firmware_sha256(self) -> str:
        return str(self.firmware["sha256"])


def firmware_name(name: str) -> str:
    """The HELLO ``name`` of a model: at most 24 letters, digits, '_' or '-'."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:24]
    return cleaned or "model"


def cgen_version() -> str:
    """A digest of the code generator's sources: generated C is cached per generator version."""
    from npubench.cache import cache_key, file_sha256
    from npubench.compilers import cgen

    root = Path(cgen.__file__).parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".py", ".c", ".h"})
    return cache_key({str(p.relative_to(root)): file_sha256(p) for p in files})


def check_arena_fits(model: str, target: str, arena_bytes: int) -> None:
    """Refuse a model whose activation arena cannot fit the board's largest RAM."""
    from npubench.targets import get_target

    ram = [m for m in get_target(target).memories if m.role in ("sram", "tcm")]
    if not ram:
        return
    largest = max(ram, key=lambda m: m.capacity_bytes)
    if arena_bytes > largest.capacity_bytes:
        raise MeasurementError(
            f"{model} needs a {arena_bytes}-byte activation arena but {target}'s largest RAM "
            f"({largest.name}) holds {largest.capacity_bytes} bytes",
            hint="choose a target with more RAM (`npubench targets`) or a smaller model",
        )


def _generate_c(prepared: Any) -> tuple[Path, dict[str, Any]]:
    """The model's C (cached) and its figures from ``cgen.json``."""
    from npubench.cache import cache_key, cached_dir
    from npubench.compilers.cgen import generate_c

    def build(folder: Path) -> None:
        cg = generate_c(prepared.int8_tflite, folder, prefix="npb_model")
        figures = {
            "arena_bytes": cg.arena_bytes,
            "constant_bytes": cg.constant_bytes,
            "operators": cg.operators,
            "input_bytes": int(np.prod(cg.input_shape)),
        }
        (folder / "cgen.json").write_text(json.dumps(figures, sort_keys=True))

    gen_dir, _ = cached_dir("measure-cgen", cache_key(prepared.sha256, cgen_version()), build)
    return gen_dir, json.loads((gen_dir / "cgen.json").read_text())


def start_emulator(prepared: Any, target: str, progress: Progress = _quiet) -> EmulatorBoot:
    """Generate the model's C, build the harness for ``target`` and boot it in QEMU.

    ``prepared`` is a ``PreparedModel`` (name, sha256, int8_tflite). The caller stops the
    returned board (``boot.board.stop()``).
    """
    from npubench.cache import file_sha256

    emulated = qemu.emulated_board(target)
    progress(f"{prepared.name}: generating C (npubench cgen)")
    gen_dir, meta = _generate_c(prepared)
    check_arena_fits(prepared.name, target, int(meta["arena_bytes"]))
    if meta["input_bytes"] > EMULATOR_MAX_INPUT_BYTES:
        raise MeasurementError(
            f"{prepared.name} takes {meta['input_bytes']} input bytes; the emulated harness "
            f"is built for at most {EMULATOR_MAX_INPUT_BYTES}",
            hint="use a smaller model on the emulator, or raise NPB_MAX_INPUT_BYTES in "
            "measure/harness/Makefile",
        )
    progress(f"{prepared.name}: building the harness for {target}")
    model_port = qemu.ModelPort.from_cgen(gen_dir, prepared.sha256, firmware_name(prepared.name))
    elf = qemu.build_firmware(target, model_port)
    firmware = {
        "path": str(elf),
        "sha256": file_sha256(elf),
        "builder": "npubench measure/harness Makefile + cgen",
        "emulator": emulated.machine,
    }
    progress(f"booting QEMU {emulated.machine}")
    board = qemu.QemuBoard(target, elf)
    board.start()
    return EmulatorBoot(
        elf=elf,
        board=board,
        compiler={"name": "npubench-cgen", "version": __version__, "cycles": None, **meta},
        cgen=meta,
        firmware=firmware,
        tick_source=f"SysTick of QEMU {emulated.machine} (host wall time, cycle_accurate=0)",
    )


def add_instruction_profile(
    result: BenchResult,
    tflite: Path,
    board: Any,
    tflm_arena_bytes: int | None,
    progress: Progress = _quiet,
) -> None:
    """Emulated cores: retired instructions per stage and layer, and the image's memory.

    Counting is separate from the timed run (its own image runs the five stages once under a
    QEMU TCG plugin), so it cannot disturb the timings; a failure is recorded, not raised.
    """
    from npubench.measure.icount.profile import profile_model

    if board is None:
        return
    progress(f"{result.model}: counting instructions per layer on {board.cpu.core}")
    try:
        profile = profile_model(tflite, board.cpu.core, clock_mhz=board.cpu.clock_mhz.value)
    except NpubenchError as e:
        result.details["instruction_counts"] = {"error": str(e)}
        return
    result.details.update(profile)
    mem = profile["elf_memory"]
    result.memory = {"sram_bytes": mem["ram_bytes"], "flash_bytes": mem["flash_bytes"]}
    result.details["tflm_arena_bytes"] = tflm_arena_bytes
    ram = [m for m in board.memories if m.role in ("sram", "tcm")]
    if ram:
        capacity = max(m.capacity_bytes for m in ram)
        result.fit = {"ram": MemoryUse(mem["ram_bytes"], capacity)}

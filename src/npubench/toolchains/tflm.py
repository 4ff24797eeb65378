"""TensorFlow Lite for Microcontrollers: the runtime of the CPU baselines, as a toolchain.

TFLM compiles nothing: it interprets the int8 flatbuffer on the CPU. What it decides is the
memory plan, so this plug-in reports what TFLM itself allocates for the model (its tensor
arena, measured by the host build of TFLM in a subprocess: ``analysis.tflm.measure_arena``)
against the board's largest RAM, the flatbuffer against its flash, and every operator on the
CPU. It gives no time: a CPU board's latency comes from the predictor's CPU-kernel model.
May import ``npubench.analysis``, ``npubench.targets`` and ``npubench.toolchains.base``.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

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

DIST = "tflite-micro"
INSTALL = "pip install tflite-micro (a dependency of npubench: scripts/setup.sh)"
_RAM_ROLES = ("sram", "tcm", "external_ram")
_ROM_ROLES = ("flash", "external_ram", "sram")


def _largest(board: Board, roles: tuple[str, ...]) -> Memory | None:
    for role in roles:
        found = board.memories_with_role(role)
        if found:
            return max(found, key=lambda m: m.capacity_bytes)
    return None


class Tflm(Toolchain):
    name = "tflm"
    display_name = "TensorFlow Lite for Microcontrollers"
    tool = DIST
    consumes = "tflite-int8"
    frontend = "tflite"
    gives = ("placement", "memory")
    homepage = "https://github.com/tensorflow/tflite-micro"

    def detect(self) -> ToolchainInfo:
        try:
            version: str | None = importlib.metadata.version(DIST)
        except importlib.metadata.PackageNotFoundError:
            version = None
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=version,
            available=version is not None,
            environment="npubench",
            install=INSTALL,
            detail="host interpreter (runs in a subprocess)" if version else "not installed",
        )

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        import time

        from npubench.analysis.tflite_reader import read_tflite
        from npubench.analysis.tflm import measure_arena

        started = time.perf_counter()
        arena = measure_arena(model.tflite_int8)
        seconds = time.perf_counter() - started
        record = read_tflite(model.tflite_int8)
        core = board.cpu.core
        layers = [
            LayerReport(
                index=op.index,
                name=record.tensors[op.outputs[0]].name if op.outputs else f"op{op.index}",
                op=op.op,
                placement="cpu",
                reason=f"TFLM kernel on the {core}",
            )
            for op in record.operators
        ]
        ram, rom = _largest(board, _RAM_ROLES), _largest(board, _ROM_ROLES)
        memory = []
        if ram is not None:
            memory.append(
                MemoryRegion("tensor arena", arena, ram.capacity_bytes, ram.name, "TFLM arena")
            )
        if rom is not None:
            size = model.tflite_int8.stat().st_size
            memory.append(MemoryRegion("model", size, rom.capacity_bytes, rom.name, "flatbuffer"))
        (workdir / "tflm_arena.txt").write_text(f"Arena allocation total {arena} bytes\n")
        return CompileReport(
            toolchain=self.name,
            tool=self.tool,
            tool_version=self.detect().version or "",
            plugin_version=self.plugin_version,
            target=board.name,
            frontend="tflite-int8",
            layers=layers,
            memory=memory,
            notes=["TFLM's arena as the host build allocates it; code and stack not counted"],
            seconds_tool=seconds,
        )


TOOLCHAIN = Tflm()

"""Retired-instruction counts and ELF memory of generated int8 C on emulated Cortex-M cores.

``count_model(tflite, core)`` generates C for the model (``compilers.cgen``), marks the layer
boundaries, builds a bare-metal image for the core's QEMU board, runs it once under a TCG plugin
that counts every retired instruction, checks the output against the same C built for the host
and returns per-stage and per-layer counts. ``elf_memory(elf)`` sizes code, constants, RAM and
the arena of a linked image. Instruction counts are exact for the emulated instruction stream;
cycles and time derived from them (``predict.cpu_counts``) are estimates through a per-core CPI.

May import: npubench.errors, npubench.cache, npubench.analysis, npubench.compilers.cgen,
npubench.predict.cpu_counts (to key recorded counts), numpy, pyelftools.
"""

from npubench.measure.icount.boards import CORES, IcountCore
from npubench.measure.icount.counts import InstructionCounts, LayerCount, count_model
from npubench.measure.icount.elf_memory import ElfMemory, elf_memory

__all__ = [
    "CORES",
    "ElfMemory",
    "IcountCore",
    "InstructionCounts",
    "LayerCount",
    "count_model",
    "elf_memory",
]

"""Parsers for the GAP flow's text outputs: the AutoTiler's memory report and the AutoTiler
model (``<name>Model.c``) that NNTool generates.

May import nothing from npubench: pure text in, data out, tested on real outputs recorded in
``tests/data/nntool/`` (the uNPU-Bench study's GAP8 AutoTiler reports, an NNTool-generated model
of GreenWaves' MNIST example built with GAP SDK 3.7).

The AutoTiler report is what the model generator (``GenTile``, the AutoTiler model compiled
against the AutoTiler library) prints when it tiles the graph:

- ``Flash image <name>_L3_Flash_Const.dat (size N) for device AT_MEM_L3_DEFAULTFLASH
  successfuly generated`` (sic);
- one line per memory level, ``<level> Memory size (Bytes) : Given: G, Used: U``: ``Shared L1``
  (the cluster's L1), ``L2``, ``DefaultRam`` (L3 RAM, e.g. HyperRAM), ``DefaultFlash`` (L3
  flash); "Given" is the budget the generator had (``--L1/--L2/--L3``), "Used" what the tiled
  graph takes;
- ``key : value`` lines: ``L3|L2 Memory bandwidth for 1 graph run : N Bytes`` (bytes the DMA
  moves per inference), ``Sum of all Kernels arguments size : N Bytes``, ``Tiling Bandwith
  overhead : r Move/KerArgSize`` (sic), ``Sum of baseline bandwidth : N Bytes``, ``Percentage of
  baseline BW for L2|L3 : p %``, ``Sum of all Kernels operations : N Operations``, ``Total amount
  of flash coefficients : N Bytes``.

It contains no cycle count. The AutoTiler model lists one generator call per graph node, each
after a ``// generator for <nntool node>`` comment: ``CNN_ConvolutionPoolAct_SQ8("S2_Conv2d_...",
...)``; the string is the kernel's name in the generated code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class MemoryLevel:
    """One ``<level> Memory size (Bytes) : Given: G, Used: U`` line."""

    name: str  # "Shared L1", "L2", "DefaultRam", "DefaultFlash"
    given_bytes: int
    used_bytes: int


@dataclass
class AutoTilerReport:
    """What the AutoTiler printed for one graph."""

    flash_image: str | None = None
    flash_image_bytes: int | None = None
    flash_device: str | None = None
    levels: list[MemoryLevel] = field(default_factory=list)
    l3_bandwidth_bytes: int | None = None
    l2_bandwidth_bytes: int | None = None
    kernel_args_bytes: int | None = None
    tiling_overhead: float | None = None  # bytes moved / kernel-argument bytes
    baseline_bandwidth_bytes: int | None = None
    baseline_pct_l2: float | None = None
    baseline_pct_l3: float | None = None
    operations: int | None = None
    flash_coefficients_bytes: int | None = None

    @property
    def has_content(self) -> bool:
        return bool(self.levels) or self.operations is not None

    def level(self, name: str) -> MemoryLevel | None:
        return next((lv for lv in self.levels if lv.name == name), None)


@dataclass
class AtNode:
    """One generator call of the AutoTiler model."""

    index: int
    node: str  # the NNTool node it implements (the comment), e.g. CONV_2D_0_2_fusion
    generator: str  # e.g. CNN_ConvolutionPoolAct_SQ8
    kernel: str  # the kernel's name in the generated code, e.g. S3_Conv2d_64x32x3x3_...


_FLASH = re.compile(
    r"Flash image (\S+) \(size (\d+)\) for device (\S+) successful+y generated", re.IGNORECASE
)
_LEVEL = re.compile(r"^\s*(.+?) Memory size \(Bytes\)\s*:\s*Given:\s*(\d+),\s*Used:\s*(\d+)")
_VALUE = re.compile(r"^\s*(.+?)\s*:\s*([-\d.]+)\s*(.*?)\s*$")
_INT_FIELDS = {
    "L3 Memory bandwidth for 1 graph run": "l3_bandwidth_bytes",
    "L2 Memory bandwidth for 1 graph run": "l2_bandwidth_bytes",
    "Sum of all Kernels arguments size": "kernel_args_bytes",
    "Sum of baseline bandwidth": "baseline_bandwidth_bytes",
    "Sum of all Kernels operations": "operations",
    "Total amount of flash coefficients": "flash_coefficients_bytes",
}
_FLOAT_FIELDS = {
    "Tiling Bandwith overhead": "tiling_overhead",
    "Tiling Bandwidth overhead": "tiling_overhead",
    "Percentage of baseline BW for L2": "baseline_pct_l2",
    "Percentage of baseline BW for L3": "baseline_pct_l3",
}


def parse_autotiler_report(text: str) -> AutoTilerReport:
    """Parse the AutoTiler's report for one graph (see the module docstring); later
    occurrences of a field win, so pass the output of one generator run."""
    out = AutoTilerReport()
    for line in text.replace("\r\n", "\n").split("\n"):
        flash = _FLASH.search(line)
        if flash:
            out.flash_image = flash.group(1)
            out.flash_image_bytes = int(flash.group(2))
            out.flash_device = flash.group(3)
            continue
        level = _LEVEL.match(line)
        if level:
            name = level.group(1).strip()
            out.levels = [lv for lv in out.levels if lv.name != name]
            out.levels.append(MemoryLevel(name, int(level.group(2)), int(level.group(3))))
            continue
        value = _VALUE.match(line)
        if not value:
            continue
        key, number = value.group(1).strip(), value.group(2)
        if key in _INT_FIELDS:
            setattr(out, _INT_FIELDS[key], int(float(number)))
        elif key in _FLOAT_FIELDS:
            setattr(out, _FLOAT_FIELDS[key], float(number))
    return out


_GENERATOR_COMMENT = re.compile(r"^\s*//\s*generator for\s+(\S+)")
_GENERATOR_CALL = re.compile(r'^\s*(\w+)\(\s*"([^"]+)"')


def parse_at_model(text: str) -> list[AtNode]:
    """The generator calls of an NNTool-generated AutoTiler model, in graph order."""
    nodes: list[AtNode] = []
    pending: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if re.match(r"^\s*CreateGraph\(", line):
            break
        comment = _GENERATOR_COMMENT.match(line)
        if comment:
            pending = comment.group(1)
            continue
        call = _GENERATOR_CALL.match(line)
        if call and pending is not None:
            nodes.append(AtNode(len(nodes), pending, call.group(1), call.group(2)))
            pending = None
    return nodes

"""Cost of running a layer (or host work) on an MCU CPU, from a per-(core, op class) table.

The table is data: ``predict/params/cpu_cost.toml`` (cycles per MAC for convolutions and fully
connected layers, cycles per element for the rest, cycles per byte for host copies), every entry
with a source. It is read once per process. Unknown cores fall back to the ``generic`` (scalar)
row and say so; a later issue replaces the figures with instruction counts measured on emulated
cores without changing this interface.

May import ``npubench.errors``, ``npubench.analysis.graph_types`` and ``predict.uncertainty``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from npubench.analysis.graph_types import LayerInfo
from npubench.data import read_packaged_toml
from npubench.errors import NpubenchError
from npubench.predict.uncertainty import Spread

GENERIC_CORE = "generic"

# TFLite op -> op class of the table. Ops not listed are costed as "elementwise" per output element.
OP_CLASS: dict[str, str] = {
    "CONV_2D": "conv",
    "CONV_3D": "conv",
    "TRANSPOSE_CONV": "conv",
    "DEPTHWISE_CONV_2D": "depthwise",
    "FULLY_CONNECTED": "fully_connected",
    "BATCH_MATMUL": "fully_connected",
    "MAX_POOL_2D": "pool",
    "AVERAGE_POOL_2D": "pool",
    "MEAN": "pool",
    "SUM": "pool",
    "REDUCE_MAX": "pool",
    "SOFTMAX": "softmax",
    "LOGISTIC": "sigmoid",
    "TANH": "sigmoid",
    "CONCATENATION": "copy",
    "PAD": "copy",
    "PADV2": "copy",
    "TRANSPOSE": "copy",
    "STRIDED_SLICE": "copy",
    "SLICE": "copy",
    "SPLIT": "copy",
    "SPLIT_V": "copy",
    "GATHER": "copy",
    "RESIZE_NEAREST_NEIGHBOR": "copy",
    "RESIZE_BILINEAR": "elementwise",
    "PACK": "copy",
    "UNPACK": "copy",
}
# Ops TFLM runs in place (no data moves): only the dispatch overhead is paid.
FREE_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
PER_MAC_CLASSES = frozenset({"conv", "depthwise", "fully_connected", "pool"})


class CpuCostError(NpubenchError):
    """The CPU cost table is missing, malformed or lacks an entry."""


@dataclass(frozen=True)
class CostEntry:
    value: float
    source: str
    source_kind: str
    note: str = ""


@dataclass(frozen=True)
class CpuCostTable:
    """The parsed table: ``rows[core][op_class]`` and the spreads the figures carry."""

    rows: dict[str, dict[str, CostEntry]]
    assumption_factor: float
    measured_relative: float

    def core_row(self, core: str) -> tuple[str, dict[str, CostEntry]]:
        """The row for ``core`` (exact name, then without a trailing 'f'), else the generic row."""
        for name in (core, core.removesuffix("f")):
            if name in self.rows:
                return name, self.rows[name]
        return GENERIC_CORE, self.rows[GENERIC_CORE]

    def entry(self, core: str, op_class: str) -> CostEntry:
        _, row = self.core_row(core)
        if op_class not in row:
            raise CpuCostError(
                f"cpu_cost.toml has no {op_class!r} figure for core {core!r}",
                f"add {op_class} to [cores.{core}] in src/npubench/predict/params/cpu_cost.toml",
            )
        return row[op_class]

    def spread(self, entry: CostEntry) -> Spread:
        if entry.source_kind == "measurement":
            return Spread("relative", self.measured_relative, entry.source)
        return Spread("factor", self.assumption_factor, entry.source)


def _parse(data: dict[str, Any]) -> CpuCostTable:
    sources: dict[str, dict[str, str]] = data.get("sources", {})
    rows: dict[str, dict[str, CostEntry]] = {}
    for core, table in data.get("cores", {}).items():
        row: dict[str, CostEntry] = {}
        for op_class, fig in table.items():
            src = fig.get("source")
            if src not in sources:
                raise CpuCostError(
                    f"cpu_cost.toml: [cores.{core}].{op_class} cites undeclared source {src!r}",
                    "declare it under [sources]",
                )
            row[op_class] = CostEntry(
                float(fig["value"]), src, sources[src].get("kind", ""), fig.get("note", "")
            )
        rows[core] = row
    if GENERIC_CORE not in rows:
        raise CpuCostError("cpu_cost.toml lacks the [cores.generic] fallback row")
    unc = data.get("uncertainty", {})
    return CpuCostTable(
        rows=rows,
        assumption_factor=float(unc.get("assumption_factor", {}).get("value", 3.0)),
        measured_relative=float(unc.get("measured_relative", {}).get("value", 0.05)),
    )


@cache
def load_cpu_cost() -> CpuCostTable:
    """The packaged table, read once per process."""
    return _parse(
        read_packaged_toml("npubench.predict", "params/cpu_cost.toml", CpuCostError) or {}
    )


def op_class(op: str) -> str:
    return OP_CLASS.get(op, "elementwise")


@dataclass(frozen=True)
class CpuLayerCost:
    cycles: float
    low_cycles: float
    high_cycles: float
    op_class: str
    basis: str = "cost table"


MEASURED_BASIS = "instructions counted on an emulated core (npubench C kernels) x CPI"


def layer_cycles(layer: LayerInfo, core: str, table: CpuCostTable | None = None) -> CpuLayerCost:
    """Cycles for one layer run by the CPU, and their interval.

    With the built-in table, a layer whose (core, op, shape) -- or op class -- has retired
    instructions measured on an emulated core (``cpu_counts``: npubench's generated C) is
    costed from that count x the core's CPI; the hand-set table serves the rest (and cores with
    no counts: RISC-V, Xtensa). An explicit ``table`` always uses the table.
    """
    from npubench.predict import cpu_counts

    if table is None and layer.op not in FREE_OPS:
        measured = cpu_counts.lookup(core, layer)
        if measured is not None:
            low, high = cpu_counts.cycles_bounds(core, measured)
            return CpuLayerCost(measured, low, high, op_class(layer.op), MEASURED_BASIS)
    table = table or load_cpu_cost()
    overhead = table.entry(core, "layer_overhead")
    if layer.op in FREE_OPS:
        cycles = overhead.value
        lo, hi = table.spread(overhead).bounds(cycles)
        return CpuLayerCost(cycles, lo, hi, "free")
    cls = op_class(layer.op)
    entry = table.entry(core, cls)
    if cls in PER_MAC_CLASSES and layer.macs > 0:
        work = float(layer.macs)
    elif cls in PER_MAC_CLASSES:
        # A pooling layer the analyser gave no MACs: one window element per input element.
        work = float(sum(math.prod(s) for s in layer.input_shapes) or math.prod(layer.output_shape))
    else:
        work = float(math.prod(layer.output_shape))
    kernel = entry.value * work
    klo, khi = table.spread(entry).bounds(kernel)
    olo, ohi = table.spread(overhead).bounds(overhead.value)
    return CpuLayerCost(kernel + overhead.value, klo + olo, khi + ohi, cls)


def host_cycles(core: str, op_class_name: str, count: float) -> tuple[float, float, float]:
    """Cycles (value, low, high) for ``count`` elements/bytes of host work of one class."""
    table = load_cpu_cost()
    entry = table.entry(core, op_class_name)
    value = entry.value * count
    lo, hi = table.spread(entry).bounds(value)
    return value, lo, hi

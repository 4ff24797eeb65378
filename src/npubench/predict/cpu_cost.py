"""Cost of running a layer (or host work) on an MCU CPU, on one of two named kernel bases.

- ``deployed`` (the default): the kernels deployed firmware runs (CMSIS-NN, X-CUBE-AI, ESP-NN
  class). Cycles = the cost table's figure for (core, op class) x work x a factor per op class
  (shared across cores) x a factor per core, + a per-operator runtime overhead. The factors and
  the overhead are fitted (``npubench calibrate``) on published measurements of CPU boards
  (``cpu_deployed.toml``); a core with no measurement keeps factor 1 and the wider interval of
  leave-one-board-out cross-validation.
- ``npubench-c``: npubench's own generated plain-C kernels, from retired instructions counted
  on emulated cores x the core's CPI (``cpu_counts``), where counts exist.

The table is data: ``predict/params/cpu_cost.toml`` (cycles per MAC for convolutions and fully
connected layers, cycles per element for the rest, cycles per byte for host copies), every entry
with a source. Unknown cores fall back to the ``generic`` (scalar) row and say so.

May import ``npubench.errors``, ``npubench.data``, ``npubench.analysis`` (layer keys),
``npubench.targets`` (CPI) and ``predict.uncertainty`` / ``predict.cpu_counts``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import Field

from npubench.analysis.graph_types import LayerInfo
from npubench.analysis.layer_keys import FREE_OPS, PER_MAC_CLASSES, op_class
from npubench.data import read_packaged_toml
from npubench.errors import NpubenchError
from npubench.predict.uncertainty import Spread
from npubench.sourced import Figure, SourcedFile, parse_sourced

GENERIC_CORE = "generic"


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


class CostTableFile(SourcedFile):
    """The schema of cpu_cost.toml: per-core rows of op-class figures, each from a source."""

    cores: dict[str, dict[str, Figure]]
    uncertainty: dict[str, Figure] = Field(default_factory=dict)


def _parse(data: dict[str, Any]) -> CpuCostTable:
    parse_sourced(CostTableFile, data, "cpu_cost.toml", CpuCostError)
    sources: dict[str, dict[str, str]] = data.get("sources", {})
    rows: dict[str, dict[str, CostEntry]] = {}
    for core, table in data.get("cores", {}).items():
        row: dict[str, CostEntry] = {}
        for class_name, fig in table.items():
            src = fig.get("source")
            if src not in sources:
                raise CpuCostError(
                    f"cpu_cost.toml: [cores.{core}].{class_name} cites undeclared source {src!r}",
                    "declare it under [sources]",
                )
            row[class_name] = CostEntry(
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


@dataclass(frozen=True)
class CpuLayerCost:
    cycles: float
    low_cycles: float
    high_cycles: float
    op_class: str
    basis: str = "cost table"


CPU_KERNEL_BASES = ("deployed", "npubench-c")
MEASURED_BASIS = "npubench-c: instructions counted on an emulated core (npubench C kernels) x CPI"
TABLE_BASIS = "npubench-c: no count for this layer, the cost table's assumption"


@dataclass(frozen=True)
class DeployedKernels:
    """The fitted factors of the ``deployed`` basis (see the module docstring)."""

    class_factors: dict[str, float]
    core_factors: dict[str, float]  # normalised core name -> factor, for cores with data
    core_class_factors: dict[str, dict[str, float]]  # core -> op class -> factor (with data)
    op_overhead_cycles: float | None  # None: the cost table's per-core layer_overhead
    spread: Spread  # on a core the fit saw
    extrapolated_spread: Spread  # on a core it did not see
    basis: str  # what the basis is and what it was calibrated on

    def class_factor(self, core: str, cls: str) -> float:
        """The shared factor of an op class times this core's own for it (1 if unfitted)."""
        from npubench.targets.cpi import normalise_core

        own = self.core_class_factors.get(normalise_core(core), {}).get(cls, 1.0)
        return self.class_factors.get(cls, 1.0) * own

    def core_factor(self, core: str) -> tuple[float, bool]:
        from npubench.targets.cpi import normalise_core

        name = normalise_core(core)
        if name in self.core_factors:
            return self.core_factors[name], True
        return 1.0, False


def layer_work(layer: LayerInfo) -> tuple[str, float]:
    """(op class, work in the unit of its cost-table figure) of one layer."""
    cls = op_class(layer.op)
    if cls in PER_MAC_CLASSES and layer.macs > 0:
        return cls, float(layer.macs)
    if cls in PER_MAC_CLASSES:
        # A pooling layer the analyser gave no MACs: one window element per input element.
        window = sum(math.prod(s) for s in layer.input_shapes) or math.prod(layer.output_shape)
        return cls, float(window)
    return cls, float(math.prod(layer.output_shape))


def _table_cycles(
    layer: LayerInfo, core: str, table: CpuCostTable
) -> tuple[float, float, float, str]:
    overhead = table.entry(core, "layer_overhead")
    if layer.op in FREE_OPS:
        lo, hi = table.spread(overhead).bounds(overhead.value)
        return overhead.value, lo, hi, "free"
    cls, work = layer_work(layer)
    entry = table.entry(core, cls)
    kernel = entry.value * work
    klo, khi = table.spread(entry).bounds(kernel)
    olo, ohi = table.spread(overhead).bounds(overhead.value)
    return kernel + overhead.value, klo + olo, khi + ohi, cls


def deployed_cycles(
    layer: LayerInfo, core: str, kernels: DeployedKernels, table: CpuCostTable | None = None
) -> CpuLayerCost:
    """Cycles of one layer on the ``deployed`` basis, and their interval."""
    table = table or load_cpu_cost()
    factor, seen = kernels.core_factor(core)
    overhead = (
        kernels.op_overhead_cycles
        if kernels.op_overhead_cycles is not None
        else table.entry(core, "layer_overhead").value
    )
    if layer.op in FREE_OPS:
        cycles, cls = overhead, "free"
    else:
        cls, work = layer_work(layer)
        cycles = (
            table.entry(core, cls).value * work * kernels.class_factor(core, cls) * factor
            + overhead
        )
    spread = kernels.spread if seen else kernels.extrapolated_spread
    lo, hi = spread.bounds(cycles)
    return CpuLayerCost(cycles, lo, hi, cls, kernels.basis)


def layer_cycles(
    layer: LayerInfo,
    core: str,
    table: CpuCostTable | None = None,
    basis: str = "npubench-c",
    kernels: DeployedKernels | None = None,
) -> CpuLayerCost:
    """Cycles for one layer run by the CPU, and their interval, on the named basis.

    ``npubench-c``: a layer whose (core, op, shape) -- or op class -- has retired instructions
    measured on an emulated core (``cpu_counts``: npubench's generated C) is costed from that
    count x the core's CPI; the cost table serves the rest. ``deployed``: see
    ``deployed_cycles`` (``kernels`` from ``load_deployed_kernels``). An explicit ``table``
    with the ``npubench-c`` basis always uses the table.
    """
    if basis == "deployed":
        return deployed_cycles(layer, core, kernels or load_deployed_kernels(), table)
    if basis != "npubench-c":
        raise CpuCostError(
            f"unknown CPU kernel basis {basis!r}", f"use one of {', '.join(CPU_KERNEL_BASES)}"
        )
    from npubench.predict import cpu_counts

    if table is None and layer.op not in FREE_OPS:
        measured = cpu_counts.lookup(core, layer)
        if measured is not None:
            low, high = cpu_counts.cycles_bounds(core, measured)
            return CpuLayerCost(measured, low, high, op_class(layer.op), MEASURED_BASIS)
    cycles, lo, hi, cls = _table_cycles(layer, core, table or load_cpu_cost())
    return CpuLayerCost(cycles, lo, hi, cls, TABLE_BASIS if table is None else "cost table")


DEPLOYED_FILE = "cpu_deployed"


def parse_deployed(data: dict[str, Any] | None) -> DeployedKernels:
    """The deployed-kernel factors from a params file's content (None: all factors 1)."""
    data = data or {}
    params = data.get("params", {})
    unc = data.get("uncertainty", {})
    meta = data.get("meta", {})

    def value(key: str, default: float | None) -> float | None:
        entry = params.get(key)
        return float(entry["value"]) if isinstance(entry, dict) else default

    classes = {
        cls: float(value(f"class_factor_{cls}", 1.0) or 1.0)
        for cls in ("conv", "depthwise", "fully_connected", "pool", "elementwise", "copy")
    }
    cores = {
        core: float(entry["value"])
        for core, entry in data.get("core_factors", {}).items()
        if isinstance(entry, dict)
    }
    core_classes: dict[str, dict[str, float]] = {}
    for key, entry in data.get("core_class_factors", {}).items():
        core, _, cls = key.partition(":")
        if isinstance(entry, dict) and cls:
            core_classes.setdefault(core, {})[cls] = float(entry["value"])
    seen = unc.get("fitted_core", {"kind": "factor", "value": 3.0})
    unseen = unc.get("unseen_core", {"kind": "factor", "value": 3.0})
    return DeployedKernels(
        class_factors=classes,
        core_factors=cores,
        core_class_factors=core_classes,
        op_overhead_cycles=value("op_overhead_cycles", None),
        spread=Spread(seen["kind"], float(seen["value"]), str(seen.get("source", ""))),
        extrapolated_spread=Spread(
            unseen["kind"], float(unseen["value"]), str(unseen.get("source", ""))
        ),
        basis=str(
            meta.get(
                "basis",
                "deployed kernels (CMSIS-NN class): cost-table assumption, not calibrated",
            )
        ),
    )


@cache
def load_deployed_kernels(fitted: bool = True) -> DeployedKernels:
    """The deployed basis: the hand-written defaults, overridden by what ``npubench calibrate``
    fitted (``cpu_deployed.fitted.toml``, the user's before the shipped one) unless
    ``fitted=False`` (what calibration starts from)."""
    from npubench.predict.parameters import FITTED_SUFFIX, read_params_file

    base = read_params_file(DEPLOYED_FILE) or {}
    fitted_data = (read_params_file(DEPLOYED_FILE + FITTED_SUFFIX) or {}) if fitted else {}
    merged: dict[str, Any] = {}
    for key in (
        "meta",
        "params",
        "core_factors",
        "core_class_factors",
        "uncertainty",
        "validation",
    ):
        merged[key] = {**base.get(key, {}), **fitted_data.get(key, {})}
    return parse_deployed(merged)


def host_cycles(core: str, op_class_name: str, count: float) -> tuple[float, float, float]:
    """Cycles (value, low, high) for ``count`` elements/bytes of host work of one class."""
    table = load_cpu_cost()
    entry = table.entry(core, op_class_name)
    value = entry.value * count
    lo, hi = table.spread(entry).bounds(value)
    return value, lo, hi

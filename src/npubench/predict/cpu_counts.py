"""Layer cost on a Cortex-M core from instruction counts measured on emulated cores.

``params/cpu_counts.toml`` holds per-layer retired-instruction counts of npubench's generated C
(``measure.icount``, QEMU TCG plugin) keyed by (core, op type, shape signature), and the
instructions per MAC (per output element for ops without MACs) derived from them per
(core, op type) and per (core, op class). ``targets/cpi.toml`` gives each core's cycles per
instruction with its source. ``lookup(core, layer)`` returns estimated cycles = instructions x
CPI: the exact shape if it was counted, else the op's (then the op class's) measured rate times
the layer's work, else None (the caller keeps its hand-set table).

May import: npubench.errors, npubench.data, npubench.analysis (layer keys) and
npubench.targets (per-core CPI).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from npubench.analysis.graph_types import LayerInfo
from npubench.analysis.layer_keys import (
    op_class,
    shape_signature,
    unit_for,
    work_of,
)
from npubench.data import read_packaged_toml
from npubench.errors import NpubenchError
from npubench.targets.cpi import cpi, normalise_core


class CpuCountsError(NpubenchError):
    """cpu_counts.toml or cpi.toml is missing or malformed."""


@dataclass(frozen=True)
class Rate:
    """Measured instructions per unit of work (a MAC or an output element)."""

    per: str  # PER_MAC or PER_ELEMENT
    value: float
    layers: int  # how many counted layers it averages


@dataclass(frozen=True)
class CountTable:
    exact: dict[tuple[str, str, str], float]  # (core, op, signature) -> instructions
    op_rates: dict[tuple[str, str], Rate]  # (core, op) -> rate
    class_rates: dict[tuple[str, str], Rate]  # (core, op class) -> rate
    provenance: dict[str, Any]


def _rate(entry: dict[str, Any]) -> Rate:
    return Rate(str(entry["per"]), float(entry["instructions"]), int(entry.get("layers", 0)))


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class CountedModel(_Loose):
    model: str
    core: str
    machine: str
    model_sha256: str
    elf_sha256: str
    inference_instructions: int = Field(ge=0)


class CountedLayer(_Loose):
    core: str
    op: str
    shape: str
    instructions: float = Field(ge=0)


class CountRate(_Loose):
    core: str
    kind: Literal["op", "class"]
    key: str
    per: Literal["mac", "element"]
    instructions: float = Field(ge=0)


class CountsFile(BaseModel):
    """The schema of cpu_counts.toml: counts npubench measured itself (QEMU TCG plugin), with
    the provenance of the run that measured them (no external source: the file is the
    measurement)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    provenance: dict[str, Any]
    models: list[CountedModel] = Field(default_factory=list)
    layers: list[CountedLayer] = Field(default_factory=list)
    rates: list[CountRate] = Field(default_factory=list)


def parse_counts(data: dict[str, Any]) -> CountTable:
    try:
        CountsFile.model_validate({"provenance": {}, **data})
    except ValidationError as e:
        raise CpuCountsError(
            f"cpu_counts.toml is malformed: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}",
            "regenerate it with benchmarks/cgen_icount.py --record",
        ) from e
    try:
        exact = {
            (normalise_core(r["core"]), r["op"], r["shape"]): float(r["instructions"])
            for r in data.get("layers", [])
        }
        op_rates: dict[tuple[str, str], Rate] = {}
        class_rates: dict[tuple[str, str], Rate] = {}
        for r in data.get("rates", []):
            key = (normalise_core(r["core"]), str(r["key"]))
            if r["kind"] == "op":
                op_rates[key] = _rate(r)
            elif r["kind"] == "class":
                class_rates[key] = _rate(r)
            else:
                raise KeyError(f"rate kind {r['kind']!r}")
    except (KeyError, TypeError, ValueError) as e:
        raise CpuCountsError(
            f"cpu_counts.toml is malformed: {e}",
            "regenerate it with benchmarks/cgen_icount.py --record",
        ) from e
    return CountTable(exact, op_rates, class_rates, dict(data.get("provenance", {})))


@cache
def load_counts() -> CountTable:
    """The packaged measured counts (empty table if the file is absent)."""
    data = read_packaged_toml(
        "npubench.predict", "params/cpu_counts.toml", CpuCountsError, missing_ok=True
    )
    return CountTable({}, {}, {}, {}) if data is None else parse_counts(data)


def lookup_instructions(
    core: str, layer: LayerInfo, table: CountTable | None = None
) -> tuple[float, str] | None:
    """(instructions, how) for ``layer`` on ``core``; how is "exact", "op-rate" or "class-rate"."""
    table = table or load_counts()
    name = normalise_core(core)
    hit = table.exact.get((name, layer.op, shape_signature(layer)))
    if hit is not None:
        return hit, "exact"
    candidates = (
        (table.op_rates.get((name, layer.op)), "op-rate"),
        (table.class_rates.get((name, op_class(layer.op))), "class-rate"),
    )
    for rate, how in candidates:
        if rate is None or rate.per != unit_for(layer):
            continue
        work = work_of(layer, rate.per)
        if work > 0:
            return rate.value * work, how
    return None


def lookup(core: str, layer: LayerInfo, table: CountTable | None = None) -> float | None:
    """Estimated cycles of ``layer`` on ``core``: measured instructions x the core's CPI."""
    figure = cpi(core)
    found = lookup_instructions(core, layer, table)
    if figure is None or found is None:
        return None
    return found[0] * figure.value


def cycles_bounds(core: str, cycles: float) -> tuple[float, float]:
    """(low, high) of an estimate from :func:`lookup`: the CPI range of the core."""
    figure = cpi(core)
    if figure is None or figure.value <= 0:
        return cycles, cycles
    return cycles * figure.low / figure.value, cycles * figure.high / figure.value


def instructions_to_us(
    core: str, instructions: float, clock_hz: float
) -> tuple[float, float, float]:
    """(estimate, low, high) in µs of ``instructions`` on ``core`` at ``clock_hz``.

    An ESTIMATE: the count is measured, the cycles per instruction are not (see cpi.toml).
    """
    figure = cpi(core)
    if figure is None:
        raise CpuCountsError(
            f"targets/cpi.toml has no CPI figure for core {core!r}",
            "add [cores.<core>].cpi with its source to src/npubench/targets/cpi.toml",
        )
    scale = 1e6 / clock_hz
    return (
        instructions * figure.value * scale,
        instructions * figure.low * scale,
        instructions * figure.high * scale,
    )

"""Cycles per instruction of each CPU core, with its plausible range and source (``cpi.toml``).

May import ``npubench.errors``, ``npubench.sourced`` and ``npubench.data``. A core's
CPI is a hardware fact: the instruction counter (``measure.icount``) and the CPU cost model
(``predict``) both read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import Field

from npubench.data import read_packaged_toml
from npubench.errors import NpubenchError
from npubench.sourced import Figure, SourcedFile, parse_sourced


class CpiError(NpubenchError):
    """cpi.toml is missing or malformed."""


def normalise_core(core: str) -> str:
    """``cortex-m4f`` -> ``cortex-m4``: the FPU does not change integer kernels."""
    core = core.strip().lower()
    return core.removesuffix("f") if core.startswith("cortex-m") else core


@dataclass(frozen=True)
class Cpi:
    """Cycles per instruction of one core, with its plausible range and source."""

    value: float
    low: float
    high: float
    source: str
    source_kind: str


class CpiFigure(Figure):
    low: float | None = Field(default=None, ge=0)
    high: float | None = Field(default=None, ge=0)


class CpiFile(SourcedFile):
    """The schema of cpi.toml: per core, its CPI (with a range) and CoreMark/MHz."""

    cores: dict[str, dict[str, CpiFigure]]


def parse_cpi(data: dict[str, Any]) -> dict[str, Cpi]:
    for core, row in data.get("cores", {}).items():
        fig = row.get("cpi")
        if not fig or fig.get("source") not in data.get("sources", {}):
            raise CpiError(
                f"cpi.toml: [cores.{core}].cpi is missing or cites an undeclared source",
                "every CPI figure needs a value and a source declared under [sources]",
            )
    parse_sourced(CpiFile, data, "cpi.toml", CpiError)
    sources = data.get("sources", {})
    out: dict[str, Cpi] = {}
    for core, row in data.get("cores", {}).items():
        fig = row.get("cpi")
        if not fig or fig.get("source") not in sources:
            raise CpiError(
                f"cpi.toml: [cores.{core}].cpi is missing or cites an undeclared source",
                "every CPI figure needs a value and a source declared under [sources]",
            )
        value = float(fig["value"])
        out[normalise_core(core)] = Cpi(
            value,
            float(fig.get("low", value)),
            float(fig.get("high", value)),
            str(fig["source"]),
            str(sources[fig["source"]].get("kind", "")),
        )
    return out


@cache
def load_cpi() -> dict[str, Cpi]:
    """Per-core CPI figures from ``targets/cpi.toml``."""
    return parse_cpi(read_packaged_toml("npubench.targets", "cpi.toml", CpiError) or {})


def cpi(core: str) -> Cpi | None:
    return load_cpi().get(normalise_core(core))

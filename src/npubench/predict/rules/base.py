"""What every family's fit rules share: the result they return, the limits data, helpers.

May import errors, schema, targets, analysis. The rules modules (one per family, named by the
family spec's ``rules``) import this module; ``predict.fit`` imports them. Keeping the shared
pieces here, below both, is what keeps the two from importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.errors import NpubenchError, TargetError
from npubench.schema import LayerPlacement, MemoryUse
from npubench.targets.families import get_family
from npubench.targets.schema import Board, Memory


class FitCheckError(NpubenchError):
    """The fit check cannot run: a missing or malformed limits table, or an unknown family."""


@dataclass
class MemoryDemand:
    """What one memory holds, for the verdict: e.g. what="weights", label="CNN weight memory"."""

    what: str
    label: str


@dataclass
class FamilyResult:
    """What one family's rules return; ``check_fit`` turns it into a ``FitReport``."""

    placement: list[LayerPlacement]
    memory: dict[str, MemoryUse]
    demands: dict[str, MemoryDemand] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- limits data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """One family's documented limits: ``[sources]`` plus tables of ``{value, source, note}``."""

    name: str
    sources: dict[str, dict[str, str]]
    tables: dict[str, dict[str, Any]]

    def table(self, key: str) -> dict[str, Any]:
        if key not in self.tables:
            raise FitCheckError(
                f"family spec {self.name}.toml has no table [limits.{key}]",
                f"add [limits.{key}] to src/npubench/targets/families/{self.name}.toml",
            )
        return self.tables[key]

    def value(self, table: str, key: str, default: Any = None) -> Any:
        entry = self.table(table).get(key)
        if entry is None:
            return default
        return entry["value"] if isinstance(entry, dict) and "value" in entry else entry

    def is_assumption(self, table: str, key: str) -> bool:
        entry = self.table(table).get(key)
        if not isinstance(entry, dict) or "source" not in entry:
            return False
        return self.sources.get(entry["source"], {}).get("kind") == "assumption"


@cache
def load_limits(family: str) -> Limits:
    """The documented limits of ``family`` (its spec in targets/families/, sources checked on
    load by the spec's schema)."""
    spec = get_family(family)
    return Limits(
        name=spec.name,
        sources={k: v.model_dump() for k, v in spec.sources.items()},
        tables=spec.limit_tables(),
    )


# --- shared helpers for the rules ----------------------------------------------------------


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def kernel_text(layer: LayerInfo) -> str:
    """'CONV_2D 5x5' style text for verdicts; the kernel only where it says something."""
    if layer.kernel and layer.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):
        return f"{layer.op} {layer.kernel[0]}x{layer.kernel[1]}"
    return layer.op


def describe_layer(layer: LayerInfo) -> str:
    return f"layer {layer.index} '{layer.name}' ({kernel_text(layer)})"


def place(layer: LayerInfo, where: str, reason: str = "") -> LayerPlacement:
    return LayerPlacement(
        index=layer.index,
        name=layer.name,
        op=layer.op,
        placement=where,  # type: ignore[arg-type]
        reason=reason,
        macs=layer.macs,
    )


def arena_bytes(analysis: GraphAnalysis) -> tuple[int, str]:
    """The tensor arena to budget: TFLM's measured arena if known, else peak live activations."""
    if analysis.tflm_arena_bytes:
        return analysis.tflm_arena_bytes, "TFLM arena"
    return analysis.peak_activation_bytes, "peak activations"


def memory_label(mem: Memory) -> str:
    labels = {
        "sram": "SRAM",
        "flash": "flash",
        "external_ram": "external RAM",
        "tcm": "TCM",
        "npu_weights": "NPU weight memory",
        "npu_data": "NPU data memory",
    }
    return f"{labels[mem.role]} '{mem.name}'"


def largest(board: Board, *roles: str) -> Memory | None:
    """The largest memory of the first role in ``roles`` the board has."""
    for role in roles:
        found = board.memories_with_role(role)
        if found:
            return max(found, key=lambda m: m.capacity_bytes)
    return None


def has_npu(board: Board) -> bool:
    """Whether the board has an NPU to place layers on."""
    return board.has_npu


def placement_by_index(placement: Iterable[LayerPlacement]) -> dict[int, str]:
    """Layer index -> "npu" / "cpu" / "unsupported", built once per prediction."""
    return {p.index: p.placement for p in placement}


def runs_on_cpu(board: Board, placement: Mapping[int, str], layer_index: int) -> bool:
    """Whether layer ``layer_index`` runs on the CPU, given ``placement_by_index(...)``.

    Every layer does on a board without an NPU. On an NPU board a layer runs on the NPU unless
    placed elsewhere; a layer the placement does not list runs on the NPU (Vela's per-layer
    rows, for one, need not name every analysis layer). "unsupported" layers count as CPU
    layers: a prediction only reaches them when another source (Vela) says the model runs.
    """
    if not has_npu(board):
        return True
    return placement.get(layer_index, "npu") != "npu"


def empty_memory(board: Board) -> dict[str, MemoryUse]:
    """Every memory of the board, nothing used yet."""
    return {
        m.name: MemoryUse(used_bytes=0, capacity_bytes=m.capacity_bytes) for m in board.memories
    }


def add_use(
    result: FamilyResult, mem: Memory, used: int, what: str, label: str | None = None
) -> None:
    """Add ``used`` bytes of ``what`` to one memory (two demands on one memory add up)."""
    cur = result.memory[mem.name]
    result.memory[mem.name] = MemoryUse(cur.used_bytes + used, cur.capacity_bytes)
    prev = result.demands.get(mem.name)
    text = what if prev is None or prev.what == what else f"{prev.what} + {what}"
    result.demands[mem.name] = MemoryDemand(what=text, label=label or memory_label(mem))


def host_memory(
    analysis: GraphAnalysis,
    board: Board,
    result: FamilyResult,
    *,
    arena_mem: str | None = None,
    const_mem: str | None = None,
) -> None:
    """Arena against RAM, weights against flash: the plan of a TFLM-style runtime."""
    arena, arena_what = arena_bytes(analysis)
    ram = board.memory(arena_mem) if arena_mem else largest(board, "sram", "tcm", "external_ram")
    rom = board.memory(const_mem) if const_mem else largest(board, "flash", "external_ram", "sram")
    if ram is None or rom is None:
        raise TargetError(
            f"board {board.name} lists no memory for the tensor arena or the weights",
            "add an sram and a flash memory to the board file",
        )
    add_use(result, ram, arena, arena_what)
    add_use(result, rom, analysis.total_weight_bytes, "weights")
    result.notes.append(
        f"{arena_what} ({kib(arena)}) counted in {ram.name}, weights "
        f"({kib(analysis.total_weight_bytes)}) in {rom.name}; runtime code and buffers not counted"
    )

"""Fit and operator-support checks: can this int8 model run on this target, and where?

``check_fit(analysis, board)`` places every layer ("npu", "cpu" or "unsupported" with a reason),
counts the use of every memory of the board against its capacity and gives a one-line verdict.
It is analytical: no vendor compiler runs (for Ethos-U it calls Vela's own operator checker).

The per-family rules live in ``predict.rules.<family>``; the documented limits they apply live,
with their sources, in ``predict/limits/*.toml``. This module holds the shared types and helpers
the rules use. May import errors, schema, targets, analysis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.data import read_packaged_toml
from npubench.errors import NpubenchError, TargetError
from npubench.schema import LayerPlacement, MemoryUse
from npubench.targets.schema import Board, Memory


class FitCheckError(NpubenchError):
    """The fit check cannot run: a missing or malformed limits file, or an unknown family."""


@dataclass
class FitReport:
    """Whether a model runs on a target, where each layer runs, and what each memory holds."""

    target: str
    fits: bool  # runs at all: every layer placed, every memory within capacity
    verdict: str  # "fits" or "does not fit: <the first problem, naming the layer or memory>"
    placement: list[LayerPlacement]
    memory: dict[str, MemoryUse]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Layers per placement, e.g. {"npu": 12, "cpu": 1, "unsupported": 0}."""
        out = {"npu": 0, "cpu": 0, "unsupported": 0}
        for p in self.placement:
            out[p.placement] += 1
        return out


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
    """One limits file: ``[sources]`` plus tables of ``{value, source, note}`` limits."""

    name: str
    sources: dict[str, dict[str, str]]
    tables: dict[str, dict[str, Any]]

    def table(self, key: str) -> dict[str, Any]:
        if key not in self.tables:
            raise FitCheckError(
                f"limits file {self.name}.toml has no table [{key}]",
                f"add [{key}] to src/npubench/predict/limits/{self.name}.toml",
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


LIMIT_FILES = ("ethos_u", "max78000", "neutron", "gap", "cvitek", "neural_art", "mvp", "cpu")


@cache
def load_limits(name: str) -> Limits:
    """Read ``predict/limits/<name>.toml``; every limit must cite a declared source."""
    data = read_packaged_toml("npubench.predict", f"limits/{name}.toml", FitCheckError) or {}
    sources = data.pop("sources", {})
    problems = []
    for table_name, table in data.items():
        for key, entry in table.items():
            if isinstance(entry, dict) and entry.get("source") not in sources:
                problems.append(
                    f"[{table_name}].{key} cites undeclared source {entry.get('source')!r}"
                )
    if problems:
        raise FitCheckError(
            f"limits file {name}.toml: " + "; ".join(problems), "declare the source in [sources]"
        )
    return Limits(name=name, sources=sources, tables=data)


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
    """Whether the board has an NPU to place layers on (a "cpu" family entry is none)."""
    return board.npu is not None and board.npu.family != "cpu"


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


# --- entry point ---------------------------------------------------------------------------


def _verdict(result: FamilyResult, analysis: GraphAnalysis) -> tuple[bool, str]:
    layers = {layer.index: layer for layer in analysis.layers}
    problems: list[str] = []
    for p in result.placement:
        if p.placement == "unsupported":
            where = describe_layer(layers[p.index]) if p.index in layers else f"layer {p.index}"
            problems.append(f"{where}: {p.reason}")
    for name, use in result.memory.items():
        if not use.fits:
            demand = result.demands.get(name, MemoryDemand("data", name))
            problems.append(
                f"{demand.what} need {kib(use.used_bytes)} of "
                f"{kib(use.capacity_bytes or 0)} {demand.label}"
            )
    if not problems:
        return True, "fits"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return False, f"does not fit: {problems[0]}{more}"


def check_fit(analysis: GraphAnalysis, board: Board) -> FitReport:
    """Check that ``analysis`` runs on ``board``: placement, memory use and a verdict."""
    # Imported here, not at module top: the rule modules import this module's helpers.
    from npubench.predict.rules import rules_for

    family = board.npu.family if board.npu else "cpu"
    result = rules_for(family)(analysis, board)
    fits, verdict = _verdict(result, analysis)
    return FitReport(
        target=board.name,
        fits=fits,
        verdict=verdict,
        placement=result.placement,
        memory=result.memory,
        notes=result.notes,
    )

"""Fit and operator-support checks: can this int8 model run on this target, and where?

``check_fit(analysis, board)`` places every layer ("npu", "cpu" or "unsupported" with a reason),
counts the use of every memory of the board against its capacity and gives a one-line verdict.
It is analytical: no vendor compiler runs (for Ethos-U it calls Vela's own operator checker).

The per-family rules live in ``predict.rules.<module>`` (the family spec names the module);
the documented limits they apply live, with their sources, in the family specs
(``targets/families/*.toml``). Shared types and helpers are in ``predict.rules.base``.
May import errors, schema, targets, analysis and predict.rules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.rules.base import (
    FamilyResult,
    FitCheckError,
    MemoryDemand,
    describe_layer,
    kib,
)
from npubench.schema import LayerPlacement, MemoryUse
from npubench.targets.families import get_family
from npubench.targets.schema import Board

Rule = Callable[[GraphAnalysis, Board], FamilyResult]


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


def rules_for(family: str) -> Rule:
    """The ``check`` function of the rules module the family spec names."""
    module = get_family(family).family.rules
    try:
        rules = importlib.import_module(f"npubench.predict.rules.{module}")
    except ModuleNotFoundError as e:
        raise FitCheckError(
            f"family {family!r} names rules module {module!r}, which does not exist",
            f"add npubench/predict/rules/{module}.py with a check(analysis, board) function",
        ) from e
    check: Rule = rules.check
    return check


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


def check_fit(analysis: GraphAnalysis, board: Board, family: str | None = None) -> FitReport:
    """Check that ``analysis`` runs on ``board``: placement, memory use and a verdict.

    ``family`` applies another family's rules (``"cpu"``: every layer on the board's CPU)."""
    result = rules_for(family or board.family)(analysis, board)
    fits, verdict = _verdict(result, analysis)
    return FitReport(
        target=board.name,
        fits=fits,
        verdict=verdict,
        placement=result.placement,
        memory=result.memory,
        notes=result.notes,
    )

"""Per-family placement and memory rules, one module per NPU family.

Each module exposes ``check(analysis, board) -> FamilyResult``; ``rules_for(family)`` picks the
module for a board's ``npu.family``. May import npubench.predict.fit (shared helpers), errors,
schema, targets, analysis.
"""

from __future__ import annotations

from collections.abc import Callable

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.fit import FamilyResult, FitCheckError
from npubench.predict.rules import (
    cpu,
    cvitek,
    ethos_u,
    gap,
    max78000,
    mvp,
    neural_art,
    neutron,
)
from npubench.targets.schema import Board

Rule = Callable[[GraphAnalysis, Board], FamilyResult]

RULES: dict[str, Rule] = {
    "ethos-u": ethos_u.check,
    "max78000-cnn": max78000.check,
    "neutron": neutron.check,
    "gap-cluster": gap.check,
    "ne16": gap.check,
    "cvitek-tpu": cvitek.check,
    "neural-art": neural_art.check,
    "mvp": mvp.check,
    "cpu": cpu.check,
}


def rules_for(family: str) -> Rule:
    try:
        return RULES[family]
    except KeyError:
        raise FitCheckError(
            f"no fit rules for NPU family {family!r}",
            f"add a module to npubench/predict/rules/ and list it in RULES ({', '.join(RULES)})",
        ) from None

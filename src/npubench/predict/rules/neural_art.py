"""Fit rules for ST Neural-ART (STM32N6): mapped operators on the NPU, the rest on the M55.

Limits and their sources: predict/limits/neural_art.toml (the operator list is an assumption:
ST's per-operator table could not be read). May import npubench.predict.fit, analysis, targets.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.rules._oplist import check_by_list
from npubench.predict.rules.base import FamilyResult, load_limits
from npubench.targets.schema import Board


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits("neural-art")
    return check_by_list(
        analysis,
        board,
        limits.value("neural-art", "accelerated_ops"),
        "Neural-ART: operator mapping assumed from the NPU's units; kernel/stride limits not "
        "applied (check with `stedgeai analyze`); software epochs run on the Cortex-M55",
    )

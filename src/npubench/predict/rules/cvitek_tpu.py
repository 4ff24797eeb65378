"""Fit rules for the CVITEK/Sophgo CV180x TPU: standard CNN ops on the TPU, all data in DRAM.

Limits and their sources: predict/limits/cvitek.toml. May import npubench.predict.fit,
analysis, targets.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.rules._oplist import check_by_list
from npubench.predict.rules.base import FamilyResult, load_limits
from npubench.targets.schema import Board


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits("cvitek-tpu")
    return check_by_list(
        analysis,
        board,
        limits.value("cvitek-tpu", "accelerated_ops"),
        "CV180x TPU: standard int8 CNN operators assumed supported by TPU-MLIR; others become "
        "CPU ops; weights and activations share the DRAM (the Linux/RTOS share is not counted)",
    )

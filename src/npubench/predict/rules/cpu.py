"""Fit rules for plain MCU CPUs: every layer on the CPU, arena in RAM, weights in flash.

Also the memory plan the NPU families with a TFLM-style host runtime reuse. May import
npubench.predict.fit, analysis, targets.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis
from npubench.predict.rules.base import FamilyResult, empty_memory, host_memory, load_limits, place
from npubench.targets.schema import Board


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    load_limits("cpu")  # validates the documented memory model's sources
    result = FamilyResult(
        placement=[
            place(layer, "cpu", f"runs on the {board.cpu.core}") for layer in analysis.layers
        ],
        memory=empty_memory(board),
    )
    host_memory(analysis, board, result)
    return result

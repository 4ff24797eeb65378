"""Shared rule for NPUs documented only by a list of accelerated operators.

A layer whose op is in the list (and whose data is 8-bit) runs on the NPU, anything else falls
back to the host CPU; memory follows the host runtime's plan (arena in RAM, weights in flash).
May import npubench.predict.fit, analysis, targets.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.rules.base import FamilyResult, empty_memory, host_memory, place
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board

EIGHT_BIT = ("int8", "uint8")


def place_by_list(
    layer: LayerInfo, accelerated: set[str], npu_name: str, cpu_name: str
) -> LayerPlacement:
    if layer.dtype not in EIGHT_BIT:
        return place(layer, "cpu", f"{layer.dtype} data: {npu_name} runs 8-bit layers only")
    if layer.op in accelerated:
        return place(layer, "npu", f"{layer.op} is accelerated by {npu_name}")
    return place(
        layer, "cpu", f"{layer.op} is not accelerated by {npu_name}: runs on the {cpu_name}"
    )


def check_by_list(
    analysis: GraphAnalysis, board: Board, accelerated: list[str], note: str
) -> FamilyResult:
    npu_name = board.npu.name if board.npu else "the NPU"
    ops = set(accelerated)
    result = FamilyResult(
        placement=[place_by_list(lay, ops, npu_name, board.cpu.core) for lay in analysis.layers],
        memory=empty_memory(board),
        notes=[note],
    )
    host_memory(analysis, board, result)
    return result

"""Fit rules for Rockchip RKNPU2 (RV1103, RV1106, RK3566): listed operators on the NPU, the rest
on the CPU, weights and activations in the board's DDR.

Limits and their sources: targets/families/rknpu.toml (Rockchip's rknn-toolkit2 operator list,
mapped to TFLite builtins). Only the operator list, 8-bit data and the operators Rockchip runs
at batch 1 only are checked; no numeric per-operator limits are published. Memory follows
rknn's plan on these Linux SoCs: the compiled weights and the activation buffer both live in
the DDR the NPU reads (``npu.weights_memory`` / ``npu.arena_memory``). May import
npubench.predict.rules.base, analysis, targets, errors.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis
from npubench.errors import TargetError
from npubench.predict.rules._oplist import place_by_list
from npubench.predict.rules.base import (
    FamilyResult,
    add_use,
    arena_bytes,
    empty_memory,
    kib,
    largest,
    load_limits,
    place,
)
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board, Memory

FAMILY = "rknpu"


def _npu_memory(board: Board, attr: str) -> Memory:
    name = getattr(board.npu, attr, None) if board.npu else None
    mem = board.memory(name) if name else largest(board, "external_ram", "sram")
    if mem is None:
        raise TargetError(
            f"board {board.name} lists no memory for the RKNPU's weights and activations",
            "add the board's DDR as a memory of role external_ram and name it in npu."
            "weights_memory and npu.arena_memory",
        )
    return mem


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits(FAMILY)
    accelerated = set(limits.value(FAMILY, "accelerated_ops"))
    batch1 = set(limits.value(FAMILY, "batch1_ops", []))
    npu_name = board.npu.name if board.npu else "the NPU"
    placement: list[LayerPlacement] = []
    for layer in analysis.layers:
        p = place_by_list(layer, accelerated, npu_name, board.cpu.core)
        shape = layer.input_shapes[0] if layer.input_shapes else layer.output_shape
        if p.placement == "npu" and layer.op in batch1 and shape and shape[0] > 1:
            p = place(
                layer,
                "cpu",
                f"batch {shape[0]}: rknn runs {layer.op} on the NPU at batch 1 only",
            )
        placement.append(p)
    result = FamilyResult(
        placement=placement,
        memory=empty_memory(board),
        notes=[
            "RKNPU: operator list from Rockchip's rknn-toolkit2 OPs Support (NPU placement of "
            "listed operators assumed); no kernel/stride/channel limits published, none applied"
        ],
    )
    data, weights = _npu_memory(board, "arena_memory"), _npu_memory(board, "weights_memory")
    arena, arena_what = arena_bytes(analysis)
    add_use(result, data, arena, f"activations ({arena_what})")
    add_use(result, weights, analysis.total_weight_bytes, "weights")
    result.notes.append(
        f"activations ({arena_what}, {kib(arena)}) counted in {data.name} as a stand-in for "
        f"rknn's internal memory, weights ({kib(analysis.total_weight_bytes)}) in "
        f"{weights.name}; Linux, the runtime and its buffers share that memory and are not "
        "counted"
    )
    return result

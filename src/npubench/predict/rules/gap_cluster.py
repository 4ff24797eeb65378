"""Fit rules for GreenWaves GAP8 (cluster) and GAP9 (cluster + NE16), driven by NNTool.

GAP8 (family "gap-cluster"): NNTool maps every standard int8 op to the 8-core cluster, which
plays the NPU. GAP9 (family "ne16", whose spec sets ``ne16_present``): NE16 takes 3x3/1x1
convolutions, 3x3 depthwise and fully connected layers; other layers run on the cluster cores
("cpu"). NNTool has no CPU fallback, so ops it cannot import are unsupported. Memory: weights +
activations in L2, weights spill to L3 when the board has it. Limits and their sources:
predict/limits/gap.toml. May import npubench.predict.fit, analysis, targets."""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.errors import TargetError
from npubench.predict.rules.base import (
    FamilyResult,
    Limits,
    add_use,
    arena_bytes,
    empty_memory,
    kib,
    largest,
    load_limits,
    place,
)
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board


def _ne16_reason(layer: LayerInfo, limits: Limits) -> str | None:
    """Why NE16 can take this layer, or None when it cannot."""
    stride_ok = not layer.stride or max(layer.stride) <= limits.value("gap", "ne16_stride_max")
    kernel = list(layer.kernel) if layer.kernel else None
    if layer.op == "CONV_2D" and kernel in limits.value("gap", "ne16_conv_kernels") and stride_ok:
        return f"NE16 {kernel[0]}x{kernel[1]} convolution"
    if (
        layer.op == "DEPTHWISE_CONV_2D"
        and kernel in limits.value("gap", "ne16_depthwise_kernels")
        and stride_ok
    ):
        return "NE16 3x3 depthwise convolution"
    if layer.op == "FULLY_CONNECTED" and limits.value("gap", "ne16_fully_connected"):
        return "NE16 fully connected"
    return None


def _placement(layer: LayerInfo, board: Board, limits: Limits) -> LayerPlacement:
    if layer.op not in limits.value("gap", "cluster_ops"):
        return place(layer, "unsupported", f"NNTool has no kernel for {layer.op} (no CPU fallback)")
    if layer.dtype not in ("int8", "uint8"):
        return place(
            layer, "unsupported", f"{layer.dtype} data: npubench targets int8 NNTool graphs"
        )
    cores = board.npu.cores if board.npu else 1
    if limits.value("gap", "ne16_present", False):
        why = _ne16_reason(layer, limits)
        if why:
            return place(layer, "npu", why)
        return place(layer, "cpu", f"{layer.op}: runs on the cluster cores, not NE16")
    return place(layer, "npu", f"AutoTiler kernel on the {cores}-core cluster")


def _memory(analysis: GraphAnalysis, board: Board, result: FamilyResult) -> None:
    arena, arena_what = arena_bytes(analysis)
    weights = analysis.total_weight_bytes
    l2 = largest(board, "sram")
    if l2 is None:
        raise TargetError(
            f"board {board.name} lists no L2 memory (role sram)", "add it to the board file"
        )
    l3_rom = largest(board, "flash", "external_ram")
    l3_ram = largest(board, "external_ram")
    if arena + weights <= l2.capacity_bytes or l3_rom is None:
        add_use(result, l2, arena, arena_what, f"L2 '{l2.name}'")
        add_use(result, l2, weights, "weights", f"L2 '{l2.name}'")
    else:
        result.notes.append(
            f"weights ({kib(weights)}) do not fit L2 beside the activations: NNTool keeps them in "
            f"L3 '{l3_rom.name}' and streams them per inference (slower)"
        )
        add_use(result, l3_rom, weights, "weights")
        if arena > l2.capacity_bytes and l3_ram is not None and l3_ram is not l3_rom:
            result.notes.append(f"activations ({kib(arena)}) spill to L3 '{l3_ram.name}'")
            add_use(result, l3_ram, arena, arena_what)
        else:
            add_use(result, l2, arena, arena_what, f"L2 '{l2.name}'")
    l1 = largest(board, "npu_data")
    if l1 is not None:
        biggest = max(
            (lay.activation_bytes + lay.weight_bytes for lay in analysis.layers), default=0
        )
        add_use(result, l1, min(biggest, l1.capacity_bytes), "tiles")
        result.notes.append(
            f"L1 '{l1.name}' is the AutoTiler's tiling scratch: shown as the largest layer's "
            "working set, capped at L1 (larger layers are tiled)"
        )


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits(board.family)
    result = FamilyResult(
        placement=[_placement(layer, board, limits) for layer in analysis.layers],
        memory=empty_memory(board),
        notes=["GAP: NNTool operator list and NE16 kernel set are assumptions (limits/gap.toml)"],
    )
    _memory(analysis, board, result)
    return result

"""Fit rules for the Silicon Labs MVP (EFR32MG24): MVP kernels where the tensors fit its array
controllers, CMSIS-NN on the Cortex-M33 otherwise.

Limits and their sources: predict/limits/mvp.toml. May import npubench.predict.fit, analysis,
targets.
"""

from __future__ import annotations

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.rules._oplist import check_by_list
from npubench.predict.rules.base import FamilyResult, Limits, load_limits, place
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")


def _too_big(shape: list[int], limits: Limits) -> str | None:
    """Why an NHWC tensor does not fit the MVP's array controllers, or None."""
    if len(shape) != 4:
        return None
    _, h, w, c = shape
    packs = 2 if limits.value("mvp", "even_inner_packs_two") and c % 2 == 0 else 1
    dim_max = limits.value("mvp", "dim_elements_max")
    stride_max = limits.value("mvp", "stride_elements_max")
    if max(h, w) > dim_max or c > dim_max * packs:
        return f"tensor {shape} has a dimension over {dim_max} elements"
    if w * c > stride_max * packs:
        return f"row stride W x C = {w * c} over {stride_max * packs} int8 values"
    return None


def _mvp_placement(layer: LayerInfo, placed: LayerPlacement, limits: Limits) -> LayerPlacement:
    if placed.placement != "npu":
        return placed
    dil_max = limits.value("mvp", "conv_dilation_max")
    if layer.op in CONV_OPS and layer.dilation and max(layer.dilation) > dil_max:
        return place(layer, "cpu", f"dilation {layer.dilation}: MVP convolutions need dilation 1")
    for shape in [*layer.input_shapes, layer.output_shape]:
        why = _too_big(shape, limits)
        if why:
            return place(layer, "cpu", f"{why}: falls back to CMSIS-NN on the Cortex-M33")
    return placed


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits("mvp")
    result = check_by_list(
        analysis,
        board,
        limits.value("mvp", "accelerated_ops"),
        "MVP: tensor-size checks approximate the Gecko SDK's own (array dims <= 1024, "
        "row stride <= 2047 elements)",
    )
    result.placement = [
        _mvp_placement(layer, placed, limits)
        for layer, placed in zip(analysis.layers, result.placement, strict=True)
    ]
    return result

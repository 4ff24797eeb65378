"""Keys that describe a layer the same way everywhere: its op class, its shape signature, its work.

May import ``npubench.analysis.graph_types`` only. The CPU cost model (``predict``), the
instruction counter that records counts (``measure.icount``) and the tables they share key
layers by these functions; keeping them here, below both, is what lets the two agree without
importing each other.
"""

from __future__ import annotations

import math

from npubench.analysis.graph_types import LayerInfo

PER_MAC = "mac"
PER_ELEMENT = "element"

# TFLite op -> op class of the table. Ops not listed are costed as "elementwise" per output element.
OP_CLASS: dict[str, str] = {
    "CONV_2D": "conv",
    "CONV_3D": "conv",
    "TRANSPOSE_CONV": "conv",
    "DEPTHWISE_CONV_2D": "depthwise",
    "FULLY_CONNECTED": "fully_connected",
    "BATCH_MATMUL": "fully_connected",
    "MAX_POOL_2D": "pool",
    "AVERAGE_POOL_2D": "pool",
    "MEAN": "pool",
    "SUM": "pool",
    "REDUCE_MAX": "pool",
    "SOFTMAX": "softmax",
    "LOGISTIC": "sigmoid",
    "TANH": "sigmoid",
    "CONCATENATION": "copy",
    "PAD": "copy",
    "PADV2": "copy",
    "TRANSPOSE": "copy",
    "STRIDED_SLICE": "copy",
    "SLICE": "copy",
    "SPLIT": "copy",
    "SPLIT_V": "copy",
    "GATHER": "copy",
    "RESIZE_NEAREST_NEIGHBOR": "copy",
    "RESIZE_BILINEAR": "elementwise",
    "PACK": "copy",
    "UNPACK": "copy",
}
# Ops TFLM runs in place (no data moves): only the dispatch overhead is paid.
FREE_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
PER_MAC_CLASSES = frozenset({"conv", "depthwise", "fully_connected", "pool"})


def op_class(op: str) -> str:
    """The op class a TFLite builtin is costed as ("elementwise" when not listed)."""
    return OP_CLASS.get(op, "elementwise")


def _dims(shape: list[int] | tuple[int, ...] | None) -> str:
    return "x".join(str(int(d)) for d in shape) if shape else "-"


def shape_signature(layer: LayerInfo) -> str:
    """Everything about a layer's shape that changes its kernel's instruction count."""
    parts = [
        "in=" + ",".join(_dims(s) for s in layer.input_shapes),
        "out=" + _dims(layer.output_shape),
        "k=" + _dims(layer.kernel),
        "s=" + _dims(layer.stride),
        "d=" + _dims(layer.dilation),
        "pad=" + (layer.padding or "-"),
        "params=" + str(int(layer.params)),
    ]
    return ";".join(parts)


def work_of(layer: LayerInfo, per: str) -> float:
    """MACs or output elements of ``layer`` (the unit a rate is counted in)."""
    if per == PER_MAC:
        return float(layer.macs)
    return float(math.prod(layer.output_shape)) if layer.output_shape else 0.0


def unit_for(layer: LayerInfo) -> str:
    """Layers with MACs are costed per MAC, the rest per output element."""
    return PER_MAC if layer.macs > 0 else PER_ELEMENT

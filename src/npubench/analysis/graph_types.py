"""The per-layer table every later stage (compilers, predict, report) reads."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LayerInfo:
    """One operator of an int8 TFLite graph."""

    index: int
    name: str  # output tensor name (what Vela's per-layer CSV calls the layer)
    op: str  # TFLite builtin name, e.g. "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"
    input_shapes: list[list[int]]  # activation inputs only (no weights/bias)
    output_shape: list[int]
    kernel: list[int] | None = None  # [kh, kw] for conv/pool
    stride: list[int] | None = None  # [sh, sw]
    padding: str | None = None  # "SAME" / "VALID"
    dilation: list[int] | None = None
    fused_activation: str | None = None  # "NONE", "RELU", "RELU6", ...
    macs: int = 0
    params: int = 0  # weights + biases (element count)
    weight_bytes: int = 0  # bytes of constant tensors (int8 weights + int32 bias)
    activation_bytes: int = 0  # bytes of activation inputs + output
    dtype: str = "int8"


@dataclass
class GraphAnalysis:
    """A whole model: layers, totals, peak activation memory and the TFLM checks."""

    model_sha256: str
    layers: list[LayerInfo]
    input_shape: list[int]
    input_dtype: str
    output_shape: list[int]
    output_dtype: str
    total_macs: int
    total_params: int
    total_weight_bytes: int
    peak_activation_bytes: int  # max over the execution order of live activation bytes
    tflm_arena_bytes: int | None = None
    bit_exact: bool | None = None  # TFLM == LiteRT BUILTIN_REF on random inputs
    notes: list[str] = field(default_factory=list)
    source: str = "int8-tflite"  # or "onnx-analytical": sizes implied from the float graph

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GraphAnalysis:
        data = dict(data)
        data["layers"] = [LayerInfo(**layer) for layer in data["layers"]]
        return cls(**data)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer.op] = counts.get(layer.op, 0) + 1
        return counts

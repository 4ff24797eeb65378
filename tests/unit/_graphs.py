"""Builders of ``GraphAnalysis`` objects by hand, for tests that need no TFLite file.

Shapes are NHWC with batch 1; weights, MACs and activation bytes follow from the shapes the same
way the TFLite analyser counts them (int8 weights, int32 bias, int8 activations).
"""

from __future__ import annotations

import math

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo


def _same_out(size: int, stride: int) -> int:
    return math.ceil(size / stride)


class GraphBuilder:
    """Appends layers that chain from the previous output; ``build()`` gives the analysis."""

    def __init__(self, input_shape: list[int]) -> None:
        self.input_shape = list(input_shape)
        self.shape = list(input_shape)
        self.layers: list[LayerInfo] = []

    def _add(
        self, op: str, out: list[int], inputs: list[list[int]] | None = None, **kw
    ) -> GraphBuilder:
        ins = inputs if inputs is not None else [self.shape]
        act = sum(math.prod(s) for s in ins) + math.prod(out)
        self.layers.append(
            LayerInfo(
                index=len(self.layers),
                name=kw.pop("name", f"{op.lower()}_{len(self.layers)}"),
                op=op,
                input_shapes=[list(s) for s in ins],
                output_shape=list(out),
                activation_bytes=act,
                **kw,
            )
        )
        self.shape = list(out)
        return self

    def conv(
        self,
        out_c: int,
        k: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: str = "SAME",
        act: str = "RELU",
        dilation: int = 1,
        name: str | None = None,
    ) -> GraphBuilder:
        kh, kw = (k, k) if isinstance(k, int) else k
        _, h, w, c = self.shape
        if padding == "SAME":
            oh, ow = _same_out(h, stride), _same_out(w, stride)
        else:
            oh = (h - (kh - 1) * dilation - 1) // stride + 1
            ow = (w - (kw - 1) * dilation - 1) // stride + 1
        params = kh * kw * c * out_c + out_c
        extra = {"name": name} if name else {}
        return self._add(
            "CONV_2D",
            [1, oh, ow, out_c],
            kernel=[kh, kw],
            stride=[stride, stride],
            padding=padding,
            dilation=[dilation, dilation],
            fused_activation=act,
            macs=oh * ow * out_c * kh * kw * c,
            params=params,
            weight_bytes=kh * kw * c * out_c + 4 * out_c,
            **extra,
        )

    def depthwise(self, k: int = 3, stride: int = 1, act: str = "RELU") -> GraphBuilder:
        _, h, w, c = self.shape
        oh, ow = _same_out(h, stride), _same_out(w, stride)
        return self._add(
            "DEPTHWISE_CONV_2D",
            [1, oh, ow, c],
            kernel=[k, k],
            stride=[stride, stride],
            padding="SAME",
            dilation=[1, 1],
            fused_activation=act,
            macs=oh * ow * c * k * k,
            params=k * k * c + c,
            weight_bytes=k * k * c + 4 * c,
        )

    def pool(
        self, op: str = "MAX_POOL_2D", k: int = 2, stride: int | None = None, padding: str = "VALID"
    ) -> GraphBuilder:
        s = stride or k
        _, h, w, c = self.shape
        oh, ow = (
            ((h - k) // s + 1, (w - k) // s + 1)
            if padding == "VALID"
            else (_same_out(h, s), _same_out(w, s))
        )
        return self._add(
            op,
            [1, oh, ow, c],
            kernel=[k, k],
            stride=[s, s],
            padding=padding,
            fused_activation="NONE",
            macs=oh * ow * c * k * k,
        )

    def pad(self, amount: int) -> GraphBuilder:
        _, h, w, c = self.shape
        return self._add("PAD", [1, h + 2 * amount, w + 2 * amount, c])

    def mean(self) -> GraphBuilder:
        _, h, w, c = self.shape
        return self._add("MEAN", [1, c], macs=h * w * c)

    def reshape(self, shape: list[int]) -> GraphBuilder:
        return self._add("RESHAPE", shape)

    def add(self) -> GraphBuilder:
        return self._add("ADD", self.shape, inputs=[self.shape, self.shape])

    def fc(self, out_f: int, act: str = "NONE") -> GraphBuilder:
        in_f = math.prod(self.shape[1:])
        return self._add(
            "FULLY_CONNECTED",
            [1, out_f],
            fused_activation=act,
            macs=in_f * out_f,
            params=in_f * out_f + out_f,
            weight_bytes=in_f * out_f + 4 * out_f,
        )

    def op(self, op: str, out: list[int] | None = None, **kw) -> GraphBuilder:
        return self._add(op, out if out is not None else self.shape, **kw)

    def build(
        self, peak_activation_bytes: int | None = None, tflm_arena_bytes: int | None = None
    ) -> GraphAnalysis:
        peak = peak_activation_bytes or max(
            (lay.activation_bytes for lay in self.layers), default=0
        )
        return GraphAnalysis(
            model_sha256="0" * 64,
            layers=self.layers,
            input_shape=self.input_shape,
            input_dtype="int8",
            output_shape=self.shape,
            output_dtype="int8",
            total_macs=sum(lay.macs for lay in self.layers),
            total_params=sum(lay.params for lay in self.layers),
            total_weight_bytes=sum(lay.weight_bytes for lay in self.layers),
            peak_activation_bytes=peak,
            tflm_arena_bytes=tflm_arena_bytes,
        )


def small_cnn() -> GraphAnalysis:
    """A healthy KWS-sized CNN every NPU here can run: 3x3 convs, pooling, FC, softmax."""
    return (
        GraphBuilder([1, 32, 32, 3])
        .conv(16)
        .pool()
        .conv(32)
        .pool()
        .conv(32, k=1)
        .reshape([1, 8 * 8 * 32])
        .fc(10)
        .op("SOFTMAX")
        .build()
    )

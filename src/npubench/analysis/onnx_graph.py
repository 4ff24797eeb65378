"""Analytical per-layer table of a float ONNX model: the int8 TFLite graph it would become.

May import ``npubench.errors``, ``npubench.cache`` and the sibling module ``graph_types``; of
other packages only onnx (its shape inference) and numpy. Nothing is quantized, converted or
run, so a MobileNetV2 takes a few tens of milliseconds instead of the minutes of the int8 path
(``npubench.models.prepare``: onnx2tf, then TensorFlow's TFLiteConverter, full int8,
per-channel weights). The result is a ``GraphAnalysis`` like ``analysis.graph.analyze_tflite``
gives for that int8 model, with ``source == "onnx-analytical"`` and a note saying so.

What the two converters do, and is reproduced here:

- Layout: tensors of rank >= 3 become channels-last (NCHW -> NHWC, NCW -> NWC); axes of
  Concat, Softmax, reductions and Transpose follow. Tensors made by Gemm/MatMul keep their
  ONNX layout.
- Conv [+ BatchNormalization | Mul/Div/Add/Sub by a scalar or per-channel constant, any
  number] [+ Relu | Clip(0, 6) | Clip(-1, 1)] -> one CONV_2D, or DEPTHWISE_CONV_2D when
  group == input channels, the activation fused (a grouped conv is taken to be one CONV_2D
  with per-group input channels; no zoo model has one to check it against). Padding is SAME
  when the pads are symmetric and the spatial size is kept (onnx2tf's rule), VALID without
  pads, and otherwise an explicit PAD before a VALID conv (so every strided conv with pads
  gets a PAD). Conv1d -> RESHAPE (NWC -> N1WC), CONV_2D 1 x k, RESHAPE back, as TF's conv1d.
  Every conv carries an int32 bias (a zero one where the float conv had none).
- Gemm, and MatMul with a constant 2-D right-hand side [+ the same per-channel constants,
  an Add giving the bias] [+ the activations above] -> FULLY_CONNECTED; MatMul of two
  activations -> BATCH_MATMUL. ConvTranspose -> TRANSPOSE_CONV likewise.
- MaxPool / AveragePool -> MAX_POOL_2D / AVERAGE_POOL_2D: SAME when the pads equal TF's SAME
  pads, else an explicit PAD (PADV2, padding with the float minimum, for max pooling; also
  for ceil_mode's extra end row) and VALID; an AveragePool whose window
  counts differ between dimensions or positions gets onnx2tf's correction slices
  (STRIDED_SLICE per dimension, plus MUL and CONCATENATION where a factor is not 1).
  GlobalAveragePool -> MEAN, GlobalMaxPool -> REDUCE_MAX.
- Flatten/Reshape/Squeeze/Unsqueeze of a channels-last tensor -> TRANSPOSE back to NCHW (a
  transpose that moves only size-1 dimensions is a RESHAPE), then RESHAPE; chains of RESHAPEs
  merge, RESHAPEs that change nothing vanish, and a flattening RESHAPE feeding only
  FULLY_CONNECTED vanishes when it keeps the last dimension (FULLY_CONNECTED reads rows of
  it), as TFLiteConverter does.
- LOGISTIC/TANH (fixed int8 output scales) feeding a PADV2 get a QUANTIZE between them.
- Add/Sub/Mul/Div [+ Relu...] -> ADD/SUB/MUL/DIV with the activation fused; elementwise,
  activation, Concat, Pad, Resize, Slice, Split, Softmax... -> their TFLite builtins.
  Identity, Dropout and float Casts vanish. Nodes of constants only are folded.

Sizes are those of the int8 model: int8 weights, int32 biases, int8 activations and int8
constant operands (shape-like int32/int64 constants are neither params nor activations). MACs
and the peak follow ``analysis.graph``: CONV_2D = output elements x kh x kw x cin per group,
DEPTHWISE_CONV_2D = output elements x kh x kw, FULLY_CONNECTED = output elements x input
features, pooling 0; a tensor is live from its producer to its last consumer (graph inputs from
the start, outputs to the end), over the converter's execution order: depth first from the
outputs, operands in order (a residual block's main path before its shortcut).

On the nine fixed zoo models and the public families, the layer table equals the int8
model's layer by layer (ops, shapes, options, MACs, params, bytes) with onnx2tf 1.28.8 and
the TensorFlow of this environment; ``tests/unit/test_onnx_graph.py`` checks it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.cache import file_sha256
from npubench.errors import AnalysisError

if TYPE_CHECKING:
    import onnx

ANALYTICAL_SOURCE = "onnx-analytical"
ANALYTICAL_NOTE = "analytical: float graph, int8 sizes implied"
BIAS_BYTES = 4  # int32 biases of conv and fully connected layers
# Constants with more elements than this are never read (only their shapes are needed).
_SMALL_CONSTANT = 4096
_FLOAT_TYPES = {1, 10, 11, 16}  # onnx FLOAT, FLOAT16, DOUBLE, BFLOAT16

# Ops whose TFLite options carry a fused activation (LayerInfo.fused_activation is "NONE" then).
_HAS_FUSED_ACTIVATION = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "CONCATENATION",
    "TRANSPOSE_CONV",
}
_BINARY = {
    "Add": "ADD",
    "Sub": "SUB",
    "Mul": "MUL",
    "Div": "DIV",
    "Max": "MAXIMUM",
    "Min": "MINIMUM",
    "Pow": "POW",
    "Sum": "ADD",
    "Equal": "EQUAL",
    "Greater": "GREATER",
    "Less": "LESS",
    "Where": "SELECT_V2",
}
_UNARY = {
    "Relu": "RELU",
    "LeakyRelu": "LEAKY_RELU",
    "Sigmoid": "LOGISTIC",
    "Tanh": "TANH",
    "HardSwish": "HARD_SWISH",
    "Elu": "ELU",
    "Gelu": "GELU",
    "Exp": "EXP",
    "Log": "LOG",
    "Sqrt": "SQRT",
    "Abs": "ABS",
    "Neg": "NEG",
    "Floor": "FLOOR",
    "Ceil": "CEIL",
    "Round": "ROUND",
    "Sin": "SIN",
    "Cos": "COS",
    "Reciprocal": "DIV",
    "Softplus": "SOFTPLUS",
}
_REDUCE = {
    "ReduceMean": "MEAN",
    "ReduceMax": "REDUCE_MAX",
    "ReduceMin": "REDUCE_MIN",
    "ReduceSum": "SUM",
    "ReduceProd": "REDUCE_PROD",
}
_ALIASES = {"Identity", "Dropout"}
_RESHAPES = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}


@dataclass
class _Weight:
    key: str  # the ONNX constant (or a synthetic name for an implied bias)
    elements: int
    nbytes: int


@dataclass
class _Op:
    op: str
    inputs: list[str]  # activation tensors
    outputs: list[str]
    weights: list[_Weight] = field(default_factory=list)
    kernel: list[int] | None = None
    stride: list[int] | None = None
    padding: str | None = None
    dilation: list[int] | None = None
    fused_activation: str | None = None
    macs: int = 0


def analyze_onnx(
    model: str | Path | bytes | onnx.ModelProto, input_shape: tuple[int, ...] | None = None
) -> GraphAnalysis:
    """The per-layer table the int8 TFLite form of the float ONNX ``model`` would have.

    ``model`` is a path, the serialized bytes or an ``onnx.ModelProto``; ``input_shape`` (ONNX
    layout, batch 1) fixes dynamic input dimensions. See the module docstring for the mapping.
    """
    proto, digest = _load(model)
    graph = _Graph(proto, input_shape)
    graph.convert()
    return graph.analysis(digest)


def _load(model: str | Path | bytes | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model, hashlib.sha256(model.SerializeToString()).hexdigest()
    try:
        if isinstance(model, bytes | bytearray):
            return onnx.load_from_string(bytes(model)), hashlib.sha256(model).hexdigest()
        path = Path(model)
        if not path.is_file():
            raise AnalysisError(f"ONNX model {path} does not exist", "check the path")
        return onnx.load(str(path)), file_sha256(path)
    except AnalysisError:
        raise
    except Exception as exc:  # protobuf DecodeError and friends
        raise AnalysisError(
            f"the model is not a readable ONNX model: {type(exc).__name__}: {exc}",
            "export it again (torch.onnx.export) and check it with onnx.checker",
        ) from exc


def _channels_last(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(shape)
    return (shape[0], *shape[2:], shape[1]) if len(shape) >= 3 else shape


def _to_nchw_perm(rank: int) -> tuple[int, ...]:
    """The permutation that takes a channels-last tensor back to channels-first."""
    return (0, rank - 1, *range(1, rank - 1))


def _moves_data(shape: Sequence[int], perm: Sequence[int]) -> bool:
    """Whether transposing ``shape`` by ``perm`` reorders any dimension larger than 1."""
    kept = [axis for axis in perm if shape[axis] != 1]
    return kept != sorted(kept)


def _same_pads(size: Sequence[int], kernel: Sequence[int], strides: Sequence[int]) -> list[int]:
    """TF 'SAME' pads in ONNX order [begin..., end...] (onnx2tf's calc_tf_pooling_pads)."""
    begin, end = [], []
    for i, k, s in zip(size, kernel, strides, strict=True):
        out = (i - 1) // s + 1
        total = max((out - 1) * s + k - i, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


def _ceil_extra_pads(
    size: Sequence[int],
    kernel: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    strides: Sequence[int],
) -> list[int]:
    """End padding onnx2tf adds for ceil_mode pooling (calc_extra_padding_with_ceil)."""
    n = len(size)
    extra = []
    for i, k, d, s, pb, pe in zip(
        size, kernel, dilations, strides, pads[:n], pads[n:], strict=True
    ):
        out = math.ceil((i + pb + pe - d * (k - 1) - 1) / s + 1)
        last_start = (out - 1) * s
        extra.append(last_start + (k - 1) * d + 1 - (i + pb + pe) if last_start < i + pb else 0)
    return extra


class _Graph:
    """One ONNX graph being mapped to TFLite operators."""

    def __init__(self, model: onnx.ModelProto, input_shape: tuple[int, ...] | None) -> None:
        import onnx

        self.onnx = onnx
        self.model = model
        g = model.graph
        self.nodes = list(g.node)
        self.tensors: dict[str, onnx.TensorProto] = {t.name: t for t in g.initializer}
        self.const_shapes: dict[str, tuple[int, ...]] = {
            t.name: tuple(int(d) for d in t.dims) for t in g.initializer
        }
        self.const_types: dict[str, int] = {t.name: t.data_type for t in g.initializer}
        self.values: dict[str, np.ndarray] = {}
        inputs = [i for i in g.input if i.name not in self.tensors]
        if not inputs:
            raise AnalysisError("the ONNX model has no input", "give a model with one input")
        self.input_names = [i.name for i in inputs]
        self.output_names = [o.name for o in g.output]
        self.onnx_shapes = self._infer_shapes(inputs, input_shape)
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.nodes:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        # TFLite side: activation tensor -> shape (TFLite layout) and whether it is
        # channels-last (its layout differs from the ONNX tensor's).
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.channels_last: dict[str, bool] = {}
        self.alias: dict[str, str] = {}
        for name in self.input_names:
            shape = self.onnx_shapes[name]
            self.shapes[name] = _channels_last(shape)
            self.channels_last[name] = len(shape) >= 3
        self.ops: list[_Op] = []
        self.fused: set[int] = set()
        self.unmapped: dict[str, int] = {}
        self.notes: list[str] = []
        self._unique = 0

    # --- shapes and constants ------------------------------------------------------------

    def _infer_shapes(
        self, inputs: list[Any], input_shape: tuple[int, ...] | None
    ) -> dict[str, tuple[int, ...]]:
        """Static ONNX shapes of every value, from onnx's shape inference on a weightless copy.

        Large float initializers become typed graph inputs in the copy: shape inference needs
        their shapes, not their bytes, and not serializing megabytes of weights is most of the
        speed. Small and integer initializers stay, for data propagation (Reshape shapes).
        """
        onnx = self.onnx
        helper = onnx.helper
        skeleton = onnx.ModelProto()
        skeleton.ir_version = self.model.ir_version
        skeleton.opset_import.extend(self.model.opset_import)
        g = skeleton.graph
        g.node.extend(self.nodes)
        for name, tensor in self.tensors.items():
            elements = math.prod(tensor.dims)
            if tensor.data_type in _FLOAT_TYPES and elements > _SMALL_CONSTANT:
                g.input.append(helper.make_tensor_value_info(name, tensor.data_type, tensor.dims))
            else:
                g.initializer.append(tensor)
        if len(inputs) > 1 and input_shape is not None:
            raise AnalysisError(
                f"the model has {len(inputs)} inputs; an input shape fixes only one",
                "export the model with static input shapes",
            )
        for graph_input in inputs:
            fixed = onnx.ValueInfoProto()
            fixed.CopyFrom(graph_input)
            dims = fixed.type.tensor_type.shape.dim
            if input_shape is not None:
                if len(dims) != len(input_shape):
                    raise AnalysisError(
                        f"input shape {tuple(input_shape)} has rank {len(input_shape)}, input "
                        f"{graph_input.name!r} has rank {len(dims)}",
                        "give the shape in the model's own (ONNX, NCHW) layout, batch 1",
                    )
                for dim, size in zip(dims, input_shape, strict=True):
                    if dim.HasField("dim_value") and dim.dim_value != size:
                        raise AnalysisError(
                            f"input shape {tuple(input_shape)} does not fit input "
                            f"{graph_input.name!r}, which fixes a dimension to {dim.dim_value}",
                            "keep the model's fixed dimensions",
                        )
                    dim.Clear()
                    dim.dim_value = int(size)
            if any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
                raise AnalysisError(
                    f"input {graph_input.name!r} has dynamic dimensions",
                    "pass input_shape with every dimension fixed, batch 1 (ONNX layout)",
                )
            g.input.append(fixed)
        for output in self.model.graph.output:
            bare = helper.make_tensor_value_info(
                output.name, output.type.tensor_type.elem_type, None
            )
            g.output.append(bare)
        try:
            inferred = onnx.shape_inference.infer_shapes(skeleton, data_prop=True)
        except Exception as exc:
            raise AnalysisError(
                f"ONNX shape inference failed: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                "check the model with onnx.checker; export it with static shapes",
            ) from exc
        shapes: dict[str, tuple[int, ...]] = {}
        ig = inferred.graph
        for info in (*ig.input, *ig.value_info, *ig.output):
            tensor_type = info.type.tensor_type
            if not tensor_type.HasField("shape"):
                continue
            dims = tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                shapes[info.name] = tuple(int(d.dim_value) for d in dims)
            if tensor_type.elem_type:
                self.const_types.setdefault(info.name, tensor_type.elem_type)
        self.value_types = {
            info.name: info.type.tensor_type.elem_type
            for info in (*ig.input, *ig.value_info, *ig.output)
        }
        return shapes

    def onnx_shape(self, name: str) -> tuple[int, ...]:
        if name in self.onnx_shapes:
            return self.onnx_shapes[name]
        if name in self.const_shapes:
            return self.const_shapes[name]
        raise AnalysisError(
            f"the shape of {name!r} is not static after ONNX shape inference",
            "export the model with static shapes (fixed input shape, constant reshape targets)",
        )

    def is_const(self, name: str) -> bool:
        return name in self.const_shapes

    def value(self, name: str) -> np.ndarray:
        """The value of a constant; raises if it is unknown (a folded op we cannot evaluate)."""
        if name in self.values:
            return self.values[name]
        if name in self.tensors:
            value = self.onnx.numpy_helper.to_array(self.tensors[name])
            self.values[name] = value
            return value
        raise AnalysisError(
            f"the value of constant {name!r} is needed but cannot be computed here",
            "simplify the model first (onnxsim) so that constant subgraphs are folded",
        )

    def const_elements(self, name: str) -> int:
        return math.prod(self.const_shapes[name])

    def is_float_const(self, name: str) -> bool:
        return self.const_types.get(name, 1) in _FLOAT_TYPES

    def tfl(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[self.tfl(name)]

    def is_cl(self, name: str) -> bool:
        return self.channels_last.get(self.tfl(name), False)

    def new_tensor(self, base: str, shape: Sequence[int], channels_last: bool) -> str:
        self._unique += 1
        name = f"{base}#{self._unique}"
        self.shapes[name] = tuple(int(d) for d in shape)
        self.channels_last[name] = channels_last
        return name

    def set_tensor(self, name: str, shape: Sequence[int], channels_last: bool) -> str:
        self.shapes[name] = tuple(int(d) for d in shape)
        self.channels_last[name] = channels_last
        return name

    def output_tensor(self, onnx_name: str, channels_last: bool) -> str:
        """Register the TFLite tensor of ONNX value ``onnx_name`` (layout as flagged)."""
        shape = self.onnx_shape(onnx_name)
        return self.set_tensor(
            onnx_name, _channels_last(shape) if channels_last else shape, channels_last
        )

    def emit(self, op: _Op) -> _Op:
        self.ops.append(op)
        return op

    def single_consumer(self, name: str) -> onnx.NodeProto | None:
        users = self.consumers.get(name, [])
        if len(users) == 1 and name not in self.output_names:
            return users[0]
        return None

    def axis(self, name: str, axis: int, rank: int) -> int:
        """The TFLite axis of ONNX axis ``axis`` of tensor ``name``."""
        axis %= rank
        if not self.is_cl(name) or rank < 3 or axis == 0:
            return axis
        return rank - 1 if axis == 1 else axis - 1

    # --- the walk ------------------------------------------------------------------------

    def convert(self) -> None:
        # Constants first: a fusion looks ahead (Clip's bounds, a bias Add) at nodes whose
        # Constant inputs come later in the file.
        for node in self.nodes:
            if self._fold(node):
                self.fused.add(id(node))
        for node in self.nodes:
            if id(node) in self.fused:
                continue
            handler = _HANDLERS.get(node.op_type)
            if handler is None:
                if node.op_type in _UNARY:
                    handler = _Graph._unary
                elif node.op_type in _BINARY:
                    handler = _Graph._binary
                elif node.op_type in _REDUCE:
                    handler = _Graph._reduce
                else:
                    handler = _Graph._unmapped
            handler(self, node)
        self._peephole()
        self._requantize()
        self._schedule()

    def _fold(self, node: onnx.NodeProto) -> bool:
        """Fold a node of constants only (and Shape of a static tensor) into a constant."""
        inputs = [i for i in node.input if i]
        if node.op_type == "Shape" and inputs and inputs[0] in self.onnx_shapes:
            shape = np.array(self.onnx_shape(inputs[0]), dtype=np.int64)
            attrs = _attributes(node)
            start, end = attrs.get("start", 0), attrs.get("end", None)
            self._set_const(node.output[0], shape[start:end])
            return True
        if not all(self.is_const(i) for i in inputs):
            return False
        try:
            value = _evaluate(self, node)
        except Exception:
            value = None
        if value is not None:
            self._set_const(node.output[0], np.asarray(value))
            return True
        for out in node.output:  # an op we cannot evaluate: a constant of unknown value
            if out in self.onnx_shapes:
                self.const_shapes[out] = self.onnx_shapes[out]
                self.const_types.setdefault(out, self.value_types.get(out, 1))
        return True

    def _set_const(self, name: str, value: np.ndarray) -> None:
        self.values[name] = value
        self.const_shapes[name] = tuple(int(d) for d in value.shape)
        self.const_types[name] = 7 if value.dtype.kind in "iub" else 1

    def _activation(self, node: onnx.NodeProto | None) -> str | None:
        """The TFLite fused activation ``node`` would become, or None if it does not fuse."""
        if node is None:
            return None
        if node.op_type == "Relu":
            return "RELU"
        if node.op_type != "Clip":
            return None
        low, high = self._clip_bounds(node)
        if low == 0 and high == 6:
            return "RELU6"
        if low == -1 and high == 1:
            return "RELU_N1_TO_1"
        if low == 0 and high is None:
            return "RELU"
        return None

    def _clip_bounds(self, node: onnx.NodeProto) -> tuple[float | None, float | None]:
        attrs = _attributes(node)
        low, high = attrs.get("min"), attrs.get("max")
        names = list(node.input)
        try:
            if len(names) > 1 and names[1]:
                low = float(self.value(names[1]))
            if len(names) > 2 and names[2]:
                high = float(self.value(names[2]))
        except AnalysisError:
            return None, None
        if high is not None and high >= 3.0e38:
            high = None
        if low is not None and low <= -3.0e38:
            low = None
        return low, high

    def _fuse_activation(self, out: str) -> tuple[str, str]:
        """Fold a following activation into the op writing ``out``: (final output, name)."""
        nxt = self.single_consumer(out)
        act = self._activation(nxt)
        if nxt is not None and act is not None:
            self.fused.add(id(nxt))
            return nxt.output[0], act
        return out, "NONE"

    def _fuse_affine(self, out: str, channels: int, axis: int) -> tuple[str, bool]:
        """Fold what TFLiteConverter folds into a preceding conv or fully connected layer:
        a BatchNormalization, and Mul/Div/Add/Sub by a scalar or per-channel constant (channel
        ``axis`` of the output). Returns the last folded output and whether a bias appeared."""
        bias = False
        while (nxt := self.single_consumer(out)) is not None:
            if nxt.op_type == "BatchNormalization":
                if not all(self.is_const(i) for i in nxt.input[1:5]):
                    break
                bias = True
            elif nxt.op_type in ("Add", "Sub", "Mul", "Div") and len(nxt.input) == 2:
                if nxt.input[0] == out:
                    other = nxt.input[1]
                elif nxt.op_type in ("Add", "Mul"):
                    other = nxt.input[0]
                else:
                    break  # constant - x, constant / x
                if not self._per_channel(other, self._rank(out), channels, axis):
                    break
                bias = bias or nxt.op_type in ("Add", "Sub")
            else:
                break
            self.fused.add(id(nxt))
            out = nxt.output[0]
        return out, bias

    def _per_channel(self, name: str, rank: int, channels: int, axis: int) -> bool:
        """Whether constant ``name`` is a scalar or one value per channel along ``axis``."""
        if not self.is_const(name) or not self.is_float_const(name):
            return False
        shape = self.const_shapes[name]
        if len(shape) > rank:
            return False
        padded = (1,) * (rank - len(shape)) + tuple(shape)
        axis %= rank
        return all(d == 1 or (i == axis and d == channels) for i, d in enumerate(padded))

    # --- convolutions --------------------------------------------------------------------

    def _conv(self, node: onnx.NodeProto) -> None:
        attrs = _attributes(node)
        x, w = node.input[0], node.input[1]
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if not self.is_const(w):
            self._unmapped(node, reason="Conv with a non-constant weight")
            return
        wshape = self.const_shapes[w]  # [O, I/g, *k]
        in_shape = self.onnx_shape(x)
        rank = len(in_shape)
        spatial = rank - 2
        kernel = list(attrs.get("kernel_shape", wshape[2:]))
        strides = list(attrs.get("strides", [1] * spatial))
        dilations = list(attrs.get("dilations", [1] * spatial))
        pads = list(attrs.get("pads", [0] * 2 * spatial))
        auto_pad = _auto_pad(attrs)
        group = int(attrs.get("group", 1))
        out = node.output[0]
        out_shape = self.onnx_shape(out)

        out, _ = self._fuse_affine(out, wshape[0], 1)
        final, act = self._fuse_activation(out)

        mode, explicit = self._conv_padding(auto_pad, pads, in_shape, out_shape, spatial)
        current = self.tfl(x)
        base = final
        if explicit:
            current = self._pad(current, pads, spatial, base, "PAD")
        cout = wshape[0]
        depthwise = rank == 4 and group != 1 and len(set(strides)) == 1 and group == in_shape[1]
        if spatial == 1:
            (n, width, channels) = self.shapes[current]
            expanded = self.new_tensor(base, (n, 1, width, channels), True)
            self.emit(_Op("RESHAPE", [current], [expanded]))
            current = expanded
            kernel, strides, dilations = [1, *kernel], [1, *strides], [1, *dilations]
            conv_out = self.new_tensor(base, (out_shape[0], 1, out_shape[2], cout), True)
        elif spatial == 2:
            conv_out = self.set_tensor(final, _channels_last(out_shape), True)
        else:
            self._unmapped(node, reason=f"{spatial}-D convolution")
            return
        out_elements = math.prod(self.shapes[conv_out])
        weights = [
            _Weight(w, self.const_elements(w), self.const_elements(w)),
            _Weight(bias or f"{w}:bias", cout, cout * BIAS_BYTES),
        ]
        if depthwise:
            op, macs = "DEPTHWISE_CONV_2D", out_elements * math.prod(kernel)
        else:
            op, macs = "CONV_2D", out_elements * math.prod(kernel) * wshape[1]
        self.emit(
            _Op(
                op,
                [current],
                [conv_out],
                weights,
                kernel=kernel,
                stride=strides,
                padding=mode,
                dilation=dilations,
                fused_activation=act,
                macs=macs,
            )
        )
        if spatial == 1:
            squeezed = self.set_tensor(final, _channels_last(out_shape), True)
            self.emit(_Op("RESHAPE", [conv_out], [squeezed]))

    @staticmethod
    def _conv_padding(
        auto_pad: str,
        pads: list[int],
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        spatial: int,
    ) -> tuple[str, bool]:
        """(TFLite padding, explicit PAD needed) by onnx2tf's Conv rule."""
        if auto_pad == "SAME_UPPER":
            return "SAME", False
        if auto_pad == "VALID":
            return "VALID", False
        symmetric = pads[:spatial] == pads[spatial:]
        if auto_pad == "NOTSET" and symmetric and tuple(in_shape[2:]) == tuple(out_shape[2:]):
            return "SAME", False
        return "VALID", any(pads)

    def _pad(self, current: str, pads: Sequence[int], spatial: int, base: str, op: str) -> str:
        """Emit an explicit PAD of the spatial dimensions of channels-last ``current``."""
        shape = list(self.shapes[current])
        for i in range(spatial):
            shape[1 + i] += pads[i] + pads[spatial + i]
        padded = self.new_tensor(base, shape, True)
        self.emit(_Op(op, [current], [padded]))
        return padded

    def _conv_transpose(self, node: onnx.NodeProto) -> None:
        x, w = node.input[0], node.input[1]
        if not self.is_const(w) or len(self.onnx_shape(x)) != 4:
            self._unmapped(node, reason="ConvTranspose other than 2-D with constant weights")
            return
        attrs = _attributes(node)
        wshape = self.const_shapes[w]  # [I, O/g, kh, kw]
        cout = wshape[1] * int(attrs.get("group", 1))
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        folded, added = self._fuse_affine(node.output[0], cout, 1)
        final, act = self._fuse_activation(folded)
        out = self.set_tensor(final, _channels_last(self.onnx_shape(node.output[0])), True)
        source = self.tfl(x)
        weights = [_Weight(w, self.const_elements(w), self.const_elements(w))]
        if bias or added:
            weights.append(_Weight(bias or f"{w}:bias", cout, cout * BIAS_BYTES))
        self.emit(
            _Op(
                "TRANSPOSE_CONV",
                [source],
                [out],
                weights,
                kernel=list(wshape[2:]),
                stride=list(attrs.get("strides", [1, 1])),
                padding="SAME" if any(attrs.get("pads", [])) else "VALID",
                fused_activation=act,
                macs=math.prod(self.shapes[source]) * math.prod(wshape[2:]) * cout,
            )
        )

    # --- fully connected -----------------------------------------------------------------

    def _gemm(self, node: onnx.NodeProto) -> None:
        attrs = _attributes(node)
        a, b = node.input[0], node.input[1]
        c = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if not self.is_const(b) or int(attrs.get("transA", 0)):
            self._matmul_activations(node)
            return
        bshape = self.const_shapes[b]
        units, features = (bshape[0], bshape[1]) if int(attrs.get("transB", 0)) else bshape[::-1]
        self._fully_connected(node, a, b, c, units, features, node.output[0])

    def _matmul(self, node: onnx.NodeProto) -> None:
        a, b = node.input[0], node.input[1]
        if not self.is_const(b) or len(self.const_shapes[b]) != 2 or self.is_const(a):
            self._matmul_activations(node)
            return
        features, units = self.const_shapes[b]
        self._fully_connected(node, a, b, None, units, features, node.output[0])

    def _fully_connected(
        self,
        node: onnx.NodeProto,
        a: str,
        weight: str,
        bias: str | None,
        units: int,
        features: int,
        out: str,
    ) -> None:
        folded, added = self._fuse_affine(out, units, -1)
        final, act = self._fuse_activation(folded)
        result = self.output_tensor(final, False)
        weights = [_Weight(weight, units * features, units * features)]
        if bias is not None or added:
            weights.append(_Weight(bias or f"{weight}:bias", units, units * BIAS_BYTES))
        self.emit(
            _Op(
                "FULLY_CONNECTED",
                [self.tfl(a)],
                [result],
                weights,
                fused_activation=act,
                macs=math.prod(self.shapes[result]) * features,
            )
        )

    def _matmul_activations(self, node: onnx.NodeProto) -> None:
        a, b = node.input[0], node.input[1]
        out = self.output_tensor(node.output[0], False)
        reduced = self.onnx_shape(a)[-1]
        inputs = [self.tfl(i) for i in (a, b) if not self.is_const(i)]
        weights = [self._const_weight(i) for i in (a, b) if self.is_const(i)]
        self.emit(
            _Op(
                "BATCH_MATMUL",
                inputs,
                [out],
                weights,
                macs=math.prod(self.shapes[out]) * reduced,
            )
        )

    # --- pooling -------------------------------------------------------------------------

    def _pool(self, node: onnx.NodeProto) -> None:
        attrs = _attributes(node)
        x = node.input[0]
        in_shape = self.onnx_shape(x)
        spatial = len(in_shape) - 2
        if spatial not in (1, 2):
            self._unmapped(node, reason=f"{spatial}-D pooling")
            return
        is_max = node.op_type == "MaxPool"
        kernel = list(attrs["kernel_shape"])
        strides = list(attrs.get("strides", [1] * spatial))
        dilations = list(attrs.get("dilations", [1] * spatial))
        pads = list(attrs.get("pads", [0] * 2 * spatial))
        ceil_mode = bool(attrs.get("ceil_mode", 0))
        count_include_pad = bool(attrs.get("count_include_pad", 0))
        auto_pad = _auto_pad(attrs)
        size = list(in_shape[2:])
        window = [(k - 1) * d for k, d in zip(kernel, dilations, strict=True)] if (
            is_max and dilations != [1] * spatial
        ) else kernel  # fmt: skip
        tf_pads = _same_pads(size, window, strides)
        mode, explicit, extra = "VALID", False, [0] * spatial
        if auto_pad == "NOTSET":
            if any(pads) and tf_pads == pads:
                mode = "SAME"
            else:
                explicit = True
                if ceil_mode:
                    extra = _ceil_extra_pads(size, kernel, pads, dilations, strides)
                    pads = pads[:spatial] + [
                        p + e for p, e in zip(pads[spatial:], extra, strict=True)
                    ]
                tf_pads = pads
        elif auto_pad == "SAME_UPPER":
            mode = "SAME"
        elif auto_pad == "SAME_LOWER":
            explicit = True
        else:
            tf_pads = [0] * 2 * spatial

        out_shape = self.onnx_shape(node.output[0])
        final = node.output[0]
        current = self.tfl(x)
        padded = explicit and any(tf_pads)
        if padded and not (not is_max and spatial == 1 and kernel[0] > size[0]):
            current = self._pad(current, tf_pads, spatial, final, "PADV2" if is_max else "PAD")
            if is_max:  # the pad value (the float minimum) is an int8 constant of PADV2
                self.ops[-1].weights.append(_Weight(f"{current}:pad_value", 1, 1))
        if spatial == 1:
            n, width, channels = self.shapes[current]
            expanded = self.new_tensor(final, (n, 1, width, channels), True)
            self.emit(_Op("RESHAPE", [current], [expanded]))
            current = expanded
            kernel2, strides2 = [1, *kernel], [1, *strides]
            pooled = self.new_tensor(final, (out_shape[0], 1, out_shape[2], out_shape[1]), True)
        else:
            kernel2, strides2 = kernel, strides
            pooled = self.new_tensor(final, _channels_last(out_shape), True)
        self.emit(
            _Op(
                "MAX_POOL_2D" if is_max else "AVERAGE_POOL_2D",
                [current],
                [pooled],
                kernel=kernel2,
                stride=strides2,
                padding=mode,
                fused_activation="NONE",
            )
        )
        if spatial == 1:
            squeezed = self.new_tensor(final, _channels_last(out_shape), True)
            self.emit(_Op("RESHAPE", [pooled], [squeezed]))
            pooled = squeezed
        if not is_max:
            pooled = self._average_correction(
                pooled, size, list(out_shape[2:]), kernel, dilations, strides, pads,
                count_include_pad, padded, extra, final,
            )  # fmt: skip
        self.alias[final] = pooled

    def _average_correction(
        self,
        pooled: str,
        size: list[int],
        out_size: list[int],
        kernel: list[int],
        dilations: list[int],
        strides: list[int],
        pads: list[int],
        count_include_pad: bool,
        padded: bool,
        extra: list[int],
        base: str,
    ) -> str:
        """onnx2tf's AveragePool fix-up (its issue #124): when the window element counts are
        not all equal, each spatial dimension is sliced, scaled and concatenated again."""
        spatial = len(size)
        counts: list[list[float]] = []
        for i, out, k, d, s, pb, pe in zip(
            size, out_size, kernel, dilations, strides, pads[:spatial], pads[spatial:], strict=True
        ):
            target = np.concatenate([np.zeros(pb), np.ones(i), np.zeros(pe)])
            taps = np.zeros((k - 1) * d + 1)
            taps[::d] = 1
            row = []
            for j in range(out):
                piece = target[j * s : j * s + len(taps)]
                piece = np.concatenate([piece, np.zeros(len(taps) - len(piece))])
                row.extend(np.convolve(piece, taps, mode="valid").tolist())
            counts.append(row)
        need = len({c for row in counts for c in row}) != 1
        multiplier: list[list[float]] | None = None
        if padded:
            if not count_include_pad and need:
                multiplier = [
                    [k / n if n else 1 for n in row] for k, row in zip(kernel, counts, strict=True)
                ]
        elif count_include_pad and need:
            multiplier = [[n / k for n in row] for k, row in zip(kernel, counts, strict=True)]
        if count_include_pad and any(extra):
            if multiplier is None:
                multiplier = [[1.0] * len(row) for row in counts]
            for i, (k, e) in enumerate(zip(kernel, extra, strict=True)):
                if e:
                    multiplier[i][-1] = k / (k - e)
        if multiplier is None:
            return pooled
        shape = self.shapes[pooled]
        for dim, row in enumerate(multiplier, start=1):
            runs = _runs(row)
            pieces = []
            for start, stop, factor in runs:
                piece_shape = list(shape)
                piece_shape[dim] = stop - start + 1
                piece = self.new_tensor(base, piece_shape, True)
                self.emit(_Op("STRIDED_SLICE", [pooled], [piece]))
                if factor != 1:
                    scaled = self.new_tensor(base, piece_shape, True)
                    key = f"avg_factor={factor!r}"  # equal constants are stored once
                    self.emit(
                        _Op("MUL", [piece], [scaled], [_Weight(key, 1, 1)], fused_activation="NONE")
                    )
                    piece = scaled
                pieces.append(piece)
            if len(pieces) > 1:
                joined = self.new_tensor(base, shape, True)
                self.emit(_Op("CONCATENATION", pieces, [joined], fused_activation="NONE"))
                pooled = joined
            else:
                pooled = pieces[0]
        return pooled

    def _global_pool(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        op = "MEAN" if node.op_type == "GlobalAveragePool" else "REDUCE_MAX"
        out = self.output_tensor(node.output[0], self.is_cl(x))
        self.emit(_Op(op, [self.tfl(x)], [out]))

    def _reduce(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        out = self.output_tensor(node.output[0], self.is_cl(x) and self._rank(node.output[0]) >= 3)
        self.emit(_Op(_REDUCE[node.op_type], [self.tfl(x)], [out]))

    # --- layout and shape ops ------------------------------------------------------------

    def _reshape(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        current = self.tfl(x)
        in_shape = self.onnx_shape(x)
        out = node.output[0]
        out_shape = self.onnx_shape(out)
        if self.is_cl(x) and len(in_shape) >= 3:
            current = self._permute(current, _to_nchw_perm(len(in_shape)), out, False)
        if len(out_shape) >= 3:
            flat = self.new_tensor(out, out_shape, False)
            self.emit(_Op("RESHAPE", [current], [flat]))
            perm = (0, *range(2, len(out_shape)), 1)
            result = self._permute(flat, perm, out, True)
            self.alias[out] = result
        else:
            result = self.set_tensor(out, out_shape, False)
            self.emit(_Op("RESHAPE", [current], [result]))

    def _permute(self, current: str, perm: Sequence[int], base: str, channels_last: bool) -> str:
        """Emit the TRANSPOSE (or RESHAPE, or nothing) that permutes ``current`` by ``perm``."""
        shape = self.shapes[current]
        if list(perm) == list(range(len(shape))):
            self.channels_last[current] = channels_last
            return current
        result = self.new_tensor(base, [shape[p] for p in perm], channels_last)
        op = "TRANSPOSE" if _moves_data(shape, perm) else "RESHAPE"
        self.emit(_Op(op, [current], [result]))
        return result

    def _transpose(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        rank = len(self.onnx_shape(x))
        perm = list(_attributes(node).get("perm", list(range(rank))[::-1]))
        out_cl = rank >= 3
        cl = (0, *range(2, rank), 1) if rank >= 3 else tuple(range(rank))
        in_axes = cl if self.is_cl(x) else tuple(range(rank))  # TFLite axis -> ONNX axis
        out_axes = cl if out_cl else tuple(range(rank))
        inverse = {onnx_axis: tfl_axis for tfl_axis, onnx_axis in enumerate(in_axes)}
        tfl_perm = [inverse[perm[out_axes[j]]] for j in range(rank)]
        result = self._permute(self.tfl(x), tfl_perm, node.output[0], out_cl)
        self.alias[node.output[0]] = result

    def _alias(self, node: onnx.NodeProto) -> None:
        if self.is_const(node.input[0]):
            self._set_const_like(node.output[0], node.input[0])
        else:
            self.alias[node.output[0]] = self.tfl(node.input[0])

    def _set_const_like(self, name: str, source: str) -> None:
        self.const_shapes[name] = self.const_shapes[source]
        self.const_types[name] = self.const_types.get(source, 1)
        if source in self.values or source in self.tensors:
            self.values[name] = self.value(source)

    def _cast(self, node: onnx.NodeProto) -> None:
        to = int(_attributes(node).get("to", 1))
        if to in _FLOAT_TYPES:
            self._alias(node)
        else:
            self._generic(node, "CAST")

    def _concat(self, node: onnx.NodeProto) -> None:
        names = [i for i in node.input if i]
        active = [i for i in names if not self.is_const(i)]
        rank = self._rank(node.output[0])
        cl = any(self.is_cl(i) for i in active) and rank >= 3
        out = self.output_tensor(node.output[0], cl)
        self.emit(
            _Op(
                "CONCATENATION",
                [self.tfl(i) for i in active],
                [out],
                [
                    self._const_weight(i)
                    for i in names
                    if self.is_const(i) and self.is_float_const(i)
                ],
                fused_activation="NONE",
            )
        )

    def _softmax(self, node: onnx.NodeProto) -> None:
        op = "SOFTMAX" if node.op_type == "Softmax" else "LOG_SOFTMAX"
        self._generic(node, op)

    def _pad_node(self, node: onnx.NodeProto) -> None:
        attrs = _attributes(node)
        mode = attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        op = "PAD"
        if mode in ("reflect", "edge"):
            op = "MIRROR_PAD"
        elif len(node.input) > 2 and node.input[2] and self.is_const(node.input[2]):
            try:
                if float(np.asarray(self.value(node.input[2])).reshape(-1)[0]) != 0.0:
                    op = "PADV2"
            except AnalysisError:
                pass
        self._generic(
            node, op, inputs=node.input[:1] if op == "PAD" else node.input[:1] + node.input[2:]
        )

    def _resize(self, node: onnx.NodeProto) -> None:
        mode = _attributes(node).get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        op = "RESIZE_NEAREST_NEIGHBOR" if mode == "nearest" else "RESIZE_BILINEAR"
        self._generic(node, op, inputs=node.input[:1])

    def _split(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        outs = [o for o in node.output if o]
        sizes = {self.onnx_shape(o) for o in outs}
        cl = self.is_cl(x)
        results = [self.output_tensor(o, cl and self._rank(o) >= 3) for o in outs]
        self.emit(_Op("SPLIT" if len(sizes) == 1 else "SPLIT_V", [self.tfl(x)], results))

    def _batch_norm(self, node: onnx.NodeProto) -> None:
        """A BatchNormalization no conv absorbs: MUL and ADD by per-channel int8 constants."""
        x = node.input[0]
        channels = self.onnx_shape(x)[1] if len(self.onnx_shape(x)) > 1 else 1
        cl = self.is_cl(x)
        scaled = self.new_tensor(node.output[0], self.shape(x), cl)
        key = node.output[0]
        self.emit(
            _Op("MUL", [self.tfl(x)], [scaled], [_Weight(f"{key}:scale", channels, channels)],
                fused_activation="NONE")
        )  # fmt: skip
        final, act = self._fuse_activation(node.output[0])
        out = self.output_tensor(final, cl)
        self.emit(
            _Op("ADD", [scaled], [out], [_Weight(f"{key}:offset", channels, channels)],
                fused_activation=act)
        )  # fmt: skip

    def _clip(self, node: onnx.NodeProto) -> None:
        act = self._activation(node)
        if act is not None:
            self._generic(node, act, inputs=node.input[:1])
            return
        low, high = self._clip_bounds(node)
        if (low, high) == (0, 1):
            self._generic(node, "RELU_0_TO_1", inputs=node.input[:1])
            return
        x = node.input[0]
        cl = self.is_cl(x)
        current = self.tfl(x)
        for op, bound in (("MAXIMUM", low), ("MINIMUM", high)):
            if bound is None:
                continue
            nxt = self.new_tensor(node.output[0], self.shapes[current], cl)
            self.emit(_Op(op, [current], [nxt], [_Weight(f"{nxt}:bound", 1, 1)]))
            current = nxt
        self.alias[node.output[0]] = current

    def _prelu(self, node: onnx.NodeProto) -> None:
        self._generic(node, "PRELU")

    # --- elementwise ---------------------------------------------------------------------

    def _binary(self, node: onnx.NodeProto) -> None:
        op = _BINARY[node.op_type]
        names = [i for i in node.input if i]
        if op == "DIV" and len(names) == 2 and self.is_const(names[1]):
            op = "MUL"  # TFLiteConverter turns a division by a constant into a multiplication
        if op in ("ADD", "SUB", "MUL", "DIV") and len(names) == 2:
            final, act = self._fuse_activation(node.output[0])
        else:
            final, act = node.output[0], None
        if node.op_type == "Sum" and len(names) > 2:
            op = "ADD_N"
        self._generic(node, op, output=final, fused_activation=act)

    def _unary(self, node: onnx.NodeProto) -> None:
        self._generic(node, _UNARY[node.op_type])

    def _generic(
        self,
        node: onnx.NodeProto,
        op: str,
        output: str | None = None,
        fused_activation: str | None = None,
        inputs: Sequence[str] | None = None,
    ) -> None:
        """One TFLite op: activation inputs, float constants as int8 params, shape-like
        constants ignored; the output keeps the layout of its activation inputs. ``inputs``
        limits the ONNX inputs that are data (Slice's starts, Resize's scales are not)."""
        names = [i for i in (node.input if inputs is None else inputs) if i]
        active = [i for i in names if not self.is_const(i)]
        consts = [i for i in names if self.is_const(i) and self.is_float_const(i)]
        out_name = output or node.output[0]
        rank = self._rank(out_name)
        cl = any(self.is_cl(i) for i in active) and rank >= 3
        outs = [self.output_tensor(out_name, cl)]
        outs += [self.output_tensor(o, cl) for o in node.output[1:] if o and o in self.onnx_shapes]
        if fused_activation is None and op in _HAS_FUSED_ACTIVATION:
            fused_activation = "NONE"
        self.emit(
            _Op(
                op,
                [self.tfl(i) for i in active],
                outs,
                [self._const_weight(i) for i in consts],
                fused_activation=fused_activation,
            )
        )

    def _const_weight(self, name: str) -> _Weight:
        elements = self.const_elements(name)
        return _Weight(name, elements, elements)

    def _rank(self, name: str) -> int:
        return len(self.onnx_shape(name))

    def _unmapped(self, node: onnx.NodeProto, reason: str | None = None) -> None:
        key = node.op_type if reason is None else f"{node.op_type} ({reason})"
        self.unmapped[key] = self.unmapped.get(key, 0) + 1
        self._generic(node, f"ONNX:{node.op_type}")

    # --- what TFLiteConverter tidies -----------------------------------------------------

    def _peephole(self) -> None:
        """Merge RESHAPE chains, drop RESHAPEs that change nothing or only feed FULLY_CONNECTED."""
        outputs = {self.tfl(o) for o in self.output_names}
        changed = True
        while changed:
            changed = False
            producer = {t: op for op in self.ops for t in op.outputs}
            users: dict[str, list[_Op]] = {}
            for op in self.ops:
                for t in op.inputs:
                    users.setdefault(t, []).append(op)
            for op in list(self.ops):
                if op.op != "RESHAPE":
                    continue
                src, dst = op.inputs[0], op.outputs[0]
                before = producer.get(src)
                if (
                    before is not None
                    and before.op == "RESHAPE"
                    and len(users.get(src, [])) == 1
                    and src not in outputs
                ):
                    op.inputs = list(before.inputs)  # RESHAPE(RESHAPE(x)) == RESHAPE(x)
                    self.ops.remove(before)
                    changed = True
                    break
                readers = users.get(dst, [])
                same = self.shapes[src] == self.shapes[dst]
                # FULLY_CONNECTED reads its input as rows of its last dimension, so a
                # flattening RESHAPE that keeps the last dimension is redundant.
                into_fc = (
                    bool(readers)
                    and all(r.op == "FULLY_CONNECTED" and r.inputs[0] == dst for r in readers)
                    and len(self.shapes[dst]) == 2
                    and self.shapes[dst][-1] == self.shapes[src][-1]
                )
                if dst not in outputs and (same or into_fc):
                    for reader in readers:
                        reader.inputs = [src if t == dst else t for t in reader.inputs]
                    self.ops.remove(op)
                    changed = True
                    break
                if dst in outputs and same and src not in self.input_names:
                    before = producer.get(src)
                    if before is not None and len(users.get(src, [])) == 1:
                        before.outputs = [dst if t == src else t for t in before.outputs]
                        self.ops.remove(op)
                        changed = True
                        break

    def _requantize(self) -> None:
        """A QUANTIZE between LOGISTIC/TANH (fixed int8 output scale) and a PADV2 reading it,
        which must keep its input's scale but pads with the float minimum."""
        for op in list(self.ops):
            if op.op not in ("LOGISTIC", "TANH"):
                continue
            out = op.outputs[0]
            readers = [r for r in self.ops if r.op == "PADV2" and out in r.inputs]
            if not readers:
                continue
            requantized = self.new_tensor(
                out.split("#")[0], self.shapes[out], self.channels_last[out]
            )
            self.ops.insert(self.ops.index(op) + 1, _Op("QUANTIZE", [out], [requantized]))
            for reader in readers:
                reader.inputs = [requantized if t == out else t for t in reader.inputs]

    def _schedule(self) -> None:
        """Order the ops as TFLiteConverter writes them: depth first from the graph outputs,
        each op's inputs in operand order (a residual block's main path before its shortcut).
        Ops no output depends on keep their place after those."""
        producer = {t: op for op in self.ops for t in op.outputs}
        done: set[int] = set()
        order: list[_Op] = []
        for name in self.output_names:
            root = producer.get(self.tfl(name))
            if root is None or id(root) in done:
                continue
            stack: list[tuple[_Op, int]] = [(root, 0)]
            while stack:
                op, next_input = stack.pop()
                if next_input < len(op.inputs):
                    stack.append((op, next_input + 1))
                    before = producer.get(op.inputs[next_input])
                    if before is not None and id(before) not in done:
                        done.add(id(before))
                        stack.append((before, 0))
                    continue
                order.append(op)
            done.add(id(root))
        placed = {id(op) for op in order}
        order += [op for op in self.ops if id(op) not in placed]
        self.ops = order

    # --- the result ----------------------------------------------------------------------

    def analysis(self, digest: str) -> GraphAnalysis:
        layers = []
        for index, op in enumerate(self.ops):
            in_bytes = sum(math.prod(self.shapes[t]) for t in op.inputs)
            out_bytes = sum(math.prod(self.shapes[t]) for t in op.outputs)
            layers.append(
                LayerInfo(
                    index=index,
                    name=op.outputs[0].split("#")[0] if op.outputs else f"op_{index}",
                    op=op.op,
                    input_shapes=[list(self.shapes[t]) for t in op.inputs],
                    output_shape=list(self.shapes[op.outputs[0]]) if op.outputs else [],
                    kernel=op.kernel,
                    stride=op.stride,
                    padding=op.padding,
                    dilation=op.dilation,
                    fused_activation=op.fused_activation,
                    macs=int(op.macs),
                    params=sum(w.elements for w in op.weights),
                    weight_bytes=sum(w.nbytes for w in op.weights),
                    activation_bytes=in_bytes + out_bytes,
                    dtype="int8",
                )
            )
        unique: dict[str, _Weight] = {}
        for op in self.ops:
            for weight in op.weights:
                unique.setdefault(weight.key, weight)
        notes = [ANALYTICAL_NOTE]
        if self.unmapped:
            listed = ", ".join(f"{k} x{v}" for k, v in sorted(self.unmapped.items()))
            notes.append(f"ONNX ops without a TFLite mapping (0 MACs here): {listed}")
        if len(self.input_names) > 1 or len(self.output_names) > 1:
            notes.append(
                f"the model has {len(self.input_names)} inputs and {len(self.output_names)} "
                "outputs; input_shape/output_shape describe the first of each"
            )
        in_tensor = self.tfl(self.input_names[0])
        out_tensor = self.tfl(self.output_names[0])
        return GraphAnalysis(
            model_sha256=digest,
            layers=layers,
            input_shape=list(self.shapes[in_tensor]),
            input_dtype="int8",
            output_shape=list(self.shapes[out_tensor]) if out_tensor in self.shapes else [],
            output_dtype="int8",
            total_macs=sum(layer.macs for layer in layers),
            total_params=sum(w.elements for w in unique.values()),
            total_weight_bytes=sum(w.nbytes for w in unique.values()),
            peak_activation_bytes=self._peak(),
            notes=notes,
            source=ANALYTICAL_SOURCE,
        )

    def _peak(self) -> int:
        """``analysis.graph.peak_activation_bytes`` on the predicted int8 graph."""
        n_ops = len(self.ops)
        inputs = [self.tfl(i) for i in self.input_names]
        if n_ops == 0:
            return sum(math.prod(self.shapes[t]) for t in inputs)
        first: dict[str, int] = {}
        last: dict[str, int] = {}

        def touch(tensor: str, step: int) -> None:
            first[tensor] = min(first.get(tensor, step), step)
            last[tensor] = max(last.get(tensor, step), step)

        for tensor in inputs:
            touch(tensor, 0)
        for step, op in enumerate(self.ops):
            for tensor in (*op.inputs, *op.outputs):
                touch(tensor, step)
        for name in self.output_names:
            if self.tfl(name) in self.shapes:
                touch(self.tfl(name), n_ops - 1)
        live = [0] * n_ops
        for tensor, start in first.items():
            size = math.prod(self.shapes[tensor])
            for step in range(start, last[tensor] + 1):
                live[step] += size
        return max(live)


_HANDLERS = {
    "Conv": _Graph._conv,
    "ConvTranspose": _Graph._conv_transpose,
    "Gemm": _Graph._gemm,
    "MatMul": _Graph._matmul,
    "MaxPool": _Graph._pool,
    "AveragePool": _Graph._pool,
    "GlobalAveragePool": _Graph._global_pool,
    "GlobalMaxPool": _Graph._global_pool,
    "Reshape": _Graph._reshape,
    "Flatten": _Graph._reshape,
    "Squeeze": _Graph._reshape,
    "Unsqueeze": _Graph._reshape,
    "Transpose": _Graph._transpose,
    "Identity": _Graph._alias,
    "Dropout": _Graph._alias,
    "Cast": _Graph._cast,
    "Concat": _Graph._concat,
    "Softmax": _Graph._softmax,
    "LogSoftmax": _Graph._softmax,
    "Pad": _Graph._pad_node,
    "Resize": _Graph._resize,
    "Upsample": _Graph._resize,
    "Split": _Graph._split,
    "BatchNormalization": _Graph._batch_norm,
    "Clip": _Graph._clip,
    "PRelu": _Graph._prelu,
    "Slice": lambda self, node: self._generic(node, "STRIDED_SLICE", inputs=node.input[:1]),
    "Gather": lambda self, node: self._generic(node, "GATHER", inputs=node.input[:1]),
    "Expand": lambda self, node: self._generic(node, "BROADCAST_TO", inputs=node.input[:1]),
    "Tile": lambda self, node: self._generic(node, "TILE", inputs=node.input[:1]),
    "DepthToSpace": lambda self, node: self._generic(node, "DEPTH_TO_SPACE"),
    "SpaceToDepth": lambda self, node: self._generic(node, "SPACE_TO_DEPTH"),
    "ArgMax": lambda self, node: self._generic(node, "ARG_MAX"),
    "QuantizeLinear": _Graph._alias,
    "DequantizeLinear": _Graph._alias,
}


def _runs(values: Sequence[float]) -> list[tuple[int, int, float]]:
    """Consecutive equal values as (start, stop inclusive, value) (onnx2tf's summary)."""
    runs: list[tuple[int, int, float]] = []
    i = 0
    while i < len(values):
        start = i
        while i < len(values) - 1 and values[i] == values[i + 1]:
            i += 1
        runs.append((start, i, values[start]))
        i += 1
    return runs


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _auto_pad(attrs: dict[str, Any]) -> str:
    value = attrs.get("auto_pad", b"NOTSET")
    value = value.decode() if isinstance(value, bytes) else str(value)
    return value or "NOTSET"


def _evaluate(graph: _Graph, node: onnx.NodeProto) -> np.ndarray | None:
    """The value of a node whose inputs are all constants, for the ops shape subgraphs use;
    None for others (their outputs stay constants of unknown value)."""
    op = node.op_type
    attrs = _attributes(node)
    if op == "Constant":
        if "value" in attrs:
            tensor = attrs["value"]
            if math.prod(tensor.dims) > _SMALL_CONSTANT:
                name = node.output[0]
                graph.tensors[name] = tensor
                graph.const_shapes[name] = tuple(int(d) for d in tensor.dims)
                graph.const_types[name] = tensor.data_type
                return None  # registered lazily; the caller sees it as a constant already
            return graph.onnx.numpy_helper.to_array(tensor)
        for key in ("value_float", "value_int"):
            if key in attrs:
                return np.array(attrs[key])
        for key in ("value_floats", "value_ints"):
            if key in attrs:
                return np.array(list(attrs[key]))
        return None
    names = list(node.input)
    small = [n for n in names if n]
    if any(graph.const_elements(n) > _SMALL_CONSTANT for n in small):
        return None
    args = [graph.value(n) if n else None for n in names]
    if op in ("Identity", "Dropout"):
        return args[0]
    if op == "Cast":
        return args[0].astype(graph.onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "ConstantOfShape":
        fill = attrs.get("value")
        fill_value = graph.onnx.numpy_helper.to_array(fill) if fill is not None else np.zeros(1)
        return np.full(tuple(int(d) for d in args[0]), fill_value.reshape(-1)[0])
    if op == "Concat":
        return np.concatenate([np.atleast_1d(a) for a in args if a is not None], axis=attrs["axis"])
    if op == "Reshape":
        target = [int(d) for d in args[1]]
        target = [args[0].shape[i] if d == 0 else d for i, d in enumerate(target)]
        return args[0].reshape(target)
    if op == "Transpose":
        return np.transpose(args[0], attrs.get("perm"))
    if op == "Unsqueeze":
        axes = attrs.get("axes") if len(args) < 2 else [int(a) for a in args[1]]
        out = args[0]
        for axis in sorted(int(a) % (out.ndim + len(axes)) for a in axes):
            out = np.expand_dims(out, axis)
        return out
    if op == "Squeeze":
        axes = attrs.get("axes") if len(args) < 2 else [int(a) for a in args[1]]
        return np.squeeze(args[0], axis=tuple(axes) if axes is not None else None)
    if op == "Gather":
        return np.take(args[0], args[1], axis=attrs.get("axis", 0))
    if op == "Slice":
        data, starts, ends = args[0], args[1], args[2]
        axes = args[3] if len(args) > 3 and args[3] is not None else range(len(starts))
        steps = args[4] if len(args) > 4 and args[4] is not None else [1] * len(starts)
        index = [slice(None)] * data.ndim
        for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
            index[int(a)] = slice(int(s), int(e), int(st))
        return data[tuple(index)]
    if op in ("Add", "Sub", "Mul", "Div"):
        a, b = args[0], args[1]
        if op == "Div" and a.dtype.kind in "iu" and b.dtype.kind in "iu":
            return a // b
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b)
    if op == "Range":
        return np.arange(args[0], args[1], args[2])
    if op == "Sqrt":
        return np.sqrt(args[0])
    if op == "Neg":
        return -args[0]
    return None

"""Fit rules for Arm Ethos-U (U55/U65, U85 approximately): Vela's own operator checker.

Each layer of the table is rebuilt as a Vela ``Operation`` (tensors with the layer's shapes,
kernel, stride, padding, dilation and fused activation) and run through the installed Vela's
``TFLiteSupportedOperators`` constraints, so npubench agrees with the compiler it ships with.
Constraints that need constant values or quantization scales, which the layer table does not
hold, are listed in predict/limits/ethos_u.toml and reported as not evaluated. Layers Vela
rejects fall back to the Cortex-M host (TFLM), never "unsupported". Memory: tensor arena against
the board's [vela] arena memory, weights against its const memory.
May import npubench.predict.fit, analysis, targets, and ethosu.vela.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from ethosu.vela.data_type import DataType
from ethosu.vela.operation import ActivationFunction, Op, Operation, Padding
from ethosu.vela.tensor import Tensor
from ethosu.vela.tflite.BuiltinOperator import BuiltinOperator
from ethosu.vela.tflite_mapping import builtin_operator_map
from ethosu.vela.tflite_supported_operators import TFLiteSupportedOperators

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.rules.base import (
    FamilyResult,
    Limits,
    empty_memory,
    host_memory,
    load_limits,
    place,
)
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board

DTYPES = {
    "int8": DataType.int8,
    "uint8": DataType.uint8,
    "int16": DataType.int16,
    "int32": DataType.int32,
    "float32": DataType.float32,
}
FUSED = {
    "RELU": Op.Relu,
    "RELU6": Op.Relu6,
    "RELU_N1_TO_1": Op.ReluN1To1,
    "RELU_0_TO_1": Op.Relu0To1,
    "TANH": Op.Tanh,
}
Constraint = Callable[[Operation], tuple[bool, str]]


@cache
def _checker() -> TFLiteSupportedOperators:
    return TFLiteSupportedOperators()


def _vela_op_type(name: str) -> Op | None:
    code = getattr(BuiltinOperator, name, None)
    if code is None or code not in builtin_operator_map:
        return None
    return builtin_operator_map[code][0]


def _tensor(shape: list[int], dtype: DataType, name: str, values: Any = None) -> Tensor:
    tens = Tensor(list(shape), dtype, name)
    tens.values = values
    return tens


def _const(shape: list[int], dtype: DataType, name: str) -> Tensor:
    # Weights only need to be present: the value-dependent checks are skipped (limits file).
    return _tensor(shape, dtype, name, np.broadcast_to(np.zeros((), dtype=np.int8), shape))


def _weights_shape(layer: LayerInfo, op_type: Op) -> list[int] | None:
    """Vela's internal weight layout after its reader's transposes (HWIO / [in, out])."""
    in_c = layer.input_shapes[0][-1] if layer.input_shapes else 1
    out_c = layer.output_shape[-1]
    kh, kw = layer.kernel or [1, 1]
    if op_type in (Op.Conv2DBias, Op.Conv2DBackpropInput):
        return [kh, kw, in_c, out_c]
    if op_type == Op.DepthwiseConv2DBias:
        return [kh, kw, out_c, 1]
    if op_type == Op.FullyConnected:
        return [int(np.prod(layer.input_shapes[0][1:])) if layer.input_shapes else 1, out_c]
    return None


def _extra_input(layer: LayerInfo, op_type: Op) -> Tensor | None:
    """The second (constant) input some checks read, rebuilt from the shapes."""
    if not layer.input_shapes:
        return None
    in_shape, out_shape = layer.input_shapes[0], layer.output_shape
    if op_type == Op.Pad and len(in_shape) == len(out_shape):
        pads = []
        for i, o in zip(in_shape, out_shape, strict=True):
            total = max(o - i, 0)
            pads.append([total // 2, total - total // 2])
        return _tensor([len(pads), 2], DataType.int32, "paddings", np.array(pads, np.int32))
    if op_type == Op.Mean:
        if len(out_shape) == len(in_shape):
            axes = [i for i, (a, b) in enumerate(zip(in_shape, out_shape, strict=True)) if a != b]
        else:  # keep_dims=False: TFLite MEAN in CNN heads reduces height and width
            axes = [1, 2]
        return _tensor([len(axes)], DataType.int32, "axis", np.array(axes or [1, 2], np.int32))
    return None


def _build_operation(layer: LayerInfo, op_type: Op, input_dtype: str) -> Operation:
    dtype = DTYPES.get(layer.dtype, DataType.int8)
    in_dtype = DTYPES.get(input_dtype, dtype)
    op = Operation(op_type, layer.name)
    indices = op_type.info.indices
    ifms = [_tensor(s, in_dtype, f"{layer.name}_in{i}") for i, s in enumerate(layer.input_shapes)]
    slots = [*indices.ifms, *indices.weights, *indices.biases]
    inputs: list[Tensor | None] = [None] * (max(slots, default=-1) + 1)
    for pos, tens in zip(indices.ifms, ifms, strict=False):
        inputs[pos] = tens
    if len(ifms) > len(indices.ifms):  # e.g. CONCATENATION with more than two inputs
        inputs += ifms[len(indices.ifms) :]
    if len(indices.ifms) > 1 and len(ifms) == 1 and inputs[indices.ifms[1]] is None:
        # Binary op with a constant second operand: same shape as the output (assumption).
        inputs[indices.ifms[1]] = _const(layer.output_shape, dtype, f"{layer.name}_const")
    weights_shape = _weights_shape(layer, op_type)
    if weights_shape is not None and indices.weights:
        inputs[indices.weights[0]] = _const(weights_shape, DataType.int8, f"{layer.name}_w")
        if indices.biases:
            inputs[indices.biases[0]] = _tensor(
                [layer.output_shape[-1]], DataType.int32, f"{layer.name}_b"
            )
    extra = _extra_input(layer, op_type)
    if extra is not None:
        if len(inputs) < 2:
            inputs.append(extra)
        else:
            inputs[1] = extra
    op.inputs = inputs
    op.set_output_tensor(_tensor(layer.output_shape, dtype, layer.name))

    sh, sw = layer.stride or [1, 1]
    dh, dw = layer.dilation or [1, 1]
    op.attrs.update(stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw)
    if layer.padding:
        op.attrs["padding"] = Padding.SAME if layer.padding == "SAME" else Padding.VALID
    if layer.kernel and op_type.npu_block_type.name == "Pooling":
        op.attrs.update(filter_height=layer.kernel[0], filter_width=layer.kernel[1])
    if op_type == Op.DepthwiseConv2DBias and layer.input_shapes:
        op.attrs["depth_multiplier"] = max(layer.output_shape[-1] // layer.input_shapes[0][-1], 1)
    act = layer.fused_activation
    if act and act != "NONE" and act in FUSED:
        op.activation = ActivationFunction(FUSED[act])
    return op


def _constraints(op_type: Op) -> list[Constraint]:
    checker = _checker()
    exceptions = checker.generic_constraints_exceptions[op_type]
    generic = [c for c in checker.generic_constraints if c not in exceptions]
    return generic + checker.specific_constraints[op_type]


def _placement(layer: LayerInfo, input_dtype: str, limits: Limits, cpu: str) -> LayerPlacement:
    op_type = _vela_op_type(layer.op)
    fallback = f"falls back to the {cpu}"
    if op_type is None or op_type not in TFLiteSupportedOperators.supported_operators:
        return place(layer, "cpu", f"Vela: {layer.op} is a CPU-only operator; {fallback}")
    act = layer.fused_activation
    if act and act != "NONE" and act not in FUSED:
        return place(layer, "cpu", f"Vela: fused activation {act} is not supported; {fallback}")
    op = _build_operation(layer, op_type, input_dtype)
    unchecked_names = set(limits.value("ethos-u", "unchecked_constraints"))
    unchecked: list[str] = []
    for constraint in _constraints(op_type):
        name = constraint.__name__
        if name in unchecked_names:
            unchecked.append(name.removeprefix("constraint_"))
            continue
        try:
            valid, extra = constraint(op)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            # A Vela check that reads something the rebuilt op does not carry.
            unchecked.append(name.removeprefix("constraint_"))
            continue
        if not valid:
            rule = " ".join((constraint.__doc__ or name).split())
            return place(layer, "cpu", f"Vela: {rule} ({extra}); {fallback}")
    reason = "Vela: supported on the NPU"
    if unchecked:
        reason += f" (not evaluated without constant data: {', '.join(unchecked)})"
    return place(layer, "npu", reason)


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    limits = load_limits("ethos-u")
    cpu = f"{board.cpu.core} (TFLM)"
    # The layer table records each layer's output dtype only; the input's is taken from the
    # layer before (in execution order), which is what makes a float->int8 QUANTIZE a CPU op.
    in_dtypes = [analysis.input_dtype] + [layer.dtype for layer in analysis.layers[:-1]]
    result = FamilyResult(
        placement=[
            _placement(layer, in_dtype, limits, cpu)
            for layer, in_dtype in zip(analysis.layers, in_dtypes, strict=True)
        ],
        memory=empty_memory(board),
    )
    npu = board.npu
    host_memory(
        analysis,
        board,
        result,
        arena_mem=npu.arena_memory if npu else None,
        const_mem=npu.weights_memory if npu else None,
    )
    if board.npu and board.npu.name.startswith("ethos-u85"):
        result.notes.append(
            "Ethos-U85: Vela's regor backend has its own (wider) operator support; the U55/U65 "
            "checks are applied as a conservative approximation"
        )
    result.notes.append(
        "weights counted raw (int8 + int32 bias); Vela's compressed size comes with `compile`"
    )
    return result

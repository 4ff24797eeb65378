"""Per-layer table and peak activation memory of an int8 TFLite model, read from the flatbuffer.

May import ``npubench.errors``, ``npubench.cache`` and the sibling modules ``graph_types`` and
``tflite_reader``. Nothing here runs the model: shapes, options and constants come from the file.

Conventions (those of Vela's ``nn_macs``, except that pooling counts no MACs here):
CONV_2D = output elements x kh x kw x cin (per group); DEPTHWISE_CONV_2D = output elements x
kh x kw; FULLY_CONNECTED = output elements x input features; TRANSPOSE_CONV = input elements x
kh x kw x cout; BATCH_MATMUL = output elements x reduced dimension; everything else 0.
Params are the elements of constant tensors that carry quantization parameters (weights,
biases, folded batch-norm constants); shape and axis constants are neither params nor
activations.
"""

from __future__ import annotations

from pathlib import Path

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.analysis.tflite_reader import (
    ACTIVATION_NAMES,
    PADDING_NAMES,
    ModelRecord,
    OperatorRecord,
    TensorRecord,
    read_tflite,
)
from npubench.cache import file_sha256
from npubench.errors import AnalysisError

# Operators whose second input is a weight tensor; a float one means a float or hybrid model.
_WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D")
_QUANTIZED_DTYPES = ("int8", "uint8", "int16", "int4")


def analyze_tflite(path: Path) -> GraphAnalysis:
    """The per-layer table, totals and peak activation memory of the int8 model at ``path``."""
    path = Path(path)
    model = read_tflite(path)
    _require_integer_model(model, path)

    notes: list[str] = []
    if model.subgraph_count > 1:
        notes.append(
            f"the model has {model.subgraph_count} subgraphs; only the first (main) one is analysed"
        )
    layers = [_layer_info(op, model.tensors) for op in model.operators]
    custom = sorted({layer.op for layer in layers if layer.op.startswith("CUSTOM:")})
    if custom:
        notes.append(
            f"custom operators {', '.join(custom)} count no MACs (e.g. a Vela-compiled model: "
            "analyse the model from before Vela)"
        )

    weight_tensors = {
        i for op in model.operators for i in op.inputs if i >= 0 and _is_weight(model.tensors[i])
    }
    inputs = [model.tensors[i] for i in model.inputs]
    outputs = [model.tensors[i] for i in model.outputs]
    if len(inputs) > 1 or len(outputs) > 1:
        notes.append(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs; "
            "input_shape/output_shape describe the first of each"
        )
    for edge, tensors in (("input", inputs), ("output", outputs)):
        for t in tensors:
            if t.dtype not in _QUANTIZED_DTYPES:
                notes.append(f"{edge} '{t.name}' is {t.dtype}: the model (de)quantizes at its edge")

    return GraphAnalysis(
        model_sha256=file_sha256(path),
        layers=layers,
        input_shape=list(inputs[0].shape) if inputs else [],
        input_dtype=inputs[0].dtype if inputs else "",
        output_shape=list(outputs[0].shape) if outputs else [],
        output_dtype=outputs[0].dtype if outputs else "",
        total_macs=sum(layer.macs for layer in layers),
        # A constant shared by several operators is stored (and counted) once.
        total_params=sum(model.tensors[i].elements for i in weight_tensors),
        total_weight_bytes=sum(model.tensors[i].nbytes for i in weight_tensors),
        peak_activation_bytes=peak_activation_bytes(model),
        notes=notes,
    )


def peak_activation_bytes(model: ModelRecord) -> int:
    """Max over the execution order of the bytes of activation tensors live at each operator.

    A tensor is live from the operator producing it (graph inputs and variables: from the start)
    to its last consumer inclusive; graph outputs and variables stay live to the end. This is
    the lower bound any arena planner without in-place reuse must reserve.
    """
    n_ops = len(model.operators)
    if n_ops == 0:
        return sum(model.tensors[i].nbytes for i in model.inputs)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(tensor: int, step: int) -> None:
        if tensor < 0 or model.tensors[tensor].is_constant:
            return
        first[tensor] = min(first.get(tensor, step), step)
        last[tensor] = max(last.get(tensor, step), step)

    for tensor in model.inputs:
        touch(tensor, 0)
    for op in model.operators:
        for tensor in (*op.inputs, *op.outputs):
            touch(tensor, op.index)
    for tensor in model.outputs:
        touch(tensor, n_ops - 1)
    for tensor in first:
        if model.tensors[tensor].is_variable:  # state tensors (e.g. LSTM) persist across calls
            first[tensor], last[tensor] = 0, n_ops - 1

    live_bytes = [0] * n_ops
    for tensor, start in first.items():
        for step in range(start, last[tensor] + 1):
            live_bytes[step] += model.tensors[tensor].nbytes
    return max(live_bytes)


def _is_weight(tensor: TensorRecord) -> bool:
    return tensor.is_constant and tensor.quantized


def _require_integer_model(model: ModelRecord, path: Path) -> None:
    """Refuse float and hybrid (float-activation, int8-weight) models with a clear way out."""
    float_culprit = None
    for op in model.operators:
        activations = [model.tensors[i] for i in op.inputs if i >= 0]
        if op.op in _WEIGHTED_OPS and any(t.dtype.startswith("float") for t in activations):
            float_culprit = f"{op.op} (operator {op.index}) computes in floating point"
            break
    has_integer_activation = any(
        not t.is_constant and t.dtype in _QUANTIZED_DTYPES for t in model.tensors
    )
    if float_culprit is None and not has_integer_activation and model.operators:
        float_culprit = "no activation tensor is int8/int16"
    if float_culprit is not None:
        raise AnalysisError(
            f"{path} is a float (not fully int8) TFLite model: {float_culprit}",
            "quantize it with full-integer quantization (TFLiteConverter with a representative "
            "dataset, TFLITE_BUILTINS_INT8, int8 input/output), or pass the float source to "
            "npubench and let its models stage quantize it",
        )


def _layer_info(op: OperatorRecord, tensors: list[TensorRecord]) -> LayerInfo:
    present = [tensors[i] for i in op.inputs if i >= 0]
    activations = [t for t in present if not t.is_constant]
    weights = [t for t in present if _is_weight(t)]
    outputs = [tensors[i] for i in op.outputs if i >= 0]
    out = outputs[0] if outputs else None
    opts = op.options

    layer = LayerInfo(
        index=op.index,
        name=out.name if out else f"op_{op.index}",
        op=op.op,
        input_shapes=[list(t.shape) for t in activations],
        output_shape=list(out.shape) if out else [],
        params=sum(t.elements for t in weights),
        weight_bytes=sum(t.nbytes for t in weights),
        activation_bytes=sum(t.nbytes for t in activations) + sum(t.nbytes for t in outputs),
        dtype=out.dtype if out else "",
    )
    if "StrideH" in opts:
        layer.stride = [opts["StrideH"], opts["StrideW"]]
    if "Padding" in opts:
        layer.padding = PADDING_NAMES.get(opts["Padding"], str(opts["Padding"]))
    if "DilationHFactor" in opts:
        layer.dilation = [opts["DilationHFactor"], opts["DilationWFactor"]]
    if "FusedActivationFunction" in opts:
        code = opts["FusedActivationFunction"]
        layer.fused_activation = ACTIVATION_NAMES.get(code, str(code))
    if "FilterHeight" in opts:  # pooling
        layer.kernel = [opts["FilterHeight"], opts["FilterWidth"]]

    out_elements = out.elements if out else 0
    weight = tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if op.op == "CONV_2D" and weight is not None and len(weight.shape) == 4:
        _, kh, kw, cin = weight.shape  # OHWI; cin is per group for grouped convolutions
        layer.kernel = [kh, kw]
        layer.macs = out_elements * kh * kw * cin
    elif op.op == "DEPTHWISE_CONV_2D" and weight is not None and len(weight.shape) == 4:
        _, kh, kw, _ = weight.shape  # 1HWC
        layer.kernel = [kh, kw]
        layer.macs = out_elements * kh * kw
    elif op.op == "FULLY_CONNECTED" and weight is not None and len(weight.shape) == 2:
        layer.macs = out_elements * weight.shape[1]  # = batch x units x input features
    elif op.op == "TRANSPOSE_CONV" and len(op.inputs) > 2:
        weight, source = tensors[op.inputs[1]], tensors[op.inputs[2]]  # (shape, OHWI, input)
        if len(weight.shape) == 4:
            cout, kh, kw, _ = weight.shape
            layer.kernel = [kh, kw]
            # Every input element is multiplied by a kh x kw kernel for each output channel.
            layer.macs = source.elements * kh * kw * cout
        layer.input_shapes = [list(source.shape)]
    elif op.op == "CONV_3D" and weight is not None and len(weight.shape) == 5:
        kd, kh, kw, cin, _ = weight.shape  # DHWIO
        layer.kernel = [kd, kh, kw]
        layer.macs = out_elements * kd * kh * kw * cin
    elif op.op == "BATCH_MATMUL" and len(present) == 2 and out is not None:
        lhs = present[0].shape
        adj_x = bool(opts.get("AdjX", False))
        reduced = lhs[-2] if adj_x else lhs[-1]
        layer.macs = out_elements * reduced
    return layer


def describe(analysis: GraphAnalysis) -> str:
    """A one-line summary: ops, MACs, params and peak activation memory."""
    return (
        f"{len(analysis.layers)} ops, {analysis.total_macs / 1e6:.3f} M MACs, "
        f"{analysis.total_params} params ({analysis.total_weight_bytes} B), "
        f"peak activations {analysis.peak_activation_bytes} B, "
        f"in {analysis.input_shape} {analysis.input_dtype} -> "
        f"out {analysis.output_shape} {analysis.output_dtype}"
    )

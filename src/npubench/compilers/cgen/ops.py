"""Operator lowerings: one TFLite int8 operator -> parameters + one call to a C kernel.

Every quantization constant is derived here, at generation time, with the expressions of the
TFLM kernel's ``Prepare`` (see ``quant.py``). ``LOWERINGS`` maps builtin operator names to
lowering functions; ``ALIAS_OPS`` are shape-only operators whose output shares the input's
arena bytes. May import: numpy, npubench.errors, ``npubench.analysis.tflite_reader`` (the
model records) and sibling cgen modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from npubench.analysis.tflite_reader import OperatorRecord, TensorRecord
from npubench.compilers.cgen import quant
from npubench.compilers.cgen.builder import CodeBuilder
from npubench.compilers.cgen.emit import contiguous_strides, extend_to_4d
from npubench.errors import CompilerError

# Shape-only operators: int8 data is unchanged, so the output aliases the input buffer.
ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})

_PADDING_SAME = 0
_ACT_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def op_error(b: CodeBuilder, op: OperatorRecord, reason: str) -> CompilerError:
    out = b.tensor(op.outputs[0]).name if op.outputs else "?"
    return CompilerError(
        f"cgen: operator {op.index} ({op.op}, output {out!r}): {reason}",
        hint="run the model with TFLM instead, or change the model to avoid this case",
    )


def _int8(b: CodeBuilder, op: OperatorRecord, *indices: int) -> None:
    for i in indices:
        t = b.tensor(i)
        if t.dtype != "int8":
            raise op_error(b, op, f"tensor {t.name!r} is {t.dtype}, only int8 is supported")


def _activation(b: CodeBuilder, op: OperatorRecord, out: TensorRecord) -> tuple[int, int]:
    act = int(op.options.get("FusedActivationFunction", 0))
    try:
        return quant.activation_range(act, out.scale, out.zero_point)
    except ValueError:
        raise op_error(b, op, f"fused activation {_ACT_NAMES.get(act, act)}") from None


def _const(b: CodeBuilder, op: OperatorRecord, index: int, what: str) -> np.ndarray:
    data = b.tensor(index).array()
    if data is None:
        raise op_error(b, op, f"{what} must be a constant tensor")
    return data


def _padding(
    padding: int, stride: int, dilation: int, in_size: int, filt: int, out_size: int
) -> int:
    """TFLite ``ComputePaddingHeightWidth``: the top/left padding (the smaller half)."""
    effective = (filt - 1) * dilation + 1
    if padding == _PADDING_SAME:
        expected = (in_size + stride - 1) // stride
    else:
        expected = (in_size + stride - effective) // stride
    if expected != out_size:
        raise ValueError(f"output size {out_size} != {expected}")
    return max(0, (out_size - 1) * stride + effective - in_size) // 2


def _per_channel_multipliers(
    b: CodeBuilder,
    op: OperatorRecord,
    inp: TensorRecord,
    filt: TensorRecord,
    out: TensorRecord,
    channels: int,
) -> tuple[str, str]:
    """TFLite ``PopulateConvolutionQuantizationParams`` for int8: one (mult, shift)/channel."""
    if any(zp != 0 for zp in filt.zero_points):
        raise op_error(b, op, "filter zero points must be 0")
    mults, shifts = [], []
    for c in range(channels):
        filter_scale = filt.scales[c if len(filt.scales) > 1 else 0]
        effective = quant.f32(inp.scale) * filter_scale / quant.f32(out.scale)
        m, s = quant.quantize_multiplier(effective)
        mults.append(m)
        shifts.append(s)
    return (
        b.array(op, "mult", np.array(mults, np.int32)),
        b.array(op, "shift", np.array(shifts, np.int32)),
    )


def _bias(b: CodeBuilder, op: OperatorRecord) -> str:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return "0"
    if b.tensor(op.inputs[2]).dtype != "int32":
        raise op_error(b, op, "bias must be int32")
    return b.ref(op.inputs[2])


def _conv_like(b: CodeBuilder, op: OperatorRecord, depthwise: bool) -> None:
    i_in, i_filt = op.inputs[0], op.inputs[1]
    i_out = op.outputs[0]
    _int8(b, op, i_in, i_filt, i_out)
    inp, filt, out = b.tensor(i_in), b.tensor(i_filt), b.tensor(i_out)
    if len(inp.shape) != 4 or len(filt.shape) != 4 or len(out.shape) != 4:
        raise op_error(b, op, "expects 4-D NHWC input, filter and output")
    n, in_h, in_w, in_c = inp.shape
    _, out_h, out_w, out_c = out.shape
    o = op.options
    stride_h, stride_w = int(o["StrideH"]), int(o["StrideW"])
    dil_h, dil_w = int(o.get("DilationHFactor", 1)), int(o.get("DilationWFactor", 1))
    if depthwise:
        _, fh, fw, f_oc = filt.shape
        filter_in_c = 1
        if out_c % in_c or f_oc != out_c:
            raise op_error(b, op, f"output channels {out_c} not a multiple of {in_c}")
        depth_multiplier = out_c // in_c
    else:
        f_oc, fh, fw, filter_in_c = filt.shape
        depth_multiplier = 1
        if f_oc != out_c or in_c % filter_in_c or out_c % (in_c // filter_in_c):
            raise op_error(
                b, op, f"filter shape {tuple(filt.shape)} does not fit input {tuple(inp.shape)}"
            )
    try:
        pad_h = _padding(int(o["Padding"]), stride_h, dil_h, in_h, fh, out_h)
        pad_w = _padding(int(o["Padding"]), stride_w, dil_w, in_w, fw, out_w)
    except ValueError as exc:
        raise op_error(b, op, str(exc)) from None
    act_min, act_max = _activation(b, op, out)
    mult, shift = _per_channel_multipliers(b, op, inp, filt, out, out_c)
    params = b.params(
        op,
        "npb_conv_params",
        {
            "batches": n,
            "in_h": in_h,
            "in_w": in_w,
            "in_c": in_c,
            "out_h": out_h,
            "out_w": out_w,
            "out_c": out_c,
            "filter_h": fh,
            "filter_w": fw,
            "filter_in_c": filter_in_c,
            "stride_h": stride_h,
            "stride_w": stride_w,
            "dilation_h": dil_h,
            "dilation_w": dil_w,
            "pad_h": pad_h,
            "pad_w": pad_w,
            "depth_multiplier": depth_multiplier,
            "input_offset": -inp.zero_point,
            "output_offset": out.zero_point,
            "act_min": act_min,
            "act_max": act_max,
        },
    )
    kernel = "npb_depthwise_conv2d" if depthwise else "npb_conv2d"
    b.call(
        op,
        f"{kernel}({params}, {b.ref(i_in)}, {b.ref(i_filt)}, {_bias(b, op)}, {mult}, {shift}, "
        f"{b.ref(i_out)});",
    )


def lower_conv_2d(b: CodeBuilder, op: OperatorRecord) -> None:
    _conv_like(b, op, depthwise=False)


def lower_depthwise_conv_2d(b: CodeBuilder, op: OperatorRecord) -> None:
    _conv_like(b, op, depthwise=True)


def lower_fully_connected(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_filt, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
    _int8(b, op, i_in, i_filt, i_out)
    inp, filt, out = b.tensor(i_in), b.tensor(i_filt), b.tensor(i_out)
    if len(filt.shape) != 2:
        raise op_error(b, op, f"filter must be 2-D, got {tuple(filt.shape)}")
    out_depth, accum_depth = filt.shape
    if inp.elements % accum_depth or out.elements % out_depth:
        raise op_error(b, op, "input/output sizes do not match the filter")
    per_channel = len(filt.scales) > 1
    act_min, act_max = _activation(b, op, out)
    if per_channel:
        mult, shift = _per_channel_multipliers(b, op, inp, filt, out, out_depth)
    else:
        # GetQuantizedConvolutionMultipler: (input_scale * filter_scale) / output_scale.
        product = quant.f32(inp.scale) * quant.f32(filt.scale)
        m, s = quant.quantize_multiplier(product / quant.f32(out.scale))
        mult = b.array(op, "mult", np.array([m], np.int32))
        shift = b.array(op, "shift", np.array([s], np.int32))
    params = b.params(
        op,
        "npb_fc_params",
        {
            "batches": out.elements // out_depth,
            "accum_depth": accum_depth,
            "out_depth": out_depth,
            "input_offset": -inp.zero_point,
            "filter_offset": 0 if per_channel else -filt.zero_point,
            "output_offset": out.zero_point,
            "per_channel": int(per_channel),
            "act_min": act_min,
            "act_max": act_max,
        },
    )
    b.call(
        op,
        f"npb_fully_connected({params}, {b.ref(i_in)}, {b.ref(i_filt)}, {_bias(b, op)}, "
        f"{mult}, {shift}, {b.ref(i_out)});",
    )


def _pool(b: CodeBuilder, op: OperatorRecord, kernel: str) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp, out = b.tensor(i_in), b.tensor(i_out)
    n, in_h, in_w, c = inp.shape
    _, out_h, out_w, _ = out.shape
    o = op.options
    fh, fw = int(o["FilterHeight"]), int(o["FilterWidth"])
    sh, sw = int(o["StrideH"]), int(o["StrideW"])
    try:
        pad_h = _padding(int(o["Padding"]), sh, 1, in_h, fh, out_h)
        pad_w = _padding(int(o["Padding"]), sw, 1, in_w, fw, out_w)
    except ValueError as exc:
        raise op_error(b, op, str(exc)) from None
    act_min, act_max = _activation(b, op, out)
    params = b.params(
        op,
        "npb_pool_params",
        {
            "batches": n,
            "in_h": in_h,
            "in_w": in_w,
            "channels": c,
            "out_h": out_h,
            "out_w": out_w,
            "filter_h": fh,
            "filter_w": fw,
            "stride_h": sh,
            "stride_w": sw,
            "pad_h": pad_h,
            "pad_w": pad_w,
            "act_min": act_min,
            "act_max": act_max,
        },
    )
    b.call(op, f"{kernel}({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def lower_average_pool_2d(b: CodeBuilder, op: OperatorRecord) -> None:
    _pool(b, op, "npb_average_pool")


def lower_max_pool_2d(b: CodeBuilder, op: OperatorRecord) -> None:
    _pool(b, op, "npb_max_pool")


def _broadcast_strides(shape: Sequence[int], out_dims: list[int]) -> list[int]:
    dims = extend_to_4d(shape)
    strides = contiguous_strides(dims)
    return [
        0 if d == 1 and od != 1 else s for d, od, s in zip(dims, out_dims, strides, strict=True)
    ]


def _binary(b: CodeBuilder, op: OperatorRecord, kind: str) -> None:
    i1, i2, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
    _int8(b, op, i1, i2, i_out)
    in1, in2, out = b.tensor(i1), b.tensor(i2), b.tensor(i_out)
    if max(len(in1.shape), len(in2.shape), len(out.shape)) > 4:
        raise op_error(b, op, "broadcasting beyond 4 dimensions")
    out_dims = extend_to_4d(out.shape)
    act_min, act_max = _activation(b, op, out)
    fields: dict = {
        "op": {"ADD": 0, "SUB": 1, "MUL": 2}[kind],
        "out_dims": out_dims,
        "in1_strides": _broadcast_strides(in1.shape, out_dims),
        "in2_strides": _broadcast_strides(in2.shape, out_dims),
        "input1_offset": -in1.zero_point,
        "input2_offset": -in2.zero_point,
        "output_offset": out.zero_point,
        "left_shift": 0,
        "input1_multiplier": 0,
        "input1_shift": 0,
        "input2_multiplier": 0,
        "input2_shift": 0,
    }
    s1, s2, so = quant.f32(in1.scale), quant.f32(in2.scale), quant.f32(out.scale)
    if kind == "MUL":
        m, s = quant.quantize_multiplier(s1 * s2 / so)
    else:
        # TFLM add/sub Prepare: inputs rescaled to a common 2*max scale, 20 bits of headroom.
        left_shift = 20
        twice_max = 2.0 * max(s1, s2)
        fields["left_shift"] = left_shift
        fields["input1_multiplier"], fields["input1_shift"] = quant.quantize_multiplier(
            s1 / twice_max
        )
        fields["input2_multiplier"], fields["input2_shift"] = quant.quantize_multiplier(
            s2 / twice_max
        )
        m, s = quant.quantize_multiplier(twice_max / (float(1 << left_shift) * so))
    fields.update(output_multiplier=m, output_shift=s, act_min=act_min, act_max=act_max)
    params = b.params(op, "npb_binary_params", fields)
    b.call(op, f"npb_binary({params}, {b.ref(i1)}, {b.ref(i2)}, {b.ref(i_out)});")


def lower_add(b: CodeBuilder, op: OperatorRecord) -> None:
    _binary(b, op, "ADD")


def lower_sub(b: CodeBuilder, op: OperatorRecord) -> None:
    _binary(b, op, "SUB")


def lower_mul(b: CodeBuilder, op: OperatorRecord) -> None:
    _binary(b, op, "MUL")


def lower_softmax(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp, out = b.tensor(i_in), b.tensor(i_out)
    if out.zero_point != -128 or abs(out.scale - 1 / 256) > 1e-3 * (1 / 256):
        raise op_error(b, op, "int8 softmax output must have zero point -128 and scale 1/256")
    depth = inp.shape[-1]
    mult, left_shift, diff_min = quant.softmax_params(
        quant.f32(op.options.get("Beta", 1.0)), quant.f32(inp.scale)
    )
    params = b.params(
        op,
        "npb_softmax_params",
        {
            "outer": inp.elements // depth,
            "depth": depth,
            "input_multiplier": mult,
            "input_left_shift": left_shift,
            "diff_min": diff_min,
        },
    )
    b.call(op, f"npb_softmax({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def lower_logistic(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp, out = b.tensor(i_in), b.tensor(i_out)
    if out.zero_point != -128:
        raise op_error(b, op, "int8 logistic output must have zero point -128")
    mult, left_shift, radius = quant.logistic_params(quant.f32(inp.scale))
    params = b.params(
        op,
        "npb_logistic_params",
        {
            "size": inp.elements,
            "input_zero_point": inp.zero_point,
            "input_range_radius": radius,
            "input_multiplier": mult,
            "input_left_shift": left_shift,
        },
    )
    b.call(op, f"npb_logistic({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def _requant(
    b: CodeBuilder, op: OperatorRecord, real_multiplier: float, act_min: int, act_max: int
) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    inp, out = b.tensor(i_in), b.tensor(i_out)
    m, s = quant.quantize_multiplier(real_multiplier)
    params = b.params(
        op,
        "npb_requant_params",
        {
            "size": inp.elements,
            "input_zero_point": inp.zero_point,
            "output_zero_point": out.zero_point,
            "multiplier": m,
            "shift": s,
            "act_min": act_min,
            "act_max": act_max,
        },
    )
    b.call(op, f"npb_requantize({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def lower_quantize(b: CodeBuilder, op: OperatorRecord) -> None:
    _int8(b, op, op.inputs[0], op.outputs[0])
    inp, out = b.tensor(op.inputs[0]), b.tensor(op.outputs[0])
    _requant(b, op, quant.f32(inp.scale) / quant.f32(out.scale), -128, 127)


def lower_relu(b: CodeBuilder, op: OperatorRecord) -> None:
    _int8(b, op, op.inputs[0], op.outputs[0])
    inp, out = b.tensor(op.inputs[0]), b.tensor(op.outputs[0])
    # TFLM CalculateReluOpData: lower bound zero_point + roundf(0 / scale), no upper bound.
    act_min = max(-128, out.zero_point)
    _requant(b, op, quant.f32(inp.scale) / quant.f32(out.scale), act_min, 127)


def lower_relu6(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp = b.tensor(i_in)
    # TFLM Relu6: clamps in the input's quantization (output must share it).
    six = np.float32(6.0) / np.float32(inp.scale)
    upper = min(127, max(-128, int(quant.tflite_round(float(six))) + inp.zero_point))
    b.call(
        op,
        f"npb_clamp({inp.elements}, {inp.zero_point}, {upper}, {b.ref(i_in)}, {b.ref(i_out)});",
    )


def _axes(b: CodeBuilder, op: OperatorRecord, rank: int) -> list[int]:
    axes = sorted({int(a) % rank for a in _const(b, op, op.inputs[1], "axis").reshape(-1)})
    return axes


def _reduce(b: CodeBuilder, op: OperatorRecord, kind: str) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp, out = b.tensor(i_in), b.tensor(i_out)
    if len(inp.shape) > 4:
        raise op_error(b, op, "more than 4 dimensions")
    pad = 4 - len(inp.shape)
    axes = [a + pad for a in _axes(b, op, len(inp.shape))]
    in_dims = extend_to_4d(inp.shape)
    out_dims = [1 if k in axes else d for k, d in enumerate(in_dims)]
    count = int(np.prod([in_dims[k] for k in axes])) if axes else 1
    multiplier, shift = 0, 0
    if kind == "MAX":
        if inp.zero_point != out.zero_point or quant.f32(inp.scale) != quant.f32(out.scale):
            raise op_error(b, op, "REDUCE_MAX needs equal input and output quantization")
    else:
        m, s = quant.quantize_multiplier(quant.f32(inp.scale) / quant.f32(out.scale))
        multiplier, shift = quant.mean_multiplier(m, s, count) if kind == "MEAN" else (m, s)
    params = b.params(
        op,
        "npb_reduce_params",
        {
            "in_dims": in_dims,
            "out_dims": out_dims,
            "num_elements": count,
            "input_zero_point": inp.zero_point,
            "output_zero_point": out.zero_point,
            "multiplier": multiplier,
            "shift": shift,
        },
    )
    kernel = "npb_reduce_max" if kind == "MAX" else "npb_reduce_mean"
    b.call(op, f"{kernel}({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def lower_mean(b: CodeBuilder, op: OperatorRecord) -> None:
    _reduce(b, op, "MEAN")


def lower_sum(b: CodeBuilder, op: OperatorRecord) -> None:
    _reduce(b, op, "SUM")


def lower_reduce_max(b: CodeBuilder, op: OperatorRecord) -> None:
    _reduce(b, op, "MAX")


def _pad(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp, out = b.tensor(i_in), b.tensor(i_out)
    if len(inp.shape) > 4:
        raise op_error(b, op, "more than 4 dimensions")
    paddings = _const(b, op, op.inputs[1], "paddings").reshape(-1, 2).astype(np.int64)
    before = [0] * (4 - len(inp.shape)) + [int(p) for p in paddings[:, 0]]
    pad_value = out.zero_point
    if op.op == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        pad_value = int(_const(b, op, op.inputs[2], "constant_values").reshape(-1)[0])
    params = b.params(
        op,
        "npb_pad_params",
        {
            "in_dims": extend_to_4d(inp.shape),
            "out_dims": extend_to_4d(out.shape),
            "before": before,
            "pad_value": pad_value,
        },
    )
    b.call(op, f"npb_pad({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def lower_transpose(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp, out = b.tensor(i_in), b.tensor(i_out)
    perm = [int(p) for p in _const(b, op, op.inputs[1], "perm").reshape(-1)]
    rank = len(inp.shape)
    if rank > 6 or sorted(perm) != list(range(rank)):
        raise op_error(b, op, f"permutation {perm} of rank {rank}")
    in_strides = contiguous_strides(inp.shape)
    params = b.params(
        op,
        "npb_transpose_params",
        {
            "rank": rank,
            "out_dims": list(out.shape) + [1] * (6 - rank),
            "in_strides": [in_strides[p] for p in perm] + [0] * (6 - rank),
        },
    )
    b.call(op, f"npb_transpose({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def lower_concatenation(b: CodeBuilder, op: OperatorRecord) -> None:
    _int8(b, op, *op.inputs, op.outputs[0])
    out = b.tensor(op.outputs[0])
    if int(op.options.get("FusedActivationFunction", 0)) != 0:
        raise op_error(b, op, "fused activation on CONCATENATION")
    axis = int(op.options.get("Axis", 0)) % len(out.shape)
    for i in op.inputs:
        t = b.tensor(i)
        if t.zero_point != out.zero_point or quant.f32(t.scale) != quant.f32(out.scale):
            # TFLM's int8 concatenation copies bytes without requantizing; do the same.
            b.warnings.append(
                f"op {op.index} CONCATENATION: input {t.name!r} quantization differs from "
                "the output's; bytes are copied unchanged as TFLM does"
            )
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    sizes = [int(np.prod(b.tensor(i).shape[axis:], dtype=np.int64)) for i in op.inputs]
    sizes_name = b.array(op, "sizes", np.array(sizes, np.int32))
    inputs = ", ".join(b.ref(i) for i in op.inputs)
    b.call(
        op,
        f"{{ const int8_t *const ins[{len(op.inputs)}] = {{{inputs}}}; "
        f"npb_concat({len(op.inputs)}, ins, {sizes_name}, {outer}, {b.ref(op.outputs[0])}); }}",
    )


def _slice_params(
    b: CodeBuilder,
    op: OperatorRecord,
    in_shape: Sequence[int],
    begin: list[int],
    stride: list[int],
    counts: list[int],
) -> str:
    pad = 4 - len(in_shape)
    return b.params(
        op,
        "npb_slice_params",
        {
            "in_dims": extend_to_4d(in_shape),
            "out_dims": [1] * pad + counts,
            "begin": [0] * pad + begin,
            "stride": [1] * pad + stride,
        },
    )


def lower_strided_slice(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp = b.tensor(i_in)
    o = op.options
    if o.get("EllipsisMask", 0) or o.get("NewAxisMask", 0) or len(inp.shape) > 4:
        raise op_error(b, op, "ellipsis/new-axis masks or rank > 4")
    begins = _const(b, op, op.inputs[1], "begin").reshape(-1).tolist()
    ends = _const(b, op, op.inputs[2], "end").reshape(-1).tolist()
    strides = _const(b, op, op.inputs[3], "strides").reshape(-1).tolist()
    begin_mask, end_mask = int(o.get("BeginMask", 0)), int(o.get("EndMask", 0))
    shrink_mask = int(o.get("ShrinkAxisMask", 0))
    offset = bool(o.get("Offset", False))
    start_list, stride_list, counts = [], [], []
    for k, dim in enumerate(inp.shape):
        stride = int(strides[k]) if k < len(strides) else 1
        if stride == 0:
            raise op_error(b, op, "zero stride")
        # Python slice semantics reproduce TFLite's StartForAxis/StopForAxis clamping.
        start = None if begin_mask >> k & 1 or k >= len(begins) else int(begins[k])
        stop = None if end_mask >> k & 1 or k >= len(ends) else int(ends[k])
        if offset and start is not None and stop is not None:
            stop += start
        if shrink_mask >> k & 1:
            first = int(begins[k]) % dim
            start_list.append(first)
            stride_list.append(1)
            counts.append(1)
            continue
        indices = range(dim)[slice(start, stop, stride)]
        start_list.append(indices.start if len(indices) else 0)
        stride_list.append(stride)
        counts.append(len(indices))
    if int(np.prod(counts)) != b.tensor(i_out).elements:
        raise op_error(b, op, "computed slice size differs from the output tensor's")
    params = _slice_params(b, op, inp.shape, start_list, stride_list, counts)
    b.call(op, f"npb_slice({params}, {b.ref(i_in)}, {b.ref(i_out)});")


def lower_slice(b: CodeBuilder, op: OperatorRecord) -> None:
    i_in, i_out = op.inputs[0], op.outputs[0]
    _int8(b, op, i_in, i_out)
    inp = b.tensor(i_in)
    if len(inp.shape) > 4:
        raise op_error(b, op, "rank > 4")
    begins = [int(v) for v in _const(b, op, op.inputs[1], "begin").reshape(-1)]
    sizes = [int(v) for v in _const(b, op, op.inputs[2], "size").reshape(-1)]
    counts = [d - s if n < 0 else n for d, s, n in zip(inp.shape, begins, sizes, strict=True)]
    params = _slice_params(b, op, inp.shape, begins, [1] * len(begins), counts)
    b.call(op, f"npb_slice({params}, {b.ref(i_in)}, {b.ref(i_out)});")


LOWERINGS: dict[str, Callable[[CodeBuilder, OperatorRecord], None]] = {
    "CONV_2D": lower_conv_2d,
    "DEPTHWISE_CONV_2D": lower_depthwise_conv_2d,
    "FULLY_CONNECTED": lower_fully_connected,
    "AVERAGE_POOL_2D": lower_average_pool_2d,
    "MAX_POOL_2D": lower_max_pool_2d,
    "ADD": lower_add,
    "SUB": lower_sub,
    "MUL": lower_mul,
    "SOFTMAX": lower_softmax,
    "LOGISTIC": lower_logistic,
    "QUANTIZE": lower_quantize,
    "RELU": lower_relu,
    "RELU6": lower_relu6,
    "MEAN": lower_mean,
    "SUM": lower_sum,
    "REDUCE_MAX": lower_reduce_max,
    "PAD": _pad,
    "PADV2": _pad,
    "TRANSPOSE": lower_transpose,
    "CONCATENATION": lower_concatenation,
    "STRIDED_SLICE": lower_strided_slice,
    "SLICE": lower_slice,
}

SUPPORTED_OPS: tuple[str, ...] = tuple(sorted({*LOWERINGS, *ALIAS_OPS}))

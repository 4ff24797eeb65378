"""Fit rules for the ADI MAX78000 / MAX78002 CNN accelerator (ai8x-synthesis flow).

The accelerator runs a fixed set of layer types (ai8x README, "Limitations of MAX78000/MAX78002
Networks"); the flow has no automatic CPU fallback, so a layer outside the limits is
"unsupported" and the model does not fit. Softmax (and a final dequantize) run in software on
the host. Limits and their sources: predict/limits/max78000.toml, one table per accelerator
(the board's npu.name); the board's npu.max_layers / max_channels / max_input_hw override them.
May import npubench.predict.fit, analysis, targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from npubench.analysis.graph_types import GraphAnalysis, LayerInfo
from npubench.predict.rules.base import (
    FamilyResult,
    FitCheckError,
    Limits,
    add_use,
    empty_memory,
    kib,
    largest,
    load_limits,
    place,
)
from npubench.schema import LayerPlacement
from npubench.targets.schema import Board, Figure

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
COMPUTE_OPS = (*CONV_OPS, "FULLY_CONNECTED")
POOL_OPS = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN")
ACTIVATION_OPS = ("RELU", "RELU6")


@dataclass
class _Chip:
    """The limits of one accelerator, with the board's overrides applied."""

    limits: Limits
    table: str
    display: str
    max_layers: int
    max_channels_in: int
    max_channels_out: int
    max_dim: int

    def v(self, key: str) -> object:
        return self.limits.value(self.table, key)

    def i(self, key: str) -> int:
        return int(self.limits.value(self.table, key))


@dataclass
class _State:
    """What the walk over the layers has accumulated."""

    hw_layers: int = 0
    weight_columns: int = 0  # kernel columns used per processor (the scarce resource)
    weight_bytes: int = 0
    data_bytes: int = 0
    pending_pad: int = 0  # explicit PAD waiting to be fused into the next convolution
    flatten_from: list[int] | None = None  # 4-D shape a RESHAPE flattened for the next FC
    notes: list[str] = field(default_factory=list)


def _chip(board: Board) -> _Chip:
    limits = load_limits("max7800x")
    name = board.npu.name if board.npu else ""
    if name not in limits.tables:
        raise FitCheckError(
            f"board {board.name}: no MAX78000-family limits for accelerator {name!r}",
            f"add a [{name}] table to predict/limits/max78000.toml "
            f"(known: {', '.join(limits.tables)})",
        )
    npu = board.npu
    assert npu is not None

    def override(fig: Figure | None, key: str) -> int:
        return int(fig.value) if fig is not None else int(limits.value(name, key))

    return _Chip(
        limits=limits,
        table=name,
        display=str(limits.value(name, "display")),
        max_layers=override(npu.max_layers, "max_layers"),
        max_channels_in=override(npu.max_channels, "in_channels_max"),
        max_channels_out=override(npu.max_channels, "out_channels_max"),
        max_dim=override(npu.max_input_hw, "max_dim"),
    )


def _same_padding(in_size: int, out_size: int, kernel: int, stride: int, dilation: int) -> int:
    """Padding per side that TFLite's SAME implies (the larger side)."""
    total = max((out_size - 1) * stride + (kernel - 1) * dilation + 1 - in_size, 0)
    return math.ceil(total / 2)


def _next_compute_op(layers: list[LayerInfo], pos: int, free: set[str]) -> str | None:
    """The op of the next layer that does work, skipping layout no-ops."""
    for layer in layers[pos + 1 :]:
        if layer.op not in free and layer.op not in ACTIVATION_OPS:
            return layer.op
    return None


def _fuses_into_conv(layers: list[LayerInfo], pos: int, skip: set[str]) -> bool:
    """Pooling and element-wise ops chain in-flight into the next convolution (ai8x README)."""
    for layer in layers[pos + 1 :]:
        if layer.op not in skip:
            return layer.op in CONV_OPS
    return False


def _shape_problems(layer: LayerInfo, chip: _Chip) -> str | None:
    for shape in [*layer.input_shapes, layer.output_shape]:
        if len(shape) == 4 and max(shape[1], shape[2]) > chip.max_dim:
            return (
                f"{shape[1]}x{shape[2]} data: {chip.display} handles at most "
                f"{chip.max_dim} rows or columns"
            )
    return None


def _activation_problem(layer: LayerInfo, chip: _Chip) -> str | None:
    act = layer.fused_activation or "NONE"
    if act not in chip.v("activations"):  # type: ignore[operator]
        return f"fused {act}: {chip.display} supports ReLU, Abs or no activation only"
    return None


def _data_memory_problem(layer: LayerInfo, chip: _Chip, hw_index: int) -> str | None:
    """Data larger than one memory instance per channel needs streaming, early layers only."""
    limit = chip.i("hwc_pixels_per_channel_max")
    for shape in [*layer.input_shapes, layer.output_shape]:
        if len(shape) != 4 or shape[1] * shape[2] <= limit:
            continue
        pixels = shape[1] * shape[2]
        stream_max = chip.i("streaming_layers_max")
        if hw_index > stream_max:
            return (
                f"{shape[1]}x{shape[2]} = {pixels} pixels per channel exceed one data memory "
                f"instance ({limit}) and streaming is limited to the first {stream_max} layers"
            )
        volume = shape[1] * shape[2] * math.ceil(shape[3] / 64)
        if volume >= chip.i("streaming_volume_max"):
            return f"streaming volume W x H x ceil(C/64) = {volume} is not below 2^21"
    return None


def _conv_problems(layer: LayerInfo, chip: _Chip, state: _State) -> tuple[str | None, int, int]:
    """(problem, kernel columns per processor, processors used) of a convolution layer."""
    in_shape, out_shape = layer.input_shapes[0], layer.output_shape
    in_c, out_c = in_shape[-1], out_shape[-1]
    kh, kw = layer.kernel or [1, 1]
    sh, sw = layer.stride or [1, 1]
    dh, dw = layer.dilation or [1, 1]
    d = chip.display
    one_d = len(in_shape) == 4 and (
        (in_shape[1] == 1 and kh == 1) or (in_shape[2] == 1 and kw == 1)
    )
    length = kw if one_d and in_shape[1] == 1 else kh

    if layer.op == "DEPTHWISE_CONV_2D":
        if not chip.v("depthwise"):
            return f"{d} does not support depthwise convolutions (groups must be 1)", 0, 0
        if out_c != in_c:
            return f"depth multiplier {out_c // max(in_c, 1)}: {d} needs groups = channels", 0, 0
    if layer.op == "TRANSPOSE_CONV":
        if [kh, kw] != chip.v("transpose_conv_kernel") or {sh, sw} != {
            chip.i("transpose_conv_stride")
        }:
            return f"{d} supports 3x3 transposed convolutions with stride 2 only", 0, 0
    elif one_d:
        if length > chip.i("conv1d_kernel_max"):
            return (
                f"{d} supports 1-D kernels of length 1 to {chip.i('conv1d_kernel_max')} only",
                0,
                0,
            )
        dil = dw if in_shape[1] == 1 else dh
        dil_max = chip.i("conv1d_dilation_max") if length <= 3 else 1
        if dil > dil_max:
            return f"dilation {dil}: {d} allows 1..{dil_max} for this 1-D kernel", 0, 0
    else:
        allowed = chip.v("conv2d_kernels")
        if [kh, kw] not in allowed:  # type: ignore[operator]
            sizes = " and ".join(f"{k[0]}x{k[1]}" for k in sorted(allowed, reverse=True))  # type: ignore[arg-type]
            return f"{d} supports {sizes} 2-D kernels only", 0, 0
        if max(dh, dw) > chip.i("conv2d_dilation_max"):
            return f"dilation {dh}x{dw}: {d} allows at most {chip.i('conv2d_dilation_max')}", 0, 0
    if layer.op != "TRANSPOSE_CONV" and (sh, sw) != (chip.i("conv_stride"),) * 2:
        return f"stride {sh}x{sw}: {d} convolutions have stride 1 (downsample with pooling)", 0, 0

    if layer.op != "TRANSPOSE_CONV" and layer.padding == "SAME" and len(in_shape) == 4:
        pad = max(
            _same_padding(in_shape[1], out_shape[1], kh, sh, dh),
            _same_padding(in_shape[2], out_shape[2], kw, sw, dw),
        )
    else:
        pad = 0
    pad += state.pending_pad
    if pad > chip.i("conv_padding_max"):
        return f"padding {pad}: {d} supports padding 0 to {chip.i('conv_padding_max')}", 0, 0
    if in_c > chip.max_channels_in:
        return f"{in_c} input channels: {d} allows at most {chip.max_channels_in}", 0, 0
    if out_c > chip.max_channels_out:
        return f"{out_c} output channels: {d} allows at most {chip.max_channels_out}", 0, 0

    procs = chip.i("processors")
    if layer.op == "DEPTHWISE_CONV_2D":
        columns = math.ceil(in_c / procs)  # one kernel per channel
    else:
        columns = out_c * math.ceil(in_c / procs)  # multi-pass beyond 64 input channels
    if columns > chip.i("kernel_slots_per_processor"):
        return (
            (
                f"needs {columns} kernel slots per processor ({in_c} in x {out_c} out channels); "
                f"{d} has {chip.i('kernel_slots_per_processor')}"
            ),
            0,
            0,
        )
    bias_max = chip.v("bias_out_channels_max")
    if bias_max is not None and out_c > int(bias_max):  # type: ignore[call-overload]
        state.notes.append(
            f"layer {layer.index}: {out_c} output channels; {d} adds a bias to at most "
            f"{bias_max} (a non-zero bias needs a split layer)"
        )
    return None, columns, min(in_c, procs)


def _fc_problems(layer: LayerInfo, chip: _Chip, state: _State) -> tuple[str | None, int, int]:
    in_f = math.prod(layer.input_shapes[0][1:]) if layer.input_shapes else 0
    out_f = layer.output_shape[-1]
    d = chip.display
    flat = state.flatten_from
    if flat is not None:
        _, h, w, c = flat
        if h * w > chip.i("flatten_hw_max"):
            return f"flattening {h}x{w} data: {d} allows H x W <= {chip.i('flatten_hw_max')}", 0, 0
        if c * h * w > chip.i("flatten_volume_max"):
            return (
                (
                    f"flattening {c}x{h}x{w} = {c * h * w} values: {d} allows at most "
                    f"{chip.i('flatten_volume_max')}"
                ),
                0,
                0,
            )
        channels = c
    elif in_f > chip.i("fc_in_max"):
        return f"{in_f} input neurons: {d} allows at most {chip.i('fc_in_max')}", 0, 0
    else:
        channels = in_f
    if out_f > chip.i("fc_out_max"):
        return f"{out_f} output neurons: {d} allows at most {chip.i('fc_out_max')}", 0, 0
    procs = min(channels, chip.i("processors"))
    slot = chip.i("kernel_slot_bytes")
    columns = math.ceil(math.ceil(in_f / procs) * out_f / slot)  # weights packed 9 per slot
    if columns > chip.i("kernel_slots_per_processor"):
        return (
            (
                f"needs {columns} kernel slots per processor; {d} has "
                f"{chip.i('kernel_slots_per_processor')}"
            ),
            0,
            0,
        )
    return None, columns, procs


def _pool_problem(layer: LayerInfo, chip: _Chip, fused: bool) -> str | None:
    d = chip.display
    in_shape = layer.input_shapes[0] if layer.input_shapes else layer.output_shape
    if layer.op == "MEAN":
        kh, kw = (in_shape[1], in_shape[2]) if len(in_shape) == 4 else (1, 1)
        sh, sw = kh, kw
        if not (len(in_shape) == 4 and len(layer.output_shape) in (2, 4)):
            return f"MEAN over {in_shape}: {d} can average over height and width only"
    else:
        kh, kw = layer.kernel or [1, 1]
        sh, sw = layer.stride or [1, 1]
    kmax, smax = chip.i("pool_kernel_max"), chip.i("pool_stride_max")
    if max(kh, kw) > kmax:
        return f"pooling {kh}x{kw}: {d} supports pooling kernels up to {kmax}x{kmax}"
    if layer.op != "MEAN" and (sh != sw or max(sh, sw) > smax):
        return f"pooling stride {sh}x{sw}: {d} needs equal strides of 1 to {smax}"
    if layer.padding == "SAME" and len(in_shape) == 4 and layer.op != "MEAN":
        pad = max(
            _same_padding(in_shape[1], layer.output_shape[1], kh, sh, 1),
            _same_padding(in_shape[2], layer.output_shape[2], kw, sw, 1),
        )
        if pad > 0:
            return f"SAME padding ({pad}): {d} pooling does not support padding"
    channels = in_shape[-1]
    if not fused and channels > chip.i("pool_unfused_channels_max") and [kh, kw] != [1, 1]:
        return (
            f"pooling {channels} channels without a following convolution: {d} needs a fused "
            f"convolution beyond {chip.i('pool_unfused_channels_max')} channels"
        )
    return None


def _pad_amount(layer: LayerInfo) -> int:
    if not layer.input_shapes or len(layer.output_shape) != 4:
        return 0
    in_shape = layer.input_shapes[0]
    return max(math.ceil((layer.output_shape[i] - in_shape[i]) / 2) for i in (1, 2))


def _place_layer(layers: list[LayerInfo], pos: int, chip: _Chip, state: _State) -> LayerPlacement:
    layer = layers[pos]
    d = chip.display
    free = set(chip.v("free_ops"))  # type: ignore[arg-type]
    op = layer.op
    if op in free:
        if op == "RESHAPE" and layer.input_shapes and len(layer.input_shapes[0]) == 4:
            state.flatten_from = layer.input_shapes[0]
        return place(layer, "npu", "no-op on the CNN (layout only)")
    if op in chip.v("host_ops"):  # type: ignore[operator]
        return place(layer, "cpu", "runs in software on the host CPU (as ai8x does for Softmax)")
    if layer.dtype not in ("int8", "uint8"):
        return place(layer, "unsupported", f"{layer.dtype} data: {d} runs 8-bit data only")
    flatten_from, state.flatten_from = state.flatten_from, None
    next_op = _next_compute_op(layers, pos, free)
    in_flight = free | set(ACTIVATION_OPS) | set(POOL_OPS) | set(chip.v("eltwise_ops"))  # type: ignore[arg-type]
    fused = _fuses_into_conv(layers, pos, in_flight)

    if op in ACTIVATION_OPS:
        return place(layer, "npu", "fused into the previous layer's ReLU")
    if op == "PAD":
        amount = _pad_amount(layer)
        if amount > chip.i("conv_padding_max"):
            return place(layer, "unsupported", f"padding {amount}: {d} supports padding 0 to 2")
        if next_op not in CONV_OPS:
            return place(layer, "unsupported", f"{d} pads only as part of a convolution")
        state.pending_pad = amount
        return place(layer, "npu", "fused into the next convolution's padding")
    if op == "CONCATENATION":
        parts = layer.input_shapes[:-1]
        bad = [p[-1] for p in parts if p[-1] % chip.i("concat_channel_multiple")]
        if bad:
            return place(
                layer,
                "unsupported",
                f"concatenated parts with {bad} channels: {d} needs multiples of 4 "
                "(all parts but the last)",
            )
        return place(layer, "npu", "written side by side in data memory")

    problem: str | None = None
    columns = procs = 0
    counts = True
    if op in CONV_OPS:
        problem, columns, procs = _conv_problems(layer, chip, state)
        state.pending_pad = 0
    elif op == "FULLY_CONNECTED":
        state.flatten_from = flatten_from
        problem, columns, procs = _fc_problems(layer, chip, state)
        state.flatten_from = None
    elif op in POOL_OPS:
        problem = _pool_problem(layer, chip, fused)
        counts = not fused
    elif op in chip.v("eltwise_ops"):  # type: ignore[operator]
        counts = not fused
    else:
        problem = f"{op} has no equivalent on the {d} CNN (and the ai8x flow has no CPU fallback)"
    problem = problem or _activation_problem(layer, chip) or _shape_problems(layer, chip)
    if problem:
        return place(layer, "unsupported", problem)

    if counts:
        state.hw_layers += 1
        if state.hw_layers > chip.max_layers:
            return place(
                layer,
                "unsupported",
                f"hardware layer {state.hw_layers} exceeds the {d} limit of "
                f"{chip.max_layers} layers",
            )
        problem = _data_memory_problem(layer, chip, state.hw_layers)
        if problem:
            return place(layer, "unsupported", problem)
    align = chip.i("kernel_column_alignment")
    aligned = math.ceil(columns / align) * align
    state.weight_columns += aligned
    state.weight_bytes += aligned * procs * chip.i("kernel_slot_bytes")
    state.data_bytes = max(state.data_bytes, layer.activation_bytes)
    why = "fused into the next convolution" if not counts else f"CNN layer {state.hw_layers}"
    return place(layer, "npu", why)


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    chip = _chip(board)
    state = _State()
    result = FamilyResult(
        placement=[
            _place_layer(analysis.layers, i, chip, state) for i in range(len(analysis.layers))
        ],
        memory=empty_memory(board),
    )
    weights_mem = largest(board, "npu_weights")
    data_mem = largest(board, "npu_data")
    if weights_mem is not None:
        add_use(
            result, weights_mem, state.weight_bytes, "weights", f"{chip.display} CNN weight memory"
        )
        per_proc = chip.i("kernel_slots_per_processor")
        if state.weight_columns > per_proc:
            result.notes.append(
                f"kernel columns per processor: {state.weight_columns} of {per_proc} if every "
                "layer used all processors; the izer packs layers that use fewer"
            )
    if data_mem is not None:
        add_use(
            result, data_mem, state.data_bytes, "activations", f"{chip.display} CNN data memory"
        )
    flash, sram = largest(board, "flash"), largest(board, "sram")
    if flash is not None:
        add_use(result, flash, analysis.total_weight_bytes, "weights (loaded into the CNN at init)")
    if sram is not None:
        io = math.prod(analysis.input_shape) + math.prod(analysis.output_shape) * 4
        add_use(result, sram, io, "input/output buffers")
    result.notes += state.notes
    result.notes.append(
        f"{state.hw_layers} of {chip.max_layers} CNN layers; kernel memory estimated at "
        f"{kib(state.weight_bytes)} (9-byte slots, see limits/max78000.toml)"
    )
    return result

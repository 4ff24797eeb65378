"""Fit rules for the ADI MAX78000 / MAX78002 CNN accelerator, counted as ADI's ai8xize does.

The accelerator runs a fixed set of layer types (ai8x-synthesis README, "Limitations of
MAX78000/MAX78002 Networks"); the flow has no automatic CPU fallback, so a layer outside the
limits is "unsupported" and the model does not fit. Softmax (and a final dequantize) run in
software on the host. Resources are accounted the way the README documents them and ai8xize
reports them (targets/families/max7800x.toml, every limit with its source):

- kernel (weight) memory is per processor: 768 words of 72 bits on MAX78000 (4096, or 5120 on
  processors 0/16/32/48, on MAX78002). A 3x3 kernel of 8-bit weights is one word; smaller
  kernels are packed (nine 1x1 kernels per word, a Conv1d kernel of length k takes k bytes).
  A layer with more than 64 input channels runs ceil(C/64) passes on ceil(C/passes) processors
  (rounded up to a multiple of 4), each processor holding the kernels of all its passes; a
  fully connected layer is a 1x1 convolution on 1x1 data, a flattened C x H x W input folding
  its H x W positions into the kernel count. Each layer's kernels start at the first column (a
  multiple of 4) free on all of its processors; the model fits when no processor overflows.
  npubench chooses the processors (ADI's YAML files stagger them by hand); ai8xize's printed
  "Weight memory" figure, the sum of the weights in bytes, is the use reported for the board's
  ``cnn_weights`` memory.
- bias memory is one 8-bit bias memory per quadrant (512 B on MAX78000); a layer's bias goes
  into one memory of a quadrant its processors use (fit-first descending, README "Bias
  Memories").
- data memory is 16 instances (32 KiB each on MAX78000), each shared by 4 processors; in HWC a
  word holds 4 channels, so a layer's data takes H x W x ceil(C/64) words per instance. Data
  that does not fit an instance needs streaming (FIFOs, the first <= 8 layers, where 1x1
  kernels become 3x3).

Weights are 8-bit: npubench quantizes every layer to int8. May import npubench.predict.rules,
analysis, schema, targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

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

FAMILY = "max7800x"
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

    def items(self, key: str) -> list[Any]:
        """A list-valued limit (kernel sizes, op names)."""
        return list(self.limits.value(self.table, key) or [])

    @property
    def processors(self) -> int:
        return self.i("processors")

    def kernel_words(self, processor: int) -> int:
        """Kernel words of one processor (the first of each quadrant has more on MAX78002)."""
        first = processor % self.i("processors_per_quadrant") == 0
        return self.i("kernel_words_large") if first else self.i("kernel_words_per_processor")

    @property
    def instance_words(self) -> int:
        """32-bit words of one data memory instance."""
        return self.i("data_instance_bytes") // 4


@dataclass
class CnnLayer:
    """One hardware layer of the CNN and what it takes of kernel and bias memory."""

    index: int  # the TFLite layer it comes from (the convolution, or the unfused pool/add)
    name: str
    op: str  # "conv2d", "conv1d", "convtranspose2d", "depthwise", "linear", "passthrough"
    in_channels: int = 0
    out_channels: int = 0
    kernel_elements: int = 0  # weights per (input, output) channel pair: 1, 9, k, ...
    positions: int = 1  # flattened H x W folded into a linear layer's kernels
    has_bias: bool = False
    data_words: int = 0  # words per data memory instance of its input and output together
    needs_streaming: bool = False
    streaming: bool = False
    after_streaming: bool = False  # reads the output of the last streaming layer
    volume: int = 0  # width x height x ceil(C/64) of the input (the streaming limit)
    padded: bool = True
    # Filled in by the kernel allocation:
    first_processor: int | None = None
    column: int | None = None
    quadrant: int | None = None  # the bias memory holding its bias

    @property
    def passes(self) -> int:
        return max(1, math.ceil(self.in_channels / 64))

    def processors(self, multiple: int = 4) -> int:
        """Processors per pass: the channels, or ceil(C/passes) rounded to ``multiple``."""
        if self.passes == 1:
            return self.in_channels
        return math.ceil(math.ceil(self.in_channels / self.passes) / multiple) * multiple

    def elements(self) -> int:
        """Weights per kernel in hardware: a 1x1 kernel that streams, or reads streamed data,
        runs as 3x3 (README, streaming bullets; ai8xize-runs: the layer after the last
        streaming one too)."""
        emulated = self.streaming or self.after_streaming
        if emulated and self.kernel_elements == 1 and self.op in ("conv2d", "convtranspose2d"):
            return 9
        return self.kernel_elements

    def kernel_count(self, multiple: int = 4) -> int:
        """Kernels each processor holds: passes x (padded) outputs x flattened positions."""
        if self.op == "passthrough":
            return 0
        if self.op == "depthwise":
            return self.passes
        out = self.out_channels
        if out > 64:
            out_passes = math.ceil(out / 64)
            out = out_passes * math.ceil(math.ceil(out / out_passes) / multiple) * multiple
        return self.passes * out * self.positions

    def words(self, bits: int, word_bits: int, multiple: int = 4) -> int:
        """72-bit kernel words per processor (kernels of fewer bits are packed)."""
        return math.ceil(self.kernel_count(multiple) * self.elements() * bits / word_bits)

    def weight_bytes(self, bits: int) -> int:
        """The weights in bytes, as ai8xize's "Weight memory" figure counts them."""
        if self.op == "passthrough":
            return 0
        pairs = self.in_channels if self.op == "depthwise" else self.in_channels * self.out_channels
        return math.ceil(pairs * self.elements() * self.positions * bits / 8)

    @property
    def bias_bytes(self) -> int:
        return self.out_channels if self.has_bias else 0


@dataclass
class Accounting:
    """The whole model in ai8xize's terms: hardware layers, kernel words and bias bytes."""

    layers: list[CnnLayer]
    words_used: list[int]  # per processor: the highest kernel column in use
    bias_used: list[int]  # per quadrant
    words_capacity: list[int]
    bias_capacity: int
    weight_bytes: int
    bias_bytes: int
    problems: dict[int, str] = field(default_factory=dict)  # layer index -> why it fails

    @property
    def busiest(self) -> tuple[int, int]:
        """(processor, kernel words) of the processor with the most kernel words in use."""
        p = max(range(len(self.words_used)), key=lambda k: self.words_used[k])
        return p, self.words_used[p]


@dataclass
class _State:
    """What the walk over the layers has accumulated."""

    pending_pad: int = 0  # explicit PAD waiting to be fused into the next convolution
    flatten_from: list[int] | None = None  # 4-D shape a RESHAPE flattened for the next FC
    fused_input: list[int] | None = None  # the input of the pools/adds fused into the next layer
    cnn: list[CnnLayer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _chip(board: Board) -> _Chip:
    limits = load_limits(FAMILY)
    name = board.npu.name if board.npu else ""
    if name not in limits.tables:
        raise FitCheckError(
            f"board {board.name}: no MAX78000-family limits for accelerator {name!r}",
            f"add a [limits.{name}] table to targets/families/{FAMILY}.toml "
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


def _words(shape: list[int]) -> int:
    """32-bit words of HWC data per data memory instance: H x W x ceil(C/64)."""
    if len(shape) == 4:
        return shape[1] * shape[2] * math.ceil(shape[3] / 64)
    return math.ceil((shape[-1] if shape else 1) / 64)


def _hwc_bytes(shape: list[int]) -> int:
    """Bytes of HWC data over all instances: 4 channels per 32-bit word."""
    pixels = shape[1] * shape[2] if len(shape) == 4 else 1
    return pixels * math.ceil((shape[-1] if shape else 1) / 4) * 4


def _next_compute_op(layers: list[LayerInfo], pos: int, free: set[str]) -> str | None:
    """The op of the next layer that does work, skipping layout no-ops."""
    for layer in layers[pos + 1 :]:
        if layer.op not in free and layer.op not in ACTIVATION_OPS:
            return layer.op
    return None


def _fuses_into_conv(layers: list[LayerInfo], pos: int, skip: set[str]) -> bool:
    """Pooling and element-wise ops chain in-flight into the next convolution (README)."""
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
    if act not in chip.items("activations"):
        return f"fused {act}: {chip.display} supports ReLU, Abs or no activation only"
    return None


def _has_bias(layer: LayerInfo, weights: int) -> bool:
    """Whether the TFLite layer carries a bias (its parameters exceed its weights)."""
    return layer.params > weights


def _conv_layer(layer: LayerInfo, chip: _Chip, state: _State) -> tuple[str | None, CnnLayer | None]:
    """(problem, hardware layer) of a convolution."""
    in_shape, out_shape = layer.input_shapes[0], layer.output_shape
    in_c, out_c = in_shape[-1], out_shape[-1]
    kh, kw = layer.kernel or [1, 1]
    sh, sw = layer.stride or [1, 1]
    dh, dw = layer.dilation or [1, 1]
    d = chip.display
    # Conv1d: data and kernel one row (or one column) high, the other dimension longer.
    one_d = len(in_shape) == 4 and (
        (in_shape[1] == 1 and kh == 1 and in_shape[2] > 1)
        or (in_shape[2] == 1 and kw == 1 and in_shape[1] > 1)
    )
    length = kw if one_d and in_shape[1] == 1 else kh

    if layer.op == "DEPTHWISE_CONV_2D":
        if not chip.v("depthwise"):
            return f"{d} does not support depthwise convolutions (groups must be 1)", None
        if out_c != in_c:
            return f"depth multiplier {out_c // max(in_c, 1)}: {d} needs groups = channels", None
    if layer.op == "TRANSPOSE_CONV":
        if [kh, kw] != chip.items("transpose_conv_kernel") or {sh, sw} != {
            chip.i("transpose_conv_stride")
        }:
            return f"{d} supports 3x3 transposed convolutions with stride 2 only", None
    elif one_d:
        if length > chip.i("conv1d_kernel_max"):
            most = chip.i("conv1d_kernel_max")
            return f"{d} supports 1-D kernels of length 1 to {most} only", None
        dil = dw if in_shape[1] == 1 else dh
        dil_max = chip.i("conv1d_dilation_max") if length <= 3 else 1
        if dil > dil_max:
            return f"dilation {dil}: {d} allows 1..{dil_max} for this 1-D kernel", None
    else:
        allowed = chip.items("conv2d_kernels")
        if [kh, kw] not in allowed:
            sizes = " and ".join(f"{k[0]}x{k[1]}" for k in sorted(allowed, reverse=True))
            return f"{d} supports {sizes} 2-D kernels only", None
        if max(dh, dw) > chip.i("conv2d_dilation_max"):
            return f"dilation {dh}x{dw}: {d} allows at most {chip.i('conv2d_dilation_max')}", None
    if layer.op != "TRANSPOSE_CONV" and (sh, sw) != (chip.i("conv_stride"),) * 2:
        return f"stride {sh}x{sw}: {d} convolutions have stride 1 (downsample with pooling)", None

    if layer.op != "TRANSPOSE_CONV" and layer.padding == "SAME" and len(in_shape) == 4:
        pad = max(
            _same_padding(in_shape[1], out_shape[1], kh, sh, dh),
            _same_padding(in_shape[2], out_shape[2], kw, sw, dw),
        )
    else:
        pad = 0
    pad += state.pending_pad
    if pad > chip.i("conv_padding_max"):
        return f"padding {pad}: {d} supports padding 0 to {chip.i('conv_padding_max')}", None
    if one_d and in_c > 64 and pad > chip.i("conv1d_multipass_padding_max"):
        return f"padding {pad}: {d} Conv1d with more than 64 input channels needs padding 0", None
    if in_c > chip.max_channels_in:
        return f"{in_c} input channels: {d} allows at most {chip.max_channels_in}", None
    if out_c > chip.max_channels_out:
        return f"{out_c} output channels: {d} allows at most {chip.max_channels_out}", None

    if layer.op == "DEPTHWISE_CONV_2D":
        op, elements = "depthwise", kh * kw
        weights = in_c * kh * kw
    else:
        op = "convtranspose2d" if layer.op == "TRANSPOSE_CONV" else "conv1d" if one_d else "conv2d"
        elements = length if one_d else kh * kw
        weights = in_c * out_c * elements
    cnn = CnnLayer(
        index=layer.index,
        name=layer.name,
        op=op,
        in_channels=in_c,
        out_channels=out_c,
        kernel_elements=elements,
        has_bias=_has_bias(layer, weights),
        padded=pad > 0,
    )
    bias_max = chip.v("bias_out_channels_max")
    if cnn.has_bias and bias_max is not None and out_c > int(bias_max):  # type: ignore[call-overload]
        state.notes.append(
            f"layer {layer.index}: {out_c} output channels; {d} adds a bias to at most "
            f"{bias_max} (a non-zero bias needs a split layer)"
        )
    return None, cnn


def _fc_layer(layer: LayerInfo, chip: _Chip, state: _State) -> tuple[str | None, CnnLayer | None]:
    in_shape = layer.input_shapes[0] if layer.input_shapes else [1]
    in_f = math.prod(in_shape[1:])
    out_f = layer.output_shape[-1]
    d = chip.display
    flat = state.flatten_from
    if flat is None and len(in_shape) == 4 and in_shape[1] * in_shape[2] > 1:
        flat = in_shape
    if flat is not None and len(flat) == 4 and flat[1] * flat[2] > 1:
        _, h, w, c = flat
        if h * w > chip.i("flatten_hw_max"):
            return f"flattening {h}x{w} data: {d} allows H x W <= {chip.i('flatten_hw_max')}", None
        if c * h * w > chip.i("flatten_volume_max"):
            return (
                f"flattening {c}x{h}x{w} = {c * h * w} values: {d} allows at most "
                f"{chip.i('flatten_volume_max')}"
            ), None
        channels, positions = c, h * w
    elif in_f > chip.i("fc_in_max"):
        return f"{in_f} input neurons: {d} allows at most {chip.i('fc_in_max')}", None
    else:
        channels, positions = in_f, 1
    if out_f > chip.i("fc_out_max"):
        return f"{out_f} output neurons: {d} allows at most {chip.i('fc_out_max')}", None
    return None, CnnLayer(
        index=layer.index,
        name=layer.name,
        op="linear",
        in_channels=channels,
        out_channels=out_f,
        kernel_elements=1,
        positions=positions,
        has_bias=_has_bias(layer, in_f * out_f),
    )


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
    out = layer.output_shape
    pooled_1x1 = len(out) == 2 or (len(out) == 4 and out[1] * out[2] == 1)
    if (
        not fused
        and channels > chip.i("pool_unfused_channels_max")
        and [kh, kw] != [1, 1]
        and not pooled_1x1
    ):
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


def _eltwise_fuses(layer: LayerInfo, chip: _Chip) -> bool:
    """In-flight element-wise ops are limited in channels (README "`eltwise` (Optional)")."""
    channels = layer.output_shape[-1] if layer.output_shape else 0
    operands = max(len(layer.input_shapes), 2)
    limit = chip.i("eltwise_inflight_channels_max")
    return channels <= (limit if operands == 2 else min(limit, 64))


def _data_words(layer: LayerInfo, fused_input: list[int] | None) -> tuple[int, int]:
    """(input words, output words) per data memory instance of one hardware layer; the input
    is the data before any pooling fused into the layer."""
    in_shape = fused_input or (layer.input_shapes[0] if layer.input_shapes else [])
    return _words(in_shape), _words(layer.output_shape)


def _place_layer(layers: list[LayerInfo], pos: int, chip: _Chip, state: _State) -> LayerPlacement:
    layer = layers[pos]
    d = chip.display
    free = set(chip.items("free_ops"))
    op = layer.op
    if op in free:
        if op == "RESHAPE" and layer.input_shapes and len(layer.input_shapes[0]) == 4:
            state.flatten_from = layer.input_shapes[0]
        return place(layer, "npu", "no-op on the CNN (layout only)")
    if op in chip.items("host_ops"):
        return place(layer, "cpu", "runs in software on the host CPU (as ai8x does for Softmax)")
    if layer.dtype not in ("int8", "uint8"):
        return place(layer, "unsupported", f"{layer.dtype} data: {d} runs 8-bit data only")
    flatten_from, state.flatten_from = state.flatten_from, None
    next_op = _next_compute_op(layers, pos, free)
    eltwise = set(chip.items("eltwise_ops"))
    in_flight = free | set(ACTIVATION_OPS) | set(POOL_OPS) | eltwise
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
    cnn: CnnLayer | None = None
    if op in CONV_OPS:
        problem, cnn = _conv_layer(layer, chip, state)
        state.pending_pad = 0
    elif op == "FULLY_CONNECTED":
        state.flatten_from = flatten_from
        problem, cnn = _fc_layer(layer, chip, state)
        state.flatten_from = None
    elif op in POOL_OPS:
        problem = _pool_problem(layer, chip, fused)
        if not fused:
            cnn = CnnLayer(index=layer.index, name=layer.name, op="passthrough")
    elif op in eltwise:
        if not (fused and _eltwise_fuses(layer, chip)):
            fused = False
            cnn = CnnLayer(index=layer.index, name=layer.name, op="passthrough")
    else:
        problem = f"{op} has no equivalent on the {d} CNN (and the ai8x flow has no CPU fallback)"
    problem = problem or _activation_problem(layer, chip) or _shape_problems(layer, chip)
    if problem:
        state.fused_input = None
        return place(layer, "unsupported", problem)
    if cnn is None:  # a pool or add fused in-flight into the next convolution
        if state.fused_input is None and layer.input_shapes:
            state.fused_input = layer.input_shapes[0]
        return place(layer, "npu", "fused into the next convolution")
    words_in, words_out = _data_words(layer, state.fused_input)
    cnn.data_words = words_in + words_out
    cnn.volume = words_in
    cnn.needs_streaming = cnn.data_words > chip.instance_words
    state.fused_input = None
    state.cnn.append(cnn)
    return place(layer, "npu", f"CNN layer {len(state.cnn)}")


# --- after the walk: layers, streaming, kernel and bias memory ------------------------------


def _streaming(chip: _Chip, cnn: list[CnnLayer], problems: dict[int, str]) -> None:
    """Mark the streaming layers (consecutive from the first) and check the streaming limits."""
    need = [k for k, c in enumerate(cnn) if c.needs_streaming]
    if not need:
        return
    last, stream_max, d = need[-1], chip.i("streaming_layers_max"), chip.display
    if last >= stream_max:
        c = cnn[last]
        problems[c.index] = (
            f"{c.data_words} words of input and output per data memory instance exceed one "
            f"instance ({chip.instance_words} words) and streaming is limited to the first "
            f"{stream_max} layers (this is CNN layer {last + 1})"
        )
        return
    if cnn[0].in_channels > chip.i("streaming_input_channels_max"):
        problems[cnn[0].index] = (
            f"streaming {cnn[0].in_channels} input channels: the {d} FIFOs take at most "
            f"{chip.i('streaming_input_channels_max')} (HWC)"
        )
    final = cnn[last]
    if final.op in ("conv1d", "conv2d") and not final.padded and final.kernel_elements > 1:
        problems.setdefault(
            final.index, "the final streaming layer must use padding (README, streaming mode)"
        )
    if last + 1 < len(cnn) and chip.v("streaming_1x1_as_3x3"):
        cnn[last + 1].after_streaming = True
    for c in cnn[: last + 1]:
        c.streaming = True
        if c.volume >= chip.i("streaming_volume_max"):
            problems.setdefault(
                c.index, f"streaming volume W x H x ceil(C/64) = {c.volume} is not below 2^21"
            )
        if chip.v("streaming_convs_only") and c.op not in ("conv1d", "conv2d", "convtranspose2d"):
            problems.setdefault(c.index, f"{d} streaming layers must be convolutions")


def _allocate_kernels(chip: _Chip, cnn: list[CnnLayer], problems: dict[int, str]) -> list[int]:
    """Place each layer's kernels at the lowest column free on a window of its processors."""
    n = chip.processors
    align, bits, wbits = (
        chip.i("kernel_column_alignment"),
        chip.i("weight_bits"),
        chip.i("kernel_word_bits"),
    )
    multiple = chip.i("multipass_processor_multiple")
    out_multiple = chip.i("output_pass_channel_multiple")
    tops = [0] * n
    with_kernels = [c for c in cnn if c.words(bits, wbits, out_multiple) > 0]
    order = [c for c in with_kernels if c.processors(multiple) >= n]
    order += [c for c in with_kernels if c.processors(multiple) < n]
    for c in order:
        procs, words = min(c.processors(multiple), n), c.words(bits, wbits, out_multiple)
        best: tuple[int, int] | None = None
        for start in range(0, n - procs + 1, align):
            top = max(tops[start : start + procs])
            column = math.ceil(top / align) * align
            if best is None or column < best[0]:
                best = (column, start)
        assert best is not None
        column, start = best
        window = range(start, start + procs)
        over = [p for p in window if column + words > chip.kernel_words(p)]
        if over:
            problems.setdefault(
                c.index,
                f"kernel memory exhausted at processor {over[0]}: needs {words} words from "
                f"column {column}; {chip.display} has {chip.kernel_words(over[0])} per processor",
            )
            continue
        c.first_processor, c.column = start, column
        for p in window:
            tops[p] = column + words
    return tops


def _allocate_bias(chip: _Chip, cnn: list[CnnLayer], problems: dict[int, str]) -> list[int]:
    """Fit-first descending into the quadrant with the most room (README "Bias Memories")."""
    per_q, cap = chip.i("processors_per_quadrant"), chip.i("bias_bytes_per_quadrant")
    used = [0] * (chip.processors // per_q)
    multiple = chip.i("multipass_processor_multiple")

    def quadrants(c: CnnLayer) -> list[int]:
        assert c.first_processor is not None
        last = c.first_processor + min(c.processors(multiple), chip.processors) - 1
        return list(range(c.first_processor // per_q, last // per_q + 1))

    biased = [c for c in cnn if c.bias_bytes and c.first_processor is not None]
    single = [c for c in biased if len(quadrants(c)) == 1]
    rest = sorted((c for c in biased if len(quadrants(c)) > 1), key=lambda c: -c.bias_bytes)
    for c in sorted(single, key=lambda c: -c.bias_bytes) + rest:
        q = max(quadrants(c), key=lambda k: (cap - used[k], -k))
        if c.bias_bytes > cap - used[q]:
            problems.setdefault(
                c.index,
                f"bias memory exhausted: {c.bias_bytes} B of bias and {cap - used[q]} B free in "
                f"the bias memory of quadrant {q} ({chip.display}: {cap} B per quadrant)",
            )
            continue
        c.quadrant = q
        used[q] += c.bias_bytes
    return used


def account(analysis: GraphAnalysis, board: Board) -> tuple[FamilyResult, Accounting]:
    """Placement and memory of ``analysis`` on ``board``, with ai8xize's resource accounting."""
    chip = _chip(board)
    state = _State()
    placement = [_place_layer(analysis.layers, i, chip, state) for i in range(len(analysis.layers))]
    cnn = state.cnn
    problems: dict[int, str] = {}
    for k, c in enumerate(cnn):
        if k + 1 > chip.max_layers:
            problems[c.index] = (
                f"hardware layer {k + 1} exceeds the {chip.display} limit of "
                f"{chip.max_layers} layers"
            )
            break
    _streaming(chip, cnn, problems)
    tops = _allocate_kernels(chip, cnn, problems)
    bias_used = _allocate_bias(chip, cnn, problems)
    by_index = {layer.index: layer for layer in analysis.layers}
    placement = [
        place(by_index[p.index], "unsupported", problems[p.index])
        if p.index in problems and p.placement != "unsupported"
        else p
        for p in placement
    ]
    bits = chip.i("weight_bits")
    acc = Accounting(
        layers=cnn,
        words_used=tops,
        bias_used=bias_used,
        words_capacity=[chip.kernel_words(p) for p in range(chip.processors)],
        bias_capacity=chip.i("bias_bytes_per_quadrant"),
        weight_bytes=sum(c.weight_bytes(bits) for c in cnn),
        bias_bytes=sum(c.bias_bytes for c in cnn),
        problems=problems,
    )
    result = FamilyResult(placement=placement, memory=empty_memory(board))
    _memory(analysis, board, chip, acc, result)
    result.notes += state.notes
    return result, acc


def _memory(
    analysis: GraphAnalysis, board: Board, chip: _Chip, acc: Accounting, result: FamilyResult
) -> None:
    d = chip.display
    weights_mem = largest(board, "npu_weights")
    data_mem = largest(board, "npu_data")
    if weights_mem is not None:
        add_use(result, weights_mem, acc.weight_bytes, "weights", f"{d} CNN weight memory")
    if data_mem is not None:
        by_index = {layer.index: layer for layer in analysis.layers}
        peak = 0
        for c in acc.layers:
            layer = by_index[c.index]
            ins = layer.input_shapes[0] if layer.input_shapes else []
            peak = max(peak, _hwc_bytes(ins) + _hwc_bytes(layer.output_shape))
        add_use(result, data_mem, peak, "activations", f"{d} CNN data memory")
    flash, sram = largest(board, "flash"), largest(board, "sram")
    if flash is not None:
        add_use(
            result,
            flash,
            acc.weight_bytes + acc.bias_bytes,
            "weights (loaded into the CNN at init)",
        )
    if sram is not None:
        io = math.prod(analysis.input_shape) + math.prod(analysis.output_shape) * 4
        add_use(result, sram, io, "input/output buffers")
    proc, words = acc.busiest
    streaming = sum(c.streaming for c in acc.layers)
    result.notes.append(
        f"{len(acc.layers)} of {chip.max_layers} CNN layers"
        + (f" ({streaming} streaming)" if streaming else "")
        + f"; kernel memory: {words} of {acc.words_capacity[proc]} 72-bit words on the busiest "
        f"processor ({proc}); weights {acc.weight_bytes:,} B (ai8xize's 'Weight memory' figure, "
        f"{kib(acc.weight_bytes)}); bias {acc.bias_bytes:,} B, per quadrant {acc.bias_used} of "
        f"{acc.bias_capacity} B"
    )


def check(analysis: GraphAnalysis, board: Board) -> FamilyResult:
    return account(analysis, board)[0]

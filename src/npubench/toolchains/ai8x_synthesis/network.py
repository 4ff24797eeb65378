"""npubench's own writer of ai8x network descriptions (the YAML ``ai8xize.py`` reads).

May import ``npubench.errors``, numpy and (inside functions) torch. Nothing here comes from ADI's
code: the YAML keys and their meaning follow the ai8x-synthesis README ("Network Loader
Configuration Language", "Per-Layer Configuration", "Active Processors and Layers", "Multi-Pass",
"Data Memory Ping-Pong", "Layers and Weight Memory", "Streaming Mode").

``describe_module(module, input_shape)`` traces a float PyTorch module (``torch.fx``) into a
sequence of ai8x layers:

- ``Conv2d`` (1x1 or 3x3, stride 1, padding 0-2), ``Conv1d`` (kernel 1-9) and ``Linear`` (an
  MLP layer; ``flatten: true`` when it follows a flatten of data with more than one position)
  each become one layer; a following ``ReLU`` is its ``activate: ReLU``;
- ``MaxPool2d``/``AvgPool2d`` (and 1-D pools) fuse into the next layer as ``max_pool``/
  ``avg_pool`` + ``pool_stride``; a pool nothing consumes becomes a ``passthrough`` layer;
- a residual ``y = f(x) + x`` whose branch ``f`` is one layer becomes ADI's pattern: a
  ``passthrough`` copy of ``x`` written with ``write_gap: 1``, the branch written beside it
  (``out_offset`` + 4, ``write_gap: 1``), and the consumer reading both with ``eltwise: add``
  and ``in_sequences``.

``to_yaml`` then allocates processors and offsets as the README prescribes: a layer's processor
count is its input channels, or ceil(C/passes) rounded up to a multiple of 4 beyond 64 channels;
each layer's kernels start at the first column (a multiple of 4) free on all its processors, so
layers with fewer processors are staggered across the 64 (as ADI's own YAML files do by hand);
data ping-pongs between offset 0 and half a data memory instance; layers whose data exceeds an
instance stream (``streaming: true``, run with ``--fifo``).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from npubench.errors import CompilerError

if TYPE_CHECKING:
    import torch

PROCESSORS = 64
QUADRANT = 16
COLUMN_ALIGN = 4
WORD_BITS = 72
WEIGHT_BITS = 8


@dataclass(frozen=True)
class Device:
    """What the YAML writer needs to know of one accelerator (README, AHBAddresses.md)."""

    name: str  # "MAX78000" | "MAX78002"
    kernel_words: int  # per processor
    kernel_words_first: int  # processors 0, 16, 32, 48
    instance_bytes: int  # one data memory instance
    max_layers: int

    def words_of(self, processor: int) -> int:
        return self.kernel_words_first if processor % QUADRANT == 0 else self.kernel_words

    @property
    def instance_words(self) -> int:
        return self.instance_bytes // 4


DEVICES = {
    "MAX78000": Device("MAX78000", 768, 768, 32768, 32),
    "MAX78002": Device("MAX78002", 4096, 5120, 81920, 128),
}


@dataclass
class Ai8xLayer:
    """One layer of the network description, with the float weights of its module."""

    name: str  # the module path in the PyTorch model ("" for an inserted passthrough)
    op: str  # "conv2d" | "conv1d" | "mlp" | "passthrough"
    in_channels: int
    out_channels: int
    in_dims: tuple[int, ...]  # input data (H, W) or (L,), before pooling
    out_dims: tuple[int, ...]
    kernel: tuple[int, ...] = ()
    pad: int = 0
    activate: bool = False
    pool: tuple[str, int, int] | None = None  # ("max" | "avg", size, stride)
    flatten: bool = False
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    eltwise: str | None = None
    in_sequences: list[int] | None = None
    write_gap: int = 0
    gap_partner: bool = False  # the branch written beside a passthrough copy (offset + 4)
    same_processors_as: int | None = None  # share the processors of that layer (residuals)
    streaming: bool = False
    after_streaming: bool = False  # reads the output of a streaming layer
    output_width: int = 8
    # Set by the allocation:
    processors: int = 0  # mask
    column: int = 0
    in_offset: int | None = None
    out_offset: int = 0
    output_processors: int | None = None

    @property
    def passes(self) -> int:
        return max(1, math.ceil(self.in_channels / PROCESSORS))

    @property
    def processor_count(self) -> int:
        if self.passes == 1:
            return self.in_channels
        return math.ceil(math.ceil(self.in_channels / self.passes) / 4) * 4

    @property
    def positions(self) -> int:
        return math.prod(self.in_dims) if self.flatten else 1

    def kernel_words(self) -> int:
        """72-bit kernel words per processor (see predict.rules.max7800x for the rules)."""
        if self.op == "passthrough":
            return 0
        elements = math.prod(self.kernel) if self.kernel else 1
        if (self.streaming or self.after_streaming) and self.op == "conv2d" and elements == 1:
            elements = 9  # 1x1 layers in or after streaming run as 3x3 (ai8xize's NOTICE)
        out = self.out_channels
        if out > 64:
            out_passes = math.ceil(out / 64)
            out = out_passes * math.ceil(math.ceil(out / out_passes) / 4) * 4
        count = self.passes * out * self.positions
        return math.ceil(count * elements * WEIGHT_BITS / WORD_BITS)

    def describe(self) -> str:
        if self.op == "passthrough":
            return "passthrough" + (f" ({self.pool[0]} pool)" if self.pool else " (residual copy)")
        k = "x".join(str(d) for d in self.kernel) if self.kernel else ""
        return f"{self.op} {k} {self.in_channels}->{self.out_channels}".replace("  ", " ")


@dataclass
class Network:
    """A traced model: its ai8x layers, input shape and whether it streams."""

    arch: str
    layers: list[Ai8xLayer]
    input_shape: tuple[int, ...]  # (C, H, W) or (C, L)
    notes: list[str] = field(default_factory=list)

    @property
    def streaming(self) -> bool:
        return any(lay.streaming for lay in self.layers)

    def weight_layers(self) -> list[Ai8xLayer]:
        return [lay for lay in self.layers if lay.weight is not None]


def arch_name(model_name: str) -> str:
    """The ``arch`` both the YAML and the checkpoint carry (ai8xize matches them)."""
    return "npubench_" + re.sub(r"[^A-Za-z0-9_]", "_", model_name)


# --- tracing ---------------------------------------------------------------------------------


@dataclass
class _Value:
    """What a traced value is in ai8x terms."""

    kind: str  # "input" | "layer" | "pool" | "flatten" | "add"
    layer: int = -1  # "layer": index into the layer list
    pool: tuple[str, int, int] | None = None
    src: _Value | None = None  # "pool", "flatten": what was pooled / flattened
    operands: tuple[_Value, ...] = ()  # "add"
    shape: tuple[int, ...] = ()  # without batch


def _reject(node: Any, why: str) -> CompilerError:
    return CompilerError(
        f"npubench's ai8x YAML writer cannot express {node.op} '{node.target}' ({node.name}): "
        f"{why}",
        "give an ai8x network description with option network_yaml=<path> (ADI's networks/ "
        "folder has the study's), or change the model to ai8x's layer types",
    )


def _int(v: Any) -> int:
    return int(v[0]) if isinstance(v, tuple | list) else int(v)


def describe_module(module: torch.nn.Module, input_shape: tuple[int, ...], name: str) -> Network:
    """Trace ``module`` (batch-first ``input_shape``) into ai8x layers; see the module docs."""
    import torch
    from torch import fx, nn
    from torch.fx.passes.shape_prop import ShapeProp

    try:
        graph = fx.symbolic_trace(module)
    except Exception as e:  # fx raises many types on dynamic control flow
        raise CompilerError(
            f"cannot trace the PyTorch model with torch.fx ({type(e).__name__}: {e})",
            "give an ai8x network description with option network_yaml=<path>",
        ) from e
    with torch.no_grad():
        ShapeProp(graph).propagate(torch.zeros(input_shape))
    modules = dict(graph.named_modules())
    layers: list[Ai8xLayer] = []
    values: dict[str, _Value] = {}

    def shape_of(node: Any) -> tuple[int, ...]:
        meta = node.meta.get("tensor_meta")
        return tuple(int(d) for d in meta.shape[1:]) if meta is not None else ()

    def source(node: Any) -> _Value:
        arg = node.args[0]
        return values[arg.name]

    def new_layer(node: Any, layer: Ai8xLayer, src: _Value) -> _Value:
        pool: tuple[str, int, int] | None = None
        inner = src
        if src.kind == "flatten":
            inner = src.src or src
            layer.flatten = math.prod(inner.shape[1:]) > 1 if len(inner.shape) > 1 else False
        if inner.kind == "pool":
            if layer.flatten:
                raise _reject(node, "ai8x cannot pool and flatten in one layer")
            pool, inner = inner.pool, inner.src or inner
        if inner.kind == "add":
            _residual(node, layer, inner, layers)
        elif inner.kind == "layer" and inner.layer != len(layers) - 1:
            layer.in_sequences = [inner.layer]  # not the previous layer's output
        layer.pool = pool
        layer.in_dims = inner.shape[1:] if len(inner.shape) > 1 else (1,)
        if layer.flatten and inner.shape:
            layer.in_channels = inner.shape[0]
        layers.append(layer)
        return _Value("layer", layer=len(layers) - 1, shape=shape_of(node))

    for node in graph.graph.nodes:
        if node.op == "placeholder":
            values[node.name] = _Value("input", shape=shape_of(node))
        elif node.op == "output":
            continue
        elif node.op == "get_attr":
            raise _reject(node, "parameters used outside a layer")
        elif node.op == "call_module":
            mod = modules[node.target]
            values[node.name] = _module_value(node, mod, source(node), new_layer, layers, shape_of)
        elif node.op in ("call_function", "call_method"):
            target = node.target
            if target in (operator.add, torch.add) or target == "add":
                a, b = node.args[0], node.args[1]
                if not (hasattr(a, "name") and hasattr(b, "name")):
                    raise _reject(node, "only the sum of two tensors is an element-wise add")
                values[node.name] = _Value(
                    "add", operands=(values[a.name], values[b.name]), shape=shape_of(node)
                )
            elif target in (torch.flatten,) or target in ("flatten", "view", "reshape"):
                values[node.name] = _Value("flatten", src=source(node), shape=shape_of(node))
            elif target in (torch.relu, nn.functional.relu) or target == "relu":
                values[node.name] = _relu(node, source(node), layers)
            else:
                raise _reject(node, "no ai8x equivalent")
    last = layers[-1] if layers else None
    if last is None:
        raise CompilerError("the model has no convolution or linear layer for the ai8x CNN")
    result = next(n for n in graph.graph.nodes if n.op == "output").args[0]
    if not hasattr(result, "name"):
        raise CompilerError("the model returns more than one tensor; ai8x networks have one output")
    out = values[result.name]
    if out.kind == "pool":  # a final pool nothing consumes: a passthrough layer with pooling
        layers.append(_pool_layer(out, len(layers)))
    notes: list[str] = []
    return Network(
        arch=arch_name(name),
        layers=layers,
        input_shape=tuple(int(d) for d in input_shape[1:]),
        notes=notes,
    )


def _pool_layer(value: _Value, position: int) -> Ai8xLayer:
    src = value.src
    assert src is not None and value.pool is not None
    channels = src.shape[0] if src.shape else 1
    return Ai8xLayer(
        name="",
        op="passthrough",
        in_channels=channels,
        out_channels=channels,
        in_dims=src.shape[1:],
        out_dims=value.shape[1:],
        pool=value.pool,
    )


def _relu(node: Any, src: _Value, layers: list[Ai8xLayer]) -> _Value:
    if src.kind != "layer" or layers[src.layer].activate:
        raise _reject(node, "a ReLU must follow a convolution or linear layer")
    layers[src.layer].activate = True
    return src


def _module_value(
    node: Any, mod: Any, src: _Value, new_layer: Any, layers: list[Ai8xLayer], shape_of: Any
) -> _Value:
    from torch import nn

    out_shape = shape_of(node)
    if isinstance(mod, nn.ReLU):
        return _relu(node, src, layers)
    if isinstance(mod, nn.Identity | nn.Dropout):
        return src
    if isinstance(mod, nn.Flatten):
        return _Value("flatten", src=src, shape=out_shape)
    if isinstance(mod, nn.MaxPool2d | nn.AvgPool2d | nn.MaxPool1d | nn.AvgPool1d):
        size, stride = _int(mod.kernel_size), _int(mod.stride or mod.kernel_size)
        if _int(mod.padding) != 0:
            raise _reject(node, "ai8x pooling has no padding")
        kind = "max" if isinstance(mod, nn.MaxPool2d | nn.MaxPool1d) else "avg"
        if src.kind == "pool":
            raise _reject(node, "two pools in a row")
        return _Value("pool", pool=(kind, size, stride), src=src, shape=out_shape)
    if isinstance(mod, nn.Conv2d | nn.Conv1d):
        one_d = isinstance(mod, nn.Conv1d)
        if mod.groups != 1:
            raise _reject(node, "groups must be 1 (no depthwise convolutions in this writer)")
        if any(s != 1 for s in mod.stride) or any(d != 1 for d in mod.dilation):
            raise _reject(node, "ai8x convolutions have stride 1 and dilation 1")
        pads = {p for p in mod.padding} if isinstance(mod.padding, tuple) else {mod.padding}
        pad = next(iter(pads))
        if len(pads) != 1 or not isinstance(pad, int) or pad > 2:
            raise _reject(node, f"padding {mod.padding}: ai8x pads 0, 1 or 2 on every side")
        kernel = tuple(int(k) for k in mod.kernel_size)
        if not one_d and kernel not in ((1, 1), (3, 3)):
            raise _reject(node, f"kernel {kernel}: ai8x Conv2d kernels are 1x1 or 3x3")
        if one_d and not 1 <= kernel[0] <= 9:
            raise _reject(node, f"kernel {kernel[0]}: ai8x Conv1d kernels are 1 to 9")
        layer = Ai8xLayer(
            name=str(node.target),
            op="conv1d" if one_d else "conv2d",
            in_channels=int(mod.in_channels),
            out_channels=int(mod.out_channels),
            in_dims=(),
            out_dims=out_shape[1:],
            kernel=kernel,
            pad=pad,
            weight=mod.weight.detach().cpu().numpy().astype(np.float32),
            bias=None if mod.bias is None else mod.bias.detach().cpu().numpy().astype(np.float32),
        )
        return new_layer(node, layer, src)  # type: ignore[no-any-return]
    if isinstance(mod, nn.Linear):
        layer = Ai8xLayer(
            name=str(node.target),
            op="mlp",
            in_channels=int(mod.in_features),
            out_channels=int(mod.out_features),
            in_dims=(),
            out_dims=(1, 1),
            weight=mod.weight.detach().cpu().numpy().astype(np.float32),
            bias=None if mod.bias is None else mod.bias.detach().cpu().numpy().astype(np.float32),
        )
        return new_layer(node, layer, src)  # type: ignore[no-any-return]
    raise _reject(node, f"{type(mod).__name__} has no ai8x equivalent")


def _residual(node: Any, layer: Ai8xLayer, add: _Value, layers: list[Ai8xLayer]) -> None:
    """ADI's residual pattern: passthrough copy with a gap, branch beside it, eltwise add."""
    a, b = add.operands
    if a.kind != "layer" or b.kind != "layer":
        raise _reject(node, "an add of a layer output and a pooled or input value")
    skip, branch = (a, b) if a.layer < b.layer else (b, a)
    br = layers[branch.layer]
    if branch.layer != len(layers) - 1 or br.in_sequences not in (None, [skip.layer]):
        raise _reject(node, "a residual whose branch is not the one layer before the add")
    if branch.layer != skip.layer + 1:
        raise _reject(node, "a residual whose branch does not read the skip directly")
    if br.pool is not None:
        raise _reject(node, "a residual branch that pools")
    channels = layers[skip.layer].out_channels
    copy = Ai8xLayer(
        name="",
        op="passthrough",
        in_channels=channels,
        out_channels=channels,
        in_dims=layers[skip.layer].out_dims,
        out_dims=layers[skip.layer].out_dims,
        write_gap=1,
        same_processors_as=None,
    )
    layers.insert(branch.layer, copy)  # the copy runs before the branch
    copy_index, branch_index = branch.layer, branch.layer + 1
    br.in_sequences = [skip.layer]
    br.write_gap, br.gap_partner = 1, True
    br.same_processors_as = copy_index
    layer.eltwise = "add"
    layer.in_sequences = [copy_index, branch_index]
    layer.same_processors_as = copy_index


# --- allocation and YAML ------------------------------------------------------------------


def _data_words(channels: int, dims: tuple[int, ...]) -> int:
    return math.prod(dims or (1,)) * math.ceil(max(channels, 1) / PROCESSORS)


def allocate(net: Network, device: Device) -> list[int]:
    """Processors, kernel columns, streaming and offsets of every layer; words per processor."""
    layers = net.layers
    if len(layers) > device.max_layers:
        raise CompilerError(
            f"{len(layers)} ai8x layers: {device.name} runs at most {device.max_layers}",
            "a smaller model, or MAX78002 (128 layers)",
        )
    # Streaming: every layer up to the last whose data does not fit one instance.
    need = [
        k
        for k, lay in enumerate(layers)
        if _data_words(lay.in_channels, lay.in_dims) + _data_words(lay.out_channels, lay.out_dims)
        > device.instance_words
    ]
    for lay in layers[: need[-1] + 1 if need else 0]:
        lay.streaming = True
    if need and need[-1] + 1 < len(layers):
        layers[need[-1] + 1].after_streaming = True
    tops = [0] * PROCESSORS
    order = [k for k, lay in enumerate(layers) if lay.processor_count >= PROCESSORS]
    order += [k for k, lay in enumerate(layers) if lay.processor_count < PROCESSORS]
    start_of: dict[int, int] = {}
    for k in order:
        lay = layers[k]
        count, words = min(lay.processor_count, PROCESSORS), lay.kernel_words()
        fixed = lay.same_processors_as
        if fixed is not None and fixed in start_of:
            starts = [start_of[fixed]]
        elif k == 0 and lay.streaming:
            starts = [0]  # the FIFOs feed processors 0-3, 16-19, 32-35, 48-51
        else:
            starts = list(range(0, PROCESSORS - count + 1, COLUMN_ALIGN))
        best = min(
            (math.ceil(max(tops[s : s + count]) / COLUMN_ALIGN) * COLUMN_ALIGN, s) for s in starts
        )
        column, start = best
        start_of[k] = start
        for partner in (j for j, other in enumerate(layers) if other.same_processors_as == k):
            start_of.setdefault(partner, start)
        lay.processors = ((1 << count) - 1) << start
        lay.column = column
        if words:
            for p in range(start, start + count):
                tops[p] = column + words
    _offsets(net, device)
    return tops


def _offsets(net: Network, device: Device) -> None:
    """Ping-pong between offset 0 and half an instance (README "Data Memory Ping-Pong")."""
    half = device.instance_bytes // 2
    layers = net.layers
    current = 0  # where the input of the next layer is
    for k, lay in enumerate(layers):
        nxt = half if current == 0 else 0
        if lay.in_sequences and len(lay.in_sequences) == 1:
            lay.in_offset = layers[lay.in_sequences[0]].out_offset
            if lay.gap_partner:  # written beside the passthrough copy
                copy = layers[k - 1]
                lay.out_offset = copy.out_offset + 4
                current = copy.out_offset
                continue
            nxt = half if lay.in_offset == 0 else 0
        elif lay.in_sequences:  # the eltwise consumer reads the interleaved operands
            lay.in_offset = layers[lay.in_sequences[0]].out_offset
            nxt = half if lay.in_offset == 0 else 0
        lay.out_offset = nxt
        if lay.op == "passthrough":  # input and output processors must be the same (README)
            lay.output_processors = lay.processors
        current = nxt


def to_yaml(net: Network, device: Device, *, softmax: bool = False) -> str:
    """The network description ai8xize reads (allocates first)."""
    allocate(net, device)
    last = net.layers[-1]
    if softmax and not last.activate and last.op != "passthrough":
        last.output_width = 32  # Q17.14 unclipped data for the host's softmax (README)
    lines = [
        "---",
        f"# Written by npubench for {device.name}: {len(net.layers)} layers.",
        f"arch: {net.arch}",
        "dataset: npubench",
        "",
        "layers:",
    ]
    for k, lay in enumerate(net.layers):
        lines.append(f"  # Layer {k}: {lay.name or '(inserted)'} {lay.describe()}")
        items: list[tuple[str, Any]] = []
        if lay.in_sequences is not None:
            seq = lay.in_sequences
            items.append(
                ("in_sequences", f"[{', '.join(map(str, seq))}]" if len(seq) > 1 else seq[0])
            )
        if lay.in_offset is not None:
            items.append(("in_offset", f"0x{lay.in_offset:04x}"))
        items.append(("out_offset", f"0x{lay.out_offset:04x}"))
        items.append(("processors", f"0x{lay.processors:016x}"))
        if lay.output_processors is not None:
            items.append(("output_processors", f"0x{lay.output_processors:016x}"))
        if lay.pool is not None:
            items.append((f"{lay.pool[0]}_pool", lay.pool[1]))
            items.append(("pool_stride", lay.pool[2]))
        if lay.eltwise:
            items.append(("eltwise", lay.eltwise))
            if lay.pool is not None:
                items.append(("pool_first", "false"))
        items.append(("operation", {"mlp": "MLP"}.get(lay.op, lay.op)))
        if lay.op == "conv2d":
            items.append(("kernel_size", f"{lay.kernel[0]}x{lay.kernel[1]}"))
        elif lay.op == "conv1d":
            items.append(("kernel_size", lay.kernel[0]))
        if lay.op in ("conv2d", "conv1d"):
            items.append(("pad", lay.pad))
        if lay.flatten:
            items.append(("flatten", "true"))
        if lay.op != "passthrough":
            items.append(("activate", "ReLU" if lay.activate else "None"))
        if lay.write_gap:
            items.append(("write_gap", lay.write_gap))
        if lay.streaming:
            items.append(("streaming", "true"))
        if lay.output_width != 8:
            items.append(("output_width", lay.output_width))
        if k == 0:
            items.append(("data_format", "HWC"))
        for i, (key, value) in enumerate(items):
            lines.append(f"  {'- ' if i == 0 else '  '}{key}: {value}")
    return "\n".join(lines) + "\n"


# --- reading a YAML file (the subset network descriptions use) ---------------------------------


def read_yaml_summary(text: str) -> tuple[str | None, list[dict[str, str]]]:
    """(arch, layers as key -> raw value) of a network description, without a YAML library.

    Enough for what npubench checks (the ``arch`` and each layer's ``operation``/``processors``);
    ai8xize itself reads the file for everything else.
    """
    arch: str | None = None
    layers: list[dict[str, str]] = []
    in_layers = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip() or line.strip() == "---":
            continue
        if not line.startswith((" ", "-")):
            key, _, value = line.partition(":")
            in_layers = key.strip() == "layers"
            if key.strip() == "arch":
                arch = value.strip()
            continue
        if not in_layers:
            continue
        stripped = line.strip()
        if stripped.startswith("- "):
            layers.append({})
            stripped = stripped[2:].strip()
        if layers and ":" in stripped:
            key, _, value = stripped.partition(":")
            layers[-1][key.strip().lower()] = value.strip()
    return arch, layers


def yaml_operation(layer: dict[str, str]) -> str:
    """A YAML layer's operation, lower case, with the README's synonyms folded."""
    for key in ("operation", "op", "operator", "convolution"):
        if key in layer:
            op = layer[key].lower()
            return {"fc": "mlp", "linear": "mlp", "none": "passthrough"}.get(op, op)
    return "conv2d"  # ai8xize's default, with a warning


def popcount(mask: str | int) -> int:
    value = int(str(mask).replace(".", ""), 16) if isinstance(mask, str) else mask
    return bin(value).count("1")

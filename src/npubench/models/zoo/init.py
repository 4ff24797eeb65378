"""Seeded random initialisation of zoo models whose int8 fidelity figures mean something.

No data set can be downloaded, so zoo models get random weights. Deep random ReLU nets are a
poor stand-in for trained ones when judging int8 quantization: with plain Kaiming init the
output forgets the input with depth (every sample gives almost the same output), and with
per-channel BatchNorm-style normalisation the net turns chaotic and amplifies quantization
noise layer after layer (a 20-layer YOLO then shows ~3 dB SQNR). Measured with a fake-quant
simulation, both regimes give 2-10 dB of input-dependent SQNR on the deep zoo models.

So the zoo uses a "looks-linear" (mirrored) Kaiming init (Balduzzi et al., "The Shattered
Gradients Problem", ICML 2017): a layer followed by ReLU gets output channels in pairs
``(+v, -v)`` and the next layer reads each pair as ``u * relu(h) - u * relu(-h) = u * h``, so
at initialisation the net behaves like a random linear map (max pools and residual adds bend it
a little). Input differences survive the depth, quantization noise only adds up, and int8
SQNRs land at 15-35 dB like trained models. Biases are small and mirrored the same way. A
final data-dependent pass over a seeded N(0, 1) probe batch scales each layer so its output
has unit RMS, so activations neither vanish nor explode whatever pooling and adds do, and the
output layer so that each output channel has zero mean and unit std on that probe (so a random
classifier does not pick the same class for every input).

This needs even channel counts between layers, which every zoo model has; a layer whose
output or input count is odd just gets plain Kaiming weights on that side. Depthwise
convolutions give both channels of a pair the same kernel, as they cannot mix them.

Everything draws from one ``torch.Generator`` seeded with ``seed``: the same seed gives
bit-identical weights, and the caller's global RNG is not touched.

May import: torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
PROBE_BATCH = 16
"""Probe samples for the per-layer output RMS."""
BIAS_STD = 0.1
"""Std of the random biases, relative to the unit-RMS pre-activations."""


def _mirror(base: torch.Tensor, dim: int, negate: bool) -> torch.Tensor:
    """Interleave ``base`` with ``-base`` (or a copy) along ``dim``: a0, -a0, a1, -a1, ..."""
    twin = -base if negate else base
    return torch.stack([base, twin], dim=dim + 1).flatten(dim, dim + 1)


def _init_layer(layer: nn.Module, pair_in: bool, pair_out: bool, generator: torch.Generator):
    weight: torch.Tensor = layer.weight  # type: ignore[assignment]
    out_ch, in_ch = weight.shape[0], weight.shape[1]
    depthwise = getattr(layer, "groups", 1) > 1
    pair_in = pair_in and not depthwise and in_ch % 2 == 0
    pair_out = pair_out and out_ch % 2 == 0
    shape = (out_ch // 2 if pair_out else out_ch, in_ch // 2 if pair_in else in_ch)
    base = torch.randn((*shape, *weight.shape[2:]), generator=generator)
    if pair_in:
        base = _mirror(base, dim=1, negate=True)
    if pair_out:
        base = _mirror(base, dim=0, negate=not depthwise)
    # Kaiming fan-in gain 2 for ReLU inputs; a mirrored input is linear in effect, gain 1.
    gain = 1.0 if pair_in else 2.0
    weight.copy_(base * math.sqrt(gain / weight[0].numel()))
    bias: torch.Tensor | None = layer.bias  # type: ignore[assignment]
    if bias is not None:
        values = torch.randn(shape[0], generator=generator) * BIAS_STD
        bias.copy_(_mirror(values, dim=0, negate=not depthwise) if pair_out else values)


def _standardise_outputs(layer: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """Give each output channel zero mean (if the layer has a bias) and unit std on the probe.

    Without this a random classifier's class offsets outweigh the input-dependent part and
    every input picks the same class, which would make top-1 agreement trivially 100%.
    """
    channel_axis = out.dim() - 1 if isinstance(layer, nn.Linear) else 1
    axes = [d for d in range(out.dim()) if d != channel_axis]
    view = [-1 if d == channel_axis else 1 for d in range(out.dim())]
    weight: torch.Tensor = layer.weight  # type: ignore[assignment]
    bias: torch.Tensor | None = layer.bias  # type: ignore[assignment]
    mean = out.mean(dim=axes) if bias is not None else torch.zeros(out.shape[channel_axis])
    std = (out - mean.view(view)).pow(2).mean(dim=axes).sqrt().clamp_min(1e-6)
    weight.div_(std.view([-1] + [1] * (weight.dim() - 1)))
    if bias is not None:
        bias.copy_((bias - mean) / std)
    return (out - mean.view(view)) / std.view(view)


@torch.no_grad()
def seeded_init(model: nn.Module, input_shape: Sequence[int], seed: int) -> nn.Module:
    """Initialise ``model`` in place from ``seed`` and return it in eval mode.

    Layers are taken in ``model.modules()`` order, which for the zoo is the data-flow order:
    the first weighted layer reads the raw input (not mirrored) and the last one writes the
    output (not mirrored); all others are mirrored on both sides.
    """
    generator = torch.Generator().manual_seed(int(seed))
    layers = [m for m in model.modules() if isinstance(m, _WEIGHTED)]
    for index, layer in enumerate(layers):
        _init_layer(layer, index > 0, index < len(layers) - 1, generator)

    model.eval()
    probe = torch.randn((PROBE_BATCH, *tuple(input_shape)[1:]), generator=generator)

    output_layer = layers[-1]

    def normalise(layer: nn.Module, _inputs: tuple[torch.Tensor, ...], out: torch.Tensor):
        if layer is output_layer:
            return _standardise_outputs(layer, out)
        # One scalar per layer keeps the mirrored pairs exact (a per-channel scale would not).
        rms = out.pow(2).mean().sqrt().clamp_min(1e-6)
        layer.weight.div_(rms)
        if layer.bias is not None:
            layer.bias.div_(rms)
        # Returning the scaled output lets later layers see it in this same forward pass.
        return out / rms

    handles = [layer.register_forward_hook(normalise) for layer in layers]
    try:
        model(probe)
    finally:
        for handle in handles:
            handle.remove()
    return model

"""npubench's own writer of ai8x "quantized checkpoint" files from float weights.

May import numpy, ``npubench.toolchains.ai8x_synthesis.network`` and (inside functions) torch.
The format is the one the ai8x-synthesis README describes for the files ``quantize.py`` writes
and ``ai8xize.py --checkpoint-file`` reads ("Quantization", "Example and Evaluation": the
``state_dict`` keys ``<layer>.op.weight``, ``<layer>.op.bias``, ``<layer>.weight_bits``,
``<layer>.bias_bits``, ``<layer>.output_shift``; "`output_shift` (Optional)"; "Number Format"):

- ``{"arch": <the YAML's arch>, "epoch": 0, "state_dict": {...}}``, saved with ``torch.save``
  (plain tensors only, so ``torch.load(weights_only=True)`` reads it);
- weights are integers in the ``weight_bits`` range ([-128, 127] at 8 bits) held in float
  tensors, shaped as PyTorch's Conv2d (Co, Ci, kh, kw), Conv1d (Co, Ci, k) and Linear (Co, Ci);
- each layer is scaled by a power of two (symmetric, per layer): the real weight is
  ``w_int / 128 * 2**output_shift``, the shift chosen so that the largest weight uses the range
  (``output_shift`` in [-15, 15], the README's range for 8-bit weights);
- biases are 8-bit integers at the same scale, stored multiplied by ``2**(weight_bits - 1)`` (as
  in ADI's own quantized checkpoints, whose bias tensors hold multiples of 128).

This is post-training quantization without calibration of the activations; ai8xize's simulated
output for it is not a fidelity figure.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npubench.toolchains.ai8x_synthesis.network import Network

WEIGHT_BITS = 8
SHIFT_RANGE = (-15, 15)


@dataclass(frozen=True)
class QuantizedLayer:
    key: str  # the state_dict prefix, e.g. "l3"
    weight: np.ndarray  # integer values
    bias: np.ndarray | None  # integer values (not yet multiplied by 2**(bits-1))
    output_shift: int


def output_shift(weight: np.ndarray, bits: int = WEIGHT_BITS) -> int:
    """The shift s with max|w| * 2**(bits-1-s) <= 2**(bits-1) - 1, as small as the range allows."""
    peak = float(np.max(np.abs(weight))) if weight.size else 0.0
    if peak == 0.0:
        return 0
    top = 2 ** (bits - 1)
    s = math.ceil(math.log2(peak * top / (top - 1)))
    return max(SHIFT_RANGE[0], min(SHIFT_RANGE[1], s))


def quantize_layer(
    key: str, weight: np.ndarray, bias: np.ndarray | None, bits: int = WEIGHT_BITS
) -> QuantizedLayer:
    """Symmetric per-layer power-of-two quantization of one layer's float weights."""
    s = output_shift(weight, bits)
    scale = 2.0 ** (bits - 1 - s)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    w = np.clip(np.round(weight * scale), lo, hi)
    b = None if bias is None else np.clip(np.round(bias * scale), -128, 127)
    return QuantizedLayer(key=key, weight=w, bias=b, output_shift=s)


def quantize_network(net: Network, bits: int = WEIGHT_BITS) -> list[QuantizedLayer]:
    """Every weight layer of ``net`` in order, keyed l0, l1, ... (ai8xize maps them in order)."""
    out = []
    for k, layer in enumerate(net.weight_layers()):
        assert layer.weight is not None
        out.append(quantize_layer(f"l{k}", layer.weight, layer.bias, bits))
    return out


def write_checkpoint(net: Network, path: Path, bits: int = WEIGHT_BITS) -> list[QuantizedLayer]:
    """Write ``net``'s weights as an ai8x quantized checkpoint; returns what was written."""
    import torch

    layers = quantize_network(net, bits)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for q in layers:
        state[f"{q.key}.output_shift"] = torch.tensor([float(q.output_shift)])
        state[f"{q.key}.weight_bits"] = torch.tensor([bits], dtype=torch.int64)
        state[f"{q.key}.bias_bits"] = torch.tensor([8], dtype=torch.int64)
        state[f"{q.key}.op.weight"] = torch.from_numpy(q.weight.astype(np.float32))
        if q.bias is not None:
            scaled = (q.bias * 2 ** (bits - 1)).astype(np.float32)
            state[f"{q.key}.op.bias"] = torch.from_numpy(scaled)
    torch.save({"arch": net.arch, "epoch": 0, "state_dict": state}, path)
    return layers

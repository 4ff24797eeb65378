"""Parameter and MAC counts of a PyTorch model, by forward hooks.

The MAC convention is Vela's ``nn_macs``: a convolution costs
``out_h * out_w * out_c * k_h * k_w * in_c / groups`` multiply-accumulates, a linear layer
``in * out`` (per output row), and activations, element-wise adds and reshapes cost nothing.
Vela also charges pooling layers ``kernel_h * kernel_w`` per output element; that part is off
by default and counted only with ``include_pooling=True`` (it is under 1% of every zoo model).

May import: torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)


def _pool_kernel_elements(module: nn.Module) -> int:
    kernel = module.kernel_size  # type: ignore[attr-defined]
    return math.prod(kernel) if isinstance(kernel, tuple) else int(kernel) ** _pool_dims(module)


def _pool_dims(module: nn.Module) -> int:
    return 1 if isinstance(module, nn.MaxPool1d | nn.AvgPool1d) else 2


def _layer_macs(module: nn.Module, output: torch.Tensor, include_pooling: bool) -> int:
    """MACs of one layer for a batch-1 forward pass that produced ``output``."""
    per_sample = output[0].numel()
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        kernel = math.prod(module.kernel_size)
        return per_sample * kernel * module.in_channels // module.groups
    if isinstance(module, nn.Linear):
        # Rows beyond the batch dimension (e.g. a (1, T, F) input) each cost in*out.
        return (per_sample // module.out_features) * module.in_features * module.out_features
    if include_pooling and isinstance(module, _POOLS):
        return per_sample * _pool_kernel_elements(module)
    return 0


def count_params_macs(
    module: nn.Module, input_shape: Sequence[int], *, include_pooling: bool = False
) -> tuple[int, int]:
    """Count ``(parameters, MACs)`` of ``module`` for one input of ``input_shape``.

    ``input_shape`` includes the batch dimension, which must be 1 (MACs are per inference).
    Parameters are all weights and biases. The module is run once on zeros under
    ``torch.no_grad()``; its training/eval mode is left unchanged.
    """
    shape = tuple(int(d) for d in input_shape)
    if not shape or shape[0] != 1:
        raise ValueError(f"input_shape must start with batch size 1, got {shape}")
    params = sum(p.numel() for p in module.parameters())
    macs = 0

    def hook(layer: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        macs += _layer_macs(layer, output, include_pooling)

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.no_grad():
            module(torch.zeros(shape))
    finally:
        for handle in handles:
            handle.remove()
    return params, macs

"""Small layer builders shared by the zoo model definitions.

Only plain torch layers that export to ONNX opset 17 and convert to int8 TFLite with onnx2tf:
convolutions always carry a bias (BatchNorm is folded into it, as ai8x and the TFLite converter
do), activations are plain ``nn.ReLU`` (ai8x's clamps are a quantization detail of its own
hardware), pooling has static kernel sizes.

May import: torch.
"""

from __future__ import annotations

from torch import nn


def conv2d_relu(
    in_ch: int,
    out_ch: int,
    kernel: int | tuple[int, int],
    *,
    stride: int = 1,
    padding: int | tuple[int, int] | None = None,
    groups: int = 1,
    pool_first: bool = False,
    relu: bool = True,
) -> nn.Sequential:
    """[MaxPool 2x2 ->] Conv2d (bias) [-> ReLU]; ``padding`` defaults to "same" for stride 1.

    ``pool_first`` mirrors ai8x's ``FusedMaxPoolConv2d*`` layers, which pool before the conv.
    """
    if padding is None:
        padding = kernel // 2 if isinstance(kernel, int) else (kernel[0] // 2, kernel[1] // 2)
    layers: list[nn.Module] = []
    if pool_first:
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    layers.append(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups, bias=True)
    )
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def linear_relu(in_features: int, out_features: int, *, bias: bool = True) -> nn.Sequential:
    """Linear -> ReLU (ai8x ``FusedLinearReLU``, a Keras Dense + BN + ReLU with BN folded)."""
    return nn.Sequential(nn.Linear(in_features, out_features, bias=bias), nn.ReLU())

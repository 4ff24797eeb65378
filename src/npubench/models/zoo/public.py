"""Public architectures the published measurements name, as parametric PyTorch models.

MobileNetV1 (Howard et al. 2017) and MobileNetV2 (Sandler et al. 2018) follow the Keras
applications (``keras.applications.MobileNet`` / ``MobileNetV2``: width multiplier ``alpha``,
input resolution, classes), and Tiny YOLOv2 follows darknet's ``yolov2-tiny-voc.cfg``. As in
the rest of the zoo, BatchNorm is folded into conv biases (so parameter counts are the
folded ones: Keras' totals minus 3 per BatchNorm channel, torchvision's minus 1), strided
convs pad symmetrically where Keras pads bottom/right only (same shapes and MACs, see
``mlperf_tiny``), and classifiers return logits (softmax is the ``softmax`` post-process).
The global average pool is a fixed ``AvgPool2d`` over the final feature map, which converts
to one AVERAGE_POOL_2D as in the TFLite-hosted MobileNets.

Tiny YOLOv2's sixth max pool is darknet's 2x2 stride-1 pool padded on the bottom/right only;
PyTorch cannot pad one side of a pool, and an explicit one-sided pad exports as a dynamic Pad
subgraph, so a 3x3 stride-1 pool padded by 1 stands in for it: same shapes, one op as in
darknet's own TFLite form, 9 instead of 4 comparisons per output (0.01% of the model's MACs
when pooling is counted).

May import: torch.
"""

from __future__ import annotations

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Keras' ``_make_divisible``: round to a multiple of ``divisor``, never down by > 10%."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def final_size(resolution: int, strided_layers: int = 5) -> int:
    """Spatial size after ``strided_layers`` stride-2 layers that pad ("same" rounding up)."""
    size = resolution
    for _ in range(strided_layers):
        size = (size + 1) // 2
    return size


def _conv(
    in_ch: int,
    out_ch: int,
    kernel: int,
    *,
    stride: int = 1,
    groups: int = 1,
    activation: nn.Module | None = None,
) -> nn.Sequential:
    """Conv2d (bias: folded BatchNorm), "same" padding, [-> activation]."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, groups=groups)
    ]
    if activation is not None:
        layers.append(activation)
    return nn.Sequential(*layers)


class MobileNetV1(nn.Module):
    """MobileNetV1: conv 3x3/2, 13 depthwise-separable blocks, global pool, FC; ReLU6.

    Channels are ``int(c * alpha)`` as in Keras (not rounded to multiples of 8).
    """

    # (output channels at alpha = 1, stride) of the 13 depthwise-separable blocks.
    BLOCKS = (
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (1024, 2),
        (1024, 1),
    )

    def __init__(self, alpha: float = 1.0, resolution: int = 224, num_classes: int = 1000) -> None:
        super().__init__()
        channels = int(32 * alpha)
        layers: list[nn.Module] = [_conv(3, channels, 3, stride=2, activation=nn.ReLU6())]
        for width, stride in self.BLOCKS:
            out_ch = int(width * alpha)
            layers.append(
                _conv(channels, channels, 3, stride=stride, groups=channels, activation=nn.ReLU6())
            )
            layers.append(_conv(channels, out_ch, 1, activation=nn.ReLU6()))
            channels = out_ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(kernel_size=final_size(resolution))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.features(x))))


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: [expand 1x1 + ReLU6], depthwise 3x3 + ReLU6, linear project 1x1,
    plus the input when the stride is 1 and the channel count is kept."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv(in_ch, hidden, 1, activation=nn.ReLU6()))
        layers.append(_conv(hidden, hidden, 3, stride=stride, groups=hidden, activation=nn.ReLU6()))
        layers.append(_conv(hidden, out_ch, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018) as ``keras.applications.MobileNetV2`` builds it.

    First conv ``make_divisible(32 * alpha)``; blocks (t, c, n, s) = (1, 16, 1, 1), (6, 24, 2,
    2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1) with
    ``make_divisible(int(c * alpha))`` output channels and ``t * input`` expanded channels;
    last conv 1280, scaled (``make_divisible(1280 * alpha)``) only for alpha > 1.
    """

    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, alpha: float = 1.0, resolution: int = 224, num_classes: int = 1000) -> None:
        super().__init__()
        channels = make_divisible(32 * alpha)
        layers: list[nn.Module] = [_conv(3, channels, 3, stride=2, activation=nn.ReLU6())]
        for expansion, width, repeats, stride in self.SETTINGS:
            out_ch = make_divisible(int(width * alpha))
            for i in range(repeats):
                layers.append(
                    _InvertedResidual(channels, out_ch, stride if i == 0 else 1, expansion)
                )
                channels = out_ch
        last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
        layers.append(_conv(channels, last, 1, activation=nn.ReLU6()))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(kernel_size=final_size(resolution))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.features(x))))


class TinyYoloV2(nn.Module):
    """Tiny YOLOv2 (darknet ``yolov2-tiny-voc.cfg``): 9 convs 16..1024, 6 max pools, leaky ReLU.

    Output (1, anchors * (5 + classes), res/32, res/32): per cell and anchor x, y, w, h,
    objectness and the class scores; decoding is the ``yolo`` post-process.
    """

    LEAKY_SLOPE = 0.1  # darknet's "leaky"

    def __init__(self, num_classes: int = 20, anchors: int = 5) -> None:
        # Fully convolutional: any resolution that is a multiple of 32 gives a res/32 grid.
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for i, out_ch in enumerate((16, 32, 64, 128, 256, 512)):
            layers.append(_conv(in_ch, out_ch, 3, activation=nn.LeakyReLU(self.LEAKY_SLOPE)))
            # Five 2x2/2 pools, then darknet's 2x2/1 "same" pool (see the module docstring).
            layers.append(nn.MaxPool2d(2, 2) if i < 5 else nn.MaxPool2d(3, 1, padding=1))
            in_ch = out_ch
        for out_ch in (1024, 1024):
            layers.append(_conv(in_ch, out_ch, 3, activation=nn.LeakyReLU(self.LEAKY_SLOPE)))
            in_ch = out_ch
        layers.append(_conv(in_ch, anchors * (5 + num_classes), 1))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

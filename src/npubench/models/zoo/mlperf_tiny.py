"""The four MLPerf Tiny (v1.x) reference models, in PyTorch, BatchNorm folded into the convs.

Architectures follow ``mlcommons/tiny`` ``benchmark/training/*`` (Keras reference models).
Keras "same" padding with stride 2 pads only the bottom/right when the total padding is odd;
PyTorch convolutions pad symmetrically, so strided convs here get the symmetric padding that
gives the same output shape and MAC count (the window grid shifts by one row/column, which
random weights do not care about). An explicit ``nn.ZeroPad2d`` would be exact but exports as a
dynamic Pad subgraph that onnx2tf mis-converts, so it is avoided.
Softmax outputs of the Keras models are left to the ``softmax`` post-process, so every
classifier here returns logits.

May import: torch, npubench.models.zoo.layers.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from npubench.models.zoo.layers import conv2d_relu, linear_relu


def _depthwise_separable(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 (+BN+ReLU) then pointwise 1x1 (+BN+ReLU), as in MobileNetV1 and DS-CNN."""
    return nn.Sequential(
        conv2d_relu(in_ch, in_ch, 3, stride=stride, padding=1, groups=in_ch),
        conv2d_relu(in_ch, out_ch, 1),
    )


class KwsDsCnn(nn.Module):
    """DS-CNN keyword spotter: input (1, 1, 49 frames, 10 MFCCs), 12 classes.

    Conv 64 10x4 stride 2 "same" -> 25x5, four depthwise-separable blocks of 64, global average
    pool, Dense 12. The reference pools with a (24, 5) window (``final_pool_size = (49 // 2,
    10 // 2)``) that skips the last row; onnx2tf turns that into a pool plus two STRIDED_SLICE
    ops, so the full 25x5 window is used here (one AVERAGE_POOL_2D, 320 pooling MACs more).
    """

    def __init__(self, num_classes: int = 12, filters: int = 64) -> None:
        super().__init__()
        # Keras "same" for 49x10, kernel 10x4, stride 2 pads rows 4 top / 5 bottom and columns
        # 1 / 1; symmetric (5, 1) gives the same 25x5 output.
        self.stem = conv2d_relu(1, filters, (10, 4), stride=2, padding=(5, 1))
        self.blocks = nn.Sequential(*[_depthwise_separable(filters, filters) for _ in range(4)])
        self.pool = nn.AvgPool2d(kernel_size=(25, 5))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.blocks(self.stem(x)))))


class VwwMobileNetV1(nn.Module):
    """MobileNetV1 alpha 0.25 for Visual Wake Words: input (1, 3, 96, 96), 2 classes."""

    # (output channels, stride) of the 13 depthwise-separable blocks at alpha = 1, divided by 4.
    BLOCKS = (
        (16, 1),
        (32, 2),
        (32, 1),
        (64, 2),
        (64, 1),
        (128, 2),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (256, 2),
        (256, 1),
    )

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv2d_relu(3, 8, 3, stride=2, padding=1)]  # 48x48
        channels = 8
        for out_ch, stride in self.BLOCKS:
            layers.append(_depthwise_separable(channels, out_ch, stride))
            channels = out_ch
        self.features = nn.Sequential(*layers)  # 256 x 3 x 3
        self.pool = nn.AvgPool2d(kernel_size=3)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.features(x))))


class _ResidualStack(nn.Module):
    """ResNet v1 basic block: conv-BN-ReLU, conv-BN, add the (projected) input, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv2d_relu(in_ch, out_ch, 3, stride=stride, padding=1)
        self.conv2 = conv2d_relu(out_ch, out_ch, 3, relu=False)
        self.shortcut: nn.Module = (
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=True)
            if stride != 1 or in_ch != out_ch
            else nn.Identity()
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class IcResNet8(nn.Module):
    """ResNet-8 for CIFAR-10: input (1, 3, 32, 32), stacks of 16/32/64 filters, 10 classes."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = conv2d_relu(3, 16, 3)
        self.stacks = nn.Sequential(
            _ResidualStack(16, 16, 1),  # 32x32
            _ResidualStack(16, 32, 2),  # 16x16
            _ResidualStack(32, 64, 2),  # 8x8
        )
        self.pool = nn.AvgPool2d(kernel_size=8)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.stacks(self.stem(x)))))


class AdFcAutoEncoder(nn.Module):
    """Fully connected autoencoder for ToyADMOS: 640 -> 128x4 -> 8 -> 128x4 -> 640."""

    def __init__(self, features: int = 640, hidden: int = 128, bottleneck: int = 8) -> None:
        super().__init__()
        widths = [features, hidden, hidden, hidden, hidden, bottleneck]
        widths += [hidden, hidden, hidden, hidden]
        self.body = nn.Sequential(*[linear_relu(a, b) for a, b in pairwise(widths)])
        self.out = nn.Linear(hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))

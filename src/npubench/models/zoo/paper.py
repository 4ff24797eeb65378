"""The five models of "Benchmarking Ultra-Low-Power μNPUs" (Millar et al., MobiCom 2025).

All five come from Analog Devices' ai8x-training (MAX78000) model zoo, in the variants the
paper's repository (github.com/j0shmillar/uNPU-Bench, ``src/model/*``) trained and exported.
Layer structure, channel counts, kernel sizes and pooling follow those files; ai8x's fused
BatchNorm is folded into the conv biases and its quantization clamps are plain ReLUs.

May import: torch, npubench.models.zoo.layers.
"""

from __future__ import annotations

import torch
from torch import nn

from npubench.models.zoo.layers import conv2d_relu, linear_relu


class YoloV1Tiny96(nn.Module):
    """ai8x "YOLO v1 Model_Z (96 input)": 20 convs of 16/32 channels, 12x12 grid, B=2, 2 classes.

    Output (1, B*5 + classes, 12, 12): per grid cell 2 boxes (x, y, w, h, conf) then 2 class
    scores; decoding is the ``yolo`` post-process, done outside the network.
    """

    def __init__(self, boxes: int = 2, classes: int = 2) -> None:
        super().__init__()
        # (in, out, kernel, pool 2x2 first): 96 -> 48 -> 24 -> 12 spatially.
        plan = [
            (3, 16, 3, False),  # 96x96
            (16, 16, 3, True),  # 48x48
            (16, 16, 1, True),  # 24x24
            (16, 32, 3, False),
            (32, 16, 1, False),
            (16, 32, 3, False),
            (32, 16, 1, False),
            (16, 32, 3, False),
            (32, 16, 1, True),  # 12x12
            (16, 32, 3, False),
            (32, 16, 1, False),
            (16, 32, 3, False),
            (32, 16, 1, False),
            (16, 32, 3, False),
            (32, 16, 1, False),
            (16, 32, 3, False),
            (32, 32, 1, False),
            (32, 16, 1, False),
            (16, 16, 1, False),
        ]
        layers = [conv2d_relu(i, o, k, pool_first=p) for i, o, k, p in plan]
        layers.append(conv2d_relu(16, boxes * 5 + classes, 1, relu=False))  # the 20th conv
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class SimpleNetV1(nn.Module):
    """ai8x SimpleNet v1 (``ai85simplenet``), optionally with ResSimpleNet's 3 residual adds."""

    def __init__(self, num_classes: int = 100, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = conv2d_relu(3, 16, 3)
        self.conv2 = conv2d_relu(16, 20, 3)
        self.conv3 = conv2d_relu(20, 20, 3)
        self.conv4 = conv2d_relu(20, 20, 3)
        self.conv5 = conv2d_relu(20, 20, 3, pool_first=True)  # 16x16
        self.conv6 = conv2d_relu(20, 20, 3)
        self.conv7 = conv2d_relu(20, 44, 3)
        self.conv8 = conv2d_relu(44, 48, 3, pool_first=True)  # 8x8
        self.conv9 = conv2d_relu(48, 48, 3)
        self.conv10 = conv2d_relu(48, 96, 3, pool_first=True)  # 4x4
        self.conv11 = conv2d_relu(96, 512, 1, pool_first=True)  # 2x2
        self.conv12 = conv2d_relu(512, 128, 1)
        self.conv13 = conv2d_relu(128, 128, 3, pool_first=True)  # 1x1
        self.conv14 = conv2d_relu(128, num_classes, 1, relu=False)
        self.flatten = nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        skip = self.conv2(x)
        x = self.conv3(skip)
        if self.residual:
            x = x + skip
        x = self.conv4(x)
        skip = self.conv5(x)
        x = self.conv6(skip)
        if self.residual:
            x = x + skip
        x = self.conv7(x)
        skip = self.conv8(x)
        x = self.conv9(skip)
        if self.residual:
            x = x + skip
        x = self.conv10(x)
        x = self.conv11(x)
        x = self.conv12(x)
        x = self.conv13(x)
        return self.flatten(self.conv14(x))


class NasCifarNet(nn.Module):
    """ai8x NAS-found CIFAR-10 net as the paper used it: last conv widened to 512, global pool."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv2d_relu(3, 64, 3),
            conv2d_relu(64, 32, 1),
            conv2d_relu(32, 64, 3),
            conv2d_relu(64, 32, 3, pool_first=True),  # 16x16
            conv2d_relu(32, 64, 1),
            conv2d_relu(64, 128, 3, pool_first=True),  # 8x8
            conv2d_relu(128, 128, 1),
            conv2d_relu(128, 64, 3, pool_first=True),  # 4x4
            conv2d_relu(64, 128, 3),
            conv2d_relu(128, 512, 1, pool_first=True),  # 2x2
        )
        # A fixed 2x2 average pool is the global pool here, and converts to one AVERAGE_POOL_2D.
        self.pool = nn.AvgPool2d(kernel_size=2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.features(x))))


class MotorAutoEncoder(nn.Module):
    """ai8x motor-vibration AutoEncoder: input (1, 256 FFT bins, 3 axes), output 768 values.

    Conv1d 256->128 k1 and 128->64 k3 (one output position), then FC 64->32->4->32->96->768;
    the bottleneck and output layers are linear without bias, as in ai8x.
    """

    def __init__(self, fft_bins: int = 256, axes: int = 3, bottleneck: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv1d(fft_bins, 128, kernel_size=1),
            nn.ReLU(),
            nn.Conv1d(128, 64, kernel_size=axes),
            nn.ReLU(),
            nn.Flatten(),
            linear_relu(64, 32),
            nn.Linear(32, bottleneck, bias=False),
        )
        self.decoder = nn.Sequential(
            linear_relu(bottleneck, 32),
            linear_relu(32, 96),
            nn.Linear(96, fft_bins * axes, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

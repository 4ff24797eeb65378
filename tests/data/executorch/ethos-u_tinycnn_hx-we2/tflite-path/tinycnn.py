"""The probe's tiny CNN (conv-relu-maxpool-conv-relu-avgpool-linear) for 3x32x32 inputs."""

import torch
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.p = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.p(torch.relu(self.c1(x)))
        x = torch.relu(self.c2(x))
        return self.fc(torch.flatten(self.gap(x), 1))

"""Small models for the import FileCheck tests of lit_tests/frontend."""

import torch
from torch import nn


class Softmax(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)


class LayerNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(3)

    def forward(self, x):
        return self.norm(x)


class Masked(nn.Module):
    def forward(self, x):
        return torch.where(x > 0.5, x * x, torch.zeros_like(x))


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, kernel_size=2, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x.unsqueeze(1)).flatten(1)

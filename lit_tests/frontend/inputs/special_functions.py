"""Small models for lit_tests/frontend/import-special-functions.mlir."""

import torch
from torch import nn


class Special(nn.Module):
    def forward(self, x):
        return torch.special.erfinv(torch.tanh(x)) + torch.log10(1 + x * x)


class Atan2(nn.Module):
    def forward(self, x):
        return torch.atan2(x[:, :1], x[:, 1:])


class Pow(nn.Module):
    def forward(self, x):
        return (1 + x * x) ** x

"""Small models for the import FileCheck tests of sorting and transposed
convolutions (lit_tests/frontend/import-sorting.mlir)."""

import torch
from torch import nn


class Sort(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=-1).values


class ConvTranspose(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.ConvTranspose1d(1, 1, kernel_size=2, stride=2, bias=False)

    def forward(self, x):
        return self.conv(x.unsqueeze(1)).flatten(1)

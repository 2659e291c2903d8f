"""Writes and reads at constant positions for lit_tests/frontend/import-scatter.mlir."""

import torch
from torch import nn


class IndexAdd(nn.Module):
    """Repeated indices add up: position 1 gets two values."""

    def forward(self, x):
        return x.index_add(1, torch.tensor([1, 1]), x[:, :2] * x[:, 2:])


class ScatterMax(nn.Module):
    """An index of one row expanded to the batch; amax with x's own element."""

    def forward(self, x):
        index = torch.tensor([[0, 0]]).expand(x.shape[0], 2)
        return x.scatter_reduce(1, index, x[:, 1:3] * 2.0, "amax")


class SliceAssign(nn.Module):
    """`y[:, 1:3] = v`: slice_scatter of a copy."""

    def forward(self, x):
        y = x * 1.0
        y[:, 1:3] = x[:, :2] ** 2
        return y

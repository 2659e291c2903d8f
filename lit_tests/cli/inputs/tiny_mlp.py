"""A tiny tanh MLP for the `taylor-mlir compile` lit test (3 -> 4 -> 1)."""

import torch
from torch import nn


class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.hidden = nn.Linear(3, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))

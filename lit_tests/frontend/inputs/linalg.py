"""Small models for lit_tests/frontend/import-linalg.mlir: per-datum matrices
(N, 3, 3) from an input of shape (N, 9)."""

import torch
from torch import nn


class Det(nn.Module):
    def forward(self, x):
        return torch.linalg.det(x.reshape(-1, 3, 3))


class Slogdet(nn.Module):
    def forward(self, x):
        sign, logabsdet = torch.linalg.slogdet(x.reshape(-1, 3, 3))
        return sign * logabsdet


class Inv(nn.Module):
    def forward(self, x):
        return torch.linalg.inv(x.reshape(-1, 3, 3)).reshape(-1, 9)


class Solve(nn.Module):
    def forward(self, x):
        return torch.linalg.solve(x.reshape(-1, 3, 3), x[:, :3])

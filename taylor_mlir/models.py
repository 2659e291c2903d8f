"""
The models tests, demo and benchmarks share.

Every model maps a batch `x` of shape (N, D) to (N, 1) or (N,), takes a `dtype`
and is deterministic: weights are drawn from a private generator seeded with
`seed` (PyTorch's default `nn.Linear` distribution, U(-1/sqrt(fan_in),
1/sqrt(fan_in))), so building a model does not touch the global RNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Sin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "sin": Sin,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        known = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; known: {known}")
    return ACTIVATIONS[name]()


def _initialize(module: nn.Module, generator: torch.Generator) -> None:
    """Redraws every Linear's weights from `generator`, in module order."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = layer.in_features**-0.5
                for p in (layer.weight, layer.bias):
                    uniform = torch.rand(p.shape, generator=generator, dtype=p.dtype)
                    p.copy_((2 * uniform - 1) * bound)


def _seeded(module: nn.Module, dtype: torch.dtype, seed: int) -> nn.Module:
    module = module.to(dtype)
    _initialize(module, torch.Generator().manual_seed(seed))
    return module.eval()


def mlp(
    dims: Sequence[int],
    activation: str = "tanh",
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> nn.Sequential:
    """Linear layers `dims[0] -> dims[1] -> ... -> dims[-1]` with `activation`
    between them (none after the last)."""
    if len(dims) < 2:
        raise ValueError(f"an MLP needs at least two sizes, got {list(dims)}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        if i:
            layers.append(_activation(activation))
        layers.append(nn.Linear(fan_in, fan_out))
    return _seeded(nn.Sequential(*layers), dtype, seed)


def paper_mlp(
    D: int, activation: str = "tanh", dtype: torch.dtype = torch.float64, seed: int = 0
) -> nn.Sequential:
    """The network of the paper's experiments: D -> 768 -> 768 -> 512 -> 512 -> 1."""
    return mlp([D, 768, 768, 512, 512, 1], activation, dtype, seed)


def softplus_mlp(
    dims: Sequence[int], dtype: torch.dtype = torch.float64, seed: int = 0
) -> nn.Sequential:
    """An MLP with softplus activations (which export as exp/log1p/gt/where)."""
    return mlp(dims, "softplus", dtype, seed)


class ResidualMLP(nn.Module):
    """x -> Linear(D, w) -> [h + act(Linear(w, w)(h))] * depth -> Linear(w, 1)."""

    def __init__(
        self,
        D: int,
        width: int,
        depth: int,
        activation: str = "tanh",
        dtype: torch.dtype = torch.float64,
        seed: int = 0,
    ):
        super().__init__()
        self.embed = nn.Linear(D, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.activation = _activation(activation)
        self.head = nn.Linear(width, 1)
        _seeded(self, dtype, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            h = h + self.activation(block(h))
        return self.head(h)


class ProductsFunction(nn.Module):
    """Products of features, exp, log, powers, division and sigmoid, on top of a
    linear mixing of the D >= 2 inputs; output (N,).

    u = sum_i h_i h_{i+1} + log(1 + h^2) . sqrt(1 + x^2) / D
        + sigmoid(h) exp(-x^2/2) x^3 / (2 + x^2) + (1 + x^2)^1.5 / 10
        + (1 + log(1 + h^2))^-1,   h = W x + b
    Every log, root and inverse is of a positive quantity, so u is smooth on R^D.
    """

    def __init__(self, D: int, dtype: torch.dtype = torch.float64, seed: int = 0):
        super().__init__()
        if D < 2:
            raise ValueError(f"ProductsFunction needs D >= 2, got {D}")
        self.mix = nn.Linear(D, D)
        _seeded(self, dtype, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mix(x)
        neighbours = (h[:, :-1] * h[:, 1:]).sum(dim=1)
        log_term = torch.log(1 + h**2)
        root = (1 + x**2) ** 0.5
        damped = torch.sigmoid(h) * torch.exp(-0.5 * x**2) * x**3 / (2 + x**2)
        power = (1 + x**2) ** 1.5 / 10
        inverse = (1 + log_term) ** -1
        return (
            neighbours
            + (log_term * root).mean(dim=1)
            + (damped + power + inverse).sum(dim=1)
        )

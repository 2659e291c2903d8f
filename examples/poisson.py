"""
A physics-informed network for Poisson's equation in D = 5 dimensions:

    -Laplacian u = f  on (0, 1)^5,  u = 0 on the boundary,

with the exact solution u*(x) = prod_i sin(pi x_i), so f = 5 pi^2 u*.

The boundary condition is hard: the network's output is multiplied by
prod_i 4 x_i (1 - x_i), which is zero on the boundary, so the loss is the mean
squared PDE residual alone. taylor-mlir compiles the Laplacian of that ansatz
once (collapsed Taylor mode); every step calls it at fresh collocation points,
and its value is differentiable w.r.t. the network's parameters.

    python examples/poisson.py [--steps 3000] [--compile]

`--compile` wraps the training step in `torch.compile`.
"""

from __future__ import annotations

import math

import pinn_utils
import torch
from torch import nn

import taylor_mlir as tm

DIM = 5


def exact_solution(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(math.pi * x).prod(dim=1, keepdim=True)


def source(x: torch.Tensor) -> torch.Tensor:
    """f = -Laplacian u*."""
    return DIM * math.pi**2 * exact_solution(x)


class HardBoundary(nn.Module):
    """u(x) = net(x) prod_i 4 x_i (1 - x_i): zero on the boundary of the cube."""

    def __init__(self, dim: int = DIM, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, width),
            nn.Tanh(),
            nn.Linear(width, width),
            nn.Tanh(),
            nn.Linear(width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bubble = 4 * x * (1 - x)
        factor = bubble[:, :1]
        for i in range(1, x.shape[1]):  # (the compiler has no rule for torch.prod)
            factor = factor * bubble[:, i : i + 1]
        return factor * self.net(x)


class PoissonLoss(nn.Module):
    """The mean squared residual of -Laplacian u = f at collocation points x."""

    def __init__(self, u: nn.Module, example: torch.Tensor):
        super().__init__()
        self.u = u
        # Compiled once, for x shaped like `example` (any batch size). It reads
        # u's parameters at every call, so training u needs no recompiling.
        self.laplacian = tm.laplacian(u, example)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = -self.laplacian(x) - source(x)
        return residual.pow(2).mean()


def held_out_points(count: int = 4096) -> torch.Tensor:
    """Held-out points for the error (the same in every run)."""
    return torch.rand(count, DIM, generator=torch.Generator().manual_seed(1234))


def main(argv: list[str] | None = None) -> pinn_utils.Result:
    p = pinn_utils.parser("Poisson PINN in D = 5", "poisson", 3000, 1e-2, 512)
    p.add_argument("--compile", action="store_true", help="torch.compile the step")
    args = p.parse_args(argv)
    with pinn_utils.threads(args.threads):
        torch.manual_seed(args.seed)
        u = HardBoundary()
        loss_fn = PoissonLoss(u, torch.rand(args.batch, DIM))
        optimizer, decay = pinn_utils.adam(u.parameters(), args.lr, args.steps)

        def step() -> torch.Tensor:
            optimizer.zero_grad()
            loss = loss_fn(torch.rand(args.batch, DIM))
            loss.backward()
            optimizer.step()
            return loss.detach()

        if args.compile:
            step = torch.compile(step)
        x_test = held_out_points()
        u_test = exact_solution(x_test)

        def error() -> float:
            with torch.no_grad():
                return pinn_utils.relative_l2(u(x_test), u_test)

        losses = pinn_utils.train(
            step, args.steps, lambda: {"error": error()}, decay, args.log_every
        )
        result = pinn_utils.Result(losses, error())
    return pinn_utils.finish(result, args.plot, f"Poisson, D = {DIM}")


if __name__ == "__main__":
    main()

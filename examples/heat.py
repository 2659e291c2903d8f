"""
A physics-informed network for the heat equation in time and two space dimensions:

    u_t = kappa (u_xx + u_yy)      for t in (0, 1), (x, y) in (0, 1)^2,
    u = 0                          on the spatial boundary,
    u(0, x, y) = sin(pi x) sin(pi y),

with the exact solution u* = exp(-2 pi^2 kappa t) sin(pi x) sin(pi y).

The network takes z = (t, x, y). The residual u_t - kappa (u_xx + u_yy) is one
compiled linear operator, `terms={(0,): 1, (1, 1): -kappa, (2, 2): -kappa}`
(a key lists the input entries differentiated). The initial and boundary
conditions are soft: their mean squared errors are added to the loss.

    python examples/heat.py [--steps 5000]
"""

from __future__ import annotations

import math

import pinn_utils
import torch
from torch import nn

import taylor_mlir as tm

KAPPA = 0.1


def exact_solution(z: torch.Tensor) -> torch.Tensor:
    t, x, y = z[:, :1], z[:, 1:2], z[:, 2:3]
    decay = torch.exp(-2 * math.pi**2 * KAPPA * t)
    return decay * torch.sin(math.pi * x) * torch.sin(math.pi * y)


def boundary_points(count: int) -> torch.Tensor:
    """Random (t, x, y) with x or y in {0, 1}."""
    z = torch.rand(count, 3)
    side = torch.randint(0, 4, (count,))
    z[torch.arange(count), 1 + side // 2] = (side % 2).to(z.dtype)
    return z


def initial_points(count: int) -> torch.Tensor:
    z = torch.rand(count, 3)
    z[:, 0] = 0.0
    return z


def main(argv: list[str] | None = None) -> pinn_utils.Result:
    p = pinn_utils.parser("Heat-equation PINN in (t, x, y)", "heat", 5000, 1e-2, 512)
    args = p.parse_args(argv)
    with pinn_utils.threads(args.threads):
        torch.manual_seed(args.seed)
        u = nn.Sequential(
            nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
        )
        heat = tm.linear_operator(
            u,
            torch.rand(args.batch, 3),
            terms={(0,): 1.0, (1, 1): -KAPPA, (2, 2): -KAPPA},
        )
        optimizer, decay = pinn_utils.adam(u.parameters(), args.lr, args.steps)

        def step() -> torch.Tensor:
            optimizer.zero_grad()
            z0 = initial_points(args.batch // 2)
            loss = (
                heat(torch.rand(args.batch, 3)).pow(2).mean()
                + u(boundary_points(args.batch // 2)).pow(2).mean()
                + (u(z0) - exact_solution(z0)).pow(2).mean()
            )
            loss.backward()
            optimizer.step()
            return loss.detach()

        z_test = torch.rand(4096, 3, generator=torch.Generator().manual_seed(1234))
        u_test = exact_solution(z_test)

        def error() -> float:
            with torch.no_grad():
                return pinn_utils.relative_l2(u(z_test), u_test)

        losses = pinn_utils.train(
            step, args.steps, lambda: {"error": error()}, decay, args.log_every
        )
        result = pinn_utils.Result(losses, error())
    return pinn_utils.finish(result, args.plot, "Heat equation, (t, x, y)")


if __name__ == "__main__":
    main()

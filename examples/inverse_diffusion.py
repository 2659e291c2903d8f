"""
An inverse problem: learn an unknown anisotropic diffusivity K = diag(k1, k2)
in

    -div(K grad u) = -tr(K Hessian u) = f   on (0, 1)^2

from measurements of u at 200 points. The true K is diag(1, 1/4) and the exact
solution u*(x, y) = sin(pi x) + sin(2 pi y), so f = pi^2 (sin(pi x) + sin(2 pi y)).
(In u*, u_xx and u_yy are not proportional, so both k1 and k2 are identifiable.)

A network u and log K are trained together on the data misfit plus the PDE
residual. `tm.weighted_laplacian(u, x, coefficients=K)` with a K that requires
grad compiles tr(K H) with K as an argument of every call, `op(x,
coefficients=K)`, so the residual's gradient reaches K as well as u.

    python examples/inverse_diffusion.py [--steps 3000]
"""

from __future__ import annotations

import math

import pinn_utils
import torch
from torch import nn

import taylor_mlir as tm

TRUE_K = (1.0, 0.25)


def exact_solution(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(math.pi * x[:, :1]) + torch.sin(2 * math.pi * x[:, 1:])


def source(x: torch.Tensor) -> torch.Tensor:
    """f = -tr(K H u*) for the true K."""
    k1, k2 = TRUE_K
    return math.pi**2 * (
        k1 * torch.sin(math.pi * x[:, :1]) + 4 * k2 * torch.sin(2 * math.pi * x[:, 1:])
    )


def main(argv: list[str] | None = None) -> pinn_utils.Result:
    p = pinn_utils.parser(
        "Learn a diffusivity K from data of u", "inverse_diffusion", 3000, 1e-2, 256
    )
    p.add_argument("--data", type=int, default=200, help="measurements of u")
    args = p.parse_args(argv)
    with pinn_utils.threads(args.threads):
        torch.manual_seed(args.seed)
        u = nn.Sequential(
            nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)
        )
        log_k = torch.zeros(2, requires_grad=True)  # K starts at the identity

        def diffusivity() -> torch.Tensor:
            return torch.diag(log_k.exp())

        divergence = tm.weighted_laplacian(
            u, torch.rand(args.batch, 2), coefficients=diffusivity()
        )
        x_data = torch.rand(args.data, 2)
        u_data = exact_solution(x_data)
        optimizer, decay = pinn_utils.adam(
            [*u.parameters(), log_k], args.lr, args.steps
        )

        def step() -> torch.Tensor:
            optimizer.zero_grad()
            x = torch.rand(args.batch, 2)
            residual = -divergence(x, coefficients=diffusivity()) - source(x)
            # f is O(pi^2): scale its squared residual to O(1) like the misfit.
            loss = (u(x_data) - u_data).pow(2).mean() + residual.pow(
                2
            ).mean() / math.pi**4
            loss.backward()
            optimizer.step()
            return loss.detach()

        x_test = torch.rand(4096, 2, generator=torch.Generator().manual_seed(1234))
        u_test = exact_solution(x_test)

        def error() -> float:
            with torch.no_grad():
                return pinn_utils.relative_l2(u(x_test), u_test)

        def measure() -> dict[str, float]:
            k1, k2 = log_k.exp().tolist()
            return {"error": error(), "k1": k1, "k2": k2}

        losses = pinn_utils.train(step, args.steps, measure, decay, args.log_every)
        k = log_k.detach().exp()
        k_error = float(((k - torch.tensor(TRUE_K)) / torch.tensor(TRUE_K)).abs().max())
        result = pinn_utils.Result(losses, error(), {"k": k, "k_error": k_error})
    print(
        f"learned K = diag({k[0]:.4f}, {k[1]:.4f}), true diag{TRUE_K}: "
        f"off by at most {k_error:.1%}"
    )
    return pinn_utils.finish(result, args.plot, "Inverse problem: learning K")


if __name__ == "__main__":
    main()

"""
Independent references for the numerical tests: torch.func and torch.autograd.

Nothing here touches taylor-mlir. `f` maps a batch `(N, *S)` to `(N,)` or
`(N, *T)` with independent rows; every reference works per datum (`vmap` over
`f` applied to a batch of one) and returns `(N, *T)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch.func import hessian, jacfwd, vmap

Function = Callable[[torch.Tensor], torch.Tensor]


def _per_datum(f: Function) -> Function:
    """`x_i (shape S) -> f(x_i[None])[0]` (shape T)."""
    return lambda xi: f(xi.unsqueeze(0)).squeeze(0)


def _flat_input(f: Function, datum_shape: Sequence[int]) -> Function:
    """The per-datum function of the flattened input (D entries)."""
    g = _per_datum(f)
    return lambda v: g(v.reshape(*datum_shape))


def _trace_last_two(h: torch.Tensor) -> torch.Tensor:
    return h.diagonal(dim1=-2, dim2=-1).sum(-1)


def derivative_tensor(f: Function, x: torch.Tensor, order: int) -> torch.Tensor:
    """`d^order f` per datum w.r.t. the flattened input: `(N, *T, D, ..., D)`."""
    datum_shape = x.shape[1:]
    g = _flat_input(f, datum_shape)
    for _ in range(order):
        g = jacfwd(g)
    return vmap(g)(x.reshape(x.shape[0], -1))


def laplacian(f: Function, x: torch.Tensor) -> torch.Tensor:
    """Trace of the per-datum Hessian (`torch.func.hessian`)."""
    g = _flat_input(f, x.shape[1:])
    return vmap(lambda v: _trace_last_two(hessian(g)(v)))(x.reshape(x.shape[0], -1))


def weighted_laplacian(f: Function, x: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """`tr(C H) = sum_ij C_ij H_ij` per datum."""
    g = _flat_input(f, x.shape[1:])
    C = C.to(x.dtype)
    return vmap(lambda v: (hessian(g)(v) * C).sum((-2, -1)))(x.reshape(x.shape[0], -1))


def biharmonic(f: Function, x: torch.Tensor) -> torch.Tensor:
    """The Laplacian of the Laplacian, by nesting `torch.func.hessian`."""
    g = _flat_input(f, x.shape[1:])

    def lap(v):
        return _trace_last_two(hessian(g)(v))

    return vmap(lambda v: _trace_last_two(hessian(lap)(v)))(x.reshape(x.shape[0], -1))


def linear_operator(
    f: Function, x: torch.Tensor, terms: Mapping[tuple[int, ...], float]
) -> torch.Tensor:
    """`sum_alpha c_alpha d^alpha f`: each key indexes the per-datum derivative
    tensor of its order (nested `jacfwd`); `()` is f itself."""
    tensors: dict[int, torch.Tensor] = {}
    out = None
    for key, c in terms.items():
        order = len(key)
        if order not in tensors:
            if order == 0:
                tensors[0] = f(x)
            else:
                tensors[order] = derivative_tensor(f, x, order)
        value = tensors[order][(Ellipsis, *key)] if key else tensors[0]
        term = c * value
        out = term if out is None else out + term
    return out


def heat_operator(f: Function, x: torch.Tensor, time_index: int = 0) -> torch.Tensor:
    """`d f/dt - sum_{d != t} d^2 f / dx_d^2` with t = input `time_index`."""
    D = math.prod(x.shape[1:])
    terms = {(time_index,): 1.0}
    terms |= {(d, d): -1.0 for d in range(D) if d != time_index}
    return linear_operator(f, x, terms)


def taylor_path_derivatives(
    f: Function, coefficients: Sequence[torch.Tensor], order: int
) -> list[torch.Tensor]:
    """`[f_0, .., f_K]` with `f_k = d^k/dt^k f(x(t))` at t = 0 along the path
    `x(t) = sum_k t^k / k! x_k` (coefficients = `[x_0, x_1, ..]`, missing ones
    zero), by nested `torch.autograd.grad`.

    Each datum gets its own t (rows are independent, so the gradient of the sum
    over rows is the per-row derivative); each output entry is differentiated
    separately.
    """
    x0 = coefficients[0]
    N = x0.shape[0]
    t = torch.zeros(N, dtype=x0.dtype, requires_grad=True)
    t_b = t.reshape(N, *([1] * (x0.dim() - 1)))
    # Horner: x0 + t (x1 + t/2 (x2 + t/3 (...)))
    path = torch.zeros_like(x0)
    if len(coefficients) > 1:
        path = coefficients[-1]
        for k in range(len(coefficients) - 2, 0, -1):
            path = coefficients[k] + t_b / (k + 1) * path
    path = x0 + t_b * path
    y = f(path)
    flat = y.reshape(N, -1)
    outputs = [y.detach()]
    per_order = [[] for _ in range(order)]
    for column in range(flat.shape[1]):
        g = flat[:, column]
        for k in range(order):
            g = _derivative(g, t)
            per_order[k].append(g)
    for k in range(order):
        outputs.append(torch.stack(per_order[k], dim=1).reshape(y.shape).detach())
    return outputs


def _derivative(g: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """d g / d t per row (zero where g no longer depends on t)."""
    if not g.requires_grad:
        return torch.zeros_like(g)
    (d,) = torch.autograd.grad(g.sum(), t, create_graph=True, allow_unused=True)
    return torch.zeros_like(g) if d is None else d

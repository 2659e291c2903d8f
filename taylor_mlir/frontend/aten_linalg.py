"""
Linear algebra within a datum: `torch.linalg.det`, `slogdet`, `torch.logdet`,
`torch.linalg.inv` / `inv_ex` and `torch.linalg.solve` on matrices in the last
two dimensions (the batch, and any other dimensions, in front).

torch.export records them as `_linalg_det`, `_linalg_slogdet` (logdet adds a
`where` on its sign), `linalg_inv_ex` and `_linalg_solve_ex`; the error check of
inv and solve (`_linalg_check_errors`, an effect) is dropped by export.py, since
the program's `matrix.inv` raises CallError for a singular matrix itself.

Three primal ops carry them (dialects/matrix.py): `matrix.inv`, `matrix.det`,
`matrix.logabsdet`, whose Taylor rules are series around the primal
(transforms/taylor_mode.py). The rest is composed:
- the sign of slogdet is piecewise constant (a zero jet): the sign of
  `det(stop_gradient(A))`, 0 for a singular matrix, as torch's;
- `solve(A, B) = inv(A) @ B` (`B inv(A)` for left=False): the Taylor series
  needs `inv(A0)` anyway, and for the small per-datum matrices this is for the
  product costs what an LU solve would. A singular A raises CallError.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx
from xdsl.ir import SSAValue

from taylor_mlir.frontend.lowering import LoweringContext
from taylor_mlir.ir import matrix_algebra as M

aten = torch.ops.aten

LINALG_RULES: dict[Any, Callable[[LoweringContext, torch.fx.Node], Any]] = {}
"""The rules of this module, which aten.py adds to its `RULES`."""


def rule(target: Any):
    def register(function):
        LINALG_RULES[target] = function
        return function

    return register


def _read_results(node: torch.fx.Node) -> set[int]:
    return {u.args[1] for u in node.users if u.target is operator.getitem}


def _matrices(ctx: LoweringContext, node: torch.fx.Node, arg) -> SSAValue:
    """A tensor of square matrices of a static size (the last two dimensions)."""
    sizes = list(arg.meta["val"].shape)
    if len(sizes) < 2 or not all(isinstance(s, int) for s in sizes[-2:]):
        raise ctx.unsupported(
            node,
            f"the matrices must have a static size (got {sizes}): reshape the "
            "input to (N, ..., n, n) with a constant n",
        )
    return ctx.tensor(node, arg)


def _only_reads(ctx: LoweringContext, node: torch.fx.Node, kept: set[int], what: str):
    """Refuses reading a result of `node` outside `kept` (LU factors, pivots,
    the integer info)."""
    extra = _read_results(node) - kept
    if extra:
        raise ctx.unsupported(
            node,
            f"only {what} is supported; result(s) {sorted(extra)} (LU factors, "
            "pivots or the integer error code) are not",
        )


@rule(aten._linalg_det.default)
def _det(ctx: LoweringContext, node: torch.fx.Node) -> list:
    _only_reads(ctx, node, {0}, "the determinant")
    return [M.det(ctx.b, _matrices(ctx, node, node.args[0])), None, None]


@rule(aten._linalg_slogdet.default)
def _slogdet(ctx: LoweringContext, node: torch.fx.Node) -> list:
    """(sign, log|det|); the sign of the stopped matrix's determinant."""
    _only_reads(ctx, node, {0, 1}, "the sign and log |det|")
    a = _matrices(ctx, node, node.args[0])
    read = _read_results(node)
    sign = _sign(ctx, M.det(ctx.b, M.stop_gradient(ctx.b, a))) if 0 in read else None
    logabsdet = M.logabsdet(ctx.b, a) if 1 in read else None
    return [sign, logabsdet, None, None]


def _sign(ctx: LoweringContext, d: SSAValue) -> SSAValue:
    b = ctx.b
    zero, one, minus_one = (b.full_like(d, v) for v in (0.0, 1.0, -1.0))
    negative = b.select(b.cmpf("olt", d, zero), minus_one, zero)
    return b.select(b.cmpf("ogt", d, zero), one, negative)


@rule(aten.linalg_inv_ex.default)
def _inv(ctx: LoweringContext, node: torch.fx.Node) -> list:
    """The inverse; a singular matrix raises CallError when the program runs
    (where torch's inv_ex would return its info code instead)."""
    _only_reads(ctx, node, {0}, "the inverse")
    return [M.inv(ctx.b, _matrices(ctx, node, node.args[0])), None]


@rule(aten._linalg_solve_ex.default)
def _solve(ctx: LoweringContext, node: torch.fx.Node) -> list:
    """A X = B as inv(A) @ B (X A = B as B @ inv(A) for left=False); B a
    matrix or a vector (torch's rule: the result has A's rank minus one),
    batch dimensions broadcast as torch does."""
    _only_reads(ctx, node, {0}, "the solution")
    a_arg, b_arg = node.args[:2]
    left = node.args[2] if len(node.args) > 2 else node.kwargs.get("left", True)
    result_dims = ctx.dims(node, list(node.meta["val"][0].shape))
    a = _matrices(ctx, node, a_arg)
    n = list(a_arg.meta["val"].shape)[-1]
    vector = len(result_dims) == len(a_arg.meta["val"].shape) - 1
    batch = result_dims[:-1] if vector else result_dims[:-2]
    a = ctx.broadcast_to(a, [*batch, n, n])
    rhs = ctx.broadcast_to(ctx.tensor(node, b_arg), result_dims)
    inverse = M.inv(ctx.b, a)
    if vector:
        x = M.matvec(ctx.b, inverse, rhs) if left else M.vecmat(ctx.b, rhs, inverse)
    else:
        x = M.matmul(ctx.b, inverse, rhs) if left else M.matmul(ctx.b, rhs, inverse)
    return [x, None, None, None]

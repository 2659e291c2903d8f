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

import torch
import torch.fx
from xdsl.ir import SSAValue

from taylor_mlir.errors import CallError
from taylor_mlir.frontend.lowering import LoweringContext, RuleTable
from taylor_mlir.ir import matrix_algebra as M

aten = torch.ops.aten

LINALG_RULES = RuleTable()
"""The rules of this module, which aten.py adds to its `RULES`."""
rule = LINALG_RULES.rule


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


# ------------------------------------------------- the kernel of matrix.inv


@torch.library.custom_op("taylor_mlir::inverse", mutates_args=())
def inverse(x: torch.Tensor) -> torch.Tensor:
    """What the torch backend runs for `matrix.inv`: torch.linalg.inv_ex,
    raising CallError for a singular matrix (whose inverse, and the derivatives
    of det, slogdet and solve the Taylor series read from it, do not exist)
    instead of returning garbage. An op of its own, so that torch.compile
    keeps the check (an opaque kernel, not a graph break) and a compiled
    program re-imports (nested operators: the rule below maps it back)."""
    result, info = torch.linalg.inv_ex(x)
    singular = info != 0
    if bool(singular.any()):
        where = singular.nonzero()[0].tolist()
        raise CallError(
            f"a matrix is singular (not invertible) at batch index {where} of "
            f"{int(singular.sum())} singular matrices: the inverse, solve, and the "
            "derivatives of det / slogdet / logdet are undefined there (torch "
            "defines det's derivative at a singular matrix through the adjugate; "
            "this program refuses it)"
        )
    return result.contiguous()  # LAPACK's is column-major; the fake kernel's is not


@inverse.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _save_inverse(ctx, inputs, output) -> None:
    ctx.save_for_backward(output)


def _inverse_backward(ctx, grad: torch.Tensor) -> torch.Tensor:
    """d(X^-1) = -Y dX Y, so the gradient is -Y^T G Y^T (differentiable again:
    parameter gradients of a compiled operator differentiate through it)."""
    (y,) = ctx.saved_tensors
    return -(y.mT @ grad @ y.mT)


inverse.register_autograd(_inverse_backward, setup_context=_save_inverse)
INVERSE = torch.ops.taylor_mlir.inverse.default


# ------------------------------------------------------------------ rules


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
    sign = _sign(ctx, M.det(ctx.b, ctx.b.stop_gradient(a))) if 0 in read else None
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


@rule(INVERSE)
def _inverse_kernel(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """A compiled program's own `matrix.inv`, re-imported."""
    return M.inv(ctx.b, _matrices(ctx, node, node.args[0]))


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

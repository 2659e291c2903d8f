"""
Core ATen ops as tensor-level IR: one rule per op (the table `RULES`).

A rule gets the `LoweringContext` (`lowering.py`) and the FX node, and returns
the node's value (a list for ops with several results), emitting IR through
`ctx.b`, a `TensorBuilder`. Result shapes come from the node's metadata
(`ctx.result_dims`), so rules never recompute torch's shape logic; row
interaction is checked before a rule runs (`rows.py`).

Adding an op: write its rule here, its row-layout rule in `rows.py` if it is not
elementwise, and a test in tests/test_frontend.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.fx
from xdsl.ir import SSAValue

from taylor_mlir.dialects.elementwise import ELEMENTWISE_FUNCTIONS
from taylor_mlir.dialects.special import MAX_POLYGAMMA
from taylor_mlir.frontend import compositions as compose
from taylor_mlir.frontend.aten_linalg import LINALG_RULES
from taylor_mlir.frontend.aten_scatter import SCATTER_RULES
from taylor_mlir.frontend.export import STOP_GRADIENT
from taylor_mlir.frontend.lowering import (
    LoweringContext,
    RuleTable,
    node_arg,
    node_sizes,
)
from taylor_mlir.frontend.scatter import take
from taylor_mlir.frontend.sizes import monomial
from taylor_mlir.ir.builder import DYNAMIC, shape_of

aten = torch.ops.aten

Rule = Callable[[LoweringContext, torch.fx.Node], Any]
RULES = RuleTable()
rule = RULES.rule


def _dim(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


# ------------------------------------------------------------------ copies


@rule(aten.clone.default, aten.alias.default)
def _identity(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """Copies are values: the same SSA value. So is an alias (`x[...]`): the
    alias `x.detach()` becomes is marked `STOP_GRADIENT` before (export.py)."""
    return ctx.tensor(node, node.args[0])


@rule(STOP_GRADIENT)
def _stop_gradient(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`x.detach()`, or a result of a `torch.no_grad()` region: a constant for
    differentiation."""
    return ctx.b.stop_gradient(ctx.tensor(node, node.args[0]))


@rule(aten._to_copy.default)
def _to_copy(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """A copy into the program's dtype (other float dtypes were refused): the
    value itself, or 0/1 for a boolean tensor; into bool: `!= 0`."""
    value = ctx.operand(node, node.args[0])
    if node.meta["val"].dtype == torch.bool:
        return _nonzero(ctx, value)
    return value


# ------------------------------------------------------------- elementwise


def _binary(combine: Callable[[LoweringContext, SSAValue, SSAValue], SSAValue]) -> Rule:
    def lower(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
        a = ctx.operand(node, node.args[0])
        b = ctx.operand(node, node.args[1])
        return combine(ctx, a, b)

    return lower


def _nonzero(ctx: LoweringContext, value: SSAValue) -> SSAValue:
    """`value != 0`, torch's conversion to bool (NaN is true)."""
    return ctx.b.cmpf("une", value, ctx.b.full_like(value, 0.0))


def _boolean_result(lower: Rule) -> Rule:
    """Arithmetic computes on booleans as 0 and 1; a boolean result is that
    value converted back, as in torch: `a * b` is `a and b`, `a + b` `a or b`."""

    def cast(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
        value = lower(ctx, node)
        return _nonzero(ctx, value) if node.meta["val"].dtype == torch.bool else value

    return cast


def _with_alpha(ctx: LoweringContext, node: torch.fx.Node, b: SSAValue) -> SSAValue:
    alpha = node_arg(node, 2, "alpha", 1)
    return b if alpha == 1 else ctx.b.mul(b, ctx.fill(node, float(alpha)))


@rule(aten.add.Tensor, aten.add.Scalar)
@_boolean_result
def _add(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    a, b = ctx.operand(node, node.args[0]), ctx.operand(node, node.args[1])
    return ctx.b.add(a, _with_alpha(ctx, node, b))


@rule(aten.sub.Tensor, aten.sub.Scalar)
def _sub(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    a, b = ctx.operand(node, node.args[0]), ctx.operand(node, node.args[1])
    return ctx.b.sub(a, _with_alpha(ctx, node, b))


_mul = _boolean_result(_binary(lambda i, a, b: i.b.mul(a, b)))
RULES[aten.mul.Tensor] = RULES[aten.mul.Scalar] = _mul
RULES[aten.div.Tensor] = RULES[aten.div.Scalar] = _binary(lambda i, a, b: i.b.div(a, b))

_PREDICATES = {
    "gt": "ogt",
    "lt": "olt",
    "ge": "oge",
    "le": "ole",
    "eq": "oeq",
    "ne": "une",
}
for _name, _predicate in _PREDICATES.items():
    _compare = _binary(lambda i, a, b, p=_predicate: i.b.cmpf(p, a, b))
    RULES[getattr(aten, _name).Tensor] = RULES[getattr(aten, _name).Scalar] = _compare


def _truth(ctx: LoweringContext, node: torch.fx.Node, arg: Any) -> SSAValue:
    """`arg` as 0 or 1 (nonzero is true), broadcast to the result."""
    value = ctx.operand(node, arg)
    if isinstance(arg, torch.fx.Node) and arg.meta["val"].dtype == torch.bool:
        return value  # already 0 or 1
    return ctx.b.select(_nonzero(ctx, value), ctx.fill(node, 1.0), ctx.fill(node, 0.0))


def _logic(combine: Callable[[Any, SSAValue, SSAValue], SSAValue]) -> Rule:
    """`and`, `or`, `xor` of truth values: their product, sum, difference != 0."""

    def lower(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
        a, b = (_truth(ctx, node, arg) for arg in node.args[:2])
        return _nonzero(ctx, combine(ctx.b, a, b))

    return lower


for _name, _combine in (("and", "mul"), ("or", "add"), ("xor", "sub")):
    _rule = _logic(lambda b, x, y, c=_combine: getattr(b, c)(x, y))
    RULES[getattr(aten, f"logical_{_name}").default] = _rule
    RULES[getattr(aten, f"bitwise_{_name}").Tensor] = _rule  # on booleans


@rule(aten.logical_not.default, aten.bitwise_not.default)
def _not(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`x == 0` (NaN is true, so not NaN is false)."""
    return ctx.b.cmpf("oeq", ctx.operand(node, node.args[0]), ctx.fill(node, 0.0))


@rule(aten.where.self)
def _where(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    condition = ctx.condition(node, node.args[0])
    a, b = (ctx.operand(node, arg) for arg in node.args[1:])
    return ctx.b.select(condition, a, b)


def _unary(emit: Callable[[LoweringContext, SSAValue], SSAValue]) -> Rule:
    def lower(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
        return emit(ctx, ctx.tensor(node, node.args[0]))

    return lower


for _function in ELEMENTWISE_FUNCTIONS.values():  # tanh, sigmoid, reciprocal, ...
    if _function.aten is not None and not _function.aten_args:
        RULES[getattr(aten, _function.aten).default] = _unary(
            lambda i, x, f=_function: f.primal(i.ops, x)
        )
RULES[aten.neg.default] = _unary(lambda i, x: i.b.neg(x))


@rule(aten.polygamma.default)
def _polygamma(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """polygamma(n, x): digamma for n = 0, else the `polygamma<n>` function."""
    n, x = node.args[0], ctx.tensor(node, node.args[1])
    name = "digamma" if n == 0 else f"polygamma{n}"
    if name not in ELEMENTWISE_FUNCTIONS:
        raise ctx.unsupported(node, f"n = {n}: polygamma(n) for n <= {MAX_POLYGAMMA}")
    return ELEMENTWISE_FUNCTIONS[name].primal(ctx.ops, x)


@rule(aten.abs.default)
def _abs(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """|x| = x where x > 0, -x where x < 0, else (0 and NaN) the constant
    x * x: derivative sign(x), 0 at 0, as autograd's."""
    b = ctx.b
    x = ctx.tensor(node, node.args[0])
    zero = b.full_like(x, 0.0)
    plain = b.stop_gradient(x)
    rest = b.select(b.cmpf("olt", x, zero), b.neg(x), b.mul(plain, plain))
    return b.select(b.cmpf("ogt", x, zero), x, rest)


@rule(aten.pow.Tensor_Scalar)
def _pow(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """Integer exponents as products, 0.5 as sqrt, others as `math.powf`: the
    shape of powers every part of the compiler emits (the `pow` rule's primal)."""
    x, exponent = ctx.tensor(node, node.args[0]), node.args[1]
    if not isinstance(exponent, int | float):
        raise ctx.unsupported(node, "the exponent must be a number")
    return ELEMENTWISE_FUNCTIONS["pow"].primal(ctx.ops, x, float(exponent))


@rule(aten.pow.Tensor_Tensor, aten.pow.Scalar)
def _pow_tensor(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """z ** w with a tensor exponent (or a number base): `math.powf`, torch's
    real powers (a negative base with an integer exponent, a zero base);
    taylor-mode differentiates it by whether w depends on x."""
    z, w = (ctx.operand(node, arg) for arg in node.args[:2])
    return ctx.b.powf(z, w)


@rule(aten.atan2.default)
def _atan2(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """atan2(y, x), piecewise on the primal so no branch divides by zero:
    atan(y/x) + 0, pi or -pi by quadrant where |y| <= |x|, else
    +-pi/2 - atan(x/y); 0 at the origin (+-0 not told apart)."""
    b = ctx.b
    y, x = (ctx.operand(node, arg) for arg in node.args[:2])
    y0, x0 = b.stop_gradient(y), b.stop_gradient(x)  # branches
    fill = lambda v: ctx.fill(node, v)  # noqa: E731
    zero = fill(0.0)
    atan = ELEMENTWISE_FUNCTIONS["atan"]
    x_safe = b.select(b.cmpf("oeq", x0, zero), fill(1.0), x)  # only at the origin
    wide = b.add(atan.primal(ctx.ops, b.div(y, x_safe)), b.select(
        b.cmpf("olt", x0, zero),
        b.select(b.cmpf("oge", y0, zero), fill(math.pi), fill(-math.pi)),
        zero,
    ))  # fmt: skip
    half_pi = b.select(b.cmpf("ogt", y0, zero), fill(math.pi / 2), fill(-math.pi / 2))
    tall = b.sub(half_pi, atan.primal(ctx.ops, b.div(x, y)))
    return b.select(b.cmpf("ogt", b.mul(y0, y0), b.mul(x0, x0)), tall, wide)


@rule(aten.gelu.default)
def _gelu(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """x/2 (1 + erf(x/sqrt 2)), or with approximate="tanh"
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = ctx.tensor(node, node.args[0])
    b = ctx.b
    if node.kwargs.get("approximate", "none") == "tanh":
        cube = b.mul(b.mul(x, x), x)
        inner = b.add(x, b.mul(b.full_like(x, 0.044715), cube))
        scaled = b.mul(b.full_like(x, math.sqrt(2.0 / math.pi)), inner)
        core = b.unary("tanh", scaled)
    else:
        core = b.unary("erf", b.mul(x, b.full_like(x, 1.0 / math.sqrt(2.0))))
    half_x = b.mul(x, b.full_like(x, 0.5))
    return b.mul(half_x, b.add(b.full_like(x, 1.0), core))


# ------------------------------------------------------------ creations


@rule(aten.full.default)
def _full(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    return ctx.fill(node, ctx.created_value(node, node.args[1]))


@rule(aten.full_like.default)
def _full_like(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    return ctx.fill(node, ctx.created_value(node, node.args[1]))


@rule(aten.scalar_tensor.default)
def _scalar_tensor(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    return ctx.fill(node, ctx.created_value(node, node.args[0]))


# ------------------------------------------------------------ reductions


def _reduced_dims(node: torch.fx.Node) -> list[int]:
    rank = node.args[0].meta["val"].dim()
    dims = node_arg(node, 1, "dim")
    if not dims:  # None or []: every dimension
        return list(range(rank))
    return sorted({_dim(d, rank) for d in dims})


def _sum_over(ctx: LoweringContext, node: torch.fx.Node) -> tuple[SSAValue, int]:
    """The sum over the reduced dims, shaped like the result, and their size."""
    source = node.args[0]
    x = ctx.tensor(node, source)
    dims = _reduced_dims(node)
    count = math.prod(shape_of(x)[d] for d in dims)
    summed = ctx.b.reduce_sum(x, dims) if dims else x
    if node_arg(node, 2, "keepdim", False):
        kept = [s for i, s in enumerate(node_sizes(source)) if i not in dims]
        summed = ctx.reshape(node, summed, kept, ctx.result_sizes(node))
    return summed, count


@rule(aten.sum.dim_IntList)
def _sum(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    return _sum_over(ctx, node)[0]


@rule(aten.mean.dim, aten.mean.default)
def _mean(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    summed, count = _sum_over(ctx, node)
    return ctx.b.div(summed, ctx.fill(node, float(count)))


# ------------------------------------------------------------ matmuls


@rule(aten.mm.default)
def _mm(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    a, b = (ctx.tensor(node, arg) for arg in node.args[:2])
    return ctx.b.matmul(a, b)


@rule(aten.addmm.default)
def _addmm(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """beta * bias + alpha * (a @ b)."""
    a, b = (ctx.tensor(node, arg) for arg in node.args[1:3])
    product = ctx.b.matmul(a, b)
    alpha, beta = node.kwargs.get("alpha", 1), node.kwargs.get("beta", 1)
    if alpha != 1:
        product = ctx.b.mul(product, ctx.fill(node, float(alpha)))
    bias = ctx.operand(node, node.args[0])
    if beta != 1:
        bias = ctx.b.mul(bias, ctx.fill(node, float(beta)))
    return ctx.b.add(product, bias)


@rule(aten.bmm.default)
def _bmm(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """A side that is one matrix expanded over the batch (`W @ x[n]`, `x[n] @ W`)
    is used unexpanded, so the product is one GEMM (TensorBuilder.batch_matmul)."""
    a, b = node.args[:2]
    shared_a, shared_b = _shared_matrix(ctx, node, a), _shared_matrix(ctx, node, b)
    if shared_b is not None:
        return ctx.b.batch_matmul(ctx.tensor(node, a), shared_b)
    if shared_a is not None:
        return ctx.b.batch_matmul(shared_a, ctx.tensor(node, b))
    return ctx.b.batch_matmul(ctx.tensor(node, a), ctx.tensor(node, b))


_SAME_SHAPE_VIEWS = (aten.view.default,)


def _shared_matrix(
    ctx: LoweringContext, node: torch.fx.Node, arg: torch.fx.Node
) -> SSAValue | None:
    """The 2-D matrix M when `arg` is `expand(M)` (through no-op views), else None."""
    while arg.target in _SAME_SHAPE_VIEWS and node_sizes(arg) == node_sizes(
        arg.args[0]
    ):
        arg = arg.args[0]
    if arg.target is not aten.expand.default:
        return None
    source = arg.args[0]
    sizes = node_sizes(source)
    if any(isinstance(s, torch.SymInt) for s in sizes) or len(sizes) not in (2, 3):
        return None
    if len(sizes) == 3 and sizes[0] != 1:
        return None
    matrix = ctx.tensor(node, source)
    return ctx.reshape(node, matrix, sizes, sizes[-2:])


# ------------------------------------------------------------ layout


@rule(aten.permute.default)
def _permute(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    x = ctx.tensor(node, node.args[0])
    rank = len(shape_of(x))
    permutation = [_dim(d, rank) for d in node.args[1]]
    if permutation == list(range(rank)):
        return x
    return ctx.b.transpose(x, permutation)


@rule(aten.view.default, aten.unsqueeze.default, aten.squeeze.dims)
def _reshape(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    source = node.args[0]
    x = ctx.tensor(node, source)
    return ctx.reshape(node, x, node_sizes(source), ctx.result_sizes(node))


@rule(aten.expand.default)
def _expand(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    return ctx.broadcast_to(ctx.tensor(node, node.args[0]), ctx.result_dims(node))


@rule(aten.cat.default)
def _cat(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    tensors = [ctx.tensor(node, t) for t in node.args[0]]
    dim = _dim(node_arg(node, 1, "dim", 0), node.meta["val"].dim())
    if any(len(shape_of(t)) != node.meta["val"].dim() for t in tensors):
        raise ctx.unsupported(node, "concatenating tensors of different ranks")
    if len(tensors) == 1:
        return tensors[0]
    return ctx.b.concat(tensors, dim)


def _slice_along(
    ctx: LoweringContext,
    node: torch.fx.Node,
    x: SSAValue,
    dim: int,
    start: int,
    size: int,
    step: int,
) -> SSAValue:
    """`tensor.extract_slice` of `size` elements along `dim` (all of the others)."""
    return compose.slice_along(ctx.b, x, dim, start, size, step)


@rule(aten.slice.Tensor)
def _slice(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    source = node.args[0]
    x = ctx.tensor(node, source)
    dim = _dim(node_arg(node, 1, "dim", 0), len(shape_of(x)))
    size_in, size_out = node_sizes(source)[dim], ctx.result_sizes(node)[dim]
    if monomial(size_in) == monomial(size_out):
        return x  # the whole dimension (also how `x[:, 1]` slices the batch)
    start, step = node_arg(node, 2, "start"), node_arg(node, 4, "step", 1)
    if not isinstance(start, int | None) or not isinstance(step, int):
        raise ctx.unsupported(node, "slice bounds must be integers")
    start, _, step = slice(start, node_arg(node, 3, "end"), step).indices(size_in)
    return _slice_along(ctx, node, x, dim, start, size_out, step)


@rule(aten.select.int)
def _select(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    source = node.args[0]
    x = ctx.tensor(node, source)
    rank = len(shape_of(x))
    dim, index = _dim(node.args[1], rank), node.args[2]
    index = index + shape_of(x)[dim] if index < 0 else index
    row = _slice_along(ctx, node, x, dim, index, 1, 1)
    sizes = node_sizes(source)
    sizes[dim] = 1
    return ctx.reshape(node, row, sizes, ctx.result_sizes(node))


@rule(aten.split_with_sizes.default)
def _split(ctx: LoweringContext, node: torch.fx.Node) -> list[SSAValue]:
    x = ctx.tensor(node, node.args[0])
    dim = _dim(node_arg(node, 2, "dim", 0), len(shape_of(x)))
    pieces, start = [], 0
    for piece in node.meta["val"]:
        size = piece.shape[dim]
        if monomial(size) == monomial(node_sizes(node.args[0])[dim]):
            pieces.append(x)
        else:
            pieces.append(_slice_along(ctx, node, x, dim, start, size, 1))
        start += size
    return pieces


# ------------------------------------------------------------ indexing

INDEX_ARGUMENTS: dict[Any, Callable[[torch.fx.Node], list[Any]]] = {
    aten.index.Tensor: lambda node: [i for i in node.args[1] if i is not None],
    aten.index_select.default: lambda node: [node.args[2]],
}
"""The index tensors of each indexing op: the importer checks that there is
one, a constant integer tensor (`LoweringContext.index`)."""


@rule(aten.index.Tensor)
def _index(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`x[:, [2, 0, 1]]`: one dimension indexed by a constant; `x[:, I, J]`:
    adjacent dimensions indexed by constants broadcast together, one index
    `I * size_J + J` into those dimensions flattened (nearest and bilinear
    upsampling, adaptive pooling)."""
    indices = node.args[1]
    dims = [d for d, index in enumerate(indices) if index is not None]
    if len(dims) == 1:
        return _gather(ctx, node, dims[0], indices[dims[0]])
    if dims != list(range(dims[0], dims[-1] + 1)):
        raise ctx.unsupported(
            node,
            "indexing dimensions that are not next to each other with tensors of "
            "indices (x[:, [0, 1], :, [2, 3]]): index them one after the other",
        )
    source = node.args[0]
    x = ctx.tensor(node, source)
    sizes = node_sizes(source)
    extents = [shape_of(x)[d] for d in dims]
    if DYNAMIC in extents:
        raise ctx.unsupported(node, "indexing a dimension of dynamic size")
    parts = torch.broadcast_tensors(*(ctx.index(node, indices[d]) for d in dims))
    linear = torch.zeros_like(parts[0])
    for d, part, extent in zip(dims, parts, extents, strict=True):
        outside = part[(part < -extent) | (part >= extent)]
        if outside.numel():
            raise ctx.unsupported(
                node,
                f"index {outside[0].item()} is out of range for dimension {d} of "
                f"size {extent}",
            )
        linear = linear * extent + part % extent
    flat = [*sizes[: dims[0]], math.prod(extents), *sizes[dims[-1] + 1 :]]
    taken = list(flat)
    taken[dims[0]] = linear.numel()
    gathered = _take(
        ctx, node, ctx.reshape(node, x, sizes, flat), dims[0], linear.flatten().tolist()
    )
    return ctx.reshape(node, gathered, taken, ctx.result_sizes(node))


@rule(aten.index_select.default)
def _index_select(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    rank = node.args[0].meta["val"].dim()
    return _gather(ctx, node, _dim(node.args[1], rank), node.args[2])


def _gather(
    ctx: LoweringContext, node: torch.fx.Node, dim: int, index: Any
) -> SSAValue:
    """The slices of x along `dim` at the constant indices, concatenated (a run
    of consecutive indices is one slice), then `dim` shaped like the index.
    Slices and concatenations are linear maps every pass knows: a constant index
    needs no gather op."""
    source = node.args[0]
    x = ctx.tensor(node, source)
    size = shape_of(x)[dim]
    if size == DYNAMIC:
        raise ctx.unsupported(node, "indexing a dimension of dynamic size")
    positions = ctx.index(node, index).reshape(-1).tolist()
    gathered = _take(ctx, node, x, dim, positions)
    sizes = node_sizes(source)
    sizes[dim] = len(positions)
    return ctx.reshape(node, gathered, sizes, ctx.result_sizes(node))


def _take(
    ctx: LoweringContext, node: torch.fx.Node, x: SSAValue, dim: int, positions: list
) -> SSAValue:
    """The slices of x along `dim` at `positions`, concatenated."""
    size = shape_of(x)[dim]
    if not positions:
        raise ctx.unsupported(node, "an empty list of indices")
    outside = [i for i in positions if not -size <= i < size]
    if outside:
        raise ctx.unsupported(
            node,
            f"index {outside[0]} is out of range for dimension {dim} of size {size}",
        )
    return take(ctx.b, x, dim, [i % size for i in positions])


# ------------------------------------------------------------ piecewise
# Piecewise ops are selects on primal comparisons (the jets flow through the
# chosen branch), following PyTorch's autograd at the kinks: clamp passes its
# bounds' values through (derivative 1 at x == bound), hardtanh does not
# (derivative 0 there), maximum/minimum of equal tensors take half of each,
# rounding and sign have zero derivatives everywhere.


def _bound(ctx: LoweringContext, node: torch.fx.Node, arg: Any) -> SSAValue | None:
    return None if arg is None else ctx.operand(node, arg)


@rule(aten.clamp.default, aten.clamp.Tensor)  # clamp_min/_max become these
def _clamp(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`hi` where x > hi or hi < lo, else `lo` where x < lo, else x (autograd:
    x's derivative passes on [lo, hi], a bound's where it is the result).
    torch's decomposition of clamp needs isnan and bitwise_or of masks."""
    b = ctx.b
    x = ctx.operand(node, node.args[0])
    lo = _bound(ctx, node, node_arg(node, 1, "min"))
    hi = _bound(ctx, node, node_arg(node, 2, "max"))
    y = x
    if lo is not None:
        y = b.select(b.cmpf("olt", x, lo), lo, y)
    if hi is not None:
        above = b.cmpf("ogt", x, hi)
        if lo is not None:
            above = compose.logical_or(b, above, b.cmpf("olt", hi, lo))
        y = b.select(above, hi, y)
    return y


@rule(aten.hardtanh.default)
def _hardtanh(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """clamp(x, lo, hi) with derivative 0 at the bounds, as hardtanh's autograd
    (its torch decomposition is clamp, whose derivative there is 1)."""
    b = ctx.b
    x = ctx.tensor(node, node.args[0])
    lo, hi = (ctx.fill(node, float(node_arg(node, i, n, d))) for i, n, d in _HARDTANH)
    inside = b.select(b.cmpf("oge", x, hi), hi, x)
    return b.select(b.cmpf("ole", x, lo), lo, inside)


_HARDTANH = ((1, "min_val", -1.0), (2, "max_val", 1.0))


def _tie_aware(larger: str) -> Rule:
    """maximum (larger "ogt") / minimum ("olt") of tensors: the larger one, or
    at a tie `a + (b - a) / 2`, which is a at the primal and averages the
    derivatives as autograd does (an infinite tie is a itself). NaN wins, as
    in torch. Of booleans: or / and."""

    def lower(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
        b = ctx.b
        x, y = ctx.operand(node, node.args[0]), ctx.operand(node, node.args[1])
        if node.meta["val"].dtype == torch.bool:
            extremum = b.maximum if larger == "ogt" else b.minimum
            return _nonzero(ctx, extremum(x, y))
        middle = b.add(x, b.mul(b.sub(y, x), ctx.fill(node, 0.5)))
        tie = b.select(compose.nonfinite(b, x), x, middle)
        return b.select(b.cmpf(larger, x, y), x, b.select(b.cmpf(larger, y, x), y, tie))

    return lower


RULES[aten.maximum.default] = _tie_aware("ogt")
RULES[aten.minimum.default] = _tie_aware("olt")


def _constant_unary(compute: Callable[[Any, SSAValue], SSAValue]) -> Rule:
    """A piecewise constant function: computed on a stopped-gradient copy,
    so every derivative is zero (as autograd's)."""

    def lower(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
        x = ctx.tensor(node, node.args[0])
        return compute(ctx.b, ctx.b.stop_gradient(x))

    return lower


RULES[aten.floor.default] = _constant_unary(compose.floor)
RULES[aten.ceil.default] = _constant_unary(compose.ceil)
RULES[aten.trunc.default] = _constant_unary(compose.trunc)
RULES[aten.round.default] = _constant_unary(compose.round_half_even)
RULES[aten.sign.default] = _unary(lambda i, x: compose.sign(i.b, x))


@rule(aten.hardsigmoid.default)
def _hardsigmoid(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """x / 6 + 1/2 between -3 and 3, else 0 or 1, with derivative 0 at -3 and
    3 as autograd's (its torch decomposition is clamp, whose derivative there
    is 1/6)."""
    b = ctx.b
    x = ctx.tensor(node, node.args[0])
    line = b.add(b.div(x, ctx.fill(node, 6.0)), ctx.fill(node, 0.5))
    inside = b.select(b.cmpf("oge", x, ctx.fill(node, 3.0)), ctx.fill(node, 1.0), line)
    return b.select(b.cmpf("ole", x, ctx.fill(node, -3.0)), ctx.fill(node, 0.0), inside)


@rule(aten.div.Tensor_mode)
def _div_rounding(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`a / b` truncated as torch (trunc of the rounded quotient); floor
    division is refused: torch computes it through fmod, exactly."""
    b = ctx.b
    x, y = ctx.operand(node, node.args[0]), ctx.operand(node, node.args[1])
    mode = node.kwargs.get("rounding_mode")
    if mode == "floor":
        raise ctx.unsupported(
            node,
            "floor division (// or rounding_mode='floor') of floats: torch "
            "computes it through fmod, which has no tensor-level op here; use "
            "torch.floor(a / b) (which can differ from a // b by 1 where a / b "
            "rounds to an integer)",
        )
    quotient = b.div(x, y)
    if mode is None:
        return quotient
    return compose.trunc(b, b.stop_gradient(quotient))


@rule(aten.round.decimals)
def _round_decimals(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """As torch: rint(x * 10^d) / 10^d, or rint(x / 10^-d) * 10^-d for d < 0."""
    b = ctx.b
    x = b.stop_gradient(ctx.tensor(node, node.args[0]))
    decimals = node.kwargs.get("decimals", 0)
    scale = ctx.fill(node, float(10 ** abs(decimals)))
    if decimals >= 0:
        return b.div(compose.round_half_even(b, b.mul(x, scale)), scale)
    return b.mul(compose.round_half_even(b, b.div(x, scale)), scale)


@rule(aten.isnan.default)
def _isnan(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    x = ctx.tensor(node, node.args[0])
    return ctx.b.cmpf("une", x, x)


# ------------------------------------------------------------ reductions II


def _reduction_dims(node: torch.fx.Node) -> list[int]:
    """The reduced dims of an op taking one dim, a list of them or none (all)."""
    rank = node.args[0].meta["val"].dim()
    dims = node_arg(node, 1, "dim")
    if isinstance(dims, int):
        dims = [dims]
    if not dims or node.target in _FULL_REDUCTIONS:
        return list(range(rank))
    return sorted({_dim(d, rank) for d in dims})


def _static_dims(
    ctx: LoweringContext, node: torch.fx.Node, x: SSAValue, dims: list[int]
) -> None:
    """Reductions, scans and flips are unrolled over a static size (a dynamic
    one is the batch's, which rows.py refuses first)."""
    if any(shape_of(x)[d] == DYNAMIC for d in dims):
        raise ctx.unsupported(node, "along a dimension of dynamic size")


def _reduced_result(
    ctx: LoweringContext, node: torch.fx.Node, reduced: SSAValue, dims: list[int]
) -> SSAValue:
    """A value with `dims` dropped, shaped as the node's result (keepdim)."""
    sizes = [s for i, s in enumerate(node_sizes(node.args[0])) if i not in dims]
    value = node.meta["val"]
    result = list((value[0] if isinstance(value, list | tuple) else value).shape)
    return reduced if sizes == result else ctx.reshape(node, reduced, sizes, result)


def _extremum_rule(largest: bool, first_only: bool = False) -> Rule:
    """amax/amin/max/min: the derivatives of the maximal elements (their mean
    at ties, as autograd for amax and max(); the first one for max.dim, the
    element its index names). Its indices are refused if used (integer)."""

    def lower(ctx: LoweringContext, node: torch.fx.Node) -> Any:
        x = ctx.tensor(node, node.args[0])
        dims = _reduction_dims(node)
        _static_dims(ctx, node, x, dims)
        value = compose.extremum(ctx.b, x, dims, largest, first_only)
        value = _reduced_result(ctx, node, value, dims)
        return [value, None] if first_only else value

    return lower


RULES[aten.amax.default] = RULES[aten.max.default] = _extremum_rule(True)
RULES[aten.amin.default] = RULES[aten.min.default] = _extremum_rule(False)
RULES[aten.max.dim] = _extremum_rule(True, first_only=True)
RULES[aten.min.dim] = _extremum_rule(False, first_only=True)
_FULL_REDUCTIONS = (aten.max.default, aten.min.default, aten.prod.default)


@rule(aten.prod.dim_int, aten.prod.default)
def _prod(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """A tree of products (exact Taylor products, zeros included); torch's
    decomposition is prims.prod."""
    x = ctx.tensor(node, node.args[0])
    dims = _reduction_dims(node)
    _static_dims(ctx, node, x, dims)
    kept = compose.product(ctx.b, x, dims)
    sizes = [1 if i in dims else s for i, s in enumerate(node_sizes(node.args[0]))]
    return ctx.reshape(node, kept, sizes, ctx.result_sizes(node))


@rule(aten.cumsum.default, aten.cumprod.default)
def _cumulative(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """Prefix sums (a linear map) or products (exact Taylor products, zeros
    included) in log2(n) levels; torch decomposes cumsum into a masked
    prims.sum over an n x n copy, cumprod into prims.prod."""
    x = ctx.tensor(node, node.args[0])
    dim = _dim(node.args[1], len(shape_of(x)))
    _static_dims(ctx, node, x, [dim])
    if node.target is aten.cumprod.default:
        return compose.prefix_scan(ctx.b, x, dim, ctx.b.mul, 1.0)
    return compose.prefix_sum(ctx.b, x, dim)


@rule(aten.var.correction, aten.var_mean.correction)
def _var(ctx: LoweringContext, node: torch.fx.Node) -> Any:
    """sum((x - mean)^2) / (n - correction), two passes as torch (whose
    decomposition is prims.var); var_mean also returns the mean."""
    b = ctx.b
    source = node.args[0]
    x = ctx.tensor(node, source)
    dims = _reduction_dims(node)
    count = math.prod(node_sizes(source)[d] for d in dims)  # not the batch (rows.py)
    mean = b.reduce_sum(x, dims)
    mean = b.div(mean, b.full_like(mean, float(count)))
    deviation = b.sub(x, b.broadcast(mean, b.dims(x), dims))
    squares = b.reduce_sum(b.mul(deviation, deviation), dims)
    correction = node.kwargs.get("correction")
    correction = 1 if correction is None else correction
    var = b.div(squares, b.full_like(squares, float(count - correction)))
    if node.target is aten.var.correction:
        return _reduced_result(ctx, node, var, dims)
    sizes = [s for i, s in enumerate(node_sizes(source)) if i not in dims]
    kept = list(node.meta["val"][0].shape)
    return [
        ctx.reshape(node, v, sizes, kept) if sizes != kept else v for v in (var, mean)
    ]


@rule(aten.any.dim, aten.any.dims, aten.any.default)
def _any(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """Some element is true (nonzero): the count of true ones is not 0."""
    b = ctx.b
    source = node.args[0]
    value = ctx.tensor(node, source)
    dims = _reduction_dims(node)
    if source.meta["val"].dtype != torch.bool:
        value = _nonzero(ctx, value)
    ones = b.fill(1.0, b.dims(value), ctx.element)
    count = b.reduce_sum(b.select(value, ones, b.full_like(ones, 0.0)), dims)
    return _reduced_result(ctx, node, _nonzero(ctx, count), dims)


# ------------------------------------------------------------ layers


@rule(aten._native_batch_norm_legit_no_training.default)
def _batch_norm(ctx: LoweringContext, node: torch.fx.Node) -> list[Any]:
    """Eval-mode batch norm, affine per channel (dimension 1) as torch
    computes it: x * a + (bias - mean * a) with a = weight / sqrt(var + eps).
    (torch decomposes it into the mutating _native_batch_norm_legit.) The
    saved mean and inverse deviation (empty in eval mode) are not used."""
    b = ctx.b
    x, weight, bias, mean, var, _, eps = node.args[:7]
    rank, channels = x.meta["val"].dim(), node_sizes(x)[1]
    mean, var = ctx.tensor(node, mean), ctx.tensor(node, var)
    scale = b.div(
        b.full_like(var, 1.0), b.unary("sqrt", b.add(var, b.full_like(var, eps)))
    )
    if weight is not None:
        scale = b.mul(scale, ctx.tensor(node, weight))
    shift = b.neg(b.mul(mean, scale))
    if bias is not None:
        shift = b.add(ctx.tensor(node, bias), shift)
    value = ctx.tensor(node, x)
    sizes = [channels] + [1] * (rank - 2)
    scale, shift = (
        ctx.broadcast_to(ctx.reshape(node, v, [channels], sizes), b.dims(value))
        for v in (scale, shift)
    )
    y = b.add(b.mul(value, scale), shift)
    return [y, None, None]


@rule(aten.constant_pad_nd.default, aten._pad_circular.default)
def _pad(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """Fills (constant) or x's own far ends (circular) concatenated before and
    after: torch's decompositions write into a new tensor with copy_. Pads
    come last dimension first."""
    x = ctx.tensor(node, node.args[0])
    pads = node.args[1]
    if node.target is aten._pad_circular.default:
        pad_along = compose.pad_circular
    else:
        value = float(node_arg(node, 2, "value", 0.0))
        pad_along = functools.partial(compose.pad, value=value)
    rank = len(shape_of(x))
    for i in range(len(pads) // 2):
        dim, (before, after) = rank - 1 - i, pads[2 * i : 2 * i + 2]
        if shape_of(x)[dim] == DYNAMIC and (before or after):
            raise ctx.unsupported(node, "padding a dimension of dynamic size")
        x = pad_along(ctx.b, x, dim, before, after)
    return x


@rule(aten.flip.default)
def _flip(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """The slices in reverse order (torch's decomposition is prims.rev)."""
    x = ctx.tensor(node, node.args[0])
    rank = len(shape_of(x))
    for dim in sorted({_dim(d, rank) for d in node.args[1]}):
        _static_dims(ctx, node, x, [dim])
        x = _take(ctx, node, x, dim, list(range(shape_of(x)[dim] - 1, -1, -1)))
    return x


def _spatial(value: Sequence[int], count: int) -> list[int]:
    return list(value) * (count if len(value) == 1 else 1)


@rule(aten.convolution.default)
def _convolution(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """conv1d/2d/3d, any stride, padding, dilation and groups: linear in the
    input (zero padding concatenated, then im2col and one matmul per group,
    `compositions.convolution`); torch has no decomposition of it."""
    b = ctx.b
    x, weight, bias, stride, padding, dilation, transposed, _, groups = node.args
    if transposed:
        return _transposed_convolution(ctx, node)
    value = ctx.tensor(node, x)
    count = len(shape_of(value)) - 2
    if any(s == DYNAMIC for s in shape_of(value)[1:]):
        raise ctx.unsupported(node, "a convolution of a dynamic-sized image")
    for i, p in enumerate(_spatial(padding, count)):
        value = compose.pad(b, value, 2 + i, p, p, 0.0)
    out = ctx.result_sizes(node)[2:]
    y = compose.convolution(
        b,
        value,
        ctx.tensor(node, weight),
        _spatial(stride, count),
        _spatial(dilation, count),
        groups,
        out,
    )
    if bias is not None:
        sizes = [ctx.result_sizes(node)[1]] + [1] * count
        bias_value = ctx.reshape(node, ctx.tensor(node, bias), sizes[:1], sizes)
        y = b.add(y, ctx.broadcast_to(bias_value, b.dims(y)))
    return y


def _pool_geometry(node: torch.fx.Node) -> tuple[list[int], list[int], list[int]]:
    """kernel, stride, padding of a 2-D pooling op (stride defaults to kernel)."""
    kernel = _spatial(node.args[1], 2)
    stride = _spatial(node_arg(node, 2, "stride", []) or kernel, 2)
    padding = _spatial(node_arg(node, 3, "padding", [0]), 2)
    return kernel, stride, padding


def _padded_for(
    ctx: LoweringContext,
    x: SSAValue,
    kernel: list[int],
    stride: list[int],
    padding: list[int],
    out: list[int],
    dilation: list[int],
    value: float,
) -> SSAValue:
    """x padded by `padding` and, for ceil_mode's last window, on the right."""
    rank = len(shape_of(x))
    for i in range(2):
        dim = rank - 2 + i
        needed = (out[i] - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1
        after = needed - shape_of(x)[dim] - padding[i]
        x = compose.pad(ctx.b, x, dim, padding[i], max(after, padding[i]), value)
    return x


@rule(aten.avg_pool2d.default)
def _avg_pool(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """The sum of the windows' slices over torch's divisor per position (a
    linear map; count_include_pad, ceil_mode and divisor_override as torch)."""
    b = ctx.b
    x = ctx.tensor(node, node.args[0])
    kernel, stride, padding = _pool_geometry(node)
    include_pad = node_arg(node, 5, "count_include_pad", True)
    override = node_arg(node, 6, "divisor_override")
    out = ctx.result_sizes(node)[-2:]
    size = shape_of(x)[-2:]
    padded = _padded_for(ctx, x, kernel, stride, padding, out, [1, 1], 0.0)
    pieces = compose.windows(b, padded, kernel, stride, [1, 1], out)
    total = pieces[0]
    for piece in pieces[1:]:
        total = b.add(total, piece)
    divisor = _avg_divisors(size, kernel, stride, padding, out, include_pad, override)
    return b.div(
        total, ctx.broadcast_to(b.constant(divisor, ctx.element), b.dims(total))
    )


def _avg_divisors(size, kernel, stride, padding, out, include_pad, override):
    """torch's divisor of each output position of avg_pool2d (its CPU kernel)."""
    divisors = np.zeros(out)
    for oh in range(out[0]):
        for ow in range(out[1]):
            bounds = []
            for o, i in ((oh, 0), (ow, 1)):
                start = o * stride[i] - padding[i]
                end = min(start + kernel[i], size[i] + padding[i])
                bounds.append((start, end, end - start))
            pool = bounds[0][2] * bounds[1][2]
            valid = math.prod(
                min(end, size[i]) - max(start, 0)
                for i, (start, end, _) in enumerate(bounds)
            )
            divisors[oh, ow] = override or (pool if include_pad else valid)
    return divisors


@rule(aten.max_pool2d_with_indices.default)
def _max_pool(ctx: LoweringContext, node: torch.fx.Node) -> list[Any]:
    """The first maximal element of each window (strictly larger ones replace
    it, NaN wins), as torch's kernel picks the index autograd uses; padding
    is -inf. The indices are refused if used (integer). torch's decomposition
    gathers with several index tensors at once."""
    b = ctx.b
    x = ctx.tensor(node, node.args[0])
    kernel, stride, padding = _pool_geometry(node)
    dilation = _spatial(node_arg(node, 4, "dilation", [1]), 2)
    out = list(node.meta["val"][0].shape[-2:])
    padded = _padded_for(ctx, x, kernel, stride, padding, out, dilation, -math.inf)
    pieces = compose.windows(b, padded, kernel, stride, dilation, out)
    best = pieces[0]
    for piece in pieces[1:]:
        plain = b.stop_gradient(piece)
        wins = compose.logical_or(
            b,
            b.cmpf("ogt", plain, b.stop_gradient(best)),
            b.cmpf("une", plain, plain),
        )
        best = b.select(wins, piece, best)
    return [best, None]


# ------------------------------------------------------------ creations II


@rule(aten.arange.start_step)
def _arange(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """An arange of constant bounds is evaluated at import (importer.py); one
    whose bounds come from the batch size would be a different constant per
    batch."""
    raise ctx.unsupported(
        node,
        "an arange whose length depends on the batch size (a per-row index, or "
        "torch.roll or indexing along the batch, which mix rows): the program "
        "serves every batch size, and each datum's result may depend on its own "
        "row only",
    )


@rule(aten.heaviside.default)
def _heaviside(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`values` where x == 0, else 1 where x > 0, else 0 (NaN too), as torch's
    kernel. (Its torch decomposition computes the step in int64.)"""
    b = ctx.b
    x, values = (ctx.operand(node, arg) for arg in node.args[:2])
    step = b.select(
        b.cmpf("ogt", x, ctx.fill(node, 0.0)), ctx.fill(node, 1.0), ctx.fill(node, 0.0)
    )
    return b.select(b.cmpf("oeq", x, ctx.fill(node, 0.0)), values, step)


@rule(aten.native_group_norm.default)
def _group_norm(ctx: LoweringContext, node: torch.fx.Node) -> list[Any]:
    """(x - mean) / sqrt(var + eps) over each group of channels (and all
    positions), then weight and bias per channel. (torch's decomposition views
    x through as_strided.)"""
    b = ctx.b
    x, weight, bias, _, channels, _, groups, eps = node.args
    sizes = node_sizes(x)
    per_group = math.prod(sizes[2:]) * (channels // groups)
    grouped = [sizes[0], groups, per_group]
    g = ctx.reshape(node, ctx.tensor(node, x), sizes, grouped)
    mean = b.reduce_sum(g, [2])
    mean = b.div(mean, b.full_like(mean, float(per_group)))
    deviation = b.sub(g, b.broadcast(mean, b.dims(g), [2]))
    var = b.reduce_sum(b.mul(deviation, deviation), [2])
    var = b.div(var, b.full_like(var, float(per_group)))
    inverse = b.div(
        b.full_like(var, 1.0), b.unary("sqrt", b.add(var, b.full_like(var, eps)))
    )
    normalized = b.mul(deviation, b.broadcast(inverse, b.dims(g), [2]))
    y = ctx.reshape(node, normalized, grouped, sizes)
    per_channel = [channels] + [1] * (len(sizes) - 2)
    for arg, combine in ((weight, b.mul), (bias, b.add)):
        if arg is not None:
            v = ctx.reshape(node, ctx.tensor(node, arg), [channels], per_channel)
            y = combine(y, ctx.broadcast_to(v, b.dims(y)))
    return [y, None, None]


@rule(aten.diagonal.default)
def _diagonal(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """The two dims moved last and flattened, then a slice with step m + 1:
    linear, no gather. The diagonal is the last dim of the result, as torch's."""
    b = ctx.b
    x = ctx.tensor(node, node.args[0])
    rank = len(shape_of(x))
    offset = node_arg(node, 1, "offset", 0)
    first, second = (_dim(node_arg(node, i, n, d), rank) for i, n, d in _DIAGONAL)
    _static_dims(ctx, node, x, [first, second])
    rest = [d for d in range(rank) if d not in (first, second)]
    order = [*rest, first, second]
    if order != list(range(rank)):
        x = b.transpose(x, order)
    m = shape_of(x)[-1]
    flat = b.collapse(x, [[i] for i in range(len(rest))] + [[len(rest), len(rest) + 1]])
    start = offset if offset >= 0 else -offset * m
    length = ctx.result_sizes(node)[-1]
    return compose.slice_along(b, flat, len(rest), start, length, m + 1)


_DIAGONAL = ((2, "dim1", 0), (3, "dim2", 1))


# ------------------------------------------------------------ sorting and scans
# torch has no decompositions of sort, topk, cummax/cummin, logcumsumexp or
# cdist; those of fmod, remainder, hypot and unfold are prims (prims.fmod,
# prims.hypot) or as_strided, which have no tensor-level op. So each has a
# rule composing existing ops (compositions.py). Their integer results
# (indices) carry no jet: a rule returns None for them, and the importer
# refuses a program that uses them (integers are constant indices only).


def _sorted_dim(ctx: LoweringContext, node: torch.fx.Node, x: SSAValue, dim: int):
    """The dimension sorted, scanned or unfolded, which must have a static
    size (the ops are unrolled over it)."""
    dim = _dim(dim, len(shape_of(x)))
    _static_dims(ctx, node, x, [dim])
    return dim


def _sort_size(ctx: LoweringContext, node: torch.fx.Node, x: SSAValue, dim: int):
    """Sorting takes n^2 comparisons per datum: at most `MAX_SORTED`."""
    n = shape_of(x)[dim]
    if n > compose.MAX_SORTED:
        raise ctx.unsupported(
            node,
            f"sorting {n} elements: ranks are counted from an n x n matrix of "
            f"comparisons per datum, so at most {compose.MAX_SORTED} elements are "
            "sorted; sort a smaller dimension (or fewer elements at a time)",
        )


@rule(aten.sort.default, aten.sort.stable)
def _sort(ctx: LoweringContext, node: torch.fx.Node) -> list[Any]:
    """The values in torch's stable order (the CPU sort is stable in both
    directions, NaN last ascending, first descending), each with the jet of
    the element torch's index names. The indices (argsort) are not
    computed: a program using them is refused (integer results)."""
    x = ctx.tensor(node, node.args[0])
    if node.target is aten.sort.stable:  # sort(x, *, stable, dim, descending)
        dim = node.kwargs.get("dim", -1)
        descending = node.kwargs.get("descending", False)
    else:
        dim, descending = (
            node_arg(node, 1, "dim", -1),
            node_arg(node, 2, "descending", False),
        )
    dim = _sorted_dim(ctx, node, x, dim)
    _sort_size(ctx, node, x, dim)
    n = shape_of(x)[dim]
    return [compose.sorted_values(ctx.b, x, dim, descending, n), None]


@rule(aten.topk.default)
def _topk(ctx: LoweringContext, node: torch.fx.Node) -> list[Any]:
    """The first k values of the stable sort (largest first, or smallest):
    torch's values; at ties the jets are those of the earliest tied elements
    (torch's CPU topk picks among ties in an unspecified order)."""
    x = ctx.tensor(node, node.args[0])
    k = node.args[1]
    dim = _sorted_dim(ctx, node, x, node_arg(node, 2, "dim", -1))
    largest = node_arg(node, 3, "largest", True)
    if not node_arg(node, 4, "sorted", True):
        raise ctx.unsupported(
            node,
            "topk(sorted=False), whose order torch leaves unspecified: use "
            "sorted=True (the default)",
        )
    _sort_size(ctx, node, x, dim)
    return [compose.sorted_values(ctx.b, x, dim, largest, k), None]


def _running_extremum_rule(largest: bool) -> Rule:
    def lower(ctx: LoweringContext, node: torch.fx.Node) -> list[Any]:
        """cummax/cummin: a prefix scan of selects (log2(n) levels); ties
        and NaNs take the latest element, as torch's indices."""
        x = ctx.tensor(node, node.args[0])
        dim = _sorted_dim(ctx, node, x, node.args[1])
        return [compose.running_extremum(ctx.b, x, dim, largest), None]

    return lower


RULES[aten.cummax.default] = _running_extremum_rule(True)
RULES[aten.cummin.default] = _running_extremum_rule(False)


@rule(aten.logcumsumexp.default)
def _logcumsumexp(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """A prefix scan of log-add-exp (log2(n) levels), the larger term first."""
    x = ctx.tensor(node, node.args[0])
    dim = _sorted_dim(ctx, node, x, node.args[1])
    return compose.log_cumsum_exp(ctx.b, x, dim)


def _remainder_rule(floored: bool) -> Rule:
    def lower(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
        """fmod / remainder: x - q y with the integer q from the primal (the
        derivatives 1 and -q, as autograd's)."""
        x, y = (ctx.operand(node, arg) for arg in node.args[:2])
        return compose.remainder(ctx.b, x, y, floored)

    return lower


RULES[aten.fmod.Tensor] = RULES[aten.fmod.Scalar] = _remainder_rule(False)
for _overload in ("Tensor", "Scalar", "Scalar_Tensor"):
    RULES[getattr(aten.remainder, _overload)] = _remainder_rule(True)


@rule(aten.hypot.default)
def _hypot(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    x, y = (ctx.operand(node, arg) for arg in node.args[:2])
    return compose.hypot(ctx.b, x, y)


@rule(aten._cdist_forward.default)
def _cdist(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """torch.cdist, any p >= 0: the differences of every pair of points and
    their p-norm (compositions.pairwise_distances; the same for every
    compute_mode, whose matmul form torch uses for speed only). The batch
    dimensions broadcast as torch's."""
    x1, x2, p = node.args[:3]
    result = ctx.result_sizes(node)
    values = []
    for arg, points in ((x1, result[-2]), (x2, result[-1])):
        sizes = node_sizes(arg)
        value = ctx.tensor(node, arg)
        if len(sizes) < len(result):
            sizes, value = (
                [1] * (len(result) - len(sizes)) + sizes,
                ctx.reshape(
                    node, value, sizes, [1] * (len(result) - len(sizes)) + sizes
                ),
            )
        target = ctx.dims(node, [*result[:-2], points, sizes[-1]])
        values.append(ctx.broadcast_to(value, target))
    if shape_of(values[0])[-1] == DYNAMIC:
        raise ctx.unsupported(node, "distances between points of a dynamic dimension")
    return compose.pairwise_distances(ctx.b, values[0], values[1], float(p))


@rule(aten.unfold.default)
def _unfold(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """Tensor.unfold: a strided slice per offset in the window, concatenated
    along the new last dimension (torch's decomposition is as_strided)."""
    x = ctx.tensor(node, node.args[0])
    dim = _sorted_dim(ctx, node, x, node.args[1])
    size, step = node.args[2], node.args[3]
    count = ctx.result_sizes(node)[dim]
    return compose.unfold(ctx.b, x, dim, size, step, count)


def _transposed_convolution(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """conv_transpose1d/2d/3d, any stride, padding, output_padding, groups
    and dilation: the input dilated by the stride and padded, convolved with
    the flipped, transposed weight (compositions.transposed_convolution)."""
    b = ctx.b
    x, weight, bias, stride, padding, dilation, _, output_padding, groups = node.args
    value = ctx.tensor(node, x)
    count = len(shape_of(value)) - 2
    if any(s == DYNAMIC for s in shape_of(value)[1:]):
        raise ctx.unsupported(node, "a convolution of a dynamic-sized image")
    y = compose.transposed_convolution(
        b,
        value,
        ctx.tensor(node, weight),
        _spatial(stride, count),
        _spatial(padding, count),
        _spatial(output_padding, count),
        _spatial(dilation, count),
        groups,
        ctx.result_sizes(node)[2:],
    )
    if bias is not None:
        sizes = [ctx.result_sizes(node)[1]] + [1] * count
        bias_value = ctx.reshape(node, ctx.tensor(node, bias), sizes[:1], sizes)
        y = b.add(y, ctx.broadcast_to(bias_value, b.dims(y)))
    return y


RULES.update(LINALG_RULES)  # det, slogdet, inv, solve (aten_linalg.py)
RULES.update(SCATTER_RULES)  # index_put, scatter, gather (aten_scatter.py)

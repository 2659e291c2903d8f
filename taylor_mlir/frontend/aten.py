"""
Core ATen ops as tensor-level IR: one rule per op (the table `RULES`).

A rule gets the `GraphImporter` and the FX node, and returns the node's value
(a list for ops with several results), emitting IR through `imp.b`, a
`TensorBuilder`. Result shapes come from the node's metadata (`imp.result_dims`),
so rules never recompute torch's shape logic; row interaction is checked before
a rule runs (`rows.py`).

Adding an op: write its rule here, its row-layout rule in `rows.py` if it is not
elementwise, and a test in tests/test_frontend.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.fx
from xdsl.ir import SSAValue

from taylor_mlir.dialects.elementwise import ELEMENTWISE_FUNCTIONS
from taylor_mlir.dialects.taylor import StopGradientOp
from taylor_mlir.frontend.export import STOP_GRADIENT
from taylor_mlir.frontend.sizes import monomial
from taylor_mlir.tensor_ir import DYNAMIC, shape_of

if TYPE_CHECKING:
    from taylor_mlir.frontend.importer import GraphImporter

aten = torch.ops.aten

Rule = Callable[["GraphImporter", torch.fx.Node], Any]
RULES: dict[Any, Rule] = {}


def rule(*targets: Any):
    def register(function: Rule) -> Rule:
        for target in targets:
            RULES[target] = function
        return function

    return register


def _arg(node: torch.fx.Node, index: int, name: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _dim(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


def _sizes(arg: torch.fx.Node) -> list[Any]:
    return list(arg.meta["val"].shape)


# ------------------------------------------------------------------ copies


@rule(aten.clone.default, aten.alias.default)
def _identity(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """Copies are values: the same SSA value. So is an alias (`x[...]`): the
    alias `x.detach()` becomes is marked `STOP_GRADIENT` before (export.py)."""
    return imp.tensor(node, node.args[0])


@rule(STOP_GRADIENT)
def _stop_gradient(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """`x.detach()`, or a result of a `torch.no_grad()` region: a constant for
    differentiation."""
    return imp.b.insert(StopGradientOp(imp.tensor(node, node.args[0]))).results[0]


@rule(aten._to_copy.default)
def _to_copy(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """A copy into the program's dtype (other float dtypes were refused): the
    value itself, or 0/1 for a boolean tensor; into bool: `!= 0`."""
    value = imp.operand(node, node.args[0])
    if node.meta["val"].dtype == torch.bool:
        return _nonzero(imp, value)
    return value


# ------------------------------------------------------------- elementwise


def _binary(combine: Callable[[GraphImporter, SSAValue, SSAValue], SSAValue]) -> Rule:
    def lower(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
        a = imp.operand(node, node.args[0])
        b = imp.operand(node, node.args[1])
        return combine(imp, a, b)

    return lower


def _nonzero(imp: GraphImporter, value: SSAValue) -> SSAValue:
    """`value != 0`, torch's conversion to bool (NaN is true)."""
    return imp.b.cmpf("une", value, imp.b.full_like(value, 0.0))


def _boolean_result(lower: Rule) -> Rule:
    """Arithmetic computes on booleans as 0 and 1; a boolean result is that
    value converted back, as in torch: `a * b` is `a and b`, `a + b` `a or b`."""

    def cast(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
        value = lower(imp, node)
        return _nonzero(imp, value) if node.meta["val"].dtype == torch.bool else value

    return cast


def _with_alpha(imp: GraphImporter, node: torch.fx.Node, b: SSAValue) -> SSAValue:
    alpha = _arg(node, 2, "alpha", 1)
    return b if alpha == 1 else imp.b.mul(b, imp.fill(node, float(alpha)))


@rule(aten.add.Tensor, aten.add.Scalar)
@_boolean_result
def _add(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    a, b = imp.operand(node, node.args[0]), imp.operand(node, node.args[1])
    return imp.b.add(a, _with_alpha(imp, node, b))


@rule(aten.sub.Tensor, aten.sub.Scalar)
def _sub(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    a, b = imp.operand(node, node.args[0]), imp.operand(node, node.args[1])
    return imp.b.sub(a, _with_alpha(imp, node, b))


_mul = _boolean_result(_binary(lambda i, a, b: i.b.mul(a, b)))
RULES[aten.mul.Tensor] = RULES[aten.mul.Scalar] = _mul
RULES[aten.div.Tensor] = RULES[aten.div.Scalar] = _binary(lambda i, a, b: i.b.div(a, b))
_maximum = _boolean_result(_binary(lambda i, a, b: i.b.maximum(a, b)))  # or
_minimum = _boolean_result(_binary(lambda i, a, b: i.b.minimum(a, b)))  # and
RULES[aten.maximum.default], RULES[aten.minimum.default] = _maximum, _minimum

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


def _truth(imp: GraphImporter, node: torch.fx.Node, arg: Any) -> SSAValue:
    """`arg` as 0 or 1 (nonzero is true), broadcast to the result."""
    value = imp.operand(node, arg)
    if isinstance(arg, torch.fx.Node) and arg.meta["val"].dtype == torch.bool:
        return value  # already 0 or 1
    return imp.b.select(_nonzero(imp, value), imp.fill(node, 1.0), imp.fill(node, 0.0))


def _logic(combine: Callable[[Any, SSAValue, SSAValue], SSAValue]) -> Rule:
    """`and`, `or`, `xor` of truth values: their product, sum, difference != 0."""

    def lower(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
        a, b = (_truth(imp, node, arg) for arg in node.args[:2])
        return _nonzero(imp, combine(imp.b, a, b))

    return lower


for _name, _combine in (("and", "mul"), ("or", "add"), ("xor", "sub")):
    _rule = _logic(lambda b, x, y, c=_combine: getattr(b, c)(x, y))
    RULES[getattr(aten, f"logical_{_name}").default] = _rule
    RULES[getattr(aten, f"bitwise_{_name}").Tensor] = _rule  # on booleans


@rule(aten.logical_not.default, aten.bitwise_not.default)
def _not(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """`x == 0` (NaN is true, so not NaN is false)."""
    return imp.b.cmpf("oeq", imp.operand(node, node.args[0]), imp.fill(node, 0.0))


@rule(aten.where.self)
def _where(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    condition = imp.condition(node, node.args[0])
    a, b = (imp.operand(node, arg) for arg in node.args[1:])
    return imp.b.select(condition, a, b)


def _unary(emit: Callable[[GraphImporter, SSAValue], SSAValue]) -> Rule:
    def lower(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
        return emit(imp, imp.tensor(node, node.args[0]))

    return lower


for _function in ELEMENTWISE_FUNCTIONS.values():  # tanh, sigmoid, reciprocal, ...
    if _function.aten is not None:
        RULES[getattr(aten, _function.aten).default] = _unary(
            lambda i, x, f=_function: f.primal(i.ops, x)
        )
RULES[aten.neg.default] = _unary(lambda i, x: i.b.neg(x))


@rule(aten.abs.default)
def _abs(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """|x| = x where x >= 0, else -x (piecewise, like `where`)."""
    x = imp.tensor(node, node.args[0])
    nonnegative = imp.b.cmpf("oge", x, imp.b.full_like(x, 0.0))
    return imp.b.select(nonnegative, x, imp.b.neg(x))


@rule(aten.pow.Tensor_Scalar)
def _pow(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """Integer exponents as products, 0.5 as sqrt, others as `math.powf`: the
    shape of powers every part of the compiler emits (the `pow` rule's primal)."""
    x, exponent = imp.tensor(node, node.args[0]), node.args[1]
    if not isinstance(exponent, int | float):
        raise imp.unsupported(node, "the exponent must be a number")
    return ELEMENTWISE_FUNCTIONS["pow"].primal(imp.ops, x, float(exponent))


@rule(aten.gelu.default)
def _gelu(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """x/2 (1 + erf(x/sqrt 2)), or with approximate="tanh"
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = imp.tensor(node, node.args[0])
    b = imp.b
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
def _full(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    return imp.fill(node, imp.created_value(node, node.args[1]))


@rule(aten.full_like.default)
def _full_like(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    return imp.fill(node, imp.created_value(node, node.args[1]))


@rule(aten.scalar_tensor.default)
def _scalar_tensor(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    return imp.fill(node, imp.created_value(node, node.args[0]))


# ------------------------------------------------------------ reductions


def _reduced_dims(node: torch.fx.Node) -> list[int]:
    rank = node.args[0].meta["val"].dim()
    dims = _arg(node, 1, "dim")
    if not dims:  # None or []: every dimension
        return list(range(rank))
    return sorted({_dim(d, rank) for d in dims})


def _sum_over(imp: GraphImporter, node: torch.fx.Node) -> tuple[SSAValue, int]:
    """The sum over the reduced dims, shaped like the result, and their size."""
    source = node.args[0]
    x = imp.tensor(node, source)
    dims = _reduced_dims(node)
    count = math.prod(shape_of(x)[d] for d in dims)
    summed = imp.b.reduce_sum(x, dims) if dims else x
    if _arg(node, 2, "keepdim", False):
        kept = [s for i, s in enumerate(_sizes(source)) if i not in dims]
        summed = imp.reshape(node, summed, kept, imp.result_sizes(node))
    return summed, count


@rule(aten.sum.dim_IntList)
def _sum(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    return _sum_over(imp, node)[0]


@rule(aten.mean.dim, aten.mean.default)
def _mean(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    summed, count = _sum_over(imp, node)
    return imp.b.div(summed, imp.fill(node, float(count)))


# ------------------------------------------------------------ matmuls


@rule(aten.mm.default)
def _mm(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    a, b = (imp.tensor(node, arg) for arg in node.args[:2])
    return imp.b.matmul(a, b)


@rule(aten.addmm.default)
def _addmm(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """beta * bias + alpha * (a @ b)."""
    a, b = (imp.tensor(node, arg) for arg in node.args[1:3])
    product = imp.b.matmul(a, b)
    alpha, beta = node.kwargs.get("alpha", 1), node.kwargs.get("beta", 1)
    if alpha != 1:
        product = imp.b.mul(product, imp.fill(node, float(alpha)))
    bias = imp.operand(node, node.args[0])
    if beta != 1:
        bias = imp.b.mul(bias, imp.fill(node, float(beta)))
    return imp.b.add(product, bias)


@rule(aten.bmm.default)
def _bmm(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """A side that is one matrix expanded over the batch (`W @ x[n]`, `x[n] @ W`)
    is used unexpanded, so the product is one GEMM (TensorBuilder.batch_matmul)."""
    a, b = node.args[:2]
    shared_a, shared_b = _shared_matrix(imp, node, a), _shared_matrix(imp, node, b)
    if shared_b is not None:
        return imp.b.batch_matmul(imp.tensor(node, a), shared_b)
    if shared_a is not None:
        return imp.b.batch_matmul(shared_a, imp.tensor(node, b))
    return imp.b.batch_matmul(imp.tensor(node, a), imp.tensor(node, b))


_SAME_SHAPE_VIEWS = (aten.view.default,)


def _shared_matrix(
    imp: GraphImporter, node: torch.fx.Node, arg: torch.fx.Node
) -> SSAValue | None:
    """The 2-D matrix M when `arg` is `expand(M)` (through no-op views), else None."""
    while arg.target in _SAME_SHAPE_VIEWS and _sizes(arg) == _sizes(arg.args[0]):
        arg = arg.args[0]
    if arg.target is not aten.expand.default:
        return None
    source = arg.args[0]
    sizes = _sizes(source)
    if any(isinstance(s, torch.SymInt) for s in sizes) or len(sizes) not in (2, 3):
        return None
    if len(sizes) == 3 and sizes[0] != 1:
        return None
    matrix = imp.tensor(node, source)
    return imp.reshape(node, matrix, sizes, sizes[-2:])


# ------------------------------------------------------------ layout


@rule(aten.permute.default)
def _permute(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    x = imp.tensor(node, node.args[0])
    rank = len(shape_of(x))
    permutation = [_dim(d, rank) for d in node.args[1]]
    if permutation == list(range(rank)):
        return x
    return imp.b.transpose(x, permutation)


@rule(aten.view.default, aten.unsqueeze.default, aten.squeeze.dims)
def _reshape(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    source = node.args[0]
    x = imp.tensor(node, source)
    return imp.reshape(node, x, _sizes(source), imp.result_sizes(node))


@rule(aten.expand.default)
def _expand(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    return imp.broadcast_to(imp.tensor(node, node.args[0]), imp.result_dims(node))


@rule(aten.cat.default)
def _cat(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    tensors = [imp.tensor(node, t) for t in node.args[0]]
    dim = _dim(_arg(node, 1, "dim", 0), node.meta["val"].dim())
    if any(len(shape_of(t)) != node.meta["val"].dim() for t in tensors):
        raise imp.unsupported(node, "concatenating tensors of different ranks")
    if len(tensors) == 1:
        return tensors[0]
    return imp.b.concat(tensors, dim)


def _slice_along(
    imp: GraphImporter,
    node: torch.fx.Node,
    x: SSAValue,
    dim: int,
    start: int,
    size: int,
    step: int,
) -> SSAValue:
    """`tensor.extract_slice` of `size` elements along `dim` (all of the others)."""
    rank = len(shape_of(x))
    offsets = [start if d == dim else 0 for d in range(rank)]
    sizes = [size if d == dim else imp.b.dim(x, d) for d in range(rank)]
    strides = [step if d == dim else 1 for d in range(rank)]
    return imp.b.extract_slice(x, offsets, sizes, strides)


@rule(aten.slice.Tensor)
def _slice(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    source = node.args[0]
    x = imp.tensor(node, source)
    dim = _dim(_arg(node, 1, "dim", 0), len(shape_of(x)))
    size_in, size_out = _sizes(source)[dim], imp.result_sizes(node)[dim]
    if monomial(size_in) == monomial(size_out):
        return x  # the whole dimension (also how `x[:, 1]` slices the batch)
    start, step = _arg(node, 2, "start"), _arg(node, 4, "step", 1)
    if not isinstance(start, int | None) or not isinstance(step, int):
        raise imp.unsupported(node, "slice bounds must be integers")
    start, _, step = slice(start, _arg(node, 3, "end"), step).indices(size_in)
    return _slice_along(imp, node, x, dim, start, size_out, step)


@rule(aten.select.int)
def _select(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    source = node.args[0]
    x = imp.tensor(node, source)
    rank = len(shape_of(x))
    dim, index = _dim(node.args[1], rank), node.args[2]
    index = index + shape_of(x)[dim] if index < 0 else index
    row = _slice_along(imp, node, x, dim, index, 1, 1)
    sizes = _sizes(source)
    sizes[dim] = 1
    return imp.reshape(node, row, sizes, imp.result_sizes(node))


@rule(aten.split_with_sizes.default)
def _split(imp: GraphImporter, node: torch.fx.Node) -> list[SSAValue]:
    x = imp.tensor(node, node.args[0])
    dim = _dim(_arg(node, 2, "dim", 0), len(shape_of(x)))
    pieces, start = [], 0
    for piece in node.meta["val"]:
        size = piece.shape[dim]
        if monomial(size) == monomial(_sizes(node.args[0])[dim]):
            pieces.append(x)
        else:
            pieces.append(_slice_along(imp, node, x, dim, start, size, 1))
        start += size
    return pieces


# ------------------------------------------------------------ indexing

INDEX_ARGUMENTS: dict[Any, Callable[[torch.fx.Node], list[Any]]] = {
    aten.index.Tensor: lambda node: [i for i in node.args[1] if i is not None],
    aten.index_select.default: lambda node: [node.args[2]],
}
"""The index tensors of each indexing op: the importer checks that there is
one, a constant integer tensor (`GraphImporter.index`)."""


@rule(aten.index.Tensor)
def _index(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    """`x[:, [2, 0, 1]]`: one dimension indexed by a constant."""
    indices = node.args[1]
    (dim,) = [d for d, index in enumerate(indices) if index is not None]
    return _gather(imp, node, dim, indices[dim])


@rule(aten.index_select.default)
def _index_select(imp: GraphImporter, node: torch.fx.Node) -> SSAValue:
    rank = node.args[0].meta["val"].dim()
    return _gather(imp, node, _dim(node.args[1], rank), node.args[2])


def _gather(imp: GraphImporter, node: torch.fx.Node, dim: int, index: Any) -> SSAValue:
    """The slices of x along `dim` at the constant indices, concatenated (a run
    of consecutive indices is one slice), then `dim` shaped like the index.
    Slices and concatenations are linear maps every pass knows: a constant index
    needs no gather op."""
    source = node.args[0]
    x = imp.tensor(node, source)
    size = shape_of(x)[dim]
    if size == DYNAMIC:
        raise imp.unsupported(node, "indexing a dimension of dynamic size")
    positions = imp.index(node, index).reshape(-1).tolist()
    if not positions:
        raise imp.unsupported(node, "an empty list of indices")
    outside = [i for i in positions if not -size <= i < size]
    if outside:
        raise imp.unsupported(
            node,
            f"index {outside[0]} is out of range for dimension {dim} of size {size}",
        )
    pieces = [
        x if length == size else _slice_along(imp, node, x, dim, start, length, 1)
        for start, length in _runs([i % size for i in positions])
    ]
    gathered = pieces[0] if len(pieces) == 1 else imp.b.concat(pieces, dim)
    sizes = _sizes(source)
    sizes[dim] = len(positions)
    return imp.reshape(node, gathered, sizes, imp.result_sizes(node))


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Consecutive indices as (start, length): [2, 3, 0] -> [(2, 2), (0, 1)]."""
    runs: list[tuple[int, int]] = []
    for i in positions:
        if runs and sum(runs[-1]) == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs

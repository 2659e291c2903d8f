"""
Writes at constant positions: `aten.index_put` (`y[:, idx] = v`, index_add,
index_copy; bool masks too), `scatter` / `scatter_add` / `scatter_reduce`
(sum, prod, mean, amax, amin), `slice_scatter` / `copy` (a functionalized
in-place slice assignment; torch decomposes select_scatter into a where),
`masked_scatter`, and the reads `gather` (take_along_dim) and gather at an
argmax/argmin (index_rows.py).

All are linear in the tensor and the values written (amax/amin piecewise), so
every rule is a composition (scatter.py): each row of the data is flattened,
the positions written are computed here by torch on a row of position
numbers (`arange(M)` indexed as the data is), and the result gathers its
candidates by slices. The batch is dimension 0 and is never indexed: indices
are the same for every row (a constant of one row, `ONE_ROW`, or of the static
batch with equal rows).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.fx
from xdsl.ir import SSAValue

from taylor_mlir.frontend import scatter as S
from taylor_mlir.frontend.compositions import (
    indicator,
    logical_and,
    logical_or,
    prefix_sum,
    tree_reduce,
)
from taylor_mlir.frontend.index_rows import GATHER_AT_EXTREMUM, ONE_ROW
from taylor_mlir.frontend.lowering import (
    LoweringContext,
    RuleTable,
    node_arg,
    node_sizes,
)
from taylor_mlir.ir.builder import DYNAMIC, shape_of

aten = torch.ops.aten

SCATTER_RULES = RuleTable()
"""The rules of this module, which aten.py adds to its `RULES`."""
rule = SCATTER_RULES.rule


def _row_sizes(ctx: LoweringContext, node: torch.fx.Node, sizes: list) -> list[int]:
    """The sizes of one row (all but dimension 0), which must be static."""
    if not sizes or any(not isinstance(s, int) for s in sizes[1:]):
        raise ctx.unsupported(
            node, f"the data must have static sizes after the batch (got {sizes})"
        )
    return list(sizes[1:])


def _positions(row: list[int]) -> torch.Tensor:
    """The flat position of every element of a row, shaped like the row."""
    return torch.arange(math.prod(row)).reshape(row)


def _constant(ctx: LoweringContext, node: torch.fx.Node, arg: Any) -> torch.Tensor:
    """A constant integer or boolean index tensor."""
    return ctx.constant(
        node,
        arg,
        "the positions written or read are computed from the input: only "
        "constant indices are supported (a list or a constant tensor, expanded "
        "to the batch with idx.expand(N, ...) if need be)",
    )


def _row_index(ctx: LoweringContext, node: torch.fx.Node, arg: Any) -> torch.Tensor:
    """The index of one row of a gather/scatter index of the data's rank:
    `ONE_ROW`'s, or the static batch's if all rows are equal."""
    index = _constant(ctx, node, arg)
    batch = node.args[0].meta["val"].shape[0]
    if arg.target is not ONE_ROW and index.shape[0] != batch:
        raise ctx.unsupported(
            node,
            f"the index has {index.shape[0]} rows but the batch has {batch}: "
            "expand the index of one row to the batch (idx.expand(N, ...))",
        )
    if not bool((index == index[:1]).all()):
        raise ctx.unsupported(
            node, "the index differs between rows of the batch: use one index per row"
        )
    return index[0]


def _flat(ctx: LoweringContext, node, value: SSAValue, sizes: list) -> SSAValue:
    return ctx.reshape(node, value, sizes, [sizes[0], math.prod(sizes[1:])])


def _write(
    ctx: LoweringContext,
    node: torch.fx.Node,
    values: SSAValue,
    values_sizes: list,
    targets: torch.Tensor,
    mode: str,
    include_self: bool = True,
) -> SSAValue:
    """The node's argument 0 with `values` (shaped `values_sizes`, the batch
    first) written at the flat row positions `targets` (shaped like a row of
    values)."""
    source = node.args[0]
    sizes = node_sizes(source)
    size = math.prod(_row_sizes(ctx, node, sizes))
    if mode == "set" and targets.unique().numel() != targets.numel():
        raise ctx.unsupported(
            node,
            "an assignment writing twice to one position (repeated indices): torch "
            "leaves which write wins undefined, and its autograd differentiates "
            "every write; use distinct indices, or index_add / scatter_add to sum",
        )
    x = _flat(ctx, node, ctx.tensor(node, source), sizes)
    if not values_sizes[1:]:
        values_sizes = [values_sizes[0], 1]
        values = ctx.reshape(node, values, [values_sizes[0]], values_sizes)
    v = _flat(ctx, node, values, values_sizes)
    flat = S.scatter_rows(
        ctx.b,
        x,
        v,
        size,
        targets.reshape(-1).tolist(),
        mode,
        include_self,
    )
    return ctx.reshape(node, flat, [sizes[0], size], sizes)


def _values(
    ctx: LoweringContext, node: torch.fx.Node, arg: Any, sizes: list
) -> SSAValue:
    """A tensor or number argument broadcast to `sizes` (the batch first)."""
    dims = ctx.dims(node, sizes)
    if isinstance(arg, bool | int | float):
        return ctx.b.fill(float(arg), dims, ctx.element)
    return ctx.broadcast_to(ctx.tensor(node, arg), dims)


# ------------------------------------------------------------------ index_put


@rule(aten.index_put.default)
def _index_put(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`y[:, idx] = v` (distinct indices) and index_add / index_put with
    `accumulate` (repeated indices add up); bool masks select positions as in
    torch."""
    source, indices, values = node.args[:3]
    accumulate = node_arg(node, 3, "accumulate", False)
    sizes = node_sizes(source)
    if not indices or indices[0] is not None:
        raise ctx.unsupported(
            node,
            "writing to rows of the batch chosen by an index: index the batch "
            "with `:` (y[:, idx] = v) or torch.arange(N)",
        )
    row = [slice(None) if i is None else _constant(ctx, node, i) for i in indices[1:]]
    present = [d for d, i in enumerate(indices[1:]) if i is not None]
    if present and present != list(range(present[0], present[-1] + 1)):
        raise ctx.unsupported(
            node,
            "indexing dimensions that are not next to each other with tensors of "
            "indices: index them one after the other",
        )
    targets = _positions(_row_sizes(ctx, node, sizes))[tuple(row)]
    values_sizes = [sizes[0], *targets.shape]
    v = _values(ctx, node, values, values_sizes)
    return _write(ctx, node, v, values_sizes, targets, "sum" if accumulate else "set")


# ------------------------------------------------------------------ scatter


def _scatter_dim(ctx: LoweringContext, node: torch.fx.Node) -> int:
    rank = node.args[0].meta["val"].dim()
    dim = node.args[1] % rank
    if dim == 0:
        raise ctx.unsupported(node, "scattering or gathering along the batch dimension")
    return dim


def _scatter_targets(ctx: LoweringContext, node: torch.fx.Node) -> torch.Tensor:
    row = _row_sizes(ctx, node, node_sizes(node.args[0]))
    index = _row_index(ctx, node, node.args[2])
    return _positions(row).gather(_scatter_dim(ctx, node) - 1, index)


def _source_values(
    ctx: LoweringContext, node: torch.fx.Node, src: Any, targets: torch.Tensor
) -> tuple[SSAValue, list]:
    """src cut to the index's shape (torch reads only that part of it)."""
    sizes = [node_sizes(node.args[0])[0], *targets.shape]
    if isinstance(src, int | float):
        return _values(ctx, node, src, sizes), sizes
    value = ctx.tensor(node, src)
    for d, (have, need) in enumerate(
        zip(node_sizes(src)[1:], sizes[1:], strict=True), start=1
    ):
        if have != need:
            value = S.take(ctx.b, value, d, list(range(need)))
    return value, sizes


@rule(aten.scatter.src, aten.scatter.value, aten.scatter_add.default)
def _scatter(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """torch.scatter (distinct indices) and scatter_add (repeated indices add)."""
    if node_arg(node, 4, "reduce") is not None:
        raise ctx.unsupported(node, "scatter's reduce argument: use scatter_reduce")
    targets = _scatter_targets(ctx, node)
    values, sizes = _source_values(ctx, node, node.args[3], targets)
    mode = "sum" if node.target is aten.scatter_add.default else "set"
    return _write(ctx, node, values, sizes, targets, mode)


@rule(aten.scatter_reduce.two)
def _scatter_reduce(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """sum, prod, mean, amax, amin of the values written to each position (and
    the tensor's own element with include_self); amax/amin's jet is the
    winner's, the mean of the tied winners' at ties (autograd's)."""
    reduce = node.args[4]
    if reduce not in S.REDUCTIONS or reduce == "set":
        raise ctx.unsupported(node, f"the reduction {reduce!r}")
    targets = _scatter_targets(ctx, node)
    values, sizes = _source_values(ctx, node, node.args[3], targets)
    include_self = node_arg(node, 5, "include_self", True)
    return _write(ctx, node, values, sizes, targets, reduce, include_self)


@rule(aten.gather.default)
def _gather(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """Reads at a constant index (the same every row): slices of the flat row."""
    source = node.args[0]
    sizes = node_sizes(source)
    targets = _scatter_targets(ctx, node)
    x = _flat(ctx, node, ctx.tensor(node, source), sizes)
    taken = S.take(ctx.b, x, 1, targets.reshape(-1).tolist())
    result = ctx.result_sizes(node)
    return ctx.reshape(node, taken, [sizes[0], targets.numel()], result)


@rule(GATHER_AT_EXTREMUM)
def _gather_at_extremum(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`x.gather(d, y.argmax(d, keepdim=True))`: the sum over d of x where y
    first reaches its maximum (computed on the stopped y: the position is
    piecewise constant), kept as a unit dim."""
    b = ctx.b
    x, y = (ctx.tensor(node, a) for a in node.args[:2])
    dim, largest = node.args[2:4]
    if shape_of(y)[dim] == DYNAMIC:
        raise ctx.unsupported(node, "argmax along a dimension of dynamic size")
    plain = b.stop_gradient(y)
    best = tree_reduce(b, plain, dim, b.maximum if largest else b.minimum)
    spread = ctx.broadcast_to(best, b.dims(y))
    # torch's argmax takes a NaN as the maximum
    chosen = logical_or(b, b.cmpf("oeq", plain, spread), b.cmpf("une", plain, plain))
    count = prefix_sum(b, indicator(b, chosen, y), dim)
    first = logical_and(b, chosen, b.cmpf("oeq", count, b.full_like(y, 1.0)))
    picked = b.reduce_sum(b.select(first, x, b.full_like(x, 0.0)), [dim])
    kept = list(node_sizes(node.args[0]))
    kept.pop(dim)
    return ctx.reshape(node, picked, kept, ctx.result_sizes(node))


# ------------------------------------------------------------------ slices


@rule(aten.slice_scatter.default)
def _slice_scatter(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`y[:, a:b] = v`: src written into a slice of the tensor."""
    source, src = node.args[:2]
    sizes = node_sizes(source)
    dim = node_arg(node, 2, "dim", 0) % len(sizes)
    start, end = node_arg(node, 3, "start"), node_arg(node, 4, "end")
    step = node_arg(node, 5, "step", 1)
    if dim == 0:
        if node_sizes(src)[0] is not sizes[0] and str(node_sizes(src)[0]) != str(
            sizes[0]
        ):
            raise ctx.unsupported(node, "writing to some rows of the batch")
        return ctx.broadcast_to(ctx.tensor(node, src), ctx.result_dims(node))
    row = _row_sizes(ctx, node, sizes)
    index = [slice(None)] * len(row)
    index[dim - 1] = slice(start, end, step)
    targets = _positions(row)[tuple(index)]
    return _write(ctx, node, ctx.tensor(node, src), node_sizes(src), targets, "set")


@rule(aten.copy.default)
def _copy(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """`dst.copy_(src)` functionalized: src broadcast to dst's shape."""
    return _values(ctx, node, node.args[1], ctx.result_sizes(node))


@rule(aten.masked_scatter.default)
def _masked_scatter(ctx: LoweringContext, node: torch.fx.Node) -> SSAValue:
    """The elements of source, in order, where the constant mask is true: row
    n of the result takes row n of source when every row of the mask has as
    many true elements as a row of source."""
    source, mask, values = node.args[:3]
    sizes = node_sizes(source)
    row = _row_sizes(ctx, node, sizes)
    full = _constant(ctx, node, mask)
    full = full.expand(*([1] * (len(sizes) - full.dim())), *full.shape)
    if full.shape[0] not in (1, sizes[0]) or not bool((full == full[:1]).all()):
        raise ctx.unsupported(node, "a mask that differs between rows of the batch")
    mask_row = full[0].expand(row)
    targets = _positions(row)[mask_row]
    per_row = math.prod(node_sizes(values)[1:])
    if per_row != targets.numel():
        raise ctx.unsupported(
            node,
            f"each row of the mask selects {targets.numel()} elements but a row of "
            f"the source has {per_row}: the rows of the batch would mix",
        )
    v = ctx.reshape(
        node, ctx.tensor(node, values), node_sizes(values), [sizes[0], per_row]
    )
    return _write(ctx, node, v, [sizes[0], per_row], targets, "set")

"""
Which dimension holds the rows of the batch, and where rows would mix.

Per-datum operators need `f(x)[n]` to depend on `x[n]` only. Following the
batch index through the graph finds the ops that break this: a sum over the
batch, a matmul contracting over it, two rows meeting in one element (an outer
product of batch dimensions), a slice taking some rows, a reshape scrambling
rows (a transpose followed by a view), an output whose dimension 0 is not the
batch.

A value's `RowLayout` says where the batch index `n` lives: in dimension `dim`,
whose index is `(j * N + n) * inner + i` with `j < outer`, `i < inner`. The
inputs are `RowLayout(0, 1, 1)`; `outer`/`inner` record where reshapes and
concatenations put the batch inside a merged dimension (a `view(-1)` of an
`N x 3` input has `inner = 3`). Values that do not depend on the rows (weights,
constants, even of a batch-sized shape) have no layout (`None`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from taylor_mlir.errors import InternalError
from taylor_mlir.frontend.aten_linalg import INVERSE
from taylor_mlir.frontend.index_rows import GATHER_AT_EXTREMUM, INDEXED_ROWS, ONE_ROW
from taylor_mlir.frontend.sizes import describe, monomial

aten = torch.ops.aten


@dataclass(frozen=True)
class RowLayout:
    dim: int
    outer: int = 1
    inner: int = 1

    def moved(self, dim: int) -> RowLayout:
        return RowLayout(dim, self.outer, self.inner)


Layout = RowLayout | None


class RowsMix(Exception):
    """Raised by a layout rule; the importer turns it into RowInteractionError
    with the node's source line."""


def _sizes_of(value: Any) -> list[Any]:
    return list(value.shape)


def _val(arg: Any) -> Any:
    return arg.meta["val"] if isinstance(arg, torch.fx.Node) else None


def _dim(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


class RowAnalysis:
    """Computes the `RowLayout` of every node, in graph order."""

    def __init__(self):
        self.layouts: dict[torch.fx.Node, Any] = {}

    def layout(self, arg: Any) -> Layout:
        return self.layouts.get(arg) if isinstance(arg, torch.fx.Node) else None

    def set_input(self, node: torch.fx.Node) -> None:
        self.layouts[node] = RowLayout(0)

    def visit(self, node: torch.fx.Node) -> None:
        """Propagates layouts through `node`; raises RowsMix where rows mix."""
        layout = rule_for(node.target)(self, node)
        if isinstance(node.meta.get("val"), torch.Tensor):
            _check_single_batch_dim(node.meta["val"], layout)
        self.layouts[node] = layout

    def check_output(self, node: torch.fx.Node) -> None:
        """The result's dimension 0 is the batch, holding row n at index n."""
        value = node.meta["val"]
        layout = self.layout(node)
        if value.dim() == 0 or monomial(value.shape[0]) != (1, 1):
            raise RowsMix(
                f"the result has shape {describe(value.shape)}: its dimension 0 must "
                "be the batch"
            )
        if layout is not None and layout != RowLayout(0):
            raise RowsMix(
                "the rows of the result are not the rows of the input (the batch "
                "dimension was transposed or merged and not restored)"
            )


def _check_single_batch_dim(value: torch.Tensor, layout: Layout) -> None:
    powers = [monomial(size)[1] for size in value.shape]
    if sum(powers) > 1 and layout is not None:
        raise RowsMix(
            f"a result of shape {describe(value.shape)} pairs every row of the batch "
            "with every other row"
        )
    if layout is not None and powers[layout.dim] != 1:
        raise InternalError("lost the batch dimension")


Rule = Callable[[RowAnalysis, torch.fx.Node], Layout]
_RULES: dict[Any, Rule] = {}


def _rule(*targets: Any):
    def register(rule: Rule) -> Rule:
        for target in targets:
            _RULES[target] = rule
        return rule

    return register


def rule_for(target: Any) -> Rule:
    """The layout rule of an op: its own, or the one of pointwise ops."""
    if target in _RULES:
        return _RULES[target]
    if torch.Tag.pointwise not in getattr(target, "tags", ()):
        raise InternalError(f"no row rule for {target}")
    return _elementwise


def _combine(layouts: Sequence[Layout], why: str) -> Layout:
    present = {layout for layout in layouts if layout is not None}
    if len(present) > 1:
        raise RowsMix(why)
    return present.pop() if present else None


def _elementwise(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Pointwise ops with broadcasting: operands right-aligned to the result."""
    rank = node.meta["val"].dim()
    layouts = []
    for arg in [*node.args, *node.kwargs.values()]:
        layout = analysis.layout(arg)
        if layout is not None:
            layouts.append(layout.moved(layout.dim + rank - _val(arg).dim()))
    return _combine(layouts, "it combines elements of different rows of the batch")


@_rule(
    aten.full.default,
    aten.arange.start_step,
    aten.scalar_tensor.default,
    aten.full_like.default,
    aten.sym_size.int,
)
def _no_rows(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    return None


@_rule(aten.permute.default)
def _permute(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    rank = node.meta["val"].dim()
    permutation = [_dim(d, rank) for d in node.args[1]]
    return layout.moved(permutation.index(layout.dim))


@_rule(aten.view.default, aten.unsqueeze.default, aten.squeeze.dims)
def _reshape(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Row-major order is kept: the batch keeps its stride in the flat order."""
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    sizes_in = _sizes_of(_val(node.args[0]))
    stride = layout.inner * _static_product(sizes_in[layout.dim + 1 :])
    sizes_out = _sizes_of(node.meta["val"])
    powers = [monomial(s)[1] for s in sizes_out]
    dim = powers.index(1)
    after = _static_product(sizes_out[dim + 1 :])
    coefficient = monomial(sizes_out[dim])[0]
    if stride % after or coefficient % (stride // after):
        raise RowsMix(
            "the reshape spreads the batch index over several dimensions, mixing rows"
        )
    inner = stride // after
    return RowLayout(dim, coefficient // inner, inner)


def _static_product(sizes: Sequence[Any]) -> int:
    product = 1
    for size in sizes:
        coefficient, power = monomial(size)
        if power != 0:
            raise InternalError("one batch dimension per value")
        product *= coefficient
    return product


@_rule(aten.expand.default)
def _expand(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    added = node.meta["val"].dim() - _val(node.args[0]).dim()
    return layout.moved(layout.dim + added)


@_rule(aten.cat.default)
def _cat(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    tensors = node.args[0]
    rank = node.meta["val"].dim()
    dim = _dim(node.args[1] if len(node.args) > 1 else 0, rank)
    layouts = [analysis.layout(t) for t in tensors]
    if all(layout is None for layout in layouts):
        return None
    if not any(layout is not None and layout.dim == dim for layout in layouts):
        return _combine(layouts, "it concatenates different rows of the batch")
    # along the batch: the pieces stack up as blocks of rows
    inners = {layout.inner for layout in layouts if layout is not None}
    if len(inners) > 1 or any(
        layout is not None and layout.dim != dim for layout in layouts
    ):
        raise RowsMix("it concatenates different rows of the batch")
    (inner,) = inners
    outer = 0
    for tensor in tensors:
        coefficient, power = monomial(_val(tensor).shape[dim])
        if power != 1 or coefficient % inner:
            raise RowsMix("it concatenates different rows of the batch")
        outer += coefficient // inner
    return RowLayout(dim, outer, inner)


@_rule(aten.slice.Tensor)
def _slice(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    rank = node.meta["val"].dim()
    dim = _dim(node.args[1] if len(node.args) > 1 else 0, rank)
    size_in = monomial(_val(node.args[0]).shape[dim])
    if dim == layout.dim and monomial(node.meta["val"].shape[dim]) != size_in:
        raise RowsMix("it takes some rows of the batch and not others")
    return layout


@_rule(aten.select.int)
def _select(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    dim = _dim(node.args[1], _val(node.args[0]).dim())
    if dim == layout.dim:
        raise RowsMix("it selects one row of the batch")
    return layout.moved(layout.dim - (dim < layout.dim))


@_rule(aten.index.Tensor, aten.index_select.default)
def _index(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Dimensions indexed by constants: the broadcast indices' dimensions
    replace them, in place when they are adjacent, else first (as torch)."""
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    rank = _val(node.args[0]).dim()
    if node.target is aten.index.Tensor:
        indexed = [d for d, index in enumerate(node.args[1]) if index is not None]
    else:
        indexed = [_dim(node.args[1], rank)]
    if layout.dim in indexed:
        raise RowsMix("it picks rows of the batch by index")
    added = node.meta["val"].dim() - rank
    if indexed == list(range(indexed[0], indexed[-1] + 1)):
        return layout.moved(layout.dim + added) if layout.dim > indexed[0] else layout
    before = sum(d not in indexed for d in range(layout.dim))
    return layout.moved(added + len(indexed) + before)


@_rule(aten.split_with_sizes.default)
def _split(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    dim = _dim(node.args[2] if len(node.args) > 2 else 0, _val(node.args[0]).dim())
    if dim == layout.dim and len(node.meta["val"]) > 1:
        raise RowsMix("it splits the rows of the batch into parts")
    return layout


_FULL_REDUCTIONS = (aten.max.default, aten.min.default, aten.prod.default)


@_rule(
    aten.sum.dim_IntList,
    aten.mean.dim,
    aten.mean.default,
    aten.amax.default,
    aten.amin.default,
    aten.max.dim,
    aten.min.dim,
    *_FULL_REDUCTIONS,
    aten.prod.dim_int,
    aten.var.correction,
    aten.var_mean.correction,
    aten.any.dim,
    aten.any.dims,
    aten.any.default,
)
def _reduce(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Over one dim, a list of them, or all (none given)."""
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    rank = _val(node.args[0]).dim()
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    dims = [dims] if isinstance(dims, int) else dims
    if node.target in _FULL_REDUCTIONS:
        dims = None
    reduced = {_dim(d, rank) for d in dims} if dims else set(range(rank))
    if layout.dim in reduced:
        sums = node.target in (aten.sum.dim_IntList, aten.mean.dim, aten.mean.default)
        raise RowsMix(f"it {'sums' if sums else 'reduces'} over the batch dimension")
    keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim")
    if keepdim:
        return layout
    return layout.moved(layout.dim - sum(d < layout.dim for d in reduced))


@_rule(aten.mm.default, aten.addmm.default, aten.bmm.default)
def _matmul(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """(.. x M x K) @ (.. x K x P): rows may live in M, P or a bmm batch, once."""
    bias = node.args[0] if node.target is aten.addmm.default else None
    a, b = node.args[1:3] if bias is not None else node.args[:2]
    rank = _val(a).dim()
    placed = []  # batch dims, M and P keep their index in the result
    for operand, contracted in ((a, rank - 1), (b, rank - 2)):
        layout = analysis.layout(operand)
        if layout is None:
            continue
        if layout.dim == contracted:
            raise RowsMix("the matrix product sums over the batch dimension")
        placed.append(layout)
    if bias is not None and analysis.layout(bias) is not None:
        bias_layout = analysis.layout(bias)
        placed.append(bias_layout.moved(bias_layout.dim + rank - _val(bias).dim()))
    return _combine(placed, "the matrix product pairs different rows of the batch")


@_rule(aten.cumsum.default, aten.cumprod.default, aten.flip.default)
def _along(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Scans and reversals along some dims: rows move if one is the batch."""
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    dims = node.args[1]
    dims = [dims] if isinstance(dims, int) else dims
    if layout.dim in {_dim(d, _val(node.args[0]).dim()) for d in dims}:
        raise RowsMix(f"it runs along the batch dimension ({node.target})")
    return layout


@_rule(aten.constant_pad_nd.default, aten._pad_circular.default)
def _pad(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    rank, pads = _val(node.args[0]).dim(), node.args[1]
    padded = {
        rank - 1 - i for i in range(len(pads) // 2) if pads[2 * i : 2 * i + 2] != [0, 0]
    }
    if layout.dim in padded:
        raise RowsMix("it pads the batch dimension with new rows")
    return layout


@_rule(
    aten.convolution.default,
    aten.avg_pool2d.default,
    aten.max_pool2d_with_indices.default,
)
def _window(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Convolutions and pooling slide over the spatial dims (the last 2 of a
    pooling), a convolution also sums over the channels (dimension 1): rows
    must be elsewhere, and a convolution's weight must not depend on them."""
    layout = analysis.layout(node.args[0])
    rank = _val(node.args[0]).dim()
    convolution = node.target is aten.convolution.default
    if convolution and any(analysis.layout(a) is not None for a in node.args[1:3]):
        raise RowsMix("the convolution's weight depends on the rows of the batch")
    if layout is None:
        return None
    first_spatial = 2 if convolution else rank - 2
    if layout.dim >= first_spatial or (convolution and layout.dim == 1):
        raise RowsMix("it slides a window over the batch dimension")
    return layout


@_rule(aten._native_batch_norm_legit_no_training.default)
def _batch_norm(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Per channel, with constant statistics (eval mode)."""
    if any(analysis.layout(a) is not None for a in node.args[1:5]):
        raise RowsMix("the batch norm's statistics depend on the rows of the batch")
    return analysis.layout(node.args[0])


@_rule(aten.native_group_norm.default)
def _group_norm(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Normalizes over each datum's channels and positions (dims 1, ...)."""
    if any(analysis.layout(a) is not None for a in node.args[1:3]):
        raise RowsMix("the group norm's weight depends on the rows of the batch")
    layout = analysis.layout(node.args[0])
    if layout is not None and layout != RowLayout(0):
        raise RowsMix("it normalizes over the batch dimension")
    return layout


@_rule(aten.diagonal.default)
def _diagonal(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """The two dims become the last one."""
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    rank = _val(node.args[0]).dim()
    args = [*node.args[2:4], *[None] * 2][:2]
    first = _dim(args[0] if args[0] is not None else node.kwargs.get("dim1", 0), rank)
    second = _dim(args[1] if args[1] is not None else node.kwargs.get("dim2", 1), rank)
    if layout.dim in (first, second):
        raise RowsMix("it takes the diagonal of the batch dimension and another")
    return layout.moved(layout.dim - (first < layout.dim) - (second < layout.dim))


@_rule(operator.getitem, aten.clone.default, aten.alias.default, aten._to_copy.default)
def _same(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    return analysis.layout(node.args[0])


# ------------------------------------------------------------ sorting and scans


def _along_dim(node: torch.fx.Node) -> int:
    """The one dim sorted, scanned or unfolded (an argument or its default)."""
    target = node.target
    if target is aten.sort.stable:
        return node.kwargs.get("dim", -1)
    index = 2 if target is aten.topk.default else 1
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get("dimension" if target is aten.unfold.default else "dim", -1)


@_rule(
    aten.sort.default,
    aten.sort.stable,
    aten.topk.default,
    aten.cummax.default,
    aten.cummin.default,
    aten.logcumsumexp.default,
    aten.unfold.default,
)
def _sorted_along(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Along one dim (unfold's windows are a new last dim): rows must be
    elsewhere, and stay where they are."""
    layout = analysis.layout(node.args[0])
    if layout is None:
        return None
    if layout.dim == _dim(_along_dim(node), _val(node.args[0]).dim()):
        raise RowsMix(f"it runs along the batch dimension ({node.target})")
    return layout


@_rule(aten._cdist_forward.default)
def _cdist(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """(..., P, M) and (..., R, M) to (..., P, R): rows may be in the batch
    dims (of both, broadcast), or in P of x1 or R of x2 (a datum against
    fixed points), never in M (summed over)."""
    rank = node.meta["val"].dim()
    placed = []
    for arg, points in ((node.args[0], rank - 2), (node.args[1], rank - 1)):
        layout = analysis.layout(arg)
        if layout is None:
            continue
        arg_rank = _val(arg).dim()
        if layout.dim == arg_rank - 1:
            raise RowsMix("the distance sums over the batch dimension")
        if layout.dim == arg_rank - 2:
            placed.append(layout.moved(points))
        else:  # a batch dim, right-aligned to the result
            placed.append(layout.moved(layout.dim + rank - arg_rank))
    return _combine(placed, "it pairs the points of different rows of the batch")


# ------------------------------------------------------------ linear algebra


@_rule(
    aten._linalg_det.default,
    aten._linalg_slogdet.default,
    aten.linalg_inv_ex.default,
    INVERSE,  # a compiled program's matrix.inv, re-imported
)
def _per_matrix(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """A function of each matrix (the last two dims, aten_linalg.py): rows must
    be in a dim in front, where they stay in every result."""
    layout = analysis.layout(node.args[0])
    if layout is not None and layout.dim >= _val(node.args[0]).dim() - 2:
        raise RowsMix("the batch dimension is a dimension of the matrices")
    return layout


@_rule(aten._linalg_solve_ex.default)
def _solve(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """A X = B: rows in the (broadcast) batch dims of A and B, right-aligned to
    the result's; B is a vector when the result has A's rank minus one."""
    a, b = node.args[:2]
    rank = node.meta["val"][0].dim()
    vector = rank == _val(a).dim() - 1
    batch_rank = rank - (1 if vector else 2)
    placed = []
    for arg, own in ((a, 2), (b, 1 if vector else 2)):
        layout = analysis.layout(arg)
        if layout is None:
            continue
        arg_batch = _val(arg).dim() - own
        if layout.dim >= arg_batch:
            raise RowsMix("the batch dimension is a dimension of the system solved")
        placed.append(layout.moved(layout.dim + batch_rank - arg_batch))
    return _combine(placed, "it solves one row's system for another row")


# ------------------------------------------------------------ writes at indices

_WRITTEN = {  # the argument holding the values written (aten_scatter.py)
    aten.index_put.default: 2,
    aten.scatter.src: 3,
    aten.scatter.value: 3,
    aten.scatter_add.default: 3,
    aten.scatter_reduce.two: 3,
    aten.slice_scatter.default: 1,
    aten.masked_scatter.default: 2,
    aten.gather.default: None,
    GATHER_AT_EXTREMUM: 1,
}


@_rule(*_WRITTEN)
def _written(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """Values written into (or read from) a tensor at constant positions within
    each row: the batch is dimension 0 of the tensor and the values, and is
    not indexed (the index is the same for every row)."""
    data = [node.args[0]]
    if _WRITTEN[node.target] is not None:
        data.append(node.args[_WRITTEN[node.target]])
    layouts = [analysis.layout(arg) for arg in data]
    if all(layout is None for layout in layouts):
        return None
    if any(layout not in (None, RowLayout(0)) for layout in layouts):
        raise RowsMix("it writes at indices of a tensor whose rows are not dimension 0")
    rank = _val(node.args[0]).dim()
    batch = monomial(_val(node.args[0]).shape[0])
    if node.target is aten.index_put.default and node.args[1][0] is not None:
        raise RowsMix("it writes to rows of the batch chosen by an index")
    if node.target in INDEXED_ROWS:
        if _dim(node.args[1], rank) == 0:
            raise RowsMix("it scatters or gathers along the batch dimension")
        if monomial(node.meta["val"].shape[0]) != batch or (
            node.args[2].target is not ONE_ROW
            and monomial(_val(node.args[2]).shape[0]) != batch
        ):
            raise RowsMix("its index reaches some rows of the batch and not others")
    if node.target is GATHER_AT_EXTREMUM and node.args[2] == 0:
        raise RowsMix("it takes the argmax over the batch dimension")
    if node.target is aten.slice_scatter.default:
        dim = _dim(node.args[2] if len(node.args) > 2 else 0, rank)
        if dim == 0 and monomial(_val(node.args[1]).shape[0]) != batch:
            raise RowsMix("it writes to some rows of the batch and not others")
    return RowLayout(0)


@_rule(aten.copy.default)
def _copy(analysis: RowAnalysis, node: torch.fx.Node) -> Layout:
    """dst's values are replaced by src's, broadcast to dst's shape."""
    layout = analysis.layout(node.args[1])
    if layout is None:
        return None
    return layout.moved(layout.dim + node.meta["val"].dim() - _val(node.args[1]).dim())

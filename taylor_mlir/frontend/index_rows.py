"""
Index tensors that mean "the same index in every row", rewritten after export.

torch's gather and scatter family take an index of the data's rank, so a
per-datum index is spelled `idx.expand(N, k)` (an integer constant stretched
along the symbolic batch), and batched fancy indexing `r[arange(N)[:, None], i,
j]` indexes the batch by an arange of its own size. Both are integer tensors of
a batch-dependent size, which the importer cannot hold as constants. They mean
the same every row, so the graph is rewritten (export.py) to say so:

- `expand(c, (N, ...))` of a constant `c` as the index of a gather or scatter
  becomes `ONE_ROW(c, (1, ...))`: the index of one row, folded at import to a
  constant; the rules (aten_scatter.py) use it for every row;
- an index of `index_put` that is `arange(N)` along dimension 0 (through
  views) becomes `None` (every row), the other indices losing their leading
  unit dimension, which gives torch's result layout;
- `torch.take_along_dim` is traced as gather and expand
  (`TakeAlongDimAsGather`, around torch.export);
- `gather(x, d, argmax(y, d, keepdim=True))` (argmin too) becomes
  `GATHER_AT_EXTREMUM(x, y, d, largest)`: the integer argmax is never a value.
"""

from __future__ import annotations

import torch
import torch.fx
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind
from torch.overrides import TorchFunctionMode

from taylor_mlir.frontend.sizes import monomial

aten = torch.ops.aten


@torch.library.custom_op("taylor_mlir::one_row", mutates_args=())
def one_row(index: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The index of one row of a batch that repeats it (`index.expand`)."""
    return index.expand(sizes).clone()


@one_row.register_fake
def _(index: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    return index.new_empty(sizes)


@torch.library.custom_op("taylor_mlir::gather_at_extremum", mutates_args=())
def gather_at_extremum(
    x: torch.Tensor, y: torch.Tensor, dim: int, largest: bool
) -> torch.Tensor:
    """`x.gather(dim, y.argmax(dim, keepdim=True))` (argmin if not `largest`)."""
    index = (y.argmax if largest else y.argmin)(dim, keepdim=True)
    return x.gather(dim, index)


@gather_at_extremum.register_fake
def _(x: torch.Tensor, y: torch.Tensor, dim: int, largest: bool) -> torch.Tensor:
    sizes = list(x.shape)
    sizes[dim] = 1
    return x.new_empty(sizes)


ONE_ROW = torch.ops.taylor_mlir.one_row.default
GATHER_AT_EXTREMUM = torch.ops.taylor_mlir.gather_at_extremum.default

INDEXED_ROWS = (
    aten.gather.default,
    aten.scatter.src,
    aten.scatter.value,
    aten.scatter_add.default,
    aten.scatter_reduce.two,
)
"""Ops whose argument 2 is an index of the data's rank."""

_VIEWS = (aten.unsqueeze.default, aten.view.default, aten.slice.Tensor)
_ARGEXTREMA = {aten.argmax.default: True, aten.argmin.default: False}


def with_row_indices(exported: ExportedProgram) -> ExportedProgram:
    """The rewrites of the module docstring, in place."""
    graph = exported.graph_module.graph
    inputs = {
        spec.arg.name
        for spec in exported.graph_signature.input_specs
        if spec.kind is InputKind.USER_INPUT
    }
    changed = False
    for node in list(graph.nodes):
        if node.target in INDEXED_ROWS:
            changed |= _one_row_index(graph, node, inputs)
        elif node.target is aten.index_put.default:
            changed |= _batch_arange_as_none(graph, node)
    if changed:
        graph.eliminate_dead_code()
        exported.graph_module.recompile()
    return exported


def _is_batch(size) -> bool:
    return isinstance(size, torch.SymInt)


def _from_constants(node: torch.fx.Node, inputs: set[str]) -> bool:
    """`node` is computed from constants only (no user input)."""
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.op == "placeholder" and current.name in inputs:
            return False
        todo.extend(current.all_input_nodes)
    return True


def _one_row_index(graph: torch.fx.Graph, node: torch.fx.Node, inputs: set[str]):
    index = node.args[2]
    if node.target is aten.gather.default and index.target in _ARGEXTREMA:
        return _gather_at_extremum(graph, node, index)
    if index.target is not aten.expand.default:
        return False
    value = index.meta["val"]
    source = index.args[0]
    rank = value.dim()
    unit = [1] * (rank - source.meta["val"].dim()) + list(source.meta["val"].shape)
    rest = list(value.shape[1:])
    if (
        value.is_floating_point()
        or not _is_batch(value.shape[0])
        or unit[0] != 1
        or any(_is_batch(s) for s in rest)
        or not _from_constants(source, inputs)
    ):
        return False
    with graph.inserting_before(node):
        row = graph.call_function(ONE_ROW, (source, [1, *rest]))
    row.meta = dict(index.meta)
    row.meta["val"] = value.new_empty([1, *rest])
    node.replace_input_with(index, row)
    return True


def _gather_at_extremum(graph, node: torch.fx.Node, index: torch.fx.Node) -> bool:
    x, dim = node.args[:2]
    y = index.args[0]
    rank = x.meta["val"].dim()
    index_dim = index.args[1] if len(index.args) > 1 else index.kwargs.get("dim")
    keepdim = index.args[2] if len(index.args) > 2 else index.kwargs.get("keepdim")
    if (
        index_dim is None
        or not keepdim
        or index_dim % rank != dim % rank
        or list(y.meta["val"].shape) != list(x.meta["val"].shape)
    ):
        return False
    with graph.inserting_before(node):
        fused = graph.call_function(
            GATHER_AT_EXTREMUM, (x, y, dim % rank, _ARGEXTREMA[index.target])
        )
    fused.meta = dict(node.meta)
    node.replace_all_uses_with(fused)
    graph.erase_node(node)
    return True


def _batch_arange_as_none(graph: torch.fx.Graph, node: torch.fx.Node) -> bool:
    indices = list(node.args[1])
    if not indices or indices[0] is None or not _is_batch_arange(indices[0]):
        return False
    first = indices[0].meta["val"]
    others = [i for i in indices[1:] if i is not None]
    if (
        any(s != 1 for s in first.shape[1:])
        or indices[1:].count(None) != len(indices[1:]) - len(others)
        or not others
        or _gaps(indices[1:])
    ):
        return False
    rank = first.dim()
    shapes = [i.meta["val"].shape for i in others]
    if any(len(s) > rank for s in shapes):
        return False
    broadcast = torch.broadcast_shapes(*shapes)
    if len(broadcast) != rank or broadcast[0] != 1:
        return False
    replaced = [None]
    with graph.inserting_before(node):
        for index in indices[1:]:
            if index is None:
                replaced.append(None)
                continue
            value = index.meta["val"]
            if value.dim() < rank:
                replaced.append(index)  # broadcast without the batch's dim
                continue
            squeezed = graph.call_function(aten.squeeze.dims, (index, [0]))
            squeezed.meta = dict(index.meta)
            squeezed.meta["val"] = value.new_empty(list(value.shape[1:]))
            replaced.append(squeezed)
    node.args = (node.args[0], replaced, *node.args[2:])
    return True


def _gaps(indices: list) -> bool:
    """The tensors among `indices` are not adjacent (torch moves them first)."""
    present = [d for d, i in enumerate(indices) if i is not None]
    return bool(present) and present != list(range(present[0], present[-1] + 1))


def _is_batch_arange(index: torch.fx.Node) -> bool:
    """`arange(0, N)` (step 1) along dimension 0, through views of it."""
    while index.target in _VIEWS:
        if index.target is aten.slice.Tensor and (
            index.args[1] != 0
            or list(index.meta["val"].shape) != list(index.args[0].meta["val"].shape)
        ):
            return False
        if index.target is not aten.slice.Tensor and not _keeps_dim0(index):
            return False
        index = index.args[0]
    if index.target is not aten.arange.start_step:
        return False
    start, end = index.args[:2]
    step = index.args[2] if len(index.args) > 2 else index.kwargs.get("step", 1)
    value = index.meta["val"]
    return (
        start == 0
        and step == 1
        and value.dim() == 1
        and _is_batch(value.shape[0])
        and monomial(value.shape[0]) == (1, 1)
    )


def _keeps_dim0(view: torch.fx.Node) -> bool:
    sizes_in = list(view.args[0].meta["val"].shape)
    sizes_out = list(view.meta["val"].shape)
    return (
        bool(sizes_in)
        and bool(sizes_out)
        and str(sizes_in[0]) == str(sizes_out[0])
        and all(s == 1 for s in sizes_out[1:])
        and all(s == 1 for s in sizes_in[1:])
    )


class TakeAlongDimAsGather(TorchFunctionMode):
    """`torch.take_along_dim(x, idx, dim)` traced as the gather it is, with x
    and idx broadcast (but along `dim`) by `expand`: torch's own kernel
    broadcasts in C++, which specializes the batch size of the trace. The
    index of one row expanded to the batch is then `ONE_ROW`'s."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in (torch.take_along_dim, torch.Tensor.take_along_dim):
            return func(*args, **kwargs)
        x, index = args[:2]
        dim = args[2] if len(args) > 2 else kwargs.get("dim")
        if dim is None:  # the flattened tensor, as torch
            return func(*args, **kwargs)
        dim %= x.dim()
        shapes = [list(x.shape), list(index.shape)]
        for shape in shapes:
            shape[dim] = 1
        sizes = list(torch.broadcast_shapes(*shapes))
        x_sizes, index_sizes = list(sizes), list(sizes)
        x_sizes[dim], index_sizes[dim] = x.shape[dim], index.shape[dim]
        return torch.gather(x.expand(x_sizes), dim, index.expand(index_sizes))

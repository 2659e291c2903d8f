"""
`tile-directions`: runs the per-direction chain over blocks of directions.

The first-order directions of an operator are independent until the
`taylor.sum`s that collapse them, so the per-direction values (`tensor<R x S>`)
can be computed for a few directions at a time. The pass clones the
per-direction chain once per block of `B` directions, each block on slices of
the chain's inputs, and adds the blocks' sums where the sums were. Every block's
temporaries die before the next block starts, so the per-direction tensors alive
at once are `B / R` of what they were (lower peak memory), and at a block size
that fits the cache the elementwise passes between the matmuls read what the
matmul just wrote from cache. The values are those of the untiled program up to
the order of the additions over directions.

```mlir
// before (R = 4)                              // after (block=2)
%p  = ... primal, s'(z0) ...                   %p  = ... primal, s'(z0) ...
%v  = taylor.replicate %s1 : -> tensor<4xS>    %d0 = tensor.extract_slice %d[0] [2] [1]
%u  = taylor.linear_map %d : tensor<4xS> ...   %u0 = taylor.linear_map %d0 : tensor<2xS> ...
%q  = arith.mulf %u, %u : tensor<4xS>          %q0 = arith.mulf %u0, %u0 : tensor<2xS>
%s  = taylor.sum %q : -> tensor<S>             %s0 = taylor.sum %q0
%y  = arith.mulf %s2, %s                       %d1 = tensor.extract_slice %d[2] [2] [1]
                                               %u1 = taylor.linear_map %d1 ...
                                               %q1 = arith.mulf %u1, %u1
                                               %s1 = taylor.sum %q1
                                               %s  = arith.addf %s0, %s1
                                               %y  = arith.mulf %s2, %s
```

The chain is what the sums' inputs are computed from through ops that act on
each direction separately: elementwise ops, `taylor.linear_map`,
`linalg.broadcast` not adding dimension 0, `linalg.fill`, `tensor.empty`,
`taylor.stop_gradient`, and `taylor.replicate` (where direction-independent
values enter). Any other per-direction input (a seed constant, a function
argument) is sliced with `tensor.extract_slice`. The function is reordered to:
the ops the sums do not depend on, then the blocks, then the ops using the sums
(the summed chain). A function is left as it is when there is nothing to tile
(no sums, one block) or when tiling does not apply: sums over different numbers
of directions, a per-direction value used other than by the chain and its sums,
or a chain that depends on a sum.

The block size is an option (`block=B`) or chosen by `direction_block` from the
batch size the program is compiled for and the cache size (`batch=N`,
`cache-kib=C`, by default this machine's L2); the directions are split into the
fewest blocks of at most that many, as even as possible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects import func, tensor
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp, TensorType
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from taylor_mlir.dialects.taylor import (
    LinearMapOp,
    ReplicateOp,
    StopGradientOp,
    SumOp,
)
from taylor_mlir.errors import InvalidIRError
from taylor_mlir.ir.builder import ELEMENTWISE_OPS, Dim, TensorBuilder, shape_of

# ------------------------------------------------------------------ cost model

# The per-direction tensors of one layer that a block keeps busy at once: the
# matmul's input and output and the elementwise products of the output.
_LIVE_PER_LAYER = 3
# Fewer rows than this (by element size) make a block's matmuls less efficient
# than one of all directions: on 2 cores (torch 2.13, MKL), a (rows x 768) @
# (768 x 768) product runs at 0.54 (f64) / 0.75 (f32) of the 12800-row rate at
# 256 rows, 0.86 / 0.78 at 512 and 0.98 / 1.02 at 1024. In whole programs f64
# wants more: on an AMD EPYC Zen 4 (one process, interleaved, against jet +
# torch.compile) 2048 rather than 1024 rows took the stochastic Laplacian (S =
# 16, N = 256) from 1.03x to 0.96x per call and 1.15x to 1.08x per training
# step, and the D = 50 Laplacian at N = 64 from 1.03x to 0.99x; in f32 2048
# rows were 0-4% slower.
_MIN_ROWS = {8: 2048, 4: 1024}
_MIN_ROWS_OTHER = 1024  # element sizes not measured (f16, bf16)
# At most this many blocks: each block is a dozen ATen calls (three per layer)
# of fixed overhead (dispatch, the threads' fork and join; on a loaded machine
# a call can wait a scheduler time slice for its second thread). Measured on
# the paper MLP's Laplacian (D = 50, 2 cores, one process, interleaved):
# blocks of 10 directions against 5 took 0.93 (f32) / 0.96 (f64) of the time
# at N = 256 and 0.92 / 0.98 at N = 1024; at N = 64 the rows bound decides.
_MAX_BLOCKS = 5


def direction_block(
    directions: int, batch: int, width: int, itemsize: int, cache_bytes: int
) -> int:
    """Directions per block: as many as keep one layer's per-direction tensors
    (`_LIVE_PER_LAYER` of `batch x width` elements per direction) in a cache of
    `cache_bytes`, but at least enough for `min_rows(itemsize)` rows per matmul
    and for at most `_MAX_BLOCKS` blocks. `directions` (no tiling) when all fit
    at once or one block would hold them all."""
    per_direction = _LIVE_PER_LAYER * max(batch, 1) * width * itemsize
    if directions * per_direction <= cache_bytes:
        return directions
    rows = -(-min_rows(itemsize) // max(batch, 1))
    fewest = -(-directions // _MAX_BLOCKS)
    return min(directions, max(1, cache_bytes // per_direction, rows, fewest))


def min_rows(itemsize: int) -> int:
    """The fewest rows a block's matmul should have, for elements of `itemsize` bytes."""
    return _MIN_ROWS.get(itemsize, _MIN_ROWS_OTHER)


def block_sizes(directions: int, block: int) -> list[int]:
    """The fewest blocks of at most `block` directions, as even as possible
    (50 by 4: eleven of 4 and two of 3, not twelve of 4 and one of 2)."""
    blocks = -(-directions // block)
    small, larger = divmod(directions, blocks)
    return [small + 1] * larger + [small] * (blocks - larger)


def cache_bytes() -> int:
    """The size of this machine's per-core L2 cache (2 MiB when unknown)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if (index / "level").read_text().strip() != "2":
                continue
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if size[-1:] in units:
            return int(size[:-1]) * units[size[-1]]
        return int(size)
    return 2 << 20


# ------------------------------------------------------------------- analysis


def _is_per_direction(value: SSAValue, directions: int) -> bool:
    t = value.type
    return isinstance(t, TensorType) and t.get_shape()[:1] == (directions,)


def _direction_operands(op: Operation, directions: int) -> list[SSAValue] | None:
    """The operands whose direction axis is the result's, when `op` acts on each
    direction separately (its per-direction result is a block's when these
    operands are the block's); None otherwise."""
    if not op.results or not all(_is_per_direction(r, directions) for r in op.results):
        return None
    if isinstance(op, ReplicateOp | tensor.EmptyOp):
        return []
    if isinstance(op, linalg.BroadcastOp):
        if 0 in op.dimensions.get_values():
            return None  # adds the direction axis: not one of the chain
        return [op.input, op.init]
    if isinstance(op, linalg.FillOp):
        return list(op.outputs)
    if isinstance(op, LinearMapOp):
        return list(op.inputs)
    if isinstance(op, (*ELEMENTWISE_OPS, StopGradientOp)):
        return [v for v in op.operands if _is_per_direction(v, directions)]
    return None


@dataclass
class _Chain:
    """The per-direction chain of one function, in program order."""

    ops: list[Operation]  # the chain and its sums
    sums: list[SumOp]
    leaves: list[SSAValue]  # per-direction inputs from outside the chain
    after: list[Operation]  # the ops using the sums (and the terminator)


def _values_used(op: Operation) -> Iterable[SSAValue]:
    """Operands of `op` and of the ops nested in it (captured values)."""
    for nested in op.walk():
        yield from nested.operands


def find_chain(block: Block) -> _Chain | str:
    """The chain of `block`, or why it cannot be tiled."""
    sums = [op for op in block.ops if isinstance(op, SumOp)]
    if not sums:
        return "no taylor.sum"
    directions = sums[0].directions
    if any(s.directions != directions for s in sums):
        return "taylor.sum ops over different numbers of directions"
    chain: set[Operation] = set()
    leaves: dict[SSAValue, None] = {}
    pending = [s.input for s in sums]
    while pending:
        value = pending.pop()
        owner = value.owner
        if isinstance(owner, Operation) and owner in chain:
            continue
        operands = None
        if isinstance(owner, Operation) and owner.parent_block() is block:
            operands = _direction_operands(owner, directions)
        if operands is None:
            leaves[value] = None
            continue
        chain.add(owner)
        pending.extend(operands)
    members = chain | set(sums)
    for op in chain:
        for result in op.results:
            for use in result.uses:
                # a use in a region (a value captured by a body) is not one
                # of a block's operands
                if use.operation not in members:
                    name = use.operation.name
                    return f"a per-direction value ({op.name}) is used by {name}"
    # the ops depending on a sum, in program order
    after: list[Operation] = []
    tainted: set[SSAValue] = {s.result for s in sums}
    for op in block.ops:
        if op in members:
            continue
        if any(v in tainted for v in _values_used(op)) or op is block.last_op:
            after.append(op)
            tainted.update(op.results)
    for op in chain:
        if any(v in tainted for v in _values_used(op)):
            return f"the per-direction chain ({op.name}) depends on a taylor.sum"
    for leaf in leaves:
        if leaf in tainted:
            return "a per-direction input depends on a taylor.sum"
    ordered = [op for op in block.ops if op in members]
    return _Chain(ordered, sums, list(leaves), after)


# ------------------------------------------------------------------- rewrite


def _block_type(t: TensorType, size: int) -> TensorType:
    return TensorType(t.get_element_type(), [size, *t.get_shape()[1:]])


def _clone_for_block(
    op: Operation, mapping: dict[SSAValue, SSAValue], size: int, directions: int
) -> Operation:
    """`op` on the block's operands, its per-direction results `size` long."""
    result_types = [
        _block_type(r.type, size) if _is_per_direction(r, directions) else r.type
        for r in op.results
    ]
    return type(op).create(
        operands=[mapping.get(v, v) for v in op.operands],
        result_types=result_types,
        properties=dict(op.properties),
        attributes=dict(op.attributes),
        regions=[region.clone() for region in op.regions],
    )


def _dynamic_sizes(b: TensorBuilder, value: SSAValue) -> list[Dim]:
    return [b.dim(value, i) for i in range(1, len(shape_of(value)))]


def tile_block(block: Block, chain: _Chain, size: int) -> None:
    """Rewrites `block`: the ops the sums do not depend on stay, the chain
    follows once per block of at most `size` directions, then `chain.after`
    with each sum replaced by its blocks' total."""
    directions = chain.sums[0].directions
    for op in chain.after:
        op.detach()
    b = TensorBuilder(block)
    leaf_sizes = {leaf: _dynamic_sizes(b, leaf) for leaf in chain.leaves}
    totals: dict[SumOp, SSAValue] = {}
    start = 0
    for count in block_sizes(directions, size):
        mapping: dict[SSAValue, SSAValue] = {}
        for leaf, sizes in leaf_sizes.items():
            rank = len(sizes) + 1
            mapping[leaf] = b.extract_slice(
                leaf, [start] + [0] * (rank - 1), [count, *sizes], [1] * rank
            )
        for op in chain.ops:
            if isinstance(op, SumOp):
                weights = op.weight_values()[start : start + count]
                unweighted = op.weights is None
                part = b.insert(
                    SumOp(mapping[op.input], None if unweighted else weights)
                ).results[0]
                totals[op] = part if op not in totals else b.add(totals[op], part)
                continue
            new = b.insert(_clone_for_block(op, mapping, count, directions))
            mapping.update(zip(op.results, new.results, strict=True))
        start += count
    for sum_op, total in totals.items():
        sum_op.result.replace_all_uses_with(total)
    for op in reversed(chain.ops):
        Rewriter.erase_op(op)
    for op in chain.after:
        block.add_op(op)


def _check_options(block: int, batch: int, cache_kib: int) -> None:
    for name, value in (("block", block), ("batch", batch), ("cache-kib", cache_kib)):
        if value < 0:
            raise InvalidIRError(
                f"tile-directions: {name}={value} must not be negative"
            )
    if block == 0 and batch == 0:
        raise InvalidIRError(
            "tile-directions: give the block size (block=B) or the batch size "
            "the cost model chooses it for (batch=N)"
        )


def _widest(ops: Sequence[Operation], directions: int) -> tuple[int, int]:
    """The largest per-direction, per-datum size of the chain's tensors (the
    product of their static sizes after the direction axis) and their item size."""
    width, itemsize = 1, 8
    for op in ops:
        for r in op.results:
            if _is_per_direction(r, directions):
                static = [s for s in r.type.get_shape()[1:] if s != DYNAMIC_INDEX]
                width = max(width, math.prod(static))
                itemsize = r.type.get_element_type().bitwidth // 8
    return width, itemsize


@dataclass(frozen=True)
class TileDirectionsPass(ModulePass):
    """Clones the per-direction chain of each function once per block of
    directions (see the module docstring)."""

    name = "tile-directions"

    block: int = 0  # directions per block; 0: chosen by `direction_block`
    batch: int = 0  # the batch size the cost model assumes
    cache_kib: int = 0  # the cache the cost model fills; 0: this machine's L2

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        _check_options(self.block, self.batch, self.cache_kib)
        cache = self.cache_kib * 1024 or cache_bytes()
        for function in op.walk():
            if not isinstance(function, func.FuncOp) or not function.body.blocks:
                continue
            body = function.body.block
            chain = find_chain(body)
            if isinstance(chain, str):
                continue
            directions = chain.sums[0].directions
            size = self.block
            if size == 0:
                width, itemsize = _widest(chain.ops, directions)
                size = direction_block(directions, self.batch, width, itemsize, cache)
            if size < directions:
                tile_block(body, chain, size)

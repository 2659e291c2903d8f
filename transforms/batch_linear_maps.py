"""
`batch-linear-maps`: the coefficients that go through the same linear layer go
through it together.

Standard Taylor mode sends every coefficient through each linear layer: the
primal through the layer's body inlined, each order k >= 1 through a
`taylor.linear_map` of the same body (the same captured weights), so after
`convert-taylor-to-tensor` a layer is one GEMM per coefficient with the same
weight. This pass maps the `tensor.concat` of their inputs along the direction
axis once (an inlined body's input is one slice) and gives each its
`tensor.extract_slice` of the result: one GEMM of `sum(K_i) x N` rows per layer.

```mlir
// before                                        // after
%p = linalg.matmul ins(%x, %w ...) outs(%z)      %x1 = tensor.expand_shape %x [[0, 1], [2]] ... tensor<1x?x2xf64>
%u = taylor.linear_map %a : tensor<3x?x2xf64>    %c  = tensor.concat dim(0) %x1, %a, %b : ... tensor<7x?x2xf64>
  ^bb0(%v): linalg.matmul ins(%v, %w ...) outs(%z) %m = taylor.linear_map %c : tensor<7x?x2xf64> -> tensor<7x?x4xf64>
%q = taylor.linear_map %b : tensor<3x?x2xf64>      ^bb0(%v): linalg.matmul ins(%v, %w ...) outs(%z)
  ^bb0(%v): linalg.matmul ins(%v, %w ...) outs(%z) %p = tensor.collapse_shape (tensor.extract_slice %m[0, 0, 0] [1, %n, 4] ...)
                                                 %u = tensor.extract_slice %m[1, 0, 0] [3, %n, 4] ...
                                                 %q = tensor.extract_slice %m[4, 0, 0] [3, %n, 4] ...
```

The maps of a group have structurally equal bodies (so the same captured
values); an inlined copy is an op equal to a one-op body's op on other inputs.
The body acts on each slice separately (`taylor.linear_map`), so concatenating
the slices changes no value. A group has at least two members, one of them a
map; the merged map takes the place of its first member, the earliest that
leaves two. A later map joins only when its inputs are defined before that
op: no map moves, and no member's input can depend on another member's
result. That keeps the blocks of `tile-directions` apart (a later block's
inputs are computed after the first block's maps) and leaves their primal out
(its matmul comes before all blocks).

Collapsed mode has one map a layer (the tangents) and two inlined copies:
the primal and the second-order coefficient. The collapse computes the
second-order chain after all layers' tangents, so its input to a layer is
defined late. An inlined copy's input joins anyway when the ops computing it
can move before the first member (`_computed_after`: none of them is a map or
a member): they move, in program order.

```mlir
// before                                        // after
%p = linalg.matmul ins(%x, %w ...)               %c = arith.mulf %s, %s
%u = taylor.linear_map %a ... { matmul %w }      %cat = tensor.concat dim(0) %x1, %a, %c1
%t = math.tanh %u                                %m = taylor.linear_map %cat ... { matmul %w }
%c = arith.mulf %s, %s                           %p, %u, %q = slices of %m
%q = linalg.matmul ins(%c, %w ...)               %t = math.tanh %u
```

A body that captures no dynamically sized value does not tie its slices' sizes
to one another; such maps are left alone when their slices have dynamic sizes.

The rewrite adds a copy (the concat) and pays only where a bigger GEMM is more
efficient: at few rows and a wide output (`worth_batching`). It runs when the
batch size is known (`batch=N`, as `tile-directions`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DYNAMIC_INDEX, IndexType, ModuleOp, TensorType
from xdsl.ir import Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from taylor_mlir.dialects.taylor import LinearMapOp, YieldOp, direction_type
from taylor_mlir.errors import InvalidIRError
from taylor_mlir.ir.builder import TensorBuilder, shape_of

# ------------------------------------------------------------------ cost model

# Measured on this machine (2 cores shared with other jobs, torch 2.13, MKL,
# 2 threads), one process, separate GEMMs and cat + one GEMM + slices
# interleaved, medians, merged / separate for the paper MLP's
# [N, 50N, 50N] rows (primal, first and second order):
#   (rows x 768) @ (768 x 768):  N=1 0.65-0.95 f64, 0.90-0.97 f32;
#                                N=2 1.0-1.6 f64, 0.95-2.5 f32; N=16 1.3 f64, 0.93-1.10 f32;
#                                N=256 1.19 f64, 1.23 f32 (the concat's copy and
#                                fresh allocation, no gain from a bigger GEMM)
#   (rows x 512) @ (512 x 512):  N=1 0.99-1.04; N=16 1.13-1.40 f64, 0.99-1.03 f32
#   (rows x 512) @ (512 x 64):   1.2-1.4 at every N; (512 x 1): 2.3-5.5
# End to end, the standard-mode Laplacian of the paper MLP (D=50) with every
# group batched, per round each program once in shuffled order, median of the
# per-round ratios batched / unbatched (an A/A pair of the same program: within
# 0.99-1.02): N=1 0.80 f64, 0.88 f32; N=2 1.00, 0.99; N=4 0.99, 1.01;
# N=8 1.03, 1.03; N=16 1.00, 1.01; N=256 (tiled: 2 x 5 x 256 rows per GEMM
# of a block) 1.12, 1.05.
# Collapsed, [N, 50N, N] rows, and standard mode again (AMD EPYC, AVX2,
# 2 cores; the paper MLP's Laplacian batched against not, interleaved,
# medians of per-round ratios), no grad / a training step, f64 and f32:
#   collapsed N=1 0.86, 0.98 / 0.55, 0.59   N=4 0.97, 0.96 / 0.77, 0.76
#             N=8 1.01, 0.99 / 0.89, 0.86   N=16 1.03, 1.01 / 0.96, 0.96
#             N=64 1.03, 1.02 / 1.00, 1.00
#   standard  N=2 1.02, 0.91 / 0.69, 0.74   N=4 0.99, 0.92 / 0.84, 0.83
# The training step gains most: each use of a weight has its own gradient
# GEMM (an outer product as large as the weight at few rows) and autograd
# adds them up; batched, a layer has one. Up to 512 rows (collapsed N <= 9,
# standard N <= 5) a call is within 4% either way and a step gains 11-45%; at
# 832 rows a call loses 1-3% and a step gains 4%.
_MAX_ROWS = 512
_MIN_WIDTH = 512


def worth_batching(rows: int, width: int) -> bool:
    """Whether one GEMM of `rows` rows (all members' slices together) with an
    output `width` wide beats one GEMM per member plus the concat's copy."""
    return rows <= _MAX_ROWS and width >= _MIN_WIDTH


# ------------------------------------------------------------------- analysis


def _body_op(linear_map: LinearMapOp) -> Operation | None:
    """The one op of a one-op body whose result it yields."""
    ops = list(linear_map.body.block.ops)
    if len(ops) != 2 or not isinstance(ops[1], YieldOp):
        return None
    if ops[1].operands[0] is not ops[0].results[0] or len(ops[0].results) != 1:
        return None
    return ops[0]


def _inlined_operands(
    linear_map: LinearMapOp, body_op: Operation, op: Operation
) -> list[int] | None:
    """The operands of `op` (by position) on which it is the map's one-op body
    (`body_op`) inlined, one per block argument; None when it is not."""
    if op is body_op or len(op.operands) != len(body_op.operands):
        return None
    args = linear_map.body.block.args
    found: dict[SSAValue, int] = {}
    for i, (ours, theirs) in enumerate(zip(body_op.operands, op.operands, strict=True)):
        if isinstance(ours, BlockArgument) and ours in args:
            j = found.setdefault(ours, i)
            if op.operands[j] is not theirs or theirs.type != ours.type:
                return None
    if len(found) != len(args) or op.result_types != body_op.result_types:
        return None
    context = {a: op.operands[i] for a, i in found.items()}
    context[linear_map.body.block] = op.parent_block()
    if not body_op.is_structurally_equivalent(op, context):  # type: ignore[arg-type]
        return None
    return [found[a] for a in args]


def _batchable(linear_map: LinearMapOp) -> bool:
    """Whether the slices of every map of this body have the same sizes (and
    a rank: the primal's joins along a new unit axis): they are static, or the
    body combines them with a captured value that has a dynamic size (an init,
    an operand) or is a size."""
    if not shape_of(linear_map.body.block.last_op.operands[0]):  # the yield's
        return False
    if all(DYNAMIC_INDEX not in shape_of(a) for a in linear_map.body.block.args):
        return True
    for op in linear_map.body.walk():
        for v in op.operands:
            captured = not linear_map.body.is_ancestor(v.owner)  # type: ignore[arg-type]
            t = v.type
            if captured and (
                isinstance(t, IndexType)
                or (isinstance(t, TensorType) and DYNAMIC_INDEX in t.get_shape())
            ):
                return True
    return False


@dataclass
class _Member:
    op: Operation
    operands: list[int]  # the positions of its inputs among the op's operands
    directions: int  # 1 for an inlined body (its slice has no direction axis)
    inlined: bool

    @property
    def inputs(self) -> list[SSAValue]:
        # read when needed: batching an earlier group replaces values
        return [self.op.operands[i] for i in self.operands]


def _computed_after(
    values: Sequence[SSAValue], block: Block, position: dict[Operation, int], at: int
) -> set[Operation] | None:
    """The ops of `block` from position `at` on that `values` are computed
    from (through operands and the values their regions capture): what must
    move before `at` for them to be defined there. None when that would move a
    linear map (a block of `tile-directions`, which stays apart) or the op at
    `at` itself."""
    found: set[Operation] = set()
    stack = [v.owner for v in values]
    while stack:
        owner = stack.pop()
        if isinstance(owner, Block):
            continue  # a block argument
        if owner.parent_block() is not block:
            continue  # defined above the block: dominates it
        if position[owner] < at or owner in found:
            continue
        if isinstance(owner, LinearMapOp) or position[owner] == at:
            return None
        found.add(owner)
        for nested in owner.walk():
            stack.extend(operand.owner for operand in nested.operands)
    return found


@dataclass
class _Group:
    members: list[_Member]  # in program order, the first where the merged map goes
    hoisted: list[Operation]  # computing later members' inputs: moved before it


def _members_of(leader: LinearMapOp, ops: list[Operation]) -> list[_Member]:
    """The maps with the leader's body and the body's inlined copies."""
    members = [
        _Member(op, list(range(len(op.inputs))), op.directions, False)
        for op in ops
        if isinstance(op, LinearMapOp)
        and op.body.is_structurally_equivalent(leader.body)
    ]
    body_op = _body_op(leader)
    if body_op is None:
        return members  # a body of several ops has no inlined copies
    for op in ops:
        if op.name != body_op.name:
            continue  # a cheap test first: this runs for every op of the block
        operands = _inlined_operands(leader, body_op, op)
        if operands is not None:
            members.append(_Member(op, operands, 1, True))
    return members


def next_group(
    block: Block, taken: set[Operation], alone: set[Operation]
) -> _Group | None:
    """The first group of `block`: at least two members, one a map, the first
    the earliest that leaves two. None of its members is in `taken`, and its
    leader (the first map of its body) is not in `alone`, to which the leaders
    that find no group are added. A later member joins when its inputs are
    computed before the first, or, for an inlined body, can be
    (`_computed_after`): in collapsed mode the second-order chain comes after
    all layers' tangents and is moved up to its layer. A map's inputs are not
    moved: that keeps the blocks of `tile-directions` apart."""
    ops = list(block.ops)
    position = {op: i for i, op in enumerate(ops)}
    for leader in ops:
        if not isinstance(leader, LinearMapOp) or leader in taken or leader in alone:
            continue
        if not _batchable(leader):
            alone.add(leader)
            continue
        members = [m for m in _members_of(leader, ops) if m.op not in taken]
        members.sort(key=lambda m: position[m.op])
        for k, first in enumerate(members):
            at = position[first.op]
            group, hoisted = [first], set()
            for m in members[k + 1 :]:
                needed = _computed_after(m.inputs, block, position, at)
                if needed is None or any(n.op in needed for n in members):
                    continue  # computed from the group's results
                if needed and not m.inlined:
                    continue  # a map's inputs stay put: blocks of directions apart
                group.append(m)
                hoisted |= needed
            if len(group) >= 2 and any(not m.inlined for m in group):
                return _Group(group, sorted(hoisted, key=position.__getitem__))
        alone.add(leader)
    return None


def _rows_and_width(group: Sequence[_Member], batch: int) -> tuple[int, int]:
    """The merged GEMM's rows (dynamic sizes taken as `batch`) and its output
    width (the last size of a slice of the result)."""
    first = group[0].op
    slice_shape = shape_of(first.results[0])[0 if group[0].inlined else 1 :]
    per_slice = math.prod(batch if s == DYNAMIC_INDEX else s for s in slice_shape[:-1])
    return per_slice * sum(m.directions for m in group), slice_shape[-1]


# ------------------------------------------------------------------- rewrite


def batch_group(found: _Group) -> LinearMapOp:
    """Moves the ops computing later members' inputs before the first member,
    then replaces the members by slices of one map of their concatenated
    inputs, placed where the first member was."""
    group = found.members
    first = group[0].op
    for op in found.hoisted:  # in program order: each after what it reads
        op.detach()
        first.parent_block().insert_op_before(op, first)
    linear_map = next(m.op for m in group if isinstance(m.op, LinearMapOp))
    b = TensorBuilder(InsertPoint.before(first))
    inputs = []
    for j in range(len(linear_map.inputs)):
        parts = []
        for m in group:
            x = m.inputs[j]
            if m.inlined:  # one slice: a leading unit axis
                shape = [1, *b.dims(x)]
                x = b.expand(x, [[0, 1], *[[i] for i in range(2, len(shape))]], shape)
            parts.append(x)
        inputs.append(b.concat(parts, 0))
    directions = sum(m.directions for m in group)
    primal_type = linear_map.body.block.last_op.operands[0].type  # the yield's
    merged = b.insert(
        LinearMapOp(
            inputs, direction_type(directions, primal_type), linear_map.body.clone()
        )
    ).results[0]
    rest = b.dims(merged)[1:]
    offset = 0
    for m in group:
        rank = len(rest) + 1
        sizes = [m.directions, *rest]
        piece = b.extract_slice(merged, [offset] + [0] * (rank - 1), sizes, [1] * rank)
        if m.inlined:  # drop the unit axis (a reshape, not a rank-reducing slice)
            piece = b.collapse(piece, [[0, 1], *[[i] for i in range(2, rank)]])
        m.op.results[0].replace_all_uses_with(piece)
        offset += m.directions
    for m in group:
        Rewriter.erase_op(m.op)
    return merged.owner  # type: ignore[return-value]


@dataclass(frozen=True)
class BatchLinearMapsPass(ModulePass):
    """Maps the coefficients that go through the same linear layer together
    where `worth_batching` says so (see the module docstring)."""

    name = "batch-linear-maps"

    batch: int = 0  # the batch size the cost model assumes
    always: bool = False  # batch every group, whatever the cost model says

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.batch < 0 or (self.batch == 0 and not self.always):
            raise InvalidIRError(
                f"batch-linear-maps: batch={self.batch}; give the batch size the "
                "cost model decides for (batch=N), or always=true"
            )
        for function in op.walk():
            if not isinstance(function, func.FuncOp) or not function.body.blocks:
                continue
            block, taken, alone = function.body.block, set(), set()
            while (group := next_group(block, taken, alone)) is not None:
                taken.update(m.op for m in group.members)
                rows_and_width = _rows_and_width(group.members, self.batch)
                if self.always or worth_batching(*rows_and_width):
                    taken.add(batch_group(group))  # the merged map leads no group

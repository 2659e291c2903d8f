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
the slices changes no value. The merged map takes the place of the group's
first member, and a later member joins only when its inputs are defined before
that op: no op moves, and no member's input can depend on another member's
result. A group has at least two maps (with one, in collapsed mode, the
coefficients are one GEMM already); its first member is the earliest that
leaves two. That keeps the blocks of `tile-directions` apart (a later block's
inputs are computed after the first block's maps) and leaves their primal out
(its matmul comes before all blocks). A body that
captures no dynamically sized value does not tie its slices' sizes to one
another; such maps are left alone when their slices have dynamic sizes.

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
# A GEMM of a hundred rows re-reads the weight per call; from a few hundred
# rows on, MKL's GEMM is as efficient as it gets and the copy is pure cost, as
# it is for narrow outputs (the copy is as large as the product's work).
_MAX_ROWS = 128
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


def _inlined_operands(linear_map: LinearMapOp, op: Operation) -> list[int] | None:
    """The operands of `op` (by position) on which it is the map's one-op body
    inlined, one per block argument; None when it is not."""
    body_op = _body_op(linear_map)
    if body_op is None or op is body_op or len(op.operands) != len(body_op.operands):
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


def _defined_before(
    value: SSAValue, block: Block, position: dict[Operation, int], at: int
) -> bool:
    owner = value.owner
    if isinstance(owner, Block):
        return True  # a block argument
    if owner.parent_block() is not block:
        return True  # defined above the block: dominates it
    return position[owner] < at


def find_groups(block: Block) -> list[list[_Member]]:
    """The groups of `block`, each in program order, its first member first."""
    ops = list(block.ops)
    position = {op: i for i, op in enumerate(ops)}
    taken: set[Operation] = set()
    groups = []
    for i, leader in enumerate(ops):
        if not isinstance(leader, LinearMapOp) or leader in taken:
            continue
        if not _batchable(leader):
            continue
        members = [
            _Member(op, list(range(len(op.inputs))), op.directions, False)
            for op in ops[i:]
            if isinstance(op, LinearMapOp)
            and op not in taken
            and op.body.is_structurally_equivalent(leader.body)
        ]
        for op in ops:
            operands = None if op in taken else _inlined_operands(leader, op)
            if operands is not None:
                members.append(_Member(op, operands, 1, True))
        members.sort(key=lambda m: position[m.op])
        for k, first in enumerate(members):
            at = position[first.op]
            group = [
                m
                for m in members[k:]
                if all(_defined_before(v, block, position, at) for v in m.inputs)
            ]
            if sum(not m.inlined for m in group) >= 2:
                groups.append(group)
                taken.update(m.op for m in group)
                break
    return groups


def _rows_and_width(group: Sequence[_Member], batch: int) -> tuple[int, int]:
    """The merged GEMM's rows (dynamic sizes taken as `batch`) and its output
    width (the last size of a slice of the result)."""
    first = group[0].op
    slice_shape = shape_of(first.results[0])[0 if group[0].inlined else 1 :]
    per_slice = math.prod(batch if s == DYNAMIC_INDEX else s for s in slice_shape[:-1])
    return per_slice * sum(m.directions for m in group), slice_shape[-1]


# ------------------------------------------------------------------- rewrite


def batch_group(group: Sequence[_Member]) -> None:
    """Replaces the members by slices of one map of their concatenated inputs,
    placed where the first member was."""
    first = group[0].op
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
            for group in find_groups(function.body.block):
                if self.always or worth_batching(*_rows_and_width(group, self.batch)):
                    batch_group(group)

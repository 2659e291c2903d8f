"""
`fold-seed-broadcasts`: keeps seed directions shared by every datum
unbroadcast through the first layer.

An operator's seed directions (the identity for the Laplacian, the columns of a
factor of C, interpolation directions) are the same for every datum: a
`tensor<R x D>` constant broadcast to `tensor<R x N x D>`. Broadcast, the first
layer multiplies `R x N` identical rows by the weight; unbroadcast, it multiplies
`R` rows, and identity seeds need no product at all (they pick the weight's
columns). The patterns move the broadcast down past that product, past
elementwise ops of broadcast operands (`z1 * z1` is computed on `R x H`, not
`R x N x H`) and past the sums over directions. The values are unchanged.

```mlir
// before
%b = linalg.broadcast ins(%id : tensor<3x3xf64>) outs(%e : tensor<3x?x3xf64>) dimensions = [1]
%u = taylor.linear_map %b : tensor<3x?x3xf64> -> tensor<3x?x4xf64> {
^bb0(%v: tensor<?x3xf64>):
  %m = linalg.matmul ins(%v, %wt : ...) outs(%zeros : tensor<?x4xf64>) -> tensor<?x4xf64>
  taylor.yield %m : tensor<?x4xf64>
}
%q = arith.mulf %u, %u : tensor<3x?x4xf64>
%s = taylor.sum %q : tensor<3x?x4xf64> -> tensor<?x4xf64>
// after
%u = linalg.broadcast ins(%wt : tensor<3x4xf64>) outs(... : tensor<3x?x4xf64>) dimensions = [1]
%q = arith.mulf %wt, %wt : tensor<3x4xf64>
%t = taylor.sum %q : tensor<3x4xf64> -> tensor<4xf64>
%s = linalg.broadcast ins(%t : tensor<4xf64>) outs(... : tensor<?x4xf64>) dimensions = [0]
```

The pass runs on the expanded or collapsed level (before
`convert-taylor-to-tensor`, which lowers the sums it leaves on `R x H` values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from taylor_mlir.dialects.taylor import LinearMapOp, SumOp, YieldOp
from taylor_mlir.ir.builder import (
    ELEMENTWISE_OPS,
    TensorBuilder,
    shape_of,
)
from taylor_mlir.ir.matchers import is_zero


def _erase_if_unused(rewriter: PatternRewriter, ops: Sequence[Operation]) -> None:
    """Erases the broadcasts a rewrite left unused (xDSL does not count linalg
    ops as pure, so its rewriter keeps them)."""
    for op in dict.fromkeys(ops):
        if not any(r.uses for r in op.results):
            rewriter.erase(op)


def _added(broadcast: linalg.BroadcastOp) -> list[int]:
    return list(broadcast.dimensions.get_values())


def _row_matmul_weight(linear_map: LinearMapOp) -> SSAValue | None:
    """W when the body is `matmul(row block, W)` into zeros, W from above."""
    block = linear_map.body.block
    ops = list(block.ops)
    if len(ops) != 2 or len(block.args) != 1:
        return None
    matmul, yield_op = ops
    if not isinstance(matmul, linalg.MatmulOp) or not isinstance(yield_op, YieldOp):
        return None
    lhs, rhs = matmul.inputs
    if lhs is not block.args[0] or yield_op.values[0] is not matmul.results[0]:
        return None
    if rhs.owner is not None and rhs.owner.parent_op() is linear_map:
        return None  # not from above (defined in the body: not captured)
    if not is_zero(matmul.outputs[0]):
        return None
    return rhs


class LinearMapOfBroadcast(RewritePattern):
    """
    Rows shared by every datum are multiplied once:

        %b = linalg.broadcast ins(%c : tensor<RxK>) outs(%e : tensor<Rx?xK>) dimensions = [1]
        %u = taylor.linear_map %b : ... -> tensor<Rx?xH> { matmul(%v, %w) }
    ->
        %p = linalg.matmul ins(%c, %w : tensor<RxK>, tensor<KxH>) outs(zeros : tensor<RxH>)
        %u = linalg.broadcast ins(%p) outs(... : tensor<Rx?xH>) dimensions = [1]
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LinearMapOp, rewriter: PatternRewriter) -> None:
        if len(op.inputs) != 1 or not isinstance(
            broadcast := op.inputs[0].owner, linalg.BroadcastOp
        ):
            return
        if _added(broadcast) != [1] or len(shape_of(broadcast.input)) != 2:
            return
        if (weight := _row_matmul_weight(op)) is None:
            return
        b = TensorBuilder(rewriter)
        product = b.matmul(broadcast.input, weight)
        sizes = b.sizes(broadcast.init)
        shape = [sizes[0], sizes[1], shape_of(weight)[1]]
        rewriter.replace(op, (), [b.broadcast(product, shape, [1])])
        _erase_if_unused(rewriter, [broadcast])


def _is_identity(value: SSAValue) -> bool:
    constant = value.owner
    if not isinstance(constant, arith.ConstantOp) or not isinstance(
        constant.value, DenseIntOrFPElementsAttr
    ):
        return False
    shape = shape_of(value)
    if len(shape) != 2 or shape[0] != shape[1]:
        return False
    values = np.asarray(constant.value.get_values(), dtype=np.float64)
    if values.size == 1:  # a splat: the identity only when 1 x 1 of one
        return shape[0] == 1 and values[0] == 1.0
    return bool(np.array_equal(values.reshape(shape), np.eye(shape[0])))


class FoldIdentityMatmul(RewritePattern):
    """
    Identity seeds pick the weight's rows:

        %id = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>
        %p = linalg.matmul ins(%id, %w : tensor<2x2xf64>, tensor<2xHxf64>) outs(zeros)
    ->
        // uses of %p use %w
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: linalg.MatmulOp, rewriter: PatternRewriter) -> None:
        lhs, rhs = op.inputs
        if not _is_identity(lhs) or not is_zero(op.outputs[0]):
            return
        if rhs.type != op.results[0].type:
            return
        rewriter.replace(op, (), [rhs])


class ElementwiseOfBroadcasts(RewritePattern):
    """
    An elementwise op of operands broadcast alike is computed before the
    broadcast:

        %a = linalg.broadcast ins(%x : tensor<RxH>) outs(%e) dimensions = [1]
        %p = arith.mulf %a, %a : tensor<Rx?xH>
    ->
        %q = arith.mulf %x, %x : tensor<RxH>
        %p = linalg.broadcast ins(%q) outs(... : tensor<Rx?xH>) dimensions = [1]
    """

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, ELEMENTWISE_OPS) or not op.operands:
            return
        broadcasts = [v.owner for v in op.operands]
        if not all(isinstance(o, linalg.BroadcastOp) for o in broadcasts):
            return
        first = broadcasts[0]
        if any(
            _added(o) != _added(first)
            or o.input.type.get_shape() != first.input.type.get_shape()  # type: ignore[union-attr]
            for o in broadcasts
        ):
            return
        b = TensorBuilder(rewriter)
        inner = b.elementwise_like(op, [o.input for o in broadcasts])  # type: ignore[union-attr]
        sizes = b.sizes(first.init)  # type: ignore[union-attr]
        rewriter.replace(op, (), [b.broadcast(inner, sizes, _added(first))])  # type: ignore[arg-type]
        _erase_if_unused(rewriter, broadcasts)  # type: ignore[arg-type]


class SumOfBroadcast(RewritePattern):
    """
    A sum over directions of a value broadcast along other dimensions is the
    broadcast sum:

        %b = linalg.broadcast ins(%x : tensor<RxH>) outs(%e : tensor<Rx?xH>) dimensions = [1]
        %s = taylor.sum %b : tensor<Rx?xH> -> tensor<?xH>
    ->
        %t = taylor.sum %x : tensor<RxH> -> tensor<H>
        %s = linalg.broadcast ins(%t) outs(... : tensor<?xH>) dimensions = [0]
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if not isinstance(broadcast := op.input.owner, linalg.BroadcastOp):
            return
        added = _added(broadcast)
        if 0 in added:
            return  # the direction axis itself is broadcast: SumOfReplicate's case
        b = TensorBuilder(rewriter)
        total = b.insert(SumOp(broadcast.input, op.weights)).results[0]
        sizes = b.sizes(broadcast.init)[1:]
        rewriter.replace(op, (), [b.broadcast(total, sizes, [d - 1 for d in added])])
        _erase_if_unused(rewriter, [broadcast])


@dataclass(frozen=True)
class FoldSeedBroadcastsPass(ModulePass):
    """Moves the broadcast of seed directions shared by all data past the first
    layer's matmul, the elementwise ops and the sums (see the module docstring)."""

    name = "fold-seed-broadcasts"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier(
            [
                LinearMapOfBroadcast(),
                FoldIdentityMatmul(),
                ElementwiseOfBroadcasts(),
                SumOfBroadcast(),
            ]
        )
        PatternRewriteWalker(patterns).rewrite_module(op)

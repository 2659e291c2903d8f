"""
`factor-replicates`: gathers the direction-independent factors of each
per-direction term into one replicated factor.

Taylor mode of a chain of elementwise ops on one jet (`1 - t*t`, `(2t*t - 2)*t`,
the s' and s'' of tanh in a Laplacian program, and every product by a
constant) builds each op's first coefficient from the previous one's: a scale by
a constant is a `taylor.linear_map`, a product adds two per-direction terms.
Every such coefficient is `replicate(g) * z` for one per-direction `z` (the
chain's input coefficient), so the rewrites below compute each with one
per-direction product, the factor `g` built on `tensor<S>`, once:

```mlir
// before                                          // after
%u = taylor.linear_map %z { x * %c }               %u = arith.mulf (replicate %c), %z
%p = arith.mulf (replicate %a), %u                 %p = arith.mulf (replicate (%a * %c)), %z
%q = arith.mulf (replicate %b), %z
%y = arith.addf %p, %q                             %y = arith.mulf (replicate (%a * %c + %b)), %z
```

It runs on the expanded level, before `taylor-collapse` (whose
`ReassociateReplicatedFactor` then takes the factors out of the sums of
products), and leaves CSE/DCE of the replaced terms to `tensor-cleanup`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from taylor_mlir.dialects.taylor import LinearMapOp, ReplicateOp, YieldOp
from taylor_mlir.ir.builder import TensorBuilder
from taylor_mlir.ir.matchers import splat_value


def _replicated_term(value: SSAValue) -> tuple[ReplicateOp, SSAValue] | None:
    """(replicate, per-direction operand) of `arith.mulf(replicate(g), z)`
    (taylor-expand's order, the factor on the left), else None."""
    product = value.owner
    if not isinstance(product, arith.MulfOp):
        return None
    if not isinstance(replicate := product.lhs.owner, ReplicateOp):
        return None
    return replicate, product.rhs


def _term(
    b: TensorBuilder, factor: SSAValue, per_direction: SSAValue, directions: int
) -> SSAValue:
    replicated = b.insert(ReplicateOp(factor, directions)).results[0]
    return b.mul(replicated, per_direction)


class FoldMulByOne(RewritePattern):
    """
    A product by a tensor of ones is the other operand:

        %one = linalg.fill ins(%c1 : f64) outs(%e : tensor<S>) -> tensor<S>
        %y = arith.mulf %x, %one : tensor<S>
    ->
        // uses of %y use %x
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.MulfOp, rewriter: PatternRewriter) -> None:
        for one, other in ((op.rhs, op.lhs), (op.lhs, op.rhs)):
            if splat_value(one) == 1.0 and other.type == op.result.type:
                rewriter.replace(op, (), [other])
                return


class ScaleMapToProduct(RewritePattern):
    """
    A linear map scaling each direction by one direction-independent tensor
    (captured from above) is a product with its replicate:

        %u = taylor.linear_map %z : tensor<RxS> -> tensor<RxS> {
        ^bb0(%a: tensor<S>):
          %m = arith.mulf %a, %c : tensor<S>
          taylor.yield %m : tensor<S>
        }
    ->
        %rc = taylor.replicate %c : tensor<S> -> tensor<RxS>
        %u = arith.mulf %rc, %z : tensor<RxS>
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LinearMapOp, rewriter: PatternRewriter) -> None:
        block = op.body.block
        if len(op.inputs) != 1 or op.inputs[0].type != op.result.type:
            return
        ops = list(block.ops)
        if len(ops) != 2 or not isinstance(scale := ops[0], arith.MulfOp):
            return
        if not isinstance(ops[1], YieldOp) or tuple(ops[1].values) != (scale.result,):
            return
        (argument,) = block.args
        for arg, factor in ((scale.lhs, scale.rhs), (scale.rhs, scale.lhs)):
            # the body has no other op: a factor that is not the argument is
            # defined above it, the same in every direction
            if arg is not argument or factor is argument or factor.type != arg.type:
                continue
            b = TensorBuilder(rewriter)
            rewriter.replace(op, (), [_term(b, factor, op.inputs[0], op.directions)])
            return


class MergeReplicatedFactors(RewritePattern):
    """
    Two replicated factors of one term are one, multiplied on `tensor<S>`:

        %p = arith.mulf %rb, %z : tensor<RxS>     // %rb = taylor.replicate %b
        %q = arith.mulf %ra, %p : tensor<RxS>     // %ra = taylor.replicate %a
    ->
        %ab = arith.mulf %a, %b : tensor<S>
        %q = arith.mulf (taylor.replicate %ab), %z : tensor<RxS>
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.MulfOp, rewriter: PatternRewriter) -> None:
        if (outer := _replicated_term(op.result)) is None:
            return
        if (inner := _replicated_term(outer[1])) is None:
            return
        (ra, _), (rb, z) = outer, inner
        b = TensorBuilder(rewriter)
        factor = b.mul(ra.input, rb.input)
        rewriter.replace(op, (), [_term(b, factor, z, ra.directions)])


class FactorCommonOperand(RewritePattern):
    """
    A sum or difference of terms of one per-direction value is one term:

        %p = arith.mulf %ra, %z : tensor<RxS>     // %ra = taylor.replicate %a
        %q = arith.mulf %rb, %z : tensor<RxS>     // %rb = taylor.replicate %b
        %y = arith.addf %p, %q : tensor<RxS>
    ->
        %ab = arith.addf %a, %b : tensor<S>
        %y = arith.mulf (taylor.replicate %ab), %z : tensor<RxS>

    (`arith.subf` gives `%a - %b`)
    """

    def match_and_rewrite(self, op, rewriter: PatternRewriter) -> None:
        if not isinstance(op, arith.AddfOp | arith.SubfOp):
            return
        if (left := _replicated_term(op.lhs)) is None:
            return
        if (right := _replicated_term(op.rhs)) is None or right[1] is not left[1]:
            return
        (ra, z), (rb, _) = left, right
        b = TensorBuilder(rewriter)
        combine = b.add if isinstance(op, arith.AddfOp) else b.sub
        factor = combine(ra.input, rb.input)
        rewriter.replace(op, (), [_term(b, factor, z, ra.directions)])


FACTOR_PATTERNS: tuple[type[RewritePattern], ...] = (
    FoldMulByOne,
    ScaleMapToProduct,
    MergeReplicatedFactors,
    FactorCommonOperand,
)


@dataclass(frozen=True)
class FactorReplicatesPass(ModulePass):
    """Gathers the direction-independent factors of every per-direction term."""

    name = "factor-replicates"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier([p() for p in FACTOR_PATTERNS])
        PatternRewriteWalker(patterns).rewrite_module(op)

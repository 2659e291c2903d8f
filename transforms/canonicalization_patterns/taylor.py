"""
Canonicalization patterns of the `taylor` dialect.

The ops of `dialects/taylor.py` return these from `get_canonicalization_patterns`
(xDSL's `HasCanonicalizationPatternsInterface`), so `taylor-opt -p canonicalize`
applies them; they live beside the passes because they build IR with the
`TensorBuilder`, as xDSL keeps its own in `transforms/canonicalization_patterns`. Each pattern has its op as root and only removes structure that
adds nothing: a coefficient read back from the seed that gave it, a sum of a
replicated value, a weight shared by every direction, an identity body, an
offset by zero.
"""

from __future__ import annotations

from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from taylor_mlir.dialects.taylor import (
    CoefficientOp,
    LinearMapOp,
    LinearOp,
    OffsetOp,
    ReplicateOp,
    SeedOp,
    SumOp,
    YieldOp,
)
from taylor_mlir.ir.builder import TensorBuilder
from taylor_mlir.ir.matchers import is_zero


class CoefficientOfSeed(RewritePattern):
    """
    A coefficient the seed was given is the seed's operand:

        %j = taylor.seed %x, %v : tensor<S>, tensor<RxS> -> !taylor.jet<2, R, tensor<S>>
        %c0 = taylor.coefficient %j[0] : !taylor.jet<2, R, tensor<S>> -> tensor<S>
        %c1 = taylor.coefficient %j[1] : !taylor.jet<2, R, tensor<S>> -> tensor<RxS>
    ->
        // uses of %c0 use %x, uses of %c1 use %v

    Coefficients the seed leaves out (zero, here %j[2]) are kept.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: CoefficientOp, rewriter: PatternRewriter) -> None:
        if not isinstance(seed := op.jet.owner, SeedOp):
            return
        given = (seed.primal, *seed.coefficients)
        k = op.index.data
        if k >= len(given) or given[k].type != op.result.type:
            return
        rewriter.replace(op, (), [given[k]])


class SumOfReplicate(RewritePattern):
    """
    The weighted sum of a replicated value is the value times the sum of weights:

        %r = taylor.replicate %c : tensor<S> -> tensor<RxS>
        %t = taylor.sum %r weights [w]
    ->
        %t = arith.mulf (linalg.fill sum(w)), %c : tensor<S>

    (just %c when the weights sum to one, a zero fill when they sum to zero)
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if not isinstance(replicate := op.input.owner, ReplicateOp):
            return
        total = sum(op.weight_values())
        value = replicate.input
        b = TensorBuilder(rewriter)
        if total == 1.0:
            rewriter.replace(op, (), [value])
        elif total == 0.0:
            rewriter.replace(op, (), [b.full_like(value, 0.0)])
        else:
            rewriter.replace(op, (), [b.mul(b.full_like(value, total), value)])


class FactorUniformWeights(RewritePattern):
    """
    A sum whose weights are all one value `c` is `c` times the unweighted sum:

        %t = taylor.sum %x weights [c, c, c] : tensor<3xS> -> tensor<S>
    ->
        %s = taylor.sum %x : tensor<3xS> -> tensor<S>
        %t = arith.mulf (linalg.fill c), %s : tensor<S>

    (just the unweighted sum when c = 1). The weighted sum multiplies every
    direction by its weight: R passes over per-direction values, where the
    factor is one pass over the sum (a randomized estimator's 1 / S), and an
    unweighted sum of squares is what the torch backend fuses.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if op.weights is None:
            return
        weights = op.weight_values()
        if any(w != weights[0] for w in weights):
            return
        b = TensorBuilder(rewriter)
        total = b.insert(SumOp(op.input)).results[0]
        if weights[0] != 1.0:
            total = b.mul(b.full_like(total, weights[0]), total)
        rewriter.replace(op, (), [total])


class RemoveIdentityBody(RewritePattern):
    """
    A linear op or linear map whose body yields its only argument is its operand:

        %y = taylor.linear_map %x : tensor<RxS> -> tensor<RxS> {
        ^bb0(%a: tensor<S>):
          taylor.yield %a : tensor<S>
        }
    ->
        // uses of %y use %x

    (the same for `taylor.linear` on jets)
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: LinearOp | LinearMapOp, rewriter: PatternRewriter
    ) -> None:
        block = op.body.block
        if len(op.inputs) != 1 or len(block.args) != 1:
            return
        if not isinstance(yielded := block.last_op, YieldOp):
            return
        if tuple(yielded.values) != (block.args[0],):
            return
        if op.inputs[0].type != op.result.type:
            return
        rewriter.replace(op, (), [op.inputs[0]])


class OffsetByZero(RewritePattern):
    """
    Offsetting a jet by a zero fill does nothing:

        %z = linalg.fill ins(%zero : f64) outs(%e : tensor<S>) -> tensor<S>
        %y = taylor.offset %j, %z : !taylor.jet<K, R, tensor<S>>, tensor<S>
    ->
        // uses of %y use %j
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: OffsetOp, rewriter: PatternRewriter) -> None:
        if not is_zero(op.offset):
            return
        rewriter.replace(op, (), [op.jet])

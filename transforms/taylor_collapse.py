"""
`taylor-collapse`: collapsed Taylor mode (Dangel et al., arXiv 2505.13644).

Every operator of order K (Laplacian, weighted Laplacian, biharmonic, their
randomized estimators) ends in one weighted `taylor.sum` over the directions of
the top Taylor coefficient. The top coefficient enters every propagation rule
linearly (`s' z_K`, `L(z_K)`), so the sum commutes with it: the patterns below
pull the sum up through additions, products with direction-independent factors
and linear maps, until it meets the products of lower coefficients
(`z_1 * z_1`, ...) where it stops. What is left propagates the top coefficient
once, already summed (`tensor<S>`), instead of once per direction
(`tensor<R x S>`).

Pushing `taylor.replicate` down is the companion rewrite: an op whose
per-direction operands are all replicated is computed once on the primal values.

The input is the expanded level of docs/ir-conventions.md (jet-level IR is
refused); the output is the same level with fewer per-direction values. The pass
only rewrites: the pipeline runs `tensor-cleanup` (CSE/DCE) after it, then
`schedule-sums-early` (each sum where its product is made: lower peak memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from xdsl.context import Context
from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    ModuleOp,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from taylor_mlir.dialects.taylor import (
    JetType,
    LinearMapOp,
    ReplicateOp,
    SumOp,
    yielded_value,
)
from taylor_mlir.errors import InternalError, InvalidIRError
from taylor_mlir.ir.builder import (
    ELEMENTWISE_OPS,
    Dim,
    TensorBuilder,
    element_of,
    shape_of,
)
from taylor_mlir.ir.matchers import constant_int, empty_sizes, is_zero, splat_value
from taylor_mlir.transforms.canonicalization_patterns.taylor import (
    FactorUniformWeights,
    SumOfReplicate,
)

# ------------------------------------------------------------------ matching

_OpT = TypeVar("_OpT", bound=Operation)


def _is_direction_independent(value: SSAValue) -> bool:
    """A per-direction value equal in every direction: a replicate or a fill."""
    return isinstance(value.owner, ReplicateOp) or splat_value(value) is not None


def _split_factor(product: arith.MulfOp) -> tuple[SSAValue, SSAValue] | None:
    """(direction-independent factor, other operand) of a product, the left
    operand first (taylor-expand's convention), else None."""
    if _is_direction_independent(product.lhs):
        return product.lhs, product.rhs
    if _is_direction_independent(product.rhs):
        return product.rhs, product.lhs
    return None


def _summed_producer(sum_op: SumOp, op_type: type[_OpT]) -> _OpT | None:
    """The op of type `op_type` defining the summed value, if the sum is its only
    use (pulling the sum up then removes the per-direction value)."""
    producer = sum_op.input.owner
    if isinstance(producer, op_type) and sum_op.input.has_one_use():
        return producer
    return None


def _summed_through_products(value: SSAValue) -> bool:
    """Whether the only use of `value` is a `taylor.sum`, directly or through a
    chain of single-use products."""
    while (user := value.get_user_of_unique_use()) is not None:
        if isinstance(user, SumOp):
            return True
        if not isinstance(user, arith.MulfOp):
            return False
        value = user.result
    return False


# ------------------------------------------------------------------ building


def _summed(b: TensorBuilder, value: SSAValue, like: SumOp) -> SSAValue:
    """`taylor.sum` of `value` with the weights of `like`."""
    return b.insert(SumOp(value, like.weights)).results[0]


def _replicated(b: TensorBuilder, value: SSAValue, directions: int) -> SSAValue:
    return b.insert(ReplicateOp(value, directions)).results[0]


# A size known without creating ops: a static size, an index value, or
# (tensor, i) for `tensor.dim` i of a tensor, all defined outside the region
# being looked at (a linear map's body).
_SizeFromAbove = int | SSAValue | tuple[SSAValue, int]


def _fill_sizes_from_above(value: SSAValue) -> list[_SizeFromAbove]:
    """The sizes S of a `tensor<R x S>` fill, read from the `tensor.empty` it
    fills when there is one (so the R-sized tensor is not kept alive for its
    sizes), else as its `tensor.dim`s."""
    sizes = empty_sizes(value)
    if sizes is None:
        shape = shape_of(value)
        return [(value, i) if s == DYNAMIC_INDEX else s for i, s in enumerate(shape)][
            1:
        ]
    return sizes[1:]


def _materialized(b: TensorBuilder, sizes: Sequence[_SizeFromAbove]) -> list[Dim]:
    """Sizes as `TensorBuilder` takes them, with the `tensor.dim`s emitted."""
    return [b.dim(*size) if isinstance(size, tuple) else size for size in sizes]


def _sizes_without_directions(b: TensorBuilder, value: SSAValue) -> list[Dim]:
    """The sizes S of a `tensor<R x S>` fill (see `_fill_sizes_from_above`)."""
    return _materialized(b, _fill_sizes_from_above(value))


def _primal_factor(b: TensorBuilder, value: SSAValue) -> SSAValue:
    """The `tensor<S>` value of a direction-independent `tensor<R x S>` one: the
    replicated value, or the same fill at the primal shape."""
    if isinstance(replicate := value.owner, ReplicateOp):
        return replicate.input
    fill_value = splat_value(value)
    if fill_value is None:
        raise InternalError(f"{value} is not direction-independent")
    return b.fill(fill_value, _sizes_without_directions(b, value), element_of(value))


# -------------------------------------------------------- pulling sums up


class PullSumThroughAdd(RewritePattern):
    """
    A weighted sum of an addition is the addition of the weighted sums:

        %s = arith.addf %a, %b : tensor<RxS>
        %t = taylor.sum %s weights [w] : tensor<RxS> -> tensor<S>
    ->
        %sa = taylor.sum %a weights [w] : tensor<RxS> -> tensor<S>
        %sb = taylor.sum %b weights [w] : tensor<RxS> -> tensor<S>
        %t = arith.addf %sa, %sb : tensor<S>
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if (add := _summed_producer(op, arith.AddfOp)) is None:
            return
        b = TensorBuilder(rewriter)
        rewriter.replace(
            op, (), [b.add(_summed(b, add.lhs, op), _summed(b, add.rhs, op))]
        )


class PullSumThroughSub(RewritePattern):
    """
    A weighted sum of a difference is the difference of the weighted sums:

        %s = arith.subf %a, %b : tensor<RxS>
        %t = taylor.sum %s weights [w]
    ->
        %t = arith.subf (taylor.sum %a weights [w]), (taylor.sum %b weights [w])
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if (sub := _summed_producer(op, arith.SubfOp)) is None:
            return
        b = TensorBuilder(rewriter)
        rewriter.replace(
            op, (), [b.sub(_summed(b, sub.lhs, op), _summed(b, sub.rhs, op))]
        )


class PullSumThroughNeg(RewritePattern):
    """
    A weighted sum of a negation is the negated weighted sum:

        %s = arith.negf %a : tensor<RxS>
        %t = taylor.sum %s weights [w]
    ->
        %t = arith.negf (taylor.sum %a weights [w]) : tensor<S>
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if (neg := _summed_producer(op, arith.NegfOp)) is None:
            return
        b = TensorBuilder(rewriter)
        rewriter.replace(op, (), [b.neg(_summed(b, neg.operand, op))])


class PullSumThroughReplicatedFactor(RewritePattern):
    """
    A direction-independent factor (a replicate, or a fill of the direction type)
    comes out of the sum; the factor may stand on either side of a product, and
    divides from the right:

        %rc = taylor.replicate %c : tensor<S> -> tensor<RxS>
        %p = arith.mulf %rc, %x : tensor<RxS>
        %t = taylor.sum %p weights [w]
    ->
        %sx = taylor.sum %x weights [w] : tensor<RxS> -> tensor<S>
        %t = arith.mulf %c, %sx : tensor<S>

        taylor.sum (arith.divf %x, %rc)  ->  arith.divf (taylor.sum %x), %c
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if (product := _summed_producer(op, arith.MulfOp)) is not None:
            if (split := _split_factor(product)) is None:
                return
            factor, per_direction = split
            b = TensorBuilder(rewriter)
            summed = _summed(b, per_direction, op)
            rewriter.replace(op, (), [b.mul(_primal_factor(b, factor), summed)])
            return
        if (quotient := _summed_producer(op, arith.DivfOp)) is not None:
            if not _is_direction_independent(quotient.rhs):
                return
            b = TensorBuilder(rewriter)
            summed = _summed(b, quotient.lhs, op)
            rewriter.replace(op, (), [b.div(summed, _primal_factor(b, quotient.rhs))])


class ReassociateReplicatedFactor(RewritePattern):
    """
    Brings a direction-independent factor buried in a product to the top, when
    the product is summed (directly or through further products), so that
    `PullSumThroughReplicatedFactor` takes it out of the sum:

        %p = arith.mulf %rc, %a : tensor<RxS>
        %q = arith.mulf %p, %b : tensor<RxS>
        %t = taylor.sum %q
    ->
        %ab = arith.mulf %a, %b : tensor<RxS>
        %q = arith.mulf %rc, %ab : tensor<RxS>
        %t = taylor.sum %q

    (%p may have other uses: it stays for them.)
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.MulfOp, rewriter: PatternRewriter) -> None:
        if _split_factor(op) is not None or not _summed_through_products(op.result):
            return
        for inner, other in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
            product = inner.owner
            # a product used elsewhere too stays for those uses: the summed
            # one is still one per-direction product, and the factor leaves
            # the sum (z1 * (c z1) -> c (z1 * z1), which CSE may share)
            if not isinstance(product, arith.MulfOp):
                continue
            if (split := _split_factor(product)) is None:
                continue
            factor, rest = split
            b = TensorBuilder(rewriter)
            # keep the operands in their order: p * b -> c * (a * b), b * p -> c * (b * a)
            rest_times_other = (
                b.mul(rest, other) if inner is op.lhs else b.mul(other, rest)
            )
            rewriter.replace(op, (), [b.mul(factor, rest_times_other)])
            return


class PullSumThroughLinearMap(RewritePattern):
    """
    The body of a linear map is linear in its arguments, so the weighted sum of
    its results is the body applied to the weighted sums of its operands:

        %y = taylor.linear_map %x1, %x2 : tensor<RxS1>, tensor<RxS2> -> tensor<RxT> {
        ^bb0(%a: tensor<S1>, %b: tensor<S2>):
          ...
          taylor.yield %r : tensor<T>
        }
        %t = taylor.sum %y weights [w]
    ->
        %s1 = taylor.sum %x1 weights [w] : tensor<RxS1> -> tensor<S1>
        %s2 = taylor.sum %x2 weights [w] : tensor<RxS2> -> tensor<S2>
        ... (the body on %s1, %s2)
        // %t is the yielded %r
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if (linear_map := _summed_producer(op, LinearMapOp)) is None:
            return
        b = TensorBuilder(rewriter)
        summed = [_summed(b, x, op) for x in linear_map.inputs]
        rewriter.replace(op, (), [b.inline(linear_map.body, summed)])


class SumOfFill(RewritePattern):
    """
    The weighted sum of a constant fill is a fill of the primal type:

        %f = linalg.fill ins(%v : f64) outs(%e : tensor<RxS>) -> tensor<RxS>
        %t = taylor.sum %f weights [w]
    ->
        %t = linalg.fill ins(v * sum(w)) outs(tensor.empty : tensor<S>) -> tensor<S>
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        if (value := splat_value(op.input)) is None:
            return
        b = TensorBuilder(rewriter)
        total = value * sum(op.weight_values())
        sizes = _sizes_without_directions(b, op.input)
        rewriter.replace(op, (), [b.fill(total, sizes, element_of(op.input))])


class MergeEqualSums(RewritePattern):
    """
    Equal sums of one value are one sum. A value reaching the operator's sum along
    two paths (a residual connection `x + f(x)`) gets a sum on each path; merged,
    the sum can be pulled further up:

        %s1 = taylor.sum %x weights [w]
        %s2 = taylor.sum %x weights [w]
    ->
        %s1 = taylor.sum %x weights [w]     // uses of %s2 use %s1
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        for use in op.input.uses:
            other = use.operation
            if (
                isinstance(other, SumOp)
                and other is not op
                and other.parent_block() is op.parent_block()
                and op.is_before_in_block(other)
                and other.weight_values() == op.weight_values()
            ):
                rewriter.replace(other, (), [op.result])
                return


# -------------------------------------------------------- folding zeros


class FoldMulByZero(RewritePattern):
    """
    A product with a zero fill is that zero fill (operands have one type):

        %z = linalg.fill ins(%zero) outs(...) ; %p = arith.mulf %z, %x  ->  %z
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.MulfOp, rewriter: PatternRewriter) -> None:
        for operand in op.operands:
            if is_zero(operand):
                rewriter.replace(op, (), [operand])
                return


class FoldAddOfZero(RewritePattern):
    """
    Adding a zero fill does nothing:

        %s = arith.addf %z, %x  ->  %x        %s = arith.addf %x, %z  ->  %x
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.AddfOp, rewriter: PatternRewriter) -> None:
        if is_zero(op.lhs):
            rewriter.replace(op, (), [op.rhs])
        elif is_zero(op.rhs):
            rewriter.replace(op, (), [op.lhs])


class FoldSubOfZero(RewritePattern):
    """
    Subtracting a zero fill does nothing; subtracting from one negates:

        %d = arith.subf %x, %z  ->  %x        %d = arith.subf %z, %x  ->  arith.negf %x
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.SubfOp, rewriter: PatternRewriter) -> None:
        if is_zero(op.rhs):
            rewriter.replace(op, (), [op.lhs])
        elif is_zero(op.lhs):
            rewriter.replace(op, (), [TensorBuilder(rewriter).neg(op.rhs)])


class FoldLinearMapOfZeros(RewritePattern):
    """
    A linear map of zeros is zero:

        %z = linalg.fill ins(%zero) outs(%e : tensor<RxS>) -> tensor<RxS>
        %y = taylor.linear_map %z : tensor<RxS> -> tensor<RxT> { ... }
    ->
        %y = linalg.fill ins(%zero) outs(tensor.empty : tensor<RxT>) -> tensor<RxT>

    The sizes of T are read off the body without running it (through inits,
    `tensor.empty`, `tensor.dim` and elementwise ops); when they cannot be, the
    map is left to `PushReplicateThroughLinearMap`.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LinearMapOp, rewriter: PatternRewriter) -> None:
        if not all(is_zero(x) for x in op.inputs):
            return
        block = op.body.block
        argument_sizes = {
            arg: _fill_sizes_from_above(x)
            for arg, x in zip(block.args, op.inputs, strict=True)
        }
        sizes = _sizes_from_above(yielded_value(op.body), block, argument_sizes)
        if sizes is None:
            return
        b = TensorBuilder(rewriter)
        shape = [op.directions, *_materialized(b, sizes)]
        zero = b.fill(0.0, shape, element_of(op.result))
        rewriter.replace(op, (), [zero])


def _sizes_from_above(
    value: SSAValue, body: Block, arguments: dict[SSAValue, list[_SizeFromAbove]]
) -> list[_SizeFromAbove] | None:
    """The sizes of a tensor computed in `body`, in terms of values defined
    outside it, or None when they cannot be read without running the body."""
    shape = shape_of(value)
    if DYNAMIC_INDEX not in shape:
        return list(shape)
    if value in arguments:
        return arguments[value]
    owner = value.owner
    if isinstance(value, BlockArgument) or owner.parent_block() is not body:
        return [(value, i) if s == DYNAMIC_INDEX else s for i, s in enumerate(shape)]
    if isinstance(owner, tensor.EmptyOp):
        sizes: list[_SizeFromAbove] = []
        for size in empty_sizes(value) or ():
            if isinstance(size, SSAValue):
                size = _index_from_above(size, body, arguments)
                if size is None:
                    return None
            sizes.append(size)
        return sizes
    if isinstance(owner, linalg.NamedOperation | linalg.TransposeOp):
        return _sizes_from_above(owner.outputs[0], body, arguments)
    if isinstance(owner, linalg.BroadcastOp | linalg.ReduceOp):
        return _sizes_from_above(owner.init, body, arguments)
    if isinstance(owner, ELEMENTWISE_OPS) and owner.operands[-1].type == value.type:
        return _sizes_from_above(owner.operands[-1], body, arguments)
    return None


def _index_from_above(
    index: SSAValue, body: Block, arguments: dict[SSAValue, list[_SizeFromAbove]]
) -> _SizeFromAbove | None:
    owner = index.owner
    if isinstance(index, BlockArgument) or owner.parent_block() is not body:
        return index
    if (constant := constant_int(index)) is not None:
        return constant
    if isinstance(owner, tensor.DimOp):
        position = _index_from_above(owner.index, body, arguments)
        sizes = _sizes_from_above(owner.source, body, arguments)
        if isinstance(position, int) and sizes is not None:
            return sizes[position]
    return None


# -------------------------------------------------------- pushing replicates down


class PushReplicateThroughElementwise(RewritePattern):
    """
    An elementwise op whose per-direction operands are all direction-independent
    (replicates, or fills of the direction type; at least one replicate) is
    computed once and replicated:

        %ra = taylor.replicate %a : tensor<S> -> tensor<RxS>
        %rb = taylor.replicate %b : tensor<S> -> tensor<RxS>
        %y = arith.mulf %ra, %rb : tensor<RxS>
    ->
        %p = arith.mulf %a, %b : tensor<S>
        %y = taylor.replicate %p : tensor<S> -> tensor<RxS>
    """

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, ELEMENTWISE_OPS):
            return
        replicates = [v.owner for v in op.operands if isinstance(v.owner, ReplicateOp)]
        if not replicates or not all(map(_is_direction_independent, op.operands)):
            return
        b = TensorBuilder(rewriter)
        primal = b.elementwise_like(op, [_primal_factor(b, v) for v in op.operands])
        rewriter.replace(op, (), [_replicated(b, primal, replicates[0].directions)])


class PushReplicateThroughLinearMap(RewritePattern):
    """
    A linear map of direction-independent operands is computed once and
    replicated:

        %rx = taylor.replicate %x : tensor<S> -> tensor<RxS>
        %y = taylor.linear_map %rx : tensor<RxS> -> tensor<RxT> { ^bb0(%a): ... }
    ->
        ... (the body on %x) yielding %r : tensor<T>
        %y = taylor.replicate %r : tensor<T> -> tensor<RxT>
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LinearMapOp, rewriter: PatternRewriter) -> None:
        if not all(map(_is_direction_independent, op.inputs)):
            return
        b = TensorBuilder(rewriter)
        primal = b.inline(op.body, [_primal_factor(b, x) for x in op.inputs])
        rewriter.replace(op, (), [_replicated(b, primal, op.directions)])


# ------------------------------------------------------------------- pass

COLLAPSE_PATTERNS: tuple[type[RewritePattern], ...] = (
    FoldMulByZero,
    FoldAddOfZero,
    FoldSubOfZero,
    FoldLinearMapOfZeros,
    PushReplicateThroughElementwise,
    PushReplicateThroughLinearMap,
    MergeEqualSums,
    SumOfReplicate,
    FactorUniformWeights,
    SumOfFill,
    PullSumThroughAdd,
    PullSumThroughSub,
    PullSumThroughNeg,
    PullSumThroughReplicatedFactor,
    ReassociateReplicatedFactor,
    PullSumThroughLinearMap,
)
"""The rewrites of `taylor-collapse`, tried in this order on every op."""


def _require_expanded_level(module: ModuleOp) -> None:
    """Jets left (before `taylor-expand`) would pass through the patterns
    untouched, leaving Taylor mode silently uncollapsed: refuse them."""
    for op in module.walk():
        if any(isinstance(v.type, JetType) for v in (*op.operands, *op.results)):
            raise InvalidIRError(
                f"taylor-collapse: {op.name} is jet-level IR (it uses a "
                "!taylor.jet); run taylor-mode and taylor-expand first"
            )


@dataclass(frozen=True)
class TaylorCollapsePass(ModulePass):
    """Collapses Taylor mode: pulls `taylor.sum` up and pushes `taylor.replicate`
    down until the top coefficient is propagated once, summed."""

    name = "taylor-collapse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        _require_expanded_level(op)
        patterns = GreedyRewritePatternApplier([p() for p in COLLAPSE_PATTERNS])
        PatternRewriteWalker(patterns).rewrite_module(op)

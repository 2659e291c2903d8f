"""
`convert-taylor-to-tensor`: lowers the expanded level to tensor-level IR.

The three ops that carry the direction structure become upstream ops
(docs/ir-conventions.md, "Lowered level"):

- `taylor.replicate` -> `linalg.broadcast` adding dimension 0;
- `taylor.sum` -> `linalg.reduce` over dimension 0, after a product with the
  broadcast weights when they are not all ones;
- `taylor.linear_map` -> its body, batched over a new leading axis R: one
  batching rule per op kind (`BATCHING_RULES`), in the manner of `vmap`, so a
  matmul of `R x N x K` per-direction rows with a weight is one `(R*N) x K` GEMM.

Everything is built with `TensorBuilder`, so the output is the tensor level both
backends run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp
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

from taylor_mlir.dialects.matrix import MATRIX_OPS
from taylor_mlir.dialects.taylor import (
    LinearMapOp,
    ReplicateOp,
    StopGradientOp,
    SumOp,
    YieldOp,
)
from taylor_mlir.errors import InvalidIRError, UnsupportedOperatorError
from taylor_mlir.ir.builder import (
    ELEMENTWISE_OPS,
    Dim,
    TensorBuilder,
    element_of,
    shape_of,
)
from taylor_mlir.ir.matchers import constant_int, is_sum_reduce, is_zero, splat_value


class LowerReplicate(RewritePattern):
    """
        %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
    ->
        %e = tensor.empty(%n) : tensor<3x?x4xf64>
        %r = linalg.broadcast ins(%c) outs(%e) dimensions = [0]
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ReplicateOp, rewriter: PatternRewriter) -> None:
        b = TensorBuilder(rewriter)
        rewriter.replace(op, (), [_repeated(b, op.input, op.directions)])


def _repeated(b: TensorBuilder, value: SSAValue, directions: int) -> SSAValue:
    """`value` repeated along a new leading axis: a `linalg.broadcast`, or for a
    constant fill the same fill at the larger shape."""
    shape = [directions, *b.sizes(value)]
    if (constant := splat_value(value)) is not None:
        return b.fill(constant, shape, element_of(value))
    return b.broadcast(value, shape, [0])


class LowerSum(RewritePattern):
    """
        %s = taylor.sum %x weights [w0, w1] : tensor<2x?x4xf64> -> tensor<?x4xf64>
    ->
        %w = arith.constant dense<[w0, w1]> : tensor<2xf64>
        %wb = linalg.broadcast ins(%w) outs(... : tensor<2x?x4xf64>) dimensions = [1, 2]
        %p = arith.mulf %x, %wb : tensor<2x?x4xf64>
        %s = linalg.reduce ins(%p) outs(zeros : tensor<?x4xf64>) dimensions = [0]

    (without weights, or with all weights one, %x is reduced directly)
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SumOp, rewriter: PatternRewriter) -> None:
        b = TensorBuilder(rewriter)
        summand = op.input
        weights = op.weight_values()
        if any(w != 1.0 for w in weights):
            element = element_of(summand)
            dims = b.dims(summand)
            constant = b.constant(np.array(weights), element)
            broadcast = b.broadcast(constant, dims, list(range(1, len(dims))))
            summand = b.mul(summand, broadcast)
        rewriter.replace(op, (), [b.reduce_sum(summand, [0])])


class LowerLinearMap(RewritePattern):
    """
    The body, batched over the directions (see `BATCHING_RULES`):

        %y = taylor.linear_map %x : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
        ^bb0(%v: tensor<?x2xf64>):
          %m = linalg.matmul ins(%v, %w : tensor<?x2xf64>, tensor<2x4xf64>) ...
          taylor.yield %m : tensor<?x4xf64>
        }
    ->
        %c = tensor.collapse_shape %x [[0, 1], [2]] : tensor<3x?x2xf64> into tensor<?x2xf64>
        %m = linalg.matmul ins(%c, %w : tensor<?x2xf64>, tensor<2x4xf64>) ...
        %y = tensor.expand_shape %m [[0, 1], [2]] output_shape [3, %n, 4] : ... into tensor<3x?x4xf64>
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LinearMapOp, rewriter: PatternRewriter) -> None:
        batcher = _Batcher(TensorBuilder(rewriter), op.directions)
        rewriter.replace(op, (), [batcher.batch_body(op)])


# ------------------------------------------------------------------ batching


class _Batcher:
    """Emits the body of a linear map once for all directions. Values computed
    from the block arguments are *batched* (a leading axis R); the others are
    cloned once, unbatched."""

    def __init__(self, builder: TensorBuilder, directions: int):
        self.b = builder
        self.directions = directions
        self.batched: dict[SSAValue, SSAValue] = {}
        self.unbatched: dict[SSAValue, SSAValue] = {}

    def batch_body(self, linear_map: LinearMapOp) -> SSAValue:
        block = linear_map.body.block
        self.batched.update(zip(block.args, linear_map.inputs, strict=True))
        for op in block.ops:
            if isinstance(op, YieldOp):
                return self.as_batched(op.values[0])
            if not any(self.is_batched(v) for v in op.operands):
                self.b.insert(op.clone(value_mapper=self.unbatched))
                continue
            rule = BATCHING_RULES.get(type(op))
            if rule is None:
                raise UnsupportedOperatorError(
                    op.name, detail="no batching rule for it inside taylor.linear_map"
                )
            new = rule(self, op)
            old = op.results[0]
            # a rule returns a batched tensor, or an unbatched value (a size)
            if new.type == old.type:
                self.unbatched[old] = new
            else:
                self.batched[old] = new
        raise InvalidIRError("taylor.linear_map: body does not end in taylor.yield")

    def is_batched(self, value: SSAValue) -> bool:
        return value in self.batched

    def value(self, value: SSAValue) -> SSAValue:
        """The new value of an unbatched one (captured values stay themselves)."""
        if self.is_batched(value):
            raise InvalidIRError(
                "taylor.linear_map: a value that depends on the directions is used "
                "where a direction-independent one is needed (a size or an init)"
            )
        return self.unbatched.get(value, value)

    def as_batched(self, value: SSAValue) -> SSAValue:
        """The batched value; an unbatched one is repeated along a new leading
        axis (a fill is filled again at the batched shape)."""
        if self.is_batched(value):
            return self.batched[value]
        return _repeated(self.b, self.value(value), self.directions)


def _require_zero_init(op: Operation, init: SSAValue) -> None:
    if not is_zero(init):
        raise UnsupportedOperatorError(
            op.name,
            detail="inside taylor.linear_map it must accumulate into a zero "
            "linalg.fill (anything else is not linear)",
        )


def _batch_matmul(batcher: _Batcher, op: linalg.MatmulOp) -> SSAValue:
    """x[R,M,K] @ W -> one (R*M) x K GEMM; A @ x[R,K,N] -> A @ x as K x (R*N)
    (`TensorBuilder.batch_matmul` with the shared matrix)."""
    _require_zero_init(op, op.outputs[0])
    lhs, rhs = op.inputs
    b = batcher.b
    if batcher.is_batched(lhs) and batcher.is_batched(rhs):
        raise UnsupportedOperatorError(
            op.name,
            detail="both operands depend on the directions (a product of two "
            "per-direction values is not linear)",
        )
    if batcher.is_batched(lhs):
        return b.batch_matmul(batcher.batched[lhs], batcher.value(rhs))
    return b.batch_matmul(batcher.value(lhs), batcher.batched[rhs])


def _batch_transpose(batcher: _Batcher, op: linalg.TransposeOp) -> SSAValue:
    permutation = [0, *(p + 1 for p in op.permutation.get_values())]
    return batcher.b.transpose(batcher.as_batched(op.inputs[0]), permutation)


def _batch_broadcast(batcher: _Batcher, op: linalg.BroadcastOp) -> SSAValue:
    b = batcher.b
    shape = [batcher.directions, *b.sizes(batcher.value(op.init))]
    added = [d + 1 for d in op.dimensions.get_values()]
    return b.broadcast(batcher.batched[op.input], shape, added)


def _batch_reduce(batcher: _Batcher, op: linalg.ReduceOp) -> SSAValue:
    if not is_sum_reduce(op):
        raise UnsupportedOperatorError(
            op.name, detail="only sums (a body of one arith.addf) are linear"
        )
    _require_zero_init(op, op.init)
    dims = [d + 1 for d in op.dimensions.get_values()]
    return batcher.b.reduce_sum(batcher.batched[op.input], dims)


def _shifted_reassociation(op: Operation) -> list[list[int]]:
    groups = op.reassociation  # type: ignore[attr-defined]
    shifted = [[i.value.data + 1 for i in group] for group in groups]
    return [[0], *shifted]


def _batch_collapse_shape(batcher: _Batcher, op: tensor.CollapseShapeOp) -> SSAValue:
    return batcher.b.collapse(batcher.batched[op.src], _shifted_reassociation(op))


def _batch_expand_shape(batcher: _Batcher, op: tensor.ExpandShapeOp) -> SSAValue:
    dynamic = iter(op.dynamic_output_shape)
    output_shape: list[Dim] = [
        batcher.value(next(dynamic)) if s == DYNAMIC_INDEX else s
        for s in op.static_output_shape.get_values()
    ]
    return batcher.b.expand(
        batcher.batched[op.src],
        _shifted_reassociation(op),
        [batcher.directions, *output_shape],
    )


def _batch_extract_slice(batcher: _Batcher, op: tensor.ExtractSliceOp) -> SSAValue:
    def mixed(static, dynamic) -> list[Dim]:
        values = iter(dynamic)
        return [
            batcher.value(next(values)) if s == DYNAMIC_INDEX else s
            for s in static.get_values()
        ]

    sizes = mixed(op.static_sizes, op.sizes)
    if len(shape_of(op.result)) != len(sizes):
        raise UnsupportedOperatorError(
            op.name, detail="rank-reducing slices are not batched"
        )
    return batcher.b.extract_slice(
        batcher.batched[op.source],
        [0, *mixed(op.static_offsets, op.offsets)],
        [batcher.directions, *sizes],
        [1, *mixed(op.static_strides, op.strides)],
    )


def _batch_concat(batcher: _Batcher, op: tensor.ConcatOp) -> SSAValue:
    values = [batcher.as_batched(v) for v in op.inputs]
    return batcher.b.concat(values, op.dim.value.data + 1)


def _batch_elementwise(batcher: _Batcher, op: Operation) -> SSAValue:
    return batcher.b.elementwise_like(op, [batcher.as_batched(v) for v in op.operands])


def _batch_dim(batcher: _Batcher, op: tensor.DimOp) -> SSAValue:
    """tensor.dim %x, i -> tensor.dim %batched_x, i + 1 (an unbatched size)."""
    index = constant_int(batcher.value(op.index))
    if index is None:
        raise UnsupportedOperatorError(
            op.name, detail="the dimension must be a constant inside taylor.linear_map"
        )
    size = batcher.b.dim(batcher.batched[op.source], index + 1)
    return batcher.b.index(size) if isinstance(size, int) else size


BatchingRule = Callable[[_Batcher, Operation], SSAValue]

BATCHING_RULES: dict[type[Operation], BatchingRule] = {
    linalg.MatmulOp: _batch_matmul,
    linalg.TransposeOp: _batch_transpose,
    linalg.BroadcastOp: _batch_broadcast,
    linalg.ReduceOp: _batch_reduce,
    tensor.CollapseShapeOp: _batch_collapse_shape,
    tensor.ExpandShapeOp: _batch_expand_shape,
    tensor.ExtractSliceOp: _batch_extract_slice,
    tensor.ConcatOp: _batch_concat,
    tensor.DimOp: _batch_dim,
    **{op_type: _batch_elementwise for op_type in ELEMENTWISE_OPS},
}
"""How each op kind of a linear map's body runs on operands with a leading
direction axis (the rule gets the op; its batched operands are in the batcher)."""

NEVER_BATCHED: tuple[type[Operation], ...] = (
    arith.ConstantOp,
    arith.MuliOp,
    tensor.EmptyOp,
    linalg.FillOp,
    StopGradientOp,
    *MATRIX_OPS,
)
"""Tensor-level ops without a batching rule: their operands are scalars, sizes
(a batched `tensor.dim` gives an unbatched size) or an empty init, or, for
`taylor.stop_gradient` and the `matrix` ops (not linear: taylor-mode applies
them to coefficient 0), only ever a direction-independent value outside linear
maps; so they are cloned as they are."""


# ------------------------------------------------------------------- pass


@dataclass(frozen=True)
class ConvertTaylorToTensorPass(ModulePass):
    """Lowers `taylor.replicate`, `taylor.sum` and `taylor.linear_map` to
    tensor-level IR."""

    name = "convert-taylor-to-tensor"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier(
            [LowerReplicate(), LowerSum(), LowerLinearMap()]
        )
        PatternRewriteWalker(patterns, apply_recursively=False).rewrite_module(op)
        for nested in op.walk():  # taylor.stop_gradient is tensor-level IR
            if nested.dialect_name() == "taylor" and not isinstance(
                nested, StopGradientOp
            ):
                raise InvalidIRError(
                    f"convert-taylor-to-tensor: {nested.name} is jet-level IR; run "
                    "taylor-mode and taylor-expand first"
                )

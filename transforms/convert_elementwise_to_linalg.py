"""
`convert-elementwise-to-linalg`: elementwise `arith`/`math` ops on tensors
become `linalg.generic`s.

IREE 3.13 compiles `linalg.generic` but no longer knows the named elementwise
ops (`linalg.add`, `linalg.exp`, ...), and its own conversion of `arith.select`
on dynamically shaped tensors fails; a generic whose body is the scalar op is
what every consumer understands. Operands that are a `linalg.fill` of a scalar
are not read as tensors: the body uses the scalar directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import tensor
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AffineMapAttr,
    IndexType,
    IntegerAttr,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.linalg.ops import FillOp, GenericOp, IteratorTypeAttr, YieldOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.transforms.dead_code_elimination import RemoveUnusedOperations

from taylor_mlir.ir.builder import ELEMENTWISE_OPS
from taylor_mlir.ir.matchers import fill_scalar


def _shape_source(operands: Sequence[SSAValue]) -> SSAValue:
    """A value of the result's shape to read dynamic sizes from: an operand
    that is not a fill, else a fill's destination (so the fill can die)."""
    for operand in operands:
        if fill_scalar(operand) is None:
            return operand
    return operands[0].owner.outputs[0]


class ElementwiseToGeneric(RewritePattern):
    """An elementwise op on tensors becomes a `linalg.generic` over all
    dimensions, with the op on scalars as its body and a `tensor.empty` (sized
    by `tensor.dim` of an operand) as its init. Fill operands are inlined:

        %c = arith.constant 2.0 : f64
        %two = linalg.fill ins(%c : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
        %y = arith.mulf %x, %two : tensor<?x4xf64>

    becomes

        %c0 = arith.constant 0 : index
        %n = tensor.dim %x, %c0 : tensor<?x4xf64>
        %init = tensor.empty(%n) : tensor<?x4xf64>
        %y = linalg.generic {indexing_maps = [id, id], iterator_types = [parallel, parallel]}
               ins(%x : tensor<?x4xf64>) outs(%init : tensor<?x4xf64>) {
        ^bb0(%a: f64, %out: f64):
          %m = arith.mulf %a, %c : f64
          linalg.yield %m : f64
        } -> tensor<?x4xf64>
    """

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, ELEMENTWISE_OPS) or len(op.results) != 1:
            return
        result_type = op.results[0].type
        if not isinstance(result_type, TensorType):
            return
        if not all(isinstance(v.type, TensorType) for v in op.operands):
            return  # a scalar condition of arith.select: not elementwise

        init_ops, init = _empty_like(result_type, _shape_source(op.operands))
        inputs, body = _scalar_body(op, result_type.get_element_type())
        rank = result_type.get_num_dims()
        identity = AffineMapAttr(AffineMap.identity(rank))
        generic = GenericOp(
            inputs,
            [init],
            Region(body),
            [identity] * (len(inputs) + 1),
            [IteratorTypeAttr.parallel()] * rank,
            [result_type],
        )
        rewriter.replace(op, [*init_ops, generic], generic.results)


def _empty_like(
    result_type: TensorType, sized_like: SSAValue
) -> tuple[list[Operation], SSAValue]:
    """A `tensor.empty` of result_type, dynamic sizes read from sized_like."""
    ops: list[Operation] = []
    dynamic_sizes: list[SSAValue] = []
    for i, size in enumerate(result_type.get_shape()):
        if size == DYNAMIC_INDEX:
            index = ConstantOp(IntegerAttr(i, IndexType()))
            dim = tensor.DimOp(sized_like, index)
            ops += [index, dim]
            dynamic_sizes.append(dim.result)
    empty = tensor.EmptyOp(dynamic_sizes, result_type)
    return [*ops, empty], empty.tensor


def _scalar_body(
    op: Operation, element_type: Attribute
) -> tuple[list[SSAValue], Block]:
    """The generic's inputs (the operands that are not fills) and its body:
    op on scalars (block arguments, or the fills' scalars), yielded."""
    inputs: list[SSAValue] = []
    body = Block()
    scalars: list[SSAValue] = []
    for operand in op.operands:
        scalar = fill_scalar(operand)
        if scalar is None:
            inputs.append(operand)
            scalar = body.insert_arg(operand.type.get_element_type(), len(inputs) - 1)
        scalars.append(scalar)
    body.insert_arg(element_type, len(inputs))  # the init's element, unused
    scalar_op = type(op).create(
        operands=scalars,
        result_types=[element_type],
        properties=dict(op.properties),
        attributes=dict(op.attributes),
    )
    body.add_ops([scalar_op, YieldOp(scalar_op.results[0])])
    return inputs, body


class EraseUnusedFill(RewritePattern):
    """A `linalg.fill` on tensors whose result is unused has no effect (xDSL's
    dce keeps it: the op declares no memory effects):

        %f = linalg.fill ins(%c : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>

    is erased (then %e and %c, if unused, by dce).
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: FillOp, rewriter: PatternRewriter, /):
        if op.results and all(isinstance(r.type, TensorType) for r in op.results):
            if all(r.first_use is None for r in op.results):
                rewriter.erase(op)


@dataclass(frozen=True)
class ConvertElementwiseToLinalgPass(ModulePass):
    """Elementwise arith/math ops on tensors -> `linalg.generic` (for IREE)."""

    name = "convert-elementwise-to-linalg"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            ElementwiseToGeneric(), apply_recursively=False
        ).rewrite_module(op)
        # fills that only fed elementwise ops are dead now
        PatternRewriteWalker(
            GreedyRewritePatternApplier([EraseUnusedFill(), RemoveUnusedOperations()]),
            walk_reverse=True,
        ).rewrite_module(op)

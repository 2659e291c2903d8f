"""
`taylor-mode`: replaces every `taylor.call @f(...)` by the jet propagation of
@f's body, inlined in the caller (docs/ir-conventions.md, "Jet level").

The callee's ops are walked in order with a map from callee values to caller
values, each either a jet or a plain tensor. An op without jet operands does not
depend on the directions and is cloned as is; an op with jet operands is mapped
by the rule registered for its class in `JET_RULES`:

```mlir
// callee                                  // caller, after taylor-mode
%m = linalg.matmul ins(%x, %w ...)         %m = taylor.linear %jx { ^bb0(%a): linalg.matmul ins(%a, %w ...) ... }
%h = arith.addf %m, %b                     %h = taylor.offset %m, %b
%t = math.tanh %h                          %t = taylor.elementwise "tanh" %h
%p = arith.mulf %t, %t                     %p = taylor.mul %t, %t
%c = taylor.stop_gradient %p               %c = taylor.stop_gradient (taylor.coefficient %p[0])
```

An op with jet operands and no rule raises `UnsupportedOperatorError` naming it.
A private callee left without users is erased.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, math, tensor
from xdsl.dialects.builtin import (
    ModuleOp,
    SymbolRefAttr,
    TensorType,
    i1,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.traits import SymbolTable

from taylor_mlir.dialects import arith_tensor, matrix, taylor
from taylor_mlir.dialects.elementwise import MATH_FUNCTIONS
from taylor_mlir.dialects.taylor import JetType
from taylor_mlir.errors import InternalError, InvalidIRError, UnsupportedOperatorError
from taylor_mlir.ir import matrix_algebra
from taylor_mlir.ir.builder import TensorBuilder
from taylor_mlir.ir.matchers import is_sum_reduce, is_zero, splat_value


class JetCallInliner:
    """Propagates jets through one callee body, emitting ops before a call.

    `values` maps each callee value to its caller value: a jet (type
    `!taylor.jet`) when it depends on the jet arguments, a plain tensor otherwise.
    """

    def __init__(
        self, call: taylor.CallOp, callee: func.FuncOp, builder: TensorBuilder
    ):
        self.builder = builder
        self.template = next(
            a.type for a in call.arguments if isinstance(a.type, JetType)
        )
        self.values: dict[SSAValue, SSAValue] = dict(
            zip(callee.body.block.args, call.arguments, strict=True)
        )
        self._primal_cache: dict[SSAValue, SSAValue] = {}

    # ------------------------------------------------------------- queries

    def value(self, callee_value: SSAValue) -> SSAValue:
        return self.values[callee_value]

    def operands(self, op: Operation) -> list[SSAValue]:
        return [self.values[o] for o in op.operands]

    @staticmethod
    def is_jet(value: SSAValue) -> bool:
        return isinstance(value.type, JetType)

    def jet_type(self, primal_type: Attribute) -> JetType:
        if not isinstance(primal_type, TensorType):
            raise InternalError(f"taylor-mode: a jet of {primal_type}")
        return self.template.with_primal_type(primal_type)

    # ------------------------------------------------------------ emitting

    def insert(self, op: Operation) -> SSAValue:
        self.builder.insert(op)
        return op.results[0]

    def primal(self, value: SSAValue) -> SSAValue:
        """A plain value: coefficient 0 of a jet, the value itself otherwise."""
        if not self.is_jet(value):
            return value
        if value not in self._primal_cache:
            self._primal_cache[value] = self.insert(taylor.CoefficientOp(value, 0))
        return self._primal_cache[value]

    def zeros_like(self, value: SSAValue) -> SSAValue:
        """A zero tensor of the primal type of `value`."""
        return self.builder.full_like(self.primal(value), 0.0)

    def clone(self, op: Operation, operands: Sequence[SSAValue]) -> Operation:
        """`op` with its operands replaced, position by position."""
        clone = op.clone()
        clone.operands = tuple(operands)
        return clone

    def linear(self, op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
        """`taylor.linear` applying `op` with its jet operands as block arguments
        (of the primal types) and its other operands captured from above."""
        jets = list(dict.fromkeys(v for v in operands if self.is_jet(v)))
        block = Block(arg_types=[j.type.primal_type for j in jets])  # type: ignore[union-attr]
        argument = dict(zip(jets, block.args, strict=True))
        body_op = self.clone(op, [argument.get(v, v) for v in operands])
        block.add_ops([body_op, taylor.YieldOp(body_op.results[0])])
        result_type = self.jet_type(body_op.results[0].type)
        return self.insert(taylor.LinearOp(jets, result_type, Region(block)))

    def offset(self, jet: SSAValue, offset: SSAValue) -> SSAValue:
        return self.insert(taylor.OffsetOp(jet, offset))

    def affine(self, op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
        """`op`, linear in its float operands jointly (select, concat), applied to
        jets and plain tensors: `f(x, t) = f(x, 0) + f(0, t)`, an offset linear
        map. Other operands (a select's condition) are kept."""
        plain = [v for v in operands if _is_float_tensor(v) and not self.is_jet(v)]
        if not plain:
            return self.linear(op, operands)
        linear_part = self.linear(
            op, [self.zeros_like(v) if v in plain else v for v in operands]
        )
        offset_part = self.insert(
            self.clone(
                op, [self.zeros_like(v) if self.is_jet(v) else v for v in operands]
            )
        )
        return self.offset(linear_part, offset_part)

    def from_template(
        self,
        template: Operation,
        operands: Sequence[SSAValue],
        build: Callable[[Operation, Sequence[SSAValue]], SSAValue],
    ) -> SSAValue:
        """`build` (linear or affine) applied to an op made up for the occasion,
        whose operands only give the types; the template is dropped after."""
        result = build(template, operands)
        template.erase()
        return result

    def mul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.insert(taylor.MulOp(a, b))

    def elementwise(
        self, function: str, jet: SSAValue, exponent: float | None = None
    ) -> SSAValue:
        return self.insert(taylor.ElementwiseOp(function, jet, exponent))

    def as_jet(self, value: SSAValue) -> SSAValue:
        """A jet for a callee result: plain values get zero higher coefficients."""
        if self.is_jet(value):
            return value
        jet_type = self.jet_type(value.type)
        first = jet_type.coefficient_type(1)
        dims = self.builder.dims(value)
        if first != jet_type.primal_type:
            dims = [jet_type.R, *dims]
        zero = self.builder.fill(0.0, dims, first.get_element_type())
        return self.insert(taylor.SeedOp(value, [zero], jet_type))

    # ----------------------------------------------------------- the walk

    def propagate(self, callee: func.FuncOp) -> list[SSAValue]:
        """Maps every op of the callee; returns the caller values of its results."""
        for op in callee.body.block.ops:
            if isinstance(op, func.ReturnOp):
                return [self.as_jet(self.value(v)) for v in op.arguments]
            operands = self.operands(op)
            if not any(self.is_jet(v) for v in operands):
                self.insert_plain_clone(op, operands)
                continue
            rule = JET_RULES.get(type(op))
            if rule is None:
                raise UnsupportedOperatorError(
                    op.name, detail="no Taylor-mode rule for this op on a jet operand"
                )
            results = rule(self, op, operands)
            for callee_result, result in zip(op.results, results, strict=True):
                if result.name_hint is None:
                    result.name_hint = callee_result.name_hint
                self.values[callee_result] = result
        raise InvalidIRError(f"@{callee.sym_name.data} does not end in func.return")

    def insert_plain_clone(self, op: Operation, operands: Sequence[SSAValue]) -> None:
        """A direction-independent op: computed once, as in the primal."""
        clone = self.clone(op, operands)
        self.builder.insert(clone)
        self.values.update(zip(op.results, clone.results, strict=True))


def _is_float_tensor(value: SSAValue) -> bool:
    return isinstance(value.type, JetType) or (
        isinstance(value.type, TensorType) and value.type.get_element_type() != i1
    )


# ------------------------------------------------------------------ the rules

Rule = Callable[[JetCallInliner, Operation, list[SSAValue]], Sequence[SSAValue]]


def _linear_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    """Ops linear in their (only) tensor operand: negf, transpose, broadcast,
    collapse/expand_shape, extract_slice; the init of linalg ops is captured."""
    return [p.linear(op, operands)]


def _primal_only_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    """cmpf, tensor.dim, linalg.fill, stop_gradient: functions of coefficient 0
    that are not differentiated (a comparison, a shape, a detached value); the
    result is a plain tensor, a constant of the jet."""
    clone = p.clone(op, [p.primal(v) for v in operands])
    p.builder.insert(clone)
    return list(clone.results)


def _addf_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    lhs, rhs = operands
    if p.is_jet(lhs) and p.is_jet(rhs):
        return [p.linear(op, operands)]
    jet, offset = (lhs, rhs) if p.is_jet(lhs) else (rhs, lhs)
    return [p.offset(jet, offset)]


def _subf_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    lhs, rhs = operands
    if p.is_jet(lhs) and p.is_jet(rhs):
        return [p.linear(op, operands)]
    if p.is_jet(lhs):  # x - t = offset(x, -t)
        return [p.offset(lhs, p.builder.neg(rhs))]
    # t - x = offset(-x, t)
    negated = p.from_template(arith.NegfOp(op.operands[1]), [rhs], p.linear)
    return [p.offset(negated, lhs)]


def _mulf_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    lhs, rhs = operands
    if p.is_jet(lhs) and p.is_jet(rhs):
        return [p.mul(lhs, rhs)]
    return [p.linear(op, operands)]


def _divf_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    lhs, rhs = operands
    if not p.is_jet(rhs):  # x / t is linear in x
        return [p.linear(op, operands)]
    reciprocal = p.elementwise("reciprocal", rhs)
    if p.is_jet(lhs):
        return [p.mul(lhs, reciprocal)]
    # t / x = t * (1/x), linear in 1/x
    template = arith.MulfOp(op.operands[0], op.operands[1])
    return [p.from_template(template, [lhs, reciprocal], p.linear)]


def _math_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    return [p.elementwise(MATH_FUNCTIONS[type(op)].name, operands[0])]


def _powf_rule(p: JetCallInliner, op: math.PowFOp, operands: list[SSAValue]):
    """`z^w`: a constant w is the `pow` function; another w constant along
    the jet (a buffer) is `taylor.pow`; a w that varies with x is
    `exp(w log z)`, real for z > 0 only, as torch's derivative in w
    (`z^w log z`)."""
    base, exponent = operands
    if not p.is_jet(exponent):
        constant = splat_value(op.rhs)
        if constant is not None:
            return [p.elementwise("pow", base, constant)]
        return [p.insert(taylor.PowOp(base, exponent))]
    if p.is_jet(base):
        log_base = p.elementwise("log", base)
        return [p.elementwise("exp", p.mul(exponent, log_base))]
    log_base = p.insert(math.LogOp(base))  # c^w = exp(w log c), linear in w
    product = p.from_template(
        arith.MulfOp(op.rhs, op.lhs), [exponent, log_base], p.linear
    )
    return [p.elementwise("exp", product)]


def _select(
    p: JetCallInliner, like: Operation, condition: SSAValue, a: SSAValue, b: SSAValue
) -> SSAValue:
    """`select(condition, a, b)` with a plain condition, as an affine map of the
    jet operands (the branch is fixed by the primal)."""
    placeholder = like.results[0]  # gives the operand type; replaced when cloned
    template = arith_tensor.SelectOp(condition, placeholder, placeholder)
    return p.from_template(template, [condition, a, b], p.affine)


def _select_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    condition, a, b = operands
    if p.is_jet(condition):
        raise UnsupportedOperatorError(op.name, detail="a jet condition")
    return [p.affine(op, operands)]


def _extremum_rule(predicate: str, name: str):
    """maximumf/minimumf: `select(a0 >= b0, a, b)` (resp. <=) on the primal
    comparison; maximumf(x, 0) is the `relu` function."""

    def rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
        a, b = operands
        if name == "maximumf":
            if p.is_jet(a) and not p.is_jet(b) and is_zero(op.operands[1]):
                return [p.elementwise("relu", a)]
            if p.is_jet(b) and not p.is_jet(a) and is_zero(op.operands[0]):
                return [p.elementwise("relu", b)]
        condition = p.builder.cmpf(predicate, p.primal(a), p.primal(b))
        return [_select(p, op, condition, a, b)]

    return rule


def _matmul_rule(p: JetCallInliner, op: linalg.MatmulOp, operands: list[SSAValue]):
    """A matmul with one jet input is linear in it; a nonzero init is an offset."""
    inputs, (init,) = operands[: len(op.inputs)], operands[len(op.inputs) :]
    if p.is_jet(init) or all(p.is_jet(v) for v in inputs):
        raise UnsupportedOperatorError(
            op.name, detail="a matmul must have exactly one jet operand, an input"
        )
    return [_accumulating_linear(p, op, inputs, init)]


def _reduce_rule(p: JetCallInliner, op: linalg.ReduceOp, operands: list[SSAValue]):
    """A sum-reduction is linear in its input; a nonzero init is an offset."""
    if not is_sum_reduce(op):
        raise UnsupportedOperatorError(
            op.name, detail="only sum reductions (body arith.addf) are linear"
        )
    source, init = operands
    if p.is_jet(init):
        raise UnsupportedOperatorError(op.name, detail="a jet init")
    return [_accumulating_linear(p, op, [source], init)]


def _accumulating_linear(
    p: JetCallInliner, op: Operation, inputs: list[SSAValue], init: SSAValue
) -> SSAValue:
    """linalg ops accumulate into their init: `y = init + L(x)`."""
    init_op = op.operands[-1]
    if is_zero(init_op):
        return p.linear(op, [*inputs, init])
    linear = p.linear(op, [*inputs, p.builder.full_like(init, 0.0)])
    return p.offset(linear, init)


def _concat_rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
    return [p.affine(op, operands)]


# ---------------------------------------------------------- matrix functions
# A matrix function of a jet X is written, for the jet's order K, as a primal
# program that equals it up to O(t^(K+1)) and applies the matrix op only to the
# primal: with X0 = coefficient 0 of X (a plain tensor: constant for the jets,
# not for autograd, so parameter gradients flow through it), Y0 = inv(X0) and
# P = Y0 (X - X0) = O(t),
# X = X0 (I + P), so
#   X^-1        = (I + P)^-1 Y0       = sum_{m=0..K} (-P)^m Y0,
#   log |det X| = log |det X0| + S,   S = tr log(I + P) = sum_{m=1..K} (-1)^(m+1) tr(P^m) / m,
#   det X       = det X0 * exp(S).
# That program is then propagated like the callee's ops: products of matrices
# are broadcasts, products and sums (ir/matrix_algebra.py), so the jets get
# Leibniz's rule and `exp` Faa di Bruno's, exact at any order, and collapse like
# any product (no new jet op, so taylor-expand, taylor-collapse and the
# lowering need no rule). The direct recurrence of the coefficients would need
# the coefficients, which only exist after taylor-expand. At a singular X0
# there is no Y0: the torch backend's matrix.inv raises CallError there (torch
# defines det's derivative at a singular matrix through the adjugate; this
# refuses rather than give another number).


def _inv_series(b: TensorBuilder, x: SSAValue, x0: SSAValue, order: int) -> SSAValue:
    """sum_{m=0..K} (-P)^m Y0 by Horner's rule: W <- Y0 - P W, K times."""
    y0, e = matrix_algebra.inv(b, x0), b.sub(x, x0)
    p = matrix_algebra.matmul(b, y0, e)
    w = y0
    for _ in range(order):
        w = b.sub(y0, matrix_algebra.matmul(b, p, w))
    return w


def _log_det_series(
    b: TensorBuilder, y0: SSAValue, e: SSAValue, order: int
) -> SSAValue:
    """S = sum_{m=1..K} (-1)^(m+1) tr(P^m) / m with tr(P^m) = tr(P^(m-1) P)
    (traces of products, not products: tr(P) = tr(Y0 E))."""
    total = matrix_algebra.trace_of_product(b, y0, e)
    if order == 1:
        return total
    p = matrix_algebra.matmul(b, y0, e)
    power = p  # P^(m-1)
    for m in range(2, order + 1):
        trace = matrix_algebra.trace_of_product(b, power, p)
        term = b.mul(trace, b.full_like(trace, (-1.0) ** (m + 1) / m))
        total = b.add(total, term)
        if m < order:
            power = matrix_algebra.matmul(b, power, p)
    return total


def _logabsdet_series(
    b: TensorBuilder, x: SSAValue, x0: SSAValue, order: int
) -> SSAValue:
    y0, e = matrix_algebra.inv(b, x0), b.sub(x, x0)
    return b.add(matrix_algebra.logabsdet(b, x0), _log_det_series(b, y0, e, order))


def _det_series(b: TensorBuilder, x: SSAValue, x0: SSAValue, order: int) -> SSAValue:
    y0, e = matrix_algebra.inv(b, x0), b.sub(x, x0)
    growth = b.unary("exp", _log_det_series(b, y0, e, order))
    return b.mul(matrix_algebra.det(b, x0), growth)


Series = Callable[[TensorBuilder, SSAValue, SSAValue, int], SSAValue]


def _series_rule(series: Series) -> Rule:
    """A matrix op on a jet X: `series(X, X0, K)` (above) built for the jet's
    order as a function of X and its primal X0, then propagated in its place."""

    def rule(p: JetCallInliner, op: Operation, operands: list[SSAValue]):
        (x,) = operands
        primal_type = x.type.primal_type  # type: ignore[union-attr]
        block = Block(arg_types=[primal_type, primal_type])
        matrix, primal = block.args
        result = series(TensorBuilder(block), matrix, primal, p.template.K)
        block.add_op(func.ReturnOp(result))
        types = ([primal_type, primal_type], [result.type])
        expansion = func.FuncOp(op.name, types, Region(block))
        p.values.update({matrix: x, primal: p.primal(x)})
        return p.propagate(expansion)

    return rule


JET_RULES: dict[type[Operation], Rule] = {
    arith.AddfOp: _addf_rule,
    arith.SubfOp: _subf_rule,
    arith.MulfOp: _mulf_rule,
    arith.DivfOp: _divf_rule,
    arith.NegfOp: _linear_rule,
    arith.MaximumfOp: _extremum_rule("oge", "maximumf"),
    arith.MinimumfOp: _extremum_rule("ole", "minimumf"),
    arith_tensor.SelectOp: _select_rule,
    arith.SelectOp: _select_rule,
    arith_tensor.CmpfOp: _primal_only_rule,
    arith.CmpfOp: _primal_only_rule,
    tensor.DimOp: _primal_only_rule,
    linalg.FillOp: _primal_only_rule,
    taylor.StopGradientOp: _primal_only_rule,
    **{op: _math_rule for op in MATH_FUNCTIONS},
    math.PowFOp: _powf_rule,
    linalg.MatmulOp: _matmul_rule,
    linalg.TransposeOp: _linear_rule,
    linalg.BroadcastOp: _linear_rule,
    linalg.ReduceOp: _reduce_rule,
    tensor.CollapseShapeOp: _linear_rule,
    tensor.ExpandShapeOp: _linear_rule,
    tensor.ExtractSliceOp: _linear_rule,
    tensor.ConcatOp: _concat_rule,
    matrix.InvOp: _series_rule(_inv_series),
    matrix.DetOp: _series_rule(_det_series),
    matrix.LogAbsDetOp: _series_rule(_logabsdet_series),
}

NEVER_ON_JETS: tuple[type[Operation], ...] = (
    arith.ConstantOp,
    tensor.EmptyOp,
    arith.MuliOp,
)
"""Tensor-level ops without a rule: no tensor operands (constants) or only sizes
(index values are never jets), so they are always cloned as they are."""


# ------------------------------------------------------------------ the pass


class InlineJetCall(RewritePattern):
    """
    Replaces a `taylor.call` by the jet propagation of the callee's body.

    ```mlir
    // before
    %y = taylor.call @f(%j, %w) : (!taylor.jet<2, 3, tensor<?x2xf64>>, tensor<2x4xf64>) -> !taylor.jet<2, 3, tensor<?x4xf64>>
    // after: @f's ops, each mapped to a jet op or cloned
    %m = taylor.linear %j : ... { ^bb0(%x: tensor<?x2xf64>): linalg.matmul ins(%x, %w ...) ... }
    %y = taylor.elementwise "tanh" %m : !taylor.jet<2, 3, tensor<?x4xf64>>
    ```
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: taylor.CallOp, rewriter: PatternRewriter, /):
        callee = SymbolTable.lookup_symbol(op, op.callee)
        if not isinstance(callee, func.FuncOp):
            raise InvalidIRError(f"taylor.call: no func.func named {op.callee}")
        if callee.is_declaration:
            raise InvalidIRError(
                f"taylor.call: @{callee.sym_name.data} is a declaration, it has no "
                "body to propagate jets through"
            )
        inliner = JetCallInliner(op, callee, TensorBuilder(rewriter))
        results = inliner.propagate(callee)
        rewriter.replace(op, [], results)


def _referenced_symbols(module: ModuleOp) -> set[str]:
    names: set[str] = set()
    for op in module.walk():
        for attr in (*op.properties.values(), *op.attributes.values()):
            if isinstance(attr, SymbolRefAttr):
                names.add(attr.root_reference.data)
    return names


@dataclass(frozen=True)
class TaylorModePass(ModulePass):
    """Inlines every `taylor.call` as jet propagation; erases private callees
    left without users."""

    name = "taylor-mode"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        callees = {
            call.callee.root_reference.data
            for call in op.walk()
            if isinstance(call, taylor.CallOp)
        }
        PatternRewriteWalker(InlineJetCall(), apply_recursively=False).rewrite_module(
            op
        )
        used = _referenced_symbols(op)
        for function in list(op.ops):
            if (
                isinstance(function, func.FuncOp)
                and function.sym_name.data in callees
                and function.sym_name.data not in used
                and function.sym_visibility is not None
                and function.sym_visibility.data == "private"
            ):
                op.body.block.erase_op(function)

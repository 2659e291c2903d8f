"""
`taylor-expand`: lowers jets to coefficient tensors (docs/ir-conventions.md,
"Expanded level"). This is standard Taylor mode, the baseline that
`taylor-collapse` rewrites.

Every jet value becomes a list of K+1 coefficients: `tensor<S>` for k = 0,
`tensor<R x S>` (direction axis first) for k >= 1, and `None` for a coefficient
known to be zero, for which nothing is emitted. Each jet op has one expansion
rule in `EXPANSION_RULES`:

```mlir
// before                                   // after (coefficient k >= 1)
%y = taylor.linear %x {...}                 %y_k = taylor.linear_map %x_k {...}
%y = taylor.mul %a, %b                      %y_k = sum_j arith.mulf(taylor.replicate(C(k,j) a_0), b_k) ...
%y = taylor.elementwise "tanh" %z           %y_k = sum_partitions arith.mulf(taylor.replicate(c s^(n)), z_i ... z_j)
%y = taylor.pow %z, %w                      the same, with s^(n) = w (w-1) ... (w-n+1) z_0^(w-n)
```

Every product term is `arith.mulf(taylor.replicate(%c), %p)`: the
direction-independent factor (constants folded in) on the left, the product of
per-direction coefficients on the right; `taylor-collapse` matches this shape.

A collapsed jet (`!taylor.jet<K, R, tensor<S>, collapsed>`) keeps its top
coefficient summed over the directions (`tensor<S>`): linear maps apply to it
directly, and the top coefficient of a product or elementwise function is the
`taylor.sum` of the terms of lower-order coefficients plus the terms linear in
the top coefficient (`s' z_K`, `a_0 b_K`, `b_0 a_K`), computed once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import cast

from xdsl.builder import InsertPoint
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from taylor_mlir.dialects import taylor
from taylor_mlir.dialects.elementwise import ELEMENTWISE_FUNCTIONS, OrderTooHighError
from taylor_mlir.dialects.taylor import JetType, direction_type
from taylor_mlir.errors import InternalError, InvalidIRError, UnsupportedOperatorError
from taylor_mlir.ir.builder import IRElementwiseOps, TensorBuilder

Coefficients = list[SSAValue | None]
"""Coefficients 0..K of a jet; None is a coefficient known to be zero (never
coefficient 0: a seed gives it, every rule computes it)."""


# ------------------------------------------------------------ Faa di Bruno


@cache
def integer_partitions(k: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The partitions of k as `((part, multiplicity), ...)`, parts ascending;
    the partitions with more parts first (k = 3: 1+1+1, 1+2, 3)."""

    def partitions(n: int, smallest: int) -> list[list[int]]:
        if n == 0:
            return [[]]
        return [
            [part, *rest]
            for part in range(smallest, n + 1)
            for rest in partitions(n - part, part)
        ]

    result = []
    for parts in sorted(partitions(k, 1), key=lambda p: (-len(p), p)):
        result.append(tuple((i, parts.count(i)) for i in sorted(set(parts))))
    return tuple(result)


def faa_di_bruno_coefficient(k: int, partition: Sequence[tuple[int, int]]) -> int:
    """`k! / prod_i (m_i! (i!)^m_i)`: the number of set partitions of {1..k}
    with m_i blocks of size i."""
    denominator = 1
    for part, multiplicity in partition:
        denominator *= (
            math.factorial(multiplicity) * math.factorial(part) ** multiplicity
        )
    return math.factorial(k) // denominator


# ------------------------------------------------------------- the expander


class JetExpander:
    """Emits the coefficients of the jets of one function, op by op."""

    def __init__(self) -> None:
        self.coefficients: dict[SSAValue, Coefficients] = {}
        self._builder: TensorBuilder | None = None

    @property
    def builder(self) -> TensorBuilder:
        if self._builder is None:
            raise InternalError("JetExpander.builder before at(op)")
        return self._builder

    def at(self, op: Operation) -> None:
        """Emits before `op` from now on."""
        self._builder = TensorBuilder(InsertPoint.before(op))

    # ----------------------------------------------------------- values

    def of(self, jet: SSAValue) -> Coefficients:
        if jet not in self.coefficients:
            raise InvalidIRError(
                f"taylor-expand: jet {jet} is not defined by a taylor op in this "
                "function (jet-typed function arguments are not supported)"
            )
        return self.coefficients[jet]

    def zeros(self, jet_type: JetType, k: int, primal: SSAValue) -> SSAValue:
        """A zero coefficient k for a jet whose coefficient 0 is `primal`."""
        dims = self.builder.dims(primal)
        if jet_type.coefficient_type(k) != jet_type.primal_type:
            dims = [jet_type.R, *dims]
        return self.builder.fill(0.0, dims, jet_type.primal_type.get_element_type())

    def insert(self, op: Operation) -> SSAValue:
        self.builder.insert(op)
        return op.results[0]

    # ------------------------------------------------------------ terms

    def product(self, factors: Sequence[SSAValue]) -> SSAValue:
        result = factors[0]
        for factor in factors[1:]:
            result = self.builder.mul(result, factor)
        return result

    def total(self, terms: Sequence[SSAValue]) -> SSAValue | None:
        if not terms:
            return None
        result = terms[0]
        for term in terms[1:]:
            result = self.builder.add(result, term)
        return result

    def scaled(
        self, factor: SSAValue | None, scale: int, like: SSAValue
    ) -> SSAValue | None:
        """`scale * factor` at the primal type; None when it is the constant 1."""
        if factor is None:
            return None if scale == 1 else self.builder.full_like(like, float(scale))
        if scale == 1:
            return factor
        return self.builder.mul(self.builder.full_like(factor, float(scale)), factor)

    def term(
        self,
        factor: SSAValue | None,
        scale: int,
        per_direction: Sequence[SSAValue],
        directions: int,
        like: SSAValue,
    ) -> SSAValue:
        """`arith.mulf(taylor.replicate(scale * factor), prod(per_direction))`."""
        product = self.product(per_direction)
        constant = self.scaled(factor, scale, like)
        if constant is None:
            return product
        replicated = self.insert(taylor.ReplicateOp(constant, directions))
        return self.builder.mul(replicated, product)

    def summed_top(self, per_direction_terms: list[SSAValue], once: list[SSAValue]):
        """Top coefficient of a collapsed jet: the direction sum of the terms of
        lower coefficients plus the terms linear in the top one."""
        terms = list(once)
        per_direction = self.total(per_direction_terms)
        if per_direction is not None:
            terms.insert(0, self.insert(taylor.SumOp(per_direction)))
        return self.total(terms)

    # ------------------------------------------------------------ the walk

    def expand(self, function: func.FuncOp) -> None:
        jet_ops: list[Operation] = []
        for block in function.body.blocks:
            for arg in block.args:
                if isinstance(arg.type, JetType):
                    raise InvalidIRError(
                        f"taylor-expand: @{function.sym_name.data} takes a jet "
                        "argument; jets must be built by taylor.seed in the function"
                    )
            for op in list(block.ops):
                rule = EXPANSION_RULES.get(type(op))
                if rule is None:
                    _check_no_jet_operand(op)
                    continue
                self.at(op)
                coefficients = rule(self, op)
                if isinstance(op, taylor.CoefficientOp):
                    op.result.replace_all_uses_with(coefficients[0])
                else:
                    self.coefficients[op.results[0]] = coefficients
                jet_ops.append(op)
        for op in reversed(jet_ops):
            op.detach()
            op.erase()


def _check_no_jet_operand(op: Operation) -> None:
    if isinstance(op, taylor.CallOp):
        raise InvalidIRError(
            "taylor-expand: taylor.call found; run taylor-mode before taylor-expand"
        )
    for operand in op.operands:
        if isinstance(operand.type, JetType):
            raise InvalidIRError(
                f"taylor-expand: {op.name} takes a jet operand; only taylor ops may "
                "use jets (read coefficients with taylor.coefficient)"
            )


# ----------------------------------------------------------------- the rules

Rule = Callable[[JetExpander, Operation], Coefficients]


def _jet_type(value: SSAValue) -> JetType:
    """The type of a jet operand or result of a taylor op (its verifier checked)."""
    return cast(JetType, value.type)


def _expand_seed(e: JetExpander, op: taylor.SeedOp) -> Coefficients:
    """seed x0, x1, ..., xn -> [x0, x1, ..., xn, None, ...]."""
    given = [op.primal, *op.coefficients]
    return given + [None] * (_jet_type(op.result).K + 1 - len(given))


def _expand_coefficient(e: JetExpander, op: taylor.CoefficientOp) -> Coefficients:
    """coefficient %j[k] -> the value, a zero fill when known to be zero."""
    coefficients = e.of(op.jet)
    k = op.index.data
    value = coefficients[k]
    if value is None:
        value = e.zeros(_jet_type(op.jet), k, coefficients[0])  # type: ignore[arg-type]
    return [value]


def _expand_linear(e: JetExpander, op: taylor.LinearOp) -> Coefficients:
    """k = 0 (and a collapsed top): the body inlined; k >= 1: taylor.linear_map
    over the per-direction coefficients, None when all inputs are zero."""
    result = _jet_type(op.result)
    inputs = [(_jet_type(i), e.of(i)) for i in op.inputs]
    out: Coefficients = [e.builder.inline(op.body, [c[0] for _, c in inputs])]  # type: ignore[misc]
    for k in range(1, result.K + 1):
        if all(c[k] is None for _, c in inputs):
            out.append(None)
            continue
        arguments = [
            c[k] if c[k] is not None else e.zeros(t, k, c[0])  # type: ignore[arg-type]
            for t, c in inputs
        ]
        if result.coefficient_type(k) == result.primal_type:  # collapsed top
            out.append(e.builder.inline(op.body, arguments))
            continue
        map_type = direction_type(result.R, result.primal_type)
        out.append(e.insert(taylor.LinearMapOp(arguments, map_type, op.body.clone())))
    return out


def _expand_offset(e: JetExpander, op: taylor.OffsetOp) -> Coefficients:
    """Only coefficient 0 moves: [x0 + b, x1, ..., xK]."""
    coefficients = e.of(op.jet)
    return [e.builder.add(coefficients[0], op.offset), *coefficients[1:]]  # type: ignore[arg-type]


def _expand_mul(e: JetExpander, op: taylor.MulOp) -> Coefficients:
    """Leibniz: (ab)_k = sum_j C(k, j) a_j b_{k-j}; the terms with a_0 or b_0
    replicate them (times C(k, j) = 1), the others replicate the constant."""
    jet = _jet_type(op.result)
    a, b = e.of(op.lhs), e.of(op.rhs)
    a0, b0 = a[0], b[0]
    out: Coefficients = [e.builder.mul(a0, b0)]
    for k in range(1, jet.K + 1):
        collapsed_top = jet.coefficient_type(k) == jet.primal_type
        per_direction: list[SSAValue] = []
        once: list[SSAValue] = []
        for j in range(k + 1):
            a_j, b_kj = a[j], b[k - j]
            if a_j is None or b_kj is None:
                continue
            if j == 0 or j == k:
                primal, varying = (a0, b_kj) if j == 0 else (b0, a_j)
                if collapsed_top:  # the summed top coefficient, used once
                    once.append(e.builder.mul(primal, varying))
                else:
                    per_direction.append(e.term(primal, 1, [varying], jet.R, a0))
            else:
                per_direction.append(
                    e.term(None, math.comb(k, j), [a_j, b_kj], jet.R, a0)
                )
        out.append(_combine(e, collapsed_top, per_direction, once))
    return out


def _expand_elementwise(e: JetExpander, op: taylor.ElementwiseOp) -> Coefficients:
    """s(z) from the derivatives its rule emits at z_0 (`_faa_di_bruno`)."""
    jet = _jet_type(op.result)
    z = e.of(op.operand)
    exponent = op.exponent.value.data if op.exponent is not None else None
    name = op.function.data
    try:
        derivatives = ELEMENTWISE_FUNCTIONS[name].derivatives(
            IRElementwiseOps(e.builder), z[0], jet.K, exponent
        )
    except OrderTooHighError as error:
        raise UnsupportedOperatorError(
            f"taylor.elementwise {name!r}", detail=str(error)
        ) from None
    return _faa_di_bruno(e, jet, z, derivatives)


def _expand_pow(e: JetExpander, op: taylor.PowOp) -> Coefficients:
    """z^w for w constant along the jet: `s^(k)(z_0) = w (w-1) ... (w-k+1)
    z_0^(w-k)`, 0 where that product is 0 (an integer w below k), as torch's
    derivative, which is 0 there even at z_0 = 0 (where z_0^(w-k) is inf)."""
    jet = _jet_type(op.result)
    z = e.of(op.base_)
    b, w = e.builder, op.exponent
    derivatives: list[SSAValue | None] = [b.powf(z[0], w)]
    zero = b.full_like(w, 0.0)
    falling, shifted = w, w  # w (w-1) ... (w-k+1) and w - k + 1
    for k in range(1, jet.K + 1):
        if k > 1:
            falling = b.mul(falling, shifted)
        shifted = b.sub(w, b.full_like(w, float(k)))
        derivative = b.mul(falling, b.powf(z[0], shifted))
        derivatives.append(b.select(b.cmpf("oeq", falling, zero), zero, derivative))
    return _faa_di_bruno(e, jet, z, derivatives)


def _faa_di_bruno(
    e: JetExpander,
    jet: JetType,
    z: Coefficients,
    derivatives: Sequence[SSAValue | None],
) -> Coefficients:
    """Faa di Bruno: y_k = sum over partitions of k with multiplicities m_i of
    k! / prod(m_i! (i!)^m_i) * s^(sum m_i)(z_0) * prod z_i^m_i."""
    z0 = z[0]
    out: Coefficients = [derivatives[0]]
    for k in range(1, jet.K + 1):
        collapsed_top = jet.coefficient_type(k) == jet.primal_type
        per_direction: list[SSAValue] = []
        once: list[SSAValue] = []
        for partition in integer_partitions(k):
            derivative = derivatives[sum(m for _, m in partition)]
            factors = [z[i] for i, m in partition for _ in range(m)]
            if derivative is None or any(f is None for f in factors):
                continue
            if collapsed_top and partition == ((k, 1),):  # s' z_K, once
                once.append(e.builder.mul(derivative, factors[0]))  # type: ignore[arg-type]
                continue
            scale = faa_di_bruno_coefficient(k, partition)
            per_direction.append(e.term(derivative, scale, factors, jet.R, z0))  # type: ignore[arg-type]
        out.append(_combine(e, collapsed_top, per_direction, once))
    return out


def _combine(
    e: JetExpander,
    collapsed_top: bool,
    per_direction: list[SSAValue],
    once: list[SSAValue],
) -> SSAValue | None:
    if collapsed_top:
        return e.summed_top(per_direction, once)
    return e.total(per_direction)


EXPANSION_RULES: dict[type[Operation], Rule] = {
    taylor.SeedOp: _expand_seed,
    taylor.CoefficientOp: _expand_coefficient,
    taylor.LinearOp: _expand_linear,
    taylor.OffsetOp: _expand_offset,
    taylor.MulOp: _expand_mul,
    taylor.ElementwiseOp: _expand_elementwise,
    taylor.PowOp: _expand_pow,
}


@dataclass(frozen=True)
class TaylorExpandPass(ModulePass):
    """Replaces every jet by its coefficient tensors (standard Taylor mode)."""

    name = "taylor-expand"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        functions = [f for f in op.walk() if isinstance(f, func.FuncOp)]
        for function in functions:
            if not function.is_declaration:
                JetExpander().expand(function)

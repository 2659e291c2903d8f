"""
Elementwise functions known to `taylor.elementwise`, with their derivative rules.

A rule returns `[s(z), s'(z), ..., s^(n)(z)]` at the primal point `z`, written
against a tiny arithmetic interface (`ElementwiseOps`) so the same rule emits IR
(the expand pass) or evaluates torch tensors (the unit tests check every rule
against torch autograd). Faa di Bruno's formula then combines the derivatives
with the jet's coefficients (`transforms/taylor_expand.py`).

`ELEMENTWISE_FUNCTIONS` at the bottom is the one table of the elementwise
functions: each entry names its rule, its op and its ATen op, and every
pass and backend derives what it needs from it (the frontend's ATen rules,
taylor-mode's op -> function map, the tensor-level elementwise vocabulary, the
torch backend's kernels). Adding a function is one rule and one entry. A
derivative that is identically zero is returned as `None`, so no work is
emitted for it (piecewise-linear functions).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from xdsl.dialects import math as math_dialect
from xdsl.ir import Operation

from taylor_mlir.dialects import special
from taylor_mlir.dialects.special import MAX_POLYGAMMA

Value = Any  # an SSAValue when emitting IR, a torch.Tensor when evaluating


class ElementwiseOps(Protocol):
    """The arithmetic a derivative rule may use. `None` stands for zero."""

    def constant(self, value: float, like: Value) -> Value: ...
    def add(self, a: Value, b: Value) -> Value: ...
    def sub(self, a: Value, b: Value) -> Value: ...
    def mul(self, a: Value, b: Value) -> Value: ...
    def div(self, a: Value, b: Value) -> Value: ...
    def neg(self, a: Value) -> Value: ...
    def primitive(self, name: str, a: Value) -> Value:
        """One of PRIMITIVES applied elementwise."""
        ...

    def powf(self, a: Value, exponent: float) -> Value:
        """a ** exponent for a non-integer exponent (a > 0)."""
        ...


# Primitives are the functions rules call through `ops.primitive(name, z)`: those
# with a `math` op (the table's `math_op`) and these three, which have none and
# which the tensor level spells as fixed compositions (docs/ir-conventions.md).
COMPOSED_PRIMITIVES = ("sigmoid", "relu", "step")


class OrderTooHighError(ValueError):
    """A rule asked for derivatives beyond those it has (taylor-expand reports
    it as an unsupported operator)."""


Rule = Callable[[ElementwiseOps, Value, int, float | None], list[Value | None]]


@dataclass(frozen=True)
class ElementwiseFunction:
    """An elementwise function s: `taylor.elementwise "<name>"`."""

    name: str
    rule: Rule
    """`[s(z), s'(z), ..., s^(n)(z)]`; at order 0 it emits s(z) alone."""
    math_op: type[Operation] | None = None
    """The op that computes s at tensor level (a `math` op, or one of
    `dialects/special.py` where `math` has none); None when the tensor level
    computes s from other ops (the rule's primal)."""
    aten: str | None = None
    """The ATen op `torch.ops.aten.<aten>.default` that is s: the frontend imports
    it as s, and the torch backend runs `math_op` with it."""
    aten_args: tuple[int, ...] = ()
    """Arguments the ATen op takes before the tensor (polygamma's n)."""
    needs_exponent: bool = False

    def derivatives(
        self, ops: ElementwiseOps, z: Value, order: int, exponent: float | None = None
    ) -> list[Value | None]:
        """`[s(z), s'(z), ..., s^(order)(z)]`, None where identically zero."""
        return self.rule(ops, z, order, exponent)

    def primal(self, ops: ElementwiseOps, z: Value, exponent: float | None = None):
        """s(z), as every part of the compiler emits it."""
        return self.rule(ops, z, 0, exponent)[0]


# ------------------------------------------------------------- shared machinery


def _polynomial_derivatives(
    ops: ElementwiseOps, u: Value, chain: list[int], order: int
) -> list[Value | None]:
    """Derivatives of s where s = u and du/dz = chain(u) is a polynomial in u.

    Then every s^(n) is a polynomial P_n(u) with P_0 = u and
    P_{n+1} = P_n' * chain. `chain` lists coefficients, lowest degree first
    (tanh: 1 - u^2 = [1, 0, -1]; sigmoid: u - u^2 = [0, 1, -1]). Past the
    first, each derivative is emitted as that product, `P_n'(u) * s'`, reusing
    s' = chain(u): two ops fewer per order than P_{n+1} in full (tanh's s''
    is `(-2 u) * s'`, not `((2 u) u - 2) u`).
    """
    out = [u]
    if order == 0:
        return out
    first = _horner(ops, u, chain)
    out.append(first)
    p = chain
    for _ in range(1, order):
        derivative = _poly_derivative(p)
        factor = _horner(ops, u, derivative)
        out.append(None if factor is None else ops.mul(factor, first))
        p = _poly_mul(derivative, chain)
    return out


def _poly_derivative(p: list) -> list:
    return [i * c for i, c in enumerate(p)][1:] or [0]


def _poly_mul(p: list, q: list) -> list:
    prod = [0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            prod[i + j] += a * b
    return prod


def _poly_add(p: list, q: list) -> list:
    n = max(len(p), len(q))
    return [(p[i] if i < len(p) else 0) + (q[i] if i < len(q) else 0) for i in range(n)]


def _algebraic_derivatives(
    ops: ElementwiseOps,
    z: Value,
    primal: Value,
    order: int,
    q: list[int],
    alpha: float,
    first: int = 1,
) -> list[Value | None]:
    """Derivatives of s with s' = first * q(z)^alpha, q a polynomial in z and
    alpha -1 or -1/2 (atan, asin, ...).

    By induction s^(n) = P_n(z) q^(alpha - n + 1) with P_1 = first and
    P_{n+1} = P_n' q + (alpha - n + 1) P_n q' (differentiate the product).
    q^(alpha - n + 1) is q^alpha (1/q or rsqrt q) times (1/q)^(n - 1).
    """
    out: list[Value | None] = [primal]
    if order == 0:
        return out
    qz = _horner(ops, z, list(q))
    power = ops.div(ops.constant(1.0, z), qz) if alpha == -1 else ops.primitive(
        "rsqrt", qz
    )  # fmt: skip
    inverse = power if alpha == -1 else ops.div(ops.constant(1.0, z), qz)
    p: list = [first]
    for n in range(1, order + 1):
        if n > 1:
            p = _poly_add(
                _poly_mul(_poly_derivative(p), q),
                [(alpha - n + 2) * c for c in _poly_mul(p, _poly_derivative(q))],
            )
            power = ops.mul(power, inverse)
        if p == [1]:
            out.append(power)
        else:
            poly = _horner(ops, z, p)
            out.append(None if poly is None else ops.mul(poly, power))
    return out


def _horner(ops: ElementwiseOps, u: Value, coefficients: list[int]) -> Value | None:
    while coefficients and coefficients[-1] == 0:
        coefficients = coefficients[:-1]
    if not coefficients:
        return None
    acc = ops.constant(float(coefficients[-1]), u)
    for c in reversed(coefficients[:-1]):
        acc = ops.mul(acc, u)
        if c != 0:
            acc = ops.add(acc, ops.constant(float(c), u))
    return acc


def _integer_power(ops: ElementwiseOps, z: Value, n: int) -> Value:
    """z ** n for an integer n >= 1 by repeated squaring (exact for negative z)."""
    result = None
    base = z
    while n:
        if n & 1:
            result = base if result is None else ops.mul(result, base)
        n >>= 1
        if n:
            base = ops.mul(base, base)
    return result


def _power(ops: ElementwiseOps, z: Value, exponent: float) -> Value:
    """z ** exponent; integer exponents by multiplication (valid for z < 0)."""
    if exponent == 0:
        return ops.constant(1.0, z)
    if float(exponent).is_integer():
        n = int(exponent)
        positive = _integer_power(ops, z, abs(n))
        return positive if n > 0 else ops.div(ops.constant(1.0, z), positive)
    if exponent == 0.5:
        return ops.primitive("sqrt", z)
    if exponent == -0.5:
        return ops.primitive("rsqrt", z)
    return ops.powf(z, exponent)


def _power_rule(
    ops: ElementwiseOps, z: Value, order: int, exponent: float, primal: Value
) -> list[Value | None]:
    """s = z^p: s^(n) = p (p-1) ... (p-n+1) z^(p-n)."""
    out: list[Value | None] = [primal]
    falling = 1.0
    for n in range(1, order + 1):
        falling *= exponent - (n - 1)
        if falling == 0:
            out.extend([None] * (order + 1 - n))
            break
        out.append(ops.mul(ops.constant(falling, z), _power(ops, z, exponent - n)))
    return out


# ---------------------------------------------------------------------- rules


def _tanh(ops, z, order, _):
    return _polynomial_derivatives(ops, ops.primitive("tanh", z), [1, 0, -1], order)


def _sigmoid(ops, z, order, _):
    return _polynomial_derivatives(ops, ops.primitive("sigmoid", z), [0, 1, -1], order)


def _exp(ops, z, order, _):
    e = ops.primitive("exp", z)
    return [e] * (order + 1)


def _sin_cos(first: str):
    def rule(ops, z, order, _):
        if order == 0:
            return [ops.primitive(first, z)]
        s, c = ops.primitive("sin", z), ops.primitive("cos", z)
        cycle = [s, c, ops.neg(s), ops.neg(c)] if first == "sin" else [
            c, ops.neg(s), ops.neg(c), s
        ]  # fmt: skip
        return [cycle[n % 4] for n in range(order + 1)]

    return rule


def _log_like(shift: bool):
    """log(u) with u = z (log) or u = 1 + z (log1p):
    s^(n) = (-1)^(n-1) (n-1)! / u^n."""

    def rule(ops, z, order, _):
        primal = ops.primitive("log1p" if shift else "log", z)
        if order == 0:
            return [primal]
        u = ops.add(z, ops.constant(1.0, z)) if shift else z
        inverse = ops.div(ops.constant(1.0, z), u)
        out, power = [primal], None
        for n in range(1, order + 1):
            power = inverse if power is None else ops.mul(power, inverse)
            scale = (-1) ** (n - 1) * math.factorial(n - 1)
            out.append(power if scale == 1 else ops.mul(ops.constant(scale, z), power))
        return out

    return rule


def _pow(ops, z, order, exponent):
    return _power_rule(ops, z, order, exponent, _power(ops, z, exponent))


def _fixed_power(exponent: float, primitive: str | None):
    def rule(ops, z, order, _):
        primal = ops.primitive(primitive, z) if primitive else _power(ops, z, exponent)
        return _power_rule(ops, z, order, exponent, primal)

    return rule


def _relu(ops, z, order, _):
    out = [ops.primitive("relu", z)]
    if order >= 1:
        out += [ops.primitive("step", z)] + [None] * (order - 1)
    return out


def _erf_like(name: str, sign: float):
    """erf' = 2/sqrt(pi) exp(-z^2) (erfc = 1 - erf: the negative); higher
    derivatives are Hermite polynomials: erf^(n+1)(z) = (-1)^n H_n(z) erf'(z)."""
    return lambda ops, z, order, _: _erf_derivatives(ops, z, order, name, sign)


def _erf_derivatives(ops, z, order, name, sign):
    out = [ops.primitive(name, z)]
    if order == 0:
        return out
    g = ops.mul(
        ops.constant(sign * 2.0 / math.sqrt(math.pi), z),
        ops.primitive("exp", ops.neg(ops.mul(z, z))),
    )
    hermite = [[1], [0, 2]]  # physicists' H_0, H_1, lowest degree first
    while len(hermite) < order:
        h1, h0 = hermite[-1], hermite[-2]
        n = len(hermite) - 1
        nxt = [0] + [2 * c for c in h1]
        for i, c in enumerate(h0):
            nxt[i] -= 2 * n * c
        hermite.append(nxt)
    for n in range(order):
        coefficients = [(-1) ** n * c for c in hermite[n]]
        poly = _horner(ops, z, coefficients)
        out.append(ops.mul(poly, g))
    return out


def _hyperbolic(first: str):
    """sinh' = cosh, cosh' = sinh."""

    def rule(ops, z, order, _):
        if order == 0:
            return [ops.primitive(first, z)]
        s, c = ops.primitive("sinh", z), ops.primitive("cosh", z)
        cycle = [s, c] if first == "sinh" else [c, s]
        return [cycle[n % 2] for n in range(order + 1)]

    return rule


def _tan(ops, z, order, _):
    return _polynomial_derivatives(ops, ops.primitive("tan", z), [1, 0, 1], order)


def _algebraic(name: str, q: list[int], alpha: float, first: int = 1) -> Rule:
    """A function whose derivative is first * q(z)^alpha (`_algebraic_derivatives`)."""

    def rule(ops, z, order, _):
        primal = ops.primitive(name, z)
        return _algebraic_derivatives(ops, z, primal, order, q, alpha, first)

    return rule


def _expm1(ops, z, order, _):
    out = [ops.primitive("expm1", z)]
    if order >= 1:
        out += [ops.primitive("exp", z)] * order
    return out


def _exp2(ops, z, order, _):
    """(2^z)^(n) = ln(2)^n 2^z."""
    e = ops.primitive("exp2", z)
    return [e] + [
        ops.mul(ops.constant(math.log(2) ** n, z), e) for n in range(1, order + 1)
    ]


def _log_base(base: float) -> Rule:
    """log_b(z) = log(z) / ln(b), exactly so: the primal is the natural log
    scaled (IREE 3.13 does not compile math.log10 in float32)."""
    scale = 1.0 / math.log(base)

    def rule(ops, z, order, _):
        logs = _log_like(shift=False)(ops, z, order, None)
        return [ops.mul(ops.constant(scale, z), v) for v in logs]

    return rule


def _erfinv(ops, z, order, _):
    """y = erfinv(z): y' = c e^(y^2) with c = sqrt(pi)/2, so by induction
    y^(n) = c^n P_n(y) e^(n y^2) with P_1 = 1, P_{n+1} = P_n' + 2n y P_n."""
    y = ops.primitive("erfinv", z)
    out: list[Value | None] = [y]
    if order == 0:
        return out
    c = math.sqrt(math.pi) / 2
    e = ops.primitive("exp", ops.mul(y, y))
    p: list = [1]
    power = e
    for n in range(1, order + 1):
        if n > 1:
            p = _poly_add(_poly_derivative(p), [0] + [2 * (n - 1) * a for a in p])
            power = ops.mul(power, e)
        scaled = [c**n * a for a in p]
        out.append(ops.mul(_horner(ops, y, scaled), power))
    return out


def _polygamma_chain(start: str, first: int) -> Rule:
    """`start`, then polygamma(first), polygamma(first + 1), ...: lgamma' =
    digamma, digamma' = polygamma(1), polygamma(n)' = polygamma(n + 1)."""

    def rule(ops, z, order, _):
        last = first + order - 1
        if order >= 1 and last > MAX_POLYGAMMA:
            raise OrderTooHighError(
                f"derivative of order {order} needs polygamma({last}); "
                f"polygamma is available up to order {MAX_POLYGAMMA} (a lower "
                "jet order, or a larger MAX_POLYGAMMA in dialects/special.py)"
            )
        names = [start] + [
            f"polygamma{n}" if n else "digamma" for n in range(first, first + order)
        ]
        return [ops.primitive(name, z) for name in names]

    return rule


M = math_dialect

ELEMENTWISE_FUNCTIONS: dict[str, ElementwiseFunction] = {
    f.name: f
    for f in [
        ElementwiseFunction("tanh", _tanh, M.TanhOp, aten="tanh"),
        ElementwiseFunction("sigmoid", _sigmoid, aten="sigmoid"),
        ElementwiseFunction("exp", _exp, M.ExpOp, aten="exp"),
        ElementwiseFunction("sin", _sin_cos("sin"), M.SinOp, aten="sin"),
        ElementwiseFunction("cos", _sin_cos("cos"), M.CosOp, aten="cos"),
        ElementwiseFunction("log", _log_like(shift=False), M.LogOp, aten="log"),
        ElementwiseFunction("log1p", _log_like(shift=True), M.Log1pOp, aten="log1p"),
        ElementwiseFunction("sqrt", _fixed_power(0.5, "sqrt"), M.SqrtOp, aten="sqrt"),
        ElementwiseFunction(
            "rsqrt", _fixed_power(-0.5, "rsqrt"), M.RsqrtOp, aten="rsqrt"
        ),
        ElementwiseFunction("reciprocal", _fixed_power(-1.0, None), aten="reciprocal"),
        ElementwiseFunction("pow", _pow, needs_exponent=True),  # aten.pow: exponent
        ElementwiseFunction("relu", _relu, aten="relu"),
        ElementwiseFunction("erf", _erf_like("erf", 1.0), M.ErfOp, aten="erf"),
        ElementwiseFunction("sinh", _hyperbolic("sinh"), M.SinhOp, aten="sinh"),
        ElementwiseFunction("cosh", _hyperbolic("cosh"), M.CoshOp, aten="cosh"),
        ElementwiseFunction("tan", _tan, M.TanOp, aten="tan"),
        ElementwiseFunction(
            "atan", _algebraic("atan", [1, 0, 1], -1), M.AtanOp, aten="atan"
        ),
        ElementwiseFunction(
            "asin", _algebraic("asin", [1, 0, -1], -0.5), M.AsinOp, aten="asin"
        ),
        ElementwiseFunction(
            "acos", _algebraic("acos", [1, 0, -1], -0.5, -1), M.AcosOp, aten="acos"
        ),
        ElementwiseFunction(
            "asinh", _algebraic("asinh", [1, 0, 1], -0.5), M.AsinhOp, aten="asinh"
        ),
        ElementwiseFunction(
            "acosh", _algebraic("acosh", [-1, 0, 1], -0.5), M.AcoshOp, aten="acosh"
        ),
        ElementwiseFunction(
            "atanh", _algebraic("atanh", [1, 0, -1], -1), M.AtanhOp, aten="atanh"
        ),
        ElementwiseFunction("expm1", _expm1, M.ExpM1Op, aten="expm1"),
        ElementwiseFunction("exp2", _exp2, M.Exp2Op, aten="exp2"),
        ElementwiseFunction("log2", _log_base(2.0), aten="log2"),
        ElementwiseFunction("log10", _log_base(10.0), aten="log10"),
        ElementwiseFunction(
            "erfc", _erf_like("erfc", -1.0), special.ErfcOp, aten="erfc"
        ),
        ElementwiseFunction("erfinv", _erfinv, special.ErfinvOp, aten="erfinv"),
        ElementwiseFunction(
            "lgamma", _polygamma_chain("lgamma", 0), special.LgammaOp, aten="lgamma"
        ),
        ElementwiseFunction(
            "digamma", _polygamma_chain("digamma", 1), special.DigammaOp, aten="digamma"
        ),
        *(
            ElementwiseFunction(
                f"polygamma{n}",
                _polygamma_chain(f"polygamma{n}", n + 1),
                op,
                aten="polygamma",
                aten_args=(n,),
            )
            for n, op in special.POLYGAMMA_OPS.items()
        ),
    ]
}
"""The elementwise functions by name (see the module docstring)."""

MATH_FUNCTIONS: dict[type[Operation], ElementwiseFunction] = {
    f.math_op: f for f in ELEMENTWISE_FUNCTIONS.values() if f.math_op is not None
}
"""The functions with a `math` op, by op class."""

PRIMITIVES = (*(f.name for f in MATH_FUNCTIONS.values()), *COMPOSED_PRIMITIVES)
"""The names `ElementwiseOps.primitive` takes."""

"""
float64 `erf` from ops IREE compiles: IREE 3.13's llvm-cpu backend has no
float64 `math.erf`, so `lower_for_iree` replaces each one by this composition
(at most 2 ulp from the correctly rounded value; tests/test_coverage_iree.py):

- |x| < 0.5: `x * P(x^2)`, the Taylor series of erf(x)/x to 13 terms (Horner);
- 0.5 <= |x| < 6: `1 - exp(-x^2) g(|x|)`, where `g(a) = erfc(a) exp(a^2)` is
  smooth and slowly varying: a Chebyshev interpolant of degree 23 on each of
  [0.5, 1.5], [1.5, 3] and [3, 6] (Clenshaw's recurrence; each element picks
  its interval's coefficients by selects). `exp(-x^2)` is `exp(-h^2) exp(-(a -
  h)(a + h))` with h = a rounded to 26 bits (Veltkamp's split), so both
  arguments are exact;
- |x| >= 6: sign(x) (erfc(6) < 2^-54); NaN stays NaN.

The coefficients are computed once, with mpmath (a dependency of sympy, hence
of torch) at 40 digits.
"""

from __future__ import annotations

from functools import cache

from xdsl.builder import InsertPoint
from xdsl.dialects import math
from xdsl.dialects.builtin import Float64Type, ModuleOp, TensorType
from xdsl.ir import SSAValue
from xdsl.rewriter import Rewriter

from taylor_mlir.ir.builder import TensorBuilder

SERIES_END = 0.5
SERIES_TERMS = 13
INTERVALS = ((0.5, 1.5), (1.5, 3.0), (3.0, 6.0))
DEGREE = 23
SPLIT = 2.0**27 + 1  # Veltkamp: a * SPLIT - (a * SPLIT - a) keeps 26 bits


@cache
def coefficients() -> tuple[list[float], list[list[float]]]:
    """The Taylor coefficients of erf(x)/x in x^2, and per interval the
    Chebyshev coefficients of erfc(a) exp(a^2) in the interval mapped to
    [-1, 1] (interpolation at the DEGREE + 1 Chebyshev nodes)."""
    import mpmath

    with mpmath.workdps(40):
        two_over_root_pi = 2 / mpmath.sqrt(mpmath.pi)
        series = [
            float(two_over_root_pi * (-1) ** n / (mpmath.factorial(n) * (2 * n + 1)))
            for n in range(SERIES_TERMS)
        ]
        n = DEGREE + 1
        nodes = [mpmath.cos(mpmath.pi * (k + 0.5) / n) for k in range(n)]
        chebyshev = []
        for lo, hi in INTERVALS:
            values = [
                mpmath.erfc(a) * mpmath.exp(a * a)
                for a in ((hi - lo) / 2 * u + (hi + lo) / 2 for u in nodes)
            ]
            chebyshev.append(
                [
                    float(
                        (1 if j else 0.5)
                        * 2
                        / n
                        * sum(
                            v * mpmath.cos(mpmath.pi * j * (k + 0.5) / n)
                            for k, v in enumerate(values)
                        )
                    )
                    for j in range(n)
                ]
            )
    return series, chebyshev


def erf_float64(b: TensorBuilder, x: SSAValue) -> SSAValue:
    """erf(x) of a float64 tensor, from arith/math ops IREE compiles."""
    series, chebyshev = coefficients()

    def c(value: float) -> SSAValue:
        return b.full_like(x, value)

    zero = c(0.0)
    magnitude = b.select(b.cmpf("olt", x, zero), b.neg(x), x)
    square = b.mul(x, x)
    near_zero = c(series[-1])
    for coefficient in reversed(series[:-1]):
        near_zero = b.add(b.mul(near_zero, square), c(coefficient))
    near_zero = b.mul(x, near_zero)

    beyond = [b.cmpf("oge", magnitude, c(lo)) for lo, _ in INTERVALS[1:]]

    def per_interval(values: list[float]) -> SSAValue:
        chosen = c(values[0])
        for above, value in zip(beyond, values[1:], strict=True):
            chosen = b.select(above, c(value), chosen)
        return chosen

    lows, highs = zip(*INTERVALS, strict=True)
    scale = per_interval([2 / (hi - lo) for lo, hi in INTERVALS])
    center = per_interval([(hi + lo) / 2 for lo, hi in INTERVALS])
    u = b.mul(b.sub(magnitude, center), scale)
    two_u = b.add(u, u)
    later, last = zero, zero  # Clenshaw: b_k = 2u b_{k+1} - b_{k+2} + c_k
    for k in range(DEGREE, 0, -1):
        coefficient = per_interval([cs[k] for cs in chebyshev])
        later, last = b.add(b.sub(b.mul(two_u, later), last), coefficient), later
    g = b.add(b.sub(b.mul(u, later), last), per_interval([cs[0] for cs in chebyshev]))

    scaled = b.mul(magnitude, c(SPLIT))
    high = b.sub(scaled, b.sub(scaled, magnitude))
    low_part = b.mul(b.sub(magnitude, high), b.add(magnitude, high))
    gaussian = b.mul(
        b.unary("exp", b.neg(b.mul(high, high))), b.unary("exp", b.neg(low_part))
    )
    far = b.sub(c(1.0), b.mul(gaussian, g))
    far = b.select(b.cmpf("oge", magnitude, c(highs[-1])), c(1.0), far)
    far = b.select(b.cmpf("olt", x, zero), b.neg(far), far)
    y = b.select(b.cmpf("olt", magnitude, c(lows[0])), near_zero, far)
    return b.select(b.cmpf("une", x, x), x, y)  # NaN


def expand_float64_erf(module: ModuleOp) -> None:
    """Replaces every float64 `math.erf` of `module` by `erf_float64`."""
    for op in [op for op in module.walk() if isinstance(op, math.ErfOp)]:
        result = op.results[0].type
        if isinstance(result, TensorType) and isinstance(
            result.get_element_type(), Float64Type
        ):
            b = TensorBuilder(InsertPoint.before(op))
            Rewriter.replace_op(op, [], [erf_float64(b, op.operand)])

"""
The `special` ops (dialects/special.py: erfc, erfinv, lgamma, digamma,
polygamma1 ... polygamma10) composed from arith/math ops IREE compiles:
`lower_for_iree` replaces each one by a `linalg.generic` whose body is the
composition on scalars (the torch backend keeps running torch's kernels).
float32 ops are computed the same way in float32 arithmetic (with float32
split and rounding constants), float64 ones in float64; none needs `math.erf`
(erf and erfc are composed here, with the erfc tail erf_float64.py lacks).

Algorithms (a = |x|; coefficients computed once with mpmath at 40 digits):

- erfc: 1 - erf(x) for a < 0.5; exp(-a^2) g(a) for 0.5 <= a < 27.5, where
  g(a) = erfc(a) exp(a^2) is a degree-23 Chebyshev interpolant on each of
  [0.5, 1.5], [1.5, 3], [3, 6], [6, 12], [12, 27.5] (exp(-a^2) split as in
  erf_float64.py so that it is exact to rounding); 0 beyond (IREE flushes
  subnormals); 2 - erfc(a) for x < 0.
- erfinv: a first guess x Q(x^2) for a <= 0.75 and R(sqrt(-log(1 - a))) above
  (Chebyshev interpolants), then two Newton steps on erf(y) = a, written
  (1 - a) - erfc(y) for a >= 0.5 where 1 - a is exact; +-1 -> +-inf, |x| > 1
  -> NaN, -0 -> -0.
- lgamma: for x > 0 the series lgamma(2 + z) = (1 - gamma) z + sum (-1)^k
  (zeta(k) - 1) z^k / k (30 terms, |z| <= 0.5) after moving x into [1.5, 2.5)
  (x < 1.5: subtract log x (x + 1) or log x; 2.5 <= x < 10: add
  log (x - 1) ... (x - m)); Stirling's series (10 terms) for x >= 10. x < 0:
  log(pi / |sin(pi x)|) - lgamma(1 - x), sin(pi x) from x - round(x) (exact)
  folded into [0, 1/4]. Poles (x a non-positive integer) and +-inf give +inf,
  as torch.
- digamma: psi(x) = psi(x + m) - sum_{k<m} 1/(x + k) up to x + m >= 10, then
  the asymptotic series (10 Bernoulli terms); x < 0: psi(1 - x) - pi cot(pi x).
  +-0 -> -+inf, negative integers and -inf -> NaN, as torch.
- polygamma(n): (-1)^(n+1) n! zeta(n + 1, x), the Hurwitz zeta summed up to
  x + m >= 16, then its Euler-Maclaurin tail (12 Bernoulli terms); x < 0: the
  reflection psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) P_n(cot(pi x)),
  where d^n/dt^n cot t = P_n(cot t). Non-positive integers and -inf give
  (-1)^(n+1) inf (torch: the same, except that its polygamma(1) gives a large
  finite value at negative integers and NaN at -inf), +inf gives 0 (torch: 0
  for n = 1, NaN above).

Accuracy on iree-cpu against mpmath at 30 digits (tests/test_special_iree.py:
grids of the domain, random points, 1e-300 ... 1e300, 1e-9 and 1e-4 from the
poles -12 ... 0), in ulp of the exact value (|error| / (eps |exact|)), float64 /
float32 (the bounds the test asserts; measured maxima a little lower):

    erfc 2.5 / 2.5, erfinv 2 / 2, lgamma 2.5 / 4, digamma 4.5 / 4.5,
    polygamma(n = 1 ... 10) 2.5 / 4, 4 / 5.5, 5 / 6.5, 5 / 7.5, 6.5 / 9.5,
    7.5 / 10, 10 / 11, 9 / 13, 9.5 / 13, 11 / 16; for x > 0 alone
    polygamma(n) is within 4.5 / 4.5.

Where the function crosses zero the error is absolute: for digamma (zero at
1.4616..., and between the negative poles) and lgamma (zeros at 1 and 2) the
ulp are of max(|exact|, 1); for lgamma at x < 0 of max(|exact|, |lgamma(1 -
x)|), the term the reflection subtracts; for polygamma(even n) at x < 0 (a
zero between each two poles) of max(|exact|, 1). polygamma(n) for large n loses ~n/2 ulp in the powers at
x < 0 (the reflection) and float32's 1 - x rounds. Subnormal inputs and
results are flushed to zero by IREE. (torch's own float64 polygamma(1) is off
by up to ~5e-10 relative, hence torch.func's derivatives of lgamma and
digamma: tests/test_special_functions.py checks those against mpmath.)
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable
from functools import cache

from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    AffineMapAttr,
    Float32Type,
    Float64Type,
    FloatAttr,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.rewriter import Rewriter

from taylor_mlir.dialects import special
from taylor_mlir.dialects.elementwise import ELEMENTWISE_FUNCTIONS
from taylor_mlir.ir.builder import TensorBuilder

ERFC_INTERVALS = ((0.5, 1.5), (1.5, 3.0), (3.0, 6.0), (6.0, 12.0), (12.0, 27.5))
ERFC_END = 27.5  # erfc(27.5) < 2^-1022: flushed to zero by IREE anyway
CHEBYSHEV_DEGREE = 23
ERF_SERIES_TERMS = 13  # erf(x)/x in x^2 for |x| < 0.5, as erf_float64.py
ERFINV_CENTRAL_END = 0.75
ERFINV_DEGREE = 20  # the first guess only needs ~1e-9: Newton does the rest
ERFINV_TAIL = (1.17, 6.2)  # sqrt(-log(1 - a)) for 0.75 <= a <= 1 - 2^-53
NEWTON_STEPS = 2
LGAMMA_SERIES_TERMS = 30
STIRLING_START = 10.0
STIRLING_TERMS = 10
DIGAMMA_START = 10
ZETA_START = 16
ZETA_TERMS = 12
TWO_TO_52 = 2.0**52
TWO_TO_23 = 2.0**23


# ------------------------------------------------------------------ helpers


class _Values:
    """Shorthands over a TensorBuilder for one shape and element type."""

    def __init__(self, b: TensorBuilder, like: SSAValue):
        self.b, self.like = b, like

    def c(self, value: float) -> SSAValue:
        return self.b.full_like(self.like, value)

    def abs(self, x: SSAValue) -> SSAValue:
        return self.b.select(self.b.cmpf("olt", x, self.c(0.0)), self.b.neg(x), x)

    def horner(self, coefficients: list[float], t: SSAValue) -> SSAValue:
        """sum_k coefficients[k] t^k."""
        b = self.b
        total = self.c(coefficients[-1])
        for coefficient in reversed(coefficients[:-1]):
            total = b.add(b.mul(total, t), self.c(coefficient))
        return total

    def round(self, x: SSAValue) -> SSAValue:
        """x rounded to the nearest integer: (x + 2^52) - 2^52 (sign of x;
        2^23 in float32) rounds in the addition; larger |x| are integers."""
        b = self.b
        big = TWO_TO_52 if _is_f64(x) else TWO_TO_23
        magic = b.select(b.cmpf("olt", x, self.c(0.0)), self.c(-big), self.c(big))
        rounded = b.sub(b.add(x, magic), magic)
        return b.select(b.cmpf("olt", self.abs(x), self.c(big)), rounded, x)

    def power(self, x: SSAValue, n: int) -> SSAValue:
        """x^n for an integer n >= 1 by repeated squaring."""
        result, square = None, x
        while n:
            if n & 1:
                result = square if result is None else self.b.mul(result, square)
            n >>= 1
            if n:
                square = self.b.mul(square, square)
        return result

    def chebyshev(
        self, u: SSAValue, pieces: list[list[float]], beyond: list[SSAValue]
    ) -> SSAValue:
        """Clenshaw's sum of the Chebyshev series pieces[i] at u in [-1, 1],
        piece i where beyond[i - 1] holds (and not beyond[i])."""
        b = self.b

        def pick(values: list[float]) -> SSAValue:
            chosen = self.c(values[0])
            for above, value in zip(beyond, values[1:], strict=True):
                chosen = b.select(above, self.c(value), chosen)
            return chosen

        two_u = b.add(u, u)
        later, last = self.c(0.0), self.c(0.0)
        for k in range(len(pieces[0]) - 1, 0, -1):
            coefficient = pick([p[k] for p in pieces])
            later, last = b.add(b.sub(b.mul(two_u, later), last), coefficient), later
        return b.add(b.sub(b.mul(u, later), last), pick([p[0] for p in pieces]))

    def piecewise(
        self, t: SSAValue, intervals: tuple[tuple[float, float], ...], pieces
    ) -> SSAValue:
        """The Chebyshev interpolants `pieces` of `intervals` at t."""
        b = self.b
        beyond = [b.cmpf("oge", t, self.c(lo)) for lo, _ in intervals[1:]]

        def pick(values: list[float]) -> SSAValue:
            chosen = self.c(values[0])
            for above, value in zip(beyond, values[1:], strict=True):
                chosen = b.select(above, self.c(value), chosen)
            return chosen

        scale = pick([2 / (hi - lo) for lo, hi in intervals])
        center = pick([(hi + lo) / 2 for lo, hi in intervals])
        return self.chebyshev(b.mul(b.sub(t, center), scale), pieces, beyond)


def _chebyshev_fit(f, lo: float, hi: float, degree: int) -> list[float]:
    """Coefficients of the interpolant of f at the degree + 1 Chebyshev nodes
    of [lo, hi] (in u mapped to [-1, 1]); f takes and returns mpmath numbers."""
    import mpmath

    n = degree + 1
    nodes = [mpmath.cos(mpmath.pi * (k + 0.5) / n) for k in range(n)]
    values = [f(mpmath.mpf(hi - lo) / 2 * u + mpmath.mpf(hi + lo) / 2) for u in nodes]
    return [
        float(
            (1 if j else mpmath.mpf(0.5))
            * 2
            / n
            * mpmath.fsum(
                v * mpmath.cos(mpmath.pi * j * (k + 0.5) / n)
                for k, v in enumerate(values)
            )
        )
        for j in range(n)
    ]


# --------------------------------------------------------------- erf, erfc


@cache
def _erf_coefficients() -> tuple[list[float], list[list[float]]]:
    import mpmath

    with mpmath.workdps(40):
        root_pi = mpmath.sqrt(mpmath.pi)
        series = [
            float(2 / root_pi * (-1) ** n / (mpmath.factorial(n) * (2 * n + 1)))
            for n in range(ERF_SERIES_TERMS)
        ]
        pieces = [
            _chebyshev_fit(
                lambda a: mpmath.erfc(a) * mpmath.exp(a * a), lo, hi, CHEBYSHEV_DEGREE
            )
            for lo, hi in ERFC_INTERVALS
        ]
    return series, pieces


def _erf_erfc_of_magnitude(v: _Values, a: SSAValue) -> tuple[SSAValue, SSAValue]:
    """(erf(a), erfc(a)) for a >= 0 (or NaN)."""
    b = v.b
    series, pieces = _erf_coefficients()
    small = b.mul(a, v.horner(series, b.mul(a, a)))
    g = v.piecewise(
        b.minimum(b.maximum(a, v.c(0.5)), v.c(ERFC_END)), ERFC_INTERVALS, pieces
    )
    split = 2.0**27 + 1 if _is_f64(a) else 2.0**12 + 1  # Veltkamp: half the bits
    scaled = b.mul(a, v.c(split))
    high = b.sub(scaled, b.sub(scaled, a))
    low = b.mul(b.sub(a, high), b.add(a, high))
    gaussian = b.mul(
        b.unary("exp", b.neg(b.mul(high, high))), b.unary("exp", b.neg(low))
    )
    large = b.select(b.cmpf("oge", a, v.c(ERFC_END)), v.c(0.0), b.mul(gaussian, g))
    is_small = b.cmpf("olt", a, v.c(0.5))
    one = v.c(1.0)
    erf = b.select(is_small, small, b.sub(one, large))
    erfc = b.select(is_small, b.sub(one, small), large)
    return erf, erfc


def _is_f64(x: SSAValue) -> bool:
    t = x.type
    return isinstance(
        t.get_element_type() if isinstance(t, TensorType) else t, Float64Type
    )


def erfc(b: TensorBuilder, x: SSAValue) -> SSAValue:
    v = _Values(b, x)
    _, tail = _erf_erfc_of_magnitude(v, v.abs(x))
    y = b.select(b.cmpf("olt", x, v.c(0.0)), b.sub(v.c(2.0), tail), tail)
    return b.select(b.cmpf("une", x, x), x, y)


# ------------------------------------------------------------------ erfinv


@cache
def _erfinv_coefficients() -> tuple[list[float], list[float]]:
    import mpmath

    with mpmath.workdps(40):
        end = ERFINV_CENTRAL_END**2
        central = _chebyshev_fit(
            lambda t: mpmath.erfinv(mpmath.sqrt(t)) / mpmath.sqrt(t),
            0.0,
            end,
            ERFINV_DEGREE,
        )
        tail = _chebyshev_fit(
            lambda s: mpmath.erfinv(1 - mpmath.exp(-s * s)), *ERFINV_TAIL, ERFINV_DEGREE
        )
    return central, tail


def erfinv(b: TensorBuilder, x: SSAValue) -> SSAValue:
    v = _Values(b, x)
    central, tail = _erfinv_coefficients()
    a = v.abs(x)
    one = v.c(1.0)
    complement = b.sub(one, a)  # exact for a >= 0.5
    end = ERFINV_CENTRAL_END**2
    guess_central = b.mul(a, v.piecewise(b.mul(a, a), ((0.0, end),), [central]))
    s = b.unary("sqrt", b.neg(b.unary("log", b.maximum(complement, v.c(1e-300)))))
    s = b.minimum(b.maximum(s, v.c(ERFINV_TAIL[0])), v.c(ERFINV_TAIL[1]))
    guess_tail = v.piecewise(s, (ERFINV_TAIL,), [tail])
    y = b.select(b.cmpf("ole", a, v.c(ERFINV_CENTRAL_END)), guess_central, guess_tail)
    half_root_pi = v.c(pymath.sqrt(pymath.pi) / 2)
    use_erf = b.cmpf("olt", a, v.c(0.5))
    for _ in range(NEWTON_STEPS):
        erf_y, erfc_y = _erf_erfc_of_magnitude(v, y)
        residual = b.select(use_erf, b.sub(erf_y, a), b.sub(complement, erfc_y))
        step = b.mul(b.mul(residual, half_root_pi), b.unary("exp", b.mul(y, y)))
        y = b.sub(y, step)
    y = b.select(b.cmpf("oeq", a, one), v.c(pymath.inf), y)
    y = b.select(b.cmpf("ogt", a, one), v.c(pymath.nan), y)
    y = b.select(b.cmpf("olt", x, v.c(0.0)), b.neg(y), y)
    y = b.select(b.cmpf("oeq", x, v.c(0.0)), x, y)  # keeps -0
    return b.select(b.cmpf("une", x, x), x, y)


# ------------------------------------------------------------------ lgamma


@cache
def _lgamma_coefficients() -> tuple[list[float], list[float]]:
    import mpmath

    with mpmath.workdps(40):
        series = [0.0, float(1 - mpmath.euler)] + [
            float((-1) ** k * (mpmath.zeta(k) - 1) / k)
            for k in range(2, LGAMMA_SERIES_TERMS + 1)
        ]
        stirling = [
            float(mpmath.bernoulli(2 * k) / (2 * k * (2 * k - 1)))
            for k in range(1, STIRLING_TERMS + 1)
        ]
    return series, stirling


def _lgamma_positive(v: _Values, x: SSAValue) -> SSAValue:
    """lgamma(x) for x > 0 (x = +inf gives +inf)."""
    b = v.b
    series, stirling = _lgamma_coefficients()
    # [2.5, 10): lgamma(x) = lgamma(x - m) + log((x - 1) ... (x - m))
    y, product = x, v.c(1.0)
    for _ in range(int(STIRLING_START - 2.5) + 1):
        down = b.cmpf("oge", y, v.c(2.5))
        y = b.select(down, b.sub(y, v.c(1.0)), y)
        product = b.select(down, b.mul(product, y), product)
    below_half = b.cmpf("olt", x, v.c(0.5))
    below_one_and_half = b.cmpf("olt", x, v.c(1.5))
    z = b.select(below_one_and_half, b.sub(x, v.c(1.0)), b.sub(y, v.c(2.0)))
    z = b.select(below_half, x, z)
    correction = b.select(
        below_one_and_half, b.neg(b.unary("log", x)), b.unary("log", product)
    )
    correction = b.select(
        below_half, b.neg(b.unary("log", b.mul(x, b.add(x, v.c(1.0))))), correction
    )
    small = b.add(v.horner(series, z), correction)
    # Stirling for x >= 10
    w = b.maximum(x, v.c(STIRLING_START))
    inverse = b.div(v.c(1.0), w)
    tail = b.mul(inverse, v.horner(stirling, b.mul(inverse, inverse)))
    main = b.sub(b.mul(b.sub(w, v.c(0.5)), b.unary("log", w)), w)
    large = b.add(b.add(main, v.c(0.5 * pymath.log(2 * pymath.pi))), tail)
    large = b.select(b.cmpf("oeq", x, v.c(pymath.inf)), x, large)
    return b.select(b.cmpf("olt", x, v.c(STIRLING_START)), small, large)


def lgamma(b: TensorBuilder, x: SSAValue) -> SSAValue:
    v = _Values(b, x)
    negative = b.cmpf("olt", x, v.c(0.0))
    w = b.select(negative, b.sub(v.c(1.0), x), x)
    positive = _lgamma_positive(v, w)
    sine = _abs_sin_pi(v, x)
    reflected = b.sub(b.unary("log", b.div(v.c(pymath.pi), sine)), positive)
    y = b.select(negative, reflected, positive)
    pole = b.cmpf("ole", x, v.c(0.0))
    pole = b.select(pole, b.cmpf("oeq", x, v.round(x)), pole)
    y = b.select(pole, v.c(pymath.inf), y)
    return b.select(b.cmpf("une", x, x), x, y)


# -------------------------------------------------------- digamma, polygamma


def _shifted(
    v: _Values, x: SSAValue, start: int
) -> tuple[list[tuple[SSAValue, SSAValue]], SSAValue]:
    """For x > 0 (or NaN): the pairs (x + k, x + k < start) for k < start
    (each x + k rounded once), and x + m, the first of them >= start."""
    b = v.b
    pairs = []
    end = x
    for k in range(start):
        y = b.add(x, v.c(float(k))) if k else x
        below = b.cmpf("olt", y, v.c(float(start)))
        pairs.append((y, below))
        end = b.select(below, b.add(x, v.c(float(k + 1))), end)
    return pairs, end


def _reflected_recurrence(
    v: _Values, x: SSAValue, start: int, term: Callable[[SSAValue], SSAValue]
) -> tuple[SSAValue, SSAValue, list[SSAValue], SSAValue]:
    """The recurrence digamma and polygamma share, at the argument of the
    reflection formula: w = 1 - x where x < 0, else x, shifted up to `start`.
    Returns x < 0, w, the terms `term(w + k)` of the shifts taken (0 for the
    others) and w + m, the first shift >= start."""
    b = v.b
    negative = b.cmpf("olt", x, v.c(0.0))
    w = b.select(negative, b.sub(v.c(1.0), x), x)
    shifted, y = _shifted(v, w, start)
    zero = v.c(0.0)
    terms = [b.select(active, term(t), zero) for t, active in shifted]
    return negative, w, terms, y


def _sum_reverse(v: _Values, terms: list[SSAValue], tail: SSAValue) -> SSAValue:
    """tail + sum(terms), the smallest (last) first."""
    total = tail
    for term in reversed(terms):
        total = v.b.add(total, term)
    return total


@cache
def _digamma_coefficients() -> list[float]:
    import mpmath

    return [
        float(mpmath.bernoulli(2 * k) / (2 * k)) for k in range(1, STIRLING_TERMS + 1)
    ]


def _reduced(v: _Values, x: SSAValue) -> tuple[SSAValue, SSAValue, SSAValue]:
    """(sin(pi q), cos(pi q), |r| > 1/4) with r = x - round(x) and q = |r| or
    1/2 - |r| (both exact), so that |sin(pi x)| and |cot(pi x)| have no
    cancellation near half-integers: |sin(pi r)| is cos(pi q) when |r| > 1/4."""
    b = v.b
    magnitude = v.abs(b.sub(x, v.round(x)))
    folded = b.cmpf("ogt", magnitude, v.c(0.25))
    q = b.select(folded, b.sub(v.c(0.5), magnitude), magnitude)
    angle = b.mul(q, v.c(pymath.pi))
    return b.unary("sin", angle), b.unary("cos", angle), folded


def _abs_sin_pi(v: _Values, x: SSAValue) -> SSAValue:
    """|sin(pi x)|."""
    sine, cosine, folded = _reduced(v, x)
    return v.b.select(folded, cosine, sine)


def _cot_pi(v: _Values, x: SSAValue) -> SSAValue:
    """cot(pi x) (period 1, odd in r = x - round(x))."""
    b = v.b
    sine, cosine, folded = _reduced(v, x)
    magnitude = b.select(folded, b.div(sine, cosine), b.div(cosine, sine))
    r = b.sub(x, v.round(x))
    return b.select(b.cmpf("olt", r, v.c(0.0)), b.neg(magnitude), magnitude)


def digamma(b: TensorBuilder, x: SSAValue) -> SSAValue:
    v = _Values(b, x)
    negative, w, terms, y = _reflected_recurrence(
        v, x, DIGAMMA_START, lambda t: b.div(v.c(-1.0), t)
    )
    zero = v.c(0.0)
    inverse = b.div(v.c(1.0), y)
    square = b.mul(inverse, inverse)
    series = b.mul(square, v.horner(_digamma_coefficients(), square))
    asymptotic = b.sub(b.sub(b.unary("log", y), b.mul(v.c(0.5), inverse)), series)
    positive = _sum_reverse(v, terms, asymptotic)
    positive = b.select(b.cmpf("oeq", w, v.c(pymath.inf)), w, positive)
    reflected = b.sub(positive, b.mul(v.c(pymath.pi), _cot_pi(v, x)))
    result = b.select(negative, reflected, positive)
    integer = b.cmpf("oeq", x, v.round(x))
    result = b.select(b.select(negative, integer, negative), v.c(pymath.nan), result)
    result = b.select(b.cmpf("oeq", x, zero), b.div(v.c(-1.0), x), result)  # -+inf
    return b.select(b.cmpf("une", x, x), x, result)


@cache
def _zeta_tail_coefficients(s: int) -> list[float]:
    """c_k of zeta(s, y) ~ y^(1-s) (1/(s-1) + 1/(2y) + sum_k c_k y^-2k):
    c_k = B_2k / (2k)! s (s + 1) ... (s + 2k - 2)."""
    import mpmath

    with mpmath.workdps(40):
        return [
            float(
                mpmath.bernoulli(2 * k)
                / mpmath.factorial(2 * k)
                * mpmath.rf(s, 2 * k - 1)
            )
            for k in range(1, ZETA_TERMS + 1)
        ]


@cache
def cot_derivative_polynomial(n: int) -> list[int]:
    """P_n with d^n/dt^n cot t = P_n(cot t): P_0 = c, P_(k+1) = -(1 + c^2) P_k'."""
    p = [0, 1]
    for _ in range(n):
        derivative = [k * p[k] for k in range(1, len(p))] + [0]
        p = [0] * (len(derivative) + 2)
        for k, coefficient in enumerate(derivative):
            p[k] -= coefficient
            p[k + 2] -= coefficient
        while p and p[-1] == 0:
            p.pop()
    return p


def _scaled_inverse_power(v: _Values, t: SSAValue, s: int, scale: SSAValue) -> SSAValue:
    """scale / t^s for t > 0 without a spurious overflow or underflow on the
    way: scale / t^s while t^s is normal, else scale (1/t) (1/t) ... (s
    factors, decreasing to the result) for large t, scale (1/t)^s for small t."""
    b = v.b
    info_tiny, info_max = (
        (2.0**-1022, 2.0**1023) if _is_f64(t) else (2.0**-126, 2.0**127)
    )
    direct = b.div(scale, v.power(t, s))
    inverse = b.div(v.c(1.0), t)
    descending = scale
    for _ in range(s):
        descending = b.mul(descending, inverse)
    small = b.mul(scale, v.power(inverse, s))
    result = b.select(
        b.cmpf("ogt", t, v.c(info_max ** (1 / s) / 2)), descending, direct
    )
    return b.select(b.cmpf("olt", t, v.c(4 * info_tiny ** (1 / s))), small, result)


def polygamma(n: int) -> Callable[[TensorBuilder, SSAValue], SSAValue]:
    """The composition of polygamma(n, x), n >= 1."""
    s = n + 1
    sign = (-1) ** (n + 1)
    factorial = float(pymath.factorial(n))

    def compose(b: TensorBuilder, x: SSAValue) -> SSAValue:
        v = _Values(b, x)
        scale = v.c(sign * factorial)
        negative, _, terms, y = _reflected_recurrence(
            v, x, ZETA_START, lambda t: _scaled_inverse_power(v, t, s, scale)
        )
        zero = v.c(0.0)
        inverse = b.div(v.c(1.0), y)
        bracket = b.add(
            b.add(v.c(1.0 / (s - 1)), b.mul(v.c(0.5), inverse)),
            b.mul(
                b.mul(inverse, inverse),
                v.horner(_zeta_tail_coefficients(s), b.mul(inverse, inverse)),
            ),
        )
        tail = _scaled_inverse_power(v, y, s - 1, b.mul(bracket, scale))
        positive = _sum_reverse(v, terms, tail)
        cot = _cot_pi(v, x)
        polynomial = v.horner([float(c) for c in cot_derivative_polynomial(n)], cot)
        reflected = b.sub(
            b.mul(positive, v.c(float((-1) ** n))),
            b.mul(polynomial, v.c(pymath.pi ** (n + 1))),
        )
        result = b.select(negative, reflected, positive)
        pole = b.cmpf("ole", x, zero)
        pole = b.select(pole, b.cmpf("oeq", x, v.round(x)), pole)
        result = b.select(pole, v.c(sign * pymath.inf), result)
        result = b.select(b.cmpf("oeq", x, v.c(pymath.inf)), zero, result)
        return b.select(b.cmpf("une", x, x), x, result)

    return compose


COMPOSITIONS: dict[type[Operation], Callable[[TensorBuilder, SSAValue], SSAValue]] = {
    special.ErfcOp: erfc,
    special.ErfinvOp: erfinv,
    special.LgammaOp: lgamma,
    special.DigammaOp: digamma,
    **{op: polygamma(n) for n, op in special.POLYGAMMA_OPS.items()},
}
"""Each `special` op -> its composition (every `special` op has one)."""


class ScalarBuilder:
    """The elementwise methods of TensorBuilder the compositions use, on
    scalars inside a `linalg.generic` body: each `special` op becomes one
    generic (one IREE dispatch). Built from tensor ops instead, IREE splits a
    composition into many dispatches, and the one consuming them all needed
    more than the 64 push constants its runtime allows."""

    def __init__(self, block: Block, element: Attribute):
        self.builder = Builder(InsertPoint.at_end(block))
        self.element = element

    def _result(self, op: Operation) -> SSAValue:
        self.builder.insert(op)
        return op.results[0]

    def full_like(self, like: SSAValue, value: float) -> SSAValue:
        return self._result(arith.ConstantOp(FloatAttr(float(value), self.element)))

    def add(self, a, b):
        return self._result(arith.AddfOp(a, b))

    def sub(self, a, b):
        return self._result(arith.SubfOp(a, b))

    def mul(self, a, b):
        return self._result(arith.MulfOp(a, b))

    def div(self, a, b):
        return self._result(arith.DivfOp(a, b))

    def neg(self, a):
        return self._result(arith.NegfOp(a))

    def maximum(self, a, b):
        return self._result(arith.MaximumfOp(a, b))

    def minimum(self, a, b):
        return self._result(arith.MinimumfOp(a, b))

    def cmpf(self, predicate: str, a, b):
        return self._result(arith.CmpfOp(a, b, predicate))

    def select(self, condition, a, b):
        return self._result(arith.SelectOp(condition, a, b))

    def unary(self, name: str, a):
        return self._result(ELEMENTWISE_FUNCTIONS[name].math_op(a))


def as_generic(
    b: TensorBuilder, x: SSAValue, compose: Callable[..., SSAValue]
) -> SSAValue:
    """compose(x) elementwise, as one `linalg.generic` over x."""
    t = x.type
    element, rank = t.get_element_type(), t.get_num_dims()
    init = b.empty(b.dims(x), element)
    block = Block(arg_types=[element, element])
    y = compose(ScalarBuilder(block, element), block.args[0])
    block.add_op(linalg.YieldOp(y))
    identity = AffineMapAttr(AffineMap.identity(rank))
    generic = linalg.GenericOp(
        [x],
        [init],
        Region(block),
        [identity, identity],
        [linalg.IteratorTypeAttr.parallel()] * rank,
        [t],
    )
    b.insert(generic)
    return generic.results[0]


def expand_special_functions(module: ModuleOp) -> None:
    """Replaces every float32/float64 `special` op of `module` by a
    `linalg.generic` computing its composition (COMPOSITIONS)."""
    for op in [op for op in module.walk() if type(op) in COMPOSITIONS]:
        result = op.results[0].type
        if isinstance(result, TensorType) and isinstance(
            result.get_element_type(), (Float32Type, Float64Type)
        ):
            b = TensorBuilder(InsertPoint.before(op))
            y = as_generic(b, op.operands[0], COMPOSITIONS[type(op)])
            Rewriter.replace_op(op, [], [y])

"""
Mixed partial derivatives from pure directional ones (Griewank's interpolation).

Write `T_K(w) = <d^K f, w x ... x w>` (the top coefficient of a K-jet along w,
plain-derivative convention) and, for directions `v_1 .. v_n` and a multi-index
`i` with `|i| = K`, `M_i = <d^K f, v_1^{x i_1} x ... x v_n^{x i_n}>`. Then
(Griewank, Utke, Walther 2000; docs/design.md)

    M_i = (1/K!) * sum_{|j| = K} gamma_{i,j} * T_K(j_1 v_1 + ... + j_n v_n)
    gamma_{i,j} = sum_{0 < k <= i} (-1)^{|i| - |k|} binom(i, k)
                  binom(K k / |k|, j) (|k| / K)^K

with multi-index binomials `binom(a, b) = prod_l binom(a_l, b_l)` (generalized to
a real upper argument for `binom(K k / |k|, j)`). Everything here is exact
rational arithmetic (`fractions.Fraction`): the coefficients are small rationals
and float rounding would only blur the tests that pin them.

`directional_expansion` turns a mixed partial into weighted integer directions;
`merge_directions` reduces every direction to its primitive form (`T_K(s w) =
s^K T_K(w)`) and adds the weights of equal ones, so each distinct direction is
propagated once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

MultiIndex = tuple[int, ...]


def generalized_binomial(a: Fraction, b: int) -> Fraction:
    """`binom(a, b) = a (a - 1) ... (a - b + 1) / b!` for a rational a, integer b >= 0."""
    result = Fraction(1)
    for m in range(b):
        result *= (a - m) / (m + 1)
    return result


def multi_indices(n: int, total: int) -> list[MultiIndex]:
    """All multi-indices of length n with entries >= 0 summing to `total`,
    in lexicographically decreasing order ((total, 0, ..) first)."""
    if n == 1:
        return [(total,)]
    return [
        (first, *rest)
        for first in range(total, -1, -1)
        for rest in multi_indices(n - 1, total - first)
    ]


def interpolation_coefficient(i: MultiIndex, j: MultiIndex) -> Fraction:
    """Griewank's `gamma_{i,j}` for multi-indices with `|i| = |j| = K`."""
    if len(i) != len(j):
        raise ValueError(f"multi-indices {i} and {j} have different lengths")
    K = sum(i)
    if sum(j) != K:
        raise ValueError(f"|i| = {K} but |j| = {sum(j)}")
    gamma = Fraction(0)
    for k in itertools.product(*(range(i_l + 1) for i_l in i)):
        size = sum(k)
        if size == 0:
            continue
        sign = -1 if (K - size) % 2 else 1
        binom_ik = math.prod(math.comb(i_l, k_l) for i_l, k_l in zip(i, k, strict=True))
        binom_kj = math.prod(
            generalized_binomial(Fraction(K * k_l, size), j_l)
            for k_l, j_l in zip(k, j, strict=True)
        )
        gamma += sign * binom_ik * binom_kj * Fraction(size, K) ** K
    return gamma


def directional_expansion(i: MultiIndex) -> list[tuple[MultiIndex, Fraction]]:
    """`M_i` as `[(j, weight)]` with `M_i = sum weight * T_K(sum_l j_l v_l)`.

    The weights are `gamma_{i,j} / K!`; zero weights are dropped.
    """
    if not i or any(i_l < 1 for i_l in i):
        raise ValueError(f"multi-index {i} must have entries >= 1")
    K = sum(i)
    expansion = []
    for j in multi_indices(len(i), K):
        weight = interpolation_coefficient(i, j) / math.factorial(K)
        if weight != 0:
            expansion.append((j, weight))
    return expansion


def primitive_direction(w: Sequence[int]) -> tuple[tuple[int, ...], int]:
    """`w = scale * p` with p primitive (gcd 1) and its first non-zero entry
    positive; returns (p, scale). The scale may be negative."""
    divisor = math.gcd(*w)
    if divisor == 0:
        raise ValueError("the zero direction has no primitive form")
    first = next(x for x in w if x != 0)
    scale = divisor if first > 0 else -divisor
    return tuple(x // scale for x in w), scale


def merge_directions(
    terms: Iterable[tuple[Sequence[int], Fraction]], order: int
) -> dict[tuple[int, ...], Fraction]:
    """Sums `weight * T_K(w)` terms into one weight per primitive direction,
    using `T_K(s p) = s^K T_K(p)`. Directions whose weights cancel are dropped."""
    merged: dict[tuple[int, ...], Fraction] = {}
    for w, weight in terms:
        p, scale = primitive_direction(w)
        merged[p] = (
            merged.get(p, Fraction(0)) + Fraction(weight) * Fraction(scale) ** order
        )
    return {p: c for p, c in merged.items() if c != 0}

"""
ATen ops without a one-to-one tensor-level op, composed from the vocabulary
of docs/ir-conventions.md (the frontend rules in aten.py call these).

Every composition uses only ops whose Taylor rules exist, so the passes and
both backends need nothing new: a piecewise op is a `select` between branches
on a primal comparison (jets flow through the chosen branch), a reduction
along a dimension is a tree of slices, a convolution is slices, a
concatenation and one matmul (im2col). Values that are constant for
differentiation (a rounded value, the position of a maximum) are computed from
`taylor.stop_gradient` of the input, so no pass differentiates them.

Dimensions reduced, scanned or convolved must have a static size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
from xdsl.ir import SSAValue

from taylor_mlir.dialects.elementwise import ELEMENTWISE_FUNCTIONS
from taylor_mlir.ir.builder import (
    Dim,
    IRElementwiseOps,
    TensorBuilder,
    element_of,
    shape_of,
)

Combine = Callable[[SSAValue, SSAValue], SSAValue]


def logical_and(b: TensorBuilder, p: SSAValue, q: SSAValue) -> SSAValue:
    """`p and q` of i1 tensors: q where p, else p (false)."""
    return b.select(p, q, p)


def logical_or(b: TensorBuilder, p: SSAValue, q: SSAValue) -> SSAValue:
    return b.select(p, p, q)


def nonfinite(b: TensorBuilder, x: SSAValue) -> SSAValue:
    """`x` is infinite or NaN: `x * 0` is NaN exactly then."""
    zero = b.full_like(x, 0.0)
    return b.cmpf("une", b.mul(x, zero), zero)


def indicator(b: TensorBuilder, condition: SSAValue, like: SSAValue) -> SSAValue:
    """1.0 where `condition`, else 0.0 (float, shaped like `like`)."""
    return b.select(condition, b.full_like(like, 1.0), b.full_like(like, 0.0))


# --------------------------------------------------------------- rounding


def round_half_even(b: TensorBuilder, x: SSAValue) -> SSAValue:
    """Round to the nearest integer, ties to even (`torch.round`, C's `rint`),
    the way musl's `rint` does: adding and subtracting 2^52 (2^23 in float32)
    leaves no fraction bits, so the FPU rounds. Larger magnitudes, infinities
    and NaN are already integers or kept; a zero result keeps x's sign."""
    bits = 52 if element_of(x).bitwidth == 64 else 23
    big, small = b.full_like(x, 2.0**bits), b.full_like(x, -(2.0**bits))
    zero = b.full_like(x, 0.0)
    shift = b.select(b.cmpf("olt", x, zero), small, big)
    rounded = b.sub(b.add(x, shift), shift)
    in_range = logical_and(b, b.cmpf("olt", x, big), b.cmpf("ogt", x, small))
    return signed_zero(b, x, b.select(in_range, rounded, x))


def signed_zero(b: TensorBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    """`y`, with a zero given the sign of x (`floor(-0.5)` is -1, `ceil` of it
    is -0.0 as in C)."""
    zero = b.full_like(x, 0.0)
    return b.select(b.cmpf("oeq", y, zero), b.mul(x, zero), y)


def floor(b: TensorBuilder, x: SSAValue) -> SSAValue:
    rounded = round_half_even(b, x)
    above = b.cmpf("ogt", rounded, x)
    return signed_zero(b, x, b.sub(rounded, indicator(b, above, x)))


def ceil(b: TensorBuilder, x: SSAValue) -> SSAValue:
    rounded = round_half_even(b, x)
    below = b.cmpf("olt", rounded, x)
    return signed_zero(b, x, b.add(rounded, indicator(b, below, x)))


def trunc(b: TensorBuilder, x: SSAValue) -> SSAValue:
    negative = b.cmpf("olt", x, b.full_like(x, 0.0))
    return b.select(negative, ceil(b, x), floor(b, x))


def sign(b: TensorBuilder, x: SSAValue) -> SSAValue:
    """1, -1 or 0 (also for NaN, as `torch.sign`): fills chosen by primal
    comparisons, so a constant of the jet without a stop_gradient."""
    zero = b.full_like(x, 0.0)
    negative = b.select(b.cmpf("olt", x, zero), b.full_like(x, -1.0), zero)
    return b.select(b.cmpf("ogt", x, zero), b.full_like(x, 1.0), negative)


# ---------------------------------------------------------- along a dimension


def slice_along(
    b: TensorBuilder, x: SSAValue, dim: int, start: int, size: Dim, step: int = 1
) -> SSAValue:
    """`tensor.extract_slice` of `size` elements along `dim` (all of the others)."""
    rank = len(shape_of(x))
    offsets = [start if d == dim else 0 for d in range(rank)]
    sizes = [size if d == dim else b.dim(x, d) for d in range(rank)]
    strides = [step if d == dim else 1 for d in range(rank)]
    return b.extract_slice(x, offsets, sizes, strides)


def filled(b: TensorBuilder, like: SSAValue, dim: int, size: int, value: float):
    """A tensor of `value` shaped like `like` but of `size` along `dim`."""
    dims = b.dims(like)
    dims[dim] = size
    return b.fill(value, dims, element_of(like))


def _crop(b: TensorBuilder, x: SSAValue, dim: int, before: int, after: int):
    """x without `-before` / `-after` entries at its ends along `dim` where
    those counts are negative (a negative pad crops)."""
    if before >= 0 and after >= 0:
        return x
    start = max(-before, 0)
    return slice_along(b, x, dim, start, shape_of(x)[dim] - start - max(-after, 0))


def pad(
    b: TensorBuilder, x: SSAValue, dim: int, before: int, after: int, value: float
) -> SSAValue:
    """`value` before and after x along `dim` (negative counts crop)."""
    x = _crop(b, x, dim, before, after)
    pieces = [filled(b, x, dim, before, value)] if before > 0 else []
    pieces.append(x)
    if after > 0:
        pieces.append(filled(b, x, dim, after, value))
    return x if len(pieces) == 1 else b.concat(pieces, dim)


def pad_circular(
    b: TensorBuilder, x: SSAValue, dim: int, before: int, after: int
) -> SSAValue:
    """x wrapped around along `dim`: its last `before` entries before it, its
    first `after` after (negative counts crop, as torch's circular pad)."""
    x = _crop(b, x, dim, before, after)
    size = shape_of(x)[dim]
    pieces = [slice_along(b, x, dim, size - before, before)] if before > 0 else []
    pieces.append(x)
    if after > 0:
        pieces.append(slice_along(b, x, dim, 0, after))
    return x if len(pieces) == 1 else b.concat(pieces, dim)


def tree_reduce(b: TensorBuilder, x: SSAValue, dim: int, combine: Combine):
    """`combine` folded over `dim` (result size 1 there) as a tree of halves:
    log2(n) levels of slices instead of n."""
    size = shape_of(x)[dim]
    while size > 1:
        half = size // 2
        combined = combine(
            slice_along(b, x, dim, 0, half), slice_along(b, x, dim, half, half)
        )
        if size % 2:
            combined = b.concat([combined, slice_along(b, x, dim, 2 * half, 1)], dim)
        x, size = combined, half + size % 2
    return x


def prefix_scan(
    b: TensorBuilder, x: SSAValue, dim: int, combine: Combine, identity: float
) -> SSAValue:
    """Inclusive prefix sums (or products) along `dim`, Hillis-Steele: combine
    with the tensor shifted by 1, 2, 4, ... places (log2(n) levels)."""
    size = shape_of(x)[dim]
    shift = 1
    while shift < size:
        head = slice_along(b, x, dim, 0, size - shift)
        x = combine(x, b.concat([filled(b, x, dim, shift, identity), head], dim))
        shift *= 2
    return x


def prefix_sum(b: TensorBuilder, x: SSAValue, dim: int) -> SSAValue:
    """Prefix sums, a linear map."""
    return prefix_scan(b, x, dim, b.add, 0.0)


def extremum(
    b: TensorBuilder,
    x: SSAValue,
    dims: Sequence[int],
    largest: bool,
    first_only: bool,
) -> SSAValue:
    """The maximum (or minimum) over `dims` (dropped from the result).

    The value is the tree of `maximumf` over a stopped-gradient copy; its
    derivatives are those of the maximal elements: the mean over them of
    `x - max` (zero at the primal) is added, `amax`'s autograd convention at
    ties. With `first_only`, the first maximal element along the one dim
    (`max.dim`'s index) is used instead. Infinite and NaN maxima are kept
    as they are."""
    combine = b.maximum if largest else b.minimum
    plain = b.stop_gradient(x)
    kept = plain
    for dim in dims:
        kept = tree_reduce(b, kept, dim, combine)
    spread = _broadcast_kept(b, kept, x, dims)
    chosen = b.cmpf("oeq", plain, spread)
    if first_only:
        (dim,) = dims
        count = prefix_sum(b, indicator(b, chosen, x), dim)
        chosen = logical_and(b, chosen, b.cmpf("oeq", count, b.full_like(x, 1.0)))
    zero = b.full_like(x, 0.0)
    offsets = b.reduce_sum(b.select(chosen, b.sub(x, spread), zero), dims)
    if not first_only:
        offsets = b.div(offsets, b.reduce_sum(indicator(b, chosen, x), dims))
    reduced_max = _drop(b, kept, dims)
    value = b.add(reduced_max, offsets)
    return b.select(nonfinite(b, reduced_max), reduced_max, value)


def _broadcast_kept(
    b: TensorBuilder, kept: SSAValue, like: SSAValue, dims: Sequence[int]
) -> SSAValue:
    """A value with size 1 in `dims` stretched to the shape of `like`."""
    return b.broadcast(_drop(b, kept, dims), b.dims(like), sorted(dims))


def _drop(b: TensorBuilder, kept: SSAValue, dims: Sequence[int]) -> SSAValue:
    """Drops the unit dimensions `dims` (`tensor.collapse_shape`)."""
    rank = len(shape_of(kept))
    remaining = [d for d in range(rank) if d not in dims]
    if not remaining:
        return b.collapse(kept, [])
    groups = [[d] for d in remaining]
    for d in sorted(dims):
        before = [i for i, r in enumerate(remaining) if r < d]
        groups[before[-1] if before else 0].append(d)
    return b.collapse(kept, [sorted(g) for g in groups])


def product(b: TensorBuilder, x: SSAValue, dims: Sequence[int]) -> SSAValue:
    """The product over `dims` (kept as size 1) as a tree of products: exact
    Taylor products, zeros included."""
    for dim in dims:
        x = tree_reduce(b, x, dim, b.mul)
    return x


# ------------------------------------------------------------- windows


def windows(
    b: TensorBuilder,
    x: SSAValue,
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: Sequence[int],
) -> list[SSAValue]:
    """For each kernel offset (row-major), the strided slice of the spatial
    dims (the last `len(kernel)`) of `x` that the offset sees in every output
    position: shape `(..., *out)`."""
    first = len(shape_of(x)) - len(kernel)
    pieces = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        piece = x
        for i, o in enumerate(offset):
            start = o * dilation[i]
            piece = slice_along(b, piece, first + i, start, out[i], stride[i])
        pieces.append(piece)
    return pieces


def convolution(
    b: TensorBuilder,
    x: SSAValue,
    weight: SSAValue,
    stride: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    out: Sequence[int],
) -> SSAValue:
    """`(N, C, *S)` (already padded) convolved with `(O, C/groups, *K)`: per
    group, the windows concatenated along the channels (im2col, offset-major),
    channels moved last and flattened with the positions into
    `(N * prod(out), prod(K) * C/groups)` rows, one matmul with the weight as
    `(prod(K) * C/groups, O/groups)`; the groups' columns concatenated, then
    reshaped back to `(N, O, *out)`. Linear in x (and in the weight)."""
    rank = len(shape_of(x))
    kernel = shape_of(weight)[2:]
    channels, outputs = shape_of(x)[1] // groups, shape_of(weight)[0] // groups
    spatial = list(range(2, rank))
    batch = b.dim(x, 0)
    flat = [list(range(rank - 1)), [rank - 1]]  # (N, *out, C) as rows
    columns = []
    for g in range(groups):
        part = slice_along(b, x, 1, g * channels, channels) if groups > 1 else x
        pieces = windows(b, part, kernel, stride, dilation, out)
        patches = pieces[0] if len(pieces) == 1 else b.concat(pieces, 1)
        rows = b.collapse(b.transpose(patches, [0, *spatial, 1]), flat)
        w = slice_along(b, weight, 0, g * outputs, outputs) if groups > 1 else weight
        w = b.transpose(w, [*spatial, 1, 0])  # (*K, C/groups, O/groups)
        columns.append(b.matmul(rows, b.collapse(w, flat)))
    product = columns[0] if groups == 1 else b.concat(columns, 1)
    shaped = b.expand(product, flat, [batch, *out, groups * outputs])
    return b.transpose(shaped, [0, rank - 1, *range(1, rank - 1)])


# ------------------------------------------------------- sorting and scans
# Sorting is a permutation chosen by primal comparisons: each element's rank
# (how many elements come before it) is counted from an n x n matrix of
# comparisons of stopped-gradient copies, and the k-th sorted value is the sum
# over the elements of `x` where rank == k, else -0.0 (x + -0.0 is x, signs of
# zeros included), a tree of additions. So the IR has O(log n) ops, and the
# jets are those of the selected elements.

MAX_SORTED = 1024
"""The largest size sorted: the comparisons take n^2 elements per datum (and
the selected values n^2 per Taylor coefficient, k n for topk)."""


def _pairs(b: TensorBuilder, x: SSAValue, dim: int, first: bool) -> SSAValue:
    """x spread over a new dimension after `dim` (of the same size n): the
    element of position i along `dim` (`first`, the new one indexes j) or of
    position j (`dim` then indexes i, the new dimension j)."""
    dims = b.dims(x)
    full = [*dims[: dim + 1], dims[dim], *dims[dim + 1 :]]
    return b.broadcast(x, full, [dim + 1 if first else dim])


def _isnan(b: TensorBuilder, x: SSAValue) -> SSAValue:
    return b.cmpf("une", x, x)


def _orders_before(b: TensorBuilder, a: SSAValue, c: SSAValue, descending: bool):
    """`a` is sorted strictly before `c`: smaller (larger if `descending`),
    NaN counting as larger than every number, as torch.sort."""
    nan_a, nan_c = _isnan(b, a), _isnan(b, c)
    if descending:
        return logical_or(
            b, b.cmpf("ogt", a, c), logical_and(b, nan_a, b.cmpf("oeq", c, c))
        )
    return logical_or(
        b, b.cmpf("olt", a, c), logical_and(b, nan_c, b.cmpf("oeq", a, a))
    )


def sort_ranks(b: TensorBuilder, plain: SSAValue, dim: int, descending: bool):
    """The position of each element of the (stopped-gradient) `plain` in the
    stable sort along `dim` (as a float): the elements ordered before it plus
    the equal ones (NaN equal to NaN) at an earlier position. torch.sort (CPU)
    is stable in both directions."""
    n = shape_of(plain)[dim]
    mine, other = _pairs(b, plain, dim, True), _pairs(b, plain, dim, False)
    before = _orders_before(b, other, mine, descending)
    equal = logical_or(
        b, b.cmpf("oeq", other, mine), logical_and(b, _isnan(b, other), _isnan(b, mine))
    )
    earlier = _position_pairs(b, mine, dim, n)  # j < i
    counted = logical_or(b, before, logical_and(b, equal, earlier))
    return b.reduce_sum(indicator(b, counted, mine), [dim + 1])


def _position_pairs(b: TensorBuilder, like: SSAValue, dim: int, n: int) -> SSAValue:
    """True where the position j (dimension dim + 1) is before i (dim)."""
    mask = np.tril(np.ones((n, n)), -1)  # [i, j] = 1 for j < i
    constant = b.constant(mask, element_of(like))
    rank = len(shape_of(like))
    others = [d for d in range(rank) if d not in (dim, dim + 1)]
    spread = b.broadcast(constant, b.dims(like), others)
    return b.cmpf("une", spread, b.full_like(like, 0.0))


def _iota_along(b: TensorBuilder, like: SSAValue, dim: int) -> SSAValue:
    """The position along `dim`, as a float, shaped like `like`."""
    n = shape_of(like)[dim]
    constant = b.constant(np.arange(n, dtype=np.float64), element_of(like))
    others = [d for d in range(len(shape_of(like))) if d != dim]
    return b.broadcast(constant, b.dims(like), others)


def sorted_values(
    b: TensorBuilder, x: SSAValue, dim: int, descending: bool, count: int
) -> SSAValue:
    """The first `count` values of x sorted along `dim` (all n for sort, k for
    topk), each carrying the jet of the element the stable sort puts there."""
    ranks = sort_ranks(b, b.stop_gradient(x), dim, descending)
    dims = b.dims(x)
    full = [*dims[:dim], count, *dims[dim:]]  # [..., k, i, ...]
    spread_ranks = b.broadcast(ranks, full, [dim])
    positions = _iota_along(b, spread_ranks, dim)
    chosen = b.cmpf("oeq", spread_ranks, positions)
    values = b.broadcast(x, full, [dim])
    picked = b.select(chosen, values, b.full_like(values, -0.0))
    # a tree of additions from -0.0 (a reduce_sum starts from +0.0: -0.0 lost)
    return _drop(b, tree_reduce(b, picked, dim + 1, b.add), [dim + 1])


def _running_extremum(b: TensorBuilder, largest: bool) -> Combine:
    """cummax's (cummin's) step: the later element where it is NaN or at least
    (at most) the earlier one, as torch's kernel (`x >= max` or NaN), so ties
    and NaNs take the latest index."""

    def combine(later: SSAValue, earlier: SSAValue) -> SSAValue:
        l0, e0 = b.stop_gradient(later), b.stop_gradient(earlier)
        wins = logical_or(b, _isnan(b, l0), b.cmpf("oge" if largest else "ole", l0, e0))
        return b.select(wins, later, earlier)

    return combine


def running_extremum(b: TensorBuilder, x: SSAValue, dim: int, largest: bool):
    """cummax (cummin) values along `dim`: a prefix scan of selects on primal
    comparisons (log2(n) levels), each carrying the jet of torch's index."""
    identity = -float("inf") if largest else float("inf")
    return prefix_scan(b, x, dim, _running_extremum(b, largest), identity)


def _log_add_exp(b: TensorBuilder) -> Combine:
    """log(exp(a) + exp(c)) as hi + log1p(exp(lo - hi)), hi the larger one
    on the primal (no overflow); an infinite or NaN hi is the result."""

    def combine(a: SSAValue, c: SSAValue) -> SSAValue:
        first = b.cmpf("oge", b.stop_gradient(a), b.stop_gradient(c))
        hi, lo = b.select(first, a, c), b.select(first, c, a)
        value = b.add(hi, b.unary("log1p", b.unary("exp", b.sub(lo, hi))))
        return b.select(nonfinite(b, b.stop_gradient(hi)), hi, value)

    return combine


def log_cumsum_exp(b: TensorBuilder, x: SSAValue, dim: int) -> SSAValue:
    """logcumsumexp along `dim`: a prefix scan of log-add-exp (log2(n) levels)."""
    return prefix_scan(b, x, dim, _log_add_exp(b), -float("inf"))


# --------------------------------------------------------- remainders


def remainder(b: TensorBuilder, x: SSAValue, y: SSAValue, floored: bool) -> SSAValue:
    """fmod (the sign of x) or, `floored`, remainder (the sign of y): the
    integer q computed on the primal as torch's kernels do (fmod's
    q = trunc(x / y), corrected by one where the rounded quotient is off;
    remainder's one less where fmod's remainder is nonzero and of the other
    sign than y), the value torch's (fmod's x - q y exactly, by Dekker's
    product, while |q| < 2^53; remainder adds y to it as torch), the jets
    those of x - q y: derivatives 1 and -q, as autograd's. A zero has the
    sign of x, as torch's; for |x / y| >= 2^53 the value is not torch's (NaN
    where x / y overflows). y = 0 or x infinite gives NaN; by an
    infinite y, fmod is x and remainder x or y (the sign of y), as torch."""
    x0, y0 = b.stop_gradient(x), b.stop_gradient(y)
    quotient = b.div(x0, y0)
    q = trunc(b, quotient)
    zero = b.full_like(x0, 0.0)
    step = sign(b, quotient)
    r = exact_remainder(b, x0, y0, q)
    q = b.select(_opposite_signs(b, r, x0), b.sub(q, step), q)
    r = exact_remainder(b, x0, y0, q)
    too_big = b.cmpf("oge", _magnitude(b, r), _magnitude(b, y0))
    q = b.select(logical_and(b, too_big, b.cmpf("une", r, zero)), b.add(q, step), q)
    r = signed_zero(b, x0, exact_remainder(b, x0, y0, q))
    if floored:
        adjust = _opposite_signs(b, r, y0)
        q = b.select(adjust, b.sub(q, b.full_like(q, 1.0)), q)
        r = b.select(adjust, b.add(r, y0), r)
    # minus the jets of q y - x: +0.0 at the primal (x0 - x is +0.0, and so is
    # +0.0 plus q (+0.0)), so r - it is r with the sign of a zero kept
    negated = b.add(b.sub(x0, x), b.mul(q, b.sub(y, y0)))
    value = b.sub(r, negated)
    finite_x = b.cmpf("oeq", b.mul(x0, zero), zero)
    infinite_y = logical_and(b, nonfinite(b, y0), b.cmpf("oeq", y0, y0))
    by_infinity = x
    if floored:  # -3 % inf is inf: x where its sign is y's (or x is 0), else y
        by_infinity = b.select(_opposite_signs(b, x0, y0), y, x)
    return b.select(logical_and(b, finite_x, infinite_y), by_infinity, value)


def exact_remainder(b: TensorBuilder, x0: SSAValue, y0: SSAValue, q: SSAValue):
    """x0 - q y0 of primal values without rounding where it is representable
    (an fmod remainder always is): q y0 = p + e exactly (Dekker's product of
    Veltkamp halves), x0 - p is exact (Sterbenz: p is within a factor 2 of x0
    for q != 0, and 0 for q = 0), so (x0 - p) - e rounds only the exact result.
    Where the halves overflow (|y0| > 2^996), x0 - p."""
    p = b.mul(q, y0)
    (qh, ql), (yh, yl) = _halves(b, q), _halves(b, y0)
    e = b.sub(b.mul(qh, yh), p)
    e = b.add(b.add(b.add(e, b.mul(qh, yl)), b.mul(ql, yh)), b.mul(ql, yl))
    near = b.sub(x0, p)
    return b.select(nonfinite(b, e), near, b.sub(near, e))


def _halves(b: TensorBuilder, a: SSAValue) -> tuple[SSAValue, SSAValue]:
    """Veltkamp's split of a into a high half of 26 (f32: 12) significant bits
    and the rest, so products of halves are exact."""
    bits = 27 if element_of(a).bitwidth == 64 else 12
    c = b.mul(b.full_like(a, 2.0**bits + 1.0), a)
    high = b.sub(c, b.sub(c, a))
    return high, b.sub(a, high)


def _opposite_signs(b: TensorBuilder, r: SSAValue, s: SSAValue) -> SSAValue:
    """r is nonzero and of the other sign than s (compared, not multiplied:
    a product of tiny values underflows to 0)."""
    zero = b.full_like(r, 0.0)
    s_positive = b.cmpf("ogt", s, zero)
    r_positive_s_negative = logical_and(
        b, b.cmpf("ogt", r, zero), b.cmpf("olt", s, zero)
    )
    return b.select(b.cmpf("olt", r, zero), s_positive, r_positive_s_negative)


def _magnitude(b: TensorBuilder, x0: SSAValue) -> SSAValue:
    """|x0| of a primal value (no jet: the branches need not be autograd's)."""
    return b.select(b.cmpf("olt", x0, b.full_like(x0, 0.0)), b.neg(x0), x0)


def hypot(b: TensorBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    """sqrt(x^2 + y^2) scaled by the larger magnitude m (a primal constant:
    m sqrt((x/m)^2 + (y/m)^2), no overflow or underflow); infinite if either
    is (even with a NaN), as C's hypot."""
    x0, y0 = b.stop_gradient(x), b.stop_gradient(y)
    ax, ay = _magnitude(b, x0), _magnitude(b, y0)
    m = b.maximum(ax, ay)
    zero = b.full_like(x0, 0.0)
    m = b.select(b.cmpf("oeq", m, zero), b.full_like(x0, 1.0), m)
    u, v = b.div(x, m), b.div(y, m)
    value = b.mul(m, b.unary("sqrt", b.add(b.mul(u, u), b.mul(v, v))))
    inf = b.full_like(x0, float("inf"))
    infinite = logical_or(b, b.cmpf("oeq", ax, inf), b.cmpf("oeq", ay, inf))
    return b.select(infinite, inf, value)


# ------------------------------------------------------- distances, windows


def pairwise_distances(
    b: TensorBuilder, x1: SSAValue, x2: SSAValue, p: float
) -> SSAValue:
    """torch.cdist of `(..., P, M)` and `(..., R, M)` (batch dims already
    broadcast): the differences `(..., P, R, M)` and their p-norm over M.
    p = 2 is sqrt of the sum of squares, p = 1 the sum of |d|, p = inf the
    largest |d| (every maximal one carries its derivative, as cdist's
    backward), p = 0 the count of nonzero d (a constant), others
    (sum |d|^p)^(1/p). A zero distance has a zero jet for p > 0, as
    cdist's backward, which masks it (where sqrt or the 1/p power has none)."""
    rank = len(shape_of(x1))
    d1, d2 = b.dims(x1), b.dims(x2)
    full = [*d1[:-1], d2[-2], d1[-1]]
    a = b.broadcast(x1, full, [rank - 1])
    c = b.broadcast(x2, full, [rank - 2])
    d = b.sub(a, c)
    plain = b.stop_gradient(d)
    zero = b.full_like(d, 0.0)
    magnitude = b.select(b.cmpf("olt", plain, zero), b.neg(d), d)
    if p == 0:
        return b.reduce_sum(indicator(b, b.cmpf("une", plain, zero), d), [rank])
    if p == float("inf"):
        kept = tree_reduce(b, b.stop_gradient(magnitude), rank, b.maximum)
        spread = _broadcast_kept(b, kept, d, [rank])
        chosen = b.cmpf("oeq", b.stop_gradient(magnitude), spread)
        offsets = b.select(chosen, b.sub(magnitude, spread), zero)
        return b.add(_drop(b, kept, [rank]), b.reduce_sum(offsets, [rank]))
    if p == 1:
        return b.reduce_sum(magnitude, [rank])
    powered = b.mul(d, d) if p == 2 else power(b, magnitude, p)
    total = b.reduce_sum(powered, [rank])
    total0 = b.stop_gradient(total)
    zero_total = b.cmpf("oeq", total0, b.full_like(total0, 0.0))
    safe = b.select(zero_total, b.full_like(total0, 1.0), total)
    root = power(b, safe, 1.0 / p)
    return b.select(zero_total, b.full_like(total0, 0.0), root)


def power(b: TensorBuilder, x: SSAValue, exponent: float) -> SSAValue:
    """x ** exponent as the `pow` rule's primal (integers as products)."""
    return ELEMENTWISE_FUNCTIONS["pow"].primal(IRElementwiseOps(b), x, exponent)


def append_unit(b: TensorBuilder, x: SSAValue) -> SSAValue:
    """x with a new last dimension of size 1 (`tensor.expand_shape`)."""
    rank = len(shape_of(x))
    groups = [[d] for d in range(rank - 1)] + [[rank - 1, rank]]
    return b.expand(x, groups, [*b.dims(x), 1])


def unfold(b: TensorBuilder, x: SSAValue, dim: int, size: int, step: int, count: int):
    """Tensor.unfold: `count` windows of `size` along `dim`, every `step`, the
    offsets in the window as a new last dimension: one strided slice per
    offset, concatenated."""
    rank = len(shape_of(x))
    pieces = [
        append_unit(b, slice_along(b, x, dim, offset, count, step))
        for offset in range(size)
    ]
    return pieces[0] if size == 1 else b.concat(pieces, rank)


def dilate(b: TensorBuilder, x: SSAValue, dim: int, stride: int) -> SSAValue:
    """`stride - 1` zeros between consecutive elements along `dim`: each
    element followed by the zeros as a new last dimension, flattened into
    `dim` (moved last and back), the trailing zeros cropped."""
    if stride == 1:
        return x
    rank = len(shape_of(x))
    order = [d for d in range(rank) if d != dim] + [dim]
    moved = b.transpose(x, order) if dim != rank - 1 else x
    n = shape_of(moved)[-1]
    spread = append_unit(b, moved)
    zeros = filled(b, spread, rank, stride - 1, 0.0)
    flat = b.collapse(
        b.concat([spread, zeros], rank),
        [[d] for d in range(rank - 1)] + [[rank - 1, rank]],
    )
    flat = slice_along(b, flat, rank - 1, 0, (n - 1) * stride + 1)
    if dim == rank - 1:
        return flat
    back = [order.index(d) for d in range(rank)]
    return b.transpose(flat, back)


def flip(b: TensorBuilder, x: SSAValue, dim: int) -> SSAValue:
    """The unit slices along `dim` in reverse order."""
    n = shape_of(x)[dim]
    if n == 1:
        return x
    return b.concat([slice_along(b, x, dim, i, 1) for i in range(n - 1, -1, -1)], dim)


def transposed_convolution(
    b: TensorBuilder,
    x: SSAValue,
    weight: SSAValue,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    out: Sequence[int],
) -> SSAValue:
    """conv_transpose: the adjoint of the strided convolution, as a plain one
    (a linear map in x): x dilated by the stride (zeros between elements),
    padded by dilation * (kernel - 1) - padding on each side (negative:
    cropped) and output_padding more after, convolved with stride 1 and the
    weight `(C_in, C_out/groups, *K)` flipped spatially and transposed per
    group to `(C_out, C_in/groups, *K)`."""
    count = len(shape_of(x)) - 2
    kernel = shape_of(weight)[2:]
    for i in range(count):
        x = dilate(b, x, 2 + i, stride[i])
        edge = dilation[i] * (kernel[i] - 1) - padding[i]
        x = pad(b, x, 2 + i, edge, edge + output_padding[i], 0.0)
    inputs = shape_of(weight)[0] // groups
    parts = []
    for g in range(groups):
        w = slice_along(b, weight, 0, g * inputs, inputs) if groups > 1 else weight
        w = b.transpose(w, [1, 0, *range(2, 2 + count)])
        for i in range(count):
            w = flip(b, w, 2 + i)
        parts.append(w)
    w = parts[0] if groups == 1 else b.concat(parts, 0)
    return convolution(b, x, w, [1] * count, dilation, groups, out)

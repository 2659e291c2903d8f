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

from xdsl.ir import SSAValue

from taylor_mlir.dialects.taylor import StopGradientOp
from taylor_mlir.ir.builder import Dim, TensorBuilder, element_of, shape_of

Combine = Callable[[SSAValue, SSAValue], SSAValue]


def stop_gradient(b: TensorBuilder, x: SSAValue) -> SSAValue:
    return b.insert(StopGradientOp(x)).results[0]


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


def pad(
    b: TensorBuilder, x: SSAValue, dim: int, before: int, after: int, value: float
) -> SSAValue:
    """`value` before and after x along `dim` (negative counts crop)."""
    size = shape_of(x)[dim]
    if before < 0 or after < 0:
        start = max(-before, 0)
        x = slice_along(b, x, dim, start, size - start - max(-after, 0))
    pieces = [filled(b, x, dim, before, value)] if before > 0 else []
    pieces.append(x)
    if after > 0:
        pieces.append(filled(b, x, dim, after, value))
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
    plain = stop_gradient(b, x)
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

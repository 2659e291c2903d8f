"""
Writing values into a tensor at constant positions (index_put, index_add,
scatter, scatter_reduce, slice and masked scatter), composed from slices
and concatenations (the rules are in aten_scatter.py).

Each row is flattened: `x` of shape (R, M) and the values `v` of shape (R, K),
`targets[k]` the position in a row of x that value k goes to (the same in
every row). Each result position p has a list of *candidates*: columns of
`[x | v | pad]`. A plain write keeps one (the value written to p, or x's
own element); a reduction combines all of those written to p (and x's own
element with `include_self`, or when nothing is written to p). Candidate `d`
of every position, one column each, is one gather of `[x | v | pad]` by
slices (`take`), so the result is a sum, product, or piecewise choice of a
few such layers: linear maps and selects every pass knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import numpy as np
from xdsl.ir import SSAValue

from taylor_mlir.frontend.compositions import (
    indicator,
    logical_and,
    slice_along,
)
from taylor_mlir.ir.builder import TensorBuilder, element_of, shape_of

REDUCTIONS = ("set", "sum", "prod", "mean", "amax", "amin")

_PAD = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "amax": 0.0, "amin": 0.0}


def candidates(
    targets: Sequence[int], size: int, mode: str, include_self: bool
) -> list[list[int]]:
    """For each of the `size` positions, the columns of `[x | v]` it combines:
    p is x's own element, `size + k` value k."""
    written: list[list[int]] = [[] for _ in range(size)]
    for k, p in enumerate(targets):
        written[p].append(size + k)
    if mode == "set":  # one write (aten_scatter.py refuses repeated positions)
        return [w[-1:] or [p] for p, w in enumerate(written)]
    return [([p] if include_self or not w else []) + w for p, w in enumerate(written)]


def take(b: TensorBuilder, x: SSAValue, dim: int, positions: Sequence[int]):
    """The slices of x at `positions` (in range) along `dim`, concatenated: a
    run of consecutive positions is one slice."""
    runs: list[list[int]] = []
    for i in positions:
        if runs and sum(runs[-1]) == i:
            runs[-1][1] += 1
        else:
            runs.append([i, 1])
    size = shape_of(x)[dim]
    pieces = [
        x if (start, length) == (0, size) else slice_along(b, x, dim, start, length)
        for start, length in runs
    ]
    return pieces[0] if len(pieces) == 1 else b.concat(pieces, dim)


def scatter_rows(
    b: TensorBuilder,
    x: SSAValue,
    v: SSAValue,
    size: int,
    targets: Sequence[int],
    mode: str,
    include_self: bool = True,
) -> SSAValue:
    """x (R, M) with the values v (R, K) written at `targets` by `mode`
    (M = `size`)."""
    columns = candidates(targets, size, mode, include_self)
    depth = max(len(c) for c in columns)
    pad = size + len(targets)
    parts = [x, v]
    if depth > 1:
        dims = b.dims(x)
        dims[1] = 1
        parts.append(b.fill(_PAD[mode], dims, element_of(x)))
    table = b.concat(parts, 1)
    layers = [
        take(b, table, 1, [c[d] if d < len(c) else pad for c in columns])
        for d in range(depth)
    ]
    if depth == 1:
        return layers[0]
    valid = [
        np.array([d < len(c) for c in columns], dtype=np.float64) for d in range(depth)
    ]
    if mode in ("sum", "mean"):
        total = reduce(b.add, layers)
        if mode == "sum":
            return total
        counts = np.array([len(c) for c in columns], dtype=np.float64)
        return b.div(total, _row_constant(b, counts, x))
    if mode == "prod":
        return reduce(b.mul, layers)
    return _extremum(b, layers, [_row_mask(b, m, x) for m in valid], mode == "amax")


def _row_constant(b: TensorBuilder, row: np.ndarray, like: SSAValue) -> SSAValue:
    """A constant row, the same in every row of `like` (R, M)."""
    constant = b.constant(row.reshape(1, -1), element_of(like))
    return b.broadcast(b.collapse(constant, [[0, 1]]), b.dims(like), [0])


def _row_mask(b: TensorBuilder, row: np.ndarray, like: SSAValue) -> SSAValue:
    values = _row_constant(b, row, like)
    return b.cmpf("une", values, b.full_like(values, 0.0))


def _extremum(
    b: TensorBuilder, layers: list[SSAValue], valid: list[SSAValue], largest: bool
) -> SSAValue:
    """The largest (smallest) of the valid candidates; its jet is the mean of
    the jets of the candidates equal to it (scatter_reduce's autograd
    convention: ties split the gradient evenly)."""
    combine = b.maximum if largest else b.minimum
    plain = [b.stop_gradient(layer) for layer in layers]
    best = plain[0]  # candidate 0 of every position is valid
    for p, ok in zip(plain[1:], valid[1:], strict=True):
        best = b.select(ok, combine(best, p), best)
    chosen = [
        logical_and(b, ok, b.cmpf("oeq", p, best))
        for p, ok in zip(plain, valid, strict=True)
    ]
    zero = b.full_like(best, 0.0)
    total = reduce(
        b.add,
        [b.select(c, layer, zero) for c, layer in zip(chosen, layers, strict=True)],
    )
    count = reduce(b.add, [indicator(b, c, best) for c in chosen])
    value = b.div(total, count)
    # NaN compares unequal to everything: no candidate is chosen, keep the NaN
    return b.select(b.cmpf("une", best, best), best, value)

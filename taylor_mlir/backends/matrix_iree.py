"""
The `matrix` ops (dialects/matrix.py: inv, det, logabsdet) composed from
tensor-level ops IREE compiles: `lower_for_iree` replaces each one by
Gauss-Jordan elimination with partial pivoting, unrolled over the static
matrix size n (at most MAX_SIZE; check_supported refuses larger ones). The
torch backend keeps running torch.linalg's kernels.

Each of the n steps k works on the whole batch of augmented matrices
M (.. x n x m; m = 2n for inv, [A | I], else m = n):

- pivot: p = the row i >= k of largest |M[i, k]| (the first one on ties), by a
  chain of compares and selects over the rows k ... n-1 (as torch's LU);
- swap rows k and p by selects on the constant row masks (row index == p,
  row index == k);
- normalize the pivot row by the pivot, and eliminate column k from every
  other row with a broadcast outer product (column k) x (pivot row).

inv is the right half of M at the end (the transformed identity); det is the
product of the pivots times the sign of the permutation (a float +-1 flipped
at each step whose p != k); logabsdet is the sum of log |pivot|.

A singular matrix (a zero pivot) cannot raise from inside IREE: inv divides
by the zero pivot and gives inf/NaN entries (as unpivoted elimination would),
where the torch backend raises CallError. For det and logabsdet a zero pivot
(the whole rest of its column is 0) divides by 1 instead, which leaves a valid
elimination of the remaining columns: det gives 0 (the product holds the zero
pivot) and logabsdet -inf (log 0), as torch.
"""

from __future__ import annotations

import numpy as np
from xdsl.builder import InsertPoint
from xdsl.dialects import tensor
from xdsl.dialects.builtin import Float32Type, Float64Type, ModuleOp, TensorType
from xdsl.ir import SSAValue
from xdsl.rewriter import Rewriter

from taylor_mlir.dialects.matrix import MATRIX_OPS, DetOp, InvOp, LogAbsDetOp
from taylor_mlir.errors import BackendError, InternalError
from taylor_mlir.ir.builder import TensorBuilder, element_of, make_tensor_type

MAX_SIZE = 16
"""The largest n composed (the unrolled elimination grows as n^2 ops)."""


def check_matrix_op(op) -> None:
    """BackendError for a `matrix` op IREE cannot run composed."""
    shape = list(op.input.type.get_shape())
    n = shape[-1]
    if n < 0 or shape[-2] != n:
        raise BackendError(
            f"cannot compile {op.name} of {op.input.type} with IREE: the matrix "
            "size must be static (use backend='torch')"
        )
    if n > MAX_SIZE:
        raise BackendError(
            f"cannot compile {op.name} of {n} x {n} matrices with IREE: the "
            f"composition is unrolled up to n = {MAX_SIZE} (use backend='torch')"
        )


class _Elimination:
    """Gauss-Jordan elimination of a batch of augmented matrices."""

    def __init__(self, b: TensorBuilder, x: SSAValue, augmented: bool):
        self.b = b
        self.augmented = augmented
        self.element = element_of(x)
        shape = list(x.type.get_shape())
        self.rank = len(shape)
        self.batch_rank = self.rank - 2
        self.n = n = shape[-1]
        self.m = 2 * n if augmented else n
        self.batch = b.dims(x)[: self.batch_rank]
        if augmented:
            eye = b.constant(np.eye(n), self.element)
            x = b.concat([x, self._wide(eye, [self.n, self.n])], self.rank - 1)
        self.matrix = x
        rows = np.repeat(np.arange(n, dtype=np.float64)[:, None], self.m, axis=1)
        self.row_index = self._wide(b.constant(rows, self.element), [n, self.m])

    # -------------------------------------------------------------- helpers

    def _wide(self, a: SSAValue, inner: list[int]) -> SSAValue:
        """a (the inner shape) broadcast over the batch."""
        if not self.batch_rank:
            return a
        return self.b.broadcast(a, [*self.batch, *inner], list(range(self.batch_rank)))

    def scalar(self, value: float) -> SSAValue:
        """A batch (..) of one value."""
        return self.b.fill(value, self.batch, self.element)

    def _slice(self, a, offsets, sizes, kept: list) -> SSAValue:
        """a[offsets : offsets + sizes] without the unit dims (kept: the
        result's sizes)."""
        zeros = [0] * self.batch_rank
        result = make_tensor_type([*self.batch, *kept], self.element)
        op = tensor.ExtractSliceOp(
            a,
            [*zeros, *offsets],
            [*self.batch, *sizes],
            [1] * self.rank,
            result,
        )
        return self.b.insert(op).results[0]

    def entry(self, a: SSAValue, i: int, j: int) -> SSAValue:
        return self._slice(a, [i, j], [1, 1], [])

    def row(self, a: SSAValue, i: int) -> SSAValue:
        return self._slice(a, [i, 0], [1, self.m], [self.m])

    def column(self, a: SSAValue, j: int) -> SSAValue:
        return self._slice(a, [0, j], [self.n, 1], [self.n])

    def as_rows(self, v: SSAValue) -> SSAValue:
        """A row (.. x m) repeated over the n rows."""
        r = self.batch_rank
        return self.b.broadcast(v, [*self.batch, self.n, self.m], [r])

    def as_columns(self, v: SSAValue) -> SSAValue:
        """A column (.. x n) repeated over the m columns."""
        r = self.batch_rank
        return self.b.broadcast(v, [*self.batch, self.n, self.m], [r + 1])

    def as_matrix(self, s: SSAValue) -> SSAValue:
        """A batch of values (..) over the whole matrix."""
        r = self.batch_rank
        return self.b.broadcast(s, [*self.batch, self.n, self.m], [r, r + 1])

    def absolute(self, a: SSAValue) -> SSAValue:
        b = self.b
        return b.select(b.cmpf("olt", a, self.scalar(0.0)), b.neg(a), a)

    # ---------------------------------------------------------- elimination

    def run(self) -> tuple[list[SSAValue], SSAValue]:
        """Eliminates; returns the pivots (each ..) and the permutation sign."""
        b = self.b
        pivots, sign = [], self.scalar(1.0)
        for k in range(self.n):
            a = self.matrix
            pivot = self.entry(a, k, k)
            best, chosen = self.absolute(pivot), self.scalar(float(k))
            for i in range(k + 1, self.n):
                candidate = self.entry(a, i, k)
                size = self.absolute(candidate)
                take = b.cmpf("ogt", size, best)
                best = b.select(take, size, best)
                pivot = b.select(take, candidate, pivot)
                chosen = b.select(take, self.scalar(float(i)), chosen)
            is_p = b.cmpf("oeq", self.row_index, self.as_matrix(chosen))
            is_k = b.cmpf("oeq", self.row_index, self.as_matrix(self.scalar(float(k))))
            zero = b.fill(0.0, [*self.batch, self.n, self.m], self.element)
            pivot_row = b.reduce_sum(b.select(is_p, a, zero), [self.batch_rank])
            swapped = b.select(is_p, self.as_rows(self.row(a, k)), a)
            swapped = b.select(is_k, self.as_rows(pivot_row), swapped)
            moved = b.cmpf("one", chosen, self.scalar(float(k)))
            sign = b.select(moved, b.neg(sign), sign)
            divisor = pivot
            if not self.augmented:  # det, logabsdet: a zero pivot divides by 1
                zero_pivot = b.cmpf("oeq", pivot, self.scalar(0.0))
                divisor = b.select(zero_pivot, self.scalar(1.0), pivot)
            r = self.batch_rank
            normalized = b.div(
                pivot_row, b.broadcast(divisor, [*self.batch, self.m], [r])
            )
            factors = self.column(swapped, k)
            eliminated = b.sub(
                swapped,
                b.mul(self.as_columns(factors), self.as_rows(normalized)),
            )
            self.matrix = b.select(is_k, self.as_rows(normalized), eliminated)
            pivots.append(pivot)
        return pivots, sign


def compose(b: TensorBuilder, op) -> SSAValue:
    """The composition of one `matrix` op, built at b."""
    check_matrix_op(op)
    elimination = _Elimination(b, op.input, augmented=isinstance(op, InvOp))
    pivots, sign = elimination.run()
    if isinstance(op, InvOp):
        e, n = elimination, elimination.n
        zeros = [0] * e.batch_rank
        result = make_tensor_type([*e.batch, n, n], e.element)
        inverse = tensor.ExtractSliceOp(
            e.matrix, [*zeros, 0, n], [*e.batch, n, n], [1] * e.rank, result
        )
        return b.insert(inverse).results[0]
    if isinstance(op, DetOp):
        total = sign
        for pivot in pivots:
            total = b.mul(total, pivot)
        return total
    if not isinstance(op, LogAbsDetOp):
        raise InternalError(f"no composition for {op.name}")
    total = elimination.scalar(0.0)
    for pivot in pivots:
        total = b.add(total, b.unary("log", elimination.absolute(pivot)))
    return total


def expand_matrix_ops(module: ModuleOp) -> None:
    """Replaces every float32/float64 `matrix` op of `module` by its
    Gauss-Jordan composition."""
    for op in [op for op in module.walk() if type(op) in MATRIX_OPS]:
        t = op.input.type
        if isinstance(t, TensorType) and isinstance(
            t.get_element_type(), (Float32Type, Float64Type)
        ):
            b = TensorBuilder(InsertPoint.before(op))
            Rewriter.replace_op(op, [], [compose(b, op)])

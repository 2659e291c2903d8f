"""
Products of batches of matrices in the tensor-level vocabulary, and the
`matrix` ops (dialects/matrix.py), for the linear-algebra import rules
(`frontend/aten_linalg.py`) and their Taylor-mode series
(`transforms/taylor_mode.py`).

A tensor of rank r holds matrices in its last two dimensions; its leading
dimensions (the batch, and any inside a datum) are the same on both sides of a
product. Both factors may depend on the input, so a product is a broadcast, a
`arith.mulf` and a `linalg.reduce` (as `TensorBuilder.batch_matmul` does for
3-D operands): bilinear in ops the Taylor rules know, so a product of two jets
is Leibniz's rule, with no new jet op.
"""

from __future__ import annotations

from xdsl.ir import SSAValue

from taylor_mlir.dialects.matrix import DetOp, InvOp, LogAbsDetOp
from taylor_mlir.ir.builder import TensorBuilder, shape_of


def matmul(b: TensorBuilder, a: SSAValue, c: SSAValue) -> SSAValue:
    """(.. x n x k) @ (.. x k x m) -> (.. x n x m)."""
    r = len(shape_of(a))
    shape = [*b.dims(a), b.dim(c, r - 1)]  # .. x n x k x m
    a_wide = b.broadcast(a, shape, [r])
    c_wide = b.broadcast(c, shape, [r - 2])
    return b.reduce_sum(b.mul(a_wide, c_wide), [r - 1])


def matvec(b: TensorBuilder, a: SSAValue, v: SSAValue) -> SSAValue:
    """(.. x n x k) @ (.. x k) -> (.. x n)."""
    r = len(shape_of(a))
    v_wide = b.broadcast(v, b.dims(a), [r - 2])
    return b.reduce_sum(b.mul(a, v_wide), [r - 1])


def vecmat(b: TensorBuilder, v: SSAValue, a: SSAValue) -> SSAValue:
    """(.. x n) @ (.. x n x m) -> (.. x m)."""
    r = len(shape_of(a))
    v_wide = b.broadcast(v, b.dims(a), [r - 1])
    return b.reduce_sum(b.mul(v_wide, a), [r - 2])


def transpose(b: TensorBuilder, a: SSAValue) -> SSAValue:
    """Each matrix transposed (the last two dimensions swapped)."""
    r = len(shape_of(a))
    return b.transpose(a, [*range(r - 2), r - 1, r - 2])


def trace_of_product(b: TensorBuilder, a: SSAValue, c: SSAValue) -> SSAValue:
    """tr(a c) = sum_ij a_ij c_ji, without forming the product."""
    r = len(shape_of(a))
    return b.reduce_sum(b.mul(a, transpose(b, c)), [r - 2, r - 1])


def inv(b: TensorBuilder, x: SSAValue) -> SSAValue:
    return b.insert(InvOp(x)).results[0]


def det(b: TensorBuilder, x: SSAValue) -> SSAValue:
    return b.insert(DetOp(x)).results[0]


def logabsdet(b: TensorBuilder, x: SSAValue) -> SSAValue:
    return b.insert(LogAbsDetOp(x)).results[0]

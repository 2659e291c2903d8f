"""
The rewrites `lower_for_iree` runs before IREE compiles a module, as passes
of their own (`taylor-opt -p ...` runs each; lit_tests/backends/ checks them).
Each replaces ops IREE 3.13 cannot compile by compositions of ops it can; the
torch backend keeps the original ops (torch's kernels).

```mlir
// iree-expand-special-functions: a `special` op -> a linalg.generic whose
// body composes it from arith/math on scalars (special_functions_iree.py)
%y = special.digamma %x : tensor<?x3xf64>
// after
%y = linalg.generic {...} ins(%x : tensor<?x3xf64>) outs(%e : tensor<?x3xf64>) {
^bb0(%a: f64, %b: f64):  ... arith / math ...  linalg.yield %r : f64
}

// iree-expand-matrix-ops: a `matrix` op of static n <= 16 -> Gauss-Jordan
// elimination with partial pivoting, unrolled over n (matrix_iree.py)
%d = matrix.det %a : tensor<?x3x3xf64> -> tensor<?xf64>
// after: compares and selects for the pivots, broadcast outer products for
// the eliminations, the product of the pivots times the permutation's sign

// iree-expand-float64-erf: float64 math.erf (it does not link) -> its
// composition (erf_float64.py); float32 erf stays
%y = math.erf %x : tensor<4xf64>

// iree-real-powers: math.powf with a tensor exponent (IREE expands it as
// exp(w log z): NaN for z < 0, and for 0^0) -> torch's real power: |z|^w,
// negated for an odd integer w and z < 0, NaN for another w there, 1 for w = 0
%p = math.powf %z, %w : tensor<?x3xf64>
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from taylor_mlir.dialects.matrix import MATRIX_OPS
from taylor_mlir.errors import BackendError, InvalidIRError


@dataclass(frozen=True)
class ExpandSpecialFunctionsPass(ModulePass):
    """`special` ops -> their compositions (special_functions_iree.py)."""

    name = "iree-expand-special-functions"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from taylor_mlir.backends.special_functions_iree import (
            expand_special_functions,
        )

        expand_special_functions(op)


@dataclass(frozen=True)
class ExpandMatrixOpsPass(ModulePass):
    """`matrix` ops -> Gauss-Jordan elimination (matrix_iree.py); fails on
    a matrix op it cannot unroll (dynamic or larger than 16 x 16)."""

    name = "iree-expand-matrix-ops"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from taylor_mlir.backends.matrix_iree import check_matrix_op, expand_matrix_ops

        for matrix_op in op.walk():
            if type(matrix_op) in MATRIX_OPS:
                try:
                    check_matrix_op(matrix_op)
                except BackendError as error:
                    raise InvalidIRError(f"{self.name}: {error}") from None
        expand_matrix_ops(op)


@dataclass(frozen=True)
class ExpandFloat64ErfPass(ModulePass):
    """float64 `math.erf` -> its composition (erf_float64.py)."""

    name = "iree-expand-float64-erf"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from taylor_mlir.backends.erf_float64 import expand_float64_erf

        expand_float64_erf(op)


@dataclass(frozen=True)
class RealPowersPass(ModulePass):
    """`math.powf` of a tensor exponent -> torch's real power (`real_power`);
    a constant exponent is left alone (it is never an integer: those are
    products, and IREE's `exp(w log z)` is right for the others)."""

    name = "iree-real-powers"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from xdsl.builder import InsertPoint
        from xdsl.dialects import math
        from xdsl.rewriter import Rewriter

        from taylor_mlir.ir.builder import TensorBuilder
        from taylor_mlir.ir.matchers import splat_value

        for power in [p for p in op.walk() if isinstance(p, math.PowFOp)]:
            if splat_value(power.rhs) is None:
                b = TensorBuilder(InsertPoint.before(power))
                Rewriter.replace_op(power, [], [real_power(b, power.lhs, power.rhs)])


def real_power(b, z, w):
    """`z ** w` as torch (C's `pow`) from `math.powf` on |z|, which IREE
    computes as exp(w log |z|): for z < 0 real where w is an integer (negated
    where it is odd), NaN elsewhere; `0 ** 0` and `z ** 0` are 1."""
    from taylor_mlir.frontend.compositions import round_half_even

    zero, one = b.full_like(z, 0.0), b.full_like(z, 1.0)
    negative = b.cmpf("olt", z, zero)
    magnitude = b.powf(b.select(negative, b.neg(z), z), w)
    half = b.mul(w, b.full_like(w, 0.5))
    integer = b.cmpf("oeq", round_half_even(b, w), w)
    odd = b.cmpf("one", round_half_even(b, half), half)
    signed = b.select(odd, b.neg(magnitude), magnitude)
    nan = b.full_like(z, float("nan"))
    real = b.select(negative, b.select(integer, signed, nan), magnitude)
    return b.select(b.cmpf("oeq", w, zero), one, real)


IREE_PREPARATION = (
    ExpandSpecialFunctionsPass,
    ExpandMatrixOpsPass,
    ExpandFloat64ErfPass,
    RealPowersPass,
)
"""What `lower_for_iree` runs, in order (special functions may use erf)."""


def get_backend_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """The passes above by name, for `taylor-opt`."""
    return {p.name: (lambda p=p: p) for p in IREE_PREPARATION}

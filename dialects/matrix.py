"""
`matrix`: per-matrix linear algebra on the last two dimensions of a tensor
(every leading dimension, the batch included, is a batch of matrices).

```mlir
%y = matrix.inv %x : tensor<?x3x3xf64> -> tensor<?x3x3xf64>        // X^-1
%d = matrix.det %x : tensor<?x3x3xf64> -> tensor<?xf64>            // det X
%l = matrix.logabsdet %x : tensor<?x3x3xf64> -> tensor<?xf64>      // log |det X|
```

Three ops carry `torch.linalg.det/slogdet/logdet/inv/solve`
(`frontend/aten_linalg.py`): the sign of slogdet is `det` of the stopped
matrix compared with 0, a solve is `inv(A) @ B`. They are not linear, so a
jet never enters one: `taylor-mode` writes each of them on a jet as a finite
series of matrix products around the primal (`transforms/taylor_mode.py`), in
which they only see coefficient 0. The torch backend runs torch.linalg's
kernels (`inv` raises CallError for a singular matrix); for IREE they are
composed from tensor-level ops before lowering, by Gauss-Jordan elimination
with partial pivoting unrolled over a static size up to 16
(`taylor_mlir/backends/matrix_iree.py`; larger ones are refused with a
BackendError; a singular matrix gives a non-finite `inv` there, no error).
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException


class _MatrixOp(IRDLOperation):
    """One tensor of matrices in (rank >= 2, square), one result."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    REDUCES_MATRIX: ClassVar[bool] = True  # the result drops the matrix dims

    def __init__(self, input: SSAValue, result_type: Attribute | None = None):
        if result_type is None:
            t = input.type
            if not isinstance(t, TensorType):
                raise VerifyException(f"{self.name} takes a tensor, got {t}")
            shape = list(t.get_shape())
            kept = shape[:-2] if self.REDUCES_MATRIX else shape
            result_type = TensorType(t.get_element_type(), kept)
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        shape = list(self.input.type.get_shape())
        if len(shape) < 2 or shape[-1] != shape[-2] or shape[-1] < 0:
            raise VerifyException(
                f"{self.name} takes square matrices of a static size in the last "
                f"two dimensions, got {self.input.type}"
            )
        expected = shape[:-2] if self.REDUCES_MATRIX else shape
        if list(self.result.type.get_shape()) != expected:
            want = TensorType(self.input.type.get_element_type(), expected)
            raise VerifyException(
                f"{self.name} of {self.input.type} is a {want}, not {self.result.type}"
            )


@irdl_op_definition
class InvOp(_MatrixOp):
    """The inverse of each matrix (torch.linalg.inv)."""

    name = "matrix.inv"
    REDUCES_MATRIX: ClassVar[bool] = False


@irdl_op_definition
class DetOp(_MatrixOp):
    """The determinant of each matrix (torch.linalg.det)."""

    name = "matrix.det"


@irdl_op_definition
class LogAbsDetOp(_MatrixOp):
    """log |det| of each matrix (torch.linalg.slogdet's second result)."""

    name = "matrix.logabsdet"


MATRIX_OPS = (InvOp, DetOp, LogAbsDetOp)

Matrix = Dialect("matrix", list(MATRIX_OPS), [])

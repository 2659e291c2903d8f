"""
Sizes of an exported graph: torch's symbolic sizes as sizes of the IR.

With a dynamic batch, `torch.export` writes every size as an int or a `SymInt`
whose expression is in the batch symbol (`s0`, `3*s0` after a `view(-1)`). A
size here is a *monomial* `c * s0**k`; the IR carries `k = 0` sizes as ints and
`c * s0` as an `index` value (`tensor.dim` of the first input, times `c`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy
import torch
from xdsl.ir import SSAValue

from taylor_mlir.errors import InternalError
from taylor_mlir.ir.builder import Dim, TensorBuilder

Monomial = tuple[int, int]
"""`(c, k)` for the size `c * batch**k`."""


class SizeError(ValueError):
    """A size that is not an integer multiple of the batch symbol's power."""


def monomial(size: Any) -> Monomial:
    """`(c, k)` with `size == c * batch**k`; raises SizeError otherwise."""
    if isinstance(size, int):
        return size, 0
    if not isinstance(size, torch.SymInt):
        raise InternalError(f"not a size: {size!r}")
    expr = sympy.sympify(size.node.expr)
    coefficient, rest = expr.as_coeff_Mul()
    base, power = rest.as_base_exp()
    if rest == 1:
        base, power = None, 0
    if (
        not coefficient.is_Integer
        or coefficient <= 0
        or (base is not None and not base.is_Symbol)
        or not sympy.sympify(power).is_Integer
    ):
        raise SizeError(f"size {expr} is not an integer multiple of the batch size")
    return int(coefficient), int(power)


def describe(sizes: Sequence[Any]) -> str:
    """A shape for messages, the batch written N: `(2N, 3)`."""

    def one(size: Any) -> str:
        try:
            coefficient, power = monomial(size)
        except SizeError:
            return str(size)
        batch = {0: "", 1: "N"}.get(power, f"N^{power}")
        return batch if coefficient == 1 and batch else f"{coefficient}{batch}"

    return (
        "(" + ", ".join(one(s) for s in sizes) + ("," if len(sizes) == 1 else "") + ")"
    )


def times(a: Monomial, b: Monomial) -> Monomial:
    return a[0] * b[0], a[1] + b[1]


def reassociation(
    sizes_in: Sequence[Monomial], sizes_out: Sequence[Monomial]
) -> tuple[list[list[int]], list[list[int]]]:
    """The finest grouping of a reshape: the i-th group of input dimensions holds
    as many elements as the i-th group of output dimensions. Unit dimensions
    join a neighbouring group. From or to a scalar, both groupings are empty."""
    if not sizes_in or not sizes_out:
        return [], []
    groups_in: list[list[int]] = []
    groups_out: list[list[int]] = []
    i = j = 0
    while i < len(sizes_in) and j < len(sizes_out):
        group_in, group_out = [i], [j]
        size_in, size_out = sizes_in[i], sizes_out[j]
        i, j = i + 1, j + 1
        while size_in != size_out:
            # widen the side with fewer elements (powers of the batch first)
            if (size_in[1], size_in[0]) < (size_out[1], size_out[0]):
                if i == len(sizes_in):
                    raise InternalError("reshape sizes do not match")
                group_in.append(i)
                size_in, i = times(size_in, sizes_in[i]), i + 1
            else:
                if j == len(sizes_out):
                    raise InternalError("reshape sizes do not match")
                group_out.append(j)
                size_out, j = times(size_out, sizes_out[j]), j + 1
        groups_in.append(group_in)
        groups_out.append(group_out)
    groups_in[-1].extend(range(i, len(sizes_in)))
    groups_out[-1].extend(range(j, len(sizes_out)))
    return groups_in, groups_out


class SizeValues:
    """Emits the IR size (`Dim`) of a torch size, once per distinct size.

    The batch is `tensor.dim` of dimension 0 of `batch_source` (the first
    input), emitted at its first use; `c * batch` is an `arith.muli` of it.
    """

    def __init__(self, builder: TensorBuilder, batch_source: SSAValue | None):
        self.builder = builder
        self.batch_source = batch_source
        self._emitted: dict[int, SSAValue] = {}

    def dim(self, size: Any) -> Dim:
        coefficient, power = monomial(size)
        if power == 0:
            return coefficient
        if power != 1 or self.batch_source is None:
            raise SizeError(f"size {size} is not an integer multiple of the batch")
        if coefficient not in self._emitted:
            if 1 not in self._emitted:
                self._emitted[1] = self.builder.dim(self.batch_source, 0)
            if coefficient != 1:
                self._emitted[coefficient] = self.builder.mul_dims(
                    self._emitted[1], coefficient
                )
        return self._emitted[coefficient]

    def dims(self, sizes: Sequence[Any]) -> list[Dim]:
        return [self.dim(size) for size in sizes]

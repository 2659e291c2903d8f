"""
`arith.cmpf` and `arith.select` on tensors.

MLIR allows both on tensors (`tensor<?x4xf64>` operands give a `tensor<?x4xi1>`
condition); xDSL 0.74 models them on scalars only. These drop-in definitions keep
MLIR's syntax and accept tensors, so `torch.where(x > 0, a, b)` imports as
upstream IR that IREE compiles. `arith_with_tensor_comparisons()` is the arith
dialect with the two ops replaced; our contexts register it instead of xDSL's.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects import arith
from xdsl.dialects.arith import FastMathFlagsAttr
from xdsl.dialects.builtin import AnyFloat, IntegerAttr, TensorType, container_of, i1
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.irdl.constraints import EqAttrConstraint
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

_CMPF_PREDICATES = [
    "false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord",
    "ueq", "ugt", "uge", "ult", "ule", "une", "uno", "true",
]  # fmt: skip


_CONDITION = EqAttrConstraint(i1) | TensorType.constr(EqAttrConstraint(i1))


def condition_type(operand_type: Attribute) -> Attribute:
    """i1 for a scalar operand, tensor<S x i1> for tensor<S x f>."""
    if isinstance(operand_type, TensorType):
        return TensorType(i1, operand_type.get_shape())
    return i1


@irdl_op_definition
class CmpfOp(IRDLOperation):
    """`arith.cmpf` accepting tensors: `arith.cmpf ogt, %a, %b : tensor<?x4xf64>`."""

    name = "arith.cmpf"

    T: ClassVar = VarConstraint("T", container_of(AnyFloat))
    predicate = prop_def(IntegerAttr)
    lhs = operand_def(T)
    rhs = operand_def(T)
    fastmath = prop_def(FastMathFlagsAttr, default_value=FastMathFlagsAttr("none"))
    result = result_def(_CONDITION)
    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue, rhs: SSAValue, predicate: int | str):
        if isinstance(predicate, str):
            predicate = _CMPF_PREDICATES.index(predicate)
        super().__init__(
            operands=[lhs, rhs],
            result_types=[condition_type(SSAValue.get(lhs).type)],
            properties={"predicate": IntegerAttr(predicate, 64)},
        )

    @property
    def predicate_name(self) -> str:
        return _CMPF_PREDICATES[self.predicate.value.data]

    @classmethod
    def parse(cls, parser: Parser) -> CmpfOp:
        predicate = parser.parse_identifier()
        parser.parse_punctuation(",")
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()
        parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        operand_type = parser.parse_type()
        lhs, rhs = parser.resolve_operands([lhs, rhs], 2 * [operand_type], parser.pos)
        return cls(lhs, rhs, predicate)

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {self.predicate_name}, ")
        printer.print_operand(self.lhs)
        printer.print_string(", ")
        printer.print_operand(self.rhs)
        printer.print_string(" : ")
        printer.print_attribute(self.lhs.type)

    def verify_(self) -> None:
        if self.result.type != condition_type(self.lhs.type):
            raise VerifyException(
                f"arith.cmpf result must be {condition_type(self.lhs.type)}"
            )


@irdl_op_definition
class SelectOp(IRDLOperation):
    """`arith.select` with a scalar or elementwise (tensor of i1) condition:
    `arith.select %c, %a, %b : tensor<?x4xi1>, tensor<?x4xf64>`."""

    name = "arith.select"

    T: ClassVar = VarConstraint("T", AnyAttr())
    cond = operand_def(_CONDITION)
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())

    def __init__(self, cond: SSAValue, lhs: SSAValue, rhs: SSAValue):
        super().__init__(
            operands=[cond, lhs, rhs], result_types=[SSAValue.get(lhs).type]
        )

    @classmethod
    def parse(cls, parser: Parser) -> SelectOp:
        cond = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()
        parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        first = parser.parse_type()
        if parser.parse_optional_punctuation(","):
            cond_type, value_type = first, parser.parse_type()
        else:
            cond_type, value_type = i1, first
        cond = parser.resolve_operand(cond, cond_type)
        lhs, rhs = parser.resolve_operands([lhs, rhs], 2 * [value_type], parser.pos)
        return cls(cond, lhs, rhs)

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list([self.cond, self.lhs, self.rhs], printer.print_operand)
        printer.print_string(" : ")
        if self.cond.type != i1:
            printer.print_attribute(self.cond.type)
            printer.print_string(", ")
        printer.print_attribute(self.result.type)

    def verify_(self) -> None:
        if self.cond.type != i1 and self.cond.type != condition_type(self.lhs.type):
            raise VerifyException(
                f"arith.select condition {self.cond.type} does not match "
                f"{self.lhs.type}"
            )


def arith_with_tensor_comparisons() -> Dialect:
    replaced = {"arith.cmpf": CmpfOp, "arith.select": SelectOp}
    ops = [replaced.get(op.name, op) for op in arith.Arith.operations]
    return Dialect("arith", ops, list(arith.Arith.attributes))

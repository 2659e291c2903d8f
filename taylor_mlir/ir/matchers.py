"""
Small questions asked of IR, answered in one place for every pass and backend.

Each matcher looks at values and ops and creates nothing:

- `splat_value`, `is_zero`: the number a tensor is filled with (a `linalg.fill`
  of an `arith.constant`, or a splat dense constant);
- `fill_scalar`: the scalar operand a `linalg.fill` fills with;
- `empty_sizes`: sizes read from the `tensor.empty` a value is or fills;
- `is_sum_reduce`: whether a `linalg.reduce` sums;
- `find_function`: a `func.func` of a module by name (xDSL's `SymbolTable`).
"""

from __future__ import annotations

from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import SSAValue
from xdsl.traits import SymbolTable

from taylor_mlir.errors import InvalidIRError


def constant_int(value: SSAValue) -> int | None:
    """The integer an `arith.constant` (an index, say) holds; None otherwise."""
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
        return owner.value.value.data
    return None


def splat_value(value: SSAValue) -> float | None:
    """The number every element of `value` is: a `linalg.fill` of a float
    `arith.constant`, or a splat dense `arith.constant`; None otherwise."""
    owner = value.owner
    if isinstance(owner, linalg.FillOp):
        scalar = owner.inputs[0].owner
        if isinstance(scalar, arith.ConstantOp) and isinstance(scalar.value, FloatAttr):
            return float(scalar.value.value.data)
        return None
    if isinstance(owner, arith.ConstantOp) and isinstance(
        owner.value, DenseIntOrFPElementsAttr
    ):
        values = owner.value.get_values()
        if values and all(v == values[0] for v in values):
            return float(values[0])
    return None


def is_zero(value: SSAValue) -> bool:
    """Whether `value` is a tensor of zeros (see `splat_value`)."""
    return splat_value(value) == 0.0


def fill_scalar(value: SSAValue) -> SSAValue | None:
    """The scalar a `linalg.fill` result is filled with (a constant or not);
    None when `value` is not such a fill."""
    fill = value.owner
    if not isinstance(fill, linalg.FillOp):
        return None
    scalar = fill.inputs[0]
    return None if isinstance(scalar.type, TensorType) else scalar


def empty_sizes(value: SSAValue) -> list[int | SSAValue] | None:
    """The sizes of `value` read from the `tensor.empty` it is or fills: ints
    for static sizes, the empty's index operands for dynamic ones (so nothing
    keeps `value` alive for its sizes); None when it is neither."""
    owner = value.owner
    if isinstance(owner, linalg.FillOp):
        owner = owner.outputs[0].owner
    if not isinstance(owner, tensor.EmptyOp):
        return None
    dynamic = iter(owner.dynamic_sizes)
    shape = owner.tensor.type.get_shape()
    return [next(dynamic) if s == DYNAMIC_INDEX else s for s in shape]


def is_sum_reduce(op: linalg.ReduceOp) -> bool:
    """Whether the reduce sums: its body yields `arith.addf` of its two
    arguments."""
    block = op.region.block
    body = list(block.ops)
    return (
        len(body) == 2
        and isinstance(body[0], arith.AddfOp)
        and set(body[0].operands) == set(block.args)
        and isinstance(body[1], linalg.YieldOp)
        and tuple(body[1].operands) == (body[0].result,)
    )


def find_function(module: ModuleOp, name: str) -> func.FuncOp:
    """The `func.func @name` of `module`; InvalidIRError naming those it has."""
    function = SymbolTable.lookup_symbol(module, name)
    if isinstance(function, func.FuncOp):
        return function
    names = [op.sym_name.data for op in module.ops if isinstance(op, func.FuncOp)]
    raise InvalidIRError(
        f"no func.func @{name} in the module (it has {', '.join(names) or 'none'})"
    )

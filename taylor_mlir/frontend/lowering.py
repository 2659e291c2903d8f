"""
The context an ATen rule (`aten.py`) lowers its node in, as JAX's
`LoweringRuleContext`: the builder, the values of the nodes lowered so far, and
the helpers rules share (operands broadcast to the node's result, reshapes,
sizes, errors naming the op and the user's line). `GraphImporter`
(`importer.py`) makes one per function and passes it to every rule, so the
rules do not depend on the importer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx
from xdsl.ir import Attribute, SSAValue

from taylor_mlir.errors import UnsupportedOperatorError
from taylor_mlir.frontend.sizes import SizeError, SizeValues, monomial, reassociation
from taylor_mlir.frontend.source import source_line
from taylor_mlir.ir.builder import (
    Dim,
    IRElementwiseOps,
    TensorBuilder,
    element_of,
    shape_of,
)


class RuleTable(dict):
    """ATen op -> its rule `(ctx, node) -> value(s)`; `@table.rule(*ops)`
    registers one. aten.py's `RULES` is one, and holds the tables of the rule
    modules beside it (aten_linalg.py, aten_scatter.py)."""

    def rule(self, *targets: Any) -> Callable:
        def register(function: Callable) -> Callable:
            for target in targets:
                self[target] = function
            return function

        return register


def node_arg(node: torch.fx.Node, index: int, name: str, default: Any = None) -> Any:
    """Argument `index` of a node, given by position or by keyword `name`."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def node_sizes(arg: torch.fx.Node) -> list[Any]:
    """The sizes of a node's value, from its metadata (symbolic where dynamic)."""
    return list(arg.meta["val"].shape)


def op_name(node: torch.fx.Node) -> str:
    """The ATen op of a node as errors name it (`aten::add.Tensor`)."""
    target = node.target
    name = getattr(target, "name", None)
    if callable(name):
        return name()  # aten::add.Tensor
    return getattr(target, "__name__", str(target))


def unsupported(node: torch.fx.Node, detail: str) -> UnsupportedOperatorError:
    """The error for a node the compiler cannot lower: its op, the user's line."""
    return UnsupportedOperatorError(op_name(node), source_line(node), detail)


class LoweringContext:
    """What a rule lowers its node with: `b` emits IR, `ops` the elementwise
    primitives, `values` maps each lowered node to its value (an `SSAValue`, or
    a torch tensor for an integer or boolean constant)."""

    def __init__(
        self,
        b: TensorBuilder,
        ops: IRElementwiseOps,
        sizes: SizeValues,
        element: Attribute,
        dtype: torch.dtype,
        values: dict[torch.fx.Node, Any],
    ):
        self.b = b
        self.ops = ops
        self.sizes = sizes
        self.element = element
        self.dtype = dtype
        self.values = values

    @staticmethod
    def unsupported(node: torch.fx.Node, detail: str) -> UnsupportedOperatorError:
        return unsupported(node, detail)

    def constant(self, node: torch.fx.Node, arg: Any, refusal: str) -> torch.Tensor:
        """The value of a constant (integer or boolean) tensor, else
        UnsupportedOperatorError saying `refusal`."""
        value = self.values.get(arg) if isinstance(arg, torch.fx.Node) else None
        if not isinstance(value, torch.Tensor):
            raise self.unsupported(node, refusal)
        return value

    def index(self, node: torch.fx.Node, arg: Any) -> torch.Tensor:
        """The value of a constant integer index tensor."""
        value = self.constant(
            node,
            arg,
            "indexing with a tensor of indices computed from the input: only "
            "constant indices are supported (a list or a constant tensor, "
            "x[:, [2, 0, 1]]); to pick values by a condition, use "
            "torch.where(condition, x, 0)",
        )
        if value.dtype == torch.bool:
            raise self.unsupported(
                node,
                "indexing with a boolean mask (the result's size depends on the "
                "mask): use a list of indices, or torch.where(mask, x, 0)",
            )
        return value

    def tensor(self, node: torch.fx.Node, arg: Any) -> SSAValue:
        value = self.values.get(arg) if isinstance(arg, torch.fx.Node) else None
        if isinstance(value, torch.Tensor):  # an integer or boolean constant
            value = self._materialize(value)
        if not isinstance(value, SSAValue):
            raise self.unsupported(node, f"expected a tensor argument, got {arg}")
        return value

    def _materialize(self, value: torch.Tensor) -> SSAValue:
        """An integer constant where a float tensor is used, converted as torch
        promotes it; a boolean one as `!= 0` of its 0s and 1s."""
        constant = self.b.constant(value.to(self.dtype).numpy(), self.element)
        if value.dtype == torch.bool:
            return self.b.cmpf("une", constant, self.b.full_like(constant, 0.0))
        return constant

    def result_sizes(self, node: torch.fx.Node) -> list[Any]:
        return list(node.meta["val"].shape)

    def result_dims(self, node: torch.fx.Node) -> list[Dim]:
        return self.dims(node, self.result_sizes(node))

    def dims(self, node: torch.fx.Node, sizes: Sequence[Any]) -> list[Dim]:
        try:
            return self.sizes.dims(sizes)
        except SizeError as error:
            raise self.unsupported(node, str(error)) from None

    def operand(self, node: torch.fx.Node, arg: Any) -> SSAValue:
        """A tensor or Python number argument of arithmetic, broadcast to the
        node's result; booleans (comparisons) count as 0 and 1, as in torch."""
        shape = self.result_dims(node)
        if isinstance(arg, bool | int | float):
            return self.b.fill(float(arg), shape, self.element)
        value = self.broadcast_to(self.tensor(node, arg), shape)
        if element_of(value) != self.element:  # i1
            one, zero = (self.b.fill(v, shape, self.element) for v in (1.0, 0.0))
            value = self.b.select(value, one, zero)
        return value

    def condition(self, node: torch.fx.Node, arg: Any) -> SSAValue:
        """A boolean tensor argument, broadcast to the node's result."""
        return self.broadcast_to(self.tensor(node, arg), self.result_dims(node))

    def fill(self, node: torch.fx.Node, value: float) -> SSAValue:
        return self.b.fill(value, self.result_dims(node), self.element)

    def broadcast_to(self, value: SSAValue, shape: Sequence[Dim]) -> SSAValue:
        """torch broadcasting made explicit: a `linalg.broadcast` adding the
        leading dimensions and the unit ones that stretch (collapsed away first)."""
        value_shape = shape_of(value)
        leading = len(shape) - len(value_shape)
        stretched = [
            i
            for i, size in enumerate(value_shape)
            if size == 1 and shape[leading + i] != 1
        ]
        if leading == 0 and not stretched:
            return value
        if stretched:
            value = self.b.collapse(value, _groups_without(len(value_shape), stretched))
        added = list(range(leading)) + [leading + i for i in stretched]
        return self.b.broadcast(value, shape, added)

    def reshape(
        self,
        node: torch.fx.Node,
        value: SSAValue,
        sizes_in: Sequence[Any],
        sizes_out: Sequence[Any],
    ) -> SSAValue:
        """A row-major reshape: `tensor.collapse_shape` of the groups of
        dimensions that merge, then `tensor.expand_shape` of those that split."""
        try:
            groups_in, groups_out = reassociation(
                [monomial(s) for s in sizes_in], [monomial(s) for s in sizes_out]
            )
        except SizeError as error:
            raise self.unsupported(node, str(error)) from None
        if not sizes_in:  # a scalar to unit dimensions: no expand_shape from rank 0
            return self.b.broadcast(value, [1] * len(sizes_out), range(len(sizes_out)))
        if not sizes_out or any(len(g) > 1 for g in groups_in):
            value = self.b.collapse(value, groups_in)
        if any(len(g) > 1 for g in groups_out):
            value = self.b.expand(value, groups_out, self.dims(node, sizes_out))
        return value

    def created_value(self, node: torch.fx.Node, value: float) -> float:
        """A constant as torch stores it (rounded to its dtype), for the program."""
        dtype = node.meta["val"].dtype
        return float(torch.tensor(value, dtype=dtype).to(self.dtype))


def _groups_without(rank: int, dropped: Sequence[int]) -> list[list[int]]:
    """Reassociation of `tensor.collapse_shape` dropping the unit dimensions
    `dropped`: each joins the group of the kept dimension before it."""
    kept = [i for i in range(rank) if i not in dropped]
    if not kept:
        return []
    groups = [[k] for k in kept]
    for i in dropped:
        before = [g for g, k in enumerate(kept) if k < i]
        groups[before[-1] if before else 0].append(i)
    return [sorted(group) for group in groups]

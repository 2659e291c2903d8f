"""
`tensor-cleanup`: common-subexpression and dead-code elimination for
tensor-level IR.

xDSL 0.74 declares no memory effects for `linalg` ops, so its `cse` and `dce`
never merge two equal `linalg.matmul`s nor erase an unused `linalg.broadcast`.
On tensors these ops are pure functions of their operands (the `outs` init is
only a shape), so this pass treats them as such. Our region ops
(`taylor.linear_map`) are `Pure` and handled by the upstream drivers.

```mlir
// before                                     // after
%a = linalg.matmul ins(%x, %w ...) ...        %a = linalg.matmul ins(%x, %w ...) ...
%b = linalg.matmul ins(%x, %w ...) ...        %u = arith.addf %a, %a
%u = arith.addf %a, %b
%dead = linalg.broadcast ins(%a ...) ...
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import MemRefType, ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.traits import IsTerminator
from xdsl.transforms.common_subexpression_elimination import CSEDriver
from xdsl.transforms.dead_code_elimination import is_trivially_dead


def has_value_semantics(op: Operation) -> bool:
    """A linalg op on tensors: a pure function of its operands."""
    return (
        op.dialect_name() == "linalg"
        and not op.has_trait(IsTerminator)
        and bool(op.results)
        and not any(isinstance(v.type, MemRefType) for v in op.operands)
    )


class _TensorCSEDriver(CSEDriver):
    """xDSL's CSE, also merging equal linalg ops on tensors."""

    def _simplify_operation(self, op: Operation) -> None:
        if not has_value_semantics(op):
            return super()._simplify_operation(op)
        if (existing := self._known_ops.get(op)) is not None:
            self._replace_and_delete(op, existing)
        else:
            self._known_ops[op] = op


def eliminate_common_subexpressions(op: Operation) -> None:
    """CSE in which linalg ops on tensors count as pure."""
    _TensorCSEDriver().simplify(op)


def eliminate_dead_code(op: Operation) -> None:
    """Erases unused pure ops, linalg ops on tensors included. Blocks are walked
    backwards, so users go before the values they use."""
    for region in op.regions:
        for block in region.blocks:
            for nested in reversed(list(block.ops)):
                unused = all(not result.uses for result in nested.results)
                if is_trivially_dead(nested) or (
                    unused and has_value_semantics(nested)
                ):
                    Rewriter.erase_op(nested)
                else:
                    eliminate_dead_code(nested)


@dataclass(frozen=True)
class TensorCleanupPass(ModulePass):
    """CSE then DCE, with linalg ops on tensors counted as pure."""

    name = "tensor-cleanup"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        eliminate_common_subexpressions(op)
        eliminate_dead_code(op)

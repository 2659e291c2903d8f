"""
`schedule-sums-early`: moves every `taylor.sum` right after the op that defines
its input.

`taylor-collapse` builds the summed chain where the operator's final sum stood,
at the end of the function, so each per-direction product it sums
(`tensor<R x S>`, e.g. `z1 * z1` of every layer) would stay alive until then.
Summed where it is made, it dies at once: the collapsed program then holds one
layer's per-direction tensors at a time, not all of them (lower peak memory; the
values are unchanged).

```mlir
// before                                 // after
%p = arith.mulf %z1, %z1 : tensor<R x S>  %p = arith.mulf %z1, %z1 : tensor<R x S>
... (the next layers)                     %s = taylor.sum %p
%s = taylor.sum %p                        ... (the next layers)
```

A sum of a block argument, or of a value defined in another block (a sum in a
`taylor.linear_map` body of a value captured from above), stays where it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from taylor_mlir.dialects.taylor import SumOp


def schedule_sums_early(module: ModuleOp) -> None:
    """Moves every `taylor.sum` right after the op defining its input (its only
    operand; the weights are a property). Sums of one value keep their order."""
    for sum_op in reversed([op for op in module.walk() if isinstance(op, SumOp)]):
        producer = sum_op.input.owner
        if not isinstance(producer, Operation):
            continue  # a block argument: already available at the start
        block = producer.parent_block()
        if block is None or block is not sum_op.parent_block():
            continue
        sum_op.detach()
        block.insert_op_after(sum_op, producer)


@dataclass(frozen=True)
class ScheduleSumsEarlyPass(ModulePass):
    """Moves each `taylor.sum` right after its input's producer, so the summed
    per-direction value dies there."""

    name = "schedule-sums-early"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        schedule_sums_early(op)

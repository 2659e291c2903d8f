"""
Cost measured from the IR of a compiled operator (`CompiledOperator.stats()`).

Measured on the `expanded` (standard Taylor mode) and `collapsed` levels, before
lowering, where the direction structure is still visible:

* **vectors per layer**: for every weight a `linalg.matmul` uses (a parameter of
  the function or a constant, traced through transposes and reshapes), the
  number of vectors pushed through it per datum. A matmul on batch rows counts 1,
  the same matmul inside a `taylor.linear_map` over R directions counts R.
  The maximum over the layers is the "vectors per node" of the paper (Laplacian:
  1 + 2D standard, 1 + D + 1 collapsed).
* **op counts**: ops by name in the operator function, including the bodies of
  `taylor.linear_map` (not the scalar bodies of linalg ops).
* **FLOPs per datum**: `linalg.matmul` of (M x K) by (K x N) costs 2 M K N,
  elementwise `arith`/`math` ops 1 per result element (tanh and exp included),
  `linalg.reduce` 1 per input element, `taylor.sum` 1 per input element (2 when
  weighted); data movement (fill, broadcast, replicate, transpose, reshapes)
  costs 0. Ops inside a `taylor.linear_map` over R directions count R times.

"Per datum" takes every dynamic dimension as the batch (a `?` counts 1) and
leaves out work that does not depend on the batch at all (ops on weights and
constants only): it is done once per call, not once per datum.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp, TensorType
from xdsl.dialects.linalg.ops import MatmulOp, ReduceOp, TransposeOp
from xdsl.ir import Block, BlockArgument, Operation, OpResult, SSAValue

from taylor_mlir.dialects.taylor import LinearMapOp, LinearOp, SumOp
from taylor_mlir.tensor_ir import ELEMENTWISE_OPS

# ops that only move or reinterpret data: a weight traced through them is the same weight
_VIEWS = (
    TransposeOp,
    tensor.CollapseShapeOp,
    tensor.ExpandShapeOp,
)


@dataclass(frozen=True)
class LevelStats:
    """The measured cost of one IR level."""

    level: str
    vectors_per_layer: dict[str, int]
    op_counts: dict[str, int]
    flops_per_datum: int

    @property
    def vectors_per_node(self) -> int:
        """The most vectors any layer (weight) sees per datum."""
        return max(self.vectors_per_layer.values(), default=0)


@dataclass(frozen=True)
class ProgramStats:
    """`LevelStats` per level (`expanded`, and `collapsed` when it was built)."""

    levels: dict[str, LevelStats]

    def __getitem__(self, level: str) -> LevelStats:
        if level not in self.levels:
            raise KeyError(
                f"no stats for level {level!r}; measured: {', '.join(self.levels)}"
            )
        return self.levels[level]

    def __str__(self) -> str:
        lines = [f"{'level':<10} {'vectors/node':>12} {'FLOPs/datum':>12} {'ops':>6}"]
        for s in self.levels.values():
            lines.append(
                f"{s.level:<10} {s.vectors_per_node:>12} {s.flops_per_datum:>12} "
                f"{sum(s.op_counts.values()):>6}"
            )
        for s in self.levels.values():
            per_layer = ", ".join(f"{k}: {v}" for k, v in s.vectors_per_layer.items())
            lines.append(f"{s.level} vectors per layer: {per_layer}")
        return "\n".join(lines)


def _is_batched(t) -> bool:
    return isinstance(t, TensorType) and DYNAMIC_INDEX in t.get_shape()


def _per_datum_elements(t) -> int:
    """Elements per datum of a batched tensor type (dynamic sizes count 1)."""
    return math.prod(d for d in t.get_shape() if d != DYNAMIC_INDEX)


class _Walker:
    def __init__(self, function: func.FuncOp, num_inputs: int, parameter_names):
        self.function = function
        self.num_inputs = num_inputs
        self.parameter_names = list(parameter_names or [])
        self.vectors: dict[str, int] = {}
        self.ops: Counter[str] = Counter()
        self.flops = 0
        self._constant_names: dict[Operation, str] = {}

    # -------------------------------------------------------------- weights

    def weight_name(self, value: SSAValue) -> str | None:
        """The parameter or constant a matmul operand is, or None for data."""
        while isinstance(value, OpResult) and isinstance(value.op, _VIEWS):
            value = value.op.operands[0]
        if isinstance(value, BlockArgument):
            if value.block is not self.function.body.block:
                return None  # a direction slice inside a linear_map
            index = value.index
            if index < self.num_inputs:
                return None
            position = index - self.num_inputs
            if position < len(self.parameter_names):
                return self.parameter_names[position]
            return f"%arg{index}"
        if isinstance(value, OpResult) and isinstance(value.op, arith.ConstantOp):
            names = self._constant_names
            return names.setdefault(value.op, f"constant{len(names)}")
        return None

    def matmul(self, op: MatmulOp, multiplier: int) -> None:
        a, b = op.inputs[0], op.inputs[1]
        result = op.results[0].type
        if not _is_batched(result):
            return  # weights only: once per call
        for weight, data in ((b, a), (a, b)):
            name = self.weight_name(weight)
            if name is not None and _is_batched(data.type):
                self.vectors[name] = self.vectors.get(name, 0) + multiplier
                break
        (M, K), N = a.type.get_shape(), b.type.get_shape()[1]
        sizes = [1 if d == DYNAMIC_INDEX else d for d in (M, K, N)]
        self.flops += multiplier * 2 * math.prod(sizes)

    # ---------------------------------------------------------------- walk

    def walk(self, block: Block, multiplier: int) -> None:
        for op in block.ops:
            self.ops[op.name] += 1
            if isinstance(op, LinearMapOp):
                self.walk(op.body.block, multiplier * op.directions)
            elif isinstance(op, LinearOp):
                self.walk(op.body.block, multiplier)
            elif isinstance(op, MatmulOp):
                self.matmul(op, multiplier)
            else:
                self.flops += multiplier * _elementwise_flops(op)


def _elementwise_flops(op: Operation) -> int:
    if isinstance(op, SumOp):
        if not _is_batched(op.input.type):
            return 0
        per_element = 2 if op.weights is not None else 1
        return per_element * _per_datum_elements(op.input.type)
    if isinstance(op, ReduceOp):
        t = op.inputs[0].type
        return _per_datum_elements(t) if _is_batched(t) else 0
    if isinstance(op, ELEMENTWISE_OPS):
        t = op.results[0].type if op.results else None
        return _per_datum_elements(t) if _is_batched(t) else 0
    return 0


def level_stats(
    module: ModuleOp,
    func_name: str,
    level: str,
    num_inputs: int = 1,
    parameter_names: Sequence[str] | None = None,
) -> LevelStats:
    """Measures `@func_name` in `module` (see the module docstring)."""
    function = next(
        (
            op
            for op in module.ops
            if isinstance(op, func.FuncOp) and op.sym_name.data == func_name
        ),
        None,
    )
    if function is None:
        raise KeyError(f"the {level!r} module has no func.func @{func_name}")
    walker = _Walker(function, num_inputs, parameter_names)
    walker.walk(function.body.block, 1)
    return LevelStats(level, dict(walker.vectors), dict(walker.ops), walker.flops)

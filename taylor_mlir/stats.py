"""
Cost measured from the IR of a compiled operator (`CompiledOperator.stats()`).

Measured on the `expanded` (standard Taylor mode) and `collapsed` levels, before
lowering, where the direction structure is still visible:

* **vectors per layer**: for every weight a `linalg.matmul` uses (a parameter of
  the function or a constant, traced through transposes and reshapes), the
  number of vectors pushed through it per datum. A matmul on batch rows counts 1,
  the same matmul inside a `taylor.linear_map` over R directions counts R, and so
  does one on `R x N` rows collapsed into one `?` dimension (what a lowered
  linear_map is, e.g. in the program of a compiled operator that another
  operator differentiates).
  The maximum over the layers is the "vectors per node" of the paper (Laplacian:
  1 + 2D standard, 1 + D + 1 collapsed).
* **op counts**: ops by name in the operator function, including the bodies of
  `taylor.linear_map` (not the scalar bodies of linalg ops).
* **FLOPs per datum**: `linalg.matmul` of (M x K) by (K x N) costs 2 M K N,
  elementwise `arith`/`math` ops 1 per result element (tanh and exp included),
  `linalg.reduce` 1 per input element, `taylor.sum` 1 per input element (2 when
  weighted); data movement (fill, broadcast, replicate, transpose, reshapes)
  costs 0. Ops inside a `taylor.linear_map` over R directions count R times.
  An op outside this vocabulary (docs/ir-conventions.md) raises InvalidIRError
  rather than being counted as free.

* **peak bytes per datum** (`peak_bytes_per_datum`, on the `linalg` level that
  runs): the most bytes the values one evaluation makes hold at once, each op
  run in program order with its result materialized (as on the torch backend,
  without autograd saving values for a backward pass; a fusing backend such as
  IREE holds less). Views (reshapes, transposes, broadcasts) share their
  source's bytes; `tensor.empty` and `linalg.fill` hold none; the caller's
  inputs and values without a batch dimension are not counted.

"Per datum" takes the dynamic dimension as the batch (a `?` counts the rows one
datum has in it: 1, or R after `tensor.collapse_shape` of `R x ?` into `?`) and
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
from xdsl.dialects.linalg.ops import (
    BroadcastOp,
    FillOp,
    MatmulOp,
    ReduceOp,
    TransposeOp,
)
from xdsl.ir import Block, BlockArgument, Operation, OpResult, SSAValue

from taylor_mlir.dialects.matrix import DetOp, InvOp, LogAbsDetOp
from taylor_mlir.dialects.taylor import (
    LinearMapOp,
    LinearOp,
    ReplicateOp,
    StopGradientOp,
    SumOp,
    YieldOp,
)
from taylor_mlir.errors import InvalidIRError
from taylor_mlir.ir.builder import ELEMENTWISE_OPS
from taylor_mlir.ir.matchers import find_function

# ops that only move or reinterpret data: a weight traced through them is the same weight
_VIEWS = (
    TransposeOp,
    tensor.CollapseShapeOp,
    tensor.ExpandShapeOp,
    StopGradientOp,  # a detached weight is the same weight
)
# ops that cost nothing per datum: they make, move or reinterpret data
_FREE = (
    *_VIEWS,
    arith.ConstantOp,
    arith.MuliOp,  # of sizes
    tensor.EmptyOp,
    tensor.DimOp,
    tensor.ExtractSliceOp,
    tensor.ConcatOp,
    FillOp,
    BroadcastOp,
    ReplicateOp,
    YieldOp,
    func.ReturnOp,
)


# per-matrix linear algebra (dialects/matrix.py): FLOPs per n x n matrix, an
# LU factorization (2/3 n^3) and for the inverse the triangular solves (4/3 n^3)
_MATRIX = {
    InvOp: lambda n: 2 * n**3,
    DetOp: lambda n: 2 * n**3 // 3,
    LogAbsDetOp: lambda n: 2 * n**3 // 3,
}


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
    """`LevelStats` per level (`expanded`, and `collapsed` when it was built),
    the peak bytes per datum of the program that runs, and, for an operator
    with several programs, which one was chosen and why (`strategy.py`)."""

    levels: dict[str, LevelStats]
    peak_bytes_per_datum: int | None = None
    strategy: object | None = None  # a strategy.StrategyChoice

    @property
    def last(self) -> LevelStats:
        """The stats of the last level measured: `collapsed` when built."""
        return self.levels.get("collapsed") or self.levels["expanded"]

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
        if self.peak_bytes_per_datum is not None:
            lines.append(f"peak bytes per datum: {self.peak_bytes_per_datum}")
        if self.strategy is not None:
            lines.append(str(self.strategy))
        return "\n".join(lines)


def _is_batched(t) -> bool:
    return isinstance(t, TensorType) and DYNAMIC_INDEX in t.get_shape()


def _collapsed_into_batch(op: tensor.CollapseShapeOp) -> int:
    """The product of the static sizes a collapse merges into the dynamic
    dimension (`R x ? -> ?`: R), 1 when no group holds a dynamic size."""
    shape = op.src.type.get_shape()
    for group in op.reassociation.data:
        sizes = [shape[i.value.data] for i in group.data]
        if DYNAMIC_INDEX in sizes:
            return math.prod(s for s in sizes if s != DYNAMIC_INDEX)
    return 1


class _Walker:
    def __init__(self, function: func.FuncOp, num_inputs: int, parameter_names):
        self.function = function
        self.num_inputs = num_inputs
        self.parameter_names = list(parameter_names or [])
        self.vectors: dict[str, int] = {}
        self.ops: Counter[str] = Counter()
        self.flops = 0
        self._constant_names: dict[Operation, str] = {}
        self._rows: dict[SSAValue, int] = {}

    # ------------------------------------------------------- rows per datum

    def rows(self, value: SSAValue) -> int:
        """How many rows of `value`'s dynamic dimension belong to one datum (for
        an `index` value: of the size it holds); 1 unless a collapse merged
        static dimensions into the batch."""
        return self._rows.get(value, 1)

    def track_rows(self, op: Operation) -> None:
        """Rows per datum of `op`'s results, from the operand their dynamic size
        comes from. A lowered `taylor.linear_map` collapses `R x ? x K` into one
        `? x K` matmul operand: R rows per datum (e.g. in an operator of a
        compiled operator, whose program is already lowered)."""
        if isinstance(op, tensor.CollapseShapeOp):
            rows = self.rows(op.src) * _collapsed_into_batch(op)
        elif isinstance(op, tensor.EmptyOp | tensor.ExpandShapeOp):
            sizes = (
                op.dynamic_sizes
                if isinstance(op, tensor.EmptyOp)
                else op.dynamic_output_shape
            )
            rows = self.rows(sizes[0]) if sizes else 1
        elif isinstance(op, tensor.ExtractSliceOp):
            rows = self.rows(op.sizes[0]) if op.sizes else self.rows(op.source)
        elif isinstance(op, BroadcastOp | ReduceOp):
            rows = self.rows(op.init)
        elif isinstance(op, MatmulOp | FillOp | TransposeOp):
            rows = self.rows(op.outputs[0])
        else:  # elementwise, dim, concat, taylor ops: their first operand's
            rows = self.rows(op.operands[0]) if op.operands else 1
        for result in op.results:
            self._rows[result] = rows

    def per_datum_elements(self, value: SSAValue) -> int:
        """Elements per datum of a tensor with a dynamic (batch) dimension, 0 for
        one without (work on weights and constants only: once per call)."""
        t = value.type
        if not _is_batched(t):
            return 0
        static = math.prod(d for d in t.get_shape() if d != DYNAMIC_INDEX)
        return static * self.rows(value)

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
        if not _is_batched(op.results[0].type):
            return  # weights only: once per call
        for weight, data in ((b, a), (a, b)):
            name = self.weight_name(weight)
            if name is not None and _is_batched(data.type):
                seen = multiplier * self.rows(data)
                self.vectors[name] = self.vectors.get(name, 0) + seen
                break
        (M, K), N = a.type.get_shape(), b.type.get_shape()[1]
        m, k = (self.rows(a) if d == DYNAMIC_INDEX else d for d in (M, K))
        n = self.rows(b) if N == DYNAMIC_INDEX else N
        self.flops += multiplier * 2 * m * k * n

    # ---------------------------------------------------------------- walk

    def walk(self, block: Block, multiplier: int) -> None:
        for op in block.ops:
            self.ops[op.name] += 1
            if isinstance(op, LinearMapOp | LinearOp):
                body = op.body.block
                for operand, arg in zip(op.operands, body.args, strict=True):
                    self._rows[arg] = self.rows(operand)
                directions = op.directions if isinstance(op, LinearMapOp) else 1
                self.walk(body, multiplier * directions)
                self._rows[op.results[0]] = self.rows(body.last_op.operands[0])
                continue
            self.track_rows(op)
            if isinstance(op, MatmulOp):
                self.matmul(op, multiplier)
            else:
                self.flops += multiplier * self.op_flops(op)

    def op_flops(self, op: Operation) -> int:
        if isinstance(op, SumOp):
            per_element = 2 if op.weights is not None else 1
            return per_element * self.per_datum_elements(op.input)
        if isinstance(op, ReduceOp):
            return self.per_datum_elements(op.input)
        if isinstance(op, ELEMENTWISE_OPS):
            return self.per_datum_elements(op.results[0])
        if isinstance(op, _FREE):
            return 0
        if type(op) in _MATRIX:
            n = op.operands[0].type.get_shape()[-1]
            matrices = self.per_datum_elements(op.operands[0]) // (n * n)
            return matrices * _MATRIX[type(op)](n)
        raise InvalidIRError(
            f"stats: no cost model for {op.name} (taylor_mlir/stats.py measures "
            "the tensor-level ops of docs/ir-conventions.md and the taylor ops of "
            "the expanded and collapsed levels; add it there)"
        )


def peak_bytes_per_datum(module: ModuleOp, func_name: str) -> int:
    """The peak bytes per datum of `@func_name` in tensor-level IR (see the
    module docstring): a value lives from its op to the last op of the
    function's block using it or a view of it."""
    function = find_function(module, func_name)
    walker = _Walker(function, 0, ())
    ops = list(function.body.block.ops)
    owner: dict[SSAValue, SSAValue] = {}  # a view -> the value holding its bytes
    last_use: dict[SSAValue, int] = {}
    for i, op in enumerate(ops):
        for nested in op.walk():
            for operand in nested.operands:
                last_use[owner.get(operand, operand)] = i
        if isinstance(op, (*_VIEWS, BroadcastOp)):
            source = op.operands[0]
            owner[op.results[0]] = owner.get(source, source)
    live, peak, freed_at = 0, 0, {}
    for i, op in enumerate(ops):
        walker.track_rows(op)
        if not isinstance(op, (*_VIEWS, BroadcastOp, FillOp, tensor.EmptyOp)):
            for result in op.results:
                if isinstance(result.type, TensorType):
                    width = result.type.element_type.bitwidth // 8
                    size = walker.per_datum_elements(result) * width
                    live += size
                    end = last_use.get(result, i)
                    freed_at[end] = freed_at.get(end, 0) + size
        peak = max(peak, live)
        live -= freed_at.pop(i, 0)
    return peak


def level_stats(
    module: ModuleOp,
    func_name: str,
    level: str,
    num_inputs: int = 1,
    parameter_names: Sequence[str] | None = None,
) -> LevelStats:
    """Measures `@func_name` in `module` (see the module docstring)."""
    function = find_function(module, func_name)
    walker = _Walker(function, num_inputs, parameter_names)
    walker.walk(function.body.block, 1)
    return LevelStats(level, dict(walker.vectors), dict(walker.ops), walker.flops)

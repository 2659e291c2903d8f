"""
Operators with several valid programs choose one by its measured cost.

Some operators can be compiled into different programs that give the same
value (or, for a randomized estimator, the same value at no more variance):

| operator | strategy | program | vectors per layer (collapsed) |
|----------|----------|---------|-------------------------------|
| biharmonic | `interpolated` | one 4-jet per direction of Griewank's interpolation, `(3D^2 - D)/2` of them (`operators/spec.py`) | `3 (3D^2 - D)/2 + 2` |
| biharmonic | `nested` | the Laplacian of the compiled Laplacian (operators of compiled operators) | `(D + 2)^2` |
| biharmonic, `randomization=("normal", S)` | `randomized` | STDE: S Gaussian 4-jets | `3S + 2` |
| Laplacian, weighted Laplacian | `exact` | one 2-jet per unit vector (per column of C's factor) | `D + 2` (`R + 2`) |
| the same, `randomization=(distribution, S)` | `randomized` | Hutchinson: S random 2-jets | `S + 2` |

An exact program is valid wherever an estimator was asked for: its variance is
zero. `strategy="auto"` (the default) compiles every valid candidate to
tensor-level IR, measures it (`CompiledOperator.stats()`) and keeps the
cheapest: fewest FLOPs per datum (which weighs each layer's vectors by its
matmul size and counts the elementwise work), then fewest peak bytes per
datum. A candidate is not compiled when a lower bound of its FLOPs, known
before compiling it (`interior_matmul_flops`: the matmuls between two curving
ops of the primal, each pushing its strategy's vectors per layer from the
table), already exceeds a measured candidate's: it cannot win, so the choice is
the full comparison's. Candidates are compiled in the order of their bounds
(the nested program's export of the compiled Laplacian costs most of the
biharmonic's compile time). Only the chosen program gets a backend executable. Near the crossover
the candidates cost about the same and the FLOP count, blind to memory
traffic, can pick the slower one (paper MLP, D = 2: nested 40.2 against 42.7
MFLOPs per datum, but the interpolated program ran 15% faster). A named
strategy compiles that program only. The choice is `op.strategy`, printed by
`op.stats()`, with the costs compared and the bound of each candidate skipped.

This module knows the strategies, when each is valid and the cost model; the
public helpers (`api.py`) build the programs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from xdsl.dialects import arith, func, math, tensor
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp, TensorType
from xdsl.dialects.linalg.ops import BroadcastOp, MatmulOp, TransposeOp
from xdsl.ir import Operation, SSAValue

from taylor_mlir.dialects.arith_tensor import SelectOp
from taylor_mlir.errors import OptionError
from taylor_mlir.ir.matchers import find_function
from taylor_mlir.operators import spec as specs
from taylor_mlir.operators.spec import OperatorSpec
from taylor_mlir.stats import ProgramStats

AUTO = "auto"
BIHARMONIC_STRATEGIES = ("nested", "interpolated", "randomized")
ESTIMATOR_STRATEGIES = ("exact", "randomized")  # the (weighted) Laplacian


class Measurable(Protocol):
    def stats(self) -> ProgramStats: ...


Program = TypeVar("Program", bound=Measurable)


@dataclass(frozen=True)
class Cost:
    """What the cost model compares, measured on a candidate's IR."""

    flops_per_datum: int
    vectors_per_node: int
    peak_bytes_per_datum: int

    @classmethod
    def of(cls, stats: ProgramStats) -> Cost:
        last = stats.last
        return cls(
            last.flops_per_datum, last.vectors_per_node, stats.peak_bytes_per_datum
        )

    def key(self) -> tuple[int, int]:
        return (self.flops_per_datum, self.peak_bytes_per_datum)

    def __str__(self) -> str:
        return (
            f"{self.flops_per_datum:,} FLOPs/datum, {self.vectors_per_node} "
            f"vectors/node, {self.peak_bytes_per_datum:,} peak bytes/datum"
        )


@dataclass(frozen=True)
class StrategyChoice:
    """Which program was compiled, and the costs it was chosen by."""

    requested: str
    chosen: str
    costs: Mapping[str, Cost]
    """Every candidate measured: all valid ones under "auto", else the chosen."""
    excluded: Mapping[str, str]
    """The strategies not valid for this call, with why."""
    skipped: Mapping[str, int] = field(default_factory=dict)
    """The candidates not compiled, with the lower bound of their FLOPs per
    datum that exceeded a measured candidate's (`choose`)."""

    def __str__(self) -> str:
        how = "chosen by cost" if self.requested == AUTO else "requested"
        lines = [f"strategy: {self.chosen} ({how})"]
        lines += [f"  {name}: {cost}" for name, cost in self.costs.items()]
        best = self.costs[self.chosen].flops_per_datum
        lines += [
            f"  {name}: skipped, at least {bound:,} FLOPs/datum (more than "
            f"{self.chosen}'s {best:,})"
            for name, bound in self.skipped.items()
        ]
        lines += [
            f"  {name}: not valid here ({why})" for name, why in self.excluded.items()
        ]
        return "\n".join(lines)


def biharmonic_exclusions(
    randomization: Any, returns: str | Sequence[str], seeded: bool
) -> dict[str, str]:
    """The biharmonic strategies that cannot compute this call, with why."""
    if randomization is None and seeded:
        raise OptionError(
            "seed= and generator= are for randomized operators; the biharmonic "
            "requested is exact (pass randomization=('normal', S) for STDE)"
        )
    excluded = {}
    if randomization is None:
        excluded["randomized"] = "it needs randomization=('normal', S)"
    items = (returns,) if isinstance(returns, str) else tuple(returns)
    if not items or any(r not in ("operator", "biharmonic") for r in items):
        excluded["nested"] = (
            f"returns={returns!r}: the Laplacian of the compiled Laplacian "
            "returns the operator only; strategy='interpolated' returns the value too"
        )
    return excluded


def estimator_exclusions(
    randomization: Any, returns: str | Sequence[str]
) -> dict[str, str]:
    """The (weighted) Laplacian strategies that cannot compute this call."""
    items = (returns,) if isinstance(returns, str) else tuple(returns)
    if randomization is None:
        return {"randomized": "it needs randomization=('rademacher' | 'normal', S)"}
    if "gradient" in items:
        return {
            "randomized": "returns='gradient' needs jets along the unit vectors, "
            "which only the exact program has"
        }
    return {}


def check_strategy(
    requested: Any, strategies: Sequence[str], excluded: Mapping[str, str]
) -> None:
    """`requested` names a strategy valid for this call, or an OptionError."""
    if not isinstance(requested, str) or requested not in (AUTO, *strategies):
        raise OptionError(
            f"strategy={requested!r} is not a strategy: choose one of "
            f"{', '.join((AUTO, *strategies))}"
        )
    if requested in excluded:
        raise OptionError(
            f"strategy={requested!r} is not available here: {excluded[requested]}"
        )


def choose(
    requested: str,
    builders: Mapping[str, Callable[[], Program]],
    excluded: Mapping[str, str],
    bounds: Mapping[str, int] | None = None,
) -> tuple[Program, StrategyChoice]:
    """The program of the `requested` strategy (`check_strategy` first), or
    under "auto" the cheapest of the valid `builders` (a tie keeps the first).

    `bounds` (lower bounds of the candidates' FLOPs per datum) order the
    builds, and a candidate whose bound exceeds the FLOPs of one measured is
    skipped: its real cost is higher still, so the choice is unchanged."""
    if requested != AUTO:
        names = [requested]
    else:
        names = [name for name in builders if name not in excluded]
    bounds = {name: bounds[name] for name in names} if bounds else {}
    programs: dict[str, Program] = {}
    costs: dict[str, Cost] = {}
    skipped: dict[str, int] = {}
    for name in sorted(names, key=lambda n: bounds.get(n, 0)):  # stable: ties in order
        if costs and bounds.get(name, 0) > min(
            c.flops_per_datum for c in costs.values()
        ):
            skipped[name] = bounds[name]
            continue
        programs[name] = builders[name]()
        costs[name] = Cost.of(programs[name].stats())
    measured = [name for name in names if name in costs]  # the builders' order
    chosen = min(measured, key=lambda name: costs[name].key())
    excluded = {k: v for k, v in excluded.items() if k in builders}
    costs = {name: costs[name] for name in measured}
    choice = StrategyChoice(requested, chosen, costs, excluded, skipped)
    return programs[chosen], choice


# ------------------------------------------------------- lower bounds of cost

# Elementwise functions with nonzero derivatives of every order: a jet through
# one has all its coefficients, and the one it makes needs all of its input's.
_CURVING = (math.TanhOp, math.ExpOp, math.SinOp, math.CosOp, math.LogOp, math.Log1pOp)
_VIEWS = (TransposeOp, BroadcastOp, tensor.CollapseShapeOp, tensor.ExpandShapeOp)


def _is_batched(value: SSAValue) -> bool:
    t = value.type
    return isinstance(t, TensorType) and DYNAMIC_INDEX in t.get_shape()


def _is_affine(op: Operation, depends: set[SSAValue]) -> bool:
    """`op`'s result is affine in its operands that depend on x, so a jet's
    coefficients pass through it one by one (a product needs one factor free
    of x)."""
    inputs = op.inputs if isinstance(op, MatmulOp) else op.operands
    dependent = [v for v in inputs if v in depends]
    if isinstance(op, (arith.AddfOp, arith.SubfOp, arith.NegfOp, SelectOp, *_VIEWS)):
        return True  # a select's jet is the chosen operand's, element by element
    if isinstance(op, arith.MulfOp | MatmulOp):
        return len(dependent) <= 1
    if isinstance(op, arith.DivfOp):
        return op.rhs not in depends
    return False


def interior_matmul_flops(module: ModuleOp, func_name: str, x_index: int) -> int:
    """The FLOPs per datum of the primal's interior weight matmuls: those whose
    data operand is curved in argument `x_index` (through a `_CURVING` op of x,
    then affine ops) and whose result feeds, through affine ops, a `_CURVING`
    op on the way to the result. A Taylor program pushes every coefficient of
    its jets through them (`interior_vectors`), so their FLOPs times those
    vectors bound the program's from below. Everything else counts 0: the first
    layer (affine in x: its higher coefficients are zero), the layers after the
    last curving op (the collapsed sums pass them once), ops not listed here."""
    block = find_function(module, func_name).body.block
    ops = list(block.ops)
    depends: set[SSAValue] = {block.args[x_index]}
    curved: set[SSAValue] = set()
    for op in ops:
        if any(v in depends for v in op.operands):
            depends.update(op.results)
            if isinstance(op, _CURVING) or (
                _is_affine(op, depends) and any(v in curved for v in op.operands)
            ):
                curved.update(op.results)
    # live: needed at the top order by the result; feeds: reaches a live
    # curving op through affine ops
    live: set[SSAValue] = (
        set(ops[-1].operands) if isinstance(ops[-1], func.ReturnOp) else set()
    )
    feeds: set[SSAValue] = set()
    for op in reversed(ops):
        if not any(r in live for r in op.results):
            continue
        curving = isinstance(op, _CURVING)
        if curving or _is_affine(op, depends):
            live.update(op.operands)
        if curving or (any(r in feeds for r in op.results) and _is_affine(op, depends)):
            feeds.update(op.operands)
    flops = 0
    for op in ops:
        if not isinstance(op, MatmulOp) or op.results[0] not in feeds:
            continue
        data, weight = op.inputs if op.inputs[0] in depends else op.inputs[::-1]
        if data not in curved or weight in depends or _is_batched(weight):
            continue
        shape = op.results[0].type.get_shape()
        elements = 1
        for size in shape:
            elements *= 1 if size == DYNAMIC_INDEX else size
        flops += 2 * elements * op.inputs[0].type.get_shape()[-1]  # 2 M K N
    return flops


def interior_vectors(spec: OperatorSpec, collapsed: bool) -> int:
    """The vectors per datum an interior layer pushes for `spec`: the primal,
    then per direction of each K-jet group its K coefficients (standard) or
    K - 1 and one collapsed sum for all (at least one: groups of one order
    may share it)."""
    per_direction = sum(
        g.count * (g.order - (1 if collapsed else 0)) for g in spec.groups
    )
    return 1 + per_direction + (1 if collapsed and spec.groups else 0)


def estimator_bounds(
    primal: ModuleOp,
    func_name: str,
    x_index: int,
    exact: OperatorSpec,
    randomized: OperatorSpec,
    collapsed: bool,
) -> dict[str, int]:
    """Lower bounds of the exact and the randomized program's FLOPs per datum:
    their 2-jets' vectors per interior layer (the table above)."""
    flops = interior_matmul_flops(primal, func_name, x_index)
    return {
        "exact": flops * interior_vectors(exact, collapsed),
        "randomized": flops * interior_vectors(randomized, collapsed),
    }


def biharmonic_bounds(
    primal: ModuleOp,
    func_name: str,
    x_index: int,
    input_size: int,
    collapsed: bool,
    randomization: Any,
) -> dict[str, int]:
    """Lower bounds of each biharmonic strategy's FLOPs per datum (the table
    above): the 4-jets' vectors per interior layer; for the nested program the
    Laplacian's squared, as the compiled Laplacian pushes D + 2 vectors through
    an interior layer, each curved in x, and its Laplacian D + 2 of each."""
    flops = interior_matmul_flops(primal, func_name, x_index)
    laplacian = interior_vectors(specs.laplacian(input_size), collapsed)
    bounds = {
        "nested": flops * laplacian**2,
        "interpolated": flops
        * interior_vectors(specs.biharmonic(input_size), collapsed),
    }
    if randomization is not None:
        random = specs.biharmonic(input_size, randomization)
        bounds["randomized"] = flops * interior_vectors(random, collapsed)
    return bounds

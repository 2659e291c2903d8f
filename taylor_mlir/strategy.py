"""
Operators with several valid programs choose one by its measured cost.

Some operators can be compiled into different programs that give the same
value (or, for a randomized estimator, the same value at no more variance):

| operator | strategy | program | vectors per layer (collapsed) |
|----------|----------|---------|-------------------------------|
| biharmonic | `interpolated` | one 4-jet per direction of Griewank's interpolation, `(3D^2 - D)/2` of them (`operators/spec.py`) | `3 (3D^2 - D)/2 + 2` |
| biharmonic | `nested` | the Laplacian of the compiled Laplacian (operators of compiled operators) | `(D + 2)^2` |
| biharmonic, `randomization=("normal", S)` | `randomized` | STDE: S Gaussian 4-jets | `3S + 2` |

An exact program is valid wherever an estimator was asked for: its variance is
zero. `strategy="auto"` (the default) compiles every valid candidate to
tensor-level IR, measures it (`CompiledOperator.stats()`) and keeps the
cheapest: fewest FLOPs per datum (which weighs each layer's vectors by its
matmul size and counts the elementwise work), then fewest peak bytes per
datum. Only the chosen program gets a backend executable. Near the crossover
the candidates cost about the same and the FLOP count, blind to memory
traffic, can pick the slower one (paper MLP, D = 2: nested 40.2 against 42.7
MFLOPs per datum, but the interpolated program ran 15% faster). A named
strategy compiles that program only. The choice is `op.strategy`, printed by
`op.stats()`.

This module knows the strategies, when each is valid and the cost model; the
public helpers (`api.py`) build the programs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from taylor_mlir.errors import OptionError
from taylor_mlir.stats import ProgramStats

AUTO = "auto"
BIHARMONIC_STRATEGIES = ("nested", "interpolated", "randomized")


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

    def __str__(self) -> str:
        how = "chosen by cost" if self.requested == AUTO else "requested"
        lines = [f"strategy: {self.chosen} ({how})"]
        lines += [f"  {name}: {cost}" for name, cost in self.costs.items()]
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
) -> tuple[Program, StrategyChoice]:
    """The program of the `requested` strategy (`check_strategy` first), or
    under "auto" the cheapest of the valid `builders` (built in order; a tie
    keeps the first)."""
    names = (
        [requested]
        if requested != AUTO
        else [name for name in builders if name not in excluded]
    )
    programs = {name: builders[name]() for name in names}
    costs = {name: Cost.of(program.stats()) for name, program in programs.items()}
    chosen = min(names, key=lambda name: costs[name].key())
    excluded = {k: v for k, v in excluded.items() if k in builders}
    return programs[chosen], StrategyChoice(requested, chosen, costs, excluded)

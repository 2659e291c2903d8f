"""
What the demo (`taylor-mlir demo`) and the benchmarks (benchmarks/) share, so
that both measure the same baseline the same way:

* `compile_operator`: our operator by its command-line name (`taylor-mlir
  compile` uses it too);
* the torch.func references (nested autograd, the paper's baseline);
* the interleaved timer and the accepted error.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch

from taylor_mlir.errors import OptionError

# Max error relative to max |reference| that the demo and the benchmark accept,
# per dtype.
TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-4}


# ---------------------------------------------------------------- operators


def default_coefficients(dim: int, dtype: torch.dtype) -> torch.Tensor:
    """A fixed symmetric positive definite `C = S S^T / D` (seeded) for the
    weighted Laplacian `tr(C H)` when the user gives none."""
    generator = torch.Generator().manual_seed(1234)
    s = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return (s @ s.T / dim).to(dtype)


def compile_operator(
    f: Callable,
    x: torch.Tensor,
    operator: str,
    *,
    collapsed: bool = True,
    backend: str = "torch",
    coefficients: torch.Tensor | None = None,
    order: int = 2,
    randomization: tuple[str, int] | None = None,
    seed: int | None = None,
):
    """`tm.<operator>(f, x, ...)`: the compiled operator object."""
    import taylor_mlir as tm

    options = dict(collapsed=collapsed, backend=backend)
    if operator == "jet":
        return tm.jet(f, x, order=order, **options)
    if operator not in REFERENCED_OPERATORS:
        raise OptionError(
            f"unknown operator {operator!r}: choose from {', '.join(OPERATORS)}"
        )
    if randomization is not None:
        options.update(randomization=randomization, seed=seed)
    if operator == "weighted-laplacian":
        if coefficients is None:
            coefficients = default_coefficients(math.prod(x.shape[1:]), x.dtype)
        options["coefficients"] = coefficients
    return getattr(tm, _spec_name(operator))(f, x, **options)  # tm.laplacian, ...


def _per_datum(f: Callable) -> Callable:
    """The function of one datum `x : (D,)` behind a batched `f : (N, D) -> (N, ...)`."""
    return lambda x: f(x.unsqueeze(0)).squeeze(0)


def _trace(matrix: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(matrix, dim1=-2, dim2=-1).sum(-1)


def nested_laplacian(f: Callable) -> Callable:
    """Per-datum trace of the torch.func Hessian (forward over reverse), vmapped:
    the nested-autograd baseline of the paper."""
    hessian = torch.func.hessian(_per_datum(f))
    return torch.func.vmap(lambda x: _trace(hessian(x)))


def nested_weighted_laplacian(f: Callable, coefficients: torch.Tensor) -> Callable:
    """`tr(C H)` per datum from the torch.func Hessian, vmapped."""
    hessian = torch.func.hessian(_per_datum(f))
    return torch.func.vmap(
        lambda x: torch.einsum("...ij,ij->...", hessian(x), coefficients)
    )


def nested_biharmonic(f: Callable) -> Callable:
    """The Laplacian of the Laplacian, both by torch.func Hessians, vmapped."""
    hessian = torch.func.hessian(_per_datum(f))
    laplacian = lambda x: _trace(hessian(x))  # noqa: E731
    return torch.func.vmap(lambda x: _trace(torch.func.hessian(laplacian)(x)))


_NESTED_REFERENCES: dict[str, Callable[[Callable, torch.Tensor | None], Callable]] = {
    "laplacian": lambda f, _: nested_laplacian(f),
    "biharmonic": lambda f, _: nested_biharmonic(f),
    "weighted_laplacian": nested_weighted_laplacian,
}


def _cli_name(name: str) -> str:
    """An operator's command-line name: `weighted_laplacian` -> `weighted-laplacian`
    (the names are those of `operators.spec.NAMED_OPERATORS`)."""
    return name.replace("_", "-")


def _spec_name(cli_name: str) -> str:
    return cli_name.replace("-", "_")


# the operators with a torch.func reference, and those the command line compiles
REFERENCED_OPERATORS = tuple(map(_cli_name, _NESTED_REFERENCES))
OPERATORS = (*REFERENCED_OPERATORS, "jet")


def nested_reference(
    f: Callable, operator: str, coefficients: torch.Tensor | None = None
) -> Callable:
    """The torch.func reference of an operator, by command-line name."""
    if operator not in REFERENCED_OPERATORS:
        raise OptionError(
            f"no torch.func reference for operator {operator!r}: choose from "
            f"{', '.join(REFERENCED_OPERATORS)}"
        )
    return _NESTED_REFERENCES[_spec_name(operator)](f, coefficients)


# ------------------------------------------------------------------ timing


def interleaved_samples(
    functions: dict[str, Callable[[], object]], repeats: int
) -> dict[str, list[float]]:
    """Wall-clock seconds of `repeats` calls of each function, the calls of
    the functions interleaved round by round so that drifting machine load
    hits all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return samples


def time_interleaved(
    functions: dict[str, Callable[[], object]], repeats: int
) -> dict[str, float]:
    """Median seconds per call of each function over interleaved repeats."""
    samples = interleaved_samples(functions, repeats)
    return {name: statistics.median(times) for name, times in samples.items()}


def repeats_for_budget(
    seconds_per_round: float, budget: float, low: int, high: int
) -> int:
    """How many interleaved rounds fit in `budget` seconds, clamped to [low, high]."""
    if seconds_per_round <= 0:
        return high
    return max(low, min(high, int(budget / seconds_per_round)))


def vectors_per_node(op) -> str:
    """The vectors per node of `op.stats()` at the last level measured
    (`collapsed` when the operator was collapsed, else `expanded`)."""
    try:
        levels = op.stats().levels
    except AttributeError:  # not a compiled operator (a test's stand-in)
        return "?"
    last = "collapsed" if "collapsed" in levels else "expanded"
    return str(levels[last].vectors_per_node)

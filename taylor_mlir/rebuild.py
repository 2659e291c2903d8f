"""
The public entry points, and how what they build pickles.

A compiled program holds xDSL IR and backend executables, which do not
pickle. It pickles (and copies) as the call that built it: the entry point,
f, the example's shapes and dtypes (not its values) and the options;
unpickling compiles again, bound to the unpickled f (a seeded generator's
state travels with it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils._pytree as pytree

from taylor_mlir.errors import OptionError


@dataclass(frozen=True)
class ExampleLeaf:
    """An example tensor without its values (what compiling reads of it)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    device: str

    def materialize(self) -> torch.Tensor:
        values = torch.rand(
            self.shape, dtype=self.dtype, generator=torch.Generator().manual_seed(0)
        )
        return values.to(self.device)


def entry_point(entry: Callable) -> Callable:
    """A public entry point `entry(f, x, ...)`: several inputs of f given as
    separate arguments are an OptionError that shows the tuple to pass, and
    what it returns is marked with the call that built it (outer calls
    overwrite inner ones) for `PicklesAsItsBuild`. A program built from
    `imported=` has no such call: that import does not pickle."""
    parameters = inspect.signature(entry).parameters
    positional = [
        p.name for p in parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    usage = ", ".join(
        ["f", "(x, t)", *positional[2:]] + ["wrt=0"] * ("wrt" in parameters)
    )

    @functools.wraps(entry)
    def build(f: Callable, x: Any, *args: Any, **options: Any):
        if 2 + len(args) > len(positional):
            raise OptionError(
                f"{entry.__name__}() takes {', '.join(positional)} positionally, got "
                f"{2 + len(args)} arguments: f's inputs are one argument, a tuple for "
                f"several (for f(x, t): tm.{entry.__name__}({usage}))"
            )
        program = entry(f, x, *args, **options)
        example = pytree.tree_map_only(
            torch.Tensor,
            lambda t: ExampleLeaf(tuple(t.shape), t.dtype, str(t.device)),
            x,
        )
        built_by = (build, f, example, args, options)  # build pickles by its name
        program._built_by = None if options.get("imported") is not None else built_by
        return program

    return build


def rebuild(entry: Callable, f: Callable, example: Any, args: tuple, options: dict):
    """The program `entry(f, x, *args, **options)` compiled again (unpickling)."""
    x = pytree.tree_map_only(ExampleLeaf, ExampleLeaf.materialize, example)
    return entry(f, x, *args, **options)


class PicklesAsItsBuild:
    """Pickles (and copies) as the entry-point call that built it."""

    _built_by: tuple | None = None

    def __reduce__(self):
        if self._built_by is None:
            raise OptionError(
                f"this {type(self).__name__} cannot be pickled or copied: it was "
                "built with imported= or by its class, and it pickles as the call "
                "that built it; build it with tm.compile, tm.laplacian, "
                "tm.weighted_laplacian, tm.biharmonic, tm.linear_operator, tm.jet or "
                "tm.compile_function from f (without imported=)"
            )
        entry, f, example, args, options = self._built_by
        generator = getattr(self, "generator", None)
        if generator is not None:  # the stream goes on where it is, not at seed=
            options = dict(options, seed=None, generator=generator)
        return rebuild, (entry, f, example, args, options)

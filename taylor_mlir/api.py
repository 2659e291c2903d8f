"""
The public API: compile a PyTorch function's differential operator, call it.

```python
import taylor_mlir as tm
lap = tm.laplacian(f, x)                 # compiled once for x's shape and dtype
lap(x)                                   # (N, *out): per-datum Laplacian
lap.mlir("collapsed"); lap.stats()
```

`compile(f, x, operator)` is the object behind the helpers: it imports f
(`torch.export`, dynamic batch), builds the operator function
(`operators.build`), runs the pipeline (`pipeline.compile_levels`) and hands the
tensor-level IR to a backend. Calling it passes the current values of f's
parameters and buffers (an `nn.Module` may be trained between calls) and, for
randomized operators, directions drawn for this call.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.utils._pytree as pytree

from taylor_mlir.backends import (
    FUSING_BACKENDS,
    RETUNED_BACKENDS,
    Executable,
    build_executable,
    check_backend,
)
from taylor_mlir.errors import CallError, DtypeError, OptionError
from taylor_mlir.frontend import ImportedProgram, import_torch
from taylor_mlir.frontend.structure import InputStructure
from taylor_mlir.operators import spec as specs
from taylor_mlir.operators.build import build_jet, build_operator, gradient_group
from taylor_mlir.operators.sampling import sample_directions
from taylor_mlir.operators.spec import OperatorSpec
from taylor_mlir.pipeline import LEVELS, batch_class, compile_levels, retuned_for
from taylor_mlir.rebuild import PicklesAsItsBuild, entry_point
from taylor_mlir.stats import ProgramStats, level_stats, peak_bytes_per_datum
from taylor_mlir.strategy import (
    BIHARMONIC_STRATEGIES,
    ESTIMATOR_STRATEGIES,
    StrategyChoice,
    biharmonic_bounds,
    biharmonic_exclusions,
    check_strategy,
    choose,
    estimator_bounds,
    estimator_exclusions,
)

OperatorLike = OperatorSpec | str | Callable[[int], OperatorSpec]

_DTYPES = (torch.float32, torch.float64)


def _check_example(x: Any, what: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise OptionError(
            f"{what} must be a torch.Tensor example input, got {type(x).__name__}"
            + (
                ""
                if what == "x"
                else " (an input may be a tensor or a dict, list or tuple of "
                "tensors; pass other values through a closure)"
            )
        )
    if x.dtype not in _DTYPES:
        raise DtypeError(f"{what} must be float32 or float64, got {x.dtype}")
    if x.dim() < 2:
        raise OptionError(
            f"{what} must be a batch of shape (N, *S) with at least one entry per datum, "
            f"got shape {tuple(x.shape)}"
            + (
                ": for N scalars, pass x[:, None] (shape (N, 1)) and let f take it"
                if x.dim() == 1
                else ""
            )
        )
    return x


def _make_generator(seed: int | None, generator: torch.Generator | None):
    if seed is not None and generator is not None:
        raise OptionError("pass seed= or generator=, not both")
    if seed is not None:
        return torch.Generator().manual_seed(int(seed))
    return generator


def _example(x: Any) -> InputStructure:
    """The example input(s): a tensor, or a tuple of inputs for f(t, x, ...),
    each a tensor or a dict, list or tuple of tensors; every leaf checked."""
    structure = InputStructure.of_example(x)
    for name, leaf in zip(structure.names, structure.leaves, strict=True):
        _check_example(leaf, name)
    return structure


def _wrt_leaf(structure: InputStructure, wrt: Any) -> int:
    """The program argument (leaf) of the input the operator differentiates."""
    return structure.leaf_of(_check_wrt(wrt, structure.count))


def _import(f: Callable, structure: InputStructure) -> ImportedProgram:
    return import_torch(
        structure.function_of_leaves(f), structure.leaves, dynamic_batch=True
    )


def _check_wrt(wrt: Any, count: int) -> int:
    """Which input the operator differentiates (the others pass through)."""
    if wrt is None:
        if count > 1:
            raise OptionError(
                f"f takes {count} inputs: say which one the operator differentiates "
                f"with wrt= (an index from 0 to {count - 1})"
            )
        return 0
    if isinstance(wrt, bool) or not isinstance(wrt, int) or not 0 <= wrt < count:
        raise OptionError(
            f"wrt={wrt!r} is not an input index: f takes {count} input(s), "
            f"wrt must be an integer from 0 to {count - 1}"
        )
    return wrt


def _check_imported(
    imported: ImportedProgram, inputs: Sequence[torch.Tensor]
) -> ImportedProgram:
    """An import of f reused for these inputs: same count, dtype, datum shapes."""
    if not isinstance(imported, ImportedProgram):
        raise OptionError(
            f"imported= takes an ImportedProgram (taylor_mlir.frontend.import_torch), "
            f"got {type(imported).__name__}"
        )
    shapes = [tuple(t.get_shape()[1:]) for t in imported.input_types[: len(inputs)]]
    if (
        imported.num_inputs != len(inputs)
        or imported.dtype != inputs[0].dtype
        or shapes != [tuple(x.shape[1:]) for x in inputs]
    ):
        raise OptionError(
            f"the imported program takes "
            f"{', '.join(map(str, imported.input_types[: imported.num_inputs]))} "
            f"({imported.dtype}), the inputs are "
            f"{', '.join(str(tuple(x.shape)) for x in inputs)} {inputs[0].dtype}"
        )
    return imported


class _CompiledProgram(PicklesAsItsBuild):
    """Import, build, lower and load one function of the primal; shared by
    operators and jets."""

    function_name: str
    strategy: StrategyChoice | None = None
    """For an operator with several programs: which one this is (`strategy.py`)."""
    of_every_input = False
    """A jet has a series for every input; an operator differentiates one (wrt=)."""

    def __init__(
        self,
        f: Callable,
        x: torch.Tensor | Sequence[torch.Tensor],
        collapsed: bool,
        backend: str,
        imported: ImportedProgram | None = None,
        wrt: int | None = None,
    ):
        self.structure = _example(x)
        inputs = self.structure.leaves
        self.wrt = 0 if self.of_every_input else _wrt_leaf(self.structure, wrt)
        x = inputs[self.wrt]
        check_backend(backend)
        if not isinstance(collapsed, bool):
            raise OptionError(f"collapsed must be True or False, got {collapsed!r}")
        self.f = f
        self.backend = backend
        self.collapsed = collapsed
        self.dtype = x.dtype
        self.datum_shape = tuple(x.shape[1:])
        self.example_batch = x.shape[0]  # the batch the pipeline tunes for
        self.input_shapes = [tuple(t.shape[1:]) for t in inputs]
        if imported is None:
            imported = _import(f, self.structure)
        self.imported = _check_imported(imported, inputs)

    def _compile(self, operator_module, load: bool = True) -> None:
        tiled = self.backend not in FUSING_BACKENDS
        self.levels = compile_levels(
            self.imported.module,
            operator_module,
            self.collapsed,
            batch=self.example_batch if tiled else None,
        )
        if load:
            self._load()

    def _load(self) -> None:
        """The backend executable of the tensor-level program (a candidate
        program of a strategy gets one only when chosen)."""
        self._executable = build_executable(
            self.levels.final, self.function_name, self.backend
        )
        self._retuned: dict[int, Executable] = {}  # by batch class
        self._by_program: dict[str, Executable] = {}
        if self.backend in RETUNED_BACKENDS:
            self._retuned[batch_class(self.example_batch)] = self._executable

    def _executable_for(self, batch: int) -> Executable:
        """The executable for a call on `batch` data: the example's, or for a
        batch of another class (`pipeline.batch_class`), a program whose
        batch-dependent passes (direction blocks, batched GEMMs) decided for
        that class, built at its first call. Tuned for 256 data, a call on
        one would run five blocks of directions where one pays; tuned for 16,
        a call on 4096 would hold every direction at once (GBs)."""
        if not self._retuned or torch.compiler.is_compiling():
            return self._executable  # traced: the example's ATen graph
        tuned_for = batch_class(batch)
        executable = self._retuned.get(tuned_for)
        if executable is None:
            if not self._by_program:  # programs already built, by their IR
                self._by_program[str(self.levels.final)] = self._executable
            text = str(retuned := retuned_for(self.levels, tuned_for))
            executable = self._by_program.get(text)
            if executable is None:
                executable = build_executable(retuned, self.function_name, self.backend)
                self._by_program[text] = executable
            self._retuned[tuned_for] = executable
        return executable

    @property
    def input_size(self) -> int:
        return math.prod(self.datum_shape)

    # ------------------------------------------------------------- calling

    def _check_inputs(
        self, inputs: Sequence[Any], names: Sequence[str] | None = None
    ) -> list[torch.Tensor]:
        """The call's inputs, one per input of f, as the program's leaves, each
        checked (`names`: of the inputs in messages, if not "x", "input 1")."""
        if len(inputs) != self.structure.count:
            raise CallError(
                f"this program takes {self.structure.count} input(s) (as f), got "
                f"{len(inputs)}"
            )
        leaves = self.structure.flatten(inputs)
        leaf_names = (
            self.structure.names if names is None else self.structure.leaf_names(names)
        )
        checked = [
            self._check_input(x, what, shape)
            for x, what, shape in zip(
                leaves, leaf_names, self.input_shapes, strict=True
            )
        ]
        tracing = torch.compiler.is_compiling()  # symbolic sizes: torch checks
        batches = [] if tracing else [int(x.shape[0]) for x in checked]
        if any(b != batches[0] for b in batches):
            raise CallError(
                f"the inputs have different batch sizes {batches}: dimension 0 of "
                "every input is the batch"
            )
        return checked

    def _check_input(
        self, x: Any, what: str = "x", datum_shape: tuple[int, ...] | None = None
    ) -> torch.Tensor:
        datum_shape = self.datum_shape if datum_shape is None else datum_shape
        if not isinstance(x, torch.Tensor):
            raise CallError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype != self.dtype:
            raise CallError(
                f"{what} has dtype {x.dtype}, but this operator was compiled for "
                f"{self.dtype}"
            )
        if x.dim() != 1 + len(datum_shape) or tuple(x.shape[1:]) != datum_shape:
            raise CallError(
                f"{what} has shape {tuple(x.shape)}, but this operator was compiled for "
                f"(N, {', '.join(map(str, datum_shape))})"
            )
        if x.shape[0] < 1:
            raise CallError(f"{what} is an empty batch")
        if x.device.type != "cpu" and self.backend == "iree-cpu":
            raise CallError(
                f"{what} is on {x.device}; the iree-cpu backend runs on the CPU: "
                "move it with .cpu(), or use backend='torch', which runs on any device"
            )
        return x

    def captured_state(self) -> dict[str, Any]:
        """What this program reads at call time besides its input, for
        programs that call it (`frontend/captures.py`): an operator of a
        compiled operator follows the same parameters by reference."""
        state: dict[str, Any] = {"f": self.f}
        for group in getattr(getattr(self, "spec", None), "groups", ()):
            if group.at_call is not None:
                state[group.at_call.name] = group.at_call.default
        return state

    def _parameters(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The current parameters, buffers and captured tensors of f, in the
        order of the program's arguments (read by reference at every call:
        `frontend/captures.py`), on x's device."""
        return self.imported.state.values(device=x.device)

    # ----------------------------------------------------------- inspection

    def mlir(self, level: str = "linalg") -> str:
        """The IR at `level`: one of import, taylor, expanded, collapsed, linalg."""
        if level not in LEVELS:
            raise OptionError(
                f"unknown IR level {level!r}; levels: {', '.join(LEVELS)}"
            )
        if level not in self.levels:
            raise OptionError(
                f"level {level!r} was not built (collapsed=False skips it); "
                f"built: {', '.join(self.levels.modules)}"
            )
        return str(self.levels[level])

    def stats(self) -> ProgramStats:
        """Vectors per layer, op counts and FLOPs per datum, measured on the
        `expanded` and `collapsed` IR, peak bytes per datum on the `linalg` IR
        (see `taylor_mlir.stats`), and the strategy chosen, if any."""
        measured = {
            level: level_stats(
                self.levels[level],
                self.function_name,
                level,
                num_inputs=self.imported.num_inputs,
                parameter_names=self.imported.parameter_names,
            )
            for level in ("expanded", "collapsed")
            if level in self.levels
        }
        peak = peak_bytes_per_datum(self.levels.final, self.function_name)
        return ProgramStats(measured, peak, self.strategy)


class CompiledOperator(_CompiledProgram):
    """A differential operator of f, compiled for inputs shaped like x.

    `op(x)` returns the per-datum operator value, `(N, *out)`.
    """

    function_name = "operator"

    def __init__(
        self,
        f: Callable,
        x: torch.Tensor,
        operator: OperatorLike,
        *,
        collapsed: bool = True,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        backend: str = "torch",
        imported: ImportedProgram | None = None,
        wrt: int | None = None,
        returns: str | Sequence[str] = "operator",
        load: bool = True,
        **operator_options: Any,
    ):
        super().__init__(f, x, collapsed, backend, imported, wrt)
        self._frozen = [
            (name, value, value.detach().clone())
            for name, value in operator_options.items()
            if isinstance(value, torch.Tensor) and not specs.is_runtime_tensor(value)
        ]
        self.generator = _make_generator(seed, generator)
        self.spec = _resolve_operator(operator, self.input_size, operator_options)
        if not self.spec.is_random and (seed is not None or generator is not None):
            raise OptionError(
                f"seed= and generator= are for randomized operators; the "
                f"{self.spec.name} requested is exact"
            )
        self.returns = _check_returns(returns, self.spec)
        if "gradient" in self.returns and gradient_group(self.spec) is None:
            self.spec = specs.with_unit_jets(self.spec)
        self._compile(
            build_operator(
                self.imported.module,
                self.spec,
                self.imported.func_name,
                self.imported.num_inputs,
                self.function_name,
                wrt=self.wrt,
                returns=self.returns,
            ),
            load,
        )

    def _directions(
        self, x: torch.Tensor, given: Mapping[str, Any]
    ) -> list[torch.Tensor]:
        """The directions of every group that takes them: drawn (randomized)
        or computed from runtime coefficients (`given`, else the tensor passed
        at compile time, read by reference)."""
        batch, directions = x.shape[0], []
        for group in self.spec.groups:
            if group.random is not None:
                v = self._draw(group.random, batch, self.datum_shape, x)
            elif group.at_call is not None:
                at_call = group.at_call
                value = given.get(at_call.name, at_call.default)
                value = self._check_coefficients(value, x, at_call.default)
                D = self.input_size
                if at_call.random is not None:
                    base = self._draw(at_call.random, batch, (D,), x)
                else:
                    base = torch.eye(D, dtype=self.dtype, device=x.device)
                    base = base[:, None, :].expand(D, batch, D)
                v = at_call.compute(base, value)
                v = v.reshape(group.count, batch, *self.datum_shape)
            else:
                continue
            directions.append(v)
        return directions

    def _draw(self, random, batch: int, shape, x: torch.Tensor) -> torch.Tensor:
        return sample_directions(random, batch, shape, self.dtype, self.generator).to(
            x.device
        )

    def _check_coefficients(
        self, C: Any, x: torch.Tensor, compiled: torch.Tensor
    ) -> torch.Tensor:
        """Runtime coefficients as the program needs them, or a CallError."""
        D = self.input_size
        if not isinstance(C, torch.Tensor):
            raise CallError(
                f"coefficients must be a torch.Tensor, got {type(C).__name__}"
            )
        S = self.datum_shape
        C = _flat_matrices(C, S)
        if C.shape not in ((D, D), (x.shape[0], D, D)):
            one, per_datum = f"({D}, {D})", f"({x.shape[0]}, {D}, {D})"
            if len(S) > 1:  # or indexed like the data
                one += f" or {S * 2},"
                per_datum = f"{per_datum} or {(x.shape[0], *S, *S)}"
            raise CallError(
                f"coefficients have shape {tuple(C.shape)}; expected {one} or one "
                f"matrix per datum {per_datum}"
            )
        if not C.is_floating_point():
            raise CallError(f"coefficients must be float, got {C.dtype}")
        if C.device != x.device:
            raise CallError(
                f"coefficients are on {C.device}, x on {x.device}: move them to "
                f"{x.device}"
            )
        if _has_data(C) and not bool(torch.isfinite(C.detach()).all()):
            raise CallError("coefficients are not finite (NaN or infinity)")
        return C.to(self.dtype)

    def _check_frozen(self) -> None:
        """Tensors compiled in as constants must not have changed since."""
        if torch.compiler.is_compiling():  # traced into a caller: no data yet
            return
        for name, tensor, snapshot in self._frozen:
            if tensor.device != snapshot.device or not torch.equal(tensor, snapshot):
                raise CallError(
                    f"{name} changed since the operator was compiled, but it is a "
                    f"constant of the program: recompile, or pass a tensor that "
                    f"requires grad (or one {name} matrix per datum) to make it an "
                    "argument of every call"
                )

    def __call__(self, *inputs: torch.Tensor, **runtime: Any) -> Any:
        """The operator at x (`op(t, x)` for several inputs); runtime
        coefficients may be passed per call (`op(x, coefficients=C)`) when the
        operator was compiled with them. Returns a tensor `(N, *out)`, or a
        tuple: one entry per output of f, each a tuple of `returns` when
        several were asked for."""
        inputs = self._check_inputs(inputs)
        x = inputs[self.wrt]
        accepted = {g.at_call.name for g in self.spec.groups if g.at_call}
        unknown = set(runtime) - accepted
        if unknown:
            raise CallError(
                f"unexpected argument(s) {', '.join(sorted(unknown))}: "
                + (
                    f"this operator takes {', '.join(sorted(accepted))}"
                    if accepted
                    else "this operator takes x only (its coefficients are "
                    "constants: compile with a tensor that requires grad, or one "
                    "matrix per datum, to pass them per call)"
                )
            )
        self._check_frozen()
        arguments = [*inputs, *self._parameters(x), *self._directions(x, runtime)]
        executable = self._executable_for(x.shape[0])
        return self._regroup(executable(*arguments))

    def _regroup(self, flat: Sequence[torch.Tensor]) -> Any:
        """The program's results (item-major) as the user asked for them, in
        the structure f returns (a tensor, a tuple, a dict, a namedtuple)."""
        outputs = len(self.imported.output_types)
        by_item = [
            flat[i * outputs : (i + 1) * outputs] for i in range(len(self.returns))
        ]
        per_output = [tuple(item[o] for item in by_item) for o in range(outputs)]
        shaped = [p[0] if len(p) == 1 else p for p in per_output]
        return pytree.tree_unflatten(shaped, self.imported.output_spec)


class CompiledJet(_CompiledProgram):
    """The K-jet of f: `jet(x0, [x1..xK]) -> (f0, [f1..fK])` with
    `f_k = d^k/dt^k f(x(t))` at t = 0 for `x(t) = sum_k t^k/k! x_k` (like
    `jax.experimental.jet`, in the plain-derivative convention). Missing trailing
    coefficients are zero.

    For f of several inputs every input has a series, as in JAX:
    `jet((x0, y0), ([x1, x2], [y1]))`; an input given no coefficients (`[]`)
    stays constant. For f returning a tuple or dict, the result is
    `(f0, series)` with f0 in f's structure and series in the same structure,
    each leaf the list `[f1..fK]` of that output."""

    function_name = "jet"
    of_every_input = True

    def __init__(
        self,
        f: Callable,
        x: torch.Tensor | Sequence[torch.Tensor],
        order: int,
        *,
        collapsed: bool = True,
        backend: str = "torch",
        imported: ImportedProgram | None = None,
    ):
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise OptionError(f"the jet order must be an integer >= 1, got {order!r}")
        super().__init__(f, x, collapsed, backend, imported)
        self.order = order
        self._compile(
            build_jet(
                self.imported.module,
                order,
                self.imported.func_name,
                self.imported.num_inputs,
                self.function_name,
            )
        )

    def __call__(self, primals: Any, series: Any) -> tuple[Any, Any]:
        count = self.structure.count
        if count > 1:
            if isinstance(primals, torch.Tensor) or not isinstance(primals, Sequence):
                raise CallError(
                    f"f takes {count} inputs: call the jet with a tuple of them and "
                    "one list of coefficients per input, e.g. "
                    "jet((x0, y0), ([x1], [y1]))"
                )
            inputs = self._check_inputs(list(primals))
            per_input = self._series_per_input(series)
        else:
            inputs = self._check_inputs([primals], names=["x0"])
            per_input = [self._coefficients(series, "the second argument")]
        per_leaf: list[list[torch.Tensor]] = [[] for _ in inputs]
        for i, given in enumerate(per_input):
            leaves = self.structure.leaves_of_input(i)
            for k, value in enumerate(given, start=1):
                what = f"x{k}" if count == 1 else f"coefficient {k} of input {i}"
                parts = self.structure.flatten_input(i, value, what)
                for leaf, x_k in zip(leaves, parts, strict=True):
                    name = what + self.structure.paths[leaf]
                    x0 = inputs[leaf]
                    self._check_input(x_k, name, tuple(x0.shape[1:]))
                    if x_k.shape != x0.shape:
                        raise CallError(
                            f"{name} has shape {tuple(x_k.shape)}, its input has "
                            f"{tuple(x0.shape)}"
                        )
                    per_leaf[leaf].append(x_k)
        coefficients = [
            x_k
            for x0, given in zip(inputs, per_leaf, strict=True)
            for x_k in given + [torch.zeros_like(x0)] * (self.order - len(given))
        ]
        executable = self._executable_for(inputs[0].shape[0])
        flat = executable(*inputs, *self._parameters(inputs[0]), *coefficients)
        return self._regroup(flat)

    def _coefficients(self, given: Any, what: str) -> list[torch.Tensor]:
        """One input's coefficients `[x1..xk]` (k <= K), as a list."""
        if isinstance(given, torch.Tensor) or not isinstance(given, Sequence):
            takes, example = (
                ("x0 and a list", "jet(x0, [v])")
                if self.structure.count == 1
                else ("per input a list", "jet((x0, y0), ([x1], [y1]))")
            )
            raise CallError(
                f"the jet takes {takes} of its Taylor coefficients [x1, ..., xK] "
                f"(K <= {self.order}), e.g. {example}; got {type(given).__name__} "
                f"as {what}"
            )
        given = list(given)
        if len(given) > self.order:
            raise CallError(
                f"{len(given)} coefficients given to a jet of order {self.order}"
            )
        return given

    def _series_per_input(self, series: Any) -> list[list[Any]]:
        count = self.structure.count
        if (
            isinstance(series, torch.Tensor)
            or not isinstance(series, Sequence)
            or len(series) != count
        ):
            raise CallError(
                f"f takes {count} inputs: give one list of coefficients per input "
                "(in the order of f's inputs; [] keeps an input constant), e.g. "
                "jet((x0, y0), ([x1], [y1]))"
            )
        return [
            self._coefficients(given, f"the coefficients of input {i}")
            for i, given in enumerate(series)
        ]

    def _regroup(self, flat: Sequence[torch.Tensor]) -> tuple[Any, Any]:
        """The program's results (order-major) as `(f0, series)` in the
        structure f returns."""
        outputs = len(self.imported.output_types)
        values = list(flat[:outputs])
        series = [list(flat[outputs + o :: outputs]) for o in range(outputs)]
        spec = self.imported.output_spec
        return pytree.tree_unflatten(values, spec), pytree.tree_unflatten(series, spec)


def _check_returns(returns: str | Sequence[str], spec: OperatorSpec) -> tuple[str, ...]:
    """`returns` as build names: "value", "gradient", "operator" (or the
    operator's own name, e.g. "laplacian")."""
    items = (returns,) if isinstance(returns, str) else tuple(returns)
    names = {"value": "value", "gradient": "gradient", "operator": "operator"}
    names[spec.name] = "operator"
    bad = [r for r in items if r not in names]
    if bad or not items:
        raise OptionError(
            f"returns={returns!r}: choose from {', '.join(sorted(names))} (one name "
            "or a tuple, e.g. ('value', 'gradient', 'operator'))"
        )
    items = tuple(names[r] for r in items)
    if "gradient" in items and spec.is_random and gradient_group(spec) is None:
        raise OptionError(
            f"returns='gradient' needs jets along the unit vectors; the randomized "
            f"{spec.name} asked for has none: use the exact operator (its program "
            "adds them where its own directions are not the unit vectors)"
        )
    return items


def _check_options(builder: Callable, options: Mapping[str, Any], what: str):
    """Unknown keywords as an OptionError listing the known ones."""
    known = [
        name
        for name, p in inspect.signature(builder).parameters.items()
        if name != "input_size" and p.kind is not p.VAR_KEYWORD
    ]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise OptionError(
            f"unknown option(s) {', '.join(unknown)} for {what}; it takes "
            f"{', '.join(known) or 'no options'}"
        )


def _has_data(tensor: torch.Tensor) -> bool:
    """False while traced (an operator of this operator is being compiled) or
    on the meta device: value checks then wait for a real call."""
    return tensor.device.type != "meta" and not torch.compiler.is_compiling()


def _resolve_operator(
    operator: OperatorLike, input_size: int, options: Mapping[str, Any]
) -> OperatorSpec:
    """An OperatorSpec for inputs of `input_size` entries per datum."""
    if isinstance(operator, OperatorSpec):
        if options:
            raise OptionError(
                f"options {sorted(options)} given with a ready OperatorSpec"
            )
        spec = operator
    elif isinstance(operator, str):
        if operator not in specs.NAMED_OPERATORS:
            raise OptionError(
                f"unknown operator {operator!r}; known: "
                f"{', '.join(specs.NAMED_OPERATORS)}"
            )
        builder = specs.NAMED_OPERATORS[operator]
        _check_options(builder, options, f"the {operator} operator")
        spec = builder(input_size, **options)
    elif callable(operator):
        spec = operator(input_size, **options)
    else:
        raise OptionError(
            f"operator must be an OperatorSpec, a name or a function of the input "
            f"size, got {type(operator).__name__}"
        )
    if not isinstance(spec, OperatorSpec):
        raise OptionError(
            f"the operator built {type(spec).__name__}, not an OperatorSpec"
        )
    if spec.input_size != input_size:
        raise OptionError(
            f"the {spec.name} operator is for inputs of {spec.input_size} entries per "
            f"datum, x has {input_size}"
        )
    return spec


# ------------------------------------------------------------------ helpers


@entry_point
def compile(  # noqa: A001 (the public name of the design)
    f: Callable,
    x: torch.Tensor,
    operator: OperatorLike,
    *,
    collapsed: bool = True,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    backend: str = "torch",
    imported: ImportedProgram | None = None,
    wrt: int | None = None,
    returns: str | Sequence[str] = "operator",
    **operator_options: Any,
) -> CompiledOperator:
    """`operator` of f compiled for inputs shaped like x. `operator` is an
    `OperatorSpec`, a name ("laplacian", "weighted_laplacian", "biharmonic",
    "linear_operator", with its options as keywords), or a function of the input
    size returning an `OperatorSpec`.

    `imported` reuses an import of f (`taylor_mlir.frontend.import_torch(f, x)`),
    so several operators of one network cost one `torch.export`.

    Several inputs: pass `x` as a tuple (`f(t, x)`) and `wrt=` the index of the
    one differentiated; the others pass through (still differentiable by
    autograd). `returns=("value", "gradient", "operator")` returns f, its
    gradient w.r.t. that input and the operator from one jet (the gradient reads
    jets along the unit vectors: the exact Laplacian's, or first-order ones the
    program adds, `operators.spec.with_unit_jets`)."""
    return CompiledOperator(
        f,
        x,
        operator,
        collapsed=collapsed,
        seed=seed,
        generator=generator,
        backend=backend,
        imported=imported,
        wrt=wrt,
        returns=returns,
        **operator_options,
    )


@entry_point
def laplacian(
    f: Callable,
    x: torch.Tensor,
    *,
    collapsed: bool = True,
    randomization: tuple[str, int] | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    backend: str = "torch",
    wrt: int | None = None,
    returns: str | Sequence[str] = "operator",
    strategy: str = "auto",
    **unknown: Any,
) -> CompiledOperator:
    """The per-datum Laplacian of f (Hutchinson's estimator with
    `randomization=("rademacher" | "normal", S)`). With `randomization`,
    `strategy="auto"` (the default) compiles the exact Laplacian instead where
    it is cheaper (S samples cost about as much as S unit vectors: from
    S >= D on, and the exact one has no variance); `strategy="randomized"`
    keeps the estimator. `op.stats()` says which was compiled and why."""
    _reject_unknown(unknown, laplacian)
    return _exact_or_randomized(
        "laplacian",
        f,
        x,
        strategy,
        dict(randomization=randomization, seed=seed, generator=generator),
        collapsed=collapsed,
        backend=backend,
        wrt=wrt,
        returns=returns,
    )


@entry_point
def weighted_laplacian(
    f: Callable,
    x: torch.Tensor,
    coefficients: np.ndarray | torch.Tensor | None = None,
    factor: np.ndarray | torch.Tensor | None = None,
    *,
    collapsed: bool = True,
    randomization: tuple[str, int] | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    backend: str = "torch",
    wrt: int | None = None,
    returns: str | Sequence[str] = "operator",
    strategy: str = "auto",
    **unknown: Any,
) -> CompiledOperator:
    """`tr(C H)` per datum, for `coefficients=C` (any square C: its symmetric part counts) or
    `factor=S` with `C = S S^T`. With `randomization`, `strategy` chooses
    between the estimator and the exact operator as for `laplacian` (the
    exact one costs a direction per column of C's factor: its rank)."""
    _reject_unknown(unknown, weighted_laplacian)
    structure = _example(x)
    datum_shape = tuple(structure.leaves[_wrt_leaf(structure, wrt)].shape[1:])
    coefficients = _flat_coefficients(coefficients, datum_shape, "coefficients")
    factor = _flat_coefficients(factor, datum_shape, "factor")
    return _exact_or_randomized(
        "weighted_laplacian",
        f,
        x,
        strategy,
        dict(randomization=randomization, seed=seed, generator=generator),
        collapsed=collapsed,
        backend=backend,
        wrt=wrt,
        returns=returns,
        coefficients=_coefficient_matrix(coefficients, "coefficients"),
        factor=_coefficient_matrix(factor, "factor"),
    )


def _exact_or_randomized(
    operator: str,
    f: Callable,
    x: torch.Tensor,
    strategy: str,
    random: Mapping[str, Any],
    **options: Any,
) -> CompiledOperator:
    """The exact or the randomized program of a second-order operator
    (`strategy.py`): without randomization the exact one; with it, the
    requested strategy, or under "auto" the cheaper, the candidates sharing one
    import of f (the exact one ignores the seed)."""
    excluded = estimator_exclusions(random["randomization"], options["returns"])
    check_strategy(strategy, ESTIMATOR_STRATEGIES, excluded)
    if random["randomization"] is None:
        return compile(f, x, operator, **options, **random)  # no choice
    structure = _example(x)
    leaf = _wrt_leaf(structure, options["wrt"])
    imported = _import(f, structure)  # one export for both
    common = dict(options, imported=imported, load=False)
    builders = {
        "exact": lambda: CompiledOperator(f, x, operator, **common),
        "randomized": lambda: CompiledOperator(f, x, operator, **common, **random),
    }
    size = math.prod(structure.leaves[leaf].shape[1:])
    spec_options = {k: v for k, v in options.items() if k in ("coefficients", "factor")}
    named = specs.NAMED_OPERATORS[operator]
    bounds = estimator_bounds(
        imported.module,
        imported.func_name,
        leaf,
        named(size, **spec_options),
        named(size, **spec_options, randomization=random["randomization"]),
        options["collapsed"],
    )  # the candidate that cannot win is not compiled
    program, choice = choose(strategy, builders, excluded, bounds)
    program.strategy = choice
    program._load()
    return program


@entry_point
def biharmonic(
    f: Callable,
    x: torch.Tensor,
    *,
    collapsed: bool = True,
    randomization: tuple[str, int] | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    backend: str = "torch",
    wrt: int | None = None,
    returns: str | Sequence[str] = "operator",
    strategy: str = "auto",
    **unknown: Any,
) -> CompiledOperator:
    """The per-datum biharmonic `Delta^2 f` by one of its programs
    (`taylor_mlir/strategy.py`): `strategy="nested"` (the Laplacian of the
    compiled Laplacian), `"interpolated"` (Griewank's interpolation, 4-jets),
    `"randomized"` (STDE with `randomization=("normal", S)`) or `"auto"`, the
    cheapest valid one by the measured cost. With `randomization`, "auto" may
    pick an exact program (no variance, and cheaper). `op.strategy` (printed
    by `op.stats()`) says which was compiled and why."""
    _reject_unknown(unknown, biharmonic)
    seeded = seed is not None or generator is not None
    excluded = biharmonic_exclusions(randomization, returns, seeded)
    check_strategy(strategy, BIHARMONIC_STRATEGIES, excluded)
    structure = _example(x)
    leaf = _wrt_leaf(structure, wrt)
    check_backend(backend)
    size = math.prod(structure.leaves[leaf].shape[1:])
    specs.biharmonic(size, randomization)  # checks it
    imported = _import(f, structure)  # one export for all
    common = dict(collapsed=collapsed, wrt=wrt, load=False)
    of_f = dict(common, backend=backend, imported=imported, returns=returns)

    def nested() -> CompiledOperator:
        # the inner program runs on torch: the outer program traces through it
        inner = CompiledOperator(f, x, "laplacian", imported=imported, **common)
        inner._load()
        return CompiledOperator(inner, x, "laplacian", backend=backend, **common)

    def interpolated() -> CompiledOperator:
        return CompiledOperator(f, x, "biharmonic", **of_f)

    def randomized() -> CompiledOperator:
        random = dict(randomization=randomization, seed=seed, generator=generator)
        return CompiledOperator(f, x, "biharmonic", **of_f, **random)

    builders = {
        "nested": nested,
        "interpolated": interpolated,
        "randomized": randomized,
    }
    bounds = biharmonic_bounds(
        imported.module, imported.func_name, leaf, size, collapsed, randomization
    )  # candidates that cannot win are not compiled
    program, choice = choose(strategy, builders, excluded, bounds)
    program.strategy = choice
    program._load()
    return program


@entry_point
def linear_operator(
    f: Callable,
    x: torch.Tensor,
    terms: Mapping[tuple[int, ...], float],
    *,
    collapsed: bool = True,
    backend: str = "torch",
    wrt: int | None = None,
    returns: str | Sequence[str] = "operator",
    **unknown: Any,
) -> CompiledOperator | CompiledCombination:
    """`sum_alpha c_alpha d^alpha f`: `terms={(0, 0): 1.0, (1,): -1.0}` is
    `d^2 f/dx_0^2 - d f/dx_1`; a key lists the (flattened) input indices
    differentiated, `()` is f itself.

    A coefficient may be a tensor (a scalar, or broadcastable to the output,
    e.g. `(N, 1)` per datum): it is read at every call, by reference, and gets
    its gradient (`CompiledCombination`)."""
    _reject_unknown(unknown, linear_operator)
    options = dict(collapsed=collapsed, backend=backend, wrt=wrt)
    runtime = (
        {k: c for k, c in terms.items() if isinstance(c, torch.Tensor)}
        if isinstance(terms, Mapping)
        else {}
    )
    if not runtime:
        return compile(f, x, "linear_operator", returns=returns, terms=terms, **options)
    if returns not in ("operator", ("operator",), "linear_operator"):
        raise OptionError(
            "returns= is for linear operators with constant coefficients; with "
            "tensor coefficients the operator alone is returned"
        )
    imported = _import(f, _example(x))
    constant = {k: c for k, c in terms.items() if k not in runtime}
    by_coefficient: dict[int, tuple[torch.Tensor, dict]] = {}
    for key, coefficient in runtime.items():  # one program per coefficient tensor
        by_coefficient.setdefault(id(coefficient), (coefficient, {}))[1][key] = 1.0
    parts = [
        (
            coefficient,
            compile(f, x, "linear_operator", imported=imported, terms=keys, **options),
        )
        for coefficient, keys in by_coefficient.values()
    ]
    fixed = (
        compile(f, x, "linear_operator", imported=imported, terms=constant, **options)
        if constant
        else None
    )
    return CompiledCombination(parts, fixed)


class CompiledCombination(PicklesAsItsBuild):
    """`fixed(x) + sum_i c_i * op_i(x)`: a linear operator whose coefficients
    `c_i` are tensors, read at every call and differentiable. Each `op_i` is
    the compiled operator of one term (one import of f serves all)."""

    def __init__(
        self,
        parts: list[tuple[torch.Tensor, CompiledOperator]],
        fixed: CompiledOperator | None,
    ):
        self.parts = parts
        self.fixed = fixed

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        total = self.fixed(*inputs) if self.fixed is not None else None
        for coefficient, op in self.parts:
            value = op(*inputs)
            if _has_data(coefficient) and not bool(
                torch.isfinite(coefficient.detach()).all()
            ):
                raise CallError("a linear operator coefficient is not finite")
            try:
                term = coefficient.to(value.dtype) * value
            except RuntimeError as error:
                raise CallError(
                    f"a coefficient of shape {tuple(coefficient.shape)} does not "
                    f"broadcast to the operator's {tuple(value.shape)}: use a scalar "
                    f"or a tensor broadcastable to it (e.g. (N, 1)): {error}"
                ) from None
            if term.shape != value.shape:
                raise CallError(
                    f"a coefficient of shape {tuple(coefficient.shape)} would change "
                    f"the result's shape {tuple(value.shape)} to {tuple(term.shape)}"
                )
            total = term if total is None else total + term
        return total

    def captured_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"f": self.parts[0][1].f}
        state |= {f"c{i}": c for i, (c, _) in enumerate(self.parts)}
        return state

    def operators(self) -> list[CompiledOperator]:
        return [op for _, op in self.parts] + ([self.fixed] if self.fixed else [])

    def mlir(self, level: str = "linalg") -> str:
        return "\n".join(op.mlir(level) for op in self.operators())

    def stats(self) -> list[ProgramStats]:
        """The stats of each compiled term."""
        return [op.stats() for op in self.operators()]


@entry_point
def jet(
    f: Callable,
    x: torch.Tensor | Sequence[torch.Tensor],
    order: int,
    *,
    collapsed: bool = True,
    backend: str = "torch",
    imported: ImportedProgram | None = None,
    **unknown: Any,
) -> CompiledJet:
    """The compiled K-jet of f (see `CompiledJet`) at inputs shaped like x (a
    batch, or a tuple of batches for f of several inputs); `imported` as in
    `compile`."""
    _reject_unknown(unknown, jet)
    return CompiledJet(
        f, x, order, collapsed=collapsed, backend=backend, imported=imported
    )


def _reject_unknown(unknown: Mapping[str, Any], function: Callable) -> None:
    """Misspelled keywords as an OptionError (not Python's TypeError)."""
    if unknown:
        known = [
            name
            for name, p in inspect.signature(function).parameters.items()
            if p.kind is p.KEYWORD_ONLY or name in ("coefficients", "factor", "terms")
        ]
        raise OptionError(
            f"{function.__name__}() got unknown option(s) "
            f"{', '.join(sorted(unknown))}; its options are {', '.join(known)}"
        )


def _flat_matrices(value: Any, datum_shape: tuple[int, ...]) -> Any:
    """Matrices indexed like the data, (*S, *S) or one per datum (N, *S, *S),
    as matrices over the flattened datum ((D, D), (N, D, D)): a view, so a
    tensor read by reference stays one. Anything else is returned as it is."""
    if len(datum_shape) < 2 or not isinstance(value, torch.Tensor | np.ndarray):
        return value
    shape = tuple(value.shape)
    batch_dims = len(shape) - 2 * len(datum_shape)
    if batch_dims not in (0, 1) or shape[batch_dims:] != datum_shape * 2:
        return value
    size = math.prod(datum_shape)
    return value.reshape(*shape[:batch_dims], size, size)


def _flat_coefficients(value: Any, datum_shape: tuple[int, ...], what: str) -> Any:
    """Compile-time coefficients indexed like the data (C of shape (*S, *S)
    or (N, *S, *S), a factor of (*S, R), for data of shape (N, *S)) over the
    flattened datum (`_flat_matrices`; a factor (D, R)). Other shapes the
    operator's own check can name pass on; one with more dimensions than any
    shape that works is refused here, with those shapes."""
    if len(datum_shape) < 2 or not isinstance(value, torch.Tensor | np.ndarray):
        return value
    size, shape = math.prod(datum_shape), tuple(value.shape)
    entries = ", ".join(map(str, datum_shape))
    if what == "coefficients":
        flat, most = _flat_matrices(value, datum_shape), 3
        wanted = f"{datum_shape * 2} or ({size}, {size}), or one per datum"
    else:
        fits = shape[:-1] == datum_shape
        flat, most = (value.reshape(size, shape[-1]) if fits else value), 2
        wanted = f"({entries}, R) or ({size}, R)"
    if (
        flat is not value
        and isinstance(value, torch.Tensor)
        and not value.is_contiguous()
    ):
        raise OptionError(  # the flat matrix would be a copy, blind to later updates
            f"{what} of shape {shape} are not contiguous, and the operator reads "
            "them by reference (a flattened copy would miss every later update): "
            f"pass a contiguous tensor ({what}.contiguous(), and update that one) "
            f"or the flattened one, ({size}, ...)"
        )
    if len(flat.shape) > most:
        raise OptionError(
            f"{what} of shape {shape} do not fit data of shape (N, {entries}): "
            f"pass {wanted}"
        )
    return flat


def _coefficient_matrix(value, what: str) -> np.ndarray | torch.Tensor | None:
    """Coefficients for the operator spec: a tensor stays a tensor (a runtime
    one is read at every call; a constant one is checked for changes), a
    factor that requires grad is refused (it would be compiled in)."""
    if what == "factor" and isinstance(value, torch.Tensor) and value.requires_grad:
        raise OptionError(
            "factor requires grad, but a factor is compiled in as a constant: "
            "its gradient would be silently missing; pass coefficients=S @ S.T "
            "instead (runtime coefficients are differentiable)"
        )
    return value

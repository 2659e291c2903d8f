"""
The compile pipeline: the IR levels from the imported primal to tensor-level IR.

| level       | how it is reached (each stage runs on a copy of the previous level)   |
|-------------|------------------------------------------------------------------------|
| `import`    | the frontend's module: the primal `@forward`                           |
| `taylor`    | + the operator function (`operators.build`): seed, call, coefficient, sum |
| `expanded`  | `taylor-mode,taylor-expand,tensor-cleanup`: standard Taylor mode      |
| `collapsed` | `factor-replicates,taylor-collapse,tensor-cleanup,schedule-sums-early` (skipped when `collapsed=False`) |
| `linalg`    | `fold-seed-broadcasts,tile-directions,batch-linear-maps,convert-taylor-to-tensor,tensor-cleanup`: tensor-level IR |

Each pass does one thing: the rewriting passes leave CSE/DCE to
`tensor-cleanup`, and `schedule-sums-early` (sum each per-direction product
where it is made: lower peak memory) runs after the collapse that builds the sums.
Before lowering, `fold-seed-broadcasts` takes seed directions shared by all data
through the first layer unbroadcast, and `tile-directions` runs the
per-direction chain over blocks of directions that fit the cache, and
`batch-linear-maps` maps the coefficients going through one layer together
where one bigger GEMM pays. Both decide for the batch size: they run when the
batch is known (`batch=`, the example input's; the API always gives it) and
are left out otherwise. A program called at a batch size far from the one it
was tuned for gets the `linalg` stage again for that size's class
(`batch_class`, `retuned_for`): a few tenths of a second on first use.

The levels do not depend on the backend: every backend takes the `linalg`
module and lowers it further itself (IREE: `iree_backend.lower_for_iree`).

Every level's module is kept, so each can be printed (`CompiledOperator.mlir`)
and measured (`stats`). The same stages run from the command line:
`taylor-opt op.mlir -p taylor-mode,taylor-expand,tensor-cleanup` (see `pass_pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.transforms import get_all_passes as get_xdsl_passes
from xdsl.utils.exceptions import DiagnosticException, VerifyException

from taylor_mlir.context import make_context
from taylor_mlir.errors import InvalidIRError, TaylorMLIRError
from taylor_mlir.transforms import get_all_passes

LEVELS = ("import", "taylor", "expanded", "collapsed", "linalg")

# the passes leading to each level from the one before
STAGES: dict[str, tuple[str, ...]] = {
    "expanded": ("taylor-mode", "taylor-expand", "tensor-cleanup"),
    "collapsed": (
        "factor-replicates",
        "taylor-collapse",
        "tensor-cleanup",
        "schedule-sums-early",
    ),
    "linalg": (
        "fold-seed-broadcasts",
        "tile-directions",
        "batch-linear-maps",
        "convert-taylor-to-tensor",
        "tensor-cleanup",
    ),
}


def stage_passes(stage: str, batch: int | None = None) -> tuple[str, ...]:
    """The passes of `stage` for programs compiled at batch size `batch`:
    `tile-directions` and `batch-linear-maps` decide for that batch (left out
    without one)."""
    passes = []
    for name in STAGES[stage]:
        if name in ("tile-directions", "batch-linear-maps"):
            if batch is None:
                continue
            name = f"{name}{{batch={batch}}}"
        passes.append(name)
    return tuple(passes)


def pass_pipeline(level: str, collapsed: bool = True, batch: int | None = None) -> str:
    """The `taylor-opt -p` pipeline taking the `taylor` level to `level`."""
    if level not in LEVELS[2:]:
        raise ValueError(f"no passes lead to level {level!r}")
    names: list[str] = []
    for stage in ("expanded", "collapsed", "linalg"):
        if stage == "collapsed" and not collapsed:
            continue
        names.extend(stage_passes(stage, batch))
        if stage == level:
            break
    return ",".join(names)


def _available_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {**get_xdsl_passes(), **get_all_passes()}


@dataclass
class CompiledLevels:
    """The module at every level reached, in order, and the passes run."""

    modules: dict[str, ModuleOp] = field(default_factory=dict)
    passes: list[str] = field(default_factory=list)

    def __getitem__(self, level: str) -> ModuleOp:
        if level not in self.modules:
            raise KeyError(
                f"no IR level {level!r}; this program has {', '.join(self.modules)}"
            )
        return self.modules[level]

    def __contains__(self, level: str) -> bool:
        return level in self.modules

    @property
    def final(self) -> ModuleOp:
        return self.modules["linalg"]


def _run_stage(
    module: ModuleOp, passes: tuple[str, ...], level: str, verify: bool
) -> ModuleOp:
    """A copy of `module` after `passes`, verified when asked."""
    result = module.clone()
    pipeline = PassPipeline.parse_spec(_available_passes(), ",".join(passes))
    try:
        pipeline.apply(make_context(), result)
        if verify:
            result.verify()
    except TaylorMLIRError:
        raise  # a pass failure that already names what is wrong
    except (VerifyException, DiagnosticException) as e:
        raise InvalidIRError(
            f"the {level!r} stage ({','.join(passes)}) produced invalid IR: {e}"
        ) from e
    return result


def compile_levels(
    primal: ModuleOp,
    operator_module: ModuleOp,
    collapsed: bool = True,
    *,
    batch: int | None = None,
    verify_each_level: bool = False,
) -> CompiledLevels:
    """Runs the pipeline from the operator level (`taylor`) to `linalg`, for
    programs mostly called at batch size `batch` (see `stage_passes`).

    The operator function and the final module are always verified; the
    levels between only with `verify_each_level` (it costs about as much as a
    pass, and names the stage that broke the IR)."""
    try:
        operator_module.verify()
    except VerifyException as e:
        raise InvalidIRError(f"the operator function is invalid: {e}") from e
    levels = CompiledLevels({"import": primal, "taylor": operator_module})
    current = operator_module
    for level in ("expanded", "collapsed", "linalg"):
        if level == "collapsed" and not collapsed:
            continue
        verify = verify_each_level or level == "linalg"
        passes = stage_passes(level, batch)
        current = _run_stage(current, passes, level, verify)
        levels.modules[level] = current
        levels.passes += [name.split("{")[0] for name in passes]
    return levels


def batch_class(batch: int) -> int:
    """The batch size a program for calls of `batch` data is tuned for: the
    power of two at or above it. The batch-dependent passes decide alike for
    batches of one class (their thresholds are far apart), and a batch size
    changing from call to call reaches few classes."""
    return 1 << max(batch - 1, 0).bit_length()


def retuned_for(levels: CompiledLevels, batch: int) -> ModuleOp:
    """The `linalg` module of `levels` with its batch-dependent decisions
    (`stage_passes`) taken for `batch`: the `linalg` stage again, from the
    level before it."""
    source = levels["collapsed"] if "collapsed" in levels else levels["expanded"]
    return _run_stage(source, stage_passes("linalg", batch), "linalg", verify=True)

"""
Tracing the user's function with `torch.export`, down to core ATen.

The batch (dimension 0 of every input) is one dynamic `torch.export.Dim`, so
the program works for any batch size. An example batch of 1 would specialize
it (torch treats sizes 0 and 1 as constants), so such examples are repeated to
a batch of 2 for the trace: the rows are independent, the values do not matter.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence

import torch
import torch.fx.proxy
from torch.export import Dim, ExportedProgram
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

from taylor_mlir.errors import DtypeError, ExportError, TaylorMLIRError
from taylor_mlir.frontend.source import traceback_line

SUPPORTED_DTYPES = (torch.float32, torch.float64)
MESSAGE_LINES = 6  # of torch's error message, quoted in ours


class FunctionModule(torch.nn.Module):
    """A plain function of tensors as a module, for `torch.export`."""

    def __init__(self, function: Callable[..., torch.Tensor]):
        super().__init__()
        self.function = function

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.function(*inputs)


def check_example_args(example_args: Sequence[object]) -> torch.dtype:
    """The one float dtype of the example inputs; raises for anything else."""
    if not example_args:
        raise ExportError("the function needs at least one input tensor")
    for i, arg in enumerate(example_args):
        if not isinstance(arg, torch.Tensor):
            raise ExportError(
                f"input {i} is a {type(arg).__name__}; every input must be a tensor"
            )
        if arg.dim() == 0:
            raise ExportError(
                f"input {i} is a scalar tensor; inputs are batches of shape (N, ...)"
            )
    dtypes = [arg.dtype for arg in example_args]
    unsupported = [d for d in dtypes if d not in SUPPORTED_DTYPES]
    if unsupported:
        raise DtypeError(
            f"input dtype {unsupported[0]} is not supported: use float32 or float64"
        )
    if len(set(dtypes)) > 1:
        listed = ", ".join(str(d) for d in dtypes)
        raise DtypeError(f"inputs mix dtypes ({listed}): use one float dtype")
    batches = {arg.shape[0] for arg in example_args}
    if len(batches) > 1:
        raise ExportError(
            f"inputs have different batch sizes {sorted(batches)}: dimension 0 "
            "of every input is the batch"
        )
    if 0 in batches:
        raise ExportError("the example batch is empty")
    return dtypes[0]


def export(
    f: torch.nn.Module | Callable[..., torch.Tensor],
    example_args: Sequence[torch.Tensor],
    dynamic_batch: bool,
) -> ExportedProgram:
    """`torch.export.export(...).run_decompositions()`, failures as ExportError."""
    if isinstance(f, torch.nn.Module):
        module = f
    else:
        module = FunctionModule(f)
        _record_source_lines_of(f)
    args = tuple(example_args)
    dynamic_shapes = None
    if dynamic_batch:
        if args[0].shape[0] == 1:
            args = tuple(torch.cat([arg, arg]).detach() for arg in args)
        batch = Dim("batch")
        per_input = tuple({0: batch} for _ in args)
        dynamic_shapes = per_input if module is f else (per_input,)
    name = getattr(f, "__qualname__", type(f).__name__)
    try:
        with warnings.catch_warnings():
            # torch.export's own use of its deprecated pytree API
            warnings.filterwarnings("ignore", ".*LeafSpec", FutureWarning)
            # captured tensors that require grad are read by reference (captures.py)
            warnings.filterwarnings("ignore", ".*requires gradient. but it's not")
            exported = torch.export.export(module, args, dynamic_shapes=dynamic_shapes)
            return exported.run_decompositions()
    except TaylorMLIRError:
        raise
    except Exception as error:
        raise _export_error(error, name) from error


# What f does that torch 2.13's export refuses, recognized by exception type
# and message: a branch on data, or code that assumes a batch size (torch
# suggests a fix of our `Dim("batch")`, which the user cannot apply).
_DATA_DEPENDENT = (
    "branches on the values of a tensor (an `if`, `while`, `bool()` or `.item()` "
    "on data), which cannot be compiled: one program serves every input. Choose "
    "between values elementwise with torch.where(condition, a, b) instead"
)
_BATCH_DEPENDENT = (
    "depends on the batch size ({}), but the compiled program must work for any "
    "batch: the batch dimension (dimension 0) must stay free. Treat the rows "
    "independently: no fixed number of rows in a reshape (use x.shape[0] or -1 "
    "there), no branch or loop on x.shape[0]"
)
_BATCH_FIXES = (  # torch's suggested fix for the batch Dim, as what f assumes
    (re.compile(r"^\s*batch = (\d+)\s*$", re.M), "it assumes exactly {} rows"),
    (re.compile(r"Dim\('batch', min=(\d+), max=(\d+)\)"), "it assumes {} to {} rows"),
    (re.compile(r"Dim\('batch', min=(\d+)\)"), "it assumes at least {} rows"),
    (re.compile(r"Dim\('batch', max=(\d+)\)"), "it assumes at most {} rows"),
    (re.compile(r"batch = (\d+)\*_batch"), "it assumes a multiple of {} rows"),
)
_RESHAPE_OF_BATCH = re.compile(r"shape '\[.*\]' is invalid for input of size \S*s\d")


def _export_error(error: Exception, name: str) -> ExportError:
    """torch's failure in the project's words when its cause in f is known,
    with the user's line and torch's first line; else torch's message quoted."""
    text = str(error).strip()
    if isinstance(error, GuardOnDataDependentSymNode):
        problem = _DATA_DEPENDENT
    elif (assumption := _batch_assumption(text)) is not None:
        problem = _BATCH_DEPENDENT.format(assumption)
    else:
        lines = text.splitlines()[:MESSAGE_LINES]
        reason = "\n  ".join(lines) or type(error).__name__
        return ExportError(
            f"torch.export could not trace {name}: {type(error).__name__}: {reason}"
        )
    where = traceback_line(error)
    first_line = text.splitlines()[0].split(" For more information")[0]
    return ExportError(
        f"the function {name} {problem}"
        + (f"\n  from your code: {where}" if where else "")
        + f"\n  torch says: {first_line}"
    )


def _batch_assumption(text: str) -> str | None:
    """What f assumes about the batch size, if torch's message says so."""
    if _RESHAPE_OF_BATCH.search(text):
        return "it reshapes to a fixed number of rows"
    if "Constraints violated (batch)" not in text:
        return None
    for pattern, assumption in _BATCH_FIXES:
        if match := pattern.search(text):
            return assumption.format(*match.groups())
    return "it assumes some batch sizes"


def _record_source_lines_of(function: Callable[..., torch.Tensor]) -> None:
    """torch.export keeps only `forward` frames in node stack traces; marking a
    plain function as an anchor keeps its frames too, for error messages.
    (A private torch hook: without it, messages name the wrapper's line.)"""
    register = getattr(torch.fx.proxy, "_register_stack_trace_anchor", None)
    if register is not None:
        register(function)

"""
`compile_function(f, x)`: a PyTorch function compiled as it is (no operator),
through the frontend and one of the backends.

The compiled function takes the batch `x` only; the parameters (the function
arguments after the user input) are passed on every call with their current
values, read from `f` when it is an `nn.Module`, so updated weights need no
recompile.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from taylor_mlir.backends import Executable, build_executable, check_backend
from taylor_mlir.errors import CallError, DtypeError
from taylor_mlir.rebuild import PicklesAsItsBuild, entry_point

LEVELS = ("import", "linalg")


class CompiledFunction(PicklesAsItsBuild):
    """`f` compiled for one backend; `self(x)` returns what `f(x)` returns."""

    def __init__(self, f, program, backend: str, executable: Executable):
        self.f = f
        self.program = program
        self.backend = backend
        self.executable = executable

    def captured_state(self) -> dict[str, object]:
        """For programs that call this one (`frontend/captures.py`)."""
        return {"f": self.f}

    def parameters(self, device: torch.device | None = None) -> list[torch.Tensor]:
        """The current values of the parameter arguments, in order, read by
        reference at every call (`frontend/captures.py`), on `device`."""
        return self.program.state.values(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise CallError(f"the input must be a torch.Tensor, got {type(x).__name__}")
        (result,) = self.executable(x, *self.parameters(x.device))
        return result

    def mlir(self, level: str = "import") -> str:
        """The program's IR: "import" (tensor level, what the torch backend
        runs) or "linalg" (elementwise ops as linalg.generic, what IREE
        compiles)."""
        if level == "import":
            return str(self.program.module)
        if level == "linalg":
            from taylor_mlir.backends.iree_backend import lower_for_iree

            return str(lower_for_iree(self.program.module))
        raise ValueError(f"unknown level {level!r}; choose one of {LEVELS}")


@entry_point
def compile_function(
    f: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    backend: str = "torch",
    dtype: torch.dtype | None = None,
) -> CompiledFunction:
    """Compiles `f` (batch (N, ...) -> (N, ...)) for inputs like `x`, with a
    dynamic batch size. `dtype` (float32/float64) casts the example input;
    an `nn.Module`'s parameters must already be of that dtype."""
    from taylor_mlir.frontend import import_torch

    check_backend(backend)
    if dtype is not None:
        if dtype not in (torch.float32, torch.float64):
            raise DtypeError(
                f"dtype must be torch.float32 or torch.float64, got {dtype}"
            )
        x = x.to(dtype)
    program = import_torch(f, (x,), dynamic_batch=True)
    executable = build_executable(program.module, program.func_name, backend)
    return CompiledFunction(f, program, backend, executable)

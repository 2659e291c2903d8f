"""
Executors of tensor-level IR (docs/design.md, "The pipeline").

`build_executable(module, func_name, backend)` returns a callable taking torch
tensors and returning a tuple of torch tensors:

- "torch": each op becomes one ATen call in an FX GraphModule (`torch_backend`).
- "torch-inductor": the same GraphModule compiled by `torch.compile` (Inductor)
  at the first call: faster calls, a compile of seconds to a minute (off by
  default: benchmarks/README.md).
- "iree-cpu" / "iree-cuda": IREE compiles the program to native code
  (`iree_backend`; imported only when asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from xdsl.dialects.builtin import ModuleOp

from taylor_mlir.errors import BackendError


class Executable(Protocol):
    def __call__(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]: ...


def _torch(module: ModuleOp, func_name: str, **options: Any) -> Executable:
    from taylor_mlir.backends.torch_backend import TorchExecutable

    return TorchExecutable(module, func_name, **options)


def _torch_inductor(module: ModuleOp, func_name: str, **options: Any) -> Executable:
    from taylor_mlir.backends.torch_backend import TorchExecutable

    return TorchExecutable(module, func_name, inductor=True, **options)


def _iree_cpu(module: ModuleOp, func_name: str, **options: Any) -> Executable:
    from taylor_mlir.backends.iree_backend import IREEExecutable

    return IREEExecutable(module, func_name, target="cpu", **options)


def _iree_cuda(module: ModuleOp, func_name: str, **options: Any) -> Executable:
    from taylor_mlir.backends.iree_backend import IREEExecutable

    return IREEExecutable(module, func_name, target="cuda", **options)


BACKENDS: dict[str, Callable[..., Executable]] = {
    "torch": _torch,
    "torch-inductor": _torch_inductor,
    "iree-cpu": _iree_cpu,
    "iree-cuda": _iree_cuda,
}


FUSING_BACKENDS = frozenset({"torch-inductor"})
"""Backends that fuse the elementwise ops between matmuls themselves: their
programs are not direction-tiled (`tile-directions`), which would only lengthen
the compile. Measured on the paper MLP's Laplacian (D = 50, N = 256, float32,
1 thread, loaded machine): Inductor compiles the tiled program in 81 s, the
untiled one in 19 s, and both run in the same time (0.90x jet + torch.compile
with autograd recording)."""


RETUNED_BACKENDS = frozenset({"torch"})
"""Backends whose executables take milliseconds to build: a program of theirs
called at a batch size of another class than its example's runs a program
retuned for that class (`pipeline.retuned_for`). IREE's compile takes seconds,
so its programs keep the example's tuning."""


def check_backend(backend: str) -> str:
    """`backend` if it names one of `BACKENDS`, else BackendError listing them."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise BackendError(
            f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    return backend


def build_executable(
    module: ModuleOp, func_name: str, backend: str = "torch", **options: Any
) -> Executable:
    """The function `func_name` of `module` (tensor-level IR) made runnable."""
    return BACKENDS[check_backend(backend)](module, func_name, **options)

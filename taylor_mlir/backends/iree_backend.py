"""
The IREE backend: tensor-level IR compiled to native code by IREE 3.13.

`IREEExecutable(module, func_name, target="cpu" | "cuda")` takes the
backend-independent tensor-level module, lowers its elementwise ops to
`linalg.generic` itself (`lower_for_iree`, once), prints the module, compiles it
with `iree.compiler` (llvm-cpu for the host CPU, or cuda), and runs it with
`iree.runtime` (driver `local-task` / `cuda`). Calls take and return torch CPU
tensors: inputs are copied into IREE buffers (see `_import`), outputs are mapped
and wrapped with `torch.from_numpy` (no copy on the CPU).

Gradients: the forward pass always runs on IREE. When grad mode is on and an
argument requires grad, the call is a `torch.autograd.Function`; its backward
runs the *same* tensor-level program on the torch backend (`TorchExecutable`,
built on the first backward) and differentiates it with `torch.autograd.grad`,
for the arguments that require grad only. So the vector-Jacobian products are
computed by PyTorch on the CPU, at the cost of recomputing the forward pass
there; inference calls never build or run the torch program. Double backward
is not supported: differentiating such a gradient raises `BackendError`.

Compiled modules are cached in memory and on disk, keyed by the sha256 of the
MLIR text, the flags and the IREE version; the directory is `$TAYLOR_MLIR_CACHE`
or `~/.cache/taylor-mlir`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch
from xdsl.dialects.builtin import Float64Type, ModuleOp, TensorType
from xdsl.rewriter import Rewriter

from taylor_mlir.backends.iree_passes import IREE_PREPARATION
from taylor_mlir.backends.matrix_iree import check_matrix_op
from taylor_mlir.backends.special_functions_iree import COMPOSITIONS
from taylor_mlir.backends.torch_backend import (
    TorchExecutable,
    argument_specs,
    check_call,
)
from taylor_mlir.context import make_context
from taylor_mlir.dialects.taylor import StopGradientOp
from taylor_mlir.errors import BackendError, InvalidIRError
from taylor_mlir.ir.matchers import find_function

TARGETS = ("cpu", "cuda")

# What IREE 3.13 cannot compile, found before invoking the compiler:
# (op name, element type class, reason)
# (float64 erf, which IREE 3.13's llvm-cpu backend lacks, is composed from
# other ops instead: erf_float64.py; so are the `special` ops,
# special_functions_iree.py)
_UNSUPPORTED_ON_CPU: list[tuple[str, type, str]] = []


def _iree():
    try:
        import iree.compiler as compiler
        import iree.runtime as runtime
    except ImportError as error:  # pragma: no cover - depends on the install
        raise BackendError(
            "the IREE backends need iree-base-compiler and iree-base-runtime "
            f"(pip install iree-base-compiler iree-base-runtime): {error}"
        ) from error
    _quiet_at_exit(runtime)
    return compiler, runtime


@cache
def _quiet_at_exit(runtime) -> None:
    """No nanobind "leaked instances" report at interpreter exit: the IREE
    objects still alive then are held by live autograd graphs (a gradient's
    saved context), freed by the exit itself, and the report was about 130
    lines on stderr after any script that trained through an IREE operator."""
    disable = getattr(runtime._binding, "disable_leak_checker", None)
    if disable is not None:
        disable()


# Flags IREE 3.13 adds for float32 on CPU. Data tiling with ukernels makes
# matmuls ~1.5-2x faster, but on some programs (standard Taylor mode of the
# paper's MLP, at its `?x512 @ 512x1` output matmul) codegen then fails with
# "all stack allocations need to be hoisted to the entry block": those are
# compiled again without them.
_FAST_MATMUL_FLAGS = (
    "--iree-opt-data-tiling=true",
    "--iree-llvmcpu-enable-ukernels=all",
)


def compiler_flags(
    target: str, cuda_arch: str = "sm_80", float64: bool = False
) -> list[str]:
    """iree-compile flags for a target ("cpu" or "cuda"), for a program with
    or without float64 (see `compile_with_fallback` for the f32 extras)."""
    keep_f64 = "--iree-input-demote-f64-to-f32=false"
    if target == "cpu":
        flags = [
            "--iree-hal-target-device=local",
            "--iree-hal-local-target-device-backends=llvm-cpu",
            "--iree-llvmcpu-target-cpu=host",
            keep_f64,
            # the system linker links libm: tanh/sin/cos in float64
            "--iree-llvmcpu-link-embedded=false",
        ]
        if not float64:  # f64 matmuls measured no faster with them
            flags += _FAST_MATMUL_FLAGS
        return flags
    if target == "cuda":
        return [
            "--iree-hal-target-device=cuda",
            f"--iree-cuda-target={cuda_arch}",
            keep_f64,
        ]
    raise BackendError(f"unknown IREE target {target!r}; choose one of {TARGETS}")


def lower_for_iree(module: ModuleOp) -> ModuleOp:
    """The module IREE compiles (the input module is left unchanged)."""
    from taylor_mlir.transforms.convert_elementwise_to_linalg import (
        ConvertElementwiseToLinalgPass,
    )

    lowered = module.clone()
    for op in [op for op in lowered.walk() if isinstance(op, StopGradientOp)]:
        Rewriter.replace_op(op, [], [op.input])  # no autograd in IREE: the value
    ctx = make_context()
    for preparation in IREE_PREPARATION:
        preparation().apply(ctx, lowered)
    ConvertElementwiseToLinalgPass().apply(ctx, lowered)
    return lowered


def _uses_float64(module: ModuleOp) -> bool:
    """Whether any op computes in float64 (what the CPU flags depend on)."""
    return any(
        isinstance(_element_type(result.type), Float64Type)
        for op in module.walk()
        for result in op.results
    )


def _element_type(t):
    return t.get_element_type() if isinstance(t, TensorType) else t


def check_supported(module: ModuleOp, target: str) -> None:
    """Raises BackendError for ops IREE is known not to compile for target."""
    for op in module.walk():
        # the `special` ops are composed from math ops
        # (special_functions_iree.py, where a new one needs its composition),
        # the `matrix` ops by Gauss-Jordan elimination (matrix_iree.py) for
        # static sizes up to matrix_iree.MAX_SIZE
        if op.name.startswith("matrix."):
            check_matrix_op(op)
        if op.name.startswith("special.") and type(op) not in COMPOSITIONS:
            raise BackendError(
                f"cannot compile {op.name} with IREE: MLIR has no such op "
                "(use backend='torch')"
            )
    if target != "cpu":
        return
    for op in module.walk():
        for name, element_class, reason in _UNSUPPORTED_ON_CPU:
            if op.name == name and isinstance(
                _element_type(op.results[0].type), element_class
            ):
                raise BackendError(
                    f"cannot compile {name} on {op.results[0].type}: {reason}"
                )


def prepare(
    module: ModuleOp, target: str = "cpu", cuda_arch: str = "sm_80"
) -> tuple[ModuleOp, list[str]]:
    """The lowered module and the flags IREE compiles it with for target;
    BackendError for what IREE is known not to compile."""
    flags = compiler_flags(target, cuda_arch, _uses_float64(module))
    check_supported(module, target)
    return lower_for_iree(module), flags


def iree_artifact(
    module: ModuleOp, target: str = "cpu", cuda_arch: str = "sm_80"
) -> bytes:
    """The compiled IREE module (vmfb bytes) of `module`, exactly as
    `IREEExecutable` builds it (so from the cache when one was built)."""
    lowered, flags = prepare(module, target, cuda_arch)
    return compile_with_fallback(str(lowered), flags)[0]


# ------------------------------------------------------------------ caching


def cache_dir() -> Path:
    return Path(
        os.environ.get("TAYLOR_MLIR_CACHE") or Path.home() / ".cache" / "taylor-mlir"
    )


_MEMORY_CACHE: dict[str, bytes] = {}


def _cache_key(mlir: str, flags: list[str]) -> str:
    from iree.compiler import version

    digest = hashlib.sha256()
    for part in [mlir, *flags, getattr(version, "VERSION", "")]:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def compile_mlir(mlir: str, flags: list[str]) -> bytes:
    """The IREE VM flatbuffer of `mlir` (from the memory or disk cache if there)."""
    key = _cache_key(mlir, flags)
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    path = cache_dir() / f"{key}.vmfb"
    if path.is_file():
        artifact = path.read_bytes()
    else:
        compiler, _ = _iree()
        try:
            artifact = compiler.compile_str(mlir, extra_args=flags)
        except compiler.CompilerToolError as error:
            raise BackendError(
                "IREE failed to compile the program:\n" + _diagnostics(str(error))
            ) from error
        _write_atomically(path, artifact)
    _MEMORY_CACHE[key] = artifact
    return artifact


# A dispatch that reads many tensors (a high-order jet of several `special`
# ops: tests/test_special_iree.py) can need more than the 64 push constants
# IREE's runtime allows, each binding's offset taking two with 64-bit resource
# indices; such programs are compiled again with 32-bit ones, which halves that
# count (and limits each buffer to 4 GiB), when loading the first build fails.
_FEW_CONSTANTS_FLAGS = ("--iree-stream-resource-index-bits=32",)


def _too_many_constants(error: Exception) -> bool:
    return "constants exceeds limit" in str(error)


def compile_with_fallback(mlir: str, flags: list[str]) -> tuple[bytes, list[str]]:
    """`compile_mlir`, retried without `_FAST_MATMUL_FLAGS` when they break the
    compilation; returns the artifact and the flags that built it."""
    try:
        return compile_mlir(mlir, flags), flags
    except BackendError:
        plain = [f for f in flags if f not in _FAST_MATMUL_FLAGS]
        if plain == flags:
            raise
        return compile_mlir(mlir, plain), plain


def _diagnostics(message: str) -> str:
    """The compiler's diagnostics, without the command line it echoes."""
    head = message.split("Invoked with:")[0]
    return head.replace("Error invoking IREE compiler tool iree-compile\n", "").strip()


def _write_atomically(path: Path, data: bytes) -> None:
    """Best effort: an unwritable cache only costs a recompile."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError:
        pass


# ------------------------------------------------------------------ running


@cache
def _runtime_config(driver: str):
    """One IREE instance and device per driver, shared by every executable."""
    _, runtime = _iree()
    try:
        return runtime.Config(driver)
    except (RuntimeError, ValueError) as error:
        raise BackendError(f"IREE driver {driver!r} is not usable: {error}") from error


def cuda_available() -> bool:
    _, runtime = _iree()
    try:
        return bool(runtime.get_driver("cuda").query_available_devices())
    except (RuntimeError, ValueError):
        return False


class IREEExecutable:
    """A function of tensor-level IR compiled by IREE; torch tensors in and out."""

    def __init__(
        self,
        module: ModuleOp,
        func_name: str,
        target: str = "cpu",
        cuda_arch: str = "sm_80",
    ):
        self.func_name = func_name
        self.target = target
        self.module = module  # the tensor-level program backward differentiates
        self._torch_program: TorchExecutable | None = None  # built on demand
        function = find_function(module, func_name)
        self.specs = argument_specs(function)
        self.result_count = len(function.function_type.outputs)
        lowered, self.flags = prepare(module, target, cuda_arch)
        self.mlir = str(lowered)
        self.artifact, self.flags = compile_with_fallback(self.mlir, self.flags)
        self._function = None  # loaded on the first call (cuda needs a device)

    def _load(self):
        _, runtime = _iree()
        if self.target == "cuda" and not cuda_available():
            raise BackendError(
                "target 'cuda' compiled, but running it needs a CUDA device; none found"
            )
        config = _runtime_config("local-task" if self.target == "cpu" else "cuda")
        context = runtime.SystemContext(config=config)
        vm_module = runtime.VmModule.copy_buffer(config.vm_instance, self.artifact)
        try:
            context.add_vm_module(vm_module)
        except (IndexError, RuntimeError) as error:
            if not _too_many_constants(error) or _FEW_CONSTANTS_FLAGS[0] in self.flags:
                raise
            self.flags = [*self.flags, *_FEW_CONSTANTS_FLAGS]
            self.artifact = compile_mlir(self.mlir, self.flags)
            return self._load()
        function = vm_module.lookup_function(self.func_name)
        if function is None:
            raise InvalidIRError(f"@{self.func_name} is not a public function")
        self._config, self._context, self._function = config, context, function

    def __call__(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The results; differentiable when grad mode is on and an argument
        requires grad (see the module docstring)."""
        if torch._C._are_functorch_transforms_active():
            raise BackendError(
                f"torch.func transforms (vmap, grad, jvp, ...) cannot see into an "
                f"iree-{self.target} program: compile with backend='torch' (the same "
                "program, with their rules); for vmap over stacked point sets, call "
                "the operator on the rows stacked (x.reshape(-1, *x.shape[2:])), "
                "as rows are independent"
            )
        check_call(f"@{self.func_name}", self.specs, args, torch.device("cpu"))
        if torch.is_grad_enabled() and any(a.requires_grad for a in args):
            return _Differentiable.apply(self, *args)
        return self.run(*args)

    def run(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The IREE call on checked arguments, outside autograd."""
        if self._function is None:
            self._load()
        _, runtime = _iree()
        device = self._config.device
        arrays = [_host_array(a) for a in args]
        arguments = runtime.VmVariantList(len(arrays))
        for array in arrays:
            arguments.push_ref(self._import(runtime, array).ref)
        results = runtime.VmVariantList(self.result_count)
        try:
            self._context.vm_context.invoke(self._function, arguments, results)
        except RuntimeError as error:
            raise BackendError(
                f"IREE failed to run @{self.func_name}: {error}"
            ) from error
        outputs = []
        for i in range(len(results)):
            view = results.get_as_object(i, runtime.HalBufferView)
            host = runtime.DeviceArray(device, view).to_host()
            outputs.append(torch.from_numpy(host))  # IREE's buffer, not an input's
        return tuple(outputs)

    def vjp(
        self,
        args: tuple[torch.Tensor, ...],
        wanted: tuple[bool, ...],
        grad_outputs: tuple[torch.Tensor | None, ...],
    ) -> list[torch.Tensor | None]:
        """The gradient of `sum_i <grad_outputs[i], result_i>` w.r.t. each
        argument flagged in `wanted` (None for the others), by autograd
        through the same program on the torch backend."""
        if self._torch_program is None:
            self._torch_program = TorchExecutable(self.module, self.func_name)
        with torch.enable_grad():
            inputs = [
                a.detach().requires_grad_(w) for a, w in zip(args, wanted, strict=True)
            ]
            outputs = self._torch_program(*inputs)
        # None: the loss does not use that result; no grad: it is constant
        pairs = [
            (out, grad)
            for out, grad in zip(outputs, grad_outputs, strict=True)
            if grad is not None and out.requires_grad
        ]
        targets = [i for i, w in zip(inputs, wanted, strict=True) if w]
        if not pairs:
            return [None] * len(args)
        grads = iter(
            torch.autograd.grad(
                [out for out, _ in pairs],
                targets,
                [grad for _, grad in pairs],
                allow_unused=True,
            )
        )
        return [next(grads) if w else None for w in wanted]

    def _import(self, runtime, array: np.ndarray):
        """A buffer view holding a copy of a host array. Never the host memory
        itself: importing arguments IREE only reads without a copy
        (`import_host_allocation`) made a nested biharmonic's program crash
        the process inside `invoke` (3 of 3 runs; 0 of 3 with copies), and a
        copy costs a few ms against calls of seconds."""
        allocator = self._config.device.allocator
        element_type = runtime.array_interop.map_dtype_to_element_type(array.dtype)
        return allocator.allocate_buffer_copy(
            memory_type=runtime.MemoryType.DEVICE_LOCAL,
            allowed_usage=runtime.BufferUsage.DEFAULT,
            device=self._config.device,
            buffer=array,
            element_type=element_type,
        )


class _Differentiable(torch.autograd.Function):
    """An IREE call inside autograd: forward on IREE, backward `vjp`."""

    @staticmethod
    def forward(ctx, executable: IREEExecutable, *args: torch.Tensor):
        ctx.executable = executable
        ctx.save_for_backward(*args)
        ctx.set_materialize_grads(False)  # unused results cost nothing
        outputs = executable.run(*args)
        ctx.mark_non_differentiable(*(o for o in outputs if not o.is_floating_point()))
        return outputs

    @staticmethod
    def backward(ctx, *grad_outputs: torch.Tensor | None):
        executable = ctx.executable
        grads = executable.vjp(
            ctx.saved_tensors, ctx.needs_input_grad[1:], grad_outputs
        )
        if torch.is_grad_enabled():  # create_graph=True: a graph of the gradient
            backend = f"iree-{executable.target}"
            grads = _first_order_only(grads, backend, ctx.saved_tensors)
        return (None, *grads)


def _first_order_only(
    grads: list[torch.Tensor | None],
    backend: str,
    inputs: Sequence[torch.Tensor],
) -> list[torch.Tensor | None]:
    """The gradients, as results of a node that raises BackendError when
    differentiated, whose inputs are the call's inputs that require grad:
    without it they would be constants of the outer graph, and a derivative
    of them (a gradient penalty's, in the parameters) silently zero or, with
    `allow_unused=True`, None."""
    present = [g.detach() for g in grads if g is not None]
    sources = [t for t in inputs if t.requires_grad]
    if not present or not sources:
        return grads
    attached = iter(_NoDoubleBackward.apply(backend, len(present), *present, *sources))
    return [None if g is None else next(attached) for g in grads]


class _NoDoubleBackward(torch.autograd.Function):
    """The first `count` tensors, differentiable in the rest, whose derivative
    is refused."""

    @staticmethod
    def forward(ctx, backend: str, count: int, *tensors: torch.Tensor):
        ctx.backend = backend
        return tuple(t.clone() for t in tensors[:count])

    @staticmethod
    def backward(ctx, *_):
        raise BackendError(
            f"double backward (a derivative of a gradient) through backend "
            f"{ctx.backend!r} is not supported: its gradients are computed once, "
            "by the torch backend; compile with backend='torch' for higher "
            "derivatives"
        )


def _host_array(tensor: torch.Tensor) -> np.ndarray:
    """A contiguous numpy view of a CPU tensor (a copy only if it is strided)."""
    return tensor.detach().contiguous().numpy()

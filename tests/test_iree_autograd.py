"""
Gradients through the IREE backend: a loss of an operator (or function)
compiled for `iree-cpu` differentiates w.r.t. the module's parameters and the
input like the torch backend and like an independent torch.func reference
(`torch.func.grad` of a loss of the nested-autograd operator of
tests/reference.py). Inference calls never build the torch program that
computes the gradients, and double backward is a clear error.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest
import reference as ref
import torch
from torch.func import functional_call

import taylor_mlir as tm
from taylor_mlir.backends import iree_backend
from taylor_mlir.compile_function import compile_function
from taylor_mlir.errors import BackendError
from taylor_mlir.models import mlp

HAS_IREE = importlib.util.find_spec("iree.compiler") is not None
pytestmark = pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")

RTOL = {torch.float64: 1e-10, torch.float32: 1e-4}

# name -> (compile it for a backend, its reference value of f at x, input size)
PROGRAMS = {
    "laplacian": (
        lambda f, x, backend: tm.laplacian(f, x, backend=backend),
        ref.laplacian,
        3,
    ),
    "biharmonic": (
        lambda f, x, backend: tm.biharmonic(f, x, backend=backend),
        ref.biharmonic,
        2,
    ),
    "function": (
        lambda f, x, backend: compile_function(f, x, backend),
        lambda f, x: f(x),
        3,
    ),
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(
        "TAYLOR_MLIR_CACHE", str(tmp_path_factory.getbasetemp() / "iree")
    )


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, rtol: float):
    """`max |actual - expected| <= rtol * max |expected|`."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = expected.abs().max().item()
    error = (actual.detach() - expected.detach()).abs().max().item()
    assert error <= rtol * scale, f"max error {error:.3g} vs scale {scale:.3g}"


def data(D: int, dtype: torch.dtype, n: int = 6):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, D, generator=g, dtype=dtype)
    target = torch.randn(n, 1, generator=g, dtype=dtype)
    return x, target


def pde_loss(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (value - target).pow(2).mean()


def reference_gradients(f, reference, x, target):
    """d loss / d (parameters..., x) by torch.func alone (no taylor-mlir)."""
    params = {k: v.detach() for k, v in f.named_parameters()}

    def loss(params, x):
        value = reference(lambda y: functional_call(f, params, (y,)), x)
        return pde_loss(value, target)

    grads, grad_x = torch.func.grad(loss, argnums=(0, 1))(params, x)
    return [*grads.values(), grad_x]


def our_gradients(compiled, f, x, target):
    x = x.clone().requires_grad_()
    loss = pde_loss(compiled(x), target)
    # an argument a program does not use (an operator's output bias) gets
    # zeros, as from torch.func
    return list(torch.autograd.grad(loss, [*f.parameters(), x], materialize_grads=True))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_gradients_match_torch_backend_and_torch_func(name, dtype):
    build, reference, D = PROGRAMS[name]
    f = mlp([D, 6, 6, 1], "tanh", dtype, seed=3)
    x, target = data(D, dtype)
    on_iree = our_gradients(build(f, x, "iree-cpu"), f, x, target)
    on_torch = our_gradients(build(f, x, "torch"), f, x, target)
    expected = reference_gradients(f, reference, x, target)
    assert len(on_iree) == len(expected) == 2 * 3 + 1  # 3 layers' (W, b), x
    for got, torch_backend, want in zip(on_iree, on_torch, expected, strict=True):
        assert_relative(got, torch_backend, RTOL[dtype])
        assert_relative(got, want, RTOL[dtype])


def test_combined_loss_gets_the_full_gradient():
    """`loss = PDE term (IREE) + data term (eager)`: `backward()` accumulates
    both terms' gradients into the parameters and the input."""
    f = mlp([3, 6, 6, 1], "tanh", torch.float64, seed=3)
    x, target = data(3, torch.float64)
    lap = tm.laplacian(f, x, backend="iree-cpu")
    xg = x.clone().requires_grad_()
    loss = pde_loss(lap(xg), target) + pde_loss(f(xg), target)
    loss.backward()
    got = [p.grad for p in f.parameters()] + [xg.grad]

    params = {k: v.detach() for k, v in f.named_parameters()}

    def reference_loss(params, x):
        g = lambda y: functional_call(f, params, (y,))  # noqa: E731
        return pde_loss(ref.laplacian(g, x), target) + pde_loss(g(x), target)

    grads, grad_x = torch.func.grad(reference_loss, argnums=(0, 1))(params, x)
    for actual, expected in zip(got, [*grads.values(), grad_x], strict=True):
        assert_relative(actual, expected, 1e-10)
    # the PDE term contributes: the data term alone is a different gradient
    data_only = torch.autograd.grad(pde_loss(f(x), target), list(f.parameters()))
    assert not torch.allclose(got[0], data_only[0])


def test_only_arguments_that_require_grad_get_gradients(monkeypatch):
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, target = data(3, torch.float64)
    lap = tm.laplacian(f, x, backend="iree-cpu")
    frozen = f[0].weight.requires_grad_(False)
    asked = []
    vjp = iree_backend.IREEExecutable.vjp

    def spy(self, args, wanted, grad_outputs):
        asked.append(wanted)
        return vjp(self, args, wanted, grad_outputs)

    monkeypatch.setattr(iree_backend.IREEExecutable, "vjp", spy)
    pde_loss(lap(x), target).backward()
    # the arguments: x, W1, b1, W2, b2
    assert asked == [(False, False, True, True, True)]
    assert frozen.grad is None and x.grad is None
    params = {k: v.detach() for k, v in f.named_parameters()}

    def reference_loss(params):
        g = lambda y: functional_call(f, params, (y,))  # noqa: E731
        return pde_loss(ref.laplacian(g, x), target)

    expected = torch.func.grad(reference_loss)(params)
    for key in ("0.bias", "2.weight"):  # (2.bias does not enter a Laplacian)
        assert_relative(f.get_parameter(key).grad, expected[key], 1e-10)


def test_inference_builds_no_torch_program(monkeypatch):
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, _ = data(3, torch.float64)
    lap = tm.laplacian(f, x, backend="iree-cpu")

    def no_torch_program(*args, **kwargs):
        raise AssertionError("an inference call built the torch program")

    monkeypatch.setattr(iree_backend, "TorchExecutable", no_torch_program)
    expected = ref.laplacian(f, x).detach()
    with torch.no_grad():
        value = lap(x)
    assert value.grad_fn is None
    assert_relative(value, expected, 1e-10)
    f.requires_grad_(False)
    assert lap(x).grad_fn is None  # grad mode on, but nothing requires grad
    assert lap._executable._torch_program is None


def test_torch_program_is_built_on_the_first_backward_only(monkeypatch):
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, target = data(3, torch.float64)
    lap = tm.laplacian(f, x, backend="iree-cpu")
    TorchExecutable = iree_backend.TorchExecutable
    built = []

    def counting(*args, **kwargs):
        built.append(args)
        return TorchExecutable(*args, **kwargs)

    monkeypatch.setattr(iree_backend, "TorchExecutable", counting)
    value = lap(x)
    assert value.grad_fn is not None and built == []  # forward: IREE only
    for _ in range(2):
        pde_loss(lap(x), target).backward()
    assert len(built) == 1


def test_unused_results_are_not_differentiated():
    """A jet's loss of one coefficient only: the others get no gradient
    (they are None to the backward) and the result matches the torch backend."""
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, _ = data(3, torch.float64)
    v = torch.randn_like(x)
    grads = {}
    for backend in ("iree-cpu", "torch"):
        jet = tm.jet(f, x, order=2, backend=backend)
        _, (_, f2) = jet(x, [v])
        grads[backend] = torch.autograd.grad(
            f2.square().sum(), list(f.parameters()), materialize_grads=True
        )
    for got, expected in zip(grads["iree-cpu"], grads["torch"], strict=True):
        assert_relative(got, expected, 1e-10)


def test_double_backward_is_a_clear_error():
    """Without the error, the IREE term's gradient would be a constant of the
    second differentiation: its contribution silently missing."""
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, _ = data(3, torch.float64)
    lap = tm.laplacian(f, x, backend="iree-cpu")
    x = x.clone().requires_grad_()
    (grad_x,) = torch.autograd.grad(lap(x).sum() + x.pow(3).sum(), x, create_graph=True)
    with pytest.raises(BackendError, match=r"double backward.*'iree-cpu'.*'torch'"):
        grad_x.sum().backward()


@pytest.mark.parametrize("allow_unused", [False, True])
def test_gradient_penalty_in_the_parameters_is_a_clear_error(allow_unused):
    """A derivative of the input gradient in the parameters (a gradient
    penalty) reaches the IREE term through the parameters, not through x: the
    gradient's node takes every input that requires grad, else
    `autograd.grad(..., allow_unused=True)` returned None for all of them."""
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, _ = data(3, torch.float64)
    lap = tm.laplacian(f, x, backend="iree-cpu")
    x = x.clone().requires_grad_()
    (grad_x,) = torch.autograd.grad(lap(x).sum(), x, create_graph=True)
    with pytest.raises(BackendError, match=r"double backward.*'iree-cpu'"):
        torch.autograd.grad(
            grad_x.square().sum(), list(f.parameters()), allow_unused=allow_unused
        )


def test_the_pipeline_is_backend_independent():
    """`mlir("linalg")` is the same tensor-level IR on every backend; the IREE
    backend lowers elementwise ops to linalg.generic itself."""
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, _ = data(3, torch.float64)
    on_iree = tm.laplacian(f, x, backend="iree-cpu")
    on_torch = tm.laplacian(f, x, backend="torch")
    assert on_iree.mlir("linalg") == on_torch.mlir("linalg")
    assert "linalg.generic" not in on_iree.mlir("linalg")
    on_tensors = re.compile(r"math\.tanh %\w+ : tensor<")
    assert on_tensors.search(on_iree.mlir("linalg"))
    lowered = on_iree._executable.mlir
    assert "linalg.generic" in lowered and not on_tensors.search(lowered)


def test_no_leak_report_at_exit(tmp_path):
    """A script that ends with an IREE operator's autograd graph alive printed
    nanobind's "leaked instances" report (about 130 lines) at exit."""
    script = tmp_path / "train.py"
    script.write_text(
        "import torch, taylor_mlir as tm\n"
        "net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(),\n"
        "                          torch.nn.Linear(5, 1)).double()\n"
        "x = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)\n"
        "lap = tm.laplacian(net, x, backend='iree-cpu')(x)\n"
        "lap.sum().backward(retain_graph=True)\n"
        "print('done')\n"
    )
    env = {"TAYLOR_MLIR_CACHE": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "done"
    assert "leaked" not in run.stderr


@pytest.mark.parametrize("transform", ["vmap", "grad", "jvp"])
def test_torch_func_transforms_are_a_clear_error(transform):
    """The IREE call is opaque to torch.func: a BackendError saying what to do,
    not torch's 'must override the setup_context staticmethod'."""
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x, _ = data(3, torch.float64)
    lap = tm.laplacian(f, x, backend="iree-cpu")
    calls = {
        "vmap": lambda: torch.func.vmap(lap)(x[None].expand(2, -1, -1)),
        "grad": lambda: torch.func.grad(lambda y: lap(y).sum())(x),
        "jvp": lambda: torch.func.jvp(lap, (x,), (torch.ones_like(x),)),
    }
    with pytest.raises(BackendError, match=r"torch.func transforms.*backend='torch'"):
        calls[transform]()

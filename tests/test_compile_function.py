"""`compile_function` end to end (frontend + backend) against eager PyTorch."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from taylor_mlir.compile_function import compile_function
from taylor_mlir.errors import BackendError, CallError, DtypeError
from taylor_mlir.models import mlp

HAS_IREE = importlib.util.find_spec("iree.compiler") is not None
BACKENDS = [
    "torch",
    pytest.param(
        "iree-cpu",
        marks=pytest.mark.skipif(not HAS_IREE, reason="iree is not installed"),
    ),
]
DTYPES = [torch.float32, torch.float64]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(
        "TAYLOR_MLIR_CACHE", str(tmp_path_factory.getbasetemp() / "iree")
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "sin"])
def test_mlp_matches_eager(backend, dtype, activation):
    model = mlp([3, 8, 8, 1], activation, dtype=dtype)
    compiled = compile_function(model, torch.randn(5, 3, dtype=dtype), backend)
    for n in (1, 7, 64):
        x = torch.randn(n, 3, dtype=dtype)
        y = compiled(x)
        with torch.no_grad():
            expected = model(x)
        assert y.shape == expected.shape and y.dtype == dtype
        torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_updated_weights_need_no_recompile(backend):
    model = mlp([3, 6, 1], "tanh", dtype=torch.float64)
    compiled = compile_function(model, torch.randn(4, 3, dtype=torch.float64), backend)
    executable = compiled.executable
    x = torch.randn(9, 3, dtype=torch.float64)
    before = compiled(x)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-1.5).add_(0.25)
    after = compiled(x)
    assert compiled.executable is executable
    with torch.no_grad():
        torch.testing.assert_close(after, model(x))
    assert not torch.allclose(before, after)
    # replaced (not updated in place) parameters are read too
    model.load_state_dict(
        {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    )
    torch.testing.assert_close(compiled(x), torch.zeros(9, 1, dtype=torch.float64))


def test_gradients_reach_the_module_parameters():
    model = mlp([3, 6, 1], "sigmoid", dtype=torch.float64)
    compiled = compile_function(model, torch.randn(4, 3, dtype=torch.float64))
    x = torch.randn(7, 3, dtype=torch.float64)
    compiled(x).square().sum().backward()
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x).square().sum().backward()
    for g, p in zip(got, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plain_function_with_constants(backend):
    weight = torch.randn(3, 2, dtype=torch.float64)

    def f(x):
        return torch.sin(x @ weight) * 0.5 + torch.tanh(x).sum(1, keepdim=True)

    compiled = compile_function(f, torch.randn(4, 3, dtype=torch.float64), backend)
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(compiled(x), f(x))


def test_dtype_casts_the_example():
    model = mlp([3, 4, 1], "tanh", dtype=torch.float32)
    compiled = compile_function(
        model, torch.randn(4, 3, dtype=torch.float64), dtype=torch.float32
    )
    x = torch.randn(5, 3)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    with pytest.raises(CallError, match="must be torch.float32, got torch.float64"):
        compiled(x.double())
    with pytest.raises(DtypeError, match="torch.float16"):
        compile_function(model, x, dtype=torch.float16)


def test_mlir_levels():
    model = mlp([3, 4, 1], "tanh", dtype=torch.float64)
    compiled = compile_function(model, torch.randn(4, 3, dtype=torch.float64))
    imported = compiled.mlir("import")
    lowered = compiled.mlir("linalg")
    assert "math.tanh %" in imported and "tensor<?x3xf64>" in imported
    assert "linalg.generic" in lowered and "math.tanh %" in lowered
    assert "math.tanh" not in lowered.replace(": f64", "").split("linalg.generic")[0]
    with pytest.raises(ValueError, match="unknown level 'taylor'"):
        compiled.mlir("taylor")


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'gpu'"):
        compile_function(torch.tanh, torch.randn(2, 3), "gpu")

"""`compile_function` end to end (frontend + backend) against eager PyTorch."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from taylor_mlir.compile_function import compile_function
from taylor_mlir.errors import BackendError, CallError, DtypeError
from taylor_mlir.models import ProductsFunction, ResidualMLP, mlp, paper_mlp

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


# the model families; the paper's net at a reduced input size keeps
# the float64 IREE compile short (its widths 768-768-512-512 are kept)
MODELS = {
    "tanh": lambda dtype: mlp([3, 8, 8, 1], "tanh", dtype=dtype),
    "sigmoid": lambda dtype: mlp([3, 8, 8, 1], "sigmoid", dtype=dtype),
    "sin": lambda dtype: mlp([3, 8, 8, 1], "sin", dtype=dtype),
    "paper": lambda dtype: paper_mlp(3, dtype=dtype),
    "residual": lambda dtype: ResidualMLP(3, 6, 2, "tanh", dtype, seed=4),
    "products": lambda dtype: ProductsFunction(3, dtype, seed=5),
}
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, rtol: float):
    """`max |actual - expected| <= rtol * max |expected|`."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = expected.abs().max().item()
    error = (actual.detach() - expected).abs().max().item()
    assert error <= rtol * scale, f"max error {error:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("model", MODELS)
def test_model_matches_eager(backend, dtype, model):
    """One compilation, batch sizes 1, 7 and 256."""
    f = MODELS[model](dtype)
    compiled = compile_function(f, torch.randn(5, 3, dtype=dtype), backend)
    for n in (1, 7, 256):
        x = torch.randn(n, 3, dtype=dtype)
        with torch.no_grad():
            expected = f(x)
        assert_relative(compiled(x), expected, RTOL[dtype])


@pytest.mark.parametrize("model", MODELS)
def test_parameter_gradients_match_eager(model):
    """Gradients of the torch backend's output w.r.t. the parameters."""
    f = MODELS[model](torch.float64)
    compiled = compile_function(f, torch.randn(4, 3, dtype=torch.float64))
    x = torch.randn(7, 3, dtype=torch.float64)
    compiled(x).square().sum().backward()
    got = [p.grad.clone() for p in f.parameters()]
    f.zero_grad()
    f(x).square().sum().backward()
    for g, p in zip(got, f.parameters(), strict=True):
        assert_relative(g, p.grad, 1e-12)


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

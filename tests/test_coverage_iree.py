"""
float64 erf (and so exact GELU) on iree-cpu (issue 11 item 8): IREE 3.13 has
no float64 `math.erf` on CPU, so `lower_for_iree` composes it from other ops
(taylor_mlir/backends/erf_float64.py). Its values are within 2 ulp of the
correctly rounded erf (mpmath at 30 digits) over the whole range, and GELU
models' Laplacians and 4th-order jets match torch.func at 1e-10.
"""

from __future__ import annotations

import importlib.util
import math

import mpmath
import pytest
import torch
from reference import laplacian, taylor_path_derivatives
from torch import nn

import taylor_mlir as tm
from taylor_mlir.backends.iree_backend import lower_for_iree

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("iree.compiler") is None, reason="iree is not installed"
)
TOL = 1e-10


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))


def _ulps(got: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    spacing = torch.nextafter(exact.abs(), torch.tensor(math.inf, dtype=exact.dtype))
    return (got - exact).abs() / (spacing - exact.abs())


def test_float64_erf_is_within_two_ulps():
    """On a fine grid of [-7, 7], random points and magnitudes from 1e-300
    (IREE flushes subnormals, so none below 2.3e-308) to 8, both signs."""
    g = torch.Generator().manual_seed(3)
    magnitudes = torch.logspace(-300, 0.9, 3000, dtype=torch.float64)
    x = torch.cat(
        [
            torch.linspace(-7, 7, 14001, dtype=torch.float64),
            2 * torch.randn(6000, generator=g, dtype=torch.float64),
            magnitudes,
            -magnitudes,
            torch.tensor([0.5, 1.5, 3.0, 6.0, -6.0], dtype=torch.float64),
        ]
    )[:, None]
    got = tm.compile_function(torch.erf, x, backend="iree-cpu")(x).flatten()
    with mpmath.workdps(30):
        exact = torch.tensor(
            [float(mpmath.erf(v)) for v in x.flatten().tolist()], dtype=torch.float64
        )
    ulps = _ulps(got, exact)
    assert ulps.max() <= 2, (ulps.max(), x.flatten()[ulps.argmax()])
    assert ulps.mean() < 0.2


def test_float64_erf_special_values():
    x = torch.tensor(
        [[0.0], [-0.0], [math.inf], [-math.inf], [math.nan], [6.0], [-5.9999]],
        dtype=torch.float64,
    )
    got = tm.compile_function(torch.erf, x, backend="iree-cpu")(x)
    torch.testing.assert_close(got, torch.erf(x), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.signbit(got), torch.signbit(torch.erf(x)))


def test_no_float64_erf_reaches_iree():
    net = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 1)).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    program = tm.compile_function(net, x).program
    assert "math.erf" in str(program.module)
    assert "math.erf" not in str(lower_for_iree(program.module))


def _gelu_mlp() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 1)
    ).double()


def test_gelu_laplacian_on_iree():
    net = _gelu_mlp()
    x = 2 * torch.randn(6, 3, dtype=torch.float64)
    got = tm.laplacian(net, x, backend="iree-cpu")(x)
    torch.testing.assert_close(got, laplacian(net, x), rtol=TOL, atol=TOL)


def test_gelu_jet_of_order_4_on_iree():
    net = _gelu_mlp()
    x, v = (
        torch.randn(5, 3, dtype=torch.float64),
        torch.randn(5, 3, dtype=torch.float64),
    )
    f0, rest = tm.jet(net, x, 4, backend="iree-cpu")(x, [v])
    expected = taylor_path_derivatives(net, [x, v], 4)
    for got, want in zip([f0, *rest], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=TOL, atol=TOL)

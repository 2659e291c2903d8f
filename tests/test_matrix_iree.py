"""
The `matrix` ops on iree-cpu (backends/matrix_iree.py: Gauss-Jordan
elimination with partial pivoting, unrolled over the matrix size): values of
det, slogdet, inv and solve against torch.linalg in float64, matrices that
need pivoting and singular ones included, and the Laplacian of a
FermiNet-like log |det| against the torch backend's (itself checked against
nested autograd in tests/test_linalg.py).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from test_linalg import FermiNetLike
from torch import nn

import taylor_mlir as tm
from taylor_mlir.errors import BackendError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("iree.compiler") is None, reason="iree is not installed"
)

TOL = 1e-10


def _program(n: int):
    def f(x):
        m = x.reshape(-1, n, n)
        rhs = torch.sin(x[:, :n])
        sign, logabsdet = torch.linalg.slogdet(m)
        return torch.cat(
            [
                torch.linalg.det(m)[:, None],
                sign[:, None],
                logabsdet[:, None],
                torch.linalg.inv(m).reshape(-1, n * n),
                torch.linalg.solve(m, rhs),
            ],
            1,
        )

    return f


def _pivoting(n: int) -> list[torch.Tensor]:
    """Matrices unpivoted elimination fails on or is unstable for."""
    zero_corner = torch.eye(n, dtype=torch.float64) + 0.3
    zero_corner[0, 0] = 0.0
    flip = torch.eye(n, dtype=torch.float64).flip(0)  # det (-1)^(n(n-1)/2)
    later = torch.ones(n, n, dtype=torch.float64).triu(-1).tril(1)
    later = later + torch.diag(torch.tensor([0.0, 0.0] + [1.0] * (n - 2)))
    later = later.to(torch.float64)  # rows 0, 1 start alike: a zero pivot at step 1
    tiny = torch.eye(n, dtype=torch.float64).roll(1, 0)
    tiny = tiny + 1e-12 * torch.eye(n, dtype=torch.float64)
    return [zero_corner, flip, later, tiny]


@pytest.mark.parametrize("n", [3, 5])
def test_values_against_torch_linalg(n: int):
    g = torch.Generator().manual_seed(n)
    random = torch.randn(6, n, n, dtype=torch.float64, generator=g)
    random = random + 2 * torch.eye(n, dtype=torch.float64)
    m = torch.cat([random, torch.stack(_pivoting(n))])
    assert torch.linalg.cond(m[:-1]).max() < 1e3
    assert (torch.linalg.det(m) < 0).any() and (torch.linalg.det(m) > 0).any()
    x = m.reshape(-1, n * n)
    f = _program(n)
    got = tm.compile_function(f, x, backend="iree-cpu")(x)
    want = f(x)
    scale = want.abs().amax(1, keepdim=True).clamp(min=1.0)
    assert ((got - want).abs() / scale).max() < TOL


def test_singular_matrices():
    """No CallError from inside IREE: inv is not finite, det 0, logabsdet
    -inf (torch: the same for det and slogdet)."""

    def f(x):
        m = x.reshape(-1, 3, 3)
        return torch.cat(
            [
                torch.linalg.det(m)[:, None],
                torch.linalg.slogdet(m)[1][:, None],
                torch.linalg.inv(m).reshape(-1, 9),
            ],
            1,
        )

    regular = torch.eye(3, dtype=torch.float64) + 0.25
    rank_two = torch.tensor([[1.0, 2, 3], [2, 4, 6], [1, 0, 1]], dtype=torch.float64)
    zero = torch.zeros(3, 3, dtype=torch.float64)
    x = torch.stack([regular, rank_two, zero]).reshape(-1, 9)
    got = tm.compile_function(f, x, backend="iree-cpu")(x)
    assert (got[0] - f(x[:1])[0]).abs().max() < TOL
    assert got[2, 0] == 0.0 and got[2, 1] == -torch.inf
    assert not torch.isfinite(got[2, 2:]).all()
    assert got[1, 0].abs() < 1e-12 and got[1, 1] < -25
    assert torch.linalg.det(zero) == 0 and torch.linalg.slogdet(zero)[1] == -torch.inf


@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "standard"])
def test_ferminet_like_laplacian_against_the_torch_backend(collapsed: bool):
    model = FermiNetLike(3, n=3, seed=3)
    x = torch.randn(
        6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    want = tm.laplacian(model, x, collapsed=collapsed)(x)
    got = tm.laplacian(model, x, collapsed=collapsed, backend="iree-cpu")(x)
    assert ((got - want).abs() / want.abs().clamp(min=1.0)).max() < TOL


def test_matrices_with_a_batch_inside_the_datum():
    """(N, 2, 3, 3): det and inv of each of two matrices per datum."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 18)).double()

    def f(x):
        m = net(x).reshape(-1, 2, 3, 3) + torch.eye(3, dtype=x.dtype)
        return torch.linalg.det(m).sum(-1) + torch.linalg.inv(m).sum((-3, -2, -1))

    x = torch.randn(
        5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4)
    )
    want = tm.laplacian(f, x)(x)
    got = tm.laplacian(f, x, backend="iree-cpu")(x)
    assert ((got - want).abs() / want.abs().clamp(min=1.0)).max() < TOL


def test_larger_matrices_are_refused():
    x = torch.randn(2, 17 * 17, dtype=torch.float64)
    with pytest.raises(BackendError, match=r"matrix\.det of 17 x 17"):
        tm.compile_function(
            lambda z: torch.linalg.det(z.reshape(-1, 17, 17)), x, backend="iree-cpu"
        )(x)

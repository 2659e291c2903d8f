"""
Linear algebra within a datum (issue 11, item 7): `torch.linalg.det`,
`slogdet` (both results), `torch.logdet`, `torch.linalg.inv` / `inv_ex` and
`torch.linalg.solve` (vector and matrix right-hand sides, left and right) of
matrices built from x, with the batch in front and possibly more batch
dimensions inside a datum (frontend/aten_linalg.py, dialects/matrix.py, the
series in transforms/taylor_mode.py).

References, float64 at 1e-10: nested `torch.autograd.grad` along paths
(`reference.taylor_path_derivatives`), the Laplacian as the sum of the second
path derivatives along the unit vectors. Not `torch.func.vmap(hessian)`: in
torch 2.13 it gives wrong Hessians of slogdet for matrices of negative
determinant (checked below against the closed form -||X^-1||_F^2).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from reference import taylor_path_derivatives
from test_coverage_ops import Case, check_jet
from torch import nn

import taylor_mlir as tm
from taylor_mlir.errors import (
    BackendError,
    CallError,
    TaylorMLIRError,
    UnsupportedOperatorError,
)
from taylor_mlir.frontend import import_torch
from taylor_mlir.frontend.aten_linalg import INVERSE, LINALG_RULES

TOL = 1e-10
HAS_IREE = importlib.util.find_spec("iree.compiler") is not None
D, N_MATRIX = 4, 3

_generator = torch.Generator().manual_seed(7)
W = torch.randn(2 * N_MATRIX * N_MATRIX, D, dtype=torch.float64, generator=_generator)
B = torch.randn(2 * N_MATRIX * N_MATRIX, dtype=torch.float64, generator=_generator)
A_SHARED = torch.randn(N_MATRIX, N_MATRIX, dtype=torch.float64, generator=_generator)
B_SHARED = torch.randn(N_MATRIX, dtype=torch.float64, generator=_generator)


def matrices(x: torch.Tensor, count: int = 1) -> torch.Tensor:
    """(N, D) -> (N, count, n, n) (squeezed for count 1): I / 2 + tanh(W x + b),
    of either sign of determinant."""
    rows = count * N_MATRIX * N_MATRIX
    m = torch.tanh(x @ W[:rows].T + B[:rows]).reshape(-1, count, N_MATRIX, N_MATRIX)
    m = m + 0.5 * torch.eye(N_MATRIX, dtype=x.dtype)
    return m[:, 0] if count == 1 else m


def positive_definite(x: torch.Tensor) -> torch.Tensor:
    m = matrices(x)
    return m @ m.transpose(-1, -2) + torch.eye(N_MATRIX, dtype=x.dtype)


def _rhs(x: torch.Tensor, columns: int | None) -> torch.Tensor:
    v = torch.sin(x[:, :N_MATRIX]) + x[:, 1:2]
    return (
        v if columns is None else torch.stack([v * (c + 1) for c in range(columns)], -1)
    )


CASES = [
    Case("det", lambda x: torch.linalg.det(matrices(x)), {"aten._linalg_det.default"}),
    Case(
        "slogdet_logabsdet",
        lambda x: torch.linalg.slogdet(matrices(x))[1],
        {"aten._linalg_slogdet.default"},
    ),
    Case(  # the sign is piecewise constant: a zero jet
        "slogdet_sign",
        lambda x: torch.linalg.slogdet(matrices(x))[0] * (x**2).sum(-1),
        {"aten._linalg_slogdet.default"},
    ),
    Case(
        "slogdet_both",
        lambda x: (
            torch.linalg.slogdet(matrices(x))[0] * torch.linalg.slogdet(matrices(x))[1]
        ),
        {"aten._linalg_slogdet.default"},
    ),
    Case(
        "logdet",
        lambda x: torch.logdet(positive_definite(x)),
        {"aten._linalg_slogdet.default"},
    ),
    Case(
        "inv",
        lambda x: torch.linalg.inv(matrices(x)).reshape(x.shape[0], -1),
        {"aten.linalg_inv_ex.default"},
    ),
    Case(
        "inv_ex",
        lambda x: torch.linalg.inv_ex(matrices(x))[0].sum(-1),
        {"aten.linalg_inv_ex.default"},
    ),
    Case(
        "solve_vector",
        lambda x: torch.linalg.solve(matrices(x), _rhs(x, None)),
        {"aten._linalg_solve_ex.default"},
    ),
    Case(
        "solve_matrix",
        lambda x: torch.linalg.solve(matrices(x), _rhs(x, 2)).reshape(x.shape[0], -1),
        {"aten._linalg_solve_ex.default"},
    ),
    Case(
        "solve_right",
        lambda x: torch.linalg.solve(
            matrices(x), _rhs(x, N_MATRIX).transpose(-1, -2), left=False
        ).reshape(x.shape[0], -1),
        {"aten._linalg_solve_ex.default"},
    ),
    Case(  # a constant matrix broadcast over the batch: its inverse is plain
        "solve_shared_matrix",
        lambda x: torch.linalg.solve(A_SHARED, _rhs(x, None)[..., None])[..., 0],
        {"aten._linalg_solve_ex.default"},
    ),
    Case(  # a constant right-hand side: linear in the inverse's jet
        "solve_constant_rhs",
        lambda x: torch.linalg.solve(matrices(x), B_SHARED.expand(x.shape[0], -1)),
        {"aten._linalg_solve_ex.default"},
    ),
    Case(  # what a compiled program runs for matrix.inv, re-imported (nesting)
        "inverse_kernel",
        lambda x: INVERSE(matrices(x)).sum((1, 2)),
        {"taylor_mlir.inverse.default"},
    ),
    Case(  # two matrices per datum
        "det_inner_batch",
        lambda x: torch.linalg.det(matrices(x, 2)),
        {"aten._linalg_det.default"},
    ),
    Case(
        "inv_inner_batch",
        lambda x: torch.linalg.inv(matrices(x, 2)).sum((-2, -1)),
        {"aten.linalg_inv_ex.default"},
    ),
    Case(
        "slogdet_inner_batch",
        lambda x: torch.linalg.slogdet(matrices(x, 2))[1].sum(-1),
        {"aten._linalg_slogdet.default"},
    ),
]
for _case in CASES:
    _case.shape = (D,)
_params = [pytest.param(c, id=c.id) for c in CASES]


def sample(n: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.randn(
        n, D, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
    )


def laplacian_reference(f, x: torch.Tensor) -> torch.Tensor:
    """sum_d d^2/dt^2 f(x + t e_d), by nested autograd (differentiable)."""
    total = 0
    for d in range(x.shape[1]):
        e = torch.zeros_like(x)
        e[:, d] = 1.0
        total = total + taylor_path_derivatives(f, [x, e], 2)[2]
    return total


def _differentiable_laplacian(f, x: torch.Tensor) -> torch.Tensor:
    """sum_d d^2/dt^2 f(x + t e_d) of a scalar f by nested autograd, kept in
    the graph (for parameter gradients)."""
    t = torch.zeros(x.shape[0], 1, dtype=x.dtype, requires_grad=True)
    total = 0
    for d in range(x.shape[1]):
        e = torch.zeros_like(x)
        e[:, d] = 1.0
        y = f(x + t * e)
        (first,) = torch.autograd.grad(y.sum(), t, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), t, create_graph=True)
        total = total + second[:, 0]
    return total


def _assert_close(got: torch.Tensor, want: torch.Tensor) -> None:
    scale = max(1.0, want.abs().max().item())
    torch.testing.assert_close(got, want, rtol=TOL, atol=TOL * scale)


def test_the_samples_have_determinants_of_both_signs():
    signs = torch.linalg.det(matrices(sample())).sign()
    assert {-1.0, 1.0} <= set(signs.tolist())


def test_every_linalg_rule_has_a_case():
    tested = set().union(*(c.aten for c in CASES))
    assert {str(t) for t in LINALG_RULES} <= tested


@pytest.mark.parametrize("case", _params)
def test_the_graph_exercises_the_ops(case: Case):
    prog = import_torch(case.f, sample(3))
    assert case.aten <= {str(n.target) for n in prog.exported.graph.nodes}


@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "standard"])
@pytest.mark.parametrize("case", _params)
def test_laplacian(case: Case, collapsed: bool):
    x = sample()
    got = tm.laplacian(case.f, x, collapsed=collapsed)(x)
    _assert_close(got, laplacian_reference(case.f, x))


@pytest.mark.parametrize("case", _params)
def test_jet_of_order_4(case: Case):
    check_jet(case, sample(3, seed=1), order=4)


def test_logabsdet_laplacian_is_minus_the_squared_norm_of_the_inverse():
    """The closed form: d^2 log|det X|[V, V] = -tr(X^-1 V X^-1 V), summed over
    the unit matrices, -||X^-1||_F^2 (what vmap(hessian) gets wrong)."""
    x = torch.randn(
        6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )

    def f(z):
        return torch.linalg.slogdet(z.reshape(-1, 3, 3))[1]

    inverse = torch.linalg.inv(x.reshape(-1, 3, 3))
    assert (torch.linalg.det(x.reshape(-1, 3, 3)) < 0).any()
    for collapsed in (True, False):
        got = tm.laplacian(f, x, collapsed=collapsed)(x)
        _assert_close(got, -(inverse**2).sum((-2, -1)))


class FermiNetLike(nn.Module):
    """log |det M(x)| of an n x n matrix a small MLP builds from x."""

    def __init__(self, dim: int, n: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.n = n
        self.net = nn.Sequential(
            nn.Linear(dim, 8), nn.Tanh(), nn.Linear(8, n * n)
        ).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.net(x).reshape(-1, self.n, self.n)
        return torch.linalg.slogdet(m + torch.eye(self.n, dtype=x.dtype))[1]


@pytest.mark.parametrize("dim", [3, 4, 5, 6])
def test_ferminet_like_laplacian(dim: int):
    model = FermiNetLike(dim, n=dim, seed=dim)
    x = torch.randn(
        4, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(dim)
    )
    want = laplacian_reference(model, x)
    for collapsed in (True, False):
        _assert_close(tm.laplacian(model, x, collapsed=collapsed)(x), want)


@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "standard"])
def test_parameter_gradient_of_a_laplacian_loss(collapsed: bool):
    model = FermiNetLike(3, n=3, seed=11)
    x = torch.randn(
        5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5)
    )

    def loss(lap):
        return (lap**2).mean()

    params = list(model.parameters())
    op = tm.laplacian(model, x, collapsed=collapsed)
    got = torch.autograd.grad(loss(op(x)), params)
    want = torch.autograd.grad(loss(_differentiable_laplacian(model, x)), params)
    for g, w in zip(got, want, strict=True):
        _assert_close(g, w)


@pytest.mark.parametrize(
    "case",
    [
        CASES[0],  # det
        CASES[1],  # log |det|
        Case("inv", lambda x: torch.linalg.inv(matrices(x)).sum((1, 2)), set()),
    ],
    ids=lambda c: c.id,
)
def test_biharmonic(case: Case):
    """Nested operators re-import a compiled program: its matrix.inv kernel
    (aten_linalg.INVERSE) maps back to matrix.inv."""
    x = sample(3)
    want = _differentiable_laplacian(lambda z: _differentiable_laplacian(case.f, z), x)
    _assert_close(tm.biharmonic(case.f, x)(x), want)


def test_torch_inductor():
    """torch.compile keeps the singular check: matrix.inv is an opaque kernel."""
    case = CASES[1]
    assert case.id == "slogdet_logabsdet"
    x = sample(3)
    got = tm.laplacian(case.f, x, backend="torch-inductor")(x)
    _assert_close(got, laplacian_reference(case.f, x))
    singular = x.clone()
    singular[2] = torch.tensor([1.0, 2.0, 2.0, 4.0], dtype=torch.float64)
    det = tm.laplacian(_det2, x, backend="torch-inductor")
    with pytest.raises(CallError, match=r"singular .* batch index \[2\]"):
        det(singular)


def _det2(x):
    return torch.linalg.det(x.reshape(-1, 2, 2))


def test_a_singular_matrix_raises_call_error():
    """inv of a singular matrix, and the derivatives of det (which need the
    inverse here): a CallError naming the batch index, not NaN."""
    x = sample(3)
    singular = x.clone()
    singular[1] = torch.tensor([1.0, 2.0, 2.0, 4.0], dtype=torch.float64)
    inverse = tm.jet(lambda z: torch.linalg.inv(z.reshape(-1, 2, 2)).sum((1, 2)), x, 1)
    with pytest.raises(CallError, match=r"singular .* batch index \[1\]"):
        inverse(singular, [torch.ones_like(x)])
    laplacian = tm.laplacian(_det2, x)
    with pytest.raises(CallError, match="singular"):
        laplacian(singular)
    solve = tm.laplacian(lambda z: torch.linalg.solve(z.reshape(-1, 2, 2), z[:, :2]), x)
    with pytest.raises(CallError, match="singular"):
        solve(singular)


def test_reading_lu_factors_is_refused():
    """_linalg_det's LU factors and pivots are not supported results."""

    def f(x):
        return torch.ops.aten._linalg_det(matrices(x))[1].sum((1, 2))

    with pytest.raises(UnsupportedOperatorError, match=r"_linalg_det.*LU factors"):
        tm.laplacian(f, sample(3))


def test_reading_the_info_code_is_refused():
    """inv_ex's integer info is not a value of the program (a singular
    matrix raises CallError instead)."""

    def f(x):
        inverse, info = torch.linalg.inv_ex(matrices(x))
        return inverse.sum((1, 2)) + info

    with pytest.raises(TaylorMLIRError, match="int32"):
        tm.laplacian(f, sample(3))


@pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")
def test_iree_refuses_matrices_larger_than_16():
    """iree-cpu composes the matrix ops up to 16 x 16 (backends/matrix_iree.py;
    tests/test_matrix_iree.py checks their values)."""
    x = torch.randn(2, 17 * 17, dtype=torch.float64)
    with pytest.raises(BackendError, match=r"matrix\.(inv|logabsdet) of 17 x 17"):
        tm.laplacian(
            lambda z: torch.linalg.slogdet(z.reshape(-1, 17, 17))[1],
            x,
            backend="iree-cpu",
        )(x)

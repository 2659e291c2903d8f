"""Weighted-Laplacian coefficients indexed like multi-dimensional data: for x
of shape (N, *S), `coefficients` of shape (*S, *S) (or one per datum,
(N, *S, *S)) and a `factor` of shape (*S, R), at compile time and per call,
against torch.func's Hessian. A shape that fits neither the data nor the
flattened datum is refused with both."""

import pickle

import pytest
import torch
from torch.func import hessian, vmap

import taylor_mlir as tm
from taylor_mlir.errors import CallError, OptionError

S = (2, 3)
D = 6


def f(z):  # module level: the pickling test finds it by name
    return (torch.sin(z) * z.sum((-1, -2), keepdim=True)).sum((-1, -2))[:, None]


def _hessians(x):
    return vmap(lambda xi: hessian(lambda z: f(z[None]).reshape(()))(xi))(x).reshape(
        -1, D, D
    )


def _weighted(x, C):  # tr(C H) per datum, C (D, D) or (N, D, D)
    return (C.transpose(-1, -2) * _hessians(x)).sum((-1, -2))


@pytest.fixture
def x():
    return torch.rand(
        4, *S, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )


@pytest.fixture
def C():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(D, D, dtype=torch.float64, generator=generator)  # not symmetric


def _close(actual, expected):
    torch.testing.assert_close(actual.reshape(-1), expected, rtol=1e-12, atol=1e-12)


def test_constant_coefficients_and_factors_indexed_like_the_data(x, C):
    _close(
        tm.weighted_laplacian(f, x, coefficients=C.reshape(*S, *S))(x), _weighted(x, C)
    )
    factor = torch.randn(D, 2, dtype=torch.float64)
    op = tm.weighted_laplacian(f, x, factor=factor.reshape(*S, 2))
    _close(op(x), _weighted(x, factor @ factor.T))


def test_runtime_coefficients_indexed_like_the_data(x, C):
    shaped = C.reshape(*S, *S).clone().requires_grad_(True)
    op = tm.weighted_laplacian(f, x, coefficients=shaped)
    value = op(x)
    _close(value, _weighted(x, C))
    value.sum().backward()  # d/dC sum_n tr(C H_n) = sum_n H_n^T
    torch.testing.assert_close(
        shaped.grad, _hessians(x).sum(0).T.reshape(*S, *S), rtol=1e-12, atol=1e-12
    )
    other = torch.randn(D, D, dtype=torch.float64)
    _close(op(x, coefficients=other.reshape(*S, *S)), _weighted(x, other))
    per_datum = torch.randn(4, D, D, dtype=torch.float64)
    _close(op(x, coefficients=per_datum.reshape(4, *S, *S)), _weighted(x, per_datum))
    _close(op(x, coefficients=per_datum), _weighted(x, per_datum))  # flat still works


def test_per_datum_coefficients_at_compile_time(x):
    per_datum = torch.randn(4, D, D, dtype=torch.float64)
    op = tm.weighted_laplacian(f, x, coefficients=per_datum.reshape(4, *S, *S))
    _close(op(x), _weighted(x, per_datum))


def test_shapes_that_fit_neither_are_refused_with_both(x, C):
    with pytest.raises(
        OptionError, match=r"\(3, 2, 3, 2\).*pass \(2, 3, 2, 3\) or \(6, 6\)"
    ):
        tm.weighted_laplacian(f, x, coefficients=C.reshape(3, 2, 3, 2))
    with pytest.raises(
        OptionError, match=r"factor of shape \(3, 2, 2\).*\(2, 3, R\) or \(6, R\)"
    ):
        tm.weighted_laplacian(f, x, factor=torch.rand(3, 2, 2, dtype=torch.float64))
    op = tm.weighted_laplacian(f, x, coefficients=C.clone().requires_grad_(True))
    with pytest.raises(
        CallError,
        match=r"\(6, 6\) or \(2, 3, 2, 3\), or one matrix per datum \(4, 6, 6\) or",
    ):
        op(x, coefficients=C.reshape(3, 2, 3, 2))


def test_a_weighted_laplacian_of_data_shaped_coefficients_pickles(x, C):
    op = tm.weighted_laplacian(f, x, coefficients=C.reshape(*S, *S))
    _close(pickle.loads(pickle.dumps(op))(x), _weighted(x, C))


def test_a_constant_read_by_reference_follows_updates(x, C):
    """The flattened coefficients are a view of the user's tensor: an update
    in place is seen (a copy would silently keep the old values)."""
    shaped = C.reshape(*S, *S).clone().requires_grad_(True)
    op = tm.weighted_laplacian(f, x, coefficients=shaped)
    with torch.no_grad():
        shaped.mul_(2.0)  # an optimizer's step
    _close(op(x), _weighted(x, 2.0 * C))
    with pytest.raises(OptionError, match="not contiguous.*by reference"):
        strided = torch.randn(3, 2, 3, 2, dtype=torch.float64).permute(1, 0, 3, 2)
        tm.weighted_laplacian(f, x, coefficients=strided)  # (2, 3, 2, 3), strided

"""Operators of compiled operators: `tm.laplacian(lap, x)` with `lap` compiled
follows the same parameters (and runtime coefficients) by reference, so values
and parameter gradients are those of the nested operator."""

import pytest
import reference as ref
import torch
from torch import nn

import taylor_mlir as tm

TOL = 1e-10


def close(actual, expected):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= TOL * scale


@pytest.fixture
def net():
    return nn.Sequential(
        nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 4), nn.Sigmoid(), nn.Linear(4, 1)
    ).double()


@pytest.fixture
def x():
    return torch.rand(5, 3, dtype=torch.float64)


@pytest.mark.parametrize("wrap", [False, True], ids=["compiled", "lambda"])
@pytest.mark.parametrize("collapsed", [True, False])
def test_laplacian_of_laplacian_is_the_biharmonic(net, x, wrap, collapsed):
    lap = tm.laplacian(net, x, collapsed=collapsed)
    inner = (lambda z: lap(z)) if wrap else lap
    nested = tm.laplacian(inner, x)
    ours, expected = nested(x), ref.biharmonic(net, x)
    close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours.sum(), [net[2].weight])
    (g_ref,) = torch.autograd.grad(expected.sum(), [net[2].weight])
    close(g_ours, g_ref)
    stats = nested.stats()
    assert stats.levels["collapsed"].vectors_per_node > 0


def test_nested_operator_sees_updated_weights(net, x):
    nested = tm.laplacian(tm.laplacian(net, x), x)
    with torch.no_grad():
        net[0].weight.mul_(0.5)
    close(nested(x), ref.biharmonic(net, x))


def test_weighted_laplacian_of_a_weighted_laplacian(net, x):
    A = torch.randn(3, 3, dtype=torch.float64)
    C = (A @ A.T).requires_grad_()
    inner = tm.weighted_laplacian(net, x, coefficients=C)
    nested = tm.weighted_laplacian(
        inner, x, coefficients=torch.eye(3, dtype=torch.float64)
    )

    def inner_ref(z):
        return ref.weighted_laplacian(net, z, C)

    expected = ref.laplacian(inner_ref, x)
    ours = nested(x)
    close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours.sum(), [C])
    (g_ref,) = torch.autograd.grad(expected.sum(), [C])
    close(g_ours, g_ref)

"""Weighted Laplacians whose coefficients are arguments of every call: a
learnable C (requires grad) gets its gradient, a new value takes effect
without recompiling, per-datum C (N, D, D) computed from x in torch works;
constant coefficients that change after compiling are refused."""

import pytest
import reference as ref
import torch
from torch import nn

import taylor_mlir as tm
from taylor_mlir.errors import CallError, OptionError
from taylor_mlir.operators.sampling import sample_directions

TOL = 1e-10


def close(actual, expected, tol=TOL):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= tol * scale


def per_datum_reference(f, x, C):
    """tr(C_n H_n) per datum, with torch.func's Hessian."""
    H = ref.derivative_tensor(f, x, 2)  # (N, 1, D, D)
    return (H * C.unsqueeze(1)).sum((-2, -1))


@pytest.fixture
def net():
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()


@pytest.fixture
def x():
    return torch.rand(5, 3, dtype=torch.float64)


@pytest.mark.parametrize("collapsed", [True, False])
def test_learnable_coefficients_get_their_gradient(net, x, collapsed):
    A = torch.randn(3, 3, dtype=torch.float64)
    C = (A + A.T).requires_grad_()  # indefinite in general
    op = tm.weighted_laplacian(net, x, coefficients=C, collapsed=collapsed)
    ours = op(x)
    expected = ref.weighted_laplacian(net, x, C)
    close(ours, expected)
    params = [C, *net.parameters()]
    ours_grads = torch.autograd.grad((ours**2).sum(), params, allow_unused=True)
    ref_grads = torch.autograd.grad((expected**2).sum(), params, allow_unused=True)
    for a, b in zip(ours_grads, ref_grads, strict=True):
        if b is None:
            assert a is None or float(a.abs().max()) == 0.0
        else:
            close(a, b)


def test_new_values_take_effect_without_recompiling(net, x):
    C = torch.eye(3, dtype=torch.float64).requires_grad_()
    op = tm.weighted_laplacian(net, x, coefficients=C)
    close(op(x), ref.laplacian(net, x))
    with torch.no_grad():
        C.mul_(2.0)  # in place: read by reference
    close(op(x), 2 * ref.laplacian(net, x))
    other = torch.diag(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    close(op(x, coefficients=other), ref.weighted_laplacian(net, x, other))


@pytest.mark.parametrize("runtime", [True, False], ids=["runtime", "constant"])
def test_non_symmetric_coefficients_mean_their_symmetric_part(net, x, runtime):
    """tr(C H) = tr(sym(C) H) for a symmetric H: the same for coefficients
    read at every call and for constant ones (which were refused)."""
    C = torch.randn(3, 3, dtype=torch.float64, requires_grad=runtime)
    op = tm.weighted_laplacian(net, x, coefficients=C)
    close(op(x), ref.weighted_laplacian(net, x, C))
    close(op(x), ref.weighted_laplacian(net, x, (C + C.T) / 2))


def test_per_datum_coefficients_computed_from_x(net, x):
    def diffusivity(z):  # an x-dependent, positive definite coefficient
        a = 1 + z.pow(2).sum(-1)
        return (
            a[:, None, None] * torch.eye(3, dtype=z.dtype)
            + z[:, :, None] * z[:, None, :]
        )

    op = tm.weighted_laplacian(net, x, coefficients=diffusivity(x))
    y = torch.rand(7, 3, dtype=torch.float64)
    close(
        op(y, coefficients=diffusivity(y)), per_datum_reference(net, y, diffusivity(y))
    )
    # gradients flow into what C was computed from
    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    (g_ours,) = torch.autograd.grad(op(y, coefficients=w * diffusivity(y)).sum(), [w])
    (g_ref,) = torch.autograd.grad(
        per_datum_reference(net, y, w * diffusivity(y)).sum(), [w]
    )
    close(g_ours, g_ref)


def test_runtime_coefficients_on_float32(net, x):
    net = net.float()
    C = torch.eye(3, requires_grad=True)
    op = tm.weighted_laplacian(net, x.float(), coefficients=C)
    close(op(x.float()), ref.laplacian(net, x.float()), tol=1e-4)


def test_bad_runtime_coefficients(net, x):
    C = torch.eye(3, dtype=torch.float64, requires_grad=True)
    op = tm.weighted_laplacian(net, x, coefficients=C)
    with pytest.raises(
        CallError, match=r"expected \(3, 3\) or one matrix per datum \(5, 3, 3\)"
    ):
        op(x, coefficients=torch.eye(2, dtype=torch.float64))
    with pytest.raises(CallError, match="not finite"):
        op(x, coefficients=torch.full((3, 3), float("nan"), dtype=torch.float64))
    with pytest.raises(CallError, match="must be a torch.Tensor"):
        op(x, coefficients=[[1.0]])
    with pytest.raises(CallError, match="unexpected argument.*factor"):
        op(x, factor=C)
    with pytest.raises(CallError, match=r"per datum \(4, 3, 3\)"):
        op(x[:4], coefficients=torch.eye(3, dtype=torch.float64).expand(5, 3, 3))
    with pytest.raises(OptionError, match="must be 3 x 3"):
        tm.weighted_laplacian(net, x, coefficients=torch.eye(2, requires_grad=True))


@pytest.mark.parametrize("distribution", ["rademacher", "normal"])
def test_randomized_runtime_coefficients(net, x, distribution):
    """Hutchinson with runtime C: the estimate is mean_s z_s^T H C z_s for the
    drawn z_s (checked exactly by redrawing them), unbiased, and C gets the
    estimate's gradient."""
    A = torch.randn(3, 3, dtype=torch.float64)
    C = (A + A.T).requires_grad_()
    samples = 5
    op = tm.weighted_laplacian(
        net,
        x,
        coefficients=C,
        randomization=(distribution, samples),
        seed=7,
        strategy="randomized",
    )
    ours = op(x)
    random = op.spec.groups[0].at_call.random
    generator = torch.Generator().manual_seed(7)
    z = sample_directions(random, x.shape[0], (3,), torch.float64, generator)
    H = ref.derivative_tensor(net, x, 2)[:, 0]  # (N, D, D)
    expected = torch.einsum("snd,nde,ef,snf->n", z, H, C, z)[:, None] / samples
    close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours.sum(), [C])
    (g_ref,) = torch.autograd.grad(expected.sum(), [C])
    close(g_ours, g_ref)
    many = tm.weighted_laplacian(
        net,
        x,
        coefficients=C,
        randomization=(distribution, 4000),
        seed=1,
        strategy="randomized",
    )
    exact = ref.weighted_laplacian(net, x, C)
    error = (many(x) - exact).abs().max()
    assert float(error) < 0.1 * float(exact.abs().max()) + 1e-3


def test_constant_coefficients_changed_after_compile_are_refused(net, x):
    C = torch.eye(3, dtype=torch.float64)
    op = tm.weighted_laplacian(net, x, coefficients=C)
    close(op(x), ref.laplacian(net, x))
    C[0, 0] = 5.0
    with pytest.raises(
        CallError, match="changed since the operator was compiled.*recompile"
    ):
        op(x)
    with pytest.raises(CallError, match="takes x only"):
        op(x, coefficients=C)


def test_linear_operator_with_tensor_coefficients(net, x):
    """A learnable diffusivity in k * Laplacian + b . grad: k and b get their
    gradients, a per-datum coefficient broadcasts, in-place changes are seen."""
    k = torch.tensor(-0.7, dtype=torch.float64, requires_grad=True)
    b = torch.rand(5, 1, dtype=torch.float64, requires_grad=True)  # per datum
    terms = {(0, 0): k, (1, 1): k, (2, 2): k, (0,): b, (): 2.0}
    op = tm.linear_operator(net, x, terms=terms)

    def expected(k, b):
        first = ref.derivative_tensor(net, x, 1)[..., 0]
        return k * ref.laplacian(net, x) + b * first + 2.0 * net(x)

    ours = op(x)
    close(ours, expected(k, b))
    grads = torch.autograd.grad(ours.sum(), [k, b, net[0].weight])
    ref_grads = torch.autograd.grad(expected(k, b).sum(), [k, b, net[0].weight])
    for a, e in zip(grads, ref_grads, strict=True):
        close(a, e)
    with torch.no_grad():
        k.fill_(2.0)
    close(op(x), expected(k, b))
    bad = tm.linear_operator(
        net, x, terms={(0,): torch.rand(5, 2, dtype=torch.float64)}
    )
    with pytest.raises(CallError, match="would change the result's shape"):
        bad(x)

"""Several inputs (`f(t, x)`, `wrt=`), several outputs (f returns a tuple), and
value + gradient + operator from one compiled program, against torch.func."""

import collections

import pytest
import reference as ref
import torch
from torch import nn

import taylor_mlir as tm
from taylor_mlir.errors import CallError, OptionError

TOL = 1e-10


def close(actual, expected):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= TOL * scale


class TimeSpace(nn.Module):
    """u(t, x): the usual time-dependent PINN."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()

    def forward(self, t, x):
        return self.net(torch.cat([t, x], dim=-1)) * torch.sin(t)


def space_laplacian(model, t, x):
    """Laplacian in x of u(t, x), per datum, with torch.func."""

    def per_datum(ti, xi):
        hessian = torch.func.hessian(lambda z: model(ti[None], z[None])[0, 0])(xi)
        return hessian.diagonal().sum()[None]

    return torch.func.vmap(per_datum)(t, x)


@pytest.fixture
def tx():
    return torch.rand(5, 1, dtype=torch.float64), torch.rand(5, 2, dtype=torch.float64)


@pytest.mark.parametrize("collapsed", [True, False])
def test_laplacian_in_space_of_u_t_x(tx, collapsed):
    model = TimeSpace()
    t, x = tx
    op = tm.laplacian(model, (t, x), wrt=1, collapsed=collapsed)
    ours = op(t, x)
    close(ours, space_laplacian(model, t, x))
    # the time input passes through, still differentiable
    t_grad = t.clone().requires_grad_()
    (g_ours,) = torch.autograd.grad(op(t_grad, x).sum(), [t_grad])
    t_ref = t.clone().requires_grad_()
    (g_ref,) = torch.autograd.grad(space_laplacian(model, t_ref, x).sum(), [t_ref])
    close(g_ours, g_ref)


def test_heat_residual_needs_time_derivative_and_space_laplacian(tx):
    """u_t from the first input (a linear operator along t), Laplacian along x."""
    model = TimeSpace()
    t, x = tx
    u_t = tm.linear_operator(model, (t, x), terms={(0,): 1.0}, wrt=0)
    lap = tm.laplacian(model, (t, x), wrt=1)
    expected_u_t = torch.func.vmap(
        lambda ti, xi: torch.func.jacrev(lambda s: model(s[None], xi[None])[0])(ti)[
            :, 0
        ]
    )(t, x)
    close(u_t(t, x), expected_u_t)
    close(lap(t, x), space_laplacian(model, t, x))


def test_several_outputs(tx):
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    _, x = tx

    def f(z):
        h = net(z)
        return h[:, :1] * h[:, 1:], torch.exp(h)

    op = tm.laplacian(f, x)
    first, second = op(x)
    close(first, ref.laplacian(lambda z: f(z)[0], x))
    close(second, ref.laplacian(lambda z: f(z)[1], x))


Fields = collections.namedtuple("Fields", "pressure velocity")


@pytest.mark.parametrize(
    "structure",
    [
        lambda p, v: {"pressure": p, "velocity": v},
        lambda p, v: Fields(p, v),
        lambda p, v: [p, (v,)],
    ],
    ids=["dict", "namedtuple", "nested-list"],
)
def test_results_keep_the_structure_f_returns(tx, structure):
    """A dict, a namedtuple or nested containers of outputs come back as f
    returns them (a dict's keys were dropped: a plain tuple)."""
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    _, x = tx

    def f(z):
        h = net(z)
        return structure(h[:, :1], torch.sin(h[:, 1:]))

    ours = tm.laplacian(f, x)(x)
    expected = structure(
        ref.laplacian(lambda z: net(z)[:, :1], x),
        ref.laplacian(lambda z: torch.sin(net(z)[:, 1:]), x),
    )
    assert type(ours) is type(expected)
    got, want = (
        torch.utils._pytree.tree_flatten(ours),
        torch.utils._pytree.tree_flatten(expected),
    )
    assert got[1] == want[1]  # the same nesting, keys and types
    for a, b in zip(got[0], want[0], strict=True):
        close(a, b)
    both = tm.laplacian(f, x, returns=("value", "operator"))(x)
    assert type(both) is type(expected)
    value, operator = torch.utils._pytree.tree_flatten(both)[0][:2]
    close(value, net(x)[:, :1])
    close(operator, want[0][0])


@pytest.mark.parametrize("collapsed", [True, False])
def test_value_gradient_and_laplacian_from_one_program(tx, collapsed):
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    _, x = tx
    op = tm.laplacian(
        net, x, returns=("value", "gradient", "laplacian"), collapsed=collapsed
    )
    u, grad, lap = op(x)
    close(u, net(x))
    close(grad, ref.derivative_tensor(net, x, 1))  # (N, 1, D)
    close(lap, ref.laplacian(net, x))
    # a Burgers-like residual u * u_x - nu * u_xx, and its parameter gradient
    residual = u * grad[..., 0] - 0.1 * lap
    (g_ours,) = torch.autograd.grad(residual.pow(2).sum(), [net[0].weight])
    expected = net(x) * ref.derivative_tensor(net, x, 1)[..., 0] - 0.1 * ref.laplacian(
        net, x
    )
    (g_ref,) = torch.autograd.grad(expected.pow(2).sum(), [net[0].weight])
    close(g_ours, g_ref)


def test_gradient_of_a_multi_dimensional_input():
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 1)
    ).double()
    x = torch.rand(3, 2, 3, dtype=torch.float64)
    grad, lap = tm.laplacian(net, x, returns=("gradient", "operator"))(x)
    close(grad, ref.derivative_tensor(net, x, 1).reshape(3, 1, 2, 3))
    close(lap, ref.laplacian(net, x))


def test_bad_inputs_and_returns(tx):
    model = TimeSpace()
    t, x = tx
    with pytest.raises(OptionError, match="say which one.*wrt="):
        tm.laplacian(model, (t, x))
    with pytest.raises(OptionError, match="wrt=2 is not an input index"):
        tm.laplacian(model, (t, x), wrt=2)
    op = tm.laplacian(model, (t, x), wrt=1)
    with pytest.raises(CallError, match="takes 2 input"):
        op(x)
    with pytest.raises(CallError, match="different batch sizes"):
        op(t[:3], x)
    with pytest.raises(CallError, match=r"input 1 has shape \(5, 3\)"):
        op(t, torch.rand(5, 3, dtype=torch.float64))
    net = nn.Sequential(nn.Linear(2, 1)).double()
    with pytest.raises(
        OptionError, match="returns='gradient' needs jets along the unit.*randomized"
    ):
        tm.compile(
            net, x, "laplacian", randomization=("rademacher", 2), returns=("gradient",)
        )
    with pytest.raises(OptionError, match="choose from"):
        tm.laplacian(net, x, returns=("hessian",))


def _mixed(z):
    """u(t, x, y) with every mixed derivative nonzero."""
    return torch.sin(z[:, :1] * z[:, 1:2]) * torch.cosh(z[:, 2:]) + z.prod(
        -1, keepdim=True
    )


def _per_datum_hessian(f, z):
    return torch.func.vmap(torch.func.hessian(lambda zi: f(zi[None])[0, 0]))(z)


@pytest.mark.parametrize(
    "build, operator",
    [
        (
            lambda z: tm.weighted_laplacian(
                _mixed, z, coefficients=torch.diag(torch.tensor([0.0, 1.0, 2.0]).double()),
                returns=("value", "gradient", "operator"),
            ),
            lambda H: H[:, 1, 1] + 2 * H[:, 2, 2],
        ),
        (  # Burgers-like: u_t - nu u_xx, with u and grad u for the u u_x term
            lambda z: tm.linear_operator(
                _mixed, z, terms={(0,): 1.0, (1, 1): -0.01},
                returns=("value", "gradient", "operator"),
            ),
            None,
        ),
        (
            lambda z: tm.linear_operator(
                _mixed, z, terms={(0, 1): 1.0}, returns=("value", "gradient", "operator")
            ),
            lambda H: H[:, 0, 1],
        ),
    ],
)  # fmt: skip
def test_the_gradient_of_operators_without_unit_directions(build, operator):
    """Their own directions are not the unit vectors: the program adds
    first-order jets along them, weighted 0, whose coefficients are the
    gradient."""
    z = torch.rand(5, 3, dtype=torch.float64)
    u, grad, value = build(z)(z)
    want_grad = ref.derivative_tensor(_mixed, z, 1)  # (N, 1, D)
    close(u, _mixed(z))
    close(grad, want_grad)
    H = _per_datum_hessian(_mixed, z)
    if operator is None:  # u_t - 0.01 u_xx
        close(value, (want_grad[:, 0, 0] - 0.01 * H[:, 1, 1])[:, None])
    else:
        close(value, operator(H)[:, None])


def test_the_biharmonic_returns_the_gradient_too():
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    x = torch.rand(4, 2, dtype=torch.float64)
    op = tm.biharmonic(net, x, returns=("value", "gradient", "operator"))
    u, grad, bih = op(x)
    close(u, net(x))
    close(grad, ref.derivative_tensor(net, x, 1))
    close(bih, ref.biharmonic(net, x))
    assert (
        op.stats().strategy.chosen == "interpolated"
    )  # nested returns the operator only


def test_parameter_gradients_through_an_added_gradient():
    """A residual u u_x - nu u_xx from a weighted Laplacian's program: the
    parameter gradient matches autograd through torch.func's derivatives."""
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    z = torch.rand(6, 2, dtype=torch.float64)
    C = torch.diag(torch.tensor([0.0, 1.0], dtype=torch.float64))
    u, grad, uxx = tm.weighted_laplacian(
        net, z, coefficients=C, returns=("value", "gradient", "operator")
    )(z)
    ours = (u * grad[..., 1] - 0.1 * uxx).pow(2).sum()
    d1 = ref.derivative_tensor(net, z, 1)
    H = _per_datum_hessian(net, z)
    theirs = (net(z) * d1[..., 1] - 0.1 * H[:, 1, 1][:, None]).pow(2).sum()
    (got,) = torch.autograd.grad(ours, [net[0].weight])
    (want,) = torch.autograd.grad(theirs, [net[0].weight])
    close(got, want)

"""Property test: the Laplacian loss of small MLP-based functions, written in
the three ways users write them, has the values and parameter gradients of
torch.func's (issue: no silent wrong gradients).

Forms: the network as an `nn.Module`; a plain function closing over the
module (a hard-boundary ansatz); a closure that also reads extra learnable
tensors (a scale and a shift). Checked on the torch backend, standard and
collapsed, float64, to 1e-10 relative.
"""

import reference as ref
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import taylor_mlir as tm

ACTIVATIONS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus}
TOL = 1e-10


def build(dim, widths, activation, seed):
    torch.manual_seed(seed)
    layers, width = [], dim
    for w in widths:
        layers += [nn.Linear(width, w), ACTIVATIONS[activation]()]
        width = w
    return nn.Sequential(*layers, nn.Linear(width, 1)).double()


def forms(net, dim):
    shift = torch.randn(dim, dtype=torch.float64, requires_grad=True)
    scale = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def ansatz(z):
        return (1 - (z**2).sum(-1, keepdim=True)) * net(z)

    def with_extras(z):
        return scale * torch.sin(net(z - shift))

    return {
        "module": (net, list(net.parameters())),
        "closure": (ansatz, list(net.parameters())),
        "extras": (with_extras, [*net.parameters(), scale, shift]),
    }


def gradients(loss, params):
    found = torch.autograd.grad(loss, params, allow_unused=True)
    return [
        torch.zeros_like(p) if g is None else g
        for p, g in zip(params, found, strict=True)
    ]


def assert_close(actual, expected):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= TOL * scale


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    dim=st.integers(1, 3),
    widths=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    form=st.sampled_from(["module", "closure", "extras"]),
    collapsed=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_laplacian_loss_values_and_parameter_gradients(
    dim, widths, activation, form, collapsed, seed
):
    net = build(dim, widths, activation, seed)
    f, params = forms(net, dim)[form]
    x = torch.rand(3, dim, dtype=torch.float64)
    target = torch.randn(3, 1, dtype=torch.float64)
    op = tm.laplacian(f, x, collapsed=collapsed)

    ours = op(x)
    expected = ref.laplacian(f, x)
    assert_close(ours, expected)
    loss = ((ours - target) ** 2).mean() + (f(x) ** 2).mean()
    expected_loss = ((expected - target) ** 2).mean() + (f(x) ** 2).mean()
    for a, b in zip(
        gradients(loss, params), gradients(expected_loss, params), strict=True
    ):
        assert_close(a, b)

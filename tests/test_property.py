"""Property test: random compositions of supported ops, Laplacian and 3-jet
against torch.func / nested autograd.

Hypothesis draws small networks (D <= 3, up to 3 layers of width <= 4) whose
layers are chains, residual blocks or products of elementwise functions; each
is compiled (collapsed or standard) and checked to 1e-10 relative in float64.
"""

import reference as ref
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import taylor_mlir as tm

UNARY = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "sin": torch.sin,
    "cos": torch.cos,
    "square": lambda h: h * h,
    "cube": lambda h: h**3,
    "gauss": lambda h: torch.exp(-0.5 * h * h),
    "log1p_square": lambda h: torch.log(1 + h * h),
    "sqrt1p": lambda h: torch.sqrt(1 + h * h),
    "inverse": lambda h: 1 / (2 + h * h),
    "power": lambda h: (1 + h * h) ** 1.5,
    "softplus": F.softplus,
    "gelu": F.gelu,
}
KINDS = ("chain", "residual", "product")


class RandomNet(nn.Module):
    """Layers `(kind, f, g)`: chain `f(W h)`, residual `h + f(W h)`, product
    `f(W h) * g(V h)`; a final linear map to one output (summed to (N,) when
    `scalar`)."""

    def __init__(self, D, widths, layers, scalar, seed):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.layers = layers
        self.scalar = scalar
        sizes = [D, *widths]
        self.maps = nn.ModuleList()
        self.second = nn.ModuleList()
        for (kind, _, _), fan_in, fan_out in zip(
            layers, sizes[:-1], sizes[1:], strict=True
        ):
            if kind == "residual":
                fan_out = fan_in
            self.maps.append(nn.Linear(fan_in, fan_out))
            self.second.append(nn.Linear(fan_in, fan_out))
        self.head = nn.Linear(self.maps[-1].out_features, 1)
        self.double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(
                    (torch.rand(p.shape, generator=generator, dtype=p.dtype) - 0.5)
                    * 1.5
                )

    def forward(self, x):
        h = x
        for (kind, f, g), linear, other in zip(
            self.layers, self.maps, self.second, strict=True
        ):
            if kind == "chain":
                h = UNARY[f](linear(h))
            elif kind == "residual":
                h = h + UNARY[f](linear(h))
            else:
                h = UNARY[f](linear(h)) * UNARY[g](other(h))
        out = self.head(h)
        return out.sum(1) if self.scalar else out


@st.composite
def networks(draw):
    D = draw(st.integers(1, 3))
    depth = draw(st.integers(1, 3))
    names = st.sampled_from(sorted(UNARY))
    layers = [
        (draw(st.sampled_from(KINDS)), draw(names), draw(names)) for _ in range(depth)
    ]
    widths = [draw(st.integers(2, 4)) for _ in range(depth)]
    # residual layers keep their width
    for i, (kind, _, _) in enumerate(layers):
        if kind == "residual":
            widths[i] = D if i == 0 else widths[i - 1]
    net = RandomNet(D, widths, layers, draw(st.booleans()), draw(st.integers(0, 2**16)))
    return net.requires_grad_(False), D


def relative_error(ours, expected):
    return (
        (ours - expected).abs().max() / expected.abs().max().clamp_min(1e-300)
    ).item()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.booleans(), st.integers(0, 1000))
def test_laplacian_of_random_compositions(network, collapsed, seed):
    net, D = network
    x = torch.randn(
        3, D, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
    )
    ours = tm.laplacian(net, x, collapsed=collapsed)(x)
    assert relative_error(ours, ref.laplacian(net, x)) < 1e-10


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 1000))
def test_third_order_jet_of_random_compositions(network, seed):
    net, D = network
    g = torch.Generator().manual_seed(seed)
    x0, x1, x2, x3 = (
        torch.randn(3, D, dtype=torch.float64, generator=g) for _ in range(4)
    )
    f0, fs = tm.jet(net, x0, order=3)(x0, [x1, x2, x3])
    expected = ref.taylor_path_derivatives(net, [x0, x1, x2, x3], 3)
    assert relative_error(f0, expected[0]) < 1e-10
    for k in range(3):
        assert relative_error(fs[k], expected[k + 1]) < 1e-10

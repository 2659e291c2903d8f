"""backend="torch-inductor": the torch backend's FX graph compiled by
torch.compile gives the values and parameter gradients of torch.func (float64,
1e-10), for any batch size, and an operator of it traces the plain graph."""

import pytest
import reference as ref
import torch
from torch._dynamo.eval_frame import OptimizedModule

import taylor_mlir as tm
from taylor_mlir.backends import BACKENDS
from taylor_mlir.errors import BackendError
from taylor_mlir.models import mlp

TOL = 1e-10


def close(actual, expected):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= TOL * scale


@pytest.fixture
def net():
    return mlp([3, 8, 6, 1], "tanh", torch.float64, seed=2)


def test_laplacian_values_and_gradients_for_several_batch_sizes(net):
    x = torch.randn(4, 3, dtype=torch.float64)
    op = tm.laplacian(net, x, backend="torch-inductor")
    assert isinstance(op._executable._run, OptimizedModule)  # Inductor runs it
    for batch in (4, 7, 1):
        y = torch.randn(batch, 3, dtype=torch.float64)
        ours, expected = op(y), ref.laplacian(net, y)
        close(ours, expected)
        parameters = [net[0].weight, net[2].bias]
        g_ours = torch.autograd.grad(ours.square().sum(), parameters)
        g_ref = torch.autograd.grad(expected.square().sum(), parameters)
        for a, b in zip(g_ours, g_ref, strict=True):
            close(a, b)


def test_operator_of_an_inductor_operator_traces_the_graph(net):
    """torch.export traces the inner program's ATen graph (not Inductor's)."""
    x = torch.randn(3, 3, dtype=torch.float64)
    lap = tm.laplacian(net, x, backend="torch-inductor")
    nested = tm.laplacian(lap, x, backend="torch-inductor")
    close(nested(x), ref.biharmonic(net, x))


def test_the_backend_is_listed():
    assert "torch-inductor" in BACKENDS
    with pytest.raises(BackendError, match="torch, torch-inductor, iree-cpu"):
        tm.laplacian(lambda x: x, torch.ones(1, 1), backend="inductor")


def test_inductor_programs_are_not_direction_tiled():
    """Inductor fuses the elementwise ops itself: the program it gets is the
    untiled one (a tiled one only lengthens its compile), while the torch
    backend's program at the same batch runs its directions in blocks (slices
    of the direction axis). Both give torch.func's Laplacian."""
    net = mlp([50, 32, 32, 1], "tanh", torch.float64, seed=3)
    x = torch.rand(256, 50, dtype=torch.float64)
    eager = tm.laplacian(net, x)
    fused = tm.laplacian(net, x, backend="torch-inductor")
    assert "tile-directions" in eager.levels.passes
    assert "tile-directions" not in fused.levels.passes
    expected = ref.laplacian(net, x)
    close(eager(x), expected)
    close(fused(x), expected)


def test_torch_func_transforms_of_an_inductor_operator(net):
    """A compiled function cannot be called under torch.func transforms from
    eager code (Dynamo raises 'Unsupported functorch tracing attempt'): under
    one the operator runs the same graph eagerly. vmap over point sets, and
    the gradient and forward-mode derivative of the operator in x."""
    x = torch.randn(4, 3, dtype=torch.float64)
    op = tm.laplacian(net, x, backend="torch-inductor")
    stacked = torch.randn(2, 5, 3, dtype=torch.float64)
    want = torch.stack([ref.laplacian(net, points) for points in stacked])
    close(torch.func.vmap(op)(stacked), want)

    def total(y):
        return op(y).sum()

    def total_ref(y):
        return ref.laplacian(net, y).sum()

    close(torch.func.grad(total)(x), torch.func.grad(total_ref)(x))
    tangent = torch.randn_like(x)
    _, ours = torch.func.jvp(total, (x,), (tangent,))
    _, expected = torch.func.jvp(total_ref, (x,), (tangent,))
    close(ours, expected)
    close(op(x), ref.laplacian(net, x))  # and Inductor again outside them


def test_retain_graph_is_refused_not_wrong(net):
    """torch's compiled backward reuses the buffers it saved, so it refuses
    `retain_graph=True` (a second backward) instead of computing it: loudly.
    (Turning the donated buffers off, as torch's message offers, made a second
    gradient wrong by 1e-3 in torch 2.13: the backend leaves them on.)"""
    x = torch.randn(4, 3, dtype=torch.float64)
    op = tm.laplacian(net, x, backend="torch-inductor")
    assert torch._functorch.config.donated_buffer
    with pytest.raises(RuntimeError, match="donated buffers"):
        torch.autograd.grad(op(x).square().sum(), [net[0].weight], retain_graph=True)
    (once,) = torch.autograd.grad(op(x).square().sum(), [net[0].weight])
    (want,) = torch.autograd.grad(ref.laplacian(net, x).square().sum(), [net[0].weight])
    close(once, want)

"""
`x.detach()`, `torch.no_grad()` regions and in-place `detach_()` inside f: the
values whose gradient f stops are constants of the jet, and stay detached in
the compiled program (parameter gradients stop there too), as in torch.

Each case is an `nn.Module` whose `stop` flag switches the stop-gradients off,
so every test also checks that the reference with them differs from the one
without (the case tests something). References are independent, float64, at
1e-10: `torch.func.hessian` (forward-over-reverse) honours `detach` but its
forward pass ignores `torch.no_grad()`, so the grad-mode cases use
reverse-over-reverse `torch.func.jacrev`, which honours both; torch.func
ignores an in-place `detach_()`, so that case uses nested `torch.autograd.grad`
(eager autograd), as jets do (tests/reference.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import reference as ref
import torch
from torch import nn
from torch.func import jacrev, vmap

import taylor_mlir as tm
from taylor_mlir.backends.iree_backend import lower_for_iree
from taylor_mlir.backends.torch_backend import to_fx
from taylor_mlir.compile_function import compile_function
from taylor_mlir.errors import ExportError
from taylor_mlir.frontend import import_torch
from taylor_mlir.models import mlp

TOL = {"rtol": 1e-10, "atol": 1e-10}
HAS_IREE = importlib.util.find_spec("iree.compiler") is not None


class Model(nn.Module):
    """`body(self, z)` with a tanh MLP R^3 -> R^3; `stop=False` is the same
    function without its stop-gradients."""

    def __init__(self, body: Callable, stop: bool = True):
        super().__init__()
        self.net = mlp([3, 8, 3], "tanh", torch.float64, seed=1)
        self.body, self.stop = body, stop

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self, z)

    def detach(self, t: torch.Tensor) -> torch.Tensor:
        return t.detach() if self.stop else t

    def no_grad(self):
        return torch.no_grad() if self.stop else contextlib.nullcontext()


# ------------------------------------------------------------------ the cases


def detach_times_self(m, z):  # the example: 0, not 2 D
    return (m.detach(z) * z).sum(-1, keepdim=True)


def detached_net(m, z):  # a detached copy of the network times itself
    h = m.net(z)
    return (m.detach(h) * torch.sin(h) * z).sum(-1, keepdim=True)


def detach_in_place(m, z):
    h = torch.tanh(m.net(z))
    if m.stop:
        h.detach_()
    return (h * z * z).sum(-1, keepdim=True)


def no_grad_region(m, z):
    with m.no_grad():
        a = torch.tanh(m.net(z))
    return (a * z * z).sum(-1, keepdim=True) + m.net(z).sum(-1, keepdim=True)


def no_grad_scale(m, z):  # a region feeding a differentiable network
    with m.no_grad():
        s = (z * z).sum(-1, keepdim=True).sqrt()
    return m.net(z / s).sum(-1, keepdim=True) * s


def no_grad_view(m, z):  # a view of the input made in the region: detached too
    with m.no_grad():
        v = z[:, :1]
    return (v * z * z).sum(-1, keepdim=True)


def set_grad_enabled(m, z):
    torch.set_grad_enabled(not m.stop)
    a = torch.sin(m.net(z))
    torch.set_grad_enabled(True)
    return (a * m.net(z) * z).sum(-1, keepdim=True)


def nested_regions(m, z):  # enable_grad inside no_grad, no_grad inside that
    with m.no_grad():
        a = torch.sin(z)
        with torch.enable_grad():
            b = torch.tanh(a * m.net(z))
            with m.no_grad():
                c = torch.cos(b)
        d = b * 2
    return (b * z + c * z + d * a).sum(-1, keepdim=True)


@dataclass(frozen=True)
class Case:
    body: Callable
    reference: str  # "hessian", "jacrev" or "autograd" (see the docstring)


CASES = {
    "detach-times-self": Case(detach_times_self, "hessian"),
    "detached-net": Case(detached_net, "hessian"),
    "detach-in-place": Case(detach_in_place, "autograd"),
    "no-grad-region": Case(no_grad_region, "jacrev"),
    "no-grad-scale": Case(no_grad_scale, "jacrev"),
    "no-grad-view": Case(no_grad_view, "jacrev"),
    "set-grad-enabled": Case(set_grad_enabled, "jacrev"),
    "nested-regions": Case(nested_regions, "jacrev"),
}


# ------------------------------------------------------------- references


def _per_datum(f: Callable) -> Callable:
    return lambda v: f(v.unsqueeze(0)).squeeze(0)


def _trace(h: torch.Tensor) -> torch.Tensor:
    return h.diagonal(dim1=-2, dim2=-1).sum(-1)


def reverse_laplacian(f: Callable, x: torch.Tensor) -> torch.Tensor:
    """The trace of the per-datum Hessian by `jacrev(jacrev(.))`."""
    g = _per_datum(f)
    return vmap(lambda v: _trace(jacrev(jacrev(g))(v)))(x)


def reverse_biharmonic(f: Callable, x: torch.Tensor) -> torch.Tensor:
    g = _per_datum(f)

    def lap(v):
        return _trace(jacrev(jacrev(g))(v))

    return vmap(lambda v: _trace(jacrev(jacrev(lap))(v)))(x)


def _grad(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`d sum(y) / dx` (the per-row derivative: rows are independent), zero
    where y does not depend on x."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _autograd_laplacian_at(f: Callable, x: torch.Tensor) -> torch.Tensor:
    g = _grad(f(x), x)
    return sum(_grad(g[:, i], x)[:, i] for i in range(x.shape[1])).unsqueeze(-1)


def autograd_laplacian(f: Callable, x: torch.Tensor) -> torch.Tensor:
    """The Laplacian of `f: (N, D) -> (N, 1)` by nested `torch.autograd.grad`."""
    return _autograd_laplacian_at(f, x.detach().requires_grad_())


def autograd_biharmonic(f: Callable, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_()
    return _autograd_laplacian_at(lambda t: _autograd_laplacian_at(f, t), x)


LAPLACIANS = {
    "hessian": ref.laplacian,
    "jacrev": reverse_laplacian,
    "autograd": autograd_laplacian,
}
BIHARMONICS = {
    "hessian": ref.biharmonic,
    "jacrev": reverse_biharmonic,
    "autograd": autograd_biharmonic,
}


def laplacian_reference(case: Case, m: Model, x: torch.Tensor) -> torch.Tensor:
    return LAPLACIANS[case.reference](m, x)


def biharmonic_reference(case: Case, m: Model, x: torch.Tensor) -> torch.Tensor:
    return BIHARMONICS[case.reference](m, x)


def assert_stops_something(reference: Callable, case: Case, x: torch.Tensor):
    """The reference without the stop-gradients differs: the case can fail."""
    with_stops = reference(case, Model(case.body), x)
    without = reference(case, Model(case.body, stop=False), x)
    assert not torch.allclose(with_stops, without, **TOL)


def sample(n: int = 5) -> torch.Tensor:
    return torch.randn(n, 3, dtype=torch.float64)


# ------------------------------------------------------------------- values


@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "standard"])
@pytest.mark.parametrize("name", CASES)
def test_laplacian(name: str, collapsed: bool):
    case, x = CASES[name], sample()
    assert_stops_something(laplacian_reference, case, x)
    m = Model(case.body)
    op = tm.laplacian(m, x, collapsed=collapsed)
    for batch in (x, sample(2)):
        torch.testing.assert_close(
            op(batch), laplacian_reference(case, m, batch), **TOL
        )


@pytest.mark.parametrize(
    "name", ["detached-net", "detach-in-place", "no-grad-region", "no-grad-scale"]
)
def test_biharmonic(name: str):
    case, x = CASES[name], sample(3)
    assert_stops_something(biharmonic_reference, case, x)
    m = Model(case.body)
    torch.testing.assert_close(
        tm.biharmonic(m, x)(x), biharmonic_reference(case, m, x), **TOL
    )


@pytest.mark.parametrize("name", CASES)
def test_jet(name: str):
    """Every coefficient of a 3-jet against nested autograd along the path."""
    x0, x1, x2 = sample(), sample(), sample()
    m = Model(CASES[name].body)
    f0, rest = tm.jet(m, x0, 3)(x0, [x1, x2])
    expected = ref.taylor_path_derivatives(m, [x0, x1, x2], 3)
    without = ref.taylor_path_derivatives(
        Model(CASES[name].body, stop=False), [x0, x1, x2], 3
    )
    assert any(
        not torch.allclose(a, b, **TOL) for a, b in zip(expected, without, strict=True)
    )
    for actual, wanted in zip([f0, *rest], expected, strict=True):
        torch.testing.assert_close(actual, wanted, **TOL)


def test_caller_under_no_grad():
    """Compiled inside the caller's `torch.no_grad()`, f's own region is still
    recorded (f is exported with grad mode on)."""
    case, x = CASES["no-grad-scale"], sample()
    m = Model(case.body)
    with torch.no_grad():
        op = tm.laplacian(m, x)
    torch.testing.assert_close(op(x), laplacian_reference(case, m, x), **TOL)


# ---------------------------------------------------------------- gradients


def _parameter_gradients(loss: torch.Tensor, m: Model) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(m.parameters()), materialize_grads=True))


@pytest.mark.parametrize("backend", ["torch", "iree-cpu"])
@pytest.mark.parametrize(
    "name", ["detached-net", "no-grad-region", "no-grad-scale", "set-grad-enabled"]
)
def test_parameter_gradients(name: str, backend: str):
    """The gradients of a loss of the compiled Laplacian w.r.t. the parameters
    stop where f stops them: against autograd of the torch.func reference."""
    if backend == "iree-cpu" and not HAS_IREE:
        pytest.skip("iree is not installed")
    case, x = CASES[name], sample()
    m = Model(case.body)
    op = tm.laplacian(m, x, backend=backend)
    ours = _parameter_gradients((op(x) ** 2).sum(), m)
    expected = _parameter_gradients((laplacian_reference(case, m, x) ** 2).sum(), m)
    without = Model(case.body, stop=False)
    without.load_state_dict(m.state_dict())
    loss_without = (laplacian_reference(case, without, x) ** 2).sum()
    grads_without = _parameter_gradients(loss_without, without)
    assert any(
        not torch.allclose(a, b, **TOL)
        for a, b in zip(expected, grads_without, strict=True)
    )
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_primal_stays_detached():
    """The compiled f itself: its input gradient treats `z.detach()` as a
    constant, as autograd of f does."""
    m = Model(detach_times_self)
    x = sample().requires_grad_()
    (ours,) = torch.autograd.grad(compile_function(m, x.detach())(x).sum(), x)
    (expected,) = torch.autograd.grad(m(x).sum(), x)
    torch.testing.assert_close(ours, expected, **TOL)
    torch.testing.assert_close(ours, x.detach(), **TOL)  # not 2 x


# ---------------------------------------------------------------------- IR


def test_program_detaches():
    """Import: `taylor.stop_gradient`; the torch program: `aten.detach`; the
    module IREE compiles: the operand."""
    x = sample()
    m = Model(no_grad_scale)
    assert "taylor.stop_gradient" in str(import_torch(m, (x,)).module)
    op = tm.laplacian(m, x)
    targets = {n.target for n in to_fx(op.levels.final, "operator").graph.nodes}
    assert torch.ops.aten.detach.default in targets
    assert "taylor.stop_gradient" in str(op.levels.final)
    assert "taylor.stop_gradient" not in str(lower_for_iree(op.levels.final))


def test_alias_that_is_not_a_detach_is_identity():
    """`z[...]` is an `aten.alias` too, and keeps its derivatives."""

    def f(z):
        return (z[...] * z).sum(-1, keepdim=True)

    x = sample()
    prog = import_torch(f, (x,))
    targets = {n.target for n in prog.exported.graph.nodes}
    assert torch.ops.aten.alias.default in targets
    assert "taylor.stop_gradient" not in str(prog.module)
    torch.testing.assert_close(tm.laplacian(f, x)(x), ref.laplacian(f, x), **TOL)
    torch.testing.assert_close(tm.laplacian(f, x)(x), torch.full((5, 1), 6.0).double())


# ------------------------------------------------------------------ refused


def inference_mode(z):
    with torch.inference_mode():
        a = torch.tanh(z)
    return a * z


def data(z):
    return torch.tanh(z).data * z


def test_inference_mode_is_refused():
    """torch.export drops `torch.inference_mode()`: refused, not differentiated."""
    with pytest.raises(ExportError) as error:
        tm.laplacian(inference_mode, sample())
    message = str(error.value)
    assert "torch.inference_mode()" in message and "torch.no_grad()" in message
    assert "a = torch.tanh(z)" in message  # the user's line


def test_data_is_refused():
    """`tensor.data` cannot be traced by torch.export: the message names it."""
    with pytest.raises(ExportError, match=r"tensor\.data.*tensor\.detach\(\)"):
        tm.laplacian(data, sample())

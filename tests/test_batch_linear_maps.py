"""
`batch-linear-maps` (transforms/batch_linear_maps.py): programs (standard and
collapsed mode) whose layers map all coefficients in one GEMM compute the same operators
(values against torch.func in float64 at 1e-10, parameter gradients against
autograd through torch.func) on the torch backend and on iree-cpu; the cost
model batches the paper MLP at one datum and not at 16.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from reference import biharmonic, laplacian, weighted_laplacian
from torch import nn

import taylor_mlir as tm
from taylor_mlir import pipeline
from taylor_mlir.models import paper_mlp
from taylor_mlir.operators.sampling import sample_directions
from taylor_mlir.transforms import batch_linear_maps

TOL = 1e-10
D = 4
needs_iree = pytest.mark.skipif(
    importlib.util.find_spec("iree.compiler") is None, reason="iree is not installed"
)


@pytest.fixture
def always(monkeypatch):
    """Every group batched, whatever the cost model says (small test widths)."""
    monkeypatch.setattr(batch_linear_maps, "worth_batching", lambda rows, width: True)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, 6), nn.Sigmoid(), nn.Linear(6, 1)
    ).double()


def _concats(op) -> int:
    return op.mlir("linalg").count("tensor.concat")


_C = torch.tensor([[2.0, 0.5, 0, 0], [0.5, 1, 0, 0.3], [0, 0, 3, 0], [0, 0.3, 0, 1]])
_OPERATORS = {
    "laplacian": (lambda f, x, c: tm.laplacian(f, x, collapsed=c), laplacian),
    "weighted_laplacian": (
        lambda f, x, c: tm.weighted_laplacian(f, x, _C.double().numpy(), collapsed=c),
        lambda f, x: weighted_laplacian(f, x, _C.double()),
    ),
    "biharmonic_interpolated": (
        lambda f, x, c: tm.biharmonic(f, x, collapsed=c, strategy="interpolated"),
        biharmonic,
    ),
    "biharmonic_nested": (
        lambda f, x, c: tm.biharmonic(f, x, collapsed=c, strategy="nested"),
        biharmonic,
    ),
}


def _assert_same_parameter_gradients(f, got: torch.Tensor, exact: torch.Tensor):
    """The scalars `got` and `exact` have the same gradients in f's parameters
    (one either does not reach counts as zero)."""
    params = list(f.parameters())
    grads = torch.autograd.grad(got, params, allow_unused=True)
    exact_grads = torch.autograd.grad(exact, params, allow_unused=True)
    for p, g, e in zip(params, grads, exact_grads, strict=True):
        zero = torch.zeros_like(p)  # the last bias: no second derivative
        g, e = zero if g is None else g, zero if e is None else e
        torch.testing.assert_close(g, e, rtol=TOL, atol=TOL)


def _assert_values_and_parameter_gradients(op, f, x, reference) -> None:
    got = op(x)
    exact = reference(f, x)
    torch.testing.assert_close(got.reshape(exact.shape), exact, rtol=TOL, atol=TOL)
    _assert_same_parameter_gradients(f, got.sum(), exact.sum())


@pytest.mark.parametrize("collapsed", [False, True], ids=["standard", "collapsed"])
@pytest.mark.parametrize("name", list(_OPERATORS))
def test_values_and_parameter_gradients(always, name, collapsed):
    compile_op, reference = _OPERATORS[name]
    f = _net()
    x = torch.rand(5, D, dtype=torch.float64)
    op = compile_op(f, x, collapsed)
    assert _concats(op) > 0  # the pass ran
    _assert_values_and_parameter_gradients(op, f, x, reference)


def test_other_batch_sizes(always):
    """The slices' dynamic sizes follow the call's batch, not the example's."""
    f = _net()
    op = tm.laplacian(f, torch.rand(3, D, dtype=torch.float64), collapsed=False)
    for n in (1, 7):
        x = torch.rand(n, D, dtype=torch.float64)
        exact = laplacian(f, x)
        torch.testing.assert_close(
            op(x).reshape(exact.shape), exact, rtol=TOL, atol=TOL
        )


@pytest.mark.parametrize("collapsed", [False, True], ids=["standard", "collapsed"])
def test_with_tile_directions(always, monkeypatch, collapsed):
    """Tiled, each block of directions maps its coefficients together; the
    blocks stay apart. Collapsed, a block is one map, and the 8 -> 6 layer's
    second-order input (from the first layer's folded seeds) joins one."""
    linalg = tuple(
        "tile-directions{block=2}" if p == "tile-directions" else p
        for p in pipeline.STAGES["linalg"]
    )
    monkeypatch.setitem(pipeline.STAGES, "linalg", linalg)
    f = _net()
    x = torch.rand(5, D, dtype=torch.float64)
    op = tm.laplacian(f, x, collapsed=collapsed)
    if collapsed:
        assert _concats(op) == 1
        assert "(tensor<2x?x8xf64>, tensor<1x?x8xf64>)" in op.mlir("linalg")
    else:
        assert _concats(op) == 2  # two blocks (of 2 directions) of the 8 -> 6 layer
    exact = laplacian(f, x)
    torch.testing.assert_close(op(x).reshape(exact.shape), exact, rtol=TOL, atol=TOL)


def test_collapsed_second_order_joins_its_layer(always):
    """Collapsed, a layer maps the primal, the tangents and the second-order
    coefficient together: the second-order chain, computed after all layers'
    tangents, is moved up to its layer. Here that is the 8 -> 6 layer: the
    first takes the folded seeds, the last maps the second-order coefficient
    alone (the Laplacian needs neither its primal nor its tangents)."""
    f = _net()
    x = torch.rand(5, D, dtype=torch.float64)
    op = tm.laplacian(f, x)
    linalg = op.mlir("linalg")
    assert linalg.count("tensor.concat") == 1
    assert "(tensor<1x?x8xf64>, tensor<4x?x8xf64>, tensor<1x?x8xf64>)" in linalg
    assert linalg.count("linalg.matmul") == 3  # one a layer
    _assert_values_and_parameter_gradients(op, f, x, laplacian)


class _TiedResidual(nn.Module):
    """One weight used twice in a row and a skip connection around it, and
    two outputs: the second application's input is computed from the first's
    results, so the two must not be one group."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.inp, self.hidden = nn.Linear(D, 8), nn.Linear(8, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        g = torch.sin(self.hidden(h))
        g = torch.tanh(self.hidden(g)) + h
        return self.out(g), (g * g).sum(-1)


@pytest.mark.parametrize("collapsed", [False, True], ids=["standard", "collapsed"])
def test_tied_weights_skips_and_several_outputs(always, collapsed):
    f = _TiedResidual().double()
    x = torch.rand(3, D, dtype=torch.float64)
    op = tm.laplacian(f, x, collapsed=collapsed)
    assert _concats(op) > 0
    got = op(x)
    for o in range(2):
        exact = laplacian(lambda v, o=o: f(v)[o], x)
        torch.testing.assert_close(
            got[o].reshape(exact.shape), exact, rtol=TOL, atol=TOL
        )
    exact_total = laplacian(lambda v: f(v)[0], x).sum()
    exact_total = exact_total + laplacian(lambda v: f(v)[1], x).sum()
    _assert_same_parameter_gradients(f, got[0].sum() + got[1].sum(), exact_total)


def test_returns_value_and_gradient(always):
    """The value and gradient returned beside the operator come out of the
    batched maps' slices too."""
    f = _net()
    x = torch.rand(4, D, dtype=torch.float64)
    op = tm.laplacian(f, x, returns=("value", "gradient", "operator"))
    assert _concats(op) > 0
    value, gradient, lap = op(x)
    torch.testing.assert_close(value, f(x), rtol=TOL, atol=TOL)
    exact_gradient = torch.func.vmap(torch.func.jacrev(lambda v: f(v)[0]))(x)
    torch.testing.assert_close(
        gradient.reshape(exact_gradient.shape), exact_gradient, rtol=TOL, atol=TOL
    )
    exact = laplacian(f, x)
    torch.testing.assert_close(lap.reshape(exact.shape), exact, rtol=TOL, atol=TOL)


def test_randomized_directions(always):
    """Directions drawn per call go through the batched maps: the estimate is
    the mean of v^T H v over the directions drawn (torch.func's Hessian)."""
    f = _net()
    x = torch.rand(4, D, dtype=torch.float64)
    op = tm.laplacian(f, x, randomization=("rademacher", 3), seed=0)
    assert op.strategy.chosen == "randomized"
    assert _concats(op) > 0
    estimate = op(x)
    (group,) = op.spec.groups
    generator = torch.Generator().manual_seed(0)  # the directions of the first call
    v = sample_directions(group.random, 4, (D,), torch.float64, generator)
    hessians = torch.func.vmap(torch.func.hessian(lambda u: f(u)[0]))(x)
    exact = torch.einsum("rni,nij,rnj->n", v, hessians, v) / v.shape[0]
    torch.testing.assert_close(estimate.reshape(exact.shape), exact, rtol=TOL, atol=TOL)


@needs_iree
def test_iree_runs_the_batched_program(always, tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    f = _net()
    x = torch.rand(5, D, dtype=torch.float64)
    for collapsed in (False, True):
        op = tm.laplacian(f, x, collapsed=collapsed, backend="iree-cpu")
        assert _concats(op) > 0
        exact = laplacian(f, x)
        got = op(x).reshape(exact.shape)
        torch.testing.assert_close(got, exact, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("collapsed", [False, True], ids=["standard", "collapsed"])
def test_cost_model_on_the_paper_mlp(collapsed):
    """Batched at one datum ((1 + 50 + 50) rows in standard mode, 1 + 50 + 1
    collapsed, through 768- and 512-wide layers), not at 16 (1616 and 832
    rows, above the cost model's 512)."""
    torch.manual_seed(0)
    f = paper_mlp(50).double()
    x = torch.rand(1, 50, dtype=torch.float64)
    one = tm.laplacian(f, x, collapsed=collapsed)
    assert _concats(one) == 3  # layers 2-4; layer 1 takes the seeds, 5 is 1 wide
    exact = laplacian(f, x)
    torch.testing.assert_close(one(x).reshape(exact.shape), exact, rtol=TOL, atol=TOL)
    x16 = torch.rand(16, 50, dtype=torch.float64)
    assert _concats(tm.laplacian(f, x16, collapsed=collapsed)) == 0


def test_worth_batching():
    assert batch_linear_maps.worth_batching(101, 768)
    assert batch_linear_maps.worth_batching(104, 512)  # collapsed, two data
    assert not batch_linear_maps.worth_batching(1616, 768)
    assert not batch_linear_maps.worth_batching(101, 1)

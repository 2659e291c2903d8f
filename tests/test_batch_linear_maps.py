"""
`batch-linear-maps` (transforms/batch_linear_maps.py): standard-mode programs
whose layers map all coefficients in one GEMM compute the same operators
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
    "laplacian": (lambda f, x: tm.laplacian(f, x, collapsed=False), laplacian),
    "weighted_laplacian": (
        lambda f, x: tm.weighted_laplacian(f, x, _C.double().numpy(), collapsed=False),
        lambda f, x: weighted_laplacian(f, x, _C.double()),
    ),
    "biharmonic_interpolated": (
        lambda f, x: tm.biharmonic(f, x, collapsed=False, strategy="interpolated"),
        biharmonic,
    ),
    "biharmonic_nested": (
        lambda f, x: tm.biharmonic(f, x, collapsed=False, strategy="nested"),
        biharmonic,
    ),
}


@pytest.mark.parametrize("name", list(_OPERATORS))
def test_values_and_parameter_gradients(always, name):
    compile_op, reference = _OPERATORS[name]
    f = _net()
    x = torch.rand(5, D, dtype=torch.float64)
    op = compile_op(f, x)
    assert _concats(op) > 0  # the pass ran
    got = op(x)
    exact = reference(f, x)
    torch.testing.assert_close(got.reshape(exact.shape), exact, rtol=TOL, atol=TOL)
    params = list(f.parameters())
    grads = torch.autograd.grad(got.sum(), params, allow_unused=True)
    exact_grads = torch.autograd.grad(reference(f, x).sum(), params, allow_unused=True)
    for p, g, e in zip(params, grads, exact_grads, strict=True):
        zero = torch.zeros_like(p)  # the last bias: no second derivative
        g, e = zero if g is None else g, zero if e is None else e
        torch.testing.assert_close(g, e, rtol=TOL, atol=TOL)


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


def test_with_tile_directions(always, monkeypatch):
    """Tiled, each block of directions maps its coefficients together."""
    linalg = tuple(
        "tile-directions{block=2}" if p == "tile-directions" else p
        for p in pipeline.STAGES["linalg"]
    )
    monkeypatch.setitem(pipeline.STAGES, "linalg", linalg)
    f = _net()
    x = torch.rand(5, D, dtype=torch.float64)
    op = tm.laplacian(f, x, collapsed=False)
    assert _concats(op) == 2  # two blocks (of 2 directions) of the 8 -> 6 layer
    exact = laplacian(f, x)
    torch.testing.assert_close(op(x).reshape(exact.shape), exact, rtol=TOL, atol=TOL)


def test_collapsed_mode_is_left_alone(always):
    """One map per layer: nothing to batch."""
    f = _net()
    op = tm.laplacian(f, torch.rand(5, D, dtype=torch.float64))
    assert _concats(op) == 0


@needs_iree
def test_iree_runs_the_batched_program(always, tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    f = _net()
    x = torch.rand(5, D, dtype=torch.float64)
    op = tm.laplacian(f, x, collapsed=False, backend="iree-cpu")
    assert _concats(op) > 0
    exact = laplacian(f, x)
    torch.testing.assert_close(op(x).reshape(exact.shape), exact, rtol=TOL, atol=TOL)


def test_cost_model_on_the_paper_mlp():
    """Batched at one datum ((1 + 50 + 50) rows through 768- and 512-wide
    layers), not at 16 (1616 rows: MKL's GEMM is as efficient at 800)."""
    torch.manual_seed(0)
    f = paper_mlp(50).double()
    x = torch.rand(1, 50, dtype=torch.float64)
    one = tm.laplacian(f, x, collapsed=False)
    assert _concats(one) == 3  # layers 2-4; layer 1 takes the seeds, 5 is 1 wide
    exact = laplacian(f, x)
    torch.testing.assert_close(one(x).reshape(exact.shape), exact, rtol=TOL, atol=TOL)
    sixteen = tm.laplacian(f, torch.rand(16, 50, dtype=torch.float64), collapsed=False)
    assert _concats(sixteen) == 0


def test_worth_batching():
    assert batch_linear_maps.worth_batching(101, 768)
    assert not batch_linear_maps.worth_batching(1616, 768)
    assert not batch_linear_maps.worth_batching(101, 1)

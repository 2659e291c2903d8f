"""`factor-replicates` (issue 13): the nested biharmonic's Taylor arithmetic of
the inner program's s' and s'' chains is one per-direction product per value.
Values against torch.func; the per-direction work against the pipeline
without the pass."""

import pytest
import reference as ref
import torch
from xdsl.dialects import arith

import taylor_mlir as tm
from taylor_mlir import pipeline
from taylor_mlir.dialects.taylor import LinearMapOp
from taylor_mlir.models import mlp

TOL = 1e-10


def close(actual, expected):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= TOL * scale


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus"])
def test_nested_biharmonic_values(activation):
    net = mlp([3, 8, 6, 1], activation, torch.float64, 0)
    x = torch.rand(5, 3, dtype=torch.float64)
    op = tm.biharmonic(net, x, strategy="nested")
    assert any(p.startswith("factor-replicates") for p in op.levels.passes)
    close(op(x), ref.biharmonic(net, x))


def test_laplacian_of_weighted_laplacian_values():
    net = mlp([2, 5, 1], "tanh", torch.float64, 1)
    x = torch.rand(4, 2, dtype=torch.float64)
    c = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    outer = tm.laplacian(tm.weighted_laplacian(net, x, coefficients=c), x)
    expected = ref.laplacian(lambda z: ref.weighted_laplacian(net, z, c), x)
    close(outer(x), expected)


def _flops(op) -> int:
    return op.stats()["collapsed"].flops_per_datum


def _per_direction_arithmetic(op) -> int:
    """Elementwise ops on per-direction tensors (direction x batch x width; the
    bodies of linear maps, one direction each, not counted)."""
    return sum(
        isinstance(o, arith.AddfOp | arith.SubfOp | arith.MulfOp)
        and len(getattr(o.result.type, "shape", ())) >= 3
        for o in op.levels["collapsed"].walk()
    )


def test_less_per_direction_work_than_without_the_pass(monkeypatch):
    net = mlp([3, 16, 16, 1], "tanh", torch.float64, 0)
    x = torch.rand(4, 3, dtype=torch.float64)
    with_pass = tm.biharmonic(net, x, strategy="nested")
    stage = tuple(p for p in pipeline.STAGES["collapsed"] if p != "factor-replicates")
    monkeypatch.setitem(pipeline.STAGES, "collapsed", stage)
    without = tm.biharmonic(net, x, strategy="nested")
    close(with_pass(x), without(x))
    assert not any(p.startswith("factor-replicates") for p in without.levels.passes)
    assert _flops(with_pass) < _flops(without)
    # 18 against 33 for this network: each s', s'' chain is one product
    # (without the pass, fewer than with the rule's full polynomials: tanh's
    # s'' is already one product with s')
    with_count = _per_direction_arithmetic(with_pass)
    assert 5 * with_count < 3 * _per_direction_arithmetic(without)


def test_no_scale_map_left():
    """Every linear map that only scales each direction became a product."""
    net = mlp([3, 8, 8, 1], "tanh", torch.float64, 0)
    x = torch.rand(4, 3, dtype=torch.float64)
    op = tm.biharmonic(net, x, strategy="nested")
    maps = [o for o in op.levels["collapsed"].walk() if isinstance(o, LinearMapOp)]
    assert maps  # the matmuls, broadcasts and slices of the inner program
    for linear_map in maps:
        body = [o.name for o in linear_map.body.block.ops]
        assert body[0] != "arith.mulf" or len(body) != 2, linear_map

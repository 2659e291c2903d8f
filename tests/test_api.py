"""The public API: levels, stats, parameters, call checks, errors."""

import numpy as np
import pytest
import reference as ref
import torch

import taylor_mlir as tm
from taylor_mlir.errors import (
    BackendError,
    CallError,
    DtypeError,
    OptionError,
    TaylorMLIRError,
)
from taylor_mlir.models import mlp
from taylor_mlir.pipeline import pass_pipeline


@pytest.fixture(scope="module")
def small():
    f = mlp([3, 8, 8, 1], "tanh", torch.float64, seed=1)
    x = torch.randn(
        4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    return f, x


@pytest.fixture(scope="module")
def lap(small):
    return tm.laplacian(*small)


def test_public_names():
    for name in [
        "laplacian",
        "weighted_laplacian",
        "biharmonic",
        "linear_operator",
        "jet",
        "compile",
        "compile_function",
        "errors",
        "CompiledOperator",
    ]:
        assert hasattr(tm, name), name
    assert tm.errors.CallError is CallError


def test_every_level_prints(lap):
    import_ir = lap.mlir("import")
    assert "func.func @forward" in import_ir and "taylor." not in import_ir
    taylor_ir = lap.mlir("taylor")
    assert "func.func private @forward" in taylor_ir
    assert "taylor.seed" in taylor_ir and "taylor.call @forward" in taylor_ir
    expanded = lap.mlir("expanded")
    assert "taylor.seed" not in expanded and "taylor.call" not in expanded
    assert "taylor.sum" in expanded and "taylor.linear_map" in expanded
    collapsed = lap.mlir("collapsed")
    assert "taylor.call" not in collapsed
    linalg = lap.mlir("linalg")
    assert "taylor." not in linalg and "func.func @operator" in linalg
    assert lap.mlir() == linalg


def test_standard_mode_has_no_collapsed_level(small):
    op = tm.laplacian(*small, collapsed=False)
    with pytest.raises(OptionError, match="collapsed=False"):
        op.mlir("collapsed")
    with pytest.raises(OptionError, match="unknown IR level"):
        op.mlir("llvm")
    assert "taylor." not in op.mlir("linalg")


def test_pass_pipeline_strings():
    assert pass_pipeline("expanded") == "taylor-mode,taylor-expand,tensor-cleanup"
    assert pass_pipeline("linalg", collapsed=False) == (
        "taylor-mode,taylor-expand,tensor-cleanup,"
        "fold-seed-broadcasts,convert-taylor-to-tensor,tensor-cleanup"
    )
    assert pass_pipeline("linalg", batch=256) == (
        "taylor-mode,taylor-expand,tensor-cleanup,"
        "factor-replicates,taylor-collapse,tensor-cleanup,schedule-sums-early,"
        "fold-seed-broadcasts,tile-directions{batch=256},batch-linear-maps{batch=256},"
        "convert-taylor-to-tensor,tensor-cleanup"
    )


def test_dynamic_batch(lap, small):
    f, _ = small
    for n in (1, 2, 7):
        x = torch.randn(n, 3, dtype=torch.float64)
        out = lap(x)
        assert out.shape == (n, 1)
        torch.testing.assert_close(out, ref.laplacian(f, x), rtol=1e-10, atol=0)


def test_current_parameters_are_used():
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=2)
    x = torch.randn(5, 3, dtype=torch.float64)
    op = tm.laplacian(f, x)
    before = op(x).detach()
    with torch.no_grad():
        f[0].weight.mul_(1.5)
        f[2].bias.add_(1.0)  # the bias does not change the Laplacian
    after = op(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, ref.laplacian(f, x), rtol=1e-10, atol=0)


def test_gradients_flow_to_parameters():
    """A PDE loss built on the torch backend trains like any torch code."""
    f = mlp([3, 6, 1], "tanh", torch.float64, seed=3)
    x = torch.randn(5, 3, dtype=torch.float64)
    op = tm.laplacian(f, x)
    (op(x) ** 2).sum().backward()
    ours = f[0].weight.grad.clone()
    f.zero_grad()
    (ref.laplacian(f, x) ** 2).sum().backward()
    torch.testing.assert_close(ours, f[0].weight.grad, rtol=1e-10, atol=0)


def test_plain_function():
    w = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)

    def f(x):
        return torch.sin(x @ w.T) * torch.exp(x[:, :1])

    x = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(
        tm.laplacian(f, x)(x), ref.laplacian(f, x), rtol=1e-10, atol=0
    )


def test_compile_accepts_specs_names_and_factories(small):
    f, x = small
    expected = ref.laplacian(f, x)
    for operator in ("laplacian", tm.operators.laplacian(3), tm.operators.laplacian):
        op = tm.compile(f, x, operator)
        torch.testing.assert_close(op(x), expected, rtol=1e-10, atol=0)
    op = tm.compile(f, x, "weighted_laplacian", coefficients=np.eye(3))
    torch.testing.assert_close(op(x), expected, rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "operator, options, message",
    [
        ("curl", {}, "unknown operator 'curl'"),
        (tm.operators.laplacian(4), {}, "4 entries per datum, x has 3"),
        (tm.operators.laplacian(3), {"randomization": None}, "ready OperatorSpec"),
        (42, {}, "operator must be"),
    ],
)
def test_compile_errors(small, operator, options, message):
    f, x = small
    with pytest.raises(OptionError, match=message):
        tm.compile(f, x, operator, **options)


def test_call_errors(lap):
    with pytest.raises(CallError, match="compiled for torch.float64"):
        lap(torch.randn(4, 3, dtype=torch.float32))
    with pytest.raises(CallError, match=r"shape \(4, 5\).*\(N, 3\)"):
        lap(torch.randn(4, 5, dtype=torch.float64))
    with pytest.raises(CallError, match="shape"):
        lap(torch.randn(3, dtype=torch.float64))
    with pytest.raises(CallError, match="must be a torch.Tensor"):
        lap(np.zeros((4, 3)))
    with pytest.raises(CallError, match="empty batch"):
        lap(torch.zeros(0, 3, dtype=torch.float64))


def test_jet_call_errors(small):
    f, x = small
    jet = tm.jet(f, x, order=2)
    with pytest.raises(CallError, match="3 coefficients given to a jet of order 2"):
        jet(x, [x, x, x])
    with pytest.raises(CallError, match="x1 has shape"):
        jet(x, [x[:2]])
    with pytest.raises(OptionError, match="jet order"):
        tm.jet(f, x, order=0)


def test_compile_time_input_errors(small):
    f, _ = small
    with pytest.raises(DtypeError, match="float32 or float64"):
        tm.laplacian(f, torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(OptionError, match=r"\(N, \*S\)"):
        tm.laplacian(f, torch.zeros(3, dtype=torch.float64))
    assert issubclass(OptionError, TaylorMLIRError)
    with pytest.raises(BackendError, match="unknown backend 'tpu'"):
        tm.laplacian(f, torch.zeros(2, 3, dtype=torch.float64), backend="tpu")


# ----------------------------------------------------------------- stats


def test_stats_laplacian_vectors_per_node():
    """D = 50: standard Taylor mode pushes 1 + 2D vectors through a hidden layer,
    collapsed 1 + D + 1; the first layer sees 1 + D (x_2 = 0) in both."""
    D = 50
    f = mlp([D, 16, 16, 1], "tanh", torch.float64, seed=0)
    x = torch.randn(2, D, dtype=torch.float64)
    standard = tm.laplacian(f, x, collapsed=False).stats()
    collapsed = tm.laplacian(f, x).stats()
    assert standard["expanded"].vectors_per_node == 1 + 2 * D
    assert collapsed["collapsed"].vectors_per_node == 1 + D + 1
    assert collapsed["expanded"].vectors_per_node == 1 + 2 * D
    assert standard["expanded"].vectors_per_layer["2.weight"] == 1 + 2 * D
    assert collapsed["collapsed"].vectors_per_layer["2.weight"] == 1 + D + 1
    for s in (standard["expanded"], collapsed["collapsed"]):
        assert s.vectors_per_layer["0.weight"] == 1 + D
    with pytest.raises(KeyError, match="measured: expanded"):
        standard["collapsed"]
    # the collapsed program does less work, and says so in op counts and FLOPs
    assert collapsed["collapsed"].flops_per_datum < standard["expanded"].flops_per_datum
    assert collapsed["collapsed"].op_counts["linalg.matmul"] > 0
    assert "vectors/node" in str(collapsed)


EXPANDED_IR = """
func.func @operator(%x: tensor<?x3xf64>, %w: tensor<4x3xf64>, %d: tensor<2x?x3xf64>) -> tensor<?x4xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xf64>
  %e = tensor.empty() : tensor<3x4xf64>
  %wt = linalg.transpose ins(%w : tensor<4x3xf64>) outs(%e : tensor<3x4xf64>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f64
  %ei = tensor.empty(%n) : tensor<?x4xf64>
  %init = linalg.fill ins(%zero : f64) outs(%ei : tensor<?x4xf64>) -> tensor<?x4xf64>
  %h0 = linalg.matmul ins(%x, %wt : tensor<?x3xf64>, tensor<3x4xf64>) outs(%init : tensor<?x4xf64>) -> tensor<?x4xf64>
  %h1 = taylor.linear_map %d : tensor<2x?x3xf64> -> tensor<2x?x4xf64> {
  ^bb0(%dr: tensor<?x3xf64>):
    %m = linalg.matmul ins(%dr, %wt : tensor<?x3xf64>, tensor<3x4xf64>) outs(%init : tensor<?x4xf64>) -> tensor<?x4xf64>
    %neg = arith.negf %m : tensor<?x4xf64>
    taylor.yield %neg : tensor<?x4xf64>
  }
  %t = math.tanh %h0 : tensor<?x4xf64>
  %r = taylor.replicate %t : tensor<?x4xf64> -> tensor<2x?x4xf64>
  %p = arith.mulf %r, %h1 : tensor<2x?x4xf64>
  %s = taylor.sum %p weights [1.0, -1.0] : tensor<2x?x4xf64> -> tensor<?x4xf64>
  %ww = arith.mulf %wt, %wt : tensor<3x4xf64>
  func.return %s : tensor<?x4xf64>
}
"""


def test_stats_cost_model_on_known_ir():
    """Each count of the cost model (taylor_mlir.stats) on a hand-written program."""
    from xdsl.parser import Parser

    from taylor_mlir.context import make_context
    from taylor_mlir.stats import level_stats

    module = Parser(make_context(), EXPANDED_IR).parse_module()
    s = level_stats(module, "operator", "expanded", parameter_names=["w"])
    # %w is used by the batch matmul (1) and inside the 2-direction linear_map (2)
    assert s.vectors_per_layer == {"w": 3}
    assert s.vectors_per_node == 3
    matmuls = 2 * 3 * 4 * (1 + 2)
    negf = 2 * 4  # inside the linear_map: 4 per datum, twice
    tanh, mulf = 4, 2 * 4
    weighted_sum = 2 * (2 * 4)
    # %ww works on weights only: not per datum; transpose, fill, replicate: 0
    assert s.flops_per_datum == matmuls + negf + tanh + mulf + weighted_sum
    assert s.op_counts["linalg.matmul"] == 2 and s.op_counts["taylor.yield"] == 1


@pytest.mark.parametrize("D", [3, 4])
def test_stats_biharmonic_vectors_per_node(D):
    f = mlp([D, 6, 6, 1], "tanh", torch.float64, seed=0)
    x = torch.randn(2, D, dtype=torch.float64)
    stats = tm.biharmonic(f, x, strategy="interpolated").stats()
    assert stats["expanded"].vectors_per_node == 6 * D * D - 2 * D + 1
    assert 2 * stats["collapsed"].vectors_per_node == 9 * D * D - 3 * D + 4

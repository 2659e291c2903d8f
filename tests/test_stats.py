"""`CompiledOperator.stats()` (taylor_mlir/stats.py) on every op of the tensor-level
vocabulary and on programs built from compiled operators (whose program is
already lowered: `taylor.linear_map`s became `R x N`-row matmuls)."""

from __future__ import annotations

import pytest
import reference
import torch
from xdsl.parser import Parser

import taylor_mlir as tm
from taylor_mlir.context import make_context
from taylor_mlir.errors import InvalidIRError
from taylor_mlir.stats import level_stats


def _stats(text: str, parameter_names=("w",)):
    module = Parser(make_context(), text).parse_module()
    return level_stats(module, "operator", "expanded", parameter_names=parameter_names)


# A lowered linear_map over R = 3 directions (`3 x ? x 3` collapsed into the
# matmul's rows), a weight on the left of a `3 x ?*2` data matrix, and every
# other op of docs/ir-conventions.md's tensor level once.
VOCABULARY_IR = """
func.func @operator(%x: tensor<?x3xf64>, %w: tensor<3x4xf64>, %d: tensor<3x?x3xf64>,
                    %c: tensor<3x?x2xf64>, %v: tensor<4x3xf64>) -> tensor<?x5xf64> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xf64>
  %zero = arith.constant 0.0 : f64
  %rows = tensor.collapse_shape %d [[0, 1], [2]] : tensor<3x?x3xf64> into tensor<?x3xf64>
  %rn = tensor.dim %rows, %c0 : tensor<?x3xf64>
  %e = tensor.empty(%rn) : tensor<?x4xf64>
  %init = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %m = linalg.matmul ins(%rows, %w : tensor<?x3xf64>, tensor<3x4xf64>) outs(%init : tensor<?x4xf64>) -> tensor<?x4xf64>
  %back = tensor.expand_shape %m [[0, 1], [2]] output_shape [3, %n, 4] : tensor<?x4xf64> into tensor<3x?x4xf64>
  %sq = arith.mulf %back, %back : tensor<3x?x4xf64>
  %e2 = tensor.empty(%n) : tensor<?x4xf64>
  %init2 = linalg.fill ins(%zero : f64) outs(%e2 : tensor<?x4xf64>) -> tensor<?x4xf64>
  %sum = linalg.reduce ins(%sq : tensor<3x?x4xf64>) outs(%init2 : tensor<?x4xf64>) dimensions = [0]
    (%a: f64, %b: f64) {
      %s = arith.addf %a, %b : f64
      linalg.yield %s : f64
    }
  %cols = tensor.collapse_shape %c [[0], [1, 2]] : tensor<3x?x2xf64> into tensor<3x?xf64>
  %cn = tensor.dim %cols, %c1 : tensor<3x?xf64>
  %e3 = tensor.empty(%cn) : tensor<4x?xf64>
  %init3 = linalg.fill ins(%zero : f64) outs(%e3 : tensor<4x?xf64>) -> tensor<4x?xf64>
  %left = linalg.matmul ins(%v, %cols : tensor<4x3xf64>, tensor<3x?xf64>) outs(%init3 : tensor<4x?xf64>) -> tensor<4x?xf64>
  %e4 = tensor.empty(%n) : tensor<?x4xf64>
  %t = linalg.transpose ins(%sum : tensor<?x4xf64>) outs(%e4 : tensor<?x4xf64>) permutation = [0, 1]
  %bias = arith.constant dense<1.0> : tensor<4xf64>
  %bb = linalg.broadcast ins(%bias : tensor<4xf64>) outs(%e4 : tensor<?x4xf64>) dimensions = [0]
  %pos = arith.cmpf ogt, %t, %bb : tensor<?x4xf64>
  %sel = arith.select %pos, %t, %bb : tensor<?x4xi1>, tensor<?x4xf64>
  %one = tensor.extract_slice %x[0, 0] [%n, 1] [1, 1] : tensor<?x3xf64> to tensor<?x1xf64>
  %out = tensor.concat dim(1) %sel, %one : (tensor<?x4xf64>, tensor<?x1xf64>) -> tensor<?x5xf64>
  func.return %out : tensor<?x5xf64>
}
"""


def test_stats_of_every_tensor_level_op():
    s = _stats(VOCABULARY_IR, parameter_names=["w", "d", "c", "v"])
    # 3 direction rows per datum through w; 2 data columns per datum through v
    assert s.vectors_per_layer == {"w": 3, "v": 2}
    matmuls = 2 * 3 * 3 * 4 + 2 * 4 * 3 * 2
    mulf, reduce = 3 * 4, 3 * 4  # on the 3 x ? x 4 directions
    cmpf, select = 4, 4
    # collapse, expand, dim, empty, fill, transpose, broadcast, slice, concat: 0
    assert s.flops_per_datum == matmuls + mulf + reduce + cmpf + select
    assert s.op_counts["linalg.matmul"] == 2 and s.op_counts["linalg.reduce"] == 1


def test_an_op_outside_the_vocabulary_is_refused_not_counted_free():
    text = """
    func.func @operator(%x: tensor<?x3xf64>) -> tensor<?x3xf64> {
      %a = math.absf %x : tensor<?x3xf64>
      func.return %a : tensor<?x3xf64>
    }
    """
    with pytest.raises(InvalidIRError, match=r"no cost model for math\.absf"):
        _stats(text)


def _laplacian_of_laplacian(collapsed: bool):
    """net: 3 -> 4 -> tanh -> 1; lap2 = Laplacian of its compiled Laplacian."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    ).double()
    # Weights that need no gradient: the inner operator's FX program holds
    # them, and the outer export reads them as constants.
    net.requires_grad_(False)
    x = torch.randn(6, 3, dtype=torch.float64)
    lap = tm.laplacian(net, x)
    lap2 = tm.laplacian(lambda z: lap(z), x, collapsed=collapsed)
    return net, x, lap, lap2


def _layer_name(program, weight: torch.Tensor) -> str:
    """The program argument that holds `weight` (named by the frontend)."""
    imported = program.imported
    names = [
        name
        for name, value in zip(
            imported.parameter_names, imported.parameters, strict=True
        )
        if value.shape == weight.shape and torch.equal(value, weight)
    ]
    assert len(names) == 1, names
    return names[0]


def test_laplacian_of_a_compiled_laplacian_is_the_biharmonic():
    net, x, _, lap2 = _laplacian_of_laplacian(collapsed=True)
    torch.testing.assert_close(
        lap2(x), reference.biharmonic(net, x), rtol=1e-10, atol=1e-10
    )


def test_stats_of_a_laplacian_of_a_compiled_laplacian():
    """D = 3 directions outside, 3 inside. The inner program pushes x (1 vector)
    through W1 (its identity seeds times W1 are W1's columns, computed once per
    call: `fold-seed-broadcasts`), then its collapsed sum (1 vector) through
    W2. The outer Taylor mode turns the x vector into 1 + 3 (its second
    coefficient is zero, so not materialized): W1 sees 1 + 3 = 4 vectors per
    datum. W2's output is only needed at order 2: 3 vectors standard, 1
    collapsed."""
    net, _, lap, lap2 = _laplacian_of_laplacian(collapsed=True)
    inner = lap.stats()
    assert inner["collapsed"].vectors_per_layer == {"0.weight": 1 + 3, "2.weight": 1}
    w1, w2 = _layer_name(lap2, net[0].weight), _layer_name(lap2, net[2].weight)
    stats = lap2.stats()
    assert stats["expanded"].vectors_per_layer == {w1: 4, w2: 3}
    assert stats["collapsed"].vectors_per_layer == {w1: 4, w2: 1}
    assert stats["collapsed"].vectors_per_node == 4
    assert 0 < stats["collapsed"].flops_per_datum < stats["expanded"].flops_per_datum
    # the outer collapse sums its directions; the inner sum over 3 directions
    # arrives as u0*u0 plus two addcmuls (the torch backend's form), elementwise
    assert stats["collapsed"].op_counts["taylor.sum"] >= 1
    # standard Taylor mode measures the same expanded program
    _, _, _, standard = _laplacian_of_laplacian(collapsed=False)
    assert standard.stats()["expanded"] == stats["expanded"]


def test_stats_of_a_function_of_several_inputs_name_its_weights():
    """f(t, x): the program's first two arguments are inputs, the parameters
    follow (the stats once counted input t as the first parameter, naming
    each layer by the tensor after its weight)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    ).double()
    t, x = torch.rand(2, 1, dtype=torch.float64), torch.rand(2, 3, dtype=torch.float64)
    stats = tm.laplacian(lambda t, x: net(x) * t, (t, x), wrt=1).stats()
    assert stats["collapsed"].vectors_per_layer == {
        "net.0.weight": 1 + 3,
        "net.2.weight": 1,
    }

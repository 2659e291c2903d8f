"""`canonicalize` on taylor IR: the dialect's canonicalization patterns
(transforms/canonicalization_patterns/taylor.py) reached through xDSL's canonicalization
interface, on small programs written as MLIR text; checked by op counts."""

from __future__ import annotations

from collections import Counter

import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.transforms.canonicalize import CanonicalizePass

from taylor_mlir.context import make_context
from taylor_mlir.dialects import taylor
from taylor_mlir.transforms import taylor_collapse
from taylor_mlir.transforms.canonicalization_patterns.taylor import (
    CoefficientOfSeed,
    FactorUniformWeights,
    OffsetByZero,
    RemoveIdentityBody,
    SumOfReplicate,
)

JET = "!taylor.jet<2, 3, tensor<?x4xf64>>"

# A 2-jet along 3 directions of tensor<?x4xf64> through an identity linear op
# and an offset by zero; the program reads back what the seed was given (x, v)
# and the coefficient it was not (x2 = 0).
JET_PROGRAM = f"""
func.func @jet(%x: tensor<?x4xf64>, %v: tensor<3x?x4xf64>) -> (tensor<?x4xf64>, tensor<3x?x4xf64>, tensor<3x?x4xf64>) {{
  %j = taylor.seed %x, %v : tensor<?x4xf64>, tensor<3x?x4xf64> -> {JET}
  %l = taylor.linear %j : {JET} -> {JET} {{
  ^bb0(%a: tensor<?x4xf64>):
    taylor.yield %a : tensor<?x4xf64>
  }}
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf64>
  %e = tensor.empty(%n) : tensor<?x4xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %o = taylor.offset %l, %z : {JET}, tensor<?x4xf64>
  %y0 = taylor.coefficient %o[0] : {JET} -> tensor<?x4xf64>
  %y1 = taylor.coefficient %o[1] : {JET} -> tensor<3x?x4xf64>
  %y2 = taylor.coefficient %o[2] : {JET} -> tensor<3x?x4xf64>
  func.return %y0, %y1, %y2 : tensor<?x4xf64>, tensor<3x?x4xf64>, tensor<3x?x4xf64>
}}
"""


def _canonicalized(text: str) -> ModuleOp:
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    module.verify()
    CanonicalizePass().apply(ctx, module)
    module.verify()
    return module


def _op_counts(module: ModuleOp) -> Counter[str]:
    return Counter(op.name for op in module.walk() if op is not module)


def test_jet_program_reads_the_seed():
    counts = _op_counts(_canonicalized(JET_PROGRAM))
    # The identity linear op, the zero offset and the coefficients 0 and 1 are
    # gone; coefficient 2 (not given, zero) still reads the seed.
    assert counts["taylor.linear"] == 0
    assert counts["taylor.yield"] == 0
    assert counts["taylor.offset"] == 0
    assert counts["taylor.coefficient"] == 1
    assert counts["taylor.seed"] == 1


def test_jet_program_returns_the_seed_operands():
    module = _canonicalized(JET_PROGRAM)
    func = next(iter(module.ops))
    x, v = func.body.block.args
    returned = list(func.body.block.last_op.operands)
    assert returned[:2] == [x, v]
    coefficient = returned[2].owner
    assert isinstance(coefficient, taylor.CoefficientOp)
    assert coefficient.index.data == 2


@pytest.mark.parametrize(
    ("weights", "fills", "products"),
    [
        ("weights [0.5, 0.25, 0.25]", 0, 0),  # sums to one: the value itself
        ("weights [1.0, -1.0, 0.0]", 1, 0),  # sums to zero: a zero fill
        ("", 1, 1),  # unweighted, R = 3: 3 * value
    ],
)
def test_sum_of_replicate(weights: str, fills: int, products: int):
    module = _canonicalized(f"""
func.func @s(%c: tensor<?x4xf64>) -> tensor<?x4xf64> {{
  %r = taylor.replicate %c : tensor<?x4xf64> -> tensor<3x?x4xf64>
  %t = taylor.sum %r {weights} : tensor<3x?x4xf64> -> tensor<?x4xf64>
  func.return %t : tensor<?x4xf64>
}}
""")
    counts = _op_counts(module)
    assert counts["taylor.replicate"] == 0
    assert counts["taylor.sum"] == 0
    assert counts["linalg.fill"] == fills
    assert counts["arith.mulf"] == products


def test_non_matching_ops_are_kept():
    # a linear map that negates, a sum of a non-replicated value, an offset by
    # ones: nothing to simplify
    module = _canonicalized("""
func.func @keep(%x: tensor<3x4xf64>, %j: !taylor.jet<1, 3, tensor<4xf64>>) -> (tensor<4xf64>, !taylor.jet<1, 3, tensor<4xf64>>) {
  %m = taylor.linear_map %x : tensor<3x4xf64> -> tensor<3x4xf64> {
  ^bb0(%a: tensor<4xf64>):
    %n = arith.negf %a : tensor<4xf64>
    taylor.yield %n : tensor<4xf64>
  }
  %s = taylor.sum %m : tensor<3x4xf64> -> tensor<4xf64>
  %one = arith.constant 1.0 : f64
  %e = tensor.empty() : tensor<4xf64>
  %ones = linalg.fill ins(%one : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %o = taylor.offset %j, %ones : !taylor.jet<1, 3, tensor<4xf64>>, tensor<4xf64>
  func.return %s, %o : tensor<4xf64>, !taylor.jet<1, 3, tensor<4xf64>>
}
""")
    counts = _op_counts(module)
    assert counts["taylor.linear_map"] == 1
    assert counts["taylor.sum"] == 1
    assert counts["taylor.offset"] == 1


@pytest.mark.parametrize(
    ("op", "patterns"),
    [
        (taylor.CoefficientOp, {CoefficientOfSeed}),
        (taylor.SumOp, {SumOfReplicate, FactorUniformWeights}),
        (taylor.LinearOp, {RemoveIdentityBody}),
        (taylor.LinearMapOp, {RemoveIdentityBody}),
        (taylor.OffsetOp, {OffsetByZero}),
    ],
)
def test_ops_declare_their_patterns(op, patterns):
    assert {type(p) for p in op.get_canonicalization_patterns()} == patterns


def test_collapse_reuses_the_dialect_pattern():
    """`SumOfReplicate` is written once, in the dialect, and used by the pass."""
    assert taylor_collapse.SumOfReplicate is SumOfReplicate
    assert SumOfReplicate in taylor_collapse.COLLAPSE_PATTERNS

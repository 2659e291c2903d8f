"""The operator-level IR (`operators.build`) on a hand-written primal: its shape,
its verification, and its round trip through `taylor-opt`."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from xdsl.dialects import func
from xdsl.parser import Parser

from taylor_mlir.context import make_context
from taylor_mlir.dialects.taylor import CallOp, SeedOp, SumOp
from taylor_mlir.errors import InvalidIRError
from taylor_mlir.operators import spec as S
from taylor_mlir.operators.build import build_jet, build_operator

PRIMAL = """
func.func @forward(%x: tensor<?x2xf64>, %w: tensor<2x3xf64>) -> tensor<?x3xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf64>
  %e = tensor.empty(%n) : tensor<?x3xf64>
  %z = arith.constant 0.0 : f64
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<?x3xf64>) -> tensor<?x3xf64>
  %m = linalg.matmul ins(%x, %w : tensor<?x2xf64>, tensor<2x3xf64>) outs(%f : tensor<?x3xf64>) -> tensor<?x3xf64>
  %t = math.tanh %m : tensor<?x3xf64>
  func.return %t : tensor<?x3xf64>
}
"""


@pytest.fixture
def primal():
    return Parser(make_context(), PRIMAL).parse_module()


def functions(module):
    return {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}


def ops_of(function, kind):
    return [op for op in function.walk() if isinstance(op, kind)]


def taylor_opt_round_trip(text: str, *options: str) -> str:
    tool = shutil.which("taylor-opt") or str(Path(sys.executable).parent / "taylor-opt")
    result = subprocess.run(
        [tool, *options], input=text, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_laplacian_function(primal):
    module = build_operator(primal, S.laplacian(2))
    module.verify()
    fs = functions(module)
    assert fs["forward"].sym_visibility.data == "private"
    op = fs["operator"]
    assert op.sym_visibility is None
    assert [str(t) for t in op.function_type.inputs] == [
        "tensor<?x2xf64>",
        "tensor<2x3xf64>",
    ]
    assert [str(t) for t in op.function_type.outputs] == ["tensor<?x3xf64>"]
    (seed,) = ops_of(op, SeedOp)
    assert str(seed.result.type) == "!taylor.jet<2, 2, tensor<?x2xf64>>"
    (call,) = ops_of(op, CallOp)
    assert call.callee.string_value() == "forward"
    (total,) = ops_of(op, SumOp)
    assert total.weights is None  # unit weights print as a plain sum
    # the input module is left alone
    assert functions(primal)["forward"].sym_visibility is None


def test_several_orders_add_up(primal):
    spec = S.linear_operator(2, {(0, 0): 1.0, (1,): -1.0, (): 2.0})
    module = build_operator(primal, spec)
    module.verify()
    op = functions(module)["operator"]
    seeds = ops_of(op, SeedOp)
    assert [s.result.type.K for s in seeds] == [1, 2]
    sums = ops_of(op, SumOp)
    assert sums[0].weight_values() == [-1.0]
    text = str(module)
    assert "arith.addf" in text and "arith.mulf" in text  # + 2 * f


def test_randomized_directions_are_an_argument(primal):
    module = build_operator(primal, S.laplacian(2, randomization=("normal", 3)))
    module.verify()
    op = functions(module)["operator"]
    assert str(op.function_type.inputs.data[-1]) == "tensor<3x?x2xf64>"
    (seed,) = ops_of(op, SeedOp)
    assert seed.coefficients[0] is op.body.block.args[-1]
    (total,) = ops_of(op, SumOp)
    assert total.weight_values() == pytest.approx([1 / 3] * 3)


def test_jet_function(primal):
    module = build_jet(primal, 3)
    module.verify()
    op = functions(module)["jet"]
    assert len(op.function_type.inputs.data) == 1 + 1 + 3  # x0, w, x1..x3
    assert [str(t) for t in op.function_type.outputs] == ["tensor<?x3xf64>"] * 4


TWO_INPUT_PRIMAL = """
func.func @forward(%x: tensor<?x2xf64>, %y: tensor<?x2xf64>) -> (tensor<?x2xf64>, tensor<?x2xf64>) {
  %p = arith.mulf %x, %y : tensor<?x2xf64>
  %s = math.sin %x : tensor<?x2xf64>
  func.return %p, %s : tensor<?x2xf64>, tensor<?x2xf64>
}
"""


def test_jet_of_two_inputs_and_outputs():
    """Both inputs seeded (their K coefficients trail, input-major) and one
    call; results order-major: (f0, g0, f1, g1, f2, g2)."""
    module = build_jet(
        Parser(make_context(), TWO_INPUT_PRIMAL).parse_module(), 2, num_inputs=2
    )
    module.verify()
    op = functions(module)["jet"]
    assert [str(t) for t in op.function_type.inputs] == ["tensor<?x2xf64>"] * 6
    assert [str(t) for t in op.function_type.outputs] == ["tensor<?x2xf64>"] * 6
    seeds = ops_of(op, SeedOp)
    args = op.body.block.args
    assert [seed.primal for seed in seeds] == [args[0], args[1]]
    (call,) = ops_of(op, CallOp)
    assert list(call.arguments) == [seed.result for seed in seeds]


def test_jet_of_an_integer_input_is_refused():
    primal = Parser(
        make_context(),
        """
func.func @forward(%x: tensor<?x2xf64>, %i: tensor<?x2xi64>) -> tensor<?x2xf64> {
  func.return %x : tensor<?x2xf64>
}
""",
    ).parse_module()
    with pytest.raises(InvalidIRError, match="only floating-point inputs"):
        build_jet(primal, 2, num_inputs=2)


ROUND_TRIP_SPECS = [
    S.laplacian(2),
    S.biharmonic(2),
    S.weighted_laplacian(2, coefficients=[[1.0, 2.0], [2.0, -1.0]]),
    S.linear_operator(2, {(0,): 1.0, (1, 1): -1.0, (): 0.5}),
    S.biharmonic(2, randomization=("normal", 2)),
]


def test_operator_ir_round_trips_through_taylor_opt(primal):
    """taylor-opt parses, verifies and prints every operator function; printing
    what it printed again is a fixed point. One process for all cases."""
    texts = [str(build_operator(primal, spec)) for spec in ROUND_TRIP_SPECS]
    printed = taylor_opt_round_trip("\n// -----\n".join(texts), "--split-input-file")
    modules = printed.split("// -----")
    assert len(modules) == len(texts)
    for module_text, original in zip(modules, texts, strict=True):
        reparsed = Parser(make_context(), module_text).parse_module()
        reparsed.verify()
        assert str(reparsed) == original


def test_input_size_mismatch_is_named(primal):
    with pytest.raises(InvalidIRError, match="3 entries per datum"):
        build_operator(primal, S.laplacian(3))


def test_missing_function_is_named(primal):
    with pytest.raises(InvalidIRError, match="no func.func @f"):
        build_operator(primal, S.laplacian(2), forward="f")


def test_bad_jet_order(primal):
    with pytest.raises(InvalidIRError, match="jet order"):
        build_jet(primal, 0)


def test_group_without_directions_is_refused(primal):
    """A hand-made group with neither fixed, random nor per-call directions."""
    spec = S.OperatorSpec("custom", 2, (S.DirectionGroup(2, (1.0,)),))
    with pytest.raises(S.OperatorSpecError, match="order 2 has no directions"):
        build_operator(primal, spec)

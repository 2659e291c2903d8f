"""Passes do one thing each and fail as xDSL diagnostics.

- A pass failure is a `PassFailedException` (what `taylor-opt --verify-diagnostics`
  prints and an xDSL pipeline stops on) and this package's error, with its kind
  and message kept through the compile pipeline.
- `schedule-sums-early` is its own pass, in the default pipeline: every sum of
  the collapsed level follows the product it sums, and the collapsed program
  holds fewer per-direction values at once than without the pass.
"""

from __future__ import annotations

import math

import pytest
import torch
from xdsl.dialects import func, tensor
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp, TensorType
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.passes import PassPipeline
from xdsl.utils.exceptions import PassFailedException

import taylor_mlir as tm
from taylor_mlir import models
from taylor_mlir.context import make_context
from taylor_mlir.dialects.taylor import SumOp
from taylor_mlir.errors import (
    InvalidIRError,
    PassFailedError,
    TaylorMLIRError,
    UnsupportedOperatorError,
)
from taylor_mlir.pipeline import STAGES, compile_levels
from taylor_mlir.transforms import get_all_passes

_ATAN = """
func.func private @f(%x: tensor<?x3xf64>) -> tensor<?x3xf64> {
  %y = math.cbrt %x : tensor<?x3xf64>
  func.return %y : tensor<?x3xf64>
}
func.func @jet(%x: tensor<?x3xf64>, %v: tensor<2x?x3xf64>) -> tensor<2x?x3xf64> {
  %j = taylor.seed %x, %v : tensor<?x3xf64>, tensor<2x?x3xf64> -> !taylor.jet<2, 2, tensor<?x3xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 2, tensor<?x3xf64>>) -> !taylor.jet<2, 2, tensor<?x3xf64>>
  %c = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<?x3xf64>> -> tensor<2x?x3xf64>
  func.return %c : tensor<2x?x3xf64>
}
"""


def _parse(text: str) -> ModuleOp:
    return Parser(make_context(), text).parse_module()


def _run(spec: str, module: ModuleOp) -> None:
    PassPipeline.parse_spec(get_all_passes(), spec).apply(make_context(), module)


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ("taylor-mode", UnsupportedOperatorError, "math.cbrt: no Taylor-mode rule"),
        ("taylor-expand", InvalidIRError, "run taylor-mode before taylor-expand"),
        ("taylor-collapse", InvalidIRError, "taylor.seed is jet-level IR"),
        ("convert-taylor-to-tensor", InvalidIRError, "taylor.seed is jet-level IR"),
    ],
)
def test_pass_failures_are_xdsl_diagnostics_and_package_errors(spec, error, message):
    with pytest.raises(error, match=message) as info:
        _run(spec, _parse(_ATAN))
    assert isinstance(info.value, PassFailedException)
    assert isinstance(info.value, PassFailedError)
    assert isinstance(info.value, TaylorMLIRError)


def test_the_pipeline_keeps_a_pass_failure_as_it_is():
    """Not rewrapped as 'the stage produced invalid IR': the kind (here an
    unsupported op) and the message naming the op reach the caller."""
    module = _parse(_ATAN)
    with pytest.raises(UnsupportedOperatorError, match="math.cbrt") as info:
        compile_levels(module, module)
    assert not isinstance(info.value, InvalidIRError)


# ------------------------------------------------------------- scheduling


def _collapsed_levels():
    f = models.mlp((3, 8, 8, 8, 1), "tanh")
    x = torch.randn(4, 3, dtype=torch.float64)
    return tm.laplacian(f, x).levels


def _function(module: ModuleOp) -> func.FuncOp:
    (function,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    return function


def test_the_default_pipeline_sums_each_product_where_it_is_made():
    assert "schedule-sums-early" in STAGES["collapsed"]
    sums = [
        op for op in _collapsed_levels()["collapsed"].walk() if isinstance(op, SumOp)
    ]
    assert len(sums) == 3  # z1 * z1 of each hidden layer
    for sum_op in sums:
        assert sum_op.prev_op is sum_op.input.owner


def _peak_live_elements(module: ModuleOp) -> int:
    """Most per-datum tensor elements (of tensors with a `?` batch size, which
    counts 1) alive at once in the function's block, in program order: a value
    lives from its op to the last top-level op using it (directly or inside a
    region)."""
    ops = list(_function(module).body.block.ops)
    position = {op: i for i, op in enumerate(ops)}

    def top_level(op: Operation) -> Operation:
        while op not in position:
            op = op.parent_op()
        return op

    change = [0] * (len(ops) + 1)
    for i, op in enumerate(ops):
        for result in op.results:
            if isinstance(op, tensor.EmptyOp) or not result.uses:
                continue  # a tensor.empty is only a shape
            shape = (
                result.type.get_shape() if isinstance(result.type, TensorType) else ()
            )
            if DYNAMIC_INDEX not in shape:
                continue  # not per datum (a weight, a constant)
            size = math.prod(s for s in shape if s != DYNAMIC_INDEX)
            last = max(position[top_level(use.operation)] for use in result.uses)
            change[i] += size
            change[last + 1] -= size
    live, peak = 0, 0
    for delta in change:
        live += delta
        peak = max(peak, live)
    return peak


def test_scheduling_lowers_the_peak_of_live_values():
    """The pipeline against the same passes without `schedule-sums-early`, on
    the tensor-level program that runs: summed where made, each layer's
    per-direction product dies at once."""
    levels = _collapsed_levels()
    unscheduled = levels["expanded"].clone()
    _run("taylor-collapse,tensor-cleanup", unscheduled)
    scheduled = unscheduled.clone()
    _run("schedule-sums-early", scheduled)
    assert str(scheduled) == str(levels["collapsed"])
    _run("convert-taylor-to-tensor,tensor-cleanup", unscheduled)
    assert _peak_live_elements(levels["linalg"]) < _peak_live_elements(unscheduled)

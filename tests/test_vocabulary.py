"""Every op of the tensor-level vocabulary (`ir.builder.TENSOR_LEVEL_OPS`) is
handled by every consumer: a Taylor-mode rule, a batching rule, a torch-backend
handler and an IREE lowering, or it is listed there as not needing one."""

import pytest
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.dialects.linalg.ops import MatmulOp, ReduceOp
from xdsl.ir import Block, Region

from taylor_mlir import stats
from taylor_mlir.backends import iree_backend
from taylor_mlir.backends.torch_backend import FXEmitter
from taylor_mlir.dialects.special import Special
from taylor_mlir.ir.builder import (
    DYNAMIC,
    ELEMENTWISE_OPS,
    STRUCTURAL_OPS,
    TENSOR_LEVEL_OPS,
    TensorBuilder,
)
from taylor_mlir.transforms.convert_taylor_to_tensor import (
    BATCHING_RULES,
    NEVER_BATCHED,
)
from taylor_mlir.transforms.taylor_mode import JET_RULES, NEVER_ON_JETS

SPECIAL_OPS = set(Special.operations)  # composed for IREE (special_functions_iree.py)


def _names(ops) -> list[str]:
    return sorted(op.name for op in ops)


def test_every_op_has_a_taylor_mode_rule():
    known = set(JET_RULES) | set(NEVER_ON_JETS)
    missing = [op for op in TENSOR_LEVEL_OPS if op not in known]
    assert not missing, f"no Taylor-mode rule for {_names(missing)}"


def test_every_op_has_a_batching_rule():
    known = set(BATCHING_RULES) | set(NEVER_BATCHED)
    missing = [op for op in TENSOR_LEVEL_OPS if op not in known]
    assert not missing, f"no batching rule for {_names(missing)}"


def test_every_op_has_a_cost_in_stats():
    """stats (FLOPs, vectors) measures every op (it refuses unknown ones)."""
    known = (*stats._FREE, *stats._MATRIX, *ELEMENTWISE_OPS, MatmulOp, ReduceOp)
    missing = [op for op in TENSOR_LEVEL_OPS if not issubclass(op, known)]
    assert not missing, f"no cost model in stats for {_names(missing)}"


def test_every_op_has_a_torch_backend_handler():
    handlers = FXEmitter(func.FuncOp("f", ((), ()))).handlers
    missing = [op for op in TENSOR_LEVEL_OPS if op.name not in handlers]
    assert not missing, f"no torch-backend handler for {_names(missing)}"


def _function(build) -> ModuleOp:
    """A module with `@f(%x: tensor<?x4xf32>)` whose body `build(b, x)` makes,
    returning what it returns."""
    x_type = TensorType(f32, [DYNAMIC, 4])
    block = Block(arg_types=[x_type])
    b = TensorBuilder(Builder(InsertPoint.at_end(block)))
    results = build(b, block.args[0])
    block.add_op(func.ReturnOp(*results))
    types = ([x_type], [r.type for r in results])
    return ModuleOp([func.FuncOp("f", types, Region(block))])


@pytest.mark.parametrize("op_type", ELEMENTWISE_OPS, ids=lambda op: op.name)
def test_every_elementwise_op_is_lowered_for_iree_or_refused(op_type):
    """convert-elementwise-to-linalg moves it into the body of a
    linalg.generic; a special function is composed from math ops inside one
    (backends/special_functions_iree.py), so no special op is left."""

    def build(b, x):
        condition = b.cmpf("ogt", x, x)
        if op_type.name in ("arith.cmpf", "arith.select"):
            return [b.select(condition, x, x)]
        operands = [x] * len(op_type.get_irdl_definition().operands)
        return [b.insert(op_type(*operands)).results[0]]

    module = _function(build)
    if op_type in SPECIAL_OPS:
        lowered, _ = iree_backend.prepare(module, "cpu")
        assert not [op for op in lowered.walk() if type(op) in SPECIAL_OPS]
        assert any(op.name == "linalg.generic" for op in lowered.walk())
        return
    lowered, _ = iree_backend.prepare(module, "cpu")
    body = list(lowered.walk())
    top_level = [op for op in body if isinstance(op.parent_op(), func.FuncOp)]
    assert not [op for op in top_level if isinstance(op, ELEMENTWISE_OPS)]
    assert any(
        isinstance(inner, op_type)
        for generic in top_level
        if generic.name == "linalg.generic"
        for inner in generic.regions[0].block.ops
    )


def test_every_structural_op_compiles_with_iree():
    """A program of every structural op (and stop_gradient, which the IREE
    lowering replaces by its operand) compiles for the CPU."""

    def build(b, x):
        from taylor_mlir.dialects.taylor import StopGradientOp

        w = b.constant([[1.0, 2.0, 3.0]] * 4, f32)  # arith.constant (dense)
        m = b.matmul(x, w)  # fill, empty, dim, matmul
        t = b.transpose(m, [1, 0])
        n = b.dim(m, 0)
        wide = b.broadcast(m, [2, n, 3], [0])
        r = b.reduce_sum(wide, [0])
        flat = b.collapse(wide, [[0, 1], [2]])
        back = b.expand(flat, [[0, 1], [2]], [2, n, 3])
        rows = b.mul_dims(n, 2)  # arith.muli
        piece = b.extract_slice(back, [0, 0, 0], [1, n, 3], [1, 1, 1])
        both = b.concat([m, r], 1)
        kept = b.insert(StopGradientOp(both)).results[0]
        return [t, piece, kept, b.fill(1.0, [rows, 3], f32)]

    module = _function(build)
    ops = {type(op) for op in module.walk()}
    assert set(STRUCTURAL_OPS) <= ops
    assert iree_backend.iree_artifact(module, "cpu")  # the vmfb

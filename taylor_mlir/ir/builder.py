"""
Building tensor-level IR: the upstream ops both backends consume.

The contract (docs/ir-conventions.md, "Tensor level"): elementwise `arith`/`math` ops on tensors of
one type (broadcasting is explicit, through `linalg.broadcast`), `linalg.matmul`,
`linalg.transpose`, `linalg.broadcast`, `linalg.reduce` (sum), `linalg.fill`,
`tensor.empty`/`dim`/`collapse_shape`/`expand_shape`/`extract_slice`/`concat`,
and `arith.constant`. Dynamic dimensions (`?`, the batch) are carried as `index`
SSA values read with `tensor.dim`.

`TensorBuilder` appends these ops at an insertion point and returns their
results; every frontend rule, expansion rule and lowering goes through it, so
the IR they emit has one shape. `IRElementwiseOps` implements the arithmetic the
derivative rules of `taylor_mlir.dialects.elementwise` are written against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import arith, math, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    TensorType,
    f32,
    f64,
    i64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from taylor_mlir.dialects.arith_tensor import CmpfOp, SelectOp
from taylor_mlir.dialects.elementwise import (
    COMPOSED_PRIMITIVES,
    ELEMENTWISE_FUNCTIONS,
    MATH_FUNCTIONS,
)
from taylor_mlir.dialects.matrix import MATRIX_OPS
from taylor_mlir.dialects.taylor import StopGradientOp, YieldOp
from taylor_mlir.errors import InternalError, InvalidIRError
from taylor_mlir.ir.matchers import empty_sizes

DYNAMIC = DYNAMIC_INDEX

Dim = int | SSAValue  # a static size, or an index value for a dynamic one


def tensor_type(value: SSAValue) -> TensorType:
    t = value.type
    if not isinstance(t, TensorType):
        raise InvalidIRError(f"expected a tensor, got {value} of type {t}")
    return t


def shape_of(value: SSAValue) -> tuple[int, ...]:
    return tuple(tensor_type(value).get_shape())


def element_of(value: SSAValue) -> Attribute:
    return tensor_type(value).get_element_type()


def make_tensor_type(shape: Sequence[Dim], element_type: Attribute) -> TensorType:
    return TensorType(
        element_type, [d if isinstance(d, int) else DYNAMIC for d in shape]
    )


class TensorBuilder:
    """Appends tensor-level ops at an insertion point."""

    def __init__(self, where: InsertPoint | Builder | Block):
        if isinstance(where, Block):
            where = InsertPoint.at_end(where)
        if isinstance(where, InsertPoint):
            where = Builder(where)
        self.builder = where

    def insert(self, op: Operation) -> Operation:
        return self.builder.insert(op)

    def _result(self, op: Operation) -> SSAValue:
        self.insert(op)
        return op.results[0]

    # ------------------------------------------------------------------ shapes

    def index(self, value: int) -> SSAValue:
        return self._result(arith.ConstantOp(IntegerAttr(value, IndexType())))

    def dim(self, value: SSAValue, i: int) -> Dim:
        """Size i of value: an int when static, a `tensor.dim` when dynamic."""
        size = shape_of(value)[i]
        if size != DYNAMIC:
            return size
        return self._result(tensor.DimOp(value, self.index(i)))

    def dims(self, value: SSAValue) -> list[Dim]:
        return [self.dim(value, i) for i in range(len(shape_of(value)))]

    def sizes(self, value: SSAValue) -> list[Dim]:
        """The sizes of `value`, from the `tensor.empty` it is or fills when there
        is one (so that nothing keeps `value` alive for its sizes), else `dims`."""
        sizes = empty_sizes(value)
        return self.dims(value) if sizes is None else sizes

    def mul_dims(self, a: Dim, b: Dim) -> Dim:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        a_value = self.index(a) if isinstance(a, int) else a
        b_value = self.index(b) if isinstance(b, int) else b
        return self._result(arith.MuliOp(a_value, b_value))

    def empty(self, shape: Sequence[Dim], element_type: Attribute) -> SSAValue:
        dynamic = [d for d in shape if not isinstance(d, int)]
        return self._result(
            tensor.EmptyOp(dynamic, make_tensor_type(shape, element_type))
        )

    # --------------------------------------------------------------- constants

    def scalar(self, value: float, element_type: Attribute) -> SSAValue:
        return self._result(arith.ConstantOp(FloatAttr(float(value), element_type)))

    def fill(
        self, value: float, shape: Sequence[Dim], element_type: Attribute
    ) -> SSAValue:
        """A tensor of one value (`linalg.fill` of an `arith.constant`)."""
        init = self.empty(shape, element_type)
        scalar = self.scalar(value, element_type)
        return self._result(linalg.FillOp([scalar], [init], [init.type]))

    def full_like(self, like: SSAValue, value: float) -> SSAValue:
        return self.fill(value, self.dims(like), element_of(like))

    def constant(self, array: np.ndarray, element_type: Attribute) -> SSAValue:
        """A dense constant tensor (weights, directions)."""
        array = np.asarray(array, dtype=np.float64)
        t = TensorType(element_type, list(array.shape))
        attr = DenseIntOrFPElementsAttr.from_list(t, array.reshape(-1).tolist())
        return self._result(arith.ConstantOp(attr, t))

    # ------------------------------------------------------------- elementwise

    def add(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._result(arith.AddfOp(a, b))

    def sub(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._result(arith.SubfOp(a, b))

    def mul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._result(arith.MulfOp(a, b))

    def div(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._result(arith.DivfOp(a, b))

    def neg(self, a: SSAValue) -> SSAValue:
        return self._result(arith.NegfOp(a))

    def maximum(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._result(arith.MaximumfOp(a, b))

    def minimum(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._result(arith.MinimumfOp(a, b))

    def unary(self, name: str, a: SSAValue) -> SSAValue:
        """The `math` op of an elementwise function (tanh, exp, log, ...)."""
        function = ELEMENTWISE_FUNCTIONS.get(name)
        math_op = function.math_op if function is not None else None
        if math_op is None:
            raise InternalError(f"elementwise function {name!r} has no math op")
        return self._result(math_op(a))

    def powf(self, a: SSAValue, exponent: float | SSAValue) -> SSAValue:
        """`math.powf`: a ** exponent elementwise (torch's real powers)."""
        if not isinstance(exponent, SSAValue):
            exponent = self.full_like(a, exponent)
        return self._result(math.PowFOp(a, exponent))

    def cmpf(self, predicate: str, a: SSAValue, b: SSAValue) -> SSAValue:
        """`arith.cmpf` (predicate such as "ogt", "olt", "oeq"): a tensor of i1."""
        return self._result(CmpfOp(a, b, predicate))

    def stop_gradient(self, x: SSAValue) -> SSAValue:
        """x as a constant for differentiation (`taylor.stop_gradient`)."""
        return self.insert(StopGradientOp(x)).results[0]

    def select(self, condition: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._result(SelectOp(condition, a, b))

    # -------------------------------------------------------------- structural

    def matmul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        """(M x K) @ (K x N) -> M x N, accumulating into zeros."""
        shape = [self.dim(a, 0), self.dim(b, 1)]
        init = self.fill(0.0, shape, element_of(a))
        return self._result(linalg.MatmulOp([a, b], [init]))

    def transpose(self, a: SSAValue, permutation: Sequence[int]) -> SSAValue:
        dims = self.dims(a)
        init = self.empty([dims[p] for p in permutation], element_of(a))
        return self._result(
            linalg.TransposeOp(
                a, init, DenseArrayBase.from_list(i64, list(permutation))
            )
        )

    def broadcast(
        self, a: SSAValue, shape: Sequence[Dim], added_dims: Sequence[int]
    ) -> SSAValue:
        """Inserts the dimensions `added_dims` of the result `shape` (a
        `linalg.broadcast`: the other result dimensions are a's, in order)."""
        init = self.empty(shape, element_of(a))
        return self._result(
            linalg.BroadcastOp(a, init, DenseArrayBase.from_list(i64, list(added_dims)))
        )

    def reduce_sum(self, a: SSAValue, dims: Sequence[int]) -> SSAValue:
        """Sums over `dims` (dropped from the result)."""
        kept = [d for i, d in enumerate(self.dims(a)) if i not in set(dims)]
        element = element_of(a)
        init = self.fill(0.0, kept, element)
        body = Block(arg_types=[element, element])
        add = arith.AddfOp(body.args[0], body.args[1])
        body.add_ops([add, linalg.YieldOp(add.result)])
        return self._result(
            linalg.ReduceOp(
                a, init, DenseArrayBase.from_list(i64, sorted(dims)), Region(body)
            )
        )

    def collapse(self, a: SSAValue, reassociation: Sequence[Sequence[int]]) -> SSAValue:
        """`tensor.collapse_shape`: merges each group of dimensions into one."""
        shape = shape_of(a)
        result_shape = []
        for group in reassociation:
            sizes = [shape[i] for i in group]
            result_shape.append(
                DYNAMIC if DYNAMIC in sizes else int(np.prod(sizes, dtype=np.int64))
            )
        op = tensor.CollapseShapeOp.create(
            operands=[a],
            result_types=[TensorType(element_of(a), result_shape)],
            properties={"reassociation": _reassociation_attr(reassociation)},
        )
        return self._result(op)

    def expand(
        self,
        a: SSAValue,
        reassociation: Sequence[Sequence[int]],
        output_shape: Sequence[Dim],
    ) -> SSAValue:
        """`tensor.expand_shape`: splits dimensions into groups of `output_shape`."""
        result_type = make_tensor_type(output_shape, element_of(a))
        dynamic = [d for d in output_shape if not isinstance(d, int)]
        static = [d if isinstance(d, int) else DYNAMIC for d in output_shape]
        return self._result(
            tensor.ExpandShapeOp(
                a, dynamic, _reassociation_attr(reassociation), static, result_type
            )
        )

    def extract_slice(
        self,
        a: SSAValue,
        offsets: Sequence[Dim],
        sizes: Sequence[Dim],
        strides: Sequence[Dim],
    ) -> SSAValue:
        result_type = make_tensor_type(sizes, element_of(a))
        return self._result(
            tensor.ExtractSliceOp(a, offsets, sizes, strides, result_type)
        )

    def concat(self, values: Sequence[SSAValue], dim: int) -> SSAValue:
        shapes = [shape_of(v) for v in values]
        result_shape = list(shapes[0])
        sizes = [s[dim] for s in shapes]
        result_shape[dim] = DYNAMIC if DYNAMIC in sizes else sum(sizes)
        result_type = TensorType(element_of(values[0]), result_shape)
        return self._result(tensor.ConcatOp(values, dim, result_type))

    def elementwise_like(self, op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
        """Re-emits the elementwise op `op` (one of `ELEMENTWISE_OPS`) on new
        operands of another shape, e.g. batched or primal ones."""
        binary = {
            arith.AddfOp: self.add,
            arith.SubfOp: self.sub,
            arith.MulfOp: self.mul,
            arith.DivfOp: self.div,
            arith.MaximumfOp: self.maximum,
            arith.MinimumfOp: self.minimum,
        }
        if type(op) in binary:
            return binary[type(op)](*operands)
        if isinstance(op, arith.NegfOp):
            return self.neg(*operands)
        if isinstance(op, math.PowFOp):
            return self._result(math.PowFOp(*operands))
        if isinstance(op, CmpfOp):
            return self.cmpf(op.predicate_name, *operands)
        if isinstance(op, SelectOp):
            return self.select(*operands)
        if type(op) in MATH_FUNCTIONS:
            return self._result(type(op)(*operands))
        raise InternalError(f"{op.name} is not an elementwise op")

    def inline(self, body: Region, arguments: Sequence[SSAValue]) -> SSAValue:
        """The ops of the body of a `taylor.linear` or `taylor.linear_map`,
        cloned here on `arguments`; returns the value it yields."""
        block = body.block
        mapping: dict[SSAValue, SSAValue] = dict(
            zip(block.args, arguments, strict=True)
        )
        for op in block.ops:
            if isinstance(op, YieldOp):
                return mapping.get(op.values[0], op.values[0])
            self.insert(op.clone(value_mapper=mapping))
        parent = body.parent_op()
        raise InvalidIRError(f"{parent.name}: body does not end in taylor.yield")

    def batch_matmul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        """A batch of matrix products, out[i] = a[i] @ b[i] (B x M x P), from
        upstream ops only; a 2-D side is one matrix shared by the batch.

        - (B x M x K) @ (K x P): `tensor.collapse_shape` to (B*M) x K, one
          `linalg.matmul`, `tensor.expand_shape` back.
        - (M x K) @ (B x K x P): b as K x (B*P) columns (`linalg.transpose` to
          K x B x P, collapsed), one `linalg.matmul` with a as is, back to
          B x M x P.
        - (B x M x K) @ (B x K x P): both sides vary over the batch, so there is no
          GEMM to share; both are broadcast to B x M x K x P, multiplied
          (`arith.mulf`) and summed over K (`linalg.reduce`): bilinear in upstream
          elementwise and structural ops, which the Taylor rules know.
        """
        a_rank, b_rank = len(shape_of(a)), len(shape_of(b))
        if a_rank == 3 and b_rank == 2:
            batch, rows = self.dim(a, 0), self.dim(a, 1)
            product = self.matmul(self.collapse(a, [[0, 1], [2]]), b)
            return self.expand(product, [[0, 1], [2]], [batch, rows, self.dim(b, 1)])
        if a_rank == 2 and b_rank == 3:
            batch, columns = self.dim(b, 0), self.dim(b, 2)
            by_columns = self.collapse(self.transpose(b, [1, 0, 2]), [[0], [1, 2]])
            product = self.matmul(a, by_columns)
            expanded = self.expand(
                product, [[0], [1, 2]], [self.dim(a, 0), batch, columns]
            )
            return self.transpose(expanded, [1, 0, 2])
        if (a_rank, b_rank) != (3, 3):
            raise InternalError(
                f"batch_matmul takes 3-D or 2-D operands, got ranks {a_rank}, {b_rank}"
            )
        batch, rows, inner = self.dim(a, 0), self.dim(a, 1), self.dim(a, 2)
        shape = [batch, rows, inner, self.dim(b, 2)]
        a_wide = self.broadcast(a, shape, [3])
        b_wide = self.broadcast(b, shape, [1])
        return self.reduce_sum(self.mul(a_wide, b_wide), [2])


def _reassociation_attr(reassociation: Sequence[Sequence[int]]) -> ArrayAttr:
    return ArrayAttr(
        [ArrayAttr([IntegerAttr(i, i64) for i in group]) for group in reassociation]
    )


def float_type(dtype_name: str) -> Attribute:
    """The MLIR float type for "float32" / "float64"."""
    return {"float32": f32, "float64": f64}[dtype_name]


class IRElementwiseOps:
    """`ElementwiseOps` (dialects/elementwise.py) emitting tensor-level IR."""

    def __init__(self, builder: TensorBuilder):
        self.b = builder

    def constant(self, value: float, like: SSAValue) -> SSAValue:
        return self.b.full_like(like, value)

    def add(self, a, b):
        return self.b.add(a, b)

    def sub(self, a, b):
        return self.b.sub(a, b)

    def mul(self, a, b):
        return self.b.mul(a, b)

    def div(self, a, b):
        return self.b.div(a, b)

    def neg(self, a):
        return self.b.neg(a)

    def powf(self, a, exponent):
        return self.b.powf(a, exponent)

    def primitive(self, name: str, a: SSAValue) -> SSAValue:
        if name not in COMPOSED_PRIMITIVES:
            return self.b.unary(name, a)
        if name == "sigmoid":  # 1 / (1 + exp(-a))
            one = self.b.full_like(a, 1.0)
            return self.b.div(one, self.b.add(one, self.b.unary("exp", self.b.neg(a))))
        if name == "relu":
            return self.b.maximum(a, self.b.full_like(a, 0.0))
        zero = self.b.full_like(a, 0.0)  # step: 1 where a > 0, else 0
        return self.b.select(
            self.b.cmpf("ogt", a, zero), self.b.full_like(a, 1.0), zero
        )


ELEMENTWISE_OPS: tuple[type[Operation], ...] = (
    arith.AddfOp,
    arith.SubfOp,
    arith.MulfOp,
    arith.DivfOp,
    arith.NegfOp,
    arith.MaximumfOp,
    arith.MinimumfOp,
    math.PowFOp,
    CmpfOp,
    SelectOp,
    *MATH_FUNCTIONS,
)
"""The elementwise ops `TensorBuilder.elementwise_like` re-emits."""

STRUCTURAL_OPS: tuple[type[Operation], ...] = (
    linalg.MatmulOp,
    linalg.TransposeOp,
    linalg.BroadcastOp,
    linalg.ReduceOp,
    linalg.FillOp,
    tensor.EmptyOp,
    tensor.DimOp,
    tensor.CollapseShapeOp,
    tensor.ExpandShapeOp,
    tensor.ExtractSliceOp,
    tensor.ConcatOp,
    arith.ConstantOp,
    arith.MuliOp,  # of sizes (`mul_dims`)
)
"""The other ops the builder emits: data movement, sizes and constants."""

TENSOR_LEVEL_OPS = (*ELEMENTWISE_OPS, *STRUCTURAL_OPS, StopGradientOp, *MATRIX_OPS)
"""The tensor-level vocabulary (docs/ir-conventions.md; the `matrix` ops of
dialects/matrix.py carry per-datum linear algebra): what the frontend emits,
the passes keep and every backend runs (tests/test_vocabulary.py)."""

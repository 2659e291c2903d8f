"""
The torch backend: tensor-level IR -> a `torch.fx.GraphModule` of ATen calls.

Every op of the tensor-level vocabulary (docs/ir-conventions.md) becomes one
`torch.ops.aten.*` call, so what runs is exactly the compiled program, on
PyTorch's kernels (BLAS matmuls), differentiable by autograd and fusable by
`torch.compile`. Conventions of the translation:

- Destination-style inits are not values: `tensor.empty` only carries sizes,
  and a zero `linalg.fill` accumulator of `linalg.matmul`/`linalg.reduce` is
  dropped (a nonzero one is added).
- A `linalg.fill` stays a Python scalar while only elementwise ops consume it
  (`x * 2.0` broadcasts for free); it is materialized, with its full shape,
  when it is returned, fed to a structural op, or when no other operand of the
  elementwise op carries the shape.
- Index values (`tensor.dim`, index `arith.constant`/`arith.muli`) are Python
  ints when static and `aten.sym_size.int` nodes (SymInts) when dynamic.
- Dense constants are buffers of the GraphModule.

`to_fx(module, name)` builds the GraphModule; `TorchExecutable` wraps it with
checks of every call (count, rank, static sizes, dtype, device).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.fx
from xdsl.dialects import func, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AffineMapAttr,
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    TensorType,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.ir.affine import AffineMap

from taylor_mlir.backends import fused_ops
from taylor_mlir.backends.cpu_heap import settle_cpu_heap
from taylor_mlir.dialects.elementwise import MATH_FUNCTIONS
from taylor_mlir.errors import CallError, InvalidIRError, UnsupportedOperatorError
from taylor_mlir.frontend.aten_linalg import INVERSE
from taylor_mlir.ir.matchers import constant_int, find_function, is_sum_reduce

aten = torch.ops.aten

# ------------------------------------------------------------------ dtypes


def torch_dtype(element_type: Attribute) -> torch.dtype:
    """The torch dtype of an MLIR element type."""
    if isinstance(element_type, Float64Type):
        return torch.float64
    if isinstance(element_type, Float32Type):
        return torch.float32
    if isinstance(element_type, IntegerType):
        width = element_type.width.data
        if width == 1:
            return torch.bool
        if width in (8, 16, 32, 64):
            return getattr(torch, f"int{width}")
    raise InvalidIRError(f"element type {element_type} has no torch dtype")


_NUMPY_OF_TORCH = {
    torch.float64: np.dtype("<f8"),
    torch.float32: np.dtype("<f4"),
    torch.int64: np.dtype("<i8"),
    torch.int32: np.dtype("<i4"),
}


def dense_to_tensor(attr: DenseIntOrFPElementsAttr) -> torch.Tensor:
    """The values of a dense elements attribute as a (CPU) torch tensor."""
    dtype = torch_dtype(attr.get_element_type())
    shape = tuple(attr.get_shape())
    if dtype in _NUMPY_OF_TORCH:
        array = np.frombuffer(attr.data.data, dtype=_NUMPY_OF_TORCH[dtype])
    else:
        array = np.asarray(attr.get_values())
    if array.size == 1 and int(np.prod(shape, dtype=np.int64)) != 1:  # splat
        array = np.full(shape, array.reshape(-1)[0])
    return torch.from_numpy(array.copy().reshape(shape)).to(dtype)


# ------------------------------------------------------- values of the walk


@dataclass
class Fill:
    """A `linalg.fill` of a scalar, not materialized yet."""

    value: float
    op: Operation


@dataclass
class Empty:
    """A `tensor.empty`: no values, only sizes (ints or SymInt nodes)."""

    sizes: list[Any]


# arith.cmpf predicates with one ATen comparison: (Tensor-Tensor, Tensor-Scalar,
# the predicate with operands swapped). Ordered predicates are false on NaN, as
# torch's comparisons are; `une` is true on NaN, as torch.ne is.
_COMPARISONS = {
    "oeq": (aten.eq.Tensor, aten.eq.Scalar, "oeq"),
    "ogt": (aten.gt.Tensor, aten.gt.Scalar, "olt"),
    "oge": (aten.ge.Tensor, aten.ge.Scalar, "ole"),
    "olt": (aten.lt.Tensor, aten.lt.Scalar, "ogt"),
    "ole": (aten.le.Tensor, aten.le.Scalar, "oge"),
    "une": (aten.ne.Tensor, aten.ne.Scalar, "une"),
}

# (i, k) x (k, j) -> (i, j): a plain 2-D matmul
_MATMUL_MAPS = ArrayAttr(
    [
        AffineMapAttr(AffineMap.from_callable(lambda i, _, k: (i, k))),
        AffineMapAttr(AffineMap.from_callable(lambda _, j, k: (k, j))),
        AffineMapAttr(AffineMap.from_callable(lambda i, j, _: (i, j))),
    ]
)

# each elementwise function's math op runs its ATen op (dialects/elementwise.py):
# op name -> (ATen op, the arguments it takes before the tensor)
_UNARY = {
    op.name: (getattr(aten, function.aten).default, function.aten_args)
    for op, function in MATH_FUNCTIONS.items()
} | {"arith.negf": (aten.neg.default, ())}

# binary op: (Tensor-Tensor overload, Tensor-Scalar overload, commutative)
_BINARY = {
    "arith.addf": (aten.add.Tensor, aten.add.Scalar, True),
    "arith.subf": (aten.sub.Tensor, aten.sub.Scalar, False),
    "arith.mulf": (aten.mul.Tensor, aten.mul.Scalar, True),
    "arith.divf": (aten.div.Tensor, aten.div.Scalar, False),
    "arith.maximumf": (aten.maximum.default, aten.clamp_min.default, True),
    "arith.minimumf": (aten.minimum.default, aten.clamp_max.default, True),
    "math.powf": (aten.pow.Tensor_Tensor, aten.pow.Tensor_Scalar, False),
}

# c (op) x for a scalar c of the non-commutative ops: (overload, its arguments)
_SCALAR_LEFT: dict[str, Callable[[float, Any], tuple[Any, tuple[Any, ...]]]] = {
    "arith.subf": lambda c, x: (aten.rsub.Scalar, (x, c)),  # rsub(x, c) = c - x
    "arith.divf": lambda c, x: (aten.div.Tensor, (c, x)),  # c: a wrapped number
    "math.powf": lambda c, x: (aten.pow.Scalar, (c, x)),
}


def logabsdet(x: torch.Tensor) -> torch.Tensor:
    """`matrix.logabsdet`: the second result of torch.linalg.slogdet."""
    return torch.linalg.slogdet(x).logabsdet


def _call_error_in(error: BaseException) -> CallError | None:
    """The CallError a kernel raised (matrix.inv's singular matrix) that
    `error` wraps: torch.compile's fullgraph mode reports it as an Unsupported
    graph break caused by it."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, CallError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


_MATRIX_KERNELS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "matrix.inv": INVERSE,  # raises CallError for a singular matrix
    "matrix.det": torch.linalg.det,
    "matrix.logabsdet": logabsdet,
}


class FXEmitter:
    """Walks one `func.func` of tensor-level IR and emits an FX graph."""

    def __init__(self, function: func.FuncOp):
        self.function = function
        self.graph = torch.fx.Graph()
        self.values: dict[SSAValue, Any] = {}
        self.materialized: dict[Operation, torch.fx.Node] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        self.like: torch.fx.Node | None = None  # a tensor argument for new_full
        self.handlers: dict[str, Callable[[Operation], None]] = {
            "arith.constant": self.emit_constant,
            "arith.muli": self.emit_muli,
            "tensor.empty": self.emit_empty,
            "tensor.dim": self.emit_dim,
            "linalg.fill": self.emit_fill,
            "arith.cmpf": self.emit_cmpf,
            "arith.select": self.emit_select,
            "linalg.matmul": self.emit_matmul,
            "linalg.transpose": self.emit_transpose,
            "linalg.broadcast": self.emit_broadcast,
            "linalg.reduce": self.emit_reduce,
            "tensor.collapse_shape": self.emit_reshape,
            "tensor.expand_shape": self.emit_reshape,
            "tensor.extract_slice": self.emit_extract_slice,
            "tensor.concat": self.emit_concat,
            "taylor.stop_gradient": self.emit_stop_gradient,
            "matrix.inv": self.emit_matrix,
            "matrix.det": self.emit_matrix,
            "matrix.logabsdet": self.emit_matrix,
            "func.return": self.emit_return,
        }
        for name in _UNARY:
            self.handlers[name] = self.emit_unary
        for name in _BINARY:
            self.handlers[name] = self.emit_binary

    # ------------------------------------------------------------ driver

    def run(self) -> tuple[torch.fx.Graph, dict[str, torch.Tensor]]:
        body = self.function.body.blocks
        if len(body) != 1:
            raise InvalidIRError(f"@{self.function.sym_name.data} must have one block")
        for i, arg in enumerate(body[0].args):
            node = self.graph.placeholder(f"arg{i}")
            self.values[arg] = node
            if self.like is None and isinstance(arg.type, TensorType):
                self.like = node
        for op in body[0].ops:
            handler = self.handlers.get(op.name)
            if handler is None:
                raise UnsupportedOperatorError(
                    op.name, detail="the torch backend has no ATen lowering for it"
                )
            handler(op)
        return self.graph, self.buffers

    def call(self, target, *args, **kwargs) -> torch.fx.Node:
        return self.graph.call_function(target, tuple(args), kwargs)

    def set(self, op: Operation, value: Any) -> None:
        self.values[op.results[0]] = value

    def tensor(self, value: SSAValue) -> torch.fx.Node:
        """The FX node of a tensor value, materializing a pending fill."""
        found = self.values[value]
        if isinstance(found, Fill):
            return self.materialize(found)
        if isinstance(found, Empty):
            raise InvalidIRError(
                f"the value of a tensor.empty ({value.type}) is read; it has none"
            )
        return found

    def materialize(self, fill: Fill) -> torch.fx.Node:
        if fill.op not in self.materialized:
            self.materialized[fill.op] = self.full(fill.op, fill.value)
        return self.materialized[fill.op]

    def full(self, fill_op: Operation, value: float) -> torch.fx.Node:
        result_type = fill_op.results[0].type
        dtype = torch_dtype(result_type.get_element_type())
        sizes = self.sizes_of_init(fill_op.operands[-1])
        if self.like is None:
            return self.call(aten.full.default, sizes, value, dtype=dtype)
        # new_full follows the arguments' device
        return self.call(aten.new_full.default, self.like, sizes, value, dtype=dtype)

    def sizes_of_init(self, init: SSAValue) -> list[Any]:
        found = self.values[init]
        if isinstance(found, Empty):
            return found.sizes
        node = self.tensor(init)
        return [
            size if size != DYNAMIC_INDEX else self.call(aten.sym_size.int, node, i)
            for i, size in enumerate(init.type.get_shape())
        ]

    def index(self, value: SSAValue) -> Any:
        """An index value: an int, or an FX node (SymInt)."""
        return self.values[value]

    def scalar_or_tensor(self, value: SSAValue) -> Any:
        found = self.values[value]
        return found.value if isinstance(found, Fill) else self.tensor(value)

    # ------------------------------------------------------ index and constants

    def emit_constant(self, op: Operation) -> None:
        attr = op.value
        if isinstance(attr, IntegerAttr) and isinstance(attr.type, IndexType):
            self.set(op, attr.value.data)
        elif isinstance(attr, FloatAttr):
            self.set(op, float(attr.value.data))
        elif isinstance(attr, IntegerAttr):
            self.set(op, int(attr.value.data))
        elif isinstance(attr, DenseIntOrFPElementsAttr):
            name = f"_constant{len(self.buffers)}"
            self.buffers[name] = dense_to_tensor(attr)
            self.set(op, self.graph.get_attr(name))
        else:
            raise UnsupportedOperatorError(
                "arith.constant", detail=f"constant {attr} is not supported"
            )

    def emit_muli(self, op: Operation) -> None:
        """A product of sizes (`TensorBuilder.mul_dims`)."""
        if not isinstance(op.results[0].type, IndexType):
            raise UnsupportedOperatorError(
                op.name, detail=f"only on index values, not {op.results[0].type}"
            )
        a, b = (self.index(v) for v in op.operands)
        self.set(op, self.index_arith(operator.mul, a, b))

    def index_arith(self, combine: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
        """a + b or a * b on sizes: folded when static or an identity."""
        if isinstance(a, int) and isinstance(b, int):
            return combine(a, b)
        neutral = 1 if combine is operator.mul else 0
        if isinstance(b, int) and b == neutral:
            return a
        if isinstance(a, int) and a == neutral:
            return b
        return self.call(combine, a, b)

    def emit_empty(self, op: Operation) -> None:
        dynamic = iter(self.index(v) for v in op.operands)
        shape = op.results[0].type.get_shape()
        self.set(op, Empty([next(dynamic) if s == DYNAMIC_INDEX else s for s in shape]))

    def emit_dim(self, op: Operation) -> None:
        source, index = op.operands
        i = self.index(index)
        if not isinstance(i, int):
            raise UnsupportedOperatorError(
                "tensor.dim", detail="the dimension index must be a constant"
            )
        size = source.type.get_shape()[i]
        if size != DYNAMIC_INDEX:
            self.set(op, size)
            return
        found = self.values[source]
        if isinstance(found, Empty):
            self.set(op, found.sizes[i])
        else:
            source = self.size_source(source)
            self.set(op, self.call(aten.sym_size.int, self.tensor(source), i))

    def size_source(self, value: SSAValue) -> SSAValue:
        """A tensor of `value`'s shape computed no later: an elementwise
        result's sizes are its operands'. (A size read then does not keep the
        result's node alive, e.g. a product that a fused sum does not read.)"""
        while isinstance(owner := value.owner, Operation) and (
            owner.name in _UNARY or owner.name in _BINARY
        ):
            same = [
                v
                for v in owner.operands
                if v.type == value.type and isinstance(self.values[v], torch.fx.Node)
            ]
            if not same:
                break
            value = same[0]
        return value

    def emit_fill(self, op: Operation) -> None:
        value = self.values[op.operands[0]]
        if not isinstance(value, float | int):
            raise UnsupportedOperatorError(
                "linalg.fill", detail="the fill value must be an arith.constant"
            )
        self.set(op, Fill(float(value), op))

    # --------------------------------------------------------------- elementwise

    def all_fills(self, op: Operation, operands: Sequence[SSAValue]) -> bool:
        return all(isinstance(self.values[v], Fill) for v in operands)

    def emit_unary(self, op: Operation) -> None:
        target, leading = _UNARY[op.name]
        self.set(op, self.call(target, *leading, self.tensor(op.operands[0])))

    def emit_binary(self, op: Operation) -> None:
        """A fill operand stays a scalar (broadcast by ATen) unless both are."""
        tensor_tensor, tensor_scalar, commutative = _BINARY[op.name]
        lhs, rhs = op.operands
        if self.all_fills(op, [lhs, rhs]):
            a = self.tensor(lhs)  # the result needs a shape: materialize one
        else:
            a = self.scalar_or_tensor(lhs)
        b = self.scalar_or_tensor(rhs)
        if isinstance(b, float):
            self.set(op, self.call(tensor_scalar, a, b))
        elif not isinstance(a, float):
            self.set(op, self.call(tensor_tensor, a, b))
        elif commutative:
            self.set(op, self.call(tensor_scalar, b, a))
        else:
            target, args = _SCALAR_LEFT[op.name](a, b)
            self.set(op, self.call(target, *args))

    def emit_cmpf(self, op: Operation) -> None:
        predicate = op.predicate_name  # taylor_mlir.dialects.arith_tensor.CmpfOp
        if predicate not in _COMPARISONS:
            raise UnsupportedOperatorError(
                "arith.cmpf",
                detail=f"predicate {predicate} (supported: {sorted(_COMPARISONS)})",
            )
        lhs, rhs = op.operands
        if self.all_fills(op, [lhs, rhs]):
            a = self.tensor(lhs)
        else:
            a = self.scalar_or_tensor(lhs)
        b = self.scalar_or_tensor(rhs)
        if isinstance(a, float):  # c < x  ==  x > c
            a, b = b, a
            predicate = _COMPARISONS[predicate][2]
        tensor_tensor, tensor_scalar, _ = _COMPARISONS[predicate]
        target = tensor_scalar if isinstance(b, float) else tensor_tensor
        self.set(op, self.call(target, a, b))

    def emit_select(self, op: Operation) -> None:
        cond, lhs, rhs = op.operands
        if not isinstance(cond.type, TensorType):
            raise UnsupportedOperatorError(
                "arith.select", detail="a scalar condition is not supported"
            )
        a = self.scalar_or_tensor(lhs)
        b = self.scalar_or_tensor(rhs)
        c = self.tensor(cond)
        if isinstance(a, float) and isinstance(b, float):
            a = self.tensor(lhs)  # where.Scalar would pick the default dtype
        if isinstance(a, float):
            self.set(op, self.call(aten.where.ScalarSelf, c, a, b))
        elif isinstance(b, float):
            self.set(op, self.call(aten.where.ScalarOther, c, a, b))
        else:
            self.set(op, self.call(aten.where.self, c, a, b))

    # ---------------------------------------------------------------- structural

    def accumulator(self, init: SSAValue) -> Any:
        """None for a zero init (dropped), else the init's value."""
        found = self.values[init]
        if isinstance(found, Fill) and found.value == 0.0:
            return None
        if isinstance(found, Empty):
            raise InvalidIRError(
                "a linalg accumulator is a tensor.empty (its values are undefined)"
            )
        return self.scalar_or_tensor(init)

    def emit_matmul(self, op: Operation) -> None:
        if op.indexing_maps != _MATMUL_MAPS:
            raise UnsupportedOperatorError(
                "linalg.matmul", detail="only the default indexing maps"
            )
        a, b = (self.tensor(v) for v in op.inputs)
        acc = self.accumulator(op.outputs[0])
        if acc is None:
            self.set(op, self.call(aten.mm.default, a, b))
        elif isinstance(acc, float):
            self.set(
                op, self.call(aten.add.Scalar, self.call(aten.mm.default, a, b), acc)
            )
        else:
            self.set(op, self.call(aten.addmm.default, acc, a, b))

    def emit_transpose(self, op: Operation) -> None:
        """A view for matmuls (BLAS reads it transposed); materialized row-major
        for any other use, as elementwise results follow their operands'
        strides (a product with a transposed view would be laid out
        transposed, and every reshape of it would copy)."""
        permutation = list(op.permutation.get_values())
        view = self.call(aten.permute.default, self.tensor(op.inputs[0]), permutation)
        users = [use.operation for use in op.results[0].uses]
        if not all(user.name == "linalg.matmul" for user in users):
            view = self.call(
                aten.clone.default, view, memory_format=torch.contiguous_format
            )
        self.set(op, view)

    def emit_broadcast(self, op: Operation) -> None:
        """Inserts unit dimensions (views), then expands them (no copy)."""
        added = sorted(op.dimensions.get_values())
        sizes = self.sizes_of_init(op.init)
        x = self.tensor(op.input)
        leading = added == list(range(len(added)))
        if not leading:
            for d in added:
                x = self.call(aten.unsqueeze.default, x, d)
        # -1 keeps a size of the input
        target = [s if i in added else -1 for i, s in enumerate(sizes)]
        self.set(op, self.call(aten.expand.default, x, target))

    def emit_reduce(self, op: Operation) -> None:
        if not is_sum_reduce(op):
            raise UnsupportedOperatorError(
                "linalg.reduce", detail="only sums (a body of one arith.addf)"
            )
        dims = list(op.dimensions.get_values())
        total = self.call(aten.sum.dim_IntList, self.tensor(op.input), dims)
        acc = self.accumulator(op.init)
        if acc is None:
            self.set(op, total)
        elif isinstance(acc, float):
            self.set(op, self.call(aten.add.Scalar, total, acc))
        else:
            self.set(op, self.call(aten.add.Tensor, total, acc))

    def emit_reshape(self, op: Operation) -> None:
        """collapse_shape/expand_shape -> reshape (a view when strides allow)."""
        source = op.operands[0]
        result_shape = op.results[0].type.get_shape()
        if op.name == "tensor.expand_shape":
            dynamic = iter(self.index(v) for v in op.dynamic_output_shape)
            sizes = [next(dynamic) if s == DYNAMIC_INDEX else s for s in result_shape]
        else:
            sizes = self.collapsed_sizes(op, source, result_shape)
        self.set(op, self.call(aten.reshape.default, self.tensor(source), sizes))

    def collapsed_sizes(
        self, op: Operation, source: SSAValue, result_shape: Sequence[int]
    ) -> list[Any]:
        dynamic_groups = [i for i, s in enumerate(result_shape) if s == DYNAMIC_INDEX]
        if len(dynamic_groups) <= 1:  # reshape infers one size
            return [-1 if s == DYNAMIC_INDEX else s for s in result_shape]
        node = self.tensor(source)
        source_shape = source.type.get_shape()
        sizes: list[Any] = []
        for group in op.reassociation.data:
            size: Any = 1
            for i in (attr.value.data for attr in group.data):
                dim = source_shape[i]
                if dim == DYNAMIC_INDEX:
                    dim = self.call(aten.sym_size.int, node, i)
                size = self.index_arith(operator.mul, size, dim)
            sizes.append(size)
        return sizes

    def emit_extract_slice(self, op: Operation) -> None:
        source = op.source
        x = self.tensor(source)
        offsets = self.mixed(op.static_offsets, op.offsets)
        sizes = self.mixed(op.static_sizes, op.sizes)
        strides = self.mixed(op.static_strides, op.strides)
        source_shape = source.type.get_shape()
        whole = _whole_dimensions(op)
        for d, (offset, size, stride) in enumerate(
            zip(offsets, sizes, strides, strict=True)
        ):
            if offset == 0 and stride == 1 and (size == source_shape[d] or d in whole):
                continue  # the whole dimension
            extent = self.index_arith(operator.mul, size, stride)
            end = self.index_arith(operator.add, offset, extent)
            x = self.call(aten.slice.Tensor, x, d, offset, end, stride)
        static_sizes = op.static_sizes.get_values()
        dropped = _dropped_unit_dims(static_sizes, op.results[0].type.get_shape())
        if dropped:
            x = self.call(aten.squeeze.dims, x, dropped)
        self.set(op, x)

    def mixed(self, static, dynamic) -> list[Any]:
        values = iter(self.index(v) for v in dynamic)
        return [next(values) if s == DYNAMIC_INDEX else s for s in static.get_values()]

    def emit_concat(self, op: Operation) -> None:
        tensors = [self.tensor(v) for v in op.inputs]
        self.set(op, self.call(aten.cat.default, tensors, op.dim.value.data))

    def emit_stop_gradient(self, op: Operation) -> None:
        """`aten.detach`: autograd stops there, as in f. A fill is a constant
        already."""
        found = self.values[op.operands[0]]
        if isinstance(found, Fill):
            self.set(op, found)
        else:
            self.set(op, self.call(aten.detach.default, found))

    def emit_matrix(self, op: Operation) -> None:
        """torch.linalg's kernel of a `matrix` op (dialects/matrix.py)."""
        self.set(op, self.call(_MATRIX_KERNELS[op.name], self.tensor(op.operands[0])))

    def emit_return(self, op: Operation) -> None:
        self.graph.output(tuple(self.tensor(v) for v in op.operands))


def _whole_dimensions(op: Operation) -> set[int]:
    """The dynamic dimensions an extract_slice takes whole: its size there is
    `tensor.dim` of the source in that dimension (a slice of the batch then
    costs no ATen call)."""
    dynamic = iter(op.sizes)
    whole = set()
    for d, size in enumerate(op.static_sizes.get_values()):
        if size != DYNAMIC_INDEX:
            continue
        owner = next(dynamic).owner
        if (
            isinstance(owner, tensor.DimOp)
            and owner.source == op.source
            and constant_int(owner.index) == d
        ):
            whole.add(d)
    return whole


def _dropped_unit_dims(
    static_sizes: Sequence[int], result_shape: Sequence[int]
) -> list[int]:
    """The unit dimensions a rank-reducing extract_slice drops: its static
    sizes (DYNAMIC_INDEX for a dynamic one, which is a `?` of the result) are
    matched to the result's dimensions left to right, the unmatched ones are
    dropped (all static 1s, so which of equal candidates does not matter)."""
    dropped, j = [], 0
    for d, size in enumerate(static_sizes):
        if j < len(result_shape) and result_shape[j] == size:
            j += 1
        else:
            dropped.append(d)
    return dropped


def to_fx(module: ModuleOp, func_name: str) -> torch.fx.GraphModule:
    """The function `func_name` of tensor-level IR as an FX GraphModule of ATen
    calls, returning a tuple of tensors."""
    function = find_function(module, func_name)
    graph, buffers = FXEmitter(function).run()
    root = torch.nn.Module()
    for name, value in buffers.items():
        root.register_buffer(name, value)
    graph.eliminate_dead_code()  # unused sym_size reads
    graph.lint()
    return torch.fx.GraphModule(root, graph, class_name=f"taylor_{func_name}")


# --------------------------------------------------------------- call checks


@dataclass(frozen=True)
class ArgumentSpec:
    """What a compiled function accepts at one argument position."""

    shape: tuple[int | None, ...]  # None: dynamic
    dtype: torch.dtype

    @staticmethod
    def of(t: Attribute) -> ArgumentSpec:
        if not isinstance(t, TensorType):
            raise InvalidIRError(f"function arguments must be tensors, got {t}")
        shape = tuple(None if s == DYNAMIC_INDEX else s for s in t.get_shape())
        return ArgumentSpec(shape, torch_dtype(t.get_element_type()))

    def describe(self) -> str:
        dims = ", ".join("?" if s is None else str(s) for s in self.shape)
        return f"({dims}) {str(self.dtype).removeprefix('torch.')}"


def argument_specs(function: func.FuncOp) -> list[ArgumentSpec]:
    return [ArgumentSpec.of(t) for t in function.function_type.inputs.data]


def check_call(
    name: str,
    specs: Sequence[ArgumentSpec],
    args: Sequence[Any],
    device: torch.device | None = None,
) -> torch.device:
    """Raises CallError unless args match specs (count, rank, static sizes,
    dtype, one device, `device` if given); returns the arguments' device."""
    if len(args) != len(specs):
        raise CallError(f"{name} takes {len(specs)} tensors, got {len(args)}")
    found_device = None
    for i, (spec, arg) in enumerate(zip(specs, args, strict=True)):
        where = f"{name}: argument {i}"
        if not isinstance(arg, torch.Tensor):
            raise CallError(f"{where} must be a torch.Tensor, got {type(arg).__name__}")
        if arg.dim() != len(spec.shape):
            raise CallError(
                f"{where} must have rank {len(spec.shape)} {spec.describe()}, "
                f"got rank {arg.dim()} {tuple(arg.shape)}"
            )
        for d, (expected, got) in enumerate(zip(spec.shape, arg.shape, strict=True)):
            if expected is not None and expected != got:
                raise CallError(
                    f"{where} must have size {expected} in dimension {d} "
                    f"{spec.describe()}, got {tuple(arg.shape)}"
                )
        if arg.dtype != spec.dtype:
            raise CallError(f"{where} must be {spec.dtype}, got {arg.dtype}")
        if found_device is None:
            found_device = arg.device
        elif arg.device != found_device:
            raise CallError(
                f"{where} is on {arg.device}, but earlier arguments are on {found_device}"
            )
        if device is not None and arg.device != device:
            raise CallError(f"{where} must be on {device}, got {arg.device}")
    return found_device if found_device is not None else torch.device("cpu")


class TorchExecutable:
    """A function of tensor-level IR run through PyTorch's ATen kernels.

    `device=None` accepts any device the arguments share (the constants follow
    them); a given device is required of every argument.

    `inductor=True` hands the GraphModule to `torch.compile` (Inductor fuses
    the elementwise ops around the matmuls): compiled at the first call, with
    dynamic sizes (one compilation for every batch size). A program tracing
    this one (an operator of it, `torch.export`) sees the ATen graph itself
    (`graph_module`); eager calls run the same graph with `fused_ops`, as do
    calls under a torch.func transform (`vmap`, `grad`, `jvp`), which a
    compiled function called eagerly cannot take.
    """

    def __init__(
        self,
        module: ModuleOp,
        func_name: str,
        device: torch.device | str | None = None,
        inductor: bool = False,
    ):
        self.func_name = func_name
        self.specs = argument_specs(find_function(module, func_name))
        self.device = torch.device(device) if device is not None else None
        settle_cpu_heap()  # eager calls reuse freed heap instead of faulting it in
        self.graph_module = to_fx(module, func_name)
        self._eager = fused_ops.eager_module(self.graph_module)
        self._run = self._eager
        if inductor:
            self._run = torch.compile(self.graph_module, dynamic=True, fullgraph=True)
        self._buffers_on = torch.device("cpu")
        if self.device is not None:
            self._move_buffers(self.device)

    def _share_buffers(self) -> None:
        """The eager module reads the traced module's constants (one copy)."""
        for name, buffer in self.graph_module.named_buffers():
            self._eager.register_buffer(name, buffer)

    def _move_buffers(self, device: torch.device) -> None:
        if device != self._buffers_on:
            self.graph_module.to(device)
            self._share_buffers()
            self._buffers_on = device

    def __call__(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        device = check_call(f"@{self.func_name}", self.specs, args, self.device)
        self._move_buffers(device)
        if torch.compiler.is_compiling():  # traced: by export, or a caller's compile
            return self.graph_module(*args)
        run = self._run
        if torch._C._are_functorch_transforms_active():
            run = self._eager  # Dynamo refuses vmap(compiled) from eager code
        try:
            return run(*args)
        except Exception as error:
            raised = _call_error_in(error)
            if raised is None:
                raise
            raise raised from None

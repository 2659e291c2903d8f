"""
The operator level: a `func.func` that seeds jets, calls the primal, and sums.

Given the imported primal module (one public `func.func @forward(%x, %params...)`)
and an `OperatorSpec`, `build_operator` adds a public function

```mlir
func.func @operator(%x: tensor<?xDxf64>, %w..., %dirs: tensor<Sx?xDxf64>) -> tensor<?x..xf64> {
  // per fixed group: directions R x D, broadcast over the batch
  %v  = arith.constant dense<...> : tensor<RxDxf64>
  %vb = linalg.broadcast ins(%v) outs(%e : tensor<Rx?xDxf64>) dimensions = [1]
  %j  = taylor.seed %x, %vb : ... -> !taylor.jet<K, R, tensor<?xDxf64>>
  %y  = taylor.call @forward(%j, %w...) : ... -> !taylor.jet<K, R, tensor<?x..xf64>>
  %yK = taylor.coefficient %y[K] : ... -> tensor<Rx?x..xf64>
  %s  = taylor.sum %yK weights [...] : tensor<Rx?x..xf64> -> tensor<?x..xf64>
  // several groups (orders) add up; an order-0 term adds c * coefficient 0
  func.return %s
}
```

and makes `@forward` private. A randomized group, or one whose directions are
computed from runtime coefficients, reads its directions from an extra trailing
argument (`R x N x *S`, drawn or computed per call). `build_jet` builds the
compiled K-jet `(x0, params, x1..xK) -> (f0, f1..fK)` along one direction.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Block, Region, SSAValue

from taylor_mlir.dialects.taylor import (
    CallOp,
    CoefficientOp,
    JetType,
    SeedOp,
    SumOp,
    direction_type,
)
from taylor_mlir.errors import InvalidIRError
from taylor_mlir.ir.builder import TensorBuilder, element_of, shape_of
from taylor_mlir.ir.matchers import find_function
from taylor_mlir.operators.spec import DirectionGroup, OperatorSpec, OperatorSpecError


class _OperatorFunction:
    """The primal's signature and the builder of the new function's body.

    The primal takes `num_inputs` user inputs (then parameters); the operator
    differentiates input `wrt`, the others enter the jet propagation as
    constants (like the parameters). It may return several tensors."""

    def __init__(
        self,
        module: ModuleOp,
        forward: str,
        num_inputs: int,
        name: str,
        wrt: int = 0,
    ):
        self.module = module.clone()
        self.forward = find_function(self.module, forward)
        self.name = name
        inputs = self.forward.function_type.inputs.data
        outputs = self.forward.function_type.outputs.data
        if not 0 <= wrt < num_inputs:
            raise InvalidIRError(
                f"wrt={wrt} is out of range for @{forward}'s {num_inputs} inputs"
            )
        if not outputs or not all(isinstance(o, TensorType) for o in outputs):
            raise InvalidIRError(
                f"@{forward} must return tensors, it returns "
                f"({', '.join(map(str, outputs))})"
            )
        self.wrt = wrt
        self.user_types = list(inputs[:num_inputs])
        self.input_type = inputs[wrt]
        self.parameter_types = list(inputs[num_inputs:])
        self.output_types = list(outputs)
        if not isinstance(self.input_type, TensorType):
            raise InvalidIRError(
                f"@{forward}'s input must be a tensor, got {self.input_type}"
            )
        shape = self.input_type.get_shape()
        if len(shape) < 2 or any(d < 0 for d in shape[1:]):
            raise InvalidIRError(
                f"@{forward}'s input must be a batch (N, *S) with static S, got "
                f"{self.input_type}"
            )
        self.datum_shape = tuple(shape[1:])

    @property
    def output_type(self) -> TensorType:
        return self.output_types[0]

    @property
    def input_size(self) -> int:
        return math.prod(self.datum_shape)

    def create(self, extra_inputs: list, outputs: list) -> tuple[func.FuncOp, Block]:
        """Adds the public function (taking `inputs..., params..., *extra_inputs`)
        to the module and makes the primal private."""
        inputs = [*self.user_types, *self.parameter_types, *extra_inputs]
        block = Block(arg_types=inputs)
        function = func.FuncOp(self.name, (inputs, outputs), Region(block))
        self.forward.sym_visibility = StringAttr("private")
        self.module.body.block.add_op(function)
        return function, block

    def split(self, block: Block) -> tuple[list[SSAValue], list[SSAValue], list]:
        """The block's user inputs, parameters and extra arguments."""
        n_user, n_params = len(self.user_types), len(self.parameter_types)
        args = list(block.args)
        return (
            args[:n_user],
            args[n_user : n_user + n_params],
            args[n_user + n_params :],
        )

    def call(
        self, seed: SeedOp, inputs, parameters, order: int, directions: int
    ) -> list[SSAValue]:
        """The jets of every output of the primal at the seeded input."""
        arguments = list(inputs)
        arguments[self.wrt] = seed.result
        result_types = [JetType(order, directions, t) for t in self.output_types]
        call = CallOp(
            self.forward.sym_name.data, [*arguments, *parameters], result_types
        )
        seed.parent_block().add_op(call)
        return list(call.res)


def _fixed_directions(
    builder: TensorBuilder, x: SSAValue, group: DirectionGroup, datum_shape
) -> SSAValue:
    """The group's `R x D` directions as a constant, broadcast to `R x N x *S`."""
    if group.directions is None:
        raise OperatorSpecError(
            f"a direction group of order {group.order} has no directions: give "
            "fixed directions (R x D), random ones or ones computed at each call"
        )
    R = group.count
    constant = builder.constant(
        np.asarray(group.directions).reshape(R, *datum_shape), element_of(x)
    )
    shape = [R, builder.dim(x, 0), *datum_shape]
    return builder.broadcast(constant, shape, added_dims=[1])


def _weighted_sum(top: SSAValue, weights: tuple[float, ...]) -> SumOp:
    if all(w == 1.0 for w in weights):
        return SumOp(top)
    return SumOp(top, weights)


RETURNS = ("value", "gradient", "operator")


def gradient_group(spec: OperatorSpec) -> int | None:
    """The index of a group whose directions are the unit vectors in order
    (its first coefficients are the gradient), or None."""
    for i, group in enumerate(spec.groups):
        if group.directions is not None and np.array_equal(
            group.directions, np.eye(spec.input_size)
        ):
            return i
    return None


def build_operator(
    primal: ModuleOp,
    spec: OperatorSpec,
    forward: str = "forward",
    num_inputs: int = 1,
    name: str = "operator",
    wrt: int = 0,
    returns: tuple[str, ...] = ("operator",),
) -> ModuleOp:
    """The primal module with `@name` added: `spec` applied to `@forward`.

    The new function takes `(inputs..., params..., dirs...)`, one `dirs`
    argument of type `tensor<R x N x *S>` per group that `takes_directions`
    (randomized, or computed from runtime coefficients), in the order of
    `spec.groups`. It returns, for each of `returns` in order and each output
    of the primal, the value (`value`: coefficient 0), the gradient w.r.t. the
    input `wrt` (`gradient`: `(N, *T, *S)`, from the first coefficients along
    unit directions) or the operator (`operator`): one jet serves all three.
    """
    target = _OperatorFunction(primal, forward, num_inputs, name, wrt)
    if spec.input_size != target.input_size:
        raise InvalidIRError(
            f"the operator was built for inputs of {spec.input_size} entries per "
            f"datum, @{forward} takes {target.input_type}"
        )
    if not spec.groups:
        raise InvalidIRError(f"the {spec.name} operator has no derivative terms")
    unknown = [r for r in returns if r not in RETURNS]
    if unknown or not returns:
        raise InvalidIRError(f"returns must name some of {RETURNS}, got {returns}")
    with_gradient = gradient_group(spec)
    if "gradient" in returns and with_gradient is None:
        raise InvalidIRError(
            f"the {spec.name} operator has no unit directions to read the gradient from"
        )
    direction_types = [
        direction_type(g.count, target.input_type)
        for g in spec.groups
        if g.takes_directions
    ]
    result_types = {
        "value": target.output_types,
        "operator": target.output_types,
        "gradient": [
            _gradient_type(t, target.datum_shape) for t in target.output_types
        ],
    }
    outputs = [t for r in returns for t in result_types[r]]
    function, block = target.create(direction_types, outputs)
    builder = TensorBuilder(block)
    inputs, parameters, direction_arguments = target.split(block)
    x = inputs[wrt]
    direction_arguments = iter(direction_arguments)

    totals: list[SSAValue] | None = None
    jets: list[list[SSAValue]] = []
    for group in spec.groups:
        if group.takes_directions:
            directions = next(direction_arguments)
        else:
            directions = _fixed_directions(builder, x, group, target.datum_shape)
        seed = SeedOp(
            x, [directions], JetType(group.order, group.count, target.input_type)
        )
        builder.insert(seed)
        ys = target.call(seed, inputs, parameters, group.order, group.count)
        jets.append(ys)
        summed = [
            builder.insert(
                _weighted_sum(
                    builder.insert(CoefficientOp(y, group.order)).results[0],
                    group.weights,
                )
            ).results[0]
            for y in ys
        ]
        totals = (
            summed
            if totals is None
            else [builder.add(t, s_) for t, s_ in zip(totals, summed, strict=True)]
        )
    values = None
    if spec.constant != 0.0 or "value" in returns:
        # f itself is coefficient 0 of any of the jets
        values = [builder.insert(CoefficientOp(y, 0)).results[0] for y in jets[0]]
    if spec.constant != 0.0:
        totals = [
            builder.add(
                total,
                v
                if spec.constant == 1.0
                else builder.mul(builder.full_like(v, spec.constant), v),
            )
            for total, v in zip(totals, values, strict=True)
        ]
    results: list[SSAValue] = []
    for item in returns:
        if item == "value":
            results += values
        elif item == "operator":
            results += totals
        else:
            results += [
                _gradient(
                    builder,
                    builder.insert(CoefficientOp(y, 1)).results[0],
                    target.datum_shape,
                )
                for y in jets[with_gradient]
            ]
    builder.insert(func.ReturnOp(*results))
    return target.module


def _gradient_type(output_type: TensorType, datum_shape) -> TensorType:
    return TensorType(
        output_type.get_element_type(), [*output_type.get_shape(), *datum_shape]
    )


def _gradient(builder: TensorBuilder, first: SSAValue, datum_shape) -> SSAValue:
    """`R x N x *T` first coefficients along the unit vectors (R = prod(S)) as
    the gradient `N x *T x *S`."""
    rank = len(shape_of(first))
    moved = builder.transpose(first, [*range(1, rank), 0])
    if len(datum_shape) == 1:
        return moved
    groups = [[i] for i in range(rank - 1)] + [
        list(range(rank - 1, rank - 1 + len(datum_shape)))
    ]
    sizes = [*builder.dims(moved)[:-1], *datum_shape]
    return builder.expand(moved, groups, sizes)


def build_jet(
    primal: ModuleOp,
    order: int,
    forward: str = "forward",
    num_inputs: int = 1,
    name: str = "jet",
) -> ModuleOp:
    """The primal module with `@name(x0, params..., x1..xK) -> (f0, f1..fK)`:
    the K-jet of `@forward` along one direction (R = 1). The given
    coefficients trail, as the directions of randomized operators do."""
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise InvalidIRError(f"the jet order must be an integer >= 1, got {order!r}")
    target = _OperatorFunction(primal, forward, num_inputs, name)
    if len(target.output_types) != 1 or num_inputs != 1:
        raise InvalidIRError(
            "compiled jets are for functions of one input returning one tensor"
        )
    coefficient_types = [target.input_type] * order
    outputs = [target.output_type] * (order + 1)
    _, block = target.create(coefficient_types, outputs)
    builder = TensorBuilder(block)
    inputs, parameters, given = target.split(block)
    x0 = inputs[0]
    rank = len(shape_of(x0))
    batch = builder.dim(x0, 0)
    lift = [[0, 1], *[[i + 1] for i in range(1, rank)]]
    seeded = [
        builder.expand(x_k, lift, [1, batch, *target.datum_shape]) for x_k in given
    ]
    seed = SeedOp(x0, seeded, JetType(order, 1, target.input_type))
    builder.insert(seed)
    (y,) = target.call(seed, inputs, parameters, order, 1)
    results = [builder.insert(CoefficientOp(y, 0)).results[0]]
    out_rank = len(target.output_type.get_shape())
    drop = [[0, 1], *[[i + 1] for i in range(1, out_rank)]]
    for k in range(1, order + 1):
        y_k = builder.insert(CoefficientOp(y, k)).results[0]
        results.append(builder.collapse(y_k, drop))
    builder.insert(func.ReturnOp(*results))
    return target.module

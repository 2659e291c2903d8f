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
from taylor_mlir.operators.spec import DirectionGroup, OperatorSpec
from taylor_mlir.tensor_ir import TensorBuilder, element_of, shape_of


def find_function(module: ModuleOp, name: str) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == name:
            return op
    raise InvalidIRError(f"the module has no func.func @{name}")


class _OperatorFunction:
    """The primal's signature and the builder of the new function's body."""

    def __init__(self, module: ModuleOp, forward: str, num_inputs: int, name: str):
        self.module = module.clone()
        self.forward = find_function(self.module, forward)
        self.name = name
        inputs = self.forward.function_type.inputs.data
        outputs = self.forward.function_type.outputs.data
        if num_inputs != 1:
            raise InvalidIRError(
                f"@{forward} takes {num_inputs} user inputs; differential operators "
                "are built for functions of one input x"
            )
        if len(outputs) != 1 or not isinstance(outputs[0], TensorType):
            raise InvalidIRError(
                f"@{forward} must return one tensor, it returns "
                f"({', '.join(map(str, outputs))})"
            )
        self.input_type = inputs[0]
        self.parameter_types = list(inputs[1:])
        self.output_type = outputs[0]
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
    def input_size(self) -> int:
        return math.prod(self.datum_shape)

    def create(self, extra_inputs: list, outputs: list) -> tuple[func.FuncOp, Block]:
        """Adds the public function (taking `x, params..., *extra_inputs`) to the
        module and makes the primal private."""
        inputs = [self.input_type, *self.parameter_types, *extra_inputs]
        block = Block(arg_types=inputs)
        function = func.FuncOp(self.name, (inputs, outputs), Region(block))
        self.forward.sym_visibility = StringAttr("private")
        self.module.body.block.add_op(function)
        return function, block

    def call(self, seed: SeedOp, parameters, order: int, directions: int) -> SSAValue:
        result_type = JetType(order, directions, self.output_type)
        call = CallOp(
            self.forward.sym_name.data, [seed.result, *parameters], [result_type]
        )
        seed.parent_block().add_op(call)
        return call.res[0]


def _fixed_directions(
    builder: TensorBuilder, x: SSAValue, group: DirectionGroup, datum_shape
) -> SSAValue:
    """The group's `R x D` directions as a constant, broadcast to `R x N x *S`."""
    assert group.directions is not None
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


def build_operator(
    primal: ModuleOp,
    spec: OperatorSpec,
    forward: str = "forward",
    num_inputs: int = 1,
    name: str = "operator",
) -> ModuleOp:
    """The primal module with `@name` added: `spec` applied to `@forward`.

    The new function takes `(x, params..., dirs...)`, one `dirs` argument of type
    `tensor<R x N x *S>` per group that `takes_directions` (randomized, or
    computed from runtime coefficients), in the order of `spec.groups`.
    """
    target = _OperatorFunction(primal, forward, num_inputs, name)
    if spec.input_size != target.input_size:
        raise InvalidIRError(
            f"the operator was built for inputs of {spec.input_size} entries per "
            f"datum, @{forward} takes {target.input_type}"
        )
    if not spec.groups:
        raise InvalidIRError(f"the {spec.name} operator has no derivative terms")
    random_types = [
        direction_type(g.count, target.input_type)
        for g in spec.groups
        if g.takes_directions
    ]
    function, block = target.create(random_types, [target.output_type])
    builder = TensorBuilder(block)
    x = block.args[0]
    parameters = block.args[1 : 1 + len(target.parameter_types)]
    random_arguments = iter(block.args[1 + len(target.parameter_types) :])

    total: SSAValue | None = None
    jet: SSAValue | None = None
    for group in spec.groups:
        if group.takes_directions:
            directions = next(random_arguments)
        else:
            directions = _fixed_directions(builder, x, group, target.datum_shape)
        seed = SeedOp(
            x, [directions], JetType(group.order, group.count, target.input_type)
        )
        builder.insert(seed)
        y = target.call(seed, parameters, group.order, group.count)
        top = builder.insert(CoefficientOp(y, group.order)).results[0]
        summed = builder.insert(_weighted_sum(top, group.weights)).results[0]
        total = summed if total is None else builder.add(total, summed)
        if jet is None:
            jet = y
    assert total is not None and jet is not None
    if spec.constant != 0.0:
        # the order-0 term: f itself is coefficient 0 of any of the jets
        primal_value = builder.insert(CoefficientOp(jet, 0)).results[0]
        scaled = primal_value
        if spec.constant != 1.0:
            scaled = builder.mul(
                builder.full_like(primal_value, spec.constant), primal_value
            )
        total = builder.add(total, scaled)
    builder.insert(func.ReturnOp(total))
    return target.module


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
    coefficient_types = [target.input_type] * order
    outputs = [target.output_type] * (order + 1)
    _, block = target.create(coefficient_types, outputs)
    builder = TensorBuilder(block)
    n_params = len(target.parameter_types)
    x0 = block.args[0]
    parameters = block.args[1 : 1 + n_params]
    given = block.args[1 + n_params :]
    rank = len(shape_of(x0))
    batch = builder.dim(x0, 0)
    lift = [[0, 1], *[[i + 1] for i in range(1, rank)]]
    seeded = [
        builder.expand(x_k, lift, [1, batch, *target.datum_shape]) for x_k in given
    ]
    seed = SeedOp(x0, seeded, JetType(order, 1, target.input_type))
    builder.insert(seed)
    y = target.call(seed, parameters, order, 1)
    results = [builder.insert(CoefficientOp(y, 0)).results[0]]
    out_rank = len(target.output_type.get_shape())
    drop = [[0, 1], *[[i + 1] for i in range(1, out_rank)]]
    for k in range(1, order + 1):
        y_k = builder.insert(CoefficientOp(y, k)).results[0]
        results.append(builder.collapse(y_k, drop))
    builder.insert(func.ReturnOp(*results))
    return target.module

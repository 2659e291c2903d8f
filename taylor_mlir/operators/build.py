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
from xdsl.dialects.builtin import AnyFloat, ModuleOp, StringAttr, TensorType
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
        self.user_types = list(inputs[:num_inputs])
        self.input_type = self.checked_input(wrt)
        self.parameter_types = list(inputs[num_inputs:])
        self.output_types = list(outputs)
        self.datum_shape = tuple(self.input_type.get_shape()[1:])

    def checked_input(self, index: int) -> TensorType:
        """The type of user input `index`, which a seed will differentiate: a
        batch `(N, *S)` of floats with static S."""
        forward = self.forward.sym_name.data
        input_type = self.user_types[index]
        if not isinstance(input_type, TensorType):
            raise InvalidIRError(
                f"@{forward}'s input must be a tensor, got {input_type}"
            )
        shape = input_type.get_shape()
        if len(shape) < 2 or any(d < 0 for d in shape[1:]):
            raise InvalidIRError(
                f"@{forward}'s input must be a batch (N, *S) with static S, got "
                f"{input_type}"
            )
        if not isinstance(input_type.get_element_type(), AnyFloat):
            raise InvalidIRError(
                f"@{forward}'s input {index} is {input_type}: only floating-point "
                "inputs have Taylor coefficients"
            )
        return input_type

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
        self, seeds: dict[int, SeedOp], inputs, parameters, order: int, directions: int
    ) -> list[SSAValue]:
        """The jets of every output of the primal at the seeded inputs (by
        input index)."""
        arguments = list(inputs)
        for index, seed in seeds.items():
            arguments[index] = seed.result
        result_types = [JetType(order, directions, t) for t in self.output_types]
        call = CallOp(
            self.forward.sym_name.data, [*arguments, *parameters], result_types
        )
        next(iter(seeds.values())).parent_block().add_op(call)
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
        ys = target.call({wrt: seed}, inputs, parameters, group.order, group.count)
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
    """The primal module with `@name(inputs..., params..., series...) ->
    (f0..., f1..., ..., fK...)`: the K-jet of `@forward` along one direction
    (R = 1) of every input at once. `series` is input-major (the K
    coefficients of input 0, then of input 1, ...) and trails, as the
    directions of randomized operators do; the results are order-major (every
    output's coefficient 0, then every output's coefficient 1, ...)."""
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise InvalidIRError(f"the jet order must be an integer >= 1, got {order!r}")
    target = _OperatorFunction(primal, forward, num_inputs, name)
    input_types = [target.checked_input(i) for i in range(num_inputs)]
    coefficient_types = [t for t in input_types for _ in range(order)]
    outputs = target.output_types * (order + 1)
    _, block = target.create(coefficient_types, outputs)
    builder = TensorBuilder(block)
    inputs, parameters, given = target.split(block)
    batch = builder.dim(inputs[0], 0)
    seeds: dict[int, SeedOp] = {}
    for index, (x0, input_type) in enumerate(zip(inputs, input_types, strict=True)):
        series = given[index * order : (index + 1) * order]
        lifted = [_lift_direction(builder, x_k, batch) for x_k in series]
        seeds[index] = builder.insert(SeedOp(x0, lifted, JetType(order, 1, input_type)))
    ys = target.call(seeds, inputs, parameters, order, 1)
    results = [builder.insert(CoefficientOp(y, 0)).results[0] for y in ys]
    for k in range(1, order + 1):
        for y in ys:
            y_k = builder.insert(CoefficientOp(y, k)).results[0]
            results.append(builder.collapse(y_k, _unit_direction_groups(y_k)))
    builder.insert(func.ReturnOp(*results))
    return target.module


def _lift_direction(builder: TensorBuilder, x_k: SSAValue, batch) -> SSAValue:
    """A coefficient `(N, *S)` as the one direction of a jet: `(1, N, *S)`."""
    shape = shape_of(x_k)
    groups = [[0, 1], *[[i + 1] for i in range(1, len(shape))]]
    return builder.expand(x_k, groups, [1, batch, *shape[1:]])


def _unit_direction_groups(y_k: SSAValue) -> list[list[int]]:
    """The reassociation that drops a coefficient's one direction, `(1, N, *T)`
    to `(N, *T)`."""
    return [[0, 1], *[[i] for i in range(2, len(shape_of(y_k)))]]

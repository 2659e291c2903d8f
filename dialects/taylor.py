"""
The `taylor` dialect: Taylor jets and the ops that propagate and collapse them.

Convention (docs/design.md): a K-jet along R directions carries, for a value of
type `tensor<S>`, the primal coefficient `f_0 : tensor<S>` and the coefficients
`f_1 .. f_K : tensor<R x S>` (one slice per direction, plain derivatives, not
divided by k!). A *collapsed* jet stores its top coefficient `f_K` already summed
over the directions, as `tensor<S>`.

Two levels use the dialect:

* jet level (after the operator spec, before/after `taylor-mode`): values of type
  `!taylor.jet<K, R, tensor<S>>`, built by `taylor.seed`, pushed through a primal
  function by `taylor.call`, propagated by `taylor.linear`, `taylor.offset`,
  `taylor.mul` and `taylor.elementwise`, and read by `taylor.coefficient`.
* expanded level (after `taylor-expand`): plain tensors with a leading direction
  axis; `taylor.replicate`, `taylor.sum` and `taylor.linear_map` carry the
  direction structure that `taylor-collapse` rewrites.

One op belongs to the tensor level and lives through every pass:
`taylor.stop_gradient` (`x.detach()`), lowered by each backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypeVar, cast

from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntAttr,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    f64,
)
from xdsl.interfaces import HasCanonicalizationPatternsInterface
from xdsl.ir import (
    Attribute,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.pattern_rewriter import RewritePattern
from xdsl.printer import Printer
from xdsl.traits import (
    HasParent,
    IsTerminator,
    Pure,
    SymbolTable,
)
from xdsl.utils.exceptions import VerifyException

from taylor_mlir.dialects.elementwise import ELEMENTWISE_FUNCTIONS

# --------------------------------------------------------------------------- types


@irdl_attr_definition
class JetType(ParametrizedAttribute, TypeAttribute):
    """
    A K-jet over R directions of a value of tensor type `tensor<S>`.

    Syntax: `!taylor.jet<K, R, tensor<S>>`, or `!taylor.jet<K, R, tensor<S>, collapsed>`
    when the top coefficient is stored summed over the directions.
    """

    name = "taylor.jet"

    order: IntAttr
    directions: IntAttr
    primal_type: TensorType
    collapsed: IntAttr

    def __init__(
        self,
        order: int,
        directions: int,
        primal_type: TensorType,
        collapsed: bool = False,
    ):
        super().__init__(
            IntAttr(order), IntAttr(directions), primal_type, IntAttr(int(collapsed))
        )

    @property
    def K(self) -> int:
        return self.order.data

    @property
    def R(self) -> int:
        return self.directions.data

    @property
    def is_collapsed(self) -> bool:
        return bool(self.collapsed.data)

    def coefficient_type(self, k: int) -> TensorType:
        """The type of coefficient k: the primal type for k = 0 and for a collapsed
        top coefficient, `tensor<R x S>` otherwise."""
        if k == 0 or (k == self.K and self.is_collapsed):
            return self.primal_type
        return direction_type(self.R, self.primal_type)

    def with_primal_type(self, primal_type: TensorType) -> JetType:
        return JetType(self.K, self.R, primal_type, self.is_collapsed)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            order = parser.parse_integer(allow_boolean=False, allow_negative=True)
            parser.parse_punctuation(",")
            directions = parser.parse_integer(allow_boolean=False, allow_negative=True)
            parser.parse_punctuation(",")
            primal_type = parser.parse_type()
            collapsed = 0
            if parser.parse_optional_punctuation(","):
                parser.parse_keyword("collapsed")
                collapsed = 1
        return (IntAttr(order), IntAttr(directions), primal_type, IntAttr(collapsed))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.K}, {self.R}, ")
        printer.print_attribute(self.primal_type)
        if self.is_collapsed:
            printer.print_string(", collapsed")
        printer.print_string(">")

    def verify(self) -> None:
        if self.K < 1:
            raise VerifyException(f"jet order must be >= 1, got {self.K}")
        if self.R < 1:
            raise VerifyException(f"jet direction count must be >= 1, got {self.R}")
        if not isinstance(self.primal_type, TensorType):
            raise VerifyException(
                f"jet coefficients must be ranked tensors, got {self.primal_type}"
            )
        if self.collapsed.data not in (0, 1):
            raise VerifyException("jet collapsed flag must be 0 or 1")


def direction_type(directions: int, primal_type: TensorType) -> TensorType:
    """`tensor<S>` -> `tensor<R x S>`: one slice per direction."""
    return TensorType(
        primal_type.get_element_type(), [directions, *primal_type.get_shape()]
    )


_T = TypeVar("_T", bound=Attribute)


def _operand_type(value: SSAValue, expected: type[_T], op_name: str) -> _T:
    """The type of an operand given to a constructor, which must be `expected`."""
    if not isinstance(value.type, expected):
        raise TypeError(f"{op_name} takes a {expected.name}, got {value.type}")
    return value.type


def _check_direction_pair(
    per_direction: Attribute, primal: Attribute, directions: int | None, what: str
) -> int:
    """Checks `per_direction == tensor<R x S>` for `primal == tensor<S>`; returns R."""
    if not isinstance(per_direction, TensorType) or not isinstance(primal, TensorType):
        raise VerifyException(f"{what}: expected ranked tensors")
    shape = per_direction.get_shape()
    if (
        len(shape) != len(primal.get_shape()) + 1
        or tuple(shape[1:]) != tuple(primal.get_shape())
        or per_direction.get_element_type() != primal.get_element_type()
    ):
        raise VerifyException(
            f"{what}: expected a leading direction axis, tensor<R x S> for "
            f"{primal}, got {per_direction}"
        )
    if shape[0] < 1:
        raise VerifyException(f"{what}: the direction axis must be static and >= 1")
    if directions is not None and shape[0] != directions:
        raise VerifyException(
            f"{what}: direction count {shape[0]} does not match R = {directions}"
        )
    return shape[0]


def _jets_agree(jets: Sequence[JetType], what: str) -> None:
    if not jets:
        raise VerifyException(f"{what}: expects at least one jet operand")
    first = jets[0]
    for jet in jets[1:]:
        if (jet.K, jet.R, jet.is_collapsed) != (first.K, first.R, first.is_collapsed):
            raise VerifyException(
                f"{what}: jet operands disagree on order, directions or collapse: "
                f"{first} vs {jet}"
            )


# ----------------------------------------------------------------- jet-level ops


@irdl_op_definition
class SeedOp(IRDLOperation):
    """
    Builds a K-jet from its primal and its first given coefficients; the missing
    higher coefficients are zero.

    ```mlir
    %j = taylor.seed %x, %v : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<2, 3, tensor<?x2xf64>>
    ```
    """

    name = "taylor.seed"

    primal = operand_def(TensorType)
    coefficients = var_operand_def(TensorType)
    result = result_def(JetType)

    assembly_format = (
        "$primal `,` $coefficients attr-dict `:` type($primal) `,` "
        "type($coefficients) `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self, primal: SSAValue, coefficients: Sequence[SSAValue], result_type: JetType
    ):
        super().__init__(operands=[primal, coefficients], result_types=[result_type])

    def verify_(self) -> None:
        jet = cast(JetType, self.result.type)  # checked by result_def
        if self.primal.type != jet.primal_type:
            raise VerifyException(
                f"seed primal type {self.primal.type} does not match the jet's "
                f"{jet.primal_type}"
            )
        if not 1 <= len(self.coefficients) <= jet.K:
            raise VerifyException(
                f"seed takes 1 to K = {jet.K} coefficients, got {len(self.coefficients)}"
            )
        for k, coefficient in enumerate(self.coefficients, start=1):
            if coefficient.type != jet.coefficient_type(k):
                raise VerifyException(
                    f"seed coefficient {k} has type {coefficient.type}, expected "
                    f"{jet.coefficient_type(k)}"
                )


@irdl_op_definition
class CoefficientOp(HasCanonicalizationPatternsInterface, IRDLOperation):
    """
    Reads coefficient k of a jet: `tensor<S>` for k = 0 (and for the top
    coefficient of a collapsed jet), `tensor<R x S>` otherwise.

    ```mlir
    %y2 = taylor.coefficient %y[2] : !taylor.jet<2, 3, tensor<?x1xf64>> -> tensor<3x?x1xf64>
    ```
    """

    name = "taylor.coefficient"

    jet = operand_def(JetType)
    index = prop_def(IntAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.jet)
        printer.print_string(f"[{self.index.data}]")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.jet.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> CoefficientOp:
        unresolved = parser.parse_unresolved_operand()
        parser.parse_punctuation("[")
        index = parser.parse_integer(allow_boolean=False, allow_negative=True)
        parser.parse_punctuation("]")
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        jet_type = parser.parse_type()
        parser.parse_punctuation("->")
        result_type = parser.parse_type()
        return cls.create(
            operands=[parser.resolve_operand(unresolved, jet_type)],
            result_types=[result_type],
            properties={"index": IntAttr(index)},
            attributes=attributes,
        )

    def __init__(self, jet: SSAValue, index: int):
        jet_type = _operand_type(jet, JetType, "taylor.coefficient")
        super().__init__(
            operands=[jet],
            properties={"index": IntAttr(index)},
            result_types=[jet_type.coefficient_type(min(index, jet_type.K))],
        )

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from taylor_mlir.transforms.canonicalization_patterns.taylor import (
            CoefficientOfSeed,
        )

        return (CoefficientOfSeed(),)

    def verify_(self) -> None:
        jet = cast(JetType, self.jet.type)  # checked by operand_def
        k = self.index.data
        if not 0 <= k <= jet.K:
            raise VerifyException(
                f"coefficient index {k} is out of range for a jet of order {jet.K}"
            )
        if self.result.type != jet.coefficient_type(k):
            raise VerifyException(
                f"coefficient {k} has type {jet.coefficient_type(k)}, "
                f"not {self.result.type}"
            )


@irdl_op_definition
class CallOp(IRDLOperation):
    """
    Applies a primal function to jets (and direction-independent tensors, such as
    parameters). `taylor-mode` replaces it by the jet propagation of the callee's
    body.

    ```mlir
    %y = taylor.call @f(%j, %w) : (!taylor.jet<2, 3, tensor<?x2xf64>>, tensor<2x4xf64>) -> !taylor.jet<2, 3, tensor<?x4xf64>>
    ```
    """

    name = "taylor.call"

    callee = prop_def(SymbolRefAttr)
    arguments = var_operand_def()
    res = var_result_def()

    assembly_format = (
        "$callee `(` $arguments `)` attr-dict `:` functional-type($arguments, $res)"
    )

    def __init__(
        self,
        callee: str | SymbolRefAttr,
        arguments: Sequence[SSAValue],
        result_types: Sequence[Attribute],
    ):
        if isinstance(callee, str):
            callee = SymbolRefAttr(callee)
        super().__init__(
            operands=[arguments],
            result_types=[result_types],
            properties={"callee": callee},
        )

    def verify_(self) -> None:
        jets = [a.type for a in self.arguments if isinstance(a.type, JetType)]
        _jets_agree(jets, "taylor.call")
        for r in self.res.types:
            if not isinstance(r, JetType):
                raise VerifyException(f"taylor.call results must be jets, got {r}")
            _jets_agree([jets[0], r], "taylor.call")
        if not _has_symbol_table_ancestor(self):
            return  # not yet inside a module (e.g. while building)
        callee = SymbolTable.lookup_symbol(self, self.callee)
        if callee is None:
            raise VerifyException(f"taylor.call: no function named {self.callee}")
        from xdsl.dialects.func import FuncOp

        if not isinstance(callee, FuncOp):
            raise VerifyException(f"taylor.call: '{self.callee}' is not a func.func")
        inputs = callee.function_type.inputs.data
        outputs = callee.function_type.outputs.data
        args = [
            a.type.primal_type if isinstance(a.type, JetType) else a.type
            for a in self.arguments
        ]
        if tuple(args) != tuple(inputs):
            raise VerifyException(
                f"taylor.call: operand primal types ({', '.join(map(str, args))}) do "
                f"not match @{callee.sym_name.data} inputs "
                f"({', '.join(map(str, inputs))})"
            )
        results = [r.primal_type for r in self.res.types if isinstance(r, JetType)]
        if tuple(results) != tuple(outputs):
            raise VerifyException(
                f"taylor.call: result primal types do not match @{callee.sym_name.data}"
            )


def _has_symbol_table_ancestor(op: Operation) -> bool:
    parent = op.parent_op()
    while parent is not None:
        if parent.has_trait(SymbolTable):
            return True
        parent = parent.parent_op()
    return False


class _RegionOpMixin:
    """Shared custom syntax for the region ops `taylor.linear` and
    `taylor.linear_map`: `op %a, %b : T0, T1 -> T { ^bb0(...): ... }`."""

    def print(self, printer: Printer) -> None:
        op: IRDLOperation = self  # type: ignore[assignment]
        printer.print_string(" ")
        printer.print_list(op.operands, printer.print_ssa_value)
        printer.print_op_attributes(op.attributes)
        printer.print_string(" : ")
        printer.print_list([o.type for o in op.operands], printer.print_attribute)
        printer.print_string(" -> ")
        printer.print_attribute(op.results[0].type)
        printer.print_string(" ")
        printer.print_region(op.regions[0], print_entry_block_args=True)

    @classmethod
    def parse(cls, parser: Parser):
        unresolved = parser.parse_comma_separated_list(
            parser.Delimiter.NONE, parser.parse_unresolved_operand
        )
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        types = parser.parse_comma_separated_list(
            parser.Delimiter.NONE, parser.parse_type
        )
        parser.parse_punctuation("->")
        result_type = parser.parse_type()
        operands = parser.resolve_operands(unresolved, types, parser.pos)
        body = parser.parse_region()
        op = cls.create(  # type: ignore[attr-defined]
            operands=operands,
            result_types=[result_type],
            regions=[body],
            attributes=attributes,
        )
        return op


def _block_args_match(region: Region, expected: Sequence[Attribute], what: str) -> None:
    block = region.block
    got = [a.type for a in block.args]
    if tuple(got) != tuple(expected):
        raise VerifyException(
            f"{what}: region arguments ({', '.join(map(str, got))}) must be "
            f"({', '.join(map(str, expected))})"
        )


def yielded_value(region: Region) -> SSAValue:
    """The one value the body of a `taylor.linear`/`taylor.linear_map` yields."""
    terminator = region.block.last_op
    if not isinstance(terminator, YieldOp) or len(terminator.values) != 1:
        raise VerifyException("region must end in taylor.yield of one value")
    return terminator.values[0]


def _yielded_type(region: Region) -> Attribute:
    return yielded_value(region).type


@irdl_op_definition
class LinearOp(_RegionOpMixin, HasCanonicalizationPatternsInterface, IRDLOperation):
    """
    Applies a function, linear in its jet operands, to every coefficient:
    `y_k = body(x_k)` for k = 0..K. The body sees the primal types; values from
    above (weights, constants) are captured. Affine offsets go to `taylor.offset`.

    ```mlir
    %y = taylor.linear %j : !taylor.jet<2, 3, tensor<?x2xf64>> -> !taylor.jet<2, 3, tensor<?x4xf64>> {
    ^bb0(%x: tensor<?x2xf64>):
      ...linalg.matmul ins(%x, %w ...)...
      taylor.yield %m : tensor<?x4xf64>
    }
    ```
    """

    name = "taylor.linear"

    inputs = var_operand_def(JetType)
    result = result_def(JetType)
    body = region_def("single_block")
    traits = traits_def(Pure())

    def __init__(self, inputs: Sequence[SSAValue], result_type: JetType, body: Region):
        super().__init__(operands=[inputs], result_types=[result_type], regions=[body])

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from taylor_mlir.transforms.canonicalization_patterns.taylor import (
            RemoveIdentityBody,
        )

        return (RemoveIdentityBody(),)

    def verify_(self) -> None:
        jets = [i.type for i in self.inputs]
        _jets_agree(jets + [self.result.type], "taylor.linear")
        _block_args_match(
            self.body,
            [j.primal_type for j in jets],  # type: ignore[union-attr]
            "taylor.linear",
        )
        result = cast(JetType, self.result.type)  # checked by result_def
        if _yielded_type(self.body) != result.primal_type:
            raise VerifyException(
                f"taylor.linear: body yields {_yielded_type(self.body)}, "
                f"the result jet needs {result.primal_type}"
            )


def _check_primal_typed(
    op_name: str, what: str, value: SSAValue, jet_value: SSAValue
) -> JetType:
    """The jet's type, once `value` is checked to have its primal type."""
    jet = cast(JetType, jet_value.type)  # checked by operand_def
    if value.type != jet.primal_type:
        raise VerifyException(
            f"{op_name}: {what} type {value.type} does not match the jet's primal "
            f"type {jet.primal_type}"
        )
    return jet


@irdl_op_definition
class OffsetOp(HasCanonicalizationPatternsInterface, IRDLOperation):
    """
    Adds a direction-independent tensor to the primal coefficient only (the
    affine part of `x + b`): `y_0 = x_0 + b`, `y_k = x_k` for k >= 1.

    ```mlir
    %y = taylor.offset %j, %b : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>
    ```
    """

    name = "taylor.offset"

    T: ClassVar = VarConstraint("T", base(JetType))
    jet = operand_def(T)
    offset = operand_def(TensorType)
    result = result_def(T)

    assembly_format = "$jet `,` $offset attr-dict `:` type($jet) `,` type($offset)"
    traits = traits_def(Pure())

    def __init__(self, jet: SSAValue, offset: SSAValue):
        super().__init__(operands=[jet, offset], result_types=[jet.type])

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from taylor_mlir.transforms.canonicalization_patterns.taylor import OffsetByZero

        return (OffsetByZero(),)

    def verify_(self) -> None:
        jet = _check_primal_typed("taylor.offset", "offset", self.offset, self.jet)
        if self.result.type != jet:
            raise VerifyException("taylor.offset: result type must equal the jet type")


@irdl_op_definition
class MulOp(IRDLOperation):
    """
    Elementwise product of two jets by the Leibniz rule:
    `(a b)_k = sum_j C(k, j) a_j b_{k-j}`.

    ```mlir
    %p = taylor.mul %a, %b : !taylor.jet<2, 3, tensor<?x4xf64>>
    ```
    """

    name = "taylor.mul"

    T: ClassVar = VarConstraint("T", base(JetType))
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)

    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])

    def verify_(self) -> None:
        if not (self.lhs.type == self.rhs.type == self.result.type):
            raise VerifyException(
                f"taylor.mul: operands and result must have one jet type, got "
                f"{self.lhs.type}, {self.rhs.type} -> {self.result.type}"
            )


@irdl_op_definition
class ElementwiseOp(IRDLOperation):
    """
    An elementwise function of a jet, propagated by Faa di Bruno's formula. The
    function is named by `function`; its derivative rule lives in
    `taylor_mlir.dialects.elementwise` (one entry per function). `pow` takes its
    constant exponent in `exponent`.

    ```mlir
    %t = taylor.elementwise "tanh" %z : !taylor.jet<2, 3, tensor<?x4xf64>>
    %p = taylor.elementwise "pow" %z {exponent = 1.5 : f64} : !taylor.jet<2, 3, tensor<?x4xf64>>
    ```
    """

    name = "taylor.elementwise"

    T: ClassVar = VarConstraint("T", base(JetType))
    function = prop_def(StringAttr)
    operand = operand_def(T)
    exponent = opt_prop_def(FloatAttr)
    result = result_def(T)

    assembly_format = "$function $operand attr-dict `:` type($result)"
    traits = traits_def(Pure())

    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, function: str, operand: SSAValue, exponent: float | None = None):
        properties: dict[str, Attribute] = {"function": StringAttr(function)}
        if exponent is not None:
            properties["exponent"] = FloatAttr(exponent, f64)
        super().__init__(
            operands=[operand], result_types=[operand.type], properties=properties
        )

    def verify_(self) -> None:
        name = self.function.data
        if name not in ELEMENTWISE_FUNCTIONS:
            raise VerifyException(
                f"taylor.elementwise: unknown function '{name}' (known: "
                f"{', '.join(sorted(ELEMENTWISE_FUNCTIONS))})"
            )
        needs_exponent = ELEMENTWISE_FUNCTIONS[name].needs_exponent
        if needs_exponent and self.exponent is None:
            raise VerifyException(f"taylor.elementwise: '{name}' needs an exponent")
        if not needs_exponent and self.exponent is not None:
            raise VerifyException(f"taylor.elementwise: '{name}' takes no exponent")
        if self.operand.type != self.result.type:
            raise VerifyException(
                "taylor.elementwise: result type must equal the operand type"
            )


@irdl_op_definition
class PowOp(IRDLOperation):
    """
    A jet raised to a tensor exponent that is constant along the jet (a
    buffer, a constant, anything not depending on the differentiated input):
    `s(z) = z^w` with `s^(k)(z) = w (w-1) ... (w-k+1) z^(w-k)`, 0 where that
    product is 0, powers as torch's (`math.powf`: real for a negative base
    and an integer exponent). A constant exponent is `taylor.elementwise
    "pow"`; one that varies with x is `exp(w log z)` (taylor-mode).

    ```mlir
    %p = taylor.pow %z, %w : !taylor.jet<2, 3, tensor<?x4xf64>>, tensor<?x4xf64>
    ```
    """

    name = "taylor.pow"

    T: ClassVar = VarConstraint("T", base(JetType))
    base_ = operand_def(T)
    exponent = operand_def(TensorType)
    result = result_def(T)

    assembly_format = (
        "$base_ `,` $exponent attr-dict `:` type($base_) `,` type($exponent)"
    )
    traits = traits_def(Pure())

    def __init__(self, base: SSAValue, exponent: SSAValue):
        super().__init__(operands=[base, exponent], result_types=[base.type])

    def verify_(self) -> None:
        _check_primal_typed("taylor.pow", "exponent", self.exponent, self.base_)


# -------------------------------------------------------------- expanded-level ops


@irdl_op_definition
class ReplicateOp(IRDLOperation):
    """
    Uses a direction-independent value once per direction:
    `tensor<S> -> tensor<R x S>`.

    ```mlir
    %r = taylor.replicate %d : tensor<?x4xf64> -> tensor<3x?x4xf64>
    ```
    """

    name = "taylor.replicate"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, directions: int):
        input_type = _operand_type(input, TensorType, "taylor.replicate")
        super().__init__(
            operands=[input], result_types=[direction_type(directions, input_type)]
        )

    @property
    def directions(self) -> int:
        return self.result.type.get_shape()[0]  # type: ignore[union-attr]

    def verify_(self) -> None:
        _check_direction_pair(
            self.result.type, self.input.type, None, "taylor.replicate"
        )


@irdl_op_definition
class SumOp(HasCanonicalizationPatternsInterface, IRDLOperation):
    """
    Sums over the direction axis, optionally weighted:
    `tensor<R x S> -> tensor<S>`, `y = sum_r w_r x_r` (w_r = 1 without weights).

    ```mlir
    %s = taylor.sum %x : tensor<3x?x4xf64> -> tensor<?x4xf64>
    %w = taylor.sum %x weights [1.0, -1.0, 0.5] : tensor<3x?x4xf64> -> tensor<?x4xf64>
    ```
    """

    name = "taylor.sum"

    input = operand_def(TensorType)
    weights = opt_prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())

    def __init__(
        self, input: SSAValue, weights: Sequence[float] | DenseArrayBase | None = None
    ):
        input_type = _operand_type(input, TensorType, "taylor.sum")
        if weights is not None and not isinstance(weights, DenseArrayBase):
            weights = DenseArrayBase.from_list(f64, [float(w) for w in weights])
        primal = TensorType(
            input_type.get_element_type(), list(input_type.get_shape()[1:])
        )
        super().__init__(
            operands=[input],
            result_types=[primal],
            properties={"weights": weights} if weights is not None else {},
        )

    @property
    def directions(self) -> int:
        return self.input.type.get_shape()[0]  # type: ignore[union-attr]

    def weight_values(self) -> list[float]:
        """The weights, all ones when the sum is unweighted."""
        if self.weights is None:
            return [1.0] * self.directions
        return [float(w) for w in self.weights.get_values()]

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from taylor_mlir.transforms.canonicalization_patterns.taylor import (
            FactorUniformWeights,
            SumOfReplicate,
        )

        return (SumOfReplicate(), FactorUniformWeights())

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.input)
        if self.weights is not None:
            printer.print_string(" weights [")
            printer.print_list(
                self.weights.get_values(),
                lambda w: printer.print_string(repr(float(w))),
            )
            printer.print_string("]")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.input.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> SumOp:
        unresolved = parser.parse_unresolved_operand()
        weights = None
        if parser.parse_optional_keyword("weights"):
            weights = parser.parse_comma_separated_list(
                parser.Delimiter.SQUARE, parser.parse_float
            )
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        input_type = parser.parse_type()
        parser.parse_punctuation("->")
        result_type = parser.parse_type()
        input = parser.resolve_operand(unresolved, input_type)
        props = {}
        if weights is not None:
            props["weights"] = DenseArrayBase.from_list(f64, weights)
        return cls.create(
            operands=[input],
            result_types=[result_type],
            properties=props,
            attributes=attributes,
        )

    def verify_(self) -> None:
        R = _check_direction_pair(self.input.type, self.result.type, None, "taylor.sum")
        if self.weights is not None:
            if self.weights.elt_type != f64:
                raise VerifyException("taylor.sum: weights must be f64")
            n = len(self.weights.get_values())
            if n != R:
                raise VerifyException(
                    f"taylor.sum: {n} weights given for {R} directions"
                )


@irdl_op_definition
class LinearMapOp(_RegionOpMixin, HasCanonicalizationPatternsInterface, IRDLOperation):
    """
    Applies a function, linear in its operands, to each direction slice:
    `y[r] = body(x[r], ...)` for `tensor<R x S>` operands. Values from above
    (weights) are captured. Because the body is linear, `taylor.sum` commutes
    with it; `taylor-collapse` relies on that.

    ```mlir
    %y = taylor.linear_map %x : tensor<3x?x2xf64> -> tensor<3x?x4xf64> {
    ^bb0(%xr: tensor<?x2xf64>):
      ...
      taylor.yield %m : tensor<?x4xf64>
    }
    ```
    """

    name = "taylor.linear_map"

    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    body = region_def("single_block")
    traits = traits_def(Pure())

    def __init__(
        self, inputs: Sequence[SSAValue], result_type: TensorType, body: Region
    ):
        super().__init__(operands=[inputs], result_types=[result_type], regions=[body])

    @property
    def directions(self) -> int:
        return self.result.type.get_shape()[0]  # type: ignore[union-attr]

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from taylor_mlir.transforms.canonicalization_patterns.taylor import (
            RemoveIdentityBody,
        )

        return (RemoveIdentityBody(),)

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("taylor.linear_map: expects at least one operand")
        block = self.body.block
        if len(block.args) != len(self.inputs):
            raise VerifyException(
                f"taylor.linear_map: {len(self.inputs)} operands but "
                f"{len(block.args)} region arguments"
            )
        yielded = _yielded_type(self.body)
        R = _check_direction_pair(
            self.result.type, yielded, None, "taylor.linear_map result"
        )
        for operand, arg in zip(self.inputs, block.args, strict=True):
            _check_direction_pair(
                operand.type, arg.type, R, "taylor.linear_map operand"
            )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminates the body of `taylor.linear` and `taylor.linear_map`."""

    name = "taylor.yield"

    values = var_operand_def()

    assembly_format = "$values attr-dict `:` type($values)"
    traits = traits_def(HasParent(LinearOp, LinearMapOp), IsTerminator(), Pure())

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[values])


# ---------------------------------------------------------------- tensor-level op


@irdl_op_definition
class StopGradientOp(IRDLOperation):
    """
    Its operand, as a constant for differentiation: `x.detach()` and the results
    of a `torch.no_grad()` region. A tensor-level op: `taylor-mode` applies it to
    coefficient 0 of a jet, so the result does not depend on the directions
    (its Taylor coefficients above 0 are zero); the torch backend emits
    `aten.detach`, so autograd (gradients w.r.t. parameters) stops there too;
    IREE, which has no autograd, uses the operand.

    ```mlir
    %c = taylor.stop_gradient %x : tensor<?x4xf64>
    ```
    """

    name = "taylor.stop_gradient"

    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)

    assembly_format = "$input attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])


Taylor = Dialect(
    "taylor",
    [
        SeedOp,
        CoefficientOp,
        CallOp,
        LinearOp,
        OffsetOp,
        MulOp,
        ElementwiseOp,
        PowOp,
        ReplicateOp,
        SumOp,
        LinearMapOp,
        YieldOp,
        StopGradientOp,
    ],
    [JetType],
)

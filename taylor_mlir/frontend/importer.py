"""
`import_torch`: a PyTorch function as a tensor-level `func.func`.

The core-ATen graph of `torch.export` is walked in order; each node becomes
tensor-level IR through its rule in `aten.py` (all IR through `TensorBuilder`,
docs/ir-conventions.md). The function takes the user inputs first, then the
parameters, buffers and lifted constants the graph uses, so new weights need no
recompile. Along the walk, `rows.py` follows the batch dimension and stops
functions whose rows interact.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, InputSpec, OutputKind
from torch.utils._pytree import TreeSpec
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, i1
from xdsl.ir import Attribute
from xdsl.transforms.common_subexpression_elimination import cse
from xdsl.transforms.dead_code_elimination import region_dce

from taylor_mlir.errors import (
    DtypeError,
    ExportError,
    InternalError,
    RowInteractionError,
    UnsupportedOperatorError,
)
from taylor_mlir.frontend.aten import INDEX_ARGUMENTS, RULES
from taylor_mlir.frontend.captures import (
    Captures,
    ProgramState,
    StateArgument,
    find_captures,
    live_tensor_requiring_grad,
    path_reader,
    refuse_untracked,
)
from taylor_mlir.frontend.export import (
    STOP_GRADIENT,
    SUPPORTED_DTYPES,
    check_example_args,
    export,
)
from taylor_mlir.frontend.lowering import LoweringContext, op_name, unsupported
from taylor_mlir.frontend.rows import RowAnalysis, RowsMix
from taylor_mlir.frontend.sizes import (
    SizeError,
    SizeValues,
)
from taylor_mlir.frontend.source import source_line
from taylor_mlir.ir.builder import (
    DYNAMIC,
    IRElementwiseOps,
    TensorBuilder,
    float_type,
)


@dataclass
class ImportedProgram:
    """A function imported at tensor level, with the values of its parameters."""

    module: ModuleOp
    """Verified; one public `func.func @<func_name>`."""
    func_name: str
    num_inputs: int
    """The first `num_inputs` arguments are the user inputs (batch first)."""
    parameters: list[torch.Tensor]
    """The values of the other arguments (parameters, buffers, constants), in order."""
    parameter_names: list[str]
    input_types: list[TensorType]
    """The types of all arguments: user inputs, then parameters."""
    output_types: list[TensorType]
    output_spec: TreeSpec
    """How f's results nest (one tensor, a tuple, a dict, ...): `output_types`
    are its leaves in torch.export's order."""
    dtype: torch.dtype
    exported: ExportedProgram
    state: ProgramState
    """Reads the current parameters at each call (`state.values()`)."""

    @property
    def output_type(self) -> TensorType:
        """The type of the (first) result."""
        return self.output_types[0]

    def __str__(self) -> str:
        return str(self.module)


def import_torch(
    f: torch.nn.Module | Callable[..., torch.Tensor],
    example_args: torch.Tensor | Sequence[torch.Tensor],
    dynamic_batch: bool = True,
    func_name: str = "forward",
) -> ImportedProgram:
    """Exports `f` (a module or a function of tensors mapping batches (N, ...) to
    (N, ...)) with torch.export and imports it as tensor-level MLIR."""
    if isinstance(example_args, torch.Tensor):
        example_args = (example_args,)
    dtype = check_example_args(example_args)
    captures = find_captures(f)  # before export, which swaps module state
    exported = export(f, example_args, dynamic_batch)
    importer = GraphImporter(exported, dtype, dynamic_batch, func_name)
    return importer.run(f, captures)


# ops that check metadata and produce no value
_ASSERTIONS = {
    torch.ops.aten._assert_tensor_metadata.default,
    torch.ops.aten._assert_scalar.default,
    torch.ops.aten.sym_constrain_range_for_size.default,
    torch.ops.aten._assert_async.msg,
}

# ops creating constants (their dtype may differ from the program's)
CREATIONS = {
    torch.ops.aten.full.default,
    torch.ops.aten.full_like.default,
    torch.ops.aten.scalar_tensor.default,
}

# ops that copy a value: of a constant of the other float dtype (cast at
# import), a copy in that dtype is the cast constant (`torch.tensor(3.0)` in f
# arrives as a lifted constant and its copy)
_COPIES = {
    torch.ops.aten.clone.default,
    torch.ops.aten.lift_fresh_copy.default,
    torch.ops.aten.alias.default,
    torch.ops.aten.detach.default,
    STOP_GRADIENT,
}

# float creations evaluated at import (`GraphImporter._is_constant`)
_FOLDED_CREATIONS = {torch.ops.aten.arange.start_step}

# sizes computed in the graph (`x.shape[0]`)
_SYMBOLIC_NUMBERS = (torch.SymInt, torch.SymFloat, torch.SymBool, int, float, bool)


@dataclass
class _Argument:
    node: torch.fx.Node
    name: str
    value: torch.Tensor | None  # None for user inputs
    state: StateArgument | None = None  # how to read it at call time


class GraphImporter:
    """Walks one exported graph, emitting its function. Rules (aten.py) use the
    helpers below: operands broadcast to a result, reshapes, sizes, errors."""

    def __init__(
        self,
        exported: ExportedProgram,
        dtype: torch.dtype,
        dynamic_batch: bool,
        func_name: str,
    ):
        self.exported = exported
        self.dtype = dtype
        self.element: Attribute = float_type(str(dtype).removeprefix("torch."))
        self.func_name = func_name
        self.rows = RowAnalysis() if dynamic_batch else None
        self.values: dict[torch.fx.Node, Any] = {}
        self.b: TensorBuilder
        self.ops: IRElementwiseOps
        self.sizes: SizeValues

    # ------------------------------------------------------------------ walk

    def run(self, f: Callable, captures: Captures) -> ImportedProgram:
        graph = self.exported.graph_module.graph
        output = next(n for n in graph.nodes if n.op == "output")
        inputs, parameters = self._arguments(graph, f, captures)
        arguments = inputs + parameters
        input_types = [self._tensor_type(a.node.meta["val"]) for a in arguments]
        results = self._outputs(output)
        output_types = [self._tensor_type(r.meta["val"]) for r in results]

        function = func.FuncOp(self.func_name, (input_types, output_types))
        block = function.body.block
        self.b = TensorBuilder(Builder(InsertPoint.at_end(block)))
        self.ops = IRElementwiseOps(self.b)
        self.sizes = SizeValues(self.b, block.args[0] if self.rows else None)
        self.ctx = LoweringContext(
            self.b, self.ops, self.sizes, self.element, self.dtype, self.values
        )
        for argument, block_arg in zip(arguments, block.args, strict=True):
            block_arg.name_hint = argument.node.name
            self.values[argument.node] = block_arg
        if self.rows:
            for argument in inputs:
                self.rows.set_input(argument.node)

        for node in graph.nodes:
            if node.op == "call_function":
                self._visit(node)
        for result in results:
            self._check_rows(result, output=True)
        self.b.insert(func.ReturnOp(*(self.values[r] for r in results)))
        cse(function.body)  # the repeated `tensor.dim`s and zero fills
        region_dce(function.body)

        module = ModuleOp([function])
        module.verify()
        return ImportedProgram(
            module=module,
            func_name=self.func_name,
            num_inputs=len(inputs),
            parameters=[a.value for a in parameters],
            parameter_names=[a.name for a in parameters],
            input_types=input_types,
            output_types=output_types,
            output_spec=self.exported.call_spec.out_spec,
            dtype=self.dtype,
            exported=self.exported,
            state=ProgramState(
                [a.state for a in parameters],
                self.dtype,
                captures.modules_now(),
                self.compiled_in,
                captures.numbers,
            ),
        )

    def _visit(self, node: torch.fx.Node) -> None:
        if node.target in _ASSERTIONS:
            return
        if isinstance(node.meta.get("val"), _SYMBOLIC_NUMBERS):
            return  # sizes computed in the graph: rules read sizes from metadata
        if node.target is operator.getitem:  # one result of a multi-result op
            self._check_rows(node)
            self.values[node] = self.values[node.args[0]][node.args[1]]
            return
        if torch.Tag.nondeterministic_seeded in getattr(node.target, "tags", ()):
            raise self._random_op(node)
        if self._is_constant(node):
            self.values[node] = self._fold(node)
            return
        if node.target not in RULES:
            raise UnsupportedOperatorError(op_name(node), source_line(node))
        if node.target not in _FOLDED_CREATIONS:  # not folded: its rule says why
            self._check_dtype(node)
        self._check_indices(node)
        self._check_rows(node)
        self.values[node] = RULES[node.target](self.ctx, node)
        self._check_result(node)

    def _is_constant(self, node: torch.fx.Node) -> bool:
        """Tensors computed from constants only are constants of the program,
        evaluated here (by torch, in their own dtype): integer and boolean
        ones (index lists, masks), aranges and the float tensors computed from
        them (linspace, interpolation weights). Float creations without inputs
        (`full`) stay fills, which the passes recognize."""
        value = node.meta.get("val")
        values = value if isinstance(value, list | tuple) else [value]
        inputs = node.all_input_nodes
        if not all(isinstance(v, torch.Tensor) for v in values) or not all(
            isinstance(self.values.get(arg), torch.Tensor) for arg in inputs
        ):
            return False
        floats = any(v.is_floating_point() for v in values)
        return not floats or bool(inputs) or node.target in _FOLDED_CREATIONS

    def _fold(self, node: torch.fx.Node) -> Any:
        args, kwargs = torch.fx.node.map_arg(
            (node.args, node.kwargs), lambda arg: self.values[arg]
        )
        try:
            return node.target(*args, **kwargs)
        except Exception as error:
            raise unsupported(node, f"evaluating it on constants: {error}") from None

    def _random_op(self, node: torch.fx.Node) -> UnsupportedOperatorError:
        """Random ops come from a model in training mode (dropout) or from f."""
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        path, kind = stack[-1] if stack else ("", "")
        kind = getattr(kind, "__name__", str(kind).rsplit(".", 1)[-1])
        module = f" (in module {path}, a {kind})" if path else ""
        return unsupported(
            node,
            f"it draws random numbers{module}, but a differential operator needs a "
            "deterministic function: if the model is in training mode (nn.Dropout "
            "draws random numbers then), call model.eval() before compiling",
        )

    def _check_rows(self, node: torch.fx.Node, output: bool = False) -> None:
        if self.rows is None:
            return
        try:
            if output:
                self.rows.check_output(node)
            else:
                self.rows.visit(node)
        except RowsMix as mix:
            raise RowInteractionError(
                f"{op_name(node)} mixes rows of the batch: {mix}; per-datum "
                "operators need every output row to depend on its input row only"
                + _from_your_code(node)
            ) from None
        except SizeError as error:
            raise unsupported(node, str(error)) from None

    # ------------------------------------------------------------- signature

    def _arguments(
        self, graph: torch.fx.Graph, f: Callable, captures: Captures
    ) -> tuple[list[_Argument], list[_Argument]]:
        """User inputs, and the parameters/buffers/constants the graph uses."""
        signature = self.exported.graph_signature
        for spec in signature.output_specs:
            if spec.kind is not OutputKind.USER_OUTPUT:
                raise ExportError(
                    f"the function mutates {spec.target} ({spec.kind.name}); "
                    "only pure functions can be compiled (use eval mode)"
                )
        placeholders = {n.name: n for n in graph.nodes if n.op == "placeholder"}
        inputs, parameters = [], []
        self.compiled_in: list[StateArgument] = []
        for spec in signature.input_specs:
            node = placeholders[spec.arg.name]
            if spec.kind is InputKind.USER_INPUT:
                inputs.append(_Argument(node, spec.arg.name, None))
            elif (fixed := self._integer_constant(spec)) is not None:
                self.values[node] = fixed
                name, read = self._reader(spec, node, fixed, f, captures)
                if name != spec.target or spec.kind is InputKind.BUFFER:
                    # the user's tensor, compiled in: changes must be refused
                    self.compiled_in.append(
                        StateArgument(name, read, fixed.dtype, tuple(fixed.shape))
                    )
            elif node.users:  # unused weights are left out
                value = self._argument_value(spec)
                name, read = self._reader(spec, node, value, f, captures)
                state = StateArgument(
                    name,
                    read,
                    self._stored(spec).dtype,  # what a call reads, before the cast
                    tuple(value.shape),
                    name == spec.target and spec.kind is InputKind.CONSTANT_TENSOR,
                )
                parameters.append(_Argument(node, name, value, state))
        return inputs, parameters

    def _reader(
        self,
        spec: InputSpec,
        node: torch.fx.Node,
        value: torch.Tensor,
        f: Callable,
        captures: Captures,
    ) -> tuple[str, Callable[[], object]]:
        """The user-facing name of a non-input argument and how to read its
        current value: a module's own state by its path, a captured tensor
        through its closure cell, global or attribute (captures.py)."""
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            return spec.target, path_reader(lambda: f, spec.target)
        original = self.exported.constants[spec.target]
        captured = captures.match(original)
        if captured is not None:
            return captured.name, captured.read
        if original.requires_grad or live_tensor_requiring_grad(original):
            users = list(node.users)
            raise refuse_untracked(
                spec.target, original, source_line(users[0]) if users else None
            )
        return spec.target, lambda: original  # made by f itself: a constant

    def _integer_constant(self, spec: InputSpec) -> torch.Tensor | None:
        """An integer or boolean constant or buffer (an index list, a mask): it
        shapes the program (a gather's slices), so it is read once, here."""
        state, constants = self.exported.state_dict, self.exported.constants
        if spec.kind not in (InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            return None
        value = state.get(spec.target, constants.get(spec.target))
        if isinstance(value, torch.Tensor) and not value.is_floating_point():
            return value
        return None

    def _stored(self, spec: InputSpec) -> torch.Tensor:
        """A parameter's, buffer's or constant's tensor as the export holds it."""
        state, constants = self.exported.state_dict, self.exported.constants
        return state.get(spec.target, constants.get(spec.target))

    def _argument_value(self, spec: InputSpec) -> torch.Tensor:
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            return self._parameter(spec.target, self._stored(spec))
        if spec.kind is InputKind.CONSTANT_TENSOR:
            return self._constant(spec.target, self._stored(spec))
        raise ExportError(f"unsupported graph input {spec.arg.name} ({spec.kind.name})")

    def _parameter(self, name: str, value: torch.Tensor) -> torch.Tensor:
        if value.dtype != self.dtype:
            raise DtypeError(
                f"parameter {name} is {value.dtype} but the inputs are {self.dtype}: "
                "use one float dtype (e.g. module.to(dtype))"
            )
        return value

    def _constant(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """Constants of the other float dtype are cast: torch promotes them the
        same way where they meet the inputs (exactly, or by rounding a scalar)."""
        if value.dtype not in SUPPORTED_DTYPES:
            raise DtypeError(
                f"constant tensor {name} is {value.dtype}: only float32 and float64 "
                "tensors are supported"
            )
        return value.to(self.dtype)

    def _tensor_type(self, value: torch.Tensor) -> TensorType:
        shape = [
            DYNAMIC if isinstance(s, torch.SymInt) else int(s) for s in value.shape
        ]
        return TensorType(self.element, shape)

    def _outputs(self, output: torch.fx.Node) -> list[torch.fx.Node]:
        """The returned tensors (a tensor, or a tuple of them)."""
        results = list(output.args[0])
        if not results:
            raise ExportError("the function must return a tensor, it returns nothing")
        for result in results:
            self._check_output(result, len(results))
        return results

    def _check_output(self, result: Any, count: int) -> None:
        if not isinstance(result, torch.fx.Node):
            raise ExportError(
                f"the function must return tensors (one, or a tuple of {count}), it "
                f"returns {result!r}"
            )
        value = result.meta.get("val")
        if not isinstance(value, torch.Tensor):
            raise ExportError("the function must return a tensor")
        if not value.is_floating_point():
            raise DtypeError(
                f"the function returns a {value.dtype} tensor: it must return a float "
                f"tensor ({self.dtype}, as its inputs); for a 0/1 indicator of a "
                "condition, convert it with .to(x.dtype)" + _from_your_code(result)
            )

    # ------------------------------------------------------------ validation

    def _check_dtype(self, node: torch.fx.Node) -> None:
        """Every value is of the program's dtype or boolean (comparisons); a
        created constant or a boolean's 0/1 (exact in any float dtype) of the
        other float dtype is emitted in the program's."""
        values = node.meta.get("val")
        values = values if isinstance(values, list | tuple) else [values]
        for value in _used(node, values):
            if not isinstance(value, torch.Tensor):
                continue
            if value.dtype in (self.dtype, torch.bool):
                continue
            if value.dtype in SUPPORTED_DTYPES and (
                node.target in CREATIONS
                or node.target in _COPIES
                or _casts_a_boolean(node)
            ):
                continue
            fix = (
                "use one float dtype"
                if value.is_floating_point()
                else "integer tensors are supported as constant indices only (convert "
                "a boolean with .to(x.dtype) before arithmetic)"
            )
            raise DtypeError(
                f"{op_name(node)} computes in {value.dtype} inside a {self.dtype} "
                f"program: {fix}" + _from_your_code(node)
            )

    def _check_result(self, node: torch.fx.Node) -> None:
        """The rule's result has the node's type (a check of the rules)."""
        results = self.values[node]
        values = node.meta["val"]
        if not isinstance(values, list | tuple):
            results, values = [results], [values]
        for result, value in zip(results, values, strict=True):
            if result is None:  # an unused result (max.dim's indices)
                continue
            element = i1 if value.dtype == torch.bool else self.element
            expected = TensorType(element, self._tensor_type(value).get_shape())
            if result.type != expected:
                raise InternalError(
                    f"{node.format_node()}: emitted {result.type}, expected {expected}"
                )

    # ------------------------------------------------------------ indices

    def _check_indices(self, node: torch.fx.Node) -> None:
        """The indices of `x[:, [2, 0, 1]]` (or `x[:, I, J]`) are constant
        integer tensors (checked before the rows: the result of a mask has a
        data-dependent size)."""
        if node.target not in INDEX_ARGUMENTS:
            return
        for index in INDEX_ARGUMENTS[node.target](node):
            self.ctx.index(node, index)


def _used(node: torch.fx.Node, values: list[Any]) -> list[Any]:
    """The results of `node` that f uses: all of a single-result op; those a
    `getitem` reads of a multi-result one (max.dim's indices often are not)."""
    if not isinstance(node.meta.get("val"), list | tuple):
        return values
    read = {user.args[1] for user in node.users if user.target is operator.getitem}
    return [value for i, value in enumerate(values) if i in read]


def _casts_a_boolean(node: torch.fx.Node) -> bool:
    source = node.args[0] if node.args else None
    return (
        node.target is torch.ops.aten._to_copy.default
        and isinstance(source, torch.fx.Node)
        and source.meta["val"].dtype == torch.bool
    )


def _from_your_code(node: torch.fx.Node) -> str:
    where = source_line(node)
    return f"\n  from your code: {where}" if where else ""

"""
Tracing the user's function with `torch.export`, down to core ATen.

The batch (dimension 0 of every input) is one dynamic `torch.export.Dim`, so
the program works for any batch size. An example batch of 1 would specialize
it (torch treats sizes 0 and 1 as constants), so such examples are repeated to
a batch of 2 for the trace: the rows are independent, the values do not matter.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.fx.proxy
from torch._decomp import get_decompositions
from torch.export import Dim, ExportedProgram
from torch.export._remove_effect_tokens_pass import _remove_effect_tokens
from torch.export.graph_signature import InputKind
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

from taylor_mlir.errors import DtypeError, ExportError, TaylorMLIRError
from taylor_mlir.frontend.index_rows import TakeAlongDimAsGather, with_row_indices
from taylor_mlir.frontend.source import source_line, traceback_line

SUPPORTED_DTYPES = (torch.float32, torch.float64)
MESSAGE_LINES = 6  # of torch's error message, quoted in ours


class FunctionModule(torch.nn.Module):
    """A plain function of tensors as a module, for `torch.export`."""

    def __init__(self, function: Callable[..., torch.Tensor]):
        super().__init__()
        self.function = function

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.function(*inputs)


def check_example_args(example_args: Sequence[object]) -> torch.dtype:
    """The one float dtype of the example inputs; raises for anything else."""
    if not example_args:
        raise ExportError("the function needs at least one input tensor")
    for i, arg in enumerate(example_args):
        if not isinstance(arg, torch.Tensor):
            raise ExportError(
                f"input {i} is a {type(arg).__name__}; every input must be a tensor"
            )
        if arg.dim() == 0:
            raise ExportError(
                f"input {i} is a scalar tensor; inputs are batches of shape (N, ...)"
            )
    dtypes = [arg.dtype for arg in example_args]
    unsupported = [d for d in dtypes if d not in SUPPORTED_DTYPES]
    if unsupported:
        raise DtypeError(
            f"input dtype {unsupported[0]} is not supported: use float32 or float64"
        )
    if len(set(dtypes)) > 1:
        listed = ", ".join(str(d) for d in dtypes)
        raise DtypeError(f"inputs mix dtypes ({listed}): use one float dtype")
    batches = {arg.shape[0] for arg in example_args}
    if len(batches) > 1:
        raise ExportError(
            f"inputs have different batch sizes {sorted(batches)}: dimension 0 "
            "of every input is the batch"
        )
    if 0 in batches:
        raise ExportError("the example batch is empty")
    return dtypes[0]


def export(
    f: torch.nn.Module | Callable[..., torch.Tensor],
    example_args: Sequence[torch.Tensor],
    dynamic_batch: bool,
) -> ExportedProgram:
    """`torch.export.export(...).run_decompositions(decompositions())`,
    failures as ExportError."""
    if isinstance(f, torch.nn.Module):
        module = f
    else:
        module = FunctionModule(f)
        _record_source_lines_of(inspect.unwrap(f))  # the user's f, not a wrapper
    args = tuple(example_args)
    dynamic_shapes = None
    if dynamic_batch:
        if args[0].shape[0] == 1:
            args = tuple(torch.cat([arg, arg]).detach() for arg in args)
        batch = Dim("batch")
        per_input = tuple({0: batch} for _ in args)
        dynamic_shapes = per_input if module is f else (per_input,)
    user = inspect.unwrap(f)
    name = getattr(user, "__qualname__", type(user).__name__)
    try:
        with warnings.catch_warnings():
            # torch.export's own use of its deprecated pytree API
            warnings.filterwarnings("ignore", ".*LeafSpec", FutureWarning)
            # captured tensors that require grad are read by reference (captures.py)
            warnings.filterwarnings("ignore", ".*requires gradient. but it's not")
            with TakeAlongDimAsGather():
                exported = export_marking_stop_gradients(module, args, dynamic_shapes)
            decomposed = exported.run_decompositions(decompositions())
            return with_row_indices(_without_linalg_checks(decomposed))
    except TaylorMLIRError:
        raise
    except Exception as error:
        raise _export_error(error, name) from error


def _without_linalg_checks(exported: ExportedProgram) -> ExportedProgram:
    """`torch.linalg.inv` and `solve` check their info code with
    `_linalg_check_errors`, an effect that torch.export threads through a token
    input and output. The compiled program checks singular matrices itself
    (`matrix.inv` raises CallError), so the tokens are removed (any other effect
    becomes a plain call, refused by name) and the checks with them."""
    if not any(s.kind is InputKind.TOKEN for s in exported.graph_signature.input_specs):
        return exported
    exported = _remove_effect_tokens(exported)
    graph = exported.graph_module.graph
    for node in list(graph.nodes):
        if node.target is torch.ops.aten._linalg_check_errors.default:
            (info, *_) = node.args
            graph.erase_node(node)
            if isinstance(info, torch.fx.Node) and not info.users:
                graph.erase_node(info)  # the getitem of the info code
    exported.graph_module.recompile()
    return exported


# Core ATen ops that torch's own decompositions (torch._decomp) rewrite into
# ops the importer has rules for (aten.py): softmax into amax/exp/sum/div,
# layer norm into var_mean/rsqrt, elu into expm1/where, a vector norm into
# pow/abs/sum/amax, repeat into expand/view, upsampling and adaptive pooling
# into constant indexing, an embedding into index_select. Core ops whose torch
# decomposition serves no better have their own rule in aten.py instead
# (whose docstring says why): those decomposing into `prims` (var, prod, flip,
# sign, cumsum), through a mutating op (batch norm, constant_pad_nd), or with
# another derivative at a kink than autograd's (hardtanh into clamp).
DECOMPOSED = (
    torch.ops.aten._softmax,
    torch.ops.aten._log_softmax,
    torch.ops.aten.native_layer_norm,
    torch.ops.aten.elu,
    torch.ops.aten.leaky_relu,
    torch.ops.aten.linalg_vector_norm,
    torch.ops.aten.repeat,
    torch.ops.aten.upsample_nearest2d,
    torch.ops.aten.upsample_bilinear2d,
    torch.ops.aten._adaptive_avg_pool2d,
    torch.ops.aten.embedding,
)


# Ops torch.export decomposes by default, kept for their rule in aten.py:
# heaviside's decomposition computes its step in int64, hardsigmoid's is clamp
# (whose derivative at the kinks is not hardsigmoid's autograd's), circular
# padding's writes into an uninitialized tensor (`empty`) with copy_.
KEPT = (
    torch.ops.aten.heaviside.default,
    torch.ops.aten.hardsigmoid.default,
    torch.ops.aten._pad_circular.default,
)


def decompositions() -> dict:
    """torch.export's default table (down to core ATen), `DECOMPOSED` added
    and `KEPT` taken out."""
    table = torch.export.default_decompositions()
    table.update(get_decompositions(DECOMPOSED))
    for op in KEPT:
        table.pop(op)
    return table


# What f does that torch 2.13's export refuses, recognized by exception type
# and message: a branch on data, or code that assumes a batch size (torch
# suggests a fix of our `Dim("batch")`, which the user cannot apply).
_DATA_DEPENDENT = (
    "branches on the values of a tensor (an `if`, `while`, `bool()` or `.item()` "
    "on data), which cannot be compiled: one program serves every input. Choose "
    "between values elementwise with torch.where(condition, a, b) instead"
)
_BATCH_DEPENDENT = (
    "depends on the batch size ({}), but the compiled program must work for any "
    "batch: the batch dimension (dimension 0) must stay free. Treat the rows "
    "independently: no fixed number of rows in a reshape (use x.shape[0] or -1 "
    "there), no branch or loop on x.shape[0]"
)
_DIFFERENTIATES_ITSELF = (
    "takes a derivative of itself with a torch.func transform (grad, jacrev, "
    "jvp, ...), which torch.export cannot trace there. Give taylor-mlir the "
    "function before that derivative: it computes the derivatives "
    '(returns=("value", "gradient", ...), an operator of a compiled operator, '
    "tm.linear_operator for mixed terms)"
)
# where torch.func's derivative transforms run (grad, jacrev, jvp, vjp, hessian)
_DERIVATIVE_TRANSFORMS = "torch/_functorch/eager_transforms.py"
_BATCH_FIXES = (  # torch's suggested fix for the batch Dim, as what f assumes
    (re.compile(r"^\s*batch = (\d+)\s*$", re.M), "it assumes exactly {} rows"),
    (re.compile(r"Dim\('batch', min=(\d+), max=(\d+)\)"), "it assumes {} to {} rows"),
    (re.compile(r"Dim\('batch', min=(\d+)\)"), "it assumes at least {} rows"),
    (re.compile(r"Dim\('batch', max=(\d+)\)"), "it assumes at most {} rows"),
    (re.compile(r"batch = (\d+)\*_batch"), "it assumes a multiple of {} rows"),
)
_RESHAPE_OF_BATCH = re.compile(r"shape '\[.*\]' is invalid for input of size \S*s\d")


def _export_error(error: Exception, name: str) -> ExportError:
    """torch's failure in the project's words when its cause in f is known,
    with the user's line and torch's first line; else torch's message quoted."""
    text = str(error).strip()
    if isinstance(error, GuardOnDataDependentSymNode):
        problem = _DATA_DEPENDENT
    elif _passes_through_a_transform(error):
        problem = _DIFFERENTIATES_ITSELF
    elif (assumption := _batch_assumption(text)) is not None:
        problem = _BATCH_DEPENDENT.format(assumption)
    else:
        lines = text.splitlines()[:MESSAGE_LINES]
        reason = "\n  ".join(lines) or type(error).__name__
        return ExportError(
            f"torch.export could not trace {name}: {type(error).__name__}: {reason}"
        )
    where = traceback_line(error)
    first_line = text.splitlines()[0].split(" For more information")[0]
    return ExportError(
        f"the function {name} {problem}"
        + (f"\n  from your code: {where}" if where else "")
        + f"\n  torch says: {first_line}"
    )


def _passes_through_a_transform(error: Exception) -> bool:
    """Whether the failure happened inside a torch.func derivative transform
    that f applies (a vmap alone exports)."""
    frames = traceback.extract_tb(error.__traceback__)
    if any(frame.filename.endswith(_DERIVATIVE_TRANSFORMS) for frame in frames):
        return True
    return "functorch tensor" in str(error)  # Dynamo met one (jacrev's)


def _batch_assumption(text: str) -> str | None:
    """What f assumes about the batch size, if torch's message says so."""
    if _RESHAPE_OF_BATCH.search(text):
        return "it reshapes to a fixed number of rows"
    if "Constraints violated (batch)" not in text:
        return None
    for pattern, assumption in _BATCH_FIXES:
        if match := pattern.search(text):
            return assumption.format(*match.groups())
    return "it assumes some batch sizes"


def _record_source_lines_of(function: Callable[..., torch.Tensor]) -> None:
    """torch.export keeps only `forward` frames in node stack traces; marking a
    plain function as an anchor keeps its frames too, for error messages.
    (A private torch hook: without it, messages name the wrapper's line.)"""
    register = getattr(torch.fx.proxy, "_register_stack_trace_anchor", None)
    if register is not None:
        register(function)


# --------------------------------------------------------------- stop-gradients
# A value whose gradient f stops is a constant of the jet. torch.export records
# `x.detach()` as `aten.detach` and a `torch.no_grad()` region as
# `wrap_with_set_grad_enabled(False, submodule, *args)`, but `run_decompositions`
# turns the first into `aten.alias` (what the differentiable `x[...]` also
# gives) and inlines the second, losing both. So they are marked before it with
# `taylor_mlir::stop_gradient`, which it keeps.


@torch.library.custom_op(
    "taylor_mlir::stop_gradient", mutates_args=(), tags=(torch.Tag.pointwise,)
)
def stop_gradient(x: torch.Tensor) -> torch.Tensor:
    """`x` as a constant for differentiation, like `x.detach()`."""
    return x.clone()  # a custom op's result may not alias its input


@stop_gradient.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


stop_gradient.register_autograd(lambda ctx, grad: None)  # no gradient flows back

STOP_GRADIENT = torch.ops.taylor_mlir.stop_gradient.default
_DETACHES = (torch.ops.aten.detach.default, torch.ops.aten.detach_.default)
_SET_GRAD_ENABLED = torch.ops.higher_order.wrap_with_set_grad_enabled


@contextlib.contextmanager
def _without_partial_graphs() -> Iterator[None]:
    """What f writes to stderr while torch.export traces it, without the
    partial graph torch.export prints there when it fails (a printout of its
    trace before our error, which says what is wrong in f's words)."""
    captured = io.StringIO()
    shapes_log = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    level = shapes_log.level  # its "Unable to find user code" of the same failure
    shapes_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(captured):
            yield
    except Exception as error:
        partial = getattr(error, "partial_fx_graph", None)
        text = captured.getvalue()
        sys.stderr.write(text.replace(f"{partial}\n", "") if partial else text)
        raise
    finally:
        shapes_log.setLevel(level)
    sys.stderr.write(captured.getvalue())


def export_marking_stop_gradients(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], dynamic_shapes: object
) -> ExportedProgram:
    """`torch.export.export` (before decompositions) with the values whose
    gradient f stops marked by `STOP_GRADIENT`: the results of `detach` and
    those that a grad-disabled region computes. Exported with grad mode on, as
    f's own `torch.no_grad()` would record nothing under a caller's no_grad."""
    try:
        with torch.enable_grad(), _without_partial_graphs():
            exported = torch.export.export(module, args, dynamic_shapes=dynamic_shapes)
    except RuntimeError as error:
        if "fake tensor in the exported program constant" not in str(error):
            raise
        raise ExportError(
            "f reads a tensor torch.export cannot trace, such as `tensor.data` (use "
            "`tensor.detach()` instead), or takes a derivative of itself with "
            "torch.autograd.grad, which torch.export cannot trace: give taylor-mlir "
            "the function before that derivative, it computes the derivatives "
            '(returns=("value", "gradient", ...), an operator of a compiled operator)'
        ) from error
    # torch.export flattens nested grad-mode regions into a sequence of regions
    # of the top-level graph, so a region's own graph has no region inside.
    graph = exported.graph_module.graph
    for node in list(graph.nodes):
        _refuse_inference_mode(node)
        if node.target in _DETACHES:
            node.target = STOP_GRADIENT  # the same value, name and metadata
        elif node.target is _SET_GRAD_ENABLED and node.args[0] is False:
            region = exported.graph_module.get_submodule(node.args[1].target)
            for inner in region.graph.nodes:
                _refuse_inference_mode(inner)
            _mark_results(region)
    exported.graph_module.recompile()
    return exported


def _mark_results(region: torch.fx.GraphModule) -> None:
    """Marks each float tensor a grad-disabled region computes and returns; an
    input it returns as is keeps its gradient, as in torch."""
    graph = region.graph
    output = graph.output_node()
    marked = []
    for value in output.args[0]:
        if (
            isinstance(value, torch.fx.Node)
            and value.op != "placeholder"
            and isinstance(value.meta.get("val"), torch.Tensor)
            and value.meta["val"].is_floating_point()
        ):
            with graph.inserting_before(output):
                mark = graph.call_function(STOP_GRADIENT, (value,))
            mark.meta = dict(value.meta)
            value = mark
        marked.append(value)
    output.args = (tuple(marked), *output.args[1:])
    region.recompile()


def _refuse_inference_mode(node: torch.fx.Node) -> None:
    """torch.export records no `torch.inference_mode()` region (its values are
    still inference tensors): refused, rather than differentiated."""
    value = node.meta.get("val")
    if (
        node.op == "call_function"
        and isinstance(value, torch.Tensor)
        and value.is_inference()
    ):
        where = source_line(node)
        raise ExportError(
            f"f computes {node.target} under torch.inference_mode()"
            + (f" (at {where})" if where else "")
            + ", which torch.export does not record: use torch.no_grad() or "
            ".detach() to stop gradients"
        )

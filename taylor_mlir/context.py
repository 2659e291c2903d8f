"""The xDSL context every part of taylor-mlir parses and builds IR in."""

from xdsl.context import Context
from xdsl.dialects import get_all_dialects

from taylor_mlir.dialects.arith_tensor import arith_with_tensor_comparisons
from taylor_mlir.dialects.taylor import Taylor


def make_context() -> Context:
    """A context that knows every upstream xDSL dialect and `taylor`."""
    ctx = Context()
    for name, factory in get_all_dialects().items():
        if name == "arith":
            factory = arith_with_tensor_comparisons
        ctx.register_dialect(name, factory)
    ctx.load_dialect(Taylor)
    return ctx

"""The dialects taylor-mlir knows, and the xDSL context every part of it parses
and builds IR in. `taylor-opt` registers the same `DIALECTS`."""

from collections.abc import Callable

from xdsl.context import Context
from xdsl.dialects import get_all_dialects
from xdsl.ir import Dialect

from taylor_mlir.dialects.arith_tensor import arith_with_tensor_comparisons
from taylor_mlir.dialects.matrix import Matrix
from taylor_mlir.dialects.special import Special
from taylor_mlir.dialects.taylor import Taylor


def _dialects() -> dict[str, Callable[[], Dialect]]:
    dialects = get_all_dialects()
    # arith with tensor-capable cmpf/select (dialects/arith_tensor.py)
    dialects["arith"] = arith_with_tensor_comparisons
    dialects["taylor"] = lambda: Taylor
    dialects["special"] = lambda: Special  # erfinv, lgamma, ... (dialects/special.py)
    dialects["matrix"] = lambda: Matrix  # inv, det, logabsdet (dialects/matrix.py)
    return dialects


DIALECTS: dict[str, Callable[[], Dialect]] = _dialects()
"""Every upstream xDSL dialect, `taylor`, `special` and `matrix`, by name, each behind a factory
(loaded when first used)."""


def make_context() -> Context:
    """A context that knows every dialect of `DIALECTS`."""
    ctx = Context()
    for name, factory in DIALECTS.items():
        ctx.register_dialect(name, factory)
    return ctx

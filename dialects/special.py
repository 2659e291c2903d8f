"""
`special`: elementwise special functions that have no `math` op (erfc, erfinv,
lgamma, digamma, polygamma), at tensor level like the `math` ops.

They exist so `ELEMENTWISE_FUNCTIONS` can name an op for them; the torch
backend runs their ATen kernels, the IREE backends compose each from `math`
and `arith` ops (no MLIR dialect IREE reads has them:
backends/special_functions_iree.py, within a few ulp).

```mlir
%y = special.erfinv %x : tensor<?x3xf64>
%p = special.polygamma3 %x : tensor<?x3xf64>  // d^3/dx^3 digamma
```
"""

from __future__ import annotations

from xdsl.dialects.math import FloatingPointLikeUnaryMathOperation
from xdsl.ir import Dialect
from xdsl.irdl import irdl_op_definition, traits_def
from xdsl.traits import Pure, SameOperandsAndResultType

MAX_POLYGAMMA = 10
"""polygamma(n) ops exist for n = 1 ... MAX_POLYGAMMA: digamma has derivatives
up to this order, lgamma up to one more (tests/test_elementwise_rules.py)."""


def _unary(name: str) -> type[FloatingPointLikeUnaryMathOperation]:
    op = type(
        f"{name.capitalize()}Op",
        (FloatingPointLikeUnaryMathOperation,),
        {
            "name": f"special.{name}",
            "traits": traits_def(Pure(), SameOperandsAndResultType()),
            "__doc__": f"`{name}` elementwise (torch.special.{name}).",
        },
    )
    return irdl_op_definition(op)


ErfcOp = _unary("erfc")
ErfinvOp = _unary("erfinv")
LgammaOp = _unary("lgamma")
DigammaOp = _unary("digamma")
POLYGAMMA_OPS = {n: _unary(f"polygamma{n}") for n in range(1, MAX_POLYGAMMA + 1)}
"""n -> the op of polygamma(n, x), the n-th derivative of digamma."""

Special = Dialect(
    "special", [ErfcOp, ErfinvOp, LgammaOp, DigammaOp, *POLYGAMMA_OPS.values()], []
)

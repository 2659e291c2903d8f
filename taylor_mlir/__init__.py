"""taylor-mlir: collapsed Taylor mode AD as an MLIR compiler for PyTorch functions.

```python
import taylor_mlir as tm
lap = tm.laplacian(f, x)        # compiled for x's per-datum shape and dtype
lap(x)                          # (N, *out)
lap.mlir("collapsed"); lap.stats()
```
"""

from taylor_mlir import errors, operators
from taylor_mlir.api import (
    CompiledJet,
    CompiledOperator,
    biharmonic,
    compile,
    jet,
    laplacian,
    linear_operator,
    weighted_laplacian,
)
from taylor_mlir.compile_function import compile_function
from taylor_mlir.operators import OperatorSpec

__version__ = "0.1.0"

__all__ = [
    "CompiledJet",
    "CompiledOperator",
    "OperatorSpec",
    "biharmonic",
    "compile",
    "compile_function",
    "errors",
    "jet",
    "laplacian",
    "linear_operator",
    "operators",
    "weighted_laplacian",
]

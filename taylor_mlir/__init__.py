"""taylor-mlir: collapsed Taylor mode AD as an MLIR compiler for PyTorch functions.

```python
import taylor_mlir as tm
lap = tm.laplacian(f, x)        # compiled for x's per-datum shape and dtype
lap(x)                          # (N, *out)
lap.mlir("collapsed"); lap.stats()
```
"""

from importlib import import_module

# Resolved at first use (PEP 562): the public API imports torch, about two
# seconds, which the MLIR tools (`taylor-opt`: the dialects and passes) never
# need.
_SUBMODULES = frozenset({"errors", "operators"})
_EXPORTS = {
    **dict.fromkeys(
        (
            "CompiledJet",
            "CompiledOperator",
            "biharmonic",
            "compile",
            "jet",
            "laplacian",
            "linear_operator",
            "weighted_laplacian",
        ),
        "taylor_mlir.api",
    ),
    "compile_function": "taylor_mlir.compile_function",
    "OperatorSpec": "taylor_mlir.operators",
}

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


def __getattr__(name: str):
    if name in _SUBMODULES:
        return import_module(f"taylor_mlir.{name}")
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'taylor_mlir' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

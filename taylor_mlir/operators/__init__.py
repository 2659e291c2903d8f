"""
Differential operators as jets: specs (which directions, which weights) and the
operator-level IR built from them.

- `spec`: `laplacian`, `weighted_laplacian`, `biharmonic`, `linear_operator`
  (exact or randomized) -> `OperatorSpec`.
- `interpolation`: Griewank's interpolation of mixed partials.
- `sampling`: the directions of randomized operators, drawn per call.
- `build`: `build_operator` / `build_jet`, the `taylor`-dialect function.
"""

from taylor_mlir.operators.build import build_jet, build_operator
from taylor_mlir.operators.spec import (
    DirectionGroup,
    OperatorSpec,
    OperatorSpecError,
    RandomDirections,
    biharmonic,
    laplacian,
    linear_operator,
    weighted_laplacian,
)

__all__ = [
    "DirectionGroup",
    "OperatorSpec",
    "OperatorSpecError",
    "RandomDirections",
    "biharmonic",
    "build_jet",
    "build_operator",
    "laplacian",
    "linear_operator",
    "weighted_laplacian",
]

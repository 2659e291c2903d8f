"""taylor-mlir: collapsed Taylor mode AD as an MLIR compiler for PyTorch functions."""

__version__ = "0.1.0"

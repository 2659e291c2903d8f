"""Dialects of taylor-mlir (installed as `taylor_mlir.dialects`)."""

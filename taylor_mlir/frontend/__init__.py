"""The frontend: PyTorch functions (via torch.export) as tensor-level MLIR."""

from taylor_mlir.frontend.importer import ImportedProgram, import_torch

__all__ = ["ImportedProgram", "import_torch"]

"""The exceptions taylor-mlir raises for bad input. Each names what is wrong."""

from xdsl.utils.exceptions import PassFailedException


class TaylorMLIRError(Exception):
    """Base class of every error this package raises on purpose."""


class PassFailedError(TaylorMLIRError, PassFailedException):
    """IR that a pass (or a backend) cannot handle.

    Also xDSL's pass-failure diagnostic: `taylor-opt --verify-diagnostics` prints
    the message (so lit tests check it), plain `taylor-opt` reports it as one
    error line, and an xDSL pipeline stops on it as on its own passes' failures.
    Raised as one of its two kinds below (the importer raises the first too, for
    an ATen op: one error type for an op nothing downstream handles)."""


class UnsupportedOperatorError(PassFailedError):
    """An ATen op (or IR op) that the importer or a pass does not handle.

    The message names the op and, for user code, the source line that produced it.
    """

    def __init__(self, op: str, source_line: str | None = None, detail: str = ""):
        self.op = op
        self.source_line = source_line
        message = f"unsupported operator {op}"
        if detail:
            message += f": {detail}"
        if source_line:
            message += f"\n  from your code: {source_line}"
        super().__init__(message)


class ExportError(TaylorMLIRError):
    """torch.export could not trace the user's function."""


class RowInteractionError(TaylorMLIRError):
    """The function mixes rows of the batch, so per-datum operators are undefined."""


class CallError(TaylorMLIRError):
    """A compiled callable was called with a shape, dtype or device it was not
    built for."""


class InvalidIRError(PassFailedError):
    """IR handed to a pass or backend is malformed or outside what it accepts."""


class BackendError(TaylorMLIRError):
    """A backend (IREE) failed to compile or run a program."""


class OptionError(TaylorMLIRError, ValueError):
    """An argument of the public API does not define anything valid: an unknown
    operator, level or randomization, non-symmetric coefficients, an input index
    out of range, a biased estimator asked for, ..."""


class DtypeError(TaylorMLIRError):
    """Tensors of a dtype the compiler does not handle (not float32/float64), or
    of several float dtypes where one program needs one."""


class InternalError(TaylorMLIRError):
    """A check of taylor-mlir's own invariants failed: a bug, not bad input.
    (Raised instead of `assert`, which `python -O` skips.)"""

    def __init__(self, detail: str):
        super().__init__(f"internal error in taylor-mlir (please report it): {detail}")


class CLIError(TaylorMLIRError):
    """Bad command-line input to `taylor-mlir`: a path, an attribute, a shape, an
    option."""

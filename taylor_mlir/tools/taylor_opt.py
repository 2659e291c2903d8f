"""`taylor-opt`: xDSL's opt driver with the taylor dialect and passes registered.

Bad input (a missing file, a file that is not MLIR, an unknown pass, IR that does
not parse or verify) is reported as `taylor-opt: error: ...` (parse and verify
errors with their location) and exit status 1, without a traceback.
"""

import os
import sys
from collections.abc import Sequence

from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from taylor_mlir.backends.iree_passes import get_backend_passes
from taylor_mlir.context import DIALECTS
from taylor_mlir.transforms import get_all_passes

PROG = "taylor-opt"


class ToolError(Exception):
    """Bad command-line input to taylor-opt, printed as one line by `main`."""


class TaylorOptMain(xDSLOptMain):
    def register_all_dialects(self):
        for name, factory in DIALECTS.items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self):
        super().register_all_passes()
        for name, getter in {**get_all_passes(), **get_backend_passes()}.items():
            self.register_pass(name, getter)

    def setup_pipeline(self):
        try:
            super().setup_pipeline()
        except ValueError as error:  # xDSL's message names the pass or option
            raise ToolError(f"{error} (see `{PROG} --help` for the passes)") from None

    def get_input_stream(self):
        path = self.args.input_file
        if path is not None:
            if not os.path.isfile(path):
                raise ToolError(f"no such file: {path}")
            extension = os.path.splitext(path)[1]
            if self.args.frontend is None and extension.lstrip(".") not in (
                self.available_frontends
            ):
                raise ToolError(
                    f"cannot tell the format of {path} from its extension "
                    f"{extension or '(none)'!r}: name it *.mlir or pass `-f mlir`"
                )
        return super().get_input_stream()

    def prepare_output(self):
        path = self.args.output_file
        if path is not None:
            directory = os.path.dirname(path) or "."
            if not os.path.isdir(directory):
                raise ToolError(
                    f"cannot write {path}: directory {directory} does not exist"
                )
        return super().prepare_output()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        TaylorOptMain(args=argv).run()
    except (ToolError, ParseError, DiagnosticException) as error:
        # parse and verify diagnostics name the file, line and column
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

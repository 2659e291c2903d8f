"""`taylor-opt`: xDSL's opt driver with the taylor dialect and passes registered."""

from xdsl.dialects import get_all_dialects
from xdsl.xdsl_opt_main import xDSLOptMain

from taylor_mlir.dialects.arith_tensor import arith_with_tensor_comparisons
from taylor_mlir.dialects.taylor import Taylor
from taylor_mlir.transforms import get_all_passes


class TaylorOptMain(xDSLOptMain):
    def register_all_dialects(self):
        for name, factory in get_all_dialects().items():
            if name == "arith":
                factory = arith_with_tensor_comparisons
            self.ctx.register_dialect(name, factory)
        self.ctx.register_dialect("taylor", lambda: Taylor)

    def register_all_passes(self):
        super().register_all_passes()
        for name, getter in get_all_passes().items():
            self.register_pass(name, getter)


def main():
    TaylorOptMain().run()


if __name__ == "__main__":
    main()

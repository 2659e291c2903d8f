"""
`taylor-mlir`: the user's tool.

    taylor-mlir demo     compile an operator of the paper's tanh MLP standard and
                         collapsed on each backend, check it against torch.func
                         (nested autograd) and print a timing table
    taylor-mlir compile  dump a user's function at any IR level, or as an IREE binary
    taylor-mlir bench    run benchmarks/bench_operators.py (quick by default)

Every error a user can cause (a bad module path, a missing attribute, an unknown
operator, a bad shape, an op the compiler does not support, a failed export) is
printed as one line `taylor-mlir: error: ...` with a non-zero exit code; `--debug`
shows the traceback instead.

The operators by name, the torch.func references and the timer are in
`taylor_mlir.benchmarking` (shared with benchmarks/), the loading of the user's
function in `taylor_mlir.user_function`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import math
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from taylor_mlir.backends import BACKENDS, check_backend
from taylor_mlir.benchmarking import (
    OPERATORS,
    REFERENCED_OPERATORS,
    TOLERANCE,
    compile_operator,
    default_coefficients,
    interleaved_samples,
    nested_reference,
    repeats_for_budget,
    vectors_per_node,
)
from taylor_mlir.errors import BackendError, CLIError, TaylorMLIRError
from taylor_mlir.pipeline import LEVELS
from taylor_mlir.user_function import describe_error, load_function

PROG = "taylor-mlir"
EMIT_CHOICES = (*LEVELS, "vmfb")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
MAX_ERROR_LENGTH = 400  # characters of an error line; --debug shows the rest
REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_SCRIPT = REPO_ROOT / "benchmarks" / "bench_operators.py"


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise `CLIError` (printed as one line
    by `main`) instead of printing the usage block and exiting."""

    def error(self, message: str):
        raise CLIError(f"{message} (see `{self.prog} --help`)")


# ------------------------------------------------------------------ arguments


def parse_shape(text: str) -> tuple[int, ...]:
    """`"256x50"` -> `(256, 50)`: positive sizes separated by `x`."""
    parts = text.lower().split("x")
    if not all(part.strip().isdigit() for part in parts):
        raise CLIError(
            f"invalid input shape {text!r}: expected positive sizes separated "
            "by 'x', batch first, e.g. 256x50"
        )
    shape = tuple(int(part) for part in parts)
    if len(shape) < 2 or min(shape) < 1:
        raise CLIError(
            f"invalid input shape {text!r}: need a batch size and at least one "
            "feature dimension, all >= 1, e.g. 256x50"
        )
    return shape


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return int(text)


def parse_backends(text: str) -> list[str]:
    """`"torch,iree-cpu"` -> `["torch", "iree-cpu"]`, each one we know."""
    backends = [b.strip() for b in text.split(",") if b.strip()]
    if not backends:
        raise CLIError(f"no backend in {text!r}: choose from {', '.join(BACKENDS)}")
    try:
        return [check_backend(b) for b in backends]
    except BackendError as error:
        raise CLIError(str(error)) from None


# --------------------------------------------------------------------- demo


@dataclass
class DemoRow:
    strategy: str
    seconds: float | None = None
    max_error: float | None = None
    vectors: str = "-"
    compile_seconds: float | None = None
    note: str = ""


def run_demo(args: argparse.Namespace) -> int:
    from taylor_mlir.models import paper_mlp

    operator = args.operator
    dtype = DTYPES[args.dtype]
    dim = args.dim or (5 if operator == "biharmonic" else 50)
    batch = args.batch or (64 if operator == "biharmonic" else 256)
    backends = parse_backends(args.backends)

    model = paper_mlp(dim, dtype=dtype)  # seeded
    x = torch.rand(batch, dim, dtype=dtype, generator=torch.Generator().manual_seed(1))
    coefficients = (
        default_coefficients(dim, dtype) if operator == "weighted-laplacian" else None
    )
    widths = "->".join(
        str(m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)
    )
    print(
        f"{operator} of the paper's tanh MLP {dim}->{widths}, batch {batch}, "
        f"{args.dtype}, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )

    rows = [DemoRow("torch.func nested")]
    operators = {rows[0].strategy: nested_reference(model, operator, coefficients)}
    for backend in backends:
        for collapsed in (False, True):
            row = DemoRow(f"{'collapsed' if collapsed else 'standard'} ({backend})")
            rows.append(row)
            print(f"  compiling {row.strategy} ...", end=" ", flush=True)
            start = time.perf_counter()
            try:
                op = compile_operator(
                    model,
                    x,
                    operator,
                    collapsed=collapsed,
                    backend=backend,
                    coefficients=coefficients,
                )
                op(x[:1])  # loads the program; a backend that cannot run fails here
            except TaylorMLIRError as error:
                row.note = f"failed: {_error_line(error)}"
                print(row.note)
                continue
            row.compile_seconds = time.perf_counter() - start
            print(f"{row.compile_seconds:.1f} s", flush=True)
            row.vectors = vectors_per_node(op)
            operators[row.strategy] = op

    # Every strategy has run on one datum (cheap warm-up); the first timed round
    # on the whole batch is also the one checked against torch.func, and more
    # rounds follow while they fit the time budget (a round of the default
    # configuration takes seconds).
    operators[rows[0].strategy](x[:1])
    first_round, results = {}, {}
    for name, op in operators.items():
        start = time.perf_counter()
        results[name] = op(x).detach()
        first_round[name] = time.perf_counter() - start
    more = (args.repeats or 0) - 1
    if args.repeats is None:
        more = repeats_for_budget(sum(first_round.values()), budget=6.0, low=0, high=24)
    calls = {name: (lambda op=op: op(x)) for name, op in operators.items()}
    samples = interleaved_samples(calls, more)
    if more:
        print(f"  timing: median of {1 + more} interleaved calls each", flush=True)
    else:
        print(
            "  timing: one call each (a round takes "
            f"{_format_seconds(sum(first_round.values()))}; --repeats N for a median)",
            flush=True,
        )

    reference = results[rows[0].strategy]
    tolerance = TOLERANCE[dtype] * max(reference.abs().max().item(), 1e-30)
    for row in rows:
        if row.strategy not in operators:
            continue
        row.seconds = statistics.median(
            [first_round[row.strategy], *samples[row.strategy]]
        )
        if row is not rows[0]:
            row.max_error = (results[row.strategy] - reference).abs().max().item()

    print(format_demo_table(rows, baseline_seconds=rows[0].seconds))
    failed = [r for r in rows if r.max_error is not None and r.max_error > tolerance]
    for row in failed:
        print(
            f"MISMATCH: {row.strategy} differs from torch.func by {row.max_error:.2e} "
            f"(tolerance {tolerance:.1e})"
        )
    return 1 if failed or any(row.note for row in rows) else 0


def format_demo_table(rows: Sequence[DemoRow], baseline_seconds: float | None) -> str:
    header = (
        "strategy",
        "time/call",
        "vs nested",
        "max |error|",
        "vectors/node",
        "compile",
    )
    lines = [header]
    for row in rows:
        if row.seconds is None:
            lines.append((row.strategy, row.note, "", "", "", ""))
            continue
        ratio = f"{row.seconds / baseline_seconds:.2f}x" if baseline_seconds else "-"
        lines.append(
            (
                row.strategy,
                _format_seconds(row.seconds),
                ratio,
                "-" if row.max_error is None else f"{row.max_error:.1e}",
                row.vectors,
                "-" if row.compile_seconds is None else f"{row.compile_seconds:.1f} s",
            )
        )
    widths = [
        max(len(line[i]) for line in lines if line[2] or i == 0) for i in range(6)
    ]
    text = []
    for line in lines:
        if not line[2] and line is not lines[0]:  # an unavailable strategy
            text.append(f"{line[0]:<{widths[0]}}  {line[1]}")
            continue
        cells = [f"{line[0]:<{widths[0]}}"]
        cells += [
            f"{cell:>{width}}" for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        text.append("  ".join(cells))
    return "\n".join(text)


def _format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"


# ------------------------------------------------------------------ compile


def run_compile(args: argparse.Namespace) -> int:
    """Loads the user's function, compiles the operator, writes IR or a vmfb."""
    if args.emit == "vmfb" and args.output is None:
        raise CLIError("--emit vmfb writes a binary file: give -o FILE")
    if args.coefficients is not None and args.operator != "weighted-laplacian":
        raise CLIError("--coefficients only applies to --operator weighted-laplacian")
    if args.order is not None and args.operator != "jet":
        raise CLIError(
            f"--order is for --operator jet (the order K of the jet); the "
            f"{args.operator} operator has its own order: drop --order"
        )
    output = _output_path(args.output)  # checked before the (slow) compile
    dtype = DTYPES[args.dtype]
    shape = parse_shape(args.input_shape)
    coefficients = _load_coefficients(args.coefficients, math.prod(shape[1:]), dtype)
    function = load_function(args.function, dtype)
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    # The IREE binary comes from the iree-cpu backend (the IR levels do not
    # depend on the backend).
    op = compile_operator(
        function,
        x,
        args.operator,
        collapsed=not args.standard,
        backend="iree-cpu" if args.emit == "vmfb" else "torch",
        coefficients=coefficients,
        order=args.order or 2,
    )
    if args.emit == "vmfb":
        _write(output, _vmfb_bytes(op))
        return 0
    text = op.mlir(args.emit)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        _write(output, text.encode())
    return 0


def _output_path(name: str | None) -> Path | None:
    """The file of `-o`, whose directory must exist (we do not create it)."""
    if name is None:
        return None
    path = Path(name)
    if path.is_dir():
        raise CLIError(f"-o {name} is a directory: give a file name")
    directory = path.parent
    if not directory.is_dir():
        problem = (
            f"{directory} is not a directory"
            if directory.exists()
            else f"directory {directory} does not exist"
        )
        raise CLIError(f"cannot write {name}: {problem}")
    return path


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:  # permissions, a full disk, ...
        raise CLIError(f"cannot write {path}: {error.strerror or error}") from error


def _vmfb_bytes(op) -> bytes:
    """The IREE binary of an operator compiled for the iree-cpu backend (from
    the backend's cache: compiling the operator compiled it)."""
    from taylor_mlir.backends.iree_backend import iree_artifact

    return iree_artifact(op.levels.final, target="cpu")


def _load_coefficients(path: str | None, dim: int, dtype: torch.dtype):
    """A `D x D` coefficient matrix from a `.pt` or `.npy` file, or None."""
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"no such coefficient file: {path}")
    try:
        if file.suffix == ".npy":
            import numpy as np

            matrix = torch.from_numpy(np.load(file))
        else:
            matrix = torch.load(file, weights_only=True)
    except Exception as error:
        raise CLIError(
            f"cannot read coefficients from {path}: {describe_error(error)}"
        ) from error
    if not isinstance(matrix, torch.Tensor) or tuple(matrix.shape) != (dim, dim):
        got = (
            tuple(matrix.shape)
            if isinstance(matrix, torch.Tensor)
            else type(matrix).__name__
        )
        raise CLIError(
            f"coefficients in {path} must be a {dim}x{dim} matrix, got {got}"
        )
    return matrix.to(dtype)


# -------------------------------------------------------------------- bench


def load_bench_module():
    """benchmarks/bench_operators.py of the source checkout, as a module."""
    if not BENCH_SCRIPT.is_file():
        raise CLIError(
            f"{BENCH_SCRIPT} not found: `taylor-mlir bench` needs the source "
            "checkout (pip install -e .)"
        )
    if "bench_operators" in sys.modules:
        return sys.modules["bench_operators"]
    # Its sibling `strategies` must be importable, as when run as a script.
    sys.path.insert(0, str(BENCH_SCRIPT.parent))
    module_spec = importlib.util.spec_from_file_location(
        "bench_operators", BENCH_SCRIPT
    )
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["bench_operators"] = module
    module_spec.loader.exec_module(module)
    return module


def run_bench(argv: Sequence[str]) -> int:
    bench = load_bench_module()
    parser = bench.build_parser(
        prog=f"{PROG} bench", parser_class=OneLineArgumentParser
    )
    return bench.run(parser.parse_args(list(argv)))


# --------------------------------------------------------------------- main


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG,
        description="Collapsed Taylor mode differential operators for PyTorch functions.",
    )
    debug_help = "show tracebacks instead of one-line errors"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    # `--debug` after the command too (`taylor-mlir compile ... --debug`);
    # SUPPRESS keeps a command's parser from resetting the top-level flag.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        parents=[debug],
        help="compile an operator of the paper's tanh MLP, check it, time it",
        description="Compile an operator of the paper's tanh MLP standard and "
        "collapsed on each backend, check it against torch.func (nested autograd) "
        "and print a timing table.",
    )
    demo.add_argument("--operator", choices=REFERENCED_OPERATORS, default="laplacian")
    demo.add_argument(
        "--dim", type=positive_int, help="input dimension D (50; biharmonic: 5)"
    )
    demo.add_argument(
        "--batch", type=positive_int, help="batch size N (256; biharmonic: 64)"
    )
    demo.add_argument("--dtype", choices=tuple(DTYPES), default="float64")
    demo.add_argument(
        "--backends", default="torch,iree-cpu", help="comma-separated: torch,iree-cpu"
    )
    demo.add_argument(
        "--repeats",
        type=positive_int,
        help="timed calls per strategy (default: fit ~6 s)",
    )

    compile_ = commands.add_parser(
        "compile",
        parents=[debug],
        help="dump a function's operator at an IR level (or an IREE binary)",
        description="Compile an operator of MODULE:FUNCTION and print its IR at "
        "one level, or write the IREE binary (vmfb). A class is instantiated "
        "with no arguments, a zero-argument function is called as a factory of an "
        "nn.Module, any other function is the tensor function itself.",
    )
    compile_.add_argument(
        "function",
        metavar="MODULE:FUNCTION",
        help="path/to/file.py:Net or pkg.mod:name",
    )
    compile_.add_argument(
        "--input-shape", required=True, help="example input shape, batch first: 256x50"
    )
    compile_.add_argument("--dtype", choices=tuple(DTYPES), default="float64")
    compile_.add_argument("--operator", choices=OPERATORS, default="laplacian")
    compile_.add_argument("--emit", choices=EMIT_CHOICES, default="collapsed")
    compile_.add_argument("-o", "--output", help="write to FILE instead of stdout")
    compile_.add_argument(
        "--standard", action="store_true", help="standard Taylor mode (no collapse)"
    )
    compile_.add_argument(
        "--order", type=positive_int, help="jet order K (--operator jet; default 2)"
    )
    compile_.add_argument(
        "--coefficients",
        help="weighted Laplacian: D x D matrix C (.npy or .pt); default a fixed SPD one",
    )

    commands.add_parser(
        "bench",
        parents=[debug],
        help="run benchmarks/bench_operators.py (--quick by default)",
        description="Run benchmarks/bench_operators.py; options are passed on "
        "(see `taylor-mlir bench --help`).",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    # torch.export's own use of a deprecated torch API warns on every export;
    # nothing a user of this tool can act on.
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
    try:
        args, rest = build_parser().parse_known_args(argv)
        if args.command == "bench":
            # Quick unless asked otherwise (the script alone defaults to full).
            if not {"--quick", "--full"} & set(rest):
                rest = ["--quick", *rest]
            status = run_bench(rest)
        elif rest:
            raise CLIError(f"unrecognized arguments: {' '.join(rest)}")
        else:
            with _torch_noise_held_back(enabled=not debug):
                status = run_demo(args) if args.command == "demo" else run_compile(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        print(f"{PROG}: error: {_error_line(error)}", file=sys.stderr)
        return 1
    return status or 0


@contextlib.contextmanager
def _torch_noise_held_back(enabled: bool):
    """When torch.export fails it prints the partial graph to stderr and logs
    warnings: hold stderr back and torch's warnings off, so that a failure is
    the one line `main` prints (`--debug` shows it all). Replayed on success."""
    if not enabled:
        yield
        return
    held = io.StringIO()
    torch_logger = logging.getLogger("torch")
    level = torch_logger.level
    torch_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(held):
            yield
    finally:
        torch_logger.setLevel(level)
    sys.stderr.write(held.getvalue())


def _error_line(error: Exception) -> str:
    """Our own errors say what is wrong; anything else is named by its type."""
    if not isinstance(error, TaylorMLIRError):
        return f"{describe_error(error)} (internal error: rerun with --debug for the traceback)"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = "; ".join(lines) or type(error).__name__
    if len(line) > MAX_ERROR_LENGTH:
        line = (
            line[:MAX_ERROR_LENGTH].rstrip() + " ... (rerun with --debug for all of it)"
        )
    return line


if __name__ == "__main__":
    sys.exit(main())

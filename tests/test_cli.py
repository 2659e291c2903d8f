"""The `taylor-mlir` command: error paths, `compile` at every level, a tiny `demo`,
and the argument parsing of `bench` (the benchmark itself is too slow for tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import reference
import torch

from taylor_mlir import benchmarking, cli, user_function

TINY_MODELS = """
import torch
from torch import nn


class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))

    def forward(self, x):
        return self.net(x)


def make_tiny():
    return TinyMLP()


tiny_instance = TinyMLP()


def tensor_function(x):
    return torch.sin(x).sum(1, keepdim=True) * x[:, :1]


class NeedsArguments(nn.Module):
    def __init__(self, width):
        super().__init__()


def not_a_factory():
    return 42


NOT_CALLABLE = 3


def medians(x):
    return torch.median(x, dim=1, keepdim=True).values


def branches_on_data(x):
    if x.sum() > 0:
        return x.sum(1)
    return -x.sum(1)
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_models.py"
    path.write_text(TINY_MODELS)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status != 0
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("taylor-mlir: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, err)


# ------------------------------------------------------------------ error paths


def test_missing_file(capsys, tmp_path):
    status, out, err = run(
        capsys, "compile", f"{tmp_path}/nope.py:Net", "--input-shape", "8x3"
    )
    assert_one_line_error(status, err, "no such Python file", "nope.py")
    assert out == ""


def test_module_not_importable(capsys):
    status, _, err = run(
        capsys, "compile", "no_such_package.models:Net", "--input-shape", "8x3"
    )
    assert_one_line_error(status, err, "cannot import module 'no_such_package.models'")


def test_missing_attribute(capsys, models):
    status, _, err = run(capsys, "compile", f"{models}:Missing", "--input-shape", "8x3")
    assert_one_line_error(status, err, "has no attribute 'Missing'")


def test_spec_without_attribute(capsys, models):
    status, _, err = run(capsys, "compile", str(models), "--input-shape", "8x3")
    assert_one_line_error(status, err, "expected MODULE:NAME")


def test_user_file_raises_on_import(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom at import')\n")
    status, _, err = run(capsys, "compile", f"{broken}:f", "--input-shape", "8x3")
    assert_one_line_error(status, err, "importing", "RuntimeError: boom at import")


def test_class_needing_arguments(capsys, models):
    status, _, err = run(
        capsys, "compile", f"{models}:NeedsArguments", "--input-shape", "8x3"
    )
    assert_one_line_error(status, err, "cannot instantiate", "with no arguments")


def test_factory_not_returning_a_module(capsys, models):
    status, _, err = run(
        capsys, "compile", f"{models}:not_a_factory", "--input-shape", "8x3"
    )
    assert_one_line_error(status, err, "returned int, not a torch.nn.Module")


def test_not_callable(capsys, models):
    status, _, err = run(
        capsys, "compile", f"{models}:NOT_CALLABLE", "--input-shape", "8x3"
    )
    assert_one_line_error(status, err, "is a int")


def test_unknown_operator(capsys, models):
    status, _, err = run(
        capsys,
        "compile",
        f"{models}:TinyMLP",
        "--input-shape",
        "8x3",
        "--operator",
        "hessian",
    )
    assert_one_line_error(status, err, "invalid choice: 'hessian'")


def test_unknown_emit_level(capsys, models):
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "8x3", "--emit", "llvm"
    )
    assert_one_line_error(status, err, "invalid choice: 'llvm'")


@pytest.mark.parametrize("shape", ["8by3", "8", "0x3", "8x", "-8x3"])
def test_bad_shape(capsys, models, shape):
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", f"--input-shape={shape}"
    )
    assert_one_line_error(status, err, f"invalid input shape {shape!r}")


def test_vmfb_needs_output_file(capsys, models):
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "8x3", "--emit", "vmfb"
    )
    assert_one_line_error(status, err, "--emit vmfb", "-o FILE")


def test_unsupported_op(capsys, models):
    status, _, err = run(capsys, "compile", f"{models}:medians", "--input-shape", "8x3")
    assert_one_line_error(status, err, "unsupported operator", "median")


def test_export_failure(capsys, models):
    status, _, err = run(
        capsys, "compile", f"{models}:branches_on_data", "--input-shape", "8x3"
    )
    assert_one_line_error(status, err)


def test_missing_command(capsys):
    status, _, err = run(capsys)
    assert_one_line_error(status, err, "required: COMMAND")


def test_unknown_command(capsys):
    status, _, err = run(capsys, "optimize")
    assert_one_line_error(status, err, "invalid choice: 'optimize'")


def test_unrecognized_argument(capsys):
    status, _, err = run(capsys, "demo", "--widht", "3")
    assert_one_line_error(status, err, "unrecognized arguments: --widht 3")


def test_demo_unknown_backend(capsys):
    status, _, err = run(capsys, "demo", "--backends", "torch,tpu")
    assert_one_line_error(status, err, "unknown backend 'tpu'")


@pytest.mark.parametrize("option", ["--dim", "--batch", "--repeats"])
def test_demo_sizes_must_be_positive(capsys, option):
    status, _, err = run(capsys, "demo", option, "0")
    assert_one_line_error(
        status, err, f"argument {option}: must be an integer >= 1, got '0'"
    )


@pytest.mark.parametrize("operator", ["laplacian", "biharmonic", "weighted-laplacian"])
def test_order_is_only_for_jet(capsys, models, operator):
    status, out, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "--operator", operator, "--order", "3",
    )  # fmt: skip
    assert_one_line_error(
        status, err, "--order is for --operator jet", f"the {operator} operator"
    )
    assert out == ""


@pytest.mark.parametrize("emit", ["vmfb", "linalg"])
def test_output_directory_must_exist(capsys, models, tmp_path, emit):
    target = tmp_path / "no" / "such" / "dir" / "x.out"
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "--emit", emit, "-o", str(target),
    )  # fmt: skip
    assert_one_line_error(
        status, err, f"cannot write {target}: directory {target.parent} does not exist"
    )
    assert "internal error" not in err


def test_output_that_is_a_directory_or_cannot_be_written(capsys, models, tmp_path):
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "-o", str(tmp_path),
    )  # fmt: skip
    assert_one_line_error(status, err, f"-o {tmp_path} is a directory")
    # /dev/full fails every write, even as root
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "-o", "/dev/full",
    )  # fmt: skip
    assert_one_line_error(status, err, "cannot write /dev/full: No space left")


def test_debug_shows_the_exception(models):
    with pytest.raises(cli.CLIError, match="has no attribute"):
        cli.main(["--debug", "compile", f"{models}:Missing", "--input-shape", "8x3"])


@pytest.mark.parametrize("before", [True, False])
def test_debug_before_or_after_the_command(models, before):
    argv = ["compile", f"{models}:Missing", "--input-shape", "8x3"]
    argv = ["--debug", *argv] if before else [*argv, "--debug"]
    with pytest.raises(cli.CLIError, match="has no attribute"):
        cli.main(argv)


def test_debug_after_each_command(capsys, models):
    status, out, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "--emit", "import", "--debug",
    )  # fmt: skip
    assert status == 0 and "func.func" in out, err
    with pytest.raises(cli.CLIError, match="unknown backend 'tpu'"):
        cli.main(["demo", "--backends", "tpu", "--debug"])
    # taken by taylor-mlir, not passed on to the benchmark's parser
    for argv in (["bench", "--dry-run", "--debug"], ["--debug", "bench", "--dry-run"]):
        status, out, err = run(capsys, *argv)
        assert status == 0 and out.startswith("bench_operators (quick)"), err


def test_installed_command_prints_one_line_without_traceback(models):
    """The console script itself (not only `main`): one line, exit status 1."""
    command = Path(sys.executable).parent / "taylor-mlir"
    done = subprocess.run(
        [str(command), "compile", f"{models}:Missing", "--input-shape", "8x3"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"taylor-mlir: error: {models} has no attribute 'Missing'"
    ]
    debug = subprocess.run(
        [
            str(command),
            "--debug",
            "compile",
            f"{models}:Missing",
            "--input-shape",
            "8x3",
        ],
        capture_output=True,
        text=True,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


# ---------------------------------------------------------------- compile


def test_shape_parsing():
    assert cli.parse_shape("256x50") == (256, 50)
    assert cli.parse_shape("4X2x3") == (4, 2, 3)


def test_loading_kinds_of_callables(models):
    load = user_function.load_function
    cls = load(f"{models}:TinyMLP", torch.float64)
    factory = load(f"{models}:make_tiny", torch.float64)
    instance = load(f"{models}:tiny_instance", torch.float64)
    function = load(f"{models}:tensor_function", torch.float64)
    for module in (cls, factory, instance):
        assert isinstance(module, torch.nn.Module) and not module.training
        assert next(module.parameters()).dtype == torch.float64
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(cls(x), factory(x))
    torch.testing.assert_close(
        function(x), torch.sin(x).sum(1, keepdim=True) * x[:, :1]
    )


def test_loading_a_dotted_module_name(models, monkeypatch):
    monkeypatch.syspath_prepend(str(models.parent))
    module = user_function.load_function("tiny_models:make_tiny", torch.float32)
    assert isinstance(module, torch.nn.Module)


def _ops(text: str) -> set[str]:
    """The op names in printed IR (`%x = dialect.op ...` and bare `dialect.op`)."""
    return set(re.findall(r"\b([a-z_]+\.[a-z_]+)[ (<{]", text))


@pytest.mark.parametrize("level", cli.LEVELS)
def test_compile_each_level(capsys, models, level):
    status, out, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "8x3", "--emit", level
    )
    assert status == 0, err
    assert "func.func" in out
    # The printed IR parses back in our context.
    from xdsl.parser import Parser

    from taylor_mlir.context import make_context

    Parser(make_context(), out).parse_module().verify()
    taylor_ops = {op for op in _ops(out) if op.startswith("taylor.")}
    if level == "import":
        assert not taylor_ops and "math.tanh" in out
    elif level == "taylor":
        assert {"taylor.seed", "taylor.call", "taylor.sum"} <= taylor_ops
    elif level in ("expanded", "collapsed"):
        assert "taylor.sum" in taylor_ops and "taylor.seed" not in taylor_ops
    else:
        assert not taylor_ops and "linalg.matmul" in out


def test_compile_writes_output_file(capsys, models, tmp_path):
    target = tmp_path / "lap.mlir"
    status, out, err = run(
        capsys, "compile", f"{models}:make_tiny", "--input-shape", "8x3",
        "--emit", "linalg", "-o", str(target),
    )  # fmt: skip
    assert status == 0, err
    assert out == "" and "func.func" in target.read_text()


def test_compile_standard_differs_from_collapsed(capsys, models):
    _, collapsed, _ = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "8x3"
    )
    status, standard, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "8x3", "--standard",
        "--emit", "linalg",
    )  # fmt: skip
    assert status == 0, err
    assert "taylor." not in standard and collapsed != standard


def test_compile_plain_tensor_function_biharmonic(capsys, models):
    status, out, err = run(
        capsys, "compile", f"{models}:tensor_function", "--input-shape", "4x3",
        "--operator", "biharmonic", "--emit", "taylor",
    )  # fmt: skip
    assert status == 0, err
    assert "math.sin" in out and "taylor.seed" in out


def test_compile_jet(capsys, models):
    status, out, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "--operator", "jet", "--order", "3", "--emit", "linalg",
    )  # fmt: skip
    assert status == 0, err
    assert "func.func @jet(" in out and "taylor." not in out


def test_compile_weighted_laplacian_with_coefficients(capsys, models, tmp_path):
    coefficients = tmp_path / "c.pt"
    torch.save(
        torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)), coefficients
    )
    status, out, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "--operator", "weighted-laplacian", "--coefficients", str(coefficients),
        "--emit", "taylor",
    )  # fmt: skip
    assert status == 0, err
    assert "taylor.seed" in out


def test_coefficients_of_the_wrong_shape(capsys, models, tmp_path):
    coefficients = tmp_path / "c.npy"
    np.save(coefficients, np.eye(2))
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "--operator", "weighted-laplacian", "--coefficients", str(coefficients),
    )  # fmt: skip
    assert_one_line_error(status, err, "must be a 3x3 matrix, got (2, 2)")


def test_coefficients_for_another_operator(capsys, models, tmp_path):
    coefficients = tmp_path / "c.npy"
    np.save(coefficients, np.eye(3))
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "4x3",
        "--coefficients", str(coefficients),
    )  # fmt: skip
    assert_one_line_error(status, err, "--coefficients only applies to")


def test_compile_vmfb_runs_in_iree(capsys, models, tmp_path):
    """The written binary, loaded by iree.runtime alone, computes the Laplacian
    (arguments: the input, then the parameters in the module's order)."""
    iree_runtime = pytest.importorskip("iree.runtime")
    target = tmp_path / "lap.vmfb"
    status, _, err = run(
        capsys, "compile", f"{models}:TinyMLP", "--input-shape", "8x3", "--emit", "vmfb",
        "-o", str(target),
    )  # fmt: skip
    assert status == 0, err
    program = iree_runtime.load_vm_flatbuffer(target.read_bytes(), driver="local-task")
    net = user_function.load_function(f"{models}:TinyMLP", torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)
    parameters = [p.detach().numpy() for p in net.parameters()]
    result = torch.from_numpy(program.operator(x.numpy(), *parameters).to_host())
    torch.testing.assert_close(result, reference.laplacian(net, x).detach())


# -------------------------------------------------------------------- demo


def _table_rows(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        match = re.match(
            r"^((?:torch\.func nested|standard|collapsed)[^ ]*(?: \([\w-]+\))?)\s{2,}(.*)$",
            line,
        )
        if match:
            rows[match.group(1)] = match.group(2).split()
    return rows


def test_demo_tiny(capsys):
    status, out, err = run(
        capsys, "demo", "--dim", "4", "--batch", "8", "--repeats", "1",
        "--backends", "torch,iree-cpu",
    )  # fmt: skip
    assert status == 0, out + err
    rows = _table_rows(out)
    assert set(rows) == {
        "torch.func nested",
        "standard (torch)",
        "collapsed (torch)",
        "standard (iree-cpu)",
        "collapsed (iree-cpu)",
    }, out
    for name, cells in rows.items():
        if name != "torch.func nested":
            # time unit, ratio, error, vectors, compile seconds
            error = float(cells[3])
            assert error < 1e-9, out


@pytest.mark.parametrize("operator", ["biharmonic", "weighted-laplacian"])
def test_demo_other_operators(capsys, operator):
    status, out, err = run(
        capsys, "demo", "--operator", operator, "--dim", "3", "--batch", "4",
        "--repeats", "1", "--backends", "torch",
    )  # fmt: skip
    assert status == 0, out + err
    assert "collapsed (torch)" in out


def test_demo_reports_a_wrong_operator(capsys, monkeypatch):
    """The demo's check can fail: an operator off by a little is a MISMATCH."""
    real = cli.compile_operator

    def off_by_a_little(*args, **kwargs):
        op = real(*args, **kwargs)
        return lambda x: op(x) * (1 + 1e-6)

    monkeypatch.setattr(cli, "compile_operator", off_by_a_little)
    status, out, _ = run(
        capsys,
        "demo",
        "--dim",
        "3",
        "--batch",
        "4",
        "--repeats",
        "1",
        "--backends",
        "torch",
    )
    assert status == 1
    assert "MISMATCH: standard (torch)" in out and "MISMATCH: collapsed (torch)" in out


# ------------------------------------------------------------------- bench


def test_bench_dry_run_defaults_to_quick(capsys):
    status, out, err = run(capsys, "bench", "--dry-run")
    assert status == 0, err
    assert out.startswith("bench_operators (quick)")
    assert "exact laplacian D=50 float64: N = 1, 64" in out


def test_bench_full_plan(capsys):
    status, out, err = run(capsys, "bench", "--full", "--dry-run", "--no-memory")
    assert status == 0, err
    assert "exact biharmonic D=5 float32: N = 1, 16, 64" in out
    assert "stochastic S=16 laplacian D=50 float64: N = 256" in out
    assert "peak memory: no" in out


def test_bench_strategy_subset_keeps_the_baseline(capsys):
    status, out, err = run(
        capsys, "bench", "--dry-run", "--strategies", "jet collapsed"
    )
    assert status == 0, err
    assert "strategies: torch.func nested, jet collapsed;" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--quick", "--full"], "not allowed with argument"),
        (["--strategies", "magic"], "unknown strategy 'magic'"),
        (["--budget", "soon"], "invalid float value: 'soon'"),
    ],
)
def test_bench_argument_errors(capsys, argv, fragment):
    status, _, err = run(capsys, "bench", *argv)
    assert_one_line_error(status, err, fragment)


def test_bench_table_formatting():
    bench = cli.load_bench_module()
    rows = [
        bench.Measurement(
            "w", 4, "torch.func nested", seconds=0.2, compile_seconds=1.0
        ),
        bench.Measurement("w", 4, "jet collapsed", seconds=0.1, relative_error=1e-16),
        bench.Measurement(
            "w", 4, "ours collapsed (iree-cpu)", note="unavailable: no IREE"
        ),
    ]
    bench.add_ratios(rows)
    assert rows[1].ratios == {"nested": 0.5, "jet": 1.0}
    table = bench.format_table(rows)
    assert "200.00 ms" in table and "0.50x" in table
    assert re.search(r"ours collapsed \(iree-cpu\)\s+unavailable: no IREE", table)


def test_bench_hutchinson_baseline_is_unbiased_for_a_quadratic():
    """f(x) = x^T A x has Laplacian 2 tr(A); Rademacher Hutchinson is exact for
    diagonal A, for every draw."""
    cli.load_bench_module()
    import strategies

    diagonal = torch.tensor([1.0, -2.0, 3.5], dtype=torch.float64)
    f = lambda x: (x * x * diagonal).sum(1, keepdim=True)  # noqa: E731
    estimate = strategies.nested_hutchinson_laplacian(f, samples=4)
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(
        estimate(x), torch.full((5, 1), 2 * diagonal.sum().item(), dtype=torch.float64)
    )


def test_nested_references_on_closed_forms():
    """The demo's baselines: f = sum sin(x_i) has Laplacian -sum sin(x_i) and
    biharmonic sum sin(x_i); tr(C H) = -sum C_ii sin(x_i)."""
    f = lambda x: torch.sin(x).sum(1, keepdim=True)  # noqa: E731
    x = torch.randn(6, 3, dtype=torch.float64)
    s = torch.sin(x)
    b = benchmarking
    torch.testing.assert_close(b.nested_laplacian(f)(x), -s.sum(1, keepdim=True))
    torch.testing.assert_close(b.nested_biharmonic(f)(x), s.sum(1, keepdim=True))
    c = b.default_coefficients(3, torch.float64)
    torch.testing.assert_close(
        b.nested_weighted_laplacian(f, c)(x), -(s * c.diagonal()).sum(1, keepdim=True)
    )


def test_interleaved_timer_and_repeats():
    calls = []
    medians = benchmarking.time_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3
    )
    assert calls == ["a", "b"] * 3 and set(medians) == {"a", "b"}
    assert benchmarking.repeats_for_budget(0.5, budget=6.0, low=3, high=25) == 12
    assert benchmarking.repeats_for_budget(10.0, budget=6.0, low=3, high=25) == 3


# --------------------------------------------------------------- taylor-opt


def _taylor_opt(*argv: str, stdin: str | None = None):
    command = Path(sys.executable).parent / "taylor-opt"
    return subprocess.run(
        [str(command), *argv], capture_output=True, text=True, input=stdin
    )


TINY_IR = "func.func @f() {\n  func.return\n}\n"


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("ir.txt", "cannot tell the format of {path} from its extension '.txt'"),
        ("ir", "cannot tell the format of {path} from its extension '(none)'"),
        ("missing.mlir", "no such file: {path}"),
    ],
)
def test_taylor_opt_bad_input_file(tmp_path, name, fragment):
    path = tmp_path / name
    if name != "missing.mlir":
        path.write_text(TINY_IR)
    done = _taylor_opt(str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"taylor-opt: error: {fragment.format(path=path)}"
        + (": name it *.mlir or pass `-f mlir`" if "format" in fragment else "")
    ]


def test_taylor_opt_reads_any_name_with_a_frontend(tmp_path):
    path = tmp_path / "ir.txt"
    path.write_text(TINY_IR)
    done = _taylor_opt(str(path), "-f", "mlir")
    assert done.returncode == 0 and "func.return" in done.stdout, done.stderr


def test_taylor_opt_parse_error_and_unknown_pass_without_traceback(tmp_path):
    path = tmp_path / "bad.mlir"
    path.write_text('func.func @f() {\n  "nope.op"() : () -> ()\n}\n')
    done = _taylor_opt(str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"taylor-opt: error: {path}:2:")
    assert "Operation nope.op is not registered" in done.stderr
    done = _taylor_opt("-p", "no-such-pass", stdin=TINY_IR)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "taylor-opt: error: Unrecognized passes: ['no-such-pass'] "
        "(see `taylor-opt --help` for the passes)"
    ]


# ------------------------------------------------------------ module layout


def test_the_cli_imports_the_shared_modules_not_the_reverse():
    """The baselines, the timer and the loading of user code live outside
    cli.py; importing them does not import the CLI."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, taylor_mlir.benchmarking, taylor_mlir.user_function; "
            "print('taylor_mlir.cli' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
    assert cli.compile_operator is benchmarking.compile_operator
    assert cli.load_function is user_function.load_function


def test_benchmark_script_runs_as_a_script():
    script = (
        Path(__file__).resolve().parent.parent / "benchmarks" / "bench_operators.py"
    )
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("bench_operators (quick)")

"""
Operator benchmark: nested autograd vs jet-for-pytorch vs taylor-mlir.

    python benchmarks/bench_operators.py --quick     # a few minutes
    python benchmarks/bench_operators.py             # the full grid
    taylor-mlir bench [--full] [...]                 # the same, quick by default

Model: the paper's tanh MLP D -> 768 -> 768 -> 512 -> 512 -> 1
(`taylor_mlir.models.paper_mlp`), weights seeded, input `rand(N, D)` seeded.
Workloads: exact Laplacian (D = 50, N = 1, 16, 64, 256), exact biharmonic
(D = 5, N = 1, 16, 64), stochastic Laplacian (Rademacher, S = 16, D = 50,
N = 256), each in float64 and float32. `--quick` runs a float64 subset.

What is timed: one evaluation of the operator on the whole batch, in one
process, with autograd recording, because the model's parameters require grad
as when the operator is part of a PINN loss (the paper's "differentiable"
setting); the backward pass is not timed. The IREE backend runs outside
autograd (its result does not require grad). Every strategy is warmed up once,
then the strategies' calls are interleaved round by round and the median per
strategy is reported. Compile time (export, passes, backend compilation, first
call; for jet: tracing and CSE) is its own column and not part of the time.
Exact results are checked against torch.func nested autograd.

Peak memory (`--memory`, on by default in the full run): each strategy runs in
its own subprocess at the largest batch size of a workload and makes two
differentiable calls; before each, the process's peak resident set size is reset
(`/proc/self/clear_refs`), and the larger peak increase over the resident size
before the call is reported (the result, holding its autograd graph, is alive
at the end). glibc is told to return every block of 64 KiB or more to the
system when freed, so resident size follows live memory.

Torch's default thread count is left alone (printed in the header).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from strategies import (  # noqa: E402
    BASELINE,
    OPTIONAL_STRATEGIES,
    REFERENCE,
    STRATEGIES,
    Unavailable,
    Workload,
)

from taylor_mlir.benchmarking import (  # noqa: E402
    TOLERANCE,
    repeats_for_budget,
    time_interleaved,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def full_workloads() -> list[Workload]:
    workloads = []
    for dtype in (torch.float64, torch.float32):
        workloads += [
            Workload("laplacian", 50, (1, 16, 64, 256), dtype),
            Workload("biharmonic", 5, (1, 16, 64), dtype),
            Workload("laplacian", 50, (256,), dtype, samples=16),
        ]
    return workloads


def quick_workloads() -> list[Workload]:
    return [
        Workload("laplacian", 50, (1, 64), torch.float64),
        Workload("biharmonic", 5, (1, 16), torch.float64),
        Workload("laplacian", 50, (64,), torch.float64, samples=16),
    ]


@dataclass
class Measurement:
    workload: str
    batch: int
    strategy: str
    seconds: float | None = None
    relative_error: float | None = None  # max |ours - nested| / max |nested|
    compile_seconds: float | None = None
    peak_mib: float | None = None
    note: str = ""
    ratios: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------ set-up


def make_model(dim: int, dtype: torch.dtype) -> torch.nn.Module:
    from taylor_mlir.models import paper_mlp

    return paper_mlp(dim, dtype=dtype)  # seeded


def make_input(batch: int, dim: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.rand(
        batch, dim, dtype=dtype, generator=torch.Generator().manual_seed(1)
    )


def build(name: str, model, x: torch.Tensor, workload: Workload):
    """The strategy's operator and its compile seconds (through one first call)."""
    builder = STRATEGIES.get(name) or OPTIONAL_STRATEGIES[name]
    start = time.perf_counter()
    operator = builder(model, x, workload)
    operator(x)
    return operator, time.perf_counter() - start


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:160]}"


# ------------------------------------------------------------------ timing


def benchmark_workload(
    workload: Workload, names: Sequence[str], budget: float, min_repeats: int
) -> list[Measurement]:
    model = make_model(workload.dim, workload.dtype)
    example = make_input(max(workload.batch_sizes), workload.dim, workload.dtype)
    operators, compile_seconds, notes = {}, {}, {}
    for name in names:
        print(f"  building {name} ...", end=" ", flush=True)
        try:
            operators[name], compile_seconds[name] = build(
                name, model, example, workload
            )
            print(f"{compile_seconds[name]:.1f} s", flush=True)
        except Unavailable as error:
            notes[name] = f"unavailable: {error}"
            print(notes[name], flush=True)
        except Exception as error:  # one failing strategy must not stop the run
            notes[name] = f"failed: {_one_line(error)}"
            print(notes[name], flush=True)

    measurements = []
    for batch in workload.batch_sizes:
        x = make_input(batch, workload.dim, workload.dtype)
        errors = check_against_baseline(operators, x, workload)
        calls = {name: (lambda op=op, x=x: op(x)) for name, op in operators.items()}
        start = time.perf_counter()
        for call in calls.values():
            call()
        repeats = repeats_for_budget(
            time.perf_counter() - start, budget, low=min_repeats, high=50
        )
        medians = time_interleaved(calls, repeats)
        print(f"  N={batch}: median of {repeats} interleaved calls", flush=True)
        for name in names:
            measurements.append(
                Measurement(
                    workload.name,
                    batch,
                    name,
                    seconds=medians.get(name),
                    relative_error=errors.get(name),
                    compile_seconds=compile_seconds.get(name),
                    note=notes.get(name, ""),
                )
            )
    add_ratios(measurements)
    return measurements


def check_against_baseline(operators, x: torch.Tensor, workload: Workload):
    """Max error relative to max |torch.func nested| per strategy (exact only)."""
    if workload.samples is not None or BASELINE not in operators:
        return {}
    reference = operators[BASELINE](x).detach()
    scale = max(reference.abs().max().item(), torch.finfo(reference.dtype).tiny)
    return {
        name: (op(x).detach() - reference).abs().max().item() / scale
        for name, op in operators.items()
        if name != BASELINE
    }


def add_ratios(measurements: list[Measurement]) -> None:
    """Each time divided by the baseline's and jet collapsed's at the same point."""
    at = {(m.workload, m.batch, m.strategy): m.seconds for m in measurements}
    for m in measurements:
        for label, other in (("nested", BASELINE), ("jet", REFERENCE)):
            other_seconds = at.get((m.workload, m.batch, other))
            if m.seconds and other_seconds:
                m.ratios[label] = m.seconds / other_seconds


# ------------------------------------------------------------------ memory


def measure_memory(workload: Workload, names: Sequence[str]) -> dict[str, float | str]:
    """Peak MiB of one call per strategy at the largest batch, each strategy in a
    fresh subprocess (a process's peak is not shared with the others)."""
    batch = max(workload.batch_sizes)
    results: dict[str, float | str] = {}
    for name in names:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--measure-memory",
            name,
            "--operator",
            workload.operator,
            "--dim",
            str(workload.dim),
            "--batch",
            str(batch),
            "--dtype",
            str(workload.dtype).removeprefix("torch."),
        ]
        if workload.samples is not None:
            command += ["--samples", str(workload.samples)]
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        print(f"  peak memory of {name} at N={batch} ...", end=" ", flush=True)
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=900
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            results[name] = "failed"
            print("failed", flush=True)
            continue
        outcome = json.loads(lines[-1])
        results[name] = outcome.get("peak_mib", outcome.get("note", "n/a"))
        print(results[name], flush=True)
    return results


def _proc_status_kib(field_name: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field_name}:\s+(\d+)", status).group(1))


def memory_worker(args: argparse.Namespace) -> int:
    """The subprocess side of `measure_memory`: prints one JSON line."""
    workload = Workload(
        args.operator, args.dim, (args.batch,), DTYPES[args.dtype], args.samples
    )
    model = make_model(workload.dim, workload.dtype)
    x = make_input(args.batch, workload.dim, workload.dtype)
    builder = (
        STRATEGIES.get(args.measure_memory) or OPTIONAL_STRATEGIES[args.measure_memory]
    )
    try:
        operator = builder(model, x, workload)
    except Unavailable as error:
        print(json.dumps({"note": f"unavailable: {error}"}))
        return 0
    if not Path("/proc/self/clear_refs").exists():
        print(json.dumps({"note": "n/a (needs Linux /proc/self/clear_refs)"}))
        return 0
    # A first call may fill an allocator's pool that a second call reuses (IREE),
    # a second call may allocate afresh (torch): the peak is the larger.
    peak = max(_peak_increase_of_one_call(operator, x) for _ in range(2))
    print(json.dumps({"peak_mib": round(peak / 1024, 1)}))
    return 0


def _peak_increase_of_one_call(operator, x: torch.Tensor) -> int:
    """KiB of resident memory one call adds at its peak, its result alive."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM)
    before = _proc_status_kib("VmRSS")
    result = operator(x)
    peak = _proc_status_kib("VmHWM")
    del result
    return peak - before


# ------------------------------------------------------------------ output


def format_table(measurements: Sequence[Measurement]) -> str:
    header = (
        "N", "strategy", "time/call", "vs nested", "vs jet coll.",
        "max rel err", "compile", "peak MiB",
    )  # fmt: skip
    rows = [header]
    for m in measurements:
        if m.seconds is None:
            rows.append((str(m.batch), m.strategy, m.note))
            continue
        rows.append(
            (
                str(m.batch),
                m.strategy,
                _format_seconds(m.seconds),
                _format_ratio(m.ratios.get("nested")),
                _format_ratio(m.ratios.get("jet")),
                "-" if m.relative_error is None else f"{m.relative_error:.1e}",
                "-" if m.compile_seconds is None else f"{m.compile_seconds:.1f} s",
                "-" if m.peak_mib is None else str(m.peak_mib),
            )
        )
    full_rows = [r for r in rows if len(r) == len(header)]
    widths = [max(len(r[i]) for r in full_rows) for i in range(len(header))]
    lines = []
    for row in rows:
        if len(row) != len(header):
            lines.append(f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
            continue
        cells = [f"{row[0]:>{widths[0]}}", f"{row[1]:<{widths[1]}}"]
        cells += [f"{c:>{w}}" for c, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 1 else f"{seconds * 1e3:.2f} ms"


def _format_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def plot(measurements: Sequence[Measurement], path: Path) -> str:
    """Time vs batch size, one panel per workload with several batch sizes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install matplotlib)"
    workloads = [
        w
        for w in dict.fromkeys(m.workload for m in measurements)
        if len({m.batch for m in measurements if m.workload == w}) > 1
    ]
    if not workloads:
        return "no plot: no workload has more than one batch size"
    figure, axes = plt.subplots(
        1, len(workloads), figsize=(5 * len(workloads), 4), squeeze=False
    )
    for axis, workload in zip(axes[0], workloads, strict=True):
        points = [m for m in measurements if m.workload == workload and m.seconds]
        for strategy in dict.fromkeys(m.strategy for m in points):
            series = sorted(
                (m.batch, m.seconds) for m in points if m.strategy == strategy
            )
            axis.plot(*zip(*series, strict=True), marker="o", label=strategy)
        axis.set(
            xscale="log", yscale="log", xlabel="batch size N", ylabel="seconds per call"
        )
        axis.set_title(workload, fontsize=9)
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return f"plot written to {path}"


# -------------------------------------------------------------------- main


def build_parser(prog: str | None = None, parser_class=argparse.ArgumentParser):
    parser = parser_class(
        prog=prog,
        description="Time differential operators of the paper's tanh MLP: torch.func "
        "nested autograd, jet-for-pytorch and taylor-mlir (standard and collapsed, "
        "torch and iree-cpu backends).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a float64 subset (minutes)")
    mode.add_argument(
        "--full",
        action="store_true",
        help="the full grid (the script's default; `taylor-mlir bench` runs --quick "
        "unless given --full)",
    )
    parser.add_argument(
        "--strategies",
        type=strategy_list,
        help=f"comma-separated subset of: {', '.join([*STRATEGIES, *OPTIONAL_STRATEGIES])}",
    )
    parser.add_argument(
        "--torch-compile",
        action="store_true",
        help="also time torch.compile of the nested baseline (slow to compile)",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        help="measure peak memory in subprocesses (default: on for --full only)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds of timed calls per batch size (4; full: 20)",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=RESULTS_DIR, help="where results go"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan, run nothing"
    )
    # The memory subprocess's interface (not for users).
    parser.add_argument("--measure-memory", metavar="STRATEGY", help=argparse.SUPPRESS)
    parser.add_argument("--operator", help=argparse.SUPPRESS)
    parser.add_argument("--dim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", choices=tuple(DTYPES), help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, help=argparse.SUPPRESS)
    return parser


def strategy_list(text: str) -> list[str]:
    """`--strategies a,b`: names we know, the baseline always included."""
    known = [*STRATEGIES, *OPTIONAL_STRATEGIES]
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown strategy {(unknown or [text])[0]!r}: choose from {', '.join(known)}"
        )
    return names if BASELINE in names else [BASELINE, *names]


def selected_strategies(args: argparse.Namespace) -> list[str]:
    if args.strategies is not None:
        return args.strategies
    names = list(STRATEGIES)
    if args.torch_compile:
        names.append("torch.func nested + torch.compile")
    return names


def run(args: argparse.Namespace) -> int:
    # torch.export's own use of a deprecated torch API warns on every export.
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
    if args.measure_memory:
        return memory_worker(args)
    quick = args.quick
    workloads = quick_workloads() if quick else full_workloads()
    names = selected_strategies(args)
    memory = args.memory if args.memory is not None else not quick
    budget = args.budget or (4.0 if quick else 20.0)
    print(
        f"bench_operators ({'quick' if quick else 'full'}): torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    for workload in workloads:
        print(f"  {workload.name}: N = {', '.join(map(str, workload.batch_sizes))}")
    print(f"  strategies: {', '.join(names)}; peak memory: {'yes' if memory else 'no'}")
    if args.dry_run:
        return 0

    measurements: list[Measurement] = []
    for workload in workloads:
        print(f"\n== {workload.name}", flush=True)
        results = benchmark_workload(
            workload, names, budget, min_repeats=3 if quick else 5
        )
        if memory:
            peaks = measure_memory(workload, [n for n in names if n in STRATEGIES])
            for m in results:
                if m.batch == max(workload.batch_sizes) and m.strategy in peaks:
                    peak = peaks[m.strategy]
                    m.peak_mib = peak if isinstance(peak, float) else None
        print(format_table(results), flush=True)
        measurements += results

    args.output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bench_operators_{'quick' if quick else 'full'}"
    (args.output_dir / f"{stem}.json").write_text(
        json.dumps([asdict(m) for m in measurements], indent=1)
    )
    print(f"\nresults written to {args.output_dir / (stem + '.json')}")
    print(plot(measurements, args.output_dir / f"{stem}.png"))

    mismatches = [
        m
        for m in measurements
        if m.relative_error is not None
        and m.relative_error > TOLERANCE[_dtype_of(m.workload)]
    ]
    for m in mismatches:
        print(
            f"MISMATCH: {m.strategy} at {m.workload} N={m.batch}: {m.relative_error:.1e}"
        )
    return 1 if mismatches else 0


def _dtype_of(workload_name: str) -> torch.dtype:
    return DTYPES[workload_name.split()[-1]]


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

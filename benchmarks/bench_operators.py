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
strategy is reported; each ratio to jet comes with the quartiles of its
per-round ratios (each round against the same round's jet). Compile time
(export, passes, backend compilation, first call; for jet: tracing and CSE) is
its own column and not part of the time.
Exact results are checked against torch.func nested autograd.

The GEMM floor of each of our strategies is timed in the same interleaved
rounds: only the matmuls its program must do (per layer, the vectors per datum
`stats()` counts, times N rows, through that layer's weight). floor/time says
how close a program runs to its matmuls. The reference is the faster of jet
eager and jet under torch.compile. `--training` adds a training step per
strategy (the operator's mean square and its parameter gradients).

Peak memory (`--memory`, on by default in the full run): each strategy runs in
its own subprocess at the largest batch size of a workload, three ways: a call
under `torch.no_grad()` (an operator evaluated for its value), a differentiable
call (its result holding its autograd graph) and a training step (that call,
its loss and the backward pass). Before each (twice each, the larger counts)
the process's peak resident set size is reset (`/proc/self/clear_refs`) and
the peak increase over the resident size before it is reported. glibc is told
to return every block of 64 KiB or more to the system when freed, so resident
size follows live memory. `mem vs jet` divides each by jet collapsed's
(eager).

Torch's default thread count is left alone (printed in the header).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from strategies import (  # noqa: E402
    BASELINE,
    JET_REFERENCES,
    OPTIONAL_STRATEGIES,
    STRATEGIES,
    NotApplicable,
    Unavailable,
    Workload,
)

from taylor_mlir.benchmarking import (  # noqa: E402
    TOLERANCE,
    interleaved_samples,
    repeats_for_budget,
)

JET_MEMORY = "jet collapsed"  # the reference of the memory targets (issue 13)
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
    compile_seconds: float | None = None  # through the first call
    first_call_seconds: float | None = None  # of it (Inductor compiles there)
    floor_seconds: float | None = None  # the GEMM floor of its program
    train_seconds: float | None = None  # a training step (--training)
    peak_mib: float | None = None  # a differentiable call
    peak_no_grad_mib: float | None = None  # a call under torch.no_grad()
    peak_train_mib: float | None = None  # a training step
    load: float | None = None  # 1-minute load average after the timing
    note: str = ""
    ratios: dict[str, float] = field(default_factory=dict)
    # seconds of each interleaved round, in round order: the spread of a ratio
    # is that of its per-round ratios (both calls timed in the same round)
    round_seconds: list[float] = field(default_factory=list)
    train_round_seconds: list[float] = field(default_factory=list)


# ------------------------------------------------------------------ set-up


def make_model(dim: int, dtype: torch.dtype) -> torch.nn.Module:
    from taylor_mlir.models import paper_mlp

    return paper_mlp(dim, dtype=dtype)  # seeded


def make_input(batch: int, dim: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.rand(
        batch, dim, dtype=dtype, generator=torch.Generator().manual_seed(1)
    )


def build(name: str, model, x: torch.Tensor, workload: Workload):
    """The strategy's operator, its compile seconds through one first call,
    and the seconds of that first call."""
    builder = STRATEGIES.get(name) or OPTIONAL_STRATEGIES[name]
    start = time.perf_counter()
    operator = builder(model, x, workload)
    first = time.perf_counter()
    operator(x)
    end = time.perf_counter()
    return operator, end - start, end - first


def gemm_floor(operator, batch: int):
    """A call doing only the matmuls `operator`'s program must do on `batch`
    data: for every layer weight W (out x in) that `stats()` says V vectors
    per datum go through, one (V N x in) @ (in x out) product (for the
    collapsed Laplacian V = D + 2 at every layer). Its key (the same matmuls
    are timed once) and the call; None for strategies without stats."""
    if not hasattr(operator, "stats"):
        return None
    imported = operator.imported
    weights = dict(zip(imported.parameter_names, imported.parameters, strict=True))
    generator = torch.Generator().manual_seed(0)
    products, key = [], []
    for name, vectors in operator.stats().last.vectors_per_layer.items():
        weight = weights.get(name)  # a constant matrix is no layer of the model
        if weight is None or weight.dim() != 2:
            continue
        rows = torch.rand(
            vectors * batch, weight.shape[1], dtype=weight.dtype, generator=generator
        )
        products.append((rows, weight.detach().t().contiguous()))
        key.append((tuple(weight.shape), vectors))
    return tuple(key), lambda: [a @ b for a, b in products]


def train_step(model: torch.nn.Module, operator, x: torch.Tensor) -> None:
    """One PINN-like step: the operator's loss and its parameter gradients."""
    operator(x).square().mean().backward()
    for parameter in model.parameters():
        parameter.grad = None


def add_memory_ratios(measurements: list[Measurement]) -> None:
    """Each peak divided by jet collapsed's (eager) at the same point."""
    for m in measurements:
        jet = next(
            (
                o
                for o in measurements
                if (o.workload, o.batch, o.strategy)
                == (m.workload, m.batch, JET_MEMORY)
            ),
            None,
        )
        for label in ("peak_no_grad_mib", "peak_mib", "peak_train_mib"):
            mine, theirs = getattr(m, label), jet and getattr(jet, label)
            if mine is not None and theirs:
                m.ratios["mem " + label] = mine / theirs


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:160]}"


# ------------------------------------------------------------------ timing


def benchmark_workload(
    workload: Workload,
    names: Sequence[str],
    budget: float,
    min_repeats: int,
    training: bool = False,
) -> list[Measurement]:
    model = make_model(workload.dim, workload.dtype)
    example = make_input(max(workload.batch_sizes), workload.dim, workload.dtype)
    operators, compile_seconds, first_call, notes = {}, {}, {}, {}
    names = list(names)
    for name in list(names):
        print(f"  building {name} ...", end=" ", flush=True)
        try:
            operators[name], compile_seconds[name], first_call[name] = build(
                name, model, example, workload
            )
            print(f"{compile_seconds[name]:.1f} s", flush=True)
        except NotApplicable as error:
            names.remove(name)
            print(f"not applicable: {error}", flush=True)
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
        floor_of = {}  # strategy -> the key of its GEMM floor
        for name, op in operators.items():
            floor = gemm_floor(op, batch)
            if floor is not None:
                floor_of[name] = f"GEMM floor {floor[0]}"
                calls[floor_of[name]] = floor[1]
        rounds = _rounds_for_budget(calls, budget, min_repeats)
        medians = {name: statistics.median(times) for name, times in rounds.items()}
        print(f"  N={batch}: medians of interleaved calls", flush=True)
        train_rounds = {}
        if training:
            steps = {
                name: (lambda op=op, x=x: train_step(model, op, x))
                for name, op in operators.items()
                if _trainable(op, x)
            }
            train_rounds = _rounds_for_budget(steps, budget, min_repeats)
            print(f"  N={batch}: training steps timed", flush=True)
        trained = {name: statistics.median(t) for name, t in train_rounds.items()}
        load = os.getloadavg()[0]
        for name in names:
            measurements.append(
                Measurement(
                    workload.name,
                    batch,
                    name,
                    seconds=medians.get(name),
                    relative_error=errors.get(name),
                    compile_seconds=compile_seconds.get(name),
                    first_call_seconds=first_call.get(name),
                    floor_seconds=medians.get(floor_of.get(name)),
                    train_seconds=trained.get(name),
                    load=load,
                    note=notes.get(name, ""),
                    round_seconds=rounds.get(name, []),
                    train_round_seconds=train_rounds.get(name, []),
                )
            )
    add_ratios(measurements)
    return measurements


def _rounds_for_budget(
    calls, budget: float, min_repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of `calls` in interleaved rounds, as many rounds as
    fill the budget."""
    start = time.perf_counter()
    for call in calls.values():
        call()
    repeats = repeats_for_budget(
        time.perf_counter() - start, budget, low=min_repeats, high=50
    )
    return interleaved_samples(calls, repeats)


def _trainable(operator, x: torch.Tensor) -> bool:
    return operator(x).requires_grad


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
    """At each point: each time divided by the baseline's ("nested") and by the
    faster of jet eager and jet under torch.compile ("jet"), the GEMM floor
    divided by the time ("floor"), and each training step divided by jet's
    fastest ("train vs jet"). Against jet, also the quartiles of the per-round
    ratios ("jet q1", "jet q3", "train vs jet q1", ...): how far one round's
    ratio strays from the ratio of the medians."""

    def fastest(m: Measurement, names, attribute: str) -> Measurement | None:
        timed = [
            o
            for o in measurements
            if (o.workload, o.batch) == (m.workload, m.batch)
            and o.strategy in names
            and getattr(o, attribute)
        ]
        return min(timed, key=lambda o: getattr(o, attribute), default=None)

    for m in measurements:
        nested = fastest(m, (BASELINE,), "seconds")
        if m.seconds and nested:
            m.ratios["nested"] = m.seconds / nested.seconds
        if m.seconds and m.floor_seconds:
            m.ratios["floor"] = m.floor_seconds / m.seconds
        for label, attribute, rounds in (
            ("jet", "seconds", "round_seconds"),
            ("train vs jet", "train_seconds", "train_round_seconds"),
        ):
            jet = fastest(m, JET_REFERENCES, attribute)
            if not getattr(m, attribute) or jet is None:
                continue
            m.ratios[label] = getattr(m, attribute) / getattr(jet, attribute)
            spread = _quartiles_of_ratios(getattr(m, rounds), getattr(jet, rounds))
            if spread is not None and jet is not m:
                m.ratios[f"{label} q1"], m.ratios[f"{label} q3"] = spread


def _quartiles_of_ratios(
    times: Sequence[float], references: Sequence[float]
) -> tuple[float, float] | None:
    """First and third quartile of `times[i] / references[i]` over the rounds
    (None unless both were timed in the same two or more rounds)."""
    if len(times) < 2 or len(times) != len(references):
        return None
    q1, _, q3 = statistics.quantiles(
        [t / r for t, r in zip(times, references, strict=True)],
        n=4,
        method="inclusive",
    )
    return q1, q3


# ------------------------------------------------------------------ memory


def measure_memory(workload: Workload, names: Sequence[str]) -> dict[str, dict | str]:
    """Peak MiB of one call per strategy at the largest batch (no grad, with
    its graph, a training step), each strategy in a fresh subprocess (a
    process's peak is not shared with the others)."""
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
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            results[name] = f"failed: {last[:200]}"
            print(results[name], flush=True)
            continue
        outcome = json.loads(lines[-1])
        results[name] = outcome.get("peaks", outcome.get("note", "n/a"))
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

    def no_grad_call():
        with torch.no_grad():
            return operator(x)

    runs = {"no_grad": no_grad_call, "graph": lambda: operator(x)}
    if _trainable(operator, x):
        runs["train"] = lambda: train_step(model, operator, x)
    # A first call may fill an allocator's pool that a second call reuses (IREE),
    # a second call may allocate afresh (torch): the peak is the larger.
    peaks = {
        label: round(max(_peak_increase(run) for _ in range(2)) / 1024, 1)
        for label, run in runs.items()
    }
    print(json.dumps({"peaks": peaks}))
    return 0


def _peak_increase(run) -> int:
    """KiB of resident memory `run()` adds at its peak, its result alive."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM)
    before = _proc_status_kib("VmRSS")
    result = run()
    peak = _proc_status_kib("VmHWM")
    del result
    return peak - before


# ------------------------------------------------------------------ output


def format_table(measurements: Sequence[Measurement]) -> str:
    training = any(m.train_seconds for m in measurements)
    header = (
        "N", "strategy", "time/call", "vs jet best", "vs nested", "GEMM floor",
        "floor/time", "max rel err", "compile (1st call)",
        "peak MiB no grad / graph / step", "mem vs jet",
    ) + (("train step", "train vs jet") if training else ())  # fmt: skip
    rows = [header]
    for m in measurements:
        if m.seconds is None:
            rows.append((str(m.batch), m.strategy, m.note))
            continue
        compile_ = "-"
        if m.compile_seconds is not None:
            compile_ = f"{m.compile_seconds:.1f} s"
            if m.first_call_seconds is not None:
                compile_ += f" ({m.first_call_seconds:.1f} s)"
        row = (
            str(m.batch),
            m.strategy,
            _format_seconds(m.seconds),
            format_ratio_spread(m.ratios, "jet"),
            _format_ratio(m.ratios.get("nested")),
            "-" if m.floor_seconds is None else _format_seconds(m.floor_seconds),
            "-" if "floor" not in m.ratios else f"{m.ratios['floor']:.2f}",
            "-" if m.relative_error is None else f"{m.relative_error:.1e}",
            compile_,
            _format_peaks(m),
            _format_memory_ratios(m),
        )
        if training:
            row += (
                "-" if m.train_seconds is None else _format_seconds(m.train_seconds),
                format_ratio_spread(m.ratios, "train vs jet"),
            )
        rows.append(row)
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
    loads = dict.fromkeys((m.batch, m.load) for m in measurements if m.load)
    if loads:
        lines.append(
            "load average (1 min) after timing: "
            + ", ".join(f"N={n}: {load:.1f}" for n, load in loads)
            + f" ({os.cpu_count()} cores)"
        )
    return "\n".join(lines)


PEAKS = ("peak_no_grad_mib", "peak_mib", "peak_train_mib")


def _format_peaks(m: Measurement) -> str:
    values = [getattr(m, label) for label in PEAKS]
    if all(v is None for v in values):
        return "-"
    return " / ".join("-" if v is None else f"{v:.0f}" for v in values)


def _format_memory_ratios(m: Measurement) -> str:
    ratios = [m.ratios.get("mem " + label) for label in PEAKS]
    if all(r is None for r in ratios):
        return "-"
    return " / ".join("-" if r is None else f"{r:.2f}" for r in ratios)


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 1 else f"{seconds * 1e3:.2f} ms"


def _format_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def format_ratio_spread(ratios: dict[str, float], label: str) -> str:
    """`1.10x [1.05-1.14]`: the ratio of the medians, and in brackets the
    quartiles of the per-round ratios where they were recorded."""
    text = _format_ratio(ratios.get(label))
    low, high = ratios.get(f"{label} q1"), ratios.get(f"{label} q3")
    if low is not None and high is not None:
        text += f" [{low:.2f}-{high:.2f}]"
    return text


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
        "--workloads",
        metavar="TEXT",
        help="only the workloads whose name contains TEXT (e.g. 'biharmonic "
        "D=5 float64'; names as the plan prints them)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=lambda text: {int(n) for n in text.split(",")},
        metavar="N,N",
        help="only these batch sizes of each workload",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: torch's); 1 is steadier on a loaded machine",
    )
    parser.add_argument(
        "--training",
        action="store_true",
        help="also time a training step (the operator's loss and its parameter "
        "gradients) per strategy",
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
    if args.workloads:
        workloads = [w for w in workloads if args.workloads in w.name]
    if args.batch_sizes:
        workloads = [
            replace(
                w, batch_sizes=tuple(n for n in w.batch_sizes if n in args.batch_sizes)
            )
            for w in workloads
        ]
        workloads = [w for w in workloads if w.batch_sizes]
    if args.threads:
        torch.set_num_threads(args.threads)
    names = selected_strategies(args)
    memory = args.memory if args.memory is not None else not quick
    budget = args.budget or (4.0 if quick else 20.0)
    print(
        f"bench_operators ({'quick' if quick else 'full'}): torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
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
            workload, names, budget, 3 if quick else 5, args.training
        )
        if memory:
            timed = dict.fromkeys(m.strategy for m in results if m.seconds)
            peaks = measure_memory(workload, [n for n in timed if n in STRATEGIES])
            for m in results:
                peak = peaks.get(m.strategy)
                if m.batch == max(workload.batch_sizes) and isinstance(peak, dict):
                    m.peak_no_grad_mib = peak.get("no_grad")
                    m.peak_mib = peak.get("graph")
                    m.peak_train_mib = peak.get("train")
            add_memory_ratios(results)
        print(format_table(results), flush=True)
        measurements += results

    args.output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bench_operators_{'quick' if quick else 'full'}"
    results = {"run": run_info(), "measurements": [asdict(m) for m in measurements]}
    (args.output_dir / f"{stem}.json").write_text(json.dumps(results, indent=1))
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


def run_info() -> dict:
    """What the results JSON says about the run besides its measurements (the
    loads are per measurement)."""
    root = Path(__file__).resolve().parent.parent

    def git(*command: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *command], capture_output=True, text=True
            )
        except OSError:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    changes = git("status", "--porcelain", "-uno", "--", "taylor_mlir", "benchmarks")
    return {
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "commit": git("rev-parse", "--short", "HEAD"),
        # edits to the code that ran make the commit only approximate
        "uncommitted_changes": None if changes is None else bool(changes),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def _dtype_of(workload_name: str) -> torch.dtype:
    return DTYPES[workload_name.split()[-1]]


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""
The README's benchmark table, rendered from a results file of bench_operators.py.

    python benchmarks/readme_table.py benchmarks/results/bench_operators_full.json
    python benchmarks/readme_table.py RESULTS.json --update README.md

One row per workload, batch size and strategy, in the terms the issue-13
targets are stated in: time per call, its ratio to the faster jet (eager or
torch.compile; in brackets the quartiles of the per-round ratios when the
file has each round's time), GEMM floor / time, compile time (the first call
in brackets where torch.compile compiles there), peak memory without grad and of a
training step against jet collapsed (eager), and the training step against the
faster jet. Above it, one line on the run: date, commit, threads, load range.
A missing value is "-"; a result off the torch.func reference by more than
the tolerance is flagged MISMATCH.

`--update README.md` replaces what lies between the two marker lines and
nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_operators import (  # noqa: E402
    TOLERANCE,
    _dtype_of,
    _format_seconds,
    format_ratio_spread,
)

from taylor_mlir.errors import CLIError  # noqa: E402

START = "<!-- benchmark-table:start -->"
END = "<!-- benchmark-table:end -->"
HEADER = (
    "workload", "N", "strategy", "time/call", "vs jet best", "floor/time",
    "compile (1st call)", "peak no grad / step vs jet", "train step vs jet best",
)  # fmt: skip


def load_results(path: Path) -> tuple[dict, list[dict]]:
    """The run's metadata and its measurements. Files written before the
    metadata existed are a bare list of measurements."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CLIError(
            f"cannot read benchmark results {path}: {error} (expected the JSON "
            "that bench_operators.py writes to <output-dir>/bench_operators_*.json)"
        ) from None
    if isinstance(data, list):
        return {}, data
    if isinstance(data, dict) and isinstance(data.get("measurements"), list):
        return data.get("run") or {}, data["measurements"]
    raise CLIError(
        f"{path} is not a bench_operators.py results file: expected a list of "
        "measurements or {'run': ..., 'measurements': [...]}"
    )


def render(run: dict, measurements: Sequence[dict]) -> str:
    """The header line and the markdown table."""
    # names left-aligned, numbers right-aligned
    rows = [HEADER, ("---",) * 3 + ("--:",) * (len(HEADER) - 3)]
    previous = (None, None)
    for m in measurements:
        # the workload once per workload, N once per batch size
        workload = "" if m["workload"] == previous[0] else m["workload"]
        same = (m["workload"], m["batch"]) == previous
        rows.append((workload, "" if same else str(m["batch"]), *_cells(m)))
        previous = (m["workload"], m["batch"])
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    return run_line(run, measurements) + "\n\n" + table


def _cells(m: dict) -> tuple[str, ...]:
    ratios = m.get("ratios") or {}
    strategy = m["strategy"]
    if m.get("seconds") is None:
        # "unavailable: <reason>" / "failed: <error>": the reason is in the run's log
        status = (m.get("note") or "").split(":")[0]
        return (f"{strategy} ({status})" if status else strategy,) + ("-",) * 6
    error = m.get("relative_error")
    tolerance = TOLERANCE[_dtype_of(m["workload"])]
    if error is not None and error > tolerance:
        strategy += f" **MISMATCH** (rel err {error:.1e} > {tolerance:.0e})"
    floor = ratios.get("floor")
    return (
        strategy,
        _format_seconds(m["seconds"]),
        format_ratio_spread(ratios, "jet"),
        "-" if floor is None else f"{floor:.2f}",
        _compile(m),
        _memory(m),
        _with_time(ratios, m.get("train_seconds")),
    )


def _compile(m: dict) -> str:
    seconds, first_call = m.get("compile_seconds"), m.get("first_call_seconds")
    if seconds is None:
        return "-"
    text = f"{seconds:.1f} s"
    # torch.compile (jet + torch.compile, torch-inductor) compiles at the first call
    compiles_there = "torch.compile" in m["strategy"] or "inductor" in m["strategy"]
    if compiles_there and first_call is not None:
        text += f" ({first_call:.1f} s)"
    return text


def _memory(m: dict) -> str:
    """Ratios to jet collapsed without grad / for a training step, and MiB."""
    ratios = m.get("ratios") or {}
    labels = ("peak_no_grad_mib", "peak_train_mib")
    mib = [m.get(label) for label in labels]
    if all(v is None for v in mib):
        return "-"
    shares = [ratios.get("mem " + label) for label in labels]
    return (
        " / ".join("-" if r is None else f"{r:.2f}" for r in shares)
        + " ("
        + " / ".join("-" if v is None else f"{v:.0f}" for v in mib)
        + " MiB)"
    )


def _with_time(ratios: dict, seconds: float | None) -> str:
    """The training step against the faster jet, and its time."""
    if ratios.get("train vs jet") is None:
        return "-" if seconds is None else f"- ({_format_seconds(seconds)})"
    return f"{format_ratio_spread(ratios, 'train vs jet')} ({_format_seconds(seconds)})"


def run_line(run: dict, measurements: Sequence[dict]) -> str:
    """What the file says about the run, in one line."""
    parts = []
    if run.get("date"):
        parts.append(run["date"][:10])
    if run.get("commit"):
        changed = " with uncommitted changes" if run.get("uncommitted_changes") else ""
        parts.append(f"commit {run['commit']}{changed}")
    if run.get("threads"):
        plural = "s" if run["threads"] != 1 else ""
        cores = f" on {run['cores']} cores" if run.get("cores") else ""
        parts.append(f"{run['threads']} torch thread{plural}{cores}")
    if run.get("torch"):
        parts.append(f"torch {run['torch']}")
    loads = [m["load"] for m in measurements if m.get("load") is not None]
    if loads:
        low, high = f"{min(loads):.1f}", f"{max(loads):.1f}"
        parts.append(f"load average {low}" + ("" if low == high else f" to {high}"))
    line = "Run: " + (", ".join(parts) or "no run metadata in the results file")
    if run.get("command"):
        line += f"; `{run['command']}`"
    return line + "."


def update(readme: Path, table: str) -> bool:
    """Put `table` between the markers of `readme`; whether the file changed."""
    try:
        text = readme.read_text()
    except OSError as error:
        raise CLIError(f"cannot read {readme}: {error}") from None
    starts, ends = text.count(START), text.count(END)
    if starts != 1 or ends != 1 or text.index(START) > text.index(END):
        raise CLIError(
            f"{readme} needs exactly one line {START} and, after it, one line "
            f"{END} around the benchmark table (found {starts} and {ends}): add "
            "them around the table to replace"
        )
    head, rest = text.split(START)
    _, tail = rest.split(END)
    # the blank line ends the table before the marker (GFM continues tables)
    new = f"{head}{START}\n{table}\n\n{END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render the README's benchmark table from a results JSON "
        "of bench_operators.py."
    )
    parser.add_argument(
        "results",
        type=Path,
        nargs="+",
        help="bench_operators_*.json (several: their measurements in order; the "
        "header line is the first file's run)",
    )
    parser.add_argument(
        "--update",
        type=Path,
        metavar="README",
        help=f"replace the table between {START} and {END} in this file",
    )
    parser.add_argument(
        "--strategies",
        type=lambda text: [n.strip() for n in text.split(",") if n.strip()],
        metavar="A,B",
        help="only these strategies (default: every one in the file)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
        metavar="N,N",
        help="only these batch sizes (default: every one in the file)",
    )
    args = parser.parse_args(argv)
    try:
        loaded = [load_results(path) for path in args.results]
        run = loaded[0][0]
        measurements = [m for _, ms in loaded for m in ms]
        if args.batch_sizes:
            measurements = [m for m in measurements if m["batch"] in args.batch_sizes]
        if args.strategies:
            unknown = set(args.strategies) - {m["strategy"] for m in measurements}
            if unknown:
                raise CLIError(
                    f"no strategy {sorted(unknown)[0]!r} in {args.results[0]}: it has "
                    + ", ".join(dict.fromkeys(m["strategy"] for m in measurements))
                )
            measurements = [m for m in measurements if m["strategy"] in args.strategies]
        table = render(run, measurements)
        if args.update is None:
            print(table)
            return 0
        changed = update(args.update, table)
    except CLIError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.update}: {'table replaced' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

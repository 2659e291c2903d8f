"""benchmarks/readme_table.py: the README's benchmark table from a results file
(cells, flags, the header line, the marker replacement). Synthetic results: the
benchmark itself is too slow for tests."""

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from taylor_mlir.errors import CLIError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_operators as bench  # noqa: E402
import readme_table  # noqa: E402

F64 = "exact laplacian D=50 float64"
F32 = "exact laplacian D=50 float32"
OURS = "ours collapsed (torch)"
JET, JET_COMPILED = "jet collapsed", "jet collapsed + torch.compile"


def synthetic_results() -> list[dict]:
    """Measurements as bench_operators.py makes them (its own ratio functions)."""
    M = bench.Measurement
    rows = [
        M(F64, 64, JET, seconds=0.2, compile_seconds=1.0, first_call_seconds=0.5, load=1.5),
        M(F64, 64, JET_COMPILED, seconds=0.1, compile_seconds=30.0,
          first_call_seconds=28.0, load=1.5),
        M(F64, 64, OURS, seconds=0.12, floor_seconds=0.09, relative_error=1e-15,
          compile_seconds=2.0, first_call_seconds=0.1, load=1.5),
        M(F64, 64, "ours collapsed (iree-cpu)", note="unavailable: IREE is not installed"),
        M(F64, 256, JET, seconds=0.8, train_seconds=2.0, peak_no_grad_mib=200.0,
          peak_train_mib=800.0, load=4.25),
        M(F64, 256, JET_COMPILED, seconds=0.6, train_seconds=1.6, load=4.25),
        M(F64, 256, OURS, seconds=0.66, floor_seconds=0.55, train_seconds=2.0,
          relative_error=1e-6, peak_no_grad_mib=30.0, peak_train_mib=400.0, load=4.25),
        M(F32, 256, JET, seconds=0.3, load=2.0),
        M(F32, 256, OURS, seconds=0.15, relative_error=1e-6, load=2.0),
    ]  # fmt: skip
    bench.add_ratios(rows)
    bench.add_memory_ratios(rows)
    return [asdict(m) for m in rows]


def parse(table: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """(workload, N, strategy name) -> {column: cell}, blank cells filled down."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells, workload, batch = {}, None, None
    for line in lines[2:]:
        row = [c.strip() for c in line.strip("|").split("|")]
        workload, batch = row[0] or workload, row[1] or batch
        name = row[2].split(" (unavailable)")[0].split(" **MISMATCH**")[0]
        cells[workload, batch, name] = dict(zip(header, row, strict=True))
    return cells


@pytest.fixture
def table() -> str:
    return readme_table.render({}, synthetic_results())


def test_cells_are_the_measured_ratios(table):
    cells = parse(table)
    ours = cells[F64, "64", OURS]
    assert ours["time/call"] == "120.00 ms"
    assert ours["vs jet best"] == "1.20x"  # 0.12 s / jet + torch.compile's 0.1 s
    assert ours["floor/time"] == "0.75"  # 0.09 / 0.12
    assert cells[F64, "64", JET]["vs jet best"] == "2.00x"
    big = cells[F64, "256", OURS]
    assert big["vs jet best"] == "1.10x"  # 0.66 / 0.6
    assert big["floor/time"] == "0.83"  # 0.55 / 0.66
    # memory against jet collapsed (eager), not the faster jet: 30/200, 400/800
    assert big["peak no grad / step vs jet"] == "0.15 / 0.50 (30 / 400 MiB)"
    # training step against the faster jet: 2.0 / 1.6
    assert big["train step vs jet best"] == "1.25x (2.000 s)"
    assert cells[F32, "256", OURS]["vs jet best"] == "0.50x"


def test_ratios_against_jet_show_the_quartiles_of_the_per_round_ratios():
    """Timed in the same interleaved rounds, each strategy's round over the
    faster jet's same round: the quartiles of those ratios in brackets (numpy's
    linear percentiles as the independent reference)."""
    M = bench.Measurement
    jet_rounds = [0.10, 0.12, 0.11, 0.10, 0.13]
    ours_rounds = [0.11, 0.12, 0.10, 0.12, 0.12]
    rows = [
        M(F64, 256, JET, seconds=0.2, round_seconds=[0.2] * 5),
        M(F64, 256, JET_COMPILED, seconds=0.11, round_seconds=jet_rounds,
          train_seconds=0.3, train_round_seconds=[0.3, 0.3]),
        M(F64, 256, OURS, seconds=0.12, round_seconds=ours_rounds,
          train_seconds=0.33, train_round_seconds=[0.30, 0.36]),
        M(F64, 256, "ours standard (torch)", seconds=0.3, round_seconds=[0.3] * 4),
    ]  # fmt: skip
    bench.add_ratios(rows)
    per_round = np.array(ours_rounds) / np.array(jet_rounds)
    q1, q3 = np.percentile(per_round, [25, 75])
    cells = parse(readme_table.render({}, [asdict(m) for m in rows]))
    ours = cells[F64, "256", OURS]
    assert ours["vs jet best"] == f"1.09x [{q1:.2f}-{q3:.2f}]"  # 0.12 / 0.11
    t1, t3 = np.percentile([1.0, 1.2], [25, 75])
    assert ours["train step vs jet best"] == f"1.10x [{t1:.2f}-{t3:.2f}] (330.00 ms)"
    # the reference itself has no spread; rounds that do not pair up have none
    assert cells[F64, "256", JET_COMPILED]["vs jet best"] == "1.00x"
    assert cells[F64, "256", "ours standard (torch)"]["vs jet best"] == "2.73x"
    j1, j3 = np.percentile(0.2 / np.array(jet_rounds), [25, 75])
    assert cells[F64, "256", JET]["vs jet best"] == f"1.82x [{j1:.2f}-{j3:.2f}]"
    console = bench.format_table(rows)
    assert f"1.09x [{q1:.2f}-{q3:.2f}]" in console


def test_compile_shows_the_first_call_where_torch_compile_compiles(table):
    cells = parse(table)
    assert cells[F64, "64", JET_COMPILED]["compile (1st call)"] == "30.0 s (28.0 s)"
    assert cells[F64, "64", OURS]["compile (1st call)"] == "2.0 s"
    assert cells[F64, "64", JET]["compile (1st call)"] == "1.0 s"


def test_missing_values_and_unavailable_strategies_are_dashes(table):
    cells = parse(table)
    unavailable = cells[F64, "64", "ours collapsed (iree-cpu)"]
    assert unavailable["strategy"] == "ours collapsed (iree-cpu) (unavailable)"
    assert set(list(unavailable.values())[3:]) == {"-"}
    jet = cells[F64, "64", JET]
    assert jet["floor/time"] == "-"  # jet has no stats(), so no floor
    assert jet["peak no grad / step vs jet"] == "-"  # memory: largest N only
    assert jet["train step vs jet best"] == "-"  # no --training at N = 64


def test_mismatches_are_flagged_at_the_dtypes_tolerance(table):
    cells = parse(table)
    assert (
        "**MISMATCH** (rel err 1.0e-06 > 1e-09)" in cells[F64, "256", OURS]["strategy"]
    )
    assert cells[F64, "64", OURS]["strategy"] == OURS  # 1e-15
    assert cells[F32, "256", OURS]["strategy"] == OURS  # 1e-6 < 1e-4 in float32


def test_each_workload_and_batch_size_is_named_once(table):
    rows = [line.split("|")[1:3] for line in table.splitlines()[4:]]
    assert [w.strip() for w, _ in rows if w.strip()] == [F64, F32]
    assert [n.strip() for _, n in rows if n.strip()] == ["64", "256", "256"]


def test_header_line_says_date_commit_threads_and_load_range():
    run = {
        "date": "2026-12-02T10:00+00:00",
        "commit": "5afa11f",
        "uncommitted_changes": False,
        "threads": 1,
        "cores": 2,
        "command": "bench_operators.py --full",
    }
    line = readme_table.render(run, synthetic_results()).splitlines()[0]
    assert line == (
        "Run: 2026-12-02, commit 5afa11f, 1 torch thread on 2 cores, "
        "load average 1.5 to 4.2; `bench_operators.py --full`."
    )
    changed = readme_table.run_line(
        {"commit": "5afa11f", "uncommitted_changes": True}, []
    )
    assert changed == "Run: commit 5afa11f with uncommitted changes."


def test_reads_both_the_wrapped_and_the_old_list_format(tmp_path):
    results = synthetic_results()
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(results))
    new.write_text(json.dumps({"run": {"threads": 2}, "measurements": results}))
    assert readme_table.load_results(old) == ({}, results)
    assert readme_table.load_results(new) == ({"threads": 2}, results)
    old.write_text('{"rows": []}')
    with pytest.raises(CLIError, match="not a bench_operators.py results file"):
        readme_table.load_results(old)


def test_run_info_is_what_the_header_line_reads():
    info = bench.run_info()
    assert {"date", "commit", "uncommitted_changes", "threads", "cores"} <= set(info)
    assert readme_table.run_line(info, []).startswith(f"Run: {info['date'][:10]}")


README_TEXT = """# Project

Prose before.

{start}
| old | table |
|-----|-------|
| 1   | 2     |

{end}

Prose after.
"""


def test_update_replaces_only_between_the_markers_and_is_idempotent(tmp_path, table):
    readme = tmp_path / "README.md"
    readme.write_text(
        README_TEXT.format(start=readme_table.START, end=readme_table.END)
    )
    assert readme_table.update(readme, table)
    text = readme.read_text()
    assert text.startswith("# Project\n\nProse before.\n\n" + readme_table.START)
    assert text.endswith(readme_table.END + "\n\nProse after.\n")
    assert "| old |" not in text and table in text
    assert not readme_table.update(readme, table)
    assert readme.read_text() == text


@pytest.mark.parametrize(
    "start, end", [("", readme_table.END), (readme_table.END, readme_table.START)]
)
def test_update_refuses_without_the_markers_in_order(tmp_path, table, start, end):
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT.format(start=start, end=end))
    before = readme.read_text()
    with pytest.raises(CLIError, match="needs exactly one line <!-- benchmark-table"):
        readme_table.update(readme, table)
    assert readme.read_text() == before


def test_command_line(tmp_path, capsys):
    results, readme = tmp_path / "results.json", tmp_path / "README.md"
    results.write_text(json.dumps(synthetic_results()))
    readme.write_text(README_TEXT.format(start="", end=""))
    assert readme_table.main([str(results), "--update", str(readme)]) == 2
    assert "error: " in capsys.readouterr().err
    assert readme_table.main([str(results), "--strategies", f"{JET},{OURS}"]) == 0
    printed = parse(capsys.readouterr().out)
    assert {name for _, _, name in printed} == {JET, OURS}
    assert readme_table.main([str(results), "--strategies", "jet"]) == 2
    assert "no strategy 'jet'" in capsys.readouterr().err


def test_several_files_and_batch_sizes(tmp_path, capsys):
    """Two runs' measurements in one table, in order, filtered by N."""
    measurements = synthetic_results()
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(measurements))
    second.write_text(
        json.dumps([dict(m, workload="2nd " + m["workload"]) for m in measurements])
    )
    batches = sorted({m["batch"] for m in measurements})
    argv = [str(first), str(second), "--batch-sizes", str(batches[-1])]
    assert readme_table.main(argv) == 0
    rows = parse(capsys.readouterr().out)
    kept = [m for m in measurements if m["batch"] == batches[-1]]
    assert len(rows) == 2 * len(kept)


def test_the_readme_has_the_markers():
    text = (ROOT / "README.md").read_text()
    assert text.count(readme_table.START) == 1 and text.count(readme_table.END) == 1
    assert text.index(readme_table.START) < text.index(readme_table.END)

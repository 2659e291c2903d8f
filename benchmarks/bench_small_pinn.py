"""
The exact Laplacian of small PINN networks, where the elementwise Taylor
arithmetic between the matmuls, not the matmuls, is the time: a tanh MLP
`D -> H -> H -> H -> H -> 1` on N collocation points (the paper's MLP is
`bench_operators.py`).

Each strategy (the builders of `strategies.py`: ours on the torch backend,
jet-for-pytorch collapsed eager and under torch.compile, torch.func nested) is
timed in one process, interleaved round by round; the table gives medians and
the median of the per-round ratios to the best jet reference.

    python benchmarks/bench_small_pinn.py --dims 2,3 --widths 64,128 --batch 4096
    python benchmarks/bench_small_pinn.py --training --dtype float64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import strategies as S  # noqa: E402

from taylor_mlir.models import mlp  # noqa: E402

STRATEGIES = {
    "ours collapsed (torch)": S.build_ours(collapsed=True, backend="torch"),
    "jet collapsed": S.build_jet(collapsed=True),
    "jet collapsed + torch.compile": S.build_jet(collapsed=True, compiled=True),
    "torch.func nested": S.build_nested,
}


def timed_rounds(operators, x, parameters, training: bool, rounds: int):
    """Seconds of each operator's call (or training step) per round."""

    def run(operator):
        if training:
            operator(x).square().mean().backward()
            for p in parameters:
                p.grad = None
        else:
            with torch.no_grad():
                operator(x)

    for operator in operators.values():
        for _ in range(2):
            run(operator)
    seconds = {name: [] for name in operators}
    for _ in range(rounds):
        for name, operator in operators.items():
            start = time.perf_counter()
            run(operator)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", default="2,3", help="input dimensions D")
    parser.add_argument("--widths", default="32,64,128", help="hidden widths H")
    parser.add_argument("--batch", type=int, default=4096, help="collocation points N")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--training", action="store_true", help="time training steps")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    print(
        f"exact Laplacian, tanh MLP D -> H x4 -> 1, N = {args.batch}, {args.dtype}, "
        f"{'training step' if args.training else 'no grad'}, {args.threads} threads"
    )
    header = f"{'D':>3} {'H':>4}  " + "  ".join(f"{n:>30}" for n in STRATEGIES)
    print(header)
    for dim in map(int, args.dims.split(",")):
        for width in map(int, args.widths.split(",")):
            model = mlp([dim, width, width, width, width, 1], "tanh", dtype, 0)
            x = torch.rand(
                args.batch, dim, dtype=dtype, generator=torch.Generator().manual_seed(1)
            )
            workload = S.Workload("laplacian", dim, (args.batch,), dtype)
            operators = {}
            for name, builder in STRATEGIES.items():
                try:
                    operators[name] = builder(model, x, workload)
                except S.Unavailable as why:
                    print(f"  {name}: {why}")
            seconds = timed_rounds(
                operators, x, list(model.parameters()), args.training, args.rounds
            )
            references = [n for n in S.JET_REFERENCES if n in seconds]
            best = min(
                references, key=lambda n: statistics.median(seconds[n]), default=None
            )
            cells = []
            for name in STRATEGIES:
                if name not in seconds:
                    cells.append(f"{'-':>30}")
                    continue
                text = f"{statistics.median(seconds[name]) * 1e3:.2f} ms"
                if best is not None:
                    ratio = statistics.median(
                        a / b for a, b in zip(seconds[name], seconds[best], strict=True)
                    )
                    text += f" ({ratio:.2f}x)"
                cells.append(f"{text:>30}")
            print(f"{dim:>3} {width:>4}  " + "  ".join(cells))
    print("ratios: per-round medians against the faster jet reference")


if __name__ == "__main__":
    main()

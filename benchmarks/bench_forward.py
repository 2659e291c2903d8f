"""
Forward pass of the paper's MLP (D=50 -> 768 -> 768 -> 512 -> 512 -> 1, tanh,
batch 256): compiled by taylor-mlir (torch and iree-cpu backends) against eager
PyTorch, in float32 and float64.

One process; the variants are timed interleaved (one call each per round, in
turn), so drifts of the machine hit all of them alike; medians are reported.
The gap of iree-cpu is explained by timing one 256x768 @ 768x768 matmul alone,
PyTorch's BLAS against IREE's codegen.

    python benchmarks/bench_forward.py [--rounds 60] [--batch 256]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from xdsl.parser import Parser

from taylor_mlir.backends import build_executable
from taylor_mlir.benchmarking import time_interleaved
from taylor_mlir.compile_function import compile_function
from taylor_mlir.context import make_context
from taylor_mlir.models import paper_mlp

D = 50
WIDTHS = [D, 768, 768, 512, 512, 1]
# the MLP's matmul work in units of one 768x768 layer
MATMUL_UNITS = sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True)) / 768**2


def interleaved_medians(
    variants: dict[str, Callable[[], object]], rounds: int, warmup: int = 5
) -> dict[str, float]:
    """Median seconds per call of each variant, timed in turn each round."""
    for _ in range(warmup):
        for run in variants.values():
            run()
    return time_interleaved(variants, rounds)


def matmul_alone(dtype: torch.dtype, batch: int) -> dict[str, Callable[[], object]]:
    """The largest layer's matmul, in PyTorch and compiled by IREE."""
    ft = {torch.float32: "f32", torch.float64: "f64"}[dtype]
    text = f"""
func.func @mm(%a: tensor<?x768x{ft}>, %b: tensor<768x768x{ft}>) -> tensor<?x768x{ft}> {{
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x768x{ft}>
  %e = tensor.empty(%n) : tensor<?x768x{ft}>
  %zero = arith.constant 0.0 : {ft}
  %z = linalg.fill ins(%zero : {ft}) outs(%e : tensor<?x768x{ft}>) -> tensor<?x768x{ft}>
  %y = linalg.matmul ins(%a, %b : tensor<?x768x{ft}>, tensor<768x768x{ft}>) outs(%z : tensor<?x768x{ft}>) -> tensor<?x768x{ft}>
  func.return %y : tensor<?x768x{ft}>
}}"""
    module = Parser(make_context(), text).parse_module()
    iree = build_executable(module, "mm", "iree-cpu")
    a = torch.randn(batch, 768, dtype=dtype)
    b = torch.randn(768, 768, dtype=dtype)
    torch.testing.assert_close(iree(a, b)[0], a @ b, rtol=1e-4, atol=1e-3)
    return {"torch.mm": lambda: torch.mm(a, b), "iree mm": lambda: iree(a, b)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch}, {args.rounds} interleaved rounds, medians")  # fmt: skip
    rows, gaps = [], []
    for dtype in (torch.float32, torch.float64):
        model = paper_mlp(D, "tanh", dtype=dtype)
        x = torch.randn(args.batch, D, dtype=dtype)
        compiled = {
            backend: compile_function(model, x, backend)
            for backend in ("torch", "iree-cpu")
        }
        with torch.no_grad():
            reference = model(x)
            for run in compiled.values():  # numbers first, then speed
                torch.testing.assert_close(run(x), reference, rtol=1e-4, atol=1e-5)
            variants = {
                "eager": lambda model=model, x=x: model(x),
                **{name: lambda run=run, x=x: run(x) for name, run in compiled.items()},
                **matmul_alone(dtype, args.batch),
            }
            medians = interleaved_medians(variants, args.rounds)
        eager = medians["eager"]
        for name in ("eager", "torch", "iree-cpu"):
            rows.append(
                (
                    str(dtype).removeprefix("torch."),
                    name,
                    medians[name],
                    medians[name] / eager,
                )
            )
        mm = medians["torch.mm"]
        gaps.append(
            (
                str(dtype).removeprefix("torch."),
                medians["iree-cpu"] - medians["torch"],
                MATMUL_UNITS * (medians["iree mm"] - mm),
            )
        )
        for name in ("torch.mm", "iree mm"):
            rows.append((str(dtype).removeprefix("torch."), f"{name} (768x768 alone)", medians[name], medians[name] / mm))  # fmt: skip

    print(f"{'dtype':8} {'variant':28} {'median ms':>10} {'ratio':>7}")
    for dtype, name, seconds, ratio in rows:
        print(f"{dtype:8} {name:28} {seconds * 1e3:10.3f} {ratio:7.2f}")
    print("ratio: against eager for the MLP rows, against torch.mm for the matmul rows")
    print(
        f"\niree-cpu's gap to the torch backend, and the part its matmuls explain "
        f"({MATMUL_UNITS:.2f} x the 768x768 matmul's gap):"
    )
    for dtype, gap, matmuls in gaps:
        print(f"{dtype:8} gap {gap * 1e3:8.3f} ms   matmuls {matmuls * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()

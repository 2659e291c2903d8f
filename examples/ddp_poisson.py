"""
Data-parallel training of the Poisson PINN of examples/poisson.py with
torch.distributed: `--world-size` processes on this machine (gloo backend,
loopback TCP), each sampling its own `--batch` collocation points per step.
DistributedDataParallel wraps the loss module, compiled Laplacian inside, and
averages the gradients, so every process holds the same network.

Each process compiles the Laplacian itself: a compiled operator is not
picklable. It reads the parameters by reference, so it sees DDP's initial
broadcast of rank 0's parameters and every update after.

    python examples/ddp_poisson.py [--world-size 2] [--steps 3000]
"""

from __future__ import annotations

import datetime
import os
import socket
import tempfile
import warnings

import pinn_utils
import poisson
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, args, port: int, out: str) -> None:
    torch.set_num_threads(args.threads)  # one core per process
    # The last layer's (1, 64) weight gradient, summed over the several
    # matmuls that read it, has stride 1 along its size-1 dimension (plain
    # torch does the same); DDP warns that it copies such a gradient into its
    # bucket. That copy is all it costs.
    warnings.filterwarnings("ignore", "Grad strides do not match bucket view")
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=args.world_size,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        # Another seed per process: other collocation points, and another
        # initial network, which DDP replaces by rank 0's.
        torch.manual_seed(args.seed + rank)
        u = poisson.HardBoundary()
        example = torch.rand(args.batch, poisson.DIM)
        model = DistributedDataParallel(poisson.PoissonLoss(u, example))
        optimizer, decay = pinn_utils.adam(model.parameters(), args.lr, args.steps)

        def step() -> torch.Tensor:
            optimizer.zero_grad()
            loss = model(torch.rand(args.batch, poisson.DIM))
            loss.backward()  # DDP averages the gradients over the processes
            optimizer.step()
            loss = loss.detach()
            dist.all_reduce(loss)  # for the log: the loss of all the points
            return loss / args.world_size

        x_test = poisson.held_out_points()
        u_test = poisson.exact_solution(x_test)

        def error() -> float:
            with torch.no_grad():
                return pinn_utils.relative_l2(u(x_test), u_test)

        losses = pinn_utils.train(
            step,
            args.steps,
            lambda: {"error": error()},
            decay,
            args.log_every,
            log=rank == 0,
        )
        if rank == 0:
            torch.save({"losses": losses, "error": error()}, out)
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> pinn_utils.Result:
    p = pinn_utils.parser(
        "Poisson PINN in D = 5, data parallel", "ddp_poisson", 3000, 1e-2, 256
    )
    p.add_argument("--world-size", type=int, default=2, help="processes")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.pt")
        mp.spawn(worker, args=(args, free_port(), out), nprocs=args.world_size)
        saved = torch.load(out)
    result = pinn_utils.Result(saved["losses"], saved["error"])
    title = f"Poisson, D = {poisson.DIM}, {args.world_size} processes"
    return pinn_utils.finish(result, args.plot, title)


if __name__ == "__main__":
    main()

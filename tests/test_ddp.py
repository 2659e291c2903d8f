"""
Compiled operators in the training setups of issue 12, item 4: inside a module
that DistributedDataParallel wraps, and inside a training step compiled with
torch.compile.

The loss (`Problem`) reads three compiled operators of one network: a
Laplacian, a weighted Laplacian whose learnable diagonal C is passed per call,
and a heat operator. `Problem(reference=True)` computes the same operators
with torch.func (tests/reference.py), which is what every number is checked
against (float64, 1e-10).

DDP: two processes on loopback (gloo), each given half of every batch, start
from different networks; DDP broadcasts rank 0's and averages the gradients,
which must equal the whole batch's gradient in one process, step after step.
"""

from __future__ import annotations

import datetime
import socket
import time

import pytest
import reference as ref
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import taylor_mlir as tm

DIM, WIDTH, BATCH, STEPS = 3, 8, 16, 3
HEAT = {(0,): 1.0, (1, 1): -0.5, (2, 2): -0.5}  # u_t - (u_xx + u_yy) / 2
TOL = 1e-10
DDP_TIMEOUT = 50  # seconds for both processes, start to finish


class Problem(nn.Module):
    def __init__(self, seed: int, reference: bool = False):
        super().__init__()
        torch.manual_seed(seed)
        self.u = nn.Sequential(
            nn.Linear(DIM, WIDTH), nn.Tanh(), nn.Linear(WIDTH, 1)
        ).double()
        self.log_c = nn.Parameter(0.3 * torch.randn(DIM, dtype=torch.float64))
        self.reference = reference
        if not reference:
            x = torch.rand(BATCH, DIM, dtype=torch.float64)
            self.laplacian = tm.laplacian(self.u, x)
            self.divergence = tm.weighted_laplacian(self.u, x, coefficients=self.c())
            self.heat = tm.linear_operator(self.u, x, terms=HEAT)

    def c(self) -> torch.Tensor:
        return torch.diag(self.log_c.exp())

    def operators(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.reference:
            return [
                ref.laplacian(self.u, x),
                ref.weighted_laplacian(self.u, x, self.c()),
                ref.linear_operator(self.u, x, HEAT),
            ]
        return [
            self.laplacian(x),
            self.divergence(x, coefficients=self.c()),
            self.heat(x),
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        laplacian, divergence, heat = self.operators(x)
        u = self.u(x)
        return (
            (laplacian - torch.sin(x.sum(1, keepdim=True))).pow(2).mean()
            + (divergence + u).pow(2).mean()
            + heat.pow(2).mean()
            + u.pow(2).mean()
        )


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str):
    scale = max(1.0, float(expected.abs().max()))
    error = float((actual - expected).abs().max())
    assert error <= TOL * scale, f"{what}: off by {error:.3e}"


def batches(sizes) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(n, DIM, dtype=torch.float64, generator=generator) for n in sizes]


def reference_run(xs: list[torch.Tensor]):
    """Losses and gradients of every step of SGD on the whole batches, with
    torch.func operators, from rank 0's network."""
    model = Problem(seed=0, reference=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses, gradients = [], []
    for x in xs:
        optimizer.zero_grad()
        loss = model(x)
        loss.backward()
        losses.append(loss.detach())
        gradients.append([p.grad.clone() for p in model.parameters()])
        optimizer.step()
    return model, losses, gradients


# ------------------------------------------------------------------------ DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, xs: list[torch.Tensor], out) -> None:
    torch.set_num_threads(1)  # two processes on two cores
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=DDP_TIMEOUT),
    )
    try:
        # Compiled here (not picklable); rank 1's own network is replaced by
        # rank 0's when DDP broadcasts it, which the operators must follow.
        model = DistributedDataParallel(Problem(seed=rank))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        gradients = []
        for x in xs:
            optimizer.zero_grad()
            model(x.chunk(2)[rank]).backward()
            gradients.append([p.grad.clone() for p in model.module.parameters()])
            optimizer.step()
        torch.save(gradients, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_gradients_equal_the_whole_batch_gradient(tmp_path):
    xs = batches([BATCH] * STEPS)
    context = mp.start_processes(
        _ddp_worker,
        args=(_free_port(), xs, tmp_path),
        nprocs=2,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + DDP_TIMEOUT
    while not context.join(timeout=1.0):  # raises what a worker raised
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the DDP workers did not finish in {DDP_TIMEOUT} s")
    _, _, expected = reference_run(xs)
    for rank in range(2):
        found = torch.load(tmp_path / f"rank{rank}.pt")
        for step, (g, e) in enumerate(zip(found, expected, strict=True)):
            for i, (a, b) in enumerate(zip(g, e, strict=True)):
                assert_close(a, b, f"rank {rank}, step {step}, parameter {i}")


# -------------------------------------------------------------- torch.compile


def sgd_step(model: nn.Module, optimizer, x: torch.Tensor) -> torch.Tensor:
    optimizer.zero_grad()
    loss = model(x)
    loss.backward()
    optimizer.step()
    return loss.detach()


def test_torch_compile_of_the_training_step_matches_torch_func():
    # A changed batch size recompiles with a dynamic batch (the third size
    # reuses that graph).
    xs = batches([BATCH, BATCH, 9, 5])
    model = Problem(seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    step = torch.compile(sgd_step)
    losses = [step(model, optimizer, x) for x in xs]
    expected_model, expected_losses, _ = reference_run(xs)
    for i, (a, b) in enumerate(zip(losses, expected_losses, strict=True)):
        assert_close(a, b, f"loss of step {i}")
    for (name, a), b in zip(
        model.named_parameters(), expected_model.parameters(), strict=True
    ):
        assert_close(a.detach(), b.detach(), f"{name} after {len(xs)} steps")

"""
What the PINN examples share: their command-line flags, the training loop with
a periodic log line, the relative L2 error and the loss-curve plot.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch


@dataclass
class Result:
    """What an example's `main` returns (the tests read it)."""

    losses: list[float]
    error: float
    """Relative L2 error of the trained solution on held-out points."""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def reduction(self) -> float:
        """How many times lower the loss ended than it started (the last
        twentieth of the steps, averaged: the loss of one random batch is
        noisy)."""
        tail = self.losses[-max(1, len(self.losses) // 20) :]
        return self.losses[0] / (sum(tail) / len(tail))


def parser(description: str, name: str, steps: int, lr: float, batch: int):
    """The flags every example takes, with that example's defaults."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--steps", type=int, default=steps, help="optimizer steps")
    p.add_argument("--lr", type=float, default=lr, help="the initial learning rate")
    p.add_argument("--batch", type=int, default=batch, help="collocation points")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; small networks run fastest on one",
    )
    p.add_argument(
        "--log-every", type=int, default=None, help="default: a tenth of the steps"
    )
    p.add_argument(
        "--plot",
        default=f"{name}_loss.png",
        help="where the loss curve goes (needs matplotlib); '' for none",
    )
    return p


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """torch's thread count for the block (restored after: the tests call the
    examples in their own process)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def adam(parameters, lr: float, steps: int):
    """Adam whose learning rate decays 10x over the run. The rate is a tensor,
    so a step compiled with torch.compile reads it instead of recompiling
    whenever it changes."""
    optimizer = torch.optim.Adam(parameters, lr=torch.tensor(lr))
    decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.1 ** (1 / steps))
    return optimizer, decay


def train(
    step: Callable[[], torch.Tensor],
    steps: int,
    evaluate: Callable[[], dict[str, float]],
    schedule: torch.optim.lr_scheduler.LRScheduler,
    log_every: int | None = None,
    log: bool = True,
) -> list[float]:
    """Calls `step()` (one optimizer step, returning the loss) `steps` times,
    each followed by `schedule.step()`; every `log_every` steps prints the loss
    and what `evaluate()` measures."""
    log_every = log_every or max(1, steps // 10)
    losses: list[float] = []
    start = time.perf_counter()
    for i in range(1, steps + 1):
        losses.append(float(step()))
        schedule.step()
        if log and (i == 1 or i % log_every == 0 or i == steps):
            measured = "".join(f"  {k} {v:.2e}" for k, v in evaluate().items())
            elapsed = time.perf_counter() - start
            print(
                f"step {i:>{len(str(steps))}}/{steps}  loss {losses[-1]:.3e}"
                f"{measured}  ({elapsed:.1f} s)",
                flush=True,
            )
    return losses


def relative_l2(prediction: torch.Tensor, exact: torch.Tensor) -> float:
    return float((prediction - exact).norm() / exact.norm())


def finish(result: Result, plot: str, title: str) -> Result:
    """Prints the summary line and saves the loss curve."""
    print(
        f"loss {result.losses[0]:.3e} -> {result.losses[-1]:.3e} "
        f"({result.reduction:.0f}x lower), relative L2 error {result.error:.2e}"
    )
    if plot:
        save_loss_curve(result.losses, plot, title)
    return result


def save_loss_curve(losses: list[float], path: str, title: str) -> bool:
    """A log-scale plot of the loss per step, if matplotlib is installed."""
    try:
        from matplotlib.figure import Figure  # optional: no pyplot, no GUI
    except ImportError:
        print("matplotlib is not installed: no loss plot (pip install matplotlib)")
        return False
    figure = Figure(figsize=(5, 3.5), layout="tight")
    axes = figure.subplots()
    axes.semilogy(range(1, len(losses) + 1), losses)
    axes.set(xlabel="step", ylabel="loss", title=title)
    figure.savefig(path, dpi=120)
    print(f"loss curve saved to {path}")
    return True

"""
Drawing the directions of randomized operators at call time.

A randomized group (`RandomDirections`) takes fresh directions at every call,
independent per datum: `R x N x *S` for a batch of N inputs of shape S. The
compiled program receives them as an argument, so one compiled operator serves
every draw.
"""

from __future__ import annotations

import torch

from taylor_mlir.operators.spec import RandomDirections


def _draw(
    distribution: str, shape: tuple[int, ...], generator: torch.Generator | None
) -> torch.Tensor:
    if distribution == "normal":
        return torch.randn(shape, generator=generator, dtype=torch.float64)
    # rademacher: +-1 with probability 1/2 each
    bits = torch.randint(0, 2, shape, generator=generator, dtype=torch.int64)
    return (2 * bits - 1).to(torch.float64)


def sample_directions(
    random: RandomDirections,
    batch: int,
    input_shape: tuple[int, ...],
    dtype: torch.dtype,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Directions `v = transform @ z` per block, `R x N x *input_shape`, block
    after block (the order of `RandomDirections.weights()`)."""
    per_block = []
    for transform, _ in random.blocks:
        T = torch.from_numpy(transform)  # D x m
        z = _draw(random.distribution, (random.samples, batch, T.shape[1]), generator)
        per_block.append(z @ T.T)
    directions = torch.cat(per_block)
    return directions.reshape(random.count, batch, *input_shape).to(dtype)

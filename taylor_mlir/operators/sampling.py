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
    distribution: str,
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    if distribution == "normal":
        return torch.randn(shape, generator=generator, dtype=dtype)
    # rademacher: +-1 with probability 1/2 each
    bits = torch.randint(0, 2, shape, generator=generator, dtype=dtype)
    return bits.mul_(2).sub_(1)


def sample_directions(
    random: RandomDirections,
    batch: int,
    input_shape: tuple[int, ...],
    dtype: torch.dtype,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Directions `v = transform @ z` per block, `R x N x *input_shape`, block
    after block (the order of `RandomDirections.weights()`)."""
    # Drawn in the operator's dtype (at least float32): on CPU, torch draws
    # float64 normals at a sixth of float32's rate, 2.4 ms of a 42 ms
    # stochastic Laplacian call (S = 16, N = 256, D = 50, float32).
    draw_dtype = torch.promote_types(dtype, torch.float32)
    per_block = []
    for (transform, _), identity in zip(
        random.blocks, random.identity_blocks, strict=True
    ):
        shape = (random.samples, batch, transform.shape[1])
        z = _draw(random.distribution, shape, generator, draw_dtype)
        if not identity:  # the plain Laplacian's is: v = z
            z = z @ torch.from_numpy(transform).to(draw_dtype).T  # D x m
        per_block.append(z)
    directions = per_block[0] if len(per_block) == 1 else torch.cat(per_block)
    return directions.reshape(random.count, batch, *input_shape).to(dtype)

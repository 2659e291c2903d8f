"""
Fused ops of the eager torch backend: one autograd node for what ATen would
record as many, with a derivative written by hand.

The torch backend's GraphModule (`to_fx`) is plain ATen, so torch.export and
torch.compile see every op (`TorchExecutable.graph_module`). The module that
runs eagerly (`to_fx(..., fused=True)`) calls these instead where autograd
would otherwise do more work in the backward pass than the forward needs.

`sum_of_squares(u, init)` is `init + sum_d u_d * u_d` over dimension 0, the
collapsed sum of Taylor mode (`sum_d (W u_d)^2` at every layer). As ATen calls
(`u_0 * u_0` then one `addcmul` per direction) its backward is a
`select_backward` per direction, each a zero tensor of u's full size with one
slice written, summed, plus two products per `addcmul`: on the paper MLP's
Laplacian training step (D = 50, N = 256, float64, 2 cores) that was 350 ms of
1.23 s. Its derivative is one product, `2 * grad * u_d`.
"""

from __future__ import annotations

import torch

# Sums of squares over at most this many directions run as an addcmul chain
# (`u_0 * u_0`, then an addcmul per direction); more would be as many ATen
# calls, and are one product and one sum.
MAX_ADDCMUL_CHAIN = 16


def _sum_of_squares(u: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
    if u.shape[0] > MAX_ADDCMUL_CHAIN:
        total = torch.sum(u * u, 0)
        return total if init is None else total + init
    first = u[0]
    if init is None:
        total = first * first
    else:
        total = torch.addcmul(init, first, first)
    # In place: total is ours (no autograd inside forward) and no per-direction
    # temporaries; out of place under vmap, which has no in-place addcmul rule.
    in_place = not _is_batched(total)
    for row in u[1:]:
        total = total.addcmul_(row, row) if in_place else total.addcmul(row, row)
    return total


def _is_batched(tensor: torch.Tensor) -> bool:
    return torch._C._functorch.is_batchedtensor(tensor)


class SumOfSquares(torch.autograd.Function):
    """`init + sum_d u_d * u_d` (init may be None) with the derivative
    `2 * grad * u`, forward-mode `init' + 2 sum_d u_d u'_d`, and a generated
    vmap rule, so torch.func transforms of a compiled program still work."""

    generate_vmap_rule = True

    @staticmethod
    def forward(u: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
        return _sum_of_squares(u, init)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        u, init = inputs
        ctx.save_for_backward(u)
        ctx.save_for_forward(u)
        ctx.has_init = init is not None

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        grad_u = u * (2 * grad) if ctx.needs_input_grad[0] else None
        return grad_u, (grad if ctx.has_init else None)

    @staticmethod
    def jvp(ctx, u_tangent, init_tangent):
        (u,) = ctx.saved_tensors
        tangent = 2 * torch.sum(u * u_tangent, 0)
        return tangent if init_tangent is None else tangent + init_tangent


def sum_of_squares(u: torch.Tensor, init: torch.Tensor | None = None) -> torch.Tensor:
    """`init + sum_d u_d * u_d` over dimension 0 of u, one autograd node."""
    return SumOfSquares.apply(u, init)

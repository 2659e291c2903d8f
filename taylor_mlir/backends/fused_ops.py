"""
Fused ops of the eager torch backend: one autograd node for what ATen would
record as several, with a derivative written by hand.

The torch backend's GraphModule (`to_fx`) is plain ATen, so torch.export and
torch.compile see every op (`TorchExecutable.graph_module`). The module that
runs eagerly (`eager_module`: that graph rewritten) calls these instead where
autograd would otherwise do more work in the backward pass than the forward
needs.

- `sum_of_squares(u, init)` is `init + sum_d u_d * u_d` over dimension 0: the
  collapsed sum of Taylor mode (`sum_d (W u_d)^2` at every layer). As ATen
  calls (`u_0 * u_0` then one `addcmul` per direction) its backward is a
  `select_backward` per direction, each a zero tensor of u's full size with
  one slice written, summed, plus two products per `addcmul`: on the paper
  MLP's Laplacian training step (D = 50, N = 256, float64, 2 cores) that was
  350 ms of 1.23 s. Its derivative is one product, `2 * grad * u_d`.
- `scale_and_sum_of_squares(z, s, init)` is `(s * z, init + sum_d z_d^2)`, `s`
  broadcast over the directions: a layer's tangents `s'(a) * z_d` and the sum
  of their squares read the same `z`. One node gives `z` one gradient,
  `s * g_u + 2 z g_total`, where autograd adds two (`fuse_scaled_sums` finds
  the pair in an emitted graph).
- `scale_sum_and_matmul(z, s, init, shape, w)` is `(reshape(s * z, shape) @ w,
  init + sum_d z_d^2)`: that pair and the next layer's matmul, the scaled
  tangents' only reader (`fuse_scaled_matmuls`). Autograd then keeps z
  (which the pair keeps anyway), not `s * z` for the weight's gradient: the
  backward recomputes it, one elementwise pass. A differentiable call of the
  paper MLP's Laplacian keeps 297 instead of 422 MiB (f64, N = 256).
- `product_matmul(x, y, shape, w)` is `reshape(x * y, shape) @ w` keeping x
  and y (which the product's backward keeps anyway), not `x * y`: the first
  layer's tangents, `s'` times a block of the weight's columns, both
  broadcast views of small tensors (`fuse_product_matmuls`).

Peepholes (plain ATen ops, any derivative): `factor_scaled_sums` writes a
collapsed second-order update `s'' total + s' q` as `s' (q + k t total)`,
`fuse_multiply_adds` a product and a sum as `addcmul` (tanh's `1 - t^2` too,
rounded once), `fuse_bias_matmuls` a matmul and its bias as `addmm`: fewer
passes over a layer's tensors, which on small networks are the time.

When no derivative can read their inputs (no grad needed, no forward-mode
tangent, no torch.func transform), both are plain ATen calls, with no autograd
node; `scale_and_sum_of_squares` then writes `s * z` over z when the graph
says z is a matmul's result only it reads (`overwrite=True`).
"""

from __future__ import annotations

import operator

import torch
import torch.fx
from torch._functorch.utils import unwrap_dead_wrappers

aten = torch.ops.aten

# Sums over at most this many directions run as a chain of addcmuls (the first
# product, then one addcmul per direction, in place): each pass reads one
# direction and the running total, and `a * b` is never materialized (paper
# MLP Laplacian, N = 256, blocks of 5, 2 cores: 0.92 (f32) / 0.95 (f64) of the
# time of a product and a sum; `einsum("i...,i...->...")` was slower in f32).
# More would be as many ATen calls, and are one product and one sum, unless
# each direction's slice has at least `LONG_CHAIN_SLICE` elements, where a
# call's overhead is small against its pass. Paper MLP Laplacian (D = 50, 2
# cores, AMD EPYC Zen 4, one process, interleaved), chaining every direction
# against only up to 16: N = 64, f64 blocks of 25, 0.94x per call; N = 16
# (untiled, 12288-element slices) 0.99x (f64) / 0.94x (f32); N = 1 (768
# elements) 1.04x (f64) / 1.12x (f32), so not there.
MAX_ADDCMUL_CHAIN = 16
LONG_CHAIN_SLICE = 4096


def _sum_of_products(
    a: torch.Tensor, b: torch.Tensor, init: torch.Tensor | None = None
) -> torch.Tensor:
    """`init + sum_d a_d * b_d` over dimension 0, without materializing a * b."""
    if not _chains(a):
        total = torch.sum(a * b, 0)
        return total if init is None else total + init
    a_rows = a.unbind(0)
    b_rows = a_rows if b is a else b.unbind(0)
    total = (
        a_rows[0] * b_rows[0]
        if init is None
        else torch.addcmul(init, a_rows[0], b_rows[0])
    )
    # In place: total is ours (no autograd inside forward or a first-order
    # backward); out of place under vmap, which has no in-place addcmul rule,
    # and when the backward itself is differentiated.
    in_place = not _is_batched(total) and not torch.is_grad_enabled()
    for a_d, b_d in zip(a_rows[1:], b_rows[1:], strict=True):
        total = total.addcmul_(a_d, b_d) if in_place else total.addcmul(a_d, b_d)
    return total


def _chains(a: torch.Tensor) -> bool:
    """Whether a sum over a's dimension 0 runs as a chain of addcmuls."""
    directions = a.shape[0]
    if directions == 0:
        return False
    return directions <= MAX_ADDCMUL_CHAIN or a.numel() >= LONG_CHAIN_SLICE * directions


def _is_batched(tensor: torch.Tensor) -> bool:
    return torch._C._functorch.is_batchedtensor(tensor)


def _add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return b if a is None else a if b is None else a + b


def _tangent(tangent: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """Forward mode wants a tangent for every output: zeros where no input
    with a tangent reaches it."""
    return torch.zeros_like(like) if tangent is None else tangent


class SumOfSquares(torch.autograd.Function):
    """`init + sum_d u_d * u_d` (init may be None) with the derivative
    `2 * grad * u`, forward-mode `init' + 2 sum_d u_d u'_d`, and a generated
    vmap rule, so torch.func transforms of a compiled program still work."""

    generate_vmap_rule = True

    @staticmethod
    def forward(u: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
        return _sum_of_products(u, u, init)

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
        total = None if u_tangent is None else 2 * _sum_of_products(u, u_tangent)
        return _tangent(_add(total, init_tangent), u[0])


def sum_of_squares(u: torch.Tensor, init: torch.Tensor | None = None) -> torch.Tensor:
    """`init + sum_d u_d * u_d` over dimension 0 of u, one autograd node."""
    if not _derivatives_need(u, init):
        with torch.no_grad():  # nothing to record: the total may be added in place
            return _sum_of_products(u, u, init)
    return _apply(SumOfSquares, u, init)


class ScaleAndSumOfSquares(torch.autograd.Function):
    """`(s * z, init + sum_d z_d^2)` for z of shape (R, *S) and s of shape S.
    Backward: `g_z = s g_u + 2 z g_total`, `g_s = sum_d g_u,d z_d`,
    `g_init = g_total`; forward mode and vmap as `SumOfSquares`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z: torch.Tensor, scale: torch.Tensor, init: torch.Tensor | None):
        # The sum first: it reads z while the matmul that wrote z left it in
        # cache (paper MLP block, f32: 0.47 against 0.75 ms after the matmul).
        total = _sum_of_products(z, z, init)
        return scale * z, total

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        z, scale, init = inputs
        ctx.save_for_backward(z, scale)
        ctx.save_for_forward(z, scale)
        ctx.has_init = init is not None
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(
        ctx, grad_scaled: torch.Tensor | None, grad_total: torch.Tensor | None
    ):
        z, scale = ctx.saved_tensors
        grad_z, grad_scale = _scaled_sum_backward(
            ctx.needs_input_grad[:2], z, scale, grad_scaled, grad_total
        )
        grad_init = grad_total if ctx.has_init else None
        return grad_z, grad_scale, grad_init

    @staticmethod
    def jvp(ctx, z_tangent, scale_tangent, init_tangent):
        z, scale = ctx.saved_tensors
        scaled, total = _scaled_sum_jvp(
            z, scale, z_tangent, scale_tangent, init_tangent
        )
        return _tangent(scaled, z), _tangent(total, z[0])


def _scaled_sum_backward(
    needs: tuple[bool, bool],
    z: torch.Tensor,
    scale: torch.Tensor,
    grad_scaled: torch.Tensor | None,
    grad_total: torch.Tensor | None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The gradients of z and s from those of `s * z` and `init + sum_d z_d^2`:
    `g_z = s g_u + 2 z g_total` (one tensor, added in place) and
    `g_s = sum_d g_u,d z_d`."""
    grad_z = grad_scale = None
    if needs[0]:
        if grad_scaled is not None:
            grad_z = grad_scaled * scale
        if grad_total is not None:
            twice = 2 * grad_total
            if grad_z is None:
                grad_z = z * twice
            elif torch.is_grad_enabled():  # differentiated: no in-place
                grad_z = torch.addcmul(grad_z, z, twice)
            else:
                grad_z.addcmul_(z, twice)
    if needs[1] and grad_scaled is not None:
        grad_scale = _sum_of_products(grad_scaled, z)
    return grad_z, grad_scale


def _scaled_sum_jvp(z, scale, z_tangent, scale_tangent, init_tangent):
    """Forward mode of `(s * z, init + sum_d z_d^2)`: the tangents of both
    (None where no input tangent reaches them)."""
    scaled = None if z_tangent is None else scale * z_tangent
    if scale_tangent is not None:
        scaled = _add(scaled, scale_tangent * z)
    total = None if z_tangent is None else 2 * _sum_of_products(z, z_tangent)
    return scaled, _add(total, init_tangent)


def scale_and_sum_of_squares(
    z: torch.Tensor,
    scale: torch.Tensor,
    init: torch.Tensor | None = None,
    overwrite: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(scale * z, init + sum_d z_d^2)`, scale broadcast over dimension 0.

    `overwrite=True` says nothing else reads z (a matmul's result only this
    op uses): when no derivative will need z either, the scaled tangents are
    written over z, one pass fewer than into a new tensor."""
    if not _derivatives_need(z, scale, init):
        with torch.no_grad():  # nothing to record: the total may be added in place
            total = _sum_of_products(z, z, init)
            return (z.mul_(scale) if overwrite else scale * z), total
    return _apply(ScaleAndSumOfSquares, z, scale, init)


class ScaleSumAndMatmul(torch.autograd.Function):
    """`(reshape(s * z, shape) @ w, init + sum_d z_d^2)`, saving z, s and w:
    the backward recomputes `s * z` for w's gradient instead of autograd
    keeping it. Forward mode and vmap as `ScaleAndSumOfSquares`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z, scale, init, shape, weight):
        total = _sum_of_products(z, z, init)  # first: z is in cache (see above)
        return torch.mm((scale * z).reshape(shape), weight), total

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        z, scale, init, shape, weight = inputs
        ctx.save_for_backward(z, scale, weight)
        ctx.save_for_forward(z, scale, weight)
        ctx.has_init = init is not None
        ctx.shape = shape
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad_product: torch.Tensor | None, grad_total):
        z, scale, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad_scaled = grad_weight = None
        if grad_product is not None and (needs[0] or needs[1]):
            grad_scaled = torch.mm(grad_product, weight.t()).reshape(z.shape)
        grad_z, grad_scale = _scaled_sum_backward(
            needs[:2], z, scale, grad_scaled, grad_total
        )
        if grad_product is not None and needs[4]:
            # recomputed, not kept: into grad_scaled, which is read by now
            scaled = _product_into(scale, z, grad_scaled).reshape(ctx.shape)
            grad_weight = torch.mm(scaled.t(), grad_product)
        grad_init = grad_total if ctx.has_init else None
        return grad_z, grad_scale, grad_init, None, grad_weight

    @staticmethod
    def jvp(ctx, z_tangent, scale_tangent, init_tangent, _shape, weight_tangent):
        z, scale, weight = ctx.saved_tensors
        scaled, total = _scaled_sum_jvp(
            z, scale, z_tangent, scale_tangent, init_tangent
        )
        product = None
        if scaled is not None:
            product = torch.mm(scaled.reshape(ctx.shape), weight)
        if weight_tangent is not None:
            plain = (scale * z).reshape(ctx.shape)
            product = _add(product, torch.mm(plain, weight_tangent))
        if product is None:  # only init has a tangent
            product = z.new_zeros(z.numel() // weight.shape[0], weight.shape[1])
        return product, _tangent(total, z[0])


class ProductMatmul(torch.autograd.Function):
    """`reshape(x * y, shape) @ w` (x, y broadcast), saving x, y and w: the
    backward recomputes `x * y` for w's gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, shape, weight):
        return torch.mm((x * y).reshape(shape), weight)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, y, shape, weight = inputs
        ctx.save_for_backward(x, y, weight)
        ctx.save_for_forward(x, y, weight)
        ctx.shape = shape

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, y, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad_x = grad_y = grad_weight = grad_product = None
        if needs[0] or needs[1]:
            grad_product = torch.mm(grad, weight.t()).reshape(
                torch.broadcast_shapes(x.shape, y.shape)
            )
            if needs[0]:
                grad_x = (grad_product * y).sum_to_size(x.shape)
            if needs[1]:
                grad_y = (grad_product * x).sum_to_size(y.shape)
        if needs[3]:
            product = _product_into(x, y, grad_product)  # recomputed, not kept
            grad_weight = torch.mm(product.reshape(ctx.shape).t(), grad)
        return grad_x, grad_y, None, grad_weight

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent, _shape, weight_tangent):
        x, y, weight = ctx.saved_tensors
        product = None
        if x_tangent is not None:
            product = x_tangent * y
        if y_tangent is not None:
            product = _add(product, x * y_tangent)
        out = None if product is None else torch.mm(product.reshape(ctx.shape), weight)
        if weight_tangent is not None:
            plain = (x * y).reshape(ctx.shape)
            out = _add(out, torch.mm(plain, weight_tangent))
        return out


def _product_into(
    a: torch.Tensor, b: torch.Tensor, spent: torch.Tensor | None
) -> torch.Tensor:
    """`a * b`, written into `spent` (a tensor of the product's shape that
    this backward made and no longer reads) unless the backward is itself
    differentiated: no fresh block-sized allocation per node."""
    if (
        spent is None
        or torch.is_grad_enabled()
        or torch._C._functorch.is_functorch_wrapped_tensor(spent)
    ):
        return a * b
    return torch.mul(a, b, out=spent)


def product_matmul(
    x: torch.Tensor, y: torch.Tensor, shape: list[int], weight: torch.Tensor
) -> torch.Tensor:
    """`reshape(x * y, shape) @ weight`, one autograd node that does not keep
    `x * y`."""
    if not _derivatives_need(x, y, weight):
        return torch.mm((x * y).reshape(shape), weight)
    return _apply(ProductMatmul, x, y, shape, weight)


def scale_sum_and_matmul(
    z: torch.Tensor,
    scale: torch.Tensor,
    init: torch.Tensor | None,
    shape: list[int],
    weight: torch.Tensor,
    overwrite: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(reshape(scale * z, shape) @ weight, init + sum_d z_d^2)`, one
    autograd node that does not keep `scale * z` (`overwrite` as in
    `scale_and_sum_of_squares`)."""
    if not _derivatives_need(z, scale, init, weight):
        scaled, total = scale_and_sum_of_squares(z, scale, init, overwrite)
        return torch.mm(scaled.reshape(shape), weight), total
    return _apply(ScaleSumAndMatmul, z, scale, init, shape, weight)


def _apply(function: type[torch.autograd.Function], *args: torch.Tensor | None):
    """`function.apply(*args)` with every argument given positionally:
    outside torch.func transforms, without `Function.apply`'s binding of the
    arguments to `forward`'s signature (`inspect.signature` at every call: a
    third of the fused ops' cost in a small batch)."""
    if torch._C._are_functorch_transforms_active():
        return function.apply(*args)
    # What Function.apply does next: unwrap tensors a finished transform left.
    args = unwrap_dead_wrappers(args)
    return super(torch.autograd.Function, function).apply(*args)


def _derivatives_need(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd, forward mode or a torch.func transform may read these
    tensors' values later (then none may be overwritten)."""
    present = [t for t in tensors if t is not None]
    if torch.is_grad_enabled() and any(t.requires_grad for t in present):
        return True
    return any(
        torch._C._functorch.is_functorch_wrapped_tensor(t)
        or torch.autograd.forward_ad.unpack_dual(t).tangent is not None
        for t in present
    )


def eager_module(traced: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """The module eager calls run: a copy of the emitted ATen graph (reading
    the same constants) with the fused ops put in by the rewrites below."""
    graph = torch.fx.Graph()
    graph.output(graph.graph_copy(traced.graph, {}))
    fuse_sums_of_squares(graph)
    add_running_totals(graph)
    fuse_scaled_sums(graph)
    fuse_scaled_matmuls(graph)
    fuse_product_matmuls(graph)
    factor_scaled_sums(graph)
    fuse_multiply_adds(graph)
    fuse_bias_matmuls(graph)
    read_sizes_as_methods(graph)  # last: the fusions match emitted size reads
    graph.eliminate_dead_code()
    graph.lint()
    return torch.fx.GraphModule(traced, graph, class_name=type(traced).__name__)


def read_sizes_as_methods(graph: torch.fx.Graph) -> None:
    """`aten.sym_size.int(t, d)` -> `t.size(d)`: the same size, but one that
    torch.func.vmap can read from a batched tensor (the ATen op has no
    batching rule, so `vmap(op)` of a compiled operator failed)."""
    for node in list(graph.nodes):
        if node.target is aten.sym_size.int:
            with graph.inserting_before(node):
                size = graph.call_method("size", node.args, node.kwargs)
            node.replace_all_uses_with(size)
            graph.erase_node(node)


def fuse_sums_of_squares(graph: torch.fx.Graph) -> None:
    """`sum(mul(u, u), [0])` -> `sum_of_squares(u)` when nothing else reads
    the product (the emitter reads sizes from u, not from the product), so
    `u * u` is never materialized."""
    for total in list(graph.nodes):
        if total.target is not aten.sum.dim_IntList or list(total.args[1:]) != [[0]]:
            continue
        product = total.args[0]
        if (
            product.target is aten.mul.Tensor
            and product.args[0] is product.args[1]
            and len(product.users) == 1
        ):
            with graph.inserting_before(total):
                fused = graph.call_function(sum_of_squares, (product.args[0], None))
            total.replace_all_uses_with(fused)
            graph.erase_node(total)
            graph.erase_node(product)


def add_running_totals(graph: torch.fx.Graph) -> None:
    """`add(a, sum_of_squares(u))` -> `sum_of_squares(u, a)` when nothing else
    reads the sum: the running total over blocks of directions
    (`tile-directions`) is added by the fused op's first pass. (An emitted
    `add.Tensor` adds operands of one type: arith.addf, or a reduce's or
    matmul's accumulator.) The sum emitted last is the one fused, so no
    block's u outlives it."""
    for add in list(graph.nodes):
        if add.target is not aten.add.Tensor or len(add.args) != 2:
            continue
        pairs = sorted([add.args, add.args[::-1]], key=lambda p: p[0] is not add.prev)
        for total, init in pairs:
            if (
                isinstance(total, torch.fx.Node)
                and total.target is sum_of_squares
                and total.args[1] is None
                and len(total.users) == 1
                and isinstance(init, torch.fx.Node)
            ):
                with graph.inserting_before(add):
                    fused = graph.call_function(sum_of_squares, (total.args[0], init))
                add.replace_all_uses_with(fused)
                graph.erase_node(add)
                graph.erase_node(total)
                break


def fuse_scaled_sums(graph: torch.fx.Graph) -> None:
    """`mul(expand(s, [R, -1, ...]), z)` and `sum_of_squares(z, init)` ->
    one `scale_and_sum_of_squares(z, s, init)`, placed before the first of
    the two when its inputs are defined there. The graph comes from the
    emitter: a `mul.Tensor` of two tensors is an `arith.mulf` (operands of
    one type) and an `expand` adding only dimension 0 is a `linalg.broadcast`
    of it, so `s` has z's shape without its leading dimension."""
    order = {node: i for i, node in enumerate(graph.nodes)}
    for total in list(graph.nodes):
        if total.target is not sum_of_squares:
            continue
        z, init = total.args
        scaled = next(
            (user for user in z.users if (s := _scale_of(user, z)) is not None), None
        )
        if scaled is None:
            continue
        s = _scale_of(scaled, z)
        first = min(scaled, total, key=order.__getitem__)
        inputs = [n for n in (z, s, init) if isinstance(n, torch.fx.Node)]
        if any(order[n] >= order[first] for n in inputs):
            continue
        overwrite = _is_private_temporary(z, readers={scaled, total})
        with graph.inserting_before(first):
            both = graph.call_function(
                scale_and_sum_of_squares, (z, s, init), {"overwrite": overwrite}
            )
            new_scaled = graph.call_function(operator.getitem, (both, 0))
            new_total = graph.call_function(operator.getitem, (both, 1))
        for node in (both, new_scaled, new_total):
            order[node] = order[first]
        scaled.replace_all_uses_with(new_scaled)
        total.replace_all_uses_with(new_total)
        expand = scaled.args[0] if scaled.args[1] is z else scaled.args[1]
        graph.erase_node(scaled)
        graph.erase_node(total)
        if not expand.users:
            graph.erase_node(expand)


def fuse_scaled_matmuls(graph: torch.fx.Graph) -> None:
    """`mm(reshape(scale_and_sum_of_squares(z, s, init)[0], shape), w)` ->
    `scale_sum_and_matmul(z, s, init, shape, w)[0]` (and its `[1]` for the
    total) when the matmul is the scaled tangents' only reader: the layer
    after an activation, in every block of directions. The fused node goes
    where the pair was when w is defined there, else where the matmul was
    when no reader of the total comes before it."""
    order = {node: i for i, node in enumerate(graph.nodes)}
    for pair in list(graph.nodes):
        if pair.target is not scale_and_sum_of_squares:
            continue
        outputs = {user.args[1]: user for user in pair.users}
        scaled, total = outputs.get(0), outputs.get(1)
        if scaled is None or len(pair.users) != len(outputs):
            continue
        if (found := _sole_matmul_of(scaled)) is None:
            continue
        reshape, matmul = found
        weight = matmul.args[1]
        if order[weight] < order[pair]:
            place = pair
        elif total is None or all(order[u] > order[matmul] for u in total.users):
            place = matmul
        else:
            continue
        z, s, init = pair.args
        with graph.inserting_before(place):
            fused = graph.call_function(
                scale_sum_and_matmul,
                (z, s, init, reshape.args[1], weight),
                dict(pair.kwargs),
            )
            product = graph.call_function(operator.getitem, (fused, 0))
            new_total = graph.call_function(operator.getitem, (fused, 1))
        for node in (fused, product, new_total):
            order[node] = order[place]
        matmul.replace_all_uses_with(product)
        if total is not None:
            total.replace_all_uses_with(new_total)
        for node in (matmul, reshape, scaled, total, pair):
            if node is not None:
                graph.erase_node(node)


def fuse_product_matmuls(graph: torch.fx.Graph) -> None:
    """`mm(reshape(mul(x, y), shape), w)` -> `product_matmul(x, y, shape, w)`
    when the product of two tensors has no other reader (placed where the
    matmul was: every input is defined by then)."""
    for product in list(graph.nodes):
        if product.target is not aten.mul.Tensor or len(product.args) != 2:
            continue
        x, y = product.args
        if not (isinstance(x, torch.fx.Node) and isinstance(y, torch.fx.Node)):
            continue
        if (found := _sole_matmul_of(product)) is None:
            continue
        reshape, matmul = found
        with graph.inserting_before(matmul):
            fused = graph.call_function(
                product_matmul, (x, y, reshape.args[1], matmul.args[1])
            )
        matmul.replace_all_uses_with(fused)
        for node in (matmul, reshape, product):
            graph.erase_node(node)


# ---------------------------------------------------------------- peepholes
# One ATen kernel for what the emitter writes as several elementwise passes
# over a layer's (N, H) tensors. On a small PINN (D = 2, 4 tanh layers of 64,
# N = 4096, f32, 2 cores) these passes, not the matmuls, are the program's
# time: per layer 1.77 ms as emitted, 0.93 ms with the four rewrites below.
# The emitter's add.Tensor and mul.Tensor take operands of one shape
# (arith.addf / arith.mulf), so the fused ops broadcast nothing new.


def factor_scaled_sums(graph: torch.fx.Graph) -> None:
    """`add(mul(mul(mul(t, k), s), total), mul(s, q))` -> `mul(s, addcmul(q,
    t, total, value=k))`: a collapsed second-order update `s'' total + s' q`
    whose `s'' = (k t) s'` (a polynomial's derivative, dialects/elementwise.py)
    is read nowhere else, as `s' (q + k t total)`: two passes instead of five
    (rounding differs by distributivity only)."""
    for add in list(graph.nodes):
        if add.target is not aten.add.Tensor or len(add.args) != 2:
            continue
        for scaled, plain in (add.args, add.args[::-1]):
            match = _scaled_sum_terms(scaled, plain)
            if match is None:
                continue
            t, k, total, s, q = match
            with graph.inserting_before(add):
                inner = graph.call_function(
                    aten.addcmul.default, (q, t, total), {"value": k}
                )
                fused = graph.call_function(aten.mul.Tensor, (s, inner))
            add.replace_all_uses_with(fused)
            graph.erase_node(add)
            _erase_unused(graph, scaled, plain)
            break


def _scaled_sum_terms(scaled, plain):
    """`(t, k, total, s, q)` when scaled is `mul(mul(mul(t, k), s), total)`
    and plain `mul(s, q)` (either operand order), each product read once."""
    if not (
        _single_use_call(scaled, aten.mul.Tensor)
        and _single_use_call(plain, aten.mul.Tensor)
    ):
        return None
    for second, total in (scaled.args, scaled.args[::-1]):
        if not _single_use_call(second, aten.mul.Tensor):
            continue
        for factor, s in (second.args, second.args[::-1]):
            if not (
                _single_use_call(factor, aten.mul.Scalar)
                and isinstance(factor.args[0], torch.fx.Node)
                and isinstance(factor.args[1], float | int)
            ):
                continue
            if s in plain.args:
                q = plain.args[1] if plain.args[0] is s else plain.args[0]
                if isinstance(q, torch.fx.Node) and isinstance(total, torch.fx.Node):
                    return factor.args[0], factor.args[1], total, s, q
    return None


def fuse_multiply_adds(graph: torch.fx.Graph) -> None:
    """`add(mul(a, b), c)` -> `addcmul(c, a, b)` when only the sum reads the
    product; a scalar factor `mul(a, k)` of either operand folds in as
    `value=k`, and a number c becomes a 0-dim tensor of a's dtype and device.

    So tanh's `1 - t^2`, emitted as `(t * -1) * t + 1`, is one kernel,
    `addcmul(1, t, t, value=-1)`. Where ATen's addcmul kernel fuses the
    multiply-add (torch 2.13's on AVX-512 does), it is rounded once: `1 - t^2`
    of f32 t within 0.5 ulp, against up to 1000 ulps near |t| = 1 with `t t`
    rounded first, which a saturated layer's s' then carried. The time is that
    of the product and the sum (tanh PINN, D = 2, 4 layers of 64, N = 4096:
    1.00x per call and per training step)."""
    for add in list(graph.nodes):
        match = _multiply_add(add)
        if match is None:
            continue
        c, a, b, value, product, scaling = match
        with graph.inserting_before(add):
            if not isinstance(c, torch.fx.Node):
                c = graph.call_function(aten.new_full.default, (a, [], float(c)))
            fused = graph.call_function(
                aten.addcmul.default,
                (c, a, b),
                {"value": value} if value != 1.0 else {},
            )
        add.replace_all_uses_with(fused)
        graph.erase_node(add)
        _erase_unused(graph, product, *scaling)


def _multiply_add(add: torch.fx.Node):
    """`(c, a, b, k, product, scalings)` where `add` is `c + k a b` as
    `add(mul(a', b'), c)` (either order of a tensor c) with `a'` or `b'`
    possibly `mul(., k)` of a number k; None otherwise."""
    if (
        add.op != "call_function"
        or add.target not in (aten.add.Tensor, aten.add.Scalar)
        or len(add.args) != 2
        or add.kwargs
    ):
        return None
    for product, c in (add.args[::-1], add.args):
        if not (
            isinstance(c, torch.fx.Node | float | int)
            and _single_use_call(product, aten.mul.Tensor)
            and all(isinstance(v, torch.fx.Node) for v in product.args)
        ):
            continue
        for a, b in (product.args, product.args[::-1]):
            if _single_use_call(a, aten.mul.Scalar) and isinstance(
                a.args[0], torch.fx.Node
            ):
                return c, a.args[0], b, float(a.args[1]), product, (a,)
        return c, *product.args, 1.0, product, ()
    return None


def fuse_bias_matmuls(graph: torch.fx.Graph) -> None:
    """`add(mm(a, w), expand(bias, sizes))` -> `addmm(bias, a, w)`: the bias
    added by the matmul, when nothing else reads the product."""
    for add in list(graph.nodes):
        if add.target is not aten.add.Tensor or len(add.args) != 2 or add.kwargs:
            continue
        for product, bias in (add.args, add.args[::-1]):
            if not (
                _single_use_call(product, aten.mm.default)
                and isinstance(bias, torch.fx.Node)
                and bias.target is aten.expand.default
            ):
                continue
            with graph.inserting_before(add):
                fused = graph.call_function(
                    aten.addmm.default, (bias.args[0], *product.args)
                )
            add.replace_all_uses_with(fused)
            graph.erase_node(add)
            _erase_unused(graph, product, bias)
            break


def _single_use_call(node: object, target) -> bool:
    """node is a call of `target` whose value one node reads."""
    return (
        isinstance(node, torch.fx.Node)
        and node.target is target
        and len(node.users) == 1
    )


def _erase_unused(graph: torch.fx.Graph, *nodes: torch.fx.Node) -> None:
    """Erases the nodes nothing reads any more, users before what they read."""
    pending = list(nodes)
    while pending:
        node = pending.pop(0)
        if node.op != "call_function" or node.users or getattr(node, "_erased", False):
            continue
        inputs = node.all_input_nodes
        graph.erase_node(node)
        pending += inputs


def _sole_matmul_of(
    node: torch.fx.Node,
) -> tuple[torch.fx.Node, torch.fx.Node] | None:
    """`(reshape, mm)` when node's only reader is a reshape whose only reader
    is a matmul taking it as its left operand."""
    reshape = _only_user(node, aten.reshape.default)
    matmul = reshape and _only_user(reshape, aten.mm.default)
    if matmul is None or matmul.args[0] is not reshape:
        return None
    return reshape, matmul


def _only_user(node: torch.fx.Node, target) -> torch.fx.Node | None:
    """node's one user when it is a call of `target`."""
    users = list(node.users)
    if len(users) == 1 and users[0].target is target:
        return users[0]
    return None


# Ops whose result is a new tensor, and views that pass such a tensor on.
_FRESH_RESULTS = (aten.mm.default, aten.addmm.default, aten.bmm.default)
_VIEWS = (aten.reshape.default, aten.view.default, aten._unsafe_view.default)
# Users that read only sizes.
_SIZE_READERS = (aten.sym_size.int,)


def _is_private_temporary(z: torch.fx.Node, readers: set[torch.fx.Node]) -> bool:
    """Whether only `readers` read z's values: z is a matmul's new result, or
    a view of one, and nothing else reads it or the matmul's result."""
    allowed = readers
    node = z
    while True:
        others = [
            u for u in node.users if u not in allowed and u.target not in _SIZE_READERS
        ]
        if others:
            return False
        if node.target in _FRESH_RESULTS:
            return True
        if node.target not in _VIEWS:
            return False
        allowed, node = {node}, node.args[0]
        if not isinstance(node, torch.fx.Node):
            return False


def _scale_of(node: torch.fx.Node, z: torch.fx.Node) -> torch.fx.Node | None:
    """s when node is `mul.Tensor(expand(s, [R, -1, ...]), z)` (either order)."""
    if node.target is not aten.mul.Tensor or len(node.args) != 2:
        return None
    other = node.args[0] if node.args[1] is z else node.args[1]
    if other is z or z not in node.args:
        return None
    if not (isinstance(other, torch.fx.Node) and other.target is aten.expand.default):
        return None
    source, sizes = other.args[0], list(other.args[1])
    if len(sizes) >= 2 and all(size == -1 for size in sizes[1:]) and sizes[0] != -1:
        return source
    return None

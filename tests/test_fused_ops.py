"""
The eager torch backend's fused ops (`taylor_mlir/backends/fused_ops.py`):
values, derivatives of every kind (backward, double backward, forward mode,
vmap) against plain torch, and where the emitter uses them: the eager module
only, never the traced `graph_module`.
"""

from __future__ import annotations

import pytest
import reference as ref
import torch
from xdsl.parser import Parser

import taylor_mlir as tm
from taylor_mlir import models
from taylor_mlir.backends import fused_ops
from taylor_mlir.backends.fused_ops import (
    LONG_CHAIN_SLICE,
    MAX_ADDCMUL_CHAIN,
    eager_module,
    product_matmul,
    scale_and_sum_of_squares,
    scale_sum_and_matmul,
    sum_of_squares,
)
from taylor_mlir.backends.torch_backend import TorchExecutable
from taylor_mlir.context import make_context

SIZES = [1, 3, MAX_ADDCMUL_CHAIN, MAX_ADDCMUL_CHAIN + 1]


def _plain(u: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
    total = (u * u).sum(0)
    return total if init is None else total + init


def _assert_transforms_agree(transforms, fused, plain) -> None:
    """Each torch.func transform of the fused op equals that of plain torch."""
    for transform in transforms:
        torch.testing.assert_close(
            transform(fused), transform(plain), rtol=1e-13, atol=1e-13
        )


@pytest.mark.parametrize("directions", SIZES)
@pytest.mark.parametrize("with_init", [False, True])
def test_values_and_derivatives_match_plain_torch(directions, with_init):
    u = torch.randn(directions, 4, 3, dtype=torch.float64, requires_grad=True)
    init = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    init_arg = init if with_init else None
    torch.testing.assert_close(
        sum_of_squares(u, init_arg), _plain(u, init_arg), rtol=1e-14, atol=0
    )
    inputs = (u, init) if with_init else (u,)

    def fused(*a):
        return sum_of_squares(a[0], a[1] if with_init else None)

    assert torch.autograd.gradcheck(fused, inputs)
    assert torch.autograd.gradgradcheck(fused, inputs)
    assert torch.autograd.gradcheck(fused, inputs, check_forward_ad=True)


@pytest.mark.parametrize("slice_elements", [LONG_CHAIN_SLICE - 1, LONG_CHAIN_SLICE])
def test_long_sums_chain_only_over_large_slices(slice_elements, monkeypatch):
    """Past MAX_ADDCMUL_CHAIN directions, a sum runs as addcmuls only when each
    direction's slice is large; either way value and gradients are those of
    plain torch (in the forward and in the backward of scale_sum_and_matmul)."""
    directions = MAX_ADDCMUL_CHAIN + 4
    calls = []
    chain = fused_ops._sum_of_products
    monkeypatch.setattr(
        fused_ops,
        "_sum_of_products",
        lambda a, b, init=None: calls.append(fused_ops._chains(a)) or chain(a, b, init),
    )
    z = torch.randn(directions, slice_elements, dtype=torch.float64, requires_grad=True)
    scale = torch.randn(slice_elements, dtype=torch.float64, requires_grad=True)
    init = torch.randn(slice_elements, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(slice_elements, 3, dtype=torch.float64, requires_grad=True)
    shape = [directions, slice_elements]
    out, total = scale_sum_and_matmul(z, scale, init, shape, weight)
    (out.sin().sum() + total.cos().sum()).backward()
    fused_grads = [t.grad for t in (z, scale, init, weight)]
    for t in (z, scale, init, weight):
        t.grad = None
    plain_out = (scale * z).reshape(shape) @ weight
    plain_total = init + (z * z).sum(0)
    (plain_out.sin().sum() + plain_total.cos().sum()).backward()
    torch.testing.assert_close(out, plain_out, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(total, plain_total, rtol=1e-13, atol=1e-13)
    plain_grads = (z.grad, scale.grad, init.grad, weight.grad)
    for fused, plain in zip(fused_grads, plain_grads, strict=True):
        torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    assert calls == [slice_elements >= LONG_CHAIN_SLICE] * 2  # forward, backward


def test_the_inputs_are_not_written():
    u = torch.randn(3, 5, dtype=torch.float64)
    init = torch.randn(5, dtype=torch.float64)
    kept_u, kept_init = u.clone(), init.clone()
    total = sum_of_squares(u, init)
    assert torch.equal(u, kept_u) and torch.equal(init, kept_init)
    assert total.data_ptr() not in (u.data_ptr(), init.data_ptr())


def test_torch_func_transforms():
    """vmap (generated rule), jvp (the hand-written forward mode) and jacrev
    of the fused op agree with the same transforms of plain torch."""
    u = torch.randn(6, 3, 4, dtype=torch.float64)
    init = torch.randn(6, 4, dtype=torch.float64)
    tangent = torch.randn_like(u)
    _assert_transforms_agree(
        (
            lambda g: torch.func.vmap(g)(u, init),
            lambda g: torch.func.jvp(g, (u[0], init[0]), (tangent[0], init[1])),
            lambda g: torch.func.jacrev(g, argnums=(0, 1))(u[0], init[0]),
        ),
        sum_of_squares,
        _plain,
    )


def _plain_scaled(z, s, init):
    return s * z, _plain(z, init)


@pytest.mark.parametrize("directions", SIZES)
@pytest.mark.parametrize("with_init", [False, True])
def test_scale_and_sum_of_squares_match_plain_torch(directions, with_init):
    z = torch.randn(directions, 4, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    init = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    inputs = (z, s, init) if with_init else (z, s)

    def fused(*a):
        return scale_and_sum_of_squares(a[0], a[1], a[2] if with_init else None)

    for got, want in zip(
        fused(*inputs), _plain_scaled(z, s, init if with_init else None), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-14, atol=0)
    assert torch.autograd.gradcheck(fused, inputs)
    assert torch.autograd.gradgradcheck(fused, inputs)
    assert torch.autograd.gradcheck(fused, inputs, check_forward_ad=True)


@pytest.mark.parametrize("used", [0, 1])
def test_scale_and_sum_of_squares_with_one_output_unused(used):
    """Autograd passes no gradient for an unused output (not zeros)."""
    z = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    s = torch.randn(5, dtype=torch.float64, requires_grad=True)
    fused = scale_and_sum_of_squares(z, s)[used].sum()
    got = torch.autograd.grad(fused, (z, s), allow_unused=True)
    plain = _plain_scaled(z, s, None)[used].sum()
    want = torch.autograd.grad(plain, (z, s), allow_unused=True)
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None
        else:
            torch.testing.assert_close(g, w, rtol=1e-14, atol=0)


def test_scale_and_sum_of_squares_under_torch_func():
    z = torch.randn(6, 3, 4, dtype=torch.float64)
    s = torch.randn(6, 4, dtype=torch.float64)
    init = torch.randn(6, 4, dtype=torch.float64)
    _assert_transforms_agree(
        (
            lambda g: torch.func.vmap(g)(z, s, init),
            lambda g: torch.func.jvp(g, (z[0], s[0], init[0]), (z[1], s[1], init[1])),
            lambda g: torch.func.jacrev(g, argnums=(0, 1, 2))(z[0], s[0], init[0]),
        ),
        scale_and_sum_of_squares,
        _plain_scaled,
    )


def test_no_autograd_node_when_nothing_needs_a_derivative():
    """Without inputs requiring grad (or under no_grad) the fused ops are plain
    ATen calls; with them, one node of the fused op."""
    z = torch.randn(3, 4, 5, dtype=torch.float64)
    s = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert sum_of_squares(z).grad_fn is None
    assert scale_and_sum_of_squares(z, s.detach())[0].grad_fn is None
    with torch.no_grad():
        assert scale_and_sum_of_squares(z, s)[1].grad_fn is None
    u, total = scale_and_sum_of_squares(z, s)
    assert type(u.grad_fn).__name__ == "ScaleAndSumOfSquaresBackward"
    assert total.grad_fn is u.grad_fn
    torch.testing.assert_close(u, s * z, rtol=0, atol=0)


def test_overwrite_writes_over_z_only_when_no_derivative_reads_it():
    z = torch.randn(3, 4, 5, dtype=torch.float64)
    s = torch.randn(4, 5, dtype=torch.float64)
    init = torch.randn(4, 5, dtype=torch.float64)
    want = _plain_scaled(z, s, init)
    kept = z.clone()
    u, total = scale_and_sum_of_squares(z, s, init, overwrite=True)
    assert u.data_ptr() == z.data_ptr()  # nothing needs z: written over
    for got, w in zip((u, total), want, strict=True):
        torch.testing.assert_close(got, w, rtol=1e-14, atol=0)

    # z requiring grad: the backward reads z, so it is kept
    z = kept.clone().requires_grad_()
    u, total = scale_and_sum_of_squares(z, s, init, overwrite=True)
    assert torch.equal(z.detach(), kept) and u.data_ptr() != z.data_ptr()
    assert torch.autograd.gradcheck(
        lambda z: scale_and_sum_of_squares(z, s, init, overwrite=True), (z,)
    )

    # forward mode: the tangent of u reads z
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(kept.clone(), torch.ones_like(kept))
        u, total = scale_and_sum_of_squares(dual, s, init, overwrite=True)
        assert torch.equal(torch.autograd.forward_ad.unpack_dual(dual).primal, kept)
        tangent = torch.autograd.forward_ad.unpack_dual(total).tangent
    torch.testing.assert_close(tangent, 2 * kept.sum(0), rtol=1e-14, atol=0)

    # torch.func transforms wrap z
    def fused(z, s, init):
        return scale_and_sum_of_squares(z.clone(), s, init, overwrite=True)

    batch = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(
        torch.func.vmap(fused, in_dims=(0, None, None))(batch, s, init),
        torch.func.vmap(_plain_scaled, in_dims=(0, None, None))(batch, s, init),
        rtol=1e-14,
        atol=0,
    )
    torch.testing.assert_close(
        torch.func.jacrev(fused)(kept, s, init),
        torch.func.jacrev(_plain_scaled)(kept, s, init),
        rtol=1e-14,
        atol=0,
    )


def _scaled_sum_of_a_matmul(a, w, s, also_return_z: bool):
    aten = torch.ops.aten
    z = aten.reshape.default(aten.mm.default(a, w), [3, -1, 4])
    rows = aten.sym_size.int(z, 1)  # a size read is no read of z's values
    total = aten.sum.dim_IntList(aten.mul.Tensor(z, z), [0])
    u = aten.mul.Tensor(aten.expand.default(s, [3, -1, -1]), z)
    return (u, total, rows, z) if also_return_z else (u, total, rows)


@pytest.mark.parametrize("also_return_z", [False, True])
def test_eager_module_overwrites_only_a_matmul_result_nothing_else_reads(
    also_return_z,
):
    """The eager module lets the fused op write the scaled tangents over z
    when z is a view of a matmul's result that only the fused op reads; not
    when z is also returned."""
    traced = torch.fx.symbolic_trace(
        lambda a, w, s: _scaled_sum_of_a_matmul(a, w, s, also_return_z)
    )
    eager = eager_module(traced)
    (fused,) = [n for n in eager.graph.nodes if n.target is scale_and_sum_of_squares]
    assert fused.kwargs == {"overwrite": not also_return_z}
    a = torch.randn(3 * 5, 2, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    s = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    want = _scaled_sum_of_a_matmul(a, w, s, also_return_z)
    with torch.no_grad():
        got = eager(a, w, s)
    for g, x in zip(got, want, strict=True):
        torch.testing.assert_close(g, x, rtol=1e-14, atol=0)
    assert torch.autograd.gradcheck(
        lambda *t: sum(o.sum() for o in eager(*t) if isinstance(o, torch.Tensor)),
        (a, w, s),
    )


SUM_OF_SQUARES_PLUS = """
func.func @f(%u: tensor<3x?x4xf64>, %a: tensor<?x4xf64>) -> tensor<?x4xf64> {
  %q = arith.mulf %u, %u : tensor<3x?x4xf64>
  %c1 = arith.constant 1 : index
  %n = tensor.dim %u, %c1 : tensor<3x?x4xf64>
  %e = tensor.empty(%n) : tensor<?x4xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %s = linalg.reduce ins(%q : tensor<3x?x4xf64>) outs(%z : tensor<?x4xf64>) dimensions = [0]
    (%x: f64, %y: f64) {
      %t = arith.addf %x, %y : f64
      linalg.yield %t : f64
    }
  %r = arith.addf %a, %s : tensor<?x4xf64>
  func.return %r : tensor<?x4xf64>
}
"""


def test_eager_module_fuses_the_sum_and_the_running_total():
    """`a + sum_d u_d * u_d` is one fused call in the module that runs eagerly
    (`u * u` never materialized); the traced `graph_module` stays ATen: the
    product and the sum, which an operator of this program (torch.export)
    differentiates as two ops, not one per direction."""
    module = Parser(make_context(), SUM_OF_SQUARES_PLUS).parse_module()
    executable = TorchExecutable(module, "f")
    eager = [n.target for n in executable._run.graph.nodes]
    traced = [n.target for n in executable.graph_module.graph.nodes]
    assert eager.count(sum_of_squares) == 1
    assert torch.ops.aten.add.Tensor not in eager
    assert sum_of_squares not in traced
    assert traced.count(torch.ops.aten.mul.Tensor) == 1
    assert traced.count(torch.ops.aten.sum.dim_IntList) == 1
    assert all(
        isinstance(t, torch._ops.OpOverload) or t in ("output", "placeholder")
        for n, t in zip(executable.graph_module.graph.nodes, traced, strict=True)
        if n.op == "call_function"
    )
    u = torch.rand(3, 5, 4, dtype=torch.float64, requires_grad=True)
    a = torch.rand(5, 4, dtype=torch.float64, requires_grad=True)
    (r,) = executable(u, a)
    torch.testing.assert_close(r, _plain(u, a), rtol=1e-14, atol=0)
    assert torch.autograd.gradcheck(lambda *t: executable(*t)[0], (u, a))


def test_laplacian_training_gradients_with_the_fused_op():
    """The tiled Laplacian (blocks of directions, each block's sum fused with
    the running total) gives torch.func's loss gradients, on a batch large
    enough to tile."""
    torch.manual_seed(0)
    f = models.mlp([12, 48, 48, 48, 1], "tanh").double()
    x = torch.rand(256, 12, dtype=torch.float64)
    op = tm.laplacian(f, x)
    targets = [n.target for n in op._executable._run.graph.nodes]
    assert sum_of_squares in targets  # the first layer's (no scale after it)
    # every scaled sum feeds the next layer's matmul: fused with it
    assert scale_sum_and_matmul in targets
    assert scale_and_sum_of_squares not in targets
    loss = op(x).square().mean()
    grads = torch.autograd.grad(loss, list(f.parameters()), allow_unused=True)
    reference = ref.laplacian(f, x)
    with torch.no_grad():  # the fused ops' no-autograd path, tangents in place
        torch.testing.assert_close(op(x), reference, rtol=1e-10, atol=1e-12)
    expected = torch.autograd.grad(
        reference.square().mean(), list(f.parameters()), allow_unused=True
    )
    for got, want in zip(grads, expected, strict=True):
        if want is None:
            assert got is None or not got.abs().max()
        else:
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


SCALED_SUM = """
func.func @f(%z: tensor<3x?x4xf64>, %s: tensor<?x4xf64>) -> (tensor<3x?x4xf64>, tensor<?x4xf64>) {
  %c1 = arith.constant 1 : index
  %n = tensor.dim %z, %c1 : tensor<3x?x4xf64>
  %e3 = tensor.empty(%n) : tensor<3x?x4xf64>
  %b = linalg.broadcast ins(%s : tensor<?x4xf64>) outs(%e3 : tensor<3x?x4xf64>) dimensions = [0]
  %u = arith.mulf %b, %z : tensor<3x?x4xf64>
  %q = arith.mulf %z, %z : tensor<3x?x4xf64>
  %e = tensor.empty(%n) : tensor<?x4xf64>
  %zero = arith.constant 0.0 : f64
  %f = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %t = linalg.reduce ins(%q : tensor<3x?x4xf64>) outs(%f : tensor<?x4xf64>) dimensions = [0]
    (%x: f64, %y: f64) {
      %a = arith.addf %x, %y : f64
      linalg.yield %a : f64
    }
  func.return %u, %t : tensor<3x?x4xf64>, tensor<?x4xf64>
}
"""


def test_scaled_tangents_and_their_sum_of_squares_are_one_node():
    """A broadcast scale times z and the sum of z's squares become one
    `scale_and_sum_of_squares` in the eager module (the broadcast is gone);
    values and gradients are those of the plain graph."""
    module = Parser(make_context(), SCALED_SUM).parse_module()
    executable = TorchExecutable(module, "f")
    eager = [n.target for n in executable._run.graph.nodes]
    assert eager.count(scale_and_sum_of_squares) == 1
    assert sum_of_squares not in eager
    assert torch.ops.aten.expand.default not in eager
    z = torch.rand(3, 5, 4, dtype=torch.float64, requires_grad=True)
    s = torch.rand(5, 4, dtype=torch.float64, requires_grad=True)
    u, t = executable(z, s)
    want_u, want_t = executable.graph_module(z, s)
    torch.testing.assert_close(u, want_u, rtol=1e-14, atol=0)
    torch.testing.assert_close(t, want_t, rtol=1e-14, atol=0)
    assert torch.autograd.gradcheck(
        lambda *a: sum(o.sum() for o in executable(*a)), (z, s)
    )


@pytest.mark.parametrize("example_batch", [2, 256])  # untiled, tiled
def test_vmap_of_a_compiled_operator(example_batch):
    """torch.func.vmap over a compiled operator (point sets stacked on a new
    leading axis): the eager module reads sizes as `Tensor.size`, which vmap
    batches (`aten.sym_size.int` has no batching rule)."""
    torch.manual_seed(0)
    f = models.mlp([12, 48, 48, 1], "tanh").double()
    op = tm.laplacian(f, torch.rand(example_batch, 12, dtype=torch.float64))
    targets = [n.target for n in op._executable._run.graph.nodes]
    assert torch.ops.aten.sym_size.int not in targets
    stacked = torch.rand(3, 7, 12, dtype=torch.float64)
    want = torch.stack([ref.laplacian(f, x) for x in stacked])
    torch.testing.assert_close(
        torch.func.vmap(op)(stacked), want, rtol=1e-10, atol=1e-12
    )


def _plain_scaled_matmul(z, s, init, w):
    return (s * z).reshape(-1, z.shape[-1]) @ w, _plain(z, init)


@pytest.mark.parametrize("directions", SIZES)
@pytest.mark.parametrize("with_init", [False, True])
def test_scale_sum_and_matmul_match_plain_torch(directions, with_init):
    z = torch.randn(directions, 4, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    init = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    inputs = (z, s, w, init) if with_init else (z, s, w)

    def fused(z, s, w, init=None):
        return scale_sum_and_matmul(z, s, init, [-1, 3], w)

    for got, want in zip(
        fused(*inputs),
        _plain_scaled_matmul(z, s, init if with_init else None, w),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-15)
    assert torch.autograd.gradcheck(fused, inputs)
    assert torch.autograd.gradgradcheck(fused, inputs)
    assert torch.autograd.gradcheck(fused, inputs, check_forward_ad=True)


@pytest.mark.parametrize("used", [0, 1])
def test_scale_sum_and_matmul_with_one_output_unused(used):
    z = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    s = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    got = torch.autograd.grad(
        scale_sum_and_matmul(z, s, None, [-1, 4], w)[used].sum(),
        (z, s, w),
        allow_unused=True,
    )
    want = torch.autograd.grad(
        _plain_scaled_matmul(z, s, None, w)[used].sum(), (z, s, w), allow_unused=True
    )
    for g, x in zip(got, want, strict=True):
        if x is None:
            assert g is None
        else:
            torch.testing.assert_close(g, x, rtol=1e-14, atol=1e-15)


def test_scale_sum_and_matmul_under_torch_func():
    z = torch.randn(6, 3, 5, 4, dtype=torch.float64)
    s = torch.randn(6, 5, 4, dtype=torch.float64)
    init = torch.randn(6, 5, 4, dtype=torch.float64)
    w = torch.randn(6, 4, 2, dtype=torch.float64)

    def fused(z, s, init, w):
        return scale_sum_and_matmul(z, s, init, [-1, 4], w)

    _assert_transforms_agree(
        (
            lambda g: torch.func.vmap(g)(z, s, init, w),
            lambda g: torch.func.jvp(
                g, (z[0], s[0], init[0], w[0]), (z[1], s[1], init[1], w[1])
            ),
            lambda g: torch.func.jvp(  # only init has a tangent
                lambda i: g(z[0], s[0], i, w[0]), (init[0],), (init[1],)
            ),
            lambda g: torch.func.jacrev(g, argnums=(0, 1, 2, 3))(
                z[0], s[0], init[0], w[0]
            ),
        ),
        fused,
        _plain_scaled_matmul,
    )


def test_scale_sum_and_matmul_keeps_no_scaled_tangents():
    """A differentiable call saves z, s and w, not `s * z`: the tensors
    autograd keeps are one z-sized tensor smaller than the plain ops'."""
    z = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    s = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)

    def saved_elements(call) -> int:
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t.numel()) or t, lambda t: t
        ):
            call()
        return sum(saved)

    fused = saved_elements(lambda: scale_sum_and_matmul(z, s, None, [-1, 4], w))
    plain = saved_elements(lambda: _plain_scaled_matmul(z, s, None, w))
    assert fused == z.numel() + s.numel() + w.numel()
    assert plain - fused >= z.numel()


def test_scale_sum_and_matmul_without_derivatives_writes_over_z():
    z = torch.randn(3, 5, 4, dtype=torch.float64)
    s = torch.randn(5, 4, dtype=torch.float64)
    init = torch.randn(5, 4, dtype=torch.float64)
    w = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    want = _plain_scaled_matmul(z, s, init, w.detach())
    kept = z.clone()
    with torch.no_grad():
        got = scale_sum_and_matmul(z, s, init, [-1, 4], w, overwrite=True)
    assert got[0].grad_fn is None
    for g, x in zip(got, want, strict=True):
        torch.testing.assert_close(g, x, rtol=1e-14, atol=1e-15)
    assert torch.equal(z, s * kept)  # nothing needs z: the scaled tangents took it


def _scaled_sum_then_matmul(z, s, w, scaled_also_returned: bool):
    aten = torch.ops.aten
    total = aten.sum.dim_IntList(aten.mul.Tensor(z, z), [0])
    u = aten.mul.Tensor(aten.expand.default(s, [3, -1, -1]), z)
    product = aten.mm.default(aten.reshape.default(u, [-1, 4]), w)
    return (product, total, u) if scaled_also_returned else (product, total)


@pytest.mark.parametrize("scaled_also_returned", [False, True])
def test_eager_module_fuses_the_matmul_of_the_scaled_tangents(scaled_also_returned):
    """`mm(reshape(s * z), w)` after the scaled sum becomes one
    `scale_sum_and_matmul` when the matmul is the scaled tangents' only
    reader; not when they are also returned."""
    traced = torch.fx.symbolic_trace(
        lambda z, s, w: _scaled_sum_then_matmul(z, s, w, scaled_also_returned)
    )
    eager = eager_module(traced)
    targets = [n.target for n in eager.graph.nodes]
    assert (scale_sum_and_matmul in targets) is not scaled_also_returned
    assert (torch.ops.aten.mm.default in targets) is scaled_also_returned
    z = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    s = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    for got, want in zip(
        eager(z, s, w),
        _scaled_sum_then_matmul(z, s, w, scaled_also_returned),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-15)
    assert torch.autograd.gradcheck(
        lambda *t: sum(o.sum() for o in eager(*t)), (z, s, w)
    )


def _plain_product_matmul(x, y, w):
    return (x * y).reshape(-1, w.shape[0]) @ w


def _broadcast_operands(directions: int):
    """The first layer's operands: s' of shape (N, H) and a block of weight
    columns (R, 1, H), broadcast against each other."""
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(directions, 1, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    return x, y, w


@pytest.mark.parametrize("directions", [1, 3])
def test_product_matmul_matches_plain_torch(directions):
    x, y, w = _broadcast_operands(directions)

    def fused(x, y, w):
        return product_matmul(x, y, [-1, 3], w)

    torch.testing.assert_close(
        fused(x, y, w), _plain_product_matmul(x, y, w), rtol=1e-14, atol=1e-15
    )
    assert torch.autograd.gradcheck(fused, (x, y, w))
    assert torch.autograd.gradgradcheck(fused, (x, y, w))
    assert torch.autograd.gradcheck(fused, (x, y, w), check_forward_ad=True)


def test_product_matmul_under_torch_func():
    x = torch.randn(5, 4, 3, dtype=torch.float64)
    y = torch.randn(5, 2, 1, 3, dtype=torch.float64)
    w = torch.randn(5, 3, 2, dtype=torch.float64)

    def fused(x, y, w):
        return product_matmul(x, y, [-1, 3], w)

    _assert_transforms_agree(
        (
            lambda g: torch.func.vmap(g)(x, y, w),
            lambda g: torch.func.jvp(g, (x[0], y[0], w[0]), (x[1], y[1], w[1])),
            lambda g: torch.func.jvp(lambda y: g(x[0], y, w[0]), (y[0],), (y[1],)),
            lambda g: torch.func.jacrev(g, argnums=(0, 1, 2))(x[0], y[0], w[0]),
        ),
        fused,
        _plain_product_matmul,
    )


def test_product_matmul_keeps_no_product():
    x, y, w = _broadcast_operands(3)
    x_wide, y_wide = x.expand(3, 4, 3), y.expand(3, 4, 3)  # as the emitter's expands

    def saved_bytes(call) -> int:
        saved = {}
        with torch.autograd.graph.saved_tensors_hooks(
            lambda t: (
                saved.update(
                    {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()}
                )
                or t
            ),
            lambda t: t,
        ):
            call()
        return sum(saved.values())

    fused = saved_bytes(lambda: product_matmul(x_wide, y_wide, [-1, 3], w))
    plain = saved_bytes(lambda: _plain_product_matmul(x_wide, y_wide, w))
    # x's, y's and w's storage; the plain ops keep the 3 x 4 x 3 product too
    assert fused == 8 * (x.numel() + y.numel() + w.numel())
    assert plain - fused == 8 * 3 * 4 * 3


def _product_then_matmul(x, y, w, product_also_returned: bool):
    aten = torch.ops.aten
    product = aten.mul.Tensor(x, y)
    out = aten.mm.default(aten.reshape.default(product, [-1, 3]), w)
    return (out, product) if product_also_returned else (out,)


@pytest.mark.parametrize("product_also_returned", [False, True])
def test_eager_module_fuses_the_matmul_of_a_product(product_also_returned):
    traced = torch.fx.symbolic_trace(
        lambda x, y, w: _product_then_matmul(x, y, w, product_also_returned)
    )
    eager = eager_module(traced)
    targets = [n.target for n in eager.graph.nodes]
    assert (product_matmul in targets) is not product_also_returned
    x, y, w = _broadcast_operands(3)
    want = _product_then_matmul(x, y, w, product_also_returned)
    for got, expected in zip(eager(x, y, w), want, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-14, atol=1e-15)
    assert torch.autograd.gradcheck(
        lambda *t: sum(o.sum() for o in eager(*t)), (x, y, w)
    )


# ------------------------------------------------------------------ peepholes

aten = torch.ops.aten


def _rewritten(function, rewrite, *args):
    """function traced to ATen calls, the graph before and after `rewrite`,
    and both evaluated on args."""
    traced = torch.fx.symbolic_trace(function)
    before = [n.target for n in traced.graph.nodes if n.op == "call_function"]
    rewrite(traced.graph)
    traced.graph.eliminate_dead_code()
    traced.graph.lint()
    traced.recompile()
    after = [n.target for n in traced.graph.nodes if n.op == "call_function"]
    return before, after, function(*args), traced(*args)


def _tensors(*shapes):
    return [torch.rand(*s, dtype=torch.float64) for s in shapes]


def test_factor_scaled_sums():
    """`((k t) s) total + s q` -> `s (q + k t total)`."""

    def update(t, s, total, q):
        second = aten.mul.Tensor(aten.mul.Scalar(t, -2.0), s)
        return aten.add.Tensor(aten.mul.Tensor(second, total), aten.mul.Tensor(s, q))

    before, after, plain, fused = _rewritten(
        update, fused_ops.factor_scaled_sums, *_tensors(*[(4, 3)] * 4)
    )
    assert before.count(aten.mul.Tensor) == 3 and aten.add.Tensor in before
    assert after == [aten.addcmul.default, aten.mul.Tensor]
    torch.testing.assert_close(fused, plain, rtol=1e-15, atol=1e-15)


def test_factor_scaled_sums_keeps_a_second_derivative_read_elsewhere():
    def update(t, s, total, q):
        second = aten.mul.Tensor(aten.mul.Scalar(t, -2.0), s)
        out = aten.add.Tensor(aten.mul.Tensor(second, total), aten.mul.Tensor(s, q))
        return out, second

    before, after, _, _ = _rewritten(
        update, fused_ops.factor_scaled_sums, *_tensors(*[(4, 3)] * 4)
    )
    assert after == before


@pytest.mark.parametrize("scaled", [False, True])
def test_fuse_multiply_adds(scaled):
    def update(a, b, c):
        a = aten.mul.Scalar(a, 3.0) if scaled else a
        return aten.add.Tensor(c, aten.mul.Tensor(a, b))

    before, after, plain, fused = _rewritten(
        update, fused_ops.fuse_multiply_adds, *_tensors((4, 3), (4, 3), (4, 3))
    )
    assert aten.add.Tensor in before
    assert after == [aten.addcmul.default]
    torch.testing.assert_close(fused, plain, rtol=1e-15, atol=1e-15)


def test_fuse_multiply_adds_keeps_a_product_read_elsewhere():
    def update(a, b, c):
        product = aten.mul.Tensor(a, b)
        return aten.add.Tensor(product, c), product

    before, after, _, _ = _rewritten(
        update, fused_ops.fuse_multiply_adds, *_tensors((4, 3), (4, 3), (4, 3))
    )
    assert after == before


def test_fuse_bias_matmuls():
    def layer(x, w, bias):
        return aten.add.Tensor(
            aten.mm.default(x, w), aten.expand.default(bias, [5, -1])
        )

    before, after, plain, fused = _rewritten(
        layer, fused_ops.fuse_bias_matmuls, *_tensors((5, 4), (4, 3), (3,))
    )
    assert before == [aten.mm.default, aten.expand.default, aten.add.Tensor]
    assert after == [aten.addmm.default]
    torch.testing.assert_close(fused, plain, rtol=1e-15, atol=1e-15)


def test_fuse_multiply_adds_of_a_negated_product_and_a_number():
    """tanh's `1 - t^2` as emitted, `(t * -1) * t + 1`: one addcmul, at least
    as accurate as the product rounded first (checked against the exact value
    of f32 t, computed in f64)."""

    def derivative(t):
        return aten.add.Scalar(aten.mul.Tensor(aten.mul.Scalar(t, -1.0), t), 1.0)

    t = torch.rand(64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    before, after, plain, fused = _rewritten(
        derivative, fused_ops.fuse_multiply_adds, t
    )
    assert before == [aten.mul.Scalar, aten.mul.Tensor, aten.add.Scalar]
    assert after == [aten.new_full.default, aten.addcmul.default]
    assert fused.dtype == t.dtype and fused.shape == t.shape
    exact = 1 - t.double() ** 2  # exact: a square of 24 bits has 48
    error = (fused.double() - exact).abs()
    # a fused multiply-add rounds once; else addcmul rounds as the plain graph
    assert bool((error <= (plain.double() - exact).abs()).all())


def test_fuse_multiply_adds_folds_a_factor_of_either_operand():
    """`a (k b) + 3` and `c + (k a) b`: the number k as `value`, whichever
    factor it scales."""

    def scaled_second(a, b):
        return aten.add.Scalar(aten.mul.Tensor(a, aten.mul.Scalar(b, 2.5)), 3)

    def scaled_first(a, b, c):
        return aten.add.Tensor(c, aten.mul.Tensor(aten.mul.Scalar(a, -0.5), b))

    for update, tensors in ((scaled_second, 2), (scaled_first, 3)):
        before, after, plain, fused = _rewritten(
            update, fused_ops.fuse_multiply_adds, *_tensors(*[(4, 3)] * tensors)
        )
        assert aten.mul.Scalar in before
        assert after[-1] is aten.addcmul.default and aten.mul.Scalar not in after
        torch.testing.assert_close(fused, plain, rtol=1e-15, atol=1e-15)


def test_fuse_multiply_adds_keeps_a_sum_with_alpha():
    def update(a, b, c):
        return aten.add.Tensor(c, aten.mul.Tensor(a, b), alpha=2.0)

    before, after, _, _ = _rewritten(
        update, fused_ops.fuse_multiply_adds, *_tensors((4, 3), (4, 3), (4, 3))
    )
    assert after == before


def test_eager_laplacian_of_a_tanh_mlp_uses_the_peepholes():
    """The second-order update is `s' (q - 2 t total)`, each layer's bias is
    added by its matmul and s' is `1 - t^2`: the values and the parameter
    gradients match torch.func."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
        torch.nn.Linear(8, 1),
    ).double()  # fmt: skip
    x = torch.rand(5, 3, dtype=torch.float64)
    lap = tm.laplacian(net, x)
    targets = [
        n.target for n in lap._executable._eager.graph.nodes if n.op == "call_function"
    ]
    assert aten.addmm.default in targets and aten.new_full.default in targets
    assert aten.addcmul.default in targets
    torch.testing.assert_close(lap(x), ref.laplacian(net, x), rtol=1e-12, atol=1e-12)
    params = list(net.parameters())[:-1]  # the last bias has no Laplacian
    got = torch.autograd.grad(lap(x).square().sum(), params)
    want = torch.autograd.grad(ref.laplacian(net, x).square().sum(), params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)

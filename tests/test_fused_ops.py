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
from taylor_mlir.backends.fused_ops import MAX_ADDCMUL_CHAIN, sum_of_squares
from taylor_mlir.backends.torch_backend import TorchExecutable
from taylor_mlir.context import make_context

SIZES = [1, 3, MAX_ADDCMUL_CHAIN, MAX_ADDCMUL_CHAIN + 1]


def _plain(u: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
    total = (u * u).sum(0)
    return total if init is None else total + init


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
    for transform in (
        lambda g: torch.func.vmap(g)(u, init),
        lambda g: torch.func.jvp(g, (u[0], init[0]), (tangent[0], init[1])),
        lambda g: torch.func.jacrev(g, argnums=(0, 1))(u[0], init[0]),
    ):
        torch.testing.assert_close(
            transform(sum_of_squares), transform(_plain), rtol=1e-13, atol=1e-13
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
    """`a + sum_d u_d * u_d` is one fused call in the module that runs eagerly;
    the traced `graph_module` stays ATen (an addcmul chain and an add)."""
    module = Parser(make_context(), SUM_OF_SQUARES_PLUS).parse_module()
    executable = TorchExecutable(module, "f")
    eager = [n.target for n in executable._run.graph.nodes]
    traced = [n.target for n in executable.graph_module.graph.nodes]
    assert eager.count(sum_of_squares) == 1
    assert torch.ops.aten.add.Tensor not in eager
    assert sum_of_squares not in traced
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
    f = models.mlp([12, 48, 48, 1], "tanh").double()
    x = torch.rand(256, 12, dtype=torch.float64)
    op = tm.laplacian(f, x)
    assert any(n.target is sum_of_squares for n in op._executable._run.graph.nodes)
    loss = op(x).square().mean()
    grads = torch.autograd.grad(loss, list(f.parameters()), allow_unused=True)
    reference = ref.laplacian(f, x)
    expected = torch.autograd.grad(
        reference.square().mean(), list(f.parameters()), allow_unused=True
    )
    for got, want in zip(grads, expected, strict=True):
        if want is None:
            assert got is None or not got.abs().max()
        else:
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)

"""Tensors of the other float dtype that f closes over or creates meet the
inputs as torch promotes them: in an f64 program a float32 constant is cast
up exactly; in an f32 program a float64 0-dim constant is rounded as torch
rounds a scalar, while a float64 tensor with dimensions (which torch would
compute in float64) is refused. Checked against torch.func on f itself."""

import pytest
import torch
from torch.func import hessian, vmap

import taylor_mlir as tm
from taylor_mlir.errors import DtypeError

K32 = torch.tensor(3.0)
K64 = torch.tensor(3.0, dtype=torch.float64)
V32 = torch.tensor([1.0, 2.0, 3.0])
V64 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)


def _laplacian(f, x):
    return vmap(
        lambda xi: torch.diagonal(hessian(lambda z: f(z[None]).reshape(()))(xi)).sum()
    )(x)


def _square_sum(z):
    return (z**2).sum(-1, keepdim=True)


CASES = {
    "f64 program, f32 0-dim closure": (torch.float64, lambda z: _square_sum(z) * K32),
    "f64 program, f32 vector closure": (
        torch.float64,
        lambda z: (torch.sin(z) * V32).sum(-1, keepdim=True),
    ),
    "f64 program, f32 0-dim made by f": (
        torch.float64,
        lambda z: _square_sum(z) * torch.tensor(3.0),
    ),
    "f32 program, f64 0-dim closure": (torch.float32, lambda z: _square_sum(z) * K64),
    "f32 program, f64 0-dim made by f": (
        torch.float32,
        lambda z: (
            torch.sin(z).sum(-1, keepdim=True) * torch.tensor(3.0, dtype=torch.float64)
        ),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_constants_of_the_other_dtype_promote_as_in_torch(name):
    dtype, f = CASES[name]
    x = torch.rand(6, 3, dtype=dtype, generator=torch.Generator().manual_seed(0))
    assert f(x).dtype == dtype  # what torch computes in
    lap = tm.laplacian(f, x)
    for _ in range(2):  # every call reads the constant again
        value = lap(x)
        assert value.dtype == dtype
        torch.testing.assert_close(value.reshape(-1), _laplacian(f, x))


def test_a_float32_tensor_read_by_a_float64_program_gets_its_gradient():
    k = torch.tensor(2.0, requires_grad=True)
    x = torch.rand(8, 3, dtype=torch.float64)
    lap = tm.laplacian(lambda z: _square_sum(z) * k, x)
    lap(x).sum().backward()  # each Laplacian is 2 * 3 * k
    assert k.grad.dtype == torch.float32
    torch.testing.assert_close(k.grad, torch.tensor(48.0))


def test_a_float64_tensor_that_torch_would_compute_in_is_refused():
    x = torch.rand(6, 3)
    f = lambda z: (torch.sin(z) * V64).sum(-1, keepdim=True)  # noqa: E731
    assert f(x).dtype == torch.float64
    with pytest.raises(
        DtypeError, match=r"aten::mul.Tensor computes in torch.float64 .*float32"
    ):
        tm.laplacian(f, x)

"""The torch backend runs where the input and the parameters are: checked for
shapes and devices on the `meta` device (no data), numerically on CUDA where
there is one. Mismatched devices are refused with the parameter's name."""

import pytest
import reference as ref
import torch
from torch import nn

import taylor_mlir as tm
from taylor_mlir.errors import CallError


def mlp():
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def closure_over(net):
    def u(z):
        scale = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)  # f's own constant
        return net(z) * (z * scale).sum(-1, keepdim=True)

    return u


OPERATORS = {
    "laplacian": lambda f, x: tm.laplacian(f, x),
    "standard": lambda f, x: tm.laplacian(f, x, collapsed=False),
    "biharmonic": lambda f, x: tm.biharmonic(f, x),
    "hutchinson": lambda f, x: tm.laplacian(
        f, x, randomization=("normal", 3), seed=0, strategy="randomized"
    ),
    "weighted": lambda f, x: tm.weighted_laplacian(
        f, x, coefficients=torch.eye(3, dtype=torch.float64, requires_grad=True)
    ),
    "linear": lambda f, x: tm.linear_operator(f, x, terms={(0, 1): 1.0, (2,): 2.0}),
}


@pytest.mark.parametrize("form", ["module", "closure"])
@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operators_run_on_the_meta_device(form, name):
    net = mlp()
    f = net if form == "module" else closure_over(net)
    x = torch.rand(4, 3, dtype=torch.float64)
    op = OPERATORS[name](f, x)
    net.to("meta")
    x_meta = torch.empty(6, 3, dtype=torch.float64, device="meta")
    if name == "weighted":  # the compile-time C is on the CPU: pass one on meta
        C = torch.empty(3, 3, dtype=torch.float64, device="meta")
        y = op(x_meta, coefficients=C)
    else:
        y = op(x_meta)
    assert y.device.type == "meta" and y.shape == (6, 1)


def test_a_captured_tensor_on_another_device_is_named():
    net = mlp()
    scale = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    x = torch.rand(4, 3, dtype=torch.float64)
    op = tm.laplacian(lambda z: net(z) * (z * scale).sum(-1, keepdim=True), x)
    net.to("meta")
    with pytest.raises(CallError, match="scale is on cpu, but the input is on meta"):
        op(x.to("meta"))


def test_jet_and_compile_function_on_the_meta_device():
    net = mlp()
    x = torch.rand(4, 3, dtype=torch.float64)
    jet = tm.jet(net, x, order=2)
    compiled = tm.compile_function(closure_over(net), x)
    net.to("meta")
    x_meta = x.to("meta")
    f0, (f1, f2) = jet(x_meta, [x_meta])
    assert {t.device.type for t in (f0, f1, f2)} == {"meta"}
    assert compiled(x_meta).device.type == "meta"


def test_a_parameter_on_another_device_is_named():
    net = mlp()
    x = torch.rand(4, 3, dtype=torch.float64)
    op = tm.laplacian(lambda z: net(z), x)
    net[2].to("meta")
    with pytest.raises(CallError, match=r"net\.2\.weight is on meta.*one device"):
        op(x)


def test_iree_cpu_refuses_other_devices():
    pytest.importorskip("iree.runtime")
    net = mlp()
    x = torch.rand(4, 3, dtype=torch.float64)
    op = tm.laplacian(net, x, backend="iree-cpu")
    with pytest.raises(CallError, match="iree-cpu backend runs on the CPU"):
        op(x.to("meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operators_on_cuda(name):
    net = mlp()
    x = torch.rand(4, 3, dtype=torch.float64)
    f = closure_over(net)
    op = OPERATORS[name](f, x)
    net.cuda()
    if name == "weighted":
        ours = op(x.cuda(), coefficients=torch.eye(3, dtype=torch.float64).cuda())
    else:
        ours = op(x.cuda())
    assert ours.device.type == "cuda"
    if name in ("laplacian", "standard"):
        expected = ref.laplacian(f, x.cuda())
        assert float((ours - expected).abs().max()) < 1e-10

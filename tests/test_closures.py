"""What f reads besides its input is read at every call, by reference, and
differentiated: closures over modules and tensors, globals, reassigned weights,
tied weights; what cannot be followed is refused. Train/eval switches and
dtype changes after compiling are refused with "recompile".

Every number is checked against torch.func (tests/reference.py) and autograd.
"""

import collections
import functools
import weakref

import pytest
import reference as ref
import torch
from torch import nn

import taylor_mlir as tm
from taylor_mlir.errors import CallError, ExportError

TOL = 1e-10


def close(actual, expected, tol=TOL):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= tol * scale


def mlp(d=3, h=8):
    return nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, 1)).double()


def grads(loss, params):
    """d loss / d params, zero for a parameter the loss does not depend on
    (the output bias of a Laplacian)."""
    found = torch.autograd.grad(loss, params, allow_unused=True)
    return [
        torch.zeros_like(p) if g is None else g
        for p, g in zip(params, found, strict=True)
    ]


def check_values_and_gradients(op, f, x, params):
    """op(x) == Laplacian(f) and d/dparams of a loss on it match autograd
    through torch.func's Laplacian."""
    ours = op(x)
    expected = ref.laplacian(f, x)
    close(ours, expected)
    assert ours.requires_grad
    ours_grads = grads((ours**2).sum(), params)
    expected_grads = grads((ref.laplacian(f, x) ** 2).sum(), params)
    for a, b in zip(ours_grads, expected_grads, strict=True):
        close(a, b)


@pytest.fixture
def x():
    return torch.rand(5, 3, dtype=torch.float64)


def test_hard_boundary_ansatz_closing_over_a_module(x):
    net = mlp()

    def u(z):
        return (1 - (z**2).sum(-1, keepdim=True)) * net(z)

    op = tm.laplacian(u, x)
    check_values_and_gradients(op, u, x, list(net.parameters()))
    assert op.imported.parameter_names == [
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.2.bias",
    ]


def test_lambda_closure_and_standard_mode(x):
    net = mlp()
    u = lambda z: torch.sin(z).sum(-1, keepdim=True) * net(z)  # noqa: E731
    op = tm.laplacian(u, x, collapsed=False)
    check_values_and_gradients(op, u, x, list(net.parameters()))


def test_reassigned_parameter_is_seen(x):
    net = mlp()

    def u(z):
        return net(z) ** 2

    op = tm.laplacian(u, x)
    net[0].weight = nn.Parameter(torch.randn(8, 3, dtype=torch.float64))
    check_values_and_gradients(op, u, x, [net[0].weight])


def test_in_place_update_is_seen(x):
    net = mlp()
    u = lambda z: torch.exp(-net(z))  # noqa: E731
    op = tm.laplacian(u, x)
    with torch.no_grad():
        net[2].weight.mul_(3.0)
    close(op(x), ref.laplacian(u, x))


GLOBAL_NET = mlp()


def global_model(z):
    return torch.cos(GLOBAL_NET(z))


def test_global_module_and_rebinding(x):
    global GLOBAL_NET
    op = tm.laplacian(global_model, x)
    check_values_and_gradients(op, global_model, x, list(GLOBAL_NET.parameters()))
    old = GLOBAL_NET
    try:
        GLOBAL_NET = mlp()  # a new module of the same structure
        check_values_and_gradients(op, global_model, x, list(GLOBAL_NET.parameters()))
    finally:
        GLOBAL_NET = old


def test_closure_over_learnable_tensors(x):
    alpha = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    w = nn.Parameter(torch.randn(3, dtype=torch.float64))

    def u(z):
        return torch.tanh(z @ w).unsqueeze(-1) * alpha

    op = tm.laplacian(u, x)
    check_values_and_gradients(op, u, x, [alpha, w])
    with torch.no_grad():
        w.add_(1.0)
    close(op(x), ref.laplacian(u, x))


def test_module_forward_reading_a_global(x):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1).double()

        def forward(self, z):
            return torch.sin(self.lin(z)) * GLOBAL_NET(z)

    model = Scaled()
    op = tm.laplacian(model, x)
    params = [*model.parameters(), *GLOBAL_NET.parameters()]
    check_values_and_gradients(op, model, x, params)


def test_partial_bound_method_and_object_attributes(x):
    class Holder:
        def __init__(self):
            self.net = mlp()
            self.scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)

        def energy(self, z, power):
            return self.scale * self.net(z) ** power

    holder = Holder()
    u = functools.partial(holder.energy, power=2)
    op = tm.laplacian(u, x)
    check_values_and_gradients(op, u, x, [holder.scale, *holder.net.parameters()])


def test_tied_weights(x):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3).double()
            self.b = nn.Linear(3, 3).double()
            self.b.weight = self.a.weight  # tied
            self.out = nn.Linear(3, 1).double()

        def forward(self, z):
            return self.out(torch.tanh(self.b(torch.tanh(self.a(z)))))

    model = Tied()
    op = tm.laplacian(model, x)
    check_values_and_gradients(op, model, x, list(model.parameters()))
    model.a.weight = nn.Parameter(torch.randn(3, 3, dtype=torch.float64))
    model.b.weight = model.a.weight
    check_values_and_gradients(op, model, x, list(model.parameters()))


def test_compile_function_closure_gradient(x):
    net = mlp()
    u = lambda z: net(z) * z.sum(-1, keepdim=True)  # noqa: E731
    compiled = tm.compile_function(u, x)
    ours = compiled(x)
    close(ours, u(x))
    (g_ours,) = grads(ours.sum(), [net[0].weight])
    (g_ref,) = grads(u(x).sum(), [net[0].weight])
    close(g_ours, g_ref)


def test_jet_closure_gradient(x):
    net = mlp()
    u = lambda z: torch.tanh(net(z))  # noqa: E731
    jet = tm.jet(u, x, order=2)
    v = torch.randn_like(x)
    _, (f1, f2) = jet(x, [v])

    def reference(z):
        return torch.func.jvp(lambda s: torch.func.jvp(u, (s,), (v,))[1], (z,), (v,))[1]

    close(f2, reference(x))
    (g_ours,) = grads(f2.sum(), [net[2].weight])
    (g_ref,) = grads(reference(x).sum(), [net[2].weight])
    close(g_ours, g_ref)


def test_untraceable_tensor_that_requires_grad_is_refused(x):
    w = nn.Parameter(torch.randn(3, dtype=torch.float64))
    store = collections.deque([w])  # not followed: neither container nor object

    def u(z):
        return torch.tanh(z @ store[0]).unsqueeze(-1)

    with pytest.raises(ExportError, match=r"requires grad.*nn\.Module.*nn\.Parameter"):
        tm.laplacian(u, x)


def test_dead_weak_proxies_in_the_process_do_not_break_compiling(x):
    """A constant f makes is checked against every live object for a tensor
    that requires grad and shares its memory; a proxy whose referent died
    raises on isinstance and is skipped."""

    class Referent:
        pass

    referent = Referent()
    dead = [weakref.proxy(referent)]
    del referent

    def u(z):
        scale = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
        return (z * scale).sum(-1, keepdim=True) ** 2

    close(tm.laplacian(u, x)(x), ref.laplacian(u, x))
    assert dead  # alive through the compile


def test_constant_made_inside_f_stays_a_constant(x):
    def u(z):
        return (z * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum(
            -1, keepdim=True
        ) ** 2

    close(tm.laplacian(u, x)(x), ref.laplacian(u, x))


def test_train_eval_switch_is_refused(x):
    net = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Tanh(), nn.Linear(4, 1))
    net = net.double().eval()
    op = tm.laplacian(net, x)
    close(op(x), ref.laplacian(net, x))
    net.train()
    with pytest.raises(CallError, match="eval mode.*training mode.*recompile"):
        op(x)
    net.eval()
    close(op(x), ref.laplacian(net, x))


def test_train_eval_switch_of_a_captured_module_is_refused(x):
    net = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1)).double()
    net.eval()
    op = tm.laplacian(lambda z: torch.tanh(net(z)), x)
    net[1].train()
    with pytest.raises(CallError, match=r"Dropout \(net.1\).*recompile"):
        op(x)


def test_dtype_change_after_compile_names_the_parameter(x):
    net = mlp()
    op = tm.laplacian(net, x)
    net.float()
    with pytest.raises(CallError, match=r"0\.weight is now torch\.float32.*recompile"):
        op(x)


def test_shape_change_after_compile_names_the_parameter(x):
    net = mlp()
    op = tm.laplacian(lambda z: net(z), x)
    net[2].weight = nn.Parameter(torch.randn(2, 8, dtype=torch.float64))
    with pytest.raises(CallError, match=r"net\.2\.weight now has shape \(2, 8\)"):
        op(x)


def test_compiled_in_index_list_changed_after_compile_is_refused(x):
    order = torch.tensor([2, 0, 1])

    def u(z):
        return torch.tanh(z[:, order] * z).sum(-1, keepdim=True)

    op = tm.laplacian(u, x)
    close(op(x), ref.laplacian(u, x))
    order[0] = 1
    with pytest.raises(CallError, match="order changed since compiling.*recompile"):
        op(x)


SCALE = 2.0


def scaled_model(z):
    return SCALE * torch.tanh(GLOBAL_NET(z))


def test_python_number_changed_after_compile_is_refused(x):
    global SCALE
    op = tm.laplacian(scaled_model, x)
    close(op(x), ref.laplacian(scaled_model, x))
    try:
        SCALE = 3.0
        with pytest.raises(CallError, match=r"SCALE was 2\.0.*now 3\.0.*recompile"):
            op(x)
    finally:
        SCALE = 2.0
    close(op(x), ref.laplacian(scaled_model, x))


def test_module_number_attribute_changed_after_compile_is_refused(x):
    class Act(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1).double()
            self.beta = 1.5

        def forward(self, z):
            return torch.tanh(self.beta * self.lin(z))

    model = Act()
    op = tm.laplacian(model, x)
    close(op(x), ref.laplacian(model, x))
    model.beta = 2.5
    with pytest.raises(CallError, match=r"self\.beta was 1\.5.*recompile"):
        op(x)


def test_hook_added_after_compile_is_refused(x):
    net = mlp()
    op = tm.laplacian(net, x)
    handle = net[1].register_forward_hook(lambda module, args, out: 2 * out)
    with pytest.raises(
        CallError, match=r"hooks of Tanh \(self\.1\) changed.*recompile"
    ):
        op(x)
    handle.remove()
    close(op(x), ref.laplacian(net, x))


def test_hook_present_at_compile_is_compiled(x):
    net = mlp()
    net[1].register_forward_hook(lambda module, args, out: out * out)
    close(tm.laplacian(net, x)(x), ref.laplacian(net, x))

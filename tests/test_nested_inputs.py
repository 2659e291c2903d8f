"""
Inputs that are dicts, lists or tuples of tensors (`frontend/structure.py`):
every leaf is a batch `(N, *S)`, the compiled program takes the leaves, and
every call must nest its inputs as the example did. Operators differentiate
one tensor input (`wrt=`), jets take a series for every input in its nesting
(as jet-for-pytorch's and JAX's jets do). References: torch.func per datum.
"""

from __future__ import annotations

import math

import pytest
import torch

import taylor_mlir as tm
from taylor_mlir.errors import CallError, OptionError, UnsupportedOperatorError

N = 3


def batch(*shape: int) -> torch.Tensor:
    return torch.rand(N, *shape, dtype=torch.float64)


def assert_close(got, expected):
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def scale_and_shift(params, x):
    return params["scale"] * torch.sin(x) + params["bias"]


def per_datum_laplacian(g, x):
    """The Laplacian of g (of one datum's x) per output entry."""
    hessian = torch.func.hessian(g)(x)
    return hessian.diagonal(dim1=-2, dim2=-1).sum(-1)


def test_laplacian_beside_a_dict_input():
    params = {"scale": batch(3), "bias": batch(3)}
    x = batch(3)
    lap = tm.laplacian(scale_and_shift, (params, x), wrt=1)
    expected = torch.func.vmap(
        lambda p, x: per_datum_laplacian(lambda z: scale_and_shift(p, z), x)
    )(params, x)
    assert_close(lap(params, x), expected)
    # another batch size, new values
    params = {"scale": batch(3).repeat(2, 1), "bias": batch(3).repeat(2, 1)}
    x = batch(3).repeat(2, 1)
    expected = torch.func.vmap(
        lambda p, x: per_datum_laplacian(lambda z: scale_and_shift(p, z), x)
    )(params, x)
    assert_close(lap(params, x), expected)


def test_gradients_reach_the_leaves_of_a_dict_input():
    params = {"scale": batch(3).requires_grad_(), "bias": batch(3).requires_grad_()}
    x = batch(3)
    lap = tm.laplacian(scale_and_shift, (params, x), wrt=1)
    got = torch.autograd.grad(lap(params, x).sum(), [params["scale"]])[0]
    # Laplacian of scale * sin(x) + bias in x is -scale * sin(x) per entry
    assert_close(got, -torch.sin(x))


def test_biharmonic_beside_a_nested_input():
    def f(inputs, x):
        (a, (b,)) = inputs
        return (a * torch.sin(x) + b * x * x).sum(-1, keepdim=True)

    inputs = [batch(2), (batch(2),)]
    x = batch(2)
    bih = tm.biharmonic(f, (inputs, x), wrt=1)
    # closed form: d^4 sin = sin per coordinate; x^2 has no fourth derivative
    expected = (inputs[0] * torch.sin(x)).sum(-1, keepdim=True)
    assert_close(bih(inputs, x), expected)


def test_jet_of_a_dict_input():
    def f(d):
        return torch.sin(d["a"]) * d["b"]

    d0 = {"a": batch(4), "b": batch(4)}
    d1 = {"a": batch(4), "b": batch(4)}
    d2 = {"a": batch(4), "b": batch(4)}
    f0, (f1, f2) = tm.jet(f, d0, 2)(d0, [d1, d2])

    def along(t):
        return f({k: d0[k] + t * d1[k] + t**2 / 2 * d2[k] for k in d0})

    zero = torch.zeros((), dtype=torch.float64)
    assert_close(f0, along(zero))
    assert_close(f1, torch.func.jacfwd(along)(zero))
    assert_close(f2, torch.func.jacfwd(torch.func.jacfwd(along))(zero))


def test_jet_of_a_deep_pytree():
    """Nested list input, tuple-and-dict output: jet-for-pytorch's deep case."""

    def f(x, params):
        w, (b0, b1) = params
        h = torch.sin(x) * w
        return h + b0, {"a": torch.cos(h) * b1, "b": torch.tanh(h + b0 + b1)}

    primals = (batch(3), [batch(3), [batch(3), batch(3)]])
    series = tuple(
        [pytree_like(p) for _ in range(3)] for p in primals
    )  # 3 coefficients of each input, each shaped like it
    f0, got = tm.jet(f, primals, 3)(primals, series)

    def along(t):
        moved = [
            torch.utils._pytree.tree_map(
                lambda p, *c: (
                    p
                    + sum(t**j / math.factorial(j) * c_j for j, c_j in enumerate(c, 1))
                ),
                p,
                *s,
            )
            for p, s in zip(primals, series, strict=True)
        ]
        return f(*moved)

    zero = torch.zeros((), dtype=torch.float64)
    derivative = along
    for k in range(4):
        expected = torch.utils._pytree.tree_leaves(derivative(zero))
        values = (
            torch.utils._pytree.tree_leaves(f0)
            if k == 0
            else [
                leaf[k - 1]
                for leaf in torch.utils._pytree.tree_structure(f0).flatten_up_to(got)
            ]
        )
        for g, w in zip(values, expected, strict=True):
            assert_close(g, w)
        derivative = torch.func.jacfwd(derivative)


def pytree_like(tree):
    return torch.utils._pytree.tree_map(torch.rand_like, tree)


# ------------------------------------------------------------------ bad input


def test_a_call_nested_otherwise_is_named():
    params = {"scale": batch(3), "bias": batch(3)}
    lap = tm.laplacian(scale_and_shift, (params, batch(3)), wrt=1)
    with pytest.raises(
        CallError,
        match=r"shaped as \(\{'scale': T\}, T\); .* \(\{'scale': T, 'bias': T\}, T\)",
    ):
        lap({"scale": batch(3)}, batch(3))


def test_a_leaf_of_the_wrong_shape_is_named():
    params = {"scale": batch(3), "bias": batch(3)}
    lap = tm.laplacian(scale_and_shift, (params, batch(3)), wrt=1)
    with pytest.raises(CallError, match=r"input 0\['bias'\] has shape \(3, 4\)"):
        lap({"scale": batch(3), "bias": batch(4)}, batch(3))


def test_wrt_must_name_a_tensor_input():
    params = {"scale": batch(3), "bias": batch(3)}
    with pytest.raises(OptionError, match="wrt=0 names an input that is a dict"):
        tm.laplacian(scale_and_shift, (params, batch(3)), wrt=0)


def test_a_leaf_that_is_not_a_tensor_is_named():
    with pytest.raises(
        OptionError, match=r"input 0\['scale'\] must be a torch.Tensor .* got float"
    ):
        tm.laplacian(
            scale_and_shift, ({"scale": 2.0, "bias": batch(3)}, batch(3)), wrt=1
        )


def test_a_series_nested_otherwise_is_named():
    def f(d):
        return torch.sin(d["a"]) * d["b"]

    d0 = {"a": batch(4), "b": batch(4)}
    jet = tm.jet(f, d0, 1)
    with pytest.raises(
        CallError, match=r"x1 is shaped as \{'a': T\}; the input is \{'a': T, 'b': T\}"
    ):
        jet(d0, [{"a": batch(4)}])


def test_an_unsupported_op_names_the_users_line():
    def f(params, x):
        return torch.special.i0(params["a"] * x)

    with pytest.raises(
        UnsupportedOperatorError, match=r"test_nested_inputs.py:\d+ in f: return torch"
    ):
        tm.laplacian(f, ({"a": batch(2)}, batch(2)), wrt=1)


def test_a_single_dict_input_is_named_for_an_operator():
    with pytest.raises(OptionError, match=r"x is a dict of tensors: .* \(params, x\)"):
        tm.laplacian(lambda d: torch.sin(d["a"]), {"a": batch(2)})


def test_a_single_input_jet_called_otherwise_names_the_input():
    jet = tm.jet(
        lambda d: torch.sin(d["a"]) * d["b"], {"a": batch(2), "b": batch(2)}, 1
    )
    with pytest.raises(
        CallError, match=r"x is shaped as \[T, T\]; .* compiled for \{'a': T, 'b': T\}"
    ):
        jet([batch(2), batch(2)], [])


class ScaledLayer(torch.nn.Module):
    """A module whose forward takes a dict beside x."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1, dtype=torch.float64)

    def forward(self, d, x):
        return self.lin(torch.tanh(x) * d["s"])


def test_a_module_of_a_dict_input_keeps_its_parameters():
    """Its weights are read at every call under their own names, get their
    gradient, and its train/eval mode is checked, as for a module of tensors."""
    torch.manual_seed(0)
    module = ScaledLayer()
    d, x = {"s": batch(3)}, batch(3)
    lap = tm.laplacian(module, (d, x), wrt=1)
    assert lap.stats()["collapsed"].vectors_per_layer == {"lin.weight": 1}

    def reference(weight):
        def one(s, x):
            def g(z):
                return torch.nn.functional.linear(
                    torch.tanh(z) * s, weight, module.lin.bias
                ).squeeze(-1)

            return torch.func.hessian(g)(x).diagonal().sum()

        return torch.func.vmap(one)(d["s"], x)

    weight = module.lin.weight
    assert_close(lap(d, x).squeeze(-1), reference(weight))
    (got,) = torch.autograd.grad(lap(d, x).sum(), [weight])
    assert_close(got, torch.func.grad(lambda w: reference(w).sum())(weight.detach()))
    with torch.no_grad():
        weight.mul_(2.0)
    assert_close(lap(d, x).squeeze(-1), reference(weight))
    module.eval()
    with pytest.raises(CallError, match="compiled in training mode"):
        lap(d, x)

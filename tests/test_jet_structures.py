"""
Jets of functions of several inputs and of functions returning tuples or dicts
(`tm.jet`), as jet-for-pytorch's and JAX's jets take them: every input has a
series, `jet((x0, y0), ([x1, x2], [y1]))`, and the result is `(f0, series)`
in f's output structure, each leaf the list `[f1..fK]`.

The reference is the plain-derivative definition itself: `f_k = d^k/dt^k
f(x(t), y(t))` at t = 0 for `x(t) = sum_j t^j/j! x_j`, by nested
`torch.func.jacfwd` in t, per datum.
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

import taylor_mlir as tm
from taylor_mlir.errors import CallError, DtypeError

N = 3


def batch(*shape: int) -> torch.Tensor:
    return torch.rand(N, *shape, dtype=torch.float64)


def curve(x0: torch.Tensor, series, t: torch.Tensor) -> torch.Tensor:
    return x0 + sum(t**j / math.factorial(j) * x_j for j, x_j in enumerate(series, 1))


def reference_jet(f, primals, series, order: int):
    """`[f0, f1, ..., f_order]` per datum (each in f's output structure) by
    nested forward mode in t."""

    def one_datum(primals, series):
        def along(t):
            return f(*(curve(x0, s, t) for x0, s in zip(primals, series, strict=True)))

        zero = torch.zeros((), dtype=torch.float64)
        derivatives, g = [], along
        for _ in range(order + 1):
            derivatives.append(g(zero))
            g = torch.func.jacfwd(g)
        return derivatives

    return torch.func.vmap(one_datum)(tuple(primals), tuple(map(tuple, series)))


def assert_close(got, expected):
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


TWO_INPUT_CASES = {
    "x + y": lambda x, y: x + y,
    "x - y": lambda x, y: x - y,
    "x * y": lambda x, y: x * y,
    "sin(x) * cos(y)": lambda x, y: torch.sin(x) * torch.cos(y),
    "tanh(x @ y)": lambda x, y: torch.tanh((x * y).sum(-1, keepdim=True)),
}


@pytest.mark.parametrize("order", [1, 2, 4])
@pytest.mark.parametrize("name", TWO_INPUT_CASES)
def test_jet_of_two_inputs(name: str, order: int):
    f = TWO_INPUT_CASES[name]
    x0, y0 = batch(4), batch(4)
    series = ([batch(4) for _ in range(order)], [batch(4) for _ in range(order)])
    f0, coefficients = tm.jet(f, (x0, y0), order)((x0, y0), series)
    expected = reference_jet(f, (x0, y0), series, order)
    assert_close(f0, expected[0])
    assert len(coefficients) == order
    for got, want in zip(coefficients, expected[1:], strict=True):
        assert_close(got, want)


def test_an_input_without_coefficients_stays_constant():
    """`[]` for y: the jet is the jet in x alone; fewer coefficients than the
    order are zeros after the last one."""
    f = TWO_INPUT_CASES["sin(x) * cos(y)"]
    x0, y0 = batch(4), batch(4)
    x1 = batch(4)
    f0, (f1, f2, f3) = tm.jet(f, (x0, y0), 3)((x0, y0), ([x1], []))
    expected = reference_jet(f, (x0, y0), ([x1], []), 3)
    for got, want in zip((f0, f1, f2, f3), expected, strict=True):
        assert_close(got, want)


def test_inputs_of_different_datum_shapes():
    """x of (N, 2, 3) against y of (N, 3): each input's coefficients have its
    own shape."""

    def f(x, y):
        return torch.exp(x @ y.unsqueeze(-1)).squeeze(-1)

    x0, y0 = batch(2, 3), batch(3)
    series = ([batch(2, 3), batch(2, 3)], [batch(3), batch(3)])
    f0, coefficients = tm.jet(f, (x0, y0), 2)((x0, y0), series)
    expected = reference_jet(f, (x0, y0), series, 2)
    for got, want in zip((f0, *coefficients), expected, strict=True):
        assert_close(got, want)


OUTPUT_CASES = {
    "tuple": lambda x: (torch.sin(x), torch.cos(x)),
    "dict": lambda x: {"sin": torch.sin(x), "cos": torch.cos(x)},
    "nested": lambda x: (torch.sin(x), {"square": x * x, "sum": x.sum(-1)}),
}


@pytest.mark.parametrize("name", OUTPUT_CASES)
def test_jet_of_structured_outputs(name: str):
    f = OUTPUT_CASES[name]
    x0 = batch(3)
    given = [batch(3), batch(3), batch(3)]
    f0, series = tm.jet(f, x0, 3)(x0, given)
    expected = reference_jet(f, (x0,), (given,), 3)
    assert_close(f0, expected[0])
    # series: f's structure, each leaf [f1, f2, f3]
    leaves, spec = torch.utils._pytree.tree_flatten(f0)
    series_leaves = spec.flatten_up_to(series)
    assert all(len(leaf) == 3 for leaf in series_leaves)
    for k in range(1, 4):
        want = torch.utils._pytree.tree_leaves(expected[k])
        got = [leaf[k - 1] for leaf in series_leaves]
        for g, w in zip(got, want, strict=True):
            assert_close(g, w)


@pytest.mark.parametrize("structure", ["tuple", "dict"])
def test_jet_of_several_inputs_and_outputs(structure: str):
    def f(x, y):
        total, product = x + y, torch.sin(x) * y
        if structure == "tuple":
            return total, product
        return {"sum": total, "product": product}

    x0, y0 = batch(4), batch(4)
    series = ([batch(4), batch(4)], [batch(4), batch(4)])
    f0, got = tm.jet(f, (x0, y0), 2)((x0, y0), series)
    expected = reference_jet(f, (x0, y0), series, 2)
    keys = (0, 1) if structure == "tuple" else ("sum", "product")
    for key in keys:
        assert_close(f0[key], expected[0][key])
        for k in (1, 2):
            assert_close(got[key][k - 1], expected[k][key])


def test_one_input_jet_is_unchanged():
    """The one-input call `jet(x0, [x1..xK]) -> (f0, [f1..fK])` as before."""
    x0, x1 = batch(2), batch(2)
    f0, (f1, f2) = tm.jet(torch.tanh, x0, 2)(x0, [x1])
    expected = reference_jet(torch.tanh, (x0,), ([x1],), 2)
    for got, want in zip((f0, f1, f2), expected, strict=True):
        assert_close(got, want)


def test_jet_of_several_inputs_keeps_parameter_gradients():
    """A jet of a module of two inputs: its coefficient's gradient in the
    weights matches autograd through the reference."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2, dtype=torch.float64)

    def f(x, y):
        return torch.tanh(layer(x * y))

    x0, y0 = batch(4), batch(4)
    series = ([batch(4), batch(4)], [batch(4)])
    _, (_, f2) = tm.jet(f, (x0, y0), 2)((x0, y0), series)
    (got,) = torch.autograd.grad(f2.square().sum(), [layer.weight])
    want_f2 = reference_jet(f, (x0, y0), series, 2)[2]
    (want,) = torch.autograd.grad(want_f2.square().sum(), [layer.weight])
    assert_close(got, want)


# ------------------------------------------------------------------ bad calls


@pytest.fixture(scope="module")
def two_input_jet():
    return tm.jet(TWO_INPUT_CASES["x * y"], (batch(4), batch(4)), 2)


def test_several_inputs_need_a_tuple_of_primals(two_input_jet):
    with pytest.raises(CallError, match=r"tuple of them .* jet\(\(x0, y0\)"):
        two_input_jet(batch(4), [batch(4)])


def test_several_inputs_need_one_series_each(two_input_jet):
    with pytest.raises(CallError, match="one list of coefficients per input"):
        two_input_jet((batch(4), batch(4)), [batch(4)])


def test_too_many_coefficients_for_an_input(two_input_jet):
    with pytest.raises(CallError, match="3 coefficients given to a jet of order 2"):
        two_input_jet((batch(4), batch(4)), ([batch(4)] * 3, []))


def test_a_coefficient_of_the_wrong_shape_is_named(two_input_jet):
    with pytest.raises(CallError, match=r"coefficient 1 of input 1 has shape \(3, 5\)"):
        two_input_jet((batch(4), batch(4)), ([], [batch(5)]))


def test_inputs_of_different_batch_sizes(two_input_jet):
    with pytest.raises(CallError, match="different batch sizes"):
        two_input_jet((batch(4), torch.rand(5, 4, dtype=torch.float64)), ([], []))


def test_an_integer_input_is_named():
    def f(x, index):
        return x * index

    with pytest.raises(DtypeError, match="input 1 must be float32 or float64"):
        tm.jet(f, (batch(2), torch.ones(N, 2, dtype=torch.int64)), 2)


@pytest.mark.skipif(
    importlib.util.find_spec("iree.compiler") is None, reason="iree is not installed"
)
def test_jet_of_several_inputs_and_outputs_on_iree():
    def f(x, y):
        return x + y, torch.sin(x) * y

    x0, y0 = batch(4), batch(4)
    series = ([batch(4), batch(4)], [batch(4)])
    f0, got = tm.jet(f, (x0, y0), 2, backend="iree-cpu")((x0, y0), series)
    expected = reference_jet(f, (x0, y0), series, 2)
    for o in (0, 1):
        assert_close(f0[o], expected[0][o])
        for k in (1, 2):
            assert_close(got[o][k - 1], expected[k][o])


def test_a_series_that_is_not_a_list_is_named(two_input_jet):
    with pytest.raises(
        CallError,
        match=r"per input a list .* got Tensor as the coefficients of input 1",
    ):
        two_input_jet((batch(4), batch(4)), ([], batch(4)))

"""Bad options and calls raise `taylor_mlir.errors` exceptions that say what to
pass: malformed terms, non-numeric or non-finite coefficients, unknown
keywords, jets called with the wrong arguments."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import taylor_mlir as tm
from taylor_mlir.errors import CallError, OptionError, TaylorMLIRError


@pytest.fixture(scope="module")
def net():
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


@pytest.fixture
def x():
    return torch.rand(4, 3, dtype=torch.float64)


@pytest.mark.parametrize(
    "terms, message",
    [
        ({0: 1.0}, r"key is a tuple of the input indices.*\(0, 0\)"),
        ([((0, 0), 1.0)], r"terms must be a dict.*got list"),
        ({(0, 0): "a"}, r"coefficient must be a number, got 'a'"),
        ({(0, 0): None}, r"coefficient must be a number"),
        ({(0, 0): math.nan}, r"not finite"),
        ({(1,): math.inf}, r"not finite"),
    ],
)
def test_bad_terms(net, x, terms, message):
    with pytest.raises(OptionError, match=message):
        tm.linear_operator(net, x, terms=terms)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("where", [(0, 0), (0, 1)])
def test_non_finite_coefficients(net, x, bad, where):
    C = torch.eye(3, dtype=torch.float64)
    C[where] = bad
    C[where[::-1]] = bad
    with pytest.raises(OptionError, match="not finite"):
        tm.weighted_laplacian(net, x, coefficients=C)


def test_non_finite_factor(net, x):
    S = np.ones((3, 2))
    S[2, 1] = np.nan
    with pytest.raises(OptionError, match=r"factor entries are not finite.*\(2, 1\)"):
        tm.weighted_laplacian(net, x, factor=S)


def test_non_numeric_coefficients(net, x):
    with pytest.raises(OptionError, match="coefficients must be numbers, got str"):
        tm.weighted_laplacian(net, x, coefficients="abc")


def test_factor_that_requires_grad_is_refused(net, x):
    S = torch.eye(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(OptionError, match="requires grad.*silently missing"):
        tm.weighted_laplacian(net, x, factor=S)


@pytest.mark.parametrize(
    "make",
    [
        lambda net, x: tm.laplacian(net, x, colapsed=False),
        lambda net, x: tm.biharmonic(net, x, sed=1),
        lambda net, x: tm.weighted_laplacian(net, x, np.eye(3), backed="torch"),
        lambda net, x: tm.linear_operator(net, x, {(0,): 1.0}, order=2),
        lambda net, x: tm.jet(net, x, 2, collapse=True),
        lambda net, x: tm.compile(net, x, "laplacian", samples=3),
    ],
)
def test_unknown_keywords(net, x, make):
    with pytest.raises(OptionError, match="unknown option"):
        make(net, x)


@pytest.mark.parametrize("second", [None, "x", 3])
def test_jet_called_without_a_list(net, x, second):
    jet = tm.jet(net, x, order=2)
    if second == "x":
        second = x
    with pytest.raises(
        CallError, match=r"list of its Taylor coefficients.*jet\(x0, \[v\]\)"
    ):
        jet(x, second)


def test_jet_too_many_coefficients(net, x):
    jet = tm.jet(net, x, order=1)
    with pytest.raises(CallError, match="2 coefficients given to a jet of order 1"):
        jet(x, [x, x])


def test_errors_share_the_base_class(net, x):
    with pytest.raises(TaylorMLIRError):
        tm.linear_operator(net, x, terms={0: 1.0})


@pytest.mark.parametrize(
    "example, message",
    [
        (torch.rand(4, dtype=torch.float64), r"got shape \(4,\): for N scalars, pass x\[:, None\]"),
        (torch.tensor(1.0, dtype=torch.float64), r"batch of shape \(N, \*S\).*got shape \(\)$"),
    ],
    ids=["vector", "scalar"],
)  # fmt: skip
def test_an_example_without_a_datum_axis_says_how_to_add_one(example, message):
    with pytest.raises(OptionError, match=message):
        tm.laplacian(torch.sin, example)


@pytest.mark.parametrize(
    "call, usage",
    [
        (lambda f, x, t: tm.laplacian(f, x, t), r"tm\.laplacian\(f, \(x, t\), wrt=0\)"),
        (
            lambda f, x, t: tm.biharmonic(f, x, t),
            r"tm\.biharmonic\(f, \(x, t\), wrt=0\)",
        ),
        (
            lambda f, x, t: tm.compile(f, x, t, "laplacian"),
            r"tm\.compile\(f, \(x, t\), operator, wrt=0\)",
        ),
        (lambda f, x, t: tm.jet(f, x, t, 2), r"tm\.jet\(f, \(x, t\), order\)"),
    ],
)
def test_inputs_given_as_separate_arguments_show_the_tuple(call, usage):
    """`tm.laplacian(u, x, t)` for u(x, t): an OptionError with the call to
    make, not Python's TypeError about positional arguments."""

    def u(x, t):
        return torch.sin(x).sum(-1, keepdim=True) * t

    x, t = torch.rand(4, 2, dtype=torch.float64), torch.rand(4, 1, dtype=torch.float64)
    with pytest.raises(OptionError, match=f"f's inputs are one argument.*{usage}"):
        call(u, x, t)
    lap = tm.laplacian(u, (x, t), wrt=0)  # the call the message shows works
    assert lap(x, t).shape == (4, 1)

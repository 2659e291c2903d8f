"""Every operator on every model family, against torch.func (tests/reference.py).

Each compiled operator is called on a batch of 1 and of 16 (one compile: the
batch is dynamic). Errors are relative to the largest reference value:
`max |ours - ref| <= rtol * max |ref|`, rtol 1e-10 in float64, 1e-4 in float32.
"""

import functools

import numpy as np
import pytest
import reference as ref
import torch

import taylor_mlir as tm
from taylor_mlir.errors import OptionError
from taylor_mlir.frontend import import_torch
from taylor_mlir.models import ProductsFunction, ResidualMLP, mlp

D = 3
RTOL = {torch.float64: 1e-10, torch.float32: 1e-4}

MODELS = {
    "tanh": lambda dtype: mlp([D, 8, 8, 1], "tanh", dtype, seed=1),
    "sigmoid": lambda dtype: mlp([D, 8, 8, 1], "sigmoid", dtype, seed=2),
    "sin": lambda dtype: mlp([D, 8, 8, 1], "sin", dtype, seed=3),
    "residual": lambda dtype: ResidualMLP(D, 6, 2, "tanh", dtype, seed=4),
    "products": lambda dtype: ProductsFunction(D, dtype, seed=5),
}

# indefinite: eigenvalues of both signs
COEFFICIENTS = np.array([[2.0, 0.5, -1.0], [0.5, -1.0, 0.3], [-1.0, 0.3, 0.5]])
# mixed partials up to order 4, first-order and order-0 terms
MIXED_TERMS = {
    (0, 1): 1.0,
    (0, 0, 2): 0.5,
    (1, 2, 2, 2): -0.25,
    (0, 0, 1, 1): 0.75,
    (2,): -1.0,
    (): 0.3,
}
HEAT_TERMS = {(0,): 1.0, **{(d, d): -1.0 for d in range(1, D)}}

# name -> (how tm.compile names it, its options, the helper, the reference)
OPERATORS = {
    "laplacian": ("laplacian", {}, tm.laplacian, ref.laplacian),
    "weighted_laplacian": (
        "weighted_laplacian",
        {"coefficients": COEFFICIENTS},
        tm.weighted_laplacian,
        lambda f, x: ref.weighted_laplacian(f, x, torch.from_numpy(COEFFICIENTS)),
    ),
    "biharmonic": ("biharmonic", {}, tm.biharmonic, ref.biharmonic),
    "mixed_partials": (
        "linear_operator",
        {"terms": MIXED_TERMS},
        tm.linear_operator,
        lambda f, x: ref.linear_operator(f, x, MIXED_TERMS),
    ),
    "heat": (
        "linear_operator",
        {"terms": HEAT_TERMS},
        tm.linear_operator,
        ref.heat_operator,
    ),
}


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, rtol: float):
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype
    scale = expected.abs().max().item()
    error = (actual.detach() - expected).abs().max().item()
    assert error <= rtol * scale, f"max error {error:.3g} vs scale {scale:.3g}"


def batches(dtype):
    g = torch.Generator().manual_seed(11)
    return [torch.randn(n, D, generator=g, dtype=dtype) for n in (1, 16)]


@functools.cache
def imported_model(model: str, dtype):
    """The model and its import, shared by the operators of the matrix (one
    torch.export per model and dtype)."""
    f = MODELS[model](dtype)
    return f, import_torch(f, (batches(dtype)[1],))


@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "standard"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("operator", OPERATORS)
def test_operator_matches_torch_func(operator, model, dtype, collapsed):
    name, options, _, reference = OPERATORS[operator]
    f, imported = imported_model(model, dtype)
    xs = batches(dtype)
    compiled = tm.compile(
        f, xs[1], name, collapsed=collapsed, imported=imported, **options
    )
    for x in xs:
        assert_relative(compiled(x), reference(f, x), RTOL[dtype])


IREE_CASES = [
    ("laplacian", "tanh", torch.float64, False),
    ("laplacian", "products", torch.float32, False),
    ("biharmonic", "sin", torch.float64, False),
    ("weighted_laplacian", "residual", torch.float32, False),
    ("heat", "sigmoid", torch.float64, False),
    ("mixed_partials", "products", torch.float64, False),
]


@pytest.mark.parametrize("operator, model, dtype, collapsed", IREE_CASES)
def test_operator_on_iree_cpu(operator, model, dtype, collapsed):
    """Through the helpers (tm.laplacian, ...), compiled natively by IREE."""
    _, options, helper, reference = OPERATORS[operator]
    f = MODELS[model](dtype)
    xs = batches(dtype)
    compiled = helper(f, xs[1], collapsed=collapsed, backend="iree-cpu", **options)
    for x in xs:
        assert_relative(compiled(x), reference(f, x), RTOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("operator", OPERATORS)
def test_collapsed_operator_matrix_on_iree_cpu(operator, model, dtype):
    """The whole operator x model x dtype matrix, collapsed, compiled by IREE
    (standard Taylor mode on IREE: `test_operator_on_iree_cpu`)."""
    name, options, _, reference = OPERATORS[operator]
    f, imported = imported_model(model, dtype)
    xs = batches(dtype)
    compiled = tm.compile(
        f, xs[1], name, backend="iree-cpu", imported=imported, **options
    )
    for x in xs:
        assert_relative(compiled(x), reference(f, x), RTOL[dtype])


def test_helpers_on_torch():
    """The helpers build what tm.compile builds (one case each)."""
    f = MODELS["sigmoid"](torch.float64)
    xs = batches(torch.float64)
    for _, options, helper, reference in OPERATORS.values():
        compiled = helper(f, xs[1], **options)
        assert_relative(compiled(xs[1]), reference(f, xs[1]), 1e-10)


def test_reused_import_must_match_x():
    _, imported = imported_model("tanh", torch.float64)
    f = MODELS["tanh"](torch.float32)
    with pytest.raises(OptionError, match="imported program takes"):
        tm.compile(f, batches(torch.float32)[1], "laplacian", imported=imported)


def test_operator_on_images():
    """Inputs of shape (N, 2, 2): directions take the datum's shape."""
    torch.manual_seed(0)
    net = mlp([4, 6, 1], "tanh", torch.float64, seed=6)

    def f(x):
        return net(x.reshape(x.shape[0], 4))

    x = torch.randn(5, 2, 2, dtype=torch.float64)
    lap = tm.laplacian(f, x)
    assert_relative(lap(x), ref.laplacian(f, x), 1e-10)
    terms = {(0, 3): 1.0, (1,): 2.0}
    op = tm.linear_operator(f, x, terms=terms)
    assert_relative(op(x), ref.linear_operator(f, x, terms), 1e-10)
    v = torch.randn(5, 2, 2, dtype=torch.float64)
    _, (f1, f2) = tm.jet(f, x, order=2)(x, [v])
    expected = ref.taylor_path_derivatives(f, [x, v], 2)
    assert_relative(f1, expected[1], 1e-10)
    assert_relative(f2, expected[2], 1e-10)


def test_vector_output():
    """Outputs of shape (N, 2): the operator applies per output entry."""
    f = mlp([D, 8, 2], "tanh", torch.float64, seed=7)
    x = batches(torch.float64)[1]
    assert_relative(tm.laplacian(f, x)(x), ref.laplacian(f, x), 1e-10)
    assert_relative(tm.biharmonic(f, x)(x), ref.biharmonic(f, x), 1e-10)


def test_weighted_laplacian_from_factor():
    f = MODELS["tanh"](torch.float64)
    x = batches(torch.float64)[1]
    S = torch.tensor([[1.0, 0.0], [0.5, 2.0], [0.0, -1.0]], dtype=torch.float64)
    op = tm.weighted_laplacian(f, x, factor=S)
    assert_relative(op(x), ref.weighted_laplacian(f, x, S @ S.T), 1e-10)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(
    "model, dtype",
    [("tanh", torch.float64), ("products", torch.float64), ("sin", torch.float32)],
)
def test_jet_matches_nested_autograd(order, model, dtype):
    f = MODELS[model](dtype)
    g = torch.Generator().manual_seed(order)
    x0 = torch.randn(4, D, generator=g, dtype=dtype)
    xs = [torch.randn(4, D, generator=g, dtype=dtype) for _ in range(order)]
    jet = tm.jet(f, x0, order=order)
    f0, fs = jet(x0, xs)
    expected = ref.taylor_path_derivatives(f, [x0, *xs], order)
    assert_relative(f0, expected[0], RTOL[dtype])
    assert len(fs) == order
    for k in range(order):
        assert_relative(fs[k], expected[k + 1], RTOL[dtype])


def test_jet_with_fewer_coefficients_pads_with_zeros():
    f = MODELS["tanh"](torch.float64)
    x0, x1 = torch.randn(2, 4, D, dtype=torch.float64)
    f0, fs = tm.jet(f, x0, order=3)(x0, [x1])
    expected = ref.taylor_path_derivatives(f, [x0, x1], 3)
    for k in range(3):
        assert_relative(fs[k], expected[k + 1], 1e-10)


def test_references_agree_with_closed_forms():
    """The referee itself: sum_d sin(x_d) has Laplacian -sum sin(x_d), biharmonic
    sum sin(x_d), and 3rd path derivative -sum cos(x_d) v_d^3."""
    x, v = torch.randn(2, 4, D, dtype=torch.float64)

    def f(x):
        return torch.sin(x).sum(1)

    s = torch.sin(x).sum(1)
    torch.testing.assert_close(ref.laplacian(f, x), -s, rtol=0, atol=1e-14)
    torch.testing.assert_close(ref.biharmonic(f, x), s, rtol=0, atol=1e-14)
    third = ref.taylor_path_derivatives(f, [x, v], 3)[3]
    torch.testing.assert_close(third, -(torch.cos(x) * v**3).sum(1), rtol=0, atol=1e-13)

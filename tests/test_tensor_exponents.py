"""Powers with a tensor exponent (`x ** w`, `torch.pow(x, w)`, `c ** x`):
values, operators and parameter gradients against torch.func, on the bases
where torch's power is real (negative bases with integer exponents, zero
bases), for exponents constant along the jet (`taylor.pow`) and exponents
that vary with x (`exp(w log z)`)."""

import importlib.util

import pytest
import reference as ref
import torch

import taylor_mlir as tm

TOL = 1e-10
HAS_IREE = importlib.util.find_spec("iree.compiler") is not None
# every sign, and exact zeros: x ** w was exp(w log x) here, NaN for x <= 0
BASES = torch.tensor(
    [[0.0, 0.5, -0.5], [1.0, -1.0, -2.0], [-1.5, 0.0, 2.0]], dtype=torch.float64
)


def close(actual, expected):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= TOL * scale


class BufferExponent(torch.nn.Module):
    """An exponent a module holds: an argument of every call, not a constant."""

    def __init__(self, exponent):
        super().__init__()
        self.register_buffer("n", torch.tensor(exponent, dtype=torch.float64))

    def forward(self, x):
        return (x**self.n).sum(-1, keepdim=True)


FUNCTIONS = {
    "integer-constant": lambda x: (x ** torch.tensor(3.0, dtype=x.dtype)).sum(-1),
    "integer-dtype-constant": lambda x: (x ** torch.tensor(2)).sum(-1),
    "per-entry": lambda x: torch.pow(x, torch.tensor([1.0, 2.0, 3.0], dtype=x.dtype)),
    "buffer": BufferExponent(3.0),
    "buffer-squared": BufferExponent(2.0),
    "buffer-zero": BufferExponent(0.0),
    "in-a-network": lambda x: torch.tanh(
        (torch.sin(x) - 0.3) ** torch.tensor(4.0, dtype=x.dtype) + x
    ).sum(-1),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_value_and_laplacian_on_every_sign_of_the_base(name):
    f = FUNCTIONS[name]
    op = tm.laplacian(f, BASES, returns=("value", "operator"))
    value, laplacian = op(BASES)
    close(value, f(BASES))
    close(laplacian, ref.laplacian(f, BASES))


# the same functions with Python-number exponents: torch.func's fourth
# derivative of a tensor power is NaN at negative bases (its forward-mode rule
# multiplies the exponent's zero tangent by log z), the number's is not
NUMBER_EXPONENTS = {
    "integer-constant": lambda x: (x**3).sum(-1),
    "buffer": lambda x: (x**3).sum(-1, keepdim=True),
    "in-a-network": lambda x: torch.tanh((torch.sin(x) - 0.3) ** 4 + x).sum(-1),
}


@pytest.mark.parametrize("name", sorted(NUMBER_EXPONENTS))
def test_biharmonic_on_negative_bases(name):
    f, same = FUNCTIONS[name], NUMBER_EXPONENTS[name]
    x = BASES[:, 1:]
    close(same(x), f(x))
    close(tm.biharmonic(f, x)(x), ref.biharmonic(same, x))


def test_a_changed_buffer_exponent_is_read_at_the_call():
    f = BufferExponent(2.0)
    op = tm.laplacian(f, BASES)
    f.n.fill_(3.0)
    close(op(BASES), ref.laplacian(f, BASES))


def test_non_integer_exponent_of_a_negative_base_is_nan_as_in_torch():
    f = BufferExponent(1.5)
    x = torch.cat([BASES, BASES.abs() + 0.5])  # rows with a negative base, then none
    op = tm.laplacian(f, x, returns=("value", "operator"))
    value, laplacian = op(x)
    expected_value, expected = f(x), ref.laplacian(f, x)
    assert torch.equal(value.isnan(), expected_value.isnan())
    assert torch.equal(value.isnan(), (x < 0).any(-1, keepdim=True))
    positive = slice(len(BASES), None)
    close(value[positive], expected_value[positive])
    close(laplacian[positive], expected[positive])


class LearnedExponent(torch.nn.Module):
    """A trained exponent and weight: the operator's parameter gradients."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.5, 2.5, 3.0], dtype=torch.float64))
        self.scale = torch.nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def forward(self, x):
        return (self.scale * (x * x + 0.5) ** self.w).sum(-1, keepdim=True)


def test_parameter_gradients_of_a_learned_exponent():
    f = LearnedExponent()
    op = tm.laplacian(f, BASES)
    ours, expected = op(BASES), ref.laplacian(f, BASES)
    close(ours, expected)
    parameters = [f.w, f.scale]
    g_ours = torch.autograd.grad(ours.square().sum(), parameters)
    g_ref = torch.autograd.grad(expected.square().sum(), parameters)
    for a, b in zip(g_ours, g_ref, strict=True):
        close(a, b)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: (x ** x.flip(-1)).sum(-1),  # the exponent varies with x
        lambda x: (2.0**x + 0.5 ** (x * x)).sum(-1),  # a number base
        lambda x: (torch.tensor([2.0, 3.0, 0.5], dtype=x.dtype) ** x).sum(-1),
    ],
    ids=["x-to-the-x", "number-base", "tensor-base"],
)
def test_exponents_that_vary_with_x(f):
    x = BASES.abs() + 0.25  # z^w = exp(w log z) needs z > 0, as torch's d/dw
    op = tm.laplacian(f, x, returns=("value", "operator"))
    value, laplacian = op(x)
    close(value, f(x))
    close(laplacian, ref.laplacian(f, x))
    close(tm.biharmonic(f, x)(x), ref.biharmonic(f, x))


@pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")
def test_negative_bases_on_iree(tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    f = FUNCTIONS["per-entry"]
    op = tm.laplacian(f, BASES, backend="iree-cpu", returns=("value", "operator"))
    value, laplacian = op(BASES)
    close(value, f(BASES))
    close(laplacian, ref.laplacian(f, BASES))

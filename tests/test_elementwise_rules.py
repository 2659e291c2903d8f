"""Every derivative rule of `ELEMENTWISE_FUNCTIONS`, evaluated on torch tensors,
against nested `torch.autograd.grad` of the torch function (float64)."""

from __future__ import annotations

import math

import pytest
import torch

from taylor_mlir.dialects.elementwise import (
    ELEMENTWISE_FUNCTIONS,
    PRIMITIVES,
    OrderTooHighError,
)
from taylor_mlir.dialects.special import MAX_POLYGAMMA

ORDERS = range(7)
POW_EXPONENTS = (2.0, 3.0, -1.0, 0.5, 1.5, -2.5)


class TorchElementwiseOps:
    """`ElementwiseOps` evaluating torch tensors."""

    def constant(self, value: float, like: torch.Tensor) -> torch.Tensor:
        return torch.full_like(like, value)

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        return a / b

    def neg(self, a):
        return -a

    def powf(self, a, exponent):
        return torch.pow(a, exponent)

    def primitive(self, name: str, a: torch.Tensor) -> torch.Tensor:
        """The primitive's ATen op from the table (step has none)."""
        if name == "step":
            return (a > 0).to(a.dtype)
        function = ELEMENTWISE_FUNCTIONS[name]
        return getattr(torch.ops.aten, function.aten).default(*function.aten_args, a)


# name -> (torch function, domain: "real" (nonzero reals) or "positive")
REFERENCES = {
    "tanh": (torch.tanh, "real"),
    "sigmoid": (torch.sigmoid, "real"),
    "exp": (torch.exp, "real"),
    "sin": (torch.sin, "real"),
    "cos": (torch.cos, "real"),
    "log": (torch.log, "positive"),
    "log1p": (torch.log1p, "positive"),
    "sqrt": (torch.sqrt, "positive"),
    "rsqrt": (torch.rsqrt, "positive"),
    "reciprocal": (torch.reciprocal, "real"),
    "relu": (torch.relu, "real"),
    "erf": (torch.erf, "real"),
    "sinh": (torch.sinh, "real"),
    "cosh": (torch.cosh, "real"),
    "tan": (torch.tan, "real"),
    "atan": (torch.atan, "real"),
    "asin": (torch.asin, "unit"),
    "acos": (torch.acos, "unit"),
    "asinh": (torch.asinh, "real"),
    "acosh": (torch.acosh, "above one"),
    "atanh": (torch.atanh, "unit"),
    "expm1": (torch.expm1, "real"),
    "exp2": (torch.exp2, "real"),
    "log2": (torch.log2, "positive"),
    "log10": (torch.log10, "positive"),
    "erfc": (torch.special.erfc, "real"),
    "erfinv": (torch.special.erfinv, "unit"),
    "lgamma": (torch.lgamma, "positive"),
    "digamma": (torch.digamma, "positive"),
} | {
    f"polygamma{n}": (lambda z, n=n: torch.special.polygamma(n, z), "positive")
    for n in range(1, MAX_POLYGAMMA + 1)
}
# the highest order each rule has (polygamma up to MAX_POLYGAMMA)
MAX_ORDER = {"lgamma": MAX_POLYGAMMA + 1, "digamma": MAX_POLYGAMMA} | {
    f"polygamma{n}": MAX_POLYGAMMA - n for n in range(1, MAX_POLYGAMMA + 1)
}


def _points(domain: str) -> torch.Tensor:
    """Points away from the kinks and poles (0): both signs unless positive."""
    magnitudes = torch.tensor([0.3, 0.7, 1.1, 1.6, 2.2], dtype=torch.float64)
    if domain == "positive":
        return magnitudes
    if domain == "above one":
        return 1 + magnitudes
    if domain == "unit":  # (-1, 1)
        magnitudes = torch.tensor([0.1, 0.35, 0.6, 0.85], dtype=torch.float64)
    return torch.cat([-magnitudes.flip(0), magnitudes])


def autograd_derivatives(f, z: torch.Tensor, order: int) -> list[torch.Tensor]:
    """`[f(z), f'(z), ..., f^(order)(z)]` by nested autograd (f elementwise)."""
    z = z.clone().requires_grad_(True)
    current = f(z)
    out = [current.detach()]
    for _ in range(order):
        if not current.requires_grad:  # piecewise linear: identically zero from here
            current = torch.zeros_like(z)
        else:
            (current,) = torch.autograd.grad(current.sum(), z, create_graph=True)
        out.append(current.detach())
    return out


def _check(rule_values, reference, name: str) -> None:
    assert len(rule_values) == len(reference)
    for n, (got, want) in enumerate(zip(rule_values, reference, strict=True)):
        if got is None:
            got = torch.zeros_like(want)
        scale = max(want.abs().max().item(), 1.0)
        torch.testing.assert_close(
            got,
            want,
            rtol=1e-10,
            atol=1e-10 * scale,
            msg=lambda m, n=n: f"{name}: derivative {n}: {m}",
        )


def test_every_function_has_a_reference():
    assert set(ELEMENTWISE_FUNCTIONS) == set(REFERENCES) | {"pow"}


def test_every_primitive_has_an_aten_op():
    """What `TorchElementwiseOps.primitive` (and the torch backend) runs."""
    for name in set(PRIMITIVES) - {"step"}:
        aten_name = ELEMENTWISE_FUNCTIONS[name].aten
        assert aten_name is not None and hasattr(torch.ops.aten, aten_name), name


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FUNCTIONS))
def test_primal_alone_at_order_zero(name: str):
    """At order 0 a rule emits s(z) and nothing else (the frontend imports the
    ATen op as the rule's primal): every op it emits is used by the primal."""
    emitted: list[tuple] = []

    class Recording(TorchElementwiseOps):
        def __getattribute__(self, attr):
            method = super().__getattribute__(attr)
            if attr.startswith("_") or not callable(method):
                return method

            def record(*args):
                result = method(*args)
                emitted.append((result, args))
                return result

            return record

    z = _points("positive")
    exponent = 1.5 if ELEMENTWISE_FUNCTIONS[name].needs_exponent else None
    primal = ELEMENTWISE_FUNCTIONS[name].primal(Recording(), z, exponent)
    used = {id(primal)}
    for result, args in reversed(emitted):
        if id(result) in used:
            used |= {id(a) for a in args if isinstance(a, torch.Tensor)}
    unused = [r for r, _ in emitted if id(r) not in used]
    assert not unused, f"{name}: {len(unused)} values emitted but not used"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_rule_matches_autograd(name: str, order: int):
    f, domain = REFERENCES[name]
    z = _points(domain)
    rule = ELEMENTWISE_FUNCTIONS[name]
    if order > MAX_ORDER.get(name, order):
        with pytest.raises(OrderTooHighError, match="polygamma is available"):
            rule.derivatives(TorchElementwiseOps(), z, order)
        return
    got = rule.derivatives(TorchElementwiseOps(), z, order)
    _check(got, autograd_derivatives(f, z, order), name)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("exponent", POW_EXPONENTS)
def test_pow_rule_matches_autograd(exponent: float, order: int):
    # integer exponents are exact for negative bases too
    z = _points("real" if float(exponent).is_integer() else "positive")
    rule = ELEMENTWISE_FUNCTIONS["pow"]
    got = rule.derivatives(TorchElementwiseOps(), z, order, exponent)
    _check(
        got, autograd_derivatives(lambda t: t**exponent, z, order), f"pow {exponent}"
    )


def test_polynomial_power_derivatives_vanish():
    """z^2: the third and higher derivatives are identically zero (None)."""
    z = _points("real")
    got = ELEMENTWISE_FUNCTIONS["pow"].derivatives(TorchElementwiseOps(), z, 5, 2.0)
    assert got[3:] == [None, None, None]


def test_erf_first_derivative_closed_form():
    """erf'(z) = 2/sqrt(pi) exp(-z^2), independent of autograd."""
    z = _points("real")
    got = ELEMENTWISE_FUNCTIONS["erf"].derivatives(TorchElementwiseOps(), z, 1)[1]
    want = 2 / math.sqrt(math.pi) * torch.exp(-z * z)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)

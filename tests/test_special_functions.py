"""The special functions of issue 11 (sinh ... polygamma, atan2, pow with a
tensor exponent) inside a small MLP: the Laplacian and a 4-jet against
torch.func / nested autograd (tests/reference.py) in float64 at 1e-10, on the
torch backend and on iree-cpu (where the `special` ops are composed from
math ops: taylor_mlir/backends/special_functions_iree.py)."""

from __future__ import annotations

import importlib.util

import mpmath
import pytest
import torch
from reference import laplacian, taylor_path_derivatives

import taylor_mlir as tm
from taylor_mlir.errors import BackendError, UnsupportedOperatorError

TOL = 1e-10
needs_iree = pytest.mark.skipif(
    importlib.util.find_spec("iree.compiler") is None, reason="iree is not installed"
)
BACKENDS = ["torch", pytest.param("iree-cpu", marks=needs_iree)]

# the pre-activation mapped into each function's domain
DOMAINS = {
    "real": lambda h: h,
    "unit": lambda h: 0.8 * torch.tanh(h),  # (-1, 1)
    "positive": lambda h: 0.5 + h * h,
    "above one": lambda h: 1.5 + h * h,
}

# name -> (function of the hidden layer, domain, IREE op it refuses or None)
FUNCTIONS = {
    "sinh": (torch.sinh, "real", None),
    "cosh": (torch.cosh, "real", None),
    "tan": (lambda h: torch.tan(0.5 * h), "real", None),
    "asin": (torch.asin, "unit", None),
    "acos": (torch.acos, "unit", None),
    "atan": (torch.atan, "real", None),
    "asinh": (torch.asinh, "real", None),
    "acosh": (torch.acosh, "above one", None),
    "atanh": (torch.atanh, "unit", None),
    "expm1": (torch.expm1, "real", None),
    "exp2": (torch.exp2, "real", None),
    "log2": (torch.log2, "positive", None),
    "log10": (torch.log10, "positive", None),
    "erfc": (torch.special.erfc, "real", None),
    "erfinv": (torch.special.erfinv, "unit", None),
    "lgamma": (torch.lgamma, "positive", None),
    "digamma": (torch.digamma, "positive", None),
    "polygamma": (
        lambda h: torch.special.polygamma(2, h),
        "positive",
        None,
    ),
    "atan2": (lambda h: torch.atan2(h[:, :4], h[:, 4:]), "real", None),
    "pow": (lambda h: (0.5 + h[:, :4] ** 2) ** h[:, 4:], "real", None),
    "scalar pow": (lambda h: 1.7**h, "real", None),
}


def weights(width: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """w1, b1, w2 of `mlp` (w2 has `width` rows)."""
    generator = torch.Generator().manual_seed(0)
    w1 = torch.randn(3, 8, generator=generator, dtype=torch.float64) * 0.7
    b1 = torch.randn(8, generator=generator, dtype=torch.float64) * 0.3
    w2 = torch.randn(width, 1, generator=generator, dtype=torch.float64)
    return w1, b1, w2


def mlp(name: str):
    g, domain, _ = FUNCTIONS[name]
    width = g(DOMAINS[domain](torch.zeros(1, 8, dtype=torch.float64))).shape[1]
    w1, b1, w2 = weights(width)
    return lambda x: (g(DOMAINS[domain](x @ w1 + b1)) @ w2).squeeze(-1)


# torch's float64 polygamma(1) (trigamma) is off by up to ~5e-10 relative, so
# torch.func's derivatives of lgamma and digamma are too: on iree-cpu, whose
# composition is accurate to a few ulp, they are checked against mpmath.
MPMATH_REFERENCE = {"lgamma": mpmath.loggamma, "digamma": mpmath.digamma}


def mpmath_path_derivatives(
    name: str, x: torch.Tensor, v: torch.Tensor, order: int
) -> list[torch.Tensor]:
    """[f_0, ..., f_order], f_k = d^k/dt^k mlp(name)(x + t v) at t = 0, by
    mpmath (40 digits) on the "positive" domain's closed form, row by row."""
    g = MPMATH_REFERENCE[name]
    w1, b1, w2 = (w.tolist() for w in weights())
    rows = []
    with mpmath.workdps(40):
        for point, direction in zip(x.tolist(), v.tolist(), strict=True):

            def f(t, point=point, direction=direction):
                total = mpmath.mpf(0)
                for j in range(8):
                    h = b1[j] + mpmath.fsum(
                        (point[i] + t * direction[i]) * w1[i][j] for i in range(3)
                    )
                    total += w2[j][0] * g(0.5 + h * h)
                return total

            rows.append([float(mpmath.diff(f, 0, k)) for k in range(order + 1)])
    return list(torch.tensor(rows, dtype=torch.float64).T)


def reference_laplacian(name: str, backend: str, x: torch.Tensor) -> torch.Tensor:
    """torch.func's Laplacian, or mpmath's (the sum of the second derivatives
    along the axes) for MPMATH_REFERENCE on iree-cpu."""
    if not (backend.startswith("iree") and name in MPMATH_REFERENCE):
        return laplacian(mlp(name), x)
    axes = torch.eye(x.shape[1], dtype=x.dtype)
    return sum(
        mpmath_path_derivatives(name, x, axis.expand_as(x), 2)[2] for axis in axes
    )


def sample(n: int = 6) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(1)).double()


def refused(name: str, backend: str):
    """The BackendError iree-cpu gives for a `special` op, else no check."""
    op = FUNCTIONS[name][2]
    if backend.startswith("iree") and op is not None:
        return pytest.raises(BackendError, match=rf"{op}.*IREE.*backend='torch'")
    return None


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_laplacian(name: str, backend: str):
    f, x = mlp(name), sample()
    if (expected_error := refused(name, backend)) is not None:
        with expected_error:
            tm.laplacian(f, x, backend=backend)
        return
    got = tm.laplacian(f, x, backend=backend)(x)
    expected = reference_laplacian(name, backend, x)
    torch.testing.assert_close(got, expected, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_4_jet(name: str, backend: str):
    f, x = mlp(name), sample()
    if (expected_error := refused(name, backend)) is not None:
        with expected_error:
            tm.jet(f, x, 4, backend=backend)
        return
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(2)).double()
    f0, rest = tm.jet(f, x, 4, backend=backend)(x, [v])
    if backend.startswith("iree") and name in MPMATH_REFERENCE:
        expected = mpmath_path_derivatives(name, x, v, 4)
    else:
        expected = taylor_path_derivatives(f, [x, v], 4)
    for k, (got, want) in enumerate(zip([f0, *rest], expected, strict=True)):
        scale = max(1.0, want.abs().max().item())
        torch.testing.assert_close(
            got, want, rtol=TOL, atol=TOL * scale, msg=f"coefficient {k}"
        )


def test_atan2_quadrants():
    """Every quadrant, both branches (|y| <= |x| and above), the axes."""
    y = torch.tensor(
        [1.0, 1.0, -1.0, -1.0, 3.0, -3.0, 0.0, 2.0, 0.5], dtype=torch.float64
    )
    x = torch.tensor(
        [2.0, -2.0, -2.0, 2.0, -0.5, 0.5, -1.0, 0.0, 0.5], dtype=torch.float64
    )
    points = torch.stack([y, x], dim=1)

    def f(p):
        return torch.atan2(p[:, 0], p[:, 1]) * p[:, 0]

    got = tm.laplacian(f, points)(points)
    torch.testing.assert_close(got, laplacian(f, points), rtol=TOL, atol=TOL)
    f0, _ = tm.jet(f, points, 1)(points, [torch.ones_like(points)])
    torch.testing.assert_close(f0, f(points), rtol=TOL, atol=TOL)


def test_lgamma_order_beyond_polygamma_is_a_clear_error():
    """lgamma's 12th derivative would need polygamma(11)."""
    x = 1.0 + torch.rand(4, 2, dtype=torch.float64)
    with pytest.raises(UnsupportedOperatorError, match=r"lgamma.*polygamma\(11\)"):
        tm.jet(lambda x: torch.lgamma(x).sum(-1), x, 12)


def test_polygamma_of_large_order_is_refused():
    x = 1.0 + torch.rand(4, 2, dtype=torch.float64)
    with pytest.raises(UnsupportedOperatorError, match=r"polygamma.*n = 11"):
        tm.laplacian(lambda x: torch.special.polygamma(11, x).sum(-1), x)

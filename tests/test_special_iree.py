"""The `special` ops composed for IREE (taylor_mlir/backends/
special_functions_iree.py): their values on iree-cpu against mpmath at 30
digits on grids (dense, near 0, near the poles, large |x|) in float64 and
float32, one IREE compile per dtype, their special values against torch, and
a Laplacian and a 4-jet through them at negative arguments against mpmath.
(Laplacians and 4-jets of the MLPs on iree-cpu: tests/test_special_functions.py.)"""

from __future__ import annotations

import importlib.util
import math

import mpmath
import pytest
import torch

import taylor_mlir as tm
from taylor_mlir.backends.special_functions_iree import cot_derivative_polynomial

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("iree.compiler") is None, reason="iree is not installed"
)

POLYGAMMA_ORDERS = tuple(range(1, 11))
NAMES = (
    "erfc",
    "erfinv",
    "lgamma",
    "digamma",
    *(f"polygamma{n}" for n in POLYGAMMA_ORDERS),
)

# name -> (float64, float32) bound on |got - exact| / (eps max(|exact|, floor)),
# `floor` (below) 0 but where the function crosses zero or a reflection cancels.
BOUNDS = {
    "erfc": (2.5, 2.5),
    "erfinv": (2, 2),
    "lgamma": (2.5, 4),
    "digamma": (4.5, 4.5),
    "polygamma1": (2.5, 4),
    "polygamma2": (4, 5.5),
    "polygamma3": (5, 6.5),
    "polygamma4": (5, 7.5),
    "polygamma5": (6.5, 9.5),
    "polygamma6": (7.5, 10),
    "polygamma7": (10, 11),
    "polygamma8": (9, 13),
    "polygamma9": (9.5, 13),
    "polygamma10": (11, 16),
}


def floor(name: str, x: torch.Tensor) -> torch.Tensor:
    """The error scale besides |exact|: 1 for lgamma and digamma (zeros at 1,
    2, 1.46..., and between the negative poles) and for polygamma(even n) at
    x < 0 (a zero between each two poles); lgamma(1 - x) for lgamma at x < 0,
    the term the reflection subtracts."""
    x = x.double()
    one = torch.ones_like(x)
    if name == "lgamma":
        return torch.where(x < 0, torch.lgamma(1 - x).abs().clamp_min(1), one)
    if name == "digamma":
        return one
    if name.startswith("polygamma") and int(name.removeprefix("polygamma")) % 2 == 0:
        return (x < 0).double()
    return torch.zeros_like(x)


def torch_function(name: str):
    if name.startswith("polygamma"):
        n = int(name.removeprefix("polygamma"))
        return lambda x: torch.special.polygamma(n, x)
    return {
        "erfc": torch.special.erfc,
        "erfinv": torch.special.erfinv,
        "lgamma": torch.lgamma,
        "digamma": torch.digamma,
    }[name]


def mpmath_function(name: str):
    if name.startswith("polygamma"):
        n = int(name.removeprefix("polygamma"))
        return lambda t: mpmath.psi(n, t)
    return {
        "erfc": mpmath.erfc,
        "erfinv": mpmath.erfinv,
        "lgamma": lambda t: mpmath.log(abs(mpmath.gamma(t))),
        "digamma": lambda t: mpmath.psi(0, t),
    }[name]


def grid(name: str, n: int = 700) -> torch.Tensor:
    """n points of the function's domain: dense, random, near 0 and the ends,
    near the poles and far out (no subnormal results: IREE flushes them)."""
    g = torch.Generator().manual_seed(4)
    d = torch.float64
    if name == "erfinv":
        tails = 1 - torch.logspace(-16, -0.5, 100, dtype=d)
        parts = [
            torch.linspace(-0.999, 0.999, 200, dtype=d),
            2 * torch.rand(200, generator=g, dtype=d) - 1,
            tails,
            -tails,
            torch.logspace(-300, -1, 100, dtype=d),
        ]
    elif name == "erfc":
        parts = [
            torch.linspace(-6, 26.5, 300, dtype=d),
            3 * torch.randn(200, generator=g, dtype=d),
            torch.logspace(-300, 0, 100, dtype=d),
            -torch.logspace(-300, 0, 100, dtype=d),
        ]
    else:
        poles = torch.arange(-12, 1, dtype=d).repeat_interleave(4)
        offsets = torch.tensor([1e-9, -1e-9, 1e-4, -1e-4], dtype=d).repeat(13)
        far = 30 if name != "lgamma" else 300
        parts = [
            torch.linspace(0.01, 25, 200, dtype=d),
            20 * torch.rand(100, generator=g, dtype=d),
            torch.logspace(-far, far, 100, dtype=d),
            -0.01 - 15 * torch.rand(100, generator=g, dtype=d),
            (poles + offsets)[(poles + offsets) != 0],
            torch.linspace(-14.97, -0.03, 148, dtype=d),
        ]
    return torch.cat(parts)[:n]


def exact(name: str, x: torch.Tensor) -> torch.Tensor:
    """mpmath's values (NaN at the poles, where mpmath raises)."""
    f = mpmath_function(name)

    def value(t: float) -> float:
        try:
            return float(f(mpmath.mpf(t)))
        except (ValueError, ZeroDivisionError):
            return math.nan

    with mpmath.workdps(30):
        return torch.tensor([value(t) for t in x.tolist()], dtype=torch.float64)


def run_all(xs: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Every function on its points, in one program compiled for iree-cpu."""
    names = list(xs)
    x = torch.stack([xs[name] for name in names], dim=1).to(dtype)

    def program(x):
        return torch.stack(
            [torch_function(name)(x[:, i]) for i, name in enumerate(names)], dim=1
        )

    got = tm.compile_function(program, x, backend="iree-cpu")(x)
    return {name: got[:, i] for i, name in enumerate(names)}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_accuracy_against_mpmath(dtype):
    xs = {name: grid(name).to(dtype) for name in NAMES}
    got = run_all(xs, dtype)
    info = torch.finfo(dtype)
    column = 0 if dtype == torch.float64 else 1
    for name in NAMES:
        want = exact(name, xs[name].double())
        representable = (
            want.isfinite() & (want.abs() > info.tiny) & (want.abs() < info.max)
        )
        representable &= xs[name].abs() >= info.tiny  # IREE flushes subnormals
        scale = torch.maximum(want.abs(), floor(name, xs[name])) * info.eps
        ulps = ((got[name].double() - want).abs() / scale)[representable]
        worst = ulps.argmax()
        assert ulps.max() <= BOUNDS[name][column], (
            name,
            ulps.max().item(),
            xs[name][representable][worst].item(),
        )


SPECIAL_POINTS = {
    "erfc": [0.0, -0.0, math.inf, -math.inf, math.nan, 30.0, -30.0],
    "erfinv": [1.0, -1.0, 1.5, -2.0, 0.0, -0.0, math.nan],
    "lgamma": [0.0, -0.0, -1.0, -7.0, math.inf, -math.inf, math.nan],
    "digamma": [0.0, -0.0, -1.0, -7.0, math.inf, -math.inf, math.nan],
    "polygamma2": [0.0, -0.0, -1.0, -7.0, -math.inf, math.nan, 1e-200],
    "polygamma3": [0.0, -0.0, -1.0, -7.0, -math.inf, math.nan, 1e-200],
    "polygamma1": [0.0, -0.0, math.nan, 1e-200, math.inf, -0.0, 0.0],
}
"""Points where the composition matches torch exactly (torch's polygamma(1)
is finite at negative integers and NaN at -inf, the composition +inf; its
polygamma(n >= 2) is NaN at +inf, the composition 0: not compared)."""


def test_special_values_match_torch():
    xs = {
        name: torch.tensor(p, dtype=torch.float64) for name, p in SPECIAL_POINTS.items()
    }
    got = run_all(xs, torch.float64)
    for name, x in xs.items():
        want = torch_function(name)(x)
        torch.testing.assert_close(got[name], want, rtol=0, atol=0, equal_nan=True)
        number = ~want.isnan()  # the sign of a NaN is not specified
        assert torch.equal(
            torch.signbit(got[name])[number], torch.signbit(want)[number]
        ), name


def test_cot_derivative_polynomials():
    """d^n/dt^n cot t = P_n(cot t), against mpmath's derivatives."""
    with mpmath.workdps(40):
        t = mpmath.mpf("0.7")
        for n in range(0, 11):
            p = cot_derivative_polynomial(n)
            value = sum(c * mpmath.cot(t) ** k for k, c in enumerate(p))
            assert mpmath.almosteq(value, mpmath.diff(mpmath.cot, t, n), rel_eps=1e-25)


def composite(x):
    """lgamma, digamma, polygamma(3) at negative arguments (between the poles
    -3 and -2: the reflections), erfinv near +-0.9 and erfc of a sum."""
    u = -2.5 + 0.4 * torch.sin(x[:, 0] + 2 * x[:, 1])
    w = 0.95 * torch.tanh(2 * x[:, 1])
    return (
        torch.lgamma(u)
        + 0.3 * torch.digamma(u)
        + 0.01 * torch.special.polygamma(3, u)
        + torch.special.erfinv(w)
        + torch.special.erfc(x[:, 0] - x[:, 1])
    )


def composite_mpmath(point, t):
    x0, x1 = point
    u = -2.5 + 0.4 * mpmath.sin(x0 + 2 * x1)
    w = 0.95 * mpmath.tanh(2 * x1)
    return (
        mpmath.log(abs(mpmath.gamma(u)))
        + 0.3 * mpmath.psi(0, u)
        + 0.01 * mpmath.psi(3, u)
        + mpmath.erfinv(w)
        + mpmath.erfc(x0 - x1)
    )


def path_derivatives(x: torch.Tensor, v: torch.Tensor, order: int) -> torch.Tensor:
    """d^k/dt^k composite(x + t v) at t = 0 (k = 0 ... order, rows), mpmath."""
    rows = []
    with mpmath.workdps(40):
        for point, direction in zip(x.tolist(), v.tolist(), strict=True):

            def along(t, point=point, direction=direction):
                moved = [p + t * d for p, d in zip(point, direction, strict=True)]
                return composite_mpmath(moved, t)

            rows.append([float(mpmath.diff(along, 0, k)) for k in range(order + 1)])
    return torch.tensor(rows, dtype=torch.float64).T


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    return x, torch.randn(6, 2, generator=g, dtype=torch.float64)


def test_laplacian_at_negative_arguments():
    x, _ = inputs()
    got = tm.laplacian(composite, x, backend="iree-cpu")(x)
    axes = torch.eye(2, dtype=torch.float64)
    want = sum(path_derivatives(x, axis.expand_as(x), 2)[2] for axis in axes)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_4_jet_at_negative_arguments():
    x, v = inputs()
    f0, rest = tm.jet(composite, x, 4, backend="iree-cpu")(x, [v])
    for k, (got, want) in enumerate(
        zip([f0, *rest], path_derivatives(x, v, 4), strict=True)
    ):
        scale = max(1.0, want.abs().max().item())
        torch.testing.assert_close(
            got, want, rtol=1e-10, atol=1e-10 * scale, msg=f"coefficient {k}"
        )

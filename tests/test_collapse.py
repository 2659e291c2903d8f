"""Numerical and structural checks of `taylor-collapse`.

The expanded-level programs are MLIR text, written by a small generator below in
the form docs/ir-conventions.md describes (and taylor-expand emits): the K-jet of
an MLP `W_L s(... s(W_1 x + b_1) ...) + b_L` along R directions, one
`taylor.linear_map` per nonzero coefficient of a layer, Faa di Bruno's formula
per activation with the direction-independent factor as a `taylor.replicate` on
the left of each product, and one weighted `taylor.sum` of the top coefficient.

Each program is lowered with and without collapse and run by the torch backend.
The reference is independent: the K-th derivative of t -> f(x + t v_r + t^2/2 u_r)
at t = 0 by nested `torch.func.jacfwd`, weighted over the directions (and
`torch.func.hessian` for the Laplacian).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from xdsl.dialects import arith
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.parser import Parser

from taylor_mlir.backends.torch_backend import to_fx
from taylor_mlir.context import make_context
from taylor_mlir.dialects.taylor import LinearMapOp, ReplicateOp, SumOp
from taylor_mlir.transforms.convert_taylor_to_tensor import ConvertTaylorToTensorPass
from taylor_mlir.transforms.taylor_collapse import TaylorCollapsePass

N = 3  # batch rows

# --------------------------------------------------- the program generator


def partitions(k: int, largest: int | None = None) -> list[list[int]]:
    """The integer partitions of k, parts in non-increasing order."""
    largest = k if largest is None else largest
    if k == 0:
        return [[]]
    return [
        [part, *rest]
        for part in range(min(k, largest), 0, -1)
        for rest in partitions(k - part, part)
    ]


def faa_di_bruno_coefficient(parts: Sequence[int]) -> int:
    """k! / prod_j (m_j! (j!)^m_j) for the partition `parts` of k."""
    k = sum(parts)
    denominator = 1
    for j in set(parts):
        m = parts.count(j)
        denominator *= math.factorial(m) * math.factorial(j) ** m
    return math.factorial(k) // denominator


def tanh_derivative_polynomials(order: int) -> list[np.ndarray]:
    """tanh^(n)(z) = P_n(tanh z): P_0 = t, P_(n+1) = (1 - t^2) P_n'."""
    one_minus_t2 = np.polynomial.Polynomial([1.0, 0.0, -1.0])
    polynomials = [np.polynomial.Polynomial([0.0, 1.0])]
    for _ in range(order):
        polynomials.append(one_minus_t2 * polynomials[-1].deriv())
    return [p.coef for p in polynomials]


class ExpandedProgram:
    """Emits the expanded-level MLIR of one K-jet through an MLP."""

    def __init__(self, R: int):
        self.R = R
        self.lines: list[str] = []
        self.count = 0

    def primal(self, h: int) -> str:
        return f"tensor<?x{h}xf64>"

    def per_direction(self, h: int) -> str:
        return f"tensor<{self.R}x?x{h}xf64>"

    def emit(self, rhs: str) -> str:
        name = f"%v{self.count}"
        self.count += 1
        self.lines.append(f"  {name} = {rhs}")
        return name

    def fill(self, value: float, h: int) -> str:
        empty = self.emit(f"tensor.empty(%n) : {self.primal(h)}")
        scalar = self.emit(f"arith.constant {float(value)!r} : f64")
        return self.emit(
            f"linalg.fill ins({scalar} : f64) outs({empty} : {self.primal(h)}) "
            f"-> {self.primal(h)}"
        )

    def binary(self, op: str, a: str, b: str, t: str) -> str:
        return self.emit(f"arith.{op} {a}, {b} : {t}")

    def unary(self, op: str, a: str, t: str) -> str:
        return self.emit(f"{op} {a} : {t}")

    def matmul(self, a: str, w: str, i: int, o: int) -> str:
        zero = self.fill(0.0, o)
        return self.emit(
            f"linalg.matmul ins({a}, {w} : {self.primal(i)}, tensor<{i}x{o}xf64>) "
            f"outs({zero} : {self.primal(o)}) -> {self.primal(o)}"
        )

    def linear_map(self, x: str, w: str, i: int, o: int) -> str:
        zero = self.fill(0.0, o)
        name = self.emit(
            f"taylor.linear_map {x} : {self.per_direction(i)} -> "
            f"{self.per_direction(o)} {{"
        )
        argument, product = f"%a{self.count}", f"%m{self.count}"
        self.lines += [
            f"  ^bb0({argument}: {self.primal(i)}):",
            f"    {product} = linalg.matmul ins({argument}, {w} : {self.primal(i)}, "
            f"tensor<{i}x{o}xf64>) outs({zero} : {self.primal(o)}) -> {self.primal(o)}",
            f"    taylor.yield {product} : {self.primal(o)}",
            "  }",
        ]
        return name

    def add_bias(self, z: str, b: str, h: int) -> str:
        empty = self.emit(f"tensor.empty(%n) : {self.primal(h)}")
        broadcast = self.emit(
            f"linalg.broadcast ins({b} : tensor<{h}xf64>) outs({empty} : "
            f"{self.primal(h)}) dimensions = [0]"
        )
        return self.binary("addf", z, broadcast, self.primal(h))

    def replicate(self, p: str, h: int) -> str:
        return self.emit(
            f"taylor.replicate {p} : {self.primal(h)} -> {self.per_direction(h)}"
        )

    def derivatives(self, activation: str, z: str, h: int, K: int) -> list[str]:
        """[s(z), s'(z), ..., s^(K)(z)] as primal values."""
        t = self.primal(h)
        if activation == "sin":
            sin, cos = self.unary("math.sin", z, t), self.unary("math.cos", z, t)
            cycle = [sin, cos, self.unary("arith.negf", sin, t)]
            cycle.append(self.unary("arith.negf", cos, t))
            return [cycle[n % 4] for n in range(K + 1)]
        assert activation == "tanh"
        th = self.unary("math.tanh", z, t)
        values = []
        for coefficients in tanh_derivative_polynomials(K):
            value = self.fill(coefficients[-1], h)  # Horner
            for c in coefficients[-2::-1]:
                value = self.binary("mulf", value, th, t)
                if c != 0.0:
                    value = self.binary("addf", value, self.fill(c, h), t)
            values.append(value)
        return values

    def activation(
        self, activation: str, z: list[str | None], h: int, K: int
    ) -> list[str | None]:
        """Faa di Bruno: y_k = sum over partitions of k of
        C * s^(#parts)(z_0) * prod z_part, with z_k = None when zero."""
        s = self.derivatives(activation, z[0], h, K)
        y: list[str | None] = [s[0]]
        for k in range(1, K + 1):
            terms = []
            for parts in partitions(k):
                if any(z[j] is None for j in parts):
                    continue
                product = z[parts[0]]
                for j in parts[1:]:
                    product = self.binary("mulf", product, z[j], self.per_direction(h))
                factor = s[len(parts)]
                if (c := faa_di_bruno_coefficient(parts)) != 1:
                    factor = self.binary(
                        "mulf", self.fill(c, h), factor, self.primal(h)
                    )
                terms.append(
                    self.binary(
                        "mulf",
                        self.replicate(factor, h),
                        product,
                        self.per_direction(h),
                    )
                )
            y_k = terms[0] if terms else None
            for term in terms[1:]:
                y_k = self.binary("addf", y_k, term, self.per_direction(h))
            y.append(y_k)
        return y


@dataclass(frozen=True)
class Jet:
    """The K-jet of an MLP along R directions, seeded with x_1 = v_r (and
    x_2 = u_r when `second_seed`), reduced by a weighted sum of the top
    coefficient."""

    K: int
    widths: tuple[int, ...]  # input, hidden..., output
    activation: str
    R: int
    weights: tuple[float, ...] | None = None
    second_seed: bool = False

    @property
    def hidden_layers(self) -> int:
        return len(self.widths) - 2

    def mlir(self) -> str:
        p = ExpandedProgram(self.R)
        D = self.widths[0]
        arguments = [f"%x: {p.primal(D)}", f"%v: tensor<{self.R}x{D}xf64>"]
        if self.second_seed:
            arguments.append(f"%u: tensor<{self.R}x{D}xf64>")
        for layer, (i, o) in enumerate(zip(self.widths, self.widths[1:], strict=False)):
            arguments += [
                f"%w{layer}: tensor<{i}x{o}xf64>",
                f"%b{layer}: tensor<{o}xf64>",
            ]
        p.lines += [
            "  %c0 = arith.constant 0 : index",
            f"  %n = tensor.dim %x, %c0 : {p.primal(D)}",
        ]

        def seed(name: str) -> str:
            empty = p.emit(f"tensor.empty(%n) : {p.per_direction(D)}")
            return p.emit(
                f"linalg.broadcast ins({name} : tensor<{self.R}x{D}xf64>) outs({empty} "
                f": {p.per_direction(D)}) dimensions = [1]"
            )

        x: list[str | None] = ["%x", seed("%v")]
        x.append(seed("%u") if self.second_seed else None)
        x += [None] * (self.K + 1 - len(x))
        x = x[: self.K + 1]
        last = len(self.widths) - 2
        for layer, (i, o) in enumerate(zip(self.widths, self.widths[1:], strict=False)):
            w, b = f"%w{layer}", f"%b{layer}"
            output = layer == last
            z: list[str | None] = [p.add_bias(p.matmul(x[0], w, i, o), b, o)]
            for k in range(1, self.K + 1):
                # the output layer computes only the top coefficient (the rest is dead)
                wanted = x[k] is not None and (not output or k == self.K)
                z.append(p.linear_map(x[k], w, i, o) if wanted else None)
            x = z if output else p.activation(self.activation, z, o, self.K)
        weights = "" if self.weights is None else f" weights {list(self.weights)}"
        out = self.widths[-1]
        result = p.emit(
            f"taylor.sum {x[self.K]}{weights} : {p.per_direction(out)} -> {p.primal(out)}"
        )
        return (
            f"func.func @f({', '.join(arguments)}) -> {p.primal(out)} {{\n"
            + "\n".join(p.lines)
            + f"\n  func.return {result} : {p.primal(out)}\n}}\n"
        )

    def parameters(self, generator: torch.Generator) -> list[torch.Tensor]:
        params = []
        for i, o in zip(self.widths, self.widths[1:], strict=False):
            params.append(torch.randn(i, o, generator=generator, dtype=torch.float64))
            params.append(torch.randn(o, generator=generator, dtype=torch.float64))
        return params

    def network(
        self, params: Sequence[torch.Tensor]
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        activation = {"tanh": torch.tanh, "sin": torch.sin}[self.activation]

        def f(x):
            for layer in range(0, len(params), 2):
                x = x @ params[layer] + params[layer + 1]
                if layer + 2 < len(params):
                    x = activation(x)
            return x

        return f

    def reference(self, x, v, u, params) -> torch.Tensor:
        """sum_r c_r d^K/dt^K f(x + t v_r + t^2/2 u_r) at t = 0."""
        f = self.network(params)
        weights = self.weights or (1.0,) * self.R
        total = torch.zeros(N, self.widths[-1], dtype=torch.float64)
        for r in range(self.R):
            second = u[r] if u is not None else torch.zeros_like(v[r])

            def along(t, r=r, second=second):
                return f(x + t * v[r] + t**2 / 2 * second)

            derivative = along
            for _ in range(self.K):
                derivative = torch.func.jacfwd(derivative)
            total = total + weights[r] * derivative(
                torch.tensor(0.0, dtype=torch.float64)
            )
        return total


def parse(text: str) -> tuple[ModuleOp, object]:
    ctx = make_context()
    return Parser(ctx, text).parse_module(), ctx


def compile_program(text: str, collapse: bool) -> tuple[ModuleOp, ModuleOp]:
    """(the expanded or collapsed module, the lowered one)."""
    module, ctx = parse(text)
    if collapse:
        TaylorCollapsePass().apply(ctx, module)
    module.verify()
    lowered = module.clone()
    ConvertTaylorToTensorPass().apply(ctx, lowered)
    lowered.verify()
    return module, lowered


def run(jet: Jet, collapse: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    D = jet.widths[0]
    x = torch.randn(N, D, generator=generator, dtype=torch.float64)
    v = torch.randn(jet.R, D, generator=generator, dtype=torch.float64)
    u = torch.randn(jet.R, D, generator=generator, dtype=torch.float64)
    params = jet.parameters(generator)
    _, lowered = compile_program(jet.mlir(), collapse)
    seeds = [v, u] if jet.second_seed else [v]
    (result,) = to_fx(lowered, "f")(x, *seeds, *params)
    return result, jet.reference(x, v, u if jet.second_seed else None, params)


def count(module: ModuleOp, op_type: type) -> int:
    return sum(isinstance(op, op_type) for op in module.walk())


# ------------------------------------------------------------------ tests

JETS = [
    Jet(K=2, widths=(2, 3, 3, 1), activation="tanh", R=2),
    Jet(K=2, widths=(3, 4, 1), activation="sin", R=3, weights=(0.5, -1.0, 2.0)),
    Jet(K=3, widths=(2, 3, 3, 1), activation="tanh", R=2, weights=(1.0, -0.25)),
    Jet(K=3, widths=(2, 3, 1), activation="sin", R=3, second_seed=True),
    Jet(K=4, widths=(2, 3, 3, 1), activation="tanh", R=2, weights=(13 / 192, -1 / 3)),
    Jet(K=4, widths=(2, 3, 2), activation="sin", R=2, second_seed=True),
]


@pytest.mark.parametrize("collapse", [False, True], ids=["standard", "collapsed"])
@pytest.mark.parametrize("jet", JETS, ids=lambda j: f"K{j.K}-{j.activation}-R{j.R}")
def test_collapse_preserves_values(jet: Jet, collapse: bool):
    result, expected = run(jet, collapse)
    torch.testing.assert_close(result, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("jet", JETS, ids=lambda j: f"K{j.K}-{j.activation}-R{j.R}")
def test_collapse_propagates_one_coefficient_less_per_direction(jet: Jet):
    """Standard Taylor mode pushes every nonzero coefficient 1..K of a layer
    through its weight once per direction (a `taylor.linear_map`); collapsed,
    the top coefficient goes through once, summed: K - 1 maps per hidden layer
    after the first, and none at the output."""
    expanded, _ = compile_program(jet.mlir(), collapse=False)
    collapsed, _ = compile_program(jet.mlir(), collapse=True)
    seeded = 2 if jet.second_seed else 1  # nonzero input coefficients
    later = jet.hidden_layers - 1
    assert count(expanded, LinearMapOp) == min(seeded, jet.K) + jet.K * later + 1
    first_collapsed = min(seeded, jet.K - 1)
    assert count(collapsed, LinearMapOp) == first_collapsed + (jet.K - 1) * later


@pytest.mark.parametrize("jet", JETS, ids=lambda j: f"K{j.K}-{j.activation}-R{j.R}")
def test_collapsed_sums_only_products_of_per_direction_values(jet: Jet):
    """After collapse, a sum is only left where it cannot go further: at a product
    of two per-direction values (z_1 * z_1, ...); no replicate is summed."""
    collapsed, _ = compile_program(jet.mlir(), collapse=True)
    sums = [op for op in collapsed.walk() if isinstance(op, SumOp)]
    assert sums
    for sum_op in sums:
        product = sum_op.input.owner
        assert isinstance(product, arith.MulfOp), product
        for operand in product.operands:
            assert not isinstance(operand.owner, ReplicateOp)
            assert isinstance(operand.type, TensorType)
            assert operand.type.get_shape()[0] == jet.R


def test_collapsed_laplacian_of_tanh_mlp_matches_hessian_trace():
    """The exact Laplacian (unit directions, unweighted sum, K = 2)."""
    jet = Jet(K=2, widths=(3, 4, 4, 1), activation="tanh", R=3)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(N, 3, generator=generator, dtype=torch.float64)
    params = jet.parameters(generator)
    f = jet.network(params)
    expected = torch.stack(
        [torch.func.hessian(lambda xi: f(xi[None])[0, 0])(xi).trace() for xi in x]
    )
    for collapse in (False, True):
        _, lowered = compile_program(jet.mlir(), collapse)
        (result,) = to_fx(lowered, "f")(x, torch.eye(3, dtype=torch.float64), *params)
        torch.testing.assert_close(result[:, 0], expected, rtol=1e-10, atol=1e-10)


def test_collapse_keeps_direction_independent_work_out_of_the_directions():
    """Pushed-down replicates: after collapse, no elementwise op runs on two
    replicated operands (it runs once, on the primal values)."""
    jet = Jet(K=3, widths=(2, 3, 3, 1), activation="tanh", R=2)
    collapsed, _ = compile_program(jet.mlir(), collapse=True)
    for op in collapsed.walk():
        if isinstance(op, arith.MulfOp | arith.AddfOp):
            assert not all(isinstance(v.owner, ReplicateOp) for v in op.operands)

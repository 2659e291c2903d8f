"""Numerical checks of `taylor-mode` and `taylor-expand`.

Each case is a primal function written by hand in tensor-level MLIR, next to the
same function in torch. An operator function seeds a K-jet with given
coefficients x_1, x_2, ... per direction, applies the primal with `taylor.call`
and returns every coefficient. It runs through `taylor-mode`, `taylor-expand`
and `convert-taylor-to-tensor`, then through the torch backend. Each coefficient
k = 1..K is compared with d^k/dt^k f(x(t)) at t = 0 along the path
x(t) = x_0 + t x_1 + t^2/2 x_2 + ..., computed by nested `torch.autograd.grad`
on the torch function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
import torch
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from taylor_mlir.context import make_context
from taylor_mlir.errors import InvalidIRError, UnsupportedOperatorError
from taylor_mlir.transforms import get_all_passes

N = 3  # batch rows
R = 2  # directions

# ------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    """A primal function `@f` in MLIR (batch dimension `?`) and in torch."""

    name: str
    mlir: str
    torch_fn: Callable[..., tuple[torch.Tensor, ...]]
    input_shape: tuple[int, ...]  # per datum
    params: tuple[tuple[str, Callable[[torch.Generator], torch.Tensor]], ...]
    """(MLIR type, random value) of each parameter after the input."""
    result_shapes: tuple[tuple[int, ...], ...]  # per datum


def _normal(*shape: int) -> Callable[[torch.Generator], torch.Tensor]:
    return lambda g: torch.randn(*shape, generator=g, dtype=torch.float64)


def _positive(*shape: int) -> Callable[[torch.Generator], torch.Tensor]:
    return lambda g: 1.5 + torch.rand(*shape, generator=g, dtype=torch.float64)


MLP = Case(
    "mlp",
    """
func.func private @f(%x: tensor<?x2xf64>, %w1: tensor<2x3xf64>, %b1: tensor<3xf64>, %w2: tensor<3x1xf64>) -> tensor<?x1xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf64>
  %zero = arith.constant 0.0 : f64
  %e3 = tensor.empty(%n) : tensor<?x3xf64>
  %z3 = linalg.fill ins(%zero : f64) outs(%e3 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %m = linalg.matmul ins(%x, %w1 : tensor<?x2xf64>, tensor<2x3xf64>) outs(%z3 : tensor<?x3xf64>) -> tensor<?x3xf64>
  %bias = linalg.broadcast ins(%b1 : tensor<3xf64>) outs(%e3 : tensor<?x3xf64>) dimensions = [0]
  %h = arith.addf %m, %bias : tensor<?x3xf64>
  %t = math.tanh %h : tensor<?x3xf64>
  %e1 = tensor.empty(%n) : tensor<?x1xf64>
  %z1 = linalg.fill ins(%zero : f64) outs(%e1 : tensor<?x1xf64>) -> tensor<?x1xf64>
  %y = linalg.matmul ins(%t, %w2 : tensor<?x3xf64>, tensor<3x1xf64>) outs(%z1 : tensor<?x1xf64>) -> tensor<?x1xf64>
  func.return %y : tensor<?x1xf64>
}
""",
    lambda x, w1, b1, w2: (torch.tanh(x @ w1 + b1) @ w2,),
    (2,),
    (
        ("tensor<2x3xf64>", _normal(2, 3)),
        ("tensor<3xf64>", _normal(3)),
        ("tensor<3x1xf64>", _normal(3, 1)),
    ),
    ((1,),),
)

ALGEBRA = Case(
    "algebra",
    """
func.func private @f(%x: tensor<?x3xf64>, %p: tensor<?x3xf64>) -> tensor<?x3xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xf64>
  %e = tensor.empty(%n) : tensor<?x3xf64>
  %one_scalar = arith.constant 1.0 : f64
  %one = linalg.fill ins(%one_scalar : f64) outs(%e : tensor<?x3xf64>) -> tensor<?x3xf64>
  %a = arith.mulf %x, %x : tensor<?x3xf64>
  %b = arith.mulf %a, %p : tensor<?x3xf64>
  %a1 = arith.addf %one, %a : tensor<?x3xf64>
  %c = arith.divf %p, %a1 : tensor<?x3xf64>
  %xp = arith.subf %x, %p : tensor<?x3xf64>
  %d = arith.divf %xp, %a1 : tensor<?x3xf64>
  %pd = arith.subf %p, %d : tensor<?x3xf64>
  %f = arith.divf %pd, %p : tensor<?x3xf64>
  %nf = arith.negf %f : tensor<?x3xf64>
  %g = arith.addf %nf, %c : tensor<?x3xf64>
  %h = arith.mulf %p, %g : tensor<?x3xf64>
  %y = arith.subf %h, %b : tensor<?x3xf64>
  func.return %y : tensor<?x3xf64>
}
""",
    lambda x, p: (
        p * (-((p - (x - p) / (1 + x * x)) / p) + p / (1 + x * x)) - x * x * p,
    ),
    (3,),
    (("tensor<?x3xf64>", _positive(N, 3)),),
    ((3,),),
)

FUNCTIONS = Case(
    "functions",
    """
func.func private @f(%x: tensor<?x3xf64>) -> tensor<?x3xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xf64>
  %e = tensor.empty(%n) : tensor<?x3xf64>
  %one_scalar = arith.constant 1.0 : f64
  %one = linalg.fill ins(%one_scalar : f64) outs(%e : tensor<?x3xf64>) -> tensor<?x3xf64>
  %exponent_scalar = arith.constant 1.5 : f64
  %exponent = linalg.fill ins(%exponent_scalar : f64) outs(%e : tensor<?x3xf64>) -> tensor<?x3xf64>
  %nx = arith.negf %x : tensor<?x3xf64>
  %ex = math.exp %nx : tensor<?x3xf64>
  %den = arith.addf %one, %ex : tensor<?x3xf64>
  %sigmoid = arith.divf %one, %den : tensor<?x3xf64>
  %xx = arith.mulf %x, %x : tensor<?x3xf64>
  %q2 = arith.addf %xx, %one : tensor<?x3xf64>
  %q = math.sqrt %q2 : tensor<?x3xf64>
  %r = math.rsqrt %q : tensor<?x3xf64>
  %l = math.log %q : tensor<?x3xf64>
  %l1 = math.log1p %xx : tensor<?x3xf64>
  %er = math.erf %x : tensor<?x3xf64>
  %pw = math.powf %q, %exponent : tensor<?x3xf64>
  %s = math.sin %x : tensor<?x3xf64>
  %c = math.cos %x : tensor<?x3xf64>
  %sc = arith.mulf %s, %c : tensor<?x3xf64>
  %y1 = arith.addf %sigmoid, %r : tensor<?x3xf64>
  %y2 = arith.addf %y1, %l : tensor<?x3xf64>
  %y3 = arith.subf %y2, %l1 : tensor<?x3xf64>
  %y4 = arith.addf %y3, %er : tensor<?x3xf64>
  %y5 = arith.addf %y4, %pw : tensor<?x3xf64>
  %y = arith.addf %y5, %sc : tensor<?x3xf64>
  func.return %y : tensor<?x3xf64>
}
""",
    lambda x: (
        torch.sigmoid(x)
        + torch.rsqrt(torch.sqrt(x * x + 1))
        + torch.log(torch.sqrt(x * x + 1))
        - torch.log1p(x * x)
        + torch.erf(x)
        + torch.sqrt(x * x + 1) ** 1.5
        + torch.sin(x) * torch.cos(x),
    ),
    (3,),
    (),
    ((3,),),
)

PIECEWISE = Case(
    "piecewise",
    """
func.func private @f(%x: tensor<?x3xf64>, %t: tensor<?x3xf64>) -> tensor<?x3xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xf64>
  %e = tensor.empty(%n) : tensor<?x3xf64>
  %zero_scalar = arith.constant 0.0 : f64
  %zero = linalg.fill ins(%zero_scalar : f64) outs(%e : tensor<?x3xf64>) -> tensor<?x3xf64>
  %relu = arith.maximumf %x, %zero : tensor<?x3xf64>
  %s = math.sin %x : tensor<?x3xf64>
  %c = math.cos %x : tensor<?x3xf64>
  %mx = arith.maximumf %s, %t : tensor<?x3xf64>
  %mn = arith.minimumf %s, %c : tensor<?x3xf64>
  %cond = arith.cmpf ogt, %x, %t : tensor<?x3xf64>
  %sel = arith.select %cond, %t, %c : tensor<?x3xi1>, tensor<?x3xf64>
  %xx = arith.mulf %x, %x : tensor<?x3xf64>
  %sel2 = arith.select %cond, %xx, %s : tensor<?x3xi1>, tensor<?x3xf64>
  %a = arith.mulf %relu, %mx : tensor<?x3xf64>
  %b = arith.addf %a, %mn : tensor<?x3xf64>
  %d = arith.mulf %b, %sel : tensor<?x3xf64>
  %y = arith.addf %d, %sel2 : tensor<?x3xf64>
  func.return %y : tensor<?x3xf64>
}
""",
    lambda x, t: (
        (
            torch.relu(x) * torch.maximum(torch.sin(x), t)
            + torch.minimum(torch.sin(x), torch.cos(x))
        )
        * torch.where(x > t, t, torch.cos(x))
        + torch.where(x > t, x * x, torch.sin(x)),
    ),
    (3,),
    (("tensor<?x3xf64>", _normal(N, 3)),),
    ((3,),),
)

STRUCTURE = Case(
    "structure",
    """
func.func private @f(%x: tensor<?x2x3xf64>, %p: tensor<?x2xf64>, %w: tensor<6x2xf64>) -> (tensor<?x2xf64>, tensor<?x4xf64>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2x3xf64>
  %zero = arith.constant 0.0 : f64
  %et = tensor.empty(%n) : tensor<?x3x2xf64>
  %tr = linalg.transpose ins(%x : tensor<?x2x3xf64>) outs(%et : tensor<?x3x2xf64>) permutation = [0, 2, 1]
  %flat = tensor.collapse_shape %tr [[0], [1, 2]] : tensor<?x3x2xf64> into tensor<?x6xf64>
  %sl = tensor.extract_slice %flat[0, 1] [%n, 4] [1, 1] : tensor<?x6xf64> to tensor<?x4xf64>
  %cat = tensor.concat dim(1) %sl, %p : (tensor<?x4xf64>, tensor<?x2xf64>) -> tensor<?x6xf64>
  %ex = tensor.expand_shape %cat [[0], [1, 2]] output_shape [%n, 2, 3] : tensor<?x6xf64> into tensor<?x2x3xf64>
  %e2 = tensor.empty(%n) : tensor<?x2xf64>
  %z2 = linalg.fill ins(%zero : f64) outs(%e2 : tensor<?x2xf64>) -> tensor<?x2xf64>
  %red = linalg.reduce ins(%ex : tensor<?x2x3xf64>) outs(%z2 : tensor<?x2xf64>) dimensions = [2]
    (%in: f64, %acc: f64) {
      %sum = arith.addf %in, %acc : f64
      linalg.yield %sum : f64
    }
  %e23 = tensor.empty(%n) : tensor<?x2x3xf64>
  %bc = linalg.broadcast ins(%red : tensor<?x2xf64>) outs(%e23 : tensor<?x2x3xf64>) dimensions = [2]
  %prod = arith.mulf %bc, %ex : tensor<?x2x3xf64>
  %th = math.tanh %prod : tensor<?x2x3xf64>
  %th_flat = tensor.collapse_shape %th [[0], [1, 2]] : tensor<?x2x3xf64> into tensor<?x6xf64>
  %mm = linalg.matmul ins(%th_flat, %w : tensor<?x6xf64>, tensor<6x2xf64>) outs(%p : tensor<?x2xf64>) -> tensor<?x2xf64>
  %ths = math.sin %th : tensor<?x2x3xf64>
  %red2 = linalg.reduce ins(%ths : tensor<?x2x3xf64>) outs(%p : tensor<?x2xf64>) dimensions = [2]
    (%in2: f64, %acc2: f64) {
      %sum2 = arith.addf %in2, %acc2 : f64
      linalg.yield %sum2 : f64
    }
  %y1 = arith.mulf %mm, %red2 : tensor<?x2xf64>
  %sq = arith.mulf %sl, %sl : tensor<?x4xf64>
  %cat2 = tensor.concat dim(1) %sq, %sl : (tensor<?x4xf64>, tensor<?x4xf64>) -> tensor<?x8xf64>
  %y2 = tensor.extract_slice %cat2[0, 2] [%n, 4] [1, 1] : tensor<?x8xf64> to tensor<?x4xf64>
  func.return %y1, %y2 : tensor<?x2xf64>, tensor<?x4xf64>
}
""",
    lambda x, p, w: _structure(x, p, w),
    (2, 3),
    (("tensor<?x2xf64>", _normal(N, 2)), ("tensor<6x2xf64>", _normal(6, 2))),
    ((2,), (4,)),
)


def _structure(x, p, w):
    n = x.shape[0]
    sl = x.transpose(1, 2).reshape(n, 6)[:, 1:5]
    ex = torch.cat([sl, p], dim=1).reshape(n, 2, 3)
    th = torch.tanh(ex.sum(2, keepdim=True) * ex)
    y1 = (p + th.reshape(n, 6) @ w) * (p + torch.sin(th).sum(2))
    y2 = torch.cat([sl * sl, sl], dim=1)[:, 2:6]
    return y1, y2


CONSTANT = Case(
    "constant",
    """
func.func private @f(%x: tensor<?x2xf64>, %p: tensor<?x2xf64>) -> (tensor<?x2xf64>, tensor<?x2xf64>) {
  %t = math.tanh %p : tensor<?x2xf64>
  %y = arith.mulf %x, %t : tensor<?x2xf64>
  func.return %t, %y : tensor<?x2xf64>, tensor<?x2xf64>
}
""",
    lambda x, p: (torch.tanh(p) + 0 * x, x * torch.tanh(p)),
    (2,),
    (("tensor<?x2xf64>", _normal(N, 2)),),
    ((2,), (2,)),
)

CASES = [MLP, ALGEBRA, FUNCTIONS, PIECEWISE, STRUCTURE, CONSTANT]

# ------------------------------------------------------- the operator function


def _tensor(shape: Sequence[int | str]) -> str:
    return "tensor<" + "x".join(str(d) for d in shape) + "xf64>"


def operator_module(case: Case, order: int, given: int, collapsed: bool = False) -> str:
    """`@jet(x0, x1..x_given, params) -> coefficients 1..K of every result`.

    A collapsed jet takes its top coefficient given summed (`tensor<S>`) and
    returns it summed."""
    primal = _tensor(["?", *case.input_shape])
    suffix = ", collapsed" if collapsed else ""

    def coefficient_type(k: int, primal_type: str, shape: Sequence[int]) -> str:
        if collapsed and k == order:
            return primal_type
        return _tensor([R, "?", *shape])

    given_types = [
        coefficient_type(k, primal, case.input_shape) for k in range(1, given + 1)
    ]
    param_types = [t for t, _ in case.params]
    jet = f"!taylor.jet<{order}, {R}, {primal}{suffix}>"
    result_primals = [_tensor(["?", *s]) for s in case.result_shapes]
    result_jets = [f"!taylor.jet<{order}, {R}, {t}{suffix}>" for t in result_primals]
    arguments = ["%x: " + primal]
    arguments += [f"%v{k}: {t}" for k, t in enumerate(given_types, start=1)]
    arguments += [f"%p{i}: {t}" for i, t in enumerate(param_types)]
    lines = [case.mlir]
    outputs: list[tuple[str, str]] = []
    body = [
        f"  %j = taylor.seed %x, {', '.join(f'%v{k}' for k in range(1, given + 1))} : "
        f"{primal}, {', '.join(given_types)} -> {jet}",
        f"  %y:{len(result_jets)} = taylor.call @f(%j{''.join(f', %p{i}' for i in range(len(case.params)))}) : "
        f"({', '.join([jet, *param_types])}) -> ({', '.join(result_jets)})",
    ]
    for i, (result_primal, result_jet) in enumerate(
        zip(result_primals, result_jets, strict=True)
    ):
        for k in range(1, order + 1):
            t = coefficient_type(k, result_primal, case.result_shapes[i])
            body.append(
                f"  %c{i}_{k} = taylor.coefficient %y#{i}[{k}] : {result_jet} -> {t}"
            )
            outputs.append((f"%c{i}_{k}", t))
    body.append(
        f"  func.return {', '.join(v for v, _ in outputs)} : {', '.join(t for _, t in outputs)}"
    )
    lines.append(
        f"func.func @jet({', '.join(arguments)}) -> ({', '.join(t for _, t in outputs)}) {{"
    )
    lines += body
    lines.append("}")
    return "\n".join(lines)


# ----------------------------------------------------------------- execution


def _run_passes(text: str) -> ModuleOp:
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    passes = get_all_passes()
    for name in ("taylor-mode", "taylor-expand", "convert-taylor-to-tensor"):
        passes[name]()().apply(ctx, module)
        module.verify()
    return module


def _execute(module: ModuleOp, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
    from taylor_mlir.backends.torch_backend import to_fx

    return tuple(to_fx(module, "jet")(*args))


def path_derivatives(
    f: Callable[..., tuple[torch.Tensor, ...]],
    x0: torch.Tensor,
    given: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    order: int,
) -> list[list[torch.Tensor]]:
    """`[result][k-1] = d^k/dt^k f(x0 + sum_i t^i/i! x_i)` at t = 0, per row, by
    nested `torch.autograd.grad` (each row has its own t: rows are independent)."""
    t = torch.zeros(
        x0.shape[0], *[1] * (x0.dim() - 1), dtype=x0.dtype, requires_grad=True
    )
    x = x0 + sum(t**i / math.factorial(i) * xi for i, xi in enumerate(given, start=1))
    out = []
    for y in f(x, *params):
        flat = y.reshape(y.shape[0], -1)
        derivatives = torch.zeros(order, *flat.shape, dtype=x0.dtype)
        for column in range(flat.shape[1]):
            d = flat[:, column]
            for k in range(order):
                if not d.requires_grad:  # constant along the path from here on
                    break
                (d,) = torch.autograd.grad(d.sum(), t, create_graph=True)
                d = d.reshape(-1)
                derivatives[k, :, column] = d.detach()
        out.append([d.reshape(y.shape) for d in derivatives])
    return out


def _inputs(case: Case, order: int, given: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(N, *case.input_shape, generator=g, dtype=torch.float64)
    directions = [
        torch.randn(R, N, *case.input_shape, generator=g, dtype=torch.float64)
        for _ in range(given)
    ]
    params = [make(g) for _, make in case.params]
    return x0, directions, params


def _assert_close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    scale = max(want.abs().max().item(), 1.0)
    torch.testing.assert_close(
        got, want, rtol=1e-10, atol=1e-10 * scale, msg=lambda m: f"{what}: {m}"
    )


def check_case(case: Case, order: int, given: int, seed: int = 0) -> None:
    x0, directions, params = _inputs(case, order, given, seed)
    module = _run_passes(operator_module(case, order, given))
    got = _execute(module, x0, *directions, *params)
    assert len(got) == order * len(case.result_shapes)
    for r in range(R):
        reference = path_derivatives(
            case.torch_fn, x0, [v[r] for v in directions], params, order
        )
        for i, per_result in enumerate(reference):
            for k, want in enumerate(per_result, start=1):
                _assert_close(
                    got[i * order + k - 1][r],
                    want,
                    f"{case.name} result {i} k={k} r={r}",
                )


# ---------------------------------------------------------------------- tests


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_coefficients_match_autograd(case: Case, order: int):
    check_case(case, order, given=min(order, 2))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_first_coefficient_only(case: Case):
    """x_2.. are zero (not materialized): the usual seed of an operator."""
    check_case(case, order=4, given=1, seed=1)


@pytest.mark.parametrize("case", [MLP, FUNCTIONS], ids=lambda c: c.name)
def test_every_coefficient_given(case: Case):
    check_case(case, order=3, given=3, seed=2)


# ----------------------------------------------------------- collapsed jets


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_collapsed_top_coefficient_is_the_direction_sum(case: Case, order: int):
    """A collapsed jet carries sum_r y_{K,r}; its top input coefficient is given
    summed. Since y_K is linear in x_K, splitting the sum evenly over the
    directions gives the reference."""
    x0, directions, params = _inputs(case, order, order, seed=3)
    given = directions[:-1]
    top = directions[-1].sum(0)
    module = _run_passes(operator_module(case, order, order, collapsed=True))
    got = _execute(module, x0, *given, top, *params)
    per_direction_top = [top / R] * R
    references = [
        path_derivatives(
            case.torch_fn,
            x0,
            [v[r] for v in given] + [per_direction_top[r]],
            params,
            order,
        )
        for r in range(R)
    ]
    for i in range(len(case.result_shapes)):
        for k in range(1, order + 1):
            value = got[i * order + k - 1]
            if k < order:
                for r in range(R):
                    _assert_close(
                        value[r], references[r][i][k - 1], f"{case.name} k={k}"
                    )
            else:
                want = sum(references[r][i][k - 1] for r in range(R))
                _assert_close(value, want, f"{case.name} summed k={k}")


# ------------------------------------------------------------------- errors

_UNSUPPORTED = """
func.func private @f(%x: tensor<?x3xf64>) -> tensor<?x3xf64> {
  %y = math.cbrt %x : tensor<?x3xf64>
  func.return %y : tensor<?x3xf64>
}
func.func @jet(%x: tensor<?x3xf64>, %v: tensor<2x?x3xf64>) -> tensor<2x?x3xf64> {
  %j = taylor.seed %x, %v : tensor<?x3xf64>, tensor<2x?x3xf64> -> !taylor.jet<2, 2, tensor<?x3xf64>>
  %y = taylor.call @f(%j) : (!taylor.jet<2, 2, tensor<?x3xf64>>) -> !taylor.jet<2, 2, tensor<?x3xf64>>
  %c = taylor.coefficient %y[2] : !taylor.jet<2, 2, tensor<?x3xf64>> -> tensor<2x?x3xf64>
  func.return %c : tensor<2x?x3xf64>
}
"""


def _apply(text: str, *names: str) -> ModuleOp:
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    for name in names:
        get_all_passes()[name]()().apply(ctx, module)
    return module


def test_unsupported_op_is_named():
    with pytest.raises(UnsupportedOperatorError, match="math.cbrt"):
        _apply(_UNSUPPORTED, "taylor-mode")


def test_expand_requires_taylor_mode_first():
    with pytest.raises(InvalidIRError, match="run taylor-mode before taylor-expand"):
        _apply(_UNSUPPORTED, "taylor-expand")


def test_expand_rejects_jet_function_arguments():
    text = """
func.func @g(%j: !taylor.jet<2, 2, tensor<3xf64>>) -> tensor<3xf64> {
  %c = taylor.coefficient %j[0] : !taylor.jet<2, 2, tensor<3xf64>> -> tensor<3xf64>
  func.return %c : tensor<3xf64>
}
"""
    with pytest.raises(InvalidIRError, match="takes a jet argument"):
        _apply(text, "taylor-expand")


def _function_names(module: ModuleOp) -> list[str]:
    return [op.sym_name.data for op in module.ops]  # type: ignore[attr-defined]


def test_private_callee_is_erased_public_kept():
    private = operator_module(MLP, order=2, given=1)
    assert _function_names(_apply(private, "taylor-mode")) == ["jet"]
    public = private.replace("private @f", "@f")
    assert _function_names(_apply(public, "taylor-mode")) == ["f", "jet"]


def test_uncalled_private_function_is_kept():
    assert _function_names(_apply(MLP.mlir, "taylor-mode")) == ["f"]

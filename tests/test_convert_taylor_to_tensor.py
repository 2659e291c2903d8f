"""Numerical checks of `convert-taylor-to-tensor`.

Each case is an expanded-level function in MLIR text (small shapes); it is lowered
and run by the torch backend, and compared with the same math written directly in
torch: `taylor.replicate` as a repeat, `taylor.sum` as a weighted sum, and
`taylor.linear_map` as its body applied to each direction slice in a Python loop.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.linalg.ops import MatmulOp
from xdsl.parser import Parser

from taylor_mlir.backends.torch_backend import to_fx
from taylor_mlir.context import make_context
from taylor_mlir.errors import InvalidIRError, UnsupportedOperatorError
from taylor_mlir.transforms.convert_taylor_to_tensor import ConvertTaylorToTensorPass

R = 3  # directions
N = 4  # batch rows


def lower(text: str) -> ModuleOp:
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    ConvertTaylorToTensorPass().apply(ctx, module)
    module.verify()
    return module


def run(text: str, *args: torch.Tensor) -> torch.Tensor:
    module = lower(text)
    assert "taylor." not in str(module)
    (result,) = to_fx(module, "f")(*args)
    return result


def randn(*shape: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=GENERATOR)


GENERATOR = torch.Generator().manual_seed(0)


def per_direction(body: Callable[..., torch.Tensor], *xs: torch.Tensor):
    """The reference of a linear map: its body on each direction slice."""
    return torch.stack([body(*(x[r] for x in xs)) for r in range(R)])


# ------------------------------------------------------------ replicate, sum


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_replicate(dtype):
    element = {torch.float32: "f32", torch.float64: "f64"}[dtype]
    text = f"""
func.func @f(%c: tensor<?x2x{element}>) -> tensor<{R}x?x2x{element}> {{
  %r = taylor.replicate %c : tensor<?x2x{element}> -> tensor<{R}x?x2x{element}>
  func.return %r : tensor<{R}x?x2x{element}>
}}"""
    c = randn(N, 2, dtype=dtype)
    torch.testing.assert_close(run(text, c), c.expand(R, N, 2), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weights", [None, [1.0, 1.0, 1.0], [0.5, -2.0, 3.0]])
def test_sum(dtype, weights):
    element = {torch.float32: "f32", torch.float64: "f64"}[dtype]
    attribute = "" if weights is None else f"weights {weights}"
    text = f"""
func.func @f(%x: tensor<{R}x?x2x{element}>) -> tensor<?x2x{element}> {{
  %s = taylor.sum %x {attribute} : tensor<{R}x?x2x{element}> -> tensor<?x2x{element}>
  func.return %s : tensor<?x2x{element}>
}}"""
    x = randn(R, N, 2, dtype=dtype)
    w = torch.tensor(weights or [1.0] * R, dtype=dtype)
    expected = sum(w[r] * x[r] for r in range(R))
    torch.testing.assert_close(run(text, x), expected)


def test_sum_with_unit_weights_is_a_plain_reduce():
    text = f"""
func.func @f(%x: tensor<{R}x4xf64>) -> tensor<4xf64> {{
  %s = taylor.sum %x weights [1.0, 1.0, 1.0] : tensor<{R}x4xf64> -> tensor<4xf64>
  func.return %s : tensor<4xf64>
}}"""
    ops = [op.name for op in lower(text).walk()]
    assert "arith.mulf" not in ops and ops.count("linalg.reduce") == 1


# ---------------------------------------------------------------- linear_map


def linear_map(
    mapped: list[str], captured: str, result: str, arguments: str, body: str
) -> str:
    """A function `@f(%x0: mapped[0], ..., captured...) -> result` returning one
    linear map of the %x inputs; `body` ends in `taylor.yield`."""
    inputs = ", ".join(
        [f"%x{i}: {t}" for i, t in enumerate(mapped)] + ([captured] if captured else [])
    )
    names = ", ".join(f"%x{i}" for i in range(len(mapped)))
    return f"""
func.func @f({inputs}) -> {result} {{
  %m = taylor.linear_map {names} : {", ".join(mapped)} -> {result} {{
  ^bb0({arguments}):
{body}
  }}
  func.return %m : {result}
}}"""


ZERO_INIT = """
    %c0 = arith.constant 0 : index
    %n = tensor.dim %a, %c0 : tensor<?x2xf64>
    %e = tensor.empty(%n) : tensor<?x5xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x5xf64>) -> tensor<?x5xf64>"""


def test_matmul_of_batched_rows_is_one_gemm():
    text = linear_map(
        [f"tensor<{R}x?x2xf64>"],
        "%w: tensor<2x5xf64>",
        f"tensor<{R}x?x5xf64>",
        "%a: tensor<?x2xf64>",
        ZERO_INIT
        + """
    %m = linalg.matmul ins(%a, %w : tensor<?x2xf64>, tensor<2x5xf64>) outs(%z : tensor<?x5xf64>) -> tensor<?x5xf64>
    taylor.yield %m : tensor<?x5xf64>""",
    )
    matmuls = [op for op in lower(text).walk() if isinstance(op, MatmulOp)]
    assert len(matmuls) == 1
    x, w = randn(R, N, 2), randn(2, 5)
    torch.testing.assert_close(run(text, x, w), per_direction(lambda a: a @ w, x))


def test_matmul_of_batched_columns_is_one_gemm():
    text = linear_map(
        [f"tensor<{R}x2x?xf64>"],
        "%w: tensor<5x2xf64>",
        f"tensor<{R}x5x?xf64>",
        "%a: tensor<2x?xf64>",
        """
    %c1 = arith.constant 1 : index
    %n = tensor.dim %a, %c1 : tensor<2x?xf64>
    %e = tensor.empty(%n) : tensor<5x?xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<5x?xf64>) -> tensor<5x?xf64>
    %m = linalg.matmul ins(%w, %a : tensor<5x2xf64>, tensor<2x?xf64>) outs(%z : tensor<5x?xf64>) -> tensor<5x?xf64>
    taylor.yield %m : tensor<5x?xf64>""",
    )
    matmuls = [op for op in lower(text).walk() if isinstance(op, MatmulOp)]
    assert len(matmuls) == 1
    x, w = randn(R, 2, N), randn(5, 2)
    torch.testing.assert_close(run(text, x, w), per_direction(lambda a: w @ a, x))


def test_structural_ops():
    """transpose, broadcast, reduce, collapse/expand_shape, extract_slice, concat
    and tensor.dim of the argument, chained in one body."""
    text = linear_map(
        [f"tensor<{R}x?x6xf64>"],
        "%y: tensor<?x1xf64>",
        f"tensor<{R}x?x4xf64>",
        "%a: tensor<?x6xf64>",
        """
    %c0 = arith.constant 0 : index
    %n = tensor.dim %a, %c0 : tensor<?x6xf64>
    %split = tensor.expand_shape %a [[0], [1, 2]] output_shape [%n, 2, 3] : tensor<?x6xf64> into tensor<?x2x3xf64>
    %et = tensor.empty(%n) : tensor<?x3x2xf64>
    %t = linalg.transpose ins(%split : tensor<?x2x3xf64>) outs(%et : tensor<?x3x2xf64>) permutation = [0, 2, 1]
    %flat = tensor.collapse_shape %t [[0], [1, 2]] : tensor<?x3x2xf64> into tensor<?x6xf64>
    %eb = tensor.empty(%n) : tensor<?x6x2xf64>
    %b = linalg.broadcast ins(%flat : tensor<?x6xf64>) outs(%eb : tensor<?x6x2xf64>) dimensions = [2]
    %er = tensor.empty(%n) : tensor<?x6xf64>
    %zero = arith.constant 0.0 : f64
    %zr = linalg.fill ins(%zero : f64) outs(%er : tensor<?x6xf64>) -> tensor<?x6xf64>
    %r = linalg.reduce ins(%b : tensor<?x6x2xf64>) outs(%zr : tensor<?x6xf64>) dimensions = [2]
      (%in: f64, %acc: f64) {
        %s = arith.addf %in, %acc : f64
        linalg.yield %s : f64
      }
    %sl = tensor.extract_slice %r[0, 1] [%n, 3] [1, 2] : tensor<?x6xf64> to tensor<?x3xf64>
    %c = tensor.concat dim(1) %sl, %y : (tensor<?x3xf64>, tensor<?x1xf64>) -> tensor<?x4xf64>
    taylor.yield %c : tensor<?x4xf64>""",
    )
    x, y = randn(R, N, 6), randn(N, 1)

    def body(a):
        t = a.reshape(N, 2, 3).transpose(1, 2).reshape(N, 6)
        b = t[:, :, None].expand(N, 6, 2).sum(2)
        return torch.cat([b[:, 1:6:2], y], dim=1)

    torch.testing.assert_close(run(text, x, y), per_direction(body, x))


def test_elementwise_ops_with_captured_operands():
    text = linear_map(
        [f"tensor<{R}x?x2xf64>", f"tensor<{R}x?x2xf64>"],
        "%c: tensor<?x2xf64>, %p: tensor<?x2xf64>",
        f"tensor<{R}x?x2xf64>",
        "%a: tensor<?x2xf64>, %b: tensor<?x2xf64>",
        """
    %c0 = arith.constant 0 : index
    %n = tensor.dim %a, %c0 : tensor<?x2xf64>
    %e = tensor.empty(%n) : tensor<?x2xf64>
    %half = arith.constant 0.5 : f64
    %h = linalg.fill ins(%half : f64) outs(%e : tensor<?x2xf64>) -> tensor<?x2xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x2xf64>) -> tensor<?x2xf64>
    %ca = arith.mulf %c, %a : tensor<?x2xf64>
    %bh = arith.divf %b, %h : tensor<?x2xf64>
    %d = arith.subf %ca, %bh : tensor<?x2xf64>
    %s = arith.addf %d, %a : tensor<?x2xf64>
    %neg = arith.negf %s : tensor<?x2xf64>
    %positive = arith.cmpf ogt, %p, %z : tensor<?x2xf64>
    %r = arith.select %positive, %neg, %z : tensor<?x2xi1>, tensor<?x2xf64>
    taylor.yield %r : tensor<?x2xf64>""",
    )
    x, y, c, p = randn(R, N, 2), randn(R, N, 2), randn(N, 2), randn(N, 2)

    def body(a, b):
        value = -((c * a - b / 0.5) + a)
        return torch.where(p > 0, value, torch.zeros_like(value))

    torch.testing.assert_close(run(text, x, y, c, p), per_direction(body, x, y))


# ------------------------------------------------------------------- errors


def test_unknown_op_in_a_linear_map_is_named():
    text = linear_map(
        [f"tensor<{R}x4xf64>"],
        "",
        f"tensor<{R}x4xf64>",
        "%a: tensor<4xf64>",
        """
    %e = tensor.empty() : tensor<4xf64>
    %g = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%a : tensor<4xf64>) outs(%e : tensor<4xf64>) {
    ^bb1(%i: f64, %o: f64):
      linalg.yield %i : f64
    } -> tensor<4xf64>
    taylor.yield %g : tensor<4xf64>""",
    )
    with pytest.raises(UnsupportedOperatorError, match="linalg.generic"):
        lower(text)


def test_product_of_two_per_direction_values_is_rejected():
    text = linear_map(
        [f"tensor<{R}x2x2xf64>", f"tensor<{R}x2x2xf64>"],
        "",
        f"tensor<{R}x2x2xf64>",
        "%a: tensor<2x2xf64>, %b: tensor<2x2xf64>",
        """
    %e = tensor.empty() : tensor<2x2xf64>
    %zero = arith.constant 0.0 : f64
    %z = linalg.fill ins(%zero : f64) outs(%e : tensor<2x2xf64>) -> tensor<2x2xf64>
    %m = linalg.matmul ins(%a, %b : tensor<2x2xf64>, tensor<2x2xf64>) outs(%z : tensor<2x2xf64>) -> tensor<2x2xf64>
    taylor.yield %m : tensor<2x2xf64>""",
    )
    with pytest.raises(UnsupportedOperatorError, match="linalg.matmul.*both operands"):
        lower(text)


def test_matmul_into_a_nonzero_init_is_rejected():
    text = linear_map(
        [f"tensor<{R}x2x2xf64>"],
        "%w: tensor<2x2xf64>",
        f"tensor<{R}x2x2xf64>",
        "%a: tensor<2x2xf64>",
        """
    %m = linalg.matmul ins(%a, %w : tensor<2x2xf64>, tensor<2x2xf64>) outs(%w : tensor<2x2xf64>) -> tensor<2x2xf64>
    taylor.yield %m : tensor<2x2xf64>""",
    )
    with pytest.raises(UnsupportedOperatorError, match="linalg.matmul.*zero"):
        lower(text)


def test_rank_reducing_slice_is_rejected():
    text = linear_map(
        [f"tensor<{R}x2x3xf64>"],
        "",
        f"tensor<{R}x3xf64>",
        "%a: tensor<2x3xf64>",
        """
    %s = tensor.extract_slice %a[0, 0] [1, 3] [1, 1] : tensor<2x3xf64> to tensor<3xf64>
    taylor.yield %s : tensor<3xf64>""",
    )
    with pytest.raises(UnsupportedOperatorError, match="tensor.extract_slice"):
        lower(text)


def test_jet_level_ops_are_rejected():
    text = """
func.func @f(%x: tensor<?x2xf64>, %v: tensor<3x?x2xf64>) -> !taylor.jet<1, 3, tensor<?x2xf64>> {
  %j = taylor.seed %x, %v : tensor<?x2xf64>, tensor<3x?x2xf64> -> !taylor.jet<1, 3, tensor<?x2xf64>>
  func.return %j : !taylor.jet<1, 3, tensor<?x2xf64>>
}"""
    with pytest.raises(InvalidIRError, match="taylor.seed is jet-level"):
        lower(text)

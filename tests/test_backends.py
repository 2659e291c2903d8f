"""
Both backends on hand-written tensor-level IR, against the same computation in
plain torch: every op of the vocabulary (docs/ir-conventions.md), float32 and
float64, dynamic batch sizes from one compilation, autograd and torch.compile
through the torch backend, and every call check.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import pytest
import torch
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from taylor_mlir.backends import BACKENDS, build_executable
from taylor_mlir.backends.torch_backend import TorchExecutable, to_fx
from taylor_mlir.context import make_context
from taylor_mlir.errors import (
    BackendError,
    CallError,
    UnsupportedOperatorError,
)

HAS_IREE = importlib.util.find_spec("iree.compiler") is not None
needs_iree = pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")

DTYPES = {"f32": torch.float32, "f64": torch.float64}
BATCHES = (1, 7, 256)


def parse(text: str) -> ModuleOp:
    module = Parser(make_context(), text).parse_module()
    module.verify()
    return module


# Every function of the vocabulary, on element type FT (f32 or f64).
PROGRAM = """
func.func @binary(%a: tensor<?x4xFT>, %b: tensor<?x4xFT>) -> (tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>) {
  %0 = arith.addf %a, %b : tensor<?x4xFT>
  %1 = arith.subf %a, %b : tensor<?x4xFT>
  %2 = arith.mulf %a, %b : tensor<?x4xFT>
  %3 = arith.divf %a, %b : tensor<?x4xFT>
  %4 = arith.maximumf %a, %b : tensor<?x4xFT>
  %5 = arith.minimumf %a, %b : tensor<?x4xFT>
  func.return %0, %1, %2, %3, %4, %5 : tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>
}

func.func @unary(%x: tensor<?x4xFT>) -> (tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>) {
  %0 = math.tanh %x : tensor<?x4xFT>
  %1 = math.exp %x : tensor<?x4xFT>
  %2 = math.log %x : tensor<?x4xFT>
  %3 = math.log1p %x : tensor<?x4xFT>
  %4 = math.sin %x : tensor<?x4xFT>
  %5 = math.cos %x : tensor<?x4xFT>
  %6 = math.sqrt %x : tensor<?x4xFT>
  %7 = math.rsqrt %x : tensor<?x4xFT>
  %8 = arith.negf %x : tensor<?x4xFT>
  %9 = math.powf %x, %x : tensor<?x4xFT>
  func.return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9 : tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>
}

func.func @scalars(%x: tensor<?x4xFT>) -> (tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<4x?xFT>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xFT>
  %e = tensor.empty(%n) : tensor<?x4xFT>
  %c2 = arith.constant 2.000000e+00 : FT
  %c3 = arith.constant 3.000000e+00 : FT
  %c15 = arith.constant 1.500000e+00 : FT
  %c0f = arith.constant 0.000000e+00 : FT
  %two = linalg.fill ins(%c2 : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %three = linalg.fill ins(%c3 : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %exponent = linalg.fill ins(%c15 : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %zero = linalg.fill ins(%c0f : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %0 = arith.addf %x, %two : tensor<?x4xFT>
  %1 = arith.subf %two, %x : tensor<?x4xFT>
  %2 = arith.divf %three, %x : tensor<?x4xFT>
  %3 = math.powf %x, %exponent : tensor<?x4xFT>
  %4 = math.powf %two, %x : tensor<?x4xFT>
  %5 = arith.maximumf %x, %zero : tensor<?x4xFT>
  %6 = arith.mulf %two, %three : tensor<?x4xFT>
  %et = tensor.empty(%n) : tensor<4x?xFT>
  %7 = linalg.transpose ins(%three:tensor<?x4xFT>) outs(%et:tensor<4x?xFT>) permutation = [1, 0]
  func.return %0, %1, %2, %3, %4, %5, %6, %two, %7 : tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<4x?xFT>
}

func.func @compare(%a: tensor<?x4xFT>, %b: tensor<?x4xFT>) -> (tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x4xFT>
  %e = tensor.empty(%n) : tensor<?x4xFT>
  %c0f = arith.constant 0.000000e+00 : FT
  %c1f = arith.constant 1.000000e+00 : FT
  %zero = linalg.fill ins(%c0f : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %one = linalg.fill ins(%c1f : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %p0 = arith.cmpf oeq, %a, %b : tensor<?x4xFT>
  %p1 = arith.cmpf ogt, %a, %b : tensor<?x4xFT>
  %p2 = arith.cmpf oge, %a, %b : tensor<?x4xFT>
  %p3 = arith.cmpf olt, %a, %b : tensor<?x4xFT>
  %p4 = arith.cmpf ole, %a, %b : tensor<?x4xFT>
  %p5 = arith.cmpf une, %a, %b : tensor<?x4xFT>
  %p6 = arith.cmpf olt, %zero, %a : tensor<?x4xFT>
  %0 = arith.select %p0, %a, %b : tensor<?x4xi1>, tensor<?x4xFT>
  %1 = arith.select %p1, %a, %b : tensor<?x4xi1>, tensor<?x4xFT>
  %2 = arith.select %p2, %a, %b : tensor<?x4xi1>, tensor<?x4xFT>
  %3 = arith.select %p3, %a, %b : tensor<?x4xi1>, tensor<?x4xFT>
  %4 = arith.select %p4, %a, %b : tensor<?x4xi1>, tensor<?x4xFT>
  %5 = arith.select %p5, %a, %b : tensor<?x4xi1>, tensor<?x4xFT>
  %6 = arith.select %p6, %one, %zero : tensor<?x4xi1>, tensor<?x4xFT>
  %7 = arith.select %p6, %a, %zero : tensor<?x4xi1>, tensor<?x4xFT>
  func.return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>
}

func.func @matmul(%x: tensor<?x3xFT>, %w: tensor<3x4xFT>, %acc: tensor<?x4xFT>) -> (tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xFT>
  %e = tensor.empty(%n) : tensor<?x4xFT>
  %c0f = arith.constant 0.000000e+00 : FT
  %c1f = arith.constant 1.000000e+00 : FT
  %zero = linalg.fill ins(%c0f : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %one = linalg.fill ins(%c1f : FT) outs(%e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %0 = linalg.matmul ins(%x, %w : tensor<?x3xFT>, tensor<3x4xFT>) outs(%zero : tensor<?x4xFT>) -> tensor<?x4xFT>
  %1 = linalg.matmul ins(%x, %w : tensor<?x3xFT>, tensor<3x4xFT>) outs(%one : tensor<?x4xFT>) -> tensor<?x4xFT>
  %2 = linalg.matmul ins(%x, %w : tensor<?x3xFT>, tensor<3x4xFT>) outs(%acc : tensor<?x4xFT>) -> tensor<?x4xFT>
  func.return %0, %1, %2 : tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>
}

func.func @broadcast_reduce(%x: tensor<?x4xFT>) -> (tensor<2x?x4xFT>, tensor<?x3x4xFT>, tensor<?x4x2xFT>, tensor<?x4xFT>, tensor<?xFT>, tensor<4xFT>, tensor<?x4xFT>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xFT>
  %e0 = tensor.empty(%n) : tensor<2x?x4xFT>
  %e1 = tensor.empty(%n) : tensor<?x3x4xFT>
  %e2 = tensor.empty(%n) : tensor<?x4x2xFT>
  %0 = linalg.broadcast ins(%x:tensor<?x4xFT>) outs(%e0:tensor<2x?x4xFT>) dimensions = [0]
  %1 = linalg.broadcast ins(%x:tensor<?x4xFT>) outs(%e1:tensor<?x3x4xFT>) dimensions = [1]
  %2 = linalg.broadcast ins(%x:tensor<?x4xFT>) outs(%e2:tensor<?x4x2xFT>) dimensions = [2]
  %c0f = arith.constant 0.000000e+00 : FT
  %c1f = arith.constant 1.000000e+00 : FT
  %r0e = tensor.empty(%n) : tensor<?x4xFT>
  %r0i = linalg.fill ins(%c0f : FT) outs(%r0e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %3 = linalg.reduce ins(%1:tensor<?x3x4xFT>) outs(%r0i:tensor<?x4xFT>) dimensions = [1]
  (%in: FT, %out: FT) {
    %s = arith.addf %in, %out : FT
    linalg.yield %s : FT
  }
  %r1e = tensor.empty(%n) : tensor<?xFT>
  %r1i = linalg.fill ins(%c0f : FT) outs(%r1e : tensor<?xFT>) -> tensor<?xFT>
  %4 = linalg.reduce ins(%x:tensor<?x4xFT>) outs(%r1i:tensor<?xFT>) dimensions = [1]
  (%in: FT, %out: FT) {
    %s = arith.addf %in, %out : FT
    linalg.yield %s : FT
  }
  %r2e = tensor.empty() : tensor<4xFT>
  %r2i = linalg.fill ins(%c0f : FT) outs(%r2e : tensor<4xFT>) -> tensor<4xFT>
  %5 = linalg.reduce ins(%2:tensor<?x4x2xFT>) outs(%r2i:tensor<4xFT>) dimensions = [0, 2]
  (%in: FT, %out: FT) {
    %s = arith.addf %in, %out : FT
    linalg.yield %s : FT
  }
  %r3i = linalg.fill ins(%c1f : FT) outs(%r0e : tensor<?x4xFT>) -> tensor<?x4xFT>
  %6 = linalg.reduce ins(%0:tensor<2x?x4xFT>) outs(%r3i:tensor<?x4xFT>) dimensions = [0]
  (%in: FT, %out: FT) {
    %s = arith.addf %in, %out : FT
    linalg.yield %s : FT
  }
  func.return %0, %1, %2, %3, %4, %5, %6 : tensor<2x?x4xFT>, tensor<?x3x4xFT>, tensor<?x4x2xFT>, tensor<?x4xFT>, tensor<?xFT>, tensor<4xFT>, tensor<?x4xFT>
}

func.func @reshape(%x: tensor<?x4xFT>, %y: tensor<?x3x4xFT>, %z: tensor<?x?xFT>) -> (tensor<?x4xFT>, tensor<2x?x4xFT>, tensor<?x12xFT>, tensor<?x3x4xFT>, tensor<4x?xFT>, tensor<?xFT>, tensor<?x2x?xFT>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xFT>
  %e = tensor.empty(%n) : tensor<2x?x4xFT>
  %b = linalg.broadcast ins(%x:tensor<?x4xFT>) outs(%e:tensor<2x?x4xFT>) dimensions = [0]
  %0 = tensor.collapse_shape %b [[0, 1], [2]] : tensor<2x?x4xFT> into tensor<?x4xFT>
  %1 = tensor.expand_shape %0 [[0, 1], [2]] output_shape [2, %n, 4] : tensor<?x4xFT> into tensor<2x?x4xFT>
  %m = tensor.dim %y, %c0 : tensor<?x3x4xFT>
  %2 = tensor.collapse_shape %y [[0], [1, 2]] : tensor<?x3x4xFT> into tensor<?x12xFT>
  %3 = tensor.expand_shape %2 [[0], [1, 2]] output_shape [%m, 3, 4] : tensor<?x12xFT> into tensor<?x3x4xFT>
  %et = tensor.empty(%n) : tensor<4x?xFT>
  %4 = linalg.transpose ins(%x:tensor<?x4xFT>) outs(%et:tensor<4x?xFT>) permutation = [1, 0]
  %5 = tensor.collapse_shape %z [[0, 1]] : tensor<?x?xFT> into tensor<?xFT>
  %p = tensor.dim %z, %c0 : tensor<?x?xFT>
  %q = tensor.dim %z, %c1 : tensor<?x?xFT>
  %p2 = arith.muli %p, %c2 : index
  %zz = tensor.expand_shape %z [[0, 1], [2]] output_shape [%p, 1, %q] : tensor<?x?xFT> into tensor<?x1x?xFT>
  %ez = tensor.empty(%p, %q) : tensor<?x2x?xFT>
  %6 = linalg.broadcast ins(%z:tensor<?x?xFT>) outs(%ez:tensor<?x2x?xFT>) dimensions = [1]
  func.return %0, %1, %2, %3, %4, %5, %6 : tensor<?x4xFT>, tensor<2x?x4xFT>, tensor<?x12xFT>, tensor<?x3x4xFT>, tensor<4x?xFT>, tensor<?xFT>, tensor<?x2x?xFT>
}

func.func @slices(%x: tensor<?x4xFT>) -> (tensor<?x2xFT>, tensor<?x2xFT>, tensor<1x4xFT>, tensor<4xFT>, tensor<?x8xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xFT>
  %0 = tensor.extract_slice %x[0, 1] [%n, 2] [1, 1] : tensor<?x4xFT> to tensor<?x2xFT>
  %1 = tensor.extract_slice %x[0, 0] [%n, 2] [1, 2] : tensor<?x4xFT> to tensor<?x2xFT>
  %2 = tensor.extract_slice %x[0, 0] [1, 4] [1, 1] : tensor<?x4xFT> to tensor<1x4xFT>
  %3 = tensor.extract_slice %x[0, 0] [1, 4] [1, 1] : tensor<?x4xFT> to tensor<4xFT>
  %4 = tensor.concat dim(1) %x, %x : (tensor<?x4xFT>, tensor<?x4xFT>) -> tensor<?x8xFT>
  %5 = tensor.concat dim(0) %x, %x : (tensor<?x4xFT>, tensor<?x4xFT>) -> tensor<?x4xFT>
  %k = arith.constant dense<[1.0, -2.0, 0.5, 4.0]> : tensor<4xFT>
  %s = arith.constant dense<2.5> : tensor<4xFT>
  %e = tensor.empty(%n) : tensor<?x4xFT>
  %kb = linalg.broadcast ins(%k:tensor<4xFT>) outs(%e:tensor<?x4xFT>) dimensions = [0]
  %sb = linalg.broadcast ins(%s:tensor<4xFT>) outs(%e:tensor<?x4xFT>) dimensions = [0]
  %6 = arith.mulf %x, %kb : tensor<?x4xFT>
  %7 = arith.addf %x, %sb : tensor<?x4xFT>
  func.return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<?x2xFT>, tensor<?x2xFT>, tensor<1x4xFT>, tensor<4xFT>, tensor<?x8xFT>, tensor<?x4xFT>, tensor<?x4xFT>, tensor<?x4xFT>
}

func.func @mlp(%x: tensor<?x3xFT>, %w1: tensor<3x5xFT>, %b1: tensor<5xFT>, %w2: tensor<5x1xFT>) -> tensor<?x1xFT> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xFT>
  %c0f = arith.constant 0.000000e+00 : FT
  %e5 = tensor.empty(%n) : tensor<?x5xFT>
  %z5 = linalg.fill ins(%c0f : FT) outs(%e5 : tensor<?x5xFT>) -> tensor<?x5xFT>
  %h = linalg.matmul ins(%x, %w1 : tensor<?x3xFT>, tensor<3x5xFT>) outs(%z5 : tensor<?x5xFT>) -> tensor<?x5xFT>
  %bb = linalg.broadcast ins(%b1:tensor<5xFT>) outs(%e5:tensor<?x5xFT>) dimensions = [0]
  %hb = arith.addf %h, %bb : tensor<?x5xFT>
  %t = math.tanh %hb : tensor<?x5xFT>
  %e1 = tensor.empty(%n) : tensor<?x1xFT>
  %z1 = linalg.fill ins(%c0f : FT) outs(%e1 : tensor<?x1xFT>) -> tensor<?x1xFT>
  %y = linalg.matmul ins(%t, %w2 : tensor<?x5xFT>, tensor<5x1xFT>) outs(%z1 : tensor<?x1xFT>) -> tensor<?x1xFT>
  func.return %y : tensor<?x1xFT>
}

func.func @passthrough(%x: tensor<?x4xFT>) -> (tensor<?x4xFT>, tensor<?x4xFT>) {
  func.return %x, %x : tensor<?x4xFT>, tensor<?x4xFT>
}
"""

ERF = """
func.func @erf(%x: tensor<?x4xFT>) -> tensor<?x4xFT> {
  %y = math.erf %x : tensor<?x4xFT>
  func.return %y : tensor<?x4xFT>
}
"""


def program(ft: str, text: str = PROGRAM) -> ModuleOp:
    return parse(text.replace("FT", ft))


def one_function(ft: str, name: str) -> ModuleOp:
    """A module of the single function @name of PROGRAM (a small IREE compile)."""
    (text,) = [f for f in PROGRAM.split("\nfunc.func ") if f.startswith(f"@{name}(")]
    return program(ft, "func.func " + text)


# ----------------------------------------------------- references in plain torch


def _binary(a, b):
    return a + b, a - b, a * b, a / b, torch.maximum(a, b), torch.minimum(a, b)


def _unary(x):
    return (
        torch.tanh(x), torch.exp(x), torch.log(x), torch.log1p(x), torch.sin(x),
        torch.cos(x), torch.sqrt(x), torch.rsqrt(x), -x, x**x,
    )  # fmt: skip


def _scalars(x):
    full = torch.full_like
    return (
        x + 2, 2 - x, 3 / x, x**1.5, 2**x, torch.relu(x), full(x, 6.0),
        full(x, 2.0), full(x, 3.0).T,
    )  # fmt: skip


def _compare(a, b):
    conditions = [a == b, a > b, a >= b, a < b, a <= b, a != b]
    selected = [torch.where(c, a, b) for c in conditions]
    step = (a > 0).to(a.dtype)
    return (*selected, step, torch.where(a > 0, a, 0.0))


def _matmul(x, w, acc):
    return x @ w, x @ w + 1, x @ w + acc


def _broadcast_reduce(x):
    n = x.shape[0]
    b0 = x.expand(2, n, 4)
    b1 = x[:, None, :].expand(n, 3, 4)
    b2 = x[:, :, None].expand(n, 4, 2)
    return b0, b1, b2, b1.sum(1), x.sum(1), b2.sum((0, 2)), b0.sum(0) + 1


def _reshape(x, y, z):
    n = x.shape[0]
    flat = x.expand(2, n, 4).reshape(2 * n, 4)
    return (
        flat, flat.reshape(2, n, 4), y.reshape(-1, 12), y, x.T, z.reshape(-1),
        z[:, None, :].expand(z.shape[0], 2, z.shape[1]),
    )  # fmt: skip


def _slices(x):
    k = torch.tensor([1.0, -2.0, 0.5, 4.0], dtype=x.dtype)
    return (
        x[:, 1:3], x[:, 0:4:2], x[0:1], x[0], torch.cat([x, x], 1),
        torch.cat([x, x], 0), x * k, x + 2.5,
    )  # fmt: skip


def _mlp(x, w1, b1, w2):
    return (torch.tanh(x @ w1 + b1) @ w2,)


def _passthrough(x):
    return x, x


def _inputs(name: str, n: int, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed + n)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    if name == "binary":
        return randn(n, 4), randn(n, 4).abs() + 0.5  # b is a divisor
    if name in ("unary", "scalars"):
        return (torch.rand(n, 4, generator=g, dtype=dtype) + 0.25,)
    if name == "compare":
        a, b = randn(n, 4), randn(n, 4)
        same = torch.rand(n, 4, generator=g) < 0.3  # equal entries test oeq/une
        return a, torch.where(same, a, b)
    if name == "matmul":
        return randn(n, 3), randn(3, 4), randn(n, 4)
    if name == "reshape":
        return randn(n, 4), randn(n, 3, 4), randn(n, 3)
    if name == "mlp":
        return randn(n, 3), randn(3, 5), randn(5), randn(5, 1)
    return (randn(n, 4),)


CASES: dict[str, Callable] = {
    "binary": _binary,
    "unary": _unary,
    "scalars": _scalars,
    "compare": _compare,
    "matmul": _matmul,
    "broadcast_reduce": _broadcast_reduce,
    "reshape": _reshape,
    "slices": _slices,
    "mlp": _mlp,
    "passthrough": _passthrough,
}


def _check_outputs(got, expected, dtype):
    assert isinstance(got, tuple) and len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g.dtype == dtype, (i, g.dtype)
        assert g.shape == e.shape, (i, g.shape, e.shape)
        torch.testing.assert_close(g, e, msg=lambda m, i=i: f"output {i}: {m}")


# --------------------------------------------------------------------- fixtures


_BACKEND_NAMES = ["torch", pytest.param("iree-cpu", marks=needs_iree)]


@pytest.fixture(scope="module")
def executables():
    """One executable per (backend, dtype, function), built once: every batch
    size below runs from the same compilation."""
    built = {}

    def get(backend: str, ft: str, name: str):
        key = (backend, ft, name)
        if key not in built:
            built[key] = build_executable(program(ft), name, backend)
        return built[key]

    return get


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(
        "TAYLOR_MLIR_CACHE", str(tmp_path_factory.getbasetemp() / "iree")
    )


# ------------------------------------------------------------------- numerics


@pytest.mark.parametrize("backend", _BACKEND_NAMES)
@pytest.mark.parametrize("ft", DTYPES)
@pytest.mark.parametrize("name", CASES)
def test_vocabulary_against_torch(executables, backend, ft, name):
    dtype = DTYPES[ft]
    run = executables(backend, ft, name)
    for n in BATCHES:
        inputs = _inputs(name, n, dtype)
        kept = [t.clone() for t in inputs]
        expected = CASES[name](*kept)
        _check_outputs(run(*inputs), expected, dtype)
        for before, after in zip(kept, inputs, strict=True):  # never written to
            assert torch.equal(before, after)


@pytest.mark.parametrize("backend", _BACKEND_NAMES)
def test_erf_float32(backend):
    run = build_executable(program("f32", ERF), "erf", backend)
    x = torch.linspace(-3, 3, 28).reshape(7, 4)
    _check_outputs(run(x), (torch.erf(x),), torch.float32)


def test_erf_float64_torch():
    run = build_executable(program("f64", ERF), "erf", "torch")
    x = torch.linspace(-3, 3, 28, dtype=torch.float64).reshape(7, 4)
    _check_outputs(run(x), (torch.erf(x),), torch.float64)


@needs_iree
def test_erf_float64_iree():
    """Composed from other ops (backends/erf_float64.py, where its accuracy is
    tested in ulps)."""
    run = build_executable(program("f64", ERF), "erf", "iree-cpu")
    x = torch.linspace(-7, 7, 28, dtype=torch.float64).reshape(7, 4)
    _check_outputs(run(x), (torch.erf(x),), torch.float64)


@pytest.mark.parametrize("backend", _BACKEND_NAMES)
def test_outputs_do_not_alias_each_other_wrongly(executables, backend):
    """A returned argument is a valid tensor after the input is overwritten
    (IREE may hand back the input's buffer)."""
    run = executables(backend, "f64", "passthrough")
    x = torch.randn(5, 4, dtype=torch.float64)
    kept = x.clone()
    first, second = run(x)
    if backend != "torch":  # the torch backend returns the argument itself
        x.zero_()
        torch.testing.assert_close(first, kept)
        torch.testing.assert_close(second, kept)


# ---------------------------------------------------------- the torch backend


def test_one_aten_call_per_op():
    graph = to_fx(program("f64"), "mlp").graph
    aten = torch.ops.aten
    calls = [n.target for n in graph.nodes if n.op == "call_function"]
    targets = [t for t in calls if t is not aten.sym_size.int]  # size reads
    assert targets == [
        aten.mm.default, aten.expand.default, aten.add.Tensor, aten.tanh.default,
        aten.mm.default,
    ]  # fmt: skip


WHOLE_BATCH_SLICE = """
func.func @split(%x: tensor<3x?x4xf64>) -> (tensor<1x?x4xf64>, tensor<2x?x4xf64>) {
  %c1 = arith.constant 1 : index
  %n = tensor.dim %x, %c1 : tensor<3x?x4xf64>
  %a = tensor.extract_slice %x[0, 0, 0] [1, %n, 4] [1, 1, 1] : tensor<3x?x4xf64> to tensor<1x?x4xf64>
  %b = tensor.extract_slice %x[1, 0, 0] [2, %n, 4] [1, 1, 1] : tensor<3x?x4xf64> to tensor<2x?x4xf64>
  func.return %a, %b : tensor<1x?x4xf64>, tensor<2x?x4xf64>
}
"""


def test_a_slice_of_the_whole_batch_is_no_aten_call():
    """Sizes `tensor.dim` of the source in that dimension take it whole: only
    the leading dimension is sliced (the split of a batched GEMM's result)."""
    module = Parser(make_context(), WHOLE_BATCH_SLICE).parse_module()
    graph_module = to_fx(module, "split")
    slices = [
        n.args[1]
        for n in graph_module.graph.nodes
        if n.target is torch.ops.aten.slice.Tensor
    ]
    assert slices == [0, 0]
    x = torch.rand(3, 5, 4, dtype=torch.float64)
    a, b = graph_module(x)
    assert torch.equal(a, x[:1]) and torch.equal(b, x[1:])


def test_fill_feeding_only_elementwise_ops_is_a_scalar():
    code = to_fx(program("f64"), "scalars").code
    assert "aten.add.Scalar(arg0, 2.0)" in code
    assert "aten.rsub.Scalar(arg0, 2.0)" in code
    assert "aten.pow.Tensor_Scalar(arg0, 1.5)" in code
    assert "aten.clamp_min.default(arg0, 0.0)" in code


def test_autograd_through_the_torch_backend():
    run = TorchExecutable(program("f64"), "mlp")
    x, w1, b1, w2 = _inputs("mlp", 7, torch.float64)
    params = [p.clone().requires_grad_() for p in (w1, b1, w2)]
    reference = [p.clone().requires_grad_() for p in (w1, b1, w2)]
    (y,) = run(x, *params)
    (y_ref,) = _mlp(x, *reference)
    y.square().sum().backward()
    y_ref.square().sum().backward()
    for p, r in zip(params, reference, strict=True):
        torch.testing.assert_close(p.grad, r.grad)
    assert torch.autograd.gradcheck(lambda *a: run(x, *a)[0], tuple(params))


@needs_iree
@pytest.mark.parametrize("name", ["mlp", "binary", "slices", "passthrough"])
def test_autograd_through_iree(executables, name):
    """IREE results differentiate like the same computation in plain torch
    (several results, views, a returned argument); the gradients themselves
    come from the torch backend (tests/test_iree_autograd.py for operators)."""
    run = executables("iree-cpu", "f64", name)
    inputs = [t.requires_grad_() for t in _inputs(name, 7, torch.float64)]
    reference = [t.detach().clone().requires_grad_() for t in inputs]
    got = run(*inputs)
    assert all(out.grad_fn is not None for out in got)
    loss = sum(out.square().sum() for out in got)
    expected = torch.autograd.grad(
        sum(out.square().sum() for out in CASES[name](*reference)), reference
    )
    for grad, want in zip(torch.autograd.grad(loss, inputs), expected, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(lambda *a: run(*a), tuple(inputs))


@pytest.mark.parametrize("compiler", ["aot_eager", "inductor"])
def test_torch_compile(compiler):
    """The GraphModule traces under dynamo (dynamic batch) and differentiates."""
    run = TorchExecutable(program("f32"), "mlp")
    compiled = torch.compile(run.graph_module, backend=compiler, dynamic=True)
    for n in (7, 33):
        x, w1, b1, w2 = _inputs("mlp", n, torch.float32)
        w1 = w1.requires_grad_()
        (y,) = compiled(x, w1, b1, w2)
        (y_ref,) = _mlp(x, w1, b1, w2)
        torch.testing.assert_close(y, y_ref)
        (grad,) = torch.autograd.grad(y.sum(), w1)
        (grad_ref,) = torch.autograd.grad(y_ref.sum(), w1)
        torch.testing.assert_close(grad, grad_ref)


def test_unknown_op_names_the_op():
    module = parse("""
func.func @f(%x: tensor<?x4xf64>) -> tensor<?x4xf64> {
  %y = math.cbrt %x : tensor<?x4xf64>
  func.return %y : tensor<?x4xf64>
}""")
    with pytest.raises(UnsupportedOperatorError, match="math.cbrt"):
        to_fx(module, "f")


def test_unsupported_predicate_names_it():
    module = parse("""
func.func @f(%x: tensor<4xf64>) -> tensor<4xi1> {
  %y = arith.cmpf ult, %x, %x : tensor<4xf64>
  func.return %y : tensor<4xi1>
}""")
    with pytest.raises(UnsupportedOperatorError, match="arith.cmpf.*ult"):
        to_fx(module, "f")


# ----------------------------------------------------------------- call checks


def _call_error_cases():
    x = torch.randn(7, 3, dtype=torch.float64)
    w1 = torch.randn(3, 5, dtype=torch.float64)
    b1 = torch.randn(5, dtype=torch.float64)
    w2 = torch.randn(5, 1, dtype=torch.float64)
    return {
        "count": ((x, w1, b1), r"takes 4 tensors, got 3"),
        "not a tensor": ((x, w1, b1, 2.0), r"argument 3 must be a torch.Tensor, got float"),
        "rank": ((x[0], w1, b1, w2), r"argument 0 must have rank 2 \(\?, 3\) float64, got rank 1"),
        "static size": ((x, w1[:2], b1, w2), r"argument 1 must have size 3 in dimension 0"),
        "dtype": ((x.float(), w1, b1, w2), r"argument 0 must be torch.float64, got torch.float32"),
        "device": ((x, w1, b1, w2.to("meta")), r"argument 3 is on meta, but earlier arguments are on cpu"),
    }  # fmt: skip


@pytest.mark.parametrize("backend", _BACKEND_NAMES)
@pytest.mark.parametrize("case", list(_call_error_cases()))
def test_call_errors(executables, backend, case):
    run = executables(backend, "f64", "mlp")
    args, message = _call_error_cases()[case]
    with pytest.raises(CallError, match=message):
        run(*args)


def test_required_device_is_checked():
    run = TorchExecutable(program("f64"), "passthrough", device="cpu")
    with pytest.raises(CallError, match=r"argument 0 must be on cpu, got meta"):
        run(torch.empty(3, 4, dtype=torch.float64, device="meta"))


@needs_iree
def test_iree_takes_cpu_tensors():
    run = build_executable(program("f64"), "passthrough", "iree-cpu")
    with pytest.raises(CallError, match=r"argument 0 must be on cpu, got meta"):
        run(torch.empty(3, 4, dtype=torch.float64, device="meta"))


def test_unknown_backend():
    with pytest.raises(BackendError, match=r"unknown backend 'tpu'"):
        build_executable(program("f64"), "mlp", "tpu")
    assert set(BACKENDS) == {"torch", "torch-inductor", "iree-cpu", "iree-cuda"}


# ------------------------------------------------------------------------ IREE


@needs_iree
def test_iree_compile_error_is_a_backend_error():
    module = parse("""
func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf64> {
  %y = builtin.unrealized_conversion_cast %x : tensor<?x4xf32> to tensor<?x4xf64>
  func.return %y : tensor<?x4xf64>
}""")
    with pytest.raises(BackendError, match="IREE failed to compile"):
        build_executable(module, "f", "iree-cpu")


@needs_iree
def test_iree_disk_cache(tmp_path, monkeypatch):
    from taylor_mlir.backends import iree_backend

    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    monkeypatch.setattr(iree_backend, "_MEMORY_CACHE", {})
    first = build_executable(one_function("f32", "mlp"), "mlp", "iree-cpu")
    assert [p.suffix for p in tmp_path.iterdir()] == [".vmfb"]

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again despite the cache")

    import iree.compiler

    monkeypatch.setattr(iree_backend, "_MEMORY_CACHE", {})
    monkeypatch.setattr(iree.compiler, "compile_str", no_compiler)
    second = build_executable(one_function("f32", "mlp"), "mlp", "iree-cpu")
    assert second.artifact == first.artifact
    inputs = _inputs("mlp", 7, torch.float32)
    _check_outputs(second(*inputs), _mlp(*inputs), torch.float32)


@needs_iree
def test_iree_cuda_compiles():
    from taylor_mlir.backends.iree_backend import IREEExecutable, cuda_available

    run = IREEExecutable(one_function("f64", "mlp"), "mlp", target="cuda")
    assert len(run.artifact) > 1000
    if not cuda_available():
        with pytest.raises(BackendError, match="needs a CUDA device"):
            run(*_inputs("mlp", 7, torch.float64))


@needs_iree
@pytest.mark.parametrize("ft", DTYPES)
def test_iree_artifact_is_the_executables(ft):
    from taylor_mlir.backends.iree_backend import iree_artifact

    module = one_function(ft, "mlp")
    run = build_executable(module, "mlp", "iree-cpu")
    assert iree_artifact(module) == run.artifact
    data_tiling = "--iree-opt-data-tiling=true" in run.flags
    assert data_tiling == (ft == "f32")


def test_iree_compile_falls_back_without_the_fast_matmul_flags(monkeypatch):
    """IREE 3.13 fails on some f32 programs with data tiling + ukernels; they
    are compiled again without those flags (and a failure without them is
    reported, not retried)."""
    from taylor_mlir.backends import iree_backend

    calls = []

    def fake_compile(mlir, flags):
        calls.append(list(flags))
        if "--iree-opt-data-tiling=true" in flags:
            raise BackendError("all stack allocations need to be hoisted")
        return b"artifact"

    monkeypatch.setattr(iree_backend, "compile_mlir", fake_compile)
    fast = iree_backend.compiler_flags("cpu", float64=False)
    artifact, used = iree_backend.compile_with_fallback("module", fast)
    assert artifact == b"artifact"
    assert used == iree_backend.compiler_flags("cpu", float64=True)
    assert calls == [fast, used]

    def always_fails(mlir, flags):
        calls.append(list(flags))
        raise BackendError("unsupported op")

    calls.clear()
    monkeypatch.setattr(iree_backend, "compile_mlir", always_fails)
    with pytest.raises(BackendError, match="unsupported op"):
        iree_backend.compile_with_fallback("module", fast)
    assert calls == [fast, used]
    calls.clear()
    with pytest.raises(BackendError, match="unsupported op"):
        iree_backend.compile_with_fallback("module", used)
    assert calls == [used]  # nothing to drop: not retried


_NESTED_BIHARMONIC_ON_IREE = """
import torch, taylor_mlir as tm
f = lambda x: torch.sigmoid(torch.sigmoid(x))
x = torch.rand(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
op = tm.biharmonic(f, x, backend="iree-cpu", strategy="nested")
reference = tm.biharmonic(f, x, strategy="interpolated")(x)
print(max(float((op(x) - reference).abs().max()) for _ in range(20)))
"""


@needs_iree
def test_a_nested_biharmonic_on_iree_runs_repeatedly(tmp_path):
    """Importing the arguments into IREE without a copy made this program
    crash the process inside IREE's invoke (every run); arguments are copied
    now. A subprocess, so that a regression fails this test, not the suite.
    The reference is the torch backend's interpolated biharmonic, itself
    tested against torch.func (test_interpolation.py)."""
    import subprocess
    import sys

    env = {**os.environ, "TAYLOR_MLIR_CACHE": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _NESTED_BIHARMONIC_ON_IREE],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 1e-10


def test_rank_reducing_slice_with_a_dynamic_size_drops_the_unit_dimension():
    """`1x?x4 -> ?x4` drops dimension 0, the static 1, not the dynamic one
    (which equals 1 only at one batch size)."""
    text = """
    func.func @f(%x: tensor<3x?x4xf64>) -> tensor<?x4xf64> {
      %c1 = arith.constant 1 : index
      %n = tensor.dim %x, %c1 : tensor<3x?x4xf64>
      %s = tensor.extract_slice %x[1, 0, 0] [1, %n, 4] [1, 1, 1] : tensor<3x?x4xf64> to tensor<?x4xf64>
      func.return %s : tensor<?x4xf64>
    }
    """
    run = TorchExecutable(Parser(make_context(), text).parse_module(), "f")
    for n in (1, 5):
        x = torch.rand(3, n, 4, dtype=torch.float64)
        (s,) = run(x)
        torch.testing.assert_close(s, x[1], rtol=0, atol=0)

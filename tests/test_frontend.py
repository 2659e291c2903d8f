"""
The frontend: torch.export -> tensor-level MLIR.

Every core-ATen op of the import table and every shared model is imported,
verified, and run with the torch backend at batch sizes 1, 7 and 256 from one
import, against the eager PyTorch function. Each case also names the ATen ops
it must exercise (checked in the exported graph) and the IR ops it must emit,
so a case cannot silently stop testing its op. Error paths are tested last.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from taylor_mlir import models
from taylor_mlir.backends.torch_backend import to_fx
from taylor_mlir.errors import (
    DtypeError,
    ExportError,
    RowInteractionError,
    UnsupportedOperatorError,
)
from taylor_mlir.frontend import ImportedProgram, import_torch
from taylor_mlir.frontend.aten import RULES
from taylor_mlir.frontend.rows import rule_for

BATCHES = (1, 7, 256)
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def _matrix(rows: int, cols: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, cols, generator=g, dtype=torch.float64)


W34 = _matrix(3, 4, 1)
A33 = _matrix(3, 3, 2)
B4 = _matrix(1, 4, 3)[0]
W43_32, B4_32 = W34.T.float().contiguous(), B4.float()


def run(prog: ImportedProgram, *inputs: torch.Tensor) -> torch.Tensor:
    graph_module = to_fx(prog.module, prog.func_name)
    (result,) = graph_module(*inputs, *prog.parameters)
    return result


def assert_matches(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Relative agreement; entries near zero are compared at the output's scale."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    rtol = RTOL[expected.dtype]
    scale = expected.abs().max().item() if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


def aten_targets(prog: ImportedProgram) -> set[str]:
    return {
        str(node.target)
        for node in prog.exported.graph.nodes
        if node.op == "call_function"
    }


def ir_ops(prog: ImportedProgram) -> set[str]:
    return {op.name for op in prog.module.walk()}


@dataclass
class Case:
    id: str
    f: Callable[..., torch.Tensor]
    aten: set[str]
    """ATen ops (as `aten.x.overload`) the exported graph must contain."""
    ir: set[str] = field(default_factory=set)
    """IR ops the imported function must contain."""
    shape: tuple[int, ...] = (3,)
    """A datum's shape; the input is (N, *shape)."""
    positive: bool = False
    """Inputs in [0.5, 1.5) (for log, sqrt, ...) instead of standard normal."""
    example_batch: int = 3


def sample(case: Case, n: int, dtype: torch.dtype) -> torch.Tensor:
    if case.positive:
        return torch.rand(n, *case.shape, dtype=dtype) + 0.5
    return torch.randn(n, *case.shape, dtype=dtype)


def check_round_trip(case: Case, dtype: torch.dtype = torch.float64) -> None:
    prog = import_torch(case.f, (sample(case, case.example_batch, dtype),))
    prog.module.verify()
    missing_aten = case.aten - aten_targets(prog)
    assert not missing_aten, f"the graph lacks {missing_aten}: {prog.exported.graph}"
    missing_ir = case.ir - ir_ops(prog)
    assert not missing_ir, f"the IR lacks {missing_ir}:\n{prog.module}"
    for n in BATCHES:
        x = sample(case, n, dtype)
        assert_matches(run(prog, x), case.f(x))


# ------------------------------------------------------------------ op cases


def _linear(x):
    return nn.functional.linear(x, W34.T, B4)


def _bmm_shared_left(x):  # A @ x[n]: the expand of A is used unexpanded
    return (A33 @ x.unsqueeze(-1)).squeeze(-1)


def _bmm_shared_right(x):  # x[n] @ W
    weights = W34.unsqueeze(0).expand(x.shape[0], 3, 4)
    return torch.bmm(x.unsqueeze(1), weights).squeeze(1)


def _bmm_both(x):  # x[n] @ x[n]^T: bilinear in the input
    return torch.einsum("nij,nkj->nik", x, x)


def _permute(x):
    return x.permute(0, 2, 1).transpose(1, 2) * 2 + x.transpose(1, 2).permute(0, 2, 1)


def _views(x):  # (N, 2, 3)
    flat = x.view(x.shape[0], 6)
    regrouped = x.permute(0, 2, 1).reshape(x.shape[0], 6)  # copy, then view
    through_rows = x.reshape(-1).view(x.shape[0], 3, 2).flatten(1)
    return flat * regrouped + through_rows


def _scalar_reshapes(x):  # to and from rank 0
    three = torch.tensor(3.0, dtype=x.dtype).view(1, 1, 1).sum((1, 2))
    return x * B4[1] + B4[2].view(1, 1) * x + three


def _unsqueeze_squeeze_expand(x):
    wide = x.unsqueeze(1).expand(-1, 2, -1)  # (N, 2, 3)
    return (wide * x.unsqueeze(1)).sum(1).unsqueeze(-1).squeeze(-1)


def _cat_slice_select(x):  # (N, 4)
    joined = torch.cat([x, 2 * x[:, 1:3]], dim=1)  # (N, 6)
    strided = joined[:, ::2] + joined[:, -3:]
    return strided * x[:, 0:1] + x[:, -1].unsqueeze(1)


def _split(x):  # (N, 4)
    head, tail = x.split([1, 3], dim=1)
    first, second = x.chunk(2, dim=1)
    return tail * head + torch.cat([first * second, second], dim=1)[:, 1:]


def _arithmetic(x):  # Tensor and Scalar forms, broadcasting, alpha
    row = x[:, :1]  # (N, 1) against (N, 3)
    a = x + W34[:, 0]
    b = torch.add(x, row, alpha=2.5)
    c = torch.sub(x, W34[:, 1], alpha=0.5) - 1.5
    d = (x * row) * 3 - 2 / (x * x + 1)
    e = x / (row * row + 1) / 4 + (x + 1) - (2 - x)
    return a * b + c * d - e


def _comparisons(x):
    row = x[:, :1]
    pieces = [
        torch.where(x > 0.2, x, -x),
        torch.where(x > row, x, 2 * x),
        torch.where(x < W34[:, 0], 2 * x, x * x),
        torch.where(x < 0.1, x, x * x),
        torch.where(x >= 0, x, torch.zeros_like(x)),
        torch.where(x >= row, 3 * x, x),
        torch.where(x <= row, torch.ones_like(x), x),
        torch.where(x <= -0.3, x, 1 - x),
        (x == row) * x + (x == 0.5).to(x.dtype),  # booleans as 0 and 1
        (x != row) * x + (x != 0.5).to(x.dtype) * 2.0,
    ]
    return sum(pieces)


def _scalar_overloads(x):  # the .Scalar forms, as graphs may contain them
    aten = torch.ops.aten
    return aten.div.Scalar(aten.mul.Scalar(aten.add.Scalar(x, 2.0), 3.0), 4.0) + (
        aten.sub.Scalar(x, 1.5, alpha=2)
    )


def _reductions(x):  # (N, 2, 3)
    a = x.sum(dim=[1, 2])
    b = x.sum(dim=-1, keepdim=True).squeeze(-1).sum(1)
    c = x.mean(dim=1).mean(dim=1)
    d = x.mean(dim=(1, 2), keepdim=True).flatten()
    return a + b * c + d


def _constants(x):
    full = torch.full((3,), 0.1)  # float32 constant in a float64 program
    return (
        x * torch.scalar_tensor(2.0, dtype=x.dtype)
        + torch.zeros(3, dtype=x.dtype)
        + torch.ones_like(x) * full
        + torch.full_like(x, 0.25)
        + torch.tensor([1.0, 2.0, 3.0], dtype=x.dtype)  # lifted constant
    )


def _copies(x):  # x[...] is an alias; x.detach() is a stop-gradient
    return x.clone() + x.to(x.dtype, copy=True) + x[...] * torch.clone(x)


UNARY_MATH = ("tanh", "sin", "cos", "exp", "log", "log1p", "sqrt", "rsqrt", "erf")


def _unary_math(x):  # x > 0
    return sum(getattr(torch, name)(x) * (i + 1) for i, name in enumerate(UNARY_MATH))


SPECIAL = ("sinh", "cosh", "tan", "atan", "asinh", "expm1", "exp2", "log2", "log10",
           "erfc", "lgamma", "digamma")  # fmt: skip
ON_UNIT = ("asin", "acos", "atanh", "erfinv")  # of x - 1 in [-0.5, 0.5)


def _special_functions(x):  # x > 0 (dialects/elementwise.py, dialects/special.py)
    terms = [getattr(torch, n)(x) for n in SPECIAL]
    terms += [getattr(torch, n)(x - 1) for n in ON_UNIT]
    terms += [torch.acosh(x + 1), torch.special.polygamma(2, x)]
    return sum(t * (i + 1) for i, t in enumerate(terms))


def _binary_special(x):  # x > 0: atan2 of every quadrant, tensor exponents
    return torch.atan2(x - 1, x[:, :1] - 1) + x**x + 2.0**x


def _powers(x):  # x > 0; integer exponents are products, 1/2 and -1/2 roots
    exponents = (0, 1, 2, 3, -1, -2, 0.5, -0.5, 1.5, -2.5)
    return sum(x**p * (i + 1) for i, p in enumerate(exponents))


def _maximum_minimum(x):
    return torch.maximum(x, x[:, :1]) + torch.minimum(x, torch.zeros_like(x))


def _boolean_logic(x):  # masks combined, and logic on floats (nonzero is true)
    a, b, c = x > 0, x < 0.5, x > -0.5
    masks = [
        a & b, a | b, a ^ c, ~a,
        torch.logical_and(a, b), torch.logical_or(a, c), torch.logical_xor(b, c),
        torch.logical_not(b), torch.logical_and(x, x - 0.25), torch.logical_not(x * a),
        a * b, a + b, torch.maximum(a, b), torch.minimum(a, c), x.bool() & a,
    ]  # fmt: skip
    return sum(m.to(x.dtype) * (i + 1) for i, m in enumerate(masks)) + a.float()


def _constant_indices(x):  # (N, 4)
    pairs = x[:, torch.tensor([[0, 1], [2, 2], [3, 0], [1, 1]])].sum(2)  # (N, 4)
    picked = x[:, [3, 0, 1, -1]] * pairs
    return picked + torch.index_select(x, 1, torch.tensor([1, 2, 3, 0])) * x[:, 2:3]


def _integer_constants(x):  # used as floats, as torch promotes them
    weights = torch.tensor([1, -2, 3]) + torch.arange(3)  # computed on constants
    return x * weights + torch.where(torch.tensor([True, False, True]), x, -x)


OP_CASES = [
    Case("addmm-permute", _linear, {"aten.addmm.default", "aten.permute.default"},
         {"linalg.matmul", "linalg.transpose", "linalg.broadcast"}),
    Case("addmm-alpha-beta",
         lambda x: torch.addmm(B4, x, W34, beta=0.5, alpha=2.0), {"aten.addmm.default"},
         {"linalg.matmul", "arith.mulf"}),
    Case("mm", lambda x: x @ W34, {"aten.mm.default"}, {"linalg.matmul"}),
    Case("mm-3d-input", lambda x: x @ W34, {"aten.mm.default", "aten.view.default"},
         {"tensor.collapse_shape", "tensor.expand_shape"}, shape=(2, 3)),
    Case("bmm-shared-left", _bmm_shared_left, {"aten.bmm.default", "aten.expand.default"},
         {"linalg.matmul"}),
    Case("bmm-shared-right", _bmm_shared_right, {"aten.bmm.default"}, {"linalg.matmul"}),
    Case("bmm-both-batched", _bmm_both, {"aten.bmm.default"},
         {"linalg.reduce", "arith.mulf"}, shape=(2, 3)),
    Case("permute", _permute, {"aten.permute.default"}, {"linalg.transpose"},
         shape=(2, 3)),
    Case("views", _views, {"aten.view.default", "aten.clone.default"},
         {"tensor.collapse_shape", "tensor.expand_shape"}, shape=(2, 3)),
    Case("scalar-reshapes", _scalar_reshapes, {"aten.select.int", "aten.view.default"},
         {"tensor.collapse_shape", "linalg.broadcast"}),
    Case("unsqueeze-squeeze-expand", _unsqueeze_squeeze_expand,
         {"aten.unsqueeze.default", "aten.squeeze.dims", "aten.expand.default"},
         {"linalg.broadcast"}),
    Case("cat-slice-select", _cat_slice_select,
         {"aten.cat.default", "aten.slice.Tensor", "aten.select.int"},
         {"tensor.concat", "tensor.extract_slice"}, shape=(4,)),
    Case("split", _split, {"aten.split_with_sizes.default"},
         {"tensor.extract_slice"}, shape=(4,)),
    Case("arithmetic", _arithmetic,
         {"aten.add.Tensor", "aten.sub.Tensor", "aten.mul.Tensor", "aten.div.Tensor"},
         {"arith.addf", "arith.subf", "arith.mulf", "arith.divf"}),
    Case("neg", lambda x: -x * x, {"aten.neg.default"}, {"arith.negf"}),
    Case("comparisons", _comparisons,
         {f"aten.{op}.{form}" for op in ("gt", "lt", "ge", "le", "eq", "ne")
          for form in ("Tensor", "Scalar")} | {"aten.where.self", "aten._to_copy.default"},
         {"arith.cmpf", "arith.select"}),
    Case("scalar-overloads", _scalar_overloads,
         {"aten.add.Scalar", "aten.sub.Scalar", "aten.mul.Scalar", "aten.div.Scalar"},
         {"linalg.fill"}),
    Case("reductions", _reductions, {"aten.sum.dim_IntList", "aten.mean.dim"},
         {"linalg.reduce"}, shape=(2, 3)),
    Case("constants", _constants,
         {"aten.full.default", "aten.full_like.default", "aten.scalar_tensor.default"},
         {"linalg.fill"}),
    Case("copies", _copies,
         {"aten.clone.default", "aten.alias.default", "aten._to_copy.default"}),
    Case("detach", lambda x: x.detach() * x, {"taylor_mlir.stop_gradient.default"},
         {"taylor.stop_gradient"}),
    Case("maximum-minimum", _maximum_minimum,
         {"aten.maximum.default", "aten.minimum.default"},
         {"arith.cmpf", "arith.select"}),  # ties: autograd's half of each
    Case("abs", lambda x: torch.abs(x) * x, {"aten.abs.default"}, {"arith.select"}),
    Case("gelu", lambda x: nn.functional.gelu(x), {"aten.gelu.default"}, {"math.erf"}),
    Case("gelu-tanh", lambda x: nn.functional.gelu(x, approximate="tanh"),
         {"aten.gelu.default"}, {"math.tanh"}),
    Case("relu", lambda x: torch.relu(x) * x, {"aten.relu.default"}, {"arith.maximumf"}),
    Case("sigmoid", torch.sigmoid, {"aten.sigmoid.default"}, {"math.exp", "arith.divf"}),
    Case("reciprocal", torch.reciprocal, {"aten.reciprocal.default"}, {"arith.divf"},
         positive=True),
    Case("softplus", nn.functional.softplus,
         {"aten.exp.default", "aten.log1p.default", "aten.gt.Scalar", "aten.where.self"},
         {"math.exp", "math.log1p", "arith.select"}),

    Case("unary-math", _unary_math,
         {f"aten.{name}.default" for name in UNARY_MATH}, {f"math.{name}" for name in UNARY_MATH},
         positive=True),
    Case("special-functions", _special_functions,
         {f"aten.{n}.default" for n in (*SPECIAL, *ON_UNIT, "acosh", "polygamma")},
         {"math.sinh", "math.atan", "math.asin", "math.acosh", "special.erfinv",
          "special.lgamma", "special.polygamma2"}, positive=True),
    Case("binary-special", _binary_special,
         {"aten.atan2.default", "aten.pow.Tensor_Tensor", "aten.pow.Scalar"},
         {"math.atan", "arith.select", "math.powf"}, positive=True),
    Case("powers", _powers, {"aten.pow.Tensor_Scalar"},
         {"arith.mulf", "arith.divf", "math.sqrt", "math.rsqrt", "math.powf"}, positive=True),
    Case("boolean-logic", _boolean_logic,
         {f"aten.{kind}_{op}.{form}" for kind, form in (("logical", "default"),
          ("bitwise", "Tensor")) for op in ("and", "or", "xor")}
         | {"aten.logical_not.default", "aten.bitwise_not.default", "aten.mul.Tensor",
            "aten.maximum.default", "aten.minimum.default", "aten._to_copy.default"},
         {"arith.cmpf", "arith.select"}),
    Case("constant-indices", _constant_indices,
         {"aten.index.Tensor", "aten.index_select.default"},
         {"tensor.extract_slice", "tensor.concat", "tensor.expand_shape"}, shape=(4,)),
    Case("integer-constants", _integer_constants, {"aten.where.self"}, {"arith.constant"}),
    Case("integer-powers-of-negatives", lambda x: x**2 + x**3 - 0.1 * x**-2,
         {"aten.pow.Tensor_Scalar"}, {"arith.mulf", "arith.divf"}),
]  # fmt: skip


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.id)
def test_op_round_trip(case: Case):
    check_round_trip(case)


FLOAT32_CASES = [
    Case("addmm-permute", lambda x: nn.functional.linear(x, W43_32, B4_32),
         {"aten.addmm.default"}, {"linalg.matmul"}),
    Case("bmm-both-batched", _bmm_both, {"aten.bmm.default"}, {"linalg.reduce"},
         shape=(2, 3)),
    Case("softplus", nn.functional.softplus, {"aten.where.self"}, {"math.log1p"}),
    Case("pow1.5", lambda x: x**1.5, {"aten.pow.Tensor_Scalar"}, {"math.powf"},
         positive=True),
]  # fmt: skip


@pytest.mark.parametrize("case", FLOAT32_CASES, ids=lambda c: c.id)
def test_op_round_trip_float32(case: Case):
    check_round_trip(case, torch.float32)


def test_every_rule_has_a_case():
    """Each entry of the import table is exercised by an op case (here or, for
    the ops of issue 11, in test_coverage_ops.py, test_coverage_scans.py and
    test_linalg.py)."""
    import test_coverage_ops
    import test_coverage_scans
    import test_linalg
    import test_scatter

    cases = [
        *OP_CASES,
        *test_coverage_ops.CASES,
        *test_coverage_scans.CASES,
        *test_linalg.CASES,
        *test_scatter.CASES,
    ]
    tested = set().union(*(c.aten for c in cases)) | {"aten.mean.default"}
    untested = {str(t) for t in RULES} - tested
    assert not untested, f"rules without a test case: {sorted(untested)}"


def test_every_rule_has_a_row_rule():
    for target in RULES:
        rule_for(target)  # asserts: its own rule, or a pointwise op


def test_mean_over_everything_with_a_static_batch():
    """`mean.default` reduces the batch too: only a static batch may do that."""
    x = torch.randn(4, 3, dtype=torch.float64)
    prog = import_torch(lambda x: x * x.mean(), x, dynamic_batch=False)
    assert "aten.mean.default" in aten_targets(prog)
    assert_matches(run(prog, x), x * x.mean())
    with pytest.raises(RowInteractionError, match="sums over the batch"):
        import_torch(lambda x: x * x.mean(), x)


# ------------------------------------------------------------------- models

MODELS = {
    "mlp-tanh": lambda dtype: models.mlp([4, 16, 16, 1], "tanh", dtype),
    "mlp-sigmoid": lambda dtype: models.mlp([4, 16, 1], "sigmoid", dtype),
    "mlp-sin": lambda dtype: models.mlp([4, 16, 1], "sin", dtype),
    "mlp-relu": lambda dtype: models.mlp([4, 16, 1], "relu", dtype),
    "residual": lambda dtype: models.ResidualMLP(4, 8, 2, "tanh", dtype),
    "products": lambda dtype: models.ProductsFunction(4, dtype),
    "softplus-mlp": lambda dtype: models.softplus_mlp([4, 16, 1], dtype),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", MODELS)
def test_model_round_trip(name: str, dtype: torch.dtype):
    model = MODELS[name](dtype)
    prog = import_torch(model, torch.randn(1, 4, dtype=dtype))  # batch 1 example
    prog.module.verify()
    element = "f32" if dtype == torch.float32 else "f64"
    assert str(prog.input_types[0]) == f"tensor<?x4x{element}>"  # not specialized
    for n in BATCHES:
        x = torch.randn(n, 4, dtype=dtype)
        with torch.no_grad():
            assert_matches(run(prog, x), model(x))


def test_paper_mlp_imports():
    model = models.paper_mlp(5)
    prog = import_torch(model, torch.randn(2, 5, dtype=torch.float64))
    assert [tuple(p.shape) for p in prog.parameters[::2]] == [
        (768, 5), (768, 768), (512, 768), (512, 512), (1, 512)
    ]  # fmt: skip
    assert str(prog.output_type) == "tensor<?x1xf64>"


def test_models_are_deterministic():
    a, b = models.mlp([3, 5, 1], seed=3), models.mlp([3, 5, 1], seed=3)
    c = models.mlp([3, 5, 1], seed=4)
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(p, q) and not torch.equal(p, r)
    assert all(p.dtype == torch.float64 for p in a.parameters())
    x = torch.randn(4, 3, dtype=torch.float64)
    assert models.ProductsFunction(3)(x).shape == (4,)
    assert models.ResidualMLP(3, 4, 2)(x).shape == (4, 1)


# ------------------------------------------------------------ program shape


class _WithState(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2, dtype=torch.float64)
        self.register_buffer("scale", torch.tensor([2.0, 3.0], dtype=torch.float64))
        self.unused = nn.Parameter(torch.ones(5, dtype=torch.float64))

    def forward(self, x, y):
        return self.linear(x) * self.scale + y * torch.tensor(0.5, dtype=torch.float64)


def test_signature_inputs_then_parameters():
    model = _WithState()
    x, y = (
        torch.randn(4, 3, dtype=torch.float64),
        torch.randn(4, 2, dtype=torch.float64),
    )
    prog = import_torch(model, (x, y), func_name="u")
    assert prog.func_name == "u" and prog.num_inputs == 2
    assert prog.parameter_names == [
        "linear.weight",
        "linear.bias",
        "scale",
        "lifted_tensor_0",
    ]
    assert prog.parameters[0] is model.linear.weight  # autograd reaches the module
    types = [str(t) for t in prog.input_types]
    assert types == [
        "tensor<?x3xf64>", "tensor<?x2xf64>",
        "tensor<2x3xf64>", "tensor<2xf64>", "tensor<2xf64>", "tensor<f64>",
    ]  # fmt: skip
    (function,) = prog.module.ops
    assert function.sym_name.data == "u" and function.sym_visibility is None
    for n in BATCHES:
        x, y = (
            torch.randn(n, 3, dtype=torch.float64),
            torch.randn(n, 2, dtype=torch.float64),
        )
        with torch.no_grad():
            assert_matches(run(prog, x, y), model(x, y))


def test_static_batch():
    model = models.mlp([3, 4, 1])
    x = torch.randn(5, 3, dtype=torch.float64)
    prog = import_torch(model, x, dynamic_batch=False)
    assert str(prog.input_types[0]) == "tensor<5x3xf64>"
    assert "tensor.dim" not in ir_ops(prog)
    with torch.no_grad():
        assert_matches(run(prog, x), model(x))


def test_rows_kept_through_merged_batch_dimensions():
    """Reshapes and concatenations that move the batch and bring it back are
    per-row functions (not row interactions)."""

    def f(x):  # (N, 3)
        flat = x.reshape(-1) * 2  # (3N): rows inside a merged dimension
        stacked = torch.cat([x, x * x], dim=0).view(2, -1, 3)  # (2, N, 3)
        columns = (W34.T @ x.T).T  # the batch as columns of a matmul
        return flat.view(-1, 3) + stacked.permute(1, 0, 2).sum(1) + columns[:, :3]

    check_round_trip(Case("merged", f, {"aten.cat.default", "aten.mm.default"}))


# -------------------------------------------------------------------- errors


def first_line(error: Exception) -> str:
    """The message without the quoted source line (which quotes the test)."""
    return str(error).splitlines()[0]


def _line_of(function: Callable, text: str) -> int:
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, line in enumerate(lines) if text in line)


def _bessel_function(x):
    h = x * 2
    return torch.special.bessel_j0(h)


class _BesselModule(nn.Module):
    def forward(self, x):
        return torch.special.bessel_j0(x) + 1


@pytest.mark.parametrize(
    "f", [_bessel_function, _BesselModule()], ids=["function", "module"]
)
def test_unsupported_op_names_op_and_source_line(f):
    source = f if inspect.isfunction(f) else type(f).forward
    line = _line_of(source, "torch.special.bessel_j0")
    with pytest.raises(UnsupportedOperatorError) as info:
        import_torch(f, torch.randn(3, 2, dtype=torch.float64))
    assert info.value.op == "aten::special_bessel_j0"
    assert f"{__file__}:{line}" in str(info.value)
    assert "torch.special.bessel_j0(" in str(info.value)


def test_export_failure_is_reported_and_chained():
    def data_dependent(x):
        if x.sum() > 0:  # control flow on values: torch.export cannot trace it
            return x
        return -x

    with pytest.raises(ExportError, match="branches on the values") as info:
        import_torch(data_dependent, torch.randn(3, 2, dtype=torch.float64))
    assert info.value.__cause__ is not None
    assert "data_dependent" in str(info.value)


@pytest.mark.parametrize(
    "f, args, message",
    [
        (lambda x, y: x + y, (torch.randn(2, 3), torch.randn(2, 3, dtype=torch.float64)),
         "inputs mix dtypes"),
        (lambda x: x, (torch.ones(2, 3, dtype=torch.int64),), "torch.int64"),
        (models.mlp([3, 1], dtype=torch.float32), (torch.randn(2, 3, dtype=torch.float64),),
         "parameter 0.weight is torch.float32"),
        (lambda x: x.float().sum(1), (torch.randn(2, 3, dtype=torch.float64),),
         "aten::_to_copy computes in torch.float32"),
    ],
    ids=["inputs", "integer-input", "parameter", "cast-inside"],
)  # fmt: skip
def test_dtype_errors(f, args, message):
    with pytest.raises(DtypeError) as info:
        import_torch(f, args)
    assert message in first_line(info.value)


@pytest.mark.parametrize(
    "f, message",
    [
        (lambda x: x - x.sum(0), "sums over the batch"),
        (lambda x: x - x.mean(dim=0, keepdim=True), "sums over the batch"),
        (lambda x: x @ (x.T @ x), "matrix product sums over the batch"),
        (lambda x: x @ x.T, "pairs"),
        (lambda x: (x[:, None, :] * x[None, :, :]).sum(2), "different rows"),
        (lambda x: x.T, "dimension 0 must be the batch"),
        (lambda x: x.reshape(-1).view(3, -1).sum(0), "spreads the batch index"),
        (lambda x: torch.cat([x, x]), "dimension 0 must be the batch"),
        (lambda x: x[:2] * 2, "some rows"),
        (lambda x: x - x[0], "one row"),
        (lambda x: x.sum().expand(x.shape[0]), "sums over the batch"),
    ],
    ids=["sum-dim0", "mean-dim0", "mm-contracts-batch", "mm-outer", "outer-product",
         "transposed-output", "scrambling-reshape", "cat-rows", "slice-rows",
         "select-row", "sum-all"],
)  # fmt: skip
def test_row_interaction(f, message):
    with pytest.raises(RowInteractionError) as info:
        import_torch(f, torch.randn(4, 3, dtype=torch.float64))
    assert message in first_line(info.value)


def test_row_interaction_names_source_line():
    def f(x):
        centered = x - x.mean(dim=0)
        return centered

    line = _line_of(f, "x.mean(dim=0)")
    with pytest.raises(RowInteractionError) as info:
        import_torch(f, torch.randn(4, 3, dtype=torch.float64))
    assert f"{__file__}:{line}" in str(info.value)


def test_size_that_is_not_a_multiple_of_the_batch():
    def f(x):
        return x * torch.ones(x.shape[0] + 1, 1, dtype=x.dtype)[1:]

    with pytest.raises(UnsupportedOperatorError, match="not an integer multiple"):
        import_torch(f, torch.randn(4, 3, dtype=torch.float64))


@pytest.mark.parametrize(
    "f, args, message",
    [
        (lambda x: (x, 2), (torch.randn(2, 3),), "must return tensors"),
        (lambda x, k: x * k, (torch.randn(2, 3), 2.0), "input 1 is a float"),
        (lambda x: x, (torch.tensor(1.0),), "scalar tensor"),
        (lambda x, y: x + y, (torch.randn(2, 3), torch.randn(3, 3)), "different batch"),
    ],
    ids=["non-tensor-output", "non-tensor", "scalar-input", "batch-mismatch"],
)  # fmt: skip
def test_bad_functions_and_inputs(f, args, message):
    with pytest.raises(ExportError, match=message):
        import_torch(f, args)


def test_unsupported_scalar_of_symbolic_size():
    with pytest.raises(UnsupportedOperatorError, match="expected a tensor"):
        import_torch(lambda x: x / x.shape[0], torch.randn(3, 2, dtype=torch.float64))


def test_mutating_buffers_is_rejected():
    model = nn.BatchNorm1d(3, dtype=torch.float64).train()
    with pytest.raises((ExportError, RowInteractionError)):
        import_torch(model, torch.randn(4, 3, dtype=torch.float64))

"""
What the frontend refuses, and how it says so (issue 9).

Each refusal is a `taylor_mlir.errors` exception whose message names the
problem, the fix and, where torch records one, the user's source line. What
the frontend accepts instead of refusing (boolean masks, constant index lists)
is checked through the Laplacian against torch.func in float64 at 1e-10.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pathlib
import sys

import pytest
import torch
from reference import laplacian as reference_laplacian
from torch import nn
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

import taylor_mlir as tm
import taylor_mlir.frontend
from taylor_mlir.errors import (
    DtypeError,
    ExportError,
    InternalError,
    RowInteractionError,
    UnsupportedOperatorError,
)
from taylor_mlir.frontend import import_torch
from taylor_mlir.frontend.aten import RULES

aten = torch.ops.aten
TOL = 1e-10
HAS_IREE = importlib.util.find_spec("iree.compiler") is not None
needs_iree = pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")


def batch(n: int = 5, *datum: int, avoid: tuple[float, ...] = ()) -> torch.Tensor:
    """float64 inputs at least 0.05 away from the kinks `avoid` of a piecewise f."""
    x = torch.randn(n, *(datum or (3,)), dtype=torch.float64)
    for kink in avoid:
        near = (x - kink).abs() < 0.05
        x = torch.where(near, x + 0.1, x)
    return x


def check_laplacian(f, x: torch.Tensor, backend: str = "torch") -> None:
    got = tm.laplacian(f, x, backend=backend)(x)
    torch.testing.assert_close(got, reference_laplacian(f, x), rtol=TOL, atol=TOL)


def line_of(function, text: str) -> str:
    """`file:line` of the line of `function` containing `text`."""
    lines, start = inspect.getsourcelines(function)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return f"{__file__}:{start + offset}"


# ------------------------------------------------- 1. non-float results


def _returns_mask(z):
    return z > 0


def _returns_indices(z):
    return z.argmax(1, keepdim=True)


@pytest.mark.parametrize(
    "f, dtype, code",
    [
        (_returns_mask, "torch.bool", "z > 0"),
        (_returns_indices, "torch.int64", "argmax"),
    ],
    ids=["bool", "int64"],
)
def test_non_float_result_is_a_dtype_error(f, dtype, code):
    with pytest.raises(DtypeError) as info:
        import_torch(f, batch())
    message = str(info.value)
    assert f"returns a {dtype} tensor: it must return a float tensor" in message
    assert ".to(x.dtype)" in message
    assert line_of(f, code) in message


def test_integer_arithmetic_on_the_input_is_a_dtype_error():
    with pytest.raises(DtypeError) as info:
        import_torch(lambda z: z * (z > 0).sum(1, keepdim=True), batch())
    message = str(info.value)
    assert "aten::sum.dim_IntList computes in torch.int64" in message
    assert "constant indices only" in message and ".to(x.dtype)" in message


def test_float32_arithmetic_on_a_mask_in_a_float64_program_is_a_dtype_error():
    """`mask.float()` is exact; `mask.float() * 2.0` computes in float32."""
    with pytest.raises(DtypeError, match="aten::mul.Tensor computes in torch.float32"):
        import_torch(lambda z: (z > 0).float() * 2.0, batch())


# ------------------------------------------------------ 2. boolean masks

MASKS = {
    "product": lambda z: torch.where((z > 0) * (z < 1), z * z, z),
    "sum": lambda z: torch.where((z > 0.5) + (z < -1), z**3, -z),
    "and-or-not-xor": lambda z: (
        torch.where(((z > 0) & (z < 1)) | ~(z > -0.5), z.sin(), z * z)
        + torch.where((z > 0) ^ (z < 0.5), z**3, z)
    ),
    "logical": lambda z: (
        torch.where(torch.logical_and(z > 0, z < 1), z.exp(), z)
        + torch.where(torch.logical_or(z > 0.5, torch.logical_not(z > -1)), z**3, z)
        + torch.where(torch.logical_xor(z > 0, z < 1), z * z, -z)
        + torch.where(torch.logical_and(z - 1, z), z, z.tanh())  # floats: != 0
    ),
    "maximum-minimum": lambda z: (
        torch.where(torch.maximum(z > 1, z < -1), z**3, z)
        + torch.where(torch.minimum(z > 0, z < 0.5), z.sin(), z)
    ),
    "mask-casts": lambda z: (
        ((z > 0) & (z < 1)).float() * z**3  # float32 0/1 in a float64 program
        + (z > 0.5).to(z.dtype) * z.exp()
        + torch.where((z * (z > -0.5)).bool(), z * z, z)  # nonzero is true
    ),
}
KINKS = (-1.0, -0.5, 0.0, 0.5, 1.0)


@pytest.mark.parametrize("name", MASKS)
def test_laplacian_of_boolean_masks(name):
    check_laplacian(MASKS[name], batch(6, avoid=KINKS))


def test_mask_products_import_as_comparisons():
    """`(z > 0) * (z < 1)` is a mask (tensor of i1), not a float product."""
    prog = import_torch(MASKS["product"], batch())
    text = str(prog.module)
    assert "arith.select" in text and "tensor<?x3xi1>" in text


# -------------------------------------------------------- internal errors


def test_a_rule_emitting_the_wrong_type_is_an_internal_error(monkeypatch):
    def wrong(imp, node):  # a comparison where a negation belongs
        x = imp.tensor(node, node.args[0])
        return imp.b.cmpf("ogt", x, x)

    monkeypatch.setitem(RULES, aten.neg.default, wrong)
    with pytest.raises(InternalError, match="internal error in taylor-mlir.*emitted"):
        import_torch(lambda z: -z, batch())


def test_the_frontend_checks_nothing_with_assert():
    """`python -O` drops `assert`: the frontend's checks raise errors instead."""
    directory = pathlib.Path(taylor_mlir.frontend.__file__).parent
    asserts = [
        f"{path.name}:{node.lineno}"
        for path in sorted(directory.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert not asserts


# ------------------------------------------------- 3. constant indices

PERMUTATION = torch.tensor([2, 0, 1])
PAIRS = torch.tensor([[2, 0], [1, 1]])


class _PermutedModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("perm", torch.tensor([1, 2, 0]))

    def forward(self, z):
        return z[:, self.perm].sin() * z


INDEXED = {
    "list": (lambda z: (z[:, [2, 0, 1]] * z.sin()).sum(1), (3,)),
    "repeated-negative": (
        lambda z: z[:, [-1, 0, 0, 1]].tanh() * z[:, [1, 1, 2, 0]],
        (3,),
    ),
    "index-select": (lambda z: torch.index_select(z, 1, PERMUTATION) * z**2, (3,)),
    "2d-index": (lambda z: (z[:, PAIRS] ** 3).sum(2) * z[:, :2], (3,)),
    "0d-index": (lambda z: z[:, torch.tensor(1)].unsqueeze(1) * z.exp(), (3,)),
    "inner-dim": (lambda z: z[:, :, [2, 0]].sin() * z[:, :, :2], (2, 3)),
    "buffer": (_PermutedModule(), (3,)),
}


@pytest.mark.parametrize("name", INDEXED)
def test_laplacian_of_constant_indexing(name):
    f, datum = INDEXED[name]
    check_laplacian(f, batch(6, *datum))


@needs_iree
@pytest.mark.parametrize("name", ["list", "2d-index"])
def test_laplacian_of_constant_indexing_on_iree(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    f, datum = INDEXED[name]
    check_laplacian(f, batch(6, *datum), backend="iree-cpu")


def _mask_of_the_input(z):
    return z[z > 0]


@pytest.mark.parametrize(
    "f, message",
    [
        (_mask_of_the_input, "indexing with a tensor of indices computed from the input"),
        (lambda z: z[:, torch.tensor([True, False, True])], "indexing with a boolean mask"),
        (lambda z: z[:, [0, 3]], "index 3 is out of range for dimension 1 of size 3"),
        (lambda z: z[:, torch.tensor([], dtype=torch.long)], "an empty list of indices"),
    ],
    ids=["mask-of-input", "constant-mask", "out-of-range", "empty"],
)  # fmt: skip
def test_unsupported_indexing(f, message):
    with pytest.raises(UnsupportedOperatorError) as info:
        import_torch(f, batch())
    assert info.value.op == "aten::index.Tensor"
    assert message in str(info.value)
    assert "lifted_tensor" not in str(info.value)


def test_indexing_names_the_users_line():
    with pytest.raises(UnsupportedOperatorError) as info:
        import_torch(_mask_of_the_input, batch())
    assert line_of(_mask_of_the_input, "z[z > 0]") in str(info.value)
    assert "torch.where" in str(info.value)


def test_indexing_two_separated_dimensions_at_once_is_refused():
    """Adjacent dimensions indexed at once work (tests/test_coverage_ops.py);
    separated ones, whose indices torch moves first, do not."""
    with pytest.raises(UnsupportedOperatorError, match="not next to each other"):
        import_torch(lambda z: z[:, [0, 1], :, [2, 3]], batch(5, 3, 2, 4))


def test_indexing_rows_of_the_batch_mixes_rows():
    with pytest.raises(RowInteractionError, match="picks rows of the batch by index"):
        import_torch(lambda z: z[[0, 1, 0, 1, 2]], batch())


# ---------------------------------------- 4. what torch.export refuses


def _branch_on_sum(z):
    if z.sum() > 0:
        return z
    return -z


def _branch_on_bool(z):
    return z * bool(z[0, 0] > 0)


def _branch_on_item(z):
    while z.abs().max().item() > 1:
        z = z / 2
    return z


@pytest.mark.parametrize(
    "f, code",
    [
        (_branch_on_sum, "if z.sum() > 0:"),
        (_branch_on_bool, "bool(z[0, 0] > 0)"),
        (_branch_on_item, "while z.abs().max().item() > 1:"),
    ],
    ids=["if", "bool", "item"],
)
def test_data_dependent_control_flow(f, code, capfd):
    with pytest.raises(ExportError) as info:
        import_torch(f, batch())
    stderr = capfd.readouterr().err  # torch.export printed its partial trace there
    assert "def forward" not in stderr and "Unable to find user code" not in stderr
    message = str(info.value)
    assert f"the function {f.__name__} branches on the values of a tensor" in message
    assert "torch.where(condition, a, b)" in message
    where = next(line for line in message.splitlines() if "from your code" in line)
    assert f"{line_of(f, code)} in {f.__name__}: " in where and code in where
    assert "torch says: Could not guard on data-dependent expression" in message
    assert "guard_or_false" not in message  # torch's advice to torch developers
    assert isinstance(info.value.__cause__, GuardOnDataDependentSymNode)


def _branch_on_batch_size(z):
    if z.shape[0] > 3:
        return z
    return -z


def _loop_over_rows(z):
    for _ in range(z.shape[0]):
        z = z * 2
    return z


def _four_rows(z):
    return z.reshape(4, -1).sin().reshape(z.shape)


@pytest.mark.parametrize(
    "f, n, assumption, code",
    [
        (_four_rows, 4, "it assumes exactly 4 rows", None),
        (_four_rows, 3, "it reshapes to a fixed number of rows", "reshape(4, -1)"),
        (_branch_on_batch_size, 4, "it assumes at least 4 rows", None),
        (_branch_on_batch_size, 2, "it assumes at most 3 rows", None),
        (_loop_over_rows, 5, "it assumes exactly 5 rows", None),
        (lambda z: z.reshape(2, -1).reshape(-1, 3), 4, "it assumes a multiple of 2 rows",
         None),
    ],
    ids=["reshape-specialized", "reshape-invalid", "branch-min", "branch-max", "loop",
         "reshape-multiple"],
)  # fmt: skip
def test_batch_size_dependence(f, n, assumption, code):
    with pytest.raises(ExportError) as info:
        import_torch(f, batch(n))
    message = str(info.value)
    assert f"depends on the batch size ({assumption})" in message
    assert "the batch dimension (dimension 0) must stay free" in message
    assert "Treat the rows independently" in message
    for leak in ("Dim(", "mark_dynamic", "Suggested fixes"):  # fixes for torch users
        assert leak not in message
    assert "torch says: " in message
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's, kept whole
    if code is not None:
        assert line_of(f, code) in message
    else:
        assert "Suggested fixes" in str(info.value.__cause__)


def test_a_static_batch_may_depend_on_the_batch_size():
    x = batch(4)
    prog = import_torch(_four_rows, x, dynamic_batch=False)
    assert str(prog.input_types[0]) == "tensor<4x3xf64>"


def test_other_export_failures_quote_torch():
    with pytest.raises(ExportError, match="torch.export could not trace") as info:
        import_torch(lambda z: torch.from_numpy(z.numpy()), batch())
    assert ".numpy() is not supported" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


# --------------------------------------------------------- 5. randomness


def _dropout_model() -> nn.Module:
    torch.manual_seed(1)
    linear = nn.Linear(3, 4, dtype=torch.float64)
    return nn.Sequential(
        linear, nn.Tanh(), nn.Dropout(0.2), nn.Linear(4, 1, dtype=torch.float64)
    )


def test_dropout_in_training_mode_says_call_eval():
    model = _dropout_model().train()
    with pytest.raises(UnsupportedOperatorError) as info:
        import_torch(model, batch())
    message = str(info.value)
    assert info.value.op == "aten::native_dropout"
    assert "draws random numbers (in module 2, a Dropout)" in message
    assert "training mode" in message and "call model.eval()" in message


def test_dropout_in_eval_mode_compiles():
    model = _dropout_model().eval()
    check_laplacian(model, batch(6))


@pytest.mark.parametrize(
    "f, op",
    [
        (lambda z: torch.bernoulli(torch.sigmoid(z)) * z, "aten::rand"),
        (lambda z: z * torch.rand_like(z), "aten::rand_like"),
        (lambda z: nn.functional.dropout(z, 0.5), "aten::native_dropout"),
    ],
    ids=["bernoulli", "rand_like", "functional-dropout"],
)
def test_random_ops_are_named(f, op):
    with pytest.raises(UnsupportedOperatorError) as info:
        import_torch(f, batch())
    assert info.value.op == op
    assert "draws random numbers" in str(info.value)
    assert "model.eval()" in str(info.value)


def test_what_f_writes_to_stderr_still_shows(capfd):
    """Export captures stderr only to drop torch's partial trace of a failure."""

    def noisy(z):
        print("f traced", file=sys.stderr)
        return torch.sin(z)

    import_torch(noisy, batch())
    assert "f traced" in capfd.readouterr().err


_SELF_NET = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _gradient_by_autograd(z):
    z = z if z.requires_grad else z.requires_grad_(True)
    (g,) = torch.autograd.grad(_SELF_NET(z).sum(), z, create_graph=True)
    return (g**2).sum(-1, keepdim=True)


def _gradient_by_func_grad(z):
    one = torch.func.grad(lambda zi: _SELF_NET(zi[None]).sum())
    return torch.func.vmap(one)(z).pow(2).sum(-1, keepdim=True)


def _gradient_by_jacrev(z):
    return (
        torch.func.jacrev(lambda y: _SELF_NET(y).sum())(z).pow(2).sum(-1, keepdim=True)
    )


@pytest.mark.parametrize(
    "f, says",
    [
        (_gradient_by_autograd, r"torch\.autograd\.grad, which torch\.export cannot"),
        (_gradient_by_func_grad, r"takes a derivative of itself with a torch\.func"),
        (_gradient_by_jacrev, r"takes a derivative of itself with a torch\.func"),
    ],
)
def test_a_derivative_f_takes_of_itself_is_named(f, says):
    """torch.export cannot trace a derivative inside f: the message says so
    and what to give taylor-mlir instead (not torch's internals)."""
    x = torch.rand(4, 3, dtype=torch.float64)
    with pytest.raises(ExportError, match=says) as error:
        tm.laplacian(f, x)
    assert 'returns=("value", "gradient"' in str(error.value)


def test_a_vmap_alone_is_traced():
    def f(z):
        return torch.func.vmap(lambda zi: _SELF_NET(zi[None])[0])(z)

    x = torch.rand(4, 3, dtype=torch.float64)
    torch.testing.assert_close(
        tm.laplacian(f, x)(x), reference_laplacian(_SELF_NET, x), rtol=1e-12, atol=1e-12
    )

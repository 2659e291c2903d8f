"""
What the coverage of issue 11 still refuses, and how it says so.

An op without a rule (also one that torch's decomposition of a supported op
produces) is an `UnsupportedOperatorError` naming the ATen op and the user's
source line; the new reductions, scans, paddings and windows refuse to run
along the batch (`RowInteractionError`); max's integer indices are refused when
used (`DtypeError`). Also the decomposition table itself.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch.nn import functional as F

from taylor_mlir.errors import (
    DtypeError,
    RowInteractionError,
    UnsupportedOperatorError,
)
from taylor_mlir.frontend import import_torch
from taylor_mlir.frontend.aten import RULES
from taylor_mlir.frontend.export import DECOMPOSED, KEPT, decompositions

aten = torch.ops.aten


def batch(*datum: int) -> torch.Tensor:
    return torch.randn(5, *(datum or (4,)), dtype=torch.float64)


def line_of(function, text: str) -> str:
    """`file:line` of the line of `function` containing `text`."""
    lines, start = inspect.getsourcelines(function)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return f"{__file__}:{start + offset}"


def test_the_table_adds_torchs_decompositions_and_keeps_some_ops():
    table = decompositions()
    for packet in DECOMPOSED:
        assert packet.default in table, packet
    for op in KEPT:
        assert op not in table and op in RULES, op
    assert aten.logsumexp.default in table  # torch.export's default table stays


def _softmax_in_a_function(z):
    h = z * 2
    return torch.softmax(h, dim=-1)


def test_an_op_from_a_decomposition_names_the_users_line(monkeypatch):
    """softmax is decomposed into amax, exp, sum and div: without a rule for
    amax, the refusal names amax and the line calling softmax."""
    monkeypatch.delitem(RULES, aten.amax.default)
    with pytest.raises(UnsupportedOperatorError) as info:
        import_torch(_softmax_in_a_function, batch())
    assert info.value.op == "aten::amax"
    assert line_of(_softmax_in_a_function, "torch.softmax") in str(info.value)


def _median(z):
    return torch.median(z, dim=1).values


def _kthvalue(z):
    return torch.kthvalue(z, 2, dim=1).values


def _bucketize(z):
    return torch.bucketize(z, torch.tensor([0.0, 0.5], dtype=z.dtype)).to(z.dtype)


def _eigenvalues(z):
    return torch.linalg.eigvalsh(z.unsqueeze(-1) * z.unsqueeze(-2))


def _floor_division(z):
    return z // 0.3


def _arange_of_the_batch(z):
    return z * torch.arange(z.shape[0], dtype=z.dtype).unsqueeze(1)


def _integer_arange_of_the_batch(z):  # was a DtypeError about int64
    return z * torch.arange(z.shape[0]).unsqueeze(1)


def _roll_over_the_batch(z):  # decomposed with an arange of N
    return torch.roll(z, 1, 0) * z


@pytest.mark.parametrize(
    "f, op, code, detail",
    [
        (_median, "aten::median.dim", "torch.median", ""),
        (_kthvalue, "aten::kthvalue", "torch.kthvalue", ""),
        (_bucketize, "aten::bucketize.Tensor", "torch.bucketize", ""),
        (_eigenvalues, "aten::_linalg_eigh", "torch.linalg.eigvalsh", ""),
        (_floor_division, "aten::div.Tensor_mode", "z // 0.3", "torch.floor(a / b)"),
        (_arange_of_the_batch, "aten::arange.start_step", "torch.arange",
         "depends on the batch size"),
        (_integer_arange_of_the_batch, "aten::arange.start_step", "torch.arange",
         "depends on the batch size"),
        (_roll_over_the_batch, "aten::arange.start_step", "torch.roll",
         "torch.roll or indexing along the batch, which mix rows"),
    ],
    ids=["median", "kthvalue", "bucketize", "eigvalsh", "floor-division", "arange",
         "integer-arange", "roll"],
)  # fmt: skip
def test_unsupported_ops_name_the_op_and_the_line(f, op, code, detail):
    with pytest.raises(UnsupportedOperatorError) as info:
        import_torch(f, batch())
    assert info.value.op == op
    assert line_of(f, code) in str(info.value)
    assert detail in str(info.value)


@pytest.mark.parametrize(
    "f, datum, message",
    [
        (lambda z: z.amax(0), (4,), "it reduces over the batch dimension"),
        (lambda z: z.var(0, keepdim=True), (4,), "it reduces over the batch dimension"),
        (lambda z: z.cumsum(0), (4,), "it runs along the batch dimension"),
        (lambda z: z.flip(0), (4,), "it runs along the batch dimension"),
        (lambda z: F.pad(z, (0, 0, 1, 0)), (4,), "it pads the batch dimension"),
        (lambda z: F.conv1d(z.T.unsqueeze(0), torch.ones(1, 4, 1, dtype=z.dtype))
         .flatten().unsqueeze(1), (4,), "it slides a window over the batch"),
        (lambda z: F.avg_pool2d(z.T.unsqueeze(0), 1).flatten(1).T, (4,),
         "it slides a window over the batch"),
        (lambda z: torch.diagonal(z.unsqueeze(-1), 0, 0, 2), (4,),
         "it takes the diagonal of the batch dimension"),
        (lambda z: F.group_norm(z.T.unsqueeze(0), 1).squeeze(0).T, (4,),
         "it normalizes over the batch dimension"),
    ],
    ids=["amax", "var", "cumsum", "flip", "pad", "conv", "pool", "diagonal", "group-norm"],
)  # fmt: skip
def test_running_along_the_batch_mixes_rows(f, datum, message):
    with pytest.raises(RowInteractionError, match=message):
        import_torch(f, batch(*datum))


def _uses_the_indices(z):
    return z * z.max(1, keepdim=True).indices


def test_the_indices_of_max_are_refused_when_used():
    with pytest.raises(DtypeError) as info:
        import_torch(_uses_the_indices, batch())
    message = str(info.value)
    assert "aten::max.dim computes in torch.int64" in message
    assert line_of(_uses_the_indices, ".indices") in message

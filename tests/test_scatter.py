"""
Writes and reads at constant positions (issue 11, scatter family;
frontend/aten_scatter.py, frontend/scatter.py, frontend/index_rows.py):
`y[:, idx] = v` and `+=` (index_put, index_add, index_copy, bool masks, the
batch indexed by `torch.arange(N)`), scatter / scatter_add / scatter_reduce
(sum, prod, mean, amax, amin, with and without include_self) with an index of
one row expanded to the batch, slice / select assignment (slice_scatter,
select_scatter, copy), masked_scatter, gather, take_along_dim and a gather at
an argmax / argmin.

Each case is checked in float64 at 1e-10 against torch.func / nested autograd
(test_coverage_ops.py's helpers): values and Laplacian, a 4th-order jet, and
for amax/amin and argmax the first derivative and the Laplacian at ties,
where autograd's convention (ties split evenly; argmax takes the first) is
the reference.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from test_coverage_ops import (
    Case,
    _params,
    case_tests,
    check_laplacian,
    sample,
)

import taylor_mlir as tm
from taylor_mlir.errors import RowInteractionError, UnsupportedOperatorError
from taylor_mlir.frontend.aten_scatter import SCATTER_RULES

HAS_IREE = importlib.util.find_spec("iree.compiler") is not None

IDX = torch.tensor([0, 2, 5])
PERM = torch.tensor([1, 4, 3, 0, 6])
MASK = torch.tensor([True, False, True, True, False, False, True, False])


# ------------------------------------------------------------------ index_put


def _set(x):  # (N, 8)
    y = x.sin()
    y[:, torch.tensor([4, 0, 7])] = x[:, :3] ** 2
    y[:, 6] = 1.5
    return y * x


def _add(x):
    y = torch.cos(x)
    y[:, PERM] += x[:, 3:8] ** 2
    return y.sin()


def _index_add(x):  # (N, 4, 3): rows of dim 1
    r = x.sin()
    return r.index_add(1, torch.tensor([0, 2, 0]), x[:, 1:4] * x[:, :3]) ** 2


def _index_copy(x):
    base = torch.zeros(x.shape[0], 3, 3, dtype=x.dtype)
    return base.index_copy(1, torch.tensor([2, 0]), x[:, 1:3].exp()) * x[:, :3]


def _masked(x):  # (N, 8)
    y = x.tanh() + 0.0  # (tanh's autograd needs its own result unchanged)
    y[:, MASK] = x[:, :4] * x[:, 4:]
    y[:, ~MASK] = 0.5 * x[:, :4] ** 3
    return y


def _arange_batch(x):  # (N, 4, 3): r[arange(N), i, j] += v
    r = x.sin()
    i, j = torch.tensor([0, 3, 0]), torch.tensor([1, 2, 1])
    batch = torch.arange(r.shape[0])[:, None]
    return r.index_put((batch, i[None], j[None]), x[:, 0, :] ** 2, accumulate=True)


def _two_dims(x):  # (N, 4, 3): adjacent dims indexed at once
    y = x * 1.0
    y[:, torch.tensor([1, 3]), torch.tensor([0, 2])] = x[:, 0, :2].exp()
    return y**2


# ------------------------------------------------------------------ scatter

SIDX = torch.tensor([[0, 2, 0, 5]])


def _expanded(x):
    return SIDX.expand(x.shape[0], 4)


def _scatter(x, wide: bool = True):  # (N, 8)
    index = torch.tensor([[3, 0, 6, 2]]).expand(x.shape[0], 4)
    src = x[:, :5] if wide else x[:, :4]  # torch reads src where index is
    y = x.sin().scatter(1, index, src**2)
    return y.scatter(1, torch.tensor([[7, 1]]).expand(x.shape[0], 2), 0.25) * x


def _scatter_add(x):
    base = torch.zeros(x.shape[0], 6, dtype=x.dtype)
    return base.scatter_add(1, _expanded(x), x[:, :4].cos()) + x[:, 2:].sin()


def _scatter_3d(x):  # (N, 4, 3): along the last dim
    index = torch.tensor([[[2, 0], [1, 1], [0, 2], [2, 2]]]).expand(x.shape[0], 4, 2)
    return x.exp().scatter_add(2, index, x[:, :, :2] ** 2)


def _reduce(reduce: str, include_self: bool):
    def f(x):  # (N, 8)
        index = _expanded(x)
        y = (x[:, 2:] * 1.5).scatter_reduce(
            1, index, x[:, :4] * 1.0, reduce, include_self=include_self
        )
        return y**2 + y.sin()

    return f


def _prod_reference(include_self: bool):
    """scatter_reduce prod written out (torch.func cannot differentiate its
    backward): index [0, 2, 0, 5] into 1.5 x[:, 2:]."""

    def f(x):
        own = x[:, 2:] * 1.5
        v = x[:, :4] * 1.0
        written = {0: v[:, 0] * v[:, 2], 2: v[:, 1], 5: v[:, 3]}
        columns = [
            (own[:, p] * written[p] if include_self else written[p])
            if p in written
            else own[:, p]
            for p in range(6)
        ]
        y = torch.stack(columns, 1)
        return y**2 + y.sin()

    return f


def _extreme_ties(include_self: bool):
    """With self: position 0 gets self's 1.5 x2 and values x0, x2, all 0 (a
    tie of 3); position 2 self's 1.5 x4 and x1, equal. Without: values x0 =
    x2 at 0, self's elements differing from the results (torch's autograd
    counts an equal self's element in a tie although it is not a candidate,
    a derivative of no function; its forward AD does not)."""

    def put(x):
        x = x.clone()
        x[:, 2] = 0.0 if include_self else x[:, 2] + 0.5
        x[:, 0] = x[:, 2]
        if include_self:
            x[:, 1] = x[:, 4] * 1.5
        return x

    return put


# ------------------------------------------------------------------ slices


def _slice_scatter(x):  # (N, 8)
    base = torch.zeros(x.shape[0], 10, dtype=x.dtype)
    y = base.slice_scatter(x[:, :4] ** 2, 1, 1, 9, 2)
    return x.sin().slice_scatter(x[:, 5:] * 2, 1, 2, 5) * y[:, :8]


def _select_scatter(x):  # (N, 4, 3)
    return torch.select_scatter(x.sin(), x[:, 0, :] ** 2, 1, 2) * x


def _in_place(x):  # (N, 4, 3): y[:, 1, 1:] = c, y[:, 3] = v
    y = x * 1.0
    y[:, 1, 1:] = torch.tensor([0.5, -1.0], dtype=x.dtype)
    y[:, 3] = x[:, 0] * x[:, 2]
    y[:, :2, 0] = x[:, 2:, 1].exp()
    return y * x


def _masked_scatter(x):  # (N, 8)
    return x.sin().masked_scatter(MASK, x[:, :4] ** 2) * x


def _masked_scatter_reference(x):  # torch's forward AD of masked_scatter fails
    y = x.sin()
    y[:, MASK.nonzero().flatten()] = x[:, :4] ** 2
    return y * x


# ------------------------------------------------------------------ reads


def _gather(x):  # (N, 6)
    return torch.gather(x.sin(), 1, _expanded(x)) ** 2


def _take_along_dim(x):
    return torch.take_along_dim(x**2, SIDX, 1) * x[:, :4]


def _at_argmax(x):  # (N, 6)
    first = torch.gather(x**2, 1, torch.argmax(x, 1, keepdim=True))
    second = torch.gather(x.sin(), -1, torch.argmin(x, -1, keepdim=True))
    return first * second


def _argmax_ties(x):
    x = x.clone()
    x[:, 1] = x[:, 4] = x.max(1).values + 1
    x[:, 0] = x[:, 3] = x.min(1).values - 1
    return x


def _away(x):  # distinct candidates (random inputs are)
    return x


CASES = [
    Case("index-put-set", _set, {"aten.index_put.default"}, shape=(8,)),
    Case("index-put-add", _add, {"aten.index_put.default"}, shape=(8,)),
    Case("index-add", _index_add, {"aten.index_put.default"}, shape=(4, 3)),
    Case("index-copy", _index_copy, {"aten.index_put.default"}, shape=(4, 3)),
    Case("bool-mask", _masked, {"aten.index_put.default"}, shape=(8,)),
    Case("arange-batch", _arange_batch, {"aten.index_put.default"}, shape=(4, 3)),
    Case("two-dims", _two_dims, {"aten.index_put.default"}, shape=(4, 3)),
    Case(
        "scatter",
        _scatter,
        {"aten.scatter.src", "aten.scatter.value"},
        shape=(8,),
        reference=lambda x: _scatter(x, wide=False),  # torch's forward AD of
    ),  # a wider src fails
    Case("scatter-add", _scatter_add, {"aten.scatter_add.default"}, shape=(8,)),
    Case("scatter-3d", _scatter_3d, {"aten.scatter_add.default"}, shape=(4, 3)),
    *(
        Case(
            f"scatter-reduce-{reduce}-{'self' if include_self else 'no-self'}",
            _reduce(reduce, include_self),
            {"aten.scatter_reduce.two"},
            shape=(8,),
            kinks=_away if reduce in ("amax", "amin") else None,
            at_kinks=_extreme_ties(include_self)
            if reduce in ("amax", "amin")
            else None,
            reference=_prod_reference(include_self) if reduce == "prod" else None,
        )
        for reduce in ("sum", "prod", "mean", "amax", "amin")
        for include_self in (True, False)
    ),
    Case("slice-scatter", _slice_scatter, {"aten.slice_scatter.default"}, shape=(8,)),
    Case("select-scatter", _select_scatter, {"aten.where.self"}, shape=(4, 3)),
    Case("in-place", _in_place, {"aten.copy.default"}, shape=(4, 3)),
    Case(
        "masked-scatter",
        _masked_scatter,
        {"aten.masked_scatter.default"},
        shape=(8,),
        reference=_masked_scatter_reference,
    ),
    Case("gather", _gather, {"aten.gather.default"}, shape=(6,)),
    Case("take-along-dim", _take_along_dim, {"aten.gather.default"}, shape=(6,)),
    Case(
        "gather-at-argmax",
        _at_argmax,
        {"taylor_mlir.gather_at_extremum.default"},
        shape=(6,),
        kinks=_away,
        at_kinks=_argmax_ties,
    ),
]
(
    test_the_graph_exercises_the_ops,
    test_laplacian,
    test_jet_of_order_4,
    test_at_kinks_autograds_convention,
) = case_tests(CASES)


@pytest.mark.parametrize("case", _params(CASES))
def test_values(case: Case):
    x = sample(case)
    torch.testing.assert_close(
        tm.compile_function(case.f, x)(x), case.f(x), rtol=1e-12, atol=1e-12
    )


def test_every_rule_has_a_case():
    tested = set().union(*(c.aten for c in CASES))
    assert {str(t) for t in SCATTER_RULES} <= tested


# ------------------------------------------------------------------ refusals


def test_an_index_of_the_batch_is_refused():
    x = torch.randn(4, 3, dtype=torch.float64)

    def f(x):
        y = x * 1.0
        y[torch.tensor([0, 1])] = 0.0
        return y

    with pytest.raises(RowInteractionError, match="rows of the batch chosen"):
        tm.laplacian(f, x)


def test_repeated_positions_of_an_assignment_are_refused():
    """torch leaves the winner undefined and its autograd differentiates both
    writes (a derivative of no function)."""
    x = torch.randn(4, 6, dtype=torch.float64)

    def f(x):
        y = x * 1.0
        y[:, torch.tensor([1, 1])] = x[:, :2] ** 2
        return y

    with pytest.raises(UnsupportedOperatorError, match="aten::index_put.*twice"):
        tm.laplacian(f, x)


def test_a_gather_of_one_row_is_refused():
    """A (1, k) index without expand reads row 0 only: that mixes rows."""
    x = torch.randn(4, 6, dtype=torch.float64)
    with pytest.raises(RowInteractionError, match="some rows"):
        tm.laplacian(lambda x: torch.gather(x, 1, SIDX), x)


def test_masked_scatter_of_another_row_count_is_refused():
    x = torch.randn(4, 8, dtype=torch.float64)
    with pytest.raises(UnsupportedOperatorError, match="selects 4 elements"):
        tm.laplacian(lambda x: x.masked_scatter(MASK, x[:, :5] * 2), x)


@pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")
@pytest.mark.parametrize("name", ["scatter-reduce-amax-self", "index-put-add"])
def test_laplacian_on_iree(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    (case,) = [c for c in CASES if c.id == name]
    check_laplacian(case, sample(case), backend="iree-cpu")


def test_separated_indexed_dims_are_refused():
    """torch moves the indexed dims of y[:, i, :, j] first, before the batch."""
    x = torch.randn(4, 2, 3, 2, dtype=torch.float64)

    def f(x):
        y = x * 1.0
        y[:, torch.tensor([0, 1]), :, torch.tensor([1, 0])] = 0.5
        return y

    with pytest.raises(UnsupportedOperatorError, match="not next to each other"):
        tm.laplacian(f, x)

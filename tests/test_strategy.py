"""Operators' programs chosen by cost (taylor_mlir/strategy.py): the
biharmonic's values and parameter gradients of every strategy against
torch.func, the choice (cheapest measured FLOPs per datum), its override,
`.stats()` showing it, bad `strategy=` values, the (weighted) Laplacian's
exact program taken for an estimator that costs more, and the peak bytes the
cost model reads."""

import importlib.util
import re

import pytest
import reference as ref
import torch
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

import taylor_mlir as tm
from taylor_mlir.context import make_context
from taylor_mlir.errors import OptionError
from taylor_mlir.frontend import import_torch
from taylor_mlir.models import mlp, paper_mlp
from taylor_mlir.stats import peak_bytes_per_datum
from taylor_mlir.strategy import Cost, biharmonic_bounds, interior_matmul_flops

TOL = 1e-10
HAS_IREE = importlib.util.find_spec("iree.compiler") is not None


def close(actual, expected):
    scale = max(1.0, float(expected.detach().abs().max()))
    assert float((actual - expected).detach().abs().max()) <= TOL * scale


def net(D: int):
    return mlp([D, 6, 5, 1], "tanh", torch.float64, seed=D)


def weights(f):
    return [f[0].weight, f[2].bias]


@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "standard"])
@pytest.mark.parametrize("strategy", ["nested", "interpolated", "auto"])
def test_values_and_gradients_match_torch_func(strategy, collapsed):
    f, x = net(3), torch.randn(4, 3, dtype=torch.float64)
    op = tm.biharmonic(f, x, strategy=strategy, collapsed=collapsed)
    ours, expected = op(x), ref.biharmonic(f, x)
    close(ours, expected)
    g_ours = torch.autograd.grad(ours.square().sum(), weights(f))
    g_ref = torch.autograd.grad(expected.square().sum(), weights(f))
    for a, b in zip(g_ours, g_ref, strict=True):
        close(a, b)


@pytest.mark.parametrize(
    ("D", "chosen"), [(1, "interpolated"), (3, "nested"), (4, "nested")]
)
def test_auto_keeps_the_fewest_flops(D, chosen):
    """Vectors per layer (collapsed) derived by hand: nested (D + 2)^2, the
    interpolated 4-jets 3R + 2 with R = (3D^2 - D)/2 directions. At D = 1 the
    interpolation needs one direction (5 vectors against 9); from D = 3 on
    nesting pushes fewer vectors and costs fewer FLOPs."""
    f, x = net(D), torch.randn(3, D, dtype=torch.float64)
    op = tm.biharmonic(f, x)
    choice = op.strategy
    assert choice.requested == "auto" and choice.chosen == chosen
    costs = named_costs(f, x, ["nested", "interpolated"])
    assert costs["nested"].vectors_per_node == (D + 2) ** 2
    assert costs["interpolated"].vectors_per_node == 3 * (3 * D * D - D) // 2 + 2
    cheapest = min(costs, key=lambda n: costs[n].flops_per_datum)
    assert cheapest == chosen
    assert set(choice.costs) | set(choice.skipped) == set(costs)
    assert all(costs[name] == cost for name, cost in choice.costs.items())
    assert Cost.of(op.stats()) == choice.costs[chosen]  # the program kept is it
    close(op(x), ref.biharmonic(f, x))


def named_costs(f, x, strategies, **options):
    """The full comparison: every strategy compiled by name and measured."""
    return {
        s: Cost.of(tm.biharmonic(f, x, strategy=s, **options).stats())
        for s in strategies
    }


class Mixed(torch.nn.Module):
    """tanh, a sin residual block, softplus (exp, log1p, where) and a sum of
    squares: layers the cost bound counts (between two curving ops) and ones
    it does not."""

    def __init__(self, D: int):
        super().__init__()
        self.a, self.b = torch.nn.Linear(D, 12), torch.nn.Linear(12, 12)
        self.c, self.d = torch.nn.Linear(12, 6), torch.nn.Linear(6, 1)
        self.double()

    def forward(self, x):
        h = torch.tanh(self.a(x))
        h = h + torch.sin(self.b(h))
        out = self.d(torch.nn.functional.softplus(self.c(h)))
        return out + (h[:, :3] ** 2).sum(dim=1, keepdim=True)


MODELS = {
    "paper_mlp": (paper_mlp, 64),
    "mixed": (lambda D: Mixed(D), 8),
}


@pytest.mark.parametrize("D", [1, 2, 3, 6])  # both sides of the crossover (D = 1 | 2)
@pytest.mark.parametrize("model", list(MODELS))
def test_auto_chooses_as_the_full_comparison(model, D):
    """ "auto" skips a candidate when a lower bound of its FLOPs exceeds a
    measured one's; the bound must stay below the real cost of every candidate,
    and the choice must be the one of compiling and measuring all of them (the
    crossover of the paper MLP is at D = 1..2, where the bound is tightest)."""
    build, batch = MODELS[model]
    torch.manual_seed(D)
    f, x = build(D), torch.rand(batch, D, dtype=torch.float64)
    choice = tm.biharmonic(f, x).strategy
    costs = dict(choice.costs)
    costs |= named_costs(
        f, x, [s for s in ("nested", "interpolated") if s not in costs]
    )
    assert choice.chosen == min(costs, key=lambda n: costs[n].key())  # ties: first
    imported = import_torch(f, x)
    bounds = biharmonic_bounds(imported.module, "forward", 0, D, True, None)
    for name, bound in bounds.items():
        assert 0 < bound <= costs[name].flops_per_datum, name
    assert choice.skipped == {
        name: bound for name, bound in bounds.items() if name not in choice.costs
    }
    if model == "paper_mlp":  # its bound is tight enough to compile one program
        assert len(choice.costs) == 1


@pytest.mark.parametrize("D", [1, 2, 3])
def test_bounds_hold_without_collapse_and_for_stde(D):
    """Standard Taylor mode pushes (2D + 1)^2 and 4R + 1 vectors per interior
    layer, STDE with S samples 3S + 2 collapsed."""
    f, x = paper_mlp(D), torch.rand(4, D, dtype=torch.float64)
    imported = import_torch(f, x)
    standard = biharmonic_bounds(imported.module, "forward", 0, D, False, None)
    costs = named_costs(f, x, ["nested", "interpolated"], collapsed=False)
    for name, bound in standard.items():
        assert bound <= costs[name].flops_per_datum, name
    random = ("normal", 3)
    stde = biharmonic_bounds(imported.module, "forward", 0, D, True, random)
    op = tm.biharmonic(f, x, strategy="randomized", randomization=random, seed=0)
    assert stde["randomized"] <= Cost.of(op.stats()).flops_per_datum


def test_interior_layers_are_the_curved_ones():
    """In the paper MLP every layer but the first (affine in x) and the last
    (after the last tanh) is interior: 2 M K N FLOPs per datum each."""
    f, x = paper_mlp(3), torch.rand(2, 3, dtype=torch.float64)
    imported = import_torch(f, x)
    flops = interior_matmul_flops(imported.module, "forward", 0)
    assert flops == 2 * (768 * 768 + 768 * 512 + 512 * 512)


def test_a_skipped_candidate_is_reported_and_not_built():
    """D = 5: nesting pushes 49 vectors per layer, the interpolation 107; its
    bound exceeds the nested program's measured FLOPs, so it is not compiled.
    D = 1: the other way round (9 against 5)."""
    f, x = (
        mlp([5, 64, 64, 1], "tanh", torch.float64, seed=0),
        torch.rand(4, 5, dtype=torch.float64),
    )
    op = tm.biharmonic(f, x)
    choice = op.strategy
    assert choice.chosen == "nested" and list(choice.costs) == ["nested"]
    assert list(choice.skipped) == ["interpolated"]
    best = choice.costs["nested"].flops_per_datum
    assert choice.skipped["interpolated"] > best
    text = str(op.stats())
    assert (
        f"interpolated: skipped, at least {choice.skipped['interpolated']:,} "
        f"FLOPs/datum (more than nested's {best:,})"
    ) in text
    close(op(x), ref.biharmonic(f, x))
    f1, x1 = (
        mlp([1, 64, 64, 1], "tanh", torch.float64, seed=0),
        torch.rand(4, 1, dtype=torch.float64),
    )
    op1 = tm.biharmonic(f1, x1)
    assert op1.strategy.chosen == "interpolated" and list(op1.strategy.skipped) == [
        "nested"
    ]
    assert not isinstance(op1.f, tm.CompiledOperator)  # no inner Laplacian built
    close(op1(x1), ref.biharmonic(f1, x1))


@pytest.mark.parametrize("strategy", ["nested", "interpolated"])
def test_override_compiles_the_named_program_only(strategy):
    f, x = net(3), torch.randn(2, 3, dtype=torch.float64)
    op = tm.biharmonic(f, x, strategy=strategy)
    assert op.strategy.requested == op.strategy.chosen == strategy
    assert list(op.strategy.costs) == [strategy] and not op.strategy.skipped
    # the nested program is a Laplacian of the compiled Laplacian
    assert op.spec.name == ("laplacian" if strategy == "nested" else "biharmonic")
    assert isinstance(op.f, tm.CompiledOperator) == (strategy == "nested")


def test_stats_show_the_choice():
    f, x = net(3), torch.randn(2, 3, dtype=torch.float64)
    op = tm.biharmonic(f, x)
    stats = op.stats()
    assert stats.strategy is op.strategy
    assert (
        stats.peak_bytes_per_datum == op.strategy.costs["nested"].peak_bytes_per_datum
    )
    text = str(stats)
    assert "strategy: nested (chosen by cost)" in text
    assert "interpolated: " in text and "FLOPs/datum" in text
    assert "randomized: not valid here (it needs randomization=('normal', S))" in text
    requested = str(tm.biharmonic(f, x, strategy="interpolated").stats())
    assert "strategy: interpolated (requested)" in requested


def test_randomized_is_kept_while_cheaper_than_exact():
    """STDE with S Gaussian 4-jets pushes 3S + 2 vectors: with S = 2 (8) it
    beats the exact programs at D = 3 (nested: 25), with S = 40 (122) it does
    not, and "auto" takes the exact program (no variance)."""
    f, x = net(3), torch.randn(2, 3, dtype=torch.float64)
    cheap = tm.biharmonic(f, x, randomization=("normal", 2), seed=0)
    assert cheap.strategy.chosen == "randomized" and cheap.spec.is_random
    candidates = set(cheap.strategy.costs) | set(cheap.strategy.skipped)
    assert candidates == {"nested", "interpolated", "randomized"}
    costly = tm.biharmonic(f, x, randomization=("normal", 40), seed=0)
    assert costly.strategy.chosen == "nested"
    close(costly(x), ref.biharmonic(f, x))
    kept = tm.biharmonic(f, x, randomization=("normal", 40), strategy="randomized")
    assert kept.spec.is_random and kept.strategy.chosen == "randomized"


def test_returns_value_excludes_the_nested_program():
    f, x = net(3), torch.randn(2, 3, dtype=torch.float64)
    op = tm.biharmonic(f, x, returns=("value", "operator"))
    assert op.strategy.chosen == "interpolated"
    assert "nested" in op.strategy.excluded
    value, operator = op(x)
    close(value, f(x))
    close(operator, ref.biharmonic(f, x))


def test_several_inputs_nested():
    """f(t, x) differentiated in x (wrt=1); t passes through."""
    lin = mlp([3, 6, 1], "tanh", torch.float64, seed=1)

    def f(t, x):
        return lin(x) * torch.sin(t)

    def per_datum(t_i, x_i):  # torch.func: nested Hessian traces in x
        def laplacian(z):
            value = lambda y: f(t_i[None], y[None])[0, 0]  # noqa: E731
            return torch.func.hessian(value)(z).trace()

        return torch.func.hessian(laplacian)(x_i).trace()

    t, x = torch.rand(3, 1, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    op = tm.biharmonic(f, (t, x), wrt=1, strategy="nested")
    close(op(t, x), torch.func.vmap(per_datum)(t, x)[:, None])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": "fastest"}, "strategy='fastest' is not a strategy: choose one of auto, nested, interpolated, randomized"),
        ({"strategy": 3}, "strategy=3 is not a strategy"),
        ({"strategy": None}, "strategy=None is not a strategy"),
        ({"strategy": "randomized"}, "strategy='randomized' is not available here: it needs randomization=('normal', S)"),
        ({"strategy": "nested", "returns": "value"}, "returns='value': the Laplacian of the compiled Laplacian returns the operator only; strategy='interpolated'"),
        ({"seed": 1}, "seed= and generator= are for randomized operators"),
        ({"randomization": ("rademacher", 4)}, "biased"),
    ],
)  # fmt: skip
def test_bad_strategy_options_are_option_errors(options, message):
    f, x = net(2), torch.randn(2, 2, dtype=torch.float64)
    with pytest.raises(OptionError, match=re.escape(message)):
        tm.biharmonic(f, x, **options)


# ------------------------------------------- exact or randomized Laplacian


@pytest.mark.parametrize(("samples", "chosen"), [(2, "randomized"), (3, "exact"), (8, "exact")])  # fmt: skip
def test_laplacian_estimator_gives_way_to_the_cheaper_exact_program(samples, chosen):
    """Hutchinson with S samples pushes S + 2 vectors per interior layer, the
    exact Laplacian D + 2: from S = D on "auto" compiles the exact program
    (no variance, and its first layer is W's columns, not a GEMM)."""
    f, x = net(3), torch.randn(4, 3, dtype=torch.float64)
    op = tm.laplacian(f, x, randomization=("rademacher", samples), seed=0)
    assert op.strategy.chosen == chosen
    assert op.spec.is_random == (chosen == "randomized")
    if chosen == "exact":
        close(op(x), ref.laplacian(f, x))
        g_ours = torch.autograd.grad(op(x).square().sum(), weights(f))
        g_ref = torch.autograd.grad(ref.laplacian(f, x).square().sum(), weights(f))
        for a, b in zip(g_ours, g_ref, strict=True):
            close(a, b)
    text = str(op.stats())
    assert f"strategy: {chosen} (chosen by cost)" in text
    other = {"exact": "randomized", "randomized": "exact"}[chosen]
    assert other in op.strategy.costs or other in op.strategy.skipped


def test_weighted_laplacian_exact_program_costs_the_rank():
    """C of rank 2 at D = 4: the exact program's directions are C's 2 factor
    columns, so it beats an estimator of 3 samples; `strategy="randomized"`
    keeps the estimator (unbiased: its mean over many draws is tr(C H))."""
    f, x = net(4), torch.randn(3, 4, dtype=torch.float64)
    factor = torch.randn(4, 2, dtype=torch.float64)
    C = factor @ factor.T
    exact = tm.weighted_laplacian(f, x, C, randomization=("normal", 3), seed=1)
    assert exact.strategy.chosen == "exact"
    close(exact(x), ref.weighted_laplacian(f, x, C))
    kept = tm.weighted_laplacian(
        f, x, C, randomization=("normal", 3), seed=1, strategy="randomized"
    )
    assert kept.spec.is_random and kept.strategy.chosen == "randomized"
    assert "strategy: randomized (requested)" in str(kept.stats())
    draws = torch.stack([kept(x) for _ in range(4000)])
    error = (draws.mean(0) - ref.weighted_laplacian(f, x, C)).abs().max()
    assert error < 5 * draws.std(0).max() / 4000**0.5


def test_runtime_coefficients_choose_too():
    """Coefficients read at every call (they require grad) take 2D
    polarization directions exactly, 2S randomized: S = 8 at D = 3 costs more,
    and the exact program still gives C its gradient."""
    f, x = net(3), torch.randn(3, 3, dtype=torch.float64)
    C = torch.randn(3, 3, dtype=torch.float64)
    C = (C @ C.T).requires_grad_(True)
    op = tm.weighted_laplacian(f, x, C, randomization=("rademacher", 8), seed=0)
    assert op.strategy.chosen == "exact"
    ours, expected = op(x), ref.weighted_laplacian(f, x, C)
    close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours.sum(), [C])
    (g_ref,) = torch.autograd.grad(expected.sum(), [C])
    close(g_ours, g_ref)


def test_exact_laplacian_has_no_strategy_to_choose():
    f, x = net(3), torch.randn(2, 3, dtype=torch.float64)
    assert tm.laplacian(f, x).strategy is None
    assert "strategy" not in str(tm.laplacian(f, x, strategy="exact").stats())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": "nested"}, "strategy='nested' is not a strategy: choose one of auto, exact, randomized"),
        ({"strategy": "randomized"}, "strategy='randomized' is not available here: it needs randomization=('rademacher' | 'normal', S)"),
        ({"strategy": "randomized", "randomization": ("normal", 2), "returns": ("gradient", "operator")}, "returns='gradient' needs jets along the unit vectors"),
        ({"seed": 1}, "seed= and generator= are for randomized operators"),
    ],
)  # fmt: skip
def test_bad_laplacian_strategy_options_are_option_errors(options, message):
    f, x = net(2), torch.randn(2, 2, dtype=torch.float64)
    with pytest.raises(OptionError, match=re.escape(message)):
        tm.laplacian(f, x, **options)


def test_gradient_with_randomization_takes_the_exact_program():
    """The gradient needs the unit directions: under "auto" the estimator is
    not a candidate, and the exact program returns both."""
    f, x = net(3), torch.randn(2, 3, dtype=torch.float64)
    op = tm.laplacian(
        f, x, randomization=("normal", 2), seed=0, returns=("gradient", "operator")
    )
    assert op.strategy.chosen == "exact" and "randomized" in op.strategy.excluded
    gradient, laplacian = op(x)
    close(laplacian, ref.laplacian(f, x))
    expected = torch.func.vmap(torch.func.grad(lambda z: f(z).sum()))(x)
    close(gradient, expected[:, None])  # (N, out, D)


@pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")
def test_nested_program_on_iree(tmp_path, monkeypatch):
    """The outer program runs on IREE; the inner one was traced into it."""
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    f, x = net(3), torch.randn(3, 3, dtype=torch.float64)
    op = tm.biharmonic(f, x, backend="iree-cpu", strategy="nested")
    ours, expected = op(x), ref.biharmonic(f, x)
    close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours.sum(), [f[0].weight])
    (g_ref,) = torch.autograd.grad(expected.sum(), [f[0].weight])
    close(g_ours, g_ref)


# ------------------------------------------------------------- peak bytes

PROGRAM = """
func.func @operator(%x: tensor<?x4xf64>, %w: tensor<4x4xf64>) -> tensor<?x4xf64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf64>
  %e = tensor.empty(%n) : tensor<?x4xf64>
  %zero = arith.constant 0.0 : f64
  %z = linalg.fill ins(%zero : f64) outs(%e : tensor<?x4xf64>) -> tensor<?x4xf64>
  %a = linalg.matmul ins(%x, %w : tensor<?x4xf64>, tensor<4x4xf64>) outs(%z : tensor<?x4xf64>) -> tensor<?x4xf64>
  %b = math.tanh %a : tensor<?x4xf64>
  %e2 = tensor.empty(%n) : tensor<2x?x4xf64>
  %bb = linalg.broadcast ins(%b : tensor<?x4xf64>) outs(%e2 : tensor<2x?x4xf64>) dimensions = [0]
  %c = arith.mulf %bb, %bb : tensor<2x?x4xf64>
  %d = tensor.collapse_shape %c [[0, 1], [2]] : tensor<2x?x4xf64> into tensor<?x4xf64>
  %m = tensor.dim %d, %c0 : tensor<?x4xf64>
  %e3 = tensor.empty(%m) : tensor<?x4xf64>
  %z3 = linalg.fill ins(%zero : f64) outs(%e3 : tensor<?x4xf64>) -> tensor<?x4xf64>
  %g = linalg.matmul ins(%d, %w : tensor<?x4xf64>, tensor<4x4xf64>) outs(%z3 : tensor<?x4xf64>) -> tensor<?x4xf64>
  %h = arith.addf %g, %g : tensor<?x4xf64>
  func.return %h : tensor<?x4xf64>
}
"""


def test_peak_bytes_by_hand():
    """Per datum, 8 bytes an entry: a (4) dies at b; b (4) lives on through
    its broadcast bb (a view) to c (8); c and its view d to g (8 rows: the
    collapse merges 2 rows per datum); g to h. Live sets: a 32, a+b 64, b+c
    96, c+g 128, g+h 128: the peak is c + g = 64 + 64."""
    module = Parser(make_context(), f"builtin.module {{{PROGRAM}}}").parse_module()
    assert isinstance(module, ModuleOp)
    assert peak_bytes_per_datum(module, "operator") == 128

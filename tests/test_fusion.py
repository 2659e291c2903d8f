"""
The passes between the collapse and the lowering: `fold-seed-broadcasts` (seed
directions shared by all data stay unbroadcast through the first layer) and
`tile-directions` (the per-direction chain runs over blocks of directions), and
the torch backend's layout of transposes they rely on.

Numbers are checked against torch.func (tests/reference.py) in float64; tiled
programs are also checked against the untiled pipeline (1e-12) where the
operator is random (the same directions either way).
"""

from __future__ import annotations

import weakref

import pytest
import reference as ref
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from xdsl.dialects.builtin import DYNAMIC_INDEX
from xdsl.dialects.linalg import ops as linalg
from xdsl.parser import Parser

import taylor_mlir as tm
from taylor_mlir import models, pipeline
from taylor_mlir.backends.fused_ops import product_matmul, scale_sum_and_matmul
from taylor_mlir.backends.torch_backend import TorchExecutable
from taylor_mlir.context import make_context
from taylor_mlir.stats import peak_bytes_per_datum
from taylor_mlir.transforms import tile_directions
from taylor_mlir.transforms.tile_directions import block_sizes, direction_block

DEFAULT_LINALG = pipeline.STAGES["linalg"]
UNFUSED = ("convert-taylor-to-tensor", "tensor-cleanup")  # the pipeline before


def _with_block(block: int) -> tuple[str, ...]:
    return tuple(
        f"tile-directions{{block={block}}}" if p == "tile-directions" else p
        for p in DEFAULT_LINALG
    )


@pytest.fixture
def linalg_stage(monkeypatch):
    """Sets the passes of the `linalg` stage for the operators built next."""

    def use(passes: tuple[str, ...]) -> None:
        monkeypatch.setitem(pipeline.STAGES, "linalg", passes)

    return use


def _relative_error(out: torch.Tensor, expected: torch.Tensor) -> float:
    out = out.reshape(expected.shape)
    return ((out - expected).abs().max() / expected.abs().max()).item()


def _slices(op) -> int:
    return op.mlir("linalg").count("tensor.extract_slice")


x = torch.rand(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
C = torch.tensor(
    [[2.0, 0.5, 0.0], [0.5, 1.0, 0.1], [0.0, 0.1, 3.0]], dtype=torch.float64
)
OPERATORS = {
    "laplacian": (lambda f, **o: tm.laplacian(f, x, **o), ref.laplacian),
    "biharmonic": (
        lambda f, **o: tm.biharmonic(f, x, strategy="interpolated", **o),
        ref.biharmonic,
    ),
    "weighted": (
        lambda f, **o: tm.weighted_laplacian(f, x, coefficients=C, **o),
        lambda f, x: ref.weighted_laplacian(f, x, C),
    ),
}


# ----------------------------------------------------------------- numbers


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "sin"])
@pytest.mark.parametrize("operator", list(OPERATORS))
@pytest.mark.parametrize("collapsed", [True, False])
@pytest.mark.parametrize("block", [1, 2])
def test_tiled_operators_match_torch_func(
    linalg_stage, activation, operator, collapsed, block
):
    f = models.mlp([3, 6, 5, 1], activation, seed=3)
    build, reference = OPERATORS[operator]
    linalg_stage(_with_block(block))
    op = build(f, collapsed=collapsed)
    assert _slices(op) > 0  # tiled: R = 3 (Laplacian) or more, in blocks
    assert _relative_error(op(x), reference(f, x)) < 1e-10


@pytest.mark.parametrize(
    "build",
    [
        lambda f: tm.laplacian(
            f, x, randomization=("rademacher", 5), seed=4, strategy="randomized"
        ),
        lambda f: tm.laplacian(
            f,
            x,
            randomization=("normal", 5),
            seed=4,
            collapsed=False,
            strategy="randomized",
        ),
        lambda f: tm.weighted_laplacian(f, x, coefficients=C.requires_grad_(True)),
    ],
    ids=["rademacher", "normal-standard", "runtime-coefficients"],
)
def test_tiled_operators_within_1e_12_of_the_unfused_pipeline(linalg_stage, build):
    """Random directions drawn per call (from the seed) and coefficients given
    per call reach the blocks as sliced arguments."""
    f = models.mlp([3, 6, 5, 1], "tanh", seed=3)
    linalg_stage(UNFUSED)
    expected = build(f)(x)
    linalg_stage(_with_block(2))
    op = build(f)
    assert _slices(op) > 0
    assert _relative_error(op(x), expected) < 1e-12


def test_gradients_flow_through_the_blocks(linalg_stage):
    """The tiled program is differentiated by autograd like any other."""
    f = models.mlp([3, 6, 1], "tanh", seed=5)
    linalg_stage(_with_block(1))
    tiled = tm.laplacian(f, x)
    (grad,) = torch.autograd.grad(tiled(x).sum(), [f[0].weight])
    linalg_stage(UNFUSED)
    (expected,) = torch.autograd.grad(tm.laplacian(f, x)(x).sum(), [f[0].weight])
    assert _relative_error(grad, expected) < 1e-12


def test_tiled_program_on_iree_cpu(linalg_stage):
    f = models.mlp([3, 6, 5, 1], "tanh", seed=3)
    linalg_stage(_with_block(2))
    op = tm.laplacian(f, x, backend="iree-cpu")
    assert _slices(op) > 0
    assert _relative_error(op(x), ref.laplacian(f, x)) < 1e-10


# ---------------------------------------------------------- what changes


def _first_layer_matmuls(op, width: int) -> list[linalg.MatmulOp]:
    """The matmuls of the linalg level that multiply by a (width x .) matrix."""
    return [
        m
        for m in op.levels["linalg"].walk()
        if isinstance(m, linalg.MatmulOp) and m.inputs[1].type.get_shape()[0] == width
    ]


def test_identity_seeds_need_no_first_layer_product():
    """The Laplacian's identity seeds pick W1's columns: the only product with
    W1 is the primal's, one row per datum (none on R x N rows)."""
    f = models.mlp([4, 6, 5, 1], "tanh")
    x4 = torch.rand(7, 4, dtype=torch.float64)
    (primal,) = _first_layer_matmuls(tm.laplacian(f, x4), 4)
    assert primal.inputs[0].type.get_shape()[0] == DYNAMIC_INDEX  # the batch rows


def test_shared_seeds_are_multiplied_once_not_per_datum():
    """Non-identity seeds shared by all data (the biharmonic's interpolation
    directions) are multiplied by W1 once: an (R x D) by (D x H) product."""
    f = models.mlp([3, 6, 5, 1], "tanh")
    op = tm.biharmonic(f, x, strategy="interpolated")
    rows = [m.inputs[0].type.get_shape()[0] for m in _first_layer_matmuls(op, 3)]
    assert sorted(rows) == [DYNAMIC_INDEX, 12]  # the primal, the 12 directions


def test_tiling_lowers_the_peak_of_the_program(linalg_stage):
    f = models.mlp([10, 32, 32, 1], "tanh")
    x10 = torch.rand(16, 10, dtype=torch.float64)
    linalg_stage(UNFUSED)
    untiled = tm.laplacian(f, x10)
    linalg_stage(_with_block(2))
    tiled = tm.laplacian(f, x10)
    before = peak_bytes_per_datum(untiled.levels["linalg"], "operator")
    after = peak_bytes_per_datum(tiled.levels["linalg"], "operator")
    assert after < before / 3  # 10 directions at once -> blocks of 2


class _LiveBytes(TorchDispatchMode):
    """Peak bytes of the tensors the ATen ops under it produce and that are
    still referenced (storages shared by views count once)."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage pointer -> [bytes, refs]
        self.bytes = self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.bytes -= entry[0]
            del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else [out]:
            if not isinstance(t, torch.Tensor):
                continue
            key = t.untyped_storage().data_ptr()
            if key not in self.live:
                self.live[key] = [t.untyped_storage().nbytes(), 0]
                self.bytes += self.live[key][0]
                self.peak = max(self.peak, self.bytes)
            self.live[key][1] += 1
            weakref.finalize(t, self._release, key)
        return out


def _peak_live_bytes(op, x: torch.Tensor) -> int:
    with torch.no_grad(), _LiveBytes() as meter:
        op(x)
    return meter.peak


def test_torch_backend_frees_each_block_before_the_next(linalg_stage):
    """Measured on the FX program as it runs: the per-direction tensors of a
    block die at their last use, so the peak is a fraction of the untiled one."""
    f = models.mlp([20, 64, 64, 64, 1], "tanh")
    x20 = torch.rand(64, 20, dtype=torch.float64)
    linalg_stage(UNFUSED)
    untiled = _peak_live_bytes(tm.laplacian(f, x20), x20)
    linalg_stage(_with_block(2))
    tiled = _peak_live_bytes(tm.laplacian(f, x20), x20)
    per_direction = 64 * 64 * 8  # one direction of one hidden layer
    assert untiled > 20 * 2 * per_direction  # all directions, two tensors of them
    assert tiled < untiled / 3  # the primal values (s', s'' per layer) stay


def test_default_pipeline_tiles_large_batches(monkeypatch):
    """At the example batch size the API passes, the cost model tiles when the
    per-direction tensors do not fit the cache, and leaves small batches as
    they are."""
    monkeypatch.setattr(tile_directions, "cache_bytes", lambda: 2 << 20)
    f = models.mlp([20, 128, 128, 1], "tanh")
    large = tm.laplacian(f, torch.rand(256, 20, dtype=torch.float64))
    small = tm.laplacian(f, torch.rand(2, 20, dtype=torch.float64))
    assert _slices(large) > 0
    assert _slices(small) == 0


def _blocks_run(op, batch: int) -> int:
    """How many matmuls of the first hidden layer's weight a call on `batch`
    data runs (one per block of directions, one for the primal)."""
    graph = op._executable_for(batch)._run.graph
    matmuls = (torch.ops.aten.mm.default, product_matmul, scale_sum_and_matmul)
    return sum(1 for n in graph.nodes if n.target in matmuls)


def test_calls_at_another_batch_class_run_a_retuned_program(monkeypatch):
    """Compiled at N = 256 (tiled), a call on 2 data runs the untiled program
    and one on 4096 a tiled one again; a batch class whose decisions match
    an existing program shares it; values and gradients match torch.func at
    every size."""
    monkeypatch.setattr(tile_directions, "cache_bytes", lambda: 2 << 20)
    f = models.mlp([20, 128, 128, 1], "tanh")
    op = tm.laplacian(f, torch.rand(256, 20, dtype=torch.float64))
    assert _slices(op) > 0  # the example's program is tiled
    assert _blocks_run(op, 2) < _blocks_run(op, 256)
    assert op._executable_for(256) is op._executable
    assert op._executable_for(2) is op._executable_for(1)  # both untiled
    assert op._executable_for(129) is op._executable  # same class as 256
    for n in (1, 2, 3, 200, 1000):
        xs = torch.rand(n, 20, dtype=torch.float64)
        torch.testing.assert_close(op(xs), ref.laplacian(f, xs), rtol=1e-10, atol=0)
    xs = torch.rand(3, 20, dtype=torch.float64)
    params = list(f.parameters())[:-1]  # the output bias has no Laplacian
    got = torch.autograd.grad(op(xs).square().mean(), params)
    want = torch.autograd.grad(ref.laplacian(f, xs).square().mean(), params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    assert op.mlir("linalg") == str(op.levels.final)  # stats: the example's


def test_a_program_tuned_for_small_batches_tiles_large_ones(monkeypatch):
    """Compiled at N = 2 (every direction at once), a call on 4096 data runs
    blocks of directions: its live bytes are a fraction of the untiled
    program's."""
    monkeypatch.setattr(tile_directions, "cache_bytes", lambda: 2 << 20)
    f = models.mlp([20, 128, 128, 1], "tanh")
    op = tm.laplacian(f, torch.rand(2, 20, dtype=torch.float64))
    assert _slices(op) == 0
    large = torch.rand(4096, 20, dtype=torch.float64)
    untiled = _peak_live_bytes(lambda x: op._executable(x, *op._parameters(x)), large)
    assert _peak_live_bytes(op, large) < untiled / 2
    torch.testing.assert_close(op(large), ref.laplacian(f, large), rtol=1e-10, atol=0)


def test_block_cost_model():
    mib = 1 << 20
    # everything fits: no tiling
    assert direction_block(50, 1, 768, 8, 2 * mib) == 50
    # N = 256: at least min_rows rows per matmul, at most _MAX_BLOCKS blocks
    block = direction_block(50, 256, 768, 8, 2 * mib)
    assert 1 < block < 50 and block * 256 >= tile_directions.min_rows(8)
    # the rows bound decides where the blocks bound allows smaller blocks: S = 16
    # directions at N = 256 take blocks of 8 (2048 rows) in f64, 4 in f32
    assert direction_block(16, 256, 768, 8, 2 * mib) == 2048 // 256
    assert direction_block(16, 256, 768, 4, 2 * mib) == 1024 // 256
    assert -(-50 // block) <= tile_directions._MAX_BLOCKS
    assert block_sizes(50, 4) == [4] * 11 + [3] * 2  # as even as possible
    assert block_sizes(3, 2) == [2, 1] and block_sizes(6, 3) == [3, 3]
    # a larger cache holds more directions
    assert direction_block(50, 256, 768, 8, 64 * mib) > block
    # at most _MAX_BLOCKS blocks, however large the batch
    assert (
        direction_block(50, 4096, 768, 8, 2 * mib) == 50 // tile_directions._MAX_BLOCKS
    )
    # float32 is half the bytes
    assert direction_block(50, 256, 768, 4, 32 * mib) >= direction_block(
        50, 256, 768, 8, 32 * mib
    )


# --------------------------------------------------------------- backend


def test_transposes_read_elementwise_are_row_major():
    """A transpose only matmuls read stays a view; one an elementwise op reads
    is materialized row-major, so the product's layout is row-major too (and
    its reshapes are views)."""

    text = """
    func.func @f(%w: tensor<4x3xf64>, %x: tensor<2x4xf64>) -> (tensor<3x4xf64>, tensor<2x3xf64>) {
      %e = tensor.empty() : tensor<3x4xf64>
      %t = linalg.transpose ins(%w : tensor<4x3xf64>) outs(%e : tensor<3x4xf64>) permutation = [1, 0]
      %p = arith.mulf %t, %t : tensor<3x4xf64>
      %e2 = tensor.empty() : tensor<4x3xf64>
      %u = linalg.transpose ins(%w : tensor<4x3xf64>) outs(%e2 : tensor<4x3xf64>) permutation = [0, 1]
      %zero = arith.constant 0.0 : f64
      %e3 = tensor.empty() : tensor<2x3xf64>
      %z = linalg.fill ins(%zero : f64) outs(%e3 : tensor<2x3xf64>) -> tensor<2x3xf64>
      %m = linalg.matmul ins(%x, %u : tensor<2x4xf64>, tensor<4x3xf64>) outs(%z : tensor<2x3xf64>) -> tensor<2x3xf64>
      func.return %p, %m : tensor<3x4xf64>, tensor<2x3xf64>
    }
    """
    module = Parser(make_context(), text).parse_module()
    executable = TorchExecutable(module, "f")
    w = torch.rand(4, 3, dtype=torch.float64)
    xs = torch.rand(2, 4, dtype=torch.float64)
    p, m = executable(w, xs)
    assert p.is_contiguous()
    torch.testing.assert_close(p, w.T * w.T, rtol=0, atol=0)
    torch.testing.assert_close(m, xs @ w, rtol=1e-15, atol=0)
    code = executable.graph_module.code
    assert code.count("aten.clone") == 1  # only the transpose read elementwise

"""
Coverage of real models (issue 11): layers torch decomposes for us (softmax,
layer norm, vector norms, ...), ops with their own rule (batch norm, variance,
convolutions, pooling, padding, flips, products, prefix sums), piecewise ops
(clamp, hardtanh, maximum, amax / max.dim, rounding, sign, masks) and
constants (arange, linspace, sizes).

Every case is checked in float64 at 1e-10 against independent references
(tests/reference.py: torch.func and nested autograd): its Laplacian and a
4th-order jet at points away from kinks, and, for piecewise ops, the first
derivative and the Laplacian at the kinks themselves, where PyTorch's autograd
convention is the reference (docs/ir-conventions.md, "Piecewise ops"). Each
case also names ATen ops that its exported graph must contain, so it cannot
silently stop testing them. A few whole models run on iree-cpu too.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from reference import laplacian, taylor_path_derivatives
from torch import nn
from torch.nn import functional as F

import taylor_mlir as tm
from taylor_mlir.frontend import import_torch
from taylor_mlir.frontend.aten import RULES

aten = torch.ops.aten
TOL = 1e-10
HAS_IREE = importlib.util.find_spec("iree.compiler") is not None
needs_iree = pytest.mark.skipif(not HAS_IREE, reason="iree is not installed")


@dataclass
class Case:
    id: str
    f: Callable[[torch.Tensor], torch.Tensor]
    aten: set[str]
    """ATen ops (`aten.x.overload`) the exported graph must contain."""
    shape: tuple[int, ...] = (4,)
    kinks: Callable[[torch.Tensor], torch.Tensor] | None = None
    """For a piecewise f: moves a random input off its kinks (by >= 0.02)."""
    at_kinks: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Puts some entries of a random input exactly on kinks."""
    laplacian_at_kinks: bool = True
    """False where autograd's second derivative at a kink is not that of the
    branch its first derivative takes (elu at 0: the left branch's first
    derivative, the right branch's second), so no function has both."""
    reference: Callable[[torch.Tensor], torch.Tensor] | None = None
    """The same function for the references, where torch.func cannot
    differentiate f itself (ops without forward-mode AD)."""
    marks: list = field(default_factory=list)


def _away_from(*kinks: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def move(x: torch.Tensor) -> torch.Tensor:
        for kink in kinks:
            x = torch.where((x - kink).abs() < 0.02, x + 0.05, x)
        return x

    return move


def _onto(*kinks: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Every other entry of the first feature column set to a kink, in turn."""

    def put(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        flat = x.view(x.shape[0], -1)
        for i in range(0, x.shape[0], 2):
            flat[i, 0] = kinks[(i // 2) % len(kinks)]
        return x

    return put


def _roots(g: Callable[[torch.Tensor], torch.Tensor]) -> tuple[float, ...]:
    """The zeros of g in [-8, 8] (sign changes on a fine grid, bisected)."""
    grid = torch.linspace(-8, 8, 16001, dtype=torch.float64)
    values = g(grid)
    roots = []
    for i in torch.nonzero(values[:-1] * values[1:] <= 0).flatten().tolist():
        a, b = grid[i].item(), grid[i + 1].item()
        for _ in range(60):
            m = (a + b) / 2
            a, b = (m, b) if g(torch.tensor(a)) * g(torch.tensor(m)) > 0 else (a, m)
        roots.append(a)
    return tuple(roots)


def _between_multiples(step: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Off the multiples of step / 2 (integers and half-integers for step 1)."""
    half = step / 2
    return lambda x: torch.floor(x / half) * half + half / 2 + (x % half - half / 2) / 4


def _matrix(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


WQ, WK, WV = (_matrix(4, 4, seed=s) / 2 for s in (1, 2, 3))


# ------------------------------------------------------------- decomposed


def _attention(x):  # (N, T, d): softmax(q k^T / sqrt(d)) v within each datum
    q, k, v = x @ WQ, x @ WK, x @ WV
    weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(x.shape[-1]), -1)
    return (weights @ v).tanh().sum((1, 2))


def _layer_norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """nn.LayerNorm written out: torch's own derivatives of native_layer_norm
    are wrong from the 3rd order on (nested autograd) and the 2nd (nested
    forward mode), so the references differentiate this instead."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _layer_norm_mlp_reference(model: nn.Sequential):
    first, norm, _, last = model
    return lambda x: last(torch.tanh(_layer_norm(first(x), norm)))


class _Transformer(nn.Module):
    """A pre-norm transformer block on (N, T, d), then a scalar head."""

    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(4), nn.LayerNorm(4)
        self.attention = nn.MultiheadAttention(4, 2, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(4, 8), nn.GELU(approximate="tanh"), nn.Linear(8, 4)
        )
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(1))


def _transformer_reference(block: _Transformer):
    """The block with layer norms and attention written out (torch.func has
    no forward mode for the fused attention either)."""
    attention = block.attention
    heads, width = attention.num_heads, attention.embed_dim // attention.num_heads

    def attend(h):
        q, k, v = F.linear(h, attention.in_proj_weight, attention.in_proj_bias).chunk(
            3, -1
        )
        q, k, v = (t.unflatten(-1, (heads, width)).transpose(1, 2) for t in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(width), -1)
        return attention.out_proj((weights @ v).transpose(1, 2).flatten(2))

    def f(x):
        x = x + attend(_layer_norm(x, block.norm1))
        x = x + block.mlp(_layer_norm(x, block.norm2))
        return block.head(x.mean(1))

    return f


def _mlp_with(norm: nn.Module) -> nn.Module:
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 6), norm, nn.Tanh(), nn.Linear(6, 1))
    if isinstance(norm, nn.BatchNorm1d):  # statistics as after training
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    return model.double().eval()


class _GroupNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.GroupNorm(2, 4)

    def forward(self, x):  # (N, 4, 3)
        return (self.norm(x) * x).sum((1, 2))


LAYER_NORM_MLP = _mlp_with(nn.LayerNorm(6))
TRANSFORMER = _Transformer().double().eval()
with torch.no_grad():  # not the initial identity affine maps
    for norm in (LAYER_NORM_MLP[1], TRANSFORMER.norm1, TRANSFORMER.norm2):
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)

DECOMPOSED = [
    Case("softmax", lambda x: (torch.softmax(x, -1) * x.sin()).sum(-1),
         {"aten.amax.default", "aten.exp.default", "aten.div.Tensor"}),
    Case("log-softmax", lambda x: (F.log_softmax(x, 1) * x.cos()).sum(-1),
         {"aten.amax.default", "aten.log.default"}),
    Case("softmin-3d", lambda x: F.softmin(x, 1).pow(2).sum((1, 2)),
         {"aten.amax.default", "aten.neg.default"}, shape=(3, 2)),
    Case("logsumexp", lambda x: torch.logsumexp(x, -1) * x[:, 0],
         {"aten.amax.default", "aten.where.self"}),
    Case("layer-norm", LAYER_NORM_MLP,
         {"aten.var_mean.correction", "aten.rsqrt.default"},
         reference=_layer_norm_mlp_reference(LAYER_NORM_MLP)),
    Case("attention", _attention, {"aten.bmm.default", "aten.amax.default"},
         shape=(3, 4)),
    Case("transformer-block", TRANSFORMER,
         {"aten.var_mean.correction", "aten.amax.default", "aten.bmm.default"},
         shape=(3, 4), reference=_transformer_reference(TRANSFORMER)),
    Case("vector-norms", lambda x: x.norm(dim=-1) + torch.linalg.vector_norm(x, 3, -1)
         + x.norm(p=1, dim=-1) * F.normalize(x).sum(-1),
         {"aten.pow.Tensor_Scalar", "aten.abs.default", "aten.sum.dim_IntList"}),
    Case("leaky-relu", lambda x: (F.leaky_relu(x, 0.2) ** 3).sum(-1),
         {"aten.gt.Scalar", "aten.where.self"}, kinks=_away_from(0.0),
         at_kinks=_onto(0.0)),
    Case("elu", lambda x: F.elu(x, 0.7) ** 2 + F.celu(x) + F.selu(x) * x,
         {"aten.expm1.default"}, kinks=_away_from(0.0), at_kinks=_onto(0.0),
         laplacian_at_kinks=False,
         marks=[pytest.mark.skipif(aten.expm1.default not in RULES,
                                   reason="expm1 (item 2) is not supported yet")]),
    Case("repeat-tile", lambda x: (x.repeat(1, 2) * x.tile(2).sin()).sum(-1),
         {"aten.expand.default", "aten.view.default"}),
]  # fmt: skip


# ------------------------------------------------------------- own rules


class _CNN(nn.Module):
    """An operator-learning CNN on a (N, 1, 4, 5) field."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.Tanh(),
            nn.Conv2d(4, 4, 3, padding=1, groups=2, stride=(1, 2)),
            nn.Softplus(),
            nn.AvgPool2d(2, ceil_mode=True),
        )
        self.head = nn.Linear(4 * 2 * 2, 1)
        self.features[1].running_mean.uniform_(-0.5, 0.5)
        self.features[1].running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        return self.head(self.features(x.unsqueeze(1)).flatten(1))


EMBEDDED, W_EMBEDDING = torch.tensor([[1, 0, 2], [2, 2, 0]]), _matrix(3, 5, seed=15)
W1, B1 = _matrix(4, 1, 3, seed=11), _matrix(4, seed=13)
W2, W3 = _matrix(3, 4, 2, seed=12), _matrix(2, 1, 2, 2, 2, seed=14)


def _conv1d(x):  # (N, 2, 7): stride, padding, dilation, groups
    h = F.conv1d(x, W1, B1, stride=2, padding=2, dilation=2, groups=2)
    return F.conv1d(torch.tanh(h), W2, padding=1).pow(2).sum((1, 2))


def _conv3d(x):  # (N, 1, 3, 3, 3)
    return F.conv3d(x, W3, padding=(1, 0, 0)).sin().sum((1, 2, 3, 4))


def _padded_flipped(x):  # (N, 2, 3)
    padded = F.pad(x, (1, 2, 0, 1), value=0.5)  # last two dims
    cropped = F.pad(x, (-1, 0))
    return (
        (padded.flip(-1, -2).sin() * padded).sum((1, 2))
        + cropped.pow(3).sum((1, 2))
        + (x.roll(1, -1) * x).sum((1, 2))
    )


def _circular(x):  # (N, 2, 3, 4): periodic padding, as for a periodic domain
    wrapped = F.pad(x, (1, 2, 2, 1), mode="circular")  # last two dims
    line = F.pad(x[:, 0], (-1, 3), mode="circular")  # cropped, then wrapped
    return F.conv2d(wrapped.sin(), W_PERIODIC).pow(2).sum((1, 2, 3)) + (
        line.pow(3).sum((1, 2))
    )


W_PERIODIC = _matrix(3, 2, 3, 3, seed=16)


def _prod(x):
    return x.prod(-1) + x[:, 1:].prod(1, keepdim=True).squeeze(1) * x[:, 0]


def _cumulative(x):
    return (
        (x.cumsum(-1) ** 3).sum(-1)
        + x.cumsum(1)[:, -1].exp()
        + x.cumprod(-1).sum(-1)
        + (x.sin().cumprod(1) * x).sum(-1)
    )


def _variance(x):  # (N, 2, 3)
    var, mean = torch.var_mean(x, -1, correction=0)
    return (x.var((1, 2)) + x.std(1).sum(-1)) * (var * mean).sum(-1)


def _diagonal(x):  # (N, 3, 4)
    outer = x[:, :, :, None] * x[:, :, None, :]
    return outer.diagonal(dim1=2, dim2=3).pow(2).sum((1, 2)) + torch.diagonal(
        x, offset=1, dim1=1, dim2=2
    ).exp().sum(-1)


OWN_RULES = [
    Case("batch-norm", _mlp_with(nn.BatchNorm1d(6)),
         {"aten._native_batch_norm_legit_no_training.default"}),
    Case("group-norm", _GroupNorm().double(), {"aten.native_group_norm.default"},
         shape=(4, 3)),
    Case("variance", _variance, {"aten.var.correction", "aten.var_mean.correction"},
         shape=(2, 3)),
    Case("cnn", _CNN().double().eval(),
         {"aten.convolution.default", "aten.avg_pool2d.default",
          "aten._native_batch_norm_legit_no_training.default"}, shape=(4, 5)),
    Case("conv1d", _conv1d, {"aten.convolution.default"}, shape=(2, 7)),
    Case("conv3d", _conv3d, {"aten.convolution.default"}, shape=(1, 3, 3, 3)),
    Case("avg-pool", lambda x: (F.avg_pool2d(x, 2, padding=1, count_include_pad=False)
         .sin().sum((1, 2, 3)) + F.avg_pool2d(x, (3, 2), stride=1, divisor_override=5)
         .pow(2).sum((1, 2, 3)) + F.avg_pool1d(x[:, 0], 2).exp().sum((1, 2))),
         {"aten.avg_pool2d.default"}, shape=(2, 4, 5)),
    Case("circular-pad", _circular, {"aten._pad_circular.default"}, shape=(2, 3, 4)),
    Case("pad-flip-roll", _padded_flipped,
         {"aten.constant_pad_nd.default", "aten.flip.default",
          "aten.index_select.default"}, shape=(2, 3)),
    Case("upsampling", lambda x: (F.interpolate(x, scale_factor=2).pow(3).sum((1, 2, 3))
         + F.interpolate(x, scale_factor=(1.5, 2), mode="bilinear").sin().sum((1, 2, 3))
         + F.interpolate(x, size=(3, 7), mode="bilinear", align_corners=True).pow(2)
         .sum((1, 2, 3)) + F.interpolate(x[:, 0], scale_factor=2, mode="linear").exp()
         .sum((1, 2)) + F.interpolate(x[:, 0], size=7).pow(3).sum((1, 2))),
         {"aten.index.Tensor"}, shape=(1, 2, 3)),
    Case("adaptive-pool-embedding", lambda x: F.adaptive_avg_pool2d(x, (2, 2)).pow(3)
         .sum((1, 2, 3)) + F.adaptive_avg_pool1d(x[:, 0], 2).sin().sum((1, 2))
         + (x[:, 0, :2, :3, None] * F.embedding(EMBEDDED, W_EMBEDDING)).pow(2)
         .sum((1, 2, 3)) + x[:, 0, [1, 0, 2], [2, 2, 0]].exp().sum(-1),
         {"aten.index.Tensor"}, shape=(1, 3, 5)),
    Case("prod", _prod, {"aten.prod.dim_int"}, at_kinks=_onto(0.0)),
    Case("cumsum-cumprod", _cumulative, {"aten.cumsum.default", "aten.cumprod.default"},
         shape=(5,), at_kinks=_onto(0.0)),
    Case("diagonal", _diagonal, {"aten.diagonal.default"}, shape=(3, 4)),
    Case("arange-linspace", lambda x: (x * torch.arange(4, dtype=x.dtype)
         + torch.linspace(-1, 1, 4, dtype=x.dtype) * x.sin()
         + torch.arange(0.5, 2.5, 0.5, dtype=x.dtype) ** 2).exp().sum(-1),
         {"aten.arange.start_step"}),
    Case("sizes", lambda x: x.reshape(x.shape[0], x.shape[1] // 2, 2).pow(2).sum(-1)
         .sum(-1) * (x.shape[1] - 1) + x[:, : x.shape[-1] // 2].sin().sum(-1)
         / math.sqrt(x.shape[-1]), {"aten.view.default"}),
]  # fmt: skip


# ------------------------------------------------------------- piecewise


def _clamp(x):
    return (
        x.clamp(-0.5, 0.5) ** 3
        + x.clamp(min=0.2) * x
        + x.clamp(max=-0.1) ** 2
        + torch.clamp(x, min=x.sin() - 0.3, max=x.cos()) ** 3
        + x.clamp(min=0.8, max=0.4)  # empty range: torch gives max
        + torch.clamp(x, min=x.floor(), max=x.ceil() * 2) * x  # ties at integers
    ).sum(-1)


CLAMP_KINKS = (-0.5, 0.5, 0.2, -0.1) + sum(
    (
        _roots(g)
        for g in (
            lambda x: x - x.sin() + 0.3,
            lambda x: x - x.cos(),
            lambda x: x.sin() - 0.3 - x.cos(),
        )
    ),
    (),
)


def _extrema(x):
    return (
        x.amax(-1) ** 3
        + x.amin(1) * x[:, 0]
        + x.max(-1).values.sin()
        + x.min(1, keepdim=True)[0].squeeze(1) ** 2
        + x.max(1).values * x.abs().amax(-1)
    )


def _ties(x: torch.Tensor) -> torch.Tensor:
    """Rows with two maximal and two minimal entries."""
    x = x.clone()
    x[:, 1] = x[:, 3] = x.max(1).values + 1
    x[:, 0] = x[:, 2] = x.min(1).values - 1
    return x


W_EXTREMA = _matrix(3, 4, seed=20)


def _rounding(x):
    return (
        x.floor() * x**2
        + x.ceil() * x
        + x.round() * x**3
        + x.trunc() * x.exp()
        + x.frac() ** 3
        + x.sign() * x**2
        + x.sgn()
        + torch.round(x, decimals=1) * x
        + torch.round(x * 40, decimals=-1) * x
        + x.div(0.7, rounding_mode="trunc") * x
    ).sum(-1)


def _masks(x):
    return (
        torch.where(x.sin() > 0.3, x**2, x.exp())
        + x.masked_fill(x > 0.5, 1.0) ** 3
        + torch.where(torch.isnan(x.log()), x, x * 2)
        + torch.nan_to_num(x.log(), nan=0.5) * x
        + (x[:, :, None] * x[:, None, :] * torch.ones(4, 4, dtype=x.dtype).triu()).sum(
            1
        )
    ).sum(-1)


def _max_pool(x):  # (N, 2, 4, 5)
    return (
        F.max_pool2d(x, 2, padding=1).pow(3).sum((1, 2, 3))
        + F.max_pool2d(x, (2, 3), stride=(2, 1), dilation=(1, 2), ceil_mode=True)
        .sin()
        .sum((1, 2, 3))
        + F.max_pool1d(x[:, 0], 3, stride=2).exp().sum((1, 2))
    )


def _on_grid(x: torch.Tensor) -> torch.Tensor:
    """Values on a coarse grid, so windows have tied maxima."""
    return torch.round(x * 2) / 2


PIECEWISE = [
    Case("clamp", _clamp, {"aten.clamp.default", "aten.clamp.Tensor"},
         kinks=_away_from(*CLAMP_KINKS), at_kinks=_onto(-0.5, 0.5, 0.2, -0.1, 1.0, -2.0)),
    Case("hardtanh-relu6", lambda x: (F.hardtanh(x, -0.5, 1.0) ** 3
         + F.relu6(4 * x) ** 2).sum(-1), {"aten.hardtanh.default"},
         kinks=_away_from(-0.5, 1.0, 0.0, 1.5), at_kinks=_onto(-0.5, 1.0, 0.0, 1.5)),
    Case("hardsigmoid", lambda x: (F.hardsigmoid(3 * x) * x**2).sum(-1),
         {"aten.hardsigmoid.default"}, kinks=_away_from(-1.0, 1.0),
         at_kinks=_onto(-1.0, 1.0),
         reference=lambda x: (torch.where((x > -1) & (x < 1), x / 2 + 0.5,
                                          (x >= 1).to(x.dtype)) * x**2).sum(-1)),
    Case("maximum-minimum", lambda x: (torch.maximum(x, x.sin()) ** 3
         + torch.minimum(x**2, x)).sum(-1),
         {"aten.maximum.default", "aten.minimum.default"},
         kinks=_away_from(0.0, 1.0), at_kinks=_onto(0.0, 1.0)),
    Case("extrema", _extrema, {"aten.amax.default", "aten.amin.default",
         "aten.max.dim", "aten.min.dim"}, at_kinks=_ties),
    Case("full-extrema", lambda x: (x * W_EXTREMA.max() + x.sin() * W_EXTREMA.min()
         + x * W_EXTREMA.prod() + x**2 * (W_EXTREMA > 1).any().to(x.dtype)).sum(-1),
         {"aten.max.default", "aten.min.default", "aten.prod.default",
          "aten.any.default"}),
    Case("rounding-sign", _rounding,
         {"aten.floor.default", "aten.ceil.default", "aten.round.default",
          "aten.trunc.default", "aten.sign.default",
          "aten.round.decimals", "aten.div.Tensor_mode"},
         kinks=_between_multiples(0.05), at_kinks=_onto(0.0, -1.0, 2.5, 0.5)),
    Case("shrink-threshold", lambda x: (F.softshrink(x, 0.5) ** 3 + F.hardshrink(x, 0.3) ** 2
         + F.threshold(x, 0.1, 2.0) * x + x.abs() ** 3).sum(-1),
         {"aten.abs.default", "aten.sign.default", "aten.where.self"},
         kinks=_away_from(-0.5, 0.5, -0.3, 0.3, 0.1, 0.0), at_kinks=_onto(0.5, 0.3, 0.1, 0.0)),
    Case("heaviside", lambda x: (torch.heaviside(x, x.cos()) * x**2).sum(-1),
         {"aten.heaviside.default"}, kinks=_away_from(0.0), at_kinks=_onto(0.0),
         reference=lambda x: (torch.where(x == 0, x.cos(), (x > 0).to(x.dtype))
                              * x**2).sum(-1)),
    Case("hardswish", lambda x: F.hardswish(3 * x).sum(-1), {"aten.clamp.default"},
         kinks=_away_from(-1.0, 1.0),
         reference=lambda x: (3 * x * (3 * x + 3).clamp(0, 6) / 6).sum(-1)),
    Case("masks", _masks, {"aten.where.self", "aten.isnan.default"},
         kinks=_away_from(0.5, math.asin(0.3), math.pi - math.asin(0.3))),
    Case("masked-attention-any", lambda x: F.scaled_dot_product_attention(
         x, x.sin(), x, is_causal=True).sum((1, 2)) + (x > 0.5).any(-1).any(-1).to(
         x.dtype) * x.sum((1, 2)) + (x < -1).any((1, 2)).to(x.dtype),
         {"aten.any.dim", "aten.any.dims"}, shape=(3, 4), kinks=_away_from(0.5, -1.0)),
    Case("max-pool", _max_pool, {"aten.max_pool2d_with_indices.default"},
         shape=(2, 4, 5), at_kinks=_on_grid),
]  # fmt: skip

CASES = DECOMPOSED + OWN_RULES + PIECEWISE


def _params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.id, marks=c.marks) for c in cases]


def sample(case: Case, n: int = 5) -> torch.Tensor:
    x = torch.randn(n, *case.shape, dtype=torch.float64)
    if case.id in ("masks",):  # logs of positive and negative numbers
        x = x * 2
    return case.kinks(x) if case.kinks is not None else x


def _reference_f(case: Case) -> Callable[[torch.Tensor], torch.Tensor]:
    return case.reference if case.reference is not None else case.f


def check_laplacian(case: Case, x: torch.Tensor, backend: str = "torch") -> None:
    got = tm.laplacian(case.f, x, backend=backend)(x)
    expected = laplacian(_reference_f(case), x)
    torch.testing.assert_close(got, expected, rtol=TOL, atol=TOL)


def check_jet(case: Case, x: torch.Tensor, order: int) -> None:
    v = torch.randn_like(x)
    f0, rest = tm.jet(case.f, x, order)(x, [v])
    expected = taylor_path_derivatives(_reference_f(case), [x, v], order)
    for k, (got, want) in enumerate(zip([f0, *rest], expected, strict=True)):
        scale = max(1.0, want.abs().max().item())
        torch.testing.assert_close(
            got, want, rtol=TOL, atol=TOL * scale, msg=f"coefficient {k}"
        )


def case_tests(cases: list[Case]):
    """The tests of a list of cases, for a module to bind at top level (pytest
    collects them there): the exported graph has the case's ops, its
    Laplacian and 4th-order jet are exact, and at kinks (cases with
    `at_kinks`) the first derivative and the Laplacian follow autograd."""
    each_case = pytest.mark.parametrize("case", _params(cases))
    each_kinked = pytest.mark.parametrize(
        "case", _params([c for c in cases if c.at_kinks is not None])
    )

    @each_case
    def test_the_graph_exercises_the_ops(case: Case):
        prog = import_torch(case.f, sample(case, 3))
        targets = {str(n.target) for n in prog.exported.graph.nodes}
        assert case.aten <= targets, f"missing {case.aten - targets}"

    @each_case
    def test_laplacian(case: Case):
        check_laplacian(case, sample(case))

    @each_case
    def test_jet_of_order_4(case: Case):
        check_jet(case, sample(case, 3), order=4)

    @each_kinked
    def test_at_kinks_autograds_convention(case: Case):
        x = case.at_kinks(sample(case, 6))
        check_jet(case, x, order=1)
        if case.laplacian_at_kinks:
            check_laplacian(case, x)

    return (
        test_the_graph_exercises_the_ops,
        test_laplacian,
        test_jet_of_order_4,
        test_at_kinks_autograds_convention,
    )


(
    test_the_graph_exercises_the_ops,
    test_laplacian,
    test_jet_of_order_4,
    test_at_kinks_autograds_convention,
) = case_tests(CASES)


def assert_cases_cover(cases: list[Case], ops: str) -> None:
    """Each op of `ops` (space-separated `name.overload`) has an import rule
    and is in one of `cases`."""
    tested = set().union(*(c.aten for c in cases))
    mine = {"aten." + n for n in ops.split()}
    assert mine <= {str(t) for t in RULES}
    assert not mine - tested, sorted(mine - tested)


def test_every_new_rule_has_a_case():
    """Each rule of the import table this file is about is in a case."""
    assert_cases_cover(
        CASES,
        "clamp.default clamp.Tensor hardtanh.default maximum.default "
        "minimum.default floor.default ceil.default trunc.default round.default "
        "round.decimals sign.default isnan.default amax.default "
        "amin.default max.default min.default max.dim min.dim prod.dim_int "
        "prod.default cumsum.default cumprod.default var.correction var_mean.correction "
        "_native_batch_norm_legit_no_training.default native_group_norm.default "
        "constant_pad_nd.default _pad_circular.default flip.default convolution.default "
        "avg_pool2d.default max_pool2d_with_indices.default heaviside.default "
        "diagonal.default arange.start_step hardsigmoid.default abs.default "
        "div.Tensor_mode index.Tensor",
    )


# ------------------------------------------------------------ exact values

SPECIAL = [
    -2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 3.5, 0.49999999999999994, -0.3,
    0.7, -0.7, 2.0**52 + 1, -(2.0**53), 1e300, -1e300, 2.0**23 + 0.5, 1e-310, 1e-40,
    math.inf, -math.inf, math.nan,
]  # fmt: skip


def _rounded(x):
    return torch.stack(
        [
            x.floor(),
            x.ceil(),
            x.round(),
            x.trunc(),
            x.frac(),
            x.sign(),
            torch.round(x, decimals=2),
            torch.round(x, decimals=-1),
        ],
        1,
    )


def _assert_identical(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal values, NaN at the same places, zeros of the same sign."""
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.signbit(got), torch.signbit(want))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "backend", ["torch", pytest.param("iree-cpu", marks=needs_iree)]
)
def test_rounding_is_exact(backend, dtype, tmp_path, monkeypatch):
    """floor, ceil, round (half to even), trunc, frac, sign and round with
    decimals give torch's values bit for bit, signed zeros and special values
    included, in both dtypes and on both backends (IREE's CPU code flushes
    subnormal numbers to zero in all arithmetic, so they are left out there)."""
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    tiny = torch.finfo(dtype).tiny
    values = [v for v in SPECIAL if backend == "torch" or not 0 < abs(v) < tiny]
    x = torch.tensor(values, dtype=dtype)[:, None]
    compiled = tm.compile_function(_rounded, x, backend=backend)
    _assert_identical(compiled(x), _rounded(x))


def test_maximum_and_amax_values_are_exact():
    """At ties, the averaged derivatives do not change the value: maximum of
    equal (also infinite) values and amax over several maximal entries are
    the entry itself; NaN propagates as in torch."""

    def f(x):
        return torch.stack(
            [torch.maximum(x, x.flip(1)), torch.minimum(x, x.flip(1))], 1
        ).flatten(1)

    x = torch.tensor(
        [[0.1, 1 / 3, 1 / 3, 0.1], [math.inf, 2.0, 2.0, math.inf], [math.nan, 1, 2, 3]],
        dtype=torch.float64,
    )
    _assert_identical(tm.compile_function(f, x)(x), f(x))

    def g(x):
        return torch.stack([x.amax(1), x.amin(1), x.max(1).values], 1)

    y = torch.tensor(
        [
            [1 / 3] * 5,
            [0.1, 0.7, 0.7, 0.7, -2.0],
            [-math.inf] * 5,
            [1, math.nan, 2, 3, 4],
        ],
        dtype=torch.float64,
    )
    _assert_identical(tm.compile_function(g, y)(y), g(y))


# ------------------------------------------------------------------ iree


@needs_iree
@pytest.mark.parametrize(
    "name",
    [
        "transformer-block",
        "cnn",
        "clamp",
        "extrema",
        "prod",
        "cumsum-cumprod",
        "upsampling",
    ],
)
def test_laplacian_on_iree(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLOR_MLIR_CACHE", str(tmp_path))
    (case,) = [c for c in CASES if c.id == name]
    check_laplacian(case, sample(case), backend="iree-cpu")

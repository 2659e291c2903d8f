"""
Operator specifications: which jets to push and how to sum their top coefficients.

A linear differential operator of order K is `sum_r c_r f_{K,r}`, the weighted sum
of the top Taylor coefficients of K-jets along directions `v_r` (docs/design.md, "The
math"). An `OperatorSpec` lists one `DirectionGroup` per order (an operator with
first- and second-order terms has two), plus the weight of an order-0 term (f
itself). A group's directions are either fixed (an `R x D` array, `D` the size of
one datum's input, flattened) or drawn at every call (`RandomDirections`): then
the compiled program takes them as an extra argument.

The constructors here turn the user-facing operators into specs:

* `laplacian`: unit vectors, weights 1 (or Hutchinson: random v, weights 1/S);
* `weighted_laplacian`: `tr(C H)` from the eigendecomposition of a symmetric C
  (`sqrt(|lambda|) u`, weights +-1) or from a factor `C = S S^T`;
* `biharmonic`: `sum_{a,b} d_a^2 d_b^2 f` by Griewank's interpolation (or STDE:
  Gaussian v, weights 1/(3S), since `E <d^4 f, v^4> = 3 Delta^2 f`);
* `linear_operator`: any constant-coefficient `sum_alpha c_alpha d^alpha f`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np

from taylor_mlir.errors import OptionError
from taylor_mlir.operators.interpolation import (
    directional_expansion,
    merge_directions,
)

DISTRIBUTIONS = ("rademacher", "normal")


class OperatorSpecError(OptionError):
    """An operator was asked for with coefficients, terms or options that do not
    define it (non-symmetric C, index out of range, biased estimator, ...)."""


@dataclass(frozen=True)
class RandomDirections:
    """Directions drawn at every call: for each block `(transform, weight)`,
    `samples` vectors `v = transform @ z` with z of the given distribution
    (independent per datum), each summed with weight `weight / samples`.

    The group's R is `samples * len(blocks)`; the drawn tensor is `R x N x D`,
    block after block.
    """

    distribution: str
    samples: int
    blocks: tuple[tuple[np.ndarray, float], ...]

    @property
    def count(self) -> int:
        return self.samples * len(self.blocks)

    @cached_property
    def identity_blocks(self) -> tuple[bool, ...]:
        """Per block, whether its transform is the identity (`v = z`, nothing
        to multiply at a call): decided once, not at every draw."""
        return tuple(
            T.shape[0] == T.shape[1] and np.array_equal(T, np.eye(T.shape[0]))
            for T, _ in self.blocks
        )

    def weights(self) -> list[float]:
        return [
            weight / self.samples
            for _, weight in self.blocks
            for _ in range(self.samples)
        ]


@dataclass(frozen=True)
class CallDirections:
    """Directions computed at every call from tensors the user passes (runtime
    coefficients): `compute(base, coefficients)` returns `R x N x D` from base
    directions `R0 x N x D`: the unit vectors, or drawn ones (`random`)."""

    compute: Callable[[Any, Any], Any]
    random: RandomDirections | None
    name: str
    """The call keyword that carries the tensor (`coefficients`)."""
    default: Any
    """The tensor given at compile time, read by reference when no other is passed."""


@dataclass(frozen=True)
class DirectionGroup:
    """K-jets along R directions whose top coefficients are summed with weights."""

    order: int
    weights: tuple[float, ...]
    directions: np.ndarray | None = None  # R x D, float64; None when not fixed
    random: RandomDirections | None = None
    at_call: CallDirections | None = None

    @property
    def count(self) -> int:
        return len(self.weights)

    @property
    def is_random(self) -> bool:
        return self.random is not None or (
            self.at_call is not None and self.at_call.random is not None
        )

    @property
    def takes_directions(self) -> bool:
        """Whether the compiled program takes this group's directions as an
        argument (drawn or computed at every call)."""
        return self.random is not None or self.at_call is not None


@dataclass(frozen=True)
class OperatorSpec:
    """`constant * f + sum over groups of sum_r c_r f_{K,r}`, for inputs of
    `input_size` entries per datum."""

    name: str
    input_size: int
    groups: tuple[DirectionGroup, ...]
    constant: float = 0.0

    @property
    def is_random(self) -> bool:
        return any(g.is_random for g in self.groups)


def with_unit_jets(spec: OperatorSpec) -> OperatorSpec:
    """spec with first-order jets along the unit vectors, weighted 0 (they add
    nothing to the operator): their coefficients are the gradient, for
    `returns="gradient"` of an operator whose own directions are not the unit
    vectors (a weighted Laplacian, a linear operator), at D first-order
    vectors more."""
    D = spec.input_size
    unit = DirectionGroup(order=1, weights=(0.0,) * D, directions=np.eye(D))
    return replace(spec, groups=(*spec.groups, unit))


# ------------------------------------------------------------------ helpers


def _check_input_size(input_size: int) -> None:
    if input_size < 1:
        raise OperatorSpecError(
            f"the input must have at least one entry, got {input_size}"
        )


def _parse_randomization(
    randomization: tuple[str, int] | None,
) -> tuple[str, int] | None:
    if randomization is None:
        return None
    if (
        not isinstance(randomization, tuple | list)
        or len(randomization) != 2
        or not isinstance(randomization[1], int)
        or isinstance(randomization[1], bool)
    ):
        raise OperatorSpecError(
            f"randomization must be (distribution, samples), e.g. ('rademacher', 8); "
            f"got {randomization!r}"
        )
    distribution, samples = randomization
    if distribution not in DISTRIBUTIONS:
        raise OperatorSpecError(
            f"unknown randomization distribution {distribution!r}; "
            f"expected one of {', '.join(DISTRIBUTIONS)}"
        )
    if samples < 1:
        raise OperatorSpecError(
            f"randomization needs at least one sample, got {samples}"
        )
    return distribution, samples


def _exact_group(order: int, directions: np.ndarray, weights: Sequence[float]):
    directions = np.asarray(directions, dtype=np.float64)
    return DirectionGroup(
        order, tuple(float(w) for w in weights), directions=directions
    )


def _random_group(
    order: int,
    distribution: str,
    samples: int,
    blocks: Sequence[tuple[np.ndarray, float]],
) -> DirectionGroup:
    random = RandomDirections(
        distribution,
        samples,
        tuple((np.asarray(t, dtype=np.float64), float(w)) for t, w in blocks),
    )
    return DirectionGroup(order, tuple(random.weights()), random=random)


# ---------------------------------------------------------------- operators


def laplacian(
    input_size: int, randomization: tuple[str, int] | None = None
) -> OperatorSpec:
    """`sum_d d^2 f / dx_d^2`: unit vectors with weights 1, or Hutchinson's
    estimator (`E[v v^T] = I` for Rademacher and standard normal v)."""
    _check_input_size(input_size)
    randomization = _parse_randomization(randomization)
    identity = np.eye(input_size)
    if randomization is None:
        group = _exact_group(2, identity, [1.0] * input_size)
    else:
        group = _random_group(2, *randomization, [(identity, 1.0)])
    return OperatorSpec("laplacian", input_size, (group,))


def _finite_matrix(value: np.ndarray, what: str) -> np.ndarray:
    """`value` as a float64 array; refuses NaN and infinities, which would turn
    into zeros or NaNs of the operator without a word."""
    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu().double().numpy()
    try:
        M = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise OperatorSpecError(
            f"{what} must be numbers, got {type(value).__name__}: {error}"
        ) from None
    if not np.isfinite(M).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(M))[0])
        raise OperatorSpecError(
            f"{what} are not finite: entry {bad} is {M[bad]}; every entry must be "
            "a finite number"
        )
    return M


def _symmetric_part(coefficients: np.ndarray, input_size: int) -> np.ndarray:
    """`(C + C^T) / 2`: the Hessian is symmetric, so `tr(C H)` is the trace
    with C's symmetric part (as for coefficients given at every call)."""
    C = _finite_matrix(coefficients, "weighted Laplacian coefficients")
    if C.shape != (input_size, input_size):
        raise OperatorSpecError(
            f"weighted Laplacian coefficients must be {input_size} x {input_size} "
            f"(one row per input entry, the input flattened: C.reshape({input_size}, "
            f"{input_size})), got shape {C.shape}"
        )
    return (C + C.T) / 2


def _eigen_factors(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`C = P P^T - Q Q^T` with the columns of P (Q) spanning the positive
    (negative) eigenspace, scaled by `sqrt(|lambda|)`; zero eigenvalues dropped."""
    eigenvalues, eigenvectors = np.linalg.eigh(C)
    tolerance = 1e-13 * max(float(np.abs(eigenvalues).max()), np.finfo(np.float64).tiny)
    positive = eigenvalues > tolerance
    negative = eigenvalues < -tolerance
    P = eigenvectors[:, positive] * np.sqrt(eigenvalues[positive])
    Q = eigenvectors[:, negative] * np.sqrt(-eigenvalues[negative])
    return P, Q


def weighted_laplacian(
    input_size: int,
    coefficients: np.ndarray | None = None,
    factor: np.ndarray | None = None,
    randomization: tuple[str, int] | None = None,
) -> OperatorSpec:
    """`tr(C H)` for any square C (its symmetric part counts: H is symmetric),
    given as `coefficients=C` or as `factor=S` with `C = S S^T`.

    Exact: directions are the columns of S (or `sqrt(|lambda|) u` per eigenpair
    of C, weight +1 or -1). Randomized: `v = S z` (or `P z`, `Q z'` with weights
    +-1/S), since `E[(S z)(S z)^T] = S S^T`.
    """
    _check_input_size(input_size)
    randomization = _parse_randomization(randomization)
    if (coefficients is None) == (factor is None):
        raise OperatorSpecError(
            "weighted_laplacian needs exactly one of coefficients=C or factor=S"
        )
    if is_runtime_tensor(coefficients):
        return _runtime_weighted_laplacian(input_size, coefficients, randomization)
    if factor is not None:
        S = _finite_matrix(factor, "weighted Laplacian factor entries")
        if S.ndim != 2 or S.shape[0] != input_size:
            raise OperatorSpecError(
                f"weighted Laplacian factor must be {input_size} x R (C = S S^T), "
                f"got shape {S.shape}"
            )
        blocks = [(S, 1.0)]
    else:
        P, Q = _eigen_factors(_symmetric_part(coefficients, input_size))
        blocks = [(M, w) for M, w in ((P, 1.0), (Q, -1.0)) if M.shape[1] > 0]
        if not blocks:  # C = 0: the operator is identically zero
            blocks = [(np.zeros((input_size, 1)), 0.0)]
    if randomization is None:
        directions = np.concatenate([M.T for M, _ in blocks])
        weights = [w for M, w in blocks for _ in range(M.shape[1])]
        group = _exact_group(2, directions, weights)
    else:
        group = _random_group(2, *randomization, blocks)
    return OperatorSpec("weighted_laplacian", input_size, (group,))


def is_runtime_tensor(value: Any) -> bool:
    """A coefficient tensor read at every call: it requires grad, or it has one
    matrix per datum (N, D, D)."""
    import torch

    return isinstance(value, torch.Tensor) and (value.requires_grad or value.dim() == 3)


def _runtime_weighted_laplacian(
    input_size: int, C: Any, randomization: tuple[str, int] | None
) -> OperatorSpec:
    """`tr(C H)` with C an argument of every call, by polarization:
    `b^T H C b = 1/4 ((v^+)^T H v^+ - (v^-)^T H v^-)` with `v^+- = s b +- C b / s`,
    summed over base directions b with `sum b b^T = I`: the unit vectors
    (exact), or S random ones with `E[b b^T] = I` (Hutchinson, weights 1/S).
    The directions are linear in C, so autograd through them gives C its
    gradient; any C (not necessarily symmetric or definite), shared or one per
    datum. Twice the base directions (the constant-C path needs at most D);
    s balances the two parts."""
    if C.shape[-2:] != (input_size, input_size) or C.dim() not in (2, 3):
        raise OperatorSpecError(
            f"weighted Laplacian coefficients must be {input_size} x {input_size} "
            f"or (N, {input_size}, {input_size}) per datum, got shape {tuple(C.shape)}"
        )
    random = None
    base = input_size
    if randomization is not None:
        distribution, samples = randomization
        random = RandomDirections(distribution, samples, ((np.eye(input_size), 1.0),))
        base = samples
    weights = (0.25 / (1 if random is None else base),) * base
    weights = weights + tuple(-w for w in weights)
    at_call = CallDirections(_polarization_directions, random, "coefficients", C)
    group = DirectionGroup(2, weights, at_call=at_call)
    return OperatorSpec("weighted_laplacian", input_size, (group,))


def _polarization_directions(base: Any, C: Any) -> Any:
    """`2 R0 x N x D`: `s b + C b / s` for every base direction b, then
    `s b - C b / s`."""
    import torch

    # sqrt of C's Frobenius norm (ops a caller tracing this can compile too)
    scale = (C.detach().pow(2).sum() + torch.finfo(C.dtype).tiny).pow(0.25)
    if C.dim() == 2:
        Cb = torch.einsum("ij,rnj->rni", C, base)
    else:
        Cb = torch.einsum("nij,rnj->rni", C, base)
    return torch.cat([scale * base + Cb / scale, scale * base - Cb / scale])


def biharmonic(
    input_size: int, randomization: tuple[str, int] | None = None
) -> OperatorSpec:
    """`Delta^2 f = sum_{a,b} d_a^2 d_b^2 f`.

    Exact: Griewank's interpolation of the mixed terms, merged per primitive
    direction: `e_a`, `e_a + e_b`, `3 e_a + e_b`, `e_a + 3 e_b` (`(3D^2 - D)/2`
    4-jets). Randomized (STDE): Gaussian v with weights 1/(3S), because
    `E <d^4 f, v^4> = 3 sum_{a,b} d_a^2 d_b^2 f` for `v ~ N(0, I)` (Isserlis).
    Rademacher vectors give a biased estimate (`E v_a^4 = 1`, not 3) and are
    refused.
    """
    _check_input_size(input_size)
    randomization = _parse_randomization(randomization)
    if randomization is not None:
        distribution, samples = randomization
        if distribution != "normal":
            raise OperatorSpecError(
                f"the randomized biharmonic needs 'normal' directions: with "
                f"{distribution!r} ones the 4th-order estimator is biased "
                "(E[v_a^4] = 1, but the identity behind it needs 3)"
            )
        group = _random_group(4, "normal", samples, [(np.eye(input_size), 1.0 / 3.0)])
        return OperatorSpec("biharmonic", input_size, (group,))
    terms = {(a, a, b, b): 1.0 for a in range(input_size) for b in range(input_size)}
    spec = linear_operator(input_size, terms)
    return OperatorSpec("biharmonic", input_size, spec.groups, spec.constant)


def _multi_index(key: tuple[int, ...], input_size: int) -> tuple[list[int], list[int]]:
    """`(0, 0, 2)` -> distinct input indices `[0, 2]` and their multiplicities `[2, 1]`."""
    for index in key:
        if not isinstance(index, int | np.integer) or isinstance(index, bool):
            raise OperatorSpecError(
                f"linear operator term {key!r}: input indices must be integers"
            )
        if not 0 <= index < input_size:
            raise OperatorSpecError(
                f"linear operator term {key!r}: input index {index} is out of range "
                f"for inputs with {input_size} entries per datum"
            )
    distinct = sorted(set(int(i) for i in key))
    return distinct, [sum(1 for i in key if i == d) for d in distinct]


def _term(key: object, coefficient: object) -> tuple[tuple[int, ...], float]:
    """One `terms` entry checked: a tuple of input indices and a finite number."""
    if not isinstance(key, tuple):
        raise OperatorSpecError(
            f"linear operator term {key!r}: a key is a tuple of the input indices "
            f"differentiated, e.g. (0, 0) for d^2/dx_0^2, (1,) for d/dx_1, () for f"
        )
    if isinstance(coefficient, bool) or not isinstance(
        coefficient, int | float | np.number
    ):
        raise OperatorSpecError(
            f"linear operator term {key!r}: the coefficient must be a number, got "
            f"{coefficient!r}"
        )
    coefficient = float(coefficient)
    if not math.isfinite(coefficient):
        raise OperatorSpecError(
            f"linear operator term {key!r}: the coefficient {coefficient} is not finite"
        )
    return key, coefficient


def linear_operator(
    input_size: int,
    terms: Mapping[tuple[int, ...], float],
    randomization: tuple[str, int] | None = None,
) -> OperatorSpec:
    """`sum_alpha c_alpha d^alpha f` with constant coefficients.

    A key lists the (flattened) input indices differentiated: `(0, 0)` is
    `d^2/dx_0^2`, `(0, 1, 1)` is `d^3/dx_0 dx_1^2`, `(1,)` is `d/dx_1`, `()` is f
    itself. Per order K, every term becomes weighted K-th directional derivatives
    along integer combinations of unit vectors (Griewank's interpolation); equal
    directions across terms are merged, so each is one K-jet.
    """
    _check_input_size(input_size)
    if randomization is not None:
        raise OperatorSpecError(
            "linear_operator has no randomized estimator; randomization is "
            "available for laplacian, weighted_laplacian and biharmonic"
        )
    if not isinstance(terms, Mapping):
        raise OperatorSpecError(
            f"linear_operator terms must be a dict from multi-indices to "
            f"coefficients, e.g. {{(0, 0): 1.0, (1,): -1.0}}; got {type(terms).__name__}"
        )
    if not terms:
        raise OperatorSpecError("linear_operator needs at least one term")
    constant = 0.0
    by_order: dict[int, list[tuple[list[int], Fraction]]] = {}
    for key, coefficient in terms.items():
        key, coefficient = _term(key, coefficient)
        distinct, multiplicities = _multi_index(key, input_size)
        if not key:
            constant += coefficient
            continue
        for j, weight in directional_expansion(tuple(multiplicities)):
            w = [0] * input_size
            for index, j_l in zip(distinct, j, strict=True):
                w[index] = j_l
            by_order.setdefault(len(key), []).append(
                (w, weight * Fraction(coefficient))
            )
    groups = []
    for order in sorted(by_order):
        merged = merge_directions(by_order[order], order)
        if not merged:
            continue
        directions = np.array(list(merged), dtype=np.float64)
        groups.append(
            _exact_group(order, directions, [float(c) for c in merged.values()])
        )
    if not groups:  # f alone (terms {(): c}): one jet still carries f itself
        groups.append(_exact_group(1, np.zeros((1, input_size)), [0.0]))
    return OperatorSpec("linear_operator", input_size, tuple(groups), constant)


NAMED_OPERATORS: dict[str, Callable[..., OperatorSpec]] = {
    spec.__name__: spec
    for spec in (laplacian, weighted_laplacian, biharmonic, linear_operator)
}
"""The operators by name (`tm.compile(f, x, "laplacian")`): the spec each name
builds. The command line spells the names with hyphens (`weighted-laplacian`)."""

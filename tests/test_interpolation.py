"""Griewank's interpolation and the operator specs, checked on explicit tensors.

A linear operator of order K applied to f is, per datum, a contraction of the
symmetric derivative tensor d^K f. Random symmetric tensors stand in for it, so
these tests check the weights and directions exactly, without any compiler.
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from taylor_mlir.operators import spec as S
from taylor_mlir.operators.interpolation import (
    directional_expansion,
    generalized_binomial,
    interpolation_coefficient,
    merge_directions,
    multi_indices,
    primitive_direction,
)
from taylor_mlir.operators.sampling import sample_directions


def random_symmetric(order: int, n: int, rng: np.random.Generator) -> np.ndarray:
    A = rng.standard_normal((n,) * order)
    perms = list(itertools.permutations(range(order)))
    return sum(A.transpose(p) for p in perms) / len(perms)


def contract(A: np.ndarray, vectors) -> float:
    """<A, v_1 x ... x v_K>."""
    out = A
    for v in vectors:
        out = np.tensordot(out, v, axes=([0], [0]))
    return float(out)


def pure(A: np.ndarray, w) -> float:
    """T_K(w) = <A, w x ... x w>."""
    return contract(A, [np.asarray(w, dtype=np.float64)] * A.ndim)


def test_biharmonic_gammas_match_the_paper():
    assert interpolation_coefficient((2, 2), (4, 0)) == Fraction(13, 192)
    assert interpolation_coefficient((2, 2), (3, 1)) == Fraction(-1, 3)
    assert interpolation_coefficient((2, 2), (2, 2)) == Fraction(5, 8)
    # symmetric in the two directions
    assert interpolation_coefficient((2, 2), (0, 4)) == Fraction(13, 192)
    assert interpolation_coefficient((2, 2), (1, 3)) == Fraction(-1, 3)


def test_generalized_binomial():
    assert generalized_binomial(Fraction(5), 2) == 10
    assert (
        generalized_binomial(Fraction(4, 3), 2) == Fraction(4, 3) * Fraction(1, 3) / 2
    )
    assert generalized_binomial(Fraction(7, 2), 0) == 1


def test_multi_indices_enumerates_all():
    got = multi_indices(3, 4)
    assert len(got) == math.comb(4 + 2, 2)
    assert len(set(got)) == len(got)
    assert all(sum(j) == 4 and min(j) >= 0 for j in got)


@pytest.mark.parametrize(
    "i",
    [
        (1, 1),
        (2, 1),
        (1, 2),
        (2, 2),
        (3, 1),
        (1, 1, 1),
        (2, 1, 1),
        (1, 1, 1, 1),
        (3, 2),
        (1, 1, 1, 1, 1),
    ],
)
def test_interpolation_recovers_mixed_partials(i):
    """M_i = sum_j weight_j T_K(sum_l j_l v_l) on a random symmetric tensor
    with random (not unit) directions."""
    rng = np.random.default_rng(sum(i) * 10 + len(i))
    K, n = sum(i), 4
    A = random_symmetric(K, n, rng)
    v = rng.standard_normal((len(i), n))
    exact = contract(A, [v[a] for a, count in enumerate(i) for _ in range(count)])
    interpolated = sum(
        float(weight) * pure(A, np.tensordot(np.array(j, dtype=np.float64), v, axes=1))
        for j, weight in directional_expansion(i)
    )
    assert interpolated == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_pure_partial_is_one_direction():
    assert directional_expansion((3,)) == [((3,), Fraction(1, 27))]


def test_primitive_direction_and_merging():
    assert primitive_direction([2, 2, 0]) == ((1, 1, 0), 2)
    assert primitive_direction([0, -3, 6]) == ((0, 1, -2), -3)
    # T_3(-2 p) = -8 T_3(p): merged with T_3(p)
    merged = merge_directions([([0, -2], Fraction(1)), ([0, 1], Fraction(8))], order=3)
    assert merged == {}
    merged = merge_directions([([4, 0], Fraction(1, 256)), ([1, 0], Fraction(2))], 4)
    assert merged == {(1, 0): Fraction(3)}
    with pytest.raises(ValueError, match="zero direction"):
        primitive_direction([0, 0])


def apply_groups(spec: S.OperatorSpec, tensors: dict[int, np.ndarray]) -> float:
    """sum over groups of sum_r c_r T_K(v_r), with `tensors[K]` as d^K f."""
    return sum(
        c * pure(tensors[g.order], v)
        for g in spec.groups
        for v, c in zip(g.directions, g.weights, strict=True)
    )


@pytest.mark.parametrize("D", [1, 2, 4])
def test_biharmonic_spec(D):
    spec = S.biharmonic(D)
    (group,) = spec.groups
    assert group.order == 4
    assert (
        group.count == (3 * D * D - D) // 2
    )  # e_a, e_a + e_b, 3 e_a + e_b, e_a + 3 e_b
    A = random_symmetric(4, D, np.random.default_rng(D))
    exact = sum(A[a, a, b, b] for a in range(D) for b in range(D))
    assert apply_groups(spec, {4: A}) == pytest.approx(exact, rel=1e-12)


def test_laplacian_spec():
    spec = S.laplacian(3)
    (group,) = spec.groups
    np.testing.assert_array_equal(group.directions, np.eye(3))
    assert group.weights == (1.0, 1.0, 1.0) and group.order == 2


def test_linear_operator_spec_mixed_orders():
    D = 3
    terms = {
        (0, 0): 1.5,
        (0, 1): -2.0,
        (2,): 0.5,
        (1, 1, 2): 3.0,
        (0, 1, 2): -1.0,
        (): 4.0,
    }
    spec = S.linear_operator(D, terms)
    assert [g.order for g in spec.groups] == [1, 2, 3]
    assert spec.constant == 4.0
    rng = np.random.default_rng(7)
    tensors = {k: random_symmetric(k, D, rng) for k in (1, 2, 3)}
    exact = sum(c * tensors[len(key)][key] for key, c in terms.items() if key)
    assert apply_groups(spec, tensors) == pytest.approx(exact, rel=1e-12)


def test_linear_operator_merges_equal_directions():
    # d^2/dx0^2 + d^2/dx0 dx1: the (1,1) expansion uses 2 e_0, merged with e_0
    spec = S.linear_operator(2, {(0, 0): 1.0, (0, 1): 1.0})
    rows = [tuple(r) for r in spec.groups[0].directions]
    assert len(rows) == len(set(rows)) == 3  # e_0, e_0 + e_1, e_1


@pytest.mark.parametrize(
    "C",
    [
        np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 3.0]]),  # SPD
        np.array([[1.0, 2.0, 0.0], [2.0, -1.0, 0.5], [0.0, 0.5, 0.0]]),  # indefinite
        np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),  # singular
    ],
)
def test_weighted_laplacian_from_coefficients(C):
    (group,) = S.weighted_laplacian(3, coefficients=C).groups
    V, c = group.directions, np.array(group.weights)
    np.testing.assert_allclose((V.T * c) @ V, C, rtol=0, atol=1e-13)
    assert set(group.weights) <= {1.0, -1.0}
    assert group.count == np.linalg.matrix_rank(C)


def test_weighted_laplacian_from_factor():
    F = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, -1.0]])
    (group,) = S.weighted_laplacian(3, factor=F).groups
    np.testing.assert_array_equal(group.directions, F.T)
    assert group.weights == (1.0, 1.0)


def test_randomized_specs():
    lap = S.laplacian(4, randomization=("rademacher", 5))
    (g,) = lap.groups
    assert g.is_random and g.count == 5 and g.weights == (0.2,) * 5
    bih = S.biharmonic(4, randomization=("normal", 6))
    (g,) = bih.groups
    assert g.order == 4 and g.weights == pytest.approx((1 / 18,) * 6)
    C = np.array([[1.0, 0.0], [0.0, -2.0]])
    (g,) = S.weighted_laplacian(2, coefficients=C, randomization=("normal", 3)).groups
    assert g.count == 6 and g.weights == pytest.approx((1 / 3,) * 3 + (-1 / 3,) * 3)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_sampled_directions_match_their_second_moment(dtype):
    """E[sum_r c_r v_r v_r^T] = C for the randomized weighted Laplacian."""
    C = np.array([[1.0, 0.5, 0.0], [0.5, -2.0, 0.0], [0.0, 0.0, 0.5]])
    for distribution in ("rademacher", "normal"):
        (g,) = S.weighted_laplacian(
            3, coefficients=C, randomization=(distribution, 20000)
        ).groups
        v = sample_directions(
            g.random,
            batch=2,
            input_shape=(3,),
            dtype=dtype,
            generator=torch.Generator().manual_seed(0),
        )
        assert v.shape == (g.count, 2, 3) and v.dtype == dtype
        v = v.double()
        w = torch.tensor(g.weights, dtype=torch.float64)
        moment = torch.einsum("r,rni,rnj->nij", w, v, v)
        np.testing.assert_allclose(moment.numpy(), np.stack([C, C]), atol=0.1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_laplacian_directions_are_drawn_in_the_operators_dtype(dtype):
    """The plain Laplacian's directions are the draw itself (no transform),
    drawn in the operator's dtype: a float64 draw cast to float32 took six
    times as long (`sampling.sample_directions`)."""
    (g,) = S.laplacian(5, randomization=("normal", 3)).groups
    v = sample_directions(g.random, 4, (5,), dtype, torch.Generator().manual_seed(7))
    z = torch.randn((3, 4, 5), generator=torch.Generator().manual_seed(7), dtype=dtype)
    assert torch.equal(v, z)


def test_rademacher_directions_are_signs():
    (g,) = S.laplacian(3, randomization=("rademacher", 7)).groups
    v = sample_directions(
        g.random, 4, (3,), torch.float32, torch.Generator().manual_seed(1)
    )
    assert v.dtype == torch.float32 and v.shape == (7, 4, 3)
    assert set(v.unique().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: S.weighted_laplacian(2, coefficients=np.eye(3)), "2 x 2"),
        (lambda: S.weighted_laplacian(2), "exactly one of"),
        (
            lambda: S.weighted_laplacian(2, coefficients=np.eye(2), factor=np.eye(2)),
            "exactly one of",
        ),
        (
            lambda: S.weighted_laplacian(2, factor=np.ones((3, 1))),
            "factor must be 2 x R",
        ),
        (lambda: S.biharmonic(3, randomization=("rademacher", 4)), "biased"),
        (lambda: S.laplacian(3, randomization=("uniform", 4)), "unknown randomization"),
        (lambda: S.laplacian(3, randomization=("normal", 0)), "at least one sample"),
        (lambda: S.laplacian(3, randomization="normal"), "distribution, samples"),
        (lambda: S.linear_operator(2, {(0, 2): 1.0}), "index 2 is out of range"),
        (lambda: S.linear_operator(2, {(0, 1.5): 1.0}), "must be integers"),
        (lambda: S.linear_operator(2, {}), "at least one term"),
        (
            lambda: S.linear_operator(2, {(0,): 1.0}, randomization=("normal", 2)),
            "no randomized",
        ),
    ],
)
def test_bad_operator_requests_are_named(make, message):
    with pytest.raises(S.OperatorSpecError, match=message):
        make()

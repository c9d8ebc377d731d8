"""The lifted operator's chunked and block-sparse products against plain loops.

``dual_norms``, ``adjoint``, ``predict`` and ``max_violation`` avoid arrays
the size of the lifted problem (patterns a few at a time, zero blocks
skipped); here each is recomputed group by group from the formulas of
FORMULATION.md (sections 4 and 7) with the arrangements' own masks.
"""

import numpy as np
import pytest

from convexrelu import sample_arrangements
from convexrelu.operator import LiftedOperator


def _problem(seed, n=30, d=3, P=7, m=2, C=2):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.standard_normal((n, d)), np.ones(n)])
    arr = sample_arrangements(X, P, m, random_state=seed)
    return rng, X, arr, LiftedOperator(X, arr, n_outputs=C)


def _group_vector(arr, X, V, lam1, lam2, o, si, t, j):
    """``sig s D1 D2 V_o + (2 D1 - 1) lam1 + s D1 (2 D2 - 1) lam2`` of one group."""
    sig = 1.0 if si == 0 else -1.0
    s, D1, D2 = arr.signs[t, j], arr.first[t, :, j].astype(float), arr.second[t].astype(float)
    g = sig * s * D1 * D2 * V[:, o]
    if lam1 is not None:
        g = g + (2 * D1 - 1) * lam1[:, o, si, t, j] + s * D1 * (2 * D2 - 1) * lam2[:, o, si, t]
    return g


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("max_entries", [1, 500, 2 ** 21])
def test_dual_norms_and_adjoint_match_group_loops(seed, max_entries):
    rng, X, arr, op = _problem(seed)
    n, C, P, m = op.n_samples, op.n_outputs, op.n_patterns, op.n_hidden
    V = rng.standard_normal((n, C))
    lam1 = np.abs(rng.standard_normal((n, C, 2, P, m)))
    lam2 = np.abs(rng.standard_normal((n, C, 2, P)))
    norms = op.dual_norms(V, lam1, lam2, max_entries=max_entries)
    gated = op.dual_norms(V, max_entries=max_entries)
    adj = op.adjoint(V, max_entries=max_entries)
    for o in range(C):
        for si in range(2):
            for t in range(P):
                for j in range(m):
                    g = X.T @ _group_vector(arr, X, V, lam1, lam2, o, si, t, j)
                    assert norms[o, si, t, j] == pytest.approx(np.linalg.norm(g), rel=1e-12)
                    g0 = X.T @ _group_vector(arr, X, V, None, None, o, si, t, j)
                    assert gated[o, si, t, j] == pytest.approx(np.linalg.norm(g0), rel=1e-12)
                    np.testing.assert_allclose(adj[o, si, t, j], g0,
                                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_predict_and_violation_skip_zero_blocks_exactly(seed):
    rng, X, arr, op = _problem(seed)
    C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
    U = rng.standard_normal(op.var_shape)
    # Most blocks zero, as in a solution; one block with a single zero group.
    U[:, :, 2:] = 0.0
    U[0, 1, 0, 0] = 0.0
    F = np.zeros((X.shape[0], C))
    worst, scale = 0.0, 0.0
    for o in range(C):
        for si, sig in enumerate((1.0, -1.0)):
            for t in range(P):
                D2 = arr.second[t].astype(float)
                h = np.zeros(X.shape[0])
                for j in range(m):
                    z = X @ U[o, si, t, j]
                    D1 = arr.first[t, :, j].astype(float)
                    h += arr.signs[t, j] * D1 * z
                    worst = max(worst, float(np.max(-(2 * D1 - 1) * z)))
                    scale = max(scale, float(np.max(np.abs(z))))
                worst = max(worst, float(np.max(-(2 * D2 - 1) * h)))
                F[:, o] += sig * D2 * h
    np.testing.assert_allclose(op.predict(U), F, rtol=1e-12, atol=1e-12)
    assert op.max_violation(U) == pytest.approx(worst / scale, rel=1e-12)
    assert op.max_violation(U, op.xu(U)) == pytest.approx(worst / scale, rel=1e-12)
    assert op.max_violation(np.zeros(op.var_shape)) == 0.0
    np.testing.assert_array_equal(op.predict(np.zeros(op.var_shape)), 0.0)

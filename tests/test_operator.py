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


def _sparse_multipliers(rng, n, NB, m, held_blocks, rows_per_block):
    """Dense multipliers that are zero except on a few rows of a few blocks."""
    lam1 = np.zeros((n, NB, m))
    lam2 = np.zeros((n, NB))
    for b in held_blocks:
        rows = rng.choice(n, rows_per_block, replace=False)
        lam1[rows, b] = np.abs(rng.standard_normal((rows_per_block, m)))
        lam2[rows[::2], b] = np.abs(rng.standard_normal(len(rows[::2])))
    return lam1, lam2


@pytest.mark.parametrize("seed, n_held", [(0, 6), (1, 6), (2, 20)])
def test_block_multipliers_store_and_dual_ratios_match_dense(seed, n_held, monkeypatch):
    # The fast solver holds every block's multipliers by their non-zero rows:
    # what it reads back, and the dual ratios it certifies with, must be the
    # dense arrays' (ratios recomputed here by the chunked dense dual_norms).
    from convexrelu.solvers import _multipliers
    from convexrelu.solvers._multipliers import BlockMultipliers

    rng, X, arr, op = _problem(seed, n=40)
    n, C, P, m = op.n_samples, op.n_outputs, op.n_patterns, op.n_hidden
    NB = C * 2 * P
    held = rng.choice(NB, n_held, replace=False)
    lam1, lam2 = _sparse_multipliers(rng, n, NB, m, np.r_[held[:4], held[6:]], rows_per_block=3)
    lam1[:, held[4]] = np.abs(rng.standard_normal((n, m)))          # a dense block
    lam2[:, held[5]] = np.abs(rng.standard_normal(n))               # lam2 only
    lam1[0, held[0], 0] = -1.0                                      # clipped at zero
    store = BlockMultipliers.from_dense(lam1, lam2)
    want1, want2 = np.maximum(lam1, 0.0), lam2
    got1, got2 = store.dense()
    np.testing.assert_array_equal(got1, want1)
    np.testing.assert_array_equal(got2, want2)
    assert sorted(store.blocks) == sorted(held)
    assert store.nbytes < 0.5 * (lam1.nbytes + lam2.nbytes)

    V = rng.standard_normal((n, C))
    alpha = 0.7
    gated = op.dual_norms(V).reshape(NB, m).max(axis=1) / alpha
    dense = op.dual_norms(V, want1.reshape((n,) + op.var_shape[:-1]),
                          want2.reshape((n,) + op.var_shape[:-2]))
    want = dense.reshape(NB, m).max(axis=1) / alpha
    # The dense pass of small problems, and block by block (as for large ones).
    np.testing.assert_allclose(store.ratios(op, V, alpha, gated), want, rtol=1e-12)
    monkeypatch.setattr(_multipliers, "_MAX_ENTRIES", 2 * n * m)
    np.testing.assert_allclose(store.ratios(op, V, alpha, gated), want, rtol=1e-12)

    # Reading some blocks, overwriting, clearing.
    sub = np.array([held[0], held[4], (held[0] + 1) % NB])
    g1, g2 = store.get(sub)
    np.testing.assert_array_equal(g1, want1[:, sub])
    np.testing.assert_array_equal(g2, want2[:, sub])
    store.set(sub[:1], np.zeros((n, 1, m)), np.zeros((n, 1)))
    store.clear(sub[1:2])
    assert held[0] not in store.blocks and held[4] not in store.blocks
    assert len(store) == n_held - 2
    store.clear()
    assert len(store) == 0 and not store.dense()[0].any()


def test_duality_gap_with_a_given_dual_ratio_is_the_dense_one():
    from convexrelu.duality import duality_gap
    from convexrelu.losses import SquaredLoss

    rng, X, arr, op = _problem(3, C=1)
    n, P, m = op.n_samples, op.n_patterns, op.n_hidden
    U = np.zeros(op.var_shape)
    U[0, 0, 1] = rng.standard_normal((m, X.shape[1]))
    Y = rng.standard_normal((n, 1))
    w = np.full(n, 1.0 / n)
    lam1, lam2 = _sparse_multipliers(rng, n, 2 * P, m, [0, 3], rows_per_block=4)
    lam1 = lam1.reshape((n,) + op.var_shape[:-1])
    lam2 = lam2.reshape((n,) + op.var_shape[:-2])
    loss, alpha = SquaredLoss(), 0.05
    ref = duality_gap(op, loss, Y, w, U, alpha, fit_intercept=True, lam1=lam1, lam2=lam2)
    V = -loss.gradient(op.predict(U) + ref.intercept, Y, w)
    ratio = float(op.dual_norms(V, lam1, lam2).max()) / alpha
    assert ratio > 1.0          # the scaling matters
    got = duality_gap(op, loss, Y, w, U, alpha, fit_intercept=True, dual_ratio=ratio)
    assert got.gap == pytest.approx(ref.gap, rel=1e-12)
    assert got.dual_scale == pytest.approx(ref.dual_scale, rel=1e-12)
    # ... and a wrong ratio gives a different certificate.
    assert duality_gap(op, loss, Y, w, U, alpha, fit_intercept=True,
                       dual_ratio=2 * ratio).gap > ref.gap


def test_squared_outputs_are_certified_each_at_its_own_scale():
    # A squared loss with two outputs is two programs: each output's blocks
    # constrain its own column of V.  The certificate of the whole is the
    # sum of the outputs' own (one scale for all would charge the solved
    # output the other's infeasibility, to first order: five solved outputs
    # of sklearn's check_regressor_multioutput were reported at gap 1.9e-6).
    from convexrelu import solve_convex
    from convexrelu.duality import duality_gap
    from convexrelu.losses import SquaredLoss

    rng, X, arr, op = _problem(4, n=40, C=2)
    Y = np.column_stack([np.maximum(X[:, 0], 0) - X[:, 1], rng.standard_normal(len(X))])
    alpha = 0.02
    res = solve_convex(X, Y, arr, alpha, fit_intercept=True, solver="fast", tol=1e-10)
    assert res.converged
    lam1, lam2 = res.lam1.copy(), res.lam2.copy()
    lam1[:, 1], lam2[:, 1] = 0.0, 0.0           # output 1's multipliers dropped
    loss, w = SquaredLoss(), np.full(len(X), 1.0 / len(X))
    whole = duality_gap(op, loss, Y, w, res.u, alpha, fit_intercept=True, lam1=lam1, lam2=lam2)
    one = LiftedOperator(X, arr, n_outputs=1)
    parts = [duality_gap(one, loss, Y[:, [o]], w, res.u[o:o + 1], alpha, fit_intercept=True,
                         lam1=lam1[:, o:o + 1], lam2=lam2[:, o:o + 1]) for o in range(2)]
    assert parts[1].dual_scale < 0.99 and parts[0].relative_gap <= 1e-9
    assert whole.gap == pytest.approx(parts[0].gap + parts[1].gap, rel=1e-9)
    np.testing.assert_allclose(whole.dual_scale, [p.dual_scale for p in parts], rtol=1e-12)
    for o in range(2):
        np.testing.assert_allclose(whole.dual_point[:, o], parts[o].dual_point[:, 0],
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(whole.lam1[:, o], parts[o].lam1[:, 0], rtol=1e-12)
    # The scaled pair is feasible: no group norm above alpha.
    assert op.dual_norms(whole.dual_point, whole.lam1, whole.lam2).max() <= alpha * (1 + 1e-12)

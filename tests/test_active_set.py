"""The active-set method (convexrelu/solvers/_active_set.py).

Warm-started solves against Clarabel's optimum, its Newton steps by output
against dense ones, when it is used and when it hands over to the interior
point, and its certificate on the working set.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from convexrelu import solve_convex

from solver_cases import count_calls, hand_gap, make_problem, restricted_status


def test_active_set_declines_a_face_above_the_dense_cap(monkeypatch):
    """A face whose Newton matrix would exceed ``DENSE_FALLBACK_MAX_BYTES`` is
    declined (status "failed") before anything is allocated; the interior
    point then takes the round and the optimum is Clarabel's."""
    from convexrelu.solvers import _newton_systems, fast

    X, y, arr, alpha = make_problem(46, 60, 3, 1, "squared", n_patterns=6, alpha_frac=0.1)
    statuses = count_calls(monkeypatch, fast, "solve_restricted_active_set",
                            record=restricted_status)
    ref = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="cvxpy", tol=1e-9)
    warm = solve_convex(X, y, arr, 1.5 * alpha, fit_intercept=True, tol=1e-8)
    solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8, warm_start=warm)
    assert "optimal" in statuses                      # the method runs under the cap
    statuses.clear()
    monkeypatch.setattr(_newton_systems, "DENSE_FALLBACK_MAX_BYTES", 1)
    ours = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8, warm_start=warm)
    assert statuses and set(statuses) == {"failed"}
    assert ours.converged and ours.relative_gap <= 1e-8
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


def test_line_search_walks_every_dependent_row(monkeypatch):
    """Rows repeated 25 times (and a column that is the sum of two others):
    each constraint row has 24 copies, which block a step together and all
    but one of which depend on the held rows.  The line search holds them
    without changing the step; with the former limit of 1000 rows walked
    per line search the method failed on this path (UCI naval, X of rank
    14 of 17, failed so on every round of a path point, left unconverged)."""
    from convexrelu import convex_path, sample_arrangements
    from convexrelu.solvers import _line_search, fast

    rng = np.random.default_rng(0)
    Z = np.repeat(rng.standard_normal((40, 3)), 25, axis=0)
    X = np.hstack([Z, Z[:, :1] + Z[:, 1:2], np.ones((len(Z), 1))])
    y = np.maximum(Z[:, 0], 0) - np.maximum(Z[:, 1] - 0.5, 0) + 0.1 * rng.standard_normal(len(Z))
    arr = sample_arrangements(X, 12, 2, random_state=0)
    statuses = count_calls(monkeypatch, fast, "solve_restricted_active_set",
                           record=restricted_status)
    path = convex_path(X, y, arr, n_alphas=10, eps=1e-3, fit_intercept=True, tol=1e-6)
    assert all(r.converged for r in path.results)
    assert statuses.count("optimal") >= 10 and "failed" not in statuses
    statuses.clear()
    monkeypatch.setattr(_line_search, "WALK_ROWS_MOST", 1000)
    former = convex_path(X, y, arr, n_alphas=10, eps=1e-3, fit_intercept=True, tol=1e-6)
    assert "failed" in statuses                       # the data exercise the walk
    np.testing.assert_allclose(path.objectives, former.objectives, rtol=1e-7)


def test_line_search_steps_stay_feasible(monkeypatch):
    """``benchmarks/random_sweep.py``'s seed 7842 (39 rows, no intercept; its
    first output): a line search held rows whose system was ill-conditioned
    (pivots of 2e-5 of ``a^T H^-1 a``) and rows just below the dependence
    threshold, and its step raised the rows' violation from 1e-14 to 3.8e-3
    (relative); the method then returned "optimal" at an infeasible point.
    Steps are now cut where a row would fall below the solver's feasibility
    tolerance."""
    import sys
    from pathlib import Path

    from convexrelu.solvers import _active_set

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from random_sweep import draw

    X, y, arr, alpha, loss, fit_intercept, sw, _ = draw(7842)
    worst = []
    real = _active_set._ActiveSet.line_search

    def line_search(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        worst.append(self.violation())
        return out

    monkeypatch.setattr(_active_set._ActiveSet, "line_search", line_search)
    res = solve_convex(X, y[:, 0], arr, alpha, loss=loss, fit_intercept=fit_intercept,
                       sample_weight=sw, tol=1e-7)
    assert len(worst) >= 5
    assert max(worst) <= 1e-7
    assert res.converged and res.constraint_violation <= 1e-8


def test_feasible_fraction_holds_rows_at_the_current_points_scale():
    """A step whose end point is 15 times larger (max |Z| 279 from 18.3) but
    of which only a tiny fraction is taken: a row starting just inside the
    feasibility tolerance (1e-8 of max |Z|) ends within it too, at the scale
    of the point reached.  Measured against the end point's scale, the
    fraction let the row fall to 1.5e-7 (``random_sweep.py`` seed 7842 with
    numpy 1.24 and scipy 1.10)."""
    from convexrelu.solvers import _FEASIBILITY_RTOL
    from convexrelu.solvers._line_search import LineSearch

    class Rows(LineSearch):
        def slacks(self, Z):
            return Z, Z.sum(axis=1, keepdims=True)

    ls = Rows()
    ls.Zs = np.array([[18.3, -1.2e-7], [5.0, 1.0]])
    dZ = np.array([[260.8, -98.0], [1.0, 1.0]])
    rows1 = np.ones((2, 2), bool)
    rows2 = np.zeros((2, 1), bool)
    t = ls._feasible_fraction(rows1, rows2, ls.slacks(ls.Zs), dZ)
    Zt = ls.Zs + t * dZ
    assert 0.0 < t < 1e-8
    assert Zt[0, 1] >= -_FEASIBILITY_RTOL * np.abs(Zt).max() * (1 + 1e-9)
    # a row already below the tolerance is not pushed further down
    ls.Zs[0, 1] = -5e-7
    t = ls._feasible_fraction(rows1, rows2, ls.slacks(ls.Zs), dZ)
    assert t == 0.0


def test_active_set_softmax_face_by_output_needs_no_dense_face(monkeypatch):
    """A softmax face solved output by output holds each output's diagonal block
    only: with the dense-face cap at one byte the method still solves it."""
    from convexrelu.solvers import _active_set, _newton_systems, fast

    X, y, arr, alpha = make_problem(14, 70, 3, 2, "cross_entropy", n_patterns=10, alpha_frac=0.15)
    first = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-8)
    statuses = count_calls(monkeypatch, fast, "solve_restricted_active_set",
                            record=restricted_status)
    asked = []
    monkeypatch.setattr(_active_set, "_by_output_pays",
                        lambda n, p, cols: asked.append(1) or True)
    monkeypatch.setattr(_newton_systems, "DENSE_FALLBACK_MAX_BYTES", 1)
    ours = solve_convex(X, y, arr, 0.8 * alpha, loss="cross_entropy", fit_intercept=True,
                        tol=1e-8, warm_start=first)
    assert asked, "_by_output_pays was not asked: the patch is on the wrong function"
    assert statuses[0] == "optimal"
    ref = solve_convex(X, y, arr, 0.8 * alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-9)
    assert ours.converged and ours.objective == pytest.approx(ref.objective, rel=1e-6)


@pytest.mark.parametrize("loss,seed,n,d,m,fit_intercept", [
    ("squared", 10, 60, 3, 2, False), ("squared", 11, 80, 4, 2, True),
    ("squared", 12, 100, 3, 3, True), ("logistic", 10, 60, 3, 2, True),
    ("logistic", 13, 120, 5, 2, False), ("cross_entropy", 10, 60, 3, 2, True)])
def test_active_set_warm_start_matches_clarabel(loss, seed, n, d, m, fit_intercept):
    """A warm start from a nearby alpha is finished by the active-set method.

    The first round must come from it (not the interior point), and the
    result must be the certified optimum: Clarabel's objective, the
    constraints, and a duality gap recomputed by hand.
    """
    X, y, arr, alpha = make_problem(seed, n, d, m, loss, n_patterns=15, alpha_frac=0.15)
    first = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept, tol=1e-8)
    warm = solve_convex(X, y, arr, 0.8 * alpha, loss=loss, fit_intercept=fit_intercept,
                        tol=1e-8, warm_start=first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, 0.8 * alpha, loss=loss, fit_intercept=fit_intercept,
                           solver="cvxpy", tol=1e-9)
    assert warm.history[0]["inner"] == "active_set"
    assert warm.converged and warm.relative_gap <= 1e-8
    assert warm.objective == pytest.approx(ref.objective, rel=1e-6)
    assert warm.constraint_violation <= 1e-8
    primal, dual, worst = hand_gap(warm, X, y, 0.8 * alpha)
    assert worst <= 1 + 1e-9
    assert primal - dual == pytest.approx(warm.dual_gap, rel=1e-6, abs=1e-13)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_active_set_newton_by_output_matches_dense(fit_intercept, monkeypatch):
    """The active-set method's face Newton systems for a softmax, solved output
    by output (face blocks plus the rank-one parts through Woodbury), give the
    same warm-started optimum as the dense face matrix, and Clarabel's; the
    outputs' ``Z`` are written into one array that the capacitance product
    takes as it is (no copy per Newton step)."""
    from convexrelu.solvers import _active_set

    real_solver, shared = _active_set.by_output_solver, []

    def recording(outputs, *args, joint_Z=None, **kwargs):
        shared.append(joint_Z is not None
                      and all(np.shares_memory(out.Z, joint_Z) for out in outputs.values()))
        return real_solver(outputs, *args, joint_Z=joint_Z, **kwargs)

    monkeypatch.setattr(_active_set, "by_output_solver", recording)

    X, y, arr, alpha = make_problem(14, 70, 3, 2, "cross_entropy", n_patterns=10, alpha_frac=0.15)
    first = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=fit_intercept,
                         tol=1e-8)
    calls = []
    real = _active_set._ActiveSet.by_output

    def checked(self, diag_blocks, J, cols, Hl, parts):
        # Each split solve against numpy's solve of the face matrix formed
        # sample by sample: curvature blocks + Psi^T Hl Psi (+ flat direction).
        solve = real(self, diag_blocks, J, cols, Hl, parts)
        n, p_u = J.shape
        out_col = np.empty(p_u, dtype=int)
        for o, co in cols.items():
            out_col[co] = o
        C = Hl.shape[1]
        p = p_u + (C if fit_intercept else 0)
        H = np.zeros((p, p))
        for o, co in cols.items():
            H[co, co] = diag_blocks[o]
        Psi = np.zeros((n, C, H.shape[0]))
        Psi[:, out_col, np.arange(p_u)] = J
        if fit_intercept:
            Psi[:, np.arange(C), p_u + np.arange(C)] = 1.0
        dense = H + np.einsum("noi,nop,npj->ij", Psi, Hl, Psi)
        if fit_intercept:
            dense[p_u:, p_u:] += np.trace(Hl.sum(axis=0)) / C ** 2
        rhs = np.random.default_rng(len(calls)).standard_normal(H.shape[0])
        np.testing.assert_allclose(solve(rhs), np.linalg.solve(dense, rhs), rtol=1e-6,
                                   atol=1e-9 * np.abs(np.linalg.solve(dense, rhs)).max())
        calls.append(1)
        return solve

    monkeypatch.setattr(_active_set._ActiveSet, "by_output", checked)
    out = {}
    for split in (True, False):
        calls.clear()
        monkeypatch.setattr(_active_set, "_by_output_pays", lambda n, p, cols: split)
        out[split] = solve_convex(X, y, arr, 0.8 * alpha, loss="cross_entropy",
                                  fit_intercept=fit_intercept, tol=1e-8, warm_start=first)
        assert out[split].history[0]["inner"] == "active_set"
        assert (len(calls) > 0) == split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, 0.8 * alpha, loss="cross_entropy",
                           fit_intercept=fit_intercept, solver="cvxpy", tol=1e-9)
    assert out[True].converged and out[True].relative_gap <= 1e-8
    assert shared and all(shared)
    assert out[True].objective == pytest.approx(out[False].objective, rel=1e-9)
    assert out[True].objective == pytest.approx(ref.objective, rel=1e-6)


def test_active_set_is_skipped_for_large_alpha_steps():
    """From an alpha more than about twice away the interior point takes the round."""
    X, y, arr, alpha = make_problem(10, 60, 3, 2, "squared", n_patterns=15, alpha_frac=0.15)
    first = solve_convex(X, y, arr, alpha, tol=1e-8)
    far = solve_convex(X, y, arr, 0.3 * alpha, tol=1e-8, warm_start=first)
    near = solve_convex(X, y, arr, 0.8 * alpha, tol=1e-8, warm_start=first)
    assert far.history[0]["inner"] == "ipm"
    assert near.history[0]["inner"] == "active_set"
    off = solve_convex(X, y, arr, 0.8 * alpha, tol=1e-8, warm_start=first, active_set=False)
    assert off.history[0]["inner"] == "ipm"
    assert near.objective == pytest.approx(off.objective, rel=1e-8)


def test_infeasible_warm_start_goes_to_the_interior_point():
    """A warm start that violates this data's constraints (a CV refit starts
    from the mean of its folds' solutions, each feasible on its own rows):
    the active-set method, which moves between faces of the feasible set,
    refuses it, and the solve reaches Clarabel's optimum, feasible.  (It used
    to return a 2.5% infeasible "optimal" face, left to the certificate.)"""
    from convexrelu import LiftedOperator
    from convexrelu.losses import get_loss
    from convexrelu.solvers._active_set import solve_restricted_active_set

    X, y, arr, alpha = make_problem(22, 80, 3, 2, "squared", n_patterns=12, alpha_frac=0.1)
    n = X.shape[0]
    # Feasible on the first 60 rows only.
    part = solve_convex(X[:60], y[:60], arr.recompute(X[:60]), alpha, fit_intercept=True,
                        tol=1e-9)
    op = LiftedOperator(X, arr)
    assert op.max_violation(part.u) > 1e-3
    NB, m, d = 2 * arr.n_patterns, arr.n_hidden, X.shape[1]
    U0 = np.asarray(part.u).reshape(NB, m, d)
    blocks = np.flatnonzero(np.linalg.norm(U0.reshape(NB, -1), axis=1) > 0)
    *_, status = solve_restricted_active_set(
        op, get_loss("squared"), y[:, None], np.full(n, 1.0 / n), alpha, blocks,
        U0[blocks], np.asarray(part.intercept), fit_intercept=True)
    assert status == "failed"
    res = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8, warm_start=part)
    assert res.history[0]["inner"] != "active_set"
    assert res.converged and res.constraint_violation <= 1e-8
    ref = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="cvxpy", tol=1e-9)
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)


def test_active_set_restricted_solve_certifies_its_working_set():
    """The active-set method alone, on a working set, from a perturbed start.

    Its restricted optimum equals Clarabel's on the same blocks, and the
    multipliers it returns satisfy the blocks' dual constraints.
    """
    from convexrelu import LiftedOperator
    from convexrelu.losses import get_loss
    from convexrelu.solvers._active_set import solve_restricted_active_set
    from convexrelu.solvers._restricted import solve_restricted

    X, y, arr, alpha = make_problem(21, 80, 3, 2, "squared", n_patterns=12, alpha_frac=0.1)
    n = X.shape[0]
    op = LiftedOperator(X, arr)
    loss = get_loss("squared")
    Y, w = y[:, None], np.full(n, 1.0 / n)
    start = solve_convex(X, y, arr, 1.2 * alpha, fit_intercept=True, tol=1e-9)
    NB, m, d = 2 * arr.n_patterns, arr.n_hidden, X.shape[1]
    U0 = np.asarray(start.u).reshape(NB, m, d)
    blocks = np.flatnonzero(np.linalg.norm(U0.reshape(NB, -1), axis=1) > 0)
    # Two zero blocks join the set: they must be certified or enter.
    blocks = np.union1d(blocks, np.setdiff1d(np.arange(NB), blocks)[:2])
    Ub, b, l1, l2, status = solve_restricted_active_set(
        op, loss, Y, w, alpha, blocks, U0[blocks], np.asarray(start.intercept),
        fit_intercept=True, tol=1e-10)
    assert status == "optimal"
    Uc, bc, _, _, _ = solve_restricted(op, loss, Y, w, alpha, blocks,
                                       np.ones((n, len(blocks), m), bool),
                                       np.ones((n, len(blocks)), bool),
                                       fit_intercept=True, tol=1e-10)

    def objective(Ublocks, intercept):
        U = np.zeros((NB, m, d))
        U[blocks] = Ublocks
        F = op.predict(U.reshape(op.var_shape))[:, 0] + intercept[0]
        return 0.5 * np.mean((F - y) ** 2) + alpha * np.linalg.norm(Ublocks, axis=-1).sum()

    assert objective(Ub, b) == pytest.approx(objective(Uc, bc), rel=1e-8)
    # Dual feasibility of the returned multipliers on every group of W.
    U = np.zeros((NB, m, d))
    U[blocks] = Ub
    F = op.predict(U.reshape(op.var_shape))[:, 0] + b[0]
    V = (y - F) / n
    P = arr.n_patterns
    sig = np.array([1.0, -1.0])
    for k, blk in enumerate(blocks):
        s_i, t = divmod(int(blk), P)
        for j in range(m):
            D1, D2 = arr.first[t, :, j].astype(float), arr.second[t].astype(float)
            g = (sig[s_i] * arr.signs[t, j] * D1 * D2 * V + (2 * D1 - 1) * l1[:, k, j]
                 + arr.signs[t, j] * D1 * (2 * D2 - 1) * l2[:, k])
            assert np.linalg.norm(X.T @ g) <= alpha * (1 + 1e-7)


@pytest.mark.parametrize("loss,m,fit_intercept", [("squared", 2, True),
                                                  ("cross_entropy", 3, False)])
def test_face_records_match_their_definitions(loss, m, fit_intercept, monkeypatch):
    """Every face a warm-started solve steps on: the cached record's rows,
    basis, responses and Gram blocks against a direct construction at the
    step, and the norms' curvature the step assembles from them,
    ``c_j (G_j - w_j w_j^T)``, against ``Z^T P Z`` with ``P`` block diagonal,
    ``P_j = alpha (I - u_j u_j^T / |u_j|^2) / |u_j|``."""
    from convexrelu.solvers import _active_set

    X, y, arr, alpha = make_problem(12, 100, 3, m, loss, n_patterns=15, alpha_frac=0.15)
    first = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept, tol=1e-8)
    real = _active_set._ActiveSet.newton_step
    checked = []

    def newton_step(self, F, gF, gU, r, faces):
        d = self.d
        for bi, gs, (R, Zb, (i1, g1, i2), Jb, G) in faces:
            q = len(gs)
            g_idx = bi * self.m + gs
            # the rows: first-layer rows of the live groups, then the block's
            # second-layer rows, each at zero slack
            direct = []
            for i, g in zip(i1, g1):
                row = np.zeros(q * d)
                k = int(np.flatnonzero(g_idx == g)[0])
                row[k * d:(k + 1) * d] = self.E1[i, g] * X[i]
                direct.append(row)
            for i in i2:
                direct.append((self.W2[i, bi][gs, None] * X[i][None, :]).ravel())
            np.testing.assert_allclose(R, np.reshape(direct, (-1, q * d)), atol=0)
            assert self.act1[i1, g1].all() and self.act2[i2, bi].all()
            assert self.act1[:, g_idx].sum() == len(i1) and self.act2[:, bi].sum() == len(i2)
            k = Zb.shape[1]
            np.testing.assert_allclose(Zb.T @ Zb, np.eye(k), atol=1e-12)
            if len(R):
                assert np.abs(R @ Zb).max(initial=0.0) <= 1e-10 * np.abs(R).max()
                assert k == q * d - np.linalg.matrix_rank(R)
            Zg = Zb.reshape(q, d, k)
            J = sum(self.mask[:, g, None] * (X @ Zg[j]) for j, g in enumerate(g_idx))
            np.testing.assert_allclose(Jb, J, rtol=1e-12, atol=1e-12)
            for j in range(q):
                np.testing.assert_allclose(G[j], Zg[j].T @ Zg[j], atol=1e-14)
            P = np.zeros((q * d, q * d))
            for j, g in enumerate(g_idx):
                u = self.U[g] / r[g]
                P[j * d:(j + 1) * d, j * d:(j + 1) * d] = self.alpha / r[g] * (
                    np.eye(d) - np.outer(u, u))
            c = self.alpha / r[g_idx]
            w = np.einsum("jdk,jd->jk", Zg, self.U[g_idx] / r[g_idx, None])
            np.testing.assert_allclose((c @ G.reshape(q, -1)).reshape(k, k) - (w.T * c) @ w,
                                       Zb.T @ P @ Zb, rtol=1e-10, atol=1e-12)
            checked.append(len(R))
        return real(self, F, gF, gU, r, faces)

    monkeypatch.setattr(_active_set._ActiveSet, "newton_step", newton_step)
    warm = solve_convex(X, y, arr, 0.8 * alpha, loss=loss, fit_intercept=fit_intercept,
                        tol=1e-8, warm_start=first)
    assert warm.history[0]["inner"] == "active_set" and warm.converged
    assert len(checked) >= 5 and min(checked) > 0       # faces with active rows

"""The default ("fast") solver against CVXPY/Clarabel, and its certificate.

Every problem is small so the reference interior-point solve is quick; the
checks are those a user relies on: the same optimum (1e-6 relative), pattern
constraints to 1e-8, the extracted network's objective equal to the convex
one, and a duality gap recomputed here by hand (plain numpy, not
convexrelu.duality) equal to the stored one.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from convexrelu import (ConvexDeepReLURegressor, alpha_max, extract_network, sample_arrangements,
                        solve_convex)
from convexrelu.operator import group_norms
from convexrelu.solvers import _DEFAULT_SOLVER, available_solvers

from solver_cases import LOSSES, count_calls, hand_gap, make_problem, solver_cases


@pytest.mark.parametrize("loss,n,d,m,fit_intercept,frac,seed", solver_cases())
def test_matches_clarabel(loss, n, d, m, fit_intercept, frac, seed):
    X, y, arr, alpha = make_problem(seed, n, d, m, loss, alpha_frac=frac)
    # The certificate is the contract: a gap of tol bounds the objective's
    # error by tol, so tol must be at most the 1e-6 asked of the objective.
    tol = 1e-8 if loss == "squared" else 1e-6
    fast = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept,
                        solver="fast", tol=tol)
    with warnings.catch_warnings():
        # Only the reference's objective is used.
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept,
                           solver="cvxpy", tol=1e-8)
    assert fast.converged
    assert fast.relative_gap <= tol
    assert fast.objective <= ref.objective + 1e-6 * abs(ref.objective)
    if ref.relative_gap <= 1e-7:
        # Where the reference is itself certified, both optima agree.
        assert abs(fast.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    assert fast.constraint_violation <= 1e-8
    assert fast.relative_gap <= tol
    # The extracted network reproduces the convex objective.
    net = extract_network(fast)
    assert net.objective(X, y, alpha) == pytest.approx(fast.objective, rel=1e-7)
    # The certificate, recomputed by hand, is the stored one and is valid.
    primal, dual, worst = hand_gap(fast, X, y, alpha)
    assert worst <= 1 + 1e-9
    assert np.all(fast.lam1 >= 0) and np.all(fast.lam2 >= 0)
    assert primal == pytest.approx(fast.objective, rel=1e-10)
    assert dual == pytest.approx(fast.dual_objective, rel=1e-10, abs=1e-14)
    assert primal - dual == pytest.approx(fast.dual_gap, rel=1e-6, abs=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
def test_rows_of_zeros_carry_no_constraint(loss):
    # x_i = 0 makes every pattern row of sample i vanish identically: the
    # interior point must leave those rows out of its barrier (they have no
    # interior) instead of failing over to Clarabel; the optimum is the same.
    X, y, arr, alpha = make_problem(7, 40, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
    X = X.copy()
    X[[3, 17, 29]] = 0.0
    arr = sample_arrangements(X, 6, 2, random_state=7)
    fast = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="fast",
                        tol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                           tol=1e-8)
    assert fast.converged and fast.constraint_violation <= 1e-8
    assert all(h["inner"] != "clarabel" for h in fast.history)
    assert abs(fast.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    primal, dual, worst = hand_gap(fast, X, y, alpha)
    assert worst <= 1 + 1e-9
    assert primal - dual == pytest.approx(fast.dual_gap, rel=1e-6, abs=1e-13)


def test_certificate_without_multipliers_has_the_same_numbers():
    # duality_gap(return_multipliers=False), as the solver's rounds call it,
    # skips the scaled copy of the multipliers and nothing else.
    from convexrelu.duality import duality_gap
    from convexrelu.solvers import prepare_problem

    X, y, arr, alpha = make_problem(5, 40, 3, 2, "logistic", n_patterns=6, alpha_frac=0.1)
    res = solve_convex(X, y, arr, alpha, loss="logistic", fit_intercept=True)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, "logistic", None)
    # Multipliers off by a factor: the certificate must scale them.
    lam1, lam2 = 3.0 * res.lam1, 3.0 * res.lam2
    full = duality_gap(op, loss_obj, Y, w, res.u, alpha, fit_intercept=True,
                       lam1=lam1, lam2=lam2)
    bare = duality_gap(op, loss_obj, Y, w, res.u, alpha, fit_intercept=True,
                       lam1=lam1, lam2=lam2, return_multipliers=False)
    assert full.dual_scale < 1.0
    assert bare.lam1 is None and bare.lam2 is None
    np.testing.assert_allclose(full.lam1, full.dual_scale * lam1)
    for name in ("primal", "dual", "gap", "relative_gap", "dual_scale", "constraint_violation"):
        assert getattr(bare, name) == getattr(full, name)
    np.testing.assert_array_equal(bare.dual_point, full.dual_point)


def test_hand_gap_detects_a_bad_point():
    """The hand-written check is not vacuous: a perturbed point has a large gap."""
    X, y, arr, alpha = make_problem(3, 40, 2, 2, "squared")
    res = solve_convex(X, y, arr, alpha, solver="fast")
    res.intercept = res.intercept + 0.5
    primal, dual, _ = hand_gap(res, X, y, alpha)
    assert primal - dual > 1e-3 * primal


def test_is_default_and_cvxpy_still_available():
    assert _DEFAULT_SOLVER == "fast"
    assert {"fast", "cvxpy"} <= set(available_solvers())
    X, y, arr, alpha = make_problem(5, 30, 2, 2, "squared")
    assert solve_convex(X, y, arr, alpha).solver == "fast"
    assert solve_convex(X, y, arr, alpha, solver="CLARABEL").solver == "CLARABEL"


@pytest.mark.parametrize("loss", LOSSES)
def test_warm_start_from_solution_is_immediate(loss):
    X, y, arr, alpha = make_problem(11, 50, 3, 2, loss)
    first = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-6)
    again = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-6,
                         warm_start=first)
    assert again.converged
    assert again.n_iter <= 2
    assert again.objective == pytest.approx(first.objective, rel=1e-7)


def test_warm_start_along_a_path():
    X, y, arr, alpha = make_problem(12, 50, 3, 2, "squared")
    # (solved to 1e-8, compared at 1e-6: each certified objective may lie up
    # to tol above the optimum)
    first = solve_convex(X, y, arr, alpha, tol=1e-8)
    nxt = solve_convex(X, y, arr, 0.8 * alpha, tol=1e-8, warm_start=first)
    cold = solve_convex(X, y, arr, 0.8 * alpha, tol=1e-8)
    assert nxt.converged
    assert nxt.objective == pytest.approx(cold.objective, rel=1e-6)


def test_convergence_warning_when_max_iter_tiny():
    X, y, arr, alpha = make_problem(13, 60, 3, 2, "squared", n_patterns=12, alpha_frac=0.02)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=1\)\. Increase max_iter"):
        res = solve_convex(X, y, arr, alpha, max_iter=1, tol=1e-10, initial_blocks=1)
    assert not res.converged


def test_convergence_warning_before_max_iter_says_what_helps():
    """A solver that gives up before max_iter gets no "increase max_iter" advice.

    Clarabel stops at its own accuracy (about 1e-11 here) far below
    max_iter; the warning names the gap reached as the tol to ask for and
    the other solver, which reaches 1e-14 on the same problem.
    """
    X, y, arr, alpha = make_problem(3, 40, 3, 2, "squared", n_patterns=6)
    with pytest.warns(ConvergenceWarning, match="before max_iter") as record:
        res = solve_convex(X, y, arr, alpha, solver="cvxpy", tol=1e-14)
    message = str(record[0].message)
    assert res.n_iter < 1000 and "Increase max_iter" not in message
    assert f"{res.relative_gap:.0e}" in message and "solver='fast'" in message
    fast = solve_convex(X, y, arr, alpha, solver="fast", tol=1e-14)
    assert fast.converged and fast.relative_gap <= 1e-14


def test_verbose_prints_progress(capsys):
    X, y, arr, alpha = make_problem(14, 30, 2, 2, "squared")
    solve_convex(X, y, arr, alpha, verbose=True)
    out = capsys.readouterr().out
    assert "gap" in out and "active" in out and "obj" in out


def test_zero_solution_when_alpha_large():
    X, y, arr, alpha = make_problem(15, 30, 2, 2, "squared", alpha_frac=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = solve_convex(X, y, arr, alpha, fit_intercept=True)
    assert res.n_subnetworks == 0
    assert res.converged


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_multi_output_squared_splits_by_output(fit_intercept):
    # Three squared-loss outputs: the fast solver solves one program per
    # output; the whole program's optimum and certificate must come out.
    X, _, arr, alpha = make_problem(31, 50, 3, 2, "squared", n_patterns=6, alpha_frac=0.1)
    rng = np.random.default_rng(31)
    Y = np.column_stack([np.maximum(X[:, 0], 0), np.maximum(-X[:, 1], 0) - X[:, 2],
                         rng.standard_normal(len(X))])
    fast = solve_convex(X, Y, arr, alpha, fit_intercept=fit_intercept, solver="fast", tol=1e-8)
    ref = solve_convex(X, Y, arr, alpha, fit_intercept=fit_intercept, solver="cvxpy", tol=1e-9)
    assert fast.u.shape[0] == 3 and fast.converged
    assert fast.relative_gap <= 1e-8 and fast.constraint_violation <= 1e-8
    assert abs(fast.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    primal, dual, worst = hand_gap(fast, X, Y, alpha)
    assert worst <= 1 + 1e-9
    assert primal - dual == pytest.approx(fast.dual_gap, rel=1e-6, abs=1e-13)
    # Every output is fitted (the noise output is shrunk, not the others).
    norms = np.linalg.norm(fast.u, axis=-1).reshape(3, -1).sum(axis=1)
    assert norms[0] > 0 and norms[1] > 0


@pytest.mark.parametrize("step", [0.9, 0.8])
def test_strong_rule_predicts_the_next_active_blocks(step):
    from convexrelu.operator import group_norms
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._working_set import STRONG_RULE_MIN_STEP, _add_strong_rule_blocks

    rng = np.random.default_rng(5)
    X = np.hstack([rng.standard_normal((80, 3)), np.ones((80, 1))])
    y = np.sin(2 * X[:, 0]) + np.cos(3 * X[:, 1]) * X[:, 2]
    arr = sample_arrangements(X, 16, 2, random_state=5)
    alpha = 3e-2
    prev = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast", tol=1e-8)
    nxt = solve_convex(X, y, arr, step * alpha, fit_intercept=True, solver="fast", tol=1e-8)
    _, _, _, _, op = prepare_problem(X, y, arr, "squared", None)
    NB = 2 * op.n_patterns

    def active(res):
        return group_norms(res.u).reshape(NB, -1).max(axis=1) > 0

    entering = active(nxt) & ~active(prev)
    assert entering.any()                                 # the case is not trivial
    predicted = active(prev).copy()
    _add_strong_rule_blocks(op, predicted, prev, step * alpha)
    assert np.all(predicted[entering])                    # every new block predicted
    assert predicted.sum() < NB                           # and not simply all of them
    for other in (1.5, 0.99 * STRONG_RULE_MIN_STEP, 0.3):
        # A larger alpha, or a step too coarse for the rule: nothing added
        # (pricing finds the entering blocks).
        unchanged = active(prev).copy()
        _add_strong_rule_blocks(op, unchanged, prev, other * alpha)
        assert np.array_equal(unchanged, active(prev))


def test_cold_working_set_takes_the_outputs_in_turn():
    """A softmax's most violated blocks at zero can all feed a few classes
    (digits: the first 32 on 4 of 10 classes, whose first round then fitted
    none of the others); by turns, each class gets its most violated ones."""
    from sklearn.datasets import load_digits

    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._working_set import _add_violators, _gated_ratios

    X, y = load_digits(return_X_y=True)
    X = (X[:400] - X[:400].mean(axis=0)) / np.maximum(X[:400].std(axis=0), 1e-12)
    Xa = np.hstack([X, np.ones((400, 1))])
    Y = np.eye(10)[y[:400]]
    arr = sample_arrangements(Xa, 16, 2, random_state=0)
    _, Yp, w, loss, op = prepare_problem(Xa, Y, arr, "cross_entropy", None)
    b = loss.optimal_intercept(np.zeros_like(Yp), Yp, w, start=np.zeros(10))
    ratios = _gated_ratios(op, -loss.gradient(op.predict(op.zeros()) + b, Yp, w), 1e-2)
    per_output = ratios.size // 10

    def outputs(n_outputs):
        in_set = np.zeros(ratios.size, bool)
        assert _add_violators(in_set, ratios, 20, n_outputs=n_outputs)
        assert in_set.sum() == 20
        return np.flatnonzero(in_set) // per_output, in_set

    overall, _ = outputs(1)
    turns, by_turns = outputs(10)
    assert len(np.unique(overall)) < 10                   # the case is not trivial
    assert np.array_equal(np.bincount(turns, minlength=10), np.full(10, 2))
    for o in range(10):
        # each output's own most violated two
        mine = ratios[o * per_output:(o + 1) * per_output]
        assert set(np.flatnonzero(by_turns[o * per_output:(o + 1) * per_output])) == set(
            np.argsort(-mine)[:2])


def test_round_after_a_cold_first_round_starts_cold(monkeypatch):
    """A cold first working set is a guess: the next round is a cold
    interior point, not the active-set method from the guess's point, even
    at a tol (>= 0.1) whose first round is as tight as the others (there the
    active-set try and the warm interior point after it made one
    Fashion-MNIST class at tol 1e-1 take 96.2 s against 82.3 s cold)."""
    import convexrelu.solvers.fast as fast_module

    calls = count_calls(monkeypatch, fast_module, "solve_restricted_active_set")
    X, y, arr, alpha = make_problem(1, 300, 5, 2, "squared", n_patterns=40, alpha_frac=0.05)
    res = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=0.2)
    assert len(res.history) == 2 and res.history[0]["round_tol"] == res.history[1]["round_tol"]
    assert res.history[0]["relative_gap"] > 0.2          # the second round was needed
    assert not calls and res.converged and res.relative_gap <= 0.2
    primal, dual, worst = hand_gap(res, X, y, alpha)
    assert worst <= 1 + 1e-9 and primal - dual <= 0.2 * primal
    # (a warm start's round is the method's: the spy does see it when it runs)
    solve_convex(X, y, arr, 0.9 * alpha, fit_intercept=True, tol=0.2, warm_start=res)
    assert calls, "the spy saw no call: it watches the wrong function"


def test_coarse_path_steps_reach_the_cold_optimum():
    """Without the strong rule's blocks, a coarse path's points are still the
    certified optima of cold solves (pricing adds what enters)."""
    rng = np.random.default_rng(7)
    X = np.hstack([rng.standard_normal((120, 4)), np.ones((120, 1))])
    y = (np.maximum(X[:, 0] - X[:, 1], 0) + 0.5 * np.sin(2 * X[:, 2])
         + 0.1 * rng.standard_normal(120))
    arr = sample_arrangements(X, 20, 2, random_state=7)
    from convexrelu import convex_path

    path = convex_path(X, y, arr, n_alphas=5, eps=1e-3, fit_intercept=True, solver="fast",
                       tol=1e-8)
    assert path.alphas[2] < 0.5 * path.alphas[1]          # coarse steps
    for a, obj, res in zip(path.alphas[1:], path.objectives[1:], path.results[1:]):
        assert res.converged and res.relative_gap <= 1e-8
        cold = solve_convex(X, y, arr, a, fit_intercept=True, solver="cvxpy")
        assert obj == pytest.approx(cold.objective, rel=1e-6)


@pytest.mark.parametrize("seed,m,step_max", [(0, 1, None), (1, 2, None), (2, 3, None),
                                           (1, 2, 3), (2, 3, 2)])
def test_pricing_matches_nnls_on_the_explicit_operator(seed, m, step_max, monkeypatch):
    """Column-generation pricing (operator never formed) reaches the NNLS optimum.

    The reference writes the multipliers' operator of each block out as a
    dense (m d) x (n m + n) matrix, rows as in FORMULATION.md section 7, and
    solves the full non-negative least-squares problem with scipy.  With
    ``step_max`` the column generation adds only that many candidate
    columns per round (as it does on large blocks), and must still get there.
    """
    from scipy.optimize import nnls

    from convexrelu import LiftedOperator
    from convexrelu.solvers import _pricing
    from convexrelu.solvers._pricing import price_blocks

    if step_max is not None:
        monkeypatch.setattr(_pricing, "NNLS_STEP_MAX", step_max)

    X, y, arr, _ = make_problem(seed, 40, 3, m, "squared")
    op = LiftedOperator(X, arr)
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((40, 1)) / 40
    blocks = np.arange(2 * op.n_patterns)
    lam1, lam2, norms = price_blocks(op, V, blocks)
    n, d = X.shape
    for k, b in enumerate(blocks):
        sig_i, t = divmod(b, op.n_patterns)
        sig = 1.0 if sig_i == 0 else -1.0
        a = (sig * op.D2[:, t])[:, None] * op.S1[:, t, :] * V[:, 0, None]
        c = (X.T @ a).T.ravel()
        M = np.zeros((m * d, n * m + n))
        w2 = op.S1[:, t, :] * op.E2[:, t, None]
        for j in range(m):
            M[j * d:(j + 1) * d, j:n * m:m] = (X * op.E1[:, t, j, None]).T
            M[j * d:(j + 1) * d, n * m:] = (X * w2[:, j, None]).T
        x, _ = nnls(M, -c, maxiter=100 * M.shape[1])
        best = float(np.sum((c + M @ x) ** 2))
        assert np.sum(norms[k] ** 2) == pytest.approx(best, rel=1e-8, abs=1e-14)
        # The returned multipliers are the ones that give these norms.
        ours = np.concatenate([lam1[:, k, :].ravel(), lam2[:, k]])
        assert np.all(ours >= 0)
        resid = (c + M @ ours).reshape(m, d)
        np.testing.assert_allclose(np.linalg.norm(resid, axis=1), norms[k], rtol=1e-9,
                                   atol=1e-15)


@pytest.mark.parametrize("frac,n_patterns", [(0.1, 40), (0.05, 80), (0.02, 40)])
def test_pruning_and_cached_multipliers_keep_the_certified_optimum(frac, n_patterns):
    """Working-set pruning and cached pricing change the work, not the answer.

    Pruning drops blocks a round left at zero (when pricing certifies them
    from outside), so the last working set is smaller; cached multipliers
    (never worse than none) let every later round price no more blocks.
    All runs are certified and reach the same objective.
    """
    X, y, arr, alpha = make_problem(3, 300, 6, 3, "squared", n_patterns=n_patterns,
                                alpha_frac=frac)

    def run(**kw):
        res = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast", tol=1e-8, **kw)
        assert res.converged and res.relative_gap <= 1e-8
        return res

    plain = run(prune=False, cache_multipliers=False)
    cached = run(prune=False)
    pruned = run(cache_multipliers=False)
    assert len(plain.history) >= 2      # the working set grew at least once
    for res in (cached, pruned):
        assert res.objective == pytest.approx(plain.objective, rel=1e-7)
    assert pruned.history[-1]["working_set"] < plain.history[-1]["working_set"]
    # Same working sets round by round (no pruning), fewer blocks priced.
    assert [h["working_set"] for h in cached.history] == [h["working_set"] for h in plain.history]
    assert all(c["priced"] <= p["priced"] for c, p in zip(cached.history, plain.history))
    assert sum(h["priced"] for h in cached.history) < sum(h["priced"] for h in plain.history)


def test_ball_rounds_lower_the_zero_groups_excess():
    """Majorise-minimise pricing rounds never raise sum_j (|X^T g_j| - alpha)_+^2."""
    from convexrelu import LiftedOperator
    from convexrelu.solvers._pricing import price_blocks

    X, y, arr, alpha = make_problem(22, 70, 3, 3, "squared", n_patterns=20, alpha_frac=0.05)
    op = LiftedOperator(X, arr)
    V = ((y - y.mean()) / len(y))[:, None]
    blocks = np.arange(2 * arr.n_patterns)

    def excess(rounds):
        _, _, pn = price_blocks(op, V, blocks, alpha=alpha, ball_rounds=rounds)
        return np.sum(np.maximum(pn - alpha, 0.0) ** 2, axis=1)

    e0, e3, e10 = excess(0), excess(3), excess(10)
    assert np.any(e0 > 0)
    assert np.all(e3 <= e0 * (1 + 1e-9) + 1e-30)
    assert np.all(e10 <= e3 * (1 + 1e-9) + 1e-30)
    assert np.sum(e10) < np.sum(e0)


@pytest.mark.parametrize("m", [1, 3])
def test_block_columns_are_the_operator_applied_to_unit_vectors(m):
    """``_BlockColumns.columns`` writes out the columns that ``matvec`` applies."""
    from convexrelu.solvers._pricing import _BlockColumns

    rng = np.random.default_rng(m)
    n, d = 30, 4
    X = rng.standard_normal((n, d))
    cols = _BlockColumns(X, np.linalg.norm(X, axis=1), rng.standard_normal((n, m)),
                         rng.standard_normal((n, m)))
    # first-layer and second-layer columns, mixed and out of order
    idx = rng.permutation(n * m + n)[:25]
    unit = np.eye(n * m + n)
    expected = np.column_stack([cols.matvec(unit[i]) for i in idx])
    np.testing.assert_allclose(cols.columns(idx), expected, rtol=0, atol=1e-14)
    assert cols.columns(np.zeros(0, int)).shape == (m * d, 0)


def test_warm_start_multipliers_spare_pricing(monkeypatch):
    """A path point starts from the previous point's multipliers.

    Zero blocks they still certify skip the pricing least squares; the
    certified optimum is the one reached without them.
    """
    import dataclasses

    from convexrelu.solvers import _pricing

    X, y, arr, alpha = make_problem(12, 60, 3, 2, "squared", n_patterns=12, alpha_frac=0.3)
    first = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    bare = dataclasses.replace(first, lam1=None, lam2=None)
    # (blocks through the pricing least squares)
    calls = count_calls(monkeypatch, _pricing, "_nnls_blocks", record=lambda out: len(out[0]))
    counts, results = [], []
    for warm in (first, bare):
        calls.clear()
        res = solve_convex(X, y, arr, 0.8 * alpha, fit_intercept=True, tol=1e-8,
                           warm_start=warm)
        counts.append(sum(calls))
        results.append(res)
    held, without = results
    assert held.converged and without.converged
    assert held.objective == pytest.approx(without.objective, rel=1e-8)
    assert held.relative_gap <= 1e-8
    # The first certificate prices no block with the held multipliers, all
    # twelve without (blocks through the least squares in all: 17 against 18
    # before the multipliers were reused, 7 against 18 with them; 8 against
    # 13 once the near violators got the exact test, which spared the bare
    # start a second round).
    assert held.history[0]["priced"] == 0 < without.history[0]["priced"]
    assert counts[0] < counts[1]


def test_near_violators_get_the_exact_test(monkeypatch):
    """Blocks outside the set that least squares leave just above alpha
    get the exact test instead of a working-set round.

    From the previous point's solution without its multipliers, pricing
    leaves a few zero blocks barely above alpha; added to the set, they cost
    a second round that changes nothing (NEAR_VIOLATORS_MOST = 0); with
    the exact test the first round is certified.
    """
    import dataclasses

    from convexrelu.solvers import fast

    X, y, arr, alpha = make_problem(12, 60, 3, 2, "squared", n_patterns=12, alpha_frac=0.3)
    first = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    bare = dataclasses.replace(first, lam1=None, lam2=None)
    results = {}
    for most in (0, fast.NEAR_VIOLATORS_MOST):
        monkeypatch.setattr(fast, "NEAR_VIOLATORS_MOST", most)
        results[most] = solve_convex(X, y, arr, 0.8 * alpha, fit_intercept=True, tol=1e-8,
                                     warm_start=bare)
    added, tested = results[0], results[fast.NEAR_VIOLATORS_MOST]
    assert added.converged and tested.converged
    assert tested.relative_gap <= 1e-8
    assert tested.objective == pytest.approx(added.objective, rel=1e-8)
    assert len(tested.history) < len(added.history)
    # The certificate, recomputed by hand from the returned multipliers.
    primal, dual, worst = hand_gap(tested, X, y, 0.8 * alpha)
    assert worst <= 1 + 1e-8
    assert primal - dual == pytest.approx(tested.dual_gap, rel=1e-6, abs=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
def test_exact_multipliers_certify_live_blocks_too(loss):
    """Any multipliers give a valid dual bound, live block or not: the exact
    test's (``_exact_multipliers``) bring every live block of an optimum
    from its ratio without multipliers back to one, no worse than the
    solver's own multipliers do.  (The certificate's last resort when the
    polish of a stalled interior point falls short.)"""
    from convexrelu.solvers import fast, prepare_problem
    from convexrelu.solvers._multipliers import BlockMultipliers, block_ratios

    X, y, arr, alpha = make_problem(5, 70, 3, 2, loss, n_patterns=8, alpha_frac=0.1)
    res = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-9)
    assert res.converged
    _, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    C, m = op.n_outputs, op.n_hidden
    NB, n = C * 2 * op.n_patterns, op.n_samples
    U = res.u.reshape(op.var_shape)
    V = -loss_obj.gradient(op.predict(U) + res.intercept, Y, w)
    live = np.flatnonzero(np.any(res.u.reshape(NB, -1) != 0, axis=1))
    assert len(live) >= 2
    none = block_ratios(op, V, np.zeros((n, len(live), m)), np.zeros((n, len(live))), alpha,
                        live)
    own = block_ratios(op, V, res.lam1.reshape(n, NB, m)[:, live],
                       res.lam2.reshape(n, NB)[:, live], alpha, live)
    lams = BlockMultipliers(n, NB, m)
    ratios = np.full(NB, np.inf)
    ratios[live] = none
    fast._exact_multipliers(op, V, alpha, live, ratios, lams)
    assert np.all(none > 1 + 1e-3)
    assert np.all(ratios[live] <= 1 + 1e-7)
    assert np.all(ratios[live] <= own + 1e-7)
    l1, l2 = lams.get(live)
    assert l1.min() >= 0 and l2.min() >= 0
    np.testing.assert_allclose(block_ratios(op, V, l1, l2, alpha, live), ratios[live],
                               rtol=1e-12)


def _uci_path(name, fold, seed):
    """The path of ``benchmarks/bench_strong_rule.py``'s kind on a UCI regression
    set (training rows of split 0, the first 1000, standardised; fold
    ``fold`` of 5; 32 tuples trained at 1e-4 with seed ``seed``; 10 alphas to
    1e-3 alpha_max), on one BLAS thread, or a skip without ``../shared/data``.
    (The failures below hung on rounding: this order of indexing, as the
    benchmarks' loader has it, and one thread reproduced them.)"""
    from pathlib import Path

    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from convexrelu import convex_path, train_arrangements

    folder = (Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_regression"
              / "UCI_Datasets" / name / "data")
    if not folder.exists():
        pytest.skip("../shared/data absent")
    data = np.loadtxt(folder / "data.txt")
    feats = np.loadtxt(folder / "index_features.txt", dtype=int).ravel()
    target = int(np.loadtxt(folder / "index_target.txt"))
    rows = np.loadtxt(folder / "index_train_0.txt", dtype=int)[:1000]
    X = StandardScaler().fit_transform(data[:, feats][rows])
    y = data[:, target][rows]
    y = (y - y.mean()) / y.std()
    Xa = np.hstack([X, np.ones((len(X), 1))])
    train = list(KFold(5, shuffle=True, random_state=0).split(X))[fold][0]
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        arr = train_arrangements(Xa[train], y[train, None], 32, 2, loss="squared",
                                 alpha=1e-4, random_state=np.random.RandomState(seed))
        return convex_path(Xa[train], y[train], arr, n_alphas=10, eps=1e-3,
                           fit_intercept=True, tol=1e-6)


@pytest.mark.parametrize("fold", [0, 4])
def test_naval_path_converges_at_every_point(fold):
    """UCI naval (folds 0 and 4, seed 0 of ``_uci_path``), whose X has rank
    14 of 17.  Fold 0: a zero block whose exact test ended at ``rho = alpha
    (1 - 8e-11)`` with multipliers at ``alpha (1 + 2.3e-9)`` went to the
    restricted interior point, whose multipliers left a gap of 3e-5 that no
    later round closed (Clarabel last, 23 s, unconverged); now the exact
    test re-solves its rows tightly.  Fold 4: the point at alpha 1.3e-3
    ended at gap 4e-6 (tol 1e-6) after six stalled interior-point rounds,
    the active-set method having failed on each after walking 1000 blocking
    rows that depend on the held ones; it now walks them all (and the path
    takes 2.5 s instead of 8.9).  Every point is certified."""
    path = _uci_path("naval-propulsion-plant", fold, 0)
    assert all(r.converged for r in path.results)
    assert np.max(path.relative_gaps) <= 1e-6


def test_block_step_gains_below_rounding_do_not_cycle(monkeypatch):
    """UCI energy (fold 2, seed 0 of ``_uci_path``): the active-set method's
    block step moved a block for a gain of the objective below 1e-12
    (relative), ``drop_tiny_groups`` zeroed its new groups again at once,
    and the face was solved again, 40 times, until the 60-step limit
    (2.5 s, then "failed").  No active-set solve of the path may now spend
    all its steps."""
    from convexrelu.solvers import _active_set

    runs = []
    real_run, real_step = _active_set._ActiveSet.run, _active_set._ActiveSet.newton_step

    def step(self, *args, **kwargs):
        self.steps_taken = getattr(self, "steps_taken", 0) + 1
        return real_step(self, *args, **kwargs)

    def run(self, tol, max_newton, verbose):
        out = real_run(self, tol, max_newton, verbose)
        runs.append((getattr(self, "steps_taken", 0), max_newton))
        return out

    monkeypatch.setattr(_active_set._ActiveSet, "newton_step", step)
    monkeypatch.setattr(_active_set._ActiveSet, "run", run)
    path = _uci_path("energy", 2, 0)
    assert all(r.converged for r in path.results)
    assert len(runs) >= 10
    assert any(taken for taken, _ in runs), "no Newton step seen: the wrong method is watched"
    assert all(taken < most for taken, most in runs)


@pytest.mark.parametrize("seed", [1, 3])
def test_loose_rounds_while_the_working_set_grows(seed):
    """A round after which at least ``grow`` blocks violate their dual
    constraints is followed by another loose one (its set is a guess again);
    the certified optimum is the same as with every later round tight, and
    Clarabel's."""
    X, y, arr, alpha = make_problem(seed, 120, 5, 2, "cross_entropy", n_patterns=24,
                                alpha_frac=0.05)
    kw = dict(loss="cross_entropy", fit_intercept=True, tol=1e-8)
    grown = solve_convex(X, y, arr, alpha, **kw)
    tight = solve_convex(X, y, arr, alpha, loose_while_growing=False, **kw)
    tols = [h["round_tol"] for h in grown.history]
    assert tols[0] == tols[1] == 1e-3 and tols[-1] < 1e-8
    assert [h["round_tol"] for h in tight.history][1:] == [1e-10] * (len(tight.history) - 1)
    assert grown.converged and tight.converged
    assert grown.objective == pytest.approx(tight.objective, rel=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, alpha, solver="cvxpy", **dict(kw, tol=1e-9))
    assert grown.objective == pytest.approx(ref.objective, rel=1e-6)


def test_zeroing_tiny_groups_keeps_the_point_feasible():
    """solve_convex zeroes groups far below the largest when the gap allows;
    zeroing one of a live block's groups can break that block's second-layer
    rows, and on this diabetes fit it left a 1.0e-8 violation: a spurious
    ConvergenceWarning on a solve the solver had certified (gap 9e-9)."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler

    from convexrelu import alpha_grid, alpha_max

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    Xa = np.hstack([X, np.ones((len(X), 1))])
    full = sample_arrangements(Xa, 20, 2, random_state=0)
    alpha = alpha_grid(alpha_max(Xa, y, full, fit_intercept=True), n_alphas=20, eps=1e-2)[9]
    train = list(KFold(3, shuffle=True, random_state=0).split(X))[2][0]
    arr = sample_arrangements(Xa[train], 20, 2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = solve_convex(Xa[train], y[train], arr, alpha, fit_intercept=True, tol=1e-6)
    assert res.converged and res.constraint_violation <= 1e-8
    assert res.relative_gap <= 1e-6


@pytest.mark.parametrize("frac", [0.99, 0.9, 0.5])
def test_no_negligible_blocks_beside_the_loss(frac):
    """A logistic fit near alpha_max: the loss (log 2) dwarfs the penalty, and
    the interior point's tolerance had left five sub-networks of norm 1e-8
    beside one of 7e-3 (the certificate held; the count was wrong).  The
    fast solver now drops such blocks when the certificate holds without
    them: its blocks are zero or not negligible, and as many as the
    sub-networks of CVXPY's solution that are not negligible."""
    rng = np.random.RandomState(0)
    X = rng.randn(90, 3)
    y = np.where(X[:, 0] + X[:, 2] > 0, 1.0, -1.0)
    Xa = np.hstack([X, np.ones((90, 1))])
    arr = sample_arrangements(Xa, 6, 2, random_state=0)
    alpha = frac * alpha_max(Xa, y, arr, loss="logistic", fit_intercept=True)
    res = solve_convex(Xa, y, arr, alpha, loss="logistic", fit_intercept=True, tol=1e-6)
    ref = solve_convex(Xa, y, arr, alpha, loss="logistic", fit_intercept=True,
                       solver="cvxpy", tol=1e-8)
    assert res.converged and res.relative_gap <= 1e-6
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)

    def block_norms(u):
        return np.sqrt((u ** 2).sum(axis=(-1, -2))).ravel()

    bn, rn = block_norms(res.u), block_norms(ref.u)
    assert np.all((bn == 0) | (bn >= 1e-3 * bn.max()))
    assert (bn > 0).sum() == (rn >= 1e-3 * rn.max()).sum()


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_cvxpy_results_have_no_interior_point_dust(loss):
    """CVXPY's interior point leaves every zero group at about 1e-10; each
    was extracted as a sub-network (16 of 16 on this problem, against the
    fast solver's 4; with enumerated tuples, every one of thousands of
    blocks).  solve_convex zeroes them, pairing the zeroed point with the
    better dual bound, and the certificate recomputed by hand is the stored
    one."""
    rng = np.random.RandomState(3)
    X = rng.randn(150, 4)
    y = np.maximum(X @ rng.randn(4), 0) - np.maximum(X @ rng.randn(4), 0)
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    Xa = np.hstack([X, np.ones((150, 1))])
    arr = sample_arrangements(Xa, 8, 2, random_state=0)
    alpha = 0.05 * alpha_max(Xa, y, arr, loss=loss, fit_intercept=True)
    res = solve_convex(Xa, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                       tol=1e-6)
    fast = solve_convex(Xa, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-8)
    norms = group_norms(res.u).ravel()
    assert res.converged and 0 < (norms > 0).sum() < norms.size
    assert np.all((norms == 0) | (norms > 1e-6 * norms.max()))
    blocks = lambda r: int((group_norms(r.u).sum(axis=-1) > 0).sum())  # noqa: E731
    assert blocks(res) == blocks(fast)
    assert res.objective == pytest.approx(fast.objective, rel=1e-6)
    primal, dual, worst = hand_gap(res, Xa, y, alpha)
    assert primal == pytest.approx(res.objective, rel=1e-10)
    assert primal - dual == pytest.approx(res.dual_gap, rel=1e-6, abs=1e-12)
    assert worst <= 1 + 1e-8 and res.relative_gap <= 1e-6


def test_exact_tuples_with_cvxpy_give_a_small_network():
    """Enumerated tuples (CVXPY by default): the network has the optimum's
    sub-networks, not one per block of the enumeration."""
    X = np.random.RandomState(0).randn(30, 2)
    y = np.maximum(X[:, 0], 0) - np.maximum(X[:, 1], 0)
    est = ConvexDeepReLURegressor(alpha=1e-2, n_hidden=1, patterns="exact").fit(X, y)
    assert est.solver_ == "cvxpy" and est.converged_
    assert 2 * est.n_patterns_ > 50 * est.n_subnetworks_ > 0
    U = est.convex_weights_
    norms = np.sqrt((U ** 2).sum(axis=-1)).ravel()
    assert np.all((norms == 0) | (norms > 1e-6 * norms.max()))


def test_softmax_path_prints_nothing(capfd):
    """A cross-entropy path from zero (its first faces have no live group)."""
    from convexrelu import convex_path

    X, y, arr, _ = make_problem(3, 60, 3, 2, "cross_entropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        path = convex_path(X, y, arr, loss="cross_entropy", n_alphas=4, eps=0.1,
                           fit_intercept=True)
    assert np.all(path.converged)
    out = capfd.readouterr()
    assert "illegal" not in out.err and "illegal" not in out.out


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_trained_tuples_start_from_their_networks_own_blocks(loss, monkeypatch):
    """A cold single-output program on trained tuples starts from the
    generating network's own blocks that violate their gated constraint at
    zero; the certified optimum is the one reached from the most violated."""
    from convexrelu import LiftedOperator, train_arrangements
    from convexrelu.losses import get_loss
    from convexrelu.solvers import fast
    from convexrelu.solvers._working_set import _gated_ratios

    rng = np.random.default_rng(2)
    X = np.hstack([rng.standard_normal((300, 5)), np.ones((300, 1))])
    y = np.sin(2 * X[:, 0]) + np.maximum(X[:, 1], 0) * X[:, 2]
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    alpha = 1e-3
    arr = train_arrangements(X, y, 16, 2, loss=loss, alpha=alpha, random_state=0)
    op = LiftedOperator(X, arr)
    P = op.n_patterns
    own = np.arange(P) + P * (arr.output_weights[:, 0] <= 0)
    kw = dict(loss=loss, fit_intercept=True, tol=1e-8)
    res = solve_convex(X, y, arr, alpha, **kw)
    # The gated ratios at zero with the optimal intercept, as the solver has them.
    Y, F, w = y[:, None], np.zeros((len(y), 1)), np.full(len(y), 1.0 / len(y))
    lo = get_loss(loss)
    b0 = lo.optimal_intercept(F, Y, w, start=np.zeros(1))
    ratios = _gated_ratios(op, -lo.gradient(F + b0, Y, w), alpha)
    violating = own[ratios[own] > 1.0]
    assert 0 < len(violating)
    assert res.history[0]["working_set"] == len(violating)
    # Where the Newton matrices are formed, capped as the default set is.
    assert len(violating) > 5
    monkeypatch.setattr(fast, "DENSE_SET_WEIGHTS", 5 * 2 * X.shape[1])
    capped = solve_convex(X, y, arr, alpha, **kw)
    assert capped.history[0]["working_set"] == 5
    monkeypatch.setattr(fast, "DENSE_SET_WEIGHTS", 4096)
    monkeypatch.setattr(fast, "GENERATOR_FIRST_SET", False)
    most = solve_convex(X, y, arr, alpha, **kw)
    assert most.history[0]["working_set"] != len(violating)
    assert res.converged and most.converged and capped.converged
    assert res.objective == pytest.approx(most.objective, rel=1e-7)
    assert capped.objective == pytest.approx(most.objective, rel=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_pricing_gives_up_on_hopeless_blocks_only(seed, monkeypatch):
    """``give_up`` stops the column generation of blocks that cannot be
    certified at their pace: fewer NNLS fits, the same blocks certified, and
    every block's least-squares residual at least the full fit's (the
    multipliers it keeps are a feasible point of the same least squares)."""
    from convexrelu import LiftedOperator
    from convexrelu.solvers import _pricing
    from convexrelu.solvers._pricing import price_blocks

    X, y, arr, alpha = make_problem(seed, 1000, 20, 2, "squared", n_patterns=20)
    op = LiftedOperator(X, arr)
    V = (y.reshape(-1, 1) - y.mean()) / len(y)
    blocks = np.arange(2 * op.n_patterns)
    calls = count_calls(monkeypatch, _pricing, "nnls")
    norms = []
    counts = []
    for give_up in (None, 0.0):
        calls.clear()
        norms.append(price_blocks(op, V, blocks, alpha=alpha, give_up=give_up)[2])
        counts.append(len(calls))
    full, early = norms
    assert counts[1] < counts[0]
    certified = full.max(axis=1) <= alpha
    assert 0 < certified.sum() < len(blocks)
    np.testing.assert_array_equal(early.max(axis=1) <= alpha, certified)
    assert np.all(np.sum(early ** 2, axis=1) >= np.sum(full ** 2, axis=1) * (1 - 1e-9))


@pytest.mark.parametrize("seed,m", [(0, 1), (1, 2), (2, 3)])
def test_seeded_pricing_reaches_the_same_fit_in_one_nnls(seed, m, monkeypatch):
    """Pricing seeded with earlier multipliers (``start``) ends at the same
    least-squares residual; seeded with its own solution, one NNLS per block
    (the seed already satisfies the fit's optimality conditions), where the
    column generation from scratch takes several."""
    from convexrelu import LiftedOperator
    from convexrelu.solvers import _pricing
    from convexrelu.solvers._pricing import price_blocks

    X, y, arr, _ = make_problem(seed, 40, 3, m, "squared")
    op = LiftedOperator(X, arr)
    V = np.random.default_rng(seed).standard_normal((40, 1)) / 40
    blocks = np.arange(2 * op.n_patterns)
    calls = {"n": 0}
    real = _pricing.nnls

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(_pricing, "nnls", counting)
    l1, l2, norms = price_blocks(op, V, blocks)
    cold = calls["n"]
    calls["n"] = 0
    _, _, seeded = price_blocks(op, V, blocks, start=(l1, l2))
    # (a block whose fit is zero has no seed and needs no NNLS at all)
    with_seed = int(np.sum(np.any(l1 > 0, axis=(0, 2)) | np.any(l2 > 0, axis=0)))
    assert calls["n"] == with_seed < cold
    np.testing.assert_allclose(np.sum(seeded ** 2, axis=1), np.sum(norms ** 2, axis=1),
                               rtol=1e-8, atol=1e-14)
    # A seed with every multiplier positive (an interior point's) is cut to
    # the m d largest entries; the fit is the same.
    rng = np.random.default_rng(seed + 10)
    dense = (rng.uniform(0.1, 1.0, l1.shape), rng.uniform(0.1, 1.0, l2.shape))
    _, _, from_dense = price_blocks(op, V, blocks, start=dense)
    np.testing.assert_allclose(np.sum(from_dense ** 2, axis=1), np.sum(norms ** 2, axis=1),
                               rtol=1e-8, atol=1e-14)


def test_one_blas_thread_limits_and_restores(monkeypatch):
    """One BLAS thread inside, the previous setting after; the libraries are
    scanned once per process, not at every solve."""
    import threadpoolctl

    from convexrelu import solvers

    def blas_threads():
        return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"}

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with solvers.one_blas_thread():
            assert set(blas_threads().values()) == {1}
        assert blas_threads() == before
    built = {"n": 0}
    real = threadpoolctl.ThreadpoolController

    class Counting(real):
        def __init__(self):
            built["n"] += 1
            super().__init__()

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Counting)
    monkeypatch.setattr(solvers, "_BLAS_CONTROLLER", None)
    X, y, arr, alpha = make_problem(1, 30, 2, 2, "squared")
    for _ in range(3):
        solve_convex(X, y, arr, alpha)
    assert built["n"] == 1


def test_first_working_set_is_capped_where_newton_matrices_are_formed(monkeypatch):
    """With rows outnumbering the weights, the default first working set and
    growth hold at most DENSE_SET_WEIGHTS weights per output (here made small
    enough to bind): more rounds, the same certified optimum."""
    from convexrelu.solvers import fast

    X, y, arr, alpha = make_problem(5, 120, 3, 2, "squared", n_patterns=60, alpha_frac=0.05)
    plain = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    per_block = 2 * X.shape[1]
    monkeypatch.setattr(fast, "DENSE_SET_WEIGHTS", 5 * per_block)
    capped = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    assert plain.history[0]["working_set"] == 12          # max(8, 120 // 10)
    assert capped.history[0]["working_set"] == 5
    assert all(b["working_set"] - a["working_set"] <= 5
               for a, b in zip(capped.history, capped.history[1:]))
    assert capped.converged and plain.converged
    assert capped.objective == pytest.approx(plain.objective, rel=1e-7)
    ref = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="cvxpy", tol=1e-9)
    assert capped.objective == pytest.approx(ref.objective, rel=1e-6)


def test_softmax_default_working_set_is_a_twentieth_of_the_blocks():
    """The default first working set is a tenth of the blocks with one output
    and a twentieth with a softmax over several (at least 8 either way); the
    softmax fit still reaches Clarabel's optimum."""
    from convexrelu.solvers import fast

    X, y, arr, alpha = make_problem(5, 60, 3, 2, "cross_entropy", n_patterns=40, alpha_frac=0.1)
    ours = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-7)
    n_blocks = 3 * 2 * 40
    assert ours.history[0]["working_set"] == max(8, n_blocks // fast.COUPLED_SET_FRACTION) == 12
    ref = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-8)
    assert ours.converged
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)
    Xs, ys, arrs, alphas = make_problem(5, 60, 3, 2, "squared", n_patterns=60, alpha_frac=0.05)
    one = solve_convex(Xs, ys, arrs, alphas, fit_intercept=True, tol=1e-7)
    assert one.history[0]["working_set"] == max(8, 2 * 60 // fast.SET_FRACTION) == 12


def test_flat_directions_of_the_operator():
    from convexrelu import LiftedOperator

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    arr = sample_arrangements(X, 3, 2, random_state=0)
    assert not LiftedOperator(X, arr).flat_directions
    Xc = np.hstack([X, X[:, :1] - 2.0 * X[:, 1:2]])
    assert LiftedOperator(Xc, sample_arrangements(Xc, 3, 2, random_state=0)).flat_directions
    Xw = rng.standard_normal((5, 8))
    assert LiftedOperator(Xw, sample_arrangements(Xw, 3, 2, random_state=0)).flat_directions


def test_row_space_basis():
    """An orthonormal basis of X's row space when X lacks full column rank
    (fewer rows than columns, or collinear columns), None otherwise; ``X V
    V^T`` reproduces ``X``."""
    from convexrelu.solvers import row_space_basis

    rng = np.random.default_rng(0)
    assert row_space_basis(rng.standard_normal((40, 6))) is None
    for X, r in [(rng.standard_normal((5, 9)), 5),
                 (np.column_stack([rng.standard_normal((30, 3)), np.zeros(30)]), 3)]:
        V = row_space_basis(X)
        assert V.shape == (X.shape[1], r)
        np.testing.assert_allclose(V.T @ V, np.eye(r), atol=1e-12)
        np.testing.assert_allclose(X @ V @ V.T, X, atol=1e-12)
    # One-hot categories and a ones column: each category set sums to it.
    cats = np.eye(3)[rng.integers(0, 3, 50)]
    X = np.column_stack([rng.standard_normal((50, 2)), cats, np.ones(50)])
    assert row_space_basis(X).shape == (6, 5)


@pytest.mark.parametrize("n,d,loss", [(12, 20, "squared"), (15, 30, "cross_entropy"),
                                      (60, 6, "logistic")])
def test_fast_solver_works_in_the_row_space_of_x(n, d, loss, monkeypatch):
    """Wide or collinear X: the fast solver solves the program on ``X V`` (r
    columns) and the result, lifted back, is the CVXPY optimum of the
    program as written, feasible, with a certificate computed on X; a warm
    start from a neighbouring alpha (lifted weights) is mapped in too."""
    from convexrelu.solvers import _SOLVERS

    X, y, arr, alpha = make_problem(n + d, n, d, 2, loss, n_patterns=5, alpha_frac=0.1)
    if n > d:
        X[:, 2] = X[:, 0] - X[:, 1]          # collinear columns: rank d
        arr = sample_arrangements(X, 5, 2, random_state=0)
    rank = np.linalg.matrix_rank(X)
    seen = []
    real = _SOLVERS["fast"]
    monkeypatch.setitem(_SOLVERS, "fast",
                        lambda op, *a, **k: seen.append(op.n_features) or real(op, *a, **k))
    # The generators, projected, still start the interior point: no block
    # needs a phase-one linear program.
    from convexrelu.solvers import _interior_start

    lps = []
    real_lp = _interior_start._phase_one
    monkeypatch.setattr(_interior_start, "_phase_one", lambda *a: lps.append(1) or real_lp(*a))
    ours = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-8)
    assert seen == [rank] and rank < X.shape[1]
    assert lps == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                           tol=1e-9)
    assert ours.converged and ours.constraint_violation <= 1e-8
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)
    assert ours.u.shape == ref.u.shape
    warm = solve_convex(X, y, arr, 0.7 * alpha, loss=loss, fit_intercept=True, tol=1e-8,
                        warm_start=ours)
    cold = solve_convex(X, y, arr, 0.7 * alpha, loss=loss, fit_intercept=True, tol=1e-8)
    assert warm.converged and warm.objective == pytest.approx(cold.objective, rel=1e-7)
    # Without generators the blocks do need it: the spy sees the linear programs.
    from convexrelu import Arrangements

    solve_convex(X, y, Arrangements(arr.first, arr.signs, arr.second), alpha, loss=loss,
                 fit_intercept=True, tol=1e-3)
    assert lps, "the spy saw no linear program: it watches the wrong function"

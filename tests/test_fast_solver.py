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
from scipy.special import logsumexp, xlogy
from sklearn.exceptions import ConvergenceWarning

from convexrelu import extract_network, sample_arrangements, solve_convex
from convexrelu.solvers import _DEFAULT_SOLVER, available_solvers

LOSSES = ("squared", "logistic", "cross_entropy")


def _problem(seed, n, d, m, loss, n_patterns=8, alpha_frac=0.2):
    """Data with a bias column, targets for ``loss``, and alpha = frac * alpha_max."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    score = np.maximum(X[:, 0], 0) - 0.7 * np.maximum(X[:, 1 % d] - 0.3, 0)
    if loss == "squared":
        y = score + 0.1 * rng.standard_normal(n)
        Y = y[:, None]
    elif loss == "logistic":
        y = np.where(score + 0.3 * rng.standard_normal(n) > np.median(score), 1.0, -1.0)
        Y = y[:, None]
    else:
        lab = np.digitize(score + 0.3 * rng.standard_normal(n),
                          np.quantile(score, [1 / 3, 2 / 3]))
        y = np.eye(3)[lab]
        Y = y
    arr = sample_arrangements(X, n_patterns, m, random_state=seed)
    # alpha_max bound: the largest gated dual norm at u = 0 (intercept-centred).
    V = (Y - Y.mean(axis=0)) / n
    mask = (arr.signs[:, None, :] * arr.first * arr.second[:, :, None])   # (P, n, m)
    norms = np.linalg.norm(np.einsum("pnm,nc,nd->pmcd", mask, V, X), axis=-1)
    return X, y, arr, alpha_frac * float(norms.max())


def _cases():
    cases = []
    seed = 0
    for loss in LOSSES:
        for n, d, m in ((30, 2, 2), (45, 3, 2), (60, 2, 3), (40, 4, 2), (70, 3, 3)):
            for fit_intercept in (False, True):
                seed += 1
                frac = (0.08, 0.12, 0.25)[seed % 3]
                # (cross_entropy-30-2-2-False-0.08-21 was an expected failure
                # while its restricted solves fell back to Clarabel, whose
                # exponential-cone answer was 1.2e-6 high; the interior point's
                # step safeguard keeps it on the fast path now.)
                cases.append((loss, n, d, m, fit_intercept, frac, seed))
    return cases


def _count_calls(monkeypatch, owner, name, record=None):
    """Replace ``owner.name`` by a wrapper that counts its returns (calls that
    raise are not counted); the list (one entry each: ``record(result)``, or
    1) is returned and may be cleared between runs."""
    real = getattr(owner, name)
    calls = []

    def counting(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1 if record is None else record(out))
        return out

    monkeypatch.setattr(owner, name, counting)
    return calls


def _status(result):
    """The status of a restricted solver's result ``(U, b, lam1, lam2, status)``."""
    return result[4]


def _hand_gap(result, X, y, alpha):
    """Primal minus dual of the stored point, recomputed from scratch."""
    arr = result.arrangements
    U = result.u                                    # (C, 2, P, m, d)
    C = U.shape[0]
    n = X.shape[0]
    w = np.full(n, 1.0 / n)
    D1 = arr.first.astype(float)                    # (P, n, m)
    D2 = arr.second.astype(float)                   # (P, n)
    s = arr.signs                                   # (P, m)
    sig = np.array([1.0, -1.0])
    XU = np.einsum("nd,ospmd->ospnm", X, U)
    F = np.einsum("s,pn,pm,pnm,ospnm->no", sig, D2, s, D1, XU) + result.intercept
    if result.loss == "squared":
        Y = y.reshape(n, -1)
        primal_loss = 0.5 * np.sum(w[:, None] * (F - Y) ** 2)
    elif result.loss == "logistic":
        Y = y.reshape(n, 1)
        primal_loss = np.sum(w[:, None] * np.logaddexp(0, -Y * F))
    else:
        Y = y
        primal_loss = np.sum(w * (logsumexp(F, axis=1) - np.sum(Y * F, axis=1)))
    primal = primal_loss + alpha * np.sum(np.linalg.norm(U, axis=-1))
    V = result.dual_point
    if result.loss == "squared":
        dual = np.sum(V * Y) - 0.5 * np.sum(V ** 2 / w[:, None])
    elif result.loss == "logistic":
        a = np.clip(V * Y / w[:, None], 0, 1)
        dual = np.sum(w[:, None] * -(xlogy(a, a) + xlogy(1 - a, 1 - a)))
    else:
        Q = np.clip(Y - V / w[:, None], 0, 1)
        dual = np.sum(w * -np.sum(xlogy(Q, Q), axis=1))
    # Dual feasibility of (V, lam1, lam2), recomputed group by group.
    lam1, lam2 = result.lam1, result.lam2           # (n, C, 2, P, m), (n, C, 2, P)
    if lam1 is None:
        lam1, lam2 = np.zeros((n,) + U.shape[:-1]), np.zeros((n,) + U.shape[:-2])
    worst = 0.0
    for o in range(C):
        for k in range(2):
            for t in range(arr.n_patterns):
                for j in range(arr.n_hidden):
                    g = (sig[k] * s[t, j] * D1[t, :, j] * D2[t] * V[:, o]
                         + (2 * D1[t, :, j] - 1) * lam1[:, o, k, t, j]
                         + s[t, j] * D1[t, :, j] * (2 * D2[t] - 1) * lam2[:, o, k, t])
                    worst = max(worst, np.linalg.norm(X.T @ g) / alpha)
    return primal, dual, worst


@pytest.mark.parametrize("loss,n,d,m,fit_intercept,frac,seed", _cases())
def test_matches_clarabel(loss, n, d, m, fit_intercept, frac, seed):
    X, y, arr, alpha = _problem(seed, n, d, m, loss, alpha_frac=frac)
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
    primal, dual, worst = _hand_gap(fast, X, y, alpha)
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
    X, y, arr, alpha = _problem(7, 40, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
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
    primal, dual, worst = _hand_gap(fast, X, y, alpha)
    assert worst <= 1 + 1e-9
    assert primal - dual == pytest.approx(fast.dual_gap, rel=1e-6, abs=1e-13)


def test_certificate_without_multipliers_has_the_same_numbers():
    # duality_gap(return_multipliers=False), as the solver's rounds call it,
    # skips the scaled copy of the multipliers and nothing else.
    from convexrelu.duality import duality_gap
    from convexrelu.solvers import prepare_problem

    X, y, arr, alpha = _problem(5, 40, 3, 2, "logistic", n_patterns=6, alpha_frac=0.1)
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
    X, y, arr, alpha = _problem(3, 40, 2, 2, "squared")
    res = solve_convex(X, y, arr, alpha, solver="fast")
    res.intercept = res.intercept + 0.5
    primal, dual, _ = _hand_gap(res, X, y, alpha)
    assert primal - dual > 1e-3 * primal


def test_is_default_and_cvxpy_still_available():
    assert _DEFAULT_SOLVER == "fast"
    assert {"fast", "cvxpy"} <= set(available_solvers())
    X, y, arr, alpha = _problem(5, 30, 2, 2, "squared")
    assert solve_convex(X, y, arr, alpha).solver == "fast"
    assert solve_convex(X, y, arr, alpha, solver="CLARABEL").solver == "CLARABEL"


@pytest.mark.parametrize("loss", LOSSES)
def test_warm_start_from_solution_is_immediate(loss):
    X, y, arr, alpha = _problem(11, 50, 3, 2, loss)
    first = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-6)
    again = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-6,
                         warm_start=first)
    assert again.converged
    assert again.n_iter <= 2
    assert again.objective == pytest.approx(first.objective, rel=1e-7)


def test_warm_start_along_a_path():
    X, y, arr, alpha = _problem(12, 50, 3, 2, "squared")
    first = solve_convex(X, y, arr, alpha, tol=1e-6)
    nxt = solve_convex(X, y, arr, 0.8 * alpha, tol=1e-6, warm_start=first)
    cold = solve_convex(X, y, arr, 0.8 * alpha, tol=1e-6)
    assert nxt.converged
    assert nxt.objective == pytest.approx(cold.objective, rel=1e-6)


def test_convergence_warning_when_max_iter_tiny():
    X, y, arr, alpha = _problem(13, 60, 3, 2, "squared", n_patterns=12, alpha_frac=0.02)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=1\)\. Increase max_iter"):
        res = solve_convex(X, y, arr, alpha, max_iter=1, tol=1e-10, initial_blocks=1)
    assert not res.converged


def test_convergence_warning_before_max_iter_says_what_helps():
    """A solver that gives up before max_iter gets no "increase max_iter" advice.

    Clarabel stops at its own accuracy (about 1e-11 here) far below
    max_iter; the warning names the gap reached as the tol to ask for and
    the other solver, which reaches 1e-14 on the same problem.
    """
    X, y, arr, alpha = _problem(3, 40, 3, 2, "squared", n_patterns=6)
    with pytest.warns(ConvergenceWarning, match="before max_iter") as record:
        res = solve_convex(X, y, arr, alpha, solver="cvxpy", tol=1e-14)
    message = str(record[0].message)
    assert res.n_iter < 1000 and "Increase max_iter" not in message
    assert f"{res.relative_gap:.0e}" in message and "solver='fast'" in message
    fast = solve_convex(X, y, arr, alpha, solver="fast", tol=1e-14)
    assert fast.converged and fast.relative_gap <= 1e-14


def test_verbose_prints_progress(capsys):
    X, y, arr, alpha = _problem(14, 30, 2, 2, "squared")
    solve_convex(X, y, arr, alpha, verbose=True)
    out = capsys.readouterr().out
    assert "gap" in out and "active" in out and "obj" in out


def test_zero_solution_when_alpha_large():
    X, y, arr, alpha = _problem(15, 30, 2, 2, "squared", alpha_frac=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = solve_convex(X, y, arr, alpha, fit_intercept=True)
    assert res.n_subnetworks == 0
    assert res.converged


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_multi_output_squared_splits_by_output(fit_intercept):
    # Three squared-loss outputs: the fast solver solves one program per
    # output; the whole program's optimum and certificate must come out.
    X, _, arr, alpha = _problem(31, 50, 3, 2, "squared", n_patterns=6, alpha_frac=0.1)
    rng = np.random.default_rng(31)
    Y = np.column_stack([np.maximum(X[:, 0], 0), np.maximum(-X[:, 1], 0) - X[:, 2],
                         rng.standard_normal(len(X))])
    fast = solve_convex(X, Y, arr, alpha, fit_intercept=fit_intercept, solver="fast", tol=1e-8)
    ref = solve_convex(X, Y, arr, alpha, fit_intercept=fit_intercept, solver="cvxpy", tol=1e-9)
    assert fast.u.shape[0] == 3 and fast.converged
    assert fast.relative_gap <= 1e-8 and fast.constraint_violation <= 1e-8
    assert abs(fast.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    primal, dual, worst = _hand_gap(fast, X, Y, alpha)
    assert worst <= 1 + 1e-9
    assert primal - dual == pytest.approx(fast.dual_gap, rel=1e-6, abs=1e-13)
    # Every output is fitted (the noise output is shrunk, not the others).
    norms = np.linalg.norm(fast.u, axis=-1).reshape(3, -1).sum(axis=1)
    assert norms[0] > 0 and norms[1] > 0


@pytest.mark.parametrize("loss", LOSSES)
def test_interior_point_solves_every_loss_with_intercept(loss):
    # The restricted interior-point method must not need the Clarabel
    # fallback: with cross-entropy the intercepts have a flat direction
    # (a common shift), which once made its Newton matrix singular.
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, arr, alpha = _problem(41, 60, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    U, b, lam1, lam2, status = solve_restricted_barrier(
        op, loss_obj, Y, w, alpha, blocks, fit_intercept=True, tol=1e-9)
    assert status == "optimal"
    ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy", tol=1e-9)
    F = op.predict(U.reshape(op.var_shape)) + b
    obj = loss_obj.value(F, Y, w) + alpha * np.linalg.norm(U, axis=-1).sum()
    assert abs(obj - ref.objective) <= 1e-6 * abs(ref.objective)


@pytest.mark.parametrize("step", [0.9, 0.7])
def test_strong_rule_predicts_the_next_active_blocks(step):
    from convexrelu.operator import group_norms
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers.fast import _add_strong_rule_blocks

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
    unchanged = active(prev).copy()
    _add_strong_rule_blocks(op, unchanged, prev, 1.5 * alpha)   # larger alpha: nothing
    assert np.array_equal(unchanged, active(prev))


def test_interior_point_survives_nearly_collinear_trained_tuples():
    # Trained tuples can differ on a few rows only; near the optimum the
    # Newton matrix is then definite only in exact arithmetic.  The method
    # must finish (a tiny ridge) instead of handing over to Clarabel.
    from sklearn.utils import check_random_state

    from convexrelu import train_arrangements
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, _, alpha = _problem(60, 120, 4, 2, "logistic", n_patterns=12, alpha_frac=0.02)
    arr = train_arrangements(X, y[:, None], 12, 2, loss="logistic", alpha=alpha,
                             random_state=check_random_state(0))
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, "logistic", None)
    U, b, _, _, status = solve_restricted_barrier(
        op, loss_obj, Y, w, alpha, np.arange(2 * op.n_patterns), fit_intercept=True, tol=1e-10)
    assert status == "optimal"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, alpha, loss="logistic", fit_intercept=True,
                           solver="cvxpy", tol=1e-9)
    obj = (loss_obj.value(op.predict(U.reshape(op.var_shape)) + b, Y, w)
           + alpha * np.linalg.norm(U, axis=-1).sum())
    assert obj <= ref.objective * (1 + 1e-6)


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

    X, y, arr, _ = _problem(seed, 40, 3, m, "squared")
    op = LiftedOperator(X, arr)
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((40, 1)) / 40
    blocks = np.arange(2 * op.n_patterns)
    _, _, norms = price_blocks(op, V, blocks)
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


@pytest.mark.parametrize("frac,n_patterns", [(0.1, 40), (0.05, 80), (0.02, 40)])
def test_pruning_and_cached_multipliers_keep_the_certified_optimum(frac, n_patterns):
    """Working-set pruning and cached pricing change the work, not the answer.

    Pruning drops blocks a round left at zero (when pricing certifies them
    from outside), so the last working set is smaller; cached multipliers
    (never worse than none) let every later round price no more blocks.
    All runs are certified and reach the same objective.
    """
    X, y, arr, alpha = _problem(3, 300, 6, 3, "squared", n_patterns=n_patterns,
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


@pytest.mark.parametrize("rank", [60, 12])
def test_newton_factor_in_place_and_regularised(rank):
    # The Newton matrix is factorised in place (no copy the size of the
    # matrix); a failed attempt (rank-deficient matrix) must restore it from
    # the untouched triangle before the ridge is added.
    from convexrelu.solvers._newton_matrix import NoInteriorError, _factor_regularised

    rng = np.random.default_rng(rank)
    A = rng.standard_normal((50, rank))
    H = A @ A.T
    s = np.sqrt(np.diag(H))
    H = H / s[:, None] / s[None, :]
    H0 = H.copy()
    c, lower = _factor_regularised(H)
    assert not lower and np.shares_memory(c, H)
    R = np.triu(c)
    err = np.abs(R.T @ R - H0).max()
    if rank >= 50:
        assert err <= 1e-12
    else:
        # the smallest ridge that makes it definite (1e-12), nothing more
        assert 1e-13 <= err <= 1e-11
    with pytest.raises(NoInteriorError):
        _factor_regularised(-H0)


@pytest.mark.parametrize("step", [1, 7, 50, 1024])
def test_restore_upper_triangle_in_blocks(step):
    from convexrelu.solvers._newton_matrix import _restore_upper

    rng = np.random.default_rng(step)
    A = rng.standard_normal((50, 50))
    H = A + A.T
    F = np.asfortranarray(H)
    F[np.triu_indices(50)] = rng.standard_normal(50 * 51 // 2)   # what a failed potrf leaves
    F[np.diag_indices(50)] = np.diag(H)
    _restore_upper(F, step=step)
    np.testing.assert_array_equal(F, H)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_newton_row_blocks_match_the_explicit_sums(m):
    """The batched constraint-row blocks of the Newton matrix equal the plain sums.

    Block b: X^T diag(c1[:, b, j]) X on the (j, j) diagonal sub-blocks, plus
    sum_i c2[i, b] w_i w_i^T with w_i = W2[i, b, :] (x) x_i; the row chunks
    are smaller than n so that the chunked accumulation is exercised.
    """
    from convexrelu.solvers._newton_matrix import _pair_products, _row_blocks

    rng = np.random.default_rng(m)
    n, d, B = 23, 4, 3
    X = rng.standard_normal((n, d))
    c1 = rng.uniform(0, 2, (n, B * m))
    c2 = rng.uniform(0, 2, (n, B))
    W2 = rng.standard_normal((n, B, m))
    got = _row_blocks(X, c1, c2, W2, row_chunk=5)
    # With the rows' products computed once, as the solver does for moderate n.
    cached = _row_blocks(X, c1, c2, W2, row_chunk=n, XX=_pair_products(X))
    np.testing.assert_allclose(cached, got, rtol=1e-12, atol=1e-12)
    for b in range(B):
        G = (W2[:, b, :, None] * X[:, None, :]).reshape(n, m * d)
        want = (G * c2[:, b, None]).T @ G
        for j in range(m):
            want[j * d:(j + 1) * d, j * d:(j + 1) * d] += (X * c1[:, b * m + j, None]).T @ X
        np.testing.assert_allclose(got[b], want, rtol=1e-12, atol=1e-12)


def _random_newton_parts(rng, n, C, B, md):
    """Positive definite blocks ``D`` (B, md, md), lifted columns ``Phi`` and the
    outputs' column ranges ``cols`` (each output owns ``B md / C`` columns)."""
    k = B * md
    blocks = rng.standard_normal((B, md, md))
    D = np.einsum("bij,bkj->bik", blocks, blocks) + 0.1 * np.eye(md)
    per = k // C
    return D, rng.standard_normal((n, k)), {o: slice(o * per, (o + 1) * per) for o in range(C)}


def _dense_newton_matrix(Phi, cols, Hl, D, extra):
    """The Newton matrix over ``(u, b)``, formed entry by entry: ``Psi^T Hl Psi``
    plus the blocks ``D`` on the diagonal and ``extra`` on the intercepts."""
    n, k = Phi.shape
    C = Hl.shape[1]
    B, md, _ = D.shape
    Psi = np.zeros((n, C, k + C))
    for o, sl in cols.items():
        Psi[:, o, sl] = Phi[:, sl]
        Psi[:, o, k + o] = 1.0
    H = np.einsum("noi,nop,npj->ij", Psi, Hl, Psi)
    for b in range(B):
        H[b * md:(b + 1) * md, b * md:(b + 1) * md] += D[b]
    if extra is not None:
        H[k:, k:] += extra
    return H


@pytest.mark.parametrize("C,fit_intercept", [(1, True), (1, False), (3, True)])
def test_woodbury_newton_solve_equals_the_dense_one(C, fit_intercept):
    """H z = r through the Woodbury identity equals the dense solve of H.

    H = [D 0; 0 0] + Psi^T Hl Psi with D block diagonal and positive
    definite, Psi the lifted map (each output owns a column range, plus the
    intercepts) and Hl per-sample PSD C x C Hessians (softmax-like for C = 3,
    which are singular along the ones vector: the flat-direction term makes H
    definite, as in the solver).
    """
    from convexrelu.solvers._woodbury import woodbury_solver

    rng = np.random.default_rng(C)
    n = 7
    D, Phi, cols = _random_newton_parts(rng, n, C, 3 * C, 4)
    k = Phi.shape[1]
    if C == 1:
        Hl = rng.uniform(0.5, 2.0, (n, 1, 1))
    else:
        p = rng.dirichlet(np.ones(C), n)
        Hl = np.einsum("ni,ij->nij", p, np.eye(C)) - np.einsum("ni,nj->nij", p, p)
    extra = np.trace(Hl.sum(axis=0)) / C ** 2 * np.ones((C, C)) if C > 1 else None
    size = k + C if fit_intercept else k
    H = _dense_newton_matrix(Phi, cols, Hl, D, extra)[:size, :size]
    r = rng.standard_normal(size)
    solve = woodbury_solver(D.copy(), Phi, cols, Hl, fit_intercept, extra)
    np.testing.assert_allclose(solve(r), np.linalg.solve(H, r), rtol=1e-8, atol=1e-10)


def test_batched_block_factors_solve_each_block():
    """The constraint blocks' batched factors: ``back(half(r))`` solves with the
    block-diagonal matrix and ``half(W^T)^T half(W^T) = W D^-1 W^T``; a block
    that needs a ridge sends all through the one-by-one factorisation, which
    still solves the definite blocks exactly."""
    from convexrelu.solvers._woodbury import _cholesky_blocks

    rng = np.random.default_rng(5)
    B, md = 4, 3
    D, _, _ = _random_newton_parts(rng, 2, 1, B, md)
    D *= np.logspace(0, 6, B)[:, None, None]           # blocks of very different scales
    r = rng.standard_normal((B * md, 2))
    W = rng.standard_normal((5, B * md))
    dense = np.zeros((B * md, B * md))
    for b in range(B):
        dense[b * md:(b + 1) * md, b * md:(b + 1) * md] = D[b]
    half, back = _cholesky_blocks(D)
    np.testing.assert_allclose(back(half(r)), np.linalg.solve(dense, r), rtol=1e-9)
    Z = half(W.T.copy())
    np.testing.assert_allclose(Z.T @ Z, W @ np.linalg.solve(dense, W.T), rtol=1e-9)
    singular = D.copy()
    v = rng.standard_normal(md)
    singular[0] = np.outer(v, v)                       # positive semidefinite, rank one
    half, back = _cholesky_blocks(singular)
    out = back(half(r))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[md:], np.linalg.solve(dense[md:, md:], r[md:]), rtol=1e-9)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_woodbury_pieces_nudge_a_numerically_singular_matrix(sign):
    """The intercepts' Schur complement (and the capacitance matrix) can come
    out numerically indefinite when the true matrix is only near singular (a
    class with one training row has almost no intercept curvature left).
    Both are factorised like the dense Newton matrices, with a ridge of at
    most 1e-6 on the unit diagonal: a finite step, not NoInteriorError (which
    sent the whole solve to dense matrices, 15000 weights on audiology-std)."""
    from convexrelu.solvers._woodbury import _low_rank_update, _with_intercepts

    rng = np.random.default_rng(4)
    k, C = 7, 4
    Hub = rng.standard_normal((k, C))
    Q, _ = np.linalg.qr(rng.standard_normal((C, C)))
    # S = Hbb - Hub^T Hub with eigenvalues 1, 1, 1 and -1e-17 (rounding's sign).
    Hbb = Hub.T @ Hub + Q @ np.diag([1.0, 1.0, 1.0, -1e-17]) @ Q.T
    solve = _with_intercepts(lambda r: r, Hub, Hbb, None)
    ru, c = rng.standard_normal(k), rng.standard_normal(3)
    # A right-hand side away from the near-null direction Q[:, 3]: along the
    # other eigenvectors (eigenvalues one) the step is the exact one; along
    # Q[:, 3] it is rounding over the ridge, finite.
    step = solve(np.concatenate([ru, Hub.T @ ru + Q[:, :3] @ c]))
    assert np.all(np.isfinite(step))
    np.testing.assert_allclose(Q[:, :3].T @ step[k:], c, rtol=1e-6, atol=1e-6)
    assert np.all(np.isfinite(solve(rng.standard_normal(k + C))))
    # Capacitance I + sign Z^T Z; with sign -1 and Z^T Z's largest
    # eigenvalue one (to rounding), near singular.
    Z = rng.standard_normal((k, 3))
    if sign < 0:
        Z /= np.linalg.norm(Z, 2)
    m_inv = _low_rank_update(lambda r: r, lambda a: a, Z, sign)
    assert np.all(np.isfinite(m_inv(rng.standard_normal(k))))


@pytest.mark.slow
def test_many_classes_with_rare_ones_stay_on_the_output_split():
    """audiology-std (UCI-121, 18 classes, some with one row): the second
    outer fold's first inner training split at alpha 1e-3 with trained tuples
    (a fit of benchmarks/uci121.py) ran its Newton systems by output until
    the intercepts' Schur complement came out numerically singular, then on
    dense matrices for hours.  Now by output throughout, certified."""
    from pathlib import Path

    from sklearn.model_selection import StratifiedKFold

    from convexrelu import ConvexDeepReLUClassifier
    from convexrelu.solvers import _barrier

    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci121" / "audiology-std"
    if not folder.exists():
        pytest.skip("../shared/data absent")
    data = np.loadtxt(folder / "audiology-std_train_R.dat", skiprows=1)
    X, y = data[:, 1:-1], np.unique(data[:, -1].astype(int), return_inverse=True)[1]
    lines = (folder / "conxuntos_kfold.dat").read_text().split("\n")
    train = np.array(lines[2].split(), dtype=int)
    inner = StratifiedKFold(2, shuffle=True, random_state=0)
    rows = train[next(inner.split(X[train], y[train]))[0]]
    dense = []
    real = _barrier._scaled_factor

    def watching(H):
        dense.append(H.shape[0])
        return real(H)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_barrier, "_scaled_factor", watching)
        clf = ConvexDeepReLUClassifier(n_patterns=40, n_hidden=2, patterns="trained",
                                       alpha=1e-3, tol=1e-4, random_state=0)
        clf.fit(X[rows], y[rows])
    assert clf.converged_
    # Only the small matrices (intercepts, capacitances, one-block solves).
    assert max(dense) < 2000


@pytest.mark.parametrize("inner", ["dense", "low_rank"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n", [5, 40])
def test_output_block_newton_solve_equals_the_dense_one(n, fit_intercept, inner):
    """H z = r by output (Woodbury on the softmax's rank-one part) equals the dense solve.

    Same H as above with softmax Hessians ``w (diag(p) - p p^T)``, passed as
    their parts; fewer and more rows than an output's columns; each output's
    block factorised densely or as its constraint blocks plus a rank-n term.
    """
    from convexrelu.solvers._woodbury import output_block_solver

    rng = np.random.default_rng(n)
    C = 3
    D, Phi, cols = _random_newton_parts(rng, n, C, 6, 4)
    k = Phi.shape[1]
    p = rng.dirichlet(np.ones(C), n)
    w = rng.uniform(0.5, 1.5, n) / n
    Dl, Rl = w[:, None] * p, np.sqrt(w)[:, None] * p
    Hl = np.einsum("ni,ij->nij", Dl, np.eye(C)) - np.einsum("ni,nj->nij", Rl, Rl)
    extra = np.trace(Hl.sum(axis=0)) / C ** 2 * np.ones((C, C))
    size = k + C if fit_intercept else k
    H = _dense_newton_matrix(Phi, cols, Hl, D, extra)[:size, :size]
    r = rng.standard_normal(size)
    solve = output_block_solver(D, Phi, cols, Dl, Rl, Hl, fit_intercept, extra, inner)
    np.testing.assert_allclose(solve(r), np.linalg.solve(H, r), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n", [5, 40])
def test_output_block_newton_solve_mixes_formed_and_low_rank_outputs(n, monkeypatch):
    """Outputs of one solve factorised both ways (formed, and constraint blocks
    plus a rank-n term): the capacitance matrix adds the low-rank outputs'
    ``(I + W D^-1 W^T)^-1`` to the formed outputs' products, and the solve
    still equals the dense one; an output with no columns in the working set
    contributes nothing."""
    from convexrelu.solvers import _woodbury

    rng = np.random.default_rng(10 + n)
    C = 4
    D, Phi, cols = _random_newton_parts(rng, n, C, 8, 4)
    del cols[2]                                  # output 2 has no working blocks
    keep = np.concatenate([np.arange(sl.start, sl.stop) for sl in cols.values()])
    blocks = sorted({i // 4 for i in keep})
    D, Phi = D[blocks], Phi[:, keep]
    cols = {0: slice(0, 8), 1: slice(8, 16), 3: slice(16, 24)}
    choices = iter([(0.0, 1.0), (1.0, 0.0), (0.0, 1.0)])    # formed, low rank, formed
    monkeypatch.setattr(_woodbury, "output_costs", lambda n, width, md: next(choices))
    made = []
    real = _woodbury.LowRankOutput
    monkeypatch.setattr(_woodbury, "LowRankOutput", lambda *a: made.append(1) or real(*a))
    p = rng.dirichlet(np.ones(C), n)
    w = rng.uniform(0.5, 1.5, n) / n
    Dl, Rl = w[:, None] * p, np.sqrt(w)[:, None] * p
    Hl = np.einsum("ni,ij->nij", Dl, np.eye(C)) - np.einsum("ni,nj->nij", Rl, Rl)
    extra = np.trace(Hl.sum(axis=0)) / C ** 2 * np.ones((C, C))
    # Every output keeps its intercept (an empty column range in the reference).
    H = _dense_newton_matrix(Phi, {**cols, 2: slice(16, 16)}, Hl, D, extra)
    r = rng.standard_normal(H.shape[0])
    solve = _woodbury.output_block_solver(D, Phi, cols, Dl, Rl, Hl, True, extra)
    assert len(made) == 1
    np.testing.assert_allclose(solve(r), np.linalg.solve(H, r), rtol=1e-8, atol=1e-10)


def test_softmax_weights_refuse_a_rank_one_part_outside_the_diagonal():
    """``Q = Lam W`` needs ``Rl = 0`` wherever ``Dl = 0``; otherwise the split
    cannot represent the matrix and the caller must form it."""
    from convexrelu.solvers._newton_matrix import NoInteriorError
    from convexrelu.solvers._woodbury import softmax_weights

    Dl = np.array([[0.5, 0.0], [0.2, 0.3]])
    lam = softmax_weights(Dl, np.array([[0.5, 0.0], [0.2, 0.3]]))
    np.testing.assert_allclose(lam, [[0.5 ** 0.5, 0.0], [0.2 ** 0.5, 0.3 ** 0.5]])
    with pytest.raises(NoInteriorError):
        softmax_weights(Dl, np.array([[0.5, 1e-3], [0.2, 0.3]]))


def test_softmax_weights_accept_an_underflowed_diagonal():
    """``Dl = w p`` underflows to zero before ``Rl = sqrt(w) p`` does: a subnormal
    ``Rl`` whose square is zero gets weight zero, as the matrix it stands for."""
    from convexrelu.losses import get_loss
    from convexrelu.solvers._newton_matrix import NoInteriorError
    from convexrelu.solvers._woodbury import softmax_weights

    # A saturated softmax: the third class's probability is about e^-741.
    F = np.array([[0.0, 1.0, -740.0]])
    Dl, Rl = get_loss("cross_entropy").hessian_parts(F, np.eye(3)[[0]], np.array([1 / 226]))
    assert Dl[0, 2] == 0.0 and Rl[0, 2] > 0.0 and Rl[0, 2] ** 2 == 0.0
    lam = softmax_weights(Dl, Rl)
    assert lam[0, 2] == 0.0
    np.testing.assert_allclose(lam[0, :2], np.sqrt(Rl[0, :2] ** 2 / Dl[0, :2]))
    # A rank-one part that does not vanish in floating point still refuses.
    with pytest.raises(NoInteriorError):
        softmax_weights(Dl, Rl + np.array([[0.0, 0.0, 1e-150]]))


def test_active_set_declines_a_face_above_the_dense_cap(monkeypatch):
    """A face whose Newton matrix would exceed ``DENSE_FALLBACK_MAX_BYTES`` is
    declined (status "failed") before anything is allocated; the interior
    point then takes the round and the optimum is Clarabel's."""
    from convexrelu.solvers import _barrier, fast

    X, y, arr, alpha = _problem(46, 60, 3, 1, "squared", n_patterns=6, alpha_frac=0.1)
    statuses = _count_calls(monkeypatch, fast, "solve_restricted_active_set",
                            record=_status)
    ref = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="cvxpy", tol=1e-9)
    warm = solve_convex(X, y, arr, 1.5 * alpha, fit_intercept=True, tol=1e-8)
    solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8, warm_start=warm)
    assert "optimal" in statuses                      # the method runs under the cap
    statuses.clear()
    monkeypatch.setattr(_barrier, "DENSE_FALLBACK_MAX_BYTES", 1)
    ours = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8, warm_start=warm)
    assert statuses and set(statuses) == {"failed"}
    assert ours.converged and ours.relative_gap <= 1e-8
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


def test_active_set_softmax_face_by_output_needs_no_dense_face(monkeypatch):
    """A softmax face solved output by output holds each output's diagonal block
    only: with the dense-face cap at one byte the method still solves it."""
    from convexrelu.solvers import _active_set, _barrier, fast

    X, y, arr, alpha = _problem(14, 70, 3, 2, "cross_entropy", n_patterns=10, alpha_frac=0.15)
    first = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-8)
    statuses = _count_calls(monkeypatch, fast, "solve_restricted_active_set",
                            record=_status)
    monkeypatch.setattr(_active_set, "_by_output_pays", lambda n, p, cols: True)
    monkeypatch.setattr(_barrier, "DENSE_FALLBACK_MAX_BYTES", 1)
    ours = solve_convex(X, y, arr, 0.8 * alpha, loss="cross_entropy", fit_intercept=True,
                        tol=1e-8, warm_start=first)
    assert statuses[0] == "optimal"
    ref = solve_convex(X, y, arr, 0.8 * alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-9)
    assert ours.converged and ours.objective == pytest.approx(ref.objective, rel=1e-6)


def test_failed_split_newton_does_not_form_a_dense_matrix_above_the_cap(monkeypatch):
    """When the by-output Newton systems fail, the dense matrix takes over only
    up to ``DENSE_FALLBACK_MAX_BYTES``; above it the interior point reports
    ``NoInteriorError`` and the fast solver's conic fallback still reaches the
    Clarabel optimum with its certificate."""
    from convexrelu.solvers import _barrier, prepare_problem
    from convexrelu.solvers._barrier import NoInteriorError, solve_restricted_barrier

    X, y, arr, alpha = _problem(45, 40, 3, 2, "cross_entropy", n_patterns=4, alpha_frac=0.1)

    def fail(*args, **kwargs):
        raise NoInteriorError("forced")

    monkeypatch.setattr(_barrier, "output_block_solver", fail)
    _, Y, w, loss_obj, op = prepare_problem(X, y, arr, "cross_entropy", None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    # Under the cap: dense steps from the failure on, the same optimum.
    dense = solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks, fit_intercept=True,
                                     tol=1e-10, newton="dense")
    fallback = solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks, fit_intercept=True,
                                        tol=1e-10, newton="outputs")
    assert fallback[4] == dense[4] == "optimal"
    np.testing.assert_allclose(fallback[0], dense[0], rtol=1e-6, atol=1e-9)
    # Above it: refused, naming the size.
    monkeypatch.setattr(_barrier, "DENSE_FALLBACK_MAX_BYTES", 1)
    with pytest.raises(NoInteriorError, match="too large"):
        solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks, fit_intercept=True,
                                 tol=1e-10, newton="outputs")
    ours = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-7,
                        newton="outputs")
    ref = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-9)
    assert ours.converged and ours.relative_gap <= 1e-7
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


@pytest.mark.parametrize("loss,fit_intercept", [("squared", True), ("squared", False),
                                                ("logistic", True), ("cross_entropy", True)])
def test_woodbury_newton_steps_reach_the_clarabel_optimum(loss, fit_intercept):
    """Forcing the Woodbury Newton systems changes the cost, not the optimum."""
    X, y, arr, alpha = _problem(7, 40, 8, 3, loss, n_patterns=6, alpha_frac=0.1)
    fast = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept,
                        solver="fast", tol=1e-8, newton="woodbury")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept,
                           solver="cvxpy", tol=1e-8)
    dense = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept,
                         solver="fast", tol=1e-8, newton="dense")
    assert fast.converged and fast.relative_gap <= 1e-8
    assert fast.objective == pytest.approx(dense.objective, rel=1e-7)
    assert fast.objective <= ref.objective + 1e-6 * abs(ref.objective)


def test_saturating_loss_at_small_alpha_stays_on_the_interior_point():
    """Three-class cross-entropy at alpha = 1e-3: every round on the fast path.

    At small alpha a start scaled by the penalty puts the softmax far out on
    its flat tail; the start cap and the step safeguard keep the interior
    point converging instead of stalling and handing the round to Clarabel
    (each history entry says which inner solver produced the round: the
    interior point, or the active-set method after a tight round).
    """
    rng = np.random.default_rng(1)
    n = 400
    X = rng.standard_normal((n, 4))
    lab = np.digitize(X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.3 * rng.standard_normal(n), [-0.3, 0.8])
    Xa = np.hstack([X, np.ones((n, 1))])
    arr = sample_arrangements(Xa, 40, 2, random_state=1)
    res = solve_convex(Xa, np.eye(3)[lab], arr, 1e-3, loss="cross_entropy", fit_intercept=True,
                       solver="fast", tol=1e-4)
    assert res.converged and res.relative_gap <= 1e-4
    assert all(h["inner"] in ("ipm", "active_set") for h in res.history)


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
    X, y, arr, alpha = _problem(seed, n, d, m, loss, n_patterns=15, alpha_frac=0.15)
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
    primal, dual, worst = _hand_gap(warm, X, y, 0.8 * alpha)
    assert worst <= 1 + 1e-9
    assert primal - dual == pytest.approx(warm.dual_gap, rel=1e-6, abs=1e-13)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_active_set_newton_by_output_matches_dense(fit_intercept, monkeypatch):
    """The active-set method's face Newton systems for a softmax, solved output
    by output (face blocks plus the rank-one parts through Woodbury), give the
    same warm-started optimum as the dense face matrix, and Clarabel's."""
    from convexrelu.solvers import _active_set

    X, y, arr, alpha = _problem(14, 70, 3, 2, "cross_entropy", n_patterns=10, alpha_frac=0.15)
    first = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=fit_intercept,
                         tol=1e-8)
    calls = []
    real = _active_set._ActiveSet.by_output

    def checked(self, diag_blocks, J, cols, out_col, Hl, parts):
        # Each split solve against numpy's solve of the face matrix formed
        # sample by sample: curvature blocks + Psi^T Hl Psi (+ flat direction).
        solve = real(self, diag_blocks, J, cols, out_col, Hl, parts)
        n, p_u = J.shape
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
    assert out[True].objective == pytest.approx(out[False].objective, rel=1e-9)
    assert out[True].objective == pytest.approx(ref.objective, rel=1e-6)


def test_active_set_is_skipped_for_large_alpha_steps():
    """From an alpha more than about twice away the interior point takes the round."""
    X, y, arr, alpha = _problem(10, 60, 3, 2, "squared", n_patterns=15, alpha_frac=0.15)
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

    X, y, arr, alpha = _problem(22, 80, 3, 2, "squared", n_patterns=12, alpha_frac=0.1)
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

    X, y, arr, alpha = _problem(21, 80, 3, 2, "squared", n_patterns=12, alpha_frac=0.1)
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


def test_ball_rounds_lower_the_zero_groups_excess():
    """Majorise-minimise pricing rounds never raise sum_j (|X^T g_j| - alpha)_+^2."""
    from convexrelu import LiftedOperator
    from convexrelu.solvers._pricing import price_blocks

    X, y, arr, alpha = _problem(22, 70, 3, 3, "squared", n_patterns=20, alpha_frac=0.05)
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


def test_warm_start_multipliers_spare_pricing(monkeypatch):
    """A path point starts from the previous point's multipliers.

    Zero blocks they still certify skip the pricing least squares; the
    certified optimum is the one reached without them.
    """
    import dataclasses

    from convexrelu.solvers import _pricing

    X, y, arr, alpha = _problem(12, 60, 3, 2, "squared", n_patterns=12, alpha_frac=0.3)
    first = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    bare = dataclasses.replace(first, lam1=None, lam2=None)
    calls = _count_calls(monkeypatch, _pricing, "_nnls_by_columns")
    counts, results = [], []
    for warm in (first, bare):
        calls.clear()
        res = solve_convex(X, y, arr, 0.8 * alpha, fit_intercept=True, tol=1e-8,
                           warm_start=warm)
        counts.append(len(calls))
        results.append(res)
    held, without = results
    assert held.converged and without.converged
    assert held.objective == pytest.approx(without.objective, rel=1e-8)
    assert held.relative_gap <= 1e-8
    # (17 against 18 before the multipliers were reused; 7 against 18 with them)
    assert 2 * counts[0] <= counts[1]


@pytest.mark.parametrize("loss, C", [("squared", 1), ("squared", 3), ("logistic", 1),
                                     ("cross_entropy", 4)])
def test_hessian_parts_reproduce_the_hessian(loss, C):
    from convexrelu.losses import get_loss

    rng = np.random.default_rng(3)
    n = 20
    F = 3.0 * rng.standard_normal((n, C))
    Y = np.sign(rng.standard_normal((n, C))) if loss == "logistic" else \
        np.eye(C)[rng.integers(0, C, n)]
    w = rng.uniform(0.1, 1.0, n)
    obj = get_loss(loss)
    D, R = obj.hessian_parts(F, Y, w)
    H = D[:, :, None] * np.eye(C)[None]
    if R is not None:
        H = H - R[:, :, None] * R[:, None, :]
    np.testing.assert_allclose(H, obj.hessian(F, Y, w), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("newton", ["dense", "outputs"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_newton_matrices_from_hessian_parts_match_the_pairwise_ones(fit_intercept, newton):
    """Cross-entropy: Newton steps from the Hessian's parts, against the per-pair matrix.

    "dense" forms the matrix from one product per output and one for the
    rank-one part; "outputs" never forms it (Woodbury on the rank-one part,
    factors by output).  The reference forms it pair of outputs by pair.
    """
    from convexrelu.losses import get_loss
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, arr, alpha = _problem(43, 50, 3, 2, "cross_entropy", n_patterns=5,
                                alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, "cross_entropy", None)

    class PairwiseOnly(type(get_loss("cross_entropy"))):
        def hessian_parts(self, F, Y, w):
            return None

    from convexrelu.solvers import _barrier

    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    with pytest.MonkeyPatch.context() as mp:
        built = _count_calls(mp, _barrier, "output_block_solver")
        out = [solve_restricted_barrier(op, lo, Y, w, alpha, blocks,
                                        fit_intercept=fit_intercept, tol=1e-10, newton=nw)
               for lo, nw in ((loss_obj, newton), (PairwiseOnly(), "dense"))]
    assert out[0][4] == out[1][4] == "optimal"
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6, atol=1e-9)
    # "outputs" took every step by output (no fallback to dense matrices).
    assert (len(built) > 10) == (newton == "outputs")


@pytest.mark.parametrize("inner", ["dense", "low_rank"])
def test_newton_by_output_reaches_the_clarabel_optimum(inner, monkeypatch):
    """Both ways of factorising an output's block (formed, or constraint blocks
    plus a rank-n term) give steps that reach the Clarabel optimum."""
    from convexrelu.solvers import _woodbury

    X, y, arr, alpha = _problem(44, 60, 3, 2, "cross_entropy", n_patterns=6,
                                alpha_frac=0.1)
    # Make the chosen way the cheaper estimate; count the low-rank factors.
    monkeypatch.setattr(_woodbury, "output_costs",
                        lambda n, width, md: (0.0, 1.0) if inner == "dense" else (1.0, 0.0))
    made = []
    real = _woodbury.LowRankOutput
    monkeypatch.setattr(_woodbury, "LowRankOutput",
                        lambda *a: made.append(1) or real(*a))
    ours = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-8,
                        newton="outputs")
    assert (len(made) > 10) == (inner == "low_rank")
    ref = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-9)
    assert ours.converged and ours.relative_gap <= 1e-8
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


@pytest.mark.parametrize("loss", ["logistic", "cross_entropy"])
def test_warm_interior_point_start(loss):
    """A restricted interior-point solve started from a nearby solution
    (``start_u``) reaches the cold solve's optimum; an infeasible ``start_u``
    is ignored (the cold solve, step for step).  (Whether it saves steps
    depends on the problem: from 3% more to 25% fewer over UCI fits, see
    ``WARM_THETA``; not asserted here.)"""
    import contextlib
    import io

    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, arr, alpha = _problem(48, 70, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)

    def solve(a, start_u=None):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            out = solve_restricted_barrier(op, loss_obj, Y, w, a, blocks, fit_intercept=True,
                                           tol=1e-10, verbose=True, start_u=start_u)
        assert out[4] == "optimal"
        U, b = out[0], out[1]
        F = op.predict(U.reshape(op.var_shape)) + b
        objective = loss_obj.value(F, Y, w) + a * np.linalg.norm(U, axis=2).sum()
        return objective, buf.getvalue().count("[ipm]")

    # As between working-set rounds: the previous round's solution on fewer
    # blocks, zero on the blocks added since.
    fewer = blocks[::2]
    previous = np.zeros((len(blocks), op.n_hidden, op.n_features))
    previous[::2] = solve_restricted_barrier(op, loss_obj, Y, w, alpha, fewer,
                                             fit_intercept=True, tol=1e-10)[0]
    cold, cold_steps = solve(alpha)
    warm, _ = solve(alpha, start_u=previous)
    assert warm == pytest.approx(cold, rel=1e-8)
    ignored, ignored_steps = solve(alpha, start_u=-10.0 * previous)
    assert ignored == cold and ignored_steps == cold_steps


@pytest.mark.parametrize("loss", ["logistic", "cross_entropy"])
def test_stalled_interior_point_is_left_to_the_certificate(loss, monkeypatch):
    """Rounds whose interior point stalls (gap reached, stationarity not) still
    end at the Clarabel optimum: the certificate, not the round, decides.

    Stalls are forced by declaring one step without reducing the residual
    to nothing a stall; the solve must not fall back to Clarabel for them.
    """
    from convexrelu.solvers import _barrier, fast

    X, y, arr, alpha = _problem(47, 60, 3, 2, loss, n_patterns=8, alpha_frac=0.05)
    monkeypatch.setattr(_barrier, "STALL_STEPS", 1)
    monkeypatch.setattr(_barrier, "STALL_FACTOR", 0.0)
    statuses = _count_calls(monkeypatch, fast, "solve_restricted_barrier", record=_status)
    ours = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-7,
                        active_set=False)
    ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                       tol=1e-9)
    assert "stalled" in statuses
    assert all(h["inner"] == "ipm" for h in ours.history)
    assert ours.converged and ours.relative_gap <= 1e-7
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


@pytest.mark.parametrize("seed", [1, 3])
def test_loose_rounds_while_the_working_set_grows(seed):
    """A round after which at least ``grow`` blocks violate their dual
    constraints is followed by another loose one (its set is a guess again);
    the certified optimum is the same as with every later round tight, and
    Clarabel's."""
    X, y, arr, alpha = _problem(seed, 120, 5, 2, "cross_entropy", n_patterns=24,
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


def _lifted_loss_gram(X, mask, out_of_group, D, R):
    """``sum_i Phi_i^T (diag(D_i) - R_i R_i^T) Phi_i`` from the explicit lifted rows."""
    n, d = X.shape
    A = mask.shape[1]
    C = D.shape[1]
    Psi = np.zeros((n, C, A * d))
    for g in range(A):
        Psi[:, out_of_group[g], g * d:(g + 1) * d] = mask[:, g, None] * X
    Hl = np.einsum("no,op->nop", D, np.eye(C))
    if R is not None:
        Hl = Hl - R[:, :, None] * R[:, None, :]
    return np.einsum("noi,nop,npj->ij", Psi, Hl, Psi)


@pytest.mark.parametrize("C,with_r,keep_products,row_chunk", [
    (1, False, True, 1000), (1, False, False, 7), (3, True, True, 13), (3, True, False, 1),
    (3, False, True, 5)])
def test_pair_loss_gram_matches_the_lifted_product(C, with_r, keep_products, row_chunk):
    from convexrelu.solvers._newton_matrix import _pair_loss_gram, _pair_products

    rng = np.random.default_rng(C + 10 * row_chunk)
    n, d, A = 40, 5, 7
    X = rng.standard_normal((n, d))
    mask = (rng.random((n, A)) < 0.6).astype(np.int8)
    out_of_group = np.sort(rng.integers(0, C, A))
    D = rng.random((n, C))
    R = 0.5 * rng.random((n, C)) if with_r else None
    K = np.full((A * d + 2, A * d + 2), 0.25)
    _pair_loss_gram(K, X, _pair_products(X) if keep_products else None, mask,
                    out_of_group, (D, R), row_chunk)
    ref = _lifted_loss_gram(X, mask, out_of_group, D, R)
    np.testing.assert_allclose(K[:A * d, :A * d] - 0.25, ref, rtol=1e-12, atol=1e-12)
    # Only the weights' block is touched.
    assert np.all(K[A * d:] == 0.25) and np.all(K[:, A * d:] == 0.25)


def test_syrk_gram_adds_the_full_symmetric_product():
    from convexrelu.solvers._newton_matrix import _add_gram

    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 6))
    K = rng.standard_normal((9, 9))
    ref = K.copy()
    ref[2:8, 2:8] -= 0.5 * A.T @ A
    _add_gram(K, slice(2, 8), A, -0.5)
    np.testing.assert_allclose(K, ref, rtol=1e-13, atol=1e-13)


def test_syrk_gram_of_no_columns_is_silent(capfd):
    """An empty block (an all-zero softmax face: intercepts only) adds nothing
    and does not reach BLAS, whose error handler printed "illegal value"."""
    from convexrelu.solvers._newton_matrix import _add_gram

    K = np.eye(3)
    _add_gram(K, slice(0, 0), np.zeros((7, 0)))
    _add_gram(K, slice(0, 3), np.zeros((0, 3)))
    np.testing.assert_array_equal(K, np.eye(3))
    out = capfd.readouterr()
    assert out.err == "" and out.out == ""


def test_softmax_path_prints_nothing(capfd):
    """A cross-entropy path from zero (its first faces have no live group)."""
    from convexrelu import convex_path

    X, y, arr, _ = _problem(3, 60, 3, 2, "cross_entropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        path = convex_path(X, y, arr, loss="cross_entropy", n_alphas=4, eps=0.1,
                           fit_intercept=True)
    assert np.all(path.converged)
    out = capfd.readouterr()
    assert "illegal" not in out.err and "illegal" not in out.out


@pytest.mark.parametrize("seed,m", [(0, 1), (1, 2), (2, 3)])
def test_seeded_pricing_reaches_the_same_fit_in_one_nnls(seed, m, monkeypatch):
    """Pricing seeded with earlier multipliers (``start``) ends at the same
    least-squares residual; seeded with its own solution, one NNLS per block
    (the seed already satisfies the fit's optimality conditions), where the
    column generation from scratch takes several."""
    from convexrelu import LiftedOperator
    from convexrelu.solvers import _pricing
    from convexrelu.solvers._pricing import price_blocks

    X, y, arr, _ = _problem(seed, 40, 3, m, "squared")
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
    X, y, arr, alpha = _problem(1, 30, 2, 2, "squared")
    for _ in range(3):
        solve_convex(X, y, arr, alpha)
    assert built["n"] == 1


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_newton_steps_with_pair_gram_match_syrk_and_clarabel(loss, monkeypatch):
    """Above PAIR_GRAM_MIN_FEATURES features the loss part comes from the rows'
    pair products: the same interior-point solution as with syrk, and the
    solver's certified optimum is Clarabel's."""
    from convexrelu.losses import get_loss
    from convexrelu.solvers import _barrier, prepare_problem

    X, y, arr, alpha = _problem(7, 70, 4, 2, loss, n_patterns=5, alpha_frac=0.1)
    Xp, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    from convexrelu.solvers import one_blas_thread

    calls = _count_calls(monkeypatch, _barrier, "_pair_loss_gram")
    out, used = [], []
    for threshold in (1, 10 ** 6):
        monkeypatch.setattr(_barrier, "PAIR_GRAM_MIN_FEATURES", threshold)
        calls.clear()
        # (one BLAS thread, as solve_convex runs it: the rounding then does
        # not depend on the machine's thread count)
        with one_blas_thread():
            out.append(_barrier.solve_restricted_barrier(
                op, get_loss(loss), Y, w, alpha, blocks, fit_intercept=True, tol=1e-10,
                newton="dense"))
        used.append(len(calls))
    assert used[0] > 0 and used[1] == 0
    assert {out[0][4], out[1][4]} <= {"optimal", "stalled"}
    # The same objective to the solves' tolerance.  (The points themselves
    # agree to 1e-7 for the squared loss; the cross-entropy's optimum is not
    # unique to that accuracy: its two points, both "optimal" with one BLAS
    # thread, differ by 3e-6 relative in a few groups at equal objectives.)
    objs = [get_loss(loss).value(op.predict(U.reshape(op.var_shape)) + b, Y, w)
            + alpha * float(np.linalg.norm(U, axis=-1).sum()) for U, b, *_ in out]
    assert objs[0] == pytest.approx(objs[1], rel=1e-9)
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(_barrier, "PAIR_GRAM_MIN_FEATURES", 1)
    fast = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="fast",
                        tol=1e-8)
    ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                       tol=1e-8)
    assert fast.converged
    assert abs(fast.objective - ref.objective) <= 1e-6 * abs(ref.objective)


def test_interior_point_stops_after_short_steps_at_the_gap(monkeypatch, capsys):
    """Once the gap is reached, STALL_SHORT_STEPS steps shorter than SHORT_STEP
    without halving the stationarity residual end the solve ("stalled").

    Every step is declared short here, and "halving" made a fall to 1e-3 of
    the best residual; the solve must stop that many steps after the
    residual's last such fall, and the certificate (not the round) still
    takes the fit to Clarabel's optimum.
    """
    from convexrelu.solvers import _barrier, prepare_problem

    X, y, arr, alpha = _problem(7, 70, 4, 2, "cross_entropy", n_patterns=5, alpha_frac=0.1)
    _, Y, w, loss_obj, op = prepare_problem(X, y, arr, "cross_entropy", None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    tol = 1e-10
    factor = 1e-3
    monkeypatch.setattr(_barrier, "SHORT_STEP", 1.01)
    monkeypatch.setattr(_barrier, "STALL_SHORT_STEPS", 2)
    monkeypatch.setattr(_barrier, "STALL_FACTOR", factor)
    *_, status = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks,
                                                   fit_intercept=True, tol=tol, verbose=True,
                                                   newton="dense")
    # "[ipm] it N obj F gap G res R step S tau T"
    trace = [tuple(float(ln.split()[j]) for j in (4, 6, 8))
             for ln in capsys.readouterr().out.splitlines() if "[ipm]" in ln]
    reached = next(i for i, (f, g, _) in enumerate(trace) if g <= tol * abs(f))
    best, last = np.inf, reached
    for i in range(reached, len(trace)):
        if trace[i][2] < factor * best:
            best, last = trace[i][2], i
    assert status == "stalled"
    assert len(trace) - 1 - last == 2
    ours = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-7,
                        active_set=False)
    ref = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-9)
    assert ours.converged and ours.relative_gap <= 1e-7
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


def test_first_working_set_is_capped_where_newton_matrices_are_formed(monkeypatch):
    """With rows outnumbering the weights, the default first working set and
    growth hold at most DENSE_SET_WEIGHTS weights per output (here made small
    enough to bind): more rounds, the same certified optimum."""
    from convexrelu.solvers import fast

    X, y, arr, alpha = _problem(5, 120, 3, 2, "squared", n_patterns=60, alpha_frac=0.05)
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


def _dead_neuron_problem(seed, n=80, d=4, m=2, n_patterns=6):
    """Three classes and generating networks whose first neuron's second-layer
    weight is 1e-14 (as training with weight decay leaves some tuples)."""
    from convexrelu import Arrangements

    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    score = np.maximum(X[:, 0], 0) - 0.7 * np.maximum(X[:, 1] - 0.3, 0)
    lab = np.digitize(score + 0.3 * rng.standard_normal(n), np.quantile(score, [1 / 3, 2 / 3]))
    W1 = rng.standard_normal((n_patterns, d + 1, m))
    w2 = rng.standard_normal((n_patterns, m))
    w2[:, 0] *= 1e-14
    return X, np.eye(3)[lab], Arrangements.from_weights(X, W1, w2)


def test_balancing_scales_raise_small_groups_and_keep_the_start_feasible():
    """Groups below START_GROUP_RATIO of their block's largest are raised to
    it where the second-layer rows allow, and only part of the way where the
    full raise would turn a second-layer slack negative; every slack stays
    positive."""
    from convexrelu.solvers import _barrier

    rng = np.random.default_rng(0)
    n, B, m, d = 40, 3, 2, 4
    U = rng.standard_normal((B, m, d))
    U[:, 0] *= 1e-12
    Z = rng.standard_normal((n, B, m))
    W2 = np.zeros((n, B, m), dtype=np.int8)
    W2[:, :, 1] = 1
    Z[:, :, 1] = np.abs(Z[:, :, 1]) + 0.1          # the large group carries every row
    W2[:, :, 0] = np.where(Z[:, :, 0] > 0, 1, -1).astype(np.int8)
    r2 = np.ones((n, B), bool)
    # Block 2: the small group's term is made to outweigh the large one's on
    # one row once raised (its entry times the full raise is -10 there).
    eq2 = _barrier.START_GROUP_RATIO * np.linalg.norm(U[2, 1]) / np.linalg.norm(U[2, 0])
    Z[0, 2, 0] = -10.0 / eq2
    W2[0, 2, 0] = 1
    Z[0, 2, 1] = 1.0
    c = _barrier._balancing_scales(U, Z, W2, r2)
    raised = np.linalg.norm(U * c[:, :, None], axis=2)
    top = np.linalg.norm(U, axis=2).max(axis=1)
    np.testing.assert_allclose(raised[:2, 0], _barrier.START_GROUP_RATIO * top[:2], rtol=1e-12)
    np.testing.assert_array_equal(c[:, 1], 1.0)
    assert 1.0 < c[2, 0] < eq2
    slack = np.einsum("nbm,bm->nb", W2 * Z, c)
    assert slack.min() > 0
    # Half the ratio test's bound on that row: its slack keeps half its value.
    assert slack[0, 2] == pytest.approx(0.5 * (W2[0, 2] * Z[0, 2]).sum(), rel=1e-9)


def test_dead_neuron_start_takes_fewer_newton_steps(monkeypatch, capsys):
    """With a dead second-layer weight in every tuple, the plain start's
    multipliers 1 / (tau s) reach ~1e12 and so does its stationarity residual;
    the raised groups and floored slacks start it below 1e4 and the
    interior point needs under 60% of the Newton steps, to Clarabel's
    optimum either way."""
    from convexrelu.solvers import _barrier, prepare_problem

    defaults = _barrier.START_GROUP_RATIO, _barrier.START_SLACK_FLOOR

    def run(ratio, floor):
        monkeypatch.setattr(_barrier, "START_GROUP_RATIO", ratio)
        monkeypatch.setattr(_barrier, "START_SLACK_FLOOR", floor)
        out = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks,
                                                fit_intercept=True, tol=1e-9, verbose=True)
        trace = [ln.split() for ln in capsys.readouterr().out.splitlines() if "[ipm]" in ln]
        return out, len(trace), float(trace[0][8])

    for seed in (0, 1):
        X, Y1, arr = _dead_neuron_problem(seed)
        _, Y, w, loss_obj, op = prepare_problem(X, Y1, arr, "cross_entropy", None)
        blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
        alpha = 1e-2
        plain, plain_steps, plain_res = run(0.0, 0.0)
        ours, our_steps, our_res = run(*defaults)
        assert plain[4] == ours[4] == "optimal"
        assert plain_res > 1e10 and our_res < 1e4
        assert our_steps < 0.6 * plain_steps
        monkeypatch.setattr(_barrier, "START_GROUP_RATIO", defaults[0])
        monkeypatch.setattr(_barrier, "START_SLACK_FLOOR", defaults[1])
        fast = solve_convex(X, Y1, arr, alpha, loss="cross_entropy", fit_intercept=True,
                            tol=1e-8)
        ref = solve_convex(X, Y1, arr, alpha, loss="cross_entropy", fit_intercept=True,
                           solver="cvxpy", tol=1e-9)
        assert fast.converged
        assert fast.objective == pytest.approx(ref.objective, rel=1e-6)


def test_softmax_default_working_set_is_a_twentieth_of_the_blocks():
    """The default first working set is a tenth of the blocks with one output
    and a twentieth with a softmax over several (at least 8 either way); the
    softmax fit still reaches Clarabel's optimum."""
    from convexrelu.solvers import fast

    X, y, arr, alpha = _problem(5, 60, 3, 2, "cross_entropy", n_patterns=40, alpha_frac=0.1)
    ours = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-7)
    n_blocks = 3 * 2 * 40
    assert ours.history[0]["working_set"] == max(8, n_blocks // fast.COUPLED_SET_FRACTION) == 12
    ref = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-8)
    assert ours.converged
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)
    Xs, ys, arrs, alphas = _problem(5, 60, 3, 2, "squared", n_patterns=60, alpha_frac=0.05)
    one = solve_convex(Xs, ys, arrs, alphas, fit_intercept=True, tol=1e-7)
    assert one.history[0]["working_set"] == max(8, 2 * 60 // fast.SET_FRACTION) == 12


@pytest.mark.parametrize("shape", ["wide", "collinear"])
def test_squared_loss_with_a_null_space_of_x_stays_on_the_interior_point(shape):
    """Fewer rows than features, or duplicated features: ``X u = 0`` for some ``u``.

    Along such directions the squared loss and the rows do not change and
    the Newton matrix is singular but for the group norms' curvature; the
    interior point's steps are checked against its barrier function, as for
    the saturating losses (unchecked, a 20 x 41 fit's objective grew by
    orders of magnitude and the round fell back to Clarabel).
    """
    rng = np.random.default_rng(3)
    if shape == "wide":
        X = rng.standard_normal((20, 40))
    else:
        X0 = rng.standard_normal((60, 5))
        X = np.hstack([X0, X0[:, :3]])
    y = X[:, 0] - np.maximum(X[:, 1], 0) + 0.1 * rng.standard_normal(len(X))
    Xa = np.hstack([X, np.ones((len(X), 1))])
    arr = sample_arrangements(Xa, 16, 2, random_state=0)
    fast = solve_convex(Xa, y, arr, 1e-3, fit_intercept=True, solver="fast", tol=1e-7)
    ref = solve_convex(Xa, y, arr, 1e-3, fit_intercept=True, solver="cvxpy", tol=1e-8)
    assert fast.converged and fast.relative_gap <= 1e-7
    assert all(h["inner"] in ("ipm", "active_set") for h in fast.history)
    assert fast.objective == pytest.approx(ref.objective, rel=1e-6)


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

    X, y, arr, alpha = _problem(n + d, n, d, 2, loss, n_patterns=5, alpha_frac=0.1)
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
    from convexrelu.solvers import _barrier

    lps = []
    real_lp = _barrier._phase_one
    monkeypatch.setattr(_barrier, "_phase_one", lambda *a: lps.append(1) or real_lp(*a))
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

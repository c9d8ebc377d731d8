"""The restricted interior point (convexrelu/solvers/_barrier.py, its start in
_interior_start.py).

Its answers against Clarabel's on every loss and Newton route, its start
(balancing scales, warm starts), its stopping rules (stalls, short steps)
and its fallbacks (dense-size cap, null spaces of X).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from convexrelu import sample_arrangements, solve_convex

from solver_cases import LOSSES, count_calls, make_problem, restricted_status


@pytest.mark.parametrize("loss", LOSSES)
def test_interior_point_solves_every_loss_with_intercept(loss):
    # The restricted interior-point method must not need the Clarabel
    # fallback: with cross-entropy the intercepts have a flat direction
    # (a common shift), which once made its Newton matrix singular.
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, arr, alpha = make_problem(41, 60, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    U, b, lam1, lam2, status = solve_restricted_barrier(
        op, loss_obj, Y, w, alpha, blocks, fit_intercept=True, tol=1e-9)
    assert status == "optimal"
    ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy", tol=1e-9)
    F = op.predict(U.reshape(op.var_shape)) + b
    obj = loss_obj.value(F, Y, w) + alpha * np.linalg.norm(U, axis=-1).sum()
    assert abs(obj - ref.objective) <= 1e-6 * abs(ref.objective)


def test_interior_point_survives_nearly_collinear_trained_tuples():
    # Trained tuples can differ on a few rows only; near the optimum the
    # Newton matrix is then definite only in exact arithmetic.  The method
    # must finish (a tiny ridge) instead of handing over to Clarabel.
    from sklearn.utils import check_random_state

    from convexrelu import train_arrangements
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, _, alpha = make_problem(60, 120, 4, 2, "logistic", n_patterns=12, alpha_frac=0.02)
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
    from convexrelu.solvers import _newton_matrix

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
    # Every dense factorisation, whichever module asks for it, ends here.
    real = _newton_matrix._factor_regularised

    def watching(H):
        dense.append(H.shape[0])
        return real(H)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_newton_matrix, "_factor_regularised", watching)
        clf = ConvexDeepReLUClassifier(n_patterns=40, n_hidden=2, patterns="trained",
                                       alpha=1e-3, tol=1e-4, random_state=0)
        clf.fit(X[rows], y[rows])
    assert clf.converged_
    # Only the small matrices (intercepts, capacitances, one-block solves).
    assert dense, "no factorisation seen: the watch is on the wrong function"
    assert max(dense) < 2000


def test_failed_split_newton_does_not_form_a_dense_matrix_above_the_cap(monkeypatch):
    """When the by-output Newton systems fail, the dense matrix takes over only
    up to ``DENSE_FALLBACK_MAX_BYTES``; above it the interior point reports
    ``NoInteriorError`` and the fast solver's conic fallback still reaches the
    Clarabel optimum with its certificate."""
    from convexrelu.solvers import _newton_systems, prepare_problem
    from convexrelu.solvers._barrier import NoInteriorError, solve_restricted_barrier

    X, y, arr, alpha = make_problem(45, 40, 3, 2, "cross_entropy", n_patterns=4, alpha_frac=0.1)

    def fail(*args, **kwargs):
        raise NoInteriorError("forced")

    monkeypatch.setattr(_newton_systems, "output_block_solver", fail)
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
    monkeypatch.setattr(_newton_systems, "DENSE_FALLBACK_MAX_BYTES", 1)
    with pytest.raises(NoInteriorError, match="too large"):
        solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks, fit_intercept=True,
                                 tol=1e-10, newton="outputs")
    # (tol 1e-5: with every interior point refused, Clarabel solves each
    # round, and on this first working set it stops at a relative gap of
    # 1.5e-6 however tight its own tolerances)
    ours = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-5,
                        newton="outputs")
    ref = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True,
                       solver="cvxpy", tol=1e-9)
    assert ours.converged and ours.relative_gap <= 1e-5
    assert all(h["inner"] == "clarabel" for h in ours.history)
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


@pytest.mark.parametrize("loss,fit_intercept", [("squared", True), ("squared", False),
                                                ("logistic", True), ("cross_entropy", True)])
def test_woodbury_newton_steps_reach_the_clarabel_optimum(loss, fit_intercept):
    """Forcing the Woodbury Newton systems changes the cost, not the optimum."""
    X, y, arr, alpha = make_problem(7, 40, 8, 3, loss, n_patterns=6, alpha_frac=0.1)
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


@pytest.mark.parametrize("inner", ["dense", "low_rank"])
def test_newton_by_output_reaches_the_clarabel_optimum(inner, monkeypatch):
    """Both ways of factorising an output's block (formed, or constraint blocks
    plus a rank-n term) give steps that reach the Clarabel optimum."""
    from convexrelu.solvers import _woodbury

    X, y, arr, alpha = make_problem(44, 60, 3, 2, "cross_entropy", n_patterns=6,
                                alpha_frac=0.1)
    # Make the chosen way the cheaper estimate; count the low-rank factors.
    asked = []
    monkeypatch.setattr(_woodbury, "output_costs", lambda n, width, md: asked.append(1) or (
        (0.0, 1.0) if inner == "dense" else (1.0, 0.0)))
    made = []
    real = _woodbury.LowRankOutput
    monkeypatch.setattr(_woodbury, "LowRankOutput",
                        lambda *a: made.append(1) or real(*a))
    ours = solve_convex(X, y, arr, alpha, loss="cross_entropy", fit_intercept=True, tol=1e-8,
                        newton="outputs")
    assert asked, "the costs were not asked: the patch is on the wrong function"
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

    X, y, arr, alpha = make_problem(48, 70, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
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

    X, y, arr, alpha = make_problem(47, 60, 3, 2, loss, n_patterns=8, alpha_frac=0.05)
    monkeypatch.setattr(_barrier, "STALL_STEPS", 1)
    monkeypatch.setattr(_barrier, "STALL_FACTOR", 0.0)
    statuses = count_calls(monkeypatch, fast, "solve_restricted_barrier", record=restricted_status)
    ours = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-7,
                        active_set=False)
    ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                       tol=1e-9)
    assert "stalled" in statuses
    assert all(h["inner"] == "ipm" for h in ours.history)
    assert ours.converged and ours.relative_gap <= 1e-7
    assert ours.objective == pytest.approx(ref.objective, rel=1e-6)


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_newton_steps_with_pair_gram_match_syrk_and_clarabel(loss, monkeypatch):
    """Above PAIR_GRAM_MIN_FEATURES features the loss part comes from the rows'
    pair products: the same interior-point solution as with syrk, and the
    solver's certified optimum is Clarabel's."""
    from convexrelu.losses import get_loss
    from convexrelu.solvers import _barrier, _newton_systems, prepare_problem

    X, y, arr, alpha = make_problem(7, 70, 4, 2, loss, n_patterns=5, alpha_frac=0.1)
    Xp, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    from convexrelu.solvers import one_blas_thread

    calls = count_calls(monkeypatch, _newton_systems, "_pair_loss_gram")
    out, used = [], []
    for threshold in (1, 10 ** 6):
        monkeypatch.setattr(_newton_systems, "PAIR_GRAM_MIN_FEATURES", threshold)
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
    monkeypatch.setattr(_newton_systems, "PAIR_GRAM_MIN_FEATURES", 1)
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

    X, y, arr, alpha = make_problem(7, 70, 4, 2, "cross_entropy", n_patterns=5, alpha_frac=0.1)
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
    from convexrelu.solvers import _interior_start

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
    eq2 = _interior_start.START_GROUP_RATIO * np.linalg.norm(U[2, 1]) / np.linalg.norm(U[2, 0])
    Z[0, 2, 0] = -10.0 / eq2
    W2[0, 2, 0] = 1
    Z[0, 2, 1] = 1.0
    c = _interior_start._balancing_scales(U, Z, W2, r2)
    raised = np.linalg.norm(U * c[:, :, None], axis=2)
    top = np.linalg.norm(U, axis=2).max(axis=1)
    np.testing.assert_allclose(raised[:2, 0], _interior_start.START_GROUP_RATIO * top[:2],
                               rtol=1e-12)
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
    from convexrelu.solvers import _barrier, _interior_start, prepare_problem

    defaults = _interior_start.START_GROUP_RATIO, _interior_start.START_SLACK_FLOOR

    def run(ratio, floor):
        monkeypatch.setattr(_interior_start, "START_GROUP_RATIO", ratio)
        monkeypatch.setattr(_interior_start, "START_SLACK_FLOOR", floor)
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
        monkeypatch.setattr(_interior_start, "START_GROUP_RATIO", defaults[0])
        monkeypatch.setattr(_interior_start, "START_SLACK_FLOOR", defaults[1])
        fast = solve_convex(X, Y1, arr, alpha, loss="cross_entropy", fit_intercept=True,
                            tol=1e-8)
        ref = solve_convex(X, Y1, arr, alpha, loss="cross_entropy", fit_intercept=True,
                           solver="cvxpy", tol=1e-9)
        assert fast.converged
        assert fast.objective == pytest.approx(ref.objective, rel=1e-6)


def test_balancing_scales_raise_small_blocks_to_the_block_ratio():
    """A block far below the largest (a generating sub-network that died in
    training) is scaled up, all its groups alike, to START_BLOCK_RATIO of
    the largest block's norm; the other blocks keep their factors and every
    second-layer slack stays positive."""
    from convexrelu.solvers import _interior_start

    rng = np.random.default_rng(1)
    n, B, m, d = 30, 3, 2, 4
    U = rng.standard_normal((B, m, d))
    U[1] *= 1e-20
    Z = np.abs(rng.standard_normal((n, B, m))) + 0.1
    Z[:, 1] *= 1e-20
    W2 = np.ones((n, B, m), dtype=np.int8)
    r2 = np.ones((n, B), bool)
    c = _interior_start._balancing_scales(U, Z, W2, r2)
    block = np.linalg.norm(U * c[:, :, None], axis=(1, 2))
    assert block[1] == pytest.approx(
        _interior_start.START_BLOCK_RATIO * np.linalg.norm(U, axis=(1, 2)).max(), rel=1e-12)
    np.testing.assert_allclose(c[1], c[1, 0])                  # one factor for the block
    plain = _interior_start._balancing_scales(U[[0, 2]], Z[:, [0, 2]], W2[:, [0, 2]],
                                              r2[:, [0, 2]])
    np.testing.assert_array_equal(c[[0, 2]], plain)
    assert np.einsum("nbm,bm->nb", W2 * Z, c).min() > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_dead_subnetwork_start_takes_fewer_newton_steps(monkeypatch, capsys, seed):
    """One tuple's generating sub-network has all weights ~1e-20 beside O(1)
    ones: without raising its block, the start's stationarity residual is
    ~1e18 and the interior point took 35 to 78 Newton steps (seeds 0 to 3);
    raised, it starts below 1e3 and needs under 60% of them, to Clarabel's
    optimum."""
    from convexrelu import Arrangements
    from convexrelu.solvers import _barrier, _interior_start, prepare_problem

    rng = np.random.default_rng(seed)
    n, d, m, n_patterns = 80, 4, 2, 6
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    y = np.maximum(X[:, 0], 0) - 0.7 * np.maximum(X[:, 1] - 0.3, 0) + 0.1 * rng.standard_normal(n)
    W1 = rng.standard_normal((n_patterns, d + 1, m))
    w2 = rng.standard_normal((n_patterns, m))
    w2[0] *= 1e-20
    arr = Arrangements.from_weights(X, W1, w2)
    _, Y, w, loss_obj, op = prepare_problem(X, y, arr, "squared", None)
    blocks = np.arange(2 * op.n_patterns)
    alpha = 1e-2
    ratio = _interior_start.START_BLOCK_RATIO

    def run(block_ratio):
        monkeypatch.setattr(_interior_start, "START_BLOCK_RATIO", block_ratio)
        out = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks,
                                                fit_intercept=True, tol=1e-9, verbose=True)
        trace = [ln.split() for ln in capsys.readouterr().out.splitlines() if "[ipm]" in ln]
        return out, len(trace), float(trace[0][8])

    plain, plain_steps, plain_res = run(0.0)
    ours, our_steps, our_res = run(ratio)
    assert plain[4] == ours[4] == "optimal"
    assert plain_res > 1e12 and our_res < 1e3
    assert our_steps < 0.6 * plain_steps
    ref = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="cvxpy", tol=1e-9)
    fast = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    assert fast.converged
    assert fast.objective == pytest.approx(ref.objective, rel=1e-6)


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


@pytest.mark.parametrize("alpha", [1e-8, 1e-9])
def test_tiny_alpha_starts_at_the_targets_scale(alpha):
    # The cold start's scale puts the penalty at the loss of zero, which at
    # alpha = 1e-9 means group norms of 1e8.  The two signs of one tuple have
    # the same generating weights, so their outputs cancel and the cap on the
    # outputs did not see them: the interior point stalled there (relative gap
    # 1, group norms 1e9, objective 780 times the optimum).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(40)
    Xa = np.hstack([X, np.ones((40, 1))])
    arr = sample_arrangements(Xa, n_patterns=8, n_hidden=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)     # Clarabel's own limit
        ref = solve_convex(Xa, y, arr, alpha, fit_intercept=True, solver="cvxpy")
    res = solve_convex(Xa, y, arr, alpha, fit_intercept=True)
    assert res.converged and res.relative_gap <= 1e-6
    assert abs(res.objective - ref.objective) <= 5e-6 * ref.objective
    norms = np.linalg.norm(res.u, axis=-1).sum()
    assert norms <= 2.0 * np.linalg.norm(ref.u, axis=-1).sum()


@pytest.mark.parametrize("loss", LOSSES)
def test_resumed_interior_point_finishes_a_loose_round_in_fewer_steps(loss, capsys):
    """A loose round's final iterate, resumed at a tight tolerance on the same
    blocks, reaches the cold tight solve's point in fewer Newton steps
    (resume_ipm); a resume on other blocks is ignored."""
    from convexrelu.solvers import _barrier, prepare_problem

    X, y, arr, alpha = make_problem(3, 60, 3, 2, loss)
    _, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)

    def run(tol, **kwargs):
        out = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks,
                                                fit_intercept=True, tol=tol, verbose=True,
                                                **kwargs)
        steps = sum("[ipm]" in ln for ln in capsys.readouterr().out.splitlines())
        return out, steps

    state = {}
    (_, _, _, _, status), loose_steps = run(1e-3, state=state)
    assert not state["resumed"] and state["U"].shape == (len(blocks) * 2, X.shape[1])
    assert status in ("optimal", "stalled")
    cold, cold_steps = run(1e-10)
    assert loose_steps < cold_steps
    resumed_state = {}
    warm, warm_steps = run(1e-10, resume=state, state=resumed_state)
    assert resumed_state["resumed"]
    assert cold[4] == warm[4] == "optimal"
    # (measured: 12, 12, 13 steps against 19, 17, 21; the loose round took 9 to 13)
    assert warm_steps <= 0.75 * cold_steps
    for a, b in zip(cold[:2], warm[:2]):
        np.testing.assert_allclose(a, b, atol=1e-6 * np.abs(cold[0]).max())
    # another block set: the state does not apply, a cold start is made
    other = {}
    _barrier.solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks[:-1], fit_intercept=True,
                                      tol=1e-10, resume=state, state=other)
    assert not other["resumed"]


def test_solve_records_a_resumed_round_and_resume_changes_nothing_else():
    """Wine (3 classes, softmax, 32 sampled tuples of seed 2, alpha 1e-3): the
    fast solver's last round solves the loose round's set again tightly, and
    with resume_ipm (the default) it continues that round's interior point."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    Xa = np.hstack([StandardScaler().fit_transform(X), np.ones((len(X), 1))])
    Y = np.eye(3)[y]
    arr = sample_arrangements(Xa, 32, 2, random_state=2)
    on = solve_convex(Xa, Y, arr, 1e-3, loss="cross_entropy", fit_intercept=True)
    off = solve_convex(Xa, Y, arr, 1e-3, loss="cross_entropy", fit_intercept=True,
                       resume_ipm=False)
    resumed = [h for h in on.history if h["resumed"]]
    assert len(resumed) == 1 and resumed[0]["inner"] == "ipm"
    k = on.history.index(resumed[0])
    assert on.history[k - 1]["round_tol"] > resumed[0]["round_tol"]        # after a loose one
    assert on.history[k - 1]["working_set"] == resumed[0]["working_set"]   # on the same set
    assert not any(h["resumed"] for h in off.history)
    assert on.converged and off.converged
    assert on.objective == pytest.approx(off.objective, rel=1e-9)


def test_jammed_warm_start_restarts_from_the_cold_start(monkeypatch):
    """A warm start whose first JAM_STEPS steps are all short is abandoned for
    the cold start, which then runs step for step as a cold solve; a cold
    start is never restarted.  (Every step counts as short here: SHORT_STEP
    is raised above any step length.)"""
    import contextlib
    import io

    from convexrelu.solvers import _barrier, prepare_problem

    X, y, arr, alpha = make_problem(48, 70, 3, 2, "logistic", n_patterns=6, alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, "logistic", None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    previous = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, 2 * alpha, blocks,
                                                 fit_intercept=True, tol=1e-10)[0]

    def solve(start_u):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            out = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks,
                                                    fit_intercept=True, tol=1e-10,
                                                    verbose=True, start_u=start_u)
        return out, [ln for ln in buf.getvalue().splitlines() if "[ipm]" in ln]

    cold, cold_trace = solve(None)
    warm, warm_trace = solve(previous)
    assert warm[4] == cold[4] == "optimal"
    assert warm_trace[0] != cold_trace[0]                # the warm start is used
    monkeypatch.setattr(_barrier, "SHORT_STEP", 2.0)
    jammed, jammed_trace = solve(previous)
    cold_short, cold_short_trace = solve(None)
    # A cold start is not restarted: its steps are numbered on from 1.
    steps = [int(ln.split()[2]) for ln in cold_short_trace]
    assert steps == list(range(1, len(steps) + 1))
    assert cold_short_trace[0] == cold_trace[0]
    # The warm start: JAM_STEPS steps, then the cold solve step for step.
    assert jammed_trace[:_barrier.JAM_STEPS] == warm_trace[:_barrier.JAM_STEPS]
    assert jammed_trace[_barrier.JAM_STEPS:] == cold_short_trace
    assert np.array_equal(jammed[0], cold_short[0])


@pytest.mark.parametrize("loss", ["logistic", "cross_entropy"])
def test_cold_start_jammed_by_its_checks_restarts_with_the_objective_check(monkeypatch, loss):
    """A cold start whose first JAM_STEPS checked steps the barrier function
    cuts to nothing starts again with the objective's check alone, and
    reaches Clarabel's optimum; without that restart the same solve spends
    every step allowed.  (The barrier function is made to rise along every
    direction here; a cold 342-block plant-shape round did so for real.)"""
    import contextlib
    import io
    import itertools

    from convexrelu.duality import primal_objective
    from convexrelu.solvers import _barrier, prepare_problem

    X, y, arr, alpha = make_problem(52, 70, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)

    def solve(max_newton=200):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            out = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks,
                                                    fit_intercept=True, tol=1e-9,
                                                    verbose=True, max_newton=max_newton)
        trace = [ln.split() for ln in buf.getvalue().splitlines() if "[ipm]" in ln]
        return out, [(int(t[2]), float(t[4])) for t in trace]

    _, checked_trace = solve()
    rising = itertools.count()
    monkeypatch.setattr(_barrier, "_merit", lambda *args: float(next(rising)))
    out, trace = solve()
    assert out[4] == "optimal"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)     # at Clarabel's accuracy
        ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                           tol=1e-9)
    obj = primal_objective(op, loss_obj, Y, w, out[0].reshape(op.var_shape), out[1], alpha)
    assert abs(obj - ref.objective) <= 1e-6 * abs(ref.objective)
    # JAM_STEPS cut steps that change nothing, then a solve numbered from 1
    # again, none of whose objectives passes the ceiling.
    k = _barrier.JAM_STEPS
    assert [i for i, _ in trace[:k + 1]] == list(range(1, k + 1)) + [1]
    assert trace[0] == checked_trace[0]
    assert np.ptp([f for _, f in trace[:k]]) <= 1e-9 * abs(trace[0][1])
    ceiling = _barrier.OBJECTIVE_CEILING * 2 * trace[0][1]
    assert max(f for _, f in trace[k:]) <= ceiling
    # The former rule: a cut step counts as no jam, and the solve stalls.
    monkeypatch.setattr(_barrier, "MERIT_JAM_RATIO", 0.0)
    stuck, stuck_trace = solve(max_newton=30)
    assert stuck[4] == "max_newton" and len(stuck_trace) == 30
    assert np.ptp([f for _, f in stuck_trace]) <= 1e-6 * abs(trace[0][1])


def test_drifting_gap_stops_as_stalled(monkeypatch, capsys):
    """Without floored first multipliers, the dead-neuron problem's interior
    point reaches the gap early (stationarity residual still ~30) and the gap
    drifts back above tol for dozens of steps before it recovers: within
    STALL_DRIFT_STEPS it finishes "optimal"; with a shorter allowance it stops
    "stalled" that many steps after first reaching the gap."""
    from convexrelu.solvers import _barrier, _interior_start, prepare_problem

    monkeypatch.setattr(_interior_start, "START_GROUP_RATIO", 0.0)
    monkeypatch.setattr(_interior_start, "START_SLACK_FLOOR", 0.0)
    X, Y1, arr = _dead_neuron_problem(0)
    _, Y, w, loss_obj, op = prepare_problem(X, Y1, arr, "cross_entropy", None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    tol = 1e-9

    def run():
        out = _barrier.solve_restricted_barrier(op, loss_obj, Y, w, 1e-2, blocks,
                                                fit_intercept=True, tol=tol, verbose=True)
        trace = [ln.split() for ln in capsys.readouterr().out.splitlines() if "[ipm]" in ln]
        gaps = np.array([float(t[6]) / abs(float(t[4])) for t in trace])
        return out[4], gaps

    status, gaps = run()
    assert status == "optimal"
    first = int(np.argmax(gaps <= tol))
    assert gaps[first] <= tol and np.sum(gaps[first:] > tol) > 10     # it drifts
    monkeypatch.setattr(_barrier, "STALL_DRIFT_STEPS", 10)
    status, short = run()
    assert status == "stalled"
    assert len(short) == first + 10 + 1


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_interior_point_sheds_blocks_heading_for_zero(loss):
    """Given a ``dropped`` list, the interior point sheds once the blocks whose
    norm falls below ``DROP_RTOL`` of the largest; it returns them as zeros
    without multipliers, and the rest is the optimum of the program restricted
    to the blocks it kept (the same as solving that smaller program)."""
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, arr, alpha = make_problem(17, 80, 3, 2, loss, n_patterns=10, alpha_frac=0.3)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    dropped = []
    U, b, lam1, lam2, status = solve_restricted_barrier(
        op, loss_obj, Y, w, alpha, blocks, fit_intercept=True, tol=1e-10, dropped=dropped)
    assert status == "optimal"
    assert 0 < len(dropped) < len(blocks)
    out = np.isin(blocks, dropped)
    assert not U[out].any() and not lam1[:, out].any() and not lam2[:, out].any()
    kept = blocks[~out]
    Uk, bk, _, _, status_k = solve_restricted_barrier(
        op, loss_obj, Y, w, alpha, kept, fit_intercept=True, tol=1e-10)
    assert status_k == "optimal"

    def objective(Ub, bb, which):
        Ufull = np.zeros((len(blocks),) + Ub.shape[1:])
        Ufull[which] = Ub
        F = op.predict(Ufull.reshape(op.var_shape)) + bb
        return loss_obj.value(F, Y, w) + alpha * np.linalg.norm(Ub, axis=-1).sum()

    assert objective(U[~out], b, ~out) == pytest.approx(objective(Uk, bk, ~out), rel=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_restricted_newton_systems_keep_the_squared_loss_part(fit_intercept):
    """After shedding, the kept blocks' Newton systems reuse the squared loss's
    part of the matrix: it equals that part built afresh on the kept blocks."""
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._newton_systems import NewtonSystems
    from convexrelu.solvers._working_rows import WorkingRows

    X, y, arr, _ = make_problem(3, 60, 4, 2, "squared", n_patterns=6)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, "squared", None)
    blocks = np.arange(2 * op.n_patterns)
    rows = WorkingRows(op, blocks)
    systems = NewtonSystems(rows, loss_obj, Y, w, "dense", fit_intercept, True)
    F = np.zeros((op.n_samples, 1))
    systems.K_loss = systems.loss_hessian(F)
    keep = np.zeros(len(blocks), bool)
    keep[[0, 3, 4, 9]] = True
    kept_rows = WorkingRows(op, blocks[keep])
    sub = systems.restricted_to(kept_rows, keep)
    fresh = NewtonSystems(kept_rows, loss_obj, Y, w, "dense", fit_intercept, True)
    expected = fresh.loss_hessian(F)
    assert sub.K_loss.shape == expected.shape
    np.testing.assert_allclose(sub.K_loss, expected, rtol=1e-12, atol=1e-14)
    assert sub.XX is systems.XX


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_loss_part_of_an_earlier_working_set_is_reused(fit_intercept, monkeypatch):
    """A round's Newton systems take the squared loss's part of the blocks the
    previous round had from that round's, and compute only the pairs of groups
    with a new block: the part equals the one built afresh, from fewer pairs."""
    from convexrelu.solvers import _newton_systems, prepare_problem
    from convexrelu.solvers._newton_systems import PAIR_GRAM_MIN_FEATURES, NewtonSystems
    from convexrelu.solvers._working_rows import WorkingRows

    d = PAIR_GRAM_MIN_FEATURES      # the pair products' path, where parts are reused
    X, y, arr, _ = make_problem(4, 80, d, 2, "squared", n_patterns=6)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, "squared", None)
    F = np.zeros((op.n_samples, 1))
    first, second = np.array([0, 2, 3, 7, 9]), np.array([1, 2, 3, 8, 9, 11])
    systems = NewtonSystems(WorkingRows(op, first), loss_obj, Y, w, "dense", fit_intercept, True)
    systems.K_loss = systems.loss_hessian(F)
    kept = {}
    systems.keep_loss_part(first, kept)
    pairs = []
    real = _newton_systems._pair_loss_gram

    def counting(*args, **kwargs):
        pairs.append(kwargs.get("pairs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_newton_systems, "_pair_loss_gram", counting)
    rows = WorkingRows(op, second)
    reused = NewtonSystems(rows, loss_obj, Y, w, "dense", fit_intercept, True)
    reused.reuse_loss_part(second, kept)
    got = reused.loss_hessian(F)
    fresh = NewtonSystems(rows, loss_obj, Y, w, "dense", fit_intercept, True)
    expected = fresh.loss_hessian(F)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    # 12 groups, 3 blocks (6 groups) shared: 78 pairs, 21 of them copied
    assert len(pairs[0][0]) == 78 - 21 and pairs[1] is None


def test_fast_solver_reusing_the_loss_part_keeps_the_certified_optimum(monkeypatch):
    """A second interior-point round on a changed set builds its loss part from
    the first's; the certified optimum is the one reached building it afresh."""
    from convexrelu.solvers import _newton_systems

    X, y, arr, alpha = make_problem(0, 400, 30, 2, "squared", n_patterns=30, alpha_frac=0.1)
    real = _newton_systems._pair_loss_gram
    subsets = []

    def watching(*args, **kwargs):
        subsets.append(kwargs.get("pairs") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(_newton_systems, "_pair_loss_gram", watching)
    results, reused = [], []
    for cap in (_newton_systems.KEPT_LOSS_PART_MAX_BYTES, 0):
        monkeypatch.setattr(_newton_systems, "KEPT_LOSS_PART_MAX_BYTES", cap)
        subsets.clear()
        results.append(solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8))
        reused.append(any(subsets))
    assert reused == [True, False]
    kept, fresh = results
    assert kept.converged and fresh.converged
    assert [h["inner"] for h in kept.history][:2] == ["ipm", "ipm"]
    assert kept.objective == pytest.approx(fresh.objective, rel=1e-9)
    assert kept.relative_gap <= 1e-8


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_fast_solver_shedding_blocks_keeps_the_certified_optimum(monkeypatch, loss):
    """A cold first round that sheds blocks (``DROP_IN_FIRST_ROUND``) leads to
    the same certified optimum as one that keeps them, and Clarabel's."""
    from convexrelu.solvers import _barrier, fast

    X, y, arr, alpha = make_problem(5, 120, 4, 2, loss, n_patterns=40, alpha_frac=0.2)
    shed = []
    real = _barrier._solve_restricted_barrier

    def watching(*args, **kwargs):
        out = real(*args, **kwargs)
        shed.extend(kwargs.get("dropped") or [])
        return out

    monkeypatch.setattr(_barrier, "_solve_restricted_barrier", watching)
    results = {}
    for on in (False, True):
        monkeypatch.setattr(fast, "DROP_IN_FIRST_ROUND", on)
        shed.clear()
        results[on] = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-8)
        assert bool(shed) == on
    for res in results.values():
        assert res.converged and res.relative_gap <= 1e-8
    assert results[True].objective == pytest.approx(results[False].objective, rel=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, solver="cvxpy",
                           tol=1e-9)
    assert results[True].objective == pytest.approx(ref.objective, rel=1e-6)


def test_round_falling_back_after_shedding_keeps_every_block(monkeypatch):
    """When the interior point fails after shedding blocks, Clarabel solves the
    round's whole set and nothing is taken out of it: the same certified
    optimum as without shedding."""
    from convexrelu.solvers import _barrier, _newton_systems, fast

    X, y, arr, alpha = make_problem(5, 120, 4, 2, "squared", n_patterns=40, alpha_frac=0.2)
    monkeypatch.setattr(fast, "DROP_IN_FIRST_ROUND", False)
    plain = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    monkeypatch.setattr(fast, "DROP_IN_FIRST_ROUND", True)
    # (shedding every block below 0.9 of the largest: some of them are not
    # zero at the round's optimum, so taking them out would show)
    monkeypatch.setattr(_barrier, "DROP_RTOL", 0.9)
    real_solver = _newton_systems.NewtonSystems.solver
    first_set = {}

    def failing_after_shedding(self, blocks_H, F):
        first_set.setdefault("B", self.rows.B)
        if self.rows.B < first_set["B"]:
            first_set["failed"] = True
            raise _barrier.NoInteriorError("forced after shedding")
        return real_solver(self, blocks_H, F)

    monkeypatch.setattr(_newton_systems.NewtonSystems, "solver", failing_after_shedding)
    inner = count_calls(monkeypatch, fast, "solve_restricted")
    ours = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    assert first_set.get("failed")                 # it failed after shedding,
    assert inner and ours.history[0]["inner"] == "clarabel"    # Clarabel took the round
    # and kept every block of it: its first round's point is that of a
    # round without shedding that Clarabel solved too.
    monkeypatch.setattr(fast, "DROP_IN_FIRST_ROUND", False)
    monkeypatch.setattr(_newton_systems.NewtonSystems, "solver",
                        lambda self, blocks_H, F: (_ for _ in ()).throw(
                            _barrier.NoInteriorError("forced")))
    clarabel_first = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    assert clarabel_first.history[0]["inner"] == "clarabel"    # (the refusal is reached)
    assert ours.history[0]["objective"] == pytest.approx(
        clarabel_first.history[0]["objective"], rel=1e-9)
    assert ours.converged and ours.relative_gap <= 1e-8
    assert ours.objective == pytest.approx(plain.objective, rel=1e-8)


def test_unchecked_steps_become_checked_when_the_objective_rises(monkeypatch):
    """The squared loss's steps go unchecked until the objective rises above
    its lowest value by more than ``RISE_FACTOR`` times the gap there; from
    then on each step is checked against the barrier function (``_merit``),
    and the optimum is the same."""
    from convexrelu.losses import get_loss
    from convexrelu.solvers import _barrier, prepare_problem

    X, y, arr, alpha = make_problem(3, 90, 3, 2, "squared", n_patterns=8, alpha_frac=0.1)
    _, Y, w, loss_obj, op = prepare_problem(X, y, arr, "squared", None)
    blocks = np.arange(2 * op.n_patterns)
    merits = count_calls(monkeypatch, _barrier, "_merit")
    out = {}
    for factor in (np.inf, -1.0):           # never, or from the second step on
        monkeypatch.setattr(_barrier, "RISE_FACTOR", factor)
        merits.clear()
        U, b, _, _, status = _barrier.solve_restricted_barrier(
            op, get_loss("squared"), Y, w, alpha, blocks, fit_intercept=True, tol=1e-10)
        assert status in ("optimal", "stalled")
        F = op.predict(U.reshape(op.var_shape)) + b
        out[factor] = (len(merits), loss_obj.value(F, Y, w)
                       + alpha * np.linalg.norm(U, axis=-1).sum())
    assert out[np.inf][0] == 0 and out[-1.0][0] > 0
    assert out[-1.0][1] == pytest.approx(out[np.inf][1], rel=1e-8)


@pytest.mark.parametrize("loss", LOSSES)
def test_stationarity_tolerance_ends_the_polishing_steps_only(loss, capsys):
    """``stationarity_tol`` looser than the gap's ``tol`` stops the Newton steps
    that only shrink the stationarity residual once the gap is reached: fewer
    steps, a residual within the looser bound, the same objective."""
    from convexrelu.solvers import _barrier, prepare_problem

    X, y, arr, alpha = make_problem(3, 60, 3, 2, loss)
    _, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)

    def run(**kwargs):
        U, b, _, _, status = _barrier.solve_restricted_barrier(
            op, loss_obj, Y, w, alpha, blocks, fit_intercept=True, tol=1e-10, verbose=True,
            **kwargs)
        trace = [ln.split() for ln in capsys.readouterr().out.splitlines() if "[ipm]" in ln]
        F = op.predict(U.reshape(op.var_shape)) + b
        obj = loss_obj.value(F, Y, w) + alpha * np.linalg.norm(U, axis=-1).sum()
        return status, len(trace), float(trace[-1][8]), obj

    tight = run()
    loose = run(stationarity_tol=1e-6)
    assert tight[0] == loose[0] == "optimal"
    # (measured: 17, 15, 19 steps against 19, 17, 21)
    assert loose[1] < tight[1]
    assert tight[2] <= 1e-10 * alpha < loose[2] <= 1e-6 * alpha
    assert loose[3] == pytest.approx(tight[3], rel=1e-12)


def test_looser_stationarity_in_tight_rounds_keeps_the_certified_optimum(monkeypatch):
    """The fast solver's tight interior-point rounds stop at a stationarity
    residual of ``STATIONARITY_FACTOR`` times their gap tolerance: the same
    rounds, certificate and optimum as with the residual held to the gap's
    tolerance (factor 1), on every loss."""
    from convexrelu.solvers import fast

    for loss in LOSSES:
        X, y, arr, alpha = make_problem(7, 90, 4, 2, loss, n_patterns=10, alpha_frac=0.05)
        out = {}
        for factor in (1, fast.STATIONARITY_FACTOR):
            monkeypatch.setattr(fast, "STATIONARITY_FACTOR", factor)
            out[factor] = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True, tol=1e-7)
        strict, ours = out[1], out[fast.STATIONARITY_FACTOR]
        assert strict.converged and ours.converged
        assert ours.relative_gap <= 1e-7
        assert [h["working_set"] for h in ours.history] == [h["working_set"] for h in strict.history]
        assert ours.objective == pytest.approx(strict.objective, rel=1e-9)


def test_split_newton_systems_over_their_cap_when_the_dense_matrix_is_larger(monkeypatch):
    """``SPLIT_MAX_BYTES`` bounds the split systems' arrays only where the dense
    Newton matrix would be smaller: a 6-class softmax whose by-output arrays
    (173 kB) exceed a 1 kB cap, with a 4.2 MB dense matrix, still goes by
    output (a 1200-row, 100-class refit went dense at 95 GiB under the hard
    cap), and reaches the dense systems' objective."""
    from convexrelu.losses import get_loss
    from convexrelu.solvers import _newton_systems, prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    rng = np.random.default_rng(5)
    n, d, C = 30, 4, 6
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    Y = np.eye(C)[np.arange(n) % C]
    arr = sample_arrangements(X, 6, 2, random_state=5)
    _, Y, w, loss_obj, op = prepare_problem(X, Y, arr, "cross_entropy", None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    k = len(blocks) * 2 * (d + 1)
    assert n * k * 8 > 1024 and (k + C) ** 2 * 8 > n * k * 8
    monkeypatch.setattr(_newton_systems, "SPLIT_MAX_BYTES", 1024)
    built = count_calls(monkeypatch, _newton_systems, "output_block_solver")
    out = {}
    for newton in ("auto", "dense"):
        built.clear()
        out[newton] = solve_restricted_barrier(op, loss_obj, Y, w, 0.01, blocks,
                                               fit_intercept=True, tol=1e-10, newton=newton)
        out[newton, "by output"] = len(built)
    assert out["auto", "by output"] > 5 and out["dense", "by output"] == 0
    assert out["auto"][4] == out["dense"][4] == "optimal"
    objs = [get_loss("cross_entropy").value(op.predict(U.reshape(op.var_shape)) + b, Y, w)
            + 0.01 * float(np.linalg.norm(U, axis=-1).sum())
            for U, b, *_ in (out["auto"], out["dense"])]
    assert objs[0] == pytest.approx(objs[1], rel=1e-9)


def _failing_barrier(monkeypatch, fails):
    """Make the fast solver's interior point raise NoInteriorError on the calls
    for which ``fails(call_number, kwargs)`` is true; returns the calls' kwargs."""
    from convexrelu.solvers import fast

    real = fast.solve_restricted_barrier
    calls = []

    def barrier(*args, **kwargs):
        calls.append(kwargs)
        if fails(len(calls), kwargs):
            raise fast.NoInteriorError("forced")
        return real(*args, **kwargs)

    monkeypatch.setattr(fast, "solve_restricted_barrier", barrier)
    return calls


def test_failed_cold_interior_point_is_retried_warm_from_the_last_round(monkeypatch):
    """A round whose cold interior point fails is solved again from part of
    the way to the previous round's point, not handed to Clarabel (whose exact
    solve of a 100-class round needed more than 12 GB), and the solve reaches
    the same certified optimum."""
    from convexrelu.solvers import fast

    X, y, arr, alpha = make_problem(4, 200, 4, 2, "logistic", n_patterns=40, alpha_frac=0.05)
    plain = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    calls = _failing_barrier(monkeypatch, lambda k, kw: k > 1 and kw.get("start_u") is None)
    clarabel = count_calls(monkeypatch, fast, "solve_restricted")
    ours = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    warm = [kw["start_u"] for kw in calls if kw.get("start_u") is not None]
    assert len(calls) > 2 and warm                  # cold failures, warm retries
    assert all(np.any(u) for u in warm)             # from a previous (non-zero) point
    assert not clarabel and all(h["inner"] != "clarabel" for h in ours.history)
    assert ours.converged and ours.relative_gap <= 1e-8
    assert ours.objective == pytest.approx(plain.objective, rel=1e-7)


def test_clarabel_fallback_refused_when_it_would_not_fit_in_memory(monkeypatch):
    """When the interior point fails (cold and warm) and Clarabel's estimated
    memory exceeds what is available, the solve stops at the previous round's
    point with a ConvergenceWarning that says so, instead of running out of
    memory; with enough memory Clarabel takes the round."""
    from convexrelu.solvers import _restricted, fast

    X, y, arr, alpha = make_problem(4, 200, 4, 2, "logistic", n_patterns=40, alpha_frac=0.05)
    _failing_barrier(monkeypatch, lambda k, kw: k > 1)
    clarabel = count_calls(monkeypatch, fast, "solve_restricted")
    monkeypatch.setattr(fast, "available_memory", lambda: 2 ** 10)
    with pytest.warns(ConvergenceWarning) as rec:
        res = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    message = " ".join(str(r.message) for r in rec)
    need = _restricted.restricted_clarabel_bytes(
        X.shape[0], res.history[1]["working_set"], arr.n_hidden, X.shape[1])
    assert "Clarabel" in message and f"{need / 2 ** 30:.1f} GiB" in message
    assert not clarabel and not res.converged
    assert [h["inner"] for h in res.history] == ["ipm", "none"]
    # the first round's point, certified again
    assert res.history[1]["objective"] == pytest.approx(res.history[0]["objective"], rel=1e-12)
    assert res.objective <= res.history[0]["objective"] * (1 + 1e-12)
    assert res.relative_gap > 1e-8

    monkeypatch.setattr(fast, "available_memory", lambda: 2 ** 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8)
    assert clarabel and res.history[1]["inner"] == "clarabel"


def test_clarabel_fallback_refused_above_the_memory_limit(monkeypatch):
    """The fallback is refused above ``memory_limit`` too, with plenty of
    memory available, and the warning names the limit; at the estimate it
    runs.  The estimators pass theirs (Clarabel's estimate inflated, so
    that the fit's own estimate passes the limit that refuses the round)."""
    from convexrelu import ConvexDeepReLUClassifier
    from convexrelu.solvers import _restricted, fast

    X, y, arr, alpha = make_problem(4, 200, 4, 2, "logistic", n_patterns=40, alpha_frac=0.05)
    _failing_barrier(monkeypatch, lambda k, kw: k > 1)
    clarabel = count_calls(monkeypatch, fast, "solve_restricted")
    monkeypatch.setattr(fast, "available_memory", lambda: 2 ** 50)
    with pytest.warns(ConvergenceWarning, match="memory_limit of") as rec:
        res = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8,
                           memory_limit=1000)
    assert not clarabel and [h["inner"] for h in res.history] == ["ipm", "none"]
    assert "raise memory_limit" in str(rec[0].message)
    need = _restricted.restricted_clarabel_bytes(
        X.shape[0], res.history[1]["working_set"], arr.n_hidden, X.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-8, memory_limit=need)
    assert clarabel and res.history[1]["inner"] == "clarabel"

    clarabel.clear()
    monkeypatch.setattr(_restricted, "CLARABEL_BYTES_PER_ENTRY", 10 ** 9)
    params = dict(n_patterns=40, n_hidden=2, alpha=alpha, tol=1e-8, loss="log_loss",
                  random_state=0)
    with pytest.warns(ConvergenceWarning, match="memory_limit of 1.0 GiB"):
        ConvexDeepReLUClassifier(memory_limit="1GiB", **params).fit(X[:, :-1], y)
    assert not clarabel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ConvexDeepReLUClassifier(memory_limit=None, **params).fit(X[:, :-1], y)
    assert clarabel


def test_cv_folds_run_at_once_share_the_memory_limit(monkeypatch):
    """Each fold's path gets the limit divided by the paths run at once (for
    the fast solver's fallback rounds), and the whole limit when one runs at
    a time."""
    import joblib

    from convexrelu import ConvexDeepReLURegressorCV, _cv_folds

    seen = []
    real = _cv_folds.convex_path

    def path(*args, **kwargs):
        seen.append(kwargs.get("memory_limit"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_cv_folds, "convex_path", path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.maximum(X[:, 0], 0) + 0.1 * rng.standard_normal(60)
    params = dict(n_alphas=2, cv=3, n_patterns=4, n_hidden=2, memory_limit="3GiB",
                  random_state=0)
    with joblib.parallel_config(backend="threading"):
        ConvexDeepReLURegressorCV(n_jobs=2, **params).fit(X, y)
    assert seen == [3 * 2 ** 29] * 3
    seen.clear()
    ConvexDeepReLURegressorCV(**params).fit(X, y)
    assert seen == [3 * 2 ** 30] * 3


@pytest.mark.parametrize("loss", ["logistic", "cross_entropy"])
def test_cold_start_of_a_saturating_loss_takes_the_zero_networks_intercept(loss, monkeypatch):
    """A cold interior-point start of a saturating loss replaces a given
    intercept that fits the zero network worse than the zero network's best
    one (the previous round's intercept went with that round's network: +-24
    on a 100-class round, whose Newton systems then went singular); a warm
    start keeps the given intercept; from an absurd intercept the solve
    reaches the same optimum as from none."""
    from convexrelu.solvers import _barrier, prepare_problem
    from convexrelu.solvers._barrier import WorkingRows, _start, solve_restricted_barrier

    X, y, arr, alpha = make_problem(7, 90, 3, 2, loss, n_patterns=6, alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, loss, None)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    rows = WorkingRows(op, blocks)
    n, C = Y.shape
    absurd = 24.0 * np.where(np.arange(C) % 2 == 0, 1.0, -1.0)
    zero = np.zeros((n, C))
    best = loss_obj.optimal_intercept(zero, Y, w)

    _, _, _, b, L0, warm, _ = _start(rows, op, loss_obj, Y, w, alpha, blocks, True, absurd,
                                     None, None, False)
    assert not warm and np.allclose(b, best) and L0 == pytest.approx(
        loss_obj.value(zero + best, Y, w), rel=1e-12)
    assert L0 < loss_obj.value(zero + absurd, Y, w)
    # a warm start keeps the intercept it was given (it goes with start_u)
    U_prev = solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks, fit_intercept=True,
                                      tol=1e-10)[0]
    _, _, _, b, _, warm, _ = _start(rows, op, loss_obj, Y, w, alpha, blocks, True, absurd,
                                    U_prev, None, False)
    assert warm and np.array_equal(b, absurd)
    # (the rule off: the cold start keeps the absurd intercept)
    with monkeypatch.context() as patch:
        patch.setattr(_barrier, "COLD_START_ZERO_INTERCEPT", False)
        _, _, _, b, _, _, _ = _start(rows, op, loss_obj, Y, w, alpha, blocks, True, absurd,
                                     None, None, False)
    assert np.array_equal(b, absurd)

    def objective(out):
        F = op.predict(out[0].reshape(op.var_shape)) + out[1]
        return loss_obj.value(F, Y, w) + alpha * np.linalg.norm(out[0], axis=2).sum()

    plain = solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks, fit_intercept=True,
                                     tol=1e-10)
    from_absurd = solve_restricted_barrier(op, loss_obj, Y, w, alpha, blocks,
                                           fit_intercept=True, tol=1e-10,
                                           start_intercept=absurd)
    # (a stalled solve reached its gap, not its stationarity: see _barrier)
    assert plain[4] in ("optimal", "stalled") and from_absurd[4] in ("optimal", "stalled")
    assert objective(from_absurd) == pytest.approx(objective(plain), rel=1e-8)

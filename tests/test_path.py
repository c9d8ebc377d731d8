"""alpha_max (exact, certified) and convex_path (warm-started, certified).

alpha_max is checked three ways on random problems: (1) at alpha_max the
zero solution is dual feasible with the returned multipliers (checked by
convexrelu.duality, so zero is optimal there); (2) the returned direction is
feasible and its rate, recomputed here in plain numpy, is within 1e-6 of
alpha_max (so zero is not optimal below (1 - 1e-6) alpha_max); (3) the
solver returns zero at alpha_max and a strictly better-than-zero point at
0.99 alpha_max.  The gated (lam = 0) bound would fail (3).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import convexrelu.path as path_module
from convexrelu import alpha_grid, alpha_max, convex_path, sample_arrangements, solve_convex
from convexrelu.duality import duality_gap
from convexrelu.losses import get_loss
from convexrelu.operator import LiftedOperator, group_norms


def _problem(seed, loss="squared", n=60, d=3, m=2, n_patterns=10, weights=False):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    score = np.maximum(X[:, 0], 0) - 0.7 * np.maximum(X[:, 1] - 0.3, 0)
    if loss == "squared":
        y = score + 0.1 * rng.standard_normal(n)
    elif loss == "logistic":
        y = np.where(score + 0.3 * rng.standard_normal(n) > np.median(score), 1.0, -1.0)
    else:
        lab = np.digitize(score + 0.3 * rng.standard_normal(n),
                          np.quantile(score, [1 / 3, 2 / 3]))
        y = np.eye(3)[lab]
    arr = sample_arrangements(X, n_patterns, m, random_state=seed)
    sw = rng.uniform(0.2, 2.0, n) if weights else None
    return X, y, arr, sw


def _encoded(y, loss):
    Y = np.asarray(y, float)
    return Y.reshape(len(Y), -1)


def _zero_objective(X, y, loss, fit_intercept, sw):
    """min over the intercept of the loss alone (the objective of U = 0)."""
    lo = get_loss(loss)
    Y = _encoded(y, loss)
    w = np.full(len(Y), 1.0 / len(Y)) if sw is None else sw / sw.sum()
    F0 = np.zeros_like(Y)
    b = lo.optimal_intercept(F0, Y, w) if fit_intercept else np.zeros(Y.shape[1])
    return lo.value(F0 + b, Y, w), b, w, Y


CASES = [
    (0, "squared", True, False, (60, 3)),
    (1, "squared", False, False, (60, 3)),
    (2, "squared", True, True, (60, 3)),
    (3, "logistic", True, False, (60, 3)),
    (4, "cross_entropy", True, False, (60, 3)),
    (5, "squared", True, False, (60, 3)),
    # Wide data: the cone programs run in the row space of X, the direction
    # is lifted back (and checked below in the original coordinates).
    (6, "squared", True, False, (12, 20)),
    (7, "cross_entropy", True, False, (15, 25)),
]


@pytest.mark.parametrize("seed, loss, fit_intercept, weights, shape", CASES)
def test_alpha_max_is_certified_and_tight(seed, loss, fit_intercept, weights, shape):
    X, y, arr, sw = _problem(seed, loss, n=shape[0], d=shape[1], weights=weights)
    value, det = alpha_max(X, y, arr, loss=loss, fit_intercept=fit_intercept,
                           sample_weight=sw, return_details=True)
    assert value == alpha_max(X, y, arr, loss=loss, fit_intercept=fit_intercept,
                              sample_weight=sw)
    lo = get_loss(loss)
    zero_obj, b, w, Y = _zero_objective(X, y, loss, fit_intercept, sw)
    op = LiftedOperator(X, arr, n_outputs=Y.shape[1])

    # (1) zero is optimal at alpha_max: the multipliers make the dual feasible.
    assert np.all(det.lam1 >= 0) and np.all(det.lam2 >= 0)
    cert = duality_gap(op, lo, Y, w, op.zeros(), value, fit_intercept=fit_intercept,
                       intercept=b, lam1=det.lam1, lam2=det.lam2)
    assert cert.dual_scale >= 1.0 - 1e-12
    assert abs(cert.gap) <= 1e-12 * max(1.0, abs(cert.primal))

    # (2) below (1 - 1e-6) alpha_max zero is not optimal: a feasible direction
    # whose loss-decrease rate (recomputed here) beats the penalty.
    U = det.direction
    norms = np.sqrt((U ** 2).sum(-1))
    assert abs(norms.sum() - 1.0) < 1e-12
    Z = np.einsum("nd,ospmd->nospm", X, U)
    D1 = arr.first.transpose(1, 0, 2)                       # (n, P, m)
    D2 = arr.second.T                                       # (n, P)
    c1 = np.where(D1, 1.0, -1.0)[:, None, None] * Z
    sD1 = D1 * arr.signs[None]
    c2 = np.where(D2, 1.0, -1.0)[:, None, None] * np.einsum("nospm,npm->nosp", Z, sD1)
    scale = np.abs(Z).max()
    assert c1.min() >= -1e-9 * scale and c2.min() >= -1e-9 * scale
    sig = np.array([1.0, -1.0])
    F = np.einsum("nospm,npm,np,s->no", Z, sD1, D2, sig)    # prediction along U
    V = -lo.gradient(np.zeros_like(Y) + b, Y, w)
    rate = float(np.sum(V * F))
    assert rate >= (1 - 1e-6) * value
    assert rate <= value * (1 + 1e-12)
    assert det.lower <= value and det.lower >= (1 - 1e-6) * value
    # The gated bound (no multipliers) is only an upper bound.
    assert det.gated >= value * (1 - 1e-12)

    # (3) the solver: zero at alpha_max, strictly better than zero below it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        at = solve_convex(X, y, arr, value, loss=loss, fit_intercept=fit_intercept,
                          sample_weight=sw, tol=1e-8)
        below = solve_convex(X, y, arr, 0.99 * value, loss=loss,
                             fit_intercept=fit_intercept, sample_weight=sw, tol=1e-8)
    assert at.objective >= zero_obj - 1e-9 * zero_obj
    pred_at = op.predict(at.u)
    assert np.abs(pred_at).max() <= 1e-3 * max(np.abs(Y - Y.mean(0)).max(), 1e-12)
    assert below.n_subnetworks >= 1
    assert below.constraint_violation <= 1e-7
    # A feasible point with a lower objective than zero's: zero is not optimal.
    assert zero_obj - below.objective > 1e-7 * zero_obj
    assert zero_obj - below.objective > 10 * max(below.dual_gap, 0.0)


@pytest.mark.parametrize("seed", [1, 2, 5, 7, 11, 12])
def test_cold_fit_above_alpha_max_is_exact_zero(seed):
    """Just above alpha_max the gated test fails for some blocks; the solver
    certifies zero with priced or cone-program multipliers and returns it
    without a round (it returned 4 to 8 sub-networks with weights of 1e-10
    to 1e-8 on these seeds when only the gated test was tried); just below
    alpha_max it does not."""
    X, y, arr, _ = _problem(seed)
    value, det = alpha_max(X, y, arr, fit_intercept=True, return_details=True)
    assert det.gated > 1.01 * value                  # the gated test alone fails
    above = solve_convex(X, y, arr, 1.01 * value, fit_intercept=True, tol=1e-8)
    assert above.n_iter == 0 and np.all(above.u == 0) and above.n_subnetworks == 0
    assert above.converged and above.relative_gap <= 1e-12
    below = solve_convex(X, y, arr, 0.99 * value, fit_intercept=True, tol=1e-8)
    assert below.n_subnetworks > 0 and below.n_iter > 0


def test_alpha_max_at_gives_a_certified_bound():
    """``_alpha_max_details(at=...)`` answers only whether zero is optimal at
    ``at``: its value is still a certified upper bound on alpha_max, and at
    most ``at`` when zero is optimal there."""
    from convexrelu.path import _alpha_max_details, _prepare
    for seed in (0, 1, 12):
        X, y, arr, _ = _problem(seed)
        exact = alpha_max(X, y, arr, fit_intercept=True)
        _, Y, w, lo, op = _prepare(X, y, arr, "squared", None)
        for f in (0.5, 0.99, 1.001, 2.0):
            det = _alpha_max_details(op, lo, Y, w, True, at=f * exact)
            assert det.value >= exact * (1 - 1e-9)
            cert = duality_gap(op, lo, Y, w, op.zeros(), det.value, fit_intercept=True,
                               intercept=det.intercept, lam1=det.lam1, lam2=det.lam2)
            assert cert.dual_scale >= 1.0 - 1e-12
            if f > 1:
                assert det.value <= f * exact


def test_given_grid_above_alpha_max_starts_certified():
    """A given grid (as a CV fold gets, from the full data) whose first alphas
    are above this data's alpha_max: those points are zero, certified by
    multipliers without a solve, and the next one matches Clarabel."""
    X, y, arr, _ = _problem(7)
    value = alpha_max(X, y, arr, fit_intercept=True)
    alphas = np.array([1.3, 1.02, 0.8]) * value
    path = convex_path(X, y, arr, alphas=alphas, fit_intercept=True, tol=1e-8)
    for res in path.results[:2]:
        assert res.solver == "alpha_max" and np.all(res.u == 0)
        assert res.converged and abs(res.dual_gap) <= 1e-12 * abs(res.objective)
    assert path.alpha_max is None                 # not computed exactly for a given grid
    ref = solve_convex(X, y, arr, alphas[2], fit_intercept=True, solver="cvxpy", tol=1e-9)
    assert path.objectives[2] == pytest.approx(ref.objective, rel=1e-6)
    assert path.n_subnetworks[2] > 0


@pytest.mark.parametrize("n_alphas", [None, 3])
def test_zero_start_is_not_converged_without_its_certificate(n_alphas):
    """Above alpha_max the path takes zero without a solve; that point is
    converged only when its certificate meets tol.  With an intercept that
    stops at 0.7 of its optimum the gap is no bound (infinite): the path
    then hands the alpha to the solver, which warns, instead of marking an
    uncertified zero converged.  The custom loss reaches the solver too."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 3))
    y = np.where(rng.random(50) < 0.8, 1.0, -1.0)
    arr = sample_arrangements(X, 4, 2, random_state=0)
    lo = get_loss("logistic")

    class Stopped(type(lo)):
        def optimal_intercept(self, F0, Y, w, start=None):
            return 0.7 * super().optimal_intercept(F0, Y, w, start=start)

    kw = (dict(alphas=[1e3, 2e3]) if n_alphas is None
          else dict(n_alphas=n_alphas, eps=0.5))
    honest = convex_path(X, y, arr, loss="logistic", fit_intercept=True, **kw)
    assert honest.results[0].solver == "alpha_max" and honest.converged[0]
    with pytest.warns(ConvergenceWarning, match="intercept did not reach its optimum"):
        off = convex_path(X, y, arr, loss=Stopped(), fit_intercept=True, max_iter=3, **kw)
    assert not off.converged[0] and off.relative_gaps[0] == np.inf
    assert off.results[0].solver != "alpha_max"


def test_diabetes_fold_path_stays_on_active_set():
    """A CV fold's path (diabetes, the setting of benchmarks/bench_cv.py): after
    its first point every alpha is solved by the active-set method.  Three
    things used to send points to the interior point: a zero first point
    solved as 1e-9 groups, a face whose last Newton decrease was below the
    objective's rounding (the value test halved the step to nothing, 52
    times), and blocking rows that depend on the held ones (677 such rows in
    one step against a limit of 50)."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler

    from convexrelu.arrangements import Arrangements

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    Xa = np.hstack([X, np.ones((len(X), 1))])
    full = sample_arrangements(Xa, 20, 2, random_state=0)
    grid = alpha_grid(alpha_max(Xa, y, full, fit_intercept=True), n_alphas=20, eps=1e-2)
    for train, _ in list(KFold(3, shuffle=True, random_state=0).split(X))[:2]:
        arr = Arrangements.from_weights(Xa[train], full.first_weights, full.second_weights)
        path = convex_path(Xa[train], y[train], arr, alphas=grid, fit_intercept=True,
                           tol=1e-6)
        assert np.all(path.converged)
        inner = {h["inner"] for r in path.results[1:] for h in r.history}
        assert inner <= {"active_set"}, inner


def _diabetes_fold_grid(n_alphas):
    """``benchmarks/path_vs_cold_steps.py``'s fold: the first 295 diabetes rows
    (standardised, a ones column), 20 sampled tuples with m = 2, and a grid
    of ``n_alphas`` from alpha_max down to 1e-2 alpha_max."""
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:295]
    y = ((y - y.mean()) / y.std())[:295]
    Xa = np.hstack([X, np.ones((len(X), 1))])
    arr = sample_arrangements(Xa, 20, 2, random_state=0)
    grid = alpha_grid(alpha_max(Xa, y, arr, fit_intercept=True), n_alphas=n_alphas, eps=1e-2)
    return Xa, y, arr, grid


def test_early_face_check_saves_newton_steps(monkeypatch):
    """The active-set method checks a nearly solved face's rows before solving
    it (``EARLY_CHECK_RTOL``): on the diabetes fold path of the test above the
    same certified objectives come with fewer Newton steps than when every
    face is solved to the end before its rows are checked."""
    from convexrelu.solvers import _active_set

    Xa, y, arr, grid = _diabetes_fold_grid(12)
    steps = {"n": 0}
    real = _active_set._ActiveSet.newton_step

    def counting(self, *args, **kwargs):
        steps["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_active_set._ActiveSet, "newton_step", counting)
    runs = {}
    for rtol in (-1.0, _active_set.EARLY_CHECK_RTOL):
        monkeypatch.setattr(_active_set, "EARLY_CHECK_RTOL", rtol)
        steps["n"] = 0
        path = convex_path(Xa, y, arr, alphas=grid, fit_intercept=True, tol=1e-6)
        assert np.all(path.converged)
        runs[rtol] = (steps["n"], path.objectives)
    (late, obj_late), (early, obj_early) = runs.values()
    np.testing.assert_allclose(obj_early, obj_late, rtol=1e-9)
    assert early < late


def test_exact_block_test_spares_one_block_solves(monkeypatch):
    """Zero blocks the least-squares pricing cannot certify get the exact test
    (``_block_certificate.certify_zero_block``) before their own restricted
    solve: on the diabetes fold path no such solve ends with its block still
    at zero (the interior point's slowest case, at the cone's apex), while
    without the test several do; the certified objectives agree."""
    from convexrelu.solvers import _zero_groups

    Xa, y, arr, grid = _diabetes_fold_grid(30)
    outcomes = []
    real = _zero_groups.ZeroGroups._output_block_step

    def recording(self, *args, **kwargs):
        moved = real(self, *args, **kwargs)
        outcomes.append(moved)
        return moved

    monkeypatch.setattr(_zero_groups.ZeroGroups, "_output_block_step", recording)
    runs = {}
    for exact in (True, False):
        if not exact:
            monkeypatch.setattr(_zero_groups.ZeroGroups, "certify_exactly",
                                lambda self, V, bis, *a: (np.zeros(len(bis), bool), {}))
        outcomes.clear()
        path = convex_path(Xa, y, arr, alphas=grid, fit_intercept=True, tol=1e-6)
        assert np.all(path.converged)
        runs[exact] = (sum(o is False for o in outcomes), path.objectives)
    (stayed_exact, obj_exact), (stayed_without, obj_without) = runs.values()
    np.testing.assert_allclose(obj_exact, obj_without, rtol=1e-7)
    assert stayed_exact == 0
    assert stayed_without >= 3


def test_gated_bound_is_loose_somewhere():
    # The exactness matters: on these problems lam = 0 overestimates alpha_max.
    gaps = []
    for seed in range(3):
        X, y, arr, _ = _problem(seed)
        value, det = alpha_max(X, y, arr, fit_intercept=True, return_details=True)
        gaps.append(det.gated / value - 1)
    assert max(gaps) > 1e-2


def test_alpha_max_zero_when_intercept_fits():
    X, _, arr, _ = _problem(0)
    y = np.full(len(X), 3.0)
    assert alpha_max(X, y, arr, fit_intercept=True) <= 1e-12
    grid = alpha_grid(0.0, n_alphas=4)
    assert grid.shape == (4,) and np.all(grid > 0)


def test_alpha_grid():
    g = alpha_grid(2.0, n_alphas=5, eps=1e-2)
    assert g[0] == 2.0 and np.isclose(g[-1], 2e-2)
    assert np.allclose(g[1:] / g[:-1], (1e-2) ** 0.25)
    assert alpha_grid(2.0, n_alphas=1).tolist() == [2.0]
    for bad in (dict(n_alphas=0), dict(eps=1.0), dict(eps=0.0)):
        with pytest.raises(ValueError):
            alpha_grid(1.0, **bad)


@pytest.fixture(scope="module")
def path_problem():
    X, y, arr, _ = _problem(7, n=70, n_patterns=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        path = convex_path(X, y, arr, n_alphas=6, eps=1e-2, fit_intercept=True, tol=1e-8)
    return X, y, arr, path


def test_path_grid_and_zero_start(path_problem):
    X, y, arr, path = path_problem
    amax = alpha_max(X, y, arr, fit_intercept=True)
    assert path.alpha_max == amax
    assert np.allclose(path.alphas, alpha_grid(amax, n_alphas=6, eps=1e-2), rtol=1e-14)
    assert path.n_subnetworks[0] == 0 and np.all(path.results[0].u == 0)
    assert path.n_subnetworks[-1] > 0
    assert np.all(np.diff(path.objectives) < 0)        # less penalty, lower optimum
    assert len(path) == 6 and path.coefs.shape[0] == 6 and path.intercepts.shape == (6, 1)


def test_path_certificates_stored(path_problem):
    X, y, arr, path = path_problem
    lo = get_loss("squared")
    op = LiftedOperator(X, arr)
    w = np.full(len(X), 1.0 / len(X))
    for k, res in enumerate(path.results):
        assert res.alpha == path.alphas[k]
        assert path.dual_gaps[k] == res.dual_gap
        assert path.relative_gaps[k] == res.relative_gap
        assert path.objectives[k] == res.objective
        assert path.n_subnetworks[k] == res.n_subnetworks
        assert path.converged[k] and path.relative_gaps[k] <= 1e-8
        # The stored certificate is valid: its dual point is feasible and its
        # two values are those of the stored points.
        Y = y[:, None]
        Gz = op.residual_to_z(res.dual_point)
        if res.lam1 is not None:
            Gz = Gz + op.constraint_adjoint_z(res.lam1, res.lam2)
        assert group_norms(op.x_adjoint(Gz)).max() <= res.alpha * (1 + 1e-9)
        assert np.isclose(lo.dual_objective(res.dual_point, Y, w), res.dual_objective,
                          rtol=1e-12)
        primal = (lo.value(op.predict(res.u) + res.intercept, Y, w)
                  + res.alpha * group_norms(res.u).sum())
        assert np.isclose(primal, res.objective, rtol=1e-12)


def test_path_matches_cold_solves(path_problem):
    X, y, arr, path = path_problem
    for k in (1, 3, 5):
        cold = solve_convex(X, y, arr, path.alphas[k], fit_intercept=True, solver="cvxpy",
                            tol=1e-8)
        assert abs(path.objectives[k] - cold.objective) <= 1e-6 * cold.objective


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
def test_first_step_below_alpha_max_starts_from_zero(loss):
    """On a fine grid the first point below alpha_max is solved by the
    active-set method from the zero solution (its blocks enter one by one)
    and reaches Clarabel's optimum."""
    X, y, arr, _ = _problem(11, n=60, n_patterns=10, loss=loss)
    path = convex_path(X, y, arr, loss=loss, n_alphas=20, eps=1e-2, fit_intercept=True,
                       tol=1e-8)
    first = path.results[1]
    assert path.n_subnetworks[0] == 0 and first.n_subnetworks > 0
    assert first.history[0]["inner"] == "active_set"
    assert first.converged and first.relative_gap <= 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = solve_convex(X, y, arr, path.alphas[1], loss=loss, fit_intercept=True,
                           solver="cvxpy", tol=1e-9)
    assert first.objective == pytest.approx(ref.objective, rel=1e-6)


def test_cross_entropy_path_by_active_set():
    """A softmax path: each point continues from the previous one by the
    active-set method (its zero blocks tested output by output) and the
    certified optima equal Clarabel's."""
    X, y, arr, _ = _problem(12, n=80, n_patterns=8, loss="cross_entropy")
    path = convex_path(X, y, arr, loss="cross_entropy", n_alphas=12, eps=1e-2,
                       fit_intercept=True, tol=1e-8)
    inner = [r.history[0]["inner"] for r in path.results[1:]]
    assert inner.count("active_set") >= len(inner) // 2
    assert np.all(path.converged) and np.all(path.relative_gaps <= 1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in (3, 11):
            ref = solve_convex(X, y, arr, path.alphas[k], loss="cross_entropy",
                               fit_intercept=True, solver="cvxpy", tol=1e-9)
            assert path.objectives[k] == pytest.approx(ref.objective, rel=1e-6)


def test_path_warm_starts_and_order(monkeypatch):
    X, y, arr, _ = _problem(3, n=40, n_patterns=6)
    seen = []
    real = path_module.solve_convex

    def spy(*args, **kwargs):
        res = real(*args, **kwargs)
        seen.append((args[3], kwargs["warm_start"], res))
        return res

    monkeypatch.setattr(path_module, "solve_convex", spy)
    path = convex_path(X, y, arr, alphas=[0.01, 0.1, 0.03], fit_intercept=True)
    assert path.alphas.tolist() == [0.1, 0.03, 0.01]
    assert [a for a, _, _ in seen] == [0.1, 0.03, 0.01]
    assert seen[0][1] is None
    assert seen[1][1] is seen[0][2] and seen[2][1] is seen[1][2]
    assert path.alpha_max is None


def test_path_errors_skip(monkeypatch):
    X, y, arr, _ = _problem(4, n=40, n_patterns=6)
    real = path_module.solve_convex

    def flaky(X, y, arr, alpha, **kwargs):
        if alpha == 0.03:
            raise RuntimeError("solver broke")
        return real(X, y, arr, alpha, **kwargs)

    monkeypatch.setattr(path_module, "solve_convex", flaky)
    with pytest.raises(RuntimeError):
        convex_path(X, y, arr, alphas=[0.1, 0.03, 0.01], fit_intercept=True)
    path = convex_path(X, y, arr, alphas=[0.1, 0.03, 0.01], fit_intercept=True,
                       errors="skip")
    assert path.results[1] is None and path.results[2] is not None
    assert np.isnan(path.objectives[1]) and np.isfinite(path.objectives[[0, 2]]).all()
    assert path.n_subnetworks[1] == -1 and not path.converged[1]
    assert path.errors[0][0] == 1 and "solver broke" in path.errors[0][1]
    assert np.isnan(path.coefs[1]).all() and np.isfinite(path.coefs[2]).all()


def test_path_validation():
    X, y, arr, _ = _problem(0, n=30, n_patterns=4)
    for bad in ([], [0.1, -1.0], [np.nan]):
        with pytest.raises(ValueError):
            convex_path(X, y, arr, alphas=bad)
    with pytest.raises(ValueError):
        convex_path(X, y, arr, alphas=[0.1], errors="ignore")
    with pytest.raises(TypeError):
        alpha_max(X, y, "not arrangements")

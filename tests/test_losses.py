"""Losses: the intercept's Newton method, the softmax's log-sum-exp, and the
accuracy of values, gradients and duals on saturated rows."""

import dataclasses
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from convexrelu.losses import _logsumexp, get_loss


def _data(loss, rng, n=50, scale=1.0):
    if loss == "squared":
        return rng.standard_normal((n, 2)) * scale, rng.standard_normal((n, 2))
    if loss == "logistic":
        return rng.standard_normal((n, 1)) * scale, np.where(rng.random((n, 1)) < 0.7, 1.0, -1.0)
    return rng.standard_normal((n, 4)) * scale, np.eye(4)[rng.integers(0, 4, n)]


def _counting_loss(name):
    """The loss ``name`` and a list that gets one entry per evaluation of its value."""
    calls = []

    class Counting(type(get_loss(name))):
        def value(self, F, Y, w):
            calls.append(1)
            return super().value(F, Y, w)

    return Counting(), calls


@pytest.mark.parametrize("loss,scale,shift", [
    (loss, scale, 0.0) for loss in ("squared", "logistic", "cross_entropy")
    for scale in (1.0, 30.0)] + [("cross_entropy", 1.0, 500.0), ("cross_entropy", 30.0, 500.0)])
def test_optimal_intercept_is_stationary_and_cheap(loss, scale, shift):
    """The intercept minimises the loss (its gradient vanishes to rounding, no
    general-purpose optimiser finds a lower value) within a few dozen loss
    evaluations, also from far off (saturated predictions, ``scale=30``) and
    from a start far along the softmax's flat direction (``shift``: all
    intercepts near 500, as warm starts along a path can leave them; the
    Newton steps there used to stay of unit size along that direction,
    spending 200 loss evaluations per call)."""
    rng = np.random.default_rng(3)
    F0, Y = _data(loss, rng, scale=scale)
    w = rng.uniform(0.5, 1.5, len(F0))
    w /= w.sum()
    lo = get_loss(loss)
    counted, calls = _counting_loss(loss)
    start = shift + 5.0 * rng.standard_normal(F0.shape[1])
    b = counted.optimal_intercept(F0, Y, w, start=start)
    grad = lo.gradient(F0 + b, Y, w).sum(axis=0)
    assert np.abs(grad).max() <= 1e-12
    ref = minimize(lambda c: lo.value(F0 + c, Y, w), np.zeros(F0.shape[1]), method="BFGS",
                   jac=lambda c: lo.gradient(F0 + c, Y, w).sum(axis=0), tol=1e-12)
    assert lo.value(F0 + b, Y, w) <= ref.fun + 1e-13
    assert len(calls) <= 30


@pytest.mark.parametrize("loss", ["logistic", "cross_entropy"])
@pytest.mark.parametrize("size", [24.0, 100.0])
def test_optimal_intercept_from_absurd_intercepts_reaches_the_optimum(loss, size):
    """From intercepts of +-24 or +-100 (a previous network's, handed to the
    zero network), where a class is at probability ~0 and the loss is linear
    in its intercept, the optimum is still reached: such directions have no
    curvature to speak of, and Newton's method alone stopped there (a softmax
    at loss 2.3 against 0.8; a logistic at 49 against 0.69)."""
    rng = np.random.default_rng(5)
    n = 90
    if loss == "logistic":
        Y = np.where(rng.random((n, 1)) < 0.5, 1.0, -1.0)
    else:
        Y = np.eye(3)[rng.choice(3, n, p=[0.47, 0.06, 0.47])]      # one rare class
    F0 = 0.3 * rng.standard_normal(Y.shape)
    w = np.full(n, 1.0 / n)
    lo = get_loss(loss)
    counted, calls = _counting_loss(loss)
    start = size * np.where(np.arange(Y.shape[1]) % 2 == 0, 1.0, -1.0)
    b = counted.optimal_intercept(F0, Y, w, start=start)
    assert np.abs(lo.gradient(F0 + b, Y, w).sum(axis=0)).max() <= 1e-12
    best = lo.optimal_intercept(F0, Y, w)
    assert lo.value(F0 + b, Y, w) <= lo.value(F0 + best, Y, w) + 1e-14
    assert len(calls) <= 60


@pytest.mark.parametrize("loss", ["logistic", "cross_entropy"])
def test_certificate_refuses_an_intercept_off_its_optimum(loss):
    """The duality gap with an intercept needs ``sum_i V_i = 0``, which holds
    only at the intercept's optimum.  Off it, ``-L*(-V)`` is no lower bound:
    here, with the intercept shrunk to 0.7 of its optimum (a Newton method
    that stopped early), it exceeds the optimal objective, a negative gap
    that passed as converged.  The certificate now measures the intercept's
    gradient, gives no bound (``dual = -inf``) and ``solve_convex`` warns,
    naming the intercept."""
    from convexrelu import optimality_certificate, sample_arrangements, solve_convex
    from convexrelu.duality import INTERCEPT_RTOL, duality_gap
    from convexrelu.operator import LiftedOperator

    rng = np.random.default_rng(2)
    n = 60
    X = rng.standard_normal((n, 3))
    if loss == "logistic":
        y = np.where(rng.random(n) < 0.85, 1, -1)
    else:
        y = np.eye(3)[rng.choice(3, n, p=[0.6, 0.3, 0.1])]
    lo = get_loss(loss)
    Y, w = lo.encode_targets(y), np.full(n, 1.0 / n)
    arr = sample_arrangements(X, 5, 2, random_state=0)
    op = LiftedOperator(X, arr, n_outputs=Y.shape[1])
    alpha = 1e3                                     # the zero network is optimal
    U = op.zeros()
    honest = duality_gap(op, lo, Y, w, U, alpha, fit_intercept=True)
    assert honest.intercept_residual <= 1e-14 and abs(honest.relative_gap) <= 1e-12

    class Stopped(type(lo)):
        def optimal_intercept(self, F0, Y, w, start=None):
            return 0.7 * super().optimal_intercept(F0, Y, w, start=start)

    V = -lo.gradient(np.zeros_like(Y) + 0.7 * honest.intercept, Y, w)
    assert lo.dual_objective(V, Y, w) > honest.primal + 1e-3      # what the old gap used
    off = duality_gap(op, Stopped(), Y, w, U, alpha, fit_intercept=True)
    assert off.intercept_residual > 1e3 * INTERCEPT_RTOL
    assert off.dual == -np.inf and off.relative_gap == np.inf
    with pytest.warns(ConvergenceWarning, match="intercept did not reach its optimum"):
        res = solve_convex(X, y, arr, alpha, loss=Stopped(), fit_intercept=True, max_iter=5)
    assert not res.converged and res.relative_gap == np.inf
    good = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=True)
    assert good.converged
    # The network's certificate takes the result's intercept as it is.
    kw = dict(exact=False, n_check=20, random_state=0)
    assert np.isfinite(optimality_certificate(X, y, good, **kw).lower_bound)
    bad = dataclasses.replace(good, intercept=0.7 * good.intercept)
    assert optimality_certificate(X, y, bad, **kw).lower_bound == -np.inf


def test_logsumexp_matches_scipy_and_keeps_saturated_rows():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((40, 5)) * 10
    np.testing.assert_allclose(_logsumexp(F)[:, 0], logsumexp(F, axis=1), rtol=1e-13)
    # One dominant output: the loss of the right class is exp(-40) ~ 4e-18,
    # which log(1 + tiny) rounds to zero.
    F = np.array([[40.0, 0.0, 0.0]])
    Y = np.array([[1.0, 0.0, 0.0]])
    value = get_loss("cross_entropy").value(F, Y, np.ones(1))
    assert value == pytest.approx(2 * np.exp(-40.0), rel=1e-12, abs=0.0)


def _saturated_softmax(rng, n=40, C=4, margin=(20.0, 30.0)):
    """Outputs whose label wins by ``margin``: probabilities 1 - 1e-9 to 1 - 1e-13."""
    labels = rng.integers(0, C, n)
    F = rng.uniform(-5.0, 5.0, (n, C))
    F[np.arange(n), labels] = F.max(axis=1) + rng.uniform(*margin, n)
    return F, np.eye(C)[labels], labels


def test_saturated_cross_entropy_value_gradient_and_dual_are_accurate():
    """On rows whose label's probability is 1 - 1e-12, the value, the
    label's gradient entry and the entropy of the dual are each of size
    ~1e-12 and must keep their relative accuracy.  References from the
    differences ``D = f_c - f_y`` only (``S = sum exp(D)`` over the other
    classes): loss ``log1p(S)``, label entry ``-S / (1 + S)``, entropy
    ``log1p(S) - sum p_c D_c``.  Subtracting ``f_y`` from a log-sum-exp of
    size 30, or rounding ``p_y`` to 1 - 1e-12, costs digits 4 to 6 there."""
    rng = np.random.default_rng(0)
    F, Y, labels = _saturated_softmax(rng)
    w = rng.uniform(0.5, 1.5, len(F))
    loss = get_loss("cross_entropy")
    rows = np.arange(len(F))
    D = np.where(Y > 0, -np.inf, F - F[rows, labels][:, None])
    S = np.exp(D).sum(axis=1)
    P_other = np.exp(D) / (1.0 + S)[:, None]
    for i in range(len(F)):
        assert loss.value(F[i:i + 1], Y[i:i + 1], w[i:i + 1]) == pytest.approx(
            w[i] * np.log1p(S[i]), rel=1e-12, abs=0.0)
    G = loss.gradient(F, Y, w)
    np.testing.assert_allclose(G[rows, labels], -w * S / (1.0 + S), rtol=1e-12)
    np.testing.assert_allclose(np.where(Y > 0, 0.0, G), w[:, None] * P_other, rtol=1e-12)
    entropy = np.log1p(S) - np.sum(P_other * np.where(Y > 0, 0.0, D), axis=1)
    for i in range(len(F)):
        assert loss.dual_objective(-G[i:i + 1], Y[i:i + 1], w[i:i + 1]) == pytest.approx(
            w[i] * entropy[i], rel=1e-10, abs=0.0)


def test_saturated_logistic_dual_is_accurate():
    """The logistic dual at ``V = -grad`` is the entropy of ``a = expit(-m)``
    (margin ``m = y f``), ``log1p(exp(-m)) + a m``: accurate to 1e-10 where
    ``a`` is 1e-9 to 1e-13 (``(1 - a) log(1 - a)`` from the rounded ``1 - a``
    is not)."""
    rng = np.random.default_rng(1)
    m = rng.uniform(20.0, 30.0, 30)
    Y = np.where(rng.random(30) < 0.5, 1.0, -1.0)[:, None]
    F = Y * m[:, None]
    w = rng.uniform(0.5, 1.5, 30)
    loss = get_loss("logistic")
    G = loss.gradient(F, Y, w)
    a = np.exp(-m) / (1.0 + np.exp(-m))
    for i in range(30):
        assert loss.dual_objective(-G[i:i + 1], Y[i:i + 1], w[i:i + 1]) == pytest.approx(
            w[i] * (np.log1p(np.exp(-m[i])) + a[i] * m[i]), rel=1e-10, abs=0.0)


def test_extreme_class_weights_give_a_certified_softmax_fit():
    """Weights of 1000 against 1e-4 (scikit-learn's class-weight check) put
    the whole loss at the scale of 1e-6, on saturated rows.  Before the
    value, gradient and dual above were made accurate there, the fast
    solver stopped on these two fits at relative gaps of 0.985 (objective
    3.36e-6, 15% above the optimum) and 7.1e-5."""
    from convexrelu import ConvexDeepReLUClassifier

    for seed in (0, 2):
        X, y = make_blobs(centers=3, random_state=seed, cluster_std=20)
        X, y = X[:50], y[:50]
        clf = ConvexDeepReLUClassifier(alpha=1e-9, n_patterns=6, random_state=0,
                                       class_weight={0: 1000, 1: 1e-4, 2: 1e-4})
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            clf.fit(X, y)
        assert clf.converged_ and clf.relative_gap_ <= 1e-6
        assert clf.objective_ < 3e-6

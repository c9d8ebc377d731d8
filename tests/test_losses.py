"""Losses: the intercept's Newton method and the softmax's log-sum-exp."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from convexrelu.losses import _logsumexp, get_loss


def _data(loss, rng, n=50, scale=1.0):
    if loss == "squared":
        return rng.standard_normal((n, 2)) * scale, rng.standard_normal((n, 2))
    if loss == "logistic":
        return rng.standard_normal((n, 1)) * scale, np.where(rng.random((n, 1)) < 0.7, 1.0, -1.0)
    return rng.standard_normal((n, 4)) * scale, np.eye(4)[rng.integers(0, 4, n)]


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
    calls = []

    class Counting(type(lo)):
        def value(self, F, Y, w):
            calls.append(1)
            return super().value(F, Y, w)

    start = shift + 5.0 * rng.standard_normal(F0.shape[1])
    b = Counting().optimal_intercept(F0, Y, w, start=start)
    grad = lo.gradient(F0 + b, Y, w).sum(axis=0)
    assert np.abs(grad).max() <= 1e-12
    ref = minimize(lambda c: lo.value(F0 + c, Y, w), np.zeros(F0.shape[1]), method="BFGS",
                   jac=lambda c: lo.gradient(F0 + c, Y, w).sum(axis=0), tol=1e-12)
    assert lo.value(F0 + b, Y, w) <= ref.fun + 1e-13
    assert len(calls) <= 30


def test_logsumexp_matches_scipy_and_keeps_saturated_rows():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((40, 5)) * 10
    np.testing.assert_allclose(_logsumexp(F)[:, 0], logsumexp(F, axis=1), rtol=1e-15)
    # One dominant output: the loss of the right class is exp(-40) ~ 4e-18,
    # which log(1 + tiny) rounds to zero.
    F = np.array([[40.0, 0.0, 0.0]])
    Y = np.array([[1.0, 0.0, 0.0]])
    value = get_loss("cross_entropy").value(F, Y, np.ones(1))
    assert value == pytest.approx(2 * np.exp(-40.0), rel=1e-12)

"""``history_``: the fast solver's working-set rounds on the estimators."""

import re

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from convexrelu import ConvexDeepReLURegressor, ConvexDeepReLURegressorCV


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return X[:200], (y[:200] - y.mean()) / y.std()


def test_history_has_a_round_per_iteration_and_ends_at_the_certificate(diabetes, capsys):
    """One entry per working-set round, in time order; the rounds before the
    last do not certify the fit (else it would have stopped there), the last
    one does; the verbose lines print the same rounds."""
    X, y = diabetes
    tol = 1e-7
    est = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=16, tol=tol, random_state=0,
                                  verbose=True).fit(X, y)
    printed = [line for line in capsys.readouterr().out.splitlines()
               if line.startswith("[fast] it")]
    h = est.history_
    assert set(h) == {"objective", "relative_gap", "seconds", "active_blocks",
                      "working_set", "inner", "output"}
    # A cold fit's first round is an interior point's (nothing exact to start from).
    assert h["inner"][0] == "ipm" and set(h["inner"]) <= {"ipm", "active_set", "clarabel"}
    assert est.converged_ and est.n_iter_ >= 2
    assert all(len(v) == est.n_iter_ for v in h.values())
    assert np.all(np.diff(h["seconds"]) > 0) and h["seconds"][-1] <= est.fit_time_
    assert np.all(h["relative_gap"][:-1] > tol) and h["relative_gap"][-1] <= tol
    assert np.all(h["output"] == -1)
    assert np.all(h["active_blocks"] <= h["working_set"])
    # The final clean-up of negligible groups moves the objective within the gap.
    assert est.objective_ == pytest.approx(h["objective"][-1], rel=tol)
    objectives = [float(re.search(r"obj (\S+)", line).group(1)) for line in printed]
    np.testing.assert_allclose(objectives, h["objective"], rtol=1e-9)


def test_separate_outputs_carry_their_index(diabetes):
    """With the squared loss each output is its own program: every output's
    rounds are in the history, its seconds counted from its own start."""
    X, y = diabetes
    Y = np.column_stack([y, np.tanh(y), -y])
    est = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, tol=1e-7,
                                  random_state=0).fit(X, Y)
    h = est.history_
    assert sorted(set(h["output"])) == [0, 1, 2]
    assert len(h["output"]) == est.n_iter_
    for o in range(3):
        rounds = h["output"] == o
        assert np.all(np.diff(h["seconds"][rounds]) > 0)
        assert h["relative_gap"][rounds][-1] <= 1e-7


def test_cvxpy_fits_and_warm_starts(diabetes):
    """CVXPY has no rounds to record; a warm-started fit records its own rounds
    only (here a single one, the active-set method's from the previous
    solution, which still certifies)."""
    X, y = diabetes
    cvx = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=4, solver="cvxpy",
                                  random_state=0).fit(X, y)
    assert all(len(v) == 0 for v in cvx.history_.values())
    est = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, random_state=0,
                                  warm_start=True).fit(X, y)
    cold_rounds = len(est.history_["objective"])
    est.fit(X, y)
    assert len(est.history_["objective"]) == est.n_iter_ < cold_rounds
    assert list(est.history_["inner"]) == ["active_set"]


def test_cv_estimator_exposes_the_refits_history(diabetes):
    X, y = diabetes
    cv = ConvexDeepReLURegressorCV(n_alphas=3, cv=2, n_patterns=6, random_state=0).fit(X, y)
    for key, value in cv.best_estimator_.history_.items():
        np.testing.assert_array_equal(cv.history_[key], value)
    assert len(cv.history_["objective"]) == cv.n_iter_

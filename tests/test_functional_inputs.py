"""Bad input to the functional API gets a ValueError (or TypeError) naming it.

The estimators validate through scikit-learn; these are the functions
beneath them (``solve_convex``, ``convex_path``, ``alpha_grid``,
``train_arrangements``, ``optimality_certificate``), which had let some
inputs through to NumPy errors deep inside or to silent garbage: negative
weights in a "proof", NaN warm starts, misspelt solver options.
"""

import dataclasses

import numpy as np
import pytest

import convexrelu as cr
from convexrelu.solvers import _round_up


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_normal((40, 2)), np.ones(40)])
    y = np.sin(X[:, 0])
    arr = cr.sample_arrangements(X, 10, 2, random_state=0)
    res = cr.solve_convex(X, y, arr, 0.01, fit_intercept=True)
    return X, y, arr, res


def test_warm_start_must_be_finite(problem):
    X, y, arr, res = problem
    bad = dataclasses.replace(res, u=np.full_like(res.u, np.nan))
    with pytest.raises(ValueError, match="warm_start must be finite"):
        cr.solve_convex(X, y, arr, 0.01, fit_intercept=True, warm_start=bad)
    again = cr.solve_convex(X, y, arr, 0.01, fit_intercept=True, warm_start=res)
    assert again.objective == pytest.approx(res.objective, rel=1e-9)


def test_empty_data_and_empty_tuple_sets(problem):
    X, y, arr, _ = problem
    with pytest.raises(ValueError, match="X is empty"):
        cr.solve_convex(X[:0], y[:0], arr, 0.01)
    empty = cr.Arrangements(arr.first[:0], arr.signs[:0], arr.second[:0])
    for call in (lambda: cr.solve_convex(X, y, empty, 0.01),
                 lambda: cr.convex_path(X, y, empty, n_alphas=2),
                 lambda: cr.alpha_max(X, y, empty)):
        with pytest.raises(ValueError, match="no tuples"):
            call()
    with pytest.raises(ValueError, match="complex"):
        cr.solve_convex(X + 1j, y, arr, 0.01)


def test_unknown_fast_solver_option_is_an_error(problem):
    X, y, arr, _ = problem
    with pytest.raises(TypeError, match="first_round_toll"):
        cr.solve_convex(X, y, arr, 0.01, first_round_toll=1e-3)
    # a real option is accepted
    cr.solve_convex(X, y, arr, 0.01, first_round_tol=1e-2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(tol=0.0), "tol"), (dict(tol=np.inf), "tol"), (dict(tol=1.0), "tol"),
    (dict(max_iter=0), "max_iter"),
    (dict(max_iter=True), "max_iter"), (dict(solver="bogus"), "Unknown solver")])
def test_path_checks_parameters_it_would_not_use(problem, kwargs, match):
    """Every alpha above alpha_max is certified without a solve, and with
    errors="skip" a bad parameter was a NaN per alpha: refused up front."""
    X, y, arr, _ = problem
    for errors in ("raise", "skip"):
        with pytest.raises(ValueError, match=match):
            cr.convex_path(X, y, arr, alphas=[100.0], errors=errors, **kwargs)


@pytest.mark.parametrize("value", [np.inf, -1.0, np.nan])
def test_alpha_grid_needs_a_finite_non_negative_top(value):
    with pytest.raises(ValueError, match="alpha_max"):
        cr.alpha_grid(value)
    assert np.all(cr.alpha_grid(0.0, n_alphas=3) > 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sample_weight=-np.ones(40)), "non-negative"),
    (dict(sample_weight=np.ones(3)), "shape"),
    (dict(sample_weight=np.zeros(40)), "positive sum"),
    (dict(alpha=-1.0), "alpha"), (dict(alpha=np.nan), "alpha"),
    (dict(loss="logistic"), "-1, \\+1"), (dict(loss="cross_entropy"), "one-hot")])
def test_train_arrangements_checks_its_input(problem, kwargs, match):
    X, y, _, _ = problem
    with pytest.raises(ValueError, match=match):
        cr.train_arrangements(X, y, 4, 2, **kwargs)


def test_train_arrangements_shapes(problem):
    X, y, _, _ = problem
    with pytest.raises(ValueError, match="1-D or 2-D"):
        cr.train_arrangements(X, y.reshape(-1, 1, 1), 4, 2)
    with pytest.raises(ValueError, match="X is empty"):
        cr.train_arrangements(X[:0], y[:0], 4, 2)
    arr = cr.train_arrangements(X, np.where(y > 0, 1.0, -1.0), 4, 2, loss="logistic",
                                random_state=0)
    assert arr.n_samples == 40 and 1 <= arr.n_patterns <= 4


@pytest.mark.parametrize("change, match", [
    ("nan_y", "finite"), ("negative_weight", "non-negative"),
    ("short_weight", "shape"), ("columns", "columns")])
def test_optimality_certificate_checks_its_input(problem, change, match):
    """A certificate is a proof: it must not be issued for mixed-sign
    weights (it was, with a lower bound) or NaN targets (all NaN)."""
    X, y, _, res = problem
    y_in, sw, X_in = y, None, X
    if change == "nan_y":
        y_in = y.copy()
        y_in[3] = np.nan
    elif change == "negative_weight":
        sw = np.r_[1.0, -1.0, np.ones(38)]
    elif change == "short_weight":
        sw = np.ones(3)
    else:
        X_in = X[:, :2]
    with pytest.raises(ValueError, match=match):
        cr.optimality_certificate(X_in, y_in, res, sample_weight=sw, exact=False, n_check=50,
                                  random_state=0)


@pytest.mark.parametrize("gap, expected", [(1.142e-6, 2e-6), (1e-6, 1e-6),
                                           (7.52e-8, 8e-8), (9.99e-9, 1e-8)])
def test_suggested_tol_is_reachable(gap, expected):
    """The warning's "loosen tol to at least ..." rounds the gap up: printed
    with one digit, 1.142e-6 became the tol that had just failed."""
    assert _round_up(gap) == pytest.approx(expected)
    assert _round_up(gap) >= gap



def test_network_checks_its_input(problem):
    X, y, _, res = problem
    net = cr.extract_network(res)
    assert net.objective(X, y, 0.01) == pytest.approx(res.objective, rel=1e-9)
    with pytest.raises(ValueError, match="3 columns"):
        net.predict(X[0])
    with pytest.raises(ValueError, match="2 columns"):
        cr.extract_network(res, bias_column=True).predict(X)      # its ones column is inside
    with pytest.raises(ValueError, match="rows"):
        net.objective(X, y[:3], 0.01)
    with pytest.raises(ValueError, match="non-negative"):
        net.objective(X, y, 0.01, sample_weight=-np.ones(40))


def test_fit_intercept_must_be_a_bool(problem):
    X, y, arr, _ = problem
    for call in (lambda: cr.solve_convex(X, y, arr, 0.01, fit_intercept="no"),
                 lambda: cr.convex_path(X, y, arr, n_alphas=2, fit_intercept="no"),
                 lambda: cr.alpha_max(X, y, arr, fit_intercept="no")):
        with pytest.raises(ValueError, match="fit_intercept must be a bool"):
            call()


def test_generating_weights_must_fit_the_tuples(problem):
    X, _, arr, _ = problem
    with pytest.raises(ValueError, match="do not fit 10 tuples"):
        cr.Arrangements(arr.first, arr.signs, arr.second,
                        first_weights=arr.first_weights[:3], second_weights=arr.second_weights)
    with pytest.raises(ValueError, match="2-D"):
        cr.Arrangements.from_weights(X[0], arr.first_weights, arr.second_weights)
    with pytest.raises(ValueError, match="2-D"):
        arr.recompute(X[0])
    again = cr.Arrangements.from_weights(X, arr.first_weights, arr.second_weights)
    np.testing.assert_array_equal(again.first, arr.first)


def test_tuples_of_another_feature_space_are_refused(problem):
    # Sampled with the column of ones, solved without it: the tuples'
    # cones have no interior on X[:, :2], and a conic solver would return
    # the optimum of a program that is not theirs.
    X, y, arr, _ = problem
    for call in (lambda: cr.solve_convex(X[:, :2], y, arr, 0.01),
                 lambda: cr.convex_path(X[:, :2], y, arr, n_alphas=2),
                 lambda: cr.LiftedOperator(X[:, :2], arr)):
        with pytest.raises(ValueError, match="have 3 features but X has 2 columns"):
            call()
    # Without generating weights the tuples carry no feature count to check.
    bare = cr.Arrangements(arr.first, arr.signs, arr.second)
    assert cr.LiftedOperator(X[:, :2], bare).n_features == 2


def test_memory_estimate_and_n_jobs_names(problem):
    X, y, arr, _ = problem
    with pytest.raises(ValueError, match="loss must be"):
        cr.estimate_fit_memory(100, 3, 1, 10, 2, loss="log_loss")
    with pytest.raises(ValueError, match="Unknown solver"):
        cr.estimate_fit_memory(100, 3, 1, 10, 2, solver="bogus")
    assert cr.estimate_fit_memory(100, 3, 1, 10, 2, solver="CLARABEL") == \
        cr.estimate_fit_memory(100, 3, 1, 10, 2, solver="cvxpy")
    with pytest.raises(ValueError, match="n_jobs"):
        cr.solve_convex(X, y, arr, 0.01, n_jobs=0)

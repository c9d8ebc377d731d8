"""Reliability: bad input, extreme settings, memory, reproducibility (issue 8).

Every bad input must raise a ValueError/TypeError whose message names the
problem, and leave a previously fitted estimator exactly as it was.
Extreme but valid input must fit and predict finite values.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_score
from sklearn.utils import check_random_state

from convexrelu import (ConvexDeepReLUClassifier, ConvexDeepReLURegressor,
                        ConvexDeepReLURegressorCV, LiftedOperator,
                        sample_arrangements)
from convexrelu._validation import DataScaleWarning
from convexrelu.memory import (FitMemoryError, estimate_fit_memory, resolve_memory_limit,
                               traced_peak)

SMALL = dict(n_patterns=8, n_hidden=2, random_state=0)


def _data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
    return X, y


def _labels(X):
    return np.where(X[:, 0] + 0.3 * X[:, 1] > 0, "yes", "no")


@pytest.fixture(scope="module")
def fitted_pair():
    X, y = _data()
    reg = ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(X, y)
    clf = ConvexDeepReLUClassifier(alpha=1e-2, **SMALL).fit(X, _labels(X))
    return X, y, reg, clf


def _snapshot(est):
    """Deep copy of everything an estimator holds, for exact comparison."""
    import copy
    return copy.deepcopy(vars(est))


def _assert_same_state(est, snap):
    state = vars(est)
    assert set(state) == set(snap)
    for key, val in snap.items():
        now = state[key]
        if isinstance(val, np.ndarray):
            np.testing.assert_array_equal(now, val, err_msg=key)
        elif isinstance(val, list) and val and isinstance(val[0], np.ndarray):
            for a, b in zip(now, val):
                np.testing.assert_array_equal(a, b, err_msg=key)
        elif key == "network_":
            for a, b in zip(now.coefs_ + now.intercepts_, val.coefs_ + val.intercepts_):
                np.testing.assert_array_equal(a, b)
        else:
            assert type(now) is type(val), key
            if np.isscalar(val):
                assert now == val or (now != now and val != val), key


def _with_nan(a, where=(3, 1)):
    a = np.array(a, dtype=float)
    a[where] = np.nan
    return a


# -- bad input ---------------------------------------------------------------
X0, y0 = _data()
L0 = _labels(X0)
# case -> (make(y_valid) -> (X, y, sample_weight), exception, message pattern)
BAD_FITS = {
    "nan in X": (lambda t: (_with_nan(X0), t, None), ValueError, "NaN"),
    "inf in X": (lambda t: (np.where(np.arange(40)[:, None] == 5, np.inf, X0), t, None),
                 ValueError, "infinity"),
    "empty": (lambda t: (np.empty((0, 3)), t[:0], None), ValueError, "0 sample"),
    "no features": (lambda t: (np.empty((40, 0)), t, None), ValueError, "0 feature"),
    "one sample": (lambda t: (X0[:1], t[:1], None), ValueError, "1 sample"),
    "mismatched lengths": (lambda t: (X0, t[:30], None), ValueError,
                           "inconsistent numbers of samples"),
    "3-D X": (lambda t: (X0.reshape(40, 3, 1), t, None), ValueError, "dim 3"),
    "1-D X": (lambda t: (X0[:, 0], t, None), ValueError, "2D array"),
    "complex X": (lambda t: (X0 + 1j, t, None), ValueError, "Complex data not supported"),
    "string features": (lambda t: (np.array([["a", "b", "c"]] * 40), t, None), ValueError,
                        "numeric features"),
    "object features": (lambda t: (np.array([[{"a": 1}, 1.0, 2.0]] * 40, dtype=object), t,
                                   None), TypeError, "numeric features"),
    "negative weight": (lambda t: (X0, t, np.r_[-1.0, np.ones(39)]), ValueError,
                        "non-negative"),
    "nan weight": (lambda t: (X0, t, np.r_[np.nan, np.ones(39)]), ValueError, "NaN"),
    "inf weight": (lambda t: (X0, t, np.r_[np.inf, np.ones(39)]), ValueError, "infinity"),
    "zero weights": (lambda t: (X0, t, np.zeros(40)), ValueError, "sums to zero"),
    "short weights": (lambda t: (X0, t, np.ones(39)), ValueError, "shape"),
    "string weights": (lambda t: (X0, t, np.array(["a"] * 40)), TypeError, "numeric"),
}
REG_ONLY = {
    "nan in y": (lambda t: (X0, _with_nan(t, 4), None), ValueError, "NaN"),
    "inf in y": (lambda t: (X0, np.where(np.arange(40) == 2, -np.inf, t), None),
                 ValueError, "infinity"),
    "complex y": (lambda t: (X0, t + 1j, None), ValueError, "Complex data not supported"),
    "string y": (lambda t: (X0, np.array(["a"] * 40), None), ValueError, "y must be numeric"),
}
CLF_ONLY = {
    "nan label": (lambda t: (X0, _with_nan((t == "yes").astype(float), 4), None),
                  ValueError, "NaN"),
    "single class": (lambda t: (X0, np.array(["a"] * 40), None), ValueError, "2 classes"),
    "continuous labels": (lambda t: (X0, y0, None), ValueError, "Unknown label type"),
}


def _check_bad_fit(est, make, target, exc, match, X_pred):
    X, y, sw = make(target)
    before = est.predict(X_pred)
    snap = _snapshot(est)
    with pytest.raises(exc, match=match):
        est.fit(X, y, sample_weight=sw)
    _assert_same_state(est, snap)
    np.testing.assert_array_equal(est.predict(X_pred), before)


@pytest.mark.parametrize("case", sorted({**BAD_FITS, **REG_ONLY}))
def test_regressor_bad_input_raises_and_keeps_model(fitted_pair, case):
    X, _, reg, _ = fitted_pair
    make, exc, match = {**BAD_FITS, **REG_ONLY}[case]
    _check_bad_fit(reg, make, y0, exc, match, X)


@pytest.mark.parametrize("case", sorted({**BAD_FITS, **CLF_ONLY}))
def test_classifier_bad_input_raises_and_keeps_model(fitted_pair, case):
    X, _, _, clf = fitted_pair
    make, exc, match = {**BAD_FITS, **CLF_ONLY}[case]
    _check_bad_fit(clf, make, L0, exc, match, X)


@pytest.mark.parametrize("params, match", [
    (dict(alpha=-1.0), "alpha"), (dict(alpha=0.0), "alpha"), (dict(alpha=np.nan), "alpha"),
    (dict(alpha="big"), "alpha"), (dict(n_patterns=0), "n_patterns"),
    (dict(n_patterns=2.5), "n_patterns"), (dict(n_hidden=-3), "n_hidden"),
    (dict(tol=0.0), "tol"), (dict(max_iter=0), "max_iter"),
    (dict(fit_intercept="yes"), "fit_intercept"), (dict(solver=3), "solver"),
    (dict(solver="no-such-solver"), "solver"), (dict(memory_limit=-5), "memory_limit"),
    (dict(memory_limit="lots"), "memory_limit"), (dict(loss="hinge"), "loss"),
])
def test_invalid_hyperparameters_name_the_parameter(fitted_pair, params, match):
    X, y, reg, _ = fitted_pair
    est = clone(reg)
    est.__dict__.update(vars(reg))          # a fitted copy
    before = est.predict(X)
    snap = _snapshot(est)
    with pytest.raises(ValueError, match=match):
        est.set_params(**params).fit(X, y)
    est.set_params(**reg.get_params())
    _assert_same_state(est, snap)
    np.testing.assert_array_equal(est.predict(X), before)


@pytest.mark.parametrize("bad, exc, match", [
    (lambda X: _with_nan(X), ValueError, "NaN"),
    (lambda X: X[:, :2], ValueError, "features"),
    (lambda X: X + 1j, ValueError, "Complex data not supported"),
    (lambda X: np.full(X.shape, "x"), ValueError, "numeric features"),
])
def test_predict_rejects_bad_input(fitted_pair, bad, exc, match):
    X, _, reg, clf = fitted_pair
    for est in (reg, clf):
        with pytest.raises(exc, match=match):
            est.predict(bad(X))


# -- extreme but valid input ---------------------------------------------------
def _alpha_zero_network(X, y, seed=0, n_patterns=8, n_hidden=2):
    """Smallest alpha at which the zero network is certainly optimal.

    With U = 0 and the best intercept (the mean of y), the dual constraints
    hold with zero multipliers as soon as alpha >= max_g ||X^T(mask_g V)||.
    """
    Xa = np.column_stack([X, np.ones(len(X))])
    arr = sample_arrangements(Xa, n_patterns, n_hidden,
                              random_state=check_random_state(seed))
    op = LiftedOperator(Xa, arr)
    V = -(y.mean() - y)[:, None] / len(y)
    G = op.adjoint(V)
    return float(np.sqrt((G ** 2).sum(axis=-1)).max())


@pytest.mark.parametrize("factor", [1.0, 10.0, 1e6])
def test_alpha_at_or_above_alpha_max_gives_the_intercept(factor):
    X, y = _data()
    alpha = factor * _alpha_zero_network(X, y)
    # (the bound is that of the sampled tuples)
    reg = ConvexDeepReLURegressor(alpha=alpha, patterns="sample", **SMALL).fit(X, y)
    assert reg.n_subnetworks_ == 0
    assert reg.coefs_[0].shape == (3, 0) and reg.coefs_[2].shape == (0, 1)
    np.testing.assert_allclose(reg.predict(X), y.mean(), rtol=1e-10)
    assert reg.converged_ and reg.relative_gap_ <= reg.tol
    assert reg.objective_ == pytest.approx(0.5 * np.mean((y - y.mean()) ** 2), rel=1e-10)
    assert reg.network_.regularizer() == 0.0
    # the same for classifiers: the zero network predicts the majority class
    Xc = X[:30]
    labels = np.r_[np.zeros(20), np.ones(10)].astype(int)
    clf = ConvexDeepReLUClassifier(alpha=1e6, **SMALL).fit(Xc, labels)
    assert clf.n_subnetworks_ == 0
    np.testing.assert_array_equal(clf.predict(Xc), 0)
    np.testing.assert_allclose(clf.predict_proba(Xc)[:, 1], 1 / 3, rtol=1e-6)
    multi = ConvexDeepReLUClassifier(alpha=1e6, **SMALL).fit(Xc, np.arange(30) % 3)
    assert multi.n_subnetworks_ == 0
    np.testing.assert_allclose(multi.predict_proba(Xc), 1 / 3, rtol=1e-6)


def test_alpha_below_alpha_max_is_not_trivial():
    X, y = _data()
    reg = ConvexDeepReLURegressor(alpha=0.05 * _alpha_zero_network(X, y), **SMALL).fit(X, y)
    assert reg.n_subnetworks_ > 0


def _fits_finite(est, X, y, **fit_kw):
    est.fit(X, y, **fit_kw)
    pred = est.predict(X)
    assert np.all(np.isfinite(np.asarray(pred, dtype=float)))
    assert np.isfinite(est.objective_)
    return est


def test_tiny_alpha_fits():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a ConvergenceWarning is allowed
        reg = _fits_finite(ConvexDeepReLURegressor(alpha=1e-9, **SMALL), X, y)
    assert reg.n_subnetworks_ > 0
    assert np.mean((reg.predict(X) - y) ** 2) < 0.5 * np.var(y)


def test_constant_target_and_zero_features():
    X, y = _data()
    reg = _fits_finite(ConvexDeepReLURegressor(alpha=1e-2, **SMALL), X, np.full(40, 3.5))
    np.testing.assert_allclose(reg.predict(X), 3.5)
    assert reg.n_subnetworks_ == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)     # all-zero X is not badly scaled
        reg = _fits_finite(ConvexDeepReLURegressor(alpha=1e-2, **SMALL), np.zeros((40, 3)), y)
    np.testing.assert_allclose(reg.predict(np.zeros((5, 3))), y.mean())


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("value", [0.0, 1.0, 3.5, -1e3])
def test_constant_target_is_a_certified_zero_network_without_warnings(solver, value):
    # The intercept fits a constant target exactly: primal and dual objectives
    # are rounding (~1e-31, either sign).  That used to read as relative gap 1
    # or -3e15 (a ConvergenceWarning), with Clarabel's 1e-12-sized groups as
    # "violating" their constraints by half their size, and a DataScaleWarning
    # about the target's 7e-16 "scale".
    X, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = ConvexDeepReLURegressor(alpha=1e-2, solver=solver, **SMALL).fit(
            X, np.full(40, value))
    assert reg.converged_ and reg.relative_gap_ == 0.0
    assert reg.n_subnetworks_ == 0 and reg.constraint_violation_ == 0.0
    np.testing.assert_allclose(reg.predict(X), value, rtol=1e-14, atol=1e-14)


def test_relative_gap_is_zero_only_within_rounding():
    from convexrelu.duality import GAP_ROUNDING_ULPS, relative_gap
    from convexrelu.losses import get_loss

    loss = get_loss("squared")
    Y, w = np.full((400, 1), 5.0), np.full(400, 1 / 400)
    eps_ref = np.finfo(float).eps * 12.5 * 20                    # L(F = 0) sqrt(n)
    assert relative_gap(loss, Y, w, 1e-30, 1e-30 + 0.5 * GAP_ROUNDING_ULPS * eps_ref) == 0.0
    assert relative_gap(loss, Y, w, 1e-30, 1e-30 - 0.5 * GAP_ROUNDING_ULPS * eps_ref) == 0.0
    # Just past rounding: the usual ratio, however large.
    above = 2.0 * GAP_ROUNDING_ULPS * eps_ref
    assert relative_gap(loss, Y, w, 1e-20, 1e-20 - above) == pytest.approx(above / 1e-20)
    assert relative_gap(loss, Y, w, 0.3, 0.2) == pytest.approx(0.1 / 0.3)
    assert relative_gap(loss, Y, w, 0.3, 0.3 - 1e-9) == pytest.approx(1e-9 / 0.3)


def test_duplicate_rows_and_more_features_than_samples():
    X, y = _data(20)
    a = _fits_finite(ConvexDeepReLURegressor(alpha=1e-2, **SMALL), np.vstack([X, X]),
                     np.r_[y, y])
    b = _fits_finite(ConvexDeepReLURegressor(alpha=1e-2, **SMALL), X, y,
                     sample_weight=np.full(20, 2.0))
    # repeating every row is the same program as the unrepeated one
    assert a.objective_ == pytest.approx(b.objective_, rel=1e-5)
    rng = np.random.default_rng(1)
    Xw = rng.standard_normal((6, 30))
    yw = rng.standard_normal(6)
    reg = _fits_finite(ConvexDeepReLURegressor(alpha=1e-2, **SMALL), Xw, yw)
    assert reg.coefs_[0].shape[0] == 30
    # (the row-space route of a wide X) is the CVXPY optimum on the full X
    assert reg.converged_
    assert reg.objective_ == pytest.approx(_cvxpy_objective(Xw, yw, reg), rel=1e-6)


@pytest.mark.parametrize("scale", [1e8, 1e-8])
def test_badly_scaled_X_warns_naming_the_fix(scale):
    X, y = _data()
    reg = ConvexDeepReLURegressor(alpha=1e-2, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", DataScaleWarning)
        with pytest.warns(UserWarning, match="Standardise X"):
            reg.fit(X * scale, y)
    assert np.all(np.isfinite(reg.predict(X * scale)))


@pytest.mark.parametrize("patterns", ["sample", "trained"])
def test_mixed_column_scales_and_offsets_warn(patterns):
    X, y = _data()
    with pytest.warns(DataScaleWarning, match="scales range"):
        ConvexDeepReLURegressor(alpha=1e-2, patterns=patterns, **SMALL).fit(
            X * [1e-3, 1.0, 1e3], y)
    # data far from the origin: most random hyperplanes miss it, and
    # training that starts from them does not bring them back
    word = {"sample": "sampled", "trained": "trained"}[patterns]
    with pytest.warns(DataScaleWarning, match=f"{word} first-layer neurons are active on "
                                              "all samples or on none"):
        ConvexDeepReLURegressor(alpha=1e-2, patterns=patterns, **SMALL).fit(X + 50.0, y)
    # standardised data: no such warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        ConvexDeepReLURegressor(alpha=1e-2, patterns=patterns, **SMALL).fit(X, y)


def test_cv_refit_warning_names_the_callers_line():
    """The CV estimator's refit warns about degenerate patterns as the plain
    estimator does, at the line that called fit (not inside the package),
    and under the caller's filters."""
    X, y = _data()
    est = ConvexDeepReLURegressorCV(n_alphas=2, cv=2, **SMALL)
    with pytest.warns(DataScaleWarning, match="first-layer neurons are active") as record:
        est.fit(X + 50.0, y)
    assert all(r.filename == __file__ for r in record)
    before = est.predict(X + 50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        with pytest.raises(DataScaleWarning):
            est.fit(X + 50.0, 2 * y)
    # the warning raised as an error is a failed fit: the previous one stays
    np.testing.assert_array_equal(est.predict(X + 50.0), before)


@pytest.mark.parametrize("scale, effect", [(100.0, "barely regularises"),
                                           (1e-3, "may zero the whole network")])
def test_badly_scaled_target_warns_with_the_effective_alpha(scale, effect):
    """alpha is absolute: y scaled by s is the standardised program at alpha / s,
    which the warning names (checked here by refitting at that alpha, over the
    same sampled tuples: trained ones are trained on the scaled target)."""
    X, y = _data()
    y = (y - y.mean()) / y.std()
    reg = ConvexDeepReLURegressor(alpha=1e-2, patterns="sample", **SMALL)
    with pytest.warns(DataScaleWarning, match=effect) as record:
        reg.fit(X, y * scale)
    message = str(record[0].message)
    assert "TransformedTargetRegressor" in message and record[0].filename == __file__
    assert f"= {1e-2 / scale:.3g}" in message
    std = ConvexDeepReLURegressor(alpha=1e-2 / scale, patterns="sample", **SMALL).fit(X, y)
    np.testing.assert_allclose(reg.predict(X), scale * std.predict(X), rtol=1e-4,
                               atol=1e-6 * scale)
    # The CV estimator's grid follows the data: no warning from its refit.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        ConvexDeepReLURegressorCV(n_alphas=3, cv=2, **SMALL).fit(X, y * scale)


def test_standardised_data_does_not_warn():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(X, y)
        ConvexDeepReLUClassifier(alpha=1e-2, **SMALL).fit(X, _labels(X))


def test_float32_read_only_and_non_contiguous_input():
    X, y = _data()
    ref = ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(X, y)
    ro = X.copy()
    ro.setflags(write=False)
    yro = y.copy()
    yro.setflags(write=False)
    wide = np.empty((40, 6))
    wide[:, ::2] = X
    variants = {"read-only": (ro, yro), "fortran": (np.asfortranarray(X), y),
                "strided": (wide[:, ::2], y[::1]), "list": (X.tolist(), y.tolist())}
    for name, (Xv, yv) in variants.items():
        est = ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(Xv, yv)
        np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-7, atol=1e-9,
                                   err_msg=name)
    assert not ro.flags.writeable and np.array_equal(ro, X)      # input untouched
    f32 = ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(X.astype(np.float32),
                                                          y.astype(np.float32))
    pred = f32.predict(X.astype(np.float32))
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(pred, ref.predict(X), atol=1e-3)


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X, columns=["age", "height", "weight"])
    reg = ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(df, pd.Series(y))
    np.testing.assert_array_equal(reg.feature_names_in_, ["age", "height", "weight"])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = reg.predict(X)
    np.testing.assert_array_equal(reg.predict(df), from_array)
    with pytest.raises(ValueError, match="feature names should match"):
        reg.predict(df.rename(columns={"age": "years"}))
    clf = ConvexDeepReLUClassifier(alpha=1e-2, **SMALL).fit(df, pd.Series(_labels(X)))
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    bad = df.assign(age=["young"] * 40)
    with pytest.raises(ValueError, match="numeric features"):
        reg.fit(bad, y)
    np.testing.assert_array_equal(reg.feature_names_in_, ["age", "height", "weight"])


# -- memory ----------------------------------------------------------------
def test_memory_estimate_grows_with_every_dimension():
    base = estimate_fit_memory(200, 5, 1, 20, 4)
    for i in range(5):
        args = [200, 5, 1, 20, 4]
        args[i] *= 4
        # (outputs grow the assumed working set less: it is at least 32
        # blocks, and this one output has 40)
        assert estimate_fit_memory(*args) > (1.1 if i == 2 else 1.5) * base
    assert estimate_fit_memory(200, 5, 1, 20, 4, solver="cvxpy") > base
    with pytest.raises(ValueError, match="n_patterns"):
        estimate_fit_memory(200, 5, 1, 0, 4)


def test_memory_estimate_squared_outputs_are_solved_apart(monkeypatch):
    # The default solver splits a squared loss by output: its lifted columns
    # are one output's, while a coupled loss (cross-entropy) lifts them all.
    from convexrelu.solvers import _newton_systems

    coupled = estimate_fit_memory(5000, 31, 10, 16, 2, loss="cross_entropy")
    split = estimate_fit_memory(5000, 31, 10, 16, 2, loss="squared")
    assert split < 0.6 * coupled
    # One output: the same program, but the squared loss keeps one round's
    # loss part of the Newton matrix for the next (at most the cap).
    one = estimate_fit_memory(5000, 31, 1, 16, 2, loss="cross_entropy")
    kept = estimate_fit_memory(5000, 31, 1, 16, 2, loss="squared")
    assert one < kept <= one + _newton_systems.KEPT_LOSS_PART_MAX_BYTES
    monkeypatch.setattr(_newton_systems, "KEPT_LOSS_PART_MAX_BYTES", 0)
    assert estimate_fit_memory(5000, 31, 1, 16, 2, loss="squared") == one
    assert estimate_fit_memory(5000, 31, 10, 16, 2, loss="squared", solver="cvxpy") == \
        estimate_fit_memory(5000, 31, 10, 16, 2, loss="cross_entropy", solver="cvxpy")


def test_memory_estimate_counts_parallel_outputs():
    # A squared loss's outputs solved by n_jobs workers hold their working
    # sets at once; a coupled loss or a single output is one program.
    one = estimate_fit_memory(1000, 101, 10, 32, 2, loss="squared")
    two = estimate_fit_memory(1000, 101, 10, 32, 2, loss="squared", n_jobs=2)
    ten = estimate_fit_memory(1000, 101, 10, 32, 2, loss="squared", n_jobs=64)
    assert 1.8 * one < two < 2 * one and 9 * one < ten < 10 * one
    assert estimate_fit_memory(1000, 101, 10, 32, 2, loss="squared", n_jobs=1) == one
    assert estimate_fit_memory(1000, 101, 10, 32, 2, loss="squared", n_jobs=-1) >= one
    for args, loss in [((1000, 101, 1, 32, 2), "squared"), ((1000, 101, 10, 32, 2),
                                                              "cross_entropy")]:
        assert (estimate_fit_memory(*args, loss=loss, n_jobs=4)
                == estimate_fit_memory(*args, loss=loss))


@pytest.mark.parametrize("solver, shape", [
    (None, (80, 4, 1, 12, 3)), ("cvxpy", (80, 4, 1, 12, 3)), (None, (90, 4, 3, 6, 2)),
    # wide data and several classes: the working set's Newton systems dominate
    (None, (120, 60, 1, 8, 2)), (None, (60, 80, 4, 8, 2)), (None, (150, 40, 5, 8, 2)),
])
def test_memory_estimate_matches_tracemalloc(solver, shape):
    n, d, C, P, m = shape
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    if C == 1:
        y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n)
        est = ConvexDeepReLURegressor(n_patterns=P, n_hidden=m, random_state=0,
                                      solver=solver)
    else:
        y = rng.integers(0, C, n)
        est = ConvexDeepReLUClassifier(n_patterns=P, n_hidden=m, random_state=0,
                                       solver=solver)
    # (default alpha: the working set of the default solver, and so its
    # memory, shrinks at large alpha, where the estimate is an upper bound)
    clone(est).set_params(n_patterns=2).fit(X, y)          # imports, caches: not counted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, peak = traced_peak(est.fit, X, y)
    estimate = estimate_fit_memory(n, d + 1, C, P, m, solver=solver)
    print(f"estimate {estimate / 2**20:.2f} MiB, traced peak {peak / 2**20:.2f} MiB")
    # At least half the peak (the estimate before the working set's Newton
    # systems were counted gave 0.12 to 0.44 of it on the three wide shapes),
    # and up to 3.5 times on the smallest fits (a few MiB), where the assumed
    # working set (32 blocks) is every block.
    assert 0.5 * peak <= estimate <= 3.5 * peak, (estimate, peak)


def test_memory_estimate_of_an_exact_fit_matches_tracemalloc():
    # Enumerated tuples far outnumber the rows (541 tuples on 6 rows): the
    # estimate assumed a working set's face matrix of a third of all blocks
    # (13.7 times the traced peak here, 2.5 GB against 12 MB on 6 rows in
    # 2-D); the non-zero blocks are about as few as the rows.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 1))
    y = (np.sin(2 * X[:, 0]) > 0).astype(int)
    clf = ConvexDeepReLUClassifier(patterns="exact", memory_limit=None, random_state=0)
    clone(clf).set_params(patterns="sample", n_patterns=2).fit(X, y)   # imports: not counted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, peak = traced_peak(clf.fit, X, y)
    assert clf.solver_ == "fast" and clf.n_patterns_ == 541
    estimate = estimate_fit_memory(6, 2, 1, clf.n_patterns_, 2, loss="logistic")
    assert 0.5 * peak <= estimate <= 3.5 * peak, (estimate, peak)


def test_memory_guard_fires_and_keeps_previous_model(fitted_pair):
    X, y, reg, _ = fitted_pair
    est = clone(reg)
    est.__dict__.update(vars(reg))
    before = est.predict(X)
    snap = _snapshot(est)
    need = estimate_fit_memory(40, 4, 1, 8, 2)
    limit = estimate_fit_memory(40, 4, 1, 4, 2)          # room for 4 patterns, not 8
    assert limit < need
    est.set_params(memory_limit=limit)
    with pytest.raises(FitMemoryError) as info:
        est.fit(X, y)
    msg = str(info.value)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    assert "estimated" in msg and "memory_limit" in msg and "n_patterns" in msg
    assert "n_hidden" in msg and "rows" in msg
    # the suggested n_patterns does fit
    import re
    assert str(need // 2 ** 10) in msg.replace(",", "") or f"{need / 2 ** 20:.1f} MiB" in msg
    suggested = int(re.search(r"n_patterns <= (\d+)", msg).group(1))
    assert suggested == 4
    est.set_params(memory_limit=reg.memory_limit)
    _assert_same_state(est, snap)
    np.testing.assert_array_equal(est.predict(X), before)
    # huge requests are refused before anything is allocated
    big = ConvexDeepReLURegressor(n_patterns=10 ** 6, n_hidden=64, memory_limit="1GiB")
    with pytest.raises(MemoryError, match="memory_limit"):
        big.fit(X, y)
    # with enough room (or no limit) the same fit runs, to the same optimum
    free = clone(est).set_params(memory_limit=None).fit(X, y)
    roomy = clone(est).set_params(memory_limit=10 * need).fit(X, y)
    assert free.converged_ and roomy.converged_
    assert roomy.objective_ == pytest.approx(free.objective_, rel=1e-9)


def test_memory_limit_values():
    assert resolve_memory_limit(None) is None
    assert resolve_memory_limit(1000) == 1000
    assert resolve_memory_limit("2GiB") == 2 * 2 ** 30
    assert resolve_memory_limit("500MB") == 500 * 10 ** 6
    auto = resolve_memory_limit("auto")
    assert isinstance(auto, int) and auto > 0
    for bad in (0, -1, "x", "1 parsec", float("nan"), True, [1]):
        with pytest.raises(ValueError, match="memory_limit"):
            resolve_memory_limit(bad)


# -- reproducibility ---------------------------------------------------------
def _assert_bit_identical(a, b):
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert ca.shape == cb.shape and ca.tobytes() == cb.tobytes()
    assert a.objective_ == b.objective_


def test_same_seed_gives_bit_identical_fits():
    X, y = _data()
    a = ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(X, y)
    b = ConvexDeepReLURegressor(alpha=1e-2, **SMALL).fit(X, y)
    _assert_bit_identical(a, b)
    # a RandomState instance with the same seed: same fit too
    c = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, n_hidden=2,
                                random_state=np.random.RandomState(0)).fit(X, y)
    _assert_bit_identical(a, c)
    clf_a = ConvexDeepReLUClassifier(alpha=1e-2, **SMALL).fit(X, _labels(X))
    clf_b = ConvexDeepReLUClassifier(alpha=1e-2, **SMALL).fit(X, _labels(X))
    _assert_bit_identical(clf_a, clf_b)


def test_parallel_cross_validation_is_bit_identical_to_sequential():
    from sklearn.model_selection import cross_validate
    X, y = _data(60)
    est = ConvexDeepReLURegressor(alpha=1e-2, **SMALL)
    cv = KFold(3, shuffle=True, random_state=0)
    seq = cross_validate(est, X, y, cv=cv, n_jobs=1, return_estimator=True)
    par = cross_validate(est, X, y, cv=cv, n_jobs=2, return_estimator=True)
    assert seq["test_score"].tobytes() == par["test_score"].tobytes()
    for a, b in zip(seq["estimator"], par["estimator"]):
        _assert_bit_identical(a, b)
    s1 = cross_val_score(est, X, y, cv=cv, n_jobs=2)
    assert s1.tobytes() == seq["test_score"].tobytes()


def test_interrupted_fit_leaves_no_half_fitted_state(fitted_pair, monkeypatch):
    import convexrelu._estimator_base as mod
    X, y, reg, _ = fitted_pair
    est = clone(reg)
    est.__dict__.update(vars(reg))
    before = est.predict(X)
    snap = _snapshot(est)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, "solve_convex", interrupt)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X[:30], y[:30])
    _assert_same_state(est, snap)
    np.testing.assert_array_equal(est.predict(X), before)
    # an unfitted estimator stays unfitted (no n_features_in_ left behind)
    fresh = clone(reg)
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X, y)
    assert not any(k.endswith("_") for k in vars(fresh))
    monkeypatch.undo()
    np.testing.assert_array_equal(est.fit(X, y).predict(X), reg.predict(X))


def test_solver_breakdown_becomes_a_clear_value_error(fitted_pair, monkeypatch):
    import convexrelu._estimator_base as mod
    X, y, reg, _ = fitted_pair
    est = clone(reg)
    est.__dict__.update(vars(reg))
    before = est.predict(X)
    snap = _snapshot(est)

    def breakdown(*args, **kwargs):
        raise RuntimeError("interior point stalled")

    monkeypatch.setattr(mod, "solve_convex", breakdown)
    with pytest.raises(ValueError, match="stalled.*numerical failure of the solver"):
        est.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataScaleWarning)
        with pytest.raises(ValueError, match="stalled.*badly scaled.*Standardise X"):
            est.fit(X * [1.0, 1e5, 1.0], y)
    _assert_same_state(est, snap)

    def bug(*args, **kwargs):
        raise IndexError("a bug, not a breakdown")

    monkeypatch.setattr(mod, "solve_convex", bug)
    with pytest.raises(IndexError, match="a bug"):     # bugs are not disguised as bad input
        est.fit(X, y)

    real = convexrelu_solve_convex()

    def nan_objective(*args, **kwargs):
        result = real(*args, **kwargs)
        result.objective = float("nan")
        return result

    monkeypatch.setattr(mod, "solve_convex", nan_objective)
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(X, y)
    _assert_same_state(est, snap)
    np.testing.assert_array_equal(est.predict(X), before)


def convexrelu_solve_convex():
    from convexrelu.solvers import solve_convex
    return solve_convex


# -- property-based --------------------------------------------------------------
def test_random_inputs_fit_or_raise_clearly():
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings, strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.one_of(
        st.floats(-10, 10, width=64),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from([0.0, 1.0, -1.0, 1e-300, 1e30, -1e30]),
    )

    @st.composite
    def problems(draw):
        n = draw(st.integers(0, 12))
        d = draw(st.integers(0, 4))
        X = draw(hnp.arrays(np.float64, (n, d), elements=values))
        y = draw(hnp.arrays(np.float64, (n,), elements=values))
        task = draw(st.sampled_from(["reg", "clf"]))
        if task == "clf":
            y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 2)))
        params = dict(alpha=draw(st.sampled_from([1e-6, 1e-2, 1.0, 1e3])),
                      n_patterns=draw(st.integers(1, 4)), n_hidden=draw(st.integers(1, 3)),
                      fit_intercept=draw(st.booleans()),
                      solver=draw(st.sampled_from([None, "cvxpy"])))
        return task, X, y, params

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(problems())
    def check(problem):
        task, X, y, params = problem
        cls = ConvexDeepReLURegressor if task == "reg" else ConvexDeepReLUClassifier
        est = cls(random_state=0, max_iter=50, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                est.fit(X, y)
            except (ValueError, TypeError) as exc:
                assert len(str(exc)) > 10       # a message, not a bare error
                assert not hasattr(est, "coefs_")
                return
            pred = est.predict(X)
        if task == "reg":
            assert np.all(np.isfinite(pred)), (X, y, params, pred)
        else:
            assert set(np.unique(pred)) <= set(est.classes_)
            if params.get("loss", "log_loss") == "log_loss":
                assert np.all(np.isfinite(est.predict_proba(X)))

    check()


# -- found by the numerical-robustness audit (twenty-third session) --------------
def _cvxpy_objective(X, y, est):
    from convexrelu import Arrangements, solve_convex
    Xa = np.hstack([X, np.ones((len(X), 1))])
    arr = Arrangements.from_weights(Xa, est.first_weights_, est.second_weights_)
    return solve_convex(Xa, y, arr, est.alpha, fit_intercept=True, solver="cvxpy").objective


@pytest.mark.parametrize("n, scale, patterns, seed, alpha", [
    (3, 1.0, "sample", 0, 0.1), (3, 1.0, "trained", 5, 1e-3), (60, 1e4, "sample", 0, 1e-2),
    (60, 1e6, "sample", 0, 1e-2)])
def test_fast_solver_does_not_diverge_on_tiny_or_scaled_regressions(n, scale, patterns, seed,
                                                                   alpha):
    # The squared loss's interior point took unchecked Newton steps; with few
    # rows (or one huge column) the lifted program has directions the loss
    # does not see, and a 3-row fit reached an objective of 1e18 against the
    # zero network's 0.38 (X times 1e4: 5e6 against 0.2).
    rng = np.random.default_rng(seed)
    if n <= 5:
        X, y = rng.standard_normal((n, 2)), rng.standard_normal(n)
    else:
        X = rng.standard_normal((n, 3))
        y = np.maximum(X[:, 0], 0) - 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
    X = X * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataScaleWarning)
        est = ConvexDeepReLURegressor(alpha=alpha, n_patterns=8, patterns=patterns,
                                      random_state=seed).fit(X, y)
        ref = _cvxpy_objective(X, y, est)
    assert est.converged_
    assert est.objective_ <= 0.5 * np.mean((y - y.mean()) ** 2)
    assert est.objective_ == pytest.approx(ref, rel=1e-6)


def test_barrier_restarts_with_checked_steps_when_unchecked_ones_diverge():
    from convexrelu.losses import get_loss
    from convexrelu.solvers._barrier import solve_restricted_barrier
    rng = np.random.default_rng(0)
    X = np.hstack([rng.standard_normal((3, 2)), np.ones((3, 1))])
    y = rng.standard_normal(3)
    arr = sample_arrangements(X, 8, 2, random_state=np.random.RandomState(0))
    op = LiftedOperator(X, arr)
    Y = (y - y.mean())[:, None]
    w = np.full(3, 1 / 3)
    blocks = np.arange(2 * arr.n_patterns)
    runs = {}
    for check in (False, True):
        U, b, *_ = solve_restricted_barrier(op, get_loss("squared"), Y, w, 0.1, blocks,
                                            fit_intercept=True, check_steps=check)
        F = np.asarray(op.predict(U.reshape(op.var_shape))) + b
        runs[check] = (0.5 * np.mean((F - Y) ** 2)
                       + 0.1 * np.linalg.norm(U, axis=-1).sum())
    # (unchecked, it ran away: objective ~1e18; now it restarts checked)
    assert runs[False] == pytest.approx(runs[True], rel=1e-6)
    assert runs[True] < 0.5 * np.mean(Y ** 2)


def test_exact_classifier_solves_a_program_clarabel_fails_on():
    # Clarabel fails on this 3-class, 6-row softmax (it was the enumerated
    # program's default solver until the thirty-second session; the fast
    # solver is now the default with the logistic and cross-entropy losses).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 1))
    y = np.array([0, 0, 1, 1, 2, 2])
    clf = ConvexDeepReLUClassifier(alpha=1e-2, patterns="exact", certify="exact").fit(X, y)
    assert clf.solver_ == "fast"
    assert clf.converged_
    # Independently of the solver's own gap: the exact optimality certificate
    # (a dual point feasible for every tuple) bounds the non-convex optimum
    # from below, and the fit is within 1e-6 of that bound.
    assert clf.optimality_exact_
    assert clf.optimality_lower_bound_ <= clf.objective_ * (1 + 1e-12)
    assert clf.optimality_relative_gap_ <= 1e-6


def test_warning_advice_when_only_the_constraints_fail():
    from sklearn.exceptions import ConvergenceWarning

    from convexrelu import alpha_max, solve_convex
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = np.maximum(X[:, 0], 0) - 0.5 * X[:, 1] + 0.1 * rng.standard_normal(60)
    Xa = np.hstack([X, np.ones((60, 1))])
    arr = sample_arrangements(Xa, 8, 2, random_state=0)
    a = 0.9999 * float(alpha_max(Xa, y, arr, fit_intercept=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = solve_convex(Xa, y, arr, a, fit_intercept=True, solver="cvxpy")
    if res.converged or res.relative_gap > 1e-6:
        pytest.skip("this Clarabel version does not reproduce the infeasible point")
    msgs = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(msgs) == 1
    assert "pattern constraints are violated" in msgs[0]
    assert "loosen tol" not in msgs[0]


def test_reference_solver_falls_back_to_scs_when_clarabel_fails(monkeypatch):
    # Clarabel fails outright on a few small exponential-cone programs
    # (benchmarks/random_sweep.py); solver="cvxpy" then takes SCS instead of
    # raising, and the certificate judges SCS's point like any other.
    import cvxpy as cp

    from convexrelu import solve_convex

    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 2))
    y = np.where(X[:, 0] - X[:, 1] ** 2 + 0.3 * rng.standard_normal(30) > 0, 1.0, -1.0)
    arr = sample_arrangements(X, 4, 2, random_state=0)
    fast = solve_convex(X, y, arr, 1e-2, loss="logistic", fit_intercept=True, tol=1e-8)
    used = []
    real_solve = cp.Problem.solve

    def clarabel_fails(self, *args, solver=None, **kwargs):
        used.append(solver)
        if solver == "CLARABEL":
            raise cp.error.SolverError("Solver 'CLARABEL' failed.")
        return real_solve(self, *args, solver=solver, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", clarabel_fails)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = solve_convex(X, y, arr, 1e-2, loss="logistic", fit_intercept=True,
                           solver="cvxpy", tol=1e-8)
    assert used == ["CLARABEL", "CLARABEL", "SCS"]
    assert abs(ref.objective - fast.objective) <= 1e-6 * fast.objective
    assert ref.converged == (ref.relative_gap <= 1e-8 and ref.constraint_violation <= 1e-8)


@pytest.mark.parametrize("estimator, target, default, other", [
    (ConvexDeepReLURegressor, "value", "cvxpy", "fast"),
    (ConvexDeepReLUClassifier, "labels", "fast", "cvxpy")])
def test_exact_fit_falls_back_to_the_other_solver(estimator, target, default, other,
                                                  monkeypatch):
    # Enumerated tuples: CVXPY by default with the squared loss, the fast
    # solver with the logistic loss; when the default breaks down
    # numerically, the other one solves the same program.
    from convexrelu import _estimator_base, solve_convex

    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 1))
    y = np.sin(2 * X[:, 0]) if target == "value" else (X[:, 0] ** 2 > 0.5).astype(int)
    assert estimator(alpha=1e-2, n_hidden=1, patterns="exact").fit(X, y).solver_ == default
    tried = []

    def default_fails(*args, solver=None, **kwargs):
        tried.append(solver)
        if solver == default:
            raise RuntimeError(f"{solver} broke down")
        return solve_convex(*args, solver=solver, **kwargs)

    monkeypatch.setattr(_estimator_base, "solve_convex", default_fails)
    est = estimator(alpha=1e-2, n_hidden=1, patterns="exact").fit(X, y)
    assert tried == [default, other]
    assert est.solver_ == other and est.converged_


def test_exact_fit_memory_check_counts_the_solver_it_runs():
    # Enumerated tuples with the squared loss are solved by CVXPY: the check
    # before the fit estimates that solver's memory (about three times the
    # fast solver's here), not the fast solver's, which let this fit through.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 1))
    y = np.sin(2 * X[:, 0])
    tuples = 541                      # 6 points in general position on a line, m = 2
    fast = estimate_fit_memory(6, 2, 1, tuples, 2, loss="squared")
    reference = estimate_fit_memory(6, 2, 1, tuples, 2, solver="cvxpy", loss="squared")
    limit = int((fast * reference) ** 0.5)
    assert fast < limit < reference
    with pytest.raises(FitMemoryError):
        ConvexDeepReLURegressor(alpha=1e-2, patterns="exact", memory_limit=limit).fit(X, y)
    est = ConvexDeepReLURegressor(alpha=1e-2, patterns="exact", solver="fast",
                                  memory_limit=limit).fit(X, y)
    assert est.solver_ == "fast" and est.n_patterns_ == tuples and est.converged_

"""Cross-validated estimators: same choice as GridSearchCV, parallel, distributed.

The comparison with GridSearchCV is apples to apples by construction: the
same folds (an explicit KFold), the same grid, and the same patterns (an
integer random_state makes the plain estimator draw the very same Gaussian
generators on every fold as the CV estimator draws once).
"""

import warnings

import numpy as np
import pytest
import sklearn
from joblib import parallel_config
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted

import convexrelu.cv as cv_module
import convexrelu._estimator_base as est_module
import convexrelu.path as path_module
from convexrelu import (ConvexDeepReLUClassifier, ConvexDeepReLUClassifierCV,
                        ConvexDeepReLURegressor, ConvexDeepReLURegressorCV,
                        sample_arrangements)

SMALL = dict(n_patterns=10, n_hidden=2, random_state=0)
SAMPLED = dict(SMALL, patterns="sample")     # the CV estimators' shared generators


def _regression(n=72, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = (np.maximum(X[:, 0], 0) - 0.6 * np.maximum(X[:, 1] + 0.2, 0)
         + 0.3 * rng.standard_normal(n))
    return X, (y - y.mean()) / y.std()


def _classification(n=72, seed=1):
    X, y = _regression(n, seed)
    return X, np.where(y > 0.1, "up", "down")


@pytest.fixture(scope="module")
def reg_pair():
    X, y = _regression()
    folds = KFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = ConvexDeepReLURegressorCV(n_alphas=5, eps=1e-2, cv=folds, **SAMPLED).fit(X, y)
        gs = GridSearchCV(ConvexDeepReLURegressor(patterns="sample", **SMALL),
                          {"alpha": list(cv.alphas_)}, cv=folds).fit(X, y)
    return X, y, folds, cv, gs


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_trained_tuples_match_grid_search_at_the_smallest_alpha(kind):
    """patterns="trained": each fold trains its generators once, at the grid's
    smallest alpha, so there the fold scores are GridSearchCV's over the
    plain estimator with trained tuples; the refit is GridSearchCV's refit."""
    if kind == "regressor":
        X, y = _regression()
        folds = KFold(3, shuffle=True, random_state=0)
        Est, EstCV = ConvexDeepReLURegressor, ConvexDeepReLURegressorCV
    else:
        X, y = _classification()
        folds = StratifiedKFold(3, shuffle=True, random_state=0)
        Est, EstCV = ConvexDeepReLUClassifier, ConvexDeepReLUClassifierCV
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = EstCV(n_alphas=4, eps=1e-2, cv=folds, **SMALL).fit(X, y)    # trained: the default
        gs = GridSearchCV(Est(patterns="trained", **SMALL), {"alpha": list(cv.alphas_)},
                          cv=folds).fit(X, y)
        sampled = EstCV(n_alphas=4, eps=1e-2, cv=folds, **SAMPLED).fit(X, y)
    gs_scores = np.array([gs.cv_results_[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(cv.cv_scores_[:, -1], gs_scores[:, -1], rtol=0, atol=1e-6)
    # not the sampled tuples' path
    assert not np.allclose(cv.cv_scores_, sampled.cv_scores_, rtol=0, atol=1e-6)
    best = cv.best_estimator_
    assert best.patterns == "trained" and best.alpha == cv.alpha_
    refit = Est(alpha=cv.alpha_, patterns="trained", **SMALL).fit(X, y)
    np.testing.assert_array_equal(best.first_weights_, refit.first_weights_)
    assert best.objective_ == pytest.approx(refit.objective_, rel=1e-6)
    with pytest.raises(ValueError, match="patterns must be 'sample' or 'trained'"):
        EstCV(patterns="exact").fit(X, y)


def test_regressor_cv_matches_grid_search(reg_pair):
    X, y, folds, cv, gs = reg_pair
    n_alphas = len(cv.alphas_)
    assert cv.cv_scores_.shape == (3, n_alphas)
    gs_scores = np.array([gs.cv_results_[f"split{k}_test_score"] for k in range(3)])
    assert np.allclose(cv.cv_scores_, gs_scores, rtol=0, atol=1e-6)
    assert cv.alpha_ == gs.best_params_["alpha"]
    assert np.isclose(cv.best_score_, gs.best_score_, atol=1e-6)
    # Both refits are fits of the same program at the same alpha.
    assert np.isclose(cv.objective_, gs.best_estimator_.objective_, rtol=1e-6)
    # the refit samples its tuples like the path
    assert cv.best_estimator_.patterns == "sample"
    assert np.allclose(cv.predict(X), gs.predict(X), atol=1e-3)
    # The choice is not trivial: the path does reach the interior.
    assert 0 < cv.best_index_ < n_alphas - 1


def test_regressor_cv_attributes(reg_pair):
    X, y, folds, cv, gs = reg_pair
    check_is_fitted(cv)
    assert np.all(np.diff(cv.alphas_) < 0)
    assert cv.alphas_[0] == cv.alpha_max_
    assert cv.alpha_ == cv.alphas_[cv.best_index_]
    assert np.allclose(cv.mean_cv_scores_, cv.cv_scores_.mean(axis=0))
    for name in ("cv_objectives_", "cv_dual_gaps_", "cv_relative_gaps_",
                 "cv_n_subnetworks_", "cv_solve_times_"):
        assert getattr(cv, name).shape == cv.cv_scores_.shape
    assert np.all(cv.cv_relative_gaps_ <= 1e-5)
    assert np.all(cv.cv_n_subnetworks_[:, -1] > 0)
    best = cv.best_estimator_
    assert type(best) is ConvexDeepReLURegressor
    assert best.alpha == cv.alpha_ and best.warm_start is False
    assert best.random_state == cv.random_seed_ == 0
    assert cv.coefs_ is best.coefs_ and cv.n_subnetworks_ == best.n_subnetworks_
    assert cv.dual_gap_ == best.dual_gap_ and cv.converged_ == best.converged_
    assert np.array_equal(cv.predict(X), best.predict(X))
    assert cv.score(X, y) == best.score(X, y)
    assert cv.n_features_in_ == 3
    # The patterns were drawn once, on the full augmented data.
    drawn = sample_arrangements(np.hstack([X, np.ones((len(X), 1))]), 10, 2, random_state=0)
    assert np.array_equal(best.first_weights_, drawn.first_weights)


def test_patterns_drawn_once(monkeypatch):
    X, y = _regression(48)
    calls = {"cv": 0, "estimator": 0}
    real = cv_module.sample_arrangements

    def counting(key):
        def f(*args, **kwargs):
            calls[key] += 1
            return real(*args, **kwargs)
        return f

    monkeypatch.setattr(cv_module, "sample_arrangements", counting("cv"))
    monkeypatch.setattr(est_module, "sample_arrangements", counting("estimator"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ConvexDeepReLURegressorCV(alphas=[0.1, 0.02], cv=3, n_patterns=6, n_hidden=2,
                                  patterns="sample", random_state=0).fit(X, y)
    assert calls == {"cv": 1, "estimator": 0}
    # (a plain sampled fit does draw through the watched name: the zero means something)
    ConvexDeepReLURegressor(alpha=0.1, n_patterns=6, n_hidden=2, patterns="sample",
                            random_state=0).fit(X, y)
    assert calls["estimator"] == 1, "the estimator's draws are not watched"


def test_classifier_cv_matches_grid_search():
    X, y = _classification()
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = ConvexDeepReLUClassifierCV(n_alphas=4, eps=1e-2, cv=folds,
                                        scoring="neg_log_loss", **SAMPLED).fit(X, y)
        gs = GridSearchCV(ConvexDeepReLUClassifier(patterns="sample", **SMALL),
                          {"alpha": list(cv.alphas_)}, cv=folds,
                          scoring="neg_log_loss").fit(X, y)
    gs_scores = np.array([gs.cv_results_[f"split{k}_test_score"] for k in range(3)])
    assert np.allclose(cv.cv_scores_, gs_scores, rtol=0, atol=1e-5)
    assert cv.alpha_ == gs.best_params_["alpha"]
    assert list(cv.classes_) == ["down", "up"]
    assert type(cv.best_estimator_) is ConvexDeepReLUClassifier
    assert np.allclose(cv.predict_proba(X), gs.predict_proba(X), atol=1e-3)
    assert np.array_equal(cv.predict(X), cv.best_estimator_.predict(X))
    assert np.array_equal(cv.decision_function(X), cv.best_estimator_.decision_function(X))
    assert np.allclose(cv.predict_log_proba(X), np.log(cv.predict_proba(X)))
    # The default scoring is accuracy, through the same extracted networks.
    # (Sampled tuples: trained ones differ from GridSearchCV's above the
    # grid's smallest alpha by design.)
    acc = ConvexDeepReLUClassifierCV(alphas=cv.alphas_[1:3], cv=folds, **SAMPLED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        acc.fit(X, y)
        gs_acc = GridSearchCV(ConvexDeepReLUClassifier(**SAMPLED),
                              {"alpha": list(cv.alphas_[1:3])}, cv=folds).fit(X, y)
    acc_gs = np.array([gs_acc.cv_results_[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(acc.cv_scores_, acc_gs, rtol=0, atol=1e-9)


def test_classifier_squared_loss_has_no_proba():
    X, y = _classification(48)
    clf = ConvexDeepReLUClassifierCV(alphas=[0.05], cv=2, loss="squared", n_patterns=6,
                                     n_hidden=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert not hasattr(clf, "predict_proba")
    assert clf.best_estimator_.loss == "squared"


def test_n_jobs_two_equals_one():
    X, y = _regression(60)
    est = ConvexDeepReLURegressorCV(n_alphas=3, eps=1e-2, cv=3, n_patterns=8, n_hidden=2,
                                    random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = clone(est).set_params(n_jobs=1).fit(X, y)
        two = clone(est).set_params(n_jobs=2).fit(X, y)
    assert np.allclose(one.cv_scores_, two.cv_scores_, rtol=0, atol=1e-10)
    assert np.allclose(one.cv_objectives_, two.cv_objectives_, rtol=1e-12)
    assert one.alpha_ == two.alpha_
    assert np.allclose(one.predict(X), two.predict(X), atol=1e-10)
    assert one.best_estimator_.n_jobs == 1 and two.best_estimator_.n_jobs == 2


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_memory_limit_refuses_the_refit_before_any_fold_runs(kind, monkeypatch):
    """The refit on all rows is checked before the folds: a limit below its
    estimate raises the plain estimator's own FitMemoryError (same estimate,
    same message) with no fold solved, and a fitted CV estimator stays as it
    was; a limit above it, or None, fits and passes the limit to the refit."""
    from convexrelu.memory import FitMemoryError, estimate_fit_memory

    if kind == "regressor":
        X, y = _regression(60)
        Est, EstCV, loss, outputs = (ConvexDeepReLURegressor, ConvexDeepReLURegressorCV,
                                     "squared", 1)
    else:
        X, y = _classification(60)
        Est, EstCV, loss, outputs = (ConvexDeepReLUClassifier, ConvexDeepReLUClassifierCV,
                                     "logistic", 1)
    need = estimate_fit_memory(60, 4, outputs, 8, 2, loss=loss)
    small = estimate_fit_memory(60, 4, outputs, 4, 2, loss=loss)
    assert small < need
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = EstCV(n_alphas=3, eps=1e-2, cv=3, n_patterns=8, random_state=0).fit(X, y)
    before = cv.predict(X)
    paths = []
    real = cv_module._fold_path
    monkeypatch.setattr(cv_module, "_fold_path", lambda *a: paths.append(1) or real(*a))
    cv.set_params(memory_limit=small)
    with pytest.raises(FitMemoryError) as refused:
        cv.fit(X, y)
    assert paths == []
    with pytest.raises(FitMemoryError) as plain:
        Est(n_patterns=8, random_state=0, memory_limit=small).fit(X, y)
    assert str(refused.value) == str(plain.value)
    assert "n_patterns <= 4 would fit" in str(refused.value)
    np.testing.assert_array_equal(cv.predict(X), before)
    for limit in (need, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = clone(cv).set_params(memory_limit=limit).fit(X, y)
        assert fitted.best_estimator_.memory_limit == limit
        np.testing.assert_array_equal(fitted.cv_scores_, cv.cv_scores_)
    with pytest.raises(ValueError, match="memory_limit"):
        clone(cv).set_params(memory_limit="lots").fit(X, y)


def test_memory_limit_counts_the_folds_that_run_at_once(monkeypatch):
    """With ``n_jobs=2`` two folds' paths run at once: a limit that holds the
    refit but not two folds (each on its 40 training rows) is refused before
    any fold runs, naming them; with ``n_jobs=1`` the same limit fits."""
    from convexrelu.memory import FitMemoryError, estimate_fit_memory

    X, y = _regression(60)
    refit = estimate_fit_memory(60, 4, 1, 8, 2, loss="squared")
    fold = estimate_fit_memory(40, 4, 1, 8, 2, loss="squared")
    assert refit < 2 * fold
    limit = (refit + 2 * fold) // 2
    est = ConvexDeepReLURegressorCV(n_alphas=3, eps=1e-2, cv=3, n_patterns=8, random_state=0,
                                    memory_limit=limit)
    paths = []
    real = cv_module._fold_path
    monkeypatch.setattr(cv_module, "_fold_path", lambda *a: paths.append(1) or real(*a))
    with pytest.raises(FitMemoryError, match="folds' paths run 2 at a time") as refused:
        clone(est).set_params(n_jobs=2).fit(X, y)
    assert "40 training rows" in str(refused.value) and "n_jobs" in str(refused.value)
    assert paths == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = clone(est).set_params(n_jobs=1).fit(X, y)
    assert len(paths) == 3 and one.best_estimator_.memory_limit == limit


def test_refit_gets_n_jobs_and_runs_a_softmax_classes_on_threads(monkeypatch):
    """The refit at ``alpha_`` is the plain classifier with the CV estimator's
    ``n_jobs``: a 10-class softmax refit forms its classes' Newton blocks on
    threads (counted in this process; the folds' paths run in joblib's
    workers) and equals the one-job refit bit for bit."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    from solver_cases import count_threaded_maps

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:150]
    y = y[:150]
    calls = count_threaded_maps(monkeypatch)
    fits = {}
    for n_jobs in (None, 2):
        calls.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cv = ConvexDeepReLUClassifierCV(alphas=[1e-1, 1e-2], cv=2, n_patterns=6,
                                            random_state=0, n_jobs=n_jobs).fit(X, y)
        fits[n_jobs] = cv, sum(calls)
    (one, one_calls), (two, two_calls) = fits[None], fits[2]
    assert two.best_estimator_.n_jobs == 2
    assert one_calls == 0 and two_calls > 0
    np.testing.assert_array_equal(one.cv_scores_, two.cv_scores_)
    assert one.alpha_ == two.alpha_
    assert one.objective_ == two.objective_ and one.relative_gap_ == two.relative_gap_
    np.testing.assert_array_equal(one.decision_function(X), two.decision_function(X))


# GridSearchCV passes sample_weight to the scorer from scikit-learn 1.7 on
# (scikit-learn PR #30743); before, its fold scores are unweighted.
@pytest.mark.skipif(
    tuple(int(v) for v in sklearn.__version__.split(".")[:2]) < (1, 7),
    reason="GridSearchCV weighs its scores from scikit-learn 1.7 on")
@pytest.mark.parametrize("patterns, n_patterns", [("sample", 8), ("trained", 10)])
def test_sample_weight_matches_grid_search(patterns, n_patterns):
    """Weights (zeros included) weigh each fold's fits and scores as in
    GridSearchCV.  Sampled tuples: at every alpha.  Trained tuples (the
    default): each fold trains on its rows of positive weight, as the plain
    estimator's own training does with those zeros, so at the grid's
    smallest alpha, where both train at the same alpha."""
    X, y = _regression(60, seed=3)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    sw[:4] = 0.0
    folds = KFold(3, shuffle=True, random_state=1)
    alphas = [0.1, 0.02, 0.004]
    params = dict(n_patterns=n_patterns, n_hidden=2, random_state=0, patterns=patterns)
    same = slice(None) if patterns == "sample" else slice(-1, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = ConvexDeepReLURegressorCV(alphas=alphas, cv=folds, **params).fit(
            X, y, sample_weight=sw)
        gs = GridSearchCV(ConvexDeepReLURegressor(**params),
                          {"alpha": alphas}, cv=folds).fit(X, y, sample_weight=sw)
        plain = ConvexDeepReLURegressorCV(alphas=alphas, cv=folds, **params).fit(X, y)
    gs_scores = np.array([gs.cv_results_[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(cv.cv_scores_[:, same], gs_scores[:, same], rtol=0, atol=1e-6)
    if patterns == "sample":
        assert cv.alpha_ == gs.best_params_["alpha"]
    assert cv.best_estimator_.patterns == patterns
    # Weights change the fits.
    assert not np.allclose(plain.cv_scores_[:, same], cv.cv_scores_[:, same], atol=1e-4)


def test_failed_solves_score_nan(monkeypatch):
    X, y = _regression(48)
    real = path_module.solve_convex

    def flaky(X, y, arr, alpha, **kwargs):
        if alpha == 0.004:
            raise RuntimeError("solver broke")
        return real(X, y, arr, alpha, **kwargs)

    monkeypatch.setattr(path_module, "solve_convex", flaky)
    est = ConvexDeepReLURegressorCV(alphas=[0.1, 0.02, 0.004], cv=3, n_patterns=6,
                                    n_hidden=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(FitFailedWarning, match="solver broke") as record:
            est.fit(X, y)
    assert record[0].filename == __file__           # the caller's line
    assert np.isnan(est.cv_scores_[:, 2]).all() and np.isfinite(est.cv_scores_[:, :2]).all()
    assert est.alpha_ in (0.1, 0.02)
    est.set_params(alphas=[0.004])
    with pytest.raises(ValueError, match="Every alpha failed"):
        est.fit(X, y)


@pytest.mark.parametrize("params", [dict(alphas=[]), dict(alphas=[0.1, -1.0]),
                                    dict(n_alphas=0), dict(eps=2.0), dict(n_hidden=0),
                                    dict(loss="hinge"), dict(tol=-1.0)])
def test_invalid_params(params):
    X, y = _regression(20)
    with pytest.raises(ValueError):
        ConvexDeepReLURegressorCV(**params).fit(X, y)


def test_dask_backend():
    distributed = pytest.importorskip("distributed")
    X, y = _regression(60)
    folds = KFold(3, shuffle=True, random_state=0)
    est = ConvexDeepReLURegressorCV(n_alphas=3, eps=1e-2, cv=folds, n_patterns=8,
                                    n_hidden=2, patterns="sample", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = clone(est).fit(X, y)
        # Threads in this process, talking over TCP on loopback only.
        with distributed.LocalCluster(n_workers=2, processes=False, protocol="tcp",
                                      host="127.0.0.1", dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            with parallel_config(backend="dask"):
                remote = clone(est).set_params(n_jobs=-1).fit(X, y)
                gs = GridSearchCV(ConvexDeepReLURegressor(n_patterns=8, n_hidden=2,
                                                          random_state=0, patterns="sample"),
                                  {"alpha": list(local.alphas_)}, cv=folds,
                                  n_jobs=-1).fit(X, y)
            # The folds did run on the cluster's workers.
            ran = " ".join(cluster.scheduler.task_prefixes)
            assert "_fold_path" in ran and "fit_and_score" in ran, ran
    assert np.allclose(local.cv_scores_, remote.cv_scores_, rtol=0, atol=1e-10)
    assert remote.alpha_ == local.alpha_ == gs.best_params_["alpha"]
    assert np.allclose(remote.predict(X), local.predict(X), atol=1e-10)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_failed_cv_fit_leaves_the_previous_model(kind, monkeypatch):
    """A CV fit that fails after validation has reset ``n_features_in_``
    (wider X and one class, or a path that raises part way) leaves the
    fitted estimator exactly as it was: same attributes, same predictions
    on the old feature count."""
    if kind == "regressor":
        X, y = _regression()
        est = ConvexDeepReLURegressorCV(n_alphas=2, cv=2, **SMALL).fit(X, y)
    else:
        X, y = _classification()
        est = ConvexDeepReLUClassifierCV(n_alphas=2, cv=2, **SMALL).fit(X, y)
    before = est.predict(X)
    state = {k: v for k, v in vars(est).items() if k.endswith("_")}
    wide = np.hstack([X, X])
    if kind == "classifier":
        with pytest.raises(ValueError, match="at least 2 classes"):
            est.fit(wide, np.full(len(y), "up"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cv_module, "_fold_path", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.fit(wide, y)
    assert {k for k in vars(est) if k.endswith("_")} == set(state)
    assert est.n_features_in_ == X.shape[1] and est.alpha_ == state["alpha_"]
    np.testing.assert_array_equal(est.predict(X), before)


def test_probability_scoring_with_squared_loss_names_the_loss():
    X, y = _classification()
    est = ConvexDeepReLUClassifierCV(alphas=[1e-2], cv=2, loss="squared",
                                     scoring="neg_log_loss", **SMALL)
    with pytest.raises(ValueError, match="scoring='neg_log_loss'.*loss='log_loss'"):
        est.fit(X, y)
    # With the log loss the same scoring works (and is a negative log loss).
    est.set_params(loss="log_loss").fit(X, y)
    assert est.best_score_ < 0


def test_callable_scorer_without_sample_weight_matches_grid_search():
    """A scorer(est, X, y) without a sample_weight argument scores unweighted,
    with a warning, as GridSearchCV does (it had raised a TypeError)."""
    X, y = _regression(60, seed=3)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    folds = KFold(3, shuffle=True, random_state=1)
    alphas = [0.1, 0.02]

    def neg_mse(est, X, y):
        return -np.mean((est.predict(X) - y) ** 2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="does not accept sample_weight") as record:
            cv = ConvexDeepReLURegressorCV(alphas=alphas, cv=folds, scoring=neg_mse,
                                           **SAMPLED).fit(X, y, sample_weight=sw)
        warnings.simplefilter("ignore", UserWarning)
        gs = GridSearchCV(ConvexDeepReLURegressor(patterns="sample", **SMALL),
                          {"alpha": alphas}, cv=folds, scoring=neg_mse).fit(
                              X, y, sample_weight=sw)
    assert any(r.filename == __file__ for r in record)
    gs_scores = np.array([gs.cv_results_[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(cv.cv_scores_, gs_scores, rtol=0, atol=1e-6)


def test_callable_scorer_sees_the_path_point_and_the_callers_rows():
    pd = pytest.importorskip("pandas")
    X, y = _regression(60)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    seen = []

    def by_alpha(est, X, y):
        seen.append((type(X), len(X), est.n_features_in_, len(est.coefs_)))
        return est.alpha * 1e6 + est.n_subnetworks_ + 1e-3 * X["a"].size

    est = ConvexDeepReLURegressorCV(alphas=[0.1, 0.02], cv=3, scoring=by_alpha,
                                    **SAMPLED).fit(frame, y)
    assert all(t is pd.DataFrame and n == 20 and f == 3 and c == 3 for t, n, f, c in seen)
    np.testing.assert_allclose(est.cv_scores_,
                               est.alphas_ * 1e6 + est.cv_n_subnetworks_ + 1e-3 * 20)


def test_scorer_errors_are_the_scorers():
    """Only a missing probability method of a squared-loss classifier is
    explained in the estimator's terms; a scorer's own error scores NaN (as
    GridSearchCV's error_score=nan) and is named when every alpha fails."""
    X, y = _regression(40)

    def broken(est, X, y):
        return est.no_such_attribute_

    est = ConvexDeepReLURegressorCV(alphas=[0.1], cv=2, scoring=broken, **SAMPLED)
    with pytest.raises(ValueError, match="Every alpha failed.*no_such_attribute_"):
        est.fit(X, y)


def test_failing_or_nan_scores_rank_last_with_a_warning():
    X, y = _regression(48)
    alphas = [0.1, 0.02, 0.004]

    def picky(est, X, y):
        if est.alpha == alphas[1]:
            raise RuntimeError("no score here")
        return np.nan if est.alpha == alphas[2] else est.score(X, y)

    est = ConvexDeepReLURegressorCV(alphas=alphas, cv=3, scoring=picky, **SAMPLED)
    with pytest.warns(UserWarning) as record:
        est.fit(X, y)
    messages = [str(r.message) for r in record]
    assert any("Scoring failed for 3 of 9" in m and "no score here" in m for m in messages)
    assert any("3 of 9 fold scores are non-finite" in m for m in messages)
    assert np.isnan(est.cv_scores_[:, 1:]).all() and np.isfinite(est.cv_scores_[:, 0]).all()
    assert est.alpha_ == alphas[0]

    def undefined(est, X, y):
        return np.nan

    est.set_params(scoring=undefined)
    with pytest.raises(ValueError, match="returned NaN or inf at every alpha on fold 0"):
        est.fit(X, y)


def _rare_class_data():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = np.array([0] * 29 + [1] * 29 + [2] * 2)
    X[y == 2] += 3
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_log_loss_on_a_fold_without_some_class(n_classes):
    """A class with fewer members than folds leaves a test fold without it:
    neg_log_loss failed there ("y_true and y_prob contain different number of
    classes"); it now gets labels=classes_, as in LogisticRegressionCV, and
    equals log_loss of the plain classifier fitted on the fold."""
    from sklearn.metrics import log_loss

    X, y = _rare_class_data()
    if n_classes == 2:
        y = (y == 2).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # 2 members, 3 splits
        folds = list(StratifiedKFold(3).split(X, y))
        est = ConvexDeepReLUClassifierCV(alphas=[0.1, 0.01], cv=folds, scoring="neg_log_loss",
                                         n_patterns=6, patterns="sample",
                                         random_state=0).fit(X, y)
    assert any(len(np.unique(y[test])) < n_classes for _, test in folds)
    for f, (train, test) in enumerate(folds):
        plain = ConvexDeepReLUClassifier(alpha=0.01, n_patterns=6, patterns="sample",
                                         random_state=0).fit(X[train], y[train])
        expected = -log_loss(y[test], plain.predict_proba(X[test]), labels=plain.classes_)
        assert est.cv_scores_[f, 1] == pytest.approx(expected, abs=1e-6)


def test_balanced_weights_on_a_fold_without_some_class():
    X, y = _rare_class_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # was a division by zero
        est = ConvexDeepReLUClassifierCV(alphas=[0.1, 0.01], cv=KFold(3),
                                         class_weight="balanced", n_patterns=6,
                                         patterns="sample", random_state=0).fit(X, y)
    assert np.isfinite(est.cv_scores_).all()
    # each fold's score is that of the plain classifier with balanced weights
    # from that fold's training rows (where class 2 may be missing)
    for f, (train, test) in enumerate(KFold(3).split(X)):
        for k, alpha in enumerate([0.1, 0.01]):
            plain = ConvexDeepReLUClassifier(alpha=alpha, class_weight="balanced",
                                             n_patterns=6, patterns="sample",
                                             random_state=0).fit(X[train], y[train])
            assert est.cv_scores_[f, k] == pytest.approx(plain.score(X[test], y[test]),
                                                         abs=1e-12)


def test_string_features_name_the_problem():
    X = np.array([["u", 1.0], ["v", 2.0]] * 10, dtype=object)
    for est in (ConvexDeepReLURegressorCV(**SMALL), ConvexDeepReLUClassifierCV(**SMALL)):
        with pytest.raises(ValueError, match="numeric features only"):
            est.fit(X, np.arange(20) % 2)


def test_unknown_solver_is_refused_before_any_training(monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained tuples before checking the solver")

    monkeypatch.setattr(est_module, "train_arrangements", no_training)
    monkeypatch.setattr(cv_module, "_fold_path", no_training)
    X, y = _regression(30)
    for est in (ConvexDeepReLURegressor(solver="nope"),
                ConvexDeepReLURegressorCV(solver="nope")):
        with pytest.raises(ValueError, match="Unknown solver 'nope'"):
            est.fit(X, y)
        # (the traps are where a known solver's fit trains: else they prove nothing)
        with pytest.raises(AssertionError, match="trained tuples"):
            est.set_params(solver=None).fit(X, y)

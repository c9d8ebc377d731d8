import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_moons
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from convexrelu import (Arrangements, ConvexDeepReLUClassifier, ConvexDeepReLURegressor,
                        solve_convex)


def _relu(a):
    return np.maximum(a, 0)


def _forward(est, X):
    """A plain numpy forward pass over coefs_ / intercepts_."""
    h = _relu(X @ est.coefs_[0] + est.intercepts_[0])
    h = _relu(h @ est.coefs_[1] + est.intercepts_[1])
    return h @ est.coefs_[2] + est.intercepts_[2]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def test_weights_run_as_an_mlp(diabetes):
    X, y = diabetes
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=20, n_hidden=3,
                                  random_state=0).fit(X[:200], y[:200])
    np.testing.assert_allclose(_forward(reg, X)[:, 0], reg.predict(X), rtol=1e-12, atol=1e-12)
    # sklearn's own MLP with the weights set predicts the same.
    mlp = MLPRegressor(hidden_layer_sizes=(reg.coefs_[0].shape[1], reg.n_subnetworks_),
                       max_iter=1).fit(X[:5], y[:5])
    mlp.coefs_ = [c.copy() for c in reg.coefs_]
    mlp.intercepts_ = [c.copy() for c in reg.intercepts_]
    np.testing.assert_allclose(mlp.predict(X), reg.predict(X), rtol=1e-12, atol=1e-12)
    assert reg.coefs_[0].shape == (X.shape[1], reg.n_subnetworks_ * 3)
    assert reg.coefs_[1].shape == (reg.n_subnetworks_ * 3, reg.n_subnetworks_)


def test_pipeline_gridsearch_cross_val_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    model = TransformedTargetRegressor(
        make_pipeline(StandardScaler(),
                      ConvexDeepReLURegressor(n_patterns=20, n_hidden=2, random_state=0)),
        transformer=StandardScaler())
    search = GridSearchCV(model, {"regressor__convexdeepreluregressor__alpha": [1e-2, 1e-1]},
                          cv=3)
    scores = cross_val_score(search, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.mean() > 0.4, scores


def test_pipeline_cross_val_on_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), ConvexDeepReLUClassifier(
        alpha=1e-2, n_patterns=10, n_hidden=2, random_state=0))
    scores = cross_val_score(model, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.mean() > 0.9, scores


def test_certificate_attributes(diabetes):
    X, y = diabetes
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=15, n_hidden=2, random_state=0)
    reg.fit(X[:150], y[:150])
    assert reg.converged_
    assert 0 <= reg.relative_gap_ <= reg.tol
    assert reg.dual_gap_ == pytest.approx(reg.objective_ - reg.dual_objective_)
    assert reg.constraint_violation_ <= 1e-8
    # the objective is the network's own non-convex objective
    Xa = np.column_stack([X[:150], np.ones(150)])
    assert reg.network_.objective(X[:150], y[:150], reg.alpha) == pytest.approx(
        reg.objective_, rel=1e-7)
    assert Xa.shape[1] == reg.first_weights_.shape[1]


def test_reproducibility(diabetes):
    X, y = diabetes
    kw = dict(alpha=1e-2, n_patterns=15, n_hidden=2)
    a = ConvexDeepReLURegressor(random_state=3, **kw).fit(X[:120], y[:120])
    b = ConvexDeepReLURegressor(random_state=3, **kw).fit(X[:120], y[:120])
    c = ConvexDeepReLURegressor(random_state=4, **kw).fit(X[:120], y[:120])
    np.testing.assert_array_equal(a.first_weights_, b.first_weights_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.first_weights_, c.first_weights_)
    assert not np.allclose(a.predict(X), c.predict(X))


def test_classifier_probabilities_and_labels():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = ConvexDeepReLUClassifier(alpha=1e-3, n_patterns=10, n_hidden=2,
                                   random_state=0).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # (rows whose top two probabilities tie within rounding may go either way)
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-9
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)][clear],
                                  clf.predict(X)[clear])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-10)
    assert clf.decision_function(X).shape == (150, 3)
    assert clf.score(X, labels) > 0.9

    Xm, ym = make_moons(120, noise=0.1, random_state=0)
    binary = ConvexDeepReLUClassifier(alpha=1e-3, n_patterns=10, n_hidden=2,
                                      random_state=0).fit(Xm, ym)
    assert binary.decision_function(Xm).shape == (120,)
    assert binary.score(Xm, ym) > 0.9
    pb = binary.predict_proba(Xm)
    clear = np.abs(pb[:, 1] - pb[:, 0]) > 1e-9
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(pb.argmax(1)[clear], binary.predict(Xm)[clear])


def test_squared_loss_classifier_has_no_predict_proba():
    X, y = make_moons(60, noise=0.1, random_state=0)
    clf = ConvexDeepReLUClassifier(loss="squared", alpha=1e-3, n_patterns=8, n_hidden=2,
                                   random_state=0).fit(X, y)
    assert not hasattr(clf, "predict_proba")
    assert clf.score(X, y) > 0.85


def test_one_vs_rest_squared_classifiers_solve_the_multiclass_programs():
    # The README's advice for many classes: OneVsRestClassifier over binary
    # squared-loss classifiers, each with its own tuples, at 2 alpha.  With
    # sampled tuples (X and the seed only) every binary classifier sees the
    # multi-class model's tuples, and its -1/+1 targets, 2 x one-hot - 1,
    # make its program that output's with the solution scaled by 2: decision
    # 2 F_k - 1 and objective 4 x the output's.
    from sklearn.multiclass import OneVsRestClassifier

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    kw = dict(loss="squared", n_patterns=8, n_hidden=2, patterns="sample", random_state=0)
    multi = ConvexDeepReLUClassifier(alpha=1e-2, **kw).fit(X, y)
    ovr = OneVsRestClassifier(ConvexDeepReLUClassifier(alpha=2e-2, **kw)).fit(X, y)
    F = multi.decision_function(X)
    for k, binary in enumerate(ovr.estimators_):
        np.testing.assert_allclose(binary.decision_function(X), 2 * F[:, k] - 1, atol=1e-6)
    total = sum(b.objective_ for b in ovr.estimators_)
    assert total == pytest.approx(4 * multi.objective_, rel=1e-7)
    np.testing.assert_array_equal(ovr.predict(X), multi.predict(X))


def test_sample_weight_equals_repetition(diabetes):
    X, y = diabetes[0][:60], diabetes[1][:60]
    w = np.ones(60)
    w[:10] = 2
    X_rep = np.vstack([X, X[:10]])
    y_rep = np.concatenate([y, y[:10]])
    kw = dict(alpha=1e-2, n_patterns=10, n_hidden=2, random_state=0, tol=1e-8)
    a = ConvexDeepReLURegressor(**kw).fit(X, y, sample_weight=w)
    b = ConvexDeepReLURegressor(**kw).fit(X_rep, y_rep)
    assert a.objective_ == pytest.approx(b.objective_, rel=1e-6)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-4, atol=1e-4)
    # and zero weights equal removal
    w0 = np.ones(60)
    w0[50:] = 0
    c = ConvexDeepReLURegressor(**kw).fit(X, y, sample_weight=w0)
    d = ConvexDeepReLURegressor(**kw).fit(X[:50], y[:50])
    np.testing.assert_allclose(c.predict(X), d.predict(X), rtol=1e-4, atol=1e-4)


def test_multioutput_regression(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, -y])
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=10, n_hidden=2,
                                  random_state=0).fit(X[:100], Y[:100])
    assert reg.predict(X).shape == (len(X), 2)
    assert reg.coefs_[2].shape[1] == 2
    # each sub-network feeds exactly one output
    assert np.all((reg.coefs_[2] != 0).sum(axis=1) == 1)


def test_n_jobs_solves_outputs_in_parallel_with_the_same_result(diabetes):
    # Squared loss, several outputs: independent programs, one per worker.
    X, y = diabetes
    Y = np.column_stack([y, -0.5 * y + X[:, 0], np.abs(y)])
    kw = dict(alpha=1e-2, n_patterns=10, n_hidden=2, random_state=0)
    one = ConvexDeepReLURegressor(**kw).fit(X[:120], Y[:120])
    two = ConvexDeepReLURegressor(n_jobs=2, **kw).fit(X[:120], Y[:120])
    for a, b in zip(one.coefs_ + one.intercepts_, two.coefs_ + two.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert two.objective_ == one.objective_ and two.relative_gap_ <= 1e-6
    assert np.all((two.coefs_[2] != 0).any(axis=0))     # every output has sub-networks
    # Classification with the squared loss: one output per class.
    Xi, yi = load_iris(return_X_y=True)
    Xi = StandardScaler().fit_transform(Xi)
    kw = dict(alpha=1e-2, n_patterns=8, loss="squared", random_state=0)
    c1 = ConvexDeepReLUClassifier(**kw).fit(Xi, yi)
    c2 = ConvexDeepReLUClassifier(n_jobs=-1, **kw).fit(Xi, yi)
    np.testing.assert_array_equal(c1.decision_function(Xi), c2.decision_function(Xi))


@pytest.mark.parametrize("patterns", ["sample", "trained"])
def test_warm_start_reuses_patterns(diabetes, patterns):
    X, y = diabetes
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=10, n_hidden=2, random_state=0,
                                  patterns=patterns, warm_start=True).fit(X[:100], y[:100])
    W, W2 = reg.first_weights_.copy(), reg.second_weights_.copy()
    reg.set_params(alpha=2e-2, random_state=1).fit(X[:100], y[:100])
    np.testing.assert_array_equal(reg.first_weights_, W)
    # the same program as a cold solve over those tuples
    X1 = np.column_stack([X[:100], np.ones(100)])
    cold = solve_convex(X1, y[:100], Arrangements.from_weights(X1, W, W2), 2e-2,
                        fit_intercept=True, solver="cvxpy")
    assert reg.objective_ == pytest.approx(cold.objective, rel=1e-5)


def test_warm_start_with_other_generators_starts_cold(diabetes):
    """More patterns, or another kind, make new generators: the old ones
    were silently kept when n_patterns grew, and 'exact' tuples were reused
    by 'sample'."""
    X, y = diabetes
    X, y = X[:60, :2], y[:60]
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=4, n_hidden=2, random_state=0,
                                  patterns="sample", warm_start=True).fit(X, y)
    W = reg.first_weights_.copy()
    reg.set_params(n_patterns=12).fit(X, y)
    assert reg.first_weights_.shape[0] == 12 > W.shape[0]
    cold = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=12, n_hidden=2, random_state=0,
                                   patterns="sample").fit(X, y)
    np.testing.assert_array_equal(reg.first_weights_, cold.first_weights_)
    W12 = reg.first_weights_.copy()
    reg.set_params(alpha=2e-2).fit(X, y)              # unchanged generators: reused
    np.testing.assert_array_equal(reg.first_weights_, W12)
    tiny = ConvexDeepReLURegressor(alpha=1e-1, n_hidden=1, patterns="exact",
                                   max_patterns=10_000, warm_start=True).fit(X[:6], y[:6])
    n_exact = tiny.n_patterns_
    tiny.set_params(patterns="sample", n_patterns=n_exact, random_state=0).fit(X[:6], y[:6])
    assert not tiny.patterns_exact_
    assert tiny.first_weights_.shape[0] <= n_exact
    again = ConvexDeepReLURegressor(alpha=1e-1, n_hidden=1, patterns="sample",
                                    n_patterns=n_exact, random_state=0).fit(X[:6], y[:6])
    np.testing.assert_array_equal(tiny.first_weights_, again.first_weights_)


def test_failed_fit_leaves_the_previous_model(diabetes):
    X, y = diabetes
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, n_hidden=2, random_state=0)
    reg.fit(X[:80], y[:80])
    before = reg.predict(X)
    state = {k: v for k, v in vars(reg).items()}
    X_bad = X[:80].copy()
    X_bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(X_bad, y[:80])
    with pytest.raises(ValueError, match="alpha"):
        reg.set_params(alpha=-1.0).fit(X[:80], y[:80])
    reg.set_params(alpha=1e-2)
    np.testing.assert_array_equal(reg.predict(X), before)
    assert set(vars(reg)) == set(state)
    assert reg.n_features_in_ == 10


def test_patterns_time_counts_the_tuples_not_the_solve(diabetes, monkeypatch):
    """fit_time_ is the solver's; patterns_time_ the making of the tuples
    (here a generator training slowed by 0.3 s), so a user can tell where a
    fit's seconds went."""
    import time

    import convexrelu._estimator_base as base

    real = base.train_arrangements

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "train_arrangements", slow)
    X, y = diabetes
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, random_state=0).fit(X[:80], y[:80])
    assert reg.patterns_time_ >= 0.3
    sampled = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, patterns="sample",
                                      random_state=0).fit(X[:80], y[:80])
    assert 0 < sampled.patterns_time_ < 0.5 * reg.patterns_time_


def test_pickle_and_clone(diabetes):
    X, y = diabetes
    reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, n_hidden=2,
                                  random_state=0).fit(X[:80], y[:80])
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    fresh = clone(reg)
    assert not hasattr(fresh, "coefs_") and fresh.get_params() == reg.get_params()


@pytest.mark.parametrize("bad, match", [
    (dict(alpha=0.0), "alpha"), (dict(n_patterns=0), "n_patterns"),
    (dict(n_hidden=1.5), "n_hidden"), (dict(tol=-1), "tol"), (dict(tol=1.0), "tol"),
    (dict(max_iter=0), "max_iter"), (dict(loss="hinge"), "loss"),
    (dict(n_jobs=0), "n_jobs"), (dict(n_jobs=1.5), "n_jobs"),
])
def test_invalid_hyperparameters(bad, match):
    X, y = make_moons(30, random_state=0)
    with pytest.raises(ValueError, match=match):
        ConvexDeepReLUClassifier(**bad).fit(X, y)


def test_one_class_is_an_error():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="class"):
        ConvexDeepReLUClassifier().fit(X, np.zeros(10))


def test_exact_patterns_and_certificate():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    exact = ConvexDeepReLURegressor(alpha=0.05, patterns="exact", certify="exact").fit(X, y)
    sampled = ConvexDeepReLURegressor(alpha=0.05, n_patterns=3, certify="exact",
                                      random_state=0).fit(X, y)
    assert exact.patterns_exact_ and not sampled.patterns_exact_
    assert exact.optimality_exact_ and sampled.optimality_exact_
    # Enumeration contains every sampled tuple: its optimum is never above.
    assert exact.objective_ <= sampled.objective_ * (1 + 1e-7)
    # The global optimum is certified for the exact fit, bounded for the sampled one.
    assert exact.optimality_relative_gap_ <= 1e-6
    assert sampled.optimality_lower_bound_ <= exact.objective_ * (1 + 1e-7)
    assert sampled.optimality_gap_ == pytest.approx(
        sampled.objective_ - sampled.optimality_lower_bound_)
    plain = ConvexDeepReLURegressor(alpha=0.05, n_patterns=3, random_state=0).fit(X, y)
    assert not hasattr(plain, "optimality_gap_")
    with pytest.raises(ValueError, match="certify"):
        ConvexDeepReLURegressor(certify="maybe").fit(X, y)


def test_ties_within_rounding_go_to_the_first_class():
    # Classes no sub-network feeds share one intercept (exactly, with balanced
    # weights); two certified solutions differ there by rounding, and their
    # predictions (and a CV estimator's alpha) must not turn on the last bit.
    from convexrelu._estimator_base import _predicted_labels
    classes = np.array(["a", "b", "c"])
    F = np.array([[-1.6, 0.8, 0.8 + 2e-16], [-1.6, 0.8 + 2e-16, 0.8], [0.1, 0.3, 0.2]])
    np.testing.assert_array_equal(_predicted_labels(classes, F), ["b", "b", "b"])
    two = np.array(["no", "yes"])
    np.testing.assert_array_equal(_predicted_labels(two, np.array([1e-17, -1e-17, 1e-3])),
                                  ["no", "no", "yes"])


@pytest.mark.parametrize("loss, n_classes", [("log_loss", 2), ("log_loss", 3),
                                             ("squared", 2), ("squared", 3)])
def test_classifier_fit_is_the_cvxpy_optimum_of_its_weighted_program(loss, n_classes):
    """The classifier's objective is Clarabel's optimum of the program its
    encoding describes (two classes: one output, targets -1/+1; more: one-hot
    rows; sample and class weights multiplied), on its own tuples; its
    decision function is the MLP forward pass of coefs_."""
    from convexrelu import Arrangements, solve_convex
    # (seed 2, binary: Clarabel itself fails on the logistic program)
    rng = np.random.default_rng(n_classes + 10)
    X = rng.standard_normal((45, 3))
    y = np.array(["a", "b", "c"])[:n_classes][
        np.digitize(X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(45),
                    np.quantile(X[:, 0], np.linspace(0, 1, n_classes + 1)[1:-1]))]
    sw = rng.uniform(0.5, 2.0, len(y))
    clf = ConvexDeepReLUClassifier(alpha=1e-2, loss=loss, n_patterns=6, patterns="sample",
                                   class_weight={"a": 2.0}, random_state=0, tol=1e-9)
    clf.fit(X, y, sample_weight=sw)
    Xa = np.hstack([X, np.ones((len(X), 1))])
    arr = Arrangements.from_weights(Xa, clf.first_weights_, clf.second_weights_)
    weights = sw * np.where(y == "a", 2.0, 1.0)
    if n_classes == 2:
        Y = np.where(y == "b", 1.0, -1.0)
        name = "logistic" if loss == "log_loss" else "squared"
    else:
        Y = (y[:, None] == np.array(["a", "b", "c"])[None]).astype(float)
        name = "cross_entropy" if loss == "log_loss" else "squared"
    ref = solve_convex(Xa, Y, arr, 1e-2, loss=name, fit_intercept=True, sample_weight=weights,
                       solver="cvxpy")
    assert clf.converged_
    assert clf.objective_ == pytest.approx(ref.objective, rel=1e-6)
    F = _forward(clf, X)
    np.testing.assert_allclose(clf.decision_function(X), F[:, 0] if n_classes == 2 else F,
                               rtol=1e-10, atol=1e-12)


def test_verbose_prints_the_solver_rounds_and_quiet_prints_nothing(diabetes, capsys):
    X, y = diabetes
    loud = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, patterns="sample",
                                   random_state=0, verbose=True).fit(X[:100], y[:100])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[fast] it")]
    # one line per working-set round, with the objective and gap of each
    assert len(lines) == loud.n_iter_
    gaps = [float(ln.split("gap")[1].split()[0]) for ln in lines]
    assert gaps[-1] == pytest.approx(loud.relative_gap_, rel=1e-2, abs=1e-12)
    ConvexDeepReLURegressor(alpha=1e-2, n_patterns=8, patterns="sample",
                            random_state=0).fit(X[:100], y[:100])
    assert capsys.readouterr().out == ""

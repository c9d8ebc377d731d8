"""``class_weight`` of the two classifiers: the same fit as the equivalent
sample weights, clear errors, and the CV estimator's choice (GridSearchCV's)."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_classification
from sklearn.metrics import recall_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.utils.class_weight import compute_sample_weight

from convexrelu import ConvexDeepReLUClassifier, ConvexDeepReLUClassifierCV


def _imbalanced(n_classes, seed=0):
    X, y = make_blobs(240, centers=n_classes, cluster_std=2.5, random_state=seed)
    # Keep every fifth row of the last class only: 80 / 80 / 16 for three.
    keep = (y != n_classes - 1) | (np.arange(len(y)) % 5 == 0)
    return X[keep], y[keep]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_balanced_class_weight_is_the_fit_with_balanced_sample_weights(n_classes):
    """'balanced' weighs class c by n / (n_classes n_c): scikit-learn's
    compute_sample_weight('balanced') passed as sample_weight gives the same
    network (logistic loss for two classes, softmax for three)."""
    X, y = _imbalanced(n_classes)
    params = dict(n_patterns=8, random_state=0, tol=1e-8)
    by_class = ConvexDeepReLUClassifier(class_weight="balanced", **params).fit(X, y)
    by_sample = ConvexDeepReLUClassifier(**params).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y))
    plain = ConvexDeepReLUClassifier(**params).fit(X, y)
    assert by_class.converged_
    np.testing.assert_allclose(by_class.decision_function(X), by_sample.decision_function(X),
                               rtol=1e-9, atol=1e-9)
    assert by_class.objective_ == pytest.approx(by_sample.objective_, rel=1e-9)
    # The weights change the fit (the minority class weighs 3 to 5 times more).
    assert abs(by_class.objective_ - plain.objective_) > 1e-3 * plain.objective_


def test_dict_class_weight_with_string_labels_multiplies_sample_weight():
    X, y = _imbalanced(3, seed=1)
    labels = np.array(["cat", "dog", "eel"])[y]
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    params = dict(n_patterns=8, random_state=0, tol=1e-8)
    # A label left out of the dict ("cat") weighs 1.
    weights = {"dog": 0.5, "eel": 4.0}
    by_class = ConvexDeepReLUClassifier(class_weight=weights, **params).fit(
        X, labels, sample_weight=sw)
    factor = np.select([labels == "dog", labels == "eel"], [0.5, 4.0], 1.0)
    by_sample = ConvexDeepReLUClassifier(**params).fit(X, labels, sample_weight=sw * factor)
    np.testing.assert_array_equal(by_class.classes_, ["cat", "dog", "eel"])
    np.testing.assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X),
                               rtol=1e-9, atol=1e-12)


def test_balanced_class_weight_raises_the_minority_class_recall():
    X, y = make_classification(300, n_features=4, n_informative=3, n_redundant=0,
                               weights=[0.9, 0.1], class_sep=0.5, flip_y=0.05,
                               random_state=0)
    params = dict(alpha=1e-2, n_patterns=8, random_state=0)
    plain = ConvexDeepReLUClassifier(**params).fit(X, y)
    balanced = ConvexDeepReLUClassifier(class_weight="balanced", **params).fit(X, y)
    assert (recall_score(y, balanced.predict(X), pos_label=1)
            > recall_score(y, plain.predict(X), pos_label=1) + 0.1)


@pytest.mark.parametrize("class_weight, match", [
    ({5: 1.0}, "labels that are not classes of y: \\[5\\]"),
    ({0: -1.0}, "positive finite numbers; got -1.0 for 0"),
    ({1: np.nan}, "positive finite numbers; got nan for 1"),
    ({0: "heavy"}, "positive finite numbers; got 'heavy' for 0"),
    ("balance", "None, 'balanced' or a dict"),
    ([1.0, 2.0], "None, 'balanced' or a dict"),
])
def test_bad_class_weight_is_a_clear_error_and_keeps_the_previous_fit(class_weight, match):
    X, y = _imbalanced(2)
    clf = ConvexDeepReLUClassifier(n_patterns=4, random_state=0).fit(X, y)
    before = clf.decision_function(X)
    with pytest.raises(ValueError, match=match):
        clf.set_params(class_weight=class_weight).fit(X, y)
    np.testing.assert_array_equal(clf.decision_function(X), before)
    with pytest.raises(ValueError, match=match):
        ConvexDeepReLUClassifierCV(n_alphas=2, cv=2, n_patterns=4,
                                   class_weight=class_weight).fit(X, y)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 2.0, 2: 5.0}])
def test_cv_class_weight_makes_the_choice_of_grid_search(class_weight):
    """The CV estimator with ``class_weight`` scores every fold and alpha as
    GridSearchCV over the plain classifier with that ``class_weight`` does
    (same folds, grid and patterns): class weights in the fits ("balanced"
    from each fold's training rows), plain accuracy as the score; so it
    chooses the same alpha, and its refit is the same fit."""
    X, y = _imbalanced(3, seed=2)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    small = dict(n_patterns=6, random_state=0, tol=1e-8)
    cv = ConvexDeepReLUClassifierCV(n_alphas=4, eps=1e-2, cv=folds, class_weight=class_weight,
                                    patterns="sample", **small).fit(X, y)
    gs = GridSearchCV(ConvexDeepReLUClassifier(class_weight=class_weight, patterns="sample",
                                               **small),
                      {"alpha": list(cv.alphas_)}, cv=folds).fit(X, y)
    gs_scores = np.array([gs.cv_results_[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(cv.cv_scores_, gs_scores, rtol=0, atol=1e-12)
    assert cv.alpha_ == gs.best_params_["alpha"]
    assert cv.best_estimator_.class_weight == class_weight
    assert cv.objective_ == pytest.approx(gs.best_estimator_.objective_, rel=1e-6)
    # The weights matter: without them the fold objectives differ.
    plain = ConvexDeepReLUClassifierCV(alphas=cv.alphas_, cv=folds, patterns="sample",
                                       **small).fit(X, y)
    assert not np.allclose(plain.cv_objectives_, cv.cv_objectives_, rtol=1e-3)


def test_one_vs_rest_class_weight_weighs_each_class_against_the_rest():
    """Under ``OneVsRestClassifier`` each binary classifier sees labels 0 / 1,
    so ``class_weight={1: w}`` weighs its own class's rows w times the rest's
    (how ``benchmarks/fashion_mnist.py --positive-weight`` uses it): each
    binary fit is the plain classifier's on ``y == k`` with sample weights w
    and 1."""
    from sklearn.multiclass import OneVsRestClassifier
    X, y = _imbalanced(3, seed=3)
    params = dict(loss="squared", n_patterns=6, random_state=0, tol=1e-8)
    ovr = OneVsRestClassifier(ConvexDeepReLUClassifier(class_weight={1: 3.0}, **params)).fit(X, y)
    for k, est in enumerate(ovr.estimators_):
        np.testing.assert_array_equal(est.classes_, [0, 1])
        target = (y == k).astype(int)
        by_sample = ConvexDeepReLUClassifier(**params).fit(
            X, target, sample_weight=np.where(target == 1, 3.0, 1.0))
        plain = ConvexDeepReLUClassifier(**params).fit(X, target)
        assert est.objective_ == pytest.approx(by_sample.objective_, rel=1e-9)
        assert abs(est.objective_ - plain.objective_) > 1e-3 * plain.objective_

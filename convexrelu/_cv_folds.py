"""One fold of the CV estimators (its path, each path point's score), and
the summary of all folds (:func:`summarise_folds`: the score paths, the
chosen alpha, the warnings).

The path's solutions are scored through their extracted networks, wrapped as
minimal fitted estimators (``_PathRegressor``, ``_PathClassifier``) that any
scikit-learn scorer can call; no estimator is refitted per alpha.
"""

from inspect import signature

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring, log_loss, make_scorer, roc_auc_score
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if

from ._estimator_base import _class_weight_factors, _log_probabilities, _predicted_labels
from .arrangements import Arrangements
from .extraction import extract_network
from .path import convex_path
from .trained_patterns import train_arrangements


# -- the network of one path point, as something a scorer can call -----------
class _PathPoint(BaseEstimator):
    """A network already fitted by the path; scorers need only its predictions.

    A custom scorer also finds the fitted attributes a scorer might weigh
    (``alpha``, ``n_subnetworks_``, ``coefs_``, ``intercepts_``,
    ``objective_``, ``dual_gap_``, ``relative_gap_``).
    """

    def fit(self, X, y=None):
        raise NotImplementedError("A path point is fitted by convex_path, not refitted.")

    def _set_point(self, network, result, n_features):
        self.network_ = network
        self.alpha = float(result.alpha)
        self.n_subnetworks_ = network.n_subnetworks
        self.coefs_ = network.coefs_
        self.intercepts_ = network.intercepts_
        self.objective_ = result.objective
        self.dual_gap_ = result.dual_gap
        self.relative_gap_ = result.relative_gap
        self.n_features_in_ = n_features

    def _outputs(self, X):
        # A scorer may pass the test rows as the caller's DataFrame.
        return self.network_.decision(np.asarray(X, dtype=np.float64))


class _PathRegressor(RegressorMixin, _PathPoint):
    """Predictions of one extracted network (what a fold's scorer calls)."""

    def _set(self, y_ndim):
        self.y_ndim_ = y_ndim
        return self

    def predict(self, X):
        F = self._outputs(X)
        return F[:, 0] if self.y_ndim_ == 1 else F


class _PathClassifier(ClassifierMixin, _PathPoint):
    """Decisions of one extracted network, as :class:`ConvexDeepReLUClassifier` makes them."""

    def _set(self, classes, log_loss):
        self.classes_ = classes
        self.log_loss_ = log_loss
        return self

    def decision_function(self, X):
        F = self._outputs(X)
        return F[:, 0] if len(self.classes_) == 2 else F

    def predict(self, X):
        F = self.decision_function(X)          # first: it checks that the model is fitted
        return _predicted_labels(self.classes_, F)

    def _has_log_loss(self):
        return self.log_loss_

    @available_if(_has_log_loss)
    def predict_log_proba(self, X):
        return _log_probabilities(self.decision_function(X))

    @available_if(_has_log_loss)
    def predict_proba(self, X):
        return np.exp(self.predict_log_proba(X))


def path_point(point_args):
    """An unfitted path point of the kind ``point_args`` names."""
    kind, extra = point_args
    return (_PathClassifier() if kind == "classifier" else _PathRegressor())._set(*extra)


#: probability scorers that need every class named: a test fold may lack one
_LABELLED_SCORERS = {
    "neg_log_loss": lambda c: make_scorer(log_loss, greater_is_better=False,
                                          response_method="predict_proba", labels=c),
    "roc_auc_ovr": lambda c: make_scorer(roc_auc_score, response_method="predict_proba",
                                         multi_class="ovr", labels=c),
    "roc_auc_ovo": lambda c: make_scorer(roc_auc_score, response_method="predict_proba",
                                         multi_class="ovo", labels=c),
    "roc_auc_ovr_weighted": lambda c: make_scorer(
        roc_auc_score, response_method="predict_proba", multi_class="ovr",
        average="weighted", labels=c),
    "roc_auc_ovo_weighted": lambda c: make_scorer(
        roc_auc_score, response_method="predict_proba", multi_class="ovo",
        average="weighted", labels=c),
}


def fold_scorer(point, scoring):
    """The scorer of a path point.  Probability scorers of a classifier get
    ``labels=classes_`` (as ``LogisticRegressionCV`` gives them): a test fold
    without some class would otherwise fail (``neg_log_loss``: "y_true and
    y_prob contain different number of classes")."""
    if (isinstance(point, _PathClassifier) and isinstance(scoring, str)
            and scoring in _LABELLED_SCORERS):
        return _LABELLED_SCORERS[scoring](point.classes_)
    return check_scoring(point, scoring=scoring)


def scorer_accepts_weights(scorer):
    """Whether ``scorer`` takes ``sample_weight`` (as ``GridSearchCV`` decides it)."""
    # scikit-learn's scorers answer for their metric (max_error takes no
    # weights though every scorer's __call__ does); no public API says it,
    # so ask when they can, else read the callable's signature.
    accept = getattr(scorer, "_accept_sample_weight", None)
    if accept is not None:
        return bool(accept())
    try:
        return "sample_weight" in signature(scorer).parameters
    except (TypeError, ValueError):
        return False


def _fold_path(X, Xa, y, Y, sample_weight, class_weights, train, test, first_weights,
               second_weights, alphas, loss, fit_intercept, solver, tol, max_iter, scoring,
               point_args, verbose, trained=None, X_score=None, weigh_scores=True,
               memory_limit=None):
    """Path of one fold on its training rows, scored on its test rows.

    ``trained``: None (the tuples of the given generators), or
    ``(alpha, n_patterns, n_hidden, seed)`` to train generators on the fold's
    training rows (``patterns="trained"``).

    ``X_score``: the caller's X (a DataFrame) whose test rows the scorer
    gets, or None for ``X``'s.  ``sample_weight`` weighs the fits and, with
    ``weigh_scores``, the scores; ``class_weights``
    (None, or ``(class_weight, classes, codes)``) the fits too, computed on
    the fold's training rows as the plain classifier computes them there.
    ``memory_limit``: bytes (or None) for :func:`convexrelu.solve_convex`.

    Returns a dict of arrays of shape (n_alphas,): ``scores``, ``objectives``,
    ``dual_gaps``, ``relative_gaps``, ``n_subnetworks``, ``solve_times``; and
    the solutions ``coefs`` (n_alphas, C, 2, P, m, d), ``intercepts`` (n_alphas, C).
    """
    sw = None
    score_kwargs = {}
    if sample_weight is not None and weigh_scores:
        score_kwargs["sample_weight"] = sample_weight[test]
    X_test = X[test] if X_score is None else X_score.iloc[test]
    if sample_weight is not None:
        sw = sample_weight[train]
        keep = sw > 0
        train, sw = train[keep], sw[keep]           # zero weights shape no tuple
    if class_weights is not None:
        class_weight, classes, codes = class_weights
        factors = _class_weight_factors(class_weight, classes, codes[train])
        sw = factors if sw is None else sw * factors
    if trained is None:
        arrangements = Arrangements.from_weights(Xa[train], first_weights, second_weights)
    else:
        # The generators of patterns="trained", trained on this fold's rows
        # at one alpha, with the plain estimator's seed handling.
        train_alpha, n_patterns, n_hidden, seed = trained
        arrangements = train_arrangements(
            Xa[train], Y[train], n_patterns, n_hidden, loss=loss, alpha=train_alpha,
            sample_weight=sw, fit_intercept=fit_intercept,
            random_state=check_random_state(seed))
    path = convex_path(Xa[train], Y[train], arrangements, alphas=alphas, loss=loss,
                       fit_intercept=fit_intercept, solver=solver, tol=tol,
                       max_iter=max_iter, sample_weight=sw, verbose=verbose,
                       errors="skip", memory_limit=memory_limit)
    point = path_point(point_args)
    scorer = fold_scorer(point, scoring)
    scores = np.full(len(alphas), np.nan)          # a failed solve scores NaN
    score_errors = []
    for k, result in enumerate(path.results):
        if result is None:
            continue
        point._set_point(extract_network(result, bias_column=fit_intercept), result,
                         X.shape[1])
        try:
            scores[k] = scorer(point, X_test, y[test], **score_kwargs)
        except AttributeError as exc:
            if (isinstance(point, _PathClassifier) and not point.log_loss_
                    and "predict" in str(exc) and "proba" in str(exc)):
                # A probability scorer on a squared-loss classifier: say so in
                # the estimator's terms, not the internal path point's.
                raise ValueError(
                    f"scoring={scoring!r} needs a method the fitted networks lack ({exc}). "
                    f"Classifiers have predict_proba and predict_log_proba only with "
                    f"loss='log_loss'; choose that loss or a scoring based on predict or "
                    f"decision_function.") from exc
            score_errors.append((k, f"{type(exc).__name__}: {exc}"))
        except Exception as exc:
            # As GridSearchCV's error_score=nan: the score is NaN, the fit goes on
            # (a test fold without some class, a scorer that raises).
            score_errors.append((k, f"{type(exc).__name__}: {exc}"))
    return dict(scores=scores, objectives=path.objectives, dual_gaps=path.dual_gaps,
                relative_gaps=path.relative_gaps, n_subnetworks=path.n_subnetworks,
                solve_times=path.solve_times, coefs=path.coefs,
                intercepts=path.intercepts, errors=path.errors, score_errors=score_errors)


def summarise_folds(out, alphas, scoring):
    """The folds' paths as ``(n_splits, n_alphas)`` arrays, the chosen alpha's
    index, and the warnings to give as ``(category, message)`` pairs.

    Raises ``ValueError`` when no alpha has a finite mean score.  Ties go to
    the larger alpha (the first of the decreasing grid); an alpha that failed
    or scored NaN on a fold ranks last, as in ``GridSearchCV``.
    """
    paths = {f"cv_{key}_": np.array([o[key] for o in out])
             for key in ("scores", "objectives", "dual_gaps", "relative_gaps",
                         "n_subnetworks", "solve_times")}
    scores = paths["cv_scores_"]
    paths["mean_cv_scores_"] = scores.mean(axis=0)
    failed = [(f, alphas[k], msg) for f, o in enumerate(out) for k, msg in o["errors"]]
    unscored = [(f, alphas[k], msg) for f, o in enumerate(out) for k, msg in o["score_errors"]]
    valid = np.isfinite(paths["mean_cv_scores_"])
    if not valid.any():
        if failed or unscored:
            raise ValueError(
                f"Every alpha failed on some fold; first failure (fold, alpha, error): "
                f"{(failed + unscored)[0]}")
        bad = int(np.flatnonzero(~np.isfinite(scores).all(axis=1))[0])
        raise ValueError(
            f"The scoring {scoring!r} returned NaN or inf at every alpha on fold {bad}: a "
            f"metric undefined on that fold's test rows (an AUC on a fold without some "
            f"class, say). Use folds that hold every class (a StratifiedKFold with no more "
            f"splits than the rarest class has members) or another scoring.")
    notes = []
    if failed:
        notes.append((FitFailedWarning,
                      f"{len(failed)} of {scores.size} path solves failed and score NaN (as "
                      f"GridSearchCV's error_score=nan); first (fold, alpha, error): "
                      f"{failed[0]}"))
    if unscored:
        notes.append((UserWarning,
                      f"Scoring failed for {len(unscored)} of {scores.size} path points, "
                      f"whose scores are NaN (as GridSearchCV's error_score=nan); first "
                      f"(fold, alpha, error): {unscored[0]}"))
    n_bad = int(np.sum(~np.isfinite(scores))) - len(failed) - len(unscored)
    if n_bad > 0:
        # The scorer itself returned NaN or inf (GridSearchCV warns too).
        notes.append((UserWarning, f"{n_bad} of {scores.size} fold scores are non-finite; "
                                   f"those alphas rank last."))
    best = int(np.argmax(np.where(valid, paths["mean_cv_scores_"], -np.inf)))
    return paths, best, notes

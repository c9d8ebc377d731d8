"""Cross-validated estimators: a regularisation path per fold, one refit.

``ConvexDeepReLURegressorCV`` and ``ConvexDeepReLUClassifierCV`` choose
``alpha`` by K-fold cross-validation, like :class:`~sklearn.linear_model.LassoCV`
and :class:`~sklearn.linear_model.LogisticRegressionCV`.  What makes them
cheaper than a :class:`~sklearn.model_selection.GridSearchCV` over the plain
estimators:

* the activation-pattern tuples are made once per fold, not once per fold
  and alpha: by default (``patterns="trained"``) each fold trains its
  generating network once, at the grid's smallest alpha; with
  ``patterns="sample"`` the Gaussian generators ``W1_t, w2_t`` are drawn
  **once**, on the full (ones-augmented) data, with ``random_state``, and
  every fold recomputes their tuples on its training rows
  (:meth:`Arrangements.from_weights`, FORMULATION.md section 3);
* every fold solves the whole decreasing grid of alphas as one path
  (:func:`convexrelu.convex_path`), each solve warm-started from the last;
* every alpha's solution is scored on the fold's test rows through its
  extracted network (:func:`convexrelu.extract_network`, section 5), no
  estimator being refitted;
* the folds run in parallel through joblib (``n_jobs``; any joblib backend,
  e.g. dask's).

With ``patterns="sample"`` and an integer ``random_state`` the plain
estimator samples the very same generators on each fold (same seed, same
draws; a fold's distinct tuples are the same set either way), so a
``GridSearchCV`` over ``ConvexDeepReLURegressor(patterns="sample",
random_state=seed)`` with the same folds solves the same convex programs and
selects the same alpha.  With trained tuples that holds at the grid's
smallest alpha, where both train the same network.

The default grid is geometric, from the exact ``alpha_max`` of the full
data (:func:`convexrelu.alpha_max`, where the solution becomes zero) down to
``eps * alpha_max``.  With ``sample_weight``, the fits use the training
rows' weights and the scores the test rows' weights, as ``GridSearchCV``
does.
"""

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._cv_docs import _CV_ATTRS_DOC, _CV_PARAMS_DOC_FIRST, _CV_PARAMS_DOC_REST
from ._cv_folds import (_fold_path, fold_scorer, path_point, scorer_accepts_weights,
                        summarise_folds)
from ._estimator_base import (_check_sample_weight, _class_weight_factors, _encode_classes,
                              _TransactionalFit, _VersionedPickle)
from ._validation import DataScaleWarning, validate_input
from .arrangements import sample_arrangements
from .estimators import ConvexDeepReLUClassifier, ConvexDeepReLURegressor
from .memory import (FitMemoryError, _format_bytes, check_fit_memory, estimate_fit_memory,
                     resolve_memory_limit)
from .path import _alpha_max_details, _prepare, alpha_grid

__all__ = ["ConvexDeepReLURegressorCV", "ConvexDeepReLUClassifierCV"]

#: fitted attributes of the refitted estimator that the CV estimator exposes
_DELEGATED = ("coefs_", "intercepts_", "n_layers_", "n_subnetworks_", "objective_",
              "dual_objective_", "dual_gap_", "relative_gap_", "constraint_violation_",
              "converged_", "n_iter_", "history_", "solver_", "fit_time_", "patterns_time_",
              "first_weights_",
              "second_weights_", "n_patterns_", "convex_weights_", "convex_intercept_",
              "network_")


# Warnings raised in _fit_cv point at the caller of fit: _fit_cv <-
# _fit_validated <- _fit_transactional <- fit <- the user's code.
_USER_FRAME = 5


class _BaseConvexDeepReLUCV(_VersionedPickle, _TransactionalFit, BaseEstimator):
    """Shared logic; see the concrete estimators for the parameters."""

    _single = None          # the plain estimator class refitted at alpha_
    _losses = ()
    _pickle_fitted = ("best_estimator_", "alpha_")
    _pickle_required = ("best_estimator_", "alpha_", "n_features_in_")

    def __init__(self, *, alphas=None, n_alphas=10, eps=1e-3, cv=None, scoring=None,
                 n_jobs=None, n_patterns=32, n_hidden=2, patterns="trained", loss=None,
                 fit_intercept=True, solver=None, tol=1e-6, max_iter=1000, random_state=None,
                 verbose=False, memory_limit="auto"):
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.n_patterns = n_patterns
        self.n_hidden = n_hidden
        self.patterns = patterns
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.memory_limit = memory_limit

    def _single_params(self, alpha, seed):
        return dict(alpha=float(alpha), n_patterns=self.n_patterns, n_hidden=self.n_hidden,
                    patterns=self.patterns, loss=self.loss, fit_intercept=self.fit_intercept,
                    solver=self.solver, tol=self.tol, max_iter=self.max_iter, random_state=seed,
                    warm_start=False, verbose=self.verbose, n_jobs=self.n_jobs,
                    memory_limit=self.memory_limit)

    def _validate_cv_params(self):
        if self.alphas is not None:
            alphas = np.asarray(self.alphas, dtype=float).ravel()
            if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
                raise ValueError("alphas must be a non-empty array of positive finite "
                                 f"numbers; got {self.alphas!r}.")
        n_alphas = self.n_alphas
        if (not isinstance(n_alphas, numbers.Integral) or isinstance(n_alphas, bool)
                or n_alphas < 1):
            raise ValueError(f"n_alphas must be a positive integer; got {n_alphas!r}.")
        if not isinstance(self.eps, numbers.Real) or not 0 < self.eps < 1:
            raise ValueError(f"eps must be in (0, 1); got {self.eps!r}.")
        if not isinstance(self.patterns, str) or self.patterns not in ("sample", "trained"):
            raise ValueError(f"patterns must be 'sample' or 'trained'; got {self.patterns!r}.")
        # The single-fit parameters are checked by the plain estimator itself.
        self._single(**self._single_params(1.0, 0))._validate_params()

    def _check_folds_memory(self, folds, n_columns, n_outputs, loss):
        """A FitMemoryError when the folds' paths that joblib runs at once
        (``n_jobs`` of them, each on its training rows) are together
        estimated above ``memory_limit``; else each path's share of the limit
        (bytes, or None), for the fast solver's exact fallback rounds, which
        the estimate does not count."""
        limit = resolve_memory_limit(self.memory_limit)
        at_once = min(effective_n_jobs(self.n_jobs), len(folds))
        if limit is None or at_once < 2:
            return limit
        rows = max(len(train) for train, _ in folds)
        each = estimate_fit_memory(rows, n_columns, n_outputs, int(self.n_patterns),
                                   int(self.n_hidden), solver=self.solver, loss=loss)
        if at_once * each > limit:
            raise FitMemoryError(
                f"The folds' paths run {at_once} at a time (n_jobs={self.n_jobs!r}), each "
                f"estimated at {_format_bytes(each)} ({rows} training rows, "
                f"n_patterns={self.n_patterns}, n_hidden={self.n_hidden}), "
                f"{_format_bytes(at_once * each)} together, above memory_limit="
                f"{_format_bytes(limit)} ({self.memory_limit!r}). Lower n_jobs, reduce "
                f"n_patterns or n_hidden, or raise memory_limit (None disables the check).")
        return limit // at_once

    def _seed(self):
        """An int seed for the generators: the one given, or one drawn from it."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _fit_cv(self, X, y, Y, sample_weight, groups, loss, point_args, class_weights=None,
                X_in=None):
        """Everything after target encoding: grid, folds, paths, choice, refit.

        ``class_weights``: None, or ``(class_weight, classes, codes)`` (codes
        -1 on rows of zero sample weight); they weigh the fits, not the scores.
        ``X_in``: X as the caller passed it; a DataFrame's test rows go to
        the scorer as such (``GridSearchCV`` passes them so).
        """
        X_score = X_in if hasattr(X_in, "iloc") else None
        weigh_scores = True
        if sample_weight is not None:
            weigh_scores = scorer_accepts_weights(
                fold_scorer(path_point(point_args), self.scoring))
            if not weigh_scores:
                warnings.warn(
                    f"The scoring {self.scoring!r} does not accept sample_weight: the fits "
                    f"are weighted, the fold scores are not (as in GridSearchCV). Give the "
                    f"scorer a sample_weight argument to weigh them.", UserWarning,
                    stacklevel=_USER_FRAME)
        fit_weight = sample_weight
        if class_weights is not None:
            factors = _class_weight_factors(*class_weights)
            fit_weight = factors if sample_weight is None else sample_weight * factors
        seed = self._seed()
        keep = slice(None) if sample_weight is None else sample_weight > 0
        Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X
        cv = check_cv(self.cv, y, classifier=is_classifier(self))
        folds = list(cv.split(X, y, groups))
        # The refit on all rows is the largest single fit: refuse it now, as
        # it would refuse itself, rather than after every fold's path; and
        # the folds that run at once, together.
        check_fit_memory(Xa.shape[0], Xa.shape[1], Y.shape[1], int(self.n_patterns),
                         int(self.n_hidden), solver=self.solver, loss=loss,
                         memory_limit=self.memory_limit, n_jobs=self.n_jobs)
        fold_limit = self._check_folds_memory(folds, Xa.shape[1], Y.shape[1], loss)
        full = sample_arrangements(Xa[keep], self.n_patterns, self.n_hidden,
                                   random_state=seed)
        W1, w2 = full.first_weights, full.second_weights
        amax = None
        if self.alphas is None:
            sw = None if fit_weight is None else fit_weight[keep]
            _, Yp, wp, loss_obj, op = _prepare(Xa[keep], Y[keep], full, loss, sw)
            amax = _alpha_max_details(op, loss_obj, Yp, wp, self.fit_intercept).value
            alphas = alpha_grid(amax, n_alphas=self.n_alphas, eps=self.eps)
        else:
            alphas = np.sort(np.asarray(self.alphas, dtype=float).ravel())[::-1]

        # Trained tuples depend on the alpha they are trained at, and a path
        # shares one tuple set: each fold trains its generators once, at the
        # grid's smallest alpha (the end that fits the data most closely).
        trained = ((float(alphas[-1]), int(self.n_patterns), int(self.n_hidden), seed)
                   if self.patterns == "trained" else None)
        out = Parallel(n_jobs=self.n_jobs)(
            delayed(_fold_path)(
                X, Xa, y, Y, sample_weight, class_weights, train, test, W1, w2, alphas, loss,
                self.fit_intercept, self.solver, float(self.tol), int(self.max_iter),
                self.scoring, point_args, bool(self.verbose), trained, X_score, weigh_scores,
                fold_limit)
            for train, test in folds)

        self.alphas_ = alphas
        self.alpha_max_ = amax
        paths, best_index, notes = summarise_folds(out, alphas, self.scoring)
        for name, value in paths.items():
            setattr(self, name, value)
        for category, message in notes:
            warnings.warn(message, category, stacklevel=_USER_FRAME)
        self.best_index_ = best_index
        self.best_score_ = float(self.mean_cv_scores_[best_index])
        self.alpha_ = float(alphas[best_index])
        self.n_splits_ = len(folds)
        self.random_seed_ = seed

        # The refit is an ordinary fit of the plain estimator at alpha_.  With
        # sampled tuples it uses the same generators and starts from the
        # folds' mean solution there (the union of their active blocks)
        # through the estimator's own warm_start, then forgets that it was
        # warm-started.  Trained tuples differ by fold; the refit trains its
        # own at alpha_, as GridSearchCV's refit does.
        best = self._single(**self._single_params(self.alpha_, seed))
        if trained is None:
            starts = [(o["coefs"][self.best_index_], o["intercepts"][self.best_index_])
                      for o in out if o["coefs"] is not None]
            best.set_params(warm_start=True)
            best.first_weights_, best.second_weights_ = W1, w2
            best.convex_weights_ = np.mean([u for u, _ in starts], axis=0)
            best.convex_intercept_ = np.mean([b for _, b in starts], axis=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # The grid follows the data's alpha_max, whatever the target's scale.
            warnings.filterwarnings("ignore", message="y has a scale",
                                    category=DataScaleWarning)
            best.fit(X, y, sample_weight=sample_weight)
        for w in caught:
            # The refit's warnings (degenerate patterns, convergence) name
            # the user's fit call, under the user's filters.
            warnings.warn(w.message, stacklevel=_USER_FRAME)
        best.set_params(warm_start=False)
        self.best_estimator_ = best
        for name in _DELEGATED:
            if hasattr(best, name):
                setattr(self, name, getattr(best, name))
        return self

    def _validated_X(self, X):
        check_is_fitted(self, "best_estimator_")
        return validate_input(self, X, reset=False, dtype=[np.float64, np.float32])

    def predict(self, X):
        """Predict with the estimator refitted at ``alpha_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray
            As the refitted estimator's ``predict``.
        """
        X = self._validated_X(X)
        return self.best_estimator_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class ConvexDeepReLURegressorCV(RegressorMixin, _BaseConvexDeepReLUCV):
    __doc__ = f"""Convex deep ReLU regressor with alpha chosen by cross-validation.

    Solves, on every fold, the regularisation path of the convex program

        min_u (1/n) sum_i (f_u(x_i) - y_i)^2 / 2 + alpha sum_g ||u_g||_2

    over a decreasing grid of alphas with warm starts
    (:func:`convexrelu.convex_path`), scores each alpha's extracted network on
    the fold's test rows, picks the alpha with the best mean score and
    refits :class:`ConvexDeepReLURegressor` on all data there.

    The tuples are trained by default, as the plain estimators' are: a path
    shares one tuple set across its alphas, and trained tuples depend on
    the alpha they are trained at, so each fold trains them once, at the
    grid's smallest alpha (see ``patterns``).  ``patterns="sample"`` draws
    random generators once for all folds (the paper's method).

    Parameters
    ----------{_CV_PARAMS_DOC_FIRST}
    loss : {{"squared"}}, default="squared"
        Training loss (the squared loss, as the plain regressor's).{_CV_PARAMS_DOC_REST}

    Attributes
    ----------{_CV_ATTRS_DOC}
    n_outputs_ : int

    See Also
    --------
    ConvexDeepReLURegressor
    convexrelu.convex_path, convexrelu.alpha_max

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from convexrelu import ConvexDeepReLURegressorCV
    >>> X, y = make_regression(n_samples=60, n_features=3, noise=1, random_state=0)
    >>> reg = ConvexDeepReLURegressorCV(n_alphas=4, cv=3, n_patterns=8, n_hidden=2,
    ...                                 random_state=0).fit(X, y / y.std())
    >>> reg.cv_scores_.shape
    (3, 4)
    """

    _single = ConvexDeepReLURegressor
    _losses = ("squared",)

    def __init__(self, *, alphas=None, n_alphas=10, eps=1e-3, cv=None, scoring=None,
                 n_jobs=None, n_patterns=32, n_hidden=2, patterns="trained", loss="squared",
                 fit_intercept=True, solver=None, tol=1e-6, max_iter=1000,
                 random_state=None, verbose=False, memory_limit="auto"):
        super().__init__(alphas=alphas, n_alphas=n_alphas, eps=eps, cv=cv,
                         scoring=scoring, n_jobs=n_jobs, n_patterns=n_patterns,
                         n_hidden=n_hidden, patterns=patterns, loss=loss,
                         fit_intercept=fit_intercept,
                         solver=solver, tol=tol, max_iter=max_iter,
                         random_state=random_state, verbose=verbose,
                         memory_limit=memory_limit)

    def fit(self, X, y, sample_weight=None, groups=None):
        """Cross-validate the alphas, then refit at ``alpha_`` on all data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Used by every fit and, on the test rows, by the scores.
        groups : array-like of shape (n_samples,), default=None
            Group labels for group-aware splitters.

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit_transactional(X, y, sample_weight, groups)

    def _fit_validated(self, X, y, sample_weight, groups):
        self._validate_cv_params()
        X_in = X
        X, y = validate_input(self, X, y, multi_output=True, y_numeric=True,
                              dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = np.asarray(X, dtype=np.float64)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        Y = np.asarray(y, dtype=np.float64)
        y_ndim = Y.ndim
        Y = Y.reshape(len(Y), -1)
        self.n_outputs_ = Y.shape[1]
        return self._fit_cv(X, y, Y, sw, groups, "squared", ("regressor", (y_ndim,)),
                            X_in=X_in)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexDeepReLUClassifierCV(ClassifierMixin, _BaseConvexDeepReLUCV):
    __doc__ = f"""Convex deep ReLU classifier with alpha chosen by cross-validation.

    The classifier counterpart of :class:`ConvexDeepReLURegressorCV` (like
    :class:`~sklearn.linear_model.LogisticRegressionCV`): per fold, the
    warm-started path of the convex program over the alphas, each alpha's
    extracted network scored on the fold's test rows (accuracy by default),
    then :class:`ConvexDeepReLUClassifier` refitted on all data at the best
    alpha.  The classes are encoded once, on all data.  Its tuples are
    trained by default, as the regressor's (see there and ``patterns``).

    Parameters
    ----------{_CV_PARAMS_DOC_FIRST}
    loss : {{"log_loss", "squared"}}, default="log_loss"
        Training loss; ``predict_proba`` needs ``"log_loss"``.
    class_weight : dict, "balanced" or None, default=None
        Class weights of every fit, as in :class:`ConvexDeepReLUClassifier`
        ("balanced": computed on each fit's training rows, as in
        ``GridSearchCV``).  They weigh the fits only: the fold scores use
        ``sample_weight`` alone, so the choice of ``alpha_`` is the one of
        ``GridSearchCV`` over the plain classifier with this ``class_weight``.{_CV_PARAMS_DOC_REST}

    Attributes
    ----------{_CV_ATTRS_DOC}
    classes_ : ndarray of shape (n_classes,)

    See Also
    --------
    ConvexDeepReLUClassifier

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from convexrelu import ConvexDeepReLUClassifierCV
    >>> X, y = make_moons(n_samples=60, noise=0.1, random_state=0)
    >>> clf = ConvexDeepReLUClassifierCV(n_alphas=4, cv=3, n_patterns=8, n_hidden=2,
    ...                                  random_state=0).fit(X, y)
    >>> clf.alpha_ in clf.alphas_
    True
    """

    _single = ConvexDeepReLUClassifier
    _losses = ("log_loss", "squared")
    _required_fitted = ("classes_",)

    def __init__(self, *, alphas=None, n_alphas=10, eps=1e-3, cv=None, scoring=None,
                 n_jobs=None, n_patterns=32, n_hidden=2, patterns="trained", loss="log_loss",
                 class_weight=None, fit_intercept=True, solver=None, tol=1e-6,
                 max_iter=1000, random_state=None, verbose=False, memory_limit="auto"):
        super().__init__(alphas=alphas, n_alphas=n_alphas, eps=eps, cv=cv,
                         scoring=scoring, n_jobs=n_jobs, n_patterns=n_patterns,
                         n_hidden=n_hidden, patterns=patterns, loss=loss,
                         fit_intercept=fit_intercept,
                         solver=solver, tol=tol, max_iter=max_iter,
                         random_state=random_state, verbose=verbose,
                         memory_limit=memory_limit)
        self.class_weight = class_weight

    def _single_params(self, alpha, seed):
        return dict(super()._single_params(alpha, seed), class_weight=self.class_weight)

    def fit(self, X, y, sample_weight=None, groups=None):
        """Cross-validate the alphas, then refit at ``alpha_`` on all data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Used by every fit and, on the test rows, by the scores.
        groups : array-like of shape (n_samples,), default=None
            Group labels for group-aware splitters.

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit_transactional(X, y, sample_weight, groups)

    def _fit_validated(self, X, y, sample_weight, groups):
        self._validate_cv_params()
        X_in = X
        X, y = validate_input(self, X, y, dtype=[np.float64, np.float32],
                              ensure_min_samples=2)
        X = np.asarray(X, dtype=np.float64)
        check_classification_targets(y)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        classes, codes, Y, loss = _encode_classes(y, sw, self.loss == "log_loss")
        # Class weights weigh the fits (each on its own training rows, as in
        # GridSearchCV over the plain classifier), not the scores; _fit_cv
        # checks them.
        class_weights = (None if self.class_weight is None
                         else (self.class_weight, classes, codes))
        self.classes_ = classes
        return self._fit_cv(X, y, Y, sw, groups, loss,
                            ("classifier", (classes, self.loss == "log_loss")), class_weights,
                            X_in=X_in)

    def decision_function(self, X):
        """Network outputs of the refitted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            As the refitted estimator's ``decision_function``.
        """
        X = self._validated_X(X)
        return self.best_estimator_.decision_function(X)

    def _has_log_loss(self):
        return self.loss == "log_loss"

    @available_if(_has_log_loss)
    def predict_proba(self, X):
        """Class probabilities of the refitted estimator (``loss="log_loss"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        X = self._validated_X(X)
        return self.best_estimator_.predict_proba(X)

    @available_if(_has_log_loss)
    def predict_log_proba(self, X):
        """Log class probabilities of the refitted estimator (``loss="log_loss"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        X = self._validated_X(X)
        return self.best_estimator_.predict_log_proba(X)

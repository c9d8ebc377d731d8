"""scikit-learn estimators: fit = sample tuples, solve the convex program, extract.

``fit`` appends a column of ones to X when ``fit_intercept`` is on (so the
first layer has biases, penalised as part of W1, FORMULATION.md section 1),
records the activation-pattern tuples of generating networks (a briefly
trained parallel network by default, random Gaussian networks with
``patterns="sample"``), solves the convex program of those tuples to a
certified relative duality gap ``tol``, and extracts the equivalent
three-layer ReLU network.  ``predict`` runs that
network only; no pattern is needed at prediction time.  The shared fitting
logic is in ``_estimator_base``.
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from scipy.special import expit, log_softmax

from ._estimator_base import (ModelVersionWarning, _BaseConvexDeepReLU, _check_sample_weight,
                              _class_weight_factors, _encode_classes, _log_probabilities,
                              _predicted_labels)
from ._validation import DataScaleWarning, validate_input, warn_on_target_scale
from .memory import FitMemoryError

__all__ = ["ConvexDeepReLURegressor", "ConvexDeepReLUClassifier", "DataScaleWarning",
           "FitMemoryError", "ModelVersionWarning"]


_PARAMS_DOC_FIRST = """
    alpha : float, default=1e-3
        Regularisation strength, the weight of ``sum_k ||W1_k||_F ||w2_k|| |w3_k|``
        against the mean loss (equivalently of the group norms ``sum ||u||``
        of the convex program).  Larger values give fewer sub-networks.
    n_patterns : int, default=32
        Number of generating networks (trained or random, see ``patterns``)
        whose activation-pattern tuples are recorded; duplicates are
        dropped, so ``n_patterns_`` may be smaller.  More
        patterns give a lower (better) optimum and a slower fit.
    n_hidden : int, default=2
        First-layer width ``m`` of every sub-network (``n_hidden=1`` is the
        two-layer convex network)."""

_PARAMS_DOC_REST = """
    fit_intercept : bool, default=True
        Give the first layer biases (a column of ones appended to X; penalised
        with W1) and fit an unpenalised output intercept.
    patterns : {"trained", "sample", "exact"}, default="trained"
        Where the activation-pattern tuples come from.  "trained": the
        ``n_patterns`` sub-networks of a parallel network trained by Adam on
        the same loss and regulariser (:func:`convexrelu.train_arrangements`:
        300 full-batch steps, or above 16000 rows 1200 steps on minibatches
        of 2000 rows); the convex program then
        finds the certified best network over their tuples, at least as good
        as the trained network.  "sample": forward passes of ``n_patterns``
        random Gaussian networks (the paper's sampling: no training, but
        random hyperplanes describe the data poorly once n is in the
        thousands; held-out scores were lower than with "trained" on 8 of 9
        UCI regression sets at alpha 1e-3, see the README).  "exact" enumerates every
        activation-pattern tuple of the training data
        (:func:`convexrelu.enumerate_arrangements`) instead of sampling, so the
        fit is the global optimum of the non-convex training problem.  Only
        for tiny data: with ``n_hidden=2`` and an intercept, random data
        within the default ``max_patterns`` reach n = 8 rows at d = 1
        feature (1089 tuples), n = 6 at d = 2 (4531), n = 5 at d = 3
        (3667); ``n_patterns`` is then ignored, and ``solver=None`` means
        "cvxpy" with the squared loss and "fast" with the logistic and
        cross-entropy losses (each falls back to the other should it fail).
    max_patterns : int, default=10_000
        Largest number of enumerated tuples (exact patterns and exact
        certificates) before a ``ValueError`` naming the estimate.
    certify : {False, True, "exact", "sampled"}, default=False
        Also compute a lower bound on the non-convex optimum over *all*
        tuples (:func:`convexrelu.optimality_certificate`): "exact" enumerates
        them (a proof), "sampled" checks a large random sample (an estimate;
        100,000 random networks, seconds even on tiny data), True picks
        "exact" when affordable.  Stored as ``optimality_gap_`` etc.
    solver : str, default=None
        Convex solver: None for the package default, or a name from
        :func:`convexrelu.available_solvers`, or a CVXPY solver such as
        "CLARABEL".
    tol : float, default=1e-6
        Stop when the relative duality gap is below ``tol`` (in (0, 1)).
    max_iter : int, default=1000
        Iteration limit of the solver; a :class:`~sklearn.exceptions.ConvergenceWarning`
        is raised when it stops above ``tol``.
    random_state : int, RandomState instance or None, default=None
        Seed of the generating networks (their random initialisation when
        ``patterns="trained"``, the sampled networks when "sample").  Pass an
        int for reproducible fits.
    n_jobs : int, default=None
        Parallel joblib workers for the convex solve where it splits: with
        the squared loss and several outputs (multi-output regression, or
        classification with ``loss="squared"``: one output per class) each
        output is an independent program.  None or 1: in this process;
        -1: all processors (the joblib backend of a
        :func:`joblib.parallel_config` context applies).  With the
        cross-entropy loss and many classes, threads that form, factorise
        and apply the classes' blocks of each Newton system (a 75-class
        fit of 120 rows: 1.24x faster on 2 cores).  The fitted model does
        not depend on it.
    warm_start : bool, default=False
        Reuse the generating networks of the previous fit (their patterns
        recomputed on the new data, not retrained) and the previous convex
        solution as the starting point.  Only while ``patterns``,
        ``n_patterns``, ``n_hidden``, the number of features and of outputs
        are unchanged; otherwise the fit starts cold with new generators.
    verbose : bool, default=False
        Print solver progress.
    memory_limit : "auto", int, str or None, default="auto"
        Largest estimated memory a fit may need.  Before sampling patterns,
        ``fit`` estimates the size of the lifted arrays of the convex program
        (:func:`convexrelu.memory.estimate_fit_memory`; they grow like
        ``n_samples * n_patterns * n_hidden * n_features``) and raises a
        :class:`~convexrelu.memory.FitMemoryError` (a ``MemoryError`` and a
        ``ValueError``) naming the estimate, the limit and what to reduce when
        it is above.  The fast solver's exact fallback (a working-set round
        given to Clarabel when its interior point fails, not in the
        estimate) is refused above the limit or the memory available: the
        fit stops at the previous round's point with a
        ``ConvergenceWarning``.  ``"auto"``: half of the memory available at
        fit time (8 GiB when unknown); an int: bytes; a string such as
        ``"2GiB"`` or ``"500MB"``; None: no check (the fallback is still
        refused above the memory available)."""

_ATTRS_DOC = """
    coefs_ : list of 3 ndarrays
        Weight matrices of the extracted MLP: ``(n_features, K*n_hidden)``,
        ``(K*n_hidden, K)`` block-diagonal, ``(K, n_outputs)``.
    intercepts_ : list of 3 ndarrays
        First-layer biases (zeros without ``fit_intercept``), zeros, and the
        output intercept.
    n_subnetworks_ : int
        Number ``K`` of active sub-networks.
    objective_ : float
        Training objective of the convex solution, equal to the non-convex
        objective of the extracted network.
    dual_objective_ : float
        Objective of the feasible dual point (lower bound for the recorded
        tuples).
    dual_gap_ : float
        ``objective_ - dual_objective_``, the certificate of the fit.
    relative_gap_ : float
        ``dual_gap_ / |objective_|``; zero when the gap is within rounding of
        the objectives (a constant target fitted by the intercept alone).
        See :func:`convexrelu.duality.relative_gap`.
    constraint_violation_ : float
        Largest relative violation of the pattern constraints.
    converged_ : bool
        Whether ``relative_gap_ <= tol`` with feasible constraints.
    n_iter_ : int
        Solver iterations.
    history_ : dict of ndarray
        The fast solver's working-set rounds, one entry each (empty arrays
        for ``solver="cvxpy"``), for objective-versus-time curves:
        ``"objective"`` and ``"relative_gap"`` (the whole program's value and
        certificate at the round's solution), ``"seconds"`` (since that
        program's solve began), ``"active_blocks"`` and ``"working_set"``
        (non-zero blocks of the round's solution, blocks of its restricted
        program), ``"inner"`` (what solved the restricted program:
        ``"active_set"``, ``"ipm"`` or ``"clarabel"``, see the README's
        "How the fast solver works"), and ``"output"``: -1 when the outputs
        share one program;
        with the squared loss each output is a program of its own, solved in
        turn (in parallel with ``n_jobs``), and its rounds carry its index.
        The last round's values precede the final removal of negligible
        groups; ``objective_`` and ``relative_gap_`` are the fit's own.
    fit_time_ : float
        Seconds in the solver.
    patterns_time_ : float
        Seconds spent making the tuples before the solver: training the
        generating network (``patterns="trained"``), sampling or enumerating
        them (most of the rest of a fit, with ``fit_time_``).
    n_patterns_ : int
        Distinct recorded tuples.
    first_weights_ : ndarray of shape (n_patterns_, n_features + fit_intercept, n_hidden)
        Generating first-layer weights of the recorded tuples;
        ``Arrangements.from_weights(X1, first_weights_, second_weights_)``
        recomputes them on the (ones-augmented) training data ``X1``.
    second_weights_ : ndarray of shape (n_patterns_, n_hidden)
    convex_weights_ : ndarray of shape (n_outputs, 2, n_patterns_, n_hidden, n_columns)
        The convex solution ``u``; ``n_columns`` is ``n_features_in_`` plus one
        when ``fit_intercept`` is on.
    network_ : ReLUNetwork
        The extracted network.
    n_layers_ : int
        Number of layers counting input and output, 4 (as
        :class:`~sklearn.neural_network.MLPRegressor` counts them).
    solver_ : str
        Name of the solver that produced the solution.
    convex_intercept_ : ndarray of shape (n_outputs,)
        Output intercept of the convex solution (``intercepts_[-1]``).
    patterns_exact_ : bool
        Whether the tuples were enumerated (``patterns="exact"``).
    optimality_lower_bound_, optimality_gap_, optimality_relative_gap_ : float
        With ``certify``: the lower bound on the non-convex optimum and
        ``objective_`` minus it (absolute and relative to ``objective_``).
    optimality_exact_ : bool
        With ``certify``: whether every tuple was checked (a proof).
    optimality_certificate_ : OptimalityCertificate
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when X has string feature names.
"""


class ConvexDeepReLURegressor(RegressorMixin, _BaseConvexDeepReLU):
    __doc__ = f"""Three-layer parallel ReLU network regressor trained to global optimality.

    Fits ``f(x) = b + sum_k w3_k relu(sum_j w2_kj relu(x . w1_kj))`` with
    squared loss and the product-of-norms regulariser by solving the
    equivalent convex program over recorded activation patterns (Ergen &
    Pilanci, ICML 2021); ``objective_`` is the global optimum of the training
    objective over networks with those patterns, certified by ``dual_gap_``.

    Parameters
    ----------{_PARAMS_DOC_FIRST}
    loss : {{"squared"}}, default="squared"
        Training loss: ``(1/2) ||f(x_i) - y_i||^2`` averaged over the samples
        (weighted by ``sample_weight``).{_PARAMS_DOC_REST}

    Attributes
    ----------{_ATTRS_DOC}
    n_outputs_ : int

    See Also
    --------
    ConvexDeepReLUClassifier
    convexrelu.solve_convex : The functional API beneath.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from convexrelu import ConvexDeepReLURegressor
    >>> X, y = make_regression(n_samples=100, n_features=4, noise=1, random_state=0)
    >>> reg = ConvexDeepReLURegressor(alpha=1e-2, n_patterns=20, random_state=0)
    >>> reg.fit(X, y / y.std()).relative_gap_ < 1e-6
    True
    """

    _losses = ("squared",)
    _required_fitted = ("_y_ndim",)

    def __init__(self, alpha=1e-3, *, n_patterns=32, n_hidden=2, loss="squared",
                 fit_intercept=True, patterns="trained", max_patterns=10_000, certify=False,
                 solver=None, tol=1e-6, max_iter=1000, random_state=None,
                 n_jobs=None, warm_start=False, verbose=False, memory_limit="auto"):
        super().__init__(alpha=alpha, n_patterns=n_patterns, n_hidden=n_hidden,
                         loss=loss, fit_intercept=fit_intercept, patterns=patterns,
                         max_patterns=max_patterns, certify=certify, solver=solver, tol=tol,
                         max_iter=max_iter, random_state=random_state, n_jobs=n_jobs,
                         warm_start=warm_start, verbose=verbose,
                         memory_limit=memory_limit)

    def fit(self, X, y, sample_weight=None):
        """Fit the network by solving the convex program.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (None: all equal).

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit_transactional(X, y, sample_weight)

    def _fit_validated(self, X, y, sample_weight):
        self._validate_params()
        X, y = validate_input(self, X, y, multi_output=True, y_numeric=True,
                              dtype=[np.float64, np.float32], ensure_min_samples=2)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        try:
            Y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"y must be numeric for regression; got values of dtype {y.dtype} that "
                f"are not numbers ({exc}).") from exc
        if not np.all(np.isfinite(Y)):
            raise ValueError("Input y contains NaN or infinity.")
        self._y_ndim = Y.ndim
        Y = Y.reshape(len(Y), -1)
        self.n_outputs_ = Y.shape[1]
        warn_on_target_scale(Y, sw, self.fit_intercept, float(self.alpha), stacklevel=5)
        return self._fit(X, Y, sw, "squared")

    def predict(self, X):
        """Predict with the extracted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values (one column per output for a 2-D ``y``).
        """
        F = self._decision(X)
        return F[:, 0] if self._y_ndim == 1 else F

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexDeepReLUClassifier(ClassifierMixin, _BaseConvexDeepReLU):
    __doc__ = f"""Three-layer parallel ReLU network classifier trained to global optimality.

    Binary problems use one output; ``loss="log_loss"`` is the logistic loss
    on labels -1/+1 and ``loss="squared"`` the paper's squared loss on -1/+1.
    Multiclass problems use one output per class, each sub-network feeding
    one class (FORMULATION.md section 8); ``"log_loss"`` is the softmax
    cross-entropy, ``"squared"`` the squared loss on one-hot targets.

    Parameters
    ----------{_PARAMS_DOC_FIRST}
    loss : {{"log_loss", "squared"}}, default="log_loss"
        Training loss; ``predict_proba`` needs ``"log_loss"``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss: ``{{label: weight}}`` (positive;
        1 for labels left out), or ``"balanced"``, ``n_samples / (n_classes *
        n_samples_of_class)`` as in scikit-learn.  They multiply
        ``sample_weight``.{_PARAMS_DOC_REST}

    Attributes
    ----------{_ATTRS_DOC}
    classes_ : ndarray of shape (n_classes,)

    See Also
    --------
    ConvexDeepReLURegressor

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from convexrelu import ConvexDeepReLUClassifier
    >>> X, y = make_moons(n_samples=100, noise=0.1, random_state=0)
    >>> clf = ConvexDeepReLUClassifier(alpha=1e-3, n_patterns=20, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _losses = ("log_loss", "squared")
    _required_fitted = ("classes_",)

    def __init__(self, alpha=1e-3, *, n_patterns=32, n_hidden=2, loss="log_loss",
                 class_weight=None, fit_intercept=True, patterns="trained",
                 max_patterns=10_000, certify=False, solver=None, tol=1e-6, max_iter=1000,
                 random_state=None, n_jobs=None, warm_start=False, verbose=False,
                 memory_limit="auto"):
        super().__init__(alpha=alpha, n_patterns=n_patterns, n_hidden=n_hidden,
                         loss=loss, fit_intercept=fit_intercept, patterns=patterns,
                         max_patterns=max_patterns, certify=certify, solver=solver, tol=tol,
                         max_iter=max_iter, random_state=random_state, n_jobs=n_jobs,
                         warm_start=warm_start, verbose=verbose,
                         memory_limit=memory_limit)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
        """Fit the network by solving the convex program.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Class labels (any hashable values).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (None: all equal).

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit_transactional(X, y, sample_weight)

    def _fit_validated(self, X, y, sample_weight):
        self._validate_params()
        X, y = validate_input(self, X, y, dtype=[np.float64, np.float32],
                              ensure_min_samples=2)
        check_classification_targets(y)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        classes, codes, Y, loss = _encode_classes(y, sw, self.loss == "log_loss")
        factors = _class_weight_factors(self.class_weight, classes, codes)
        if factors is not None:
            sw = factors if sw is None else sw * factors
        self.classes_ = classes
        return self._fit(X, Y, sw, loss)

    def decision_function(self, X):
        """Network outputs: shape (n_samples,) for two classes, else (n_samples, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            The network's outputs: for two classes, positive means
            ``classes_[1]``; otherwise the largest is the predicted class.
        """
        F = self._decision(X)
        return F[:, 0] if len(self.classes_) == 2 else F

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        F = self.decision_function(X)          # first: it checks that the model is fitted
        return _predicted_labels(self.classes_, F)

    def _has_log_loss(self):
        return self.loss == "log_loss"

    @available_if(_has_log_loss)
    def predict_log_proba(self, X):
        """Log of class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return _log_probabilities(self.decision_function(X))

    @available_if(_has_log_loss)
    def predict_proba(self, X):
        """Class probabilities (``loss="log_loss"`` only); rows sum to one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        F = self.decision_function(X)
        if F.ndim == 1:
            p = expit(F)
            return np.column_stack([1.0 - p, p])
        return np.exp(log_softmax(F, axis=1))

"""scikit-learn estimators: fit = sample tuples, solve the convex program, extract.

``fit`` appends a column of ones to X when ``fit_intercept`` is on (so the
first layer has biases, penalised as part of W1, FORMULATION.md section 1),
samples activation-pattern tuples from random Gaussian networks, solves the
convex program of those tuples to a certified relative duality gap ``tol``,
and extracts the equivalent three-layer ReLU network.  ``predict`` runs that
network only; no pattern is needed at prediction time.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from scipy.special import expit, log_expit, log_softmax

from ._validation import (DataScaleWarning, solver_failure_message, validate_input,
                          warn_on_bad_scale, warn_on_degenerate_patterns,
                          warn_on_target_scale)
from .arrangements import Arrangements, sample_arrangements
from .extraction import extract_network
from .enumeration import enumerate_arrangements
from .optimality import optimality_certificate
from .memory import FitMemoryError, check_fit_memory, resolve_memory_limit
from .solvers import solve_convex
from .trained_patterns import train_arrangements

__all__ = ["ConvexDeepReLURegressor", "ConvexDeepReLUClassifier", "DataScaleWarning",
           "FitMemoryError", "ModelVersionWarning"]


class ModelVersionWarning(UserWarning):
    """A pickled estimator was saved by another major.minor version of convexrelu."""


def _package_version():
    from . import __version__       # imported lazily: this module loads before it is set
    return __version__


def _major_minor(version):
    parts = str(version).split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def _is_solver_failure(exc):
    """Whether ``exc`` is a numerical failure of a solver (not a bug, not bad input)."""
    if isinstance(exc, (ValueError, TypeError, MemoryError)):
        return False
    if isinstance(exc, RuntimeError):
        return True
    try:
        from cvxpy.error import SolverError
    except ImportError:         # pragma: no cover - cvxpy is a dependency
        return False
    return isinstance(exc, SolverError)


#: fitted attributes every estimator needs to predict
_REQUIRED_FITTED = ("network_", "coefs_", "intercepts_", "n_features_in_")


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight)
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    if sw.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric; got dtype {sw.dtype}.")
    sw = sw.astype(np.float64)
    if sw.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X; got {sw.shape}.")
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if np.any(sw < 0):
        raise ValueError("sample_weight must be non-negative; got negative weights.")
    if sw.sum() <= 0:
        raise ValueError("sample_weight sums to zero: no sample carries weight.")
    return sw


class _BaseConvexDeepReLU(BaseEstimator):
    """Shared fitting logic; see the concrete estimators for the parameters."""

    _losses = ()
    _required_fitted = ()

    def __init__(self, alpha=1e-3, *, n_patterns=32, n_hidden=2, loss=None,
                 fit_intercept=True, patterns="sample", max_patterns=10_000, certify=False,
                 solver=None, tol=1e-6, max_iter=1000, random_state=None,
                 n_jobs=None, warm_start=False, verbose=False, memory_limit="auto"):
        self.alpha = alpha
        self.n_patterns = n_patterns
        self.n_hidden = n_hidden
        self.patterns = patterns
        self.max_patterns = max_patterns
        self.certify = certify
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.verbose = verbose
        self.memory_limit = memory_limit

    # -- validation --------------------------------------------------------
    def _validate_params(self):
        def positive_int(name):
            val = getattr(self, name)
            if not isinstance(val, numbers.Integral) or isinstance(val, bool) or val < 1:
                raise ValueError(f"{name} must be a positive integer; got {val!r}.")

        def positive_real(name):
            val = getattr(self, name)
            if (not isinstance(val, numbers.Real) or isinstance(val, bool)
                    or not np.isfinite(val) or val <= 0):
                raise ValueError(f"{name} must be a positive finite number; got {val!r}.")

        positive_real("alpha")
        positive_real("tol")
        positive_int("n_patterns")
        positive_int("n_hidden")
        positive_int("max_iter")
        positive_int("max_patterns")
        if self.patterns not in ("sample", "trained", "exact"):
            raise ValueError(f"patterns must be 'sample', 'trained' or 'exact'; "
                             f"got {self.patterns!r}.")
        if not (self.certify in (False, True, "exact", "sampled")
                and isinstance(self.certify, (bool, np.bool_, str))):
            raise ValueError(
                f"certify must be False, True, 'exact' or 'sampled'; got {self.certify!r}.")
        for name in ("fit_intercept", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be a bool; got {getattr(self, name)!r}.")
        if self.loss not in self._losses:
            raise ValueError(f"loss must be one of {self._losses}; got {self.loss!r}.")
        if self.n_jobs is not None and (not isinstance(self.n_jobs, numbers.Integral)
                                        or isinstance(self.n_jobs, bool) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be None or a non-zero integer; got {self.n_jobs!r}.")
        if self.solver is not None and not isinstance(self.solver, str):
            raise ValueError(f"solver must be a string or None; got {self.solver!r}.")
        resolve_memory_limit(self.memory_limit)

    def _solver_name(self, exact):
        # Enumerated tuple sets are thousands of tiny blocks: one interior-point
        # solve of the whole program beats the working-set solver's pricing.
        if self.solver is None and exact is not None:
            return "cvxpy"
        return self.solver

    def _augment(self, X):
        X = np.asarray(X, dtype=np.float64)
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X

    # -- fitting -----------------------------------------------------------
    def _fit(self, X, Y, sample_weight, loss):
        """Solve and set every fitted attribute; ``Y`` is already encoded."""
        if sample_weight is not None:
            # Zero-weight rows must not shape the tuples either.
            keep = sample_weight > 0
            X, Y, sample_weight = X[keep], Y[keep], sample_weight[keep]
        warn_on_bad_scale(X, self.fit_intercept, stacklevel=6)
        Xa = self._augment(X)
        warm = None
        reuse = bool(self.warm_start and self.patterns in ("sample", "trained")
                     and hasattr(self, "first_weights_")
                     and self.first_weights_.shape[1] == Xa.shape[1]
                     and self.first_weights_.shape[0] <= self.n_patterns
                     and self.first_weights_.shape[2] == self.n_hidden
                     and self.convex_weights_.shape[0] == Y.shape[1])
        # Refuse before sampling a single pattern when the lifted arrays
        # would not fit (convexrelu.memory).
        exact = None
        if self.patterns == "exact":
            # Every tuple of the data (raises, naming the estimate, when too many).
            exact = enumerate_arrangements(Xa, int(self.n_hidden),
                                           max_patterns=int(self.max_patterns))
        n_patterns = (self.first_weights_.shape[0] if reuse
                      else exact.n_patterns if exact is not None else self.n_patterns)
        check_fit_memory(Xa.shape[0], Xa.shape[1], Y.shape[1], int(n_patterns),
                         int(self.n_hidden), solver=self.solver, loss=loss,
                         memory_limit=self.memory_limit, n_jobs=self.n_jobs)
        if reuse:
            arrangements = Arrangements.from_weights(Xa, self.first_weights_,
                                                     self.second_weights_)
            warm = _WarmStart(self.convex_weights_, self.convex_intercept_)
        elif exact is not None:
            arrangements = exact
        elif self.patterns == "trained":
            arrangements = train_arrangements(
                Xa, Y, self.n_patterns, self.n_hidden, loss=loss, alpha=float(self.alpha),
                sample_weight=sample_weight, fit_intercept=self.fit_intercept,
                random_state=check_random_state(self.random_state))
        else:
            arrangements = sample_arrangements(
                Xa, self.n_patterns, self.n_hidden,
                random_state=check_random_state(self.random_state))
            if np.ptp(X, axis=0).max(initial=0.0) > 0:
                # (constant features make every neuron constant; nothing to warn about)
                warn_on_degenerate_patterns(arrangements, stacklevel=6)
        try:
            result = solve_convex(
                Xa, Y, arrangements, float(self.alpha), loss=loss,
                fit_intercept=self.fit_intercept, solver=self._solver_name(exact),
                tol=float(self.tol),
                max_iter=int(self.max_iter), sample_weight=sample_weight, warm_start=warm,
                verbose=bool(self.verbose), n_jobs=self.n_jobs)
        except Exception as exc:
            if not _is_solver_failure(exc):
                raise
            # A numerical breakdown of the solver on valid input: say whether
            # the data's scale explains it (the cause stays chained).
            raise ValueError(solver_failure_message(
                exc, self.solver, X, Y, self.fit_intercept)) from exc
        network = extract_network(result, bias_column=self.fit_intercept)
        if not (all(np.all(np.isfinite(c)) for c in network.coefs_ + network.intercepts_)
                and np.isfinite(result.objective)):
            # Never leave a model that predicts NaN; the transaction restores
            # the previous one.
            raise ValueError(
                f"The {result.solver} solver returned non-finite weights or objective "
                f"(objective {result.objective!r}): the data are too badly scaled for "
                f"the convex program. Standardise X (and y for regression) and retry.")
        cert = None
        if self.certify is not False:
            # The lower bound on the non-convex optimum over every tuple.
            cert = optimality_certificate(
                Xa, Y if Y.shape[1] > 1 or loss != "logistic" else Y[:, 0], result,
                sample_weight=sample_weight,
                exact={True: None, "exact": True, "sampled": False}[self.certify],
                max_patterns=int(self.max_patterns),
                random_state=check_random_state(self.random_state),
                network=network, bias_column=self.fit_intercept)
        self.network_ = network
        self.coefs_ = network.coefs_
        self.intercepts_ = network.intercepts_
        self.n_layers_ = 4
        self.n_subnetworks_ = network.n_subnetworks
        self.objective_ = result.objective
        self.dual_objective_ = result.dual_objective
        self.dual_gap_ = result.dual_gap
        self.relative_gap_ = result.relative_gap
        self.constraint_violation_ = result.constraint_violation
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.solver_ = result.solver
        self.fit_time_ = result.solve_time
        self.first_weights_ = arrangements.first_weights
        self.second_weights_ = arrangements.second_weights
        self.n_patterns_ = arrangements.n_patterns
        self.convex_weights_ = result.u
        self.convex_intercept_ = result.intercept
        self.patterns_exact_ = exact is not None
        if cert is not None:
            self.optimality_certificate_ = cert
            self.optimality_lower_bound_ = cert.lower_bound
            self.optimality_gap_ = cert.gap
            self.optimality_relative_gap_ = cert.relative_gap
            self.optimality_exact_ = cert.exact
        else:
            for name in ("optimality_certificate_", "optimality_lower_bound_",
                         "optimality_gap_", "optimality_relative_gap_", "optimality_exact_"):
                self.__dict__.pop(name, None)
        return self

    def _fit_transactional(self, *args, **kwargs):
        # A failed or interrupted fit leaves a previous fit exactly as it was.
        state = dict(self.__dict__)
        try:
            return self._fit_validated(*args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    def _decision(self, X):
        check_is_fitted(self, "coefs_")
        X = validate_input(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.network_.decision(X)

    # -- persistence -------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        state["_convexrelu_version"] = _package_version()
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_convexrelu_version", None)
        current = _package_version()
        name = type(self).__name__
        if saved is None:
            warnings.warn(
                f"Unpickling a {name} that records no convexrelu version (saved before "
                f"versions were recorded) with convexrelu {current}; it may not work. "
                f"Refit it with convexrelu {current} and save it again.",
                ModelVersionWarning, stacklevel=2)
        elif _major_minor(saved) != _major_minor(current):
            warnings.warn(
                f"Unpickling a {name} saved by convexrelu {saved} with convexrelu "
                f"{current}. Models are only guaranteed to load within the same "
                f"major.minor version; check its predictions or refit it with "
                f"convexrelu {current}.", ModelVersionWarning, stacklevel=2)
        fitted = "coefs_" in state or "network_" in state
        missing = [k for k in _REQUIRED_FITTED + self._required_fitted if k not in state]
        if fitted and missing:
            raise ValueError(
                f"This pickled {name} was saved by convexrelu {saved or '(unknown)'} and "
                f"lacks the fitted attributes {missing} that convexrelu {current} needs "
                f"to predict; refit it with convexrelu {current}.")
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class _WarmStart:
    """The part of a previous solution an iterative solver restarts from."""

    lam1 = lam2 = None

    def __init__(self, u, intercept):
        self.u = u
        self.intercept = intercept


_PARAMS_DOC = """
    alpha : float, default=1e-3
        Regularisation strength, the weight of ``sum_k ||W1_k||_F ||w2_k|| |w3_k|``
        against the mean loss (equivalently of the group norms ``sum ||u||``
        of the convex program).  Larger values give fewer sub-networks.
    n_patterns : int, default=32
        Number of random networks whose activation patterns are sampled;
        duplicates are dropped, so ``n_patterns_`` may be smaller.  More
        patterns give a lower (better) optimum and a slower fit.
    n_hidden : int, default=2
        First-layer width ``m`` of every sub-network (``n_hidden=1`` is the
        two-layer convex network).
    fit_intercept : bool, default=True
        Give the first layer biases (a column of ones appended to X; penalised
        with W1) and fit an unpenalised output intercept.
    patterns : {"sample", "trained", "exact"}, default="sample"
        Where the activation-pattern tuples come from.  "sample": forward
        passes of ``n_patterns`` random networks.  "trained": the
        ``n_patterns`` sub-networks of a parallel network trained for 300
        full-batch Adam steps on the same loss
        (:func:`convexrelu.train_arrangements`); better tuples for the same
        count, at the cost of the training.  "exact" enumerates every activation-pattern tuple of the training data
        (:func:`convexrelu.enumerate_arrangements`) instead of sampling, so the
        fit is the global optimum of the non-convex training problem.  Only
        for tiny data (about n <= 8, d <= 3, n_hidden <= 2); ``n_patterns``
        is then ignored, and ``solver=None`` means "cvxpy".
    max_patterns : int, default=10_000
        Largest number of enumerated tuples (exact patterns and exact
        certificates) before a ``ValueError`` naming the estimate.
    certify : {False, True, "exact", "sampled"}, default=False
        Also compute a lower bound on the non-convex optimum over *all*
        tuples (:func:`convexrelu.optimality_certificate`): "exact" enumerates
        them (a proof), "sampled" checks a large random sample (an estimate),
        True picks "exact" when affordable.  Stored as ``optimality_gap_`` etc.
    solver : str, default=None
        Convex solver: None for the package default, or a name from
        :func:`convexrelu.available_solvers`, or a CVXPY solver such as
        "CLARABEL".
    tol : float, default=1e-6
        Stop when the relative duality gap is below ``tol``.
    max_iter : int, default=1000
        Iteration limit of the solver; a :class:`~sklearn.exceptions.ConvergenceWarning`
        is raised when it stops above ``tol``.
    random_state : int, RandomState instance or None, default=None
        Seed of the pattern sampling.  Pass an int for reproducible fits.
    n_jobs : int, default=None
        Parallel joblib workers for the convex solve where it splits: with
        the squared loss and several outputs (multi-output regression, or
        classification with ``loss="squared"``: one output per class) each
        output is an independent program.  None or 1: in this process;
        -1: all processors (the joblib backend of a
        :func:`joblib.parallel_config` context applies).  The fitted model
        does not depend on it.
    warm_start : bool, default=False
        Reuse the sampled patterns (recomputed on the new data) and the
        previous convex solution as the starting point.
    verbose : bool, default=False
        Print solver progress.
    memory_limit : "auto", int, str or None, default="auto"
        Largest estimated memory a fit may need.  Before sampling patterns,
        ``fit`` estimates the size of the lifted arrays of the convex program
        (:func:`convexrelu.memory.estimate_fit_memory`; they grow like
        ``n_samples * n_patterns * n_hidden * n_features``) and raises a
        :class:`~convexrelu.memory.FitMemoryError` (a ``MemoryError`` and a
        ``ValueError``) naming the estimate, the limit and what to reduce when
        it is above.  ``"auto"``: half of the memory available at fit time
        (8 GiB when unknown); an int: bytes; a string such as ``"2GiB"`` or
        ``"500MB"``; None: no check.
"""

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
        Objective of the feasible dual point (lower bound for the sampled
        patterns).
    dual_gap_ : float
        ``objective_ - dual_objective_``, the certificate of the fit.
    relative_gap_ : float
        ``dual_gap_ / objective_``.
    constraint_violation_ : float
        Largest relative violation of the pattern constraints.
    converged_ : bool
        Whether ``relative_gap_ <= tol`` with feasible constraints.
    n_iter_ : int
        Solver iterations.
    fit_time_ : float
        Seconds in the solver.
    n_patterns_ : int
        Distinct sampled tuples.
    first_weights_ : ndarray of shape (n_patterns_, n_features + fit_intercept, n_hidden)
        Generating first-layer weights of the sampled patterns;
        ``Arrangements.from_weights(X1, first_weights_, second_weights_)``
        recomputes them on the (ones-augmented) training data ``X1``.
    second_weights_ : ndarray of shape (n_patterns_, n_hidden)
    convex_weights_ : ndarray of shape (n_outputs, 2, n_patterns_, n_hidden, n_features + fit_intercept)
        The convex solution ``u``.
    network_ : ReLUNetwork
        The extracted network.
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
    equivalent convex program over sampled activation patterns (Ergen &
    Pilanci, ICML 2021); ``objective_`` is the global optimum of the training
    objective over networks with those patterns, certified by ``dual_gap_``.

    Parameters
    ----------{_PARAMS_DOC}
    Attributes
    ----------{_ATTRS_DOC}
    n_outputs_ : int

    See Also
    --------
    ConvexDeepReLUClassifier
    convexrelu.solve_convex : the functional API beneath.

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
                 fit_intercept=True, patterns="sample", max_patterns=10_000, certify=False,
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
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
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

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
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
    ----------{_PARAMS_DOC}
    loss : {{"log_loss", "squared"}}, default="log_loss"
        Training loss; ``predict_proba`` needs ``"log_loss"``.

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
                 fit_intercept=True, patterns="sample", max_patterns=10_000, certify=False,
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
        y : array-like of shape (n_samples,)
            Class labels (any hashable values).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit_transactional(X, y, sample_weight)

    def _fit_validated(self, X, y, sample_weight):
        self._validate_params()
        X, y = validate_input(self, X, y, dtype=[np.float64, np.float32],
                              ensure_min_samples=2)
        check_classification_targets(y)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        encoder = LabelEncoder().fit(y if sw is None else y[sw > 0])
        classes = encoder.classes_
        if len(classes) < 2:
            raise ValueError(
                f"The classifier needs samples of at least 2 classes; got 1 class "
                f"({classes[0]!r}).")
        keep = np.ones(len(y), bool) if sw is None else sw > 0
        codes = np.full(len(y), -1)
        codes[keep] = encoder.transform(y[keep])
        if len(classes) == 2:
            Y = np.where(codes == 1, 1.0, -1.0)[:, None]
            loss = "logistic" if self.loss == "log_loss" else "squared"
        else:
            Y = np.zeros((len(y), len(classes)))
            Y[keep, codes[keep]] = 1.0
            loss = "cross_entropy" if self.loss == "log_loss" else "squared"
        self.classes_ = classes
        return self._fit(X, Y, sw, loss)

    def decision_function(self, X):
        """Network outputs: shape (n_samples,) for two classes, else (n_samples, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray
        """
        F = self._decision(X)
        return F[:, 0] if len(self.classes_) == 2 else F

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        F = self.decision_function(X)
        idx = (F > 0).astype(int) if F.ndim == 1 else F.argmax(axis=1)
        return self.classes_[idx]

    def _has_log_loss(self):
        return self.loss == "log_loss"

    @available_if(_has_log_loss)
    def predict_log_proba(self, X):
        """Log of class probabilities (``loss="log_loss"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        F = self.decision_function(X)
        if F.ndim == 1:
            return np.column_stack([log_expit(-F), log_expit(F)])
        return log_softmax(F, axis=1)

    @available_if(_has_log_loss)
    def predict_proba(self, X):
        """Class probabilities (``loss="log_loss"`` only); rows sum to one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        F = self.decision_function(X)
        if F.ndim == 1:
            p = expit(F)
            return np.column_stack([1.0 - p, p])
        return np.exp(log_softmax(F, axis=1))

"""Fitting logic shared by the two estimators, and their input checks.

``_BaseConvexDeepReLU._fit`` is the whole pipeline behind ``fit``: validate
the parameters, choose activation-pattern tuples (sampled, trained,
enumerated, or the previous fit's for ``warm_start``), check the memory the
solve needs, solve the convex program to its certificate, and extract the
network.  ``_fit_transactional`` wraps it so that a failed fit leaves a
previously fitted estimator as it was.
"""

import functools
import numbers
import time
import warnings

import numpy as np
from scipy.special import log_expit, log_softmax
from sklearn.base import BaseEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._validation import (solver_failure_message, validate_input, warn_on_bad_scale,
                          warn_on_degenerate_patterns)
from .arrangements import Arrangements, sample_arrangements
from .extraction import extract_network
from .enumeration import enumerate_arrangements
from .optimality import optimality_certificate
from .memory import check_fit_memory, resolve_memory_limit
from .solvers import _resolve_solver, check_n_jobs, check_solve_params, solve_convex
from .trained_patterns import train_arrangements


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


#: per-round records of the fast solver that ``history_`` exposes, and their dtypes
_HISTORY_FIELDS = (("objective", float), ("relative_gap", float), ("seconds", float),
                   ("active_blocks", int), ("working_set", int), ("inner", str))


def _history_arrays(history):
    """A solver's per-round records (a list of dicts) as ``history_``'s arrays.

    ``"output"`` is -1 for rounds of a program shared by all outputs.
    """
    arrays = {key: np.array([h[key] for h in history], dtype=dtype)
              for key, dtype in _HISTORY_FIELDS}
    arrays["output"] = np.array([h.get("output", -1) for h in history], dtype=int)
    return arrays


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


def _encode_classes(y, sample_weight, log_loss):
    """Classes, row codes, encoded targets and loss of a classifier's fit.

    The classes are those of the rows with positive weight (at least two, or
    a ValueError naming the one); ``codes`` index them, -1 on the other rows.
    Two classes give one output with targets -1/+1 (logistic or squared
    loss), more give one-hot rows (softmax cross-entropy or squared loss).
    Returns ``classes, codes, Y, loss``.
    """
    keep = np.ones(len(y), bool) if sample_weight is None else sample_weight > 0
    encoder = LabelEncoder().fit(y[keep])
    classes = encoder.classes_
    if len(classes) < 2:
        raise ValueError(
            f"The classifier needs samples of at least 2 classes; got 1 class "
            f"({classes.tolist()[0]!r}).")
    codes = np.full(len(y), -1)
    codes[keep] = encoder.transform(y[keep])
    if len(classes) == 2:
        return classes, codes, np.where(codes == 1, 1.0, -1.0)[:, None], (
            "logistic" if log_loss else "squared")
    Y = np.zeros((len(y), len(classes)))
    Y[keep, codes[keep]] = 1.0
    return classes, codes, Y, "cross_entropy" if log_loss else "squared"


#: decision values this close (relative to the largest, at least 1) count as tied
_TIE_RTOL = 1e-12


def _predicted_labels(classes, F):
    """Labels from decision values: ``(n,)`` (two classes, sign) or ``(n, C)`` (argmax).

    Ties within rounding go to the first class.  Classes that no
    sub-network feeds share one intercept (exactly, with balanced class
    weights), and two certified solutions of the same program differ there
    by rounding: without the tolerance their predictions (and a cross-
    validated choice of alpha) would turn on the last bit.
    """
    if F.ndim == 1:
        return classes[(F > _TIE_RTOL * np.maximum(1.0, np.abs(F))).astype(int)]
    top = F.max(axis=1, keepdims=True)
    near = F >= top - _TIE_RTOL * np.maximum(1.0, np.abs(top))
    return classes[near.argmax(axis=1)]


def _log_probabilities(F):
    """Log class probabilities from log-loss decision values (``(n,)`` or ``(n, C)``)."""
    if F.ndim == 1:
        return np.column_stack([log_expit(-F), log_expit(F)])
    return log_softmax(F, axis=1)


def _class_weight_factors(class_weight, classes, codes):
    """Per-sample factors of ``class_weight``, or None when it is None.

    ``codes`` are the rows' indices into ``classes`` (-1 on rows left out by a
    zero sample weight, which get factor one and count for nothing).
    ``"balanced"`` weighs class ``c`` by ``n / (n_classes * n_c)`` over the
    rows that count, as scikit-learn does; a dict maps labels to positive
    weights, 1 for a label it leaves out.  The factors multiply
    ``sample_weight``: the loss of a row is weighted by both.
    """
    if class_weight is None:
        return None
    counted = codes[codes >= 0]
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.bincount(counted, minlength=len(classes))
        # (a class without rows here, as in a CV fold, weighs no row: any value)
        per_class = len(counted) / (len(classes) * np.maximum(counts, 1))
    elif isinstance(class_weight, dict):
        known = set(classes.tolist())
        unknown = [key for key in class_weight if key not in known]
        if unknown:
            raise ValueError(
                f"class_weight names labels that are not classes of y: {unknown!r}; "
                f"the classes are {classes.tolist()!r}.")
        per_class = np.ones(len(classes))
        for i, label in enumerate(classes.tolist()):
            value = class_weight.get(label, 1.0)
            if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                    or not np.isfinite(value) or value <= 0):
                raise ValueError(
                    f"class_weight must map labels to positive finite numbers; got "
                    f"{value!r} for {label!r}.")
            per_class[i] = float(value)
    else:
        raise ValueError(
            f"class_weight must be None, 'balanced' or a dict of label: weight; "
            f"got {class_weight!r}.")
    return np.where(codes >= 0, per_class[np.maximum(codes, 0)], 1.0)


class _TransactionalFit:
    """``fit`` through ``_fit_validated``, undone when it raises."""

    def _fit_transactional(self, *args, **kwargs):
        # A failed or interrupted fit leaves a previous fit exactly as it was
        # (validate_data resets n_features_in_ before later checks can fail).
        state = dict(self.__dict__)
        try:
            return self._fit_validated(*args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise


class _VersionedPickle:
    """Pickles that record the package version and check it when loaded.

    ``_pickle_fitted``: attributes whose presence marks a fitted pickle;
    ``_pickle_required`` and ``_required_fitted`` (a subclass's own): the
    fitted attributes such a pickle must hold to predict.
    """

    _pickle_fitted = ()
    _pickle_required = ()
    _required_fitted = ()

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
        fitted = any(k in state for k in self._pickle_fitted)
        missing = [k for k in self._pickle_required + self._required_fitted
                   if k not in state]
        if fitted and missing:
            raise ValueError(
                f"This pickled {name} was saved by convexrelu {saved or '(unknown)'} and "
                f"lacks the fitted attributes {missing} that convexrelu {current} needs "
                f"to predict; refit it with convexrelu {current}.")
        super().__setstate__(state)


class _BaseConvexDeepReLU(_VersionedPickle, _TransactionalFit, BaseEstimator):
    """Shared fitting logic; see the concrete estimators for the parameters."""

    _losses = ()
    _pickle_fitted = ("coefs_", "network_")
    _pickle_required = _REQUIRED_FITTED

    def __init__(self, alpha=1e-3, *, n_patterns=32, n_hidden=2, loss=None,
                 fit_intercept=True, patterns="trained", max_patterns=10_000, certify=False,
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
        check_solve_params(self.tol, self.max_iter)
        positive_int("n_patterns")
        positive_int("n_hidden")
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
        check_n_jobs(self.n_jobs)
        if self.solver is not None:
            # Named before any tuple is trained (the error would come after).
            _resolve_solver(self.solver)
        resolve_memory_limit(self.memory_limit)

    def _solver_name(self, exact, loss):
        # Enumerated tuples with the squared loss: one interior-point solve of
        # the whole program beats the working sets on the tiniest data, whose
        # thousands of blocks are nearly collinear (5 rows, 2 features, m = 2:
        # 2.6 s against 20.1 s), not from 25 rows on (m = 1: 1.4 s against
        # 0.4 s).  With the logistic and cross-entropy losses the fast solver
        # was the faster on 10 of 11 enumerated programs (up to 49 times) and
        # met tol on all, where Clarabel stopped at 2e-6 to 4e-5 on four
        # (benchmarks/bench_exact_solver.py, README "Exact mode").
        if self.solver is None and exact is not None:
            return "cvxpy" if loss == "squared" else "fast"
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
                     and self.convex_weights_.shape[0] == Y.shape[1]
                     # New generators when their kind or count was changed
                     # (absent: set by hand, as the CV refit does).
                     and getattr(self, "_generators_for", (self.patterns, self.n_patterns))
                     == (self.patterns, self.n_patterns))
        # Refuse before sampling a single pattern when the lifted arrays
        # would not fit (convexrelu.memory).
        exact = None
        started = time.perf_counter()
        if self.patterns == "exact":
            # Every tuple of the data (raises, naming the estimate, when too many).
            exact = enumerate_arrangements(Xa, int(self.n_hidden),
                                           max_patterns=int(self.max_patterns))
        n_patterns = (self.first_weights_.shape[0] if reuse
                      else exact.n_patterns if exact is not None else self.n_patterns)
        solver = self._solver_name(exact, loss)
        check_fit_memory(Xa.shape[0], Xa.shape[1], Y.shape[1], int(n_patterns),
                         int(self.n_hidden), solver=solver, loss=loss,
                         memory_limit=self.memory_limit, n_jobs=self.n_jobs)
        if reuse:
            arrangements = Arrangements.from_weights(Xa, self.first_weights_,
                                                     self.second_weights_)
            warm = _WarmStart(self.convex_weights_, self.convex_intercept_)
        elif exact is not None:
            arrangements = exact
        else:
            if self.patterns == "trained":
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
                warn_on_degenerate_patterns(arrangements, stacklevel=6,
                                            trained=self.patterns == "trained")
        # (the memory check is inside: microseconds)
        patterns_time = time.perf_counter() - started
        solve = functools.partial(
            solve_convex, Xa, Y, arrangements, float(self.alpha), loss=loss,
            fit_intercept=self.fit_intercept, tol=float(self.tol),
            max_iter=int(self.max_iter), sample_weight=sample_weight, warm_start=warm,
            verbose=bool(self.verbose), n_jobs=self.n_jobs, memory_limit=self.memory_limit)
        try:
            try:
                result = solve(solver=solver)
            except Exception as exc:
                if not (_is_solver_failure(exc) and self.solver is None and exact is not None):
                    raise
                # The enumerated program's default solver broke down: the
                # other one takes the same program.
                result = solve(solver="fast" if solver == "cvxpy" else "cvxpy")
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
        self.history_ = _history_arrays(result.history)
        self.solver_ = result.solver
        self.fit_time_ = result.solve_time
        self.patterns_time_ = patterns_time
        self.first_weights_ = arrangements.first_weights
        self.second_weights_ = arrangements.second_weights
        self._generators_for = (self.patterns, self.n_patterns)
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

    def _decision(self, X):
        check_is_fitted(self, "coefs_")
        X = validate_input(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.network_.decision(X)

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

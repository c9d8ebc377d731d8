"""Input checks of the estimators beyond scikit-learn's ``validate_data``.

``validate_data`` already rejects NaN / inf, empty arrays, 3-D X and
mismatched lengths with messages that name the problem.  This module adds
what it words poorly or does not check:

* complex input and non-numeric (string) features get a message saying what
  is wrong instead of a NumPy conversion error or a dump of the array;
* data whose scale hurts pattern sampling gets a :class:`DataScaleWarning`.
  Patterns come from random hyperplanes ``x . w + b`` with standard normal
  ``w`` and ``b`` (``b`` through the column of ones of ``fit_intercept``).
  When the columns' scales differ by orders of magnitude, or differ from
  the ones column, the hyperplanes ignore the small columns (or the bias),
  and when the data sit far from the origin, most hyperplanes miss them:
  their neurons are on for every sample or off for every sample, and the
  sampled patterns carry little information.  Standardising X fixes both.
"""

import warnings

import numpy as np
from sklearn.utils.validation import validate_data

__all__ = ["DataScaleWarning", "validate_input", "scale_range", "is_badly_scaled",
           "warn_on_bad_scale", "warn_on_degenerate_patterns", "warn_on_target_scale",
           "solver_failure_message"]

#: column scales (root mean square) may differ by at most this factor
SCALE_RATIO_LIMIT = 1e3
#: warn when more than this share of first-layer neurons is constant on the data
CONSTANT_NEURON_LIMIT = 0.6
#: a regression target's root-mean-square deviation outside this range warns
TARGET_SCALE_RANGE = (0.1, 10.0)
#: below this many samples constant neurons are common on any data
_MIN_SAMPLES_FOR_PATTERN_CHECK = 10

_FIX = ("Standardise X (e.g. StandardScaler in a Pipeline) before fitting: "
        "patterns are sampled from random hyperplanes that assume features of "
        "comparable, unit scale.")


class DataScaleWarning(UserWarning):
    """The scale of X makes the sampled activation patterns uninformative, or
    the scale of a regression target makes ``alpha`` act far from its value."""


def _is_complex(a):
    if hasattr(a, "dtypes") and hasattr(a, "columns"):          # a DataFrame
        return any(np.dtype(t).kind == "c" for t in a.dtypes
                   if isinstance(t, np.dtype))
    dtype = getattr(a, "dtype", None)
    if isinstance(dtype, np.dtype):
        return dtype.kind == "c"
    try:
        return np.iscomplexobj(np.asarray(a))
    except Exception:           # noqa: BLE001 -- unconvertible: validate_data says why
        return False


def _converts_to_float(a):
    try:
        np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def validate_input(estimator, X, y="no_validation", **kwargs):
    """``validate_data`` with clear messages for complex and non-numeric data.

    Parameters
    ----------
    estimator : BaseEstimator
    X : array-like
    y : array-like or "no_validation", default="no_validation"
    **kwargs
        Passed to :func:`sklearn.utils.validation.validate_data`.

    Returns
    -------
    X or (X, y)
        As ``validate_data`` returns them.
    """
    checks = [("X", X)] if isinstance(y, str) and y == "no_validation" else [("X", X), ("y", y)]
    for name, value in checks:
        if value is not None and _is_complex(value):
            # keep scikit-learn's wording ("Complex data not supported"), without
            # printing the array
            raise ValueError(
                f"Complex data not supported: {name} has complex values; "
                f"{name} must be real-valued.")
    try:
        return validate_data(estimator, X, y, **kwargs)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        if "could not convert" not in text and "argument must be" not in text \
                and "dtype='numeric'" not in text and "strings" not in text:
            raise
        if not _converts_to_float(X):
            raise type(exc)(
                f"X must contain numeric features only; found values that are not "
                f"numbers ({text}). Encode categorical or text columns first, e.g. "
                f"with OneHotEncoder in a ColumnTransformer.") from exc
        if kwargs.get("y_numeric") and not _converts_to_float(y):
            raise type(exc)(
                f"y must be numeric for regression; found values that are not "
                f"numbers ({text}).") from exc
        raise


def _column_scales(X):
    return np.sqrt(np.mean(np.square(X, dtype=np.float64), axis=0))


def scale_range(X, fit_intercept):
    """Smallest and largest root-mean-square scale of the non-zero columns of X.

    The ones column of ``fit_intercept`` counts as a column of scale one;
    all-zero columns are ignored (they are harmless).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, without the ones column.
    fit_intercept : bool

    Returns
    -------
    (float, float)
        ``(lo, hi)``; ``hi`` is inf when a column's scale overflows and both
        are 1.0 when no column is non-zero.
    """
    with np.errstate(over="ignore"):
        scales = _column_scales(X)
    finite = np.isfinite(scales)
    nonzero = scales[(scales > 0) & finite]
    if fit_intercept:
        nonzero = np.append(nonzero, 1.0)
    if len(nonzero) == 0:
        return 1.0, (1.0 if finite.all() else np.inf)
    lo = float(nonzero.min())
    hi = float(nonzero.max()) if finite.all() else np.inf
    return lo, hi


def is_badly_scaled(X, fit_intercept):
    """Whether the column scales of X differ by more than :data:`SCALE_RATIO_LIMIT`."""
    lo, hi = scale_range(X, fit_intercept)
    return hi > SCALE_RATIO_LIMIT * lo


def warn_on_bad_scale(X, fit_intercept, stacklevel=4):
    """Warn when the columns' scales differ by more than :data:`SCALE_RATIO_LIMIT`.

    The ones column of ``fit_intercept`` counts as a column of scale one;
    all-zero columns are ignored (they are harmless).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, without the ones column.
    fit_intercept : bool
    stacklevel : int, default=4

    Returns
    -------
    bool
        Whether a warning was issued.
    """
    if not is_badly_scaled(X, fit_intercept):
        return False
    lo, hi = scale_range(X, fit_intercept)
    which = "the features' and the intercept column's" if fit_intercept else "the features'"
    warnings.warn(
        f"X is badly scaled: {which} root-mean-square scales range from {lo:.3g} to "
        f"{hi:.3g} (ratio above {SCALE_RATIO_LIMIT:g}), so the sampled activation "
        f"patterns ignore the small columns and the convex program is ill-conditioned. "
        + _FIX, DataScaleWarning, stacklevel=stacklevel)
    return True


def warn_on_target_scale(Y, sample_weight, fit_intercept, alpha, stacklevel=4):
    """Warn when a regression target's scale makes ``alpha`` act far from its value.

    With ``y`` scaled by ``s`` the optimal weights scale by ``s`` (the pattern
    constraints are cones), the squared loss by ``s^2`` and the penalty by
    ``s``: the program is the standardised one with ``alpha / s``.  Defaults
    tuned for standardised targets then barely regularise (``s`` large: the
    fit interpolates) or zero the network (``s`` small).

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,) or None
    fit_intercept : bool
        Whether the spread is measured around the (weighted) mean or zero.
    alpha : float
    stacklevel : int, default=4

    Returns
    -------
    bool
        Whether a warning was issued.
    """
    w = np.ones(len(Y)) if sample_weight is None else np.asarray(sample_weight, float)
    if w.sum() <= 0:
        return False
    w = w / w.sum()
    centre = w @ Y if fit_intercept else np.zeros(Y.shape[1])
    rms = np.sqrt(w @ (Y - centre) ** 2)
    # A constant target (to rounding of its mean) is fitted by the intercept
    # alone, whatever alpha: it has no scale to warn about.
    rms = rms[rms > 1e3 * np.finfo(float).eps * np.abs(centre)]
    lo, hi = TARGET_SCALE_RANGE
    if rms.size == 0 or (rms.min() >= lo and rms.max() <= hi):
        return False
    s = float(rms.max()) if rms.max() > hi else float(rms.min())
    around = "its mean" if fit_intercept else "zero"
    effect = ("barely regularises (the network interpolates)" if s > hi
              else "may zero the whole network")
    warnings.warn(
        f"y has a scale of {s:.3g} (root-mean-square deviation from {around}), outside "
        f"[{lo:g}, {hi:g}]: alpha is absolute, like Lasso's, and acts as alpha / {s:.3g} "
        f"= {alpha / s:.3g} does on the standardised target, so alpha={alpha:g} {effect}. "
        f"Standardise y (TransformedTargetRegressor(regressor=..., "
        f"transformer=StandardScaler())), or let ConvexDeepReLURegressorCV choose alpha "
        f"on a grid that follows the data.", DataScaleWarning, stacklevel=stacklevel)
    return True


def solver_failure_message(exc, solver, X, Y, fit_intercept):
    """The message of the ValueError that replaces a solver's numerical breakdown.

    Parameters
    ----------
    exc : Exception
        What the solver raised.
    solver : str or None
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
        Encoded targets.
    fit_intercept : bool

    Returns
    -------
    str
    """
    what = str(exc).rstrip(". ")
    lo, hi = scale_range(X, fit_intercept)
    y_max = float(np.max(np.abs(Y), initial=0.0))
    head = f"The convex solver ({solver or 'default'}) failed on this data: {what}."
    if hi > SCALE_RATIO_LIMIT * lo or y_max > 1e6:
        return (f"{head} The data are badly scaled (column scales from {lo:.3g} to "
                f"{hi:.3g}, max |y| = {y_max:.3g}), the usual cause. Standardise X "
                f"(and y for regression) and retry.")
    others = ("solver='fast', or another CVXPY solver such as 'SCS'"
              if solver is not None and solver != "fast"
              else "solver='cvxpy', or a CVXPY solver such as 'SCS'")
    return (f"{head} The data look well scaled (column scales from {lo:.3g} to "
            f"{hi:.3g}), so this is a numerical failure of the solver: try another "
            f"solver ({others}), a larger alpha or tol, or another random_state.")


def warn_on_degenerate_patterns(arrangements, stacklevel=4, trained=False):
    """Warn when most generating first-layer neurons are all-on or all-off.

    Parameters
    ----------
    arrangements : Arrangements
        Recorded patterns (``first`` has shape (P, n, m)).
    stacklevel : int, default=4
    trained : bool, default=False
        Whether the generating networks were trained (``patterns="trained"``);
        only the message differs.

    Returns
    -------
    bool
        Whether a warning was issued.
    """
    D1 = arrangements.first
    if D1.shape[1] < _MIN_SAMPLES_FOR_PATTERN_CHECK or D1.size == 0:
        return False
    constant = D1.all(axis=1) | ~D1.any(axis=1)
    share = float(constant.mean())
    if share <= CONSTANT_NEURON_LIMIT:
        return False
    how = ("the training of the generating networks, which starts from random "
           "hyperplanes, did not bring them to the data" if trained else
           "the random hyperplanes of the pattern sampling miss them")
    warnings.warn(
        f"{share:.0%} of the {'trained' if trained else 'sampled'} first-layer neurons are "
        f"active on all samples or on none (limit {CONSTANT_NEURON_LIMIT:.0%}): the data "
        f"sit far from the origin or on a scale far from one, so {how} and the patterns "
        f"carry little information. " + _FIX,
        DataScaleWarning, stacklevel=stacklevel)
    return True

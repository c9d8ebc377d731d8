"""How much memory a fit needs, and the guard that refuses fits that would not fit.

The convex program lives on lifted arrays whose size is the product of every
dimension of the problem: with ``n`` samples, ``d`` columns (features, plus
one for ``fit_intercept``), ``C`` outputs, ``P`` sampled patterns and ``m``
hidden units per sub-network there are ``G = C * 2 * P * m`` groups, and

* the pattern masks ``D1``, ``E1``, ``S1`` hold ``n P m`` one-byte entries
  each and the full lifted mask ``2 n P m`` (:class:`convexrelu.LiftedOperator`);
* the images ``Z = X U``, the dual-constraint multipliers and the arrays of
  the certificate hold ``n G`` float64 entries each;
* the reference ``"cvxpy"`` solver builds the (masked, sparse) lifted
  columns ``D2 D1 X`` of every group: ``n G d`` non-zeros, several copies of
  them during CVXPY's canonicalisation;
* the default ``"fast"`` solver never does.  It holds a few ``n G`` arrays
  for its certificates, and, in a different phase, the interior point of
  its working set: ``Bw`` blocks of one solve (one output's with a squared
  loss), ``gw = Bw m`` groups, ``k = gw d'`` weights (``d' = min(d, n)``:
  wide data is solved in the row space of X).  Those are a dozen ``n gw``
  arrays, the Newton systems (``k x k`` matrices when the rows outnumber
  the weights; else arrays of ``n x k`` through the Woodbury identity, and
  for a softmax one ``k/C x k/C`` matrix per class, or ``k/C x n`` factors
  when a class has more weights than rows), a chunk of lifted rows
  and the rows' products ``x_i x_i^T`` (at most 256 MB); a squared loss
  with many features also keeps the last round's loss part of its Newton
  matrix for the next round (at most 256 MB).  The working set's
  size is not known before the fit: it is taken as a third of the blocks,
  at least 32 (the working sets of the calibration fits held from a fifth
  to half of the blocks).  With many features or many classes the Newton
  systems are the largest term (a 226-row fit with 262 features and 13
  classes: 1.5 GB resident).

:func:`estimate_fit_memory` adds these terms up; the estimators compare it
with their ``memory_limit`` before sampling a single pattern.  The constants
were calibrated against ``tracemalloc`` peaks of real fits (see
``tests/test_reliability.py``, which checks the estimate within a factor 3).
``tracemalloc`` sees Python and NumPy allocations only: the resident memory
of the process also holds the interior-point solver's native workspace and
allocator slack, and was measured at up to about twice the estimate.
"""

import numbers
import os
import re

from .losses import get_loss

__all__ = ["estimate_fit_memory", "available_memory", "resolve_memory_limit",
           "check_fit_memory", "traced_peak", "FitMemoryError", "DEFAULT_MEMORY_LIMIT"]

#: the limit used by ``memory_limit="auto"`` when the available memory is unknown
DEFAULT_MEMORY_LIMIT = 8 * 2 ** 30
#: share of the currently available memory that ``memory_limit="auto"`` allows
AUTO_MEMORY_FRACTION = 0.5

_FLOAT = 8
# float64 arrays of n*G entries alive at once: Z, the multipliers lam1 (and
# a copy), the constraint values, the dual direction Gz, ...
_NG_ARRAYS = 12
# bytes per lifted non-zero n*G*d of the reference solver: CVXPY's
# canonicalisation keeps several sparse copies (value + indices).
_LIFTED_BYTES = {"cvxpy": 22 * _FLOAT}
# The default solver: float64 arrays over all groups in its certificate
# phase (the result's multipliers and the dual ratios' work), and over the
# working set's groups in its interior point (slacks, multipliers, their
# steps, scalings); calibrated on tracemalloc peaks of fits
# (benchmarks/bench_memory.py, tests/test_reliability.py).
_FAST_NG_ARRAYS = 2
_IPM_ARRAYS = 12
# Working-set blocks assumed by the estimate: a third of one solve's blocks,
# at least this many (or all of them).
_WORKING_FRACTION = 3
_WORKING_MIN_BLOCKS = 32
# the fixed overhead of a fit (CVXPY's problem objects, small arrays)
_BASE_BYTES = 2 ** 20


class FitMemoryError(MemoryError, ValueError):
    """A fit would need more memory than the estimator's ``memory_limit``.

    Raised before anything large is allocated.  It is both a
    :class:`MemoryError` and a :class:`ValueError` (the limit is a parameter
    of the estimator, so model selection tools treat it as a bad setting).
    """


def _positive_int(name, value, minimum=1):
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or value < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def estimate_fit_memory(n_samples, n_features, n_outputs, n_patterns, n_hidden, *,
                        solver=None, loss=None, n_jobs=None):
    """Estimate the peak memory, in bytes, of fitting the convex program.

    The estimate counts the lifted arrays of the program (see the module
    docstring): ``O(n P m)`` pattern masks, about a dozen float64 arrays of
    ``n G`` entries (``G = 2 C P m`` groups) and the solver's sparse lifted
    columns, ``O(n G d)``; for the default solver, the larger of its
    certificate's arrays and its interior point on an assumed working set
    (see the module docstring).  It is meant to be right within a factor
    of about three (0.4 to 3.4 times the traced peaks of the eight fits of
    ``benchmarks/bench_memory.py``); the estimators use it to
    refuse fits above their ``memory_limit`` before allocating anything.

    Parameters
    ----------
    n_samples : int
        Rows of X (with positive sample weight).
    n_features : int
        Columns the solver sees: the features of X, plus one when
        ``fit_intercept`` is on (the column of ones of the first-layer
        biases).
    n_outputs : int
        Outputs ``C``: 1 for a single-target regressor or a binary
        classifier, the number of targets or classes otherwise.
    n_patterns : int
        Sampled patterns ``P`` (the ``n_patterns`` parameter; duplicates are
        dropped after sampling, so this is an upper bound).
    n_hidden : int
        First-layer width ``m`` of every sub-network.
    solver : str, default=None
        The solver: None or ``"fast"`` for the default working-set solver,
        ``"cvxpy"`` (or an installed CVXPY solver name) for the reference
        formulation, which lifts every block at once and needs about twice
        as much.
    loss : str, default=None
        The loss.  With ``"squared"`` and several outputs the default solver
        solves one output's program at a time, so its lifted columns are
        those of one output only.
    n_jobs : int, default=None
        Workers of the default solver for a squared loss's outputs: each one
        holds an output's working set at the same time (None: one).

    Returns
    -------
    int
        Estimated peak number of bytes allocated during the fit.

    Examples
    --------
    >>> from convexrelu.memory import estimate_fit_memory
    >>> mb = estimate_fit_memory(1000, 11, 1, 100, 4) / 2**20
    >>> 100 < mb < 1000
    True
    """
    n = _positive_int("n_samples", n_samples)
    d = _positive_int("n_features", n_features)
    C = _positive_int("n_outputs", n_outputs)
    P = _positive_int("n_patterns", n_patterns)
    m = _positive_int("n_hidden", n_hidden)
    if loss is not None:
        get_loss(loss)                      # a ValueError naming the known losses
    if solver is not None:
        from .solvers import _resolve_solver
        _resolve_solver(solver)             # a ValueError naming the known solvers
    key = "fast" if solver in (None, "fast") else "cvxpy"
    npm = n * P * m
    G = C * 2 * P * m
    # sampling: pre-activations (P, n, m) float64 and their relu; masks: D1
    # (bool), E1, S1 and the lifted mask (n, 2, P, m), int8
    masks = npm * (2 * _FLOAT + 1) + 3 * npm + 2 * npm
    if key == "cvxpy":
        dense = _NG_ARRAYS * n * G * _FLOAT
        lifted = _LIFTED_BYTES[key] * n * G * d
        return int(_BASE_BYTES + masks + dense + lifted)
    # The default solver: the larger of its two phases, the certificate over
    # all groups and the interior point over the working set.
    certificate = _FAST_NG_ARRAYS * n * G * _FLOAT
    working = _working_set_bytes(n, d, C, P, m, loss)
    if loss == "squared" and C > 1 and n_jobs is not None:
        # Outputs solved in parallel by joblib workers.
        from joblib import effective_n_jobs

        working *= min(effective_n_jobs(n_jobs), C)
    return int(_BASE_BYTES + masks + max(certificate, working))


def _working_set_bytes(n, d, C, P, m, loss):
    """Bytes of the fast solver's interior point on its assumed working set."""
    from .solvers._newton_systems import (KEPT_LOSS_PART_MAX_BYTES, LOSS_CHUNK_ENTRIES,
                                          PAIR_GRAM_MIN_FEATURES, PAIR_PRODUCTS_MAX_BYTES,
                                          WOODBURY_MIN_WEIGHTS)
    from .solvers._woodbury import BATCHED_BLOCKS_MAX, output_costs

    # A squared loss is solved output by output; other losses couple them.
    C_solve = 1 if loss == "squared" else C
    blocks = C_solve * 2 * P
    Bw = min(blocks, max(_WORKING_MIN_BLOCKS, blocks // _WORKING_FRACTION))
    d_eff = min(d, n)
    gw = Bw * m
    k = gw * d_eff
    md = m * d_eff
    # Formed Newton matrices: k x k twice (the matrix and its scaled copy).
    newton = 2 * k * k
    if C_solve == 1:
        if k >= WOODBURY_MIN_WEIGHTS and 2 * n < k:
            # n x k arrays (the lifted columns, their scaled images, the
            # Woodbury factor), and the active-set method's face matrix
            # (measured near k x k here), whose blocks are the non-zero
            # ones: at most about n of them at an optimum (a group lasso's
            # solution needs no more groups than rows), which caps it where
            # the blocks far outnumber the rows (enumerated tuples: 4561 on
            # 6 rows, estimated 2.5 GB, traced 12 MB).
            face = min(k, (n + 1) * md)
            newton = max(face * face, 4 * n * k)
        elif loss == "squared" and d_eff >= PAIR_GRAM_MIN_FEATURES:
            # and the previous round's loss part, kept for the next round
            newton += min(k * k, KEPT_LOSS_PART_MAX_BYTES // _FLOAT)
    else:
        # Softmax, by class: a formed k/C-wide block, or k/C x n factors and
        # an n x n capacitance when the solver's cost model prefers them
        # (many more weights than rows); plus n x k arrays.
        k_c = k // C_solve
        dense_flops, low_rank_flops = output_costs(n, k_c, md)
        per_class = k_c * n + n * n if low_rank_flops < dense_flops else k_c * k_c
        newton = min(newton, C_solve * per_class + 2 * n * k)
    # Each working block's md x md constraint block; the split solves keep
    # three more copies of the narrow ones (scaled, factor, inverse factor).
    blocks_H = Bw * md * md * (4 if md <= BATCHED_BLOCKS_MAX else 1)
    ipm = _IPM_ARRAYS * n * gw + newton + blocks_H + min(n * k, LOSS_CHUNK_ENTRIES)
    pairs = min(n * d * (d + 1) // 2 * _FLOAT, PAIR_PRODUCTS_MAX_BYTES)
    return ipm * _FLOAT + pairs


def available_memory():
    """Memory currently available to new allocations, in bytes, or None if unknown.

    Reads ``MemAvailable`` from ``/proc/meminfo`` (Linux), else the free
    physical pages reported by ``os.sysconf``.

    Returns
    -------
    int or None
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages) * int(size)
    except (AttributeError, OSError, ValueError):
        pass
    return None


_UNITS = {"": 1, "B": 1, "K": 2 ** 10, "KB": 10 ** 3, "KIB": 2 ** 10,
          "M": 2 ** 20, "MB": 10 ** 6, "MIB": 2 ** 20,
          "G": 2 ** 30, "GB": 10 ** 9, "GIB": 2 ** 30,
          "T": 2 ** 40, "TB": 10 ** 12, "TIB": 2 ** 40}


def resolve_memory_limit(memory_limit):
    """The limit in bytes that a ``memory_limit`` parameter stands for.

    Parameters
    ----------
    memory_limit : "auto", int, float, str or None
        ``"auto"``: half of the memory available now (8 GiB when that is
        unknown); a positive number: bytes; a string with a unit such as
        ``"500MB"`` or ``"2GiB"``; None: no limit.

    Returns
    -------
    int or None
        Bytes, or None for no limit.

    Raises
    ------
    ValueError
        If ``memory_limit`` is none of the above.
    """
    if memory_limit is None:
        return None
    if isinstance(memory_limit, str):
        text = memory_limit.strip()
        if text.lower() == "auto":
            avail = available_memory()
            if avail is None:
                return DEFAULT_MEMORY_LIMIT
            return int(AUTO_MEMORY_FRACTION * avail)
        match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)", text)
        if match and match.group(2).upper() in _UNITS:
            value = float(match.group(1)) * _UNITS[match.group(2).upper()]
            if value > 0:
                return int(value)
    elif (isinstance(memory_limit, numbers.Real) and not isinstance(memory_limit, bool)
          and memory_limit > 0 and memory_limit == memory_limit
          and memory_limit != float("inf")):
        return int(memory_limit)
    raise ValueError(
        f"memory_limit must be 'auto', a positive number of bytes, a size such as "
        f"'500MB' or '2GiB', or None; got {memory_limit!r}.")


def _format_bytes(n_bytes):
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{int(n_bytes)} B"


def check_fit_memory(n_samples, n_features, n_outputs, n_patterns, n_hidden, *,
                     solver=None, loss=None, memory_limit="auto", n_jobs=None):
    """Raise :class:`FitMemoryError` when a fit's estimate exceeds ``memory_limit``.

    Parameters
    ----------
    n_samples, n_features, n_outputs, n_patterns, n_hidden, solver, loss, n_jobs
        As for :func:`estimate_fit_memory`.
    memory_limit : "auto", int, float, str or None, default="auto"
        As for :func:`resolve_memory_limit`.

    Returns
    -------
    int
        The estimate in bytes, when it is within the limit.
    """
    limit = resolve_memory_limit(memory_limit)
    estimate = estimate_fit_memory(n_samples, n_features, n_outputs, n_patterns,
                                   n_hidden, solver=solver, loss=loss, n_jobs=n_jobs)
    if limit is not None and estimate > limit:
        # the largest n_patterns that would fit, everything else unchanged
        lo, hi = 0, int(n_patterns)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if estimate_fit_memory(n_samples, n_features, n_outputs, mid, n_hidden,
                                   solver=solver, loss=loss, n_jobs=n_jobs) <= limit:
                lo = mid
            else:
                hi = mid - 1
        hint = (f"n_patterns <= {lo} would fit" if lo >= 1 else
                "even n_patterns=1 would not fit")
        raise FitMemoryError(
            f"This fit needs an estimated {_format_bytes(estimate)} "
            f"(n_samples={n_samples}, columns={n_features}, outputs={n_outputs}, "
            f"n_patterns={n_patterns}, n_hidden={n_hidden}), above memory_limit="
            f"{_format_bytes(limit)} ({memory_limit!r}). Reduce n_patterns ({hint}), "
            f"n_hidden or the number of rows (subsample X), or raise memory_limit "
            f"(None disables the check).")
    return estimate


def traced_peak(func, *args, **kwargs):
    """Call ``func(*args, **kwargs)`` under ``tracemalloc``; return its result and peak.

    The peak counts Python and NumPy allocations made during the call (the
    quantity :func:`estimate_fit_memory` is calibrated against), not native
    solver workspaces.

    Returns
    -------
    result : object
    peak : int
        Bytes.
    """
    import tracemalloc

    tracemalloc.start()
    try:
        result = func(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak

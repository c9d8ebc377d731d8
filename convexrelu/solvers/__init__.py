"""Solvers of the convex program and the :func:`solve_convex` entry point.

A solver is a function ``solve(op, loss, Y, w, alpha, *, fit_intercept, tol,
max_iter, verbose, warm_start, **options)`` returning a :class:`SolverOutput`.
It never touches an estimator; :func:`solve_convex` validates the input,
calls it, and attaches the certificate (:mod:`convexrelu.duality`).
"""

import numbers
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..arrangements import Arrangements
from ..duality import INTERCEPT_RTOL, duality_gap, output_factor, relative_gap
from ..losses import get_loss
from ..memory import resolve_memory_limit
from ..operator import LiftedOperator, group_norms
from ._result import ConvexResult

__all__ = ["solve_convex", "ConvexResult", "SolverOutput", "register_solver",
           "available_solvers", "row_space_basis"]


@dataclass
class SolverOutput:
    """What a solver hands back to :func:`solve_convex`."""

    u: np.ndarray
    intercept: np.ndarray
    lam1: object
    lam2: object
    n_iter: int
    converged: bool
    history: list = field(default_factory=list)
    #: why the solver gave up before its certificate passed ("" if it did not)
    stop_reason: str = ""


def _solve_with_cvxpy(op, loss, Y, w, alpha, *, fit_intercept, tol, max_iter, verbose,
                      warm_start=None, solver_name="CLARABEL", n_jobs=None, **solver_options):
    # n_jobs: one conic program, nothing to split.
    from .cvxpy_solver import solve_cvxpy
    U, b, lam1, lam2, n_iter, converged = solve_cvxpy(
        op, loss, Y, w, alpha, fit_intercept=fit_intercept, solver=solver_name, tol=tol,
        max_iter=max_iter, verbose=verbose, solver_options=solver_options)
    return SolverOutput(U, b, lam1, lam2, n_iter, converged)


_ZERO_GROUP_RTOL = 1e-6
#: largest relative pattern-constraint violation a converged solution may have
_FEASIBILITY_RTOL = 1e-8


def _scaled_in_place(lam, scale):
    """``scale * lam``, in place where ``lam`` allows it (it is the size of the
    lifted problem); ``scale`` a float or one per output (axis 1 of ``lam``)."""
    if lam is None or np.all(scale == 1.0):
        return lam
    factor = output_factor(scale, np.ndim(lam))
    if isinstance(lam, np.ndarray) and lam.flags.writeable and lam.dtype == np.float64:
        lam *= factor
        return lam
    return np.asarray(lam, dtype=float) * factor


_BLAS_CONTROLLER = None


def one_blas_thread():
    """A context manager limiting BLAS to one thread (see :func:`solve_convex`).

    The loaded BLAS libraries are found once per process: threadpoolctl's
    ``threadpool_limits`` scans them at every call (1.6 ms here), which a path
    of twenty small solves paid twenty times.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        # SciPy's BLAS may be its own library: loaded before the scan.
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _solve_fast(op, loss, Y, w, alpha, **kwargs):
    from .fast import solve_fast
    return solve_fast(op, loss, Y, w, alpha, **kwargs)


_SOLVERS = {"cvxpy": _solve_with_cvxpy, "fast": _solve_fast}
_DEFAULT_SOLVER = "fast"


def register_solver(name, func):
    """Make ``func`` available as ``solve_convex(..., solver=name)``."""
    _SOLVERS[name] = func


def available_solvers():
    """Names accepted by ``solver`` (CVXPY's installed solver names work too).

    Returns
    -------
    list of str
    """
    return sorted(_SOLVERS)


def _resolve_solver(solver):
    if solver is None:
        solver = _DEFAULT_SOLVER
    if not isinstance(solver, str):
        raise ValueError(f"solver must be a string; got {solver!r}.")
    if solver in _SOLVERS:
        return solver, _SOLVERS[solver], {}
    import cvxpy as cp
    if solver.upper() in cp.installed_solvers():
        return solver.upper(), _solve_with_cvxpy, {"solver_name": solver.upper()}
    raise ValueError(
        f"Unknown solver {solver!r}: use one of {available_solvers()} or an installed "
        f"CVXPY solver {cp.installed_solvers()}.")


def check_fit_intercept(fit_intercept):
    """``ValueError`` unless ``fit_intercept`` is a bool (a string such as "no" is truthy)."""
    if not isinstance(fit_intercept, (bool, np.bool_)):
        raise ValueError(f"fit_intercept must be a bool; got {fit_intercept!r}.")


def check_n_jobs(n_jobs):
    """``ValueError`` unless ``n_jobs`` is None or a non-zero integer (joblib's rule)."""
    if n_jobs is not None and (not isinstance(n_jobs, numbers.Integral)
                               or isinstance(n_jobs, bool) or n_jobs == 0):
        raise ValueError(f"n_jobs must be None or a non-zero integer; got {n_jobs!r}.")


def check_solve_params(tol, max_iter):
    """``ValueError`` unless ``tol`` is in (0, 1) and ``max_iter`` a positive integer.

    ``tol`` bounds a relative duality gap: at 1 or more it certifies nothing
    (the zero network's relative gap is at most 1), and a fit would stop at
    once, reported as converged.
    """
    if (not isinstance(tol, numbers.Real) or isinstance(tol, bool)
            or not 0 < tol < 1):
        raise ValueError(f"tol must be a relative duality gap in (0, 1); got {tol!r}.")
    if (not isinstance(max_iter, numbers.Integral) or isinstance(max_iter, bool)
            or max_iter < 1):
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}.")


def _round_up(x):
    """``x`` rounded up to one significant digit (a tol the solver can reach)."""
    if not (np.isfinite(x) and x > 0):
        return x
    scale = 10.0 ** np.floor(np.log10(x))
    return float(np.ceil(x / scale * (1 - 1e-12)) * scale)


def _normalised_weights(sample_weight, n):
    if sample_weight is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},); got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if w.sum() <= 0:
        raise ValueError("sample_weight must have a positive sum.")
    return w / w.sum()


def validate_problem_data(X, y, loss, sample_weight):
    """Validated ``(X, Y, w, loss)``: the data of a convex program or of the
    network that generates its tuples.

    ``Y`` are the loss's encoded targets (n, C), ``w`` the normalised sample
    weights (sum one); raises ``ValueError`` naming the problem (shape,
    empty data, complex or non-finite values, targets the loss cannot take,
    bad weights).
    """
    loss_obj = get_loss(loss)
    for name, value in (("X", X), ("y", y)):
        if np.iscomplexobj(value):
            raise ValueError(f"{name} has complex values; it must be real-valued.")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D; got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty (shape {X.shape}): it needs rows and columns.")
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
    Y = loss_obj.encode_targets(y if y.ndim == 2 or loss_obj.name == "logistic"
                                else y.reshape(-1, 1))
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {Y.shape[0]}.")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise ValueError("X and y must be finite (no NaN or inf).")
    w = _normalised_weights(sample_weight, X.shape[0])
    return X, Y, w, loss_obj


def prepare_problem(X, y, arrangements, loss, sample_weight):
    """Validated ``(X, Y, w, loss, op)`` of a convex program.

    As :func:`validate_problem_data`, plus ``op``, the
    :class:`LiftedOperator`; shared by :func:`solve_convex` and the path
    functions so both see the same problem.
    """
    if not isinstance(arrangements, Arrangements):
        raise TypeError("arrangements must be an Arrangements instance.")
    X, Y, w, loss_obj = validate_problem_data(X, y, loss, sample_weight)
    if arrangements.n_patterns < 1 or arrangements.n_hidden < 1:
        raise ValueError(
            f"arrangements has no tuples to solve over ({arrangements.n_patterns} tuples "
            f"of width {arrangements.n_hidden}).")
    op = LiftedOperator(X, arrangements, n_outputs=Y.shape[1])
    return X, Y, w, loss_obj, op


def row_space_basis(X):
    """An orthonormal basis ``V`` (d, r) of the row space of ``X``, or None
    when ``X`` has full column rank.

    The program depends on the weights only through ``X u`` (loss and
    pattern constraints) and ``||u||`` (penalty), and the part of ``u``
    orthogonal to the rows only adds to the norms: every solution lies in
    the row space.  So ``u = z V^T`` with ``z`` solving the same program on
    ``X V`` (``r`` columns instead of ``d``; dual norms ``||X^T g|| = ||(X
    V)^T g||`` too), which is exact, and smaller where the rows are fewer
    than the features or features are collinear (one-hot categories with an
    intercept column).  The rank cut is numpy's (``s_max max(n, d) eps``),
    so ``X V V^T`` equals ``X`` to rounding.
    """
    n, d = X.shape
    if n >= d:
        # The Gram matrix's eigenvalues settle full-rank data cheaply (they
        # square the condition number: only a clear margin counts).
        e = np.linalg.eigvalsh(X.T @ X)
        if e[0] > 1e-10 * e[-1]:
            return None
    _, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.sum(s > s[0] * max(n, d) * np.finfo(float).eps)) if s.size and s[0] > 0 else 0
    if r >= d or r == 0:
        return None
    return Vt[:r].T.copy()


def _in_row_space(op, warm_start):
    """``(op, warm_start, V)`` of the program on ``X V`` (see
    :func:`row_space_basis`), or the arguments unchanged and None."""
    from types import SimpleNamespace

    # Full column rank is what the operator's flat_directions already
    # rules out (cached on op, which the solver asks again): no second
    # eigendecomposition of X^T X for well-conditioned data.
    V = row_space_basis(op.X) if op.flat_directions else None
    if V is None:
        return op, warm_start, None
    arr = op.arrangements
    if arr.first_weights is not None:
        # The generators start the interior point (strictly inside their own
        # pattern cones): X V V^T w = X w, so their projections are too.
        # Without them every block would need a phase-one linear program.
        arr = Arrangements(arr.first, arr.signs, arr.second,
                           first_weights=np.einsum("dr,pdm->prm", V, arr.first_weights),
                           second_weights=arr.second_weights,
                           output_weights=arr.output_weights)
    op_r = LiftedOperator(op.X @ V, arr, n_outputs=op.n_outputs)
    # X had a null space, so the interior point keeps its step checks: the
    # lifted problem still has directions the loss ignores (r = n rows of
    # weights per group and many groups), and unchecked steps along them
    # diverged on a 12 x 21 problem.
    op_r.flat_directions = True
    if warm_start is not None:
        names = ("intercept", "alpha", "dual_point", "lam1", "lam2")
        warm_start = SimpleNamespace(u=np.asarray(warm_start.u, float) @ V,
                                     **{k: getattr(warm_start, k, None) for k in names})
    return op_r, warm_start, V


def _without_tiny_groups(op, loss, Y, w, alpha, out, cert, norms, fit_intercept, tol):
    """``out.u`` with its tiny groups zeroed, and its certificate, where that is as good.

    The zeroed point is kept when it is as feasible as ``out.u`` and its
    relative gap is at most ``out.u``'s or a tenth of ``tol`` (so a point that
    met ``tol`` still does).  Its dual bound is the better of its own and
    ``cert``'s: the interior point's multipliers fit the point it stopped
    at, and with the zeroed point's residuals they can give a dual bound
    worse by far more than the groups weigh (a gap of 4e-11 became 3e-9 on
    a diabetes fit with CVXPY's 1e-10-sized groups zeroed).
    Zeroing a tiny group of a live block can break that block's second-layer
    rows (they sum over its groups); a whole tiny block cannot break any
    constraint, so when the first point is less feasible the tiny blocks
    alone are zeroed.
    """
    small = norms <= _ZERO_GROUP_RTOL * norms.max(initial=0.0)
    tiny = small & (norms > 0)
    if not tiny.any():
        return out.u, cert
    allowed_gap = max(cert.gap, 0.0, 0.1 * tol * abs(cert.primal)) + 1e-12 * abs(cert.primal)
    allowed_violation = max(cert.constraint_violation, 0.01 * _FEASIBILITY_RTOL)
    # (groups: the last axis of norms; a block's groups are its m neurons)
    whole_blocks = tiny & small.all(axis=-1, keepdims=True)
    candidates = [tiny] + ([whole_blocks] if whole_blocks.any()
                           and not np.array_equal(whole_blocks, tiny) else [])
    for zero in candidates:
        u_clean = np.where(zero[..., None], 0.0, out.u)
        cert_clean = duality_gap(op, loss, Y, w, u_clean, alpha, intercept=cert.intercept,
                                 fit_intercept=fit_intercept, lam1=out.lam1, lam2=out.lam2,
                                 return_multipliers=False)
        if cert_clean.dual < cert.dual:
            # The first dual point bounds the optimum whatever the primal point.
            cert_clean = replace(
                cert, primal=cert_clean.primal, gap=cert_clean.primal - cert.dual,
                relative_gap=relative_gap(loss, Y, w, cert_clean.primal, cert.dual),
                intercept=cert_clean.intercept,
                constraint_violation=cert_clean.constraint_violation)
        if cert_clean.gap <= allowed_gap and cert_clean.constraint_violation <= allowed_violation:
            return u_clean, cert_clean
    return out.u, cert


def solve_convex(X, y, arrangements, alpha, *, loss="squared", fit_intercept=False,
                 solver=None, tol=1e-6, max_iter=1000, sample_weight=None,
                 warm_start=None, verbose=False, n_jobs=None, memory_limit=None,
                 **solver_options):
    """Solve the convex program of a tuple set (FORMULATION.md section 4).

    minimise over u, b::

        sum_i w_i loss(b + sum_{sig,t} sig F_t(u_{sig,t})_i, y_i)
          + alpha * sum_{sig,t,j} ||u_{sig,t,j}||_2
        s.t. (2 D1_tj - 1) X u_{sig,t,j} >= 0,
             (2 D2_t - 1) sum_j s_tj D1_tj X u_{sig,t,j} >= 0,

    with ``w_i = 1/n`` (or the normalised ``sample_weight``) and
    ``F_t(u) = D2_t sum_j s_tj D1_tj X u_j``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data as the tuples were computed on (append a ones column for
        first-layer biases before sampling).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets: real values ("squared"), -1/+1 ("logistic"), one-hot rows
        ("cross_entropy").
    arrangements : Arrangements
        The activation-pattern tuples (sampled, trained or enumerated).
    alpha : float
        Regularisation strength, > 0.
    loss : {"squared", "logistic", "cross_entropy"}, default="squared"
        The loss.
    fit_intercept : bool, default=False
        Fit an unpenalised output intercept ``b``.
    solver : str, default=None
        A registered solver name (see :func:`available_solvers`) or a CVXPY
        solver name such as "CLARABEL" or "SCS"; None picks the default.
    tol : float, default=1e-6
        Target relative duality gap, in (0, 1).
    max_iter : int, default=1000
        Iteration limit of the solver (working-set rounds of the fast solver).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples (None: all equal); normalised to sum to one.
    warm_start : ConvexResult, default=None
        A previous solution on the same tuples (any object with ``u`` and
        ``intercept`` attributes), used by iterative solvers; ignored when
        its shape does not match.
    verbose : bool, default=False
        Print the solver's progress.
    n_jobs : int, default=None
        Parallel joblib workers, for solvers that split the program: the fast
        solver solves the outputs of a loss that is a sum over outputs
        (squared, several outputs) as independent programs, and with the
        cross-entropy runs the classes' parts of its Newton systems on
        threads.  None or 1: in this process; -1: all processors.  Results
        do not depend on it.
        Passed to the solver only when not None.
    memory_limit : int, str or None, default=None
        Memory that the fast solver's exact fallback (a working-set round
        given to Clarabel when its interior point fails) may take, as the
        estimators' parameter (bytes, a size such as "2GiB", or "auto": half
        of the memory available now): above it, or above the memory
        available, the round is not solved and the solve stops there, not
        converged, with a ``ConvergenceWarning`` that says so.  None: the
        memory available only.  Other solvers ignore it.
    **solver_options
        Passed to the solver.

    Returns
    -------
    ConvexResult
        With the certificate (``dual_gap``, ``relative_gap``) recomputed from
        the returned point independently of the solver's own stopping rule.
    """
    if not isinstance(alpha, numbers.Real) or not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite number; got {alpha!r}.")
    check_solve_params(tol, max_iter)
    check_fit_intercept(fit_intercept)
    limit = resolve_memory_limit(memory_limit)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arrangements, loss, sample_weight)
    name, func, extra = _resolve_solver(solver)
    if warm_start is not None and warm_start.u.shape != op.var_shape:
        warm_start = None
    if warm_start is not None and not (
            np.all(np.isfinite(warm_start.u))
            and (getattr(warm_start, "intercept", None) is None
                 or np.all(np.isfinite(np.asarray(warm_start.intercept, float))))):
        raise ValueError("warm_start must be finite: its u or intercept has NaN or inf.")
    start = time.perf_counter()
    # One BLAS thread: results then do not depend on how many threads a
    # process has (joblib workers get one), so fits are bit-identical under
    # n_jobs > 1; and multi-threaded OpenBLAS on the moderate matrices of the
    # solvers is slower, by orders of magnitude when cores are shared.
    if n_jobs is not None:
        check_n_jobs(n_jobs)
        extra = dict(extra, n_jobs=n_jobs)
    if limit is not None and name == "fast":
        extra = dict(extra, memory_limit=limit)
    with one_blas_thread():
        # The fast solver works in the row space of X (exact; see
        # row_space_basis); the CVXPY reference keeps the program as written.
        op_s, warm_s, basis = (_in_row_space(op, warm_start) if name == "fast"
                               else (op, warm_start, None))
        out = func(op_s, loss_obj, Y, w, float(alpha), fit_intercept=fit_intercept, tol=tol,
                   max_iter=max_iter, verbose=verbose, warm_start=warm_s,
                   **extra, **solver_options)
        if basis is not None:
            out.u = out.u @ basis.T
    elapsed = time.perf_counter() - start
    # (the multipliers are the solver's own: scaled in place below, not copied)
    cert = duality_gap(op, loss_obj, Y, w, out.u, float(alpha), intercept=out.intercept,
                       fit_intercept=fit_intercept, lam1=out.lam1, lam2=out.lam2,
                       return_multipliers=False)
    # Interior-point solvers return 1e-10-sized groups instead of zeros; each
    # would become a useless sub-network (every block of an enumerated tuple
    # set, from CVXPY).
    norms = group_norms(out.u)
    out.u, cert = _without_tiny_groups(op, loss_obj, Y, w, float(alpha), out, cert, norms,
                                       fit_intercept, tol)
    if norms.max(initial=0.0) > 0:
        # An optimum at zero (a constant target, alpha at alpha_max) comes
        # back from an interior point as 1e-12-sized groups, none tiny next
        # to the others, whose pattern constraints are violated relative to
        # their own size.  The zero network costs one loss evaluation to
        # rule out, and is kept when its certificate proves it optimal (an
        # unconverged fit that the zero network happens to beat keeps its
        # point and its warning: at alpha = 1e-9 both can be far from the
        # optimum, and the fit's predictions are the better guess).
        zero_F = np.zeros_like(Y, dtype=float)
        b0 = (loss_obj.optimal_intercept(zero_F, Y, w, start=cert.intercept)
              if fit_intercept else np.zeros(op.n_outputs))
        if loss_obj.value(zero_F + b0, Y, w) <= cert.primal:
            u_zero = np.zeros_like(out.u)
            cert_zero = duality_gap(op, loss_obj, Y, w, u_zero, float(alpha), intercept=b0,
                                    fit_intercept=fit_intercept, lam1=out.lam1,
                                    lam2=out.lam2, return_multipliers=False)
            if (cert_zero.relative_gap <= tol
                    and cert_zero.gap <= max(cert.gap, 0.0) + 1e-12 * abs(cert.primal)):
                out.u, cert = u_zero, cert_zero
    # The certificate's dual point is the scaled pair (V, lam).
    lam1 = _scaled_in_place(out.lam1, cert.dual_scale)
    lam2 = _scaled_in_place(out.lam2, cert.dual_scale)
    # The certificate, not the solver's own status, decides convergence.
    converged = bool(cert.relative_gap <= tol
                     and cert.constraint_violation <= _FEASIBILITY_RTOL)
    if not converged:
        other = "cvxpy" if name == "fast" else "fast"
        if cert.intercept_residual > INTERCEPT_RTOL:
            # Not the solver's doing: without the intercept's optimum no dual
            # point bounds the objective, whatever the weights.
            advice = (f"The intercept did not reach its optimum for these weights (gradient "
                      f"{cert.intercept_residual:.1e} of the loss's scale), so no duality gap "
                      f"certifies the fit: standardise X (and y for regression), or set "
                      f"fit_intercept=False.")
        elif getattr(out, "stop_reason", ""):
            advice = out.stop_reason
        elif out.n_iter >= max_iter:
            advice = "Increase max_iter, loosen tol, or increase alpha."
        elif cert.relative_gap <= tol:
            # The gap is fine; the point is not feasible enough to be certified.
            advice = (f"The gap is within tol, but the pattern constraints are violated "
                      f"by more than {_FEASIBILITY_RTOL:g} (relative): try solver={other!r}, "
                      f"or standardise X.")
        elif cert.relative_gap > 1e-2:
            # Far from the optimum: no tolerance worth having would pass it.
            advice = (f"It stopped before max_iter, far from the optimum: standardise X "
                      f"(and y for regression), increase alpha, or try solver={other!r}.")
        else:
            # More iterations would not help: the solver gave up on its own.
            advice = (f"It stopped before max_iter, at the limit of its numerical "
                      f"accuracy: loosen tol to at least {_round_up(cert.relative_gap):.0e}, or try "
                      f"solver={other!r}.")
        warnings.warn(
            f"The {name} solver stopped with relative duality gap "
            f"{cert.relative_gap:.3e} (tol={tol:g}) and relative constraint violation "
            f"{cert.constraint_violation + 0.0:.1e} after {out.n_iter} iterations "
            f"(max_iter={max_iter}). {advice}",
            ConvergenceWarning, stacklevel=2)
    return ConvexResult(
        u=out.u, intercept=cert.intercept, objective=cert.primal,
        dual_objective=cert.dual, dual_gap=cert.gap, relative_gap=cert.relative_gap,
        constraint_violation=cert.constraint_violation, n_iter=out.n_iter,
        converged=converged, dual_point=cert.dual_point, lam1=lam1, lam2=lam2,
        arrangements=arrangements, alpha=float(alpha), loss=loss_obj.name,
        fit_intercept=bool(fit_intercept), solver=name, solve_time=elapsed,
        history=out.history)

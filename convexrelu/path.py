"""Regularisation paths of the convex program: ``alpha_max`` and ``convex_path``.

The smallest alpha with a zero solution
---------------------------------------
At ``U = 0`` the prediction is the intercept alone: ``b*`` minimising
``L(b)`` with ``fit_intercept`` (``b* = 0`` otherwise).  Let
``V = -grad L(b*)`` (shape ``(n, C)``).  By the dual feasibility condition
of FORMULATION.md section 7, ``U = 0`` is optimal for ``alpha`` if and only
if every block ``beta = (o, sig, t)`` admits multipliers ``lam1 >= 0``
(``n x m``) and ``lam2 >= 0`` (``n``) with

.. math::

    \\max_j \\| c_j + X^T (E1_j \\lambda_{1j} + S1_j E2 \\lambda_2) \\|_2
    \\le \\alpha, \\qquad c_j = X^T (\\sigma\\, s_j D1_j D2\\, V_o),

where ``E1 = 2 D1 - 1``, ``E2 = 2 D2 - 1`` and ``S1_j = s_j D1_j`` are the
block's masks.  ``V`` does not depend on alpha, so

.. math::

    \\alpha_{\\max} = \\max_\\beta\\; \\rho_\\beta, \\qquad
    \\rho_\\beta = \\min_{\\lambda \\ge 0} \\max_j \\| c_j + A_j^T \\lambda \\|_2 ,

with ``A u >= 0`` the block's pattern constraints.  The inner problem is the
dual of a small second-order cone program over the block's ``m d``
variables (Sion's minimax theorem; the unit ball of ``sum_j ||u_j||`` is
compact and the l1/l2 norm's dual is the max of l2 norms):

.. math::

    \\rho_\\beta = \\max \\Big\\{ \\sum_j c_j^T u_j \\;:\\;
    \\sum_j \\|u_j\\|_2 \\le 1,\\; A u \\ge 0 \\Big\\}

(the largest decrease rate of the loss along a unit-penalty feasible
direction of the block).  Dropping the multipliers gives the gated-relaxation
bound ``rho_beta <= max_j ||c_j||``, which is used only to skip blocks that
cannot attain the maximum.  :func:`alpha_max` solves the cone program per
remaining block (Clarabel, on a few of the block's rows at a time, rows
its point violates added until none is:
:func:`convexrelu.solvers._block_certificate.block_dual_norm`), and
reports the *upper* bound
``max_j ||c_j + A_j^T lam||`` of the returned multipliers (clipped to
``lam >= 0``): zero is then certified optimal at the returned value by those
multipliers, and the primal point of the cone program shows the value is
tight (to about 1e-9 relative).

Paths
-----
:func:`convex_path` solves the program on a decreasing grid of alphas, each
solve warm-started from the previous solution (like
:func:`sklearn.linear_model.lasso_path`).
"""

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from .duality import duality_gap
from .operator import group_norms
from .solvers import (ConvexResult, _resolve_solver, check_fit_intercept, check_solve_params,
                      prepare_problem, solve_convex)
from .solvers._block_certificate import block_dual_norm
from .solvers._pricing import price_blocks

__all__ = ["alpha_max", "alpha_grid", "convex_path", "ConvexPath", "AlphaMax"]

#: smallest alpha the grid uses when the data give alpha_max = 0 (y already
#: fitted by the intercept alone)
_ALPHA_FLOOR = np.finfo(float).resolution


def _prepare(X, y, arrangements, loss, sample_weight):
    """Validated ``(X, Y, w, loss_obj, op)`` exactly as :func:`solve_convex` sees them."""
    return prepare_problem(X, y, arrangements, loss, sample_weight)


@dataclass
class AlphaMax:
    """The exact ``alpha_max`` of a problem and what certifies it.

    Attributes
    ----------
    value : float
        ``alpha_max``: an upper bound on ``max_beta rho_beta`` certified by
        ``lam1, lam2`` (zero is optimal at every ``alpha >= value``).
    lower : float
        A lower bound from feasible cone-program points: zero is *not*
        optimal below it.  ``(value - lower) / value`` is the accuracy; at
        most ``value`` (the two can meet, to rounding).
    block_values : ndarray of shape (C, 2, P)
        The certified upper bound on ``rho_beta`` of each block (the gated
        bound for blocks that were skipped).
    gated : float
        The gated-relaxation bound ``max_{beta, j} ||c_j||`` (``lam = 0``).
    intercept : ndarray of shape (C,)
        The optimal intercept at ``U = 0``.
    dual_point : ndarray of shape (n, C)
        ``V = -grad L(intercept)``.
    lam1 : ndarray of shape (n, C, 2, P, m)
    lam2 : ndarray of shape (n, C, 2, P)
        Multipliers with ``max_j ||X^T g_j|| <= value`` for every block.
    direction : ndarray of shape (C, 2, P, m, d)
        A feasible direction (zero outside one block) with
        ``sum ||u_g|| = 1`` and rate ``<-grad L, M(X u)> = lower``: the loss
        falls faster than the penalty grows along it for every
        ``alpha < lower``, so zero is not optimal there.
    n_solved : int
        Blocks whose cone program was solved (the others were skipped by the
        gated bound).
    """

    value: float
    lower: float
    block_values: np.ndarray
    gated: float
    intercept: np.ndarray
    dual_point: np.ndarray
    lam1: np.ndarray
    lam2: np.ndarray
    direction: np.ndarray
    n_solved: int


def _block_rows(op, beta):
    """Block ``beta``'s first-layer row signs and second-layer row weights, (n, m) each."""
    _, _, E1, W2 = op.block_masks([beta])
    return E1[:, 0], W2[:, 0]


def _unit_direction(X, U, e1, w2):
    """``U / sum_j ||u_j||`` if ``U`` (m, d) is a direction of the block's cone, else None.

    Along such a direction the loss falls at the rate ``<c, U>`` per unit of
    penalty, faster than the penalty grows for every alpha below that rate,
    so the rate bounds alpha_max from below.  Feasibility is to rounding
    (1e-9 of the largest ``|X u_j|``).
    """
    Z = X @ U.T
    viol = max(float(np.max(-(e1 * Z), initial=0.0)),
               float(np.max(-np.sum(w2 * Z, axis=1), initial=0.0)))
    size = float(np.sqrt(np.einsum("jd,jd->j", U, U)).sum())
    if size <= 0 or viol > 1e-9 * max(float(np.abs(Z).max()), 1e-300):
        return None
    return U / size


def _alpha_max_details(op, loss, Y, w, fit_intercept, least_squares_bounds=True, at=None):
    """:class:`AlphaMax` of a prepared problem (see the module docstring).

    ``least_squares_bounds=False`` skips the cheap bounds and orders the
    cone programs by the gated bound only (``benchmarks/bench_alpha_max.py``
    compares the two).  With ``at``, only whether zero is optimal at
    ``alpha = at`` is wanted: the cone programs stop once a lower bound
    exceeds ``at`` (it is not) or every remaining upper bound is at most
    ``at`` (it is); ``value`` is then a certified upper bound, not the exact
    ``alpha_max``.
    """
    from .solvers import _in_row_space

    # Wide or collinear data: the blocks' cone programs in the row space of
    # X (exact, as for the solver; dual norms are the same there), the
    # direction lifted back.
    op_r, _, basis = _in_row_space(op, None)
    if basis is not None:
        details = _alpha_max_details(op_r, loss, Y, w, fit_intercept,
                                     least_squares_bounds=least_squares_bounds, at=at)
        details.direction = details.direction @ basis.T
        return details
    X = op.X
    n, d = X.shape
    C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
    NB = C * 2 * P
    b = (loss.optimal_intercept(np.zeros((n, C)), Y, w) if fit_intercept
         else np.zeros(C))
    V = -loss.gradient(np.zeros((n, C)) + b, Y, w)
    c_all = op.adjoint(V).reshape(NB, m, d)                     # c_j of every block
    gated = group_norms(c_all).max(axis=1)                      # (NB,)
    upper = gated.copy()
    lower = np.zeros(NB)
    lam1 = np.zeros((n, NB, m))
    lam2 = np.zeros((n, NB))
    best_lower = 0.0
    direction = np.zeros((NB, m, d))
    n_solved = 0

    def offer(beta, U, e1, w2):
        """A candidate direction of block ``beta``: raise its lower bound (and the best)."""
        nonlocal best_lower
        D = _unit_direction(X, U, e1, w2)
        if D is None:
            return
        lower[beta] = max(lower[beta], float(np.sum(c_all[beta] * D)), 0.0)
        if lower[beta] > best_lower:
            best_lower = lower[beta]
            direction[:] = 0.0
            direction[beta] = D

    # Cheap bounds first: the least-squares multipliers of every block give
    # an upper bound (any multipliers do), and its residual D, a feasible
    # direction of the block's cone (the NNLS conditions) with rate
    # <c, D> = |D|^2, a lower one.  Only the blocks whose upper bound exceeds
    # the best lower bound need their cone program.
    if least_squares_bounds:
        p1, p2, pn, resid = price_blocks(op, V, np.arange(NB), return_residual=True)
        ub = pn.max(axis=1)
        better = ub < upper
        upper[better] = ub[better]
        lam1[:, better] = p1[:, better]
        lam2[:, better] = p2[:, better]
        for beta in range(NB):
            offer(beta, resid[beta], *_block_rows(op, beta))
    order = np.argsort(-upper, kind="stable")
    for beta in order:
        # rho_beta <= upper[beta]: a block whose upper bound does not exceed
        # a value already attained cannot raise the maximum.
        if upper[beta] <= best_lower * (1.0 + 1e-12) or upper[beta] <= 1e-300:
            break
        if at is not None and (best_lower > at or upper[beta] <= at):
            break
        # The least-squares multipliers' support holds most of the rows
        # active at the block's optimum: the row generation starts there.
        u, ub, l1, l2 = block_dual_norm(op, V, beta,
                                        seed_rows=(lam1[:, beta] > 0, lam2[:, beta] > 0))
        n_solved += 1
        if u is None:
            continue                                             # keep the bound it had
        if ub < upper[beta]:
            upper[beta] = ub
            lam1[:, beta] = l1
            lam2[:, beta] = l2
        # The primal point, when feasible to rounding, is a unit-penalty
        # direction of the block: its rate is a certified lower bound.
        offer(beta, u, *_block_rows(op, beta))
    value = float(upper.max(initial=0.0))
    return AlphaMax(
        # Where the two bounds meet, rounding can put the direction's rate an
        # ulp above the multipliers' bound (numpy 2.5: 0.7289805591059226
        # against 0.7289805591059225): the bounds are equal then.
        value=value, lower=min(float(best_lower), value), block_values=upper.reshape(C, 2, P),
        gated=float(gated.max(initial=0.0)), intercept=b, dual_point=V,
        lam1=lam1.reshape((n,) + op.var_shape[:-1]),
        lam2=lam2.reshape((n,) + op.var_shape[:-2]),
        direction=direction.reshape(op.var_shape), n_solved=n_solved)


def alpha_max(X, y, arrangements, *, loss="squared", fit_intercept=False,
              sample_weight=None, return_details=False):
    """The smallest alpha at which the convex program's solution is zero.

    With ``V = -grad L(b*)`` at ``U = 0`` (``b*`` the optimal intercept, or 0
    without ``fit_intercept``)::

        alpha_max = max over blocks (o, sig, t) of
                    max { sum_j c_j . u_j : sum_j ||u_j||_2 <= 1, A_t u >= 0 },
        c_j = X^T (sig s_tj D1_tj D2_t V_o),

    where ``A_t u >= 0`` are the tuple's pattern constraints; equivalently
    the smallest achievable ``max_j ||X^T g_j||`` over multipliers
    ``lam >= 0`` (FORMULATION.md section 7).  ``U = 0`` is optimal exactly
    when ``alpha >= alpha_max``.  One small second-order cone program is
    solved per block (``m d`` variables, Clarabel, its rows added as its
    point violates them); blocks whose
    gated bound ``max_j ||c_j||`` cannot exceed a value already attained are
    skipped.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data as the tuples were computed on (with the ones column when the
        first layer has biases).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Encoded targets, as for :func:`convexrelu.solve_convex`.
    arrangements : Arrangements
        The activation-pattern tuples (sampled, trained or enumerated).
    loss : {"squared", "logistic", "cross_entropy"}, default="squared"
        The loss.
    fit_intercept : bool, default=False
        Whether the program has an unpenalised output intercept.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples (None: all equal); normalised to sum to one.
    return_details : bool, default=False
        Also return the :class:`AlphaMax` record (lower bound, per-block
        values, the certifying multipliers).

    Returns
    -------
    alpha_max : float
        Certified: at ``alpha_max`` the zero solution satisfies the dual
        feasibility condition with the returned multipliers; it exceeds the
        true value by about 1e-9 relative at most (``details.lower`` is a
        certified lower bound).
    details : AlphaMax
        Only when ``return_details`` is True.
    """
    check_fit_intercept(fit_intercept)
    _, Y, w, loss_obj, op = _prepare(X, y, arrangements, loss, sample_weight)
    details = _alpha_max_details(op, loss_obj, Y, w, bool(fit_intercept))
    return (details.value, details) if return_details else details.value


def alpha_grid(alpha_max_value, *, n_alphas=20, eps=1e-3):
    """A decreasing geometric grid from ``alpha_max`` to ``eps * alpha_max``.

    ``alphas[k] = alpha_max * eps^(k / (n_alphas - 1))``.  When
    ``alpha_max`` is zero (the intercept alone fits the data) every entry is
    a tiny positive floor.

    Parameters
    ----------
    alpha_max_value : float
        The largest alpha of the grid (``alpha_max``).
    n_alphas : int, default=20
        Number of alphas.
    eps : float, default=1e-3
        Ratio of the smallest to the largest alpha, in (0, 1).

    Returns
    -------
    ndarray of shape (n_alphas,)
    """
    if not isinstance(n_alphas, numbers.Integral) or isinstance(n_alphas, bool) or n_alphas < 1:
        raise ValueError(f"n_alphas must be a positive integer; got {n_alphas!r}.")
    if not isinstance(eps, numbers.Real) or not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1); got {eps!r}.")
    top = float(alpha_max_value)
    if not (np.isfinite(top) and top >= 0):
        raise ValueError(f"alpha_max must be a non-negative finite number; got "
                         f"{alpha_max_value!r}.")
    if not top > _ALPHA_FLOOR:
        return np.full(int(n_alphas), _ALPHA_FLOOR)
    if n_alphas == 1:
        return np.array([top])
    return top * np.power(float(eps), np.linspace(0.0, 1.0, int(n_alphas)))


@dataclass
class ConvexPath:
    """Solutions of the convex program along a decreasing grid of alphas.

    Attributes
    ----------
    alphas : ndarray of shape (n_alphas,)
        The grid, decreasing.
    objectives : ndarray of shape (n_alphas,)
        Primal objective at each alpha.
    dual_gaps : ndarray of shape (n_alphas,)
        The certificates ``objective - dual objective``.
    relative_gaps : ndarray of shape (n_alphas,)
    n_subnetworks : ndarray of int, shape (n_alphas,)
        Active sub-networks (non-zero blocks) at each alpha.
    converged : ndarray of bool, shape (n_alphas,)
    n_iter : ndarray of int, shape (n_alphas,)
    solve_times : ndarray of shape (n_alphas,)
        Seconds of each solve.
    results : list of ConvexResult
        The solutions (``u``, ``intercept``, certificate, ...).
    alpha_max : float or None
        ``alpha_max`` when the grid was computed from it.
    errors : list of (int, str)
        Index and message of every failed solve (``errors="skip"``); their
        entries of ``results`` are None, of the float arrays NaN, of
        ``n_subnetworks`` -1.
    """

    alphas: np.ndarray
    objectives: np.ndarray
    dual_gaps: np.ndarray
    relative_gaps: np.ndarray
    n_subnetworks: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    solve_times: np.ndarray
    results: list = field(default_factory=list)
    alpha_max: object = None
    errors: list = field(default_factory=list)

    def __len__(self):
        return len(self.alphas)

    @property
    def coefs(self):
        """``u`` of every alpha stacked, shape (n_alphas, C, 2, P, m, d).

        NaN for failed solves; None when every solve failed.
        """
        shape = next((r.u.shape for r in self.results if r is not None), None)
        if shape is None:
            return None
        return np.stack([np.full(shape, np.nan) if r is None else r.u
                         for r in self.results])

    @property
    def intercepts(self):
        """Intercepts, shape (n_alphas, C); NaN for failed solves, None if all failed."""
        shape = next((r.intercept.shape for r in self.results if r is not None), None)
        if shape is None:
            return None
        return np.stack([np.full(shape, np.nan) if r is None else r.intercept
                         for r in self.results])


def convex_path(X, y, arrangements, *, alphas=None, n_alphas=20, eps=1e-3,
                loss="squared", fit_intercept=False, solver=None, tol=1e-6,
                max_iter=1000, sample_weight=None, verbose=False, errors="raise",
                **solver_options):
    """Solve the convex program along a decreasing grid of alphas, warm-started.

    For ``alpha_1 > alpha_2 > ... > alpha_K`` solve::

        min_{u, b}  sum_i w_i loss(b + sum_{sig,t} sig F_t(u_{sig,t})_i, y_i)
                    + alpha_k * sum_{sig,t,j} ||u_{sig,t,j}||_2
        s.t. the pattern constraints of FORMULATION.md section 4,

    each solve starting from the solution of ``alpha_{k-1}``.  Without
    ``alphas`` the grid is geometric, ``alpha_k = alpha_max eps^((k-1)/(K-1))``
    with :func:`alpha_max` computed from the data; the first solution is
    then zero, certified by alpha_max's multipliers without a solve.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data as the tuples were computed on.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Encoded targets (see :func:`convexrelu.solve_convex`).
    arrangements : Arrangements
        The activation-pattern tuples (sampled, trained or enumerated).
    alphas : array-like, default=None
        The grid; sorted into decreasing order.  None: computed.
    n_alphas : int, default=20
        Grid size when ``alphas`` is None.
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` when ``alphas`` is None.
    loss : {"squared", "logistic", "cross_entropy"}, default="squared"
        The loss.
    fit_intercept : bool, default=False
        Fit an unpenalised output intercept.
    solver : str, default=None
        Passed to :func:`convexrelu.solve_convex` (None: the default solver).
    tol : float, default=1e-6
        Target relative duality gap of every solve, in (0, 1).
    max_iter : int, default=1000
        Iteration limit of the solver (working-set rounds of the fast solver).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples (None: all equal); normalised to sum to one.
    verbose : bool, default=False
        Print one line per alpha.
    errors : {"raise", "skip"}, default="raise"
        What a failing solve does: raise, or (``"skip"``) leave ``None`` in
        ``results`` and NaN in the arrays for that alpha and go on from the
        last solution (the behaviour of ``GridSearchCV(error_score=nan)``).
    **solver_options
        Passed to the solver.

    Returns
    -------
    ConvexPath
        ``alphas`` (decreasing), ``objectives``, ``dual_gaps`` (the
        certificates), ``n_subnetworks`` and the ``results``.
    """
    X, Y, w, loss_obj, op = _prepare(X, y, arrangements, loss, sample_weight)
    if errors not in ("raise", "skip"):
        raise ValueError(f'errors must be "raise" or "skip"; got {errors!r}.')
    # Checked here too: alphas above alpha_max are never solved, and with
    # errors="skip" a bad parameter would only be a failure per alpha.
    check_solve_params(tol, max_iter)
    check_fit_intercept(fit_intercept)
    _resolve_solver(solver)
    exact_max = None
    if alphas is None:
        amax = exact_max = _alpha_max_details(op, loss_obj, Y, w, bool(fit_intercept))
        alphas = alpha_grid(amax.value, n_alphas=n_alphas, eps=eps)
    else:
        alphas = np.asarray(alphas, dtype=float).ravel()
        if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
            raise ValueError("alphas must be a non-empty array of positive finite numbers.")
        alphas = np.sort(alphas)[::-1]
        # A given grid (a cross-validation fold's, from the full data's
        # alpha_max) may start where this data's solution is zero: certified
        # by multipliers instead of solved.  An interior point there returns
        # 1e-9-sized groups that stall the next alpha's warm start.
        amax = _alpha_max_details(op, loss_obj, Y, w, bool(fit_intercept), at=alphas[0])
    sw = None if sample_weight is None else w
    results, failures = [], []
    warm = None
    for k, alpha in enumerate(alphas):
        start = time.perf_counter()
        try:
            res = None
            if alpha >= amax.value:
                # Zero is optimal here, certified by alpha_max's multipliers;
                # a certificate that misses tol (an intercept off its
                # optimum) leaves the alpha to the solver, which warns.
                res = _zero_result(op, loss_obj, Y, w, amax, float(alpha), arrangements,
                                   fit_intercept, tol)
                if not res.converged:
                    res = None
            if res is None:
                res = solve_convex(X, Y, arrangements, float(alpha), loss=loss_obj,
                                   fit_intercept=fit_intercept, solver=solver, tol=tol,
                                   max_iter=max_iter, sample_weight=sw, warm_start=warm,
                                   verbose=False, **solver_options)
        except Exception as exc:
            if errors == "raise":
                raise
            results.append(None)
            failures.append((k, f"{type(exc).__name__}: {exc}",
                             time.perf_counter() - start))
            if verbose:
                print(f"[path] {k + 1:3d}/{len(alphas)}  alpha {alpha:.4e}  failed: {exc}")
            continue
        results.append(res)
        warm = res
        if verbose:
            print(f"[path] {k + 1:3d}/{len(alphas)}  alpha {alpha:.4e}  obj "
                  f"{res.objective:.10e}  gap {res.relative_gap:.1e}  "
                  f"K {res.n_subnetworks:4d}  {res.solve_time:6.2f}s")

    def field_of(name, missing, dtype=float):
        return np.array([missing if r is None else getattr(r, name) for r in results],
                        dtype=dtype)

    solve_times = field_of("solve_time", 0.0)
    for k, _, seconds in failures:
        solve_times[k] = seconds
    return ConvexPath(
        alphas=np.asarray(alphas),
        objectives=field_of("objective", np.nan),
        dual_gaps=field_of("dual_gap", np.nan),
        relative_gaps=field_of("relative_gap", np.nan),
        n_subnetworks=field_of("n_subnetworks", -1, int),
        converged=field_of("converged", False, bool),
        n_iter=field_of("n_iter", 0, int),
        solve_times=solve_times, results=results,
        alpha_max=None if exact_max is None else exact_max.value,
        errors=[(k, msg) for k, msg, _ in failures])


def _zero_result(op, loss, Y, w, amax, alpha, arrangements, fit_intercept, tol):
    """The ConvexResult of ``U = 0`` at ``alpha >= alpha_max``, with its certificate.

    The multipliers of :class:`AlphaMax` make every block's dual constraint
    hold at ``alpha_max <= alpha``, so the dual point ``V = -grad L(b*)`` is
    feasible and the gap is the rounding of ``L(b*) - (-L*(-V))`` (zero).
    ``converged`` compares that gap with ``tol`` as the solvers do: it is
    no bound (infinite) when the intercept ``b*`` missed its optimum.
    """
    U = op.zeros()
    start = time.perf_counter()
    cert = duality_gap(op, loss, Y, w, U, alpha, intercept=amax.intercept,
                       fit_intercept=fit_intercept, lam1=amax.lam1, lam2=amax.lam2)
    return ConvexResult(
        u=U, intercept=cert.intercept, objective=cert.primal, dual_objective=cert.dual,
        dual_gap=cert.gap, relative_gap=cert.relative_gap,
        constraint_violation=cert.constraint_violation, n_iter=0,
        converged=bool(cert.relative_gap <= tol),
        dual_point=cert.dual_point, lam1=cert.lam1, lam2=cert.lam2,
        arrangements=arrangements, alpha=float(alpha), loss=loss.name,
        fit_intercept=bool(fit_intercept), solver="alpha_max",
        solve_time=time.perf_counter() - start)

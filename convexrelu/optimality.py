"""A lower bound on the *non-convex* training optimum, and the optimality gap.

Why a dual point bounds the non-convex problem
----------------------------------------------
Let ``T`` be the complete tuple set of :func:`convexrelu.enumerate_arrangements`
and ``p_T`` the optimum of the convex program of FORMULATION.md section 4 over
``T``.  Every network with any number ``K`` of sub-networks maps to a
feasible point of that program with an objective no larger than its own
(each sub-network lies in the cone ``Q_t`` of some ``t`` in ``T``, and
``sum_j ||w1_j|| |w2_j| |w3| <= ||W1||_F ||w2|| |w3|`` by Cauchy-Schwarz), so

    p_T  <=  p_nonconvex(K)      for every K.

By weak duality (FORMULATION.md section 7) any ``V`` (``sum_i V_i = 0`` with
an unpenalised intercept) for which every group ``(o, sig, t, j)``, ``t`` in
``T``, admits multipliers ``lam1, lam2 >= 0`` with

    || X^T g ||_2 <= alpha,
    g = sig s_tj D1_tj D2_t V_o + (2 D1_tj - 1) lam1 + s_tj D1_tj (2 D2_t - 1) lam2,

has ``-L*(-V) <= p_T``.  Hence ``lower_bound = -L*(-V) <= p_nonconvex``.

The multipliers of different blocks ``(o, sig, t)`` are independent, so the
smallest achievable ratio of one block is the small second-order cone program

    r_b(V) = min_{lam1, lam2 >= 0}  max_j || X^T g_bj || / alpha,

and ``R = max_b r_b`` is homogeneous of degree one in ``V``: every ``c V``
with ``0 <= c <= 1 / R`` is feasible.  The bound is the best such ``c``
(closed form for squared loss; a bounded scalar search otherwise, with
``c <= 1`` so that ``c V`` stays in the conjugate's domain).

How ``r_b`` is computed cheaply: first with ``lam = 0`` (closed form), then
with the solver's own multipliers for tuples the fit was solved on; both give
upper bounds on ``r_b``.  Blocks whose bound is still above 1 are refined
lazily, worst bound first, a chunk at a time: a few vectorised
projected-gradient steps on the least squares of the multipliers, then
non-negative least squares (the sum of squares over the block's neurons;
exact for ``m = 1``), both upper bounds again, then the cone program,
batched into CVXPY problems (``minimise sum_b tau_b`` separates into the
per-block problems).  A block whose bound is at most the largest exact
ratio found so far cannot raise ``R`` and is left as it is.  Whatever
multipliers come back, the ratio is re-evaluated in NumPy from them, so the
certificate never trusts a solver's accuracy, only its output.

"Exact" and "sampled"
---------------------
With the enumerated ``T`` the bound is a proof.  When enumeration is too
large, ``V`` is checked against a large random sample of tuples (plus those of
the fit); the number is then an estimate that could be too high, and
``exact`` is False.
"""

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar, nnls

from .arrangements import Arrangements, sample_arrangements
from .duality import (INTERCEPT_RTOL, intercept_residual, output_factor, relative_gap,
                      squared_ray_scale)
from .enumeration import TooManyPatternsError, canonical_tuples, enumerate_arrangements
from .extraction import extract_network
from .losses import get_loss
from .operator import LiftedOperator
from .solvers import validate_problem_data

__all__ = ["OptimalityCertificate", "optimality_certificate"]

#: blocks whose ratio is at most this need no cone program
_RATIO_OK = 1.0 + 1e-9
#: lifted entries (n * C * 2 * P * m) handled per NumPy chunk
_CHUNK_ENTRIES = 2_000_000


@dataclass
class OptimalityCertificate:
    """Bounds on the optimum of the non-convex training objective.

    Attributes
    ----------
    lower_bound : float
        ``-L*(-c V)``: a lower bound on the non-convex optimum for any number
        of sub-networks (a proof when ``exact`` is True).
    upper_bound : float
        Non-convex objective of the network (the extracted one by default).
    gap : float
        ``upper_bound - lower_bound``.
    relative_gap : float
        ``gap / |upper_bound|``, zero when the gap is within rounding
        (:func:`convexrelu.duality.relative_gap`).
    exact : bool
        True when ``V`` was checked against every tuple (enumeration); False
        when against a random sample.
    n_tuples_checked : int
        Tuples ``(D1, s, D2)`` checked (each gives ``2 * n_outputs`` blocks).
    max_ratio : float
        ``R``: the largest ``min_lam max_j ||X^T g|| / alpha`` over the checked
        blocks at the unscaled ``V = -grad L``.
    dual_scale : float or ndarray of shape (n_outputs,)
        The factor ``c`` applied to ``V``; feasibility needs ``c <= 1 / R``.
        One per output for the squared loss with several outputs, each
        bounded by that output's own largest ratio.
    n_cone_programs : int
        Blocks whose ratio was refined by the multiplier cone program (the
        others were settled by the closed form or the fit's multipliers, or
        could not change the maximum).
    dual_point : ndarray of shape (n_samples, n_outputs)
        The feasible dual point ``c V``.
    worst_tuple : int
        Index (in the checked tuple set) of the tuple attaining ``max_ratio``.
    """

    lower_bound: float
    upper_bound: float
    gap: float
    relative_gap: float
    exact: bool
    n_tuples_checked: int
    max_ratio: float
    dual_scale: float
    n_cone_programs: int
    dual_point: np.ndarray
    worst_tuple: int


def _tuple_keys(arr):
    P = arr.n_patterns
    keys = np.concatenate([arr.first.reshape(P, -1), arr.signs > 0, arr.second], axis=1)
    return [row.tobytes() for row in np.packbits(keys, axis=1)]


def _merge(a, b):
    """Tuples of ``a`` followed by those of ``b`` not in ``a`` up to neuron order."""
    b = canonical_tuples(b)
    seen = set(_tuple_keys(canonical_tuples(a)))
    keep = [i for i, k in enumerate(_tuple_keys(b)) if k not in seen]
    if not keep:
        return a
    return Arrangements(np.concatenate([a.first, b.first[keep]]),
                        np.concatenate([a.signs, b.signs[keep]]),
                        np.concatenate([a.second, b.second[keep]]))


def _block_ratios(op, V, alpha, lam1=None, lam2=None):
    """``max_j ||X^T g|| / alpha`` per block (C, 2, P) for given multipliers."""
    return op.dual_norms(V, lam1, lam2).max(axis=-1) / alpha


#: blocks whose NNLS bounds are computed before the next cone programs
_REFINE_CHUNK = 1000


def _block_data(arr, V, blocks):
    """Per block ``(o, sig, t)``: base (n, B, m), E1 (n, B, m), Q (n, B, m)."""
    o, sg, t = blocks[:, 0], blocks[:, 1], blocks[:, 2]
    sig = np.where(sg == 0, 1.0, -1.0)
    D1 = arr.first[t].transpose(1, 0, 2).astype(float)            # (n, B, m)
    s = arr.signs[t]                                                # (B, m)
    D2 = arr.second[t].T.astype(float)                              # (n, B)
    base = (sig[None, :, None] * s[None] * D1 * D2[:, :, None]
            * V[:, o][:, :, None])
    E1 = 2 * D1 - 1
    Q = s[None] * D1 * (2 * D2 - 1)[:, :, None]
    return base, E1, Q


def _gradient_ratios(X, arr, V, alpha, blocks, n_iter=6):
    """Per-block upper bounds on ``r_b``, all blocks at once (vectorised).

    Accelerated projected gradient on the least squares of
    :func:`_nnls_ratios`, ``n_iter`` steps of ``1 / L`` with
    ``L = 2 m ||X||_2^2`` (a bound on the squared norm of the multipliers'
    operator, whose entries are those of X times signs and zeros): any
    ``lam >= 0`` it reaches is feasible, so its ``max_j ||X^T g_j||`` bounds
    ``r_b`` from above.  Looser than the NNLS solution, but a vectorised
    pass over a thousand blocks costs about what NNLS costs on a few.
    """
    m = arr.n_hidden
    n, B = V.shape[0], len(blocks)
    base, E1, Q = _block_data(arr, V, blocks)
    step = 1.0 / (2 * m * np.linalg.norm(X, 2) ** 2)
    XT = np.ascontiguousarray(X.T)

    def residual(l1, l2):
        # (d, B m): every group's X^T g in one product
        return XT @ (base + E1 * l1 + Q * l2[:, :, None]).reshape(n, B * m)

    def bound(l1, l2):
        R = residual(l1, l2)
        return np.sqrt(np.einsum("ij,ij->j", R, R)).reshape(B, m).max(axis=1)

    l1 = np.zeros_like(base)
    l2 = np.zeros((n, B))
    y1, y2, t = l1, l2, 1.0
    for _ in range(n_iter):
        XR = (X @ residual(y1, y2)).reshape(n, B, m)
        n1 = np.maximum(y1 - step * E1 * XR, 0.0)
        n2 = np.maximum(y2 - step * (Q * XR).sum(axis=2), 0.0)
        t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        y1 = n1 + (t - 1) / t_new * (n1 - l1)
        y2 = n2 + (t - 1) / t_new * (n2 - l2)
        l1, l2, t = n1, n2, t_new
    return np.minimum(bound(l1, l2), bound(0 * l1, 0 * l2)) / alpha


def _nnls_ratios(X, arr, V, alpha, blocks):
    """Per-block upper bounds on ``r_b`` from non-negative least squares.

    ``min_{lam >= 0} sum_j ||X^T g_j||^2`` is an NNLS problem; its solution is
    a feasible multiplier, so the resulting ``max_j ||X^T g_j||`` bounds
    ``r_b`` from above (exactly ``r_b`` when m = 1, within a factor
    ``sqrt(m)`` otherwise).
    """
    n, d = X.shape
    m = arr.n_hidden
    base, E1, Q = _block_data(arr, V, blocks)
    out = np.empty(len(blocks))
    XT = X.T
    for b in range(len(blocks)):
        A = np.zeros((m * d, (m + 1) * n))
        for j in range(m):
            A[j * d:(j + 1) * d, j * n:(j + 1) * n] = XT * E1[:, b, j]
            A[j * d:(j + 1) * d, m * n:] = XT * Q[:, b, j]
        c = (XT @ base[:, b, :]).T.ravel()                           # (m d,)
        try:
            lam, _ = nnls(A, -c, maxiter=50 * A.shape[1])
        except RuntimeError:
            lam = np.zeros(A.shape[1])
        norms = np.linalg.norm((A @ lam + c).reshape(m, d), axis=1)
        out[b] = norms.max() / alpha
    return out


def _cone_program_ratios(X, arr, V, alpha, blocks, solver):
    """Per-block ``r_b`` by one batched SOCP; re-evaluated in NumPy.

    ``blocks`` rows are ``(o, sig, t)``.  Returns the ratios (len(blocks),).
    """
    import cvxpy as cp
    import scipy.sparse as sp

    n, d = X.shape
    m = arr.n_hidden
    B = len(blocks)
    base, E1, Q = _block_data(arr, V, blocks)
    rep = sp.kron(sp.eye(B), np.ones((1, m)), format="csc")         # B x Bm
    lam1 = cp.Variable((n, B * m), nonneg=True)
    lam2 = cp.Variable((n, B), nonneg=True)
    tau = cp.Variable(B)
    G = (base.reshape(n, B * m) + cp.multiply(E1.reshape(n, B * m), lam1)
         + cp.multiply(Q.reshape(n, B * m), lam2 @ rep))
    cons = [cp.norm(X.T @ G, 2, axis=0) <= tau @ rep]
    prob = cp.Problem(cp.Minimize(cp.sum(tau)), cons)
    opts = {}
    if solver.upper() == "CLARABEL":
        # the ratios are re-evaluated from the multipliers: make them accurate
        opts = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
    try:
        with warnings.catch_warnings():
            # "Solution may be inaccurate": harmless, the ratios below are
            # recomputed from whatever multipliers come back.
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=solver, **opts)
    except cp.error.SolverError:
        return np.full(B, np.inf)
    if lam1.value is None:
        return np.full(B, np.inf)
    L1 = np.maximum(np.asarray(lam1.value), 0).reshape(n, B, m)
    L2 = np.maximum(np.asarray(lam2.value), 0)
    Gv = base + E1 * L1 + Q * L2[:, :, None]
    norms = np.linalg.norm(np.einsum("nd,nbm->bmd", X, Gv), axis=-1)
    return norms.max(axis=1) / alpha


def _largest_scale(loss, R):
    """The largest feasible scale ``1 / R`` of ``V`` (no limit when ``R <= 0``,
    but for the squared loss, whose own maximiser along the ray is finite)."""
    if R > 0:
        return 1.0 / R
    return 1.0 if loss.name == "squared" else np.inf


def _best_scale(loss, V, Y, w, c_max):
    """``argmax_{0 <= c <= c_max} -L*(-c V)`` and its value."""
    if loss.name == "squared":
        c = float(squared_ray_scale(V, Y, w, c_max))
        return c, loss.dual_objective(c * V, Y, w)
    # -L*(-cV) is concave in c; c <= 1 keeps c V = c (-grad L) in the domain.
    hi = min(c_max, 1.0)
    best_c, best = hi, loss.dual_objective(hi * V, Y, w)
    if hi > 0:
        res = minimize_scalar(lambda c: -loss.dual_objective(c * V, Y, w),
                              bounds=(0.0, hi), method="bounded",
                              options={"xatol": 1e-12 * max(hi, 1.0)})
        if res.success and -res.fun > best:
            best_c, best = float(res.x), float(-res.fun)
    return best_c, best


def optimality_certificate(X, y, result, *, loss=None, n_hidden=None, alpha=None,
                           sample_weight=None, exact=None, max_patterns=10_000,
                           n_check=100_000, random_state=None, network=None,
                           bias_column=False, batch_size=200, max_cone_programs=None,
                           solver="CLARABEL"):
    """Lower and upper bounds on the optimum of the non-convex objective.

    ``upper_bound`` is the objective (FORMULATION.md section 2) of the
    network extracted from ``result`` (or of ``network``); ``lower_bound``
    is the dual value of ``c V``, ``V = -grad L`` at the fit's predictions,
    made feasible for every tuple of width ``n_hidden`` (see the module
    docstring for the proof).  ``gap = upper_bound - lower_bound >= 0`` then
    bounds how far the network is from the global optimum of the non-convex
    problem, for any number of sub-networks.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data exactly as given to :func:`convexrelu.solve_convex` (with the
        ones column when first-layer biases are used).
    y : array-like
        Targets as given to :func:`convexrelu.solve_convex`.
    result : ConvexResult
        A solution over any tuple set (sampled or enumerated).
    loss : str, default=None
        Defaults to ``result.loss``.
    n_hidden : int, default=None
        Width ``m`` of the non-convex problem; defaults to the width of
        ``result`` and may not be smaller.
    alpha : float, default=None
        Defaults to ``result.alpha``.
    sample_weight : array-like of shape (n_samples,), default=None
        As given to the solver.
    exact : bool or None, default=None
        True: enumerate every tuple (raises
        :class:`~convexrelu.enumeration.TooManyPatternsError`, a
        ``ValueError``, when the estimate exceeds ``max_patterns``).
        False: check ``n_check`` sampled tuples plus the fit's.  None: exact
        when affordable, else sampled.
    max_patterns : int, default=10_000
        Limit passed to :func:`convexrelu.enumerate_arrangements`.
    n_check : int, default=100_000
        Random networks drawn in sampled mode (duplicates are dropped).
    random_state : int, RandomState instance or None, default=None
        Seed of the sampled mode.
    network : ReLUNetwork, default=None
        Network whose objective is the upper bound; defaults to
        ``extract_network(result)``.
    bias_column : bool, default=False
        Whether the last column of ``X`` is the ones column that ``network``
        stores as ``intercepts_[0]`` (then it is given ``X[:, :-1]``).
    batch_size : int, default=200
        Blocks per batched cone program.
    max_cone_programs : int, default=None
        Stop refining after about this many blocks; the rest keep their
        multiplier-free ratio, a valid but larger bound (so the lower bound
        stays valid, only looser).  None refines every block that can matter.
    solver : str, default="CLARABEL"
        CVXPY solver of the multiplier cone programs.

    Returns
    -------
    OptimalityCertificate
    """
    loss_obj = get_loss(result.loss if loss is None else loss)
    alpha = float(result.alpha if alpha is None else alpha)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be positive; got {alpha!r}.")
    m_res = result.arrangements.n_hidden
    m = m_res if n_hidden is None else n_hidden
    if not isinstance(m, numbers.Integral) or m < m_res:
        raise ValueError(
            f"n_hidden must be an integer >= the fit's width {m_res}; got {n_hidden!r}.")
    X, Y, w, _ = validate_problem_data(X, y, loss_obj, sample_weight)
    n, C = Y.shape
    if result.arrangements.n_samples != n:
        raise ValueError("X, y and the result's arrangements must have the same rows.")
    if X.shape[1] != result.u.shape[-1]:
        raise ValueError(f"X has {X.shape[1]} columns but the result was solved on "
                         f"{result.u.shape[-1]}.")

    # The dual direction: minus the loss gradient at the fit's predictions.
    op_res = LiftedOperator(X, result.arrangements, n_outputs=C)
    F = op_res.predict(result.u) + result.intercept
    V = -loss_obj.gradient(F, Y, w)
    if result.fit_intercept and loss_obj.name == "squared":
        # The intercept's dual constraint sum_i V_i = 0, exactly (the conjugate
        # of the squared loss is finite wherever V_i = 0 at w_i = 0, so a shift
        # in proportion to w is harmless).
        V = V - w[:, None] * (V.sum(axis=0) / w.sum())

    # The tuples to check.
    if exact is None:
        try:
            check = enumerate_arrangements(X, m, max_patterns=max_patterns)
            is_exact = True
        except TooManyPatternsError:
            check, is_exact = None, False
    elif exact:
        check, is_exact = enumerate_arrangements(X, m, max_patterns=max_patterns), True
    else:
        check, is_exact = None, False
    if check is None:
        check = sample_arrangements(X, int(n_check), m, random_state=random_state)
        if m == m_res:
            check = _merge(result.arrangements, check)
    P = check.n_patterns

    # Multipliers of the solved tuples, rescaled to pair with V.
    reuse = {}
    if m == m_res and result.lam1 is not None and result.lam2 is not None:
        dp = np.asarray(result.dual_point, float)
        # (per output: a squared loss's outputs are scaled each by its own ratio)
        vv = np.sum(V * V, axis=0)
        c_res = np.sum(dp * V, axis=0) / np.where(vv > 0, vv, 1.0)
        if np.all(c_res[vv > 0] > 0) and np.any(vv > 0):
            c_res[vv == 0] = 1.0
            reuse = {k: i for i, k in enumerate(_tuple_keys(result.arrangements))}
    check_keys = _tuple_keys(check)

    ratios = np.zeros((C, 2, P))
    chunk = max(1, _CHUNK_ENTRIES // max(1, n * C * 2 * m))
    for lo in range(0, P, chunk):
        idx = np.arange(lo, min(P, lo + chunk))
        sub = check.subset(idx)
        op = LiftedOperator(X, sub, n_outputs=C)
        r = _block_ratios(op, V, alpha)
        hit = [(a, reuse[check_keys[i]]) for a, i in enumerate(idx) if check_keys[i] in reuse]
        if hit:
            loc, res_idx = map(np.asarray, zip(*hit))
            l1 = result.lam1[:, :, :, res_idx] / output_factor(c_res, 5)
            l2 = result.lam2[:, :, :, res_idx] / output_factor(c_res, 4)
            op_hit = LiftedOperator(X, sub.subset(loc), n_outputs=C)
            r_hit = _block_ratios(op_hit, V, alpha, l1, l2)
            r[:, :, loc] = np.minimum(r[:, :, loc], r_hit)
        ratios[:, :, idx] = r

    # The remaining violated blocks are refined lazily, worst bound first, a
    # chunk at a time: NNLS bounds, then the exact cone program for those
    # still above every exact ratio found so far.  A block whose bound is at
    # most that largest exact ratio cannot raise the maximum, so it needs
    # neither (on sampled checks, 98684 tuples on 40 rows, almost all).
    bad = np.argwhere(ratios > _RATIO_OK)
    bad = bad[np.argsort(-ratios[bad[:, 0], bad[:, 1], bad[:, 2]], kind="stable")]
    refined_max, n_cone, capped = 0.0, 0, False

    def at(blocks):
        return blocks[:, 0], blocks[:, 1], blocks[:, 2]

    size = max(1, min(_REFINE_CHUNK, _CHUNK_ENTRIES // max(1, 4 * n * m)))
    for lo in range(0, len(bad), size):
        chunk = bad[lo:lo + size]
        floor = max(refined_max, _RATIO_OK)
        if ratios[at(chunk[:1])][0] <= floor:
            break          # sorted: every later bound is at most this one
        chunk = chunk[ratios[at(chunk)] > floor]
        ratios[at(chunk)] = np.minimum(ratios[at(chunk)],
                                       _gradient_ratios(X, check, V, alpha, chunk))
        chunk = chunk[ratios[at(chunk)] > floor]
        ratios[at(chunk)] = np.minimum(ratios[at(chunk)],
                                       _nnls_ratios(X, check, V, alpha, chunk))
        if m == 1:
            # NNLS is the exact per-block problem for one neuron.
            refined_max = max(refined_max, float(ratios[at(chunk)].max(initial=0.0)))
            continue
        cand = chunk[ratios[at(chunk)] > floor]
        cand = cand[np.argsort(-ratios[at(cand)], kind="stable")]
        for b0 in range(0, len(cand), batch_size):
            blk = cand[b0:b0 + batch_size]
            cur = ratios[at(blk)]
            if cur[0] <= max(refined_max, _RATIO_OK):
                break
            if capped or (max_cone_programs is not None and n_cone >= max_cone_programs):
                capped = True
                break      # the unrefined blocks keep their (valid, larger) bounds
            r = np.minimum(cur, _cone_program_ratios(X, check, V, alpha, blk, solver))
            ratios[at(blk)] = r
            refined_max = max(refined_max, float(r.max()))
            n_cone += len(blk)

    R = float(ratios.max(initial=0.0))
    worst = int(np.unravel_index(np.argmax(ratios), ratios.shape)[2]) if P else -1
    if loss_obj.separable and C > 1:
        # Each output's blocks constrain its own column of V and the dual is a
        # sum over outputs: one scale per output (as in duality_gap).  The
        # lazy refinement above stops at the largest exact ratio overall, so
        # an output's own maximum may stay a (valid) upper bound.
        scales = [_best_scale(loss_obj, V[:, [o]], Y[:, [o]], w,
                              _largest_scale(loss_obj, float(ratios[o].max(initial=0.0))))
                  for o in range(C)]
        c = np.array([sc for sc, _ in scales])
        lower = float(sum(value for _, value in scales))
    else:
        c, lower = _best_scale(loss_obj, V, Y, w, _largest_scale(loss_obj, R))
    if result.fit_intercept and intercept_residual(V, F, Y, w) > INTERCEPT_RTOL:
        # The result's intercept is not optimal for its weights (a fit that
        # did not converge): V breaks sum_i V_i = 0, and bounds nothing.
        lower = -np.inf

    if network is None:
        network = extract_network(result)
        X_net = X
    else:
        X_net = X[:, :-1] if bias_column else X
    upper = float(network.objective(X_net, y, alpha, sample_weight=sample_weight))
    gap = upper - lower
    return OptimalityCertificate(
        lower_bound=float(lower), upper_bound=upper, gap=float(gap),
        relative_gap=float(relative_gap(loss_obj, Y, w, upper, lower)),
        exact=bool(is_exact), n_tuples_checked=int(P), max_ratio=R,
        dual_scale=c if np.ndim(c) else float(c), n_cone_programs=int(n_cone),
        dual_point=V * output_factor(c, 2), worst_tuple=worst)

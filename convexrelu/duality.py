"""Dual points and the duality gap of the convex program (FORMULATION.md 7).

For a primal point ``(U, b)`` with prediction ``F``, take ``V = -grad L(F)``
and constraint multipliers ``lam1, lam2 >= 0``.  The Lagrangian separates by
group; the dual point is feasible when, for every group ``g = (o, sig, t, j)``,

    || X^T ( sig s_tj D1_tj D2_t V_o + (2 D1_tj - 1) lam1_g
             + s_tj D1_tj (2 D2_t - 1) lam2_{o,sig,t} ) ||_2  <=  alpha,

and, with an unpenalised intercept, ``sum_i V_io = 0``.  The constraints are
homogeneous, so the multipliers add nothing to the dual objective, which is
``-L*(-V)``.  Scaling ``(V, lam)`` by ``1 / max(1, ratio)``, where ``ratio``
is the largest left-hand side over ``alpha``, makes any pair feasible (every
conjugate domain here is convex and contains 0), and

    gap = primal(U, b) - dual(V / ratio)  >=  0

bounds the distance of the primal objective to the optimum.

The intercept's constraint is met by re-optimising ``b`` for ``U``
(:meth:`~convexrelu.losses.Loss.optimal_intercept`), and checked: a ``V``
whose column sums are not zero to rounding
(:func:`intercept_residual` above :data:`INTERCEPT_RTOL`) gives no lower
bound at all, and the certificate then says so (``dual = -inf``).
"""

from dataclasses import dataclass

import numpy as np

from .operator import group_norms

__all__ = ["Certificate", "duality_gap", "intercept_residual", "primal_objective",
           "relative_gap"]

#: A duality gap within this many units of rounding of the objectives'
#: scale, times the square root of the number of samples, counts as zero
#: (see :func:`relative_gap`).
GAP_ROUNDING_ULPS = 16

#: The largest :func:`intercept_residual` taken for ``sum_i V_i = 0``.
#: Rounding leaves at most ``n eps`` of it (1e-10 at a million samples);
#: the intercept's Newton method ends at 1e-14 or below.
INTERCEPT_RTOL = 1e-9


@dataclass
class Certificate:
    """A primal value, a feasible dual value and what they were computed from.

    Attributes
    ----------
    primal, dual, gap : float
        ``gap = primal - dual``; ``relative_gap = gap / |primal|``, zero when
        the gap is within rounding (:func:`relative_gap`).
    relative_gap : float
    intercept : ndarray of shape (n_outputs,)
        The intercept the primal was evaluated at.
    dual_point : ndarray of shape (n_samples, n_outputs)
        The feasible (scaled) dual point ``V``.
    lam1, lam2 : ndarray or None
        The scaled multipliers.
    dual_scale : float or ndarray of shape (n_outputs,)
        The factor the raw pair ``(-grad L, lam)`` was multiplied by: one per
        output for a loss that is a sum over outputs (squared) with several
        outputs, whose columns of ``V`` are constrained apart.
    constraint_violation : float
        Largest relative violation of the pattern constraints by ``U``.
    intercept_residual : float
        :func:`intercept_residual` of the unscaled ``V`` (zero without an
        intercept); above :data:`INTERCEPT_RTOL` the intercept is not at its
        optimum, ``V`` is not dual feasible, and ``dual`` is ``-inf``.
    """

    primal: float
    dual: float
    gap: float
    relative_gap: float
    intercept: np.ndarray
    dual_point: np.ndarray
    lam1: object
    lam2: object
    dual_scale: float
    constraint_violation: float
    intercept_residual: float = 0.0


def primal_objective(op, loss, Y, w, U, intercept, alpha):
    """``L(M(X U) + b) + alpha * sum_g ||u_g||``."""
    F = op.predict(U) + intercept
    return loss.value(F, Y, w) + alpha * float(group_norms(U).sum())


def duality_gap(op, loss, Y, w, U, alpha, *, intercept=None, fit_intercept=False,
                lam1=None, lam2=None, Z=None, return_multipliers=True, dual_ratio=None):
    """Certificate of a primal point.

    Parameters
    ----------
    op : LiftedOperator
        The lifted operator of the data and tuples.
    loss : Loss
        The loss.
    Y : ndarray of shape (n_samples, n_outputs)
        Encoded targets.
    w : ndarray of shape (n_samples,)
        Normalised sample weights (sum to one).
    U : ndarray of shape (C, 2, P, m, d)
        The primal point, the convex program's weights.
    alpha : float
        Regularisation strength.
    intercept : ndarray of shape (C,), default=None
        Used when ``fit_intercept`` is False (zero when None).  With
        ``fit_intercept`` the intercept is re-optimised exactly for ``U``,
        which makes ``sum_i V_i = 0`` hold.
    fit_intercept : bool, default=False
        Fit an unpenalised output intercept.
    lam1 : ndarray of shape (n, C, 2, P, m), default=None
        Multipliers of ``(2 D1 - 1) X u >= 0`` (zero when None).
    lam2 : ndarray of shape (n, C, 2, P), default=None
        Multipliers of the second-layer constraints (zero when None).
    Z : ndarray, default=None
        ``X U`` if already computed (otherwise only the non-zero blocks of
        ``U`` are multiplied out).
    return_multipliers : bool, default=True
        Put the scaled multipliers on the certificate (a copy of each unless
        the scale is one, the size of the lifted problem); False leaves
        ``lam1`` and ``lam2`` None, for callers that only need the numbers.
    dual_ratio : float, default=None
        The largest ``||X^T g_g|| / alpha`` of ``V = -grad L`` at this point
        with the caller's multipliers, when the caller holds them in another
        form than dense arrays (the fast solver's
        :class:`~convexrelu.solvers._multipliers.BlockMultipliers`); then
        ``lam1`` and ``lam2`` are not used for it.

    Returns
    -------
    Certificate
    """
    F0 = op.predict(U) if Z is None else op.predict_from_z(Z)
    C = op.n_outputs
    if fit_intercept:
        b = loss.optimal_intercept(F0, Y, w, start=intercept)
    else:
        b = np.zeros(C) if intercept is None else np.asarray(intercept, float)
    F = F0 + b
    primal = loss.value(F, Y, w) + alpha * float(group_norms(U).sum())
    V = -loss.gradient(F, Y, w)
    residual = intercept_residual(V, F, Y, w) if fit_intercept else 0.0
    if dual_ratio is not None:
        ratio = float(dual_ratio) if alpha > 0 else np.inf
    else:
        norms = op.dual_norms(V, lam1, lam2)
        if loss.separable and C > 1:
            # Each output's blocks constrain its own column of V, and the
            # dual objective is a sum over outputs: each column is scaled by
            # its own ratio.  One scale for all would cost every output the
            # worst one's (first order in it: an output at ratio 1 + 2e-6
            # raised the gap of five otherwise solved ones to 1.9e-6).
            ratio = (norms.reshape(C, -1).max(axis=1, initial=0.0) / alpha if alpha > 0
                     else np.full(C, np.inf))
        else:
            ratio = float(norms.max(initial=0.0)) / alpha if alpha > 0 else np.inf
    scale = np.where(np.isfinite(ratio), 1.0 / np.maximum(ratio, 1.0), 0.0)
    if loss.name == "squared":
        # The dual is a concave quadratic along the ray t V (each output's,
        # with a scale per output): take its best feasible t.
        scale = squared_ray_scale(V, Y, w, scale, axis=0 if np.ndim(scale) else None)
    scale = float(scale) if np.ndim(scale) == 0 else scale
    dual = loss.dual_objective(V * output_factor(scale, 2), Y, w)
    if residual > INTERCEPT_RTOL:
        # The Lagrangian's term b^T sum_i V_i is then unbounded below in b.
        dual = -np.inf
    gap = primal - dual
    return Certificate(
        primal=primal, dual=dual, gap=gap, relative_gap=relative_gap(loss, Y, w, primal, dual),
        intercept=b, dual_point=V * output_factor(scale, 2),
        # (unscaled multipliers are passed on as they are, not copied)
        lam1=_scaled(lam1, scale, return_multipliers),
        lam2=_scaled(lam2, scale, return_multipliers),
        dual_scale=scale, constraint_violation=op.max_violation(U, Z),
        intercept_residual=residual)


def intercept_residual(V, F, Y, w):
    """``max_o |sum_i V_io| / sum_i w_i (1 + |Y_io| + |F_io|)``: the
    intercept's optimality condition (its dual constraint ``sum_i V_i = 0``,
    the loss's gradient in ``b``), relative to a bound on the size of the
    terms summed (``|V_io| <= w_i`` for the logistic and cross-entropy
    losses, ``w_i |F_io - Y_io|`` for the squared loss), so that rounding
    stays below ``n eps`` where the fit is perfect and ``V`` itself is
    rounding.
    """
    ref = np.sum(w[:, None] * (1.0 + np.abs(Y) + np.abs(F)), axis=0)
    return float(np.max(np.abs(V.sum(axis=0)) / np.maximum(ref, np.finfo(float).tiny),
                        initial=0.0))


def relative_gap(loss, Y, w, primal, dual):
    """``(primal - dual) / |primal|``, zero when the gap is within rounding.

    Both objectives are sums of terms the size of the loss of the zero
    prediction ``L(0)`` (``y^2 / 2`` for the squared loss), summed over
    ``n`` samples, so their difference carries a rounding error of order
    ``sqrt(n) eps L(0)``.  A gap below ``GAP_ROUNDING_ULPS sqrt(n) eps
    max(|primal|, |dual|, L(0))`` is that error, not a distance to the
    optimum: the relative gap is then zero.  Without the floor, a constant
    target fitted by the intercept alone (primal and dual both at rounding
    level) has a relative gap of order one or of either sign (1, or -2e14
    with 20000 samples), which reported a solved problem as unconverged.
    """
    gap = primal - dual
    if not np.isfinite(gap):
        return float(gap)           # no dual bound (intercept_residual)
    ref = max(abs(primal), abs(dual), float(loss.value(np.zeros_like(Y, dtype=float), Y, w)))
    if abs(gap) <= GAP_ROUNDING_ULPS * np.sqrt(len(Y)) * np.finfo(float).eps * ref:
        return 0.0
    return gap / max(abs(primal), np.finfo(float).tiny)


def _scaled(lam, scale, wanted):
    if lam is None or not wanted:
        return None
    return lam if np.all(scale == 1.0) else lam * output_factor(scale, lam.ndim)


def squared_ray_scale(V, Y, w, c_max, axis=None):
    """The ``t`` in ``[0, c_max]`` maximising the squared loss's dual along
    ``t V``, ``t <V, Y> - t^2 sum_i |V_i|^2 / (2 w_i)``: a concave quadratic,
    so ``<V, Y> / sum |V_i|^2 / w_i`` clipped (``c_max`` where the quadratic
    is flat).  With ``axis=0``, one ``t`` per output (``c_max`` one per
    output too)."""
    pos = w > 0
    quad = np.sum(V[pos] ** 2 / w[pos, None], axis=axis)
    lin = np.sum(V * Y, axis=axis)
    curved = quad > 0
    return np.where(curved, np.clip(lin / np.where(curved, quad, 1.0), 0.0, c_max), c_max)


def output_factor(scale, ndim):
    """``scale`` (a float, or one per output) broadcastable against an array
    of ``ndim`` dimensions whose axis 1 is the outputs (``V``, ``lam1``, ``lam2``)."""
    return scale if np.ndim(scale) == 0 else np.reshape(scale, (-1,) + (1,) * (ndim - 2))

"""Smooth convex losses: value, gradient, convex conjugate, CVXPY expression.

Every loss acts on a prediction matrix ``F`` of shape (n_samples, n_outputs)
and is averaged with normalised sample weights ``w`` (``w >= 0``,
``sum(w) = 1``; ``w = 1/n`` without sample weights)::

    L(F) = sum_i w_i * loss(F_i, Y_i)

The duality gap of the convex program needs ``-L*(-V)``, the concave dual
objective at a dual point ``V = -grad L(F)`` (FORMULATION.md section 7);
:meth:`Loss.dual_objective` returns it.  Solvers only ever call this
interface, so a new loss needs no solver change.
"""

import numpy as np
from scipy.special import expit, log_expit, xlogy

__all__ = ["Loss", "SquaredLoss", "LogisticLoss", "CrossEntropyLoss", "get_loss"]


class Loss:
    """Interface of a loss; see the module docstring for the conventions."""

    name = None
    #: bound on the second derivative of loss(., y) w.r.t. one prediction
    curvature = 1.0
    #: whether the loss is a sum of one term per output (the program then
    #: splits into one independent program per output)
    separable = False
    #: whether adding one constant to every output leaves the loss unchanged
    #: (softmax): the intercepts then have a flat direction
    shift_invariant = False

    def value(self, F, Y, w):
        raise NotImplementedError

    def gradient(self, F, Y, w):
        """d L / d F, shape of ``F``."""
        raise NotImplementedError

    def hessian(self, F, Y, w):
        """Per-sample Hessians ``d^2 L / dF_i^2``, shape (n, C, C)."""
        raise NotImplementedError

    def hessian_parts(self, F, Y, w):
        """``(D, R)`` with ``hessian[i] = diag(D[i]) - R[i] R[i]^T``, or None.

        ``D`` has shape (n, C); ``R`` has shape (n, C) (rank one) or is None
        (diagonal Hessians).  Newton matrices then cost one product per
        output plus one for ``R``, instead of one per pair of outputs.
        """
        return None

    def dual_objective(self, V, Y, w):
        """``-L*(-V)``; ``V`` must lie in the conjugate's domain."""
        raise NotImplementedError

    def cvxpy_expression(self, F, Y, w):
        """The loss of a CVXPY prediction expression ``F``."""
        raise NotImplementedError

    def encode_targets(self, y):
        """Targets as the float matrix the other methods expect."""
        return np.asarray(y, dtype=float)

    def optimal_intercept(self, F0, Y, w, start=None):
        """``argmin_b L(F0 + b)`` by Newton's method (the objective is convex in b).

        Directions of numerically zero curvature (a class at probability ~0
        far from its optimum, where the loss is linear in its intercept)
        take a gradient step instead, of the intercepts' own size.
        """
        C = F0.shape[1]
        b = np.zeros(C) if start is None else np.array(start, dtype=float)
        # Below this a gradient along a flat direction is rounding.
        flat_grad = 1e-12 * float(np.sum(w))
        for _ in range(100):
            F = F0 + b
            grad = self.gradient(F, Y, w).sum(axis=0)
            hess = self._intercept_hessian(F, Y, w)
            if self.shift_invariant:
                # Without curvature along the flat direction the numerically
                # singular Hessian turns rounding into unit steps along it,
                # and the step never becomes small.
                hess = hess + flat_direction_curvature(hess)
            lam, vecs = np.linalg.eigh(hess)
            g = vecs.T @ grad
            curved = lam > max(lam[-1], 0.0) * C * np.finfo(float).eps
            step = vecs[:, curved] @ (g[curved] / lam[curved])
            cap = 1 + np.max(np.abs(b))
            linear = ~curved & (np.abs(g) > flat_grad)
            if np.any(linear):
                # (From intercepts of +-24 a softmax class at probability
                # 1e-21 got no step along it, and the loss stayed at 2.3
                # against 0.8; an unconditioned Newton step took it to 2e5.)
                down = vecs[:, linear] @ g[linear]
                step = step + down * (cap / np.max(np.abs(down)))
            size = np.max(np.abs(step)) / cap
            if size > 1:
                step, size = step / size, 1.0
            b_new = b - step
            if size > 1e-6:
                # Newton on these losses can overshoot far from the optimum.
                # (Small steps are in the quadratic regime, where the values
                # differ by rounding only and a value test would reject them.)
                t = 1.0
                f_old = self.value(F, Y, w)
                f_new = self.value(F0 + b_new, Y, w)
                while f_new > f_old + 1e-14 * abs(f_old) and t > 1e-10:
                    t *= 0.5
                    b_new = b - t * step
                    f_new = self.value(F0 + b_new, Y, w)
                if f_new > f_old + 1e-14 * abs(f_old):
                    break           # a descent direction that no longer descends: rounding
            b = b_new
            if size <= 1e-13:
                break
        return b

    def _intercept_hessian(self, F, Y, w):
        raise NotImplementedError


class SquaredLoss(Loss):
    """``loss(f, y) = ||f - y||^2 / 2`` summed over outputs."""

    name = "squared"
    curvature = 1.0
    separable = True

    def value(self, F, Y, w):
        R = F - Y
        return 0.5 * float(np.sum(w[:, None] * R * R))

    def gradient(self, F, Y, w):
        return w[:, None] * (F - Y)

    def hessian(self, F, Y, w):
        return w[:, None, None] * np.eye(F.shape[1])[None]

    def hessian_parts(self, F, Y, w):
        return np.repeat(w[:, None], F.shape[1], axis=1), None

    def dual_objective(self, V, Y, w):
        # -L*(-V) = sum_i V_i.Y_i - ||V_i||^2 / (2 w_i); w_i = 0 forces V_i = 0.
        pos = w > 0
        Vp = V[pos]
        return float(np.sum(Vp * Y[pos]) - 0.5 * np.sum(Vp * Vp / w[pos, None]))

    def cvxpy_expression(self, F, Y, w):
        import cvxpy as cp
        return 0.5 * cp.sum(cp.multiply(np.repeat(w[:, None], Y.shape[1], 1), cp.square(F - Y)))

    def optimal_intercept(self, F0, Y, w, start=None):
        return (w @ (Y - F0)) / w.sum()

    def _intercept_hessian(self, F, Y, w):
        return np.eye(F.shape[1]) * w.sum()


class LogisticLoss(Loss):
    """``loss(f, y) = log(1 + exp(-y f))`` with ``y`` in {-1, +1}, one output."""

    name = "logistic"
    curvature = 0.25

    def value(self, F, Y, w):
        return float(-np.sum(w[:, None] * log_expit(Y * F)))

    def gradient(self, F, Y, w):
        return -w[:, None] * Y * expit(-Y * F)

    def hessian(self, F, Y, w):
        p = expit(Y * F)
        return (w[:, None] * p * (1 - p))[:, :, None]

    def hessian_parts(self, F, Y, w):
        return self.hessian(F, Y, w)[:, :, 0], None

    def dual_objective(self, V, Y, w):
        # V_i = w_i y_i a_i with a_i in [0, 1]; -L*(-V) = sum_i w_i H(a_i).
        pos = w > 0
        a = np.clip(V[pos] * Y[pos] / w[pos, None], 0.0, 1.0)
        # log1p(-a): (1 - a) log(1 - a) from the rounded 1 - a is off by
        # eps / a relative to the entropy's scale where a ~ 1e-12 (saturated).
        with np.errstate(divide="ignore"):
            ent = -xlogy(a, a) - np.where(a < 1.0, (1.0 - a) * np.log1p(-a), 0.0)
        return float(np.sum(w[pos, None] * ent))

    def cvxpy_expression(self, F, Y, w):
        import cvxpy as cp
        return cp.sum(cp.multiply(w[:, None], cp.logistic(-cp.multiply(Y, F))))

    def encode_targets(self, y):
        Y = np.asarray(y, dtype=float).reshape(-1, 1)
        if not np.all(np.abs(Y) == 1):
            raise ValueError("The logistic loss needs targets in {-1, +1}.")
        return Y

    def _intercept_hessian(self, F, Y, w):
        p = expit(Y * F)
        return np.array([[float(np.sum(w[:, None] * p * (1 - p)))]])


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy ``logsumexp(f) - f_y`` over one output per class.

    Targets are one-hot rows.
    """

    name = "cross_entropy"
    curvature = 0.5
    shift_invariant = True

    def value(self, F, Y, w):
        # logsumexp(f) - f_y = (max f - f_y) + log1p(sum of the other terms):
        # the first part is exactly zero on rows whose own class has the
        # largest output, where subtracting f_y from logsumexp(f) would leave
        # rounding of size eps |f_y| in place of a loss of 1e-7 (a saturated
        # softmax; the intercept's Newton line search then saw only rounding
        # and stopped at 6e-5 relative stationarity, and the dual of that
        # point exceeded the primal).
        top, rest = _logsumexp_parts(F)
        per_row = (top - np.sum(Y * F, axis=1)) + rest
        return float(np.sum(w * per_row))

    def gradient(self, F, Y, w):
        G = _softmax(F) - Y
        # The label's entry as minus the others' sum: p_y - 1 computed as such
        # keeps only rounding where p_y = 1 - 1e-12 (a saturated row); the
        # others' probabilities are accurate, and each row sums to zero.
        label = Y.argmax(axis=1)
        rows = np.flatnonzero(Y[np.arange(F.shape[0]), label] == 1.0)
        label = label[rows]
        G[rows, label] = 0.0
        G[rows, label] = -G[rows].sum(axis=1)
        return w[:, None] * G

    def hessian(self, F, Y, w):
        P = _softmax(F)
        H = P[:, :, None] * np.eye(F.shape[1])[None] - P[:, :, None] * P[:, None, :]
        return w[:, None, None] * H

    def hessian_parts(self, F, Y, w):
        # w (diag(p) - p p^T): diagonal minus rank one.
        P = _softmax(F)
        return w[:, None] * P, np.sqrt(w)[:, None] * P

    def dual_objective(self, V, Y, w):
        # V_i = w_i (e_y - q_i) with q_i in the simplex; -L*(-V) = sum_i w_i H(q_i).
        pos = w > 0
        Yp = Y[pos]
        Q = np.clip(Yp - V[pos] / w[pos, None], 0.0, 1.0)
        # The label's term from the others' sum s, as -(1 - s) log1p(-s): its
        # q_y = 1 - s, rounded, would carry an error of eps / s relative to
        # the entropy's s log(1 / s) scale on a saturated row.
        others = np.where(Yp > 0, 0.0, Q)
        s = np.minimum(others.sum(axis=1), 1.0)
        with np.errstate(divide="ignore"):
            label_term = np.where(s < 1.0, -(1.0 - s) * np.log1p(-s), 0.0)
        H = label_term - np.sum(xlogy(others, others), axis=1)
        return float(np.sum(w[pos] * H))

    def cvxpy_expression(self, F, Y, w):
        import cvxpy as cp
        lse = cp.log_sum_exp(F, axis=1)
        return cp.sum(cp.multiply(w, lse - cp.sum(cp.multiply(Y, F), axis=1)))

    def encode_targets(self, y):
        Y = np.asarray(y, dtype=float)
        if Y.ndim != 2 or not np.all((Y == 0) | (Y == 1)) or not np.all(Y.sum(axis=1) == 1):
            raise ValueError("The cross-entropy loss needs one-hot target rows.")
        return Y

    def _intercept_hessian(self, F, Y, w):
        P = _softmax(F)
        return np.diag(w @ P) - (P * w[:, None]).T @ P


def flat_direction_curvature(Hbb):
    """Curvature to add on the intercepts along a softmax's flat direction.

    A shift-invariant loss ignores a common shift of all ``C`` intercepts;
    ``trace(Hbb) / C^2`` times the all-ones matrix makes their ``C x C``
    Hessian block ``Hbb`` definite without changing a Newton step (the
    gradient is zero along that direction too).
    """
    C = Hbb.shape[0]
    return (np.trace(Hbb) / C ** 2) * np.ones((C, C))


def _softmax(F):
    """Row-wise softmax probabilities of ``F``."""
    return np.exp(F - _logsumexp(F))


def _logsumexp_parts(F):
    """Row maxima ``top`` and ``log1p(sum of exp(f - top) over the other outputs)``.

    ``logsumexp(f) = top + rest``; the ``log1p`` keeps ``rest`` exact when one
    output dominates (saturated softmax), where ``log(1 + tiny)`` would round
    the loss's small values away.  Finite ``F``.
    """
    rows = np.arange(F.shape[0])
    k = F.argmax(axis=1)
    top = F[rows, k]
    E = np.exp(F - top[:, None])
    E[rows, k] = 0.0
    return top, np.log1p(E.sum(axis=1))


def _logsumexp(F):
    """``log(sum(exp(F), axis=1))`` as a column (see :func:`_logsumexp_parts`)."""
    top, rest = _logsumexp_parts(F)
    return (top + rest)[:, None]


_LOSSES = {"squared": SquaredLoss, "logistic": LogisticLoss,
           "cross_entropy": CrossEntropyLoss}


def get_loss(loss):
    """A :class:`Loss` from its name.

    Parameters
    ----------
    loss : {"squared", "logistic", "cross_entropy"} or Loss
        A name, or a :class:`Loss` (returned as it is).

    Returns
    -------
    Loss
    """
    if isinstance(loss, Loss):
        return loss
    try:
        return _LOSSES[loss]()
    except (KeyError, TypeError):
        raise ValueError(f"loss must be one of {sorted(_LOSSES)}; got {loss!r}.") from None

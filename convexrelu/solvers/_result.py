"""The result every solver returns."""

from dataclasses import dataclass, field

import numpy as np

from ..operator import group_norms


@dataclass
class ConvexResult:
    """Solution of the convex program with its certificate.

    Attributes
    ----------
    u : ndarray of shape (n_outputs, 2, n_patterns, n_hidden, n_features)
        The convex variables ``u_{o, sig, t, j}`` (sign index 0 is +1).
    intercept : ndarray of shape (n_outputs,)
        Unpenalised output intercept (zeros without ``fit_intercept``).
    objective : float
        ``(1/n) sum_i loss_i + alpha * sum ||u||`` at ``(u, intercept)``.
    dual_objective : float
        Value of the feasible dual point; a lower bound on the optimum of the
        convex program.
    dual_gap : float
        ``objective - dual_objective`` (the certificate).
    relative_gap : float
        ``dual_gap / |objective|``, zero when the gap is within rounding
        (:func:`convexrelu.duality.relative_gap`); solvers stop when it is
        below ``tol``.
    constraint_violation : float
        Largest violation of the pattern constraints, relative to ``max |X u|``.
    n_iter : int
        Solver iterations.
    converged : bool
        Whether the stopping rule was met.
    dual_point : ndarray of shape (n_samples, n_outputs)
        Feasible dual point ``V``.
    lam1, lam2 : ndarray or None
        Feasible constraint multipliers paired with ``dual_point``.
    arrangements : Arrangements
    alpha : float
    loss : str
    fit_intercept : bool
    solver : str
    solve_time : float
        Seconds spent in the solver.
    history : list of dict
        Per-iteration records (solvers that have iterations worth recording).
    """

    u: np.ndarray
    intercept: np.ndarray
    objective: float
    dual_objective: float
    dual_gap: float
    relative_gap: float
    constraint_violation: float
    n_iter: int
    converged: bool
    dual_point: np.ndarray
    lam1: object
    lam2: object
    arrangements: object
    alpha: float
    loss: str
    fit_intercept: bool
    solver: str
    solve_time: float
    history: list = field(default_factory=list)

    @property
    def group_norms(self):
        """``||u_g||`` for every group, shape (n_outputs, 2, n_patterns, n_hidden)."""
        return group_norms(self.u)

    @property
    def active_blocks(self):
        """Boolean (n_outputs, 2, n_patterns): blocks with a non-zero group."""
        return self.group_norms.max(axis=-1) > 0

    @property
    def n_subnetworks(self):
        """Number of sub-networks of the extracted network."""
        return int(self.active_blocks.sum())

"""The lifted linear operator of the convex program, applied through ``X @ U``.

Variables are stored as ``U`` of shape ``(C, 2, P, m, d)``: output ``o``, sign
``sig`` (index 0 is +1, index 1 is -1), tuple ``t``, neuron ``j``.  Their
images ``Z = X U`` have shape ``(n, C, 2, P, m)``.  With
``F_t(u) = D2_t * sum_j s_tj D1_tj (X u_j)`` the prediction is

    f_o = sum_{sig, t} sig * F_t(u_{o, sig, t})            (FORMULATION.md 4)

and the constraints are ``c1 = (2 D1 - 1) * Z >= 0`` (shape of ``Z``) and
``c2 = (2 D2 - 1) * sum_j s_j D1_j Z_j >= 0`` (shape ``(n, C, 2, P)``).
The lifted n x (2 P m d) matrix is never formed.
"""

import numpy as np

__all__ = ["LiftedOperator", "SIGNS"]

#: the output sign of each half of the variables
SIGNS = np.array([1.0, -1.0])


class LiftedOperator:
    """Products with the lifted features ``D2_t D1_tj X`` of a tuple set.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data as the tuples were computed on.
    arrangements : Arrangements
        The tuples; ``arrangements.n_samples`` must equal ``X.shape[0]``.
    n_outputs : int, default=1
        Number of outputs ``C``; every output gets its own copy of the
        variables over the same tuples (FORMULATION.md section 8).
    """

    def __init__(self, X, arrangements, n_outputs=1):
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D; got shape {X.shape}.")
        if arrangements.n_samples != X.shape[0]:
            raise ValueError(
                f"The arrangements were computed on {arrangements.n_samples} samples "
                f"but X has {X.shape[0]} rows.")
        self.X = X
        self.arrangements = arrangements
        self.n_samples, self.n_features = X.shape
        self.n_patterns = arrangements.n_patterns
        self.n_hidden = arrangements.n_hidden
        self.n_outputs = int(n_outputs)
        D1 = np.ascontiguousarray(arrangements.first.transpose(1, 0, 2))   # (n, P, m)
        D2 = np.ascontiguousarray(arrangements.second.T)                   # (n, P)
        self.D1 = D1
        self.D2 = D2
        self.E1 = np.where(D1, 1.0, -1.0)
        self.E2 = np.where(D2, 1.0, -1.0)
        # s_tj * D1_tj: the sign-weighted first-layer mask
        self.S1 = D1 * arrangements.signs[None, :, :]
        # sig * D2_t * s_tj * D1_tj: the full mask of every lifted feature
        self.mask = (SIGNS[None, :, None, None] * (D2[:, None, :, None] * self.S1[:, None]))

    def block_masks(self, blocks):
        """Masks of the blocks ``blocks`` (flat indices into ``(C, 2, P)``).

        Returns ``(o_idx, mask, E1, W2)``: each block's output (B,), and, of
        shape (n, B, m), the lifted features' masks ``sig D2 s D1``, the
        first-layer rows' signs ``2 D1 - 1`` and the second-layer rows'
        weights ``s D1 (2 D2 - 1)``, which the restricted solvers share.
        """
        o_idx, s_idx, t_idx = np.unravel_index(
            np.asarray(blocks, dtype=int), (self.n_outputs, 2, self.n_patterns))
        W2 = self.S1[:, t_idx, :] * self.E2[:, t_idx][:, :, None]
        return o_idx, self.mask[:, s_idx, t_idx, :], self.E1[:, t_idx, :], W2

    @property
    def var_shape(self):
        return (self.n_outputs, 2, self.n_patterns, self.n_hidden, self.n_features)

    @property
    def n_groups(self):
        return self.n_outputs * 2 * self.n_patterns * self.n_hidden

    def zeros(self):
        return np.zeros(self.var_shape)

    def xu(self, U):
        """``Z = X U``, shape (n, C, 2, P, m)."""
        d = self.n_features
        Z = self.X @ U.reshape(-1, d).T
        return Z.reshape((self.n_samples,) + self.var_shape[:-1])

    def predict_from_z(self, Z):
        """Predictions (n, C) from ``Z``."""
        return np.einsum("nospm,nspm->no", Z, self.mask, optimize=True)

    def predict(self, U):
        """Predictions (n, C) of the convex model (no intercept)."""
        return self.predict_from_z(self.xu(U))

    def x_adjoint(self, Gz):
        """``X^T Gz`` for every group: Gz (n, C, 2, P, m) -> (C, 2, P, m, d)."""
        n = self.n_samples
        return (Gz.reshape(n, -1).T @ self.X).reshape(self.var_shape)

    def residual_to_z(self, R):
        """The per-group sample weights ``mask * R`` of a residual R (n, C)."""
        return R[:, :, None, None, None] * self.mask[:, None]

    def adjoint(self, R):
        """Gradient of ``sum(R * predict(U))`` w.r.t. U, shape (C, 2, P, m, d)."""
        return self.x_adjoint(self.residual_to_z(R))

    def block_sums(self, Z):
        """``sum_j s_j D1_j Z_j`` per block, shape (n, C, 2, P)."""
        return np.einsum("nospm,npm->nosp", Z, self.S1, optimize=True)

    def constraints(self, Z):
        """``(c1, c2)``: both must be >= 0 for a feasible point."""
        c1 = self.E1[:, None, None] * Z
        c2 = self.E2[:, None, None] * self.block_sums(Z)
        return c1, c2

    def constraint_adjoint_z(self, lam1, lam2):
        """``E1 lam1 + s D1 E2 lam2`` in the shape of Z (the multipliers' term of g)."""
        return (self.E1[:, None, None] * lam1
                + self.S1[:, None, None] * (self.E2[:, None, None] * lam2)[..., None])

    def max_violation(self, U, Z=None):
        """Largest constraint violation, relative to ``max |X U|`` (0 when feasible)."""
        Z = self.xu(U) if Z is None else Z
        c1, c2 = self.constraints(Z)
        scale = max(float(np.max(np.abs(Z), initial=0.0)), np.finfo(float).tiny)
        worst = max(float(np.max(-c1, initial=0.0)), float(np.max(-c2, initial=0.0)))
        return worst / scale


def group_norms(U):
    """``||u_g||_2`` of every group, shape (C, 2, P, m)."""
    return np.sqrt(np.einsum("...d,...d->...", U, U))

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

import functools

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
        The tuples; ``arrangements.n_samples`` must equal ``X.shape[0]``, and
        their generating weights (when they carry them) must have
        ``X.shape[1]`` features.
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
        fw = arrangements.first_weights
        if fw is not None and fw.shape[1] != X.shape[1]:
            # Tuples of another feature space (most often: sampled with a
            # column of ones, solved without it) have no strictly feasible
            # point here, and the program solved would not be theirs.
            raise ValueError(
                f"The arrangements' generating weights have {fw.shape[1]} features "
                f"but X has {X.shape[1]} columns; compute the arrangements on X as "
                f"the first layer sees it (with the column of ones if X has one).")
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
        # The masks below are -1 / 0 / +1: stored as int8 (an eighth of
        # float64, the size of the lifted problem each), converted to floats
        # a block or a chunk at a time where they are used.
        self.E1 = np.where(D1, 1, -1).astype(np.int8)
        self.E2 = np.where(D2, 1.0, -1.0)
        # s_tj * D1_tj: the sign-weighted first-layer mask
        self.S1 = (D1 * arrangements.signs[None, :, :]).astype(np.int8)
        # sig * D2_t * s_tj * D1_tj: the full mask of every lifted feature
        self.mask = (SIGNS.astype(np.int8)[None, :, None, None]
                     * (D2[:, None, :, None] * self.S1[:, None])).astype(np.int8)

    def block_masks(self, blocks, dtype=float):
        """Masks of the blocks ``blocks`` (flat indices into ``(C, 2, P)``).

        Returns ``(o_idx, mask, E1, W2)``: each block's output (B,), and, of
        shape (n, B, m), the lifted features' masks ``sig D2 s D1``, the
        first-layer rows' signs ``2 D1 - 1`` and the second-layer rows'
        weights ``s D1 (2 D2 - 1)``, which the restricted solvers share.
        All three are -1 / 0 / +1, returned as ``dtype`` (``np.int8`` keeps
        them at an eighth of the floats' memory).
        """
        o_idx, s_idx, t_idx = np.unravel_index(
            np.asarray(blocks, dtype=int), (self.n_outputs, 2, self.n_patterns))
        W2 = self.S1[:, t_idx, :] * self.E2[:, t_idx][:, :, None].astype(np.int8)
        return (o_idx, self.mask[:, s_idx, t_idx, :].astype(dtype),
                self.E1[:, t_idx, :].astype(dtype), W2.astype(dtype))

    @functools.cached_property
    def flat_directions(self):
        """Whether some weights ``u != 0`` give ``X u = 0`` (numerically).

        True with fewer rows than features, or collinear features (a
        singular value of ``X`` below 1e-8 of the largest).  The loss and
        the constraints then do not change along such directions, only the
        group norms do.
        """
        n, d = self.X.shape
        if n < d:
            return True
        # The Gram matrix's eigenvalues settle well-conditioned data at a
        # tenth of an SVD's cost (60000 x 101: 0.03 against 0.5 s); they square
        # the condition number, so the SVD decides the doubtful cases.
        e = np.linalg.eigvalsh(self.X.T @ self.X)
        if e[0] > 1e-10 * e[-1]:
            return False
        s = np.linalg.svd(self.X, compute_uv=False)
        return bool(s[-1] <= 1e-8 * s[0])

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
        return np.einsum("nospm,nspm->no", Z, self.mask.astype(float), optimize=True)

    def nonzero_blocks(self, U):
        """Flat indices (into ``(C, 2, P)``) of the blocks with a non-zero weight."""
        Ub = np.asarray(U).reshape(self.n_outputs * 2 * self.n_patterns, -1)
        return np.flatnonzero(np.any(Ub != 0, axis=1))

    def block_xu(self, U, blocks):
        """``X u`` of the blocks ``blocks`` only, shape (n, len(blocks), m)."""
        m, d = self.n_hidden, self.n_features
        Ub = np.asarray(U).reshape(-1, m, d)[blocks]
        return (self.X @ Ub.reshape(-1, d).T).reshape(self.n_samples, len(blocks), m)

    def block_constraints(self, U, blocks):
        """``(Z, c1, c2)`` of the blocks ``blocks`` only: ``Z = X u`` (n, B, m) and
        the constraint values of :meth:`constraints`, (n, B, m) and (n, B)."""
        _, _, E1, W2 = self.block_masks(blocks)
        Z = self.block_xu(U, blocks)
        return Z, E1 * Z, np.einsum("nbm,nbm->nb", W2, Z)

    def predict(self, U):
        """Predictions (n, C) of the convex model (no intercept).

        Only the non-zero blocks are multiplied out: a solution has a few,
        and ``X U`` of all of them is the size of the lifted problem.
        """
        blocks = self.nonzero_blocks(U)
        F = np.zeros((self.n_samples, self.n_outputs))
        if len(blocks):
            o_idx, mask, _, _ = self.block_masks(blocks)
            contrib = np.einsum("nbm,nbm->nb", self.block_xu(U, blocks), mask)
            for o in np.unique(o_idx):
                F[:, o] = contrib[:, o_idx == o].sum(axis=1)
        return F

    def x_adjoint(self, Gz):
        """``X^T Gz`` for every group: Gz (n, C, 2, P, m) -> (C, 2, P, m, d)."""
        n = self.n_samples
        return (Gz.reshape(n, -1).T @ self.X).reshape(self.var_shape)

    def residual_to_z(self, R):
        """The per-group sample weights ``mask * R`` of a residual R (n, C)."""
        return R[:, :, None, None, None] * self.mask[:, None]

    def adjoint(self, R, max_entries=2 ** 21):
        """Gradient of ``sum(R * predict(U))`` w.r.t. U, shape (C, 2, P, m, d).

        Computed a few patterns at a time (``max_entries`` floats of
        temporaries), never the lifted ``residual_to_z(R)`` at once.
        """
        out = np.empty(self.var_shape)
        for p, G in self._dual_vectors(R, None, None, max_entries):
            out[:, :, p] = G
        return out

    def block_sums(self, Z):
        """``sum_j s_j D1_j Z_j`` per block, shape (n, C, 2, P)."""
        return np.einsum("nospm,npm->nosp", Z, self.S1.astype(float), optimize=True)

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
        """Largest constraint violation, relative to ``max |X U|`` (0 when feasible).

        Zero blocks satisfy their constraints with equality and add nothing
        to ``max |X U|``, so only the non-zero blocks are evaluated (``Z``,
        the full ``X U``, is used instead when given).
        """
        if Z is not None:
            c1, c2 = self.constraints(Z)
        else:
            blocks = self.nonzero_blocks(U)
            if not len(blocks):
                return 0.0
            Z, c1, c2 = self.block_constraints(U, blocks)
        scale = max(float(np.max(np.abs(Z), initial=0.0)), np.finfo(float).tiny)
        worst = max(float(np.max(-c1, initial=0.0)), float(np.max(-c2, initial=0.0)))
        return worst / scale

    def dual_norms(self, V, lam1=None, lam2=None, max_entries=2 ** 21):
        """Group norms ``||X^T g_g||`` of the dual point, shape (C, 2, P, m).

        ``g_g = mask_g V_o + E1_g lam1_g + S1_g E2 lam2`` as in
        :mod:`convexrelu.duality` (``lam1`` of shape (n, C, 2, P, m),
        ``lam2`` (n, C, 2, P), zero when None).  The same numbers as
        ``group_norms(x_adjoint(residual_to_z(V) + constraint_adjoint_z(lam1,
        lam2)))``, computed a few patterns at a time so that the temporaries
        hold at most about ``max_entries`` floats instead of several arrays
        the size of the lifted problem.
        """
        out = np.empty(self.var_shape[:-1])
        for p, G in self._dual_vectors(V, lam1, lam2, max_entries):
            out[:, :, p] = np.sqrt(np.einsum("...d,...d->...", G, G))
        return out

    def _dual_vectors(self, V, lam1, lam2, max_entries):
        """Yield ``(patterns, X^T g)`` chunk by chunk, ``X^T g`` of shape
        (C, 2, chunk, m, d) (see :meth:`dual_norms`)."""
        n, C, P, m = self.n_samples, self.n_outputs, self.n_patterns, self.n_hidden
        V = np.asarray(V, dtype=float).reshape(n, C)
        step = max(1, int(max_entries // max(1, n * C * 2 * m)))
        for p0 in range(0, P, step):
            p = slice(p0, min(P, p0 + step))
            Gz = V[:, :, None, None, None] * self.mask[:, None, :, p]       # (n, C, 2, pc, m)
            if lam1 is not None:
                Gz += self.E1[:, None, None, p] * lam1[:, :, :, p]
            if lam2 is not None:
                Gz += (self.S1[:, None, None, p]
                       * (self.E2[:, None, None, p] * lam2[:, :, :, p])[..., None])
            yield p, (Gz.reshape(n, -1).T @ self.X).reshape(C, 2, -1, m, self.n_features)


def group_norms(U):
    """``||u_g||_2`` of every group, shape (C, 2, P, m)."""
    return np.sqrt(np.einsum("...d,...d->...", U, U))

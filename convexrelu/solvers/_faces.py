"""Faces of an active-set solve: their bases, their multipliers, which rows leave.

A mixin of :class:`convexrelu.solvers._active_set._ActiveSet`.  A face is the
set of live groups with the constraint rows held at zero; its Newton steps
are taken in the coordinates of a null-space basis of those rows (block
diagonal, since a row touches one block only), and once it is solved, the
rows' multipliers come from a non-negative least-squares fit, whose residual
names the rows to release when the face is not optimal.
"""

import numpy as np
from scipy.optimize import nnls


class Faces:
    """Active-row bookkeeping of a face (state: see ``_ActiveSet``)."""

    def face_key(self):
        """The current face (live groups and active rows), hashable."""
        return hash((self.live().tobytes(), self.act1.tobytes(), self.act2.tobytes()))

    def face_rows(self, bi, gs, rows):
        """Active rows of block ``bi`` on its live groups ``gs``, shape (r, |gs| d),
        in the order of ``rows`` (:meth:`row_index`)."""
        X, d = self.op.X, self.d
        i1, g1, i2 = rows
        q = len(gs)
        R1 = np.zeros((len(i1), q, d))
        R1[np.arange(len(i1)), np.searchsorted(gs, g1 - bi * self.m)] = (
            self.E1[i1, g1, None] * X[i1])
        R2 = (self.W2[i2][:, bi][:, gs, None] * X[i2, None, :]).reshape(len(i2), q * d)
        return np.vstack([R1.reshape(len(i1), q * d), R2])

    def face(self, bi, gs):
        """Block ``bi``'s face on its live groups ``gs``, cached per face.

        ``(R, Zb, rows, J, G)``: ``R`` the active rows (:meth:`face_rows`),
        ``Zb`` an orthonormal basis (q d, k) of their null space, ``rows``
        the rows of ``R`` in order (:meth:`row_index`), ``J`` the face
        columns' responses ``[D_g X Z_g]`` summed over the groups (n, k) and
        ``G[j] = Z_j^T Z_j`` (q, k, k), ``Z_j`` group ``j``'s rows of ``Zb``:
        what a Newton step needs of the face besides the point (a face
        comes back for many steps, its checks and multipliers).  Only the
        block's latest face is kept: on CV paths of diabetes an earlier one
        came back in 3% of the misses, and the records hold n x k arrays.
        """
        key = (gs.tobytes(), self.act1[:, bi * self.m + gs].tobytes(),
               self.act2[:, bi].tobytes())
        key_rec = self.faces.get(bi)
        rec = key_rec[1] if key_rec is not None and key_rec[0] == key else None
        if rec is None:
            n, d, q = self.n, self.d, len(gs)
            rows = self.row_index(bi, gs)
            R = self.face_rows(bi, gs, rows)
            Zb = _null_space(R, q * d)
            Zg = Zb.reshape(q, d, -1)
            Mb = (self.mask[:, bi * self.m + gs, None] * self.op.X[:, None, :]).reshape(n, -1)
            rec = (R, Zb, rows, Mb @ Zb, np.einsum("jdk,jdl->jkl", Zg, Zg))
            self.faces[bi] = (key, rec)
        return rec

    def check_face(self, gU, faces):
        """Multipliers of the active rows; leave the rows a feasible descent frees.

        Non-negative least squares ``min_{mu >= 0} ||R^T mu - grad f||`` per
        block.  Its residual ``rho`` is zero on an optimal face; otherwise
        ``-rho`` is a descent direction with ``R (-rho) >= 0`` (the NNLS
        conditions), so the rows it moves off (``R rho < 0``) leave the active
        set.  (Least-squares multipliers would pick wrong rows here: the
        rows are degenerate by construction, since a sample with all its
        first-layer rows active has its second-layer row active too.)

        Returns False when every block's face is optimal (the multipliers are
        stored), True when rows were dropped, "failed" when neither holds.
        """
        m = self.m
        changed = False
        for bi, gs, (R, Zb, (i1, g1, i2), _, _) in faces:
            if R.shape[0] == 0:
                continue
            g = gU[bi * m + gs].ravel()
            gnorm = max(float(np.linalg.norm(g)), 1e-300)
            # What the face's own tolerance leaves: the gradient off the face.
            slack_res = float(np.linalg.norm(Zb.T @ g)) if Zb.shape[1] else 0.0
            mu, res = nnls(R.T, g, maxiter=50 * R.shape[0] + 100)
            if res <= 10.0 * slack_res + 1e-7 * gnorm:
                self.mu1[:, bi * m + gs] = 0.0
                self.mu2[:, bi] = 0.0
                self.mu1[i1, g1] = mu[:len(i1)]
                self.mu2[i2, bi] = mu[len(i1):]
                continue
            rho = g - R.T @ mu
            rate = -(R @ rho) / np.maximum(np.linalg.norm(R, axis=1), 1e-300)
            leave = rate > 1e-9 * res
            if not leave.any():
                return "failed"
            k1 = leave[:len(i1)]
            self.act1[i1[k1], g1[k1]] = False
            self.act2[i2[leave[len(i1):]], bi] = False
            changed = True
        return changed

    def row_index(self, bi, gs):
        """The rows of :meth:`face_rows`: ``(i1, g1, i2)``, first-layer
        samples and their groups, then second-layer samples (block ``bi``)."""
        m = self.m
        i1, g1 = [], []
        for j in gs:
            g = bi * m + j
            idx = np.flatnonzero(self.act1[:, g])
            i1.append(idx)
            g1.append(np.full(len(idx), g))
        return (np.concatenate(i1) if i1 else np.zeros(0, int),
                np.concatenate(g1) if g1 else np.zeros(0, int),
                np.flatnonzero(self.act2[:, bi]))

    def reset_rows(self, bis, rtol=1e-9):
        """Active rows of blocks ``bis`` from their slacks (after a step off the face)."""
        m = self.m
        a1, a2 = self.active_rows(rtol)
        cols = (np.asarray(bis)[:, None] * m + np.arange(m)[None, :]).ravel()
        self.act1[:, cols] = a1[:, cols]
        self.act2[:, bis] = a2[:, bis]


def _null_space(R, q):
    """Orthonormal basis (q, q - rank) of the null space of the rows ``R``."""
    if R.shape[0] == 0:
        return np.eye(q)
    norms = np.linalg.norm(R, axis=1)
    R = R[norms > 0] / norms[norms > 0, None]
    if R.shape[0] == 0:
        return np.eye(q)
    # Thin SVD when the rows are many (the full one would build an r x r factor).
    _, s, Vt = np.linalg.svd(R, full_matrices=R.shape[0] < q)
    rank = int(np.sum(s > 1e-10 * s[0]))
    return Vt[rank:].T.copy()

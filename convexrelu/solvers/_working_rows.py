"""The constraint rows of a working set, for the restricted interior point.

On a working set of ``B`` blocks (``A = B m`` groups ``u_g`` in ``R^d``) the
restricted program has one first-layer row per sample and group,
``E1 X u_g >= 0`` (slacks ``s1``, (n, A)), and one second-layer row per sample
and block, ``sum_j W2_j E1_j X u_j >= 0`` (slacks ``s2``, (n, B)).  The
first-layer signs are +-1, so ``X u = E1 s1``: the interior point keeps the
slacks only, and the predictions and second-layer slacks come from ``s1``
through the masks held here (:class:`WorkingRows`).
"""

import numpy as np


class WorkingRows:
    """Masks of a working set's constraint rows and the maps through them.

    Parameters
    ----------
    op : LiftedOperator
    blocks : ndarray of int, shape (B,)
        Flat block indices into ``(C, 2, P)``, increasing.

    Attributes
    ----------
    mask : ndarray of int8, shape (n, A)
        The full mask of every lifted feature (output sign, second-layer
        pattern, first-layer pattern and sign).
    E1, W2 : ndarray of int8, shape (n, B, m)
        First-layer row signs, and the second-layer rows' coefficients.
    E1f : ndarray of int8, shape (n, A)
        ``E1`` by group.
    t_idx, out_of_group : ndarray of int
        Tuple of each block, output of each group.
    r1, r2 : ndarray of bool
        Rows that carry a constraint, shapes (n, B, m) and (n, B) (a row of
        ``x_i = 0``, or a second-layer row with no first-layer neuron on,
        vanishes identically).
    r1f, r2f : float or ndarray
        ``r1`` (a scalar 1.0 where every first-layer row is live: multiplying
        by it is then free of copies) and ``r2`` as floats.
    live1, live2 : ndarray of bool or None
        ``r1`` (by group) and ``r2``; None where every row is live.
    n_rows : int
        Live rows; ``n_barrier = n_rows + 2 A`` counts the group cones too.
    cols : dict of slice
        Newton columns of each output (blocks are sorted, so each output's
        weights are contiguous).
    """

    def __init__(self, op, blocks):
        X = op.X
        n, d = X.shape
        C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
        B = len(blocks)
        A = B * m
        self.X, self.n, self.d, self.C, self.m, self.B, self.A = X, n, d, C, m, B, A
        self.k = A * d
        # The masks are -1 / 0 / +1, kept as int8: every float n x (working
        # groups) array is another 32 MiB per 100000 rows and group.
        o_idx, mask, E1, W2 = op.block_masks(blocks, dtype=np.int8)   # (n, B, m) each
        self.mask = mask.reshape(n, A)
        self.E1, self.W2 = E1, W2
        _, _, self.t_idx = np.unravel_index(blocks, (C, 2, P))
        self.out_of_group = np.repeat(o_idx, m)                      # (A,)
        xnz = np.any(X != 0, axis=1)
        self.r1 = np.broadcast_to(xnz[:, None, None], (n, B, m))
        self.r2 = np.any(W2 != 0, axis=2) & xnz[:, None]
        self.r1f = 1.0 if xnz.all() else self.r1.reshape(n, A).astype(float)
        self.r2f = self.r2.astype(float)
        self.E1f = E1.reshape(n, A)
        self.sign_mask = self.E1f * self.mask                        # int8
        # Floats (one n x (working groups) array): the second-layer sums
        # run at every Newton direction, and einsum over int8 masks casts
        # them each time (10000 rows, 20 blocks, m = 4: 8.4 ms as a product
        # and a sum over the short last axis, 5.2 ms by einsum on int8, 2
        # to 3 on floats).
        self.W2E = (W2 * E1).astype(float)                           # (n, B, m)
        self.n_rows = int(self.r1.sum() + self.r2.sum())
        self.live1 = None if self.r1.all() else self.r1.reshape(n, A)
        self.live2 = None if self.r2.all() else self.r2
        self.n_barrier = self.n_rows + 2 * A
        self.cols = {}
        for o in range(C):
            g = np.flatnonzero(self.out_of_group == o)
            if len(g):
                self.cols[o] = slice(g[0] * d, (g[-1] + 1) * d)

    def second(self, s1):
        """Second-layer slacks (or their steps) from the first layer's."""
        return np.einsum("nbm,nbm->nb", self.W2E, s1.reshape(self.n, self.B, self.m))

    def slacks(self, U):
        """``(s1, s2)`` of the weights ``U`` (A, d)."""
        s1 = self.X @ U.T                                            # (n, A)
        s1 *= self.E1f
        return s1, self.second(s1)

    def strictly_feasible(self, s1, s2):
        return not (np.any(s1[self.r1.reshape(self.n, self.A)] <= 0)
                    or np.any(s2[self.r2] <= 0))

    def predict(self, s1, b):
        """Outputs (n, C) of the network whose first-layer slacks are ``s1``."""
        Fm = s1 * self.sign_mask
        F = np.zeros((self.n, self.C))
        d = self.d
        for o, sl in self.cols.items():
            F[:, o] = Fm[:, sl.start // d:sl.stop // d].sum(axis=1)
        return F + b

    def row_sums(self, v1, v2):
        """``E1 v1 + W2 v2`` by group (n, A): row values ``v1`` (n, A) and
        ``v2`` (n, B) (multipliers, or their steps) as each group sees them;
        ``row_sums(...).T @ X`` is their pull on the weights."""
        G = self.E1f * v1
        G += (self.W2 * v2[:, :, None]).reshape(self.n, self.A)
        return G

    def max_steps(self, s1, s2, lam1, lam2, ds1, ds2, dl1, dl2):
        """Largest primal and dual steps (at most 1) keeping slacks and multipliers positive."""
        sp = sd = 1.0
        for v, dv, live, is_primal in ((s1, ds1, self.live1, True), (s2, ds2, self.live2, True),
                                       (lam1, dl1, self.live1, False),
                                       (lam2, dl2, self.live2, False)):
            # The largest step keeping v + t dv > 0 is min(-v / dv) over dv < 0:
            # the maximum of dv / v, without masking copies of v.
            with np.errstate(divide="ignore", invalid="ignore"):
                q = dv / v
            if live is not None:
                q = np.where(live, q, 0.0)
            worst = float(np.min(q, initial=0.0))
            if worst < 0:
                lim = -1.0 / worst
                if is_primal:
                    sp = min(sp, lim)
                else:
                    sd = min(sd, lim)
        return sp, sd

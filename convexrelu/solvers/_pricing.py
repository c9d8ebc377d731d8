"""Constraint multipliers that certify zero blocks ("pricing").

A block ``b`` left at zero is optimal when its dual constraint holds for
some multipliers ``lam1 >= 0`` (n x m) and ``lam2 >= 0`` (n):

    || c_j + X^T ( E1_j * lam1_j + S1_j * E2 * lam2 ) ||_2 <= alpha   for j = 1..m,

``c_j = X^T (mask_bj * V)``.  Without the multipliers this is the gated
relaxation's test; with them it is the constrained program's, which holds
for many more blocks (the pattern constraints cut the feasible directions).
The multipliers are found as the non-negative least-squares solution of

    minimise_{lam >= 0}  sum_j || c_j + X^T ( E1_j lam1_j + S1_j E2 lam2 ) ||^2,

whose residual norms are then compared with ``alpha``.  This is a
sufficient test (the least-squares minimiser need not minimise the largest
of the m norms), so a block it rejects is not proven active; the solver
then adds it to the working set, where the exact restricted solve decides.

The same least squares, restricted to a working block's active rows and
aimed at its stationarity conditions, polish the multipliers of non-zero
blocks (:func:`polish_multipliers`); :func:`price_into` prices many zero
blocks a batch at a time.
"""

import numpy as np
from scipy.optimize import lsq_linear, nnls

from ._multipliers import _MAX_ENTRIES, block_ratios


#: most candidate columns one column-generation round of the pricing NNLS adds
NNLS_STEP_MAX = 128
#: :func:`price_into` stops a block's fit once its last round lowered the
#: residual by less than ``1 - GIVE_UP_PACE`` and that pace would not
#: certify it within the rounds left (``give_up`` of :func:`price_blocks`);
#: None prices every block to the end
GIVE_UP_PACE = 0.99


def price_blocks(op, V, blocks, targets=None, rows1=None, rows2=None, alpha=None,
                 ball=None, ball_rounds=0, return_residual=False, weights=None, start=None,
                 give_up=None):
    """Multipliers and dual norms of the zero blocks ``blocks``.

    Parameters
    ----------
    op : LiftedOperator
    V : ndarray of shape (n, C)
        The raw dual point ``-grad L(F)``.
    blocks : ndarray of int
        Flat block indices into ``(C, 2, P)``.
    targets : ndarray of shape (len(blocks), m, d), default=None
        Fit ``X^T g_j`` to ``targets`` instead of to zero.  For a block of
        the working set, ``alpha u_j / ||u_j||`` on its non-zero groups is the
        stationarity condition, so this polishes an interior-point solver's
        multipliers (whose accuracy on exponential cones is only ~1e-5).
    rows1 : ndarray of bool, shape (n, len(blocks), m), default=None
        Multipliers allowed to be non-zero (all when None); restricting them
        to active constraints keeps ``lam * c`` (which enters the gap) at zero.
    rows2 : ndarray of bool, shape (n, len(blocks)), default=None
    alpha : float, default=None
        When given (and ``targets`` is None), the least-squares problem
        stops as soon as every norm is at most ``alpha`` (the block is then
        certified; see :func:`_nnls_by_columns`).
    ball : ndarray of bool, shape (len(blocks), m), default=None
        Groups whose ``X^T g_j`` only has to lie in the ball of radius
        ``alpha`` (zero groups; default: all groups when ``targets`` is None,
        none otherwise).  Used with ``ball_rounds``.
    ball_rounds : int, default=0
        Rounds of majorise-minimise on ``sum_j (|X^T g_j| - alpha)_+^2`` over
        the ball groups, for blocks the first fit leaves uncertified.
        ``(|r| - alpha)_+^2 <= |r - c|^2`` for every ``|c| <= alpha``, with
        equality at ``c`` = the projection of ``r`` on the ball, so fitting
        each ball group to the projection of its last residual never raises
        that sum: the least-squares test is sufficient only, and these
        rounds certify blocks it rejects (the min-max of the norms is what
        matters, not their sum of squares).
    weights : ndarray of shape (len(blocks), m), default=None
        Weights of the groups' residuals in the least-squares fit.  A large
        weight on a block's non-zero groups keeps their stationarity nearly
        exact and leaves the zero groups' norms as small as that allows (the
        unweighted fit trades the two off).
    start : tuple of ndarray, default=None
        ``(lam1, lam2)`` of shapes (n, len(blocks), m) and (n, len(blocks)):
        earlier multipliers of these blocks (a previous face's or round's),
        whose positive entries are the first candidate columns of the
        least-squares fits.  The dual point moves little between faces, so
        their support is usually most of the new one: the column generation
        then starts where it would otherwise end after several rounds.
    return_residual : bool, default=False
        Also return the last fit's residuals ``X^T g_j - target_j``, shape
        (len(blocks), m, d): a direction that keeps every fitted row
        feasible (``M^T r >= 0``, the least-squares conditions).  On a ball
        group the target is the projection of the previous residual, so
        this is ``(1 - alpha / |r_j|)_+ r_j`` at the fixed point: the block's
        steepest feasible descent direction, zero exactly when the block is
        certified.
    give_up : float, default=None
        With ``alpha``: stop a block's fit once a round lowers its residual
        by a factor above ``give_up`` and that pace cannot certify it (see
        :func:`_nnls_blocks`); its norms then overestimate the least-squares
        ones.  For ranking violators, not for ``return_residual``'s
        directions, which need the solution.

    Returns
    -------
    lam1 : ndarray of shape (n, len(blocks), m)
    lam2 : ndarray of shape (n, len(blocks))
    norms : ndarray of shape (len(blocks), m)
        ``||X^T g_j||`` with these multipliers.
    residual : ndarray of shape (len(blocks), m, d)
        Only with ``return_residual``.
    """
    X = op.X
    n, d = X.shape
    C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
    o_idx, s_idx, t_idx = np.unravel_index(np.asarray(blocks, dtype=int), (C, 2, P))
    nb = len(t_idx)
    lam1 = np.zeros((n, nb, m))
    lam2 = np.zeros((n, nb))
    norms = np.zeros((nb, m))
    resid = np.zeros((nb, m, d))
    if ball is None:
        ball = np.full((nb, m), targets is None)
    xnorm = np.linalg.norm(X, axis=1)
    sig = np.where(s_idx == 0, 1.0, -1.0)
    # Every block's c_j = X^T (mask_bj * V) in one pass over X.
    a = (sig * op.D2[:, t_idx])[:, :, None] * op.S1[:, t_idx, :] * V[:, o_idx, None]
    c0 = (a.reshape(n, nb * m).T @ X).reshape(nb, m, d)
    del a                               # (the size of lam1: not kept through the fits)
    tgt = np.zeros((nb, m, d)) if targets is None else np.array(targets, float)
    om = np.ones((nb, m)) if weights is None else np.asarray(weights, float)
    cols, seeds = [], []
    for k in range(nb):
        t = t_idx[k]
        # Columns of the multipliers' operator M: lam1_{i, j} (rows allowed by
        # rows1) and lam2_i (rows2), each x_i scaled into group j's slot.
        e1 = op.E1[:, t, :]
        if rows1 is not None:
            e1 = e1 * rows1[:, k, :]
        w2 = op.S1[:, t, :] * op.E2[:, t, None]                                 # (n, m)
        if rows2 is not None:
            w2 = w2 * rows2[:, k, None]
        if weights is not None:
            # Weighting group j's residual scales its part of every column and
            # of the right-hand side; the multipliers keep their meaning.
            e1, w2 = e1 * om[k], w2 * om[k]
        # (unweighted, e1 stays the operator's int8, made contiguous: a batch
        # holds every block's columns at once, and products with the int8
        # view's strides are slower)
        cols.append(_BlockColumns(X, xnorm, np.ascontiguousarray(e1), w2))
        seed = None
        if start is not None:
            # At most m d of them (an interior point's are all positive): the
            # largest, as many as a basic least-squares solution has.
            prev = np.concatenate([start[0][:, k, :].ravel(), start[1][:, k]])
            seed = np.flatnonzero(prev > 0)
            if len(seed) > m * d:
                seed = seed[np.argpartition(-prev[seed], m * d - 1)[:m * d]]
        seeds.append(seed)
    stop = alpha if targets is None and weights is None else None
    todo = np.arange(nb)
    for rnd in range(ball_rounds + 1):
        xs, rs = _nnls_blocks([cols[k] for k in todo],
                              [((c0[k] - tgt[k]) * om[k][:, None]).ravel() for k in todo],
                              m, d, stop, starts=[seeds[k] for k in todo],
                              give_up=give_up if stop is not None else None)
        more = []
        for k, (idx, val), r in zip(todo, xs, rs):
            r = r.reshape(m, d) / om[k][:, None]
            g = r + tgt[k]
            gn = np.sqrt(np.einsum("jd,jd->j", g, g))
            norms[k] = gn
            resid[k] = r
            x = _dense(idx, val, n * m + n)
            lam1[:, k, :] = x[:n * m].reshape(n, m)
            lam2[:, k] = x[n * m:]
            if alpha is None or rnd == ball_rounds or np.all(gn[ball[k]] <= alpha):
                continue
            # The next ball round's target moves a little: start from this support.
            seeds[k] = idx[val > 0]
            proj = np.where(gn > alpha, alpha / np.maximum(gn, 1e-300), 1.0)
            tgt[k, ball[k]] = (g * proj[:, None])[ball[k]]
            more.append(k)
        todo = np.asarray(more, dtype=int)
        stop = None
        if not len(todo):
            break
    if return_residual:
        return lam1, lam2, norms, resid
    return lam1, lam2, norms


class _BlockColumns:
    """The multipliers' operator of one block, ``(m d) x (n m + n)``, never formed.

    Column ``(i, j)`` (first layer) is ``e1[i, j] x_i`` in group ``j``'s
    coordinates; column ``n m + i`` (second layer) stacks ``w2[i, j] x_i``
    over the groups.  Products with ``M^T`` go through ``X R^T`` (``R`` the
    residual as ``m x d``), so a pricing pass costs ``O(n m d)`` instead of
    building ``n (m + 1) m d`` entries.
    """

    def __init__(self, X, xnorm, e1, w2):
        self.X, self.e1, self.w2 = X, e1, w2
        n, m = e1.shape
        self.n, self.m, self.d = n, m, X.shape[1]
        self.shape = (m * self.d, n * m + n)
        self.norms = np.concatenate([(np.abs(e1) * xnorm[:, None]).ravel(),
                                     xnorm * np.linalg.norm(w2, axis=1)])

    def rmatvec(self, r):
        return self.rmatvec_from(self.X @ r.reshape(self.m, self.d).T)

    def rmatvec_from(self, XR):
        """``M^T r`` from the product ``XR = X R^T`` (n, m)."""
        n, m = self.n, self.m
        out = np.empty(n * m + n)
        np.multiply(self.e1, XR, out=out[:n * m].reshape(n, m))
        # (einsum: a sum over the short last axis is several times slower)
        out[n * m:] = np.einsum("nm,nm->n", self.w2, XR)
        return out

    def matvec(self, x):
        n, m = self.n, self.m
        coef = x[:n * m].reshape(n, m) * self.e1 + x[n * m:, None] * self.w2   # (n, m)
        return (coef.T @ self.X).ravel()

    def columns(self, idx):
        n, m, d = self.n, self.m, self.d
        out = np.zeros((m, d, len(idx)))
        first = idx < n * m
        i1, j1 = np.divmod(idx[first], m)
        # (one fancy-indexed write per layer: a loop over the groups took 2.5x as long)
        out[j1, :, np.flatnonzero(first)] = self.X[i1] * self.e1[i1, j1][:, None]
        i2 = idx[~first] - n * m
        out[:, :, np.flatnonzero(~first)] = self.w2[i2].T[:, None, :] * self.X[i2].T[None, :, :]
        return out.reshape(m * d, len(idx))


def _nnls_by_columns(M, c, m, d, alpha, max_rounds=50, start=None):
    """``argmin_{x >= 0} ||c + M x||`` by column generation, or a certifying x.

    The solution has at most ``m d`` non-zeros among thousands of columns,
    so NNLS runs on a small candidate set: the columns most correlated with
    the residual, grown by the most negative gradient entries ``M^T r`` until
    none is left (the KKT conditions of the full problem then hold, so the
    result is the full NNLS solution) or, when ``alpha`` is given, until every
    group's residual norm is at most ``alpha`` (the block is certified).
    ``M`` is a :class:`_BlockColumns` (or anything with its ``X``, ``shape``,
    ``norms``, ``rmatvec_from`` and ``columns``).  ``start`` (column
    indices) is a first candidate set, fitted before any column is added.
    One block of :func:`_nnls_blocks`; returns ``x``.
    """
    xs, _ = _nnls_blocks([M], [c], m, d, alpha, max_rounds=max_rounds, starts=[start])
    return _dense(*xs[0], M.shape[1])


def _dense(idx, val, size):
    """The vector of ``size`` entries whose non-zero ones are ``x[idx] = val``."""
    x = np.zeros(size)
    x[idx] = val
    return x


def _nnls_blocks(Ms, cs, m, d, alpha, max_rounds=50, starts=None, give_up=None):
    """:func:`_nnls_by_columns` for several blocks at once: ``(xs, residuals)``,
    each ``x`` as its positive entries ``(indices, values)``.

    The blocks' column generations go in lockstep, so that each round's
    products ``X R^T`` of all unfinished blocks take one pass over ``X``
    (one pass per block and round was half of pricing's time on 60000
    Fashion-MNIST rows).  Every block's sequence of fits is the one it has
    alone.  ``Ms`` share ``X``; ``residuals[k] = cs[k] + Ms[k] x_k``.

    ``give_up`` (a pace in [0, 1], with ``alpha``): a block stops once its
    last round multiplied the residual norm by a factor above ``give_up``
    and it cannot be certified within the rounds left at that pace (its
    largest residual norm over ``alpha``, times the factor to the power of
    the rounds left, stays above one), with the multipliers it has.  They
    certify less than the least-squares solution would, which only makes
    its dual ratio an overestimate (an uncertified block's ratio only ranks
    it among the violators).  On one Fashion-MNIST class (60000 rows) 13 of
    91 priced blocks ran all 50 rounds to ratios of 15 to 87 that the first
    10 rounds had within 2%.
    """
    fits = [_ColumnGeneration(M, c, m, d, alpha) for M, c in zip(Ms, cs)]
    todo = []
    for k, f in enumerate(fits):
        if f.certified():
            continue                    # certified without multipliers
        start = None if starts is None else starts[k]
        if start is not None and len(start) and f.seed(start):
            continue
        todo.append(f)
    for rnd in range(max_rounds):
        if not todo:
            break
        X = todo[0].M.X
        R = np.concatenate([f.r.reshape(m, d) for f in todo])
        XR = X @ R.T
        left = max_rounds - rnd - 1
        todo = [f for k, f in enumerate(todo)
                if not f.grow(XR[:, k * m:(k + 1) * m], left, give_up)]
    return [(f.idx, f.val) for f in fits], [f.r for f in fits]


class _ColumnGeneration:
    """One block's state in :func:`_nnls_blocks`: candidate columns, the solution's
    positive entries ``x[idx] = val``, residual ``r``.

    (``x`` is kept by its support: at most ``m d`` of its ``n (m + 1)``
    entries are positive, and a pricing batch holds every block's state at
    once.)
    """

    def __init__(self, M, c, m, d, alpha):
        self.M, self.c, self.m, self.d, self.alpha = M, c, m, d, alpha
        ncol = M.shape[1]
        self.idx = np.zeros(0, dtype=int)
        self.val = np.zeros(0)
        self.r = c.copy()
        self.live = M.norms > 0
        self.keep = np.zeros(ncol, bool)
        self.scale = max(float(np.abs(c).max()), 1e-300)
        # Columns added per round: enough for a solution (at most m d
        # positives) on small blocks; on large ones (d = 100: 404) a smaller
        # step keeps the NNLS problems small, whose cost grows faster than
        # their column count (n = 500, d = 100 bench problem: 35 s with 101
        # or 128, 40 s with 404).
        self.step = min(m * d, NNLS_STEP_MAX)

    def certified(self):
        """Nothing left to fit: no columns, or (``alpha`` given) every group's
        residual norm within ``alpha``."""
        if self.alpha is None or self.M.shape[1] == 0:
            return self.M.shape[1] == 0
        r = self.r.reshape(self.m, self.d)
        return np.sqrt(np.einsum("jd,jd->j", r, r)).max() <= self.alpha

    def seed(self, start):
        """Fit on the columns ``start`` first; True when that certifies."""
        start = np.asarray(start)
        self.keep[start[self.live[start]]] = True
        return self.keep.any() and self.fit()

    def fit(self):
        """NNLS on the kept columns: ``x`` and the residual; True when certified."""
        idx = np.flatnonzero(self.keep)
        Mi = self.M.columns(idx)
        xs, _ = nnls(Mi, -self.c, maxiter=50 * len(idx))
        pos = xs > 0
        self.idx, self.val = idx[pos], xs[pos]
        self.r = self.c + Mi @ xs
        # Columns NNLS left at zero stay candidates only through the gradient test.
        self.keep[idx[xs <= 0]] = False
        return self.alpha is not None and self.certified()

    def grow(self, XR, rounds_left=0, give_up=None):
        """One column-generation round from ``XR = X R^T`` (n, m); True when done
        (certified, solved, or with ``give_up`` given, hopeless: see
        :func:`_nnls_blocks`)."""
        grad = self.M.rmatvec_from(XR)
        np.divide(grad, self.M.norms, out=grad, where=self.live)
        grad[self.keep | ~self.live] = 0.0
        cand = np.flatnonzero(grad < -1e-12 * self.scale)
        if len(cand) == 0:
            return True
        step = self.step
        if len(cand) > step:
            # The step most negative (a partition: sorting every candidate
            # took 10 ms a round at n = 50000, most of a pricing round there).
            cand = cand[np.argpartition(grad[cand], step - 1)[:step]]
        self.keep[cand] = True
        before = np.linalg.norm(self.r)
        if self.fit():
            return True
        if give_up is None or self.alpha is None:
            return False
        pace = np.linalg.norm(self.r) / max(before, 1e-300)
        if pace <= give_up:
            return False
        r = self.r.reshape(self.m, self.d)
        worst = np.sqrt(np.einsum("jd,jd->j", r, r)).max() / self.alpha
        return worst * pace ** rounds_left > 1.0


def restore_feasibility(op, U, blocks, max_rounds=10, max_move=1e-6):
    """Project the blocks ``blocks`` of ``U`` onto their pattern constraints.

    Interior-point solutions of the restricted problem can violate the
    constraints by ~1e-8 relative (exponential cones).  For one block, the
    constraints are ``A u >= 0`` on the stacked ``u = (u_1, ..., u_m)``; the
    projection onto that polyhedral cone is ``u + A_S^T mu`` with
    ``mu = argmin_{mu >= 0} ||u + A_S^T mu||^2`` (Moreau's decomposition),
    where ``S`` are the violated rows; rows are added until none is violated.
    The objective moves by the order of the violation.  ``U`` is updated in
    place (shape (C, 2, P, m, d)).
    """
    X = op.X
    n, d = X.shape
    C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
    Uf = U.reshape(-1, m, d)
    o_idx, s_idx, t_idx = np.unravel_index(np.asarray(blocks, dtype=int), (C, 2, P))
    for k, b in enumerate(blocks):
        t = t_idx[k]
        E1 = op.E1[:, t, :]                                  # (n, m)
        W2 = op.S1[:, t, :] * op.E2[:, t, None]              # (n, m)
        S1_rows = np.zeros((n, m), bool)
        S2_rows = np.zeros(n, bool)
        for _ in range(max_rounds):
            Zb = X @ Uf[b].T                                 # (n, m)
            c1 = E1 * Zb
            c2 = np.sum(W2 * Zb, axis=1)
            bad1, bad2 = c1 < 0, c2 < 0
            if not (bad1.any() or bad2.any()):
                break
            S1_rows |= bad1
            S2_rows |= bad2
            ii, jj = np.nonzero(S1_rows)
            i2 = np.flatnonzero(S2_rows)
            # A^T: (m d) x (rows); a c1 row touches group j, a c2 row all groups.
            AT = np.zeros((m * d, len(ii) + len(i2)))
            for j in range(m):
                sel = jj == j
                AT[j * d:(j + 1) * d, np.flatnonzero(sel)] = (X[ii[sel]] * E1[ii[sel], j, None]).T
                AT[j * d:(j + 1) * d, len(ii):] = (X[i2] * W2[i2, j, None]).T
            u0 = Uf[b].ravel()
            # Bounded-variable least squares: near-active rows make A_S
            # degenerate, where plain NNLS can stop far from the minimiser.
            mu = lsq_linear(AT, -u0, bounds=(0.0, np.inf), method="bvls").x
            new = u0 + AT @ mu
            if np.linalg.norm(new - u0) > max_move * np.linalg.norm(u0):
                break   # not a small correction: leave the block to the certificate
            Uf[b] = new.reshape(m, d)
    return U


def polish_multipliers(op, V, U, alpha, blocks, lams, active_rtol=1e-7):
    """Refit the multipliers of the working set to its stationarity conditions.

    On a block of the working set, optimality means
    ``X^T g_j = alpha u_j / ||u_j||`` for non-zero groups and
    ``||X^T g_j|| <= alpha`` for zero ones, with multipliers only on the
    active constraints (``c = 0``).  Non-negative least squares over the
    multipliers of the (numerically) active rows gives them to the accuracy
    of ``V`` itself; an interior-point solver's own multipliers are accurate
    to its tolerance only.  Updates the blocks' multipliers in ``lams`` (a
    :class:`BlockMultipliers`) where that lowers the worst dual ratio of a block.
    """
    NB, m, d = lams.n_blocks, lams.m, op.n_features
    Ub = U.reshape(NB, m, d)[blocks]
    nu = np.sqrt(np.einsum("bjd,bjd->bj", Ub, Ub))
    targets = alpha * Ub / np.where(nu > 0, nu, 1.0)[..., None]
    # Constraint values of the working set, relative to the block's scale.
    Zb, c1, c2 = op.block_constraints(U, blocks)                      # (n, B, m), (n, B)
    scale = np.abs(Zb).max(axis=(0, 2))
    scale = np.where(scale > 0, scale, 1.0)
    rows1 = c1 <= active_rtol * scale[None, :, None]
    rows2 = c2 <= active_rtol * scale[None, :]
    held1, held2 = lams.get(blocks)
    p1, p2, pn = price_blocks(op, V, blocks, targets=targets, rows1=rows1, rows2=rows2,
                              start=(held1, held2))
    old = block_ratios(op, V, held1, held2, alpha, blocks)
    better = block_ratios(op, V, p1, p2, alpha, blocks) < old
    if better.any():
        lams.set(blocks[better], p1[:, better], p2[:, better])


def price_into(op, V, blocks, alpha, lams):
    """Price the zero blocks ``blocks`` from the multipliers ``lams`` holds, store
    the new ones there, and return each block's largest dual norm.

    A few blocks at a time (about ``2^21`` floats of dense multipliers): all
    of them at once are the size of the lifted problem.  Blocks are priced
    independently, so the batches do not change the result.  A block that
    cannot be certified stops early (``give_up`` of :func:`price_blocks`):
    its norm only ranks it among the violators and bounds the dual ratio.
    """
    step = max(1, _MAX_ENTRIES // max(1, op.n_samples * op.n_hidden))
    worst = np.empty(len(blocks))
    for lo in range(0, len(blocks), step):
        part = blocks[lo:lo + step]
        p1, p2, pn = price_blocks(op, V, part, alpha=alpha, start=lams.get(part),
                                  give_up=GIVE_UP_PACE)
        lams.set(part, p1, p2)
        worst[lo:lo + len(part)] = pn.max(axis=1)
    return worst

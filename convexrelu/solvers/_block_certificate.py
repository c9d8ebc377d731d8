"""An exact test of one zero block's optimality: a small cone program by rows.

A block ``b`` left at zero is optimal (with the other blocks fixed) when

    rho = min_{lam >= 0} max_j || c_j + (A^T lam)_j ||_2 <= alpha,

``c_j = X^T (mask_bj * V)`` and ``A`` the block's pattern rows (first
layer: ``e1_ij x_i`` in group ``j``; second layer: ``w2_ij x_i`` in every
group).  The least-squares pricing (:mod:`._pricing`) bounds ``rho`` from
above only, and misses blocks whose ``rho`` is within a few 1e-4 of
``alpha``; those used to go to the restricted interior point on the loss's
quadratic model, which ends at the cone's apex ``u = 0``, where every row
is active at once and its Newton steps crawl (about 25 per block).

By conic duality ``rho`` is also the value of

    maximise  <c, u>   s.t.  A u >= 0,  sum_j ||u_j|| <= 1,

the steepest rate at which the block can lower the loss per unit of
penalty; its optimum lies on the ball's boundary, away from the apex.  Only
about ``m d`` of the ``n (m + 1)`` rows are active there, so the program is
solved on a few rows at a time (Clarabel, about ten iterations on a
problem of ``m d + m`` variables) and the rows that its ``u`` violates are
added.  Two facts make every round useful:

* multipliers of a subset of the rows are multipliers of all of them (the
  others at zero), so a round whose value is at most ``alpha`` certifies the
  block, however few rows it had;
* a round whose ``u`` satisfies every row has the full program's value, so
  a value above ``alpha`` then refutes it.

:func:`certify_zero` uses this test (after pricing) to certify that a whole
solution is zero, at and just above ``alpha_max``.
"""

import numpy as np

from ._multipliers import BlockMultipliers
from ._pricing import _BlockColumns, price_blocks

#: when a round's ``u`` satisfies every row and its value is within the stop
#: but its multipliers are not, solve those rows again at tight tolerances
#: (see :func:`_row_generation`)
TIGHT_RETRY = True


def _solve_rows(A, c, m, d, tight=False):
    """``(u, lam, value)`` of the program on the rows ``A``, or None on failure.

    ``tight`` asks Clarabel for gaps and residuals of 1e-11 instead of its
    default 1e-8 (for :func:`block_dual_norm`, whose value is alpha_max).

    Clarabel's form ``min q.x  s.t.  G x + s = h, s in K`` with
    ``x = (u, r)``: ``A u >= 0`` and ``sum_j r_j <= 1`` (non-negative cone),
    ``(r_j, u_j)`` in a second-order cone each.
    """
    import clarabel
    import scipy.sparse as sp

    N, p = A.shape
    if N == 0:
        # Only the ball: all of it on the group with the largest |c_j|.
        cn = np.sqrt(np.einsum("jd,jd->j", c.reshape(m, d), c.reshape(m, d)))
        j = int(np.argmax(cn))
        u = np.zeros((m, d))
        if cn[j] > 0:
            u[j] = c.reshape(m, d)[j] / cn[j]
        return u.ravel(), np.zeros(0), float(cn[j])
    q = np.concatenate([-c, np.zeros(m)])
    G = np.zeros((N + 1 + m * (d + 1), p + m))
    G[:N, :p] = -A
    G[N, p:] = 1.0
    for j in range(m):
        row = N + 1 + j * (d + 1)
        G[row, p + j] = -1.0
        G[row + 1:row + 1 + d, j * d:(j + 1) * d] = -np.eye(d)
    h = np.zeros(len(G))
    h[N] = 1.0
    cones = [clarabel.NonnegativeConeT(N + 1)] + [clarabel.SecondOrderConeT(d + 1)] * m
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    if tight:
        settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-11
        settings.tol_ktratio = 1e-9
        settings.max_iter = 200
    try:
        sol = clarabel.DefaultSolver(sp.csc_matrix((p + m, p + m)), q, sp.csc_matrix(G), h,
                                     cones, settings).solve()
    except Exception:          # a failed factorisation: the caller falls back
        return None
    if str(sol.status) not in ("Solved", "AlmostSolved"):
        # Tight tolerances can end in a numerical error on an easy program
        # (seen with no pattern rows at all); the default ones then serve,
        # since the callers check the multipliers' bound themselves.
        return _solve_rows(A, c, m, d) if tight else None
    return (np.asarray(sol.x)[:p], np.maximum(np.asarray(sol.z)[:N], 0.0),
            -float(sol.obj_val))


def certify_zero_block(op, V, block, alpha, *, seed_rows=None, max_rounds=20,
                       rtol=1e-9):
    """Decide whether zero is optimal for block ``block`` at the dual point ``V``.

    Parameters
    ----------
    op : LiftedOperator
    V : ndarray of shape (n, C)
        The raw dual point ``-grad L(F)``.
    block : int
        Flat block index into ``(C, 2, P)``.
    alpha : float
        Regularisation strength.
    seed_rows : tuple of ndarray, default=None
        ``(rows1 (n, m), rows2 (n,))`` of bool: the first rows to keep,
        such as the support of the pricing's multipliers, which usually
        holds most of the active rows.
    max_rounds : int, default=20
        Rounds of row generation before the test gives up.
    rtol : float, default=1e-9
        The block counts as certified when its multipliers' largest norm is
        at most ``alpha (1 + rtol)`` (the pricing's tolerance).

    Returns
    -------
    status : {"certified", "refuted", "undecided"}
        ``"refuted"``: ``rho > alpha`` on every row (to Clarabel's
        accuracy; the caller's restricted solve then decides the move).
    lam1 : ndarray of shape (n, m)
        First-layer multipliers of the smallest bound the rounds found
        (their largest norm is at most ``alpha (1 + rtol)`` when certified;
        zeros when none beat zero multipliers).
    lam2 : ndarray of shape (n,)
        Second-layer multipliers, the same.
    rho : float
        The last round's value over ``alpha``: an upper bound on
        ``rho / alpha`` (the rows left out can only lower it), equal to it
        when refuted.
    n_rows : int
        Rows in the last round.
    direction : ndarray of shape (m, d)
        When refuted, the last round's ``u`` with its negligible groups
        zeroed: a feasible direction along which the objective falls
        (``<c, u> > alpha sum_j ||u_j||``); zeros otherwise.
    """
    n, d = op.X.shape
    m = op.n_hidden
    c = _block_c(op, V, block) / alpha                   # scaled: the test is rho <= 1
    found = _row_generation(op, block, c, stop=1.0 + rtol, seed_rows=seed_rows,
                            max_rounds=max_rounds)
    status, u, lam, _, rho, n_rows = found
    lam1, lam2 = alpha * lam[:n * m].reshape(n, m), alpha * lam[n * m:]
    U = np.zeros((m, d))
    if status == "certified":
        return "certified", lam1, lam2, rho, n_rows, U
    # ("exact" comes only after the round's bound was above 1 + rtol.)
    if status == "exact" and rho > 1.0 + 1e-6:
        U = u.reshape(m, d).copy()
        un = np.linalg.norm(U, axis=1)
        U[un < 1e-6 * un.max()] = 0.0
        return "refuted", lam1, lam2, rho, n_rows, U
    return "undecided", lam1, lam2, rho, n_rows, U


def block_dual_norm(op, V, block, *, seed_rows=None, max_rounds=50):
    """``rho`` of block ``block`` itself: its value, multipliers and direction.

    The program of the module docstring solved to the end (all rows
    satisfied), with Clarabel's tolerances at 1e-11: what
    :func:`convexrelu.alpha_max` needs of every block it cannot skip.

    Returns
    -------
    u : ndarray of shape (m, d) or None
        The last round's primal point (a unit-penalty direction of the
        block's cone, to rounding); None when a solve failed.
    upper : float
        ``max_j ||c_j + (A^T lam)_j||`` of the returned multipliers: a
        certified upper bound on ``rho`` whatever the rounds did.
    lam1 : ndarray of shape (n, m)
    lam2 : ndarray of shape (n,)
    """
    n, d = op.X.shape
    m = op.n_hidden
    c = _block_c(op, V, block)
    scale = float(np.sqrt(np.einsum("jd,jd->j", c.reshape(m, d), c.reshape(m, d))).max())
    if scale <= 0:
        return np.zeros((m, d)), 0.0, np.zeros((n, m)), np.zeros(n)
    status, u, lam, bound, _, _ = _row_generation(op, block, c / scale, stop=None,
                                                  seed_rows=seed_rows,
                                                  max_rounds=max_rounds, tight=True)
    if u is None:
        return None, None, None, None
    lam = lam * scale
    return (u.reshape(m, d), bound * scale, lam[:n * m].reshape(n, m), lam[n * m:])


def _block_c(op, V, block):
    """The block's ``c_j = X^T (mask_bj V_o)``, flattened to (m d,)."""
    C, P = op.n_outputs, op.n_patterns
    o, s, t = np.unravel_index(int(block), (C, 2, P))
    sig = 1.0 if s == 0 else -1.0
    a = (sig * op.D2[:, t])[:, None] * op.S1[:, t, :] * V[:, o, None]     # (n, m)
    return (op.X.T @ a).T.ravel()


def _row_generation(op, block, c, *, stop, seed_rows, max_rounds, tight=False):
    """The block's program on growing row sets.

    Stops when a round's multipliers bring every norm to at most ``stop``
    (``"certified"``; never when ``stop`` is None), when its ``u`` satisfies
    every row (``"exact"``: its value is the program's), or after
    ``max_rounds`` or a failed solve (``"undecided"``).  Returns the status,
    the last ``u`` (m d,) or None, the multipliers of all rows (n m + n,),
    their largest norm, the last value and the number of rows kept.
    """
    n, d = op.X.shape
    C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
    t = np.unravel_index(int(block), (C, 2, P))[2]
    p = m * d
    full = np.zeros(n * m + n)
    norms = np.sqrt(np.einsum("jd,jd->j", c.reshape(m, d), c.reshape(m, d)))
    if stop is not None and norms.max() <= stop:
        return "certified", np.zeros(p), full, float(norms.max()), 0.0, 0
    # The pricing's column operator holds exactly these rows (its columns are
    # the rows of A, indexed i m + j, then n m + i); rows of norm zero (a
    # sample x_i = 0, a second-layer row with no active neuron) carry no
    # constraint and are never offered.
    rows = _BlockColumns(op.X, np.linalg.norm(op.X, axis=1), op.E1[:, t, :].astype(float),
                         (op.S1[:, t, :] * op.E2[:, t, None]).astype(float))
    valid = rows.norms > 0
    rownorm = np.where(valid, rows.norms, 1.0)
    keep = np.zeros(n * m + n, bool)
    if seed_rows is not None:
        r1, r2 = seed_rows
        keep[:n * m] = np.asarray(r1, bool).ravel()
        keep[n * m:] = np.asarray(r2, bool)
        keep &= valid
    step = max(p, 8)
    best, best_lam, u, rho = float(norms.max()), full.copy(), None, np.nan
    for _ in range(max_rounds):
        idx = np.flatnonzero(keep)
        A = rows.columns(idx).T
        found = _solve_rows(A, c, m, d, tight=tight)
        if found is None:
            return "undecided", u, best_lam, best, rho, len(idx)
        u, lam, rho = found
        bound = _largest_norm(c, A, lam, m, d)
        if bound < best:
            best = bound
            best_lam = np.zeros(n * m + n)
            best_lam[idx] = lam
        if stop is not None and best <= stop:
            return "certified", u, best_lam, best, rho, len(idx)
        # Rows this u violates, most violated (relative to the row) first.
        slack = rows.rmatvec(u) / rownorm
        slack[keep | ~valid] = np.inf
        bad = np.flatnonzero(slack < -1e-9 * max(np.linalg.norm(u), 1e-300))
        if not len(bad) and TIGHT_RETRY and stop is not None and rho <= stop and not tight:
            # Every row holds and the value is within ``stop``: zero is
            # optimal, and only Clarabel's default accuracy (1e-8) left the
            # multipliers short of it (UCI naval, a path point at 3.4e-4:
            # value 1 - 8e-11, multipliers 1 + 2.3e-9, and the block went to
            # the restricted interior point, whose multipliers left a gap of
            # 3e-5).  The same rows at tight tolerances certify it.
            found = _solve_rows(A, c, m, d, tight=True)
            if found is not None:
                bound = _largest_norm(c, A, found[1], m, d)
                if bound <= stop:
                    best_lam = np.zeros(n * m + n)
                    best_lam[idx] = found[1]
                    return "certified", found[0], best_lam, bound, found[2], len(idx)
        if not len(bad):
            return "exact", u, best_lam, best, rho, len(idx)
        if len(bad) > step:
            bad = bad[np.argpartition(slack[bad], step - 1)[:step]]
        keep[bad] = True
    return "undecided", u, best_lam, best, rho, int(keep.sum())


def _largest_norm(c, A, lam, m, d):
    """``max_j ||c_j + (A^T lam)_j||``: the bound the multipliers ``lam`` give."""
    G = (c + A.T @ lam).reshape(m, d)
    return float(np.sqrt(np.einsum("jd,jd->j", G, G)).max())


def certify_zero(op, V, ratios, alpha, near=1.25, most_exact=3):
    """Multipliers ``(lam1, lam2)`` certifying ``U = 0`` at ``alpha``, or None.

    The gated test (zero multipliers) certifies a block whose ratio is at
    most one; near ``alpha_max`` blocks fail it that multipliers certify.
    Without this test the interior point solves a problem whose solution is
    zero and returns 1e-9-sized groups: sub-networks of nothing in a fit,
    and, on a path, a warm start whose curvature ``alpha / |u|`` stalls the
    next alpha's active-set method.

    The most violated block is priced first (below ``alpha_max`` its
    least-squares ratio usually exceeds ``near`` and the test ends there);
    then every violator; up to ``most_exact`` blocks that pricing leaves
    within ``near`` (least squares overestimate the exact ratio by up to
    16% on the random problems of the tests) get their exact test
    (:func:`._block_certificate.certify_zero_block`, the cone program of
    :func:`convexrelu.alpha_max` solved on a few rows at a time), whose
    multipliers certify them or not.
    """
    n, NB, m = op.n_samples, ratios.shape[0], op.n_hidden
    # Dense only once zero is certified: below alpha_max the test ends early.
    lams = BlockMultipliers(n, NB, m)
    out = np.flatnonzero(ratios > 1.0)
    out = out[np.argsort(-ratios[out], kind="stable")]
    if len(out):
        # In growing batches, most violated first, stopping at the first
        # batch that settles it: below alpha_max some block soon prices above
        # ``near`` (10000 x 10 benchmark problem at 0.1 x the gated bound:
        # the first block priced within it, and pricing all 190 violators
        # before giving up took 5 of the solve's 36 s).
        worst = np.zeros(len(out))
        lo, size = 0, 1
        while lo < len(out):
            part = out[lo:lo + size]
            p1, p2, pn = price_blocks(op, V, part, alpha=alpha)
            lams.set(part, p1, p2)
            del p1, p2
            worst[lo:lo + size] = pn.max(axis=1)
            lo, size = lo + size, 4 * size
            if (np.any(worst[:lo] > near * alpha)
                    or np.count_nonzero(worst[:lo] > alpha) > most_exact):
                return None
        failing = np.flatnonzero(worst > alpha)
        left = out[failing[np.argsort(-worst[failing], kind="stable")]]  # failures first
        for beta in left:
            status, l1, l2, *_ = certify_zero_block(op, V, beta, alpha)
            if status != "certified":
                return None
            lams.set([beta], np.reshape(l1, (n, 1, m)), np.reshape(l2, (n, 1)))
    lam1, lam2 = lams.dense()
    return (lam1.reshape((n,) + op.var_shape[:-1]), lam2.reshape((n,) + op.var_shape[:-2]))

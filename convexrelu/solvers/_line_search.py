"""The active-set method's step: the Newton direction, blocking rows held one by one.

A mixin of :class:`convexrelu.solvers._active_set._ActiveSet`.  A Newton step
on a face (the live groups, the rows held at zero) is taken in the face's
coordinates ``theta`` (``u_b = Z_b theta_b``, see
:mod:`convexrelu.solvers._faces`), with the face's quadratic model (its
factor, gradient and unconstrained minimiser ``theta*``, built by
``_ActiveSet.newton_step`` as ``self.model``).  Rows that are inactive may
block the step: each blocking row is held at zero and the step goes on to
the minimiser of the same model on the smaller face,

    theta = theta* - H^-1 A^T S^-1 A (theta* - theta_cur),   S = A H^-1 A^T,

``A`` the held rows in face coordinates (a primal active-set pass on the
model), with the Cholesky factor of ``S`` extended by a row per blocking row
rather than refactorised.  A row that depends on the held ones (its pivot in
``S`` at rounding level) is held without changing the step.  The objective
then decides along the straight segment (Armijo), cut where a row would
leave the feasible set.
"""

import numpy as np
from scipy.linalg.lapack import dpotrs, dtrtrs

from . import _FEASIBILITY_RTOL

#: most blocking rows whose pivots :meth:`LineSearch.line_search` computes at once
PIVOT_CHUNK = 256
#: blocking rows one line search may walk, as a multiple of ``n + p`` (``p``
#: the face's unknowns): each costs a solve with the face's factor, so the
#: walk costs at most about this many Newton steps.  Paths of UCI sets with
#: repeated or collinear rows walked up to 11 (n + p); the former flat limit
#: of 1000 rows made the method fail there (UCI naval, energy, Boston
#: housing, iris; ``benchmarks/bench_strong_rule.py --walk``).
WALK_FACTOR = 20
#: a flat limit instead of ``WALK_FACTOR`` (None: that one)
WALK_ROWS_MOST = None


class LineSearch:
    """The step of a face's Newton direction (state: see ``_ActiveSet``)."""

    def theta_to_u(self, theta):
        """A displacement in the face coordinates of :attr:`model` as ``(dU, db)``."""
        m, d = self.m, self.d
        model = self.model
        dU = np.zeros((self.A, d))
        for (bi, gs, Zb), lo, hi in zip(model["bases"], model["offs"][:-1], model["offs"][1:]):
            if hi > lo:
                dU[bi * m + gs] = (Zb @ theta[lo:hi]).reshape(len(gs), d)
        p_u = model["p_u"]
        db = theta[p_u:] if self.fit_intercept else np.zeros(self.C)
        return dU, db

    def rows_in_theta(self, fam, rows, idx):
        """Constraint rows ``(fam[k], rows[k], idx[k])`` (a group for family 1,
        a block for family 2) in the face coordinates, shape (k, p)."""
        m = self.m
        X = self.op.X
        model = self.model
        slices = model["slices"]
        out = np.zeros((len(fam), len(model["step"])))
        block = np.where(fam == 1, idx // m, idx)
        for b in np.unique(block):
            if int(b) not in slices:
                continue
            lo, hi, gs, Zg = slices[int(b)]
            here = np.flatnonzero(block == b)
            one = fam[here] == 1
            h1, h2 = here[one], here[~one]
            if len(h1):
                # (family 1 rows are live groups' only, all in gs)
                pos = np.searchsorted(gs, idx[h1] - b * m)
                out[h1, lo:hi] = (self.E1[rows[h1], idx[h1], None]
                                  * np.einsum("hd,hdq->hq", X[rows[h1]], Zg[pos]))
            if len(h2):
                coef = self.W2[rows[h2], b][:, gs]                       # (h, groups)
                out[h2, lo:hi] = np.einsum("hg,hd,gdq->hq", coef, X[rows[h2]], Zg)
        return out

    def _pivots(self, fam, rows, idx, solve, L, A_held):
        """The constraint rows ``(fam, rows, idx)`` (see :meth:`rows_in_theta`)
        against the held rows ``A_held`` (whose ``A H^-1 A^T = L L^T``):
        ``(a, H^-1 a, L^-1 A_held H^-1 a, pivots, a^T H^-1 a)``, one column
        (or entry) per row; a pivot at rounding level marks a row dependent
        on the held ones."""
        Ac = self.rows_in_theta(fam, rows, idx)                        # (k, p)
        Wc = solve(Ac.T)                                                # (p, k)
        s_aa = np.einsum("kp,pk->k", Ac, Wc)
        E = (dtrtrs(L, A_held @ Wc, lower=1)[0] if len(A_held)
             else np.zeros((0, len(fam))))
        return Ac, Wc, E, s_aa - np.einsum("hk,hk->k", E, E), s_aa

    def line_search(self, dU, live, r, lb, max_rows=50):
        """Step along the face's Newton direction, rows permitting; None if no progress.

        When an inactive row blocks the step, the row is held at zero and the
        step continues to the minimiser of the same quadratic model on the
        smaller face (a primal active-set pass on the model, one solve with
        the model's factor per row: ``theta = theta* - H^-1 A^T S^-1 (A theta* - b)``,
        ``S = A H^-1 A^T``), until no row blocks.  The objective then decides
        (Armijo along the straight segment, which stays feasible); the rows
        join the active set when the whole step is taken.
        """
        X = self.op.X
        # A group whose step passes (nearly) through the origin: try it at zero.
        a = np.einsum("ad,ad->a", dU, dU)
        tg = -np.einsum("ad,ad->a", self.U, dU) / np.where(a > 0, a, 1.0)
        closest = np.linalg.norm(self.U + np.clip(tg, 0.0, None)[:, None] * dU, axis=1)
        suspect = live & (a > 0) & (tg > 0) & (tg < 1.5) & (closest <= 0.1 * r)
        if suspect.any() and self.try_zero(suspect):
            return True

        model = self.model
        solve, grad, star = model["solve"], model["grad"], model["step"]
        rows1 = live[None, :] & self.xnz[:, None]
        rows2 = self.r2 & lb.any(axis=1)[None, :]
        held1 = self.act1.copy()
        held2 = self.act2.copy()
        cur = np.zeros_like(star)
        target = star
        Zcur = self.Zs.copy()
        # The held rows' system S nu = A (star - cur), S = A H^-1 A^T, grows a
        # row and column per blocking row: its Cholesky factor L is extended
        # instead of refactorised.  A blocking row that depends on the held
        # ones (a Schur complement at rounding level: the step moves it by
        # rounding only) is held without changing the step, so the rows of
        # one pass are walked in the order they block until an independent
        # one changes the target; ``max_rows`` counts the independent ones.
        # (UCI naval, whose X has rank 14 of 17, has thousands of dependent
        # ones: a limit of 1000 rows made the method fail on every round of
        # a path point, left unconverged; see WALK_FACTOR.)
        # The held rows a (rows of A), their H^-1 a (columns of W) and L,
        # filled up to n_held (LAPACK's triangular solves: scipy's wrappers
        # cost ~10 us a call, most of the solves' time at these sizes).
        p = len(star)
        A_mat = np.empty((max_rows, p))
        W_mat = np.empty((p, max_rows))
        L = np.zeros((max_rows, max_rows), order="F")
        n_held = 0
        added = False
        walked = 0
        walk_most = (WALK_FACTOR * (self.n + p) if WALK_ROWS_MOST is None
                     else WALK_ROWS_MOST)
        s1, s2 = self.slacks(Zcur)
        start = (s1, s2)            # (the walk rebinds s1, s2; these stay the start's)
        for _ in range(max_rows):
            dth = target - cur
            dUs, _ = self.theta_to_u(dth)
            dZ = X @ dUs.T
            ds1, ds2 = self.slacks(dZ)
            lim1 = rows1 & ~held1 & (ds1 < 0)
            lim2 = rows2 & ~held2 & (ds2 < 0)
            rat1 = np.where(lim1, -s1 / np.where(lim1, ds1, -1.0), np.inf)
            rat2 = np.where(lim2, -s2 / np.where(lim2, ds2, -1.0), np.inf)
            c1 = np.flatnonzero(rat1 < 1.0)
            c2 = np.flatnonzero(rat2 < 1.0)
            rats = np.concatenate([rat1.flat[c1], rat2.flat[c2]])
            t_stop = 1.0
            order = np.argsort(rats, kind="stable")
            lo, size = 0, 1
            while lo < len(order):
                # (chunks of 1, 4, 16, ...: the first row is usually independent)
                ks = order[lo:lo + size]
                lo, size = lo + size, min(4 * size, PIVOT_CHUNK)
                one = ks < len(c1)
                ii = np.empty(len(ks), dtype=int)
                jj = np.empty(len(ks), dtype=int)
                ii[one], jj[one] = np.unravel_index(c1[ks[one]], rat1.shape)
                ii[~one], jj[~one] = np.unravel_index(c2[ks[~one] - len(c1)], rat2.shape)
                # A dependent row is held without changing L, so the rows
                # before the first independent one are all dependent.
                Ac, Wc, E, piv, s_aa = self._pivots(np.where(one, 1, 2), ii, jj, solve,
                                                    L[:n_held, :n_held], A_mat[:n_held])
                indep = np.flatnonzero(piv > 1e-10 * s_aa)
                last = indep[0] + 1 if len(indep) else len(ks)
                f1 = one[:last]
                held1[ii[:last][f1], jj[:last][f1]] = True
                held2[ii[:last][~f1], jj[:last][~f1]] = True
                added = True
                walked += last
                if walked > walk_most:
                    return None
                if len(indep):
                    q = indep[0]
                    a, wa, ell, pivot = Ac[q], Wc[:, q], E[:, q], float(piv[q])
                    t_stop = max(float(rats[ks[q]]), 0.0)
                    break
            if t_stop >= 1.0:
                cur = target
                Zcur = Zcur + dZ
                break
            cur = cur + t_stop * dth
            Zcur = Zcur + t_stop * dZ
            # (the slacks are linear in Z)
            s1 = s1 + t_stop * ds1
            s2 = s2 + t_stop * ds2
            L[n_held, :n_held] = ell
            L[n_held, n_held] = np.sqrt(pivot)
            A_mat[n_held] = a
            W_mat[:, n_held] = wa
            n_held += 1
            rhs = A_mat[:n_held] @ (star - cur)
            nu = dpotrs(L[:n_held, :n_held], rhs, lower=1)[0]
            target = star - W_mat[:, :n_held] @ nu
        else:
            return None
        dUt, dbt = self.theta_to_u(cur)
        dZt = Zcur - self.Zs
        gd = float(grad @ cur)
        if gd >= 0:
            if gd <= 1e-14 * abs(self.f) and added:
                # Degenerate: the rows block at once; hold them and go on.
                self.act1, self.act2 = held1, held2
                return True
            return None
        # A decrease below the objective's rounding cannot be seen by the
        # value test (it would halve t to nothing and the face would stall
        # with its stationarity residual just above the tolerance): the full
        # step is taken if it costs no more than rounding.
        slack = 1e-13 * abs(self.f) if -gd <= 1e-13 * abs(self.f) else 0.0
        t = self._feasible_fraction(rows1, rows2, start, dZt)
        reached = t == 1.0
        while t > 1e-12:
            Ut = self.U + t * dUt
            Zt = self.Zs + t * dZt
            bt = self.b + t * dbt
            ft = self.objective(Ut, bt, Zt)
            if ft <= self.f + 1e-4 * t * gd + slack:
                self.U, self.Zs, self.b, self.f = Ut, Zt, bt, ft
                self.certified.clear()
                if reached and t == 1.0:
                    self.act1, self.act2 = held1, held2
                return True
            t *= 0.5
        return None

    def _feasible_fraction(self, rows1, rows2, start, dZ):
        """The largest ``t <= 1`` for which ``Zs + t dZ`` keeps every row of
        ``rows1``, ``rows2`` at a slack of at least ``min(its start, -tol)``
        (``start``: the slacks at ``Zs``),
        ``tol`` the solver's feasibility tolerance (1e-8) times the current
        point's ``max |Z|``: the iterates stay as feasible as a certificate
        needs.

        The walk holds its rows exactly only in exact arithmetic: with an
        ill-conditioned system of held rows (pivots of 1e-5 of ``a^T H^-1 a``)
        the projection lets held rows drift, and a row whose pivot falls just
        below the dependence threshold is held without constraining the step.
        A random program (``benchmarks/random_sweep.py`` seed 7842, 39 rows)
        left such a step at a relative violation of 3.8e-3, and a UCI naval
        path's steps reached 0.12.
        """
        s1, s2 = start
        e1, e2 = self.slacks(self.Zs + dZ)
        # Not the full step's scale: that can be far larger while the
        # fraction taken is tiny (random_sweep.py seed 7842
        # with numpy 1.24 and scipy 1.10: a fraction of 2.7e-8 of a step to
        # max |Z| = 279 from 18.3, whose tolerance let a row fall to 1.5e-7
        # relative, 15 times the feasibility tolerance).
        tol = _FEASIBILITY_RTOL * float(np.abs(self.Zs).max(initial=0.0))
        t = 1.0
        for s, e, rows in ((s1, e1, rows1), (s2, e2, rows2)):
            floor = np.minimum(s, -tol)
            bad = rows & (e < floor)
            if bad.any():
                # (the slacks are linear in t)
                t = min(t, float(np.min((s[bad] - floor[bad]) / (s[bad] - e[bad]))))
        return t

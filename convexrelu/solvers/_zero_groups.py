"""Zero groups of an active-set solve: certified, or let in.

A mixin of :class:`convexrelu.solvers._active_set._ActiveSet`.  When a face
is solved, every zero group of the working set must satisfy its dual
constraint ``||X^T g_j|| <= alpha`` for some multipliers; the tests here go
from cheap to exact (see :meth:`ZeroGroups.enter_groups`), and a group that
fails them enters the live set along a feasible descent direction or by
its block's own restricted solve.
"""

import numpy as np
from scipy.linalg import LinAlgError

from ._block_certificate import certify_zero_block
from ._pricing import _BlockColumns, _nnls_by_columns, price_blocks

#: relative changes of the objective that count as rounding: the active-set
#: method's ``drop_tiny_groups`` zeroes groups at that cost, and
#: :meth:`ZeroGroups.block_step` moves blocks only for a larger decrease
OBJECTIVE_RTOL = 1e-12


class ZeroGroups:
    """Certification and entry of zero groups (state: see ``_ActiveSet``)."""

    def enter_groups(self, V, lb, ball_rounds=3):
        """Certify the zero groups of ``W``, or move the blocks that fail.

        Three tests, each on what the previous one left:

        1. a zero group of a live block, with the block's second-layer
           multipliers fixed at the face's, needs only its own first-layer
           multipliers (a small NNLS that stops once the group is within
           ``alpha``); a zero block gets the usual pricing;
        2. the block's multipliers fitted jointly: the live groups to their
           stationarity targets ``alpha u_j / |u_j|`` (weighted, so the fit
           cannot trade them away), the zero groups into the ball of radius
           ``alpha`` (:func:`price_blocks` with ``ball_rounds``);
        3. the blocks' own restricted problem (:meth:`block_step`), which
           either moves them or certifies them.

        The certifying multipliers are stored.  Returns True when blocks
        moved, False when every zero group is certified, None when neither
        could be decided.
        """
        alpha = self.alpha
        cand = np.flatnonzero(~lb.all(axis=1))
        cand = cand[~np.isin(cand, list(self.certified))]
        cand = cand[~self.certify_cheaply(V, cand, lb)]
        if not len(cand):
            return False
        if self.zero_directions and self.enter_along(self.zero_directions):
            return True
        targets, rows1, rows2 = self.fit_inputs(cand, lb)
        # Live groups' stationarity is exact at a solved face: weight it so
        # that the fit cannot trade it for smaller zero-group norms.
        p1, p2, pn = price_blocks(self.op, V, self.blocks[cand], targets=targets, rows1=rows1,
                                  rows2=rows2, alpha=alpha, ball=~lb[cand],
                                  ball_rounds=ball_rounds, weights=np.where(lb[cand], 1e3, 1.0),
                                  start=self.held(cand))
        ok = np.all(lb[cand] | (pn <= alpha * (1.0 + 1e-9)), axis=1)
        for k in np.flatnonzero(ok):
            self.set_block_multipliers(cand[k], p1[:, k], p2[:, k])
        todo = cand[~ok]
        done, directions = self.certify_exactly(V, todo, lb, p1[:, ~ok], p2[:, ~ok])
        todo = todo[~done]
        if not len(todo):
            return False
        if directions and self.enter_along(directions):
            return True
        return self.block_step(todo)

    def certify_exactly(self, V, bis, lb, lam1, lam2):
        """The exact test of the zero blocks among ``bis``; a bool per block.

        :func:`certify_zero_block` decides ``min_lam max_j |X^T g_j| <=
        alpha`` on the block's own ``m d`` weights (the steepest feasible
        rate of descent), away from the cone's apex where the restricted
        interior point of :meth:`block_step` is slowest; its first rows are
        the support of the pricing's multipliers ``lam1`` (n, len(bis), m)
        and ``lam2`` (n, len(bis)).  Blocks it refutes or cannot decide go
        on to that step (which also finds how far they move).  Returns a
        bool per block (certified) and the refuted blocks' steepest feasible
        directions ``{block: (m, d)}``, along which they can enter at once.
        """
        done = np.zeros(len(bis), bool)
        directions = {}
        for k in np.flatnonzero(~lb[bis].any(axis=1)):
            status, l1, l2, _, _, u = certify_zero_block(
                self.op, V, self.blocks[bis[k]], self.alpha,
                seed_rows=(lam1[:, k] > 0, lam2[:, k] > 0))
            if status == "certified":
                self.set_block_multipliers(bis[k], l1, l2)
                self.certified.add(int(bis[k]))
                done[k] = True
            elif status == "refuted":
                directions[int(bis[k])] = u
        return done, directions

    def enter_along(self, directions):
        """Zero blocks enter along feasible descent directions ``{block: (m, d)}``."""
        m, d = self.m, self.d
        X, alpha = self.op.X, self.alpha
        D = np.zeros((self.B, m, d))
        for bi, Db in directions.items():
            D[bi] = Db
        D = D.reshape(self.A, d)
        dZ = X @ D.T
        F = self.predict(self.Zs, self.b)
        gF = self.loss.gradient(F, self.Y, self.w)
        dF = self.predict(dZ, np.zeros(self.C))
        slope = float(np.sum(gF * dF)) + alpha * float(np.linalg.norm(D, axis=1).sum())
        if slope >= 0:
            return False
        curv = float(np.einsum("no,nop,np->", dF, self.loss.hessian(F, self.Y, self.w), dF))
        t = -slope / curv if curv > 0 else 1.0
        for _ in range(40):
            Ut, Zt = self.U + t * D, self.Zs + t * dZ
            ft = self.objective(Ut, self.b, Zt)
            if ft < self.f + 0.5 * t * slope:
                self.U, self.Zs, self.f = Ut, Zt, ft
                self.certified.clear()
                self.reset_rows(np.array(sorted(directions)))
                return True
            t *= 0.5
        return False

    def certify_cheaply(self, V, cand, lb):
        """Test 1 of :meth:`enter_groups`; a bool per block of ``cand``."""
        n, m = self.n, self.m
        X, alpha = self.op.X, self.alpha
        done = np.zeros(len(cand), bool)
        zero_blocks = ~lb[cand].any(axis=1)
        self.zero_directions = {}
        to_price = zero_blocks.copy()
        if zero_blocks.any():
            # Multipliers held from an earlier test (or the warm start) often
            # still certify: the dual point moves little between faces.
            held = self.held_ratios(V, cand[zero_blocks]) <= 1.0 + 1e-9
            done[np.flatnonzero(zero_blocks)[held]] = True
            to_price[np.flatnonzero(zero_blocks)[held]] = False
        if to_price.any():
            zb = cand[to_price]
            p1, p2, pn, res = price_blocks(self.op, V, self.blocks[zb], alpha=alpha,
                                           return_residual=True, start=self.held(zb))
            ok = np.all(pn <= alpha * (1.0 + 1e-9), axis=1)
            for k in np.flatnonzero(ok):
                self.set_block_multipliers(zb[k], p1[:, k], p2[:, k])
            done[np.flatnonzero(to_price)[ok]] = True
            # A failed block's least-squares residual is the projection of the
            # negative gradient on its cone: a feasible direction, which
            # lowers the objective when sum_j |D_j| (alpha - |D_j|) < 0.
            for k in np.flatnonzero(~ok):
                rn = np.linalg.norm(res[k], axis=1)
                if np.sum(rn * (alpha - rn)) < 0:
                    self.zero_directions[int(zb[k])] = res[k]
        xnorm = self.xnorm
        for k in np.flatnonzero(~zero_blocks):
            bi = cand[k]
            ok = True
            lam1 = {}
            for j in np.flatnonzero(~lb[bi]):
                g = bi * m + j
                # The group's fixed part: its share of V and of the block's
                # second-layer multipliers.
                a = (self.mask[:, g] * V[:, self.o_idx[bi]]
                     + self.W2[:, bi, j] * self.mu2[:, bi])
                c = X.T @ a
                if np.linalg.norm(c) <= alpha:
                    lam1[g] = np.zeros(n)
                    continue
                cols = _BlockColumns(X, xnorm, self.E1[:, g:g + 1] * self.xnz[:, None],
                                     np.zeros((n, 1)))
                x = _nnls_by_columns(cols, c, 1, self.d, alpha)
                if np.linalg.norm(c + cols.matvec(x)) > alpha * (1.0 + 1e-9):
                    ok = False
                    break
                lam1[g] = x[:n]
            if ok:
                for g, v in lam1.items():
                    self.mu1[:, g] = v
                done[k] = True
        return done

    def block_step(self, bis):
        """Solve blocks ``bis`` with the others fixed; step towards that solution.

        The least-squares pricing is a sufficient test only: a block it does
        not certify may be optimal all the same, or may have to grow.  The
        exact answer is the program restricted to those blocks, with the
        other blocks' predictions fixed and the loss replaced by its
        quadratic model at the current point, which the interior point
        solves (:mod:`convexrelu.solvers._barrier`).  With several outputs
        (a softmax) the blocks go output by output: a block feeds one
        output, so with the others fixed the model is diagonal per sample,
        ``g_o delta + h_oo delta^2 / 2`` (a weighted squared loss with
        targets ``F_b - g_o / h_oo``).  If moving towards a solution lowers
        the objective, those blocks move (their new groups become live); if
        not, they are optimal and that solution's multipliers are theirs.

        Returns True when blocks moved, False when all are optimal, None
        when this cannot be decided (a failed solve).
        """
        F = self.predict(self.Zs, self.b)
        g = self.loss.gradient(F, self.Y, self.w)
        h = self.loss.hessian(F, self.Y, self.w)
        outs = self.o_idx[bis]
        for o in np.unique(outs):
            moved = self._output_block_step(bis[outs == o], o, g, h[:, o, o])
            if moved is not False:
                return moved
        return False

    def _output_block_step(self, bis, o, g, h):
        """:meth:`block_step` for blocks ``bis`` of output ``o`` (``g``: the
        loss gradient (n, C), ``h``: output ``o``'s curvatures (n,))."""
        from ..losses import get_loss
        from ._barrier import NoInteriorError, solve_restricted_barrier

        m, d = self.m, self.d
        cols = (bis[:, None] * m + np.arange(m)[None, :]).ravel()
        Fb = (self.Zs[:, cols] * self.mask[:, cols]).sum(axis=1)
        # Targets in column o only: the other outputs have no block here, so
        # their predictions stay zero against zero targets.
        T = np.zeros((self.n, self.C))
        T[:, o] = np.where(h > 0, Fb - g[:, o] / np.where(h > 0, h, 1.0), 0.0)
        try:
            Ub, _, l1, l2, status = solve_restricted_barrier(
                self.op, get_loss("squared"), T, h, self.alpha, self.blocks[bis],
                fit_intercept=False, tol=1e-10)
        except (NoInteriorError, LinAlgError, FloatingPointError):
            return None
        # A block whose optimum is zero sits at its cone's apex, where every
        # row is active and the interior point converges slowly: its last
        # point still serves (a move is tested on f below, and multipliers
        # that fall short only fail the caller's duality gap).
        if status not in ("optimal", "stalled", "max_newton") or not np.all(np.isfinite(Ub)):
            return None
        D = np.zeros_like(self.U)
        D[cols] = Ub.reshape(-1, d) - self.U[cols]
        dZ = self.op.X @ D.T
        t = 1.0
        for _ in range(30):
            Ut, Zt = self.U + t * D, self.Zs + t * dZ
            ft = self.objective(Ut, self.b, Zt)
            # A smaller gain would be undone at once by drop_tiny_groups, and
            # the face solved again, to the step limit (a UCI energy path
            # point: 40 such cycles, 2.5 s, then "failed").
            if ft < self.f - OBJECTIVE_RTOL * abs(self.f):
                self.U, self.Zs, self.f = Ut, Zt, ft
                self.certified.clear()
                # The solution's tiny groups are the interior point's zeros.
                self.drop_tiny_groups()
                self.reset_rows(bis, rtol=1e-7)
                return True
            t *= 0.5
        # No decrease: the blocks are optimal with the others fixed.  Their
        # multipliers: the interior point's own, or a refit of the current
        # point's (active rows only) to the interior point's dual vectors
        # X^T g_j, whichever certifies better.
        V = -g
        live = self.live().reshape(self.B, m)
        targets, rows1, rows2 = self.fit_inputs(bis, live)
        own = np.empty(len(bis))
        for k, bi in enumerate(bis):
            gs = slice(bi * m, (bi + 1) * m)
            Gz = (self.mask[:, gs] * V[:, o, None] + self.E1[:, gs] * l1[:, k]
                  + self.W2[:, bi] * l2[:, k, None])
            G = Gz.T @ self.op.X
            gn = np.linalg.norm(G, axis=1)
            own[k] = gn.max()
            # Zero groups aim at the ball's point nearest their dual vector.
            proj = np.minimum(1.0, self.alpha / np.maximum(gn, 1e-300))
            zero = ~live[bi]
            targets[k, zero] = (G * proj[:, None])[zero]
        p1, p2, pn = price_blocks(self.op, V, self.blocks[bis], targets=targets, rows1=rows1,
                                  rows2=rows2, weights=np.where(live[bis], 1e3, 1.0))
        for k, bi in enumerate(bis):
            if own[k] < pn[k].max():
                self.set_block_multipliers(bi, l1[:, k], l2[:, k])
            else:
                self.set_block_multipliers(bi, p1[:, k], p2[:, k])
        self.certified.update(int(b) for b in bis)
        return False

    def fit_inputs(self, bis, lb):
        """Targets and allowed rows of the multipliers' fit of blocks ``bis``.

        Live groups aim at their stationarity targets ``alpha u_j / |u_j|``
        with their active rows; zero groups at zero with all their rows; the
        second-layer rows are the active ones of a live block, all of a zero
        one.  Returns ``targets`` (len(bis), m, d), ``rows1`` (n, len(bis), m)
        and ``rows2`` (n, len(bis)).
        """
        n, m, d = self.n, self.m, self.d
        targets = np.zeros((len(bis), m, d))
        rows1 = np.empty((n, len(bis), m), bool)
        rows2 = np.empty((n, len(bis)), bool)
        r = np.linalg.norm(self.U, axis=1)
        for k, bi in enumerate(bis):
            g = slice(bi * m, (bi + 1) * m)
            lg = lb[bi]
            targets[k, lg] = self.alpha * self.U[g][lg] / r[g][lg, None]
            rows1[:, k] = np.where(lg[None, :], self.act1[:, g], self.xnz[:, None])
            rows2[:, k] = self.act2[:, bi] if lg.any() else self.r2[:, bi]
        return targets, rows1, rows2

    def held_ratios(self, V, bis):
        """``max_j ||X^T g_j|| / alpha`` of zero blocks ``bis`` with the held multipliers.

        Any ``lam >= 0`` is complementary to a zero block's constraints, so
        the held ones certify the block whenever this is at most one.
        """
        n, m = self.n, self.m
        G = (np.asarray(bis)[:, None] * m + np.arange(m)[None, :]).ravel()
        a = (self.mask[:, G] * V[:, self.out_of_group[G]]
             + self.E1[:, G] * np.maximum(self.mu1[:, G], 0.0)
             + self.W2[:, bis, :].reshape(n, -1)
             * np.repeat(np.maximum(self.mu2[:, bis], 0.0), m, axis=1))
        return np.linalg.norm(a.T @ self.op.X, axis=1).reshape(-1, m).max(axis=1) / self.alpha

    def held(self, bis):
        """The held multipliers of blocks ``bis``: ``(lam1 (n, len, m), lam2 (n, len))``."""
        return (self.mu1.reshape(self.n, self.B, self.m)[:, bis], self.mu2[:, bis])

    def set_block_multipliers(self, bi, l1, l2):
        m = self.m
        self.mu1[:, bi * m:(bi + 1) * m] = l1
        self.mu2[:, bi] = l2

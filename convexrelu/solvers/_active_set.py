"""The restricted convex program from a feasible warm start: a primal active-set Newton method.

An interior-point method cannot use a good starting point: it leaves the
boundary first and then takes its usual 20 to 30 Newton steps back to it.
Along a regularisation path, and in a working-set round after a tight one,
the previous solution is already close to the new one and lies on (or next
to) the right face of the feasible set.  This method stays on faces.

On the working set ``W`` (``A = B m`` groups ``u_g`` in ``R^d``) with

* ``N``: the live (non-zero) groups (the others are held at zero),
* ``E``: the active constraint rows (``a_r . u = 0``, held as equalities),

the objective ``f(u, b) = L(Phi u + b) + alpha sum_{g in N} ||u_g||`` is
smooth, and its Newton step on the face ``E u = 0`` is taken in the face's
own coordinates: ``u_b = Z_b theta_b`` with ``Z_b`` a basis of the null space
of block ``b``'s active rows (rows touch one block only, so the basis is
block diagonal: one small SVD per block and face).  Each step

1. meets the inactive rows it would cross one by one: the row is held at
   zero and the step goes on to the minimiser of the same quadratic model
   on the smaller face (the mixin :class:`~convexrelu.solvers._line_search.LineSearch`,
   one solve with the model's factor per row);
2. backtracks until ``f`` decreases (Armijo along the straight segment,
   feasible because both ends are);

a group whose Newton step passes through the origin is set to zero when that
lowers ``f`` (the penalty's kink), and groups far below the largest (an
interior point's leftovers, whose curvature ``alpha / |u_g|`` would swamp the
Newton matrix) go at the start.  When the decrement and the stationarity
residual are negligible, the face is solved, and the KKT conditions of the
restricted problem are checked:

* the multipliers of the active rows (NNLS on ``grad f = E^T mu`` per block:
  the rows are degenerate by construction, so least squares would report
  negative multipliers where non-negative ones exist); rows that a feasible
  descent direction leaves are released (:meth:`_ActiveSet.check_face`);
* every zero group of ``W`` must satisfy its dual constraint; three tests of
  rising cost decide (:meth:`_ActiveSet.enter_groups`), the last of which
  solves the undecided blocks' own restricted problem on the loss's
  quadratic model with the interior point, and either moves them (they
  enter) or certifies them with that solution's multipliers.

When all hold, the stored multipliers are the rows' ``lam1``, ``lam2`` and
the point is returned as "optimal"; the caller's certificate (the duality gap
of the full program) still judges it.  Anything else (a step that cannot
lower ``f``, too many iterations, a singular face, a failed block solve)
returns "failed", and the caller solves the round with the interior point
instead.

The face bookkeeping (bases, multipliers, released rows) is the mixin
:class:`~convexrelu.solvers._faces.Faces`; the step along a face's Newton
direction :class:`~convexrelu.solvers._line_search.LineSearch`; the zero
groups' certification and entry
:class:`~convexrelu.solvers._zero_groups.ZeroGroups`.
"""

import numpy as np
from scipy.linalg import LinAlgError

from ..losses import flat_direction_curvature
from . import _FEASIBILITY_RTOL
from ._newton_systems import BY_OUTPUT_RATIO, check_dense_newton
from ._newton_matrix import NoInteriorError, _add_loss_gram, _scaled_cholesky, _scaled_factor
from ._woodbury import (DenseOutput, _map, by_output_solver, output_costs, shared_z_rows,
                        softmax_weights)
from ._faces import Faces
from ._line_search import LineSearch
from ._zero_groups import OBJECTIVE_RTOL, ZeroGroups

#: A face whose Newton decrement is below this (relative to the objective)
#: has its rows checked once before it is solved: a row its multipliers
#: release then is released at the solution too, and the two or three
#: quadratically converging steps that remain would be spent on a face
#: that changes anyway.
EARLY_CHECK_RTOL = 1e-6


def solve_restricted_active_set(op, loss, Y, w, alpha, blocks, U0, b0, *, fit_intercept,
                                tol=1e-10, max_newton=60, active_rtol=1e-7, lam1=None,
                                lam2=None, verbose=False):
    """Solve the program restricted to ``blocks`` from the feasible point ``U0``.

    Parameters
    ----------
    op : LiftedOperator
    loss : Loss
        Needs ``value``, ``gradient`` and ``hessian``.
    Y, w : ndarray
        Encoded targets (n, C) and normalised weights (n,).
    alpha : float
    blocks : ndarray of int, shape (B,)
        Flat block indices into ``(C, 2, P)``, increasing.
    U0 : ndarray of shape (B, m, d)
        A feasible start (zero blocks allowed).
    b0 : ndarray of shape (C,)
    fit_intercept : bool
    tol : float, default=1e-10
        Newton decrement, relative to the objective, at which a face counts
        as solved.
    max_newton : int, default=60
        Newton steps, zeroing trials and active-set changes allowed in all.
    active_rtol : float, default=1e-7
        Rows with a slack below this times their block's largest ``|X u|``
        are active at the start.
    lam1 : ndarray of shape (n, B, m), default=None
    lam2 : ndarray of shape (n, B), default=None
        Multipliers to try first on the zero blocks (a warm start's); any
        non-negative ones are complementary to a zero block's constraints.

    Returns
    -------
    U : ndarray of shape (B, m, d)
    intercept : ndarray of shape (C,)
    lam1 : ndarray of shape (n, B, m)
    lam2 : ndarray of shape (n, B)
    status : str
        "optimal" or "failed".
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        state = _ActiveSet(op, loss, Y, w, alpha, blocks, U0, b0, fit_intercept, active_rtol)
        if state.violation() > _FEASIBILITY_RTOL:
            # The method moves between faces of the feasible set: it cannot
            # start outside it (an "optimal" face there is not feasible).
            return state.result("failed")
        if lam1 is not None and lam2 is not None:
            # Zero blocks only: a live block's multipliers come from its face.
            zero = ~np.any(np.asarray(U0).reshape(len(blocks), -1), axis=1)
            n, m = state.n, state.m
            state.mu1.reshape(n, -1, m)[:, zero] = np.maximum(lam1[:, zero], 0.0)
            state.mu2[:, zero] = np.maximum(lam2[:, zero], 0.0)
        return state.run(tol, max_newton, verbose)


class _ActiveSet(Faces, LineSearch, ZeroGroups):
    """State of one active-set solve: the point, its live groups and active rows."""

    def __init__(self, op, loss, Y, w, alpha, blocks, U0, b0, fit_intercept, active_rtol):
        self.op, self.loss, self.Y, self.w, self.alpha = op, loss, Y, w, alpha
        X = op.X
        n, d = X.shape
        C, m = op.n_outputs, op.n_hidden
        self.blocks = blocks = np.asarray(blocks, dtype=int)
        B = len(blocks)
        A = B * m
        self.n, self.d, self.C, self.m, self.B, self.A = n, d, C, m, B, A
        o_idx, mask, E1, self.W2 = op.block_masks(blocks)            # (n, B, m) each
        self.o_idx = o_idx
        self.mask = mask.reshape(n, A)
        self.E1 = E1.reshape(n, A)
        self.out_of_group = np.repeat(o_idx, m)
        self.xnz = np.any(X != 0, axis=1)
        self.xnorm = np.linalg.norm(X, axis=1)
        self.r2 = np.any(self.W2 != 0, axis=2) & self.xnz[:, None]    # (n, B)
        self.fit_intercept = fit_intercept
        self.U = np.array(U0, dtype=float).reshape(A, d)
        self.b = np.asarray(b0, dtype=float).copy() if fit_intercept else np.zeros(C)
        self.Zs = X @ self.U.T
        self.f = self.objective(self.U, self.b, self.Zs)
        self.act1, self.act2 = self.active_rows(active_rtol)
        self.mu1 = np.zeros((n, A))
        self.mu2 = np.zeros((n, B))
        self.faces = {}                    # block -> (its face, the face record)
        # Blocks certified by their own restricted solve at the current point.
        self.certified = set()
        # The face whose rows were last checked before it was solved.
        self.checked_face = None

    # ---- the objective and the rows -------------------------------------------
    def predict(self, Zs, b):
        F = np.empty((self.n, self.C))
        Fm = Zs * self.mask
        for o in range(self.C):
            F[:, o] = Fm[:, self.out_of_group == o].sum(axis=1)
        return F + b

    def objective(self, U, b, Zs):
        return (self.loss.value(self.predict(Zs, b), self.Y, self.w)
                + self.alpha * np.linalg.norm(U, axis=1).sum())

    def slacks(self, Zs):
        s1 = self.E1 * Zs                                              # (n, A)
        s2 = np.einsum("nbm,nbm->nb", self.W2, Zs.reshape(self.n, self.B, self.m))
        return s1, s2

    def active_rows(self, rtol):
        """Rows at zero slack, to ``rtol`` of their own scale: ``(act1, act2)``.

        A first-layer row against its group's largest ``|X u_g|``; a
        second-layer row against its own terms (it is active when they
        cancel; a tiny group's rows are not), and only where one of the
        block's live groups is on (elsewhere it is identically zero).
        """
        n, B, m = self.n, self.B, self.m
        s1, s2 = self.slacks(self.Zs)
        Za = np.abs(self.Zs)
        gscale = np.maximum(Za.max(axis=0), 1e-300)
        terms = np.einsum("nbm,nbm->nb", np.abs(self.W2), Za.reshape(n, B, m))
        live = self.live().reshape(B, m)
        on = np.any((self.W2 != 0) & live[None], axis=2) & self.xnz[:, None]
        return ((s1 <= rtol * gscale[None, :]) & self.xnz[:, None],
                (s2 <= rtol * terms) & on)

    def violation(self):
        """Largest row violation of the current point, relative to ``max |X u_g|``
        (the measure of :meth:`LiftedOperator.max_violation`)."""
        s1, s2 = self.slacks(self.Zs)
        worst = max(float(np.where(self.xnz[:, None], -s1, 0.0).max(initial=0.0)),
                    float(np.where(self.r2, -s2, 0.0).max(initial=0.0)))
        return worst / max(float(np.abs(self.Zs).max(initial=0.0)), np.finfo(float).tiny)

    def block_scale(self, Zs):
        scale = np.abs(Zs).reshape(self.n, self.B, self.m).max(axis=(0, 2))
        return np.where(scale > 0, scale, 1.0)

    def live(self):
        return np.linalg.norm(self.U, axis=1) > 0

    # ---- the iteration ----------------------------------------------------------
    def run(self, tol, max_newton, verbose):
        B, m = self.B, self.m
        X, alpha, loss = self.op.X, self.alpha, self.loss
        status = "failed"
        for it in range(1, max_newton + 1):
            self.drop_tiny_groups()
            live = self.live()
            lb = live.reshape(B, m)
            F = self.predict(self.Zs, self.b)
            gF = loss.gradient(F, self.Y, self.w)                      # (n, C)
            r = np.linalg.norm(self.U, axis=1)
            gU = (gF[:, self.out_of_group] * self.mask).T @ X          # (A, d)
            gU[live] += alpha * self.U[live] / r[live, None]
            faces = [(bi, np.flatnonzero(lb[bi])) for bi in np.flatnonzero(lb.any(axis=1))]
            faces = [(bi, gs, self.face(bi, gs)) for bi, gs in faces]
            try:
                dU, dec, gmax = self.newton_step(F, gF, gU, r, faces)
            except (LinAlgError, RuntimeError, ValueError):
                return self.result("failed")
            if verbose:
                print(f"    [as] it {it:3d}  obj {self.f:.12e}  dec {dec:.2e}  live "
                      f"{int(live.sum())}  active rows {int(self.act1.sum() + self.act2.sum())}")
            # Solved face: a negligible decrement and a stationarity residual
            # at the interior point's standard (the certificate needs both).
            solved = dec <= tol * max(abs(self.f), 1e-300) and gmax <= 10.0 * tol * alpha
            if (not solved and dec <= EARLY_CHECK_RTOL * max(abs(self.f), 1e-300)
                    and self.face_key() != self.checked_face):
                # Nearly solved: the rows this face's multipliers release now
                # are the ones its exact solution would release, and the steps
                # to that solution would be spent on a face that changes.
                self.checked_face = self.face_key()
                if self.check_face(gU, faces) is True:
                    continue
            if solved:
                change = self.check_face(gU, faces)
                if change == "failed":
                    return self.result("failed")
                if change:
                    continue
                entered = self.enter_groups(-gF, lb)
                if entered is None:
                    return self.result("failed")
                if entered:
                    continue
                status = "optimal"
                break
            moved = self.line_search(dU, live, r, lb)
            if moved is None:
                if dec <= 1e3 * tol * max(abs(self.f), 1e-300):
                    # Rounding stops the descent: the face is as solved as it gets.
                    change = self.check_face(gU, faces)
                    if change is False and self.enter_groups(-gF, lb) is False:
                        status = "optimal"
                        break
                return self.result("failed")
        return self.result(status)

    def drop_tiny_groups(self, rtol=1e-5):
        """Zero the groups far below the largest (an interior point's leftovers).

        Their curvature ``alpha / |u_g|`` would dominate the Newton systems.
        Rounding-sized ones go at once; the others only if that does not
        raise the objective beyond rounding.
        """
        r = np.linalg.norm(self.U, axis=1)
        dust = (r > 0) & (r <= 1e-12 * r.max(initial=0.0))
        if dust.any():
            self.U[dust] = 0.0
            self.Zs = self.op.X @ self.U.T
            self.f = self.objective(self.U, self.b, self.Zs)
            r = np.linalg.norm(self.U, axis=1)
        tiny = (r > 0) & (r <= rtol * r.max(initial=0.0))
        if not tiny.any():
            return
        ftol = OBJECTIVE_RTOL * abs(self.f)
        if not self.try_zero(tiny, ftol=ftol, feas=1e-9):
            for g in np.flatnonzero(tiny):
                one = np.zeros_like(tiny)
                one[g] = True
                self.try_zero(one, ftol=ftol, feas=1e-9)

    def result(self, status):
        n, B, m, d = self.n, self.B, self.m, self.d
        return (self.U.reshape(B, m, d), self.b, np.maximum(self.mu1, 0.0).reshape(n, B, m),
                np.maximum(self.mu2, 0.0), status)

    def newton_step(self, F, gF, gU, r, faces):
        """The Newton step on the current face: ``(dU, decrement, largest gradient entry)``.

        ``faces``: ``(block, live groups, face record)`` of the live blocks
        (see :meth:`Faces.face`).  (The intercepts' part of the step stays in
        :attr:`model`, whose steps :meth:`line_search` takes.)
        """
        n, m, d, C, A = self.n, self.m, self.d, self.C, self.A
        alpha = self.alpha
        bases = [(bi, gs, face[1]) for bi, gs, face in faces]
        sizes = [Zb.shape[1] for _, _, Zb in bases]
        offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        p_u = int(offs[-1])
        ci = C if self.fit_intercept else 0
        p = p_u + ci
        out_col = np.empty(p_u, dtype=int)
        for (bi, _, _), lo, hi in zip(bases, offs[:-1], offs[1:]):
            out_col[lo:hi] = self.o_idx[bi]
        # Blocks are sorted, so each output's face columns are contiguous.
        cols = {}
        for o in range(C):
            co = np.flatnonzero(out_col == o)
            if len(co):
                if co[-1] - co[0] + 1 != len(co):
                    raise RuntimeError("working blocks not sorted by output")
                cols[o] = slice(co[0], co[-1] + 1)
        if p == 0:
            return np.zeros((A, d)), 0.0, 0.0
        parts = self.loss.hessian_parts(F, self.Y, self.w)
        # A softmax's face system by output needs each output's diagonal
        # block only: about p^2 / C entries instead of p^2 (a 13-class face
        # of 20000 weights: 0.25 GB instead of 3.2 GB).
        split = (parts is not None and parts[1] is not None
                 and _by_output_pays(n, p_u, cols))
        # (A face too large to form is a RuntimeError: the method reports
        # failure and the interior point's split systems take the round.)
        H = None
        if split:
            diag_blocks = {o: np.zeros((co.stop - co.start,) * 2) for o, co in cols.items()}
        else:
            check_dense_newton(p, f"face of {p} weights")
            H = np.zeros((p, p))
            diag_blocks = {o: H[co, co] for o, co in cols.items()}        # views
        J = np.empty((n, p_u))
        grad = np.zeros(p)
        for (bi, gs, (_, Zb, _, Jb, G)), lo, hi in zip(faces, offs[:-1], offs[1:]):
            if hi == lo:
                continue
            g_idx = bi * m + gs
            J[:, lo:hi] = Jb
            grad[lo:hi] = Zb.T @ gU[g_idx].ravel()
            # The norms' curvature alpha (I - u u^T / |u|^2) / |u| of each
            # group, in the face's coordinates: c_j (G_j - w_j w_j^T),
            # w_j = Z_j^T u_j / |u_j|.
            c = alpha / r[g_idx]
            w = np.einsum("jdk,jd->jk", Zb.reshape(len(gs), d, -1),
                          self.U[g_idx] / r[g_idx, None])
            start = cols[self.o_idx[bi]].start
            diag_blocks[self.o_idx[bi]][lo - start:hi - start, lo - start:hi - start] = (
                (c @ G.reshape(len(gs), -1)).reshape(hi - lo, hi - lo) - (w.T * c) @ w)
        Hl = self.loss.hessian(F, self.Y, self.w)                      # (n, C, C)
        if ci:
            grad[p_u:] = gF.sum(axis=0)
        solve = None
        if split:
            # A softmax: block diagonal by output minus rank n (see
            # output_block_solver), the face blocks in place of the constraint ones.
            try:
                solve = self.by_output(diag_blocks, J, cols, Hl, parts)
            except (NoInteriorError, LinAlgError):
                check_dense_newton(p, f"face of {p} weights")
                H = np.zeros((p, p))
                for o, co in cols.items():
                    H[co, co] = diag_blocks[o]
        if solve is None:
            diag_blocks = None
            _add_loss_gram(H, J, cols, out_col, Hl, parts, self.fit_intercept)
            if self.fit_intercept and self.loss.shift_invariant:
                # Softmax ignores a common shift of the intercepts.
                H[p_u:, p_u:] += flat_direction_curvature(H[p_u:, p_u:])
            solve = _scaled_factor(H)
        step = -solve(grad)
        dec = float(-grad @ step)
        # The quadratic model, kept for the steps that rows block (see line_search).
        # (slices: block -> its face columns, live groups and basis by
        # group, for the constraint rows of rows_in_theta)
        slices = {int(bi): (lo, hi, gs, Zb.reshape(len(gs), d, hi - lo))
                  for (bi, gs, Zb), lo, hi in zip(bases, offs[:-1], offs[1:]) if hi > lo}
        self.model = dict(solve=solve, grad=grad, step=step, bases=bases, offs=offs, p_u=p_u,
                          slices=slices)
        dU = np.zeros((A, d))
        for (bi, gs, Zb), lo, hi in zip(bases, offs[:-1], offs[1:]):
            if hi > lo:
                dU[bi * m + gs] = (Zb @ step[lo:hi]).reshape(len(gs), d)
        return dU, dec, float(np.abs(grad).max(initial=0.0))

    def by_output(self, diag_blocks, J, cols, Hl, parts):
        """``solve`` for the face's Newton matrix of a softmax, output by output.

        ``diag_blocks[o]`` holds the group curvature of output ``o``'s face
        blocks (on its diagonal blocks);
        each output's block adds ``J_o^T diag(Dl_o) J_o`` and is factorised
        alone, the rank-one parts and the intercepts go through
        :func:`by_output_solver`.
        """
        Dl, Rl = parts
        lam = softmax_weights(Dl, Rl)
        # (each output's Z written in place: a copy per Newton step otherwise)
        rows, joint = shared_z_rows({o: co.stop - co.start for o, co in cols.items()},
                                    len(Dl))

        def factor(item):
            o, co = item
            W = np.sqrt(Dl[:, o, None]) * J[:, co]
            return DenseOutput(_scaled_cholesky(diag_blocks[o] + W.T @ W), W, lam[:, o],
                               out=joint[rows[o]])

        # (on output_threads' threads inside solve_fast's rounds; the same bits)
        outputs = dict(zip(cols, _map(factor, list(cols.items()))))
        extra = None
        if self.fit_intercept and self.loss.shift_invariant:
            extra = flat_direction_curvature(Hl.sum(axis=0))
        return by_output_solver(outputs, J, cols, parts, Hl, self.fit_intercept, extra,
                                joint_Z=joint)

    def try_zero(self, groups, ftol=0.0, feas=1e-12):
        """Set ``groups`` to zero if that keeps the rows feasible and lowers ``f``.

        ``ftol`` (absolute) and ``feas`` (relative to the block's scale) allow
        an interior-point solution's ~1e-10 groups to go at rounding cost.
        """
        Ut = self.U.copy()
        Ut[groups] = 0.0
        Zt = self.op.X @ Ut.T
        _, t2 = self.slacks(Zt)
        scale = self.block_scale(self.Zs)
        blocks = np.unique(np.flatnonzero(groups) // self.m)
        if np.any(t2[:, blocks][self.r2[:, blocks]]
                  < -feas * np.broadcast_to(scale[blocks], t2[:, blocks].shape)[
                      self.r2[:, blocks]]):
            return False
        ft = self.objective(Ut, self.b, Zt)
        if ft > self.f + ftol:
            return False
        self.U, self.Zs, self.f = Ut, Zt, ft
        self.certified.clear()
        return True

def _by_output_pays(n, p_u, cols):
    """Whether the face's Newton system by output (:meth:`_ActiveSet.by_output`)
    is estimated at under ``BY_OUTPUT_RATIO`` of the dense one (``p^3 / 3 + n p^2``)."""
    if len(cols) < 2:
        return False
    split = n * n * p_u + n ** 3 / 3 + sum(
        output_costs(n, co.stop - co.start, 1)[0] for co in cols.values())
    return split < BY_OUTPUT_RATIO * (p_u ** 3 / 3 + n * p_u ** 2)

"""The restricted convex program by a log-barrier interior-point method.

On a working set of ``B`` blocks (``A = B m`` groups, ``k = A d`` weights) the
restricted program is small in ``k`` but has ``n (m + 1) B`` constraint rows.
A general conic solver pays for every row in its sparse factorisation; here
the rows only enter the Newton matrix through ``d x d`` (first-layer rows,
one group each) and ``md x md`` (second-layer rows, one block each) sums, so
a Newton step costs ``O(n k d + k^3 / 3)`` with dense BLAS.

The barrier problem, for ``tau > 0``::

    minimise  tau * ( L(Phi u + b) + alpha * sum_g t_g )
              - sum_rows log(a_r . u) - sum_g log(t_g^2 - ||u_g||^2)

Its minimiser gives the multipliers ``lam_r = 1 / (tau a_r . u)``, and
stationarity in ``u_g`` and ``t_g`` reads

    X^T ( mask_g V + E1_g lam1_g + S1_g E2 lam2 ) = alpha u_g / t_g,

with ``V = -grad L``: the dual point is feasible (``||X^T g|| < alpha``)
and the duality gap is ``(n_rows + 2 A) / tau``.  ``tau`` follows the
predictor-corrector steps' centring target (``1 / target``, never
decreasing) until that gap is below ``tol`` times the objective and the
stationarity residual below ``tol * alpha``.  The group epigraph
variables ``t`` are eliminated from every Newton system by a Schur
complement (each couples to one group only).

A strictly feasible start comes from the generating weights of sampled
tuples (the generating network is strictly inside its own pattern cone), or
from a phase-one linear program per block (:mod:`._interior_start`).

The parts: the working set's rows and the maps through their masks
(:class:`~convexrelu.solvers._working_rows.WorkingRows`), the first iterate
(:func:`_start`), the Newton systems and how they are solved
(:class:`~convexrelu.solvers._newton_systems.NewtonSystems`), one predictor-corrector step
(:func:`_predictor_corrector`), and the iteration with its stopping rules
(:func:`_solve_restricted_barrier`).
"""

import numpy as np

from ._newton_matrix import NoInteriorError, ridged_factorisations
from ._newton_systems import NewtonSystems
from ._interior_start import (WARM_GAP, WARM_THETA, _balancing_scales, _start_multipliers,
                              generating_start, start_scale)
from ._working_rows import WorkingRows


#: Newton steps without halving the stationarity residual, once the gap is
#: reached, after which the interior point reports "stalled"
STALL_STEPS = 15
#: what counts as halving there: a residual below this fraction of the
#: best one so far
STALL_FACTOR = 0.5
#: ... or after this many steps shorter than SHORT_STEP since it last
#: halved: the barrier function then rises along almost every Newton
#: direction and the steps change nothing (a loose round of a yeast fit,
#: 10 classes: 17 steps of 0 to 0.25 after the last halving; stopped after
#: 53 steps instead of 63, 14.8 s instead of 17.1 s)
STALL_SHORT_STEPS = 4
SHORT_STEP = 0.05
#: a warm start (``start_u``) whose first JAM_STEPS steps are all shorter than
#: SHORT_STEP is jammed against the boundary: the solve starts again from the
#: cold interior start.  (A path point of UCI energy, 43 blocks, a previous
#: solution 2.2 times the alpha away: steps of 4e-4 to 5e-3 for all 200
#: allowed, then Clarabel, 12.5 s of a 12.9 s path; started again cold, 0.59 s.)
JAM_STEPS = 5
#: steps after the gap first reached tol, with the gap back above it, after
#: which the interior point reports "stalled": at tau ~ 1e14 the iterates can
#: drift (a path point of UCI Boston housing, warm-started: the gap 4.6e-9 at
#: step 15, then 1e-7 to 1e-6 with the residual oscillating near 1e-3 for
#: the 185 steps left, then Clarabel: 1.7 s of a 3.2 s path).  Starts without
#: floored multipliers (tests/test_interior_point.py) recover from such a
#: drift after up to 47 steps.
STALL_DRIFT_STEPS = 60
#: unchecked steps (squared loss) become checked ones once the objective
#: rises above its lowest value so far by more than RISE_FACTOR times the
#: gap estimate at that point
RISE_FACTOR = 2.0
#: a guessed working set (``dropped`` given) sheds, once, the blocks whose
#: norm is below DROP_RTOL of the largest block's when the gap estimate
#: falls below DROP_GAP of the objective, if they are at least
#: DROP_MIN_FRACTION of the set (a block or two less saves no step, and
#: changes the later rounds' sets all the same)
DROP_RTOL = 0.1
DROP_GAP = 0.25
DROP_MIN_FRACTION = 0.25
#: an unchecked iteration (squared loss, see ``check_steps``) whose objective
#: exceeds this many times the start's plus the zero network's has diverged:
#: the solve starts again with every step checked
DIVERGED_FACTOR = 100.0
#: A cold start of a saturating loss (logistic, softmax) takes the zero
#: network's best intercept when that fits the zero network better than the
#: ``start_intercept`` given (the previous round's, which went with that
#: round's network): a 100-class round started at zero-network loss 13.3
#: against 4.6, its intercept step was 2e14 and the Newton systems went
#: singular at the second step; from the zero network's intercept it took
#: steps of 0.2 to 0.5.
COLD_START_ZERO_INTERCEPT = True
#: a cold start whose first JAM_STEPS checked steps the barrier function all
#: cut below MERIT_JAM_RATIO of their longest feasible length (directions
#: along which it rises: a predictor-corrector direction need not descend
#: it far from the central path) starts again with steps halved only while
#: the objective is above OBJECTIVE_CEILING times the zero network's plus
#: the start's (the runaway the check is for went to 1e15).  A cold
#: 342-block round of plant-shape (100 classes, cross-entropy, alpha = 0.1):
#: steps of ~1e-11 for all 200 allowed, then Clarabel past 24 minutes and
#: 15 GB; with the objective's check alone the objective rose from 9.2 to
#: 17.1 and came down to the optimum, 4.5702, in 21 steps.
MERIT_JAM_RATIO = 1e-6
OBJECTIVE_CEILING = 10.0


class _Diverged(Exception):
    """Unchecked steps sent the objective far above where it started."""


class _Jammed(Exception):
    """A warm start's first steps were all too short to make progress."""


class _MeritJammed(Exception):
    """A cold start's first checked steps were all cut to nothing by the check."""


def solve_restricted_barrier(*args, **kwargs):
    """Solve the program restricted to ``blocks``; see :func:`_solve_restricted_barrier`.

    Floating-point overflow in a diverging iteration is not reported as a
    warning: the iteration detects non-finite iterates itself and raises
    :class:`NoInteriorError`, on which the caller falls back.  An iteration
    without step checks whose objective runs away starts again with them;
    one whose checks jam a cold start (``MERIT_JAM_RATIO``) starts again
    with the objective's check alone.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        while True:
            try:
                return _solve_with_cold_restart(*args, **kwargs)
            except _Diverged:
                mode = True
            except _MeritJammed:
                mode = "objective"
            if kwargs.get("check_steps") == mode:
                raise NoInteriorError("the interior point's step checks jammed its start")
            kwargs["check_steps"] = mode
            _forget_dropped(kwargs)


def _forget_dropped(kwargs):
    """Empty the ``dropped`` list of an attempt that is solved again."""
    if kwargs.get("dropped") is not None:
        kwargs["dropped"].clear()


def _solve_with_cold_restart(*args, **kwargs):
    """:func:`_solve_restricted_barrier`, from the cold start when the warm one jams."""
    try:
        return _solve_restricted_barrier(*args, **kwargs)
    except _Jammed:
        kwargs["start_u"] = None
        _forget_dropped(kwargs)
        return _solve_restricted_barrier(*args, **kwargs)


def _solve_restricted_barrier(op, loss, Y, w, alpha, blocks, *, fit_intercept, tol=1e-10,
                             stationarity_tol=None, start_intercept=None, max_newton=200,
                             n_correctors=5,
                             verbose=False, newton="auto", start_u=None, resume=None,
                             state=None, check_steps=None, dropped=None, loss_part=None):
    """Solve the program restricted to ``blocks`` (all their constraint rows).

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
    fit_intercept : bool
    tol : float, default=1e-10
        Relative barrier gap ``(n_rows + 2 A) / (tau * objective)`` to reach.
    stationarity_tol : float, default=None
        Largest stationarity residual (the largest group norm of the
        Lagrangian's gradient in ``u``), relative to ``alpha``, accepted
        once the gap is reached; None: ``tol``.
    start_intercept : ndarray of shape (C,), default=None
    max_newton : int, default=200
        Total Newton steps allowed.
    n_correctors : int, default=5
        Most of Gondzio's centrality correctors per step (each one more
        solve with the step's factorisation; see :func:`_predictor_corrector`).
        On ``bench_solver.py``'s n = 500 problem 0 to 3 of them took 0.50 to
        0.53 s against 0.54 s (medians of 5, a /tmp script, thirty-first
        session): not a lever.
    verbose : bool, default=False
        Print each Newton step (objective, gap, residual, step, ``tau``).
    newton : {"auto", "dense", "woodbury", "outputs"}, default="auto"
        Newton systems by one dense Cholesky factorisation, or through the
        Woodbury identity (:mod:`convexrelu.solvers._woodbury`): on the loss
        part ("woodbury"), or, for a softmax, on its rank-one part with the
        rest factorised by output ("outputs").  "auto" takes "outputs" for
        a softmax whose estimated cost is below ``BY_OUTPUT_RATIO`` (0.85)
        of the dense one, else "woodbury" when the working set has more
        weights than twice ``n C`` (falling back to dense
        systems if their small matrices turn singular).
    start_u : ndarray of shape (B, m, d), default=None
        A feasible point on these blocks (a previous round's solution, zero
        on blocks new to the set): the start moves ``WARM_THETA`` of the way
        from it to the usual interior start, and the barrier parameter
        assumes a gap of ``WARM_GAP`` times the objective (a cold start
        assumes all of it).  Ignored when the point so reached is not
        strictly feasible.
    resume : dict, default=None
        The ``state`` of an earlier call on the same blocks (a loose round
        whose working set did not change): the iteration continues from its
        last iterate, barrier parameter and multipliers instead of starting
        again (from a cold start the interior point takes 20 to 30 steps;
        from a point at a 1e-3 gap, the few that tighten it).  Ignored when
        its blocks differ or its point is not strictly feasible here.
    check_steps : bool or "objective", default=None
        Check every primal step against the barrier function (halving it
        until that does not increase).  None: for the saturating losses,
        and for the squared loss where ``X`` has a null space or once a
        Newton matrix needed a ridge; an unchecked iteration whose
        objective runs away (``DIVERGED_FACTOR``) raises ``_Diverged``, on
        which :func:`solve_restricted_barrier` solves again with checks.
        "objective": halve a step only while the objective is above
        ``OBJECTIVE_CEILING`` times the zero network's plus the start's
        (what :func:`solve_restricted_barrier` solves again with when the
        barrier function's checks jam a cold start, ``MERIT_JAM_RATIO``).
    state : dict, default=None
        Filled with the last iterate (``U``, ``b``, ``lam1``, ``lam2``,
        ``tau``, ``blocks``), for ``resume``, and ``resumed`` (whether this
        call continued from ``resume``).
    dropped : list, default=None
        Given (a guessed working set), the iteration sheds once the blocks
        heading for zero (norms below ``DROP_RTOL`` of the largest, at least
        ``DROP_MIN_FRACTION`` of the set, once the gap estimate is below
        ``DROP_GAP`` of the objective) and goes on with the rest from its
        iterate; their flat indices are appended here and they come back as
        zeros without multipliers.  The result is then the program
        restricted to the blocks kept.  (A cold first round of the n = 500
        ``bench_solver.py`` problem: 10 of its 20 blocks shed at step 10 of
        21, the later steps on 264 weights instead of 880.)
    loss_part : dict, default=None
        The squared loss's part of the Newton matrix of an earlier call on
        the same problem (another working set), kept from one call to the
        next: this call builds only what its new blocks add to it
        (:meth:`NewtonSystems.reuse_loss_part`) and leaves its own there.

    Returns
    -------
    U : ndarray of shape (B, m, d)
    intercept : ndarray of shape (C,)
    lam1 : ndarray of shape (n, B, m)
    lam2 : ndarray of shape (n, B)
    status : str
        "optimal", "stalled" (the gap reached ``tol`` but the stationarity
        residual stopped halving for ``STALL_STEPS`` steps, or for
        ``STALL_SHORT_STEPS`` steps shorter than ``SHORT_STEP``, or the gap
        went back above ``tol`` for ``STALL_DRIFT_STEPS`` steps) or
        "max_newton".

    Raises
    ------
    NoInteriorError
        When a block has no strictly feasible point.
    """
    blocks = np.asarray(blocks, dtype=int)
    res_tol = tol if stationarity_tol is None else stationarity_tol
    rows = WorkingRows(op, blocks)
    X, n, d = rows.X, rows.n, rows.d
    const_hessian = loss.name == "squared"
    U, s1, s2, b, L0, warm, resumed = _start(rows, op, loss, Y, w, alpha, blocks, fit_intercept,
                                             start_intercept, start_u, resume, const_hessian)
    systems = NewtonSystems(rows, loss, Y, w, newton, fit_intercept, const_hessian)
    if loss_part is not None:
        systems.reuse_loss_part(blocks, loss_part)

    F = rows.predict(s1, b)
    f_obj = loss.value(F, Y, w) + alpha * np.linalg.norm(U, axis=1).sum()
    tau = rows.n_barrier / max(abs(f_obj), 1e-300)
    if warm:
        # The barrier's gap estimate n_barrier / tau: a fraction of the
        # objective from a warm point, all of it from a cold one.
        tau /= WARM_GAP
    if resumed:
        tau = float(resume["tau"])
        lam1 = np.asarray(resume["lam1"], dtype=float)
        lam2 = np.asarray(resume["lam2"], dtype=float)
    else:
        lam1 = _start_multipliers(s1, rows.live1, rows.r1f, tau)
        lam2 = _start_multipliers(s2, rows.live2, rows.r2f, tau)
    r1f, r2f, r2 = rows.r1f, rows.r2f, rows.r2
    status = "max_newton"
    best_res, best_it, n_short = np.inf, 0, 0
    reached = None          # the first step at which the gap reached tol
    # Steps are checked against the barrier function (below) for saturating
    # losses, and for the squared loss where X has a null space or once a
    # Newton matrix needed a ridge.
    objective_only = check_steps == "objective"
    guard = ((not const_hessian or op.flat_directions) if check_steps is None
             else bool(check_steps) and not objective_only)
    # The zero network's objective (the optimum is below it) plus the start's:
    # what no iterate of a converging solve comes near (see DIVERGED_FACTOR).
    f_limit = DIVERGED_FACTOR * (abs(L0) + abs(f_obj))
    f_ceiling = OBJECTIVE_CEILING * (abs(L0) + abs(f_obj))
    n_cut = 0               # checked steps the barrier function cut to nothing
    f_best, gap_best = np.inf, np.inf
    I_d = np.eye(d)
    B, m = rows.B, rows.m
    st = 0.0
    blocks_in, kept = blocks, np.arange(len(blocks))
    for it in range(1, max_newton + 1):
        gF = loss.gradient(F, Y, w)                                    # (n, C)
        g_f = (gF[:, rows.out_of_group] * rows.mask).T @ X             # grad_u L, (A, d)
        # The group epigraphs, minimised out: h(u) = min_t alpha t - log(t^2 - |u|^2)/tau,
        # grad h = alpha c u, c = beta / (1 + S), S = sqrt(1 + beta^2 |u|^2).
        beta = alpha * tau
        r = np.linalg.norm(U, axis=1)
        S = np.sqrt(1.0 + (beta * r) ** 2)
        cgrp = beta / (1.0 + S)
        g_h = alpha * cgrp[:, None] * U
        gap_grp = float(np.sum(alpha * r - alpha * cgrp * r * r))
        gap_rows = float(np.sum(lam1 * s1 * r1f) + np.sum(lam2 * s2 * r2f))
        gap_est = gap_rows + gap_grp
        r_u = g_f + g_h - rows.row_sums(lam1, lam2).T @ X
        f_obj = loss.value(F, Y, w) + alpha * r.sum()
        if (dropped is not None and len(kept) == len(blocks_in) and B > 1
                and gap_est <= DROP_GAP * abs(f_obj)):
            bnorm = r.reshape(B, m).sum(axis=1)
            low = bnorm <= DROP_RTOL * bnorm.max()
            if low.sum() >= DROP_MIN_FRACTION * B:
                # Blocks heading for zero in a guessed set: the rest of the
                # steps would drive them to their apex in every Newton matrix.
                keep = ~low
                gk = np.repeat(keep, m)
                dropped.extend(blocks[low].tolist())
                kept, blocks = kept[keep], blocks[keep]
                U, s1, lam1 = U[gk], s1[:, gk], lam1[:, gk]
                s2, lam2 = s2[:, keep], lam2[:, keep]
                rows = WorkingRows(op, blocks)
                systems = systems.restricted_to(rows, keep)
                r1f, r2f, r2 = rows.r1f, rows.r2f, rows.r2
                B = rows.B
                F = rows.predict(s1, b)
                continue
        res = float(np.max(np.linalg.norm(r_u, axis=1)))
        if fit_intercept:
            res = max(res, float(np.max(np.abs(gF.sum(axis=0)))))
        if not (np.isfinite(f_obj) and np.isfinite(res) and np.isfinite(gap_est)):
            # Diverged (a near-singular Newton matrix on a saturated loss):
            # the caller falls back to a general conic solver at once.
            raise NoInteriorError(f"the interior-point iterates diverged at step {it}")
        if not guard and f_obj > f_limit:
            # Steps along directions the squared loss does not see (cancelling
            # groups, rows no group's mask keeps: a 3-row fit reached 1e18
            # against the zero network's 0.38).
            raise _Diverged()
        if not guard and check_steps is None and f_obj > f_best + RISE_FACTOR * gap_best:
            # Unchecked steps wandering off: the objective back above its best
            # by more than twice the gap there.  Checked steps from here on
            # (a yacht path's first point: 198 steps unchecked, 41 checked).
            guard = True
        if f_obj < f_best:
            f_best, gap_best = f_obj, gap_est
        if verbose:
            print(f"    [ipm] it {it:3d}  obj {f_obj:.12e}  gap {gap_est:.2e}  "
                  f"res {res:.1e}  step {st:.2f}  tau {tau:.1e}")
        gap_now = gap_est <= tol * max(abs(f_obj), 1e-300)
        if gap_now and res <= res_tol * alpha:
            status = "optimal"
            break
        if gap_now and reached is None:
            reached = it
        if reached is not None and not gap_now and it - reached >= STALL_DRIFT_STEPS:
            # The gap drifted back above tol and stayed there (see STALL_DRIFT_STEPS).
            status = "stalled"
            break
        if gap_now:
            # Gap reached, stationarity not: at tau ~ 1e12 the Newton systems
            # can be too ill-conditioned to halve the residual (steps of 0.01
            # for hundreds of iterations, seen with the cross-entropy at
            # small alpha).  Stop and let the caller's certificate judge.
            if res < STALL_FACTOR * best_res:
                best_res, best_it, n_short = res, it, 0
            elif it - best_it >= STALL_STEPS or n_short >= STALL_SHORT_STEPS:
                status = "stalled"
                break
        # The Newton matrix: the rows' blocks, the group cones' curvature, the loss.
        # (beta, S and cgrp are the residual's above: tau has not changed.)
        mu_rows = gap_rows / max(rows.n_rows, 1)
        curv = alpha * beta ** 3 / (S * (1.0 + S) ** 2)
        inv_s1 = r1f / (s1 if rows.live1 is None else np.where(rows.live1, s1, 1.0))
        inv_s2 = r2f / np.where(r2, s2, 1.0)
        c1 = lam1 * inv_s1                                             # (n, A)
        c2 = lam2 * inv_s2                                             # (n, B)
        blocks_H = systems.row_blocks(c1, c2)                          # (B, md, md)
        grp = (alpha * cgrp[:, None, None] * I_d
               - curv[:, None, None] * U[:, :, None] * U[:, None, :])  # (A, d, d)
        diag = np.arange(m)
        blocks_H.reshape(B, m, d, m, d)[:, diag, :, diag, :] += (
            grp.reshape(B, m, d, d).transpose(1, 0, 2, 3))
        ridged = ridged_factorisations()
        solve = systems.solver(blocks_H, F)
        # A ridged matrix gives an inexact step, and the squared loss is flat
        # where the matrix is nearly singular: along directions that X maps
        # to zero (fewer rows than features, or collinear ones) only the
        # group norms change, and unchecked steps there sent a 9 x 31 fit's
        # objective from 4e-3 to 1e29 (sklearn's sample-weight check).
        guard = guard or ridged_factorisations() > ridged
        # The right-hand side: the stationarity residual above.
        rhs_b = -gF.sum(axis=0) if fit_intercept else np.zeros(0)
        floor = 0.1 * tol * max(abs(f_obj), 1e-300) / rows.n_barrier
        dU, db, ds1, ds2, dl1, dl2, sp, sd, target = _predictor_corrector(
            rows, solve, -r_u, rhs_b, s1, s2, lam1, lam2, inv_s1, inv_s2, c1, c2,
            mu_rows, st, floor, n_correctors)
        tau = max(tau, 1.0 / target)
        sp, sd = min(1.0, 0.99 * sp), min(1.0, 0.99 * sd)
        if guard:
            # A saturating loss (logistic, softmax) is nearly flat along
            # directions in which the group norms grow linearly, and the
            # Newton model cannot see that: such steps send the objective
            # to 1e15 within a few iterations (so does a ridged matrix, see
            # above).  Halve the primal step until the barrier function at
            # the new tau does not increase.
            phi0 = _merit(rows, loss, Y, w, alpha, U, b, s1, s2, tau)
            sp_max = sp
            while sp > 1e-12:
                phi1 = _merit(rows, loss, Y, w, alpha, U + sp * dU, b + sp * db,
                              s1 + sp * ds1, s2 + sp * ds2, tau)
                if phi1 <= phi0 + 1e-12 * abs(phi0):
                    break
                sp *= 0.5
            n_cut += sp < MERIT_JAM_RATIO * sp_max
        elif objective_only:
            while sp > 1e-12 and _objective(rows, loss, Y, w, alpha, U + sp * dU, b + sp * db,
                                            s1 + sp * ds1) > f_ceiling:
                sp *= 0.5
        st = min(sp, sd)
        n_short += st < SHORT_STEP
        if warm and it == n_short == JAM_STEPS:
            raise _Jammed()
        if not (warm or resumed) and it == n_cut == JAM_STEPS:
            raise _MeritJammed()
        U, b = U + sp * dU, b + sp * db
        s1, s2 = s1 + sp * ds1, s2 + sp * ds2
        lam1, lam2 = lam1 + sd * dl1, lam2 + sd * dl2
        dU = ds1 = ds2 = dl1 = dl2 = None
        F = rows.predict(s1, b)

    if loss_part is not None:
        systems.keep_loss_part(blocks, loss_part)
    if state is not None:
        # (U and b are returned too, and the caller may edit those.)
        state.update(U=U.copy(), b=b.copy(), lam1=lam1, lam2=lam2, tau=tau,
                     blocks=blocks.copy(),
                     resumed=resumed)
    U, lam1, lam2 = U.reshape(B, m, d), (lam1 * r1f).reshape(n, B, m), lam2 * r2f
    if len(kept) < len(blocks_in):
        # Dropped blocks are zero, with no multipliers (the caller takes them
        # out of its working set).
        B0 = len(blocks_in)
        Uf, l1f, l2f = np.zeros((B0, m, d)), np.zeros((n, B0, m)), np.zeros((n, B0))
        Uf[kept], l1f[:, kept], l2f[:, kept] = U, lam1, lam2
        U, lam1, lam2 = Uf, l1f, l2f
    return U, b, lam1, lam2, status


def _start(rows, op, loss, Y, w, alpha, blocks, fit_intercept, start_intercept, start_u,
           resume, const_hessian):
    """The interior point's first iterate: ``(U, s1, s2, b, L0, warm, resumed)``.

    A resumed iterate (``resume``, see :func:`_solve_restricted_barrier`) if
    it fits these blocks and is strictly feasible here; else the generating
    weights (or phase one), balanced and scaled (:func:`start_scale`), moved
    part of the way from ``start_u`` when that is given (``warm``).  ``L0``
    is the loss of the zero network with the start's intercept: for a cold
    start of a saturating loss, the zero network's best intercept where it
    fits better than ``start_intercept``.
    """
    n, d, C, A = rows.n, rows.d, rows.C, rows.A
    b = np.zeros(C) if start_intercept is None else np.asarray(start_intercept, float).copy()
    if not fit_intercept:
        b = np.zeros(C)
    resumed = False
    if (resume is not None and np.array_equal(resume.get("blocks"), blocks)
            and np.shape(resume["U"]) == (A, d)):
        # The exact slacks of the earlier iterate (its running ones carried rounding).
        # (No copies: the iteration replaces its arrays, never writes into them.)
        U = np.asarray(resume["U"], dtype=float)
        s1, s2 = rows.slacks(U)
        resumed = rows.strictly_feasible(s1, s2)
        if resumed and fit_intercept:
            b = np.asarray(resume["b"], dtype=float)
    # The zero network's prediction and loss (the start's scale, and the
    # divergence test's yardstick).
    F0 = np.zeros((n, C)) + b
    L0 = loss.value(F0, Y, w)
    warm = False
    if not resumed:
        B, m = rows.B, rows.m
        U, generated = generating_start(op, rows.t_idx, rows.E1, rows.W2, rows.r1, rows.r2,
                                        blocks)
        U = U.reshape(A, d)
        s1, s2 = rows.slacks(U)
        if not rows.strictly_feasible(s1, s2):
            raise NoInteriorError("the generating weights are not strictly feasible")
        if generated:
            c = _balancing_scales(U.reshape(B, m, d), s1.reshape(n, B, m) * rows.E1, rows.W2,
                                  rows.r2)
            U *= c.reshape(A, 1)
            s1 *= c.reshape(1, A)
            s2 = rows.second(s1)
        # Scale the start so that the network is small against the data.
        # Outputs at the start: the largest, and the largest before the two
        # signs of a tuple cancel (see start_scale).
        out = np.abs(rows.predict(s1, np.zeros(C))).max()
        out_abs = np.abs(rows.predict(np.abs(s1) * rows.sign_mask, np.zeros(C))).max()
        scale = float(np.abs(Y - F0).max()) if const_hessian else 1.0
        norm_sum = np.linalg.norm(U, axis=1).sum()
        U0, s10, s20 = U, s1, s2

        def scaled(L0):
            kappa = start_scale(L0, alpha, norm_sum, out, out_abs, scale)
            return U0 * kappa, s10 * kappa, s20 * kappa

        U, s1, s2 = scaled(L0)
        warm = start_u is not None and WARM_THETA > 0
        if warm:
            # Part of the way from a previous solution (feasible, on its face)
            # to this interior start: strictly feasible, and much closer.
            Uw = (1.0 - WARM_THETA) * np.asarray(start_u, float).reshape(A, d) + WARM_THETA * U
            s1w, s2w = rows.slacks(Uw)
            warm = rows.strictly_feasible(s1w, s2w)
            if warm:
                U, s1, s2 = Uw, s1w, s2w
        if (not warm and COLD_START_ZERO_INTERCEPT and fit_intercept and not const_hessian):
            # A small network from scratch: the given intercept went with
            # another network (see COLD_START_ZERO_INTERCEPT).
            zero = np.zeros((n, C))
            b0 = loss.optimal_intercept(zero, Y, w)
            L_b0 = loss.value(zero + b0, Y, w)
            if L_b0 < L0:
                b, L0 = b0, L_b0
                U, s1, s2 = scaled(L0)
    return U, s1, s2, b, L0, warm, resumed


def _objective(rows, loss, Y, w, alpha, U, b, s1):
    """The restricted program's objective at ``U`` (``s1`` its first slacks)."""
    return loss.value(rows.predict(s1, b), Y, w) + alpha * float(np.linalg.norm(U, axis=1).sum())


def _merit(rows, loss, Y, w, alpha, U, b, s1, s2, tau):
    """The barrier function at ``tau``, epigraphs minimised out (inf outside)."""
    s1l = s1 if rows.live1 is None else s1[rows.live1]
    if np.any(s1l <= 0) or np.any(s2[rows.r2] <= 0):
        return np.inf
    beta = alpha * tau
    r = np.linalg.norm(U, axis=1)
    S = np.sqrt(1.0 + (beta * r) ** 2)
    groups = float(np.sum(1.0 + S - np.log(2.0 * (1.0 + S) / beta ** 2)))
    barrier = -float(np.sum(np.log(s1l))) - float(np.sum(np.log(s2[rows.r2])))
    return tau * loss.value(rows.predict(s1, b), Y, w) + groups + barrier


def _predictor_corrector(rows, solve, base, rhs_b, s1, s2, lam1, lam2, inv_s1, inv_s2, c1, c2,
                         mu_rows, st, floor, n_correctors):
    """One Mehrotra predictor-corrector step with Gondzio's centrality correctors.

    ``solve`` applies the factorised Newton matrix; ``base`` (A, d) and
    ``rhs_b`` (C or 0) are the stationarity residual's right-hand side;
    ``c1 = lam1 / s1``, ``c2 = lam2 / s2``; ``mu_rows`` is the rows' mean
    complementarity, ``st`` the last step, ``floor`` the smallest centring
    target.  Returns ``(dU, db, ds1, ds2, dl1, dl2, sp, sd, target)``: the
    direction, the largest primal and dual steps along it, and its target.
    """
    X, d, A, k, C = rows.X, rows.d, rows.A, rows.k, rows.C
    r1f, r2f = rows.r1f, rows.r2f
    n_rows = max(rows.n_rows, 1)

    def direction(t1, t2):
        """Newton step for the row targets ``lam s = t`` (t1: (n, A), t2: (n, B))."""
        # inv_s and lam vanish on rows without a constraint, so no mask here.
        e1 = t1 * inv_s1 - lam1
        e2 = t2 * inv_s2 - lam2
        rhs_u = base + rows.row_sums(e1, e2).T @ X
        step = solve(np.concatenate([rhs_u.ravel(), rhs_b]))
        dU = step[:k].reshape(A, d)
        db = step[k:] if len(rhs_b) else np.zeros(C)
        ds1 = X @ dU.T
        ds1 *= rows.E1f
        ds2 = rows.second(ds1)
        dl1 = c1 * ds1
        np.subtract(e1, dl1, out=dl1)
        dl2 = e2 - c2 * ds2
        return dU, db, ds1, ds2, dl1, dl2

    def max_steps(dirn):
        return rows.max_steps(s1, s2, lam1, lam2, *dirn[2:])

    aff = direction(np.zeros_like(s1), np.zeros_like(s2))
    ap, ad = max_steps(aff)
    mu_aff = (float(np.sum((s1 + ap * aff[2]) * (lam1 + ad * aff[4]) * r1f))
              + float(np.sum((s2 + ap * aff[3]) * (lam2 + ad * aff[5]) * r2f))
              ) / n_rows
    # Mehrotra's centring weight, held near one after short steps (the
    # iterate is then off-centre and a smaller target only shortens them).
    sigma = min(1.0, max((mu_aff / max(mu_rows, 1e-300)) ** 3, min(0.9, (1.0 - st) ** 2)))
    target = max(sigma * mu_rows, floor)
    T1, T2 = aff[2] * aff[4], aff[3] * aff[5]
    np.subtract(target, T1, out=T1)
    np.subtract(target, T2, out=T2)
    # Directions are n x (working groups) arrays each: keep at most two.
    aff = None
    cur = direction(T1, T2)
    # Separate primal and dual steps to the boundary: from a small start
    # the slacks grow by orders of magnitude, which a common step would
    # throttle through the multipliers.
    sp, sd = max_steps(cur)
    # Gondzio's centrality correctors: push the products lam * s that
    # would leave [0.1, 10] x target (at a longer trial step) back into
    # it; each costs one more solve with the same factorisation.
    for _ in range(n_correctors):
        tp, td = min(1.0, 1.5 * sp + 0.1), min(1.0, 1.5 * sd + 0.1)
        lo, hi = 0.1 * target, 10.0 * target
        # q = max(clip(v, lo, hi) - v, -hi) on live rows, built in place
        # (v = the products lam s at the trial step): the correctors run
        # at the solver's memory peak.
        q1 = tp * cur[2]
        q1 += s1
        v1 = td * cur[4]
        v1 += lam1
        q1 *= v1
        np.clip(q1, lo, hi, out=v1)
        np.subtract(v1, q1, out=q1)
        v1 = None
        np.maximum(q1, -hi, out=q1)
        q1 *= r1f
        q1 += T1
        v2 = (s2 + tp * cur[3]) * (lam2 + td * cur[5])
        q2 = np.maximum(np.clip(v2, lo, hi) - v2, -hi) * r2f
        q2 += T2
        trial = direction(q1, q2)
        tsp, tsd = max_steps(trial)
        if min(tsp, tsd) < 1.05 * min(sp, sd):
            break
        cur, sp, sd, T1, T2 = trial, tsp, tsd, q1, q2
    return cur + (sp, sd, target)

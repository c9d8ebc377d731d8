"""The default solver: working sets of blocks, exact restricted solves, a certificate.

Why this design
---------------
At the optimum of the convex program most blocks ``b = (o, sig, t)`` are
zero (the group-l1 penalty), and a zero block is certified by its dual
constraint alone: for every group ``g = (b, j)``

    || X^T ( mask_g * V + E1_g * lam1_g + S1_g * E2_b * lam2_b ) ||_2 <= alpha   (*)

with ``V = -grad L(F)`` (FORMULATION.md section 7).  So the solver

1. picks a working set ``W`` of blocks: the non-zero blocks of a warm start
   plus the blocks whose constraint ``(*)`` (with zero multipliers: the
   gated-relaxation test, ``||X^T(mask_g V)|| / alpha``) is most violated at
   the start;
2. solves the program restricted to ``W`` exactly (interior point, Clarabel,
   through :meth:`Loss.cvxpy_expression`, so any loss of the interface
   works; see :mod:`convexrelu.solvers._restricted`).  The restricted
   problem's constraint multipliers are the ``lam`` of the blocks in ``W``,
   zero elsewhere, and they satisfy ``(*)`` on ``W`` by the restricted KKT
   conditions;
3. computes the certificate of the full problem (the duality gap of
   :func:`convexrelu.duality.duality_gap`) from the restricted solution
   padded with zeros.  If the relative gap is below ``tol`` and the pattern
   constraints hold to 1e-8, it stops; otherwise the blocks outside ``W``
   that violate ``(*)`` most are added and step 2 repeats from the last
   solution.

The working set grows, so the loop ends after at most ``2 C P`` blocks (in
the worst case it is the full problem); blocks left at zero leave it only a
bounded number of times (pruning once per block, and the first round's
interior point shedding blocks heading for zero), so the rounds cannot
cycle.  Which blocks a round takes: :mod:`._working_set`.  Every padded point is feasible
(zero groups satisfy every constraint), and its certificate is the one
:func:`convexrelu.solve_convex` recomputes independently.

Never formed: the lifted ``n x (2 P m d)`` matrix.  Only the restricted
columns of ``W`` (sparse, masked) are built for the interior-point solve;
all full-size products go through ``X @ U`` and ``X^T @ Gz``.
"""

import time

import numpy as np

from ..duality import duality_gap
from ..memory import available_memory
# solvers/__init__ imports this module lazily, so the package is loaded here.
from . import _FEASIBILITY_RTOL
from ._active_set import solve_restricted_active_set
from ._barrier import NoInteriorError, solve_restricted_barrier
from ._block_certificate import certify_zero, certify_zero_block
from ._by_output import solve_by_output
from ._multipliers import BlockMultipliers, block_ratios
from ._pricing import polish_multipliers, price_blocks, price_into, restore_feasibility
from ._restricted import restricted_clarabel_bytes, solve_restricted
from ._woodbury import output_threads, thread_count
from ._working_set import (_add_strong_rule_blocks, _add_violators, _block_norms,
                           _drop_negligible_blocks, _gated_ratios, _generator_blocks,
                           _zero_tiny_groups)

__all__ = ["solve_fast"]

#: the default first working set and growth (a tenth of the blocks) are
#: capped at this many weights per output where the interior point's Newton
#: matrices are formed (rows at least half the weights): 10000 x 100
#: benchmark problem, 20 blocks of 404 weights against 10 (grow 10),
#: 446.7 s against 234.2 s
DENSE_SET_WEIGHTS = 4096
#: ... but at least this many blocks
MIN_SET_BLOCKS = 4
#: The default first working set and growth are 1 / SET_FRACTION of the
#: blocks (at least 8); with a softmax over C > 1 outputs 1 / COUPLED_SET_FRACTION:
#: its Newton matrices couple every output's weights (k = C x blocks per
#: output x m d, k^3 / 3 a step), and most blocks a round adds end at zero
#: (audiology-std, 18 classes: 119 of the first round's 144 below 1e-4 of
#: the largest, 53 of the 1440 blocks active at the optimum).
#: ``benchmarks/bench_set_fraction.py`` (14 UCI classifier fits, 6 to 18
#: classes, alpha 1e-2 and 1e-3): 500.5 s against 401.6 s, one or two more
#: rounds each; slower on dermatology (0.73x, 0.77x) and flags and ecoli at
#: one alpha each, audiology-std 1.47x.
SET_FRACTION = 10
COUPLED_SET_FRACTION = 20
#: A cold first working set over several outputs takes each output's most
#: violated blocks in turn (``_add_violators``): the most violated overall
#: can all feed a few classes (digits, 10 classes: the first 32 blocks fed
#: 4, and the first round ended at an objective of 1.14 against 0.18 by
#: turns).  ``bench_set_fraction.py --balanced`` (the 14 UCI fits and
#: digits at alpha 1e-2): 247.3 s by turns against 237.6 s; without
#: digits 1e-2, whose last round fell to the interior point, 138.5 against
#: 169.9 s (audiology-std 1e-3 2.97x; the others 0.92x to 1.55x).
#: Growth rounds by turns gained nothing (digits 1e-3: 137.8 against 139.8 s).
BALANCED_FIRST_SET = True
#: the interior point of a cold first round sheds the blocks heading for zero
#: (see _barrier.DROP_RTOL), on one output: bench_set_fraction.py --drop, 1.06x
#: in all over 18 single-output fits (1.34x on the n = 500 benchmark problem,
#: 0.79x on the slowest), 0.97x over 14 softmax fits, whose first sets are
#: chosen by turns over the classes
DROP_IN_FIRST_ROUND = True
#: a cold single-output program on trained tuples starts from the generating
#: network's own blocks (each tuple with the sign of its output weight) that
#: violate their gated constraint at zero, instead of the most violated
#: blocks; ``initial_blocks`` set by hand keeps the latter
#: (``bench_set_fraction.py --generator``)
GENERATOR_FIRST_SET = True
#: blocks outside the working set that pricing leaves above ``alpha`` get
#: the exact test when there are at most this many, none by more than
#: ``NEAR_VIOLATION`` times (see ``_certify_near_violators``)
NEAR_VIOLATORS_MOST = 8
NEAR_VIOLATION = 1.01
#: when a round misses ``tol`` through the working set's multipliers alone,
#: at most this many of its blocks short of dual feasibility get the exact
#: test's (``_exact_multipliers``; 0 turns it off)
SHORT_SET_BLOCKS_MOST = 32
#: a tight interior-point round stops once its barrier gap is within its
#: tolerance and its stationarity residual within this many times that
#: tolerance (times ``alpha``): at the default tol 1e-6, 1e-6 instead of
#: 1e-8, where the last Newton steps only polish stationarity that the
#: multipliers' least squares polish again.  Against a factor of 1, one
#: process (thirty-ninth session, /tmp wrappers): ``bench_set_fraction.py``'s
#: 18 single-output fits 69.9 -> 64.5 s (bostonHousing 1e-3 1.65x), its 14
#: softmax fits 1.03x, ``bench_strong_rule.py``'s paths 1.01x; the same
#: rounds (one fewer on one path), objectives within 3e-10
STATIONARITY_FACTOR = 100
#: a warm start from ``prev_alpha`` goes to the active-set method when
#: ``alpha >= ACTIVE_SET_ALPHA_RATIO * prev_alpha`` (see ``solve_fast``)
ACTIVE_SET_ALPHA_RATIO = 0.45


def solve_fast(op, loss, Y, w, alpha, *, fit_intercept, tol, max_iter, verbose,
               warm_start=None, initial_blocks=None, grow=None, inner_tol=1e-10,
               polish=True, zero_rtol=1e-7, inner="ipm", first_round_tol=1e-3, prune=True,
               prune_rtol=3e-3, cache_multipliers=True, newton="auto", active_set=True,
               n_jobs=None, loose_while_growing=True, resume_ipm=True, memory_limit=None,
               **unused):
    """Working-set solver of the convex program with an exact restricted solve.

    Parameters
    ----------
    op : LiftedOperator
    loss : Loss
    Y : ndarray of shape (n, C)
        Encoded targets.
    w : ndarray of shape (n,)
        Normalised sample weights (sum to one).
    alpha : float
    fit_intercept : bool
    tol : float
        Target relative duality gap.
    max_iter : int
        Largest number of working-set rounds (restricted solves).
    verbose : bool
        Print one line per round: iteration, objective, relative gap, active
        blocks, working-set size, seconds.
    warm_start : ConvexResult, default=None
        A previous solution on the same tuples: its non-zero blocks start the
        working set.
    initial_blocks : int, default=None
        Size of the first working set beyond the warm start's blocks
        (default ``max(8, 2 C P // 10)``, ``// 20`` for a softmax over
        ``C > 1`` outputs, capped at ``DENSE_SET_WEIGHTS``
        weights per output, at least ``MIN_SET_BLOCKS`` blocks, where the
        Newton matrices are formed: see ``DENSE_SET_WEIGHTS``).  Not given,
        a single-output program on trained tuples starts instead from the
        generating network's own blocks (``GENERATOR_FIRST_SET``).
    grow : int, default=None
        Most blocks added per round (the same default).
    inner_tol : float, default=1e-10
        Clarabel's tolerances for the restricted problems.
    polish : bool, default=True
        Recompute the working set's multipliers from the stationarity
        conditions (see :func:`._pricing.polish_multipliers`) and keep them
        when the dual constraints hold better.

    inner : {"ipm", "clarabel"}, default="ipm"
        Restricted solver (for rounds the active-set method does not take):
        the structured interior-point method of
        :mod:`convexrelu.solvers._barrier` (dense BLAS Newton steps), falling
        back to Clarabel when it cannot start or stops short; or Clarabel only.
    zero_rtol : float, default=1e-7
        Groups of a restricted solution smaller than ``zero_rtol`` times the
        largest are set to zero.
    first_round_tol : float, default=1e-3
        Relative gap of the first restricted solve from a cold start (its
        working set is a guess that pricing usually grows).
    prune : bool, default=True
        When a round adds blocks, drop the blocks it left (nearly) at zero
        whose dual constraints pricing certifies from outside, once per
        block.  Zero blocks make the Newton matrices larger and cost the
        interior-point method steps that drive them to zero.
    prune_rtol : float, default=3e-3
        A block counts as zero for pruning when its largest group norm is at
        most ``prune_rtol`` times the largest of the round (the first round
        stops at a 1e-3 gap, so its zero groups are small, not exact zeros).
    newton : {"auto", "dense", "woodbury", "outputs"}, default="auto"
        How the interior point solves its Newton systems: one dense Cholesky
        factorisation of the working set's matrix; blockwise through the
        Woodbury identity (cheaper when the working set has more weights
        than twice the rows times outputs, as with many features); or, for
        the cross-entropy, by output through the Woodbury identity on its
        Hessian's rank-one part (cheaper with many classes and working sets
        wider than the rows).  "auto" picks by those costs.
    cache_multipliers : bool, default=True
        Keep the priced multipliers of blocks outside the working set from
        one round to the next; pricing then runs only on the blocks they no
        longer certify.
    active_set : bool, default=True
        Solve a round that starts from an exact solution (a warm start from
        an alpha at most about twice this one, or the previous round when it
        was solved tightly) with the active-set Newton method of
        :mod:`convexrelu.solvers._active_set`, which continues from that
        point instead of restarting an interior point; the interior point
        takes over when it fails.  Each round's history says which solver
        produced it (``inner``: "active_set", "ipm" or "clarabel"; "none"
        when the interior point failed and Clarabel's exact solve would not
        fit in the available memory or ``memory_limit``: the solve stops
        there, not converged, and says why).
    loose_while_growing : bool, default=True
        Solve a round to ``first_round_tol`` too when the previous one
        (an interior-point one) left at least ``grow`` violating blocks
        outside the set: that round's set will change again.  (Digits, 300
        rows, 10 classes, softmax: 65 s -> 57 s; the 60 cold fits of
        ``benchmarks/bench_cv.py``'s GridSearchCV on yacht: 14.7 s -> 10.3 s;
        see ``benchmarks/bench_loose_rounds.py``.)
    resume_ipm : bool, default=True
        When a loose interior-point round is followed by the tight round on
        the same working set (pricing added nothing), continue the loose
        round's iterate, multipliers and barrier parameter instead of
        starting a new interior point (breast cancer, trained tuples, alpha
        1e-2: 2.12 s -> 1.46 s; ``benchmarks/bench_ipm_resume.py``).
    n_jobs : int, default=None
        Joblib workers for the outputs of a loss that is a sum over outputs
        (squared), which are independent programs; None or 1 solves them in
        this process, one after another.  With a softmax by output
        (:func:`~convexrelu.solvers._woodbury.output_threads`), threads for
        the outputs' blocks of each Newton system.  Results do not depend on
        it.
    memory_limit : int, default=None
        Bytes that Clarabel's exact fallback round may take (see
        ``active_set``): a round whose estimate
        (:func:`~convexrelu.solvers._restricted.restricted_clarabel_bytes`)
        is above it, or above the memory available, is not solved.  None:
        the memory available only.

    Returns
    -------
    SolverOutput
    """
    from . import SolverOutput

    if unused:
        # A misspelt option would otherwise be ignored without a word.
        raise TypeError(f"solver 'fast' got unknown option(s) {sorted(unused)}.")
    if op.n_outputs > 1 and loss.separable:
        return solve_by_output(
            op, loss, Y, w, alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
            verbose=verbose, warm_start=warm_start, initial_blocks=initial_blocks, grow=grow,
            inner_tol=inner_tol, polish=polish, zero_rtol=zero_rtol, inner=inner,
            first_round_tol=first_round_tol, prune=prune, prune_rtol=prune_rtol,
            cache_multipliers=cache_multipliers, newton=newton, active_set=active_set,
            n_jobs=n_jobs, loose_while_growing=loose_while_growing,
            resume_ipm=resume_ipm)

    t0 = time.perf_counter()
    n, C, P, m = op.n_samples, op.n_outputs, op.n_patterns, op.n_hidden
    NB = C * 2 * P
    default = max(8, NB // (COUPLED_SET_FRACTION if C > 1 else SET_FRACTION))
    per_block = m * op.n_features
    dense_cap = max(MIN_SET_BLOCKS, C * DENSE_SET_WEIGHTS // per_block)
    if 2 * n * C >= default * per_block and default * per_block // C > DENSE_SET_WEIGHTS:
        # At least half as many rows (times outputs) as weights: the
        # interior point forms its Newton matrices (its Woodbury form is for
        # fewer rows), one k x k factorisation per step (k^3 / 3), so a
        # small first set and growth pay for the extra rounds (d = 100).
        default = dense_cap
    initial_blocks_given = initial_blocks
    initial_blocks = default if initial_blocks is None else int(initial_blocks)
    grow = default if grow is None else int(grow)

    U = op.zeros()
    intercept = np.zeros(C)
    if warm_start is not None:
        U = np.array(warm_start.u, dtype=float)
        intercept = np.asarray(warm_start.intercept, float).copy()
    if fit_intercept:
        intercept = loss.optimal_intercept(op.predict(U), Y, w, start=intercept)

    in_set = _block_norms(U, NB, m) > 0
    own = None
    if in_set.any():
        _add_strong_rule_blocks(op, in_set, warm_start, alpha)
    if not in_set.any():
        # Cold start: the blocks whose gated dual constraint is most violated.
        V = -loss.gradient(op.predict(U) + intercept, Y, w)
        ratios = _gated_ratios(op, V, alpha)
        zero_lams = certify_zero(op, V, ratios, alpha)
        if zero_lams is not None:
            # Every dual constraint holds at zero: zero (with the intercept)
            # is optimal, and the certificate says so.
            return SolverOutput(U, intercept, *zero_lams, 0, True, [])
        if GENERATOR_FIRST_SET and initial_blocks_given is None:
            # (capped as the default set is, where the Newton matrices are formed)
            own = _generator_blocks(op, ratios,
                                    most=dense_cap if 2 * n * C >= P * per_block else None)
        if own is not None:
            in_set[own] = True
        else:
            # With a softmax, by turns: the most violated blocks overall can
            # all feed a few classes (digits: 32 blocks on 4 of 10), and a
            # first round without the others fits nothing of them.
            _add_violators(in_set, ratios, initial_blocks,
                           n_outputs=C if BALANCED_FIRST_SET else 1)

    history = []
    stop_reason = ""
    converged = False
    n_iter = 0
    # The interior-point tolerance: well below tol (the restricted gap adds to
    # the full one), tightened with Clarabel's whenever a round stalls.
    ipm_tol = max(inner_tol, 1e-2 * tol)
    # A cold working set is a guess that pricing usually grows: its first
    # restricted solve only needs to be accurate enough to price by.
    round_tol = max(ipm_tol, first_round_tol) if warm_start is None else ipm_tol
    # Every block's multipliers, by their non-zero rows (dense, they would be
    # the size of the lifted problem; see _multipliers).
    lams = BlockMultipliers(n, NB, m)
    held1 = getattr(warm_start, "lam1", None)
    held2 = getattr(warm_start, "lam2", None)
    if (held1 is not None and held2 is not None
            and np.shape(held1) == (n,) + op.var_shape[:-1]
            and np.shape(held2) == (n,) + op.var_shape[:-2]):
        # The warm start's multipliers (any lam >= 0 suits a zero block):
        # on a path most zero blocks stay certified by them or near it.
        lams = BlockMultipliers.from_dense(np.reshape(held1, (n, NB, m)),
                                           np.reshape(held2, (n, NB)))
    pruned = np.zeros(NB, bool)
    d = op.n_features
    # The active-set method continues from an exact solution (a warm start
    # or a tight round); a loose round's point is too far from its face, and
    # so is a warm start from an alpha more than twice this one (its active
    # set changes row by row: measured on diabetes paths, grids with steps
    # of 0.4 ran slower with it, steps of 0.46 to 0.8 faster).  A zero warm
    # start (a path's first step below alpha_max) qualifies: its blocks enter
    # through their own small solves (one diabetes fold: 18 ms against 132 ms
    # for two interior-point rounds).
    prev_alpha = getattr(warm_start, "alpha", None)
    from_exact = (warm_start is not None
                  and (prev_alpha is None or alpha >= ACTIVE_SET_ALPHA_RATIO * float(prev_alpha))
                  # Feasible here (the refit of a CV estimator starts from
                  # the mean of its folds' solutions, each feasible on its
                  # own rows only: the interior point takes that round).
                  and op.max_violation(U) <= _FEASIBILITY_RTOL)
    # The last interior-point round's final iterate, for a tight round on
    # the same set after a loose one (see solve_restricted_barrier's resume).
    ipm_state = {}
    resume = None
    # The squared loss's part of the last interior point's Newton matrix: the
    # next one builds only its new blocks' share (see solve_restricted_barrier).
    loss_part = {}
    for n_iter in range(1, max_iter + 1):
        blocks = np.flatnonzero(in_set)
        B = len(blocks)
        if resume is not None and not np.array_equal(resume["blocks"], blocks):
            # The set changed: the loose round's iterate is of no use, and its
            # n x (working groups) multipliers would stay alive through this round.
            resume, ipm_state = None, {}
        # The cold first set only, on one output: later loose rounds that shed
        # blocks took them back by pricing, round after round.
        # (Not the generating network's own blocks: not a guess, they are used
        # together, and blocks shed early there came back by pricing, every
        # round then solved twice: 6 of 10 Fashion-MNIST classes at PCA 105.)
        dropped = ([] if DROP_IN_FIRST_ROUND and C == 1 and n_iter == 1 and warm_start is None
                   and own is None else None)
        with output_threads(min(thread_count(n_jobs), C)):
            Ub, b, l1, l2, status, inner_used, resumed, ipm_state = _solve_round(
                op, loss, Y, w, alpha, blocks, U, intercept, lams, fit_intercept=fit_intercept,
                inner=inner, active_set=active_set, from_exact=from_exact, ipm_tol=ipm_tol,
                round_tol=round_tol, inner_tol=inner_tol, newton=newton, resume=resume,
                resume_ipm=resume_ipm, ipm_state=ipm_state, dropped=dropped,
                loss_part=loss_part, memory_limit=memory_limit)
        # Consumed: the loose round's n x (working groups) arrays go now.
        resume = None
        if dropped:
            # The first interior point shed blocks heading for zero: they leave
            # the set and pricing judges them.  (Not marked pruned: once back,
            # such a block could never leave again, and later sets grew.)
            keep = ~np.isin(blocks, dropped)
            in_set[dropped] = False
            # (B, the history's working set, stays the round's start)
            blocks, Ub, l1, l2 = blocks[keep], Ub[keep], l1[:, keep], l2[:, keep]
        # Interior points leave ~1e-10-sized groups where the optimum has
        # zeros; zero them (the certificate below judges the result).
        Ub = _zero_tiny_groups(op, Ub, blocks, zero_rtol)
        U = np.zeros((NB, m, d))
        U[blocks] = Ub
        U = U.reshape(op.var_shape)
        if op.max_violation(U) > 0.01 * _FEASIBILITY_RTOL:
            restore_feasibility(op, U, blocks)
        # Blocks outside W keep the multipliers that priced them last round:
        # the dual point moves little between rounds, so most of them still
        # certify their block and skip pricing (the ratios below decide).
        if not cache_multipliers:
            lams.clear()
        lams.set(blocks, l1, l2)
        del l1, l2
        intercept, V, ratios, n_priced, cert = _certify_round(
            op, loss, Y, w, alpha, U, b, blocks, in_set, lams, inner_used,
            fit_intercept=fit_intercept, cache_multipliers=cache_multipliers, polish=polish,
            tol=tol)
        bn = _block_norms(U, NB, m)
        active = int((bn > 0).sum())
        history.append(dict(iteration=n_iter, objective=cert.primal,
                            relative_gap=cert.relative_gap, active_blocks=active,
                            working_set=B, priced=n_priced, inner=inner_used,
                            round_tol=round_tol, violation=cert.constraint_violation,
                            resumed=inner_used == "ipm" and resumed,
                            seconds=time.perf_counter() - t0))
        if verbose:
            # (+ 0.0: a violation of -0.0 prints as 0.0)
            print(f"[fast] it {n_iter:3d}  obj {cert.primal:.10e}  gap {cert.relative_gap:.2e}"
                  f"  active {active:4d}  working {B:4d}  priced {n_priced:4d}"
                  f"  viol {cert.constraint_violation + 0.0:.1e}"
                  f"  {time.perf_counter() - t0:7.2f}s  "
                  f"({status if inner_used != 'none' else 'refused'})")
        if cert.relative_gap <= tol and cert.constraint_violation <= _FEASIBILITY_RTOL:
            converged = True
            U, intercept = _drop_negligible_blocks(
                op, loss, Y, w, alpha, U, intercept, fit_intercept, tol, cert, lams)
            break
        if inner_used == "none":
            # No solver could take the round (see _solve_round): the status is why.
            stop_reason = status
            break
        loose, round_tol = round_tol > ipm_tol, ipm_tol
        # A cold first set is a guess that pricing grows: continuing from its
        # point (the active-set method, then a warm interior point) lost to a
        # cold interior point even where that round was tight (tol >= 0.1,
        # whose first round is not looser than the others: one Fashion-MNIST
        # class at tol 1e-1, 96.2 s continuing against 82.3 s cold).
        from_exact = not loose and not (n_iter == 1 and warm_start is None)
        resume = ipm_state if loose and inner_used == "ipm" and ipm_state else None
        n_violating = int(np.sum(~in_set & (ratios > 1.0)))
        if loose_while_growing and inner_used != "active_set" and n_violating >= grow:
            # At least grow blocks join: the next set is a guess again, solved
            # as loosely as the first (a tight solve of it is mostly wasted).
            round_tol = max(ipm_tol, first_round_tol)
        if prune and n_violating:
            # The set changes anyway: blocks the round left (nearly) at zero
            # leave it, once each (a block pruned before stays, so the rounds
            # cannot cycle).  Every zero block costs Newton-matrix size and
            # interior-point steps that drive it to its apex.
            drop = in_set & ~pruned & (bn <= prune_rtol * bn.max())
            cand = np.flatnonzero(drop)
            if len(cand):
                # Only blocks that pricing certifies from outside may leave:
                # the others would fail the certificate and come straight back.
                _, _, pn = price_blocks(op, V, cand, alpha=0.99 * alpha)
                drop[cand[pn.max(axis=1) > 0.99 * alpha]] = False
            in_set &= ~drop
            pruned |= drop
        if not _add_violators(in_set, ratios, grow):
            # No block outside W violates its dual constraint: the remaining
            # gap is the restricted solve's own accuracy (or the loose
            # first round's: then the tight solve comes first).
            if loose:
                continue
            if inner_used == "active_set":
                # Its point is not the restricted optimum the certificate
                # needs (its multipliers fall short): the interior point
                # solves the rest of this solve's rounds.
                active_set = False
                continue
            if min(inner_tol, ipm_tol) > 1e-13:
                inner_tol = inner_tol * 1e-2
                ipm_tol = ipm_tol * 1e-2
                continue
            break
    lam1, lam2 = lams.dense()
    del lams
    lam1 = lam1.reshape((n,) + op.var_shape[:-1])
    lam2 = lam2.reshape((n,) + op.var_shape[:-2])

    return SolverOutput(U, intercept, lam1, lam2, n_iter, converged, history,
                        stop_reason)


def _solve_round(op, loss, Y, w, alpha, blocks, U, intercept, lams, *, fit_intercept, inner,
                 active_set, from_exact, ipm_tol, round_tol, inner_tol, newton, resume,
                 resume_ipm, ipm_state, dropped=None, loss_part=None, memory_limit=None):
    """The restricted program of one working-set round.

    The active-set method continues from ``U`` when that is an exact point
    (``from_exact``); the interior point takes the round when it does not
    (or fails); a failed cold interior point is tried again warm from ``U``
    when that is not zero, and Clarabel takes the round when the interior
    point cannot start or stops short, unless its estimated memory
    (:func:`~convexrelu.solvers._restricted.restricted_clarabel_bytes`) is
    more than is available or than ``memory_limit`` (bytes, or None): then
    ``U``'s blocks come back, with zero multipliers, ``inner_used`` "none"
    and the reason as the status.
    Returns ``(Ub, b, lam1, lam2, status, inner_used, resumed, ipm_state)``:
    the blocks' weights, the intercept, the rows' multipliers, the inner
    status, which solver produced them ("active_set", "ipm", "clarabel" or
    "none"), whether the interior point continued ``resume``, and its
    final state (empty unless a loose interior-point round left one, for
    the next round's ``resume``; ``ipm_state`` as given when the
    interior point did not run).  ``dropped`` (a list, or None): the blocks
    the interior point shed are appended; ``loss_part`` (a dict, or None)
    passes the Newton matrices' loss part from round to round (both: see
    :func:`solve_restricted_barrier`).
    """
    n, m, d = op.n_samples, op.n_hidden, op.n_features
    NB = op.n_outputs * 2 * op.n_patterns
    B = len(blocks)
    Ub = None
    inner_used = "ipm"
    resumed = False
    if inner == "ipm" and active_set and from_exact:
        # A feasible point of the last round or of the warm start: the
        # active-set method continues from it on its face.
        held_1, held_2 = lams.get(blocks)
        Ub, b, l1, l2, status = solve_restricted_active_set(
            op, loss, Y, w, alpha, blocks, U.reshape(NB, m, d)[blocks], intercept,
            fit_intercept=fit_intercept, tol=ipm_tol, lam1=held_1, lam2=held_2)
        del held_1, held_2
        inner_used = "active_set"
        if status != "optimal":
            Ub = None
            inner_used = "ipm"
    if inner == "ipm" and Ub is None:
        ipm_state = {}
        common = dict(fit_intercept=fit_intercept, tol=round_tol,
                      stationarity_tol=max(round_tol, STATIONARITY_FACTOR * ipm_tol),
                      start_intercept=intercept, newton=newton, loss_part=loss_part)
        out = _barrier_or_none(
            op, loss, Y, w, alpha, blocks,
            # An exact previous point (a tight round or a warm start)
            # warms the interior point's start too.
            start_u=(U.reshape(NB, m, d)[blocks] if from_exact and np.any(U) else None),
            resume=resume, state=ipm_state if resume_ipm else None, dropped=dropped, **common)
        resumed = bool(ipm_state.get("resumed"))
        if round_tol <= ipm_tol:
            # Only a loose round is resumed: its n x (working groups)
            # multipliers are not kept after a tight one.
            ipm_state = {}
        if out is None and not from_exact and np.any(U):
            # A cold start failed: again, from part of the way to the
            # previous round's feasible point, before the exact fallback
            # (whose memory grows with n x blocks x m x d; the 100-class
            # round that went there and past 12 GB is solved cold since
            # _barrier.COLD_START_ZERO_INTERCEPT).
            if dropped:
                dropped.clear()
            out = _barrier_or_none(op, loss, Y, w, alpha, blocks,
                                   start_u=U.reshape(NB, m, d)[blocks], **common)
            if out is not None:
                ipm_state, resumed = {}, False
        if out is not None:
            Ub, b, l1, l2, status = out
    if Ub is None:
        refused = _fallback_refusal(restricted_clarabel_bytes(n, B, m, d),
                                    available_memory(), memory_limit)
        if refused:
            # Clarabel's exact solve forms the round's lifted columns and
            # constraint rows, which at this size would not fit in memory
            # (and would take hours): the round is given up, keeping the
            # previous point, and the certificate says how far it is.
            Ub = U.reshape(NB, m, d)[blocks]
            l1, l2 = np.zeros((n, B, m)), np.zeros((n, B))
            return Ub, intercept.copy(), l1, l2, refused, "none", False, {}
        inner_used = "clarabel"
        if dropped:
            dropped.clear()     # Clarabel solves the whole set
        Ub, b, l1, l2, status = solve_restricted(
            op, loss, Y, w, alpha, blocks, np.ones((n, B, m), bool),
            np.ones((n, B), bool), fit_intercept=fit_intercept, tol=inner_tol,
            start_intercept=intercept)
    return Ub, b, l1, l2, status, inner_used, resumed, ipm_state


def _barrier_or_none(*args, **kwargs):
    """:func:`solve_restricted_barrier`'s ``(Ub, b, lam1, lam2, status)``, or None
    when it fails or stops short.

    A stalled interior point reached its gap, not its stationarity: its
    point usually passes the certificate (tol is looser than the interior
    point's); if not, the tighter round after it does.  (Clarabel there took
    minutes and answered less accurately.)
    """
    try:
        out = solve_restricted_barrier(*args, **kwargs)
    except (NoInteriorError, np.linalg.LinAlgError, FloatingPointError):
        return None
    return out if out[4] in ("optimal", "stalled") else None


def _fallback_refusal(need, free, limit=None):
    """The stop reason of a round whose Clarabel fallback (``need`` bytes) is
    above the ``free`` memory or the ``limit`` (either None: unknown, none),
    or None when it fits."""
    by_limit = limit is not None and (free is None or limit < free)
    room = limit if by_limit else free
    if room is None or need <= room:
        return None
    what = (f"memory_limit of {room / 2 ** 30:.1f} GiB" if by_limit
            else f"{room / 2 ** 30:.1f} GiB available")
    raise_it = ", or raise memory_limit" if by_limit else ""
    return (f"Its interior point failed on a working set whose exact fallback (Clarabel) "
            f"would need about {need / 2 ** 30:.1f} GiB, more than the {what}; the point "
            f"is the previous round's. Increase alpha (fewer blocks enter the working set) "
            f"or lower n_patterns{raise_it}.")


def _certify_round(op, loss, Y, w, alpha, U, b, blocks, in_set, lams, inner_used, *,
                   fit_intercept, cache_multipliers, polish, tol):
    """The certificate of a round's point ``U`` (the working set's multipliers already in ``lams``).

    The intercept is made optimal for ``U``; zero blocks outside the set
    keep the multipliers that priced them last round where those still
    certify better than none, and the rest that fail the gated test are
    priced, the few left just above ``alpha`` by the exact test
    (:func:`_certify_near_violators`); the set's multipliers are polished
    (not the active-set method's when they certify already), and when they
    alone keep the gap above ``tol``, the short blocks get the exact test's
    (:func:`_exact_multipliers`).  Returns ``(intercept, V, ratios,
    n_priced, cert)``: the dual point ``-grad L``, every block's dual ratio,
    how many blocks were priced, and the duality gap.
    """
    F0 = op.predict(U)
    intercept = (loss.optimal_intercept(F0, Y, w, start=b) if fit_intercept else b)
    V = -loss.gradient(F0 + intercept, Y, w)
    # Zero blocks outside W that fail the gated test get priced multipliers.
    gated = _gated_ratios(op, V, alpha)
    ratios = lams.ratios(op, V, alpha, gated)
    if cache_multipliers:
        # Stale multipliers can certify worse than none at all.
        worse = np.flatnonzero(~in_set & (gated < ratios))
        lams.clear(worse)
        ratios[worse] = gated[worse]
    outside = np.flatnonzero(~in_set & (ratios > 1.0))
    if len(outside):
        ratios[outside] = price_into(op, V, outside, alpha, lams) / alpha
        _certify_near_violators(op, V, alpha, outside[ratios[outside] > 1.0], ratios, lams)
    # The active-set method's multipliers are exact on its faces; the
    # interior point's are only as good as its tolerance.
    if polish and not (inner_used == "active_set"
                       and ratios[blocks].max(initial=0.0) <= 1.0 + 1e-9):
        polish_multipliers(op, V, U, alpha, blocks, lams)
    # The dual point's feasibility: outside the set, ``ratios`` is every
    # block's ratio with the multipliers it holds now (pricing's norms for
    # the priced ones); the polish changed only the set's.
    if len(blocks):
        ratios[blocks] = block_ratios(op, V, *lams.get(blocks), alpha, blocks)
    def certificate():
        return duality_gap(op, loss, Y, w, U, alpha, intercept=intercept,
                           fit_intercept=fit_intercept,
                           dual_ratio=float(ratios.max(initial=0.0)), return_multipliers=False)

    cert = certificate()
    short = blocks[ratios[blocks] > 1.0]
    if (cert.relative_gap > tol and 0 < len(short) <= SHORT_SET_BLOCKS_MOST
            and not np.any(ratios[~in_set] > 1.0)):
        # Only the set's multipliers stand between this point and the
        # certificate: the polish fits the stationarity conditions on the
        # active rows, which at a stalled interior point (a block crawling
        # to its cone's apex) can leave a ratio of 1.09 where the exact
        # dual norm is 1 + 3e-5 (UCI naval, a path point at 1.3e-3).
        _exact_multipliers(op, V, alpha, short, ratios, lams)
        cert = certificate()
    return cert.intercept, V, ratios, len(outside), cert


def _certify_near_violators(op, V, alpha, violators, ratios, lams):
    """The exact test of the blocks outside the set that least squares
    leave just above ``alpha``, when they are all that is left.

    Pricing's least-squares multipliers bound a block's dual ratio from
    above only; a block they leave at ``1 + 4e-5`` may well be optimal at
    zero, yet it would cost a whole working-set round (UCI naval, a path
    point at alpha 3.4e-3: an interior-point round of 1.95 s that changed
    nothing).  When at most ``NEAR_VIOLATORS_MOST`` blocks violate, none
    by more than ``NEAR_VIOLATION``, each gets the exact test
    (:func:`_exact_multipliers`).  Blocks that sit at the boundary (``rho``
    within rounding of ``alpha``) stay a few 1e-9 above it even so, too
    little to matter to the duality gap, which then decides whether another
    round is needed.
    """
    if (len(violators) and len(violators) <= NEAR_VIOLATORS_MOST
            and ratios[violators].max() <= NEAR_VIOLATION):
        _exact_multipliers(op, V, alpha, violators, ratios, lams)


def _exact_multipliers(op, V, alpha, bis, ratios, lams):
    """Each block of ``bis`` gets the multipliers of its exact dual norm
    (:func:`certify_zero_block`) where they lower its ratio; ``ratios`` is
    updated in place.

    Any ``lam >= 0`` gives a valid dual bound, whether the block is zero
    or not: the exact test's ``rho = min_lam max_j ||c_j + (A^T lam)_j||`` is
    the smallest ratio any multipliers give the block at this dual point.
    """
    n, m = op.n_samples, op.n_hidden
    for b in bis:
        held1, held2 = lams.get([b])
        _, l1, l2, *_ = certify_zero_block(
            op, V, b, alpha, seed_rows=(held1[:, 0] > 0, held2[:, 0] > 0))
        l1, l2 = l1.reshape(n, 1, m), l2.reshape(n, 1)
        ratio = block_ratios(op, V, l1, l2, alpha, np.array([b]))[0]
        if ratio < ratios[b]:
            lams.set([b], l1, l2)
            ratios[b] = ratio

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
and the duality gap is ``(n_rows + 2 A) / tau``.  ``tau`` grows by ``mu``
until that gap is below ``tol`` times the objective.  The group epigraph
variables ``t`` are eliminated from every Newton system by a Schur
complement (each couples to one group only).

A strictly feasible start comes from the generating weights of sampled
tuples (the generating network is strictly inside its own pattern cone), or
from a phase-one linear program per block (:mod:`._interior_start`).
"""

import numpy as np

from ..losses import flat_direction_curvature
from ._newton_matrix import (NoInteriorError, _add_loss_gram, _pair_loss_gram, _pair_products,
                             _row_blocks, _scaled_factor, ridged_factorisations)
from ._interior_start import (WARM_GAP, WARM_THETA, _balancing_scales, _start_multipliers,
                              generating_start, start_scale)
from ._woodbury import output_block_solver, output_costs, woodbury_solver


#: entries of the lifted rows built at once for the loss part of a Newton
#: matrix (32 MiB, and as much again for their weighted copy), but at least
#: LOSS_CHUNK_MIN_ROWS rows, so the products stay matrix products, and at
#: least k / 4 rows for k weights: each chunk's product is a k x k
#: temporary added into the matrix, the largest array there for large k
LOSS_CHUNK_ENTRIES = 2 ** 22
LOSS_CHUNK_MIN_ROWS = 256
#: the loss part of a Newton matrix comes from the rows' pair products
#: (:func:`_pair_loss_gram`, half the flops of ``syrk``) from this many
#: features on; below it the products' coefficients cost more than they save
PAIR_GRAM_MIN_FEATURES = 24
#: largest size of the rows' products x_i x_i^T kept for a whole solve
PAIR_PRODUCTS_MAX_BYTES = 2 ** 28
#: the loss part goes through the Woodbury identity only for working sets
#: of at least this many weights (and more than twice the rows' outputs).
#: It was 1500 until the twenty-third session; without the floor, 26 cold
#: fits on bundled and UCI-121 data (benchmarks/bench_newton_floor.py) ran
#: 1.9 to 3.0x faster on spectf and parkinsons, 1.3 to 1.5x on
#: echocardiogram and breast cancer (sampled tuples), the others within
#: noise, the objectives the same to 1e-15
WOODBURY_MIN_WEIGHTS = 0
#: when a split Newton solve (Woodbury, by output) fails, the dense Newton
#: matrix takes over only up to this size; larger ones (a 9 GiB matrix on a
#: 226-row fit, where the split systems held about 1 GB) raise
#: NoInteriorError, on which the caller falls back to a conic solver.  The
#: active-set method's face matrices have the same bound.
DENSE_FALLBACK_MAX_BYTES = 2 ** 32
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
#: newton="auto" splits a softmax's Newton systems by output below this
#: fraction of the dense cost estimate.  The estimates track measured times
#: (digits, 10 classes: estimated 0.17 to 0.34, measured 0.27; statlog-vehicle,
#: 4 classes: 0.73 to 0.82, measured 0.74), so the margin is small.
BY_OUTPUT_RATIO = 0.85
#: an unchecked iteration (squared loss, see ``check_steps``) whose objective
#: exceeds this many times the start's plus the zero network's has diverged:
#: the solve starts again with every step checked
DIVERGED_FACTOR = 100.0


class _Diverged(Exception):
    """Unchecked steps sent the objective far above where it started."""


class _Jammed(Exception):
    """A warm start's first steps were all too short to make progress."""


def check_dense_newton(size, what):
    """Raise :class:`NoInteriorError` before forming a ``size x size`` dense
    matrix above ``DENSE_FALLBACK_MAX_BYTES`` (``what`` says which one)."""
    if size * size * 8 > DENSE_FALLBACK_MAX_BYTES:
        raise NoInteriorError(f"{what}: the dense Newton matrix ({size} x {size}, "
                              f"{size * size * 8 / 2 ** 30:.1f} GiB) is too large")


def solve_restricted_barrier(*args, **kwargs):
    """Solve the program restricted to ``blocks``; see :func:`_solve_restricted_barrier`.

    Floating-point overflow in a diverging iteration is not reported as a
    warning: the iteration detects non-finite iterates itself and raises
    :class:`NoInteriorError`, on which the caller falls back.  An iteration
    without step checks whose objective runs away starts again with them.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        try:
            return _solve_with_cold_restart(*args, **kwargs)
        except _Diverged:
            kwargs["check_steps"] = True
            return _solve_with_cold_restart(*args, **kwargs)


def _solve_with_cold_restart(*args, **kwargs):
    """:func:`_solve_restricted_barrier`, from the cold start when the warm one jams."""
    try:
        return _solve_restricted_barrier(*args, **kwargs)
    except _Jammed:
        kwargs["start_u"] = None
        return _solve_restricted_barrier(*args, **kwargs)


def _solve_restricted_barrier(op, loss, Y, w, alpha, blocks, *, fit_intercept, tol=1e-10,
                             start_intercept=None, mu=20.0, max_newton=200, n_correctors=5,
                             verbose=False, newton="auto", start_u=None, resume=None,
                             state=None, check_steps=None):
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
    start_intercept : ndarray of shape (C,), default=None
    mu : float, default=20
        Factor by which ``tau`` grows between centring steps.
    max_newton : int, default=200
        Total Newton steps allowed.
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
    check_steps : bool, default=None
        Check every primal step against the barrier function (halving it
        until that does not increase).  None: for the saturating losses,
        and for the squared loss where ``X`` has a null space or once a
        Newton matrix needed a ridge; an unchecked iteration whose
        objective runs away (``DIVERGED_FACTOR``) raises ``_Diverged``, on
        which :func:`solve_restricted_barrier` solves again with checks.
    state : dict, default=None
        Filled with the last iterate (``U``, ``b``, ``lam1``, ``lam2``,
        ``tau``, ``blocks``), for ``resume``, and ``resumed`` (whether this
        call continued from ``resume``).

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
    X = op.X
    n, d = X.shape
    C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
    blocks = np.asarray(blocks, dtype=int)
    B = len(blocks)
    A = B * m
    k = A * d
    # The masks are -1 / 0 / +1, kept as int8: every float n x (working
    # groups) array is another 32 MiB per 100000 rows and group.
    o_idx, mask, E1, W2 = op.block_masks(blocks, dtype=np.int8)       # (n, B, m) each
    mask = mask.reshape(n, A)
    _, _, t_idx = np.unravel_index(blocks, (C, 2, P))
    out_of_group = np.repeat(o_idx, m)                                # (A,)
    # Rows that vanish identically (x_i = 0, or no first-layer neuron on in
    # the block for the second-layer rows) carry no constraint.
    xnz = np.any(X != 0, axis=1)
    r1 = np.broadcast_to(xnz[:, None, None], (n, B, m))
    r2 = np.any(W2 != 0, axis=2) & xnz[:, None]
    # A scalar where every first-layer row carries a constraint (always with
    # an intercept column): multiplying by it is then free of copies.
    r1f = 1.0 if xnz.all() else r1.reshape(n, A).astype(float)
    r2f = r2.astype(float)
    E1f = E1.reshape(n, A)
    # The first-layer signs are +-1, so the slacks s1 = E1 X u determine
    # X u = E1 s1: no separate copy of X u is kept (nor of its steps), and
    # the predictions and second-layer slacks come from s1 through these.
    sign_mask = E1f * mask                                             # int8
    # Floats (one n x (working groups) array): the second-layer sums below
    # run at every Newton direction, and einsum over int8 masks casts them
    # each time (10000 rows, 20 blocks, m = 4: 8.4 ms as a product and a sum
    # over the short last axis, 5.2 ms by einsum on int8, 2 to 3 on floats).
    W2E = (W2 * E1).astype(float)                                      # (n, B, m)
    n_rows = int(r1.sum() + r2.sum())
    # Masks of the rows that carry a constraint; None where all do.
    rows1 = r1.reshape(n, A)
    live1 = None if r1.all() else rows1
    live2 = None if r2.all() else r2
    n_barrier = n_rows + 2 * A

    # Columns of each output (blocks are sorted, so outputs are contiguous).
    cols = {}
    for o in range(C):
        g = np.flatnonzero(out_of_group == o)
        if len(g):
            cols[o] = slice(g[0] * d, (g[-1] + 1) * d)
    ci = C if fit_intercept else 0
    nz = k + ci

    def second(s1c):
        """Second-layer slacks (or their steps) from the first layer's."""
        return np.einsum("nbm,nbm->nb", W2E, s1c.reshape(n, B, m))

    def slacks(Uc):
        s1 = X @ Uc.T                                                  # (n, A)
        s1 *= E1f
        return s1, second(s1)

    def strictly_feasible(s1c, s2c):
        return not (np.any(s1c[r1.reshape(n, A)] <= 0) or np.any(s2c[r2] <= 0))

    def predict(s1c, b):
        Fm = s1c * sign_mask
        F = np.zeros((n, C))
        for o, sl in cols.items():
            F[:, o] = Fm[:, sl.start // d:sl.stop // d].sum(axis=1)
        return F + b

    const_hessian = loss.name == "squared"
    b = np.zeros(C) if start_intercept is None else np.asarray(start_intercept, float).copy()
    if not fit_intercept:
        b = np.zeros(C)
    resumed = False
    if (resume is not None and np.array_equal(resume.get("blocks"), blocks)
            and np.shape(resume["U"]) == (A, d)):
        # The exact slacks of the earlier iterate (its running ones carried rounding).
        # (No copies: the iteration replaces its arrays, never writes into them.)
        U = np.asarray(resume["U"], dtype=float)
        s1, s2 = slacks(U)
        resumed = strictly_feasible(s1, s2)
        if resumed and fit_intercept:
            b = np.asarray(resume["b"], dtype=float)
    # The zero network's prediction and loss (the start's scale, and the
    # divergence test's yardstick below).
    F0 = np.zeros((n, C)) + b
    L0 = loss.value(F0, Y, w)
    warm = False
    if not resumed:
        # ---- strictly feasible start --------------------------------------
        U, generated = generating_start(op, t_idx, E1, W2, r1, r2, blocks)
        U = U.reshape(A, d)
        s1, s2 = slacks(U)
        if not strictly_feasible(s1, s2):
            raise NoInteriorError("the generating weights are not strictly feasible")
        if generated:
            c = _balancing_scales(U.reshape(B, m, d), s1.reshape(n, B, m) * E1, W2, r2)
            U *= c.reshape(A, 1)
            s1 *= c.reshape(1, A)
            s2 = second(s1)
        # Scale the start so that the network is small against the data.
        # Outputs at the start: the largest, and the largest before the two
        # signs of a tuple cancel (see start_scale).
        out = np.abs(predict(s1, np.zeros(C))).max()
        out_abs = np.abs(predict(np.abs(s1) * sign_mask, np.zeros(C))).max()
        scale = float(np.abs(Y - F0).max()) if const_hessian else 1.0
        kappa = start_scale(L0, alpha, np.linalg.norm(U, axis=1).sum(), out, out_abs, scale)
        U *= kappa
        s1, s2 = s1 * kappa, s2 * kappa
        warm = start_u is not None and WARM_THETA > 0
        if warm:
            # Part of the way from a previous solution (feasible, on its face)
            # to this interior start: strictly feasible, and much closer.
            Uw = (1.0 - WARM_THETA) * np.asarray(start_u, float).reshape(A, d) + WARM_THETA * U
            s1w, s2w = slacks(Uw)
            warm = strictly_feasible(s1w, s2w)
            if warm:
                U, s1, s2 = Uw, s1w, s2w
            s1w = s2w = None

    pj, pk = np.triu_indices(m)
    WW = W2[:, :, pj] * W2[:, :, pk]                                   # int8, (n, B, pairs)
    chunk = max(LOSS_CHUNK_MIN_ROWS, int(LOSS_CHUNK_ENTRIES // max(k, 1)), k // 4)
    n_pairs = d * (d + 1) // 2
    # The rows' products x_i x_i^T are the same at every Newton step: keep
    # them when they take at most 256 MB, else rebuild them chunk by chunk.
    XX = _pair_products(X) if n * n_pairs * 8 <= PAIR_PRODUCTS_MAX_BYTES else None
    if newton not in ("auto", "dense", "woodbury", "outputs"):
        raise ValueError(
            f"newton must be 'auto', 'dense', 'woodbury' or 'outputs'; got {newton!r}")
    # A softmax's Hessian is diagonal minus rank one per sample: the Newton
    # matrix is block diagonal by output minus rank n, solved through the
    # Woodbury identity when that is well below the dense cost (many classes,
    # working sets wider than the rows; see output_block_solver).
    parts_of = getattr(loss, "hessian_parts", None)
    dense_cost = k ** 3 / 3 + n * k * k * (0.5 + 1.0 / C)
    by_output_cost = n * n * k + n ** 3 / 3 + sum(
        min(output_costs(n, sl.stop - sl.start, m * d)) for sl in cols.values())
    use_outputs = (C > 1 and parts_of is not None and not const_hessian
                   and (newton == "outputs" or (
                       newton == "auto" and by_output_cost < BY_OUTPUT_RATIO * dense_cost
                       and max(n * n, n * k) * 8 <= 2 ** 30)))
    # Dense Newton matrices cost (k + C)^3 / 3; through the Woodbury identity
    # the loss part (rank n C) costs (n C)^2 k: the cheaper one when the
    # working set has more weights than the rows have outputs (d large).
    # With a softmax the split above is cheaper still (capacitance n, not n C).
    use_woodbury = not use_outputs and (newton == "woodbury" or (
        newton == "auto" and 2 * n * C < k and k >= WOODBURY_MIN_WEIGHTS
        and n * k * 8 <= 2 ** 30))
    split = use_woodbury or use_outputs
    Phi_ws = ((mask[:, :, None] * X[:, None, :]).reshape(n, k) if split else None)
    row_chunk = (n if XX is not None
                 else max(1, int(2 ** 19 // (n_pairs + B * m * (m + 1) // 2 + A))))
    pair_chunk = max(1, int(LOSS_CHUNK_ENTRIES // max(A * (A + 1) // 2, n_pairs)))
    K_loss = None
    H_buf = None

    # Output of each Newton column (weights of output o fill the slice cols[o]).
    col_out = np.repeat(out_of_group, d)

    def loss_hessian(F):
        Hl = loss.hessian(F, Y, w)                                     # (n, C, C)
        parts = parts_of(F, Y, w) if parts_of is not None else None
        K = np.zeros((nz, nz))
        by_pairs = parts is not None and d >= PAIR_GRAM_MIN_FEATURES
        if by_pairs:
            _pair_loss_gram(K, X, XX, mask, out_of_group, parts, pair_chunk)
            if not fit_intercept:
                return K
        for start in range(0, n, chunk):
            sl_n = slice(start, min(n, start + chunk))
            Phi = (mask[sl_n, :, None] * X[sl_n, None, :]).reshape(-1, k)
            _add_loss_gram(K, Phi, cols, col_out, Hl[sl_n],
                           None if parts is None
                           else tuple(None if p is None else p[sl_n] for p in parts),
                           fit_intercept, weights=not by_pairs)
        return K

    def merit(Uc, bc, s1c, s2c, tau_c):
        """The barrier function at ``tau_c``, epigraphs minimised out (inf outside)."""
        s1l = s1c if live1 is None else s1c[live1]
        if np.any(s1l <= 0) or np.any(s2c[r2] <= 0):
            return np.inf
        beta_c = alpha * tau_c
        rc = np.linalg.norm(Uc, axis=1)
        Sc = np.sqrt(1.0 + (beta_c * rc) ** 2)
        groups = float(np.sum(1.0 + Sc - np.log(2.0 * (1.0 + Sc) / beta_c ** 2)))
        rows = -float(np.sum(np.log(s1l))) - float(np.sum(np.log(s2c[r2])))
        return tau_c * loss.value(predict(s1c, bc), Y, w) + groups + rows

    F = predict(s1, b)
    f_obj = loss.value(F, Y, w) + alpha * np.linalg.norm(U, axis=1).sum()
    tau = n_barrier / max(abs(f_obj), 1e-300)
    if warm:
        # The barrier's gap estimate n_barrier / tau: a fraction of the
        # objective from a warm point, all of it from a cold one.
        tau /= WARM_GAP
    if resumed:
        tau = float(resume["tau"])
        lam1 = np.asarray(resume["lam1"], dtype=float)
        lam2 = np.asarray(resume["lam2"], dtype=float)
    else:
        lam1 = _start_multipliers(s1, live1, r1f, tau)
        lam2 = _start_multipliers(s2, live2, r2f, tau)
    status = "max_newton"
    best_res, best_it, n_short = np.inf, 0, 0
    reached = None          # the first step at which the gap reached tol
    # Steps are checked against the barrier function (below) for saturating
    # losses, and for the squared loss where X has a null space or once a
    # Newton matrix needed a ridge.
    guard = (not const_hessian or op.flat_directions) if check_steps is None else bool(check_steps)
    # The zero network's objective (the optimum is below it) plus the start's:
    # what no iterate of a converging solve comes near (see DIVERGED_FACTOR).
    f_limit = DIVERGED_FACTOR * (abs(L0) + abs(f_obj))
    I_d = np.eye(d)
    st = 0.0
    for it in range(1, max_newton + 1):
        gF = loss.gradient(F, Y, w)                                    # (n, C)
        g_f = (gF[:, out_of_group] * mask).T @ X                       # grad_u L, (A, d)
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
        Glam = E1f * lam1
        Glam += (W2 * lam2[:, :, None]).reshape(n, A)
        r_u = g_f + g_h - Glam.T @ X
        Glam = None
        f_obj = loss.value(F, Y, w) + alpha * r.sum()
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
        if verbose:
            print(f"    [ipm] it {it:3d}  obj {f_obj:.12e}  gap {gap_est:.2e}  "
                  f"res {res:.1e}  step {st:.2f}  tau {tau:.1e}")
        gap_now = gap_est <= tol * max(abs(f_obj), 1e-300)
        if gap_now and res <= tol * alpha:
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
        # Predictor-corrector (Mehrotra): one factorisation, two solves.
        mu_rows = gap_rows / max(n_rows, 1)
        beta = alpha * tau
        S = np.sqrt(1.0 + (beta * r) ** 2)
        cgrp = beta / (1.0 + S)
        g_h = alpha * cgrp[:, None] * U
        curv = alpha * beta ** 3 / (S * (1.0 + S) ** 2)
        inv_s1 = r1f / (s1 if live1 is None else np.where(live1, s1, 1.0))
        inv_s2 = r2f / np.where(r2, s2, 1.0)
        c1 = lam1 * inv_s1                                             # (n, A)
        c2 = lam2 * inv_s2                                             # (n, B)
        blocks_H = _row_blocks(X, c1, c2, W2, row_chunk, XX, WW)        # (B, md, md)
        grp = (alpha * cgrp[:, None, None] * I_d
               - curv[:, None, None] * U[:, :, None] * U[:, None, :])  # (A, d, d)
        diag = np.arange(m)
        blocks_H.reshape(B, m, d, m, d)[:, diag, :, diag, :] += (
            grp.reshape(B, m, d, d).transpose(1, 0, 2, 3))
        ridged = ridged_factorisations()
        if use_woodbury or use_outputs:
            Hl = loss.hessian(F, Y, w)
            extra = (flat_direction_curvature(Hl.sum(axis=0))
                     if fit_intercept and loss.shift_invariant else None)
        if use_woodbury:
            try:
                solve = woodbury_solver(blocks_H, Phi_ws, cols, Hl, fit_intercept, extra)
            except NoInteriorError:
                # An ill-conditioned capacitance or Schur matrix (late steps
                # of a saturated loss): dense systems from here on.
                use_woodbury = False
        if use_outputs:
            parts = parts_of(F, Y, w)
            # Without a rank-one part (a loss that does not split) or with a
            # singular small matrix: dense systems from here on.
            use_outputs = parts is not None and parts[1] is not None
            if use_outputs:
                try:
                    solve = output_block_solver(blocks_H, Phi_ws, cols, parts[0], parts[1], Hl,
                                                fit_intercept, extra)
                except NoInteriorError:
                    use_outputs = False
        if not (use_woodbury or use_outputs):
            if split:
                check_dense_newton(nz, "the split Newton systems failed")
            if const_hessian:
                if K_loss is None:
                    K_loss = loss_hessian(F)
                if H_buf is None:
                    H_buf = np.empty_like(K_loss)
                # One buffer for every step: a fresh matrix each time costs page faults.
                H = H_buf
                np.copyto(H, K_loss)
            else:
                H = loss_hessian(F)
            if fit_intercept and loss.shift_invariant:
                # The softmax ignores a common shift of all intercepts: curvature
                # along that flat direction (where the gradient is zero too)
                # makes the matrix definite without changing the step.
                H[k:, k:] += flat_direction_curvature(H[k:, k:])
            for bi in range(B):
                sl = slice(bi * m * d, (bi + 1) * m * d)
                H[sl, sl] += blocks_H[bi]
            solve = _scaled_factor(H)
        # A ridged matrix gives an inexact step, and the squared loss is flat
        # where the matrix is nearly singular: along directions that X maps
        # to zero (fewer rows than features, or collinear ones) only the
        # group norms change, and unchecked steps there sent a 9 x 31 fit's
        # objective from 4e-3 to 1e29 (sklearn's sample-weight check).
        guard = guard or ridged_factorisations() > ridged
        # The stationarity residual above, at the same tau (g_h unchanged).
        base = -r_u

        def direction(t1, t2):
            """Newton step for the row targets ``lam s = t`` (t1: (n, A), t2: (n, B))."""
            # inv_s and lam vanish on rows without a constraint, so no mask here.
            e1 = t1 * inv_s1 - lam1
            e2 = t2 * inv_s2 - lam2
            extra = E1f * e1
            extra += (W2 * e2[:, :, None]).reshape(n, A)
            rhs_u = base + extra.T @ X
            extra = None
            rhs = np.concatenate([rhs_u.ravel(),
                                  -gF.sum(axis=0) if fit_intercept else np.zeros(0)])
            step = solve(rhs)
            dU = step[:k].reshape(A, d)
            db = step[k:] if fit_intercept else np.zeros(C)
            ds1 = X @ dU.T
            ds1 *= E1f
            ds2 = second(ds1)
            dl1 = c1 * ds1
            np.subtract(e1, dl1, out=dl1)
            dl2 = e2 - c2 * ds2
            return dU, db, ds1, ds2, dl1, dl2

        def max_steps(ds1, ds2, dl1, dl2):
            sp = sd = 1.0
            for v, dv, live, is_primal in ((s1, ds1, live1, True), (s2, ds2, live2, True),
                                           (lam1, dl1, live1, False),
                                           (lam2, dl2, live2, False)):
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

        aff = direction(np.zeros_like(s1), np.zeros_like(s2))
        ap, ad = max_steps(*aff[2:])
        mu_aff = (float(np.sum((s1 + ap * aff[2]) * (lam1 + ad * aff[4]) * r1f))
                  + float(np.sum((s2 + ap * aff[3]) * (lam2 + ad * aff[5]) * r2f))
                  ) / max(n_rows, 1)
        # Mehrotra's centring weight, held near one after short steps (the
        # iterate is then off-centre and a smaller target only shortens them).
        sigma = min(1.0, max((mu_aff / max(mu_rows, 1e-300)) ** 3, min(0.9, (1.0 - st) ** 2)))
        target = max(sigma * mu_rows, 0.1 * tol * max(abs(f_obj), 1e-300) / n_barrier)
        T1, T2 = aff[2] * aff[4], aff[3] * aff[5]
        np.subtract(target, T1, out=T1)
        np.subtract(target, T2, out=T2)
        # Directions are n x (working groups) arrays each: keep at most two.
        aff = None
        cur = direction(T1, T2)
        # Separate primal and dual steps to the boundary: from a small start
        # the slacks grow by orders of magnitude, which a common step would
        # throttle through the multipliers.
        sp, sd = max_steps(*cur[2:])
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
            tsp, tsd = max_steps(*trial[2:])
            if min(tsp, tsd) < 1.05 * min(sp, sd):
                break
            cur, sp, sd, T1, T2 = trial, tsp, tsd, q1, q2
        trial = v2 = q1 = q2 = T1 = T2 = None
        dU, db, ds1, ds2, dl1, dl2 = cur
        cur = None
        tau = max(tau, 1.0 / target)
        sp, sd = min(1.0, 0.99 * sp), min(1.0, 0.99 * sd)
        if guard:
            # A saturating loss (logistic, softmax) is nearly flat along
            # directions in which the group norms grow linearly, and the
            # Newton model cannot see that: such steps send the objective
            # to 1e15 within a few iterations (so does a ridged matrix, see
            # above).  Halve the primal step until the barrier function at
            # the new tau does not increase.
            phi0 = merit(U, b, s1, s2, tau)
            while sp > 1e-12:
                phi1 = merit(U + sp * dU, b + sp * db, s1 + sp * ds1, s2 + sp * ds2, tau)
                if phi1 <= phi0 + 1e-12 * abs(phi0):
                    break
                sp *= 0.5
        st = min(sp, sd)
        n_short += st < SHORT_STEP
        if warm and it == n_short == JAM_STEPS:
            raise _Jammed()
        U, b = U + sp * dU, b + sp * db
        s1, s2 = s1 + sp * ds1, s2 + sp * ds2
        lam1, lam2 = lam1 + sd * dl1, lam2 + sd * dl2
        dU = ds1 = ds2 = dl1 = dl2 = None
        F = predict(s1, b)

    if state is not None:
        # (U and b are returned too, and the caller may edit those.)
        state.update(U=U.copy(), b=b.copy(), lam1=lam1, lam2=lam2, tau=tau,
                     blocks=blocks.copy(),
                     resumed=resumed)
    return U.reshape(B, m, d), b, (lam1 * r1f).reshape(n, B, m), lam2 * r2f, status

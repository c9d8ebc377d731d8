"""Starting points of the restricted interior point (:mod:`._barrier`).

The interior point needs a strictly feasible ``u`` on every working block:
every first-layer row ``a_r . u > 0`` and every second-layer row too.  A
sampled or trained tuple comes with the network that generated its
patterns, which is strictly inside its own pattern cone; other blocks get a
phase-one linear program.  The start is then rescaled (the penalty at the
loss of zero, outputs capped at the targets' scale), its small groups are
raised, and its first multipliers are centred, ``lam = 1 / (tau s)``, with
tiny slacks floored.  A warm start (a previous round's solution, on its
face) moves part of the way to that interior start.
"""

import warnings

import numpy as np

from ._newton_matrix import NoInteriorError


#: A warm start (``start_u``) is this fraction of the way from the previous
#: solution to the interior start, with the barrier parameter set for a gap
#: of WARM_GAP times the objective.  Over twelve UCI classifier fits (first
#: training folds): 11 to 25% fewer Newton steps on six, all multiclass
#: (flags, vowel, vehicle, glass, seeds, dermatology), within 3% on the
#: other six (3% more on vehicle with trained tuples at alpha 1e-3);
#: settings from 0.1 / 0.05 to 0.3 / 0.3 within a few percent of each other.
WARM_THETA = 0.3
WARM_GAP = 0.3
#: A strictly feasible start from generating weights raises every group
#: below this fraction of its block's largest (as far as the second-layer
#: rows allow, :func:`_balancing_scales`), and its multipliers treat slacks
#: below START_SLACK_FLOOR times their group's median as that floor.
#: ``benchmarks/bench_ipm_start.py`` at ab9a4c0 (18 fits, 15 UCI classifiers):
#: 2623 -> 2161 Newton steps, 250 -> 208 s; audiology-std (18 classes, tuples
#: with second-layer weights of 1e-14) 242 -> 189 steps; one fit slower
#: (statlog-vehicle at alpha 1e-3, 153 -> 177).  Raising groups all the way
#: to equal norms helped audiology-std more (177) and that fit less (188).
START_GROUP_RATIO = 1e-2
#: Blocks below this fraction of the largest block's norm are raised to it
#: (all their groups alike).  A generating sub-network that died in training
#: (norm 3e-23 beside 0.5, Fashion-MNIST PCA 100, class 0 of 20000 images)
#: started its rows' multipliers near 1e50, and the rounds holding it took
#: 63 and 54 Newton steps; raised, 25 and 22 (118 s -> 58 s, the same
#: certified objective; /tmp script, ``bench_ipm_start.py`` for more fits).
START_BLOCK_RATIO = 1e-2
START_SLACK_FLOOR = 0.1
#: A cold start's network is scaled so that its outputs, summed in absolute
#: value over the groups, are at most this multiple of the targets' scale.
#: It binds only at tiny alpha: on diabetes, iris, wine, breast cancer and
#: 300 digits at alpha 1e-3 (and diabetes at 1e-4) the start is unchanged
#: (the cap is at least 3.8 times the penalty's scale); at alpha 1e-9 on 40
#: samples it took the fit from relative gap 1 (group norms 1e9) to 8.6e-7.
#: A cap of 100 binds on those fits too: 10 to 18% faster on the squared
#: ones, 8 to 25% slower on three others (one run each, shared cores).
START_MAGNITUDE_RATIO = 1e4


def _start_multipliers(s, live, weight, tau):
    """Centred first multipliers ``weight / (tau s)``, slacks floored per column.

    A slack far below its column's typical one (a row nearly on its
    hyperplane) counts as START_SLACK_FLOOR times the column's median over
    its live rows (``live``: bool mask, or None where all rows are): its
    multiplier would otherwise be orders of magnitude above the rest and so
    would the stationarity residual, which the steps then remove a fraction
    at a time.  ``weight`` (1 or a 0 / 1 float mask) zeroes the dead rows.
    """
    if live is None:
        return weight / (tau * np.maximum(s, START_SLACK_FLOOR * np.median(s, axis=0)))
    with warnings.catch_warnings():
        # Columns without a live row warn; they get no floor.
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(np.where(live, s, np.nan), axis=0)
    floor = START_SLACK_FLOOR * np.where(np.isnan(med), 0.0, med)
    return weight / (tau * np.maximum(np.where(live, s, 1.0), floor))


def _balancing_scales(U, Z, W2, r2):
    """Per-group factors ``c > 0`` (B, m) that even out a start's group and block norms.

    A trained tuple's generating network can have a neuron whose second-layer
    weight has shrunk to ~1e-14: its group of ``u = w |v|`` is that small, so
    are its slacks, and the barrier's first multipliers ``1 / (tau s)`` are
    ~1e13, a stationarity residual that the interior point then removes a
    fraction per step (audiology-std, 18 classes: 60 to 70 steps a round).
    Scaling a group keeps its first-layer rows' signs; the second-layer
    slacks ``sum_j W2_ij c_j Z_ij`` (``Z = X u``) are linear in ``c``, so
    every ``c`` on the segment from ones to the equalising factors
    ``max_j |u_j| / |u_j|`` is feasible up to a ratio test's bound: take the
    whole segment when it stays feasible, else half of the bound.  Then
    every block below ``START_BLOCK_RATIO`` of the largest is scaled up to
    it.
    """
    norms = np.linalg.norm(U, axis=2)                                  # (B, m)
    top = norms.max(axis=1, keepdims=True)
    safe = np.where(norms > 0, norms, 1.0)
    eq = np.where(norms > 0, np.maximum(norms, START_GROUP_RATIO * top) / safe, 1.0)
    term = W2 * Z                                                      # (n, B, m)
    s_now = term.sum(axis=2)                                           # (n, B)
    s_eq = np.einsum("nbm,bm->nb", term, eq)
    falls = r2 & (s_eq < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(falls, s_now / (s_now - s_eq), np.inf)
    theta = np.minimum(1.0, 0.5 * bound.min(axis=0, initial=np.inf))   # (B,)
    theta = np.where(np.isfinite(theta), np.maximum(theta, 0.0), 1.0)
    c = 1.0 + theta[:, None] * (eq - 1.0)
    # Whole blocks too (START_BLOCK_RATIO): every constraint is homogeneous
    # in a block's weights, so scaling a block up keeps it strictly feasible.
    block = np.linalg.norm(norms * c, axis=1)
    safe = np.where(block > 0, block, 1.0)
    up = np.where(block > 0,
                  np.maximum(block, START_BLOCK_RATIO * block.max(initial=0.0)) / safe, 1.0)
    return c * up[:, None]



def _phase_one(X, E1, W2, r1, r2):
    """A strictly feasible ``u`` (m, d) of one block by a linear program, or None."""
    from scipy.optimize import linprog

    n, d = X.shape
    m = E1.shape[1]
    rows = []
    for j in range(m):
        idx = np.flatnonzero(r1[:, j])
        block = np.zeros((len(idx), m * d))
        block[:, j * d:(j + 1) * d] = E1[idx, j, None] * X[idx]
        rows.append(block)
    idx = np.flatnonzero(r2)
    rows.append((W2[idx, :, None] * X[idx, None, :]).reshape(len(idx), m * d))
    A = np.vstack(rows)
    # maximise s  s.t.  A u >= s,  -1 <= u <= 1,  s <= 1
    c = np.zeros(m * d + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A, np.ones((A.shape[0], 1))])
    bounds = [(-1, 1)] * (m * d) + [(None, 1)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(A.shape[0]), bounds=bounds, method="highs")
    if res.status != 0 or -res.fun <= 1e-9:
        return None
    return res.x[:-1].reshape(m, d)


def generating_start(op, t_idx, E1, W2, r1, r2, blocks):
    """A strictly feasible ``u`` (B, m, d) of every block, and whether it is generated.

    ``u = w |v|`` from the tuples' generating weights (first layer ``w``,
    second layer ``v``) where the arrangements carry them (at X's width:
    :class:`~convexrelu.operator.LiftedOperator` refuses any other);
    otherwise a phase-one linear program per block (:func:`_phase_one`).

    Raises
    ------
    NoInteriorError
        When a block has no strictly feasible point.
    """
    X = op.X
    d = X.shape[1]
    B, m = len(blocks), op.n_hidden
    arr = op.arrangements
    generated = arr.first_weights is not None
    if generated:
        U = (np.transpose(arr.first_weights[t_idx], (0, 2, 1))
             * np.abs(arr.second_weights[t_idx])[:, :, None])
        return U, True
    U = np.zeros((B, m, d))
    for bi in range(B):
        u0 = _phase_one(X, E1[:, bi], W2[:, bi], r1[:, bi], r2[:, bi])
        if u0 is None:
            raise NoInteriorError(f"block {blocks[bi]} has no strictly feasible point")
        U[bi] = u0
    return U, False


def start_scale(L0, alpha, norm_sum, out, out_abs, scale):
    """The factor ``kappa`` applied to a cold start's network.

    The start's scale: a network whose penalty ``alpha kappa sum_g ||u_g||``
    (``norm_sum``) equals ``L0``, the loss at zero (larger starts than the
    best-objective multiple of the generating network leave the slacks room
    and take fewer Newton steps).  Capped so that the largest output
    magnitude ``kappa out`` is at most ``scale``, what the outputs have to
    fit (the largest residual at zero for the squared loss, one for a
    saturating loss): a saturating loss has almost no curvature at large
    outputs, where Newton steps crawl, and for the squared loss the sum of
    many generating networks overshoots the targets by orders of magnitude
    (a 13-block round on 10000 Fashion-MNIST images started at objective 36
    against an optimum of 0.018 and took 82 steps, 56 with the cap).  The
    same cap, times ``START_MAGNITUDE_RATIO``, on ``out_abs``, the outputs
    summed in absolute value before the two signs of one tuple cancel (their
    generating weights are the same, so their contributions cancel exactly
    and the first cap does not bind): at alpha = 1e-9 the penalty's scale
    started 40 samples at group norms of 1e8, along directions the loss
    cannot see, and the interior point stalled there at relative gap 1.
    """
    kappa = max(L0, 1e-12) / (alpha * norm_sum)
    if out > 0 and scale > 0:
        kappa = min(kappa, scale / out)
    if out_abs > 0 and scale > 0:
        kappa = min(kappa, START_MAGNITUDE_RATIO * scale / out_abs)
    return kappa

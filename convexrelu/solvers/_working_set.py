"""Working sets of the fast solver: which blocks a round solves, and what leaves.

A round's working set is the non-zero blocks of a warm start (plus the blocks
the sequential strong rule expects to enter on a fine path step,
:func:`_add_strong_rule_blocks`) or, from a cold start, the blocks whose gated
dual test (zero constraint multipliers, :func:`_gated_ratios`) is most
violated; after each round pricing adds the blocks outside the set that
violate their dual constraints (:func:`_add_violators`).  Groups and blocks
an interior point left tiny where the optimum has zeros are zeroed
(:func:`_zero_tiny_groups` after each round, :func:`_drop_negligible_blocks`
once the certificate holds).  :mod:`.fast` runs the rounds.
"""

import numpy as np

from ..duality import duality_gap
from ..operator import group_norms
from . import _FEASIBILITY_RTOL


#: The strong rule adds blocks to a path point's first working set only when
#: ``alpha >= STRONG_RULE_MIN_STEP * alpha_prev``.  On coarser steps its
#: threshold ``2 alpha - alpha_prev`` falls toward zero; a cap there (blocks
#: within 40% of ``alpha_prev``, until the twenty-seventh session) took many
#: blocks that stayed at zero, whose Newton systems and entering solves
#: cost more than the rounds pricing needs to add the right ones:
#: ``benchmarks/bench_strong_rule.py`` (12 paths of UCI and bundled sets,
#: trained tuples) 1.62x, 1.77x and 2.31x in total on three grids and folds,
#: every path but one (yacht, 0.93x) as fast or faster (naval 2.4x to 5.5x),
#: the same certified objectives.  At this step the former cap and the rule's threshold
#: coincide (``0.6 alpha_prev``), so finer grids are unchanged.
STRONG_RULE_MIN_STEP = 0.8


def _ratios(op, V, lam1, lam2, alpha):
    """Largest ``||X^T g_g|| / alpha`` over each block's groups, shape (NB,)."""
    n, NB, m = lam1.shape
    norms = op.dual_norms(V, lam1.reshape((n,) + op.var_shape[:-1]),
                          lam2.reshape((n,) + op.var_shape[:-2]))
    return norms.reshape(NB, m).max(axis=1) / alpha


def _block_norms(U, NB, m):
    """Largest group norm of each of the ``NB`` blocks."""
    return group_norms(U).reshape(NB, m).max(axis=1)


def _gated_ratios(op, V, alpha):
    """Dual ratios of every block with zero constraint multipliers (the gated test)."""
    return op.dual_norms(V).reshape(-1, op.n_hidden).max(axis=1) / alpha


def _add_strong_rule_blocks(op, in_set, warm_start, alpha):
    """Add the blocks the sequential strong rule expects to enter at ``alpha``.

    Along a decreasing path, a block's dual norm ``c_b = max_j ||X^T g_bj||``
    moves slowly with alpha (by at most ``alpha_prev - alpha`` when it is
    1-Lipschitz in alpha, the rule's assumption; Tibshirani et al. 2012).
    Blocks with ``c_b >= 2 alpha - alpha_prev`` at the previous solution's
    certified dual point are therefore likely active at ``alpha`` and join
    the first working set, which saves a working-set round per path point.
    Only on fine steps, ``alpha >= STRONG_RULE_MIN_STEP * alpha_prev``.
    A heuristic only: the certificate still decides, and pricing adds any
    block the rule missed.
    """
    prev = getattr(warm_start, "alpha", None)
    if prev is None or prev <= alpha or alpha < STRONG_RULE_MIN_STEP * float(prev):
        return
    c = _warm_dual_norms(op, warm_start, in_set.shape[0])
    if c is not None:
        in_set |= c >= 2.0 * alpha - float(prev)


def _warm_dual_norms(op, warm_start, n_blocks):
    """Each block's largest dual norm ``max_j ||X^T g_bj||`` at a warm start's
    certified dual point and multipliers, shape (n_blocks,); None when the
    warm start lacks them or they do not fit these rows."""
    V = getattr(warm_start, "dual_point", None)
    lam1 = getattr(warm_start, "lam1", None)
    lam2 = getattr(warm_start, "lam2", None)
    n = op.n_samples
    if (V is None or lam1 is None or lam2 is None
            or np.shape(V)[0] != n or np.size(lam1) != n * n_blocks * op.n_hidden):
        return None
    return _ratios(op, np.asarray(V, float),
                   np.asarray(lam1, float).reshape(n, n_blocks, -1),
                   np.asarray(lam2, float).reshape(n, n_blocks), 1.0)


def _generator_blocks(op, ratios, most=None):
    """The generating network's own blocks that violate their gated constraint, or None.

    Tuples trained in a network (:func:`convexrelu.train_arrangements`) carry
    its output weights; with one output, tuple ``t``'s sub-network is the
    block of sign ``+`` or ``-`` as its output weight.  That network used
    those sub-networks together, so they are a better first working set than
    the blocks most violated one by one: on 12 binary UCI-121 fits (32
    trained tuples, logistic loss, alpha 1e-2 and 1e-3) one to three rounds
    instead of three to five, 29.3 s against 22.9 s in all (0.57x to 2.30x
    per fit); one round instead of three on Fashion-MNIST classes (60000
    rows, 16 tuples), 1.9x and 2.6x.  ``ratios``: every block's gated ratio
    at zero; the blocks at most one there are left out (near ``alpha_max``
    most are).  ``most``: keep at most that many, the most violated.
    """
    W3 = getattr(op.arrangements, "output_weights", None)
    P = op.n_patterns
    if W3 is None or op.n_outputs != 1 or W3.shape != (P, 1):
        return None
    own = np.arange(P) + P * (W3[:, 0] <= 0)
    own = own[ratios[own] > 1.0]
    if most is not None and len(own) > most:
        own = np.sort(own[np.argsort(-ratios[own], kind="stable")[:most]])
    return own if len(own) else None


def _add_violators(in_set, ratios, k, n_outputs=1):
    """Add up to ``k`` blocks outside ``in_set`` whose dual ratio exceeds one.

    The most violated first; with ``n_outputs > 1`` (blocks grouped by
    output, output first) the outputs take turns, each its most violated
    block, then each its second, and so on.
    """
    score = np.where(in_set, -np.inf, ratios)
    cand = np.flatnonzero(score > 1.0)
    if len(cand) == 0:
        return False
    order = cand[np.argsort(-score[cand], kind="stable")]
    if n_outputs > 1:
        output = order // (len(ratios) // n_outputs)
        turn = np.empty(len(order), dtype=int)
        for o in np.unique(output):
            mine = np.flatnonzero(output == o)
            turn[mine] = np.arange(len(mine))
        order = order[np.argsort(turn, kind="stable")]
    in_set[order[:k]] = True
    return True


def _zero_tiny_groups(op, Ub, blocks, zero_rtol):
    """Zero the groups of ``Ub`` (B, m, d) below ``zero_rtol`` times the largest.

    A whole tiny block is always zeroed (zero satisfies every constraint).
    A tiny group inside a live block is zeroed only where the block's
    second-layer rows stay satisfied: those rows sum over the block's groups,
    and near-active ones would otherwise turn slightly negative.
    """
    nb = np.sqrt(np.einsum("bjd,bjd->bj", Ub, Ub))
    tiny = nb <= zero_rtol * nb.max(initial=0.0)
    Ub = Ub.copy()
    C, P = op.n_outputs, op.n_patterns
    _, _, t_idx = np.unravel_index(np.asarray(blocks, dtype=int), (C, 2, P))
    for bi in np.flatnonzero(tiny.any(axis=1)):
        if tiny[bi].all():
            Ub[bi] = 0.0
            continue
        trial = np.where(tiny[bi][:, None], 0.0, Ub[bi])
        t = t_idx[bi]
        W2 = op.S1[:, t, :] * op.E2[:, t, None]                       # (n, m)
        if np.all(np.einsum("nm,nm->n", W2, op.X @ trial.T) >= 0):
            Ub[bi] = trial
    return Ub


def _drop_negligible_blocks(op, loss, Y, w, alpha, U, intercept, fit_intercept, tol, cert,
                            lams, rtol=1e-3, budget=1e-2):
    """``U`` without the blocks an interior point left negligibly non-zero.

    An interior point solved to a relative gap ``eps`` leaves blocks of norm
    up to about ``eps |objective| / alpha`` where the optimum has zeros;
    ``zero_rtol`` (relative to the largest group) misses them when the loss
    dominates the objective (a logistic fit near ``alpha_max``: five
    sub-networks of norm 1e-8 beside one of 7e-3).  Blocks at most ``rtol``
    times the largest, whose penalty together is at most ``budget * tol``
    of the objective, are zeroed when the certificate still holds without
    them (their held multipliers, those of the stationarity conditions,
    certify a zero block as well); otherwise ``U`` is returned unchanged.
    """
    NB, m = lams.n_blocks, lams.m
    gn = group_norms(U).reshape(NB, m)
    bn = gn.max(axis=1)
    cand = np.flatnonzero((bn > 0) & (bn <= rtol * bn.max(initial=0.0)))
    if len(cand) == 0 or alpha * gn[cand].sum() > budget * tol * abs(cert.primal):
        return U, intercept
    trial = U.reshape(NB, m, -1).copy()
    trial[cand] = 0.0
    trial = trial.reshape(U.shape)
    F0 = op.predict(trial)
    b = loss.optimal_intercept(F0, Y, w, start=intercept) if fit_intercept else intercept
    V = -loss.gradient(F0 + b, Y, w)
    dual_ratio = float(lams.ratios(op, V, alpha, _gated_ratios(op, V, alpha)).max(initial=0.0))
    again = duality_gap(op, loss, Y, w, trial, alpha, intercept=b, fit_intercept=fit_intercept,
                        dual_ratio=dual_ratio, return_multipliers=False)
    if again.relative_gap <= tol and again.constraint_violation <= _FEASIBILITY_RTOL:
        return trial, again.intercept
    return U, intercept

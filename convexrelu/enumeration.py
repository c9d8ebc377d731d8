"""Exact enumeration of the activation-pattern tuples of a sub-network.

Sampling (:func:`convexrelu.sample_arrangements`) finds the tuples of
random networks; this module finds *all* of them, so that the convex program
of FORMULATION.md section 4 equals the non-convex training problem
(section 6), and so that a dual point can be checked against every tuple
(:mod:`convexrelu.optimality`).

Which tuples are enumerated
---------------------------
For one sub-network of width ``m`` write ``v_j = w1_j |w2_j| |w3|`` and
``v = (v_1, ..., v_m)`` in ``R^{m d}``.  For a tuple ``t = (D1, s, D2)`` let

    Q_t = { v : (2 D1_ij - 1) x_i . v_j >= 0,
                (2 D2_i - 1) h_i(v) >= 0  for all i, j },
    h_i(v) = sum_j s_j D1_ij x_i . v_j,

the closed cone the convex program constrains block ``t`` to.  The function
returns

    T = { t : Q_t has an interior point, i.e. some v satisfies every
              inequality above strictly },

where inequalities that vanish identically are exempt (a zero row
``x_i = 0`` forces ``D1_ij = 1``; a row with ``h_i = 0`` for every ``v``
forces ``D2_i = 1``, the forward pass's ``>= 0`` convention), with the
neurons of a tuple in a canonical order.

*Every tuple in T is realised by a network*: an interior point ``v`` with
``w1_j = v_j``, ``w2_j = s_j``, ``w3 = 1`` has exactly the patterns ``t``
because every inequality is strict.

*T is complete*: for fixed signs ``s`` every ``v`` in ``R^{m d}`` lies in
the cone ``Q_t`` of its own forward-pass tuple, so the finitely many closed
cones ``Q_t`` cover ``R^{m d}``.  Those without interior are nowhere dense,
so the union of the others is closed and dense, hence all of ``R^{m d}``.
Any sub-network therefore lies in some ``Q_t``, ``t`` in T, with the same
signs, and on ``Q_t`` the block's output ``D2 * h`` equals the network's
``relu(h)`` (ties give zero both ways).  Permuting the neurons of a tuple
permutes ``Q_t`` and leaves outputs and norms unchanged, so one order per
multiset of ``(D1_j, s_j)`` pairs suffices.  Consequently the convex program
over T has the non-convex optimum as its value, and a dual point feasible
for every tuple in T bounds the non-convex optimum from below.

How they are enumerated
-----------------------
1. *First layer.*  The cells (open regions) of the central arrangement of the
   hyperplanes ``{w : x_i . w = 0}`` in ``R^d`` are built incrementally: keep
   every cell of the first ``k`` hyperplanes with an interior witness point;
   hyperplane ``k + 1`` keeps the witness's side and, when a small linear
   program (:func:`scipy.optimize.linprog`) finds a point of the cell with
   positive margin on the other side, splits the cell in two.  For points in
   general position the count is ``2 sum_{k<d} C(n-1, k)``
   (:func:`cell_count_bound`), and then no LP is needed: every cell is a
   pointed cone whose extreme rays are the arrangement's vertices, and
   points just off each vertex in every direction find all the cells
   (:func:`_cells_by_vertices`; it reports failure on degenerate data,
   which the LPs then take: 40 points in 2-D with a bias column, 1562
   cells, 0.08 s against 20.2 s).
2. *Second layer.*  For each multiset of ``m`` (cell, sign) pairs the open
   product of the cells is a polyhedral cone ``K`` in ``R^{m d}``, and the
   realisable ``D2`` are the sign vectors of the cells of the *second*
   arrangement ``{v : h_i(v) = 0}`` restricted to ``K``.  A row where every
   active neuron has the same sign has a fixed sign on ``K`` (zero if no
   neuron is active), so only the remaining *free* rows split; they are
   added one at a time exactly as in step 1, every linear program now also
   carrying the strict cell constraints of ``K``.

Each linear program maximises a margin ``t`` over a box, so "strict" means
``t > 1e-9`` after normalising every row to unit length.  The cost is at
most one small LP per (region, hyperplane) pair, spared where the region's
witness moved just across the hyperplane stays inside the region's other
walls (:func:`_across`; 6 points in 2-D, m = 2: 2250 LPs instead of 3365,
2.12 s against 3.01 s):
exact enumeration is for tiny problems (a handful of samples, ``d <= 4``
columns, ``m <= 2``).
"""

import hashlib
import itertools
import math
import numbers
from collections import OrderedDict

import numpy as np
from scipy.optimize import linprog

from .arrangements import Arrangements

__all__ = ["enumerate_arrangements", "enumerate_cells", "cell_count_bound",
           "estimate_tuple_count", "canonical_tuples", "TooManyPatternsError"]

class TooManyPatternsError(ValueError):
    """Exact enumeration would exceed the requested size limit."""


#: the last few enumerations, keyed by (X's bytes, width): a fit in exact mode
#: followed by its certificate enumerates once
_CACHE = OrderedDict()
_CACHE_SIZE = 4


def _copy(arr):
    return Arrangements(arr.first.copy(), arr.signs.copy(), arr.second.copy(),
                        first_weights=arr.first_weights.copy(),
                        second_weights=arr.second_weights.copy())


#: a region is open when a point has at least this margin (rows of unit norm)
_MARGIN_TOL = 1e-9


def cell_count_bound(n_hyperplanes, rank):
    """Most cells ``n`` hyperplanes through the origin cut ``R^rank`` into.

    ``2 * sum_{k < rank} C(n - 1, k)``, attained exactly when the normals are
    in general position (every ``rank`` of them linearly independent); 1 when
    there is no hyperplane.
    """
    n, r = int(n_hyperplanes), int(rank)
    if n <= 0 or r <= 0:
        return 1
    return 2 * sum(math.comb(n - 1, k) for k in range(r))


def _max_margin(constraints, dim):
    """Largest ``t <= 1`` with ``constraints @ v >= t``, ``|v|_inf <= 1``.

    Returns ``(t, v)``; ``t`` is -inf when the LP fails.
    """
    k = constraints.shape[0]
    # variables (v, t): maximise t  <=>  minimise -t
    c = np.zeros(dim + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-constraints, np.ones((k, 1))])
    bounds = [(-1.0, 1.0)] * dim + [(None, 1.0)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(k), bounds=bounds, method="highs")
    if res.status != 0:
        return -np.inf, None
    return float(res.x[-1]), res.x[:-1]


def _across(w, a, s, cons):
    """A point of ``{v : cons @ v > 0}`` just across the hyperplane ``a`` from ``w``, or None.

    ``w`` lies in the region on the side ``-s`` of the unit normal ``a``;
    moving it across by half its margin to the region's other walls often
    stays inside them, which spares the linear program.  The point is
    scaled to ``|v|_inf = 1`` and accepted only when every margin exceeds
    ``_MARGIN_TOL``, so the linear program (whose margin over that box is at
    least as large) would have accepted the side too.
    """
    others = cons[:-1] @ w
    room = float(others.min(initial=1.0))
    if room <= _MARGIN_TOL:
        return None
    v = w - (float(a @ w) - s * 0.5 * room) * a
    v = v / np.abs(v).max()
    return v if float((cons @ v).min()) > _MARGIN_TOL else None


def _split_regions(rows, base, witness, dim):
    """Open regions of the hyperplanes ``rows`` inside the open cone ``base``.

    Parameters
    ----------
    rows : ndarray (k, dim)
        Unit normals of the hyperplanes ``{v : rows[i] . v = 0}``.
    base : ndarray (b, dim)
        Unit normals of the cone ``{v : base @ v > 0}`` (may be empty).
    witness : ndarray (dim,)
        A point of the open cone ``base``.
    dim : int

    Returns
    -------
    list of (signs, witness)
        ``signs`` in {-1, +1}^k, one entry per non-empty region
        ``{v : base @ v > 0, signs * (rows @ v) > 0}``.
    """
    regions = [(np.zeros(0), np.asarray(witness, float))]
    for i in range(rows.shape[0]):
        a = rows[i]
        new = []
        for signs, w in regions:
            side = float(a @ w)
            prefix = signs[:, None] * rows[:i] if i else np.zeros((0, dim))
            for s in (1.0, -1.0):
                if s * side > _MARGIN_TOL:
                    new.append((np.append(signs, s), w))
                    continue
                cons = np.vstack([base, prefix, s * a[None, :]])
                v = _across(w, a, s, cons)
                if v is None:
                    t, v = _max_margin(cons, dim)
                    if not t > _MARGIN_TOL:
                        continue
                new.append((np.append(signs, s), v))
        regions = new
    return regions


#: most margins (candidate points times hyperplanes, 8 bytes each) that
#: :func:`_cells_by_vertices` evaluates; beyond it the arrangement is left to
#: the linear programs
VERTEX_ENTRIES_MAX = 2 ** 24


def _cells_by_vertices(rows, dim, bound):
    """The cells of a central arrangement found around its vertices, without LPs.

    In general position every cell of ``k >= dim`` hyperplanes of rank
    ``dim`` is a pointed cone whose extreme rays are the arrangement's
    vertices (the lines where ``dim - 1`` hyperplanes meet), and the
    ``2^(dim-1)`` cells around a vertex ``r`` contain the points ``+-r + eps
    B sigma`` (``B`` the dual basis of the ``dim - 1`` normals, ``sigma``
    their signs, ``eps`` small against the other hyperplanes' distances).
    Every such point whose margins are all non-zero lies in a cell; the cells
    are all found when ``bound`` (:func:`cell_count_bound`, the count in
    general position and an upper bound otherwise) of them are.  Each
    cell's witness is the mean of its points, interior by convexity.

    Returns the list of ``(signs, witness)`` of :func:`_split_regions`, or
    None when the points do not find ``bound`` cells (degenerate data, or
    fewer hyperplanes than ``dim``) or would be too many: the caller then
    solves the linear programs.  (Rows of rank below ``dim`` have no pointed
    cells; the caller, which knows the rank, does not ask then.)
    """
    k = rows.shape[0]
    if dim < 2 or k < dim:
        return None
    if math.comb(k, dim - 1) * 2 ** dim * k > VERTEX_ENTRIES_MAX:
        return None
    subsets = np.array(list(itertools.combinations(range(k), dim - 1)), dtype=np.intp)
    A = rows[subsets]                                               # (S, dim-1, dim)
    # The vertex: the null vector of the dim-1 normals; the dual basis B
    # (dim x dim-1) with A B = I moves off each of them independently.
    _, sv, Vt = np.linalg.svd(A)
    ok = sv[:, -1] > 1e-9 * sv[:, 0]
    r = Vt[ok, -1, :]                                               # (S', dim)
    A, subsets = A[ok], subsets[ok]
    Bd = np.linalg.pinv(A)                                          # (S', dim, dim-1)
    margins = r @ rows.T                                            # (S', k)
    inside = np.zeros(margins.shape, bool)
    inside[np.arange(len(subsets))[:, None], subsets] = True
    gap = np.where(inside, np.inf, np.abs(margins)).min(axis=1)     # distance to the others
    push = np.abs(np.einsum("kd,sdj->skj", rows, Bd)).sum(axis=2).max(axis=1)
    eps = 0.5 * gap / np.maximum(push, 1e-300)
    sigmas = np.array(list(itertools.product((-1.0, 1.0), repeat=dim - 1)))   # (Q, dim-1)
    moves = np.einsum("sdj,qj->sqd", Bd, sigmas) * eps[:, None, None]         # (S', Q, dim)
    pts = np.concatenate([r[:, None, :] + moves, -r[:, None, :] + moves], axis=1)
    pts = pts.reshape(-1, dim)
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    vals = pts @ rows.T
    good = np.abs(vals).min(axis=1) > _MARGIN_TOL
    pts, vals = pts[good], vals[good]
    if len(pts) == 0:
        return None
    keys, which = np.unique(vals > 0, axis=0, return_inverse=True)
    if len(keys) != bound:
        return None
    which = which.ravel()
    sums = np.zeros((len(keys), dim))
    np.add.at(sums, which, pts)
    witnesses = sums / np.bincount(which, minlength=len(keys))[:, None]
    return [(np.where(key, 1.0, -1.0), w) for key, w in zip(keys, witnesses)]


def canonical_tuples(arrangements):
    """The same tuples with neurons sorted and permuted duplicates dropped.

    Within a tuple the neurons are ordered by (pattern ``D1_j`` read as a
    binary word with sample 0 first and False < True, then sign + before -),
    the order :func:`enumerate_arrangements` uses, so keys of sampled and
    enumerated tuples can be compared.  Permuting the neurons of a tuple
    changes neither the convex program's value nor the dual constraints.

    Parameters
    ----------
    arrangements : Arrangements

    Returns
    -------
    Arrangements
        Without generating weights; first occurrences kept, in order.
    """
    P, n, m = arrangements.first.shape
    if P == 0:
        return Arrangements(arrangements.first, arrangements.signs, arrangements.second)
    cols = arrangements.first.transpose(0, 2, 1).reshape(P * m, n)
    words = np.concatenate([np.packbits(cols, axis=1),
                            (arrangements.signs.reshape(P * m, 1) < 0).astype(np.uint8)],
                           axis=1)
    _, rank = np.unique(words, axis=0, return_inverse=True)
    order = np.argsort(rank.reshape(P, m), axis=1, kind="stable")
    first = np.take_along_axis(arrangements.first, order[:, None, :], axis=2)
    signs = np.take_along_axis(arrangements.signs, order, axis=1)
    keys = np.concatenate([first.reshape(P, -1), signs > 0, arrangements.second], axis=1)
    _, keep = np.unique(np.packbits(keys, axis=1), axis=0, return_index=True)
    keep = np.sort(keep)
    return Arrangements(first[keep], signs[keep], arrangements.second[keep])


def _normalised_rows(X):
    """Unit rows of X and the mask of non-zero rows."""
    norms = np.linalg.norm(X, axis=1)
    nonzero = norms > 0
    U = np.zeros_like(X)
    U[nonzero] = X[nonzero] / norms[nonzero, None]
    return U, nonzero


def enumerate_cells(X, *, max_cells=None):
    """Activation patterns of the cells of the arrangement ``{w : x_i . w = 0}``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows as the first layer sees them (a ones column makes the
        hyperplanes affine in the remaining coordinates).
    max_cells : int, default=None
        Raise :class:`TooManyPatternsError` when :func:`cell_count_bound` exceeds it (checked
        before any LP is solved).

    Returns
    -------
    patterns : ndarray of bool, shape (n_cells, n_samples)
        ``1[X w >= 0]`` for a point ``w`` of each open cell; zero rows of
        ``X`` are active everywhere.
    witnesses : ndarray of shape (n_cells, n_features)
        An interior point of each cell (strict signs on the non-zero rows).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D; got shape {X.shape}.")
    n, d = X.shape
    rows, nonzero = _normalised_rows(X)
    rank = np.linalg.matrix_rank(X) if n else 0
    bound = cell_count_bound(int(nonzero.sum()), rank)
    if max_cells is not None and bound > max_cells:
        raise TooManyPatternsError(
            f"The first-layer arrangement may have up to {bound} cells (n={n}, "
            f"rank={rank}), more than the limit {max_cells}.")
    idx = np.flatnonzero(nonzero)
    regions = _cells_by_vertices(rows[idx], d, bound) if rank == d else None
    if regions is None:
        # Any point is in the (whole-space) open cone with no constraints.
        regions = _split_regions(rows[idx], np.zeros((0, d)), np.zeros(d), d)
    patterns = np.ones((len(regions), n), dtype=bool)
    witnesses = np.zeros((len(regions), d))
    for r, (signs, w) in enumerate(regions):
        patterns[r, idx] = signs > 0
        witnesses[r] = w
    order = np.lexsort(patterns.T[::-1])                # deterministic order
    return patterns[order], witnesses[order]


def _multiset_free_rows(P1, signs):
    """Free and fixed rows of the second layer for one choice of neurons.

    ``P1`` (m, n) bool are the effective first-layer patterns (zero rows of X
    already switched off), ``signs`` (m,).  A row with active neurons of both
    signs is free; otherwise ``h_i`` has a fixed sign (0 when none is active,
    taken as D2 = 1).
    """
    pos = np.any(P1 & (signs[:, None] > 0), axis=0)
    neg = np.any(P1 & (signs[:, None] < 0), axis=0)
    free = pos & neg
    fixed_d2 = ~neg          # only positive terms (or none): h >= 0
    return free, fixed_d2


def _region_bound(n_free, dim):
    """Upper bound on the regions ``n_free`` hyperplanes cut a cone of R^dim into."""
    if n_free == 0:
        return 1
    return min(2 ** n_free, cell_count_bound(n_free, dim))


def _choices(n_cells, m):
    """Multisets of m (cell, sign) options, option k = (cell k // 2, sign +1 if k even)."""
    return itertools.combinations_with_replacement(range(2 * n_cells), m)


def _effective(patterns, X):
    """Cell patterns with zero rows of X switched off (they contribute x_i . v = 0)."""
    nonzero = np.linalg.norm(X, axis=1) > 0
    return patterns & nonzero[None, :]


def estimate_tuple_count(X, n_hidden, *, cells=None):
    """Upper estimate of the number of tuples :func:`enumerate_arrangements` returns.

    ``sum`` over multisets of ``m`` (cell, sign) pairs of the bound
    ``min(2^f, 2 sum_{k < m d} C(f - 1, k))`` on the second-layer regions,
    ``f`` the number of free rows (active neurons of both signs).  Exact for
    ``m = 1`` and whenever no row is free.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_hidden : int
    cells : ndarray, default=None
        Cell patterns from :func:`enumerate_cells` (computed when None).

    Returns
    -------
    estimate : int
    n_first_layer : int
        The exact number of multisets of (cell, sign) pairs, a lower bound on
        the tuple count.
    """
    X = np.asarray(X, dtype=float)
    if cells is None:
        cells, _ = enumerate_cells(X)
    eff = _effective(cells, X)
    C, m, d = len(cells), int(n_hidden), X.shape[1]
    n_first = math.comb(2 * C + m - 1, m)
    opt_pos = np.arange(2 * C) % 2 == 0
    est = 0
    if m == 1:
        return 2 * C, 2 * C
    # Free-row counts, vectorised over all multisets.
    combos = np.array(list(_choices(C, m)), dtype=np.int64)        # (N, m)
    act = eff[combos // 2]                                           # (N, m, n)
    sgn_pos = opt_pos[combos][:, :, None]
    free = (np.any(act & sgn_pos, axis=1) & np.any(act & ~sgn_pos, axis=1)).sum(axis=1)
    for f, count in zip(*np.unique(free, return_counts=True)):
        est += int(count) * _region_bound(int(f), m * d)
    return int(est), int(n_first)


def enumerate_arrangements(X, n_hidden, *, max_patterns=10_000):
    """Every activation-pattern tuple ``(D1, s, D2)`` of a width-``m`` sub-network.

    Exact, not sampled: the first-layer patterns are the cells of the
    arrangement of the hyperplanes ``{w : x_i . w = 0}`` through the origin
    of ``R^d`` (``X`` as given; a ones column makes them affine), and for
    each multiset of ``m`` (cell, sign) pairs the second-layer patterns are
    the cells of the arrangement ``{v : sum_j s_j D1_ij x_i . v_j = 0}`` in
    ``R^{m d}`` restricted to the open product of the ``m`` cells.  See the
    module docstring for why exactly these tuples, and no others, are needed:
    with them the convex program of FORMULATION.md section 4 has the
    non-convex optimum as its value.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data as the first layer sees it (append a ones column first for
        first-layer biases).
    n_hidden : int
        Width ``m`` of the first hidden layer of every sub-network.
    max_patterns : int, default=10_000
        Limit on the number of tuples.  :func:`estimate_tuple_count` is
        computed first (after the cheap first-layer enumeration) and a
        ``ValueError`` naming the estimate and the limit is raised when it
        exceeds ``max_patterns``; the first layer alone is refused when
        :func:`cell_count_bound` exceeds the limit.

    Returns
    -------
    Arrangements
        All tuples, with an interior point of each as its generating
        weights (``first_weights[t] = [v_1 ... v_m]``, ``second_weights[t]
        = s``), so ``recompute(X)`` reproduces the tuples; on other rows it
        gives that one witness network's patterns, which the tuple alone does
        not determine.  Within a tuple the neurons are sorted by (cell,
        sign) (see :func:`canonical_tuples`); tuples are ordered
        deterministically.

    Raises
    ------
    TooManyPatternsError
        (a ``ValueError``) when the estimated number of tuples exceeds
        ``max_patterns``.

    Notes
    -----
    The number of first-layer cells is ``O(n^(d-1))`` and the number of
    tuples ``O(n^(m d))``: exact mode is for tiny problems.  With ``m = 2``
    and a column of ones among the ``d``, random data stay under 10000
    tuples up to ``n = 8`` at ``d = 2`` (1089), ``n = 6`` at ``d = 3``
    (4531) and ``n = 5`` at ``d = 4`` (3667).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D; got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite.")
    if not isinstance(n_hidden, numbers.Integral) or isinstance(n_hidden, bool) or n_hidden < 1:
        raise ValueError(f"n_hidden must be a positive integer; got {n_hidden!r}.")
    if not isinstance(max_patterns, numbers.Integral) or max_patterns < 1:
        raise ValueError(f"max_patterns must be a positive integer; got {max_patterns!r}.")
    n, d = X.shape
    m = int(n_hidden)
    key = (X.shape, hashlib.sha1(np.ascontiguousarray(X).tobytes()).hexdigest(), m)
    if key in _CACHE:
        cached, needed = _CACHE[key]
        if needed <= max_patterns:      # the same limits pass or raise as uncached
            _CACHE.move_to_end(key)
            return _copy(cached)
    result, needed = _enumerate(X, m, max_patterns)
    if result.n_patterns:
        _CACHE[key] = (_copy(result), needed)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def _enumerate(X, m, max_patterns):
    n, d = X.shape
    cells, wit = enumerate_cells(X, max_cells=max_patterns)
    C = len(cells)
    n_first = math.comb(2 * C + m - 1, m)
    if n_first > max_patterns:
        raise TooManyPatternsError(
            f"Exact enumeration needs at least {n_first} tuples ({C} first-layer "
            f"cells, width {m}), more than max_patterns={max_patterns}. Use sampled "
            f"arrangements or raise max_patterns.")
    estimate, _ = estimate_tuple_count(X, m, cells=cells)
    if estimate > max_patterns:
        raise TooManyPatternsError(
            f"Exact enumeration is estimated at up to {estimate} tuples (at least "
            f"{n_first}; {C} first-layer cells, n={n}, d={d}, width {m}), more than "
            f"max_patterns={max_patterns}. Use sampled arrangements or raise max_patterns.")
    eff = _effective(cells, X)
    rows, _ = _normalised_rows(X)
    first, sgns, second, gens = [], [], [], []
    for combo in _choices(C, m):
        combo = np.asarray(combo)
        cidx = combo // 2
        s = np.where(combo % 2 == 0, 1.0, -1.0)
        P1 = eff[cidx]                                   # (m, n)
        free, fixed_d2 = _multiset_free_rows(P1, s)
        witness = np.concatenate([wit[c] for c in cidx])   # a point of the open product
        if not free.any():
            found = [(fixed_d2, witness)]
        else:
            # The open product cone K: strict signs of every non-zero row per neuron.
            nz = np.linalg.norm(rows, axis=1) > 0
            base = []
            for j in range(m):
                block = np.zeros((n, m * d))
                block[:, j * d:(j + 1) * d] = np.where(cells[cidx[j]], 1.0, -1.0)[:, None] * rows
                base.append(block[nz])
            base = np.vstack(base)
            fi = np.flatnonzero(free)
            # Rows of the second arrangement: h_i(v) = sum_j s_j D1_ij x_i . v_j.
            A = np.concatenate([(s[j] * P1[j, fi])[:, None] * rows[fi] for j in range(m)],
                               axis=1)
            A /= np.linalg.norm(A, axis=1, keepdims=True)
            found = []
            for signs, v in _split_regions(A, base, witness, m * d):
                d2 = fixed_d2.copy()
                d2[fi] = signs > 0
                found.append((d2, v))
        for d2, v in found:
            first.append(cells[cidx].T)
            sgns.append(s)
            second.append(d2)
            gens.append(v.reshape(m, d).T)
    # the smallest max_patterns under which this call succeeds
    needed = max(cell_count_bound(int(np.any(X != 0, axis=1).sum()), np.linalg.matrix_rank(X)),
                 n_first, estimate)
    if not first:
        return Arrangements(np.zeros((0, n, m), bool), np.zeros((0, m)),
                            np.zeros((0, n), bool)), needed
    # The interior points are generating networks (w1_j = v_j, w2_j = s_j):
    # their forward pass on X reproduces each tuple exactly.
    return Arrangements(np.array(first), np.array(sgns), np.array(second),
                        first_weights=np.array(gens), second_weights=np.array(sgns)), needed

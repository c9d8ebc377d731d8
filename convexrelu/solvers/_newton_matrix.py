"""Newton matrices of the restricted program: building them and factorising them.

The interior point (:mod:`._barrier`, its systems in :mod:`._newton_systems`),
its Woodbury forms (:mod:`._woodbury`) and the active-set method
(:mod:`._active_set`) share these parts of a Newton step:

* the constraint rows' ``md x md`` blocks (:func:`_row_blocks`) and the loss
  part ``Psi^T Hl Psi`` (:func:`_add_loss_gram`, :func:`_pair_loss_gram`),
  both built from matrix products over the rows instead of loops over
  groups;
* the factorisation (:func:`_scaled_factor`): a symmetric diagonal scaling,
  then a Cholesky factorisation nudged by a small ridge when the matrix is
  definite only in exact arithmetic, raising :class:`NoInteriorError` when it
  is singular.
"""

import functools
import threading

import numpy as np
from scipy.linalg import cho_solve
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dpotrf


class NoInteriorError(RuntimeError):
    """The restricted problem has no strictly feasible point or a singular Newton matrix."""


def _pair_products(X):
    """Rows' upper-triangle products ``x_i[a] x_i[b]`` (a <= b), shape (d (d + 1) / 2, n).

    Pairs in the order of ``np.triu_indices(d)``, one column per row: each
    feature ``a`` fills one contiguous band ``x[a] x[a:]`` of rows from the
    transposed rows (a row-major (n, pairs) layout wrote ``n`` strided
    pieces per band instead: building chunks of 100 rows at d = 101 took
    1.7x as long, /tmp script).  Fancy indexing would copy ``X`` twice.
    """
    n, d = X.shape
    XT = np.ascontiguousarray(X.T)
    out = np.empty((d * (d + 1) // 2, n))
    pos = 0
    for a in range(d):
        np.multiply(XT[a], XT[a:], out=out[pos:pos + d - a])
        pos += d - a
    return out


@functools.lru_cache(maxsize=16)
def _upper_index(d):
    """Position in ``np.triu_indices(d)`` order of every entry of a symmetric d x d matrix."""
    iu, ju = np.triu_indices(d)
    pos = np.empty((d, d), dtype=np.intp)
    pos[iu, ju] = np.arange(len(iu))
    pos[ju, iu] = np.arange(len(iu))
    return pos.ravel()


def _symmetric_from_upper(upper, d):
    """The symmetric (r, d, d) matrices whose upper triangles are the rows of ``upper``.

    One gather (``np.take``): four times faster than two fancy-index
    assignments, which took 47 ms for 650 matrices at d = 70.
    """
    return np.take(upper, _upper_index(d), axis=1).reshape(-1, d, d)


def _row_blocks(X, c1, c2, W2, row_chunk, XX=None, WW=None):
    """The constraint rows' share of the Newton matrix, one ``md x md`` block per block.

    First-layer rows of group ``(b, j)`` add ``X^T diag(c1[:, bj]) X`` to the
    ``(j, j)`` sub-block; the second-layer rows of block ``b`` add
    ``sum_i c2[i, b] w_i w_i^T`` with ``w_i = W2[i, b, :] (x) x_i``.  Both are
    linear in the products ``x_i x_i^T``, so all of them come out of one
    matrix product with those products (``XX`` from :func:`_pair_products`,
    or built in chunks of rows) instead of a Python loop over groups; only
    the upper triangles (pairs ``j <= j'``) are computed, the rest is
    symmetry.  The sub-block ``(j, j')`` is ``X^T diag(q) X`` with
    ``q = c2[:, b] W2[:, b, j] W2[:, b, j'] + [j = j'] c1[:, bj]``: one
    coefficient column per pair, ``m (m + 1) / 2`` per block, not ``m``
    more for the first-layer rows (3 instead of 5 products at m = 2).
    ``WW`` (n, B, m (m + 1) / 2): the products ``W2[:, :, j] W2[:, :, j']``
    of those pairs, the same at every Newton step.
    """
    n, d = X.shape
    _, B, m = W2.shape
    pj, pk = np.triu_indices(m)
    npair = len(pj)
    diag = np.flatnonzero(pj == pk)                 # pair (j, j), j = 0 .. m-1
    out = np.zeros((d * (d + 1) // 2, B * npair))
    for start in range(0, n, row_chunk):
        sl = slice(start, min(n, start + row_chunk))
        XXc = _pair_products(X[sl]) if XX is None else XX[:, sl]
        Wc = W2[sl][:, :, pj] * W2[sl][:, :, pk] if WW is None else WW[sl]
        Q = c2[sl, :, None] * Wc
        Q[:, :, diag] += c1[sl].reshape(-1, B, m)
        out += XXc @ Q.reshape(-1, B * npair)
    return _blocks_from_upper(out, B, m, d)


@functools.lru_cache(maxsize=16)
def _block_index(d, m):
    """Position of every entry of an ``md x md`` block in its pairs' upper triangles.

    Entry ``(j d + a, j' d + b)`` is ``X^T diag(q) X``'s ``(a, b)`` for the
    pair ``{j, j'}``: upper-triangle position ``_upper_index(d)[a d + b]``
    in that pair's run of ``d (d + 1) / 2``.  (Each sub-block is symmetric,
    so the one below the diagonal is the pair's own matrix too.)
    """
    pj, pk = np.triu_indices(m)
    pair = np.empty((m, m), dtype=np.intp)
    pair[pj, pk] = pair[pk, pj] = np.arange(len(pj))
    upper = _upper_index(d).reshape(d, d)
    return (pair[:, None, :, None] * (d * (d + 1) // 2) + upper[None, :, None, :]).ravel()


def _blocks_from_upper(upper, B, m, d):
    """The (B, md, md) blocks from the pairs' upper triangles ``upper``
    (``d (d + 1) / 2 x B m (m + 1) / 2``, block ``b``'s pairs in the columns
    ``b m (m + 1) / 2 ...``, in the order of ``np.triu_indices(m)``).

    One gather per block row from a contiguous copy: the pairs' symmetric
    matrices first and the blocks from them (zeros, then a copy per pair and
    a transposed one per off-diagonal pair) took 1.3 to 1.8 times as long
    (``benchmarks/bench_block_assembly.py``; 5% of a 75-class fit).
    """
    rows = np.ascontiguousarray(upper.T).reshape(B, -1)
    return np.take(rows, _block_index(d, m), axis=1).reshape(B, m * d, m * d)


def _pair_loss_gram(K, X, XX, mask, out_of_group, parts, row_chunk, pairs=None):
    """Add the weights' block of ``Psi^T Hl Psi`` to ``K[:k, :k]`` from the rows' pair products.

    Group ``g``'s lifted column block is ``mask[:, g] x_i``, so the block of
    the pair ``(g, g')`` is ``sum_i c_i x_i x_i^T`` with

        c_i = mask_ig mask_ig' (delta_{o o'} D_io - R_io R_io'),

    ``o``, ``o'`` the groups' outputs (``Hl_i = diag(D_i) - R_i R_i^T``).
    With the products ``x_i x_i^T`` (upper triangles, :func:`_pair_products`)
    all pairs come out of one matrix product of ``d(d+1)/2 x n`` products
    with ``n x pairs`` coefficients: ``n k^2 / 2`` flops, half of ``syrk``'s
    ``n k^2``, the difference that matters when ``d`` is large and the loss
    part is built over many rows.  ``pairs`` ``(g, g')`` with ``g <= g'``
    (default: all): only those blocks and their transposes are added.
    """
    n, d = X.shape
    A = mask.shape[1]
    k = A * d
    D, R = parts
    pg, pg2 = np.triu_indices(A) if pairs is None else pairs
    if not len(pg):
        return
    same = out_of_group[pg] == out_of_group[pg2]
    one_output = R is None and bool(np.all(same))
    acc = np.zeros((d * (d + 1) // 2, len(pg)))
    for start in range(0, n, row_chunk):
        sl = slice(start, min(n, start + row_chunk))
        mk = mask[sl].astype(float)
        coef = mk[:, pg] * mk[:, pg2]
        mk = None
        if one_output:
            # (squared or logistic loss: one weight per row, no n x pairs copy)
            coef *= D[sl, out_of_group[0], None]
        else:
            lin = np.where(same, D[sl][:, out_of_group[pg]], 0.0)
            if R is not None:
                Rg = R[sl][:, out_of_group]
                lin -= Rg[:, pg] * Rg[:, pg2]
                Rg = None
            coef *= lin
            lin = None
        XXc = _pair_products(X[sl]) if XX is None else XX[:, sl]
        acc += XXc @ coef
        coef = XXc = None
    acc = acc.T
    if pairs is not None:
        blk = _symmetric_from_upper(acc, d)
        for p, (g, g2) in enumerate(zip(pg, pg2)):
            K[g * d:(g + 1) * d, g2 * d:(g2 + 1) * d] += blk[p]
            if g != g2:
                K[g2 * d:(g2 + 1) * d, g * d:(g + 1) * d] += blk[p]
        return
    pos = 0
    for g in range(A):
        cnt = A - g
        blk = _symmetric_from_upper(acc[pos:pos + cnt], d)
        pos += cnt
        lo = g * d
        # Row band of g (its pairs with g' >= g), then the column band below
        # the diagonal block; each d x d block is symmetric.
        K[lo:lo + d, lo:k] += blk.transpose(1, 0, 2).reshape(d, cnt * d)
        K[lo + d:k, lo:lo + d] += blk[1:].reshape((cnt - 1) * d, d)


def _add_loss_gram(K, Phi, cols, col_out, Hl, parts, fit_intercept, weights=True):
    """Add ``Psi^T Hl Psi`` to ``K`` (``k`` weight columns of ``Phi``, then the
    ``C`` intercepts when ``fit_intercept``).

    ``cols`` maps output ``o`` to the contiguous slice of columns it owns,
    ``col_out`` is each column's output.  With the loss Hessian's parts
    ``diag(D) - R R^T`` (:meth:`convexrelu.losses.Loss.hessian_parts`) the
    weights' block is one product per output and one for ``R``; without
    them one per pair of outputs.  ``weights=False`` adds the intercepts'
    rows and columns only (the weights' block then comes from
    :func:`_pair_loss_gram`).
    """
    k = Phi.shape[1]
    if weights and parts is not None:
        D, R = parts
        for o, co in cols.items():
            _add_gram(K, co, Phi[:, co] * np.sqrt(np.maximum(D[:, o, None], 0.0)))
        if R is not None:
            _add_gram(K, slice(0, k), Phi * R[:, col_out], -1.0)
    elif weights:
        for o, co in cols.items():
            for o2, co2 in cols.items():
                h = Hl[:, o, o2]
                if np.any(h):
                    K[co, co2] += (Phi[:, co] * h[:, None]).T @ Phi[:, co2]
    if fit_intercept:
        for o, co in cols.items():
            v = Phi[:, co].T @ Hl[:, o, :]                             # (|co|, C)
            K[co, k:] += v
            K[k:, co] += v.T
        K[k:, k:] += Hl.sum(axis=0)


def _add_gram(K, sl, A, scale=1.0):
    """``K[sl, sl] += scale * A^T A`` through BLAS ``syrk``.

    ``syrk`` computes one triangle, half the flops of the general product
    (the Newton matrix's loss part is the solver's largest product when the
    working set is wide); the other triangle is its transpose.
    """
    if A.shape[0] == 0 or A.shape[1] == 0:
        # (LAPACK's error handler would print "illegal value" for an empty
        # A: an all-zero face of a softmax path has intercepts only.)
        return
    # A.T of a C-ordered A is Fortran-ordered: no copy on the way to BLAS.
    G = dsyrk(scale, np.ascontiguousarray(A).T, lower=0)   # upper triangle, zeros below
    blk = K[sl, sl]
    blk += G
    blk += G.T
    idx = np.arange(G.shape[0])
    blk[idx, idx] -= G[idx, idx]


def _scaled_cholesky(H):
    """``(dscale, fac)`` with ``H = diag(dscale) U^T U diag(dscale)``; ``H`` is overwritten.

    Symmetric diagonal scaling first: the multipliers' weights lam/s span
    twenty orders of magnitude near the end, and unscaled entries underflow
    into subnormals, which slow the factorisation a hundredfold.  The
    Cholesky factor ``fac`` (``cho_factor`` form, upper) of the unit-diagonal
    matrix comes from :func:`_factor_regularised`.
    """
    dscale = np.sqrt(np.maximum(np.diag(H), 1e-300))
    inv = 1.0 / dscale
    H *= inv[:, None]
    H *= inv[None, :]
    H[(H < 1e-30) & (H > -1e-30)] = 0.0
    return dscale, _factor_regularised(H)


def _scaled_factor(H):
    """``rhs -> H^-1 rhs`` (rhs of shape (k,) or (k, r)); ``H`` is overwritten
    (see :func:`_scaled_cholesky`)."""
    dscale, fac = _scaled_cholesky(H)

    def solve(rhs):
        sc = dscale.reshape((-1,) + (1,) * (rhs.ndim - 1))
        return cho_solve(fac, rhs / sc, check_finite=False) / sc
    return solve


def _factor_regularised(Hs):
    """Cholesky factor of the unit-diagonal matrix ``Hs``, nudged if need be.

    Near the optimum the curvature of a non-zero group along its own
    direction is only ``~ 1 / (tau |u|^2)``, and nearly collinear lifted
    features (two tuples that differ on a few rows, common with trained
    tuples) then leave the matrix positive definite only in exact
    arithmetic.  A ridge of 1e-12..1e-6 on the unit diagonal gives an inexact
    Newton step, which the interior-point iteration tolerates; only a matrix
    that needs more is reported as singular.

    ``Hs`` (symmetric) is factorised in place and overwritten, in the
    ``cho_factor`` form ``(c, False)``: the transpose of a C-ordered ``Hs``
    is Fortran-ordered, as LAPACK wants, and (``Hs`` being symmetric) the
    same matrix, so no copy is made
    (``cho_factor`` made two, each the size of the Newton matrix: 1 GiB at
    8000 weights).  A failed attempt leaves the other triangle as it was,
    which restores the matrix for the next one.
    """
    F = Hs.T if Hs.flags.c_contiguous else np.asfortranarray(Hs)
    k = F.shape[0]
    diag = np.diag(F).copy()
    for ridge in (0.0, 1e-12, 1e-9, 1e-6):
        if ridge:
            _restore_upper(F)
            F[np.diag_indices(k)] = diag + ridge
        c, info = dpotrf(F, lower=0, clean=0, overwrite_a=1)
        if info == 0:
            if ridge:
                _RIDGED.count = ridged_factorisations() + 1
            return c, False
        if info < 0:
            raise ValueError(f"illegal argument {-info} to the Cholesky factorisation")
    # A singular Newton matrix means a degenerate restricted problem; the
    # caller falls back to a general conic solver.
    raise NoInteriorError(f"singular Newton matrix: leading minor {info} not positive")


_RIDGED = threading.local()


def ridged_factorisations():
    """How many factorisations of this thread needed :func:`_factor_regularised`'s ridge."""
    return getattr(_RIDGED, "count", 0)


def add_ridged_factorisations(count):
    """Count ``count`` ridged factorisations that other threads made for this one
    (:func:`convexrelu.solvers._woodbury.output_threads`' workers)."""
    if count:
        _RIDGED.count = ridged_factorisations() + count


def _restore_upper(F, step=1024):
    """Copy the strict lower triangle of ``F`` onto its upper one, in blocks of rows."""
    k = F.shape[0]
    for start in range(0, k, step):
        stop = min(k, start + step)
        F[start:stop, stop:] = F[stop:, start:stop].T
        blk = F[start:stop, start:stop]
        iu = np.triu_indices(stop - start, 1)
        blk[iu] = blk.T[iu]

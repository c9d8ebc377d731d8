"""Newton systems of the restricted interior point through the Woodbury identity.

The interior point's Newton matrix over ``z = (u, b)`` (``k`` weights of the
working set, ``C`` intercepts) is

    H = [D 0; 0 0] + Psi^T Hl Psi,

``D`` block diagonal (one ``md x md`` block per working block: its
constraint rows and group terms, positive definite), ``Psi`` the ``nC x
(k + C)`` map from ``z`` to the predictions and ``Hl`` the loss's per-sample
``C x C`` Hessians.  With ``G = Hl^(1/2) Psi_u`` and ``Gb = Hl^(1/2) Psi_b``:

    M = D + G^T G,        M^-1 = D^-1 - D^-1 G^T (I + G D^-1 G^T)^-1 G D^-1,

and the intercepts come from the ``C x C`` Schur complement
``S = Gb^T Gb - Gb^T G M^-1 G^T Gb``.  A factorisation then costs
``B (md)^3 / 3`` for the blocks plus ``(nC)^2 k`` for the capacitance
matrix ``I + G D^-1 G^T`` (formed as ``I + Z^T Z``, ``Z = U^-T S^-1 G^T``
from each block's scaled Cholesky factor ``D_b = S U^T U S``), instead of
``(k + C)^3 / 3`` for ``H``: the cheaper route whenever ``nC`` is below
``k`` (many features, d = 100, few rows).
"""

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular


def _sqrt_psd(Hl):
    """Symmetric square roots of the per-sample ``C x C`` Hessians, (n, C, C)."""
    if Hl.shape[1] == 1:
        return np.sqrt(np.maximum(Hl, 0.0))
    vals, vecs = np.linalg.eigh(Hl)
    return np.einsum("nij,nj,nkj->nik", vecs, np.sqrt(np.maximum(vals, 0.0)), vecs)


def woodbury_solver(D_blocks, Phi, cols, Hl, fit_intercept, intercept_extra=None):
    """A function solving ``H z = r`` for the Newton matrix above.

    Parameters
    ----------
    D_blocks : ndarray of shape (B, md, md)
        Diagonal blocks of ``D`` (left as they are).
    Phi : ndarray of shape (n, k)
        Lifted columns of the working set: ``F[:, o] = Phi[:, cols[o]] @ u[cols[o]] + b_o``.
    cols : dict
        Output ``o`` -> slice of the columns of ``Phi`` (and of ``u``) it owns.
    Hl : ndarray of shape (n, C, C)
        Per-sample loss Hessians.
    fit_intercept : bool
    intercept_extra : ndarray of shape (C, C), default=None
        Added to the intercepts' block of ``H`` (the cross-entropy's flat
        direction).

    Returns
    -------
    callable
        ``solve(rhs)`` for ``rhs`` of shape (k + C,) (or (k,) without
        intercepts).

    Raises
    ------
    NoInteriorError
        When a block or the capacitance matrix is numerically singular.
    """
    from ._barrier import _scaled_cholesky

    n, k = Phi.shape
    B, md, _ = D_blocks.shape
    C = Hl.shape[1]
    R = _sqrt_psd(Hl)                                                  # (n, C, C)
    # G = Hl^(1/2) Psi_u, rows (i, o'), as (n C, k).
    G = np.zeros((n, C, k))
    for o, sl in cols.items():
        G[:, :, sl] = R[:, :, o, None] * Phi[:, None, sl]
    G = G.reshape(n * C, k)
    # Each block D_b = S U^T U S (scaled Cholesky of a copy: the caller keeps
    # D for a dense fallback).  With Z = U^-T S^-1 G^T (one triangular solve
    # per block) the capacitance matrix is I + Z^T Z, a symmetric product:
    # half the work of forming D^-1 G^T and multiplying it by G.
    half, back = _blockwise([(slice(bi * md, (bi + 1) * md),
                              _scaled_cholesky(D_blocks[bi].copy())) for bi in range(B)])
    # M^-1 r = D^-1 r - D^-1 G^T cap^-1 G D^-1 r, and G D^-1 = Z^T U^-T S^-1.
    m_inv = _low_rank_update(half, back, half(np.ascontiguousarray(G.T)), 1.0)

    if not fit_intercept:
        return m_inv

    Gb = R.reshape(n * C, C)                                           # Hl^(1/2) (1 (x) I_C)
    return _with_intercepts(m_inv, G.T @ Gb, Gb.T @ Gb, intercept_extra)


def _blockwise(factors):
    """``half`` and ``back`` for ``[(slice, (S, cho_factor of U^T U)), ...]``.

    ``half(r) = U^-T S^-1 r`` and ``back(a) = S^-1 U^-1 a`` block by block,
    so that ``back(half(r))`` solves with the block-diagonal matrix.
    """

    def half(r):
        out = np.empty_like(r)
        for sl, (sc, fac) in factors:
            sc = sc.reshape((-1,) + (1,) * (r.ndim - 1))
            out[sl] = solve_triangular(fac[0], r[sl] / sc, trans="T", lower=False,
                                       check_finite=False)
        return out

    def back(a):
        out = np.empty_like(a)
        for sl, (sc, fac) in factors:
            sc = sc.reshape((-1,) + (1,) * (a.ndim - 1))
            out[sl] = solve_triangular(fac[0], a[sl], lower=False, check_finite=False) / sc
        return out

    return half, back


def _low_rank_update(half, back, Z, sign):
    """``r -> M^-1 r`` for ``M = K + sign W^T W``, given ``Z = half(W^T)``.

    Woodbury: ``M^-1 = K^-1 - sign K^-1 W^T (I + sign W K^-1 W^T)^-1 W K^-1``,
    and ``W K^-1 W^T = Z^T Z``.
    """
    from ._barrier import NoInteriorError

    cap = sign * (Z.T @ Z)
    cap[np.diag_indices_from(cap)] += 1.0
    try:
        cap_fac = cho_factor(cap, lower=False, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise NoInteriorError(f"singular capacitance matrix: {exc}") from exc

    def m_inv(r):
        a = half(r)
        return back(a - sign * (Z @ cho_solve(cap_fac, Z.T @ a, check_finite=False)))

    return m_inv


def _with_intercepts(m_inv, Hub, Hbb, extra):
    """Solve over ``(u, b)`` from ``m_inv`` (the weights' block) and the intercepts'
    ``C x C`` Schur complement ``Hbb - Hub^T M^-1 Hub`` (+ ``extra``)."""
    from ._barrier import NoInteriorError

    k = Hub.shape[0]
    Y = m_inv(Hub)
    S = Hbb - Hub.T @ Y
    if extra is not None:
        S = S + extra
    S = 0.5 * (S + S.T)
    try:
        S_fac = cho_factor(S, lower=False, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise NoInteriorError(f"singular intercept Schur complement: {exc}") from exc

    def solve(rhs):
        ru, rb = rhs[:k], rhs[k:]
        t = m_inv(ru)
        db = cho_solve(S_fac, rb - Hub.T @ t, check_finite=False)
        return np.concatenate([t - Y @ db, db])

    return solve


def output_block_solver(D_blocks, Phi, cols, Dl, Rl, Hl, fit_intercept, intercept_extra=None):
    """``solve(rhs)`` for the Newton matrix of a diagonal-minus-rank-one loss.

    For the softmax, ``Hl_i = diag(Dl_i) - Rl_i Rl_i^T``, so the weights'
    block of the Newton matrix splits as

        M = K - Q^T Q,    K = blockdiag_o ( Phi_o^T diag(Dl_o) Phi_o + D_o ),

    ``K`` block diagonal by output (``D_o``: the constraint and group blocks
    of output ``o``'s working blocks) and ``Q = Rl Psi`` of rank ``n``
    (row ``i``: ``Rl[i, o] Phi[i, c]`` on output ``o``'s columns).  Then

        M^-1 = K^-1 + K^-1 Q^T (I - Q K^-1 Q^T)^-1 Q K^-1,

    with ``I - Q K^-1 Q^T = I - Z^T Z`` (``Z = U^-T S^-1 Q^T`` from each
    output's scaled Cholesky factor ``K_o = S U^T U S``), positive definite
    whenever ``M`` is.  A factorisation costs ``C`` factorisations of
    ``k / C`` columns, ``2 n k^2 / C`` for ``K`` and ``Z`` and ``n^2 k`` for
    the capacitance matrix, against ``k^3 / 3 + n k^2`` for the dense matrix
    (``C`` outputs share ``k`` weights): ten classes and a working set wider
    than the rows make this several times cheaper.  The intercepts come
    from their ``C x C`` Schur complement, as in :func:`woodbury_solver`.

    Parameters
    ----------
    D_blocks : ndarray of shape (B, md, md)
        The working blocks' constraint and group blocks (left as they are).
    Phi : ndarray of shape (n, k)
    cols : dict
        Output ``o`` -> the contiguous slice of columns it owns.
    Dl, Rl : ndarray of shape (n, C)
        The loss Hessian's parts (:meth:`convexrelu.losses.Loss.hessian_parts`).
    Hl : ndarray of shape (n, C, C)
        The loss Hessians (for the intercepts).
    fit_intercept : bool
    intercept_extra : ndarray of shape (C, C), default=None

    Raises
    ------
    NoInteriorError
        When an output's block or the capacitance matrix is numerically
        singular (the caller then forms the dense matrix).
    """
    from ._barrier import _scaled_cholesky

    n, k = Phi.shape
    B, md, _ = D_blocks.shape
    C = Hl.shape[1]
    col_out = np.empty(k, dtype=int)
    factors = []
    for o, sl in cols.items():
        col_out[sl] = o
        Po = Phi[:, sl]
        Ko = (Po * Dl[:, o, None]).T @ Po
        first = sl.start // md
        for bi in range(first, sl.stop // md):
            s = slice((bi - first) * md, (bi - first + 1) * md)
            Ko[s, s] += D_blocks[bi]
        factors.append((sl, _scaled_cholesky(Ko)))
    half, back = _blockwise(factors)
    m_inv = _low_rank_update(half, back, half(np.ascontiguousarray((Phi * Rl[:, col_out]).T)),
                             -1.0)

    if not fit_intercept:
        return m_inv

    Hub = np.empty((k, C))                                             # weights x intercepts
    for o, sl in cols.items():
        Hub[sl] = Phi[:, sl].T @ Hl[:, o, :]
    return _with_intercepts(m_inv, Hub, Hl.sum(axis=0), intercept_extra)

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

import contextvars
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.linalg.lapack import dpotrf, dpotri, dtrtri

from ._newton_matrix import (NoInteriorError, _scaled_cholesky, _scaled_factor,
                             add_ridged_factorisations, ridged_factorisations)

#: widest constraint block (``m d``) factorised with the others in one batch
#: (with the triangles inverted by ``trtri``, 10 blocks of 184 applied to 180
#: columns five times: 129 ms batched against 181 ms one by one; 8 blocks of
#: 404: 871 against 931 ms, but three times slower for single vectors)
BATCHED_BLOCKS_MAX = 256

# The threads of :func:`output_threads` (None: the calling thread does the work).
_OUTPUT_POOL = contextvars.ContextVar("convexrelu_output_pool", default=None)


def thread_count(n_jobs):
    """Threads for ``n_jobs`` by joblib's rule (None: 1; -1: every CPU; -2: all but one)."""
    if n_jobs is None:
        return 1
    from joblib import cpu_count
    return max(1, n_jobs if n_jobs > 0 else cpu_count() + 1 + n_jobs)


@contextmanager
def output_threads(n_threads):
    """Within the block, the per-output work of the softmax's Newton systems
    (:func:`output_block_solver`, :func:`by_output_solver`) runs on
    ``n_threads`` threads.

    Each output's block is formed, factorised and applied by the same
    operations in any thread (one BLAS thread each, as in every solve), and
    the outputs' parts are combined in their order, so results do not
    depend on ``n_threads``: the threads only overlap the outputs' LAPACK
    and BLAS calls, which release the GIL.
    """
    if n_threads <= 1:
        yield
        return
    with ThreadPoolExecutor(n_threads, thread_name_prefix="convexrelu-output") as pool:
        token = _OUTPUT_POOL.set(pool)
        try:
            yield
        finally:
            _OUTPUT_POOL.reset(token)


def _map(fn, items):
    """``[fn(x) for x in items]``, on :func:`output_threads`' threads when inside it.

    As in the loop: the first item's error is raised, and the factorisations
    that needed a ridge (counted per thread, see
    :func:`~convexrelu.solvers._newton_matrix.ridged_factorisations`) are
    counted for the calling thread, up to and including the failing item's.
    """
    pool = _OUTPUT_POOL.get()
    if pool is None or len(items) < 2:
        return [fn(x) for x in items]

    def task(x):
        before = ridged_factorisations()
        try:
            value, ok = fn(x), True
        except Exception as exc:  # re-raised in the calling thread, in the loop's order
            value, ok = exc, False
        return ok, value, ridged_factorisations() - before

    results = []
    for ok, value, ridged in pool.map(task, items):
        add_ridged_factorisations(ridged)
        if not ok:
            raise value
        results.append(value)
    return results


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
    n, k = Phi.shape
    C = Hl.shape[1]
    R = _sqrt_psd(Hl)                                                  # (n, C, C)
    # G = Hl^(1/2) Psi_u, rows (i, o'), as (n C, k).
    G = np.zeros((n, C, k))
    for o, sl in cols.items():
        G[:, :, sl] = R[:, :, o, None] * Phi[:, None, sl]
    G = G.reshape(n * C, k)
    # Each block D_b = S U^T U S (scaled Cholesky; D is left for a dense
    # fallback).  With Z = U^-T S^-1 G^T (one batched product over the
    # blocks) the capacitance matrix is I + Z^T Z, a symmetric product: half
    # the work of forming D^-1 G^T and multiplying it by G.
    half, back = _cholesky_blocks(D_blocks)
    # M^-1 r = D^-1 r - D^-1 G^T cap^-1 G D^-1 r, and G D^-1 = Z^T U^-T S^-1.
    m_inv = _low_rank_update(half, back, half(np.ascontiguousarray(G.T)), 1.0)

    if not fit_intercept:
        return m_inv

    Gb = R.reshape(n * C, C)                                           # Hl^(1/2) (1 (x) I_C)
    return _with_intercepts(m_inv, G.T @ Gb, Gb.T @ Gb, intercept_extra)


def _cholesky_pair(scaled_factor):
    """``(half, back)`` of one block ``D = S U^T U S`` (a :func:`_scaled_cholesky`
    result): ``half(r) = U^-T S^-1 r``, ``back(a) = S^-1 U^-1 a``.

    ``half(r, overwrite=True)`` scales and solves in ``r``'s own memory when
    ``r`` is Fortran-ordered (the transpose of a C-ordered matrix), the same
    arithmetic without the copies (``r`` is then the caller's to give away).
    """
    sc, fac = scaled_factor

    def half(r, overwrite=False):
        s = sc.reshape((-1,) + (1,) * (r.ndim - 1))
        if overwrite:
            r /= s
        else:
            r = r / s
        return solve_triangular(fac[0], r, trans="T", lower=False, check_finite=False,
                                overwrite_b=overwrite)

    def back(a):
        s = sc.reshape((-1,) + (1,) * (a.ndim - 1))
        return solve_triangular(fac[0], a, lower=False, check_finite=False) / s

    return half, back


def _blockwise(pairs):
    """``half`` and ``back`` of a block-diagonal matrix from ``[(slice, half_b, back_b)]``.

    Each block is ``K_b = L_b^T L_b`` with ``half_b = L_b^-T`` and ``back_b =
    L_b^-1``, so that ``back(half(r)) = K^-1 r`` and ``half(W^T)^T half(W^T)
    = W K^-1 W^T``.
    """

    def half(r):
        out = np.empty_like(r)
        for sl, h, _ in pairs:
            out[sl] = h(r[sl])
        return out

    def back(a):
        out = np.empty_like(a)
        for sl, _, b in pairs:
            out[sl] = b(a[sl])
        return out

    return half, back


def _cholesky_blocks(D_blocks):
    """``(half, back)`` of the block-diagonal matrix with blocks ``D_blocks`` (kept).

    Small blocks all at once: scaled as in :func:`_scaled_cholesky`,
    factorised ``D_b = S L L^T S`` by one batched Cholesky, and applied
    through the explicit inverses of the triangular factors (one batched
    product per application instead of a triangular solve per block, whose
    call costs more than its arithmetic at these sizes).  Blocks wider than
    ``BATCHED_BLOCKS_MAX`` (a product with an inverse costs twice the
    triangular solve's flops: with d = 100, m = 4 a solve took 36 s one by
    one against 50 s batched, when the inverse was the general one), or a
    block that needs a ridge, go through :func:`_scaled_cholesky` one by one.
    """
    B, md, _ = D_blocks.shape

    def one_by_one():
        return _blockwise([(slice(bi * md, (bi + 1) * md),)
                           + _cholesky_pair(_scaled_cholesky(D_blocks[bi].copy()))
                           for bi in range(B)])

    if md > BATCHED_BLOCKS_MAX:
        return one_by_one()
    dscale = np.sqrt(np.maximum(np.einsum("bii->bi", D_blocks), 1e-300))
    inv = 1.0 / dscale
    Hs = D_blocks * inv[:, :, None] * inv[:, None, :]
    Hs[(Hs < 1e-30) & (Hs > -1e-30)] = 0.0
    try:
        L = np.linalg.cholesky(Hs)
    except np.linalg.LinAlgError:
        return one_by_one()
    # Inverted as triangles (LAPACK's trtri, md^3 / 3 flops each): the
    # general batched inverse took six to thirteen times as long and was a
    # fifth of a many-class fit (audiology-std, 18 classes: 20 of 90 s).
    Linv = np.empty_like(L)
    for bi in range(B):
        Linv[bi], info = dtrtri(L[bi], lower=1)
        if info != 0:
            return one_by_one()
    if not np.all(np.isfinite(Linv)):
        raise NoInteriorError("singular constraint block")
    LinvT = np.ascontiguousarray(np.swapaxes(Linv, 1, 2))

    def apply(F, r, before):
        shape = r.shape
        R = r.reshape((B, md, -1))
        sc = dscale[:, :, None]
        out = np.matmul(F, R / sc) if before else np.matmul(F, R) / sc
        return out.reshape(shape)

    return (lambda r: apply(Linv, r, True)), (lambda a: apply(LinvT, a, False))


def _low_rank_update(half, back, Z, sign):
    """``r -> M^-1 r`` for ``M = K + sign W^T W``, given ``Z = half(W^T)``.

    Woodbury: ``M^-1 = K^-1 - sign K^-1 W^T (I + sign W K^-1 W^T)^-1 W K^-1``,
    and ``W K^-1 W^T = Z^T Z``.
    """
    cap = sign * (Z.T @ Z)
    cap[np.diag_indices_from(cap)] += 1.0
    # Scaled and nudged as the dense Newton matrices are (a ridge of up to
    # 1e-6 on the unit diagonal, an inexact step): with sign -1 the matrix is
    # I - Z^T Z, near singular wherever M is.  NoInteriorError beyond that.
    cap_solve = _scaled_factor(cap)

    def m_inv(r):
        a = half(r)
        return back(a - sign * (Z @ cap_solve(Z.T @ a)))

    return m_inv


def _with_intercepts(m_inv, Hub, Hbb, extra):
    """Solve over ``(u, b)`` from ``m_inv`` (the weights' block) and the intercepts'
    ``C x C`` Schur complement ``Hbb - Hub^T M^-1 Hub`` (+ ``extra``)."""
    k = Hub.shape[0]
    Y = m_inv(Hub)
    S = Hbb - Hub.T @ Y
    if extra is not None:
        S = S + extra
    S = 0.5 * (S + S.T)
    # Scaled and nudged like the dense matrices: a class with one or two
    # training rows has almost no intercept curvature left after the Schur
    # complement, and rounding made it "singular" (audiology-std, 64 rows,
    # 18 classes); the fallback to the dense Newton matrix (15000 weights)
    # then cost over a minute a step, where this one costs microseconds.
    S_solve = _scaled_factor(S)

    def solve(rhs):
        ru, rb = rhs[:k], rhs[k:]
        t = m_inv(ru)
        db = S_solve(rb - Hub.T @ t)
        return np.concatenate([t - Y @ db, db])

    return solve


class DenseOutput:
    """One output's block ``K_o = D_o + W^T W`` formed and factorised.

    ``factor``: a :func:`_scaled_cholesky` result of ``K_o`` (``K_o = S U^T U
    S``); ``W``: the ``n x k_o`` matrix ``diag(Dl_o)^(1/2) Phi_o``, which
    this overwrites (the caller's to give away); ``lam``:
    the ``n`` weights ``Rl_o / Dl_o^(1/2)`` of :func:`by_output_solver`.  With
    ``half = U^-T S^-1`` and ``Z = half W^T diag(lam)`` (``k_o x n``: ``n
    k_o^2`` for the triangular solve), ``Lam W K_o^-1 r = Z^T half r`` and
    ``K_o^-1 W^T Lam v = half^T Z v``: one triangular solve each way per
    right-hand side, and the output's part of the capacitance matrix is
    ``Lam^2 - Z^T Z``, whose products :func:`by_output_solver` makes in one.
    """

    def __init__(self, factor, W, lam, out=None):
        self.half, self.back = _cholesky_pair(factor)
        # ``W`` is overwritten: its transpose, a Fortran-ordered view, is
        # solved in place, without the three ``k_o x n`` copies of a
        # contiguous ``W^T`` (this construction 2.4x faster at n = 1200,
        # k_o = 900, where fresh memory is slow).  ``out``: this output's
        # rows of an array shared by all outputs, so that by_output_solver
        # needs no copy to stack them.
        self.Z = np.multiply(self.half(W.T, overwrite=True), lam[None, :], out=out)

    def forward(self, r):
        """``(state, Lam W K_o^-1 r)``."""
        a = self.half(r)
        return a, self.Z.T @ a

    def backward(self, a, v):
        """``K_o^-1 (r + W^T Lam v)`` from ``forward(r)``'s state."""
        return self.back(a + self.Z @ v)

    @staticmethod
    def energy(a, r):
        """``r^T K_o^-1 r`` from ``forward(r)``'s state."""
        return a @ a


class LowRankOutput:
    """One output's block ``K_o = D_o + W^T W`` through ``I + W D_o^-1 W^T``.

    With ``D_o = L^T L`` (its constraint blocks, block diagonal: cheap) and
    ``V = L^-T W^T`` (``k_o x n``), ``P = V^T V = W D_o^-1 W^T`` and

        K_o^-1 = D_o^-1 - D_o^-1 W^T (I + P)^-1 W D_o^-1,
        I - W K_o^-1 W^T = (I + P)^-1,

    so a solve costs two block-diagonal applications and an ``n x n``
    Cholesky solve, and the output's part of the capacitance matrix,
    ``Lam (I + P)^-1 Lam``, needs no ``k_o x n`` solve at all: ``2 n k_o md``
    for ``V``, ``n^2 k_o`` for ``P``, ``n^3`` for its factor and inverse.
    ``I + P`` has eigenvalues at least one: a plain Cholesky.
    """

    def __init__(self, half_d, back_d, W, lam):
        self.half_d, self.back_d = half_d, back_d
        self.W, self.lam = W, lam
        self.V = half_d(np.ascontiguousarray(W.T))                    # (k_o, n)
        P = self.V.T @ self.V
        P[np.diag_indices_from(P)] += 1.0
        L, info = dpotrf(P, lower=1)
        if info != 0:
            raise NoInteriorError("capacitance of an output's block is not definite")
        self.L = L

    def solve(self, r):
        """``K_o^-1 r``."""
        h = self.half_d(r)
        c = cho_solve((self.L, True), self.V.T @ h, check_finite=False)
        return self.back_d(h - self.V @ c)

    def capacitance_part(self):
        """``Lam (I + P)^-1 Lam`` from the Cholesky factor (LAPACK ``potri``)."""
        inv, info = dpotri(self.L, lower=1)
        if info != 0:
            raise NoInteriorError("capacitance of an output's block is singular")
        inv = np.tril(inv) + np.tril(inv, -1).T
        return inv * self.lam[:, None] * self.lam[None, :]

    def forward(self, r):
        """``(state, Lam W K_o^-1 r)``."""
        t = self.solve(r)
        return t, _rows(self.lam, self.W @ t)

    def backward(self, t, v):
        """``K_o^-1 (r + W^T Lam v)`` from ``forward(r)``'s state."""
        return t + self.solve(self.W.T @ _rows(self.lam, v))

    @staticmethod
    def energy(t, r):
        """``r^T K_o^-1 r`` from ``forward(r)``'s state."""
        return r @ t


def softmax_weights(Dl, Rl):
    """``Rl / Dl^(1/2)`` (zero where ``Dl`` is), the weights ``lam`` with ``Q = Lam W``
    output by output (see :func:`by_output_solver`); for the softmax
    ``sum_o lam_o^2 = 1``.

    Where ``Dl`` underflowed to zero (a probability below ~1e-321 times the
    sample weight) ``Rl`` may still be a subnormal number; its rank-one term
    ``Rl^2`` is zero in floating point, so its weight is zero too.  (These
    raised the error below in a 226-row, 13-class fit's third round, which
    then formed a 9 GiB dense Newton matrix instead.)"""
    ok = Dl > 0
    if np.any(~ok & (Rl * Rl != 0)):
        raise NoInteriorError("rank-one part outside the diagonal part's range")
    return np.where(ok, Rl / np.sqrt(np.where(ok, Dl, 1.0)), 0.0)


def output_costs(n, width, md):
    """Estimated flops of one output's factor in :func:`output_block_solver`:
    ``(dense, low_rank)`` for an output with ``width`` weight columns.

    Dense (:class:`DenseOutput`): form ``Phi_o^T diag Phi_o`` and the
    complement's triangular solve (``3 n k^2`` together), factorise (``k^3 /
    3``).  Low rank (:class:`LowRankOutput`): the constraint blocks' solves
    with ``n`` right-hand sides (``2 n k md``), ``P`` and its factor and
    inverse (``2 n k md + n^2 k + n^3`` in all).  The low-rank estimate is
    deliberately high (``6 n^2 k + 10 n^3 + 2 n k md``, several times those
    flops): its solves go through ``D_o^-1``, whose
    blocks grow ill-conditioned late in an interior point (the group terms
    lose their curvature along the weights), and the formed matrix is the
    stable choice unless the low-rank one is clearly cheaper.
    """
    dense = 3.0 * n * width ** 2 + width ** 3 / 3.0
    low_rank = 6.0 * n * n * width + 10.0 * float(n) ** 3 + 2.0 * n * width * md
    return dense, low_rank


def _formed(inner, n, width, md):
    """Whether :func:`output_block_solver` forms an output's block (else low rank)."""
    if inner != "auto":
        return inner == "dense"
    dense, low_rank = output_costs(n, width, md)
    return not low_rank < dense


def shared_z_rows(widths, n):
    """``(rows, joint)``: one ``sum(widths) x n`` array (None when empty) and
    each output's consecutive rows of it (``rows[o]``, a slice), where its
    :class:`DenseOutput` writes its ``Z`` (``out=joint[rows[o]]``) for
    :func:`by_output_solver`'s capacitance product to use as it is
    (``joint_Z=joint``)."""
    rows, top = {}, 0
    for o, width in widths.items():
        rows[o] = slice(top, top + width)
        top += width
    return rows, (np.empty((top, n)) if top else None)


def output_block_solver(D_blocks, Phi, cols, Dl, Rl, Hl, fit_intercept, intercept_extra=None,
                        inner="auto"):
    """``solve(rhs)`` for the Newton matrix of a diagonal-minus-rank-one loss.

    For the softmax, ``Hl_i = diag(Dl_i) - Rl_i Rl_i^T``, so the weights'
    block of the Newton matrix splits as

        M = K - Q^T Q,    K = blockdiag_o ( Phi_o^T diag(Dl_o) Phi_o + D_o ),

    ``K`` block diagonal by output (``D_o``: the constraint and group blocks
    of output ``o``'s working blocks) and ``Q = Rl Psi`` of rank ``n``
    (row ``i``: ``Rl[i, o] Phi[i, c]`` on output ``o``'s columns), solved
    through the Woodbury identity by :func:`by_output_solver`.  Each
    ``K_o`` is either formed and factorised (:class:`DenseOutput`) or, when
    the rows are fewer than its ``k_o`` columns, taken as the constraint
    blocks plus the rank-``n`` term ``W_o^T W_o``, ``W_o = diag(Dl_o)^(1/2)
    Phi_o`` (:class:`LowRankOutput`); ``inner="auto"`` picks the cheaper
    estimate per output (:func:`output_costs`).  The dense matrix costs
    ``k^3 / 3 + n k^2`` (``C`` outputs share ``k`` weights): ten classes and
    a working set wider than the rows make this several times cheaper.  The
    intercepts come from their ``C x C`` Schur complement, as in
    :func:`woodbury_solver`.

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
    inner : {"auto", "dense", "low_rank"}, default="auto"
        How each output's block is factorised.

    Raises
    ------
    NoInteriorError
        When an output's block or the capacitance matrix is numerically
        singular (the caller then forms the dense matrix).
    """
    if inner not in ("auto", "dense", "low_rank"):
        raise ValueError(f"inner must be 'auto', 'dense' or 'low_rank'; got {inner!r}")
    md = D_blocks.shape[1]
    n = Phi.shape[0]
    lam = softmax_weights(Dl, Rl)
    formed = {o: _formed(inner, n, sl.stop - sl.start, md) for o, sl in cols.items()}
    # The formed outputs' ``Z`` go straight into their rows of one array:
    # stacking them for the capacitance matrix would copy ``k n`` numbers
    # per Newton step (a gigabyte on a 1200-row, 100-class refit; on a
    # 100-class refit with some outputs low rank, the copy of the others
    # took a fifth of the time).
    rows, joint = shared_z_rows({o: sl.stop - sl.start for o, sl in cols.items() if formed[o]}, n)

    def factor(item):
        o, sl = item
        W = np.sqrt(Dl[:, o, None]) * Phi[:, sl]
        first = sl.start // md
        if not formed[o]:
            return LowRankOutput(*_cholesky_blocks(D_blocks[first:sl.stop // md]), W, lam[:, o])
        Ko = W.T @ W
        for bi in range(first, sl.stop // md):
            s = slice((bi - first) * md, (bi - first + 1) * md)
            Ko[s, s] += D_blocks[bi]
        return DenseOutput(_scaled_cholesky(Ko), W, lam[:, o], out=joint[rows[o]])

    outputs = dict(zip(cols, _map(factor, list(cols.items()))))
    return by_output_solver(outputs, Phi, cols, (Dl, Rl), Hl, fit_intercept, intercept_extra,
                            joint_Z=joint)


def by_output_solver(outputs, Phi, cols, parts, Hl, fit_intercept, intercept_extra=None,
                     joint_Z=None):
    """``solve(rhs)`` for ``K - Q^T Q`` (plus intercepts) from the factors of ``K``'s blocks.

    ``outputs``: output ``o`` -> its factor (:class:`DenseOutput` or
    :class:`LowRankOutput`) of ``K_o``, output ``o``'s block (its constraint
    or face blocks plus ``W_o^T W_o``, ``W_o = diag(Dl_o)^(1/2) Phi_o``);
    ``parts``: the softmax Hessians' ``(Dl, Rl)``, ``Hl_i = diag(Dl_i) - Rl_i
    Rl_i^T``; ``Q = Rl Psi`` as in :func:`output_block_solver`, which is
    ``Lam_o W_o`` on output ``o``'s columns (``lam``: :func:`softmax_weights`).
    Then

        M^-1 = K^-1 + K^-1 Q^T cap^-1 Q K^-1,
        cap = I - Q K^-1 Q^T = I - sum_o Lam_o^2 + sum_o Lam_o (I - W_o K_o^-1 W_o^T) Lam_o,

    and ``I - W_o K_o^-1 W_o^T = (I + W_o D_o^-1 W_o^T)^-1``, which a
    low-rank output has at hand (an ``n x n`` inverse, no ``k_o x n``
    solve); the dense outputs' products ``Lam W K^-1 W^T Lam`` are one
    symmetric product over all of them.  Also used by the active-set
    method, whose face blocks differ in size.

    The intercepts' block of the weights, ``Hub = Psi_u^T Hl Psi_b``, is
    ``E - Q^T Rl`` with ``E`` one column ``e_o = Phi_o^T Dl_o`` per output
    (on its own rows), so with ``V = Q K^-1 E`` (one forward pass of ``e_o``
    per output) the Schur complement is

        S = diag(sum_i Dl_i - e_o^T K_o^-1 e_o) - (V - Rl)^T cap^-1 (V - Rl),

    and ``M^-1 Hub db = K^-1 (E db + Q^T cap^-1 (V - Rl) db)``: one
    backward pass.  (Formed as ``M^-1 Hub``, ``C`` right-hand sides through
    every output's factor, it took 44% of the Newton systems' time of a
    100-class program.)  ``joint_Z``: the dense outputs' ``Z`` already
    stacked in one array (else they are stacked here).
    """
    Dl, Rl = parts
    lam = softmax_weights(Dl, Rl)
    k = Phi.shape[1]
    n, C = Dl.shape
    dense = [out for out in outputs.values() if isinstance(out, DenseOutput)]
    diag = np.ones(n)
    cap = np.zeros((n, n))
    if dense:
        Z = joint_Z
        if Z is None:
            Z = np.concatenate([out.Z for out in dense]) if len(dense) > 1 else dense[0].Z
        cap -= Z.T @ Z
    for o, out in outputs.items():
        if not isinstance(out, DenseOutput):
            diag -= lam[:, o] ** 2
            cap += out.capacitance_part()
    cap[np.diag_indices_from(cap)] += diag
    # Scaled and nudged as the dense Newton matrices are (cap is near singular
    # wherever M is); NoInteriorError beyond that.
    cap_solve = _scaled_factor(cap)
    items = [(cols[o], out) for o, out in outputs.items()]

    def m_inv(r):
        states, y = [], 0.0
        for st, c in _map(lambda item: item[1].forward(r[item[0]]), items):
            states.append(st)
            y = y + c
        w = cap_solve(y)
        res = np.empty_like(r)
        back = _map(lambda a: a[0][1].backward(a[1], w), list(zip(items, states)))
        for (sl, _), x in zip(items, back):
            res[sl] = x
        return res

    if not fit_intercept:
        return m_inv

    outs = list(outputs)
    V = np.zeros((n, C))
    energy = np.zeros(C)
    e_states = []

    def e_forward(a):
        o, (sl, out) = a
        e = Phi[:, sl].T @ Dl[:, o]
        st, v = out.forward(e)
        return st, v, out.energy(st, e)

    for o, (st, v, en) in zip(outs, _map(e_forward, list(zip(outs, items)))):
        V[:, o] = v
        energy[o] = en
        e_states.append(st)
    VR = V - Rl
    S = np.diag(Dl.sum(axis=0) - energy) - VR.T @ cap_solve(VR)
    if intercept_extra is not None:
        S = S + intercept_extra
    # Scaled and nudged like the dense matrices: a class with one or two
    # training rows has almost no intercept curvature left after the Schur
    # complement (see _with_intercepts).
    S_solve = _scaled_factor(0.5 * (S + S.T))

    def solve(rhs):
        ru, rb = rhs[:k], rhs[k:]
        t = m_inv(ru)
        F = np.zeros((n, C) + t.shape[1:])                          # Phi_o t_o by output
        for o, (sl, _) in zip(outs, items):
            F[:, o] = Phi[:, sl] @ t[sl]
        db = S_solve(rb - np.einsum("io...,ioc->c...", F, Hl))      # (rb - Hub^T t)
        w = cap_solve(VR @ db)
        res = np.empty_like(rhs)
        back = _map(lambda a: a[1][1].backward(np.multiply.outer(a[2], db[a[0]]), w),
                    list(zip(outs, items, e_states)))
        for (sl, _), x in zip(items, back):
            res[sl] = t[sl] - x
        res[k:] = db
        return res

    return solve


def _rows(v, a):
    """``diag(v) a`` for ``a`` of shape (n,) or (n, j)."""
    return v * a if a.ndim == 1 else v[:, None] * a

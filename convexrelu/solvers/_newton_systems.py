"""The interior point's Newton systems on one working set: how they are built and solved.

One Newton step of :mod:`._barrier` solves ``H step = rhs`` with ``H`` the
constraint rows' ``md x md`` blocks (one per block, :func:`_row_blocks`)
plus the loss part ``Psi^T Hl Psi`` (the intercepts' rows and columns
included).  :class:`NewtonSystems` chooses how: one dense Cholesky
factorisation of ``H``; the Woodbury identity on the loss part (rank ``n C``)
when the working set has more weights than the rows have outputs; or, for a
softmax, by output (block diagonal minus rank ``n``, :mod:`._woodbury`).  It
keeps what every step reuses: the rows' pair products ``x_i x_i^T``, the
squared loss's part of the matrix, one buffer for the matrix.
"""

import numpy as np

from ..losses import flat_direction_curvature
from ._newton_matrix import (NoInteriorError, _add_loss_gram, _pair_loss_gram, _pair_products,
                             _row_blocks, _scaled_factor)
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
#: largest squared-loss part of a Newton matrix kept from one working-set
#: round for the next (:meth:`NewtonSystems.keep_loss_part`)
KEPT_LOSS_PART_MAX_BYTES = 2 ** 28
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
#: the split Newton systems (Woodbury, by output) hold ``n x k`` and ``n x n``
#: arrays; newton="auto" takes them beyond this size only when the dense
#: Newton matrix they replace would be larger still.  (Until the forty-fourth
#: session this was a hard cap: a 1200-row, 100-class refit whose working set
#: grew to 112840 weights, 1.08 GB split, went dense and asked for 95 GiB.)
SPLIT_MAX_BYTES = 2 ** 30
#: newton="auto" splits a softmax's Newton systems by output below this
#: fraction of the dense cost estimate.  The estimates track measured times
#: (digits, 10 classes: estimated 0.17 to 0.34, measured 0.27; statlog-vehicle,
#: 4 classes: 0.73 to 0.82, measured 0.74), so the margin is small.
BY_OUTPUT_RATIO = 0.85


def check_dense_newton(size, what):
    """Raise :class:`NoInteriorError` before forming a ``size x size`` dense
    matrix above ``DENSE_FALLBACK_MAX_BYTES`` (``what`` says which one)."""
    if size * size * 8 > DENSE_FALLBACK_MAX_BYTES:
        raise NoInteriorError(f"{what}: the dense Newton matrix ({size} x {size}, "
                              f"{size * size * 8 / 2 ** 30:.1f} GiB) is too large")


class NewtonSystems:
    """The interior point's Newton systems on one working set.

    Chooses how they are solved (``newton``, see
    :func:`._barrier.solve_restricted_barrier`): one dense Cholesky factorisation, the
    Woodbury identity on the loss part, or (a softmax) by output; keeps what
    every step reuses (the rows' pair products, the squared loss's part of
    the matrix, a buffer for the matrix).
    """

    def __init__(self, rows, loss, Y, w, newton, fit_intercept, const_hessian, XX=False):
        X, n, d, C, m, B, A, k = rows.X, rows.n, rows.d, rows.C, rows.m, rows.B, rows.A, rows.k
        self.rows, self.loss, self.Y, self.w = rows, loss, Y, w
        self.fit_intercept, self.const_hessian = fit_intercept, const_hessian
        self.newton = newton
        pj, pk = np.triu_indices(m)
        self.WW = rows.W2[:, :, pj] * rows.W2[:, :, pk]               # int8, (n, B, pairs)
        self.chunk = max(LOSS_CHUNK_MIN_ROWS, int(LOSS_CHUNK_ENTRIES // max(k, 1)), k // 4)
        n_pairs = d * (d + 1) // 2
        # The rows' products x_i x_i^T are the same at every Newton step: keep
        # them when they take at most 256 MB, else rebuild them chunk by chunk.
        # (XX: a parent's, see restricted_to.)
        if XX is False:
            XX = _pair_products(X) if n * n_pairs * 8 <= PAIR_PRODUCTS_MAX_BYTES else None
        self.XX = XX
        if newton not in ("auto", "dense", "woodbury", "outputs"):
            raise ValueError(
                f"newton must be 'auto', 'dense', 'woodbury' or 'outputs'; got {newton!r}")
        # A softmax's Hessian is diagonal minus rank one per sample: the Newton
        # matrix is block diagonal by output minus rank n, solved through the
        # Woodbury identity when that is well below the dense cost (many classes,
        # working sets wider than the rows; see output_block_solver).
        self.parts_of = getattr(loss, "hessian_parts", None)
        dense_cost = k ** 3 / 3 + n * k * k * (0.5 + 1.0 / C)
        split_cap = max(SPLIT_MAX_BYTES, (k + C) ** 2 * 8)
        by_output_cost = n * n * k + n ** 3 / 3 + sum(
            min(output_costs(n, sl.stop - sl.start, m * d)) for sl in rows.cols.values())
        self.use_outputs = (C > 1 and self.parts_of is not None and not const_hessian
                            and (newton == "outputs" or (
                                newton == "auto"
                                and by_output_cost < BY_OUTPUT_RATIO * dense_cost
                                and max(n * n, n * k) * 8 <= split_cap)))
        # Dense Newton matrices cost (k + C)^3 / 3; through the Woodbury identity
        # the loss part (rank n C) costs (n C)^2 k: the cheaper one when the
        # working set has more weights than the rows have outputs (d large).
        # With a softmax the split above is cheaper still (capacitance n, not n C).
        self.use_woodbury = not self.use_outputs and (newton == "woodbury" or (
            newton == "auto" and 2 * n * C < k and k >= WOODBURY_MIN_WEIGHTS
            and n * k * 8 <= split_cap))
        self.split = self.use_woodbury or self.use_outputs
        self.Phi_ws = ((rows.mask[:, :, None] * X[:, None, :]).reshape(n, k)
                       if self.split else None)
        self.row_chunk = (n if self.XX is not None
                          else max(1, int(2 ** 19 // (n_pairs + B * m * (m + 1) // 2 + A))))
        self.pair_chunk = max(1, int(LOSS_CHUNK_ENTRIES // max(A * (A + 1) // 2, n_pairs)))
        self.K_loss = None
        self.earlier = None
        self.H_buf = None
        # Output of each Newton column (weights of output o fill the slice cols[o]).
        self.col_out = np.repeat(rows.out_of_group, d)

    def restricted_to(self, rows, keep):
        """The systems of ``rows``: the blocks ``keep`` (bool, one per block) of this set.

        The squared loss's part of the Newton matrix is the submatrix of this
        one's on the kept blocks' columns (and the intercepts'), and the rows'
        pair products are the same: neither is built again.  (Shedding blocks
        in a first round at 60000 rows, d = 86: the loss part took about 4 s
        a time.)
        """
        new = NewtonSystems(rows, self.loss, self.Y, self.w, self.newton, self.fit_intercept,
                            self.const_hessian, XX=self.XX)
        if self.K_loss is not None and not new.split:
            md = rows.m * rows.d
            cols = np.flatnonzero(np.repeat(np.asarray(keep, bool), md))
            idx = np.concatenate([cols, np.arange(self.rows.k, len(self.K_loss))])
            new.K_loss = self.K_loss[np.ix_(idx, idx)]
        return new

    def reuse_loss_part(self, blocks, kept):
        """Have the squared loss's part of the Newton matrix built from
        ``kept``, an earlier working set's (``{"blocks", "K",
        "fit_intercept"}``, see :meth:`keep_loss_part`; ``blocks``: this
        set's, increasing) when :meth:`loss_hessian` first builds it.

        The part of a pair of groups depends on those groups alone, so the
        pairs of blocks both sets have are copied and only the pairs with a
        block new here are computed (from the rows' pair products; below
        ``PAIR_GRAM_MIN_FEATURES`` features the whole part is built as
        before).  Consecutive rounds share most blocks: on one Fashion-MNIST
        class (60000 rows, d = 86) the part took about 3 s a round.
        """
        if (kept and self.const_hessian and not self.split
                and self.rows.d >= PAIR_GRAM_MIN_FEATURES
                and kept["fit_intercept"] == self.fit_intercept):
            self.earlier = (np.asarray(blocks), kept["blocks"], kept["K"])

    def keep_loss_part(self, blocks, kept):
        """Store this set's squared-loss part in ``kept`` for the next round
        (:meth:`reuse_loss_part`), if it was built and is at most
        ``KEPT_LOSS_PART_MAX_BYTES``; otherwise empty ``kept``."""
        kept.clear()
        if self.K_loss is not None and self.K_loss.nbytes <= KEPT_LOSS_PART_MAX_BYTES:
            kept.update(blocks=np.asarray(blocks).copy(), K=self.K_loss,
                        fit_intercept=self.fit_intercept)

    def _copy_earlier(self, K):
        """Copy the earlier set's part into ``K`` (:meth:`reuse_loss_part`):
        returns the group pairs ``(g, g')``, ``g <= g'``, left to compute."""
        blocks, old_blocks, K_old = self.earlier
        m, d = self.rows.m, self.rows.d
        pos = np.minimum(np.searchsorted(old_blocks, blocks), len(old_blocks) - 1)
        both = old_blocks[pos] == blocks
        g_new = np.flatnonzero(np.repeat(both, m))
        g_old = (pos[both][:, None] * m + np.arange(m)).ravel()
        cols_new = (g_new[:, None] * d + np.arange(d)).ravel()
        cols_old = (g_old[:, None] * d + np.arange(d)).ravel()
        K[np.ix_(cols_new, cols_new)] = K_old[np.ix_(cols_old, cols_old)]
        fresh = ~np.repeat(both, m)
        pg, pg2 = np.triu_indices(len(fresh))
        sel = fresh[pg] | fresh[pg2]
        return pg[sel], pg2[sel]

    def row_blocks(self, c1, c2):
        """The constraint rows' ``md x md`` Newton blocks, shape (B, md, md)."""
        return _row_blocks(self.rows.X, c1, c2, self.rows.W2, self.row_chunk, self.XX, self.WW)

    def loss_hessian(self, F):
        """The loss part ``Psi^T Hl Psi`` (with the intercepts') of the Newton matrix."""
        rows, loss, Y, w = self.rows, self.loss, self.Y, self.w
        X, n, d, k = rows.X, rows.n, rows.d, rows.k
        Hl = loss.hessian(F, Y, w)                                     # (n, C, C)
        parts = self.parts_of(F, Y, w) if self.parts_of is not None else None
        nz = k + (rows.C if self.fit_intercept else 0)
        K = np.zeros((nz, nz))
        by_pairs = parts is not None and d >= PAIR_GRAM_MIN_FEATURES
        if by_pairs:
            pairs = self._copy_earlier(K) if self.earlier is not None else None
            self.earlier = None
            _pair_loss_gram(K, X, self.XX, rows.mask, rows.out_of_group, parts, self.pair_chunk,
                            pairs=pairs)
            if not self.fit_intercept:
                return K
        for start in range(0, n, self.chunk):
            sl_n = slice(start, min(n, start + self.chunk))
            Phi = (rows.mask[sl_n, :, None] * X[sl_n, None, :]).reshape(-1, k)
            _add_loss_gram(K, Phi, rows.cols, self.col_out, Hl[sl_n],
                           None if parts is None
                           else tuple(None if p is None else p[sl_n] for p in parts),
                           self.fit_intercept, weights=not by_pairs)
        return K

    def solver(self, blocks_H, F):
        """``rhs -> H^-1 rhs`` for the Newton matrix of the rows' blocks ``blocks_H``
        (overwritten) and the loss at the outputs ``F``."""
        rows, loss, Y, w = self.rows, self.loss, self.Y, self.w
        fit_intercept, k, cols = self.fit_intercept, rows.k, rows.cols
        if self.use_woodbury or self.use_outputs:
            Hl = loss.hessian(F, Y, w)
            extra = (flat_direction_curvature(Hl.sum(axis=0))
                     if fit_intercept and loss.shift_invariant else None)
        if self.use_woodbury:
            try:
                return woodbury_solver(blocks_H, self.Phi_ws, cols, Hl, fit_intercept, extra)
            except NoInteriorError:
                # An ill-conditioned capacitance or Schur matrix (late steps
                # of a saturated loss): dense systems from here on.
                self.use_woodbury = False
        if self.use_outputs:
            parts = self.parts_of(F, Y, w)
            # Without a rank-one part (a loss that does not split) or with a
            # singular small matrix: dense systems from here on.
            self.use_outputs = parts is not None and parts[1] is not None
            if self.use_outputs:
                try:
                    return output_block_solver(blocks_H, self.Phi_ws, cols, parts[0], parts[1],
                                               Hl, fit_intercept, extra)
                except NoInteriorError:
                    self.use_outputs = False
        if self.split:
            check_dense_newton(k + (rows.C if fit_intercept else 0),
                               "the split Newton systems failed")
        if self.const_hessian:
            if self.K_loss is None:
                self.K_loss = self.loss_hessian(F)
            if self.H_buf is None:
                self.H_buf = np.empty_like(self.K_loss)
            # One buffer for every step: a fresh matrix each time costs page faults.
            H = self.H_buf
            np.copyto(H, self.K_loss)
        else:
            H = self.loss_hessian(F)
        if fit_intercept and loss.shift_invariant:
            # The softmax ignores a common shift of all intercepts: curvature
            # along that flat direction (where the gradient is zero too)
            # makes the matrix definite without changing the step.
            H[k:, k:] += flat_direction_curvature(H[k:, k:])
        md = rows.m * rows.d
        for bi in range(rows.B):
            sl = slice(bi * md, (bi + 1) * md)
            H[sl, sl] += blocks_H[bi]
        return _scaled_factor(H)

"""The constraint multipliers of every block, held by their non-zero rows.

The working-set solver keeps multipliers ``lam1`` (n, NB, m) and ``lam2``
(n, NB) for every block between rounds: those of the working set (from its
restricted solve) and those that priced a zero block outside it (so that the
next round's pricing starts from them, or skips the block).  Dense, that is
the size of the lifted problem, ``n x NB x (m + 1)`` floats (381 MiB at
n = 50000 on the benchmark problem, ninety times its data).  Few of them are
non-zero: a priced block's multipliers come from non-negative least squares
with at most ``m d`` free variables, and most blocks hold none at all (0.6%
of the entries are non-zero on the n = 2000 benchmark problem).  So each
block keeps only its non-zero rows here, and a block without multipliers
costs nothing; only the dual ratios of the blocks that hold some need them.
"""

import numpy as np

__all__ = ["BlockMultipliers"]

#: temporaries of :meth:`BlockMultipliers.ratios` (and of the fast solver's
#: pricing batches), in floats
_MAX_ENTRIES = 2 ** 21


class BlockMultipliers:
    """Multipliers ``lam1`` (n, NB, m) and ``lam2`` (n, NB) of ``NB`` blocks, sparse by row.

    A block's multipliers are stored as the rows where either is non-zero
    (all rows when most are); a block with none stores nothing.  Reading
    blocks back gives dense arrays of exactly the values stored.
    """

    def __init__(self, n, n_blocks, m):
        self.n, self.n_blocks, self.m = int(n), int(n_blocks), int(m)
        self._rows = {}     # block -> (row indices or None for all, l1 (k, m), l2 (k,))

    @classmethod
    def from_dense(cls, lam1, lam2):
        """The non-negative parts of dense ``lam1`` (n, NB, m) and ``lam2`` (n, NB)."""
        n, NB, m = lam1.shape
        store = cls(n, NB, m)
        for b in range(NB):
            store.set([b], np.maximum(lam1[:, b:b + 1], 0.0), np.maximum(lam2[:, b:b + 1], 0.0))
        return store

    def __len__(self):
        return len(self._rows)

    @property
    def blocks(self):
        """The blocks holding multipliers, increasing."""
        return np.array(sorted(self._rows), dtype=int)

    @property
    def nbytes(self):
        return sum(l1.nbytes + l2.nbytes + (0 if idx is None else idx.nbytes)
                   for idx, l1, l2 in self._rows.values())

    def get(self, blocks):
        """Dense ``(lam1, lam2)`` of ``blocks``: shapes (n, B, m) and (n, B)."""
        blocks = np.asarray(blocks, dtype=int).reshape(-1)
        l1 = np.zeros((self.n, len(blocks), self.m))
        l2 = np.zeros((self.n, len(blocks)))
        for k, b in enumerate(blocks):
            held = self._rows.get(int(b))
            if held is None:
                continue
            idx, r1, r2 = held
            if idx is None:
                l1[:, k] = r1
                l2[:, k] = r2
            else:
                l1[idx, k] = r1
                l2[idx, k] = r2
        return l1, l2

    def set(self, blocks, lam1, lam2):
        """Store ``lam1`` (n, B, m) and ``lam2`` (n, B) as the multipliers of ``blocks``."""
        blocks = np.asarray(blocks, dtype=int).reshape(-1)
        nonzero = np.any(lam1 != 0, axis=2) | (lam2 != 0)                # (n, B)
        counts = nonzero.sum(axis=0)
        for k, b in enumerate(blocks):
            r1, r2 = lam1[:, k], lam2[:, k]
            if counts[k] == 0:
                self._rows.pop(int(b), None)
                continue
            rows = np.flatnonzero(nonzero[:, k])
            if 2 * len(rows) >= self.n:
                self._rows[int(b)] = (None, np.array(r1), np.array(r2))
            else:
                self._rows[int(b)] = (rows.astype(np.int32), r1[rows], r2[rows])

    def clear(self, blocks=None):
        """Drop the multipliers of ``blocks`` (all blocks when None)."""
        if blocks is None:
            self._rows.clear()
            return
        for b in np.asarray(blocks, dtype=int).reshape(-1):
            self._rows.pop(int(b), None)

    def dense(self):
        """All multipliers as dense arrays (n, NB, m) and (n, NB)."""
        return self.get(np.arange(self.n_blocks))

    def ratios(self, op, V, alpha, gated):
        """Largest ``||X^T g_g|| / alpha`` over each block's groups, shape (NB,).

        ``gated`` holds every block's ratio with zero multipliers (the gated
        test); only the blocks holding multipliers are recomputed with them,
        a few at a time (at most about ``2^21`` floats of temporaries).
        """
        n, NB, m = self.n, self.n_blocks, self.m
        if n * NB * m <= _MAX_ENTRIES and self._rows:
            # Small: the operator's pattern-chunked pass over dense copies is
            # faster than gathering the held blocks' masks.
            l1, l2 = self.dense()
            norms = op.dual_norms(V, l1.reshape((n,) + op.var_shape[:-1]),
                                  l2.reshape((n,) + op.var_shape[:-2]))
            return norms.reshape(NB, m).max(axis=1) / alpha
        out = np.array(gated, dtype=float)
        held = self.blocks
        step = max(1, _MAX_ENTRIES // max(1, self.n * self.m))
        for lo in range(0, len(held), step):
            part = held[lo:lo + step]
            l1, l2 = self.get(part)
            out[part] = block_ratios(op, V, l1, l2, alpha, part)
        return out


def block_ratios(op, V, lam1, lam2, alpha, blocks):
    """Dual ratios of the blocks ``blocks`` with their multipliers ``lam1``
    (n, B, m) and ``lam2`` (n, B): a block's ratio depends on its own only."""
    o_idx, mask, E1, W2 = op.block_masks(blocks)
    Gz = mask * V[:, o_idx, None] + E1 * lam1 + W2 * lam2[:, :, None]       # (n, B, m)
    G = Gz.reshape(op.n_samples, -1).T @ op.X
    return np.sqrt(np.einsum("gd,gd->g", G, G)).reshape(len(blocks), -1).max(axis=1) / alpha

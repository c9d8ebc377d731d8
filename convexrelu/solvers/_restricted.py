"""The convex program restricted to a working set, solved exactly by CVXPY.

A working set is a set of blocks ``b = (o, sig, t)`` (all ``m`` groups of a
block enter together, since the second-layer constraint couples them) and,
for those blocks, a subset of the constraint rows.  Groups outside the set
are fixed at zero; rows outside the row set are dropped.  The restricted
problem is

    minimise   L( sum_{b in W} sig_b D2_b sum_j s_bj D1_bj X u_bj + intercept )
               + alpha * sum_{b in W, j} ||u_bj||
    subject to (2 D1_bj - 1)_i x_i . u_bj >= 0             for (i, b, j) in R1
               (2 D2_b - 1)_i sum_j s_bj D1_bj,i x_i . u_bj >= 0   for (i, b) in R2

with the loss written by :meth:`Loss.cvxpy_expression`, so every loss of
the Loss interface works.  Only the restricted lifted columns (``n`` by
``|W| m d``, masked, sparse) are formed: that is the price of an exact
interior-point solve and why the working set must stay small.
"""

import numpy as np
import scipy.sparse as sp

from .cvxpy_solver import solve_with_fallbacks


def _group_rows(X, sample_idx, weights, group_idx, n_rows, row_idx, d, n_cols_groups):
    """COO triplets of rows ``row_idx[k]`` holding ``weights[k] * X[sample_idx[k]]``
    in the columns of group ``group_idx[k]``."""
    data = (weights[:, None] * X[sample_idx]).ravel()
    r = np.repeat(row_idx, d)
    c = (group_idx[:, None] * d + np.arange(d)[None, :]).ravel()
    return sp.csr_matrix((data, (r, c)), shape=(n_rows, n_cols_groups * d))


#: Peak resident bytes of :func:`solve_restricted` per entry ``n B m d`` of
#: the restricted lifted columns, with every constraint row kept (the
#: columns, both constraint matrices and CVXPY's canonical copies of them):
#: 364 to 382 measured with the squared loss, 385 to 478 with a 4-class
#: softmax (its exponential cones), on 48 to 100 blocks of 200 and 400
#: rows, 21 features (``benchmarks/restricted_clarabel_memory.py``).
CLARABEL_BYTES_PER_ENTRY = 500


def restricted_clarabel_bytes(n, B, m, d):
    """Estimated peak memory (bytes) of :func:`solve_restricted` on ``B``
    blocks of ``m`` groups, ``n`` rows and ``d`` features, all rows kept."""
    return CLARABEL_BYTES_PER_ENTRY * int(n) * int(B) * int(m) * int(d)


def solve_restricted(op, loss, Y, w, alpha, blocks, rows1, rows2, *, fit_intercept,
                     tol=1e-10, verbose=False, start_intercept=None):
    """Solve the program restricted to ``blocks`` and constraint rows.

    Parameters
    ----------
    op : LiftedOperator
    loss : Loss
    Y, w : ndarray
        Encoded targets (n, C) and normalised weights (n,).
    alpha : float
    blocks : ndarray of int, shape (B,)
        Flat block indices into ``(C, 2, P)``.
    rows1 : ndarray of bool, shape (n, B, m)
        First-layer constraint rows to keep.
    rows2 : ndarray of bool, shape (n, B)
        Second-layer constraint rows to keep.
    fit_intercept : bool
    tol : float
        Clarabel's gap and feasibility tolerances.

    Returns
    -------
    U : ndarray of shape (B, m, d)
    intercept : ndarray of shape (C,)
    lam1 : ndarray of shape (n, B, m)
        Multipliers, zero on dropped rows.
    lam2 : ndarray of shape (n, B)
    status : str
    """
    import cvxpy as cp

    X = op.X
    n, d = X.shape
    C, m = op.n_outputs, op.n_hidden
    B = len(blocks)
    A = B * m
    # Masks of every restricted group, shape (n, B, m): sig D2 s D1, the
    # first-layer rows' signs and the second-layer rows' weights.
    o_idx, mask, E1, W2 = op.block_masks(blocks)
    group_of = np.arange(A).reshape(B, m)

    # Prediction: rows (o, i) for every output o.
    ii, bb, jj = np.nonzero(mask)
    Phi = _group_rows(X, ii, mask[ii, bb, jj], group_of[bb, jj], n * C,
                      o_idx[bb] * n + ii, d, A)
    # First-layer constraints.
    ii, bb, jj = np.nonzero(rows1)
    k1 = len(ii)
    A1 = _group_rows(X, ii, E1[ii, bb, jj], group_of[bb, jj], k1, np.arange(k1), d, A)
    # Second-layer constraints: one row per kept (i, b), m groups each.
    ii2, bb2 = np.nonzero(rows2)
    k2 = len(ii2)
    rep_i = np.repeat(ii2, m)
    rep_b = np.repeat(bb2, m)
    rep_j = np.tile(np.arange(m), k2)
    wts = W2[rep_i, rep_b, rep_j]
    nz = wts != 0
    A2 = _group_rows(X, rep_i[nz], wts[nz], group_of[rep_b[nz], rep_j[nz]], k2,
                     np.repeat(np.arange(k2), m)[nz], d, A)

    u = cp.Variable(A * d)
    F = cp.reshape(Phi @ u, (n, C), order="F")
    b = None
    if fit_intercept:
        b = cp.Variable(C)
        if start_intercept is not None:
            b.value = np.asarray(start_intercept, float)
        F = F + np.ones((n, 1)) @ cp.reshape(b, (1, C), order="C")
    cons = []
    if k1:
        cons.append(A1 @ u >= 0)
    if k2:
        cons.append(A2 @ u >= 0)
    norms = cp.norm(cp.reshape(u, (d, A), order="F"), 2, axis=0)
    obj = loss.cvxpy_expression(F, Y, w) + alpha * cp.sum(norms)
    problem = cp.Problem(cp.Minimize(obj), cons)
    # Tight tolerances first; they occasionally fail numerically (notably on
    # exponential cones with nearly separable data), and then Clarabel's
    # defaults and finally SCS are the fallbacks: the certificate judges the
    # result and solve_convex warns when it falls short of tol.
    attempts = [("CLARABEL", {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol,
                              "tol_ktratio": 1e-8}),
                ("CLARABEL", {}),
                ("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 20000})]
    solve_with_fallbacks(problem, u, attempts, verbose)
    if u.value is None:
        raise RuntimeError(f"restricted solve failed (status {problem.status})")
    U = np.asarray(u.value).reshape(B, m, d)
    lam1 = np.zeros((n, B, m))
    lam2 = np.zeros((n, B))
    ci = 0
    if k1:
        lam1[rows1] = np.maximum(np.asarray(cons[ci].dual_value).ravel(), 0.0)
        ci += 1
    if k2:
        lam2[rows2] = np.maximum(np.asarray(cons[ci].dual_value).ravel(), 0.0)
    bval = np.asarray(b.value).ravel() if fit_intercept else np.zeros(C)
    return U, bval, lam1, lam2, problem.status

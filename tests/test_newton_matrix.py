"""Newton matrices and their solves against explicitly formed ones.

The pieces the interior point and the active-set method share
(convexrelu/solvers/_newton_matrix.py: row blocks, loss Gram matrices, the
regularised Cholesky factorisation) and the split solves of
convexrelu/solvers/_woodbury.py (Woodbury identity, softmax by output),
each compared with the dense matrix built entry by entry.
"""


import numpy as np
import pytest


from solver_cases import count_calls, make_problem


@pytest.mark.parametrize("rank", [60, 12])
def test_newton_factor_in_place_and_regularised(rank):
    # The Newton matrix is factorised in place (no copy the size of the
    # matrix); a failed attempt (rank-deficient matrix) must restore it from
    # the untouched triangle before the ridge is added.
    from convexrelu.solvers._newton_matrix import NoInteriorError, _factor_regularised

    rng = np.random.default_rng(rank)
    A = rng.standard_normal((50, rank))
    H = A @ A.T
    s = np.sqrt(np.diag(H))
    H = H / s[:, None] / s[None, :]
    H0 = H.copy()
    c, lower = _factor_regularised(H)
    assert not lower and np.shares_memory(c, H)
    R = np.triu(c)
    err = np.abs(R.T @ R - H0).max()
    if rank >= 50:
        assert err <= 1e-12
    else:
        # the smallest ridge that makes it definite (1e-12), nothing more
        assert 1e-13 <= err <= 1e-11
    with pytest.raises(NoInteriorError):
        _factor_regularised(-H0)


@pytest.mark.parametrize("step", [1, 7, 50, 1024])
def test_restore_upper_triangle_in_blocks(step):
    from convexrelu.solvers._newton_matrix import _restore_upper

    rng = np.random.default_rng(step)
    A = rng.standard_normal((50, 50))
    H = A + A.T
    F = np.asfortranarray(H)
    F[np.triu_indices(50)] = rng.standard_normal(50 * 51 // 2)   # what a failed potrf leaves
    F[np.diag_indices(50)] = np.diag(H)
    _restore_upper(F, step=step)
    np.testing.assert_array_equal(F, H)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_newton_row_blocks_match_the_explicit_sums(m):
    """The batched constraint-row blocks of the Newton matrix equal the plain sums.

    Block b: X^T diag(c1[:, b, j]) X on the (j, j) diagonal sub-blocks, plus
    sum_i c2[i, b] w_i w_i^T with w_i = W2[i, b, :] (x) x_i; the row chunks
    are smaller than n so that the chunked accumulation is exercised.
    """
    from convexrelu.solvers._newton_matrix import _pair_products, _row_blocks

    rng = np.random.default_rng(m)
    n, d, B = 23, 4, 3
    X = rng.standard_normal((n, d))
    c1 = rng.uniform(0, 2, (n, B * m))
    c2 = rng.uniform(0, 2, (n, B))
    W2 = rng.standard_normal((n, B, m))
    got = _row_blocks(X, c1, c2, W2, row_chunk=5)
    # With the rows' products computed once, as the solver does for moderate n.
    cached = _row_blocks(X, c1, c2, W2, row_chunk=n, XX=_pair_products(X))
    np.testing.assert_allclose(cached, got, rtol=1e-12, atol=1e-12)
    for b in range(B):
        G = (W2[:, b, :, None] * X[:, None, :]).reshape(n, m * d)
        want = (G * c2[:, b, None]).T @ G
        for j in range(m):
            want[j * d:(j + 1) * d, j * d:(j + 1) * d] += (X * c1[:, b * m + j, None]).T @ X
        np.testing.assert_allclose(got[b], want, rtol=1e-12, atol=1e-12)


def _random_newton_parts(rng, n, C, B, md):
    """Positive definite blocks ``D`` (B, md, md), lifted columns ``Phi`` and the
    outputs' column ranges ``cols`` (each output owns ``B md / C`` columns)."""
    k = B * md
    blocks = rng.standard_normal((B, md, md))
    D = np.einsum("bij,bkj->bik", blocks, blocks) + 0.1 * np.eye(md)
    per = k // C
    return D, rng.standard_normal((n, k)), {o: slice(o * per, (o + 1) * per) for o in range(C)}


def _dense_newton_matrix(Phi, cols, Hl, D, extra):
    """The Newton matrix over ``(u, b)``, formed entry by entry: ``Psi^T Hl Psi``
    plus the blocks ``D`` on the diagonal and ``extra`` on the intercepts."""
    n, k = Phi.shape
    C = Hl.shape[1]
    B, md, _ = D.shape
    Psi = np.zeros((n, C, k + C))
    for o, sl in cols.items():
        Psi[:, o, sl] = Phi[:, sl]
        Psi[:, o, k + o] = 1.0
    H = np.einsum("noi,nop,npj->ij", Psi, Hl, Psi)
    for b in range(B):
        H[b * md:(b + 1) * md, b * md:(b + 1) * md] += D[b]
    if extra is not None:
        H[k:, k:] += extra
    return H


@pytest.mark.parametrize("C,fit_intercept", [(1, True), (1, False), (3, True)])
def test_woodbury_newton_solve_equals_the_dense_one(C, fit_intercept):
    """H z = r through the Woodbury identity equals the dense solve of H.

    H = [D 0; 0 0] + Psi^T Hl Psi with D block diagonal and positive
    definite, Psi the lifted map (each output owns a column range, plus the
    intercepts) and Hl per-sample PSD C x C Hessians (softmax-like for C = 3,
    which are singular along the ones vector: the flat-direction term makes H
    definite, as in the solver).
    """
    from convexrelu.solvers._woodbury import woodbury_solver

    rng = np.random.default_rng(C)
    n = 7
    D, Phi, cols = _random_newton_parts(rng, n, C, 3 * C, 4)
    k = Phi.shape[1]
    if C == 1:
        Hl = rng.uniform(0.5, 2.0, (n, 1, 1))
    else:
        p = rng.dirichlet(np.ones(C), n)
        Hl = np.einsum("ni,ij->nij", p, np.eye(C)) - np.einsum("ni,nj->nij", p, p)
    extra = np.trace(Hl.sum(axis=0)) / C ** 2 * np.ones((C, C)) if C > 1 else None
    size = k + C if fit_intercept else k
    H = _dense_newton_matrix(Phi, cols, Hl, D, extra)[:size, :size]
    r = rng.standard_normal(size)
    solve = woodbury_solver(D.copy(), Phi, cols, Hl, fit_intercept, extra)
    np.testing.assert_allclose(solve(r), np.linalg.solve(H, r), rtol=1e-8, atol=1e-10)


def test_batched_block_factors_solve_each_block():
    """The constraint blocks' batched factors: ``back(half(r))`` solves with the
    block-diagonal matrix and ``half(W^T)^T half(W^T) = W D^-1 W^T``; a block
    that needs a ridge sends all through the one-by-one factorisation, which
    still solves the definite blocks exactly."""
    from convexrelu.solvers._woodbury import _cholesky_blocks

    rng = np.random.default_rng(5)
    B, md = 4, 3
    D, _, _ = _random_newton_parts(rng, 2, 1, B, md)
    D *= np.logspace(0, 6, B)[:, None, None]           # blocks of very different scales
    r = rng.standard_normal((B * md, 2))
    W = rng.standard_normal((5, B * md))
    dense = np.zeros((B * md, B * md))
    for b in range(B):
        dense[b * md:(b + 1) * md, b * md:(b + 1) * md] = D[b]
    half, back = _cholesky_blocks(D)
    np.testing.assert_allclose(back(half(r)), np.linalg.solve(dense, r), rtol=1e-9)
    Z = half(W.T.copy())
    np.testing.assert_allclose(Z.T @ Z, W @ np.linalg.solve(dense, W.T), rtol=1e-9)
    singular = D.copy()
    v = rng.standard_normal(md)
    singular[0] = np.outer(v, v)                       # positive semidefinite, rank one
    half, back = _cholesky_blocks(singular)
    out = back(half(r))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[md:], np.linalg.solve(dense[md:, md:], r[md:]), rtol=1e-9)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_woodbury_pieces_nudge_a_numerically_singular_matrix(sign):
    """The intercepts' Schur complement (and the capacitance matrix) can come
    out numerically indefinite when the true matrix is only near singular (a
    class with one training row has almost no intercept curvature left).
    Both are factorised like the dense Newton matrices, with a ridge of at
    most 1e-6 on the unit diagonal: a finite step, not NoInteriorError (which
    sent the whole solve to dense matrices, 15000 weights on audiology-std)."""
    from convexrelu.solvers._woodbury import _low_rank_update, _with_intercepts

    rng = np.random.default_rng(4)
    k, C = 7, 4
    Hub = rng.standard_normal((k, C))
    Q, _ = np.linalg.qr(rng.standard_normal((C, C)))
    # S = Hbb - Hub^T Hub with eigenvalues 1, 1, 1 and -1e-17 (rounding's sign).
    Hbb = Hub.T @ Hub + Q @ np.diag([1.0, 1.0, 1.0, -1e-17]) @ Q.T
    solve = _with_intercepts(lambda r: r, Hub, Hbb, None)
    ru, c = rng.standard_normal(k), rng.standard_normal(3)
    # A right-hand side away from the near-null direction Q[:, 3]: along the
    # other eigenvectors (eigenvalues one) the step is the exact one; along
    # Q[:, 3] it is rounding over the ridge, finite.
    step = solve(np.concatenate([ru, Hub.T @ ru + Q[:, :3] @ c]))
    assert np.all(np.isfinite(step))
    np.testing.assert_allclose(Q[:, :3].T @ step[k:], c, rtol=1e-6, atol=1e-6)
    assert np.all(np.isfinite(solve(rng.standard_normal(k + C))))
    # Capacitance I + sign Z^T Z; with sign -1 and Z^T Z's largest
    # eigenvalue one (to rounding), near singular.
    Z = rng.standard_normal((k, 3))
    if sign < 0:
        Z /= np.linalg.norm(Z, 2)
    m_inv = _low_rank_update(lambda r: r, lambda a: a, Z, sign)
    assert np.all(np.isfinite(m_inv(rng.standard_normal(k))))


@pytest.mark.parametrize("inner", ["dense", "low_rank"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n", [5, 40])
def test_output_block_newton_solve_equals_the_dense_one(n, fit_intercept, inner):
    """H z = r by output (Woodbury on the softmax's rank-one part) equals the dense solve.

    Same H as above with softmax Hessians ``w (diag(p) - p p^T)``, passed as
    their parts; fewer and more rows than an output's columns; each output's
    block factorised densely or as its constraint blocks plus a rank-n term.
    """
    from convexrelu.solvers._woodbury import output_block_solver

    rng = np.random.default_rng(n)
    C = 3
    D, Phi, cols = _random_newton_parts(rng, n, C, 6, 4)
    k = Phi.shape[1]
    p = rng.dirichlet(np.ones(C), n)
    w = rng.uniform(0.5, 1.5, n) / n
    Dl, Rl = w[:, None] * p, np.sqrt(w)[:, None] * p
    Hl = np.einsum("ni,ij->nij", Dl, np.eye(C)) - np.einsum("ni,nj->nij", Rl, Rl)
    extra = np.trace(Hl.sum(axis=0)) / C ** 2 * np.ones((C, C))
    size = k + C if fit_intercept else k
    H = _dense_newton_matrix(Phi, cols, Hl, D, extra)[:size, :size]
    r = rng.standard_normal(size)
    solve = output_block_solver(D, Phi, cols, Dl, Rl, Hl, fit_intercept, extra, inner)
    np.testing.assert_allclose(solve(r), np.linalg.solve(H, r), rtol=1e-8, atol=1e-10)
    # Several right-hand sides at once (the active-set line search's rows).
    R = rng.standard_normal((size, 3))
    np.testing.assert_allclose(solve(R), np.linalg.solve(H, R), rtol=1e-8, atol=1e-10)


def test_dense_output_solves_in_place_with_the_same_bits():
    """A formed output's ``Z = half(W^T) diag(lam)`` is solved in ``W``'s own
    memory (its transpose, Fortran-ordered, scaled and solved in place) and
    written into ``out``: the same bits as the formula, and no ``k x n``
    array allocated on the way (there were three: ``W^T`` made contiguous,
    scaled, and copied to Fortran order for the solve)."""
    import tracemalloc

    from convexrelu.solvers._newton_matrix import _scaled_cholesky
    from convexrelu.solvers._woodbury import DenseOutput, _cholesky_pair

    rng = np.random.default_rng(4)
    n, k = 600, 400                 # (the bound below leaves 0.5 MB for calls' own objects)
    W = rng.standard_normal((n, k)) * rng.uniform(0.5, 2.0, k)
    lam = rng.uniform(0.1, 1.0, n)
    K = W.T @ W + np.diag(rng.uniform(1.0, 3.0, k))
    factor = _scaled_cholesky(K)
    half, _ = _cholesky_pair(factor)
    expected = half(np.ascontiguousarray(W.T)) * lam[None, :]
    out = np.empty((k, n))
    tracemalloc.start()
    try:
        made = DenseOutput(factor, W, lam, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert made.Z is out
    np.testing.assert_array_equal(out, expected)
    assert peak < 0.25 * k * n * 8


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_formed_outputs_write_their_rows_into_one_array(fit_intercept, mixed, monkeypatch):
    """Each formed output's ``Z`` is written into its rows of one shared array,
    which the capacitance product uses as it is; the solves are those of the
    outputs' ``Z`` stacked by copy, bit for bit.  ``mixed``: outputs 1 and 2
    low rank, so the array holds outputs 0 and 3 only (the forty-eighth
    session: such solves had stacked their formed outputs by copy at every
    Newton step, a fifth of a 100-class refit's time)."""
    from convexrelu.solvers import _woodbury

    rng = np.random.default_rng(7)
    C = 4
    D, Phi, cols = _random_newton_parts(rng, 30, C, 8, 4)
    formed = [0, 3] if mixed else [0, 1, 2, 3]
    if mixed:
        choices = iter([(0.0, 1.0), (1.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
        monkeypatch.setattr(_woodbury, "output_costs", lambda n, width, md: next(choices))
    p = rng.dirichlet(np.ones(C), 30)
    w = rng.uniform(0.5, 1.5, 30) / 30
    Dl, Rl = w[:, None] * p, np.sqrt(w)[:, None] * p
    Hl = np.einsum("ni,ij->nij", Dl, np.eye(C)) - np.einsum("ni,nj->nij", Rl, Rl)
    seen = []
    real = _woodbury.by_output_solver

    def both(outputs, *args, joint_Z=None):
        seen.append((outputs, joint_Z))
        return real(outputs, *args, joint_Z=joint_Z), real(outputs, *args)

    monkeypatch.setattr(_woodbury, "by_output_solver", both)
    joint_solve, copied_solve = _woodbury.output_block_solver(
        D, Phi, cols, Dl, Rl, Hl, fit_intercept, None, "auto" if mixed else "dense")
    (outputs, joint), = seen
    width = [cols[o].stop - cols[o].start for o in formed]
    assert joint is not None and joint.shape == (sum(width), 30)
    for o, top in zip(formed, np.cumsum([0] + width)):
        assert isinstance(outputs[o], _woodbury.DenseOutput)
        assert np.shares_memory(outputs[o].Z, joint)
        np.testing.assert_array_equal(outputs[o].Z, joint[top:top + cols[o].stop - cols[o].start])
    assert all(not isinstance(outputs[o], _woodbury.DenseOutput) for o in cols if o not in formed)
    R = rng.standard_normal((Phi.shape[1] + (C if fit_intercept else 0), 3))
    np.testing.assert_array_equal(joint_solve(R), copied_solve(R))
    np.testing.assert_array_equal(joint_solve(R[:, 0]), copied_solve(R[:, 0]))


@pytest.mark.parametrize("n", [5, 40])
def test_output_block_newton_solve_mixes_formed_and_low_rank_outputs(n, monkeypatch):
    """Outputs of one solve factorised both ways (formed, and constraint blocks
    plus a rank-n term): the capacitance matrix adds the low-rank outputs'
    ``(I + W D^-1 W^T)^-1`` to the formed outputs' products, and the solve
    still equals the dense one; an output with no columns in the working set
    contributes nothing."""
    from convexrelu.solvers import _woodbury

    rng = np.random.default_rng(10 + n)
    C = 4
    D, Phi, cols = _random_newton_parts(rng, n, C, 8, 4)
    del cols[2]                                  # output 2 has no working blocks
    keep = np.concatenate([np.arange(sl.start, sl.stop) for sl in cols.values()])
    blocks = sorted({i // 4 for i in keep})
    D, Phi = D[blocks], Phi[:, keep]
    cols = {0: slice(0, 8), 1: slice(8, 16), 3: slice(16, 24)}
    choices = iter([(0.0, 1.0), (1.0, 0.0), (0.0, 1.0)])    # formed, low rank, formed
    monkeypatch.setattr(_woodbury, "output_costs", lambda n, width, md: next(choices))
    made = []
    real = _woodbury.LowRankOutput
    monkeypatch.setattr(_woodbury, "LowRankOutput", lambda *a: made.append(1) or real(*a))
    p = rng.dirichlet(np.ones(C), n)
    w = rng.uniform(0.5, 1.5, n) / n
    Dl, Rl = w[:, None] * p, np.sqrt(w)[:, None] * p
    Hl = np.einsum("ni,ij->nij", Dl, np.eye(C)) - np.einsum("ni,nj->nij", Rl, Rl)
    extra = np.trace(Hl.sum(axis=0)) / C ** 2 * np.ones((C, C))
    # Every output keeps its intercept (an empty column range in the reference).
    H = _dense_newton_matrix(Phi, {**cols, 2: slice(16, 16)}, Hl, D, extra)
    r = rng.standard_normal(H.shape[0])
    solve = _woodbury.output_block_solver(D, Phi, cols, Dl, Rl, Hl, True, extra)
    assert next(choices, None) is None, "costs not asked per output: the wrong function is patched"
    assert len(made) == 1
    np.testing.assert_allclose(solve(r), np.linalg.solve(H, r), rtol=1e-8, atol=1e-10)


def test_softmax_weights_refuse_a_rank_one_part_outside_the_diagonal():
    """``Q = Lam W`` needs ``Rl = 0`` wherever ``Dl = 0``; otherwise the split
    cannot represent the matrix and the caller must form it."""
    from convexrelu.solvers._newton_matrix import NoInteriorError
    from convexrelu.solvers._woodbury import softmax_weights

    Dl = np.array([[0.5, 0.0], [0.2, 0.3]])
    lam = softmax_weights(Dl, np.array([[0.5, 0.0], [0.2, 0.3]]))
    np.testing.assert_allclose(lam, [[0.5 ** 0.5, 0.0], [0.2 ** 0.5, 0.3 ** 0.5]])
    with pytest.raises(NoInteriorError):
        softmax_weights(Dl, np.array([[0.5, 1e-3], [0.2, 0.3]]))


def test_softmax_weights_accept_an_underflowed_diagonal():
    """``Dl = w p`` underflows to zero before ``Rl = sqrt(w) p`` does: a subnormal
    ``Rl`` whose square is zero gets weight zero, as the matrix it stands for."""
    from convexrelu.losses import get_loss
    from convexrelu.solvers._newton_matrix import NoInteriorError
    from convexrelu.solvers._woodbury import softmax_weights

    # A saturated softmax: the third class's probability is about e^-741.
    F = np.array([[0.0, 1.0, -740.0]])
    Dl, Rl = get_loss("cross_entropy").hessian_parts(F, np.eye(3)[[0]], np.array([1 / 226]))
    assert Dl[0, 2] == 0.0 and Rl[0, 2] > 0.0 and Rl[0, 2] ** 2 == 0.0
    lam = softmax_weights(Dl, Rl)
    assert lam[0, 2] == 0.0
    np.testing.assert_allclose(lam[0, :2], np.sqrt(Rl[0, :2] ** 2 / Dl[0, :2]))
    # A rank-one part that does not vanish in floating point still refuses.
    with pytest.raises(NoInteriorError):
        softmax_weights(Dl, Rl + np.array([[0.0, 0.0, 1e-150]]))


@pytest.mark.parametrize("loss, C", [("squared", 1), ("squared", 3), ("logistic", 1),
                                     ("cross_entropy", 4)])
def test_hessian_parts_reproduce_the_hessian(loss, C):
    from convexrelu.losses import get_loss

    rng = np.random.default_rng(3)
    n = 20
    F = 3.0 * rng.standard_normal((n, C))
    Y = np.sign(rng.standard_normal((n, C))) if loss == "logistic" else \
        np.eye(C)[rng.integers(0, C, n)]
    w = rng.uniform(0.1, 1.0, n)
    obj = get_loss(loss)
    D, R = obj.hessian_parts(F, Y, w)
    H = D[:, :, None] * np.eye(C)[None]
    if R is not None:
        H = H - R[:, :, None] * R[:, None, :]
    np.testing.assert_allclose(H, obj.hessian(F, Y, w), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("newton", ["dense", "outputs"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_newton_matrices_from_hessian_parts_match_the_pairwise_ones(fit_intercept, newton):
    """Cross-entropy: Newton steps from the Hessian's parts, against the per-pair matrix.

    "dense" forms the matrix from one product per output and one for the
    rank-one part; "outputs" never forms it (Woodbury on the rank-one part,
    factors by output).  The reference forms it pair of outputs by pair.
    """
    from convexrelu.losses import get_loss
    from convexrelu.solvers import prepare_problem
    from convexrelu.solvers._barrier import solve_restricted_barrier

    X, y, arr, alpha = make_problem(43, 50, 3, 2, "cross_entropy", n_patterns=5,
                                alpha_frac=0.1)
    X, Y, w, loss_obj, op = prepare_problem(X, y, arr, "cross_entropy", None)

    class PairwiseOnly(type(get_loss("cross_entropy"))):
        def hessian_parts(self, F, Y, w):
            return None

    from convexrelu.solvers import _newton_systems

    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    with pytest.MonkeyPatch.context() as mp:
        built = count_calls(mp, _newton_systems, "output_block_solver")
        out = [solve_restricted_barrier(op, lo, Y, w, alpha, blocks,
                                        fit_intercept=fit_intercept, tol=1e-10, newton=nw)
               for lo, nw in ((loss_obj, newton), (PairwiseOnly(), "dense"))]
    assert out[0][4] == out[1][4] == "optimal"
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6, atol=1e-9)
    # "outputs" took every step by output (no fallback to dense matrices).
    assert (len(built) > 10) == (newton == "outputs")


def _lifted_loss_gram(X, mask, out_of_group, D, R):
    """``sum_i Phi_i^T (diag(D_i) - R_i R_i^T) Phi_i`` from the explicit lifted rows."""
    n, d = X.shape
    A = mask.shape[1]
    C = D.shape[1]
    Psi = np.zeros((n, C, A * d))
    for g in range(A):
        Psi[:, out_of_group[g], g * d:(g + 1) * d] = mask[:, g, None] * X
    Hl = np.einsum("no,op->nop", D, np.eye(C))
    if R is not None:
        Hl = Hl - R[:, :, None] * R[:, None, :]
    return np.einsum("noi,nop,npj->ij", Psi, Hl, Psi)


@pytest.mark.parametrize("C,with_r,keep_products,row_chunk", [
    (1, False, True, 1000), (1, False, False, 7), (3, True, True, 13), (3, True, False, 1),
    (3, False, True, 5)])
def test_pair_loss_gram_matches_the_lifted_product(C, with_r, keep_products, row_chunk):
    from convexrelu.solvers._newton_matrix import _pair_loss_gram, _pair_products

    rng = np.random.default_rng(C + 10 * row_chunk)
    n, d, A = 40, 5, 7
    X = rng.standard_normal((n, d))
    mask = (rng.random((n, A)) < 0.6).astype(np.int8)
    out_of_group = np.sort(rng.integers(0, C, A))
    D = rng.random((n, C))
    R = 0.5 * rng.random((n, C)) if with_r else None
    K = np.full((A * d + 2, A * d + 2), 0.25)
    _pair_loss_gram(K, X, _pair_products(X) if keep_products else None, mask,
                    out_of_group, (D, R), row_chunk)
    ref = _lifted_loss_gram(X, mask, out_of_group, D, R)
    np.testing.assert_allclose(K[:A * d, :A * d] - 0.25, ref, rtol=1e-12, atol=1e-12)
    # Only the weights' block is touched.
    assert np.all(K[A * d:] == 0.25) and np.all(K[:, A * d:] == 0.25)


def test_syrk_gram_adds_the_full_symmetric_product():
    from convexrelu.solvers._newton_matrix import _add_gram

    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 6))
    K = rng.standard_normal((9, 9))
    ref = K.copy()
    ref[2:8, 2:8] -= 0.5 * A.T @ A
    _add_gram(K, slice(2, 8), A, -0.5)
    np.testing.assert_allclose(K, ref, rtol=1e-13, atol=1e-13)


def test_syrk_gram_of_no_columns_is_silent(capfd):
    """An empty block (an all-zero softmax face: intercepts only) adds nothing
    and does not reach BLAS, whose error handler printed "illegal value"."""
    from convexrelu.solvers._newton_matrix import _add_gram

    K = np.eye(3)
    _add_gram(K, slice(0, 0), np.zeros((7, 0)))
    _add_gram(K, slice(0, 3), np.zeros((0, 3)))
    np.testing.assert_array_equal(K, np.eye(3))
    out = capfd.readouterr()
    assert out.err == "" and out.out == ""

"""Exact enumeration of activation-pattern tuples (convexrelu.enumeration).

Correctness is checked against two independent brute forces on tiny data:
an exhaustive LP test of every candidate tuple in {0,1}^n x {+-1}^m x {0,1}^n,
and dense Gaussian sampling of networks (every sampled tuple must be
enumerated, and every enumerated tuple must be realised by a network).
"""

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog

from convexrelu import enumerate_arrangements, sample_arrangements
from convexrelu.enumeration import (TooManyPatternsError, canonical_tuples, cell_count_bound,
                                    enumerate_cells, estimate_tuple_count)


def _with_bias(Z):
    return np.hstack([Z, np.ones((Z.shape[0], 1))])


def _keys(arr):
    """Set of tuples up to neuron order (each neuron a (pattern, sign) pair)."""
    out = set()
    for t in range(arr.n_patterns):
        neurons = sorted((arr.first[t, :, j].tobytes(), float(arr.signs[t, j]))
                         for j in range(arr.n_hidden))
        out.add((tuple(neurons), arr.second[t].tobytes()))
    return out


def _strictly_feasible(G):
    """Whether {v : G v > 0} is non-empty (the test's own margin LP)."""
    k, dim = G.shape
    if k == 0:
        return True
    c = np.zeros(dim + 1)
    c[-1] = -1
    res = linprog(c, A_ub=np.hstack([-G, np.ones((k, 1))]), b_ub=np.zeros(k),
                  bounds=[(-1, 1)] * dim + [(None, 1)], method="highs")
    return res.status == 0 and res.x[-1] > 1e-8


def _brute_force_tuples(X, m):
    """Every tuple with a strictly feasible cone, by exhaustive search."""
    n, d = X.shape
    norms = np.linalg.norm(X, axis=1)
    nz = norms > 0
    Xn = np.where(nz[:, None], X / np.where(nz, norms, 1)[:, None], 0.0)
    # a zero row has x . w = 0 >= 0: always active, and exempt from strictness
    cells = [np.array(p, bool) for p in itertools.product([False, True], repeat=n)
             if np.all(np.array(p)[~nz])
             and _strictly_feasible((np.where(p, 1.0, -1.0)[:, None] * Xn)[nz])]
    found = set()
    options = [(c, s) for c in range(len(cells)) for s in (1.0, -1.0)]
    for choice in itertools.combinations_with_replacement(range(len(options)), m):
        D1 = np.array([cells[options[k][0]] for k in choice])            # (m, n)
        s = np.array([options[k][1] for k in choice])
        base = np.zeros((m * n, m * d))
        for j in range(m):
            base[j * n:(j + 1) * n, j * d:(j + 1) * d] = np.where(D1[j], 1.0, -1.0)[:, None] * Xn
        base = base[np.tile(nz, m)]
        A = np.concatenate([(s[j] * D1[j])[:, None] * Xn for j in range(m)], axis=1)
        zero = np.all(A == 0, axis=1)
        for D2 in itertools.product([False, True], repeat=n):
            D2 = np.array(D2)
            if np.any(zero & ~D2):        # h_i = 0 identically: D2_i = 1 (>= 0)
                continue
            rows = np.where(D2, 1.0, -1.0)[~zero, None] * A[~zero]
            if _strictly_feasible(np.vstack([base, rows])):
                neurons = sorted((D1[j].tobytes(), float(s[j])) for j in range(m))
                found.add((tuple(neurons), D2.tobytes()))
    return found


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_cell_count_matches_general_position_formula(n, d):
    X = np.random.default_rng(10 * n + d).standard_normal((n, d))
    cells, witnesses = enumerate_cells(X)
    expected = 2 * sum(math.comb(n - 1, k) for k in range(d))
    assert len(cells) == expected == cell_count_bound(n, d)
    # distinct patterns, each realised by its witness
    assert len({c.tobytes() for c in cells}) == len(cells)
    np.testing.assert_array_equal(X @ witnesses.T >= 0, cells.T)


@pytest.mark.parametrize("n", [3, 6, 8])
def test_cell_count_with_bias_column(n):
    # 2-D points with a ones column: affine lines, 2 (1 + (n-1) + C(n-1, 2)) cells
    X = _with_bias(np.random.default_rng(n).standard_normal((n, 2)))
    cells, _ = enumerate_cells(X)
    assert len(cells) == 2 * (1 + (n - 1) + math.comb(n - 1, 2))


def test_degenerate_data_cells_match_dense_sampling():
    # duplicated row, antipodal row, zero row: fewer cells than the formula
    x = np.array([[1.0, 0.2], [1.0, 0.2], [-2.0, -0.4], [0.0, 0.0], [0.3, -1.0]])
    cells, _ = enumerate_cells(x)
    W = np.random.default_rng(0).standard_normal((2, 20000))
    sampled = {c.tobytes() for c in (x @ W >= 0).T}
    assert {c.tobytes() for c in cells} == sampled
    assert len(cells) < cell_count_bound(5, 2)
    assert np.all(cells[:, 3])             # the zero row is active everywhere


@pytest.mark.parametrize("X, vertices", [
    (_with_bias(np.random.default_rng(0).standard_normal((12, 2))), True),
    (_with_bias(np.random.default_rng(1).standard_normal((9, 3))), True),
    (np.random.default_rng(2).standard_normal((7, 3)), True),
    (_with_bias(np.repeat(np.random.default_rng(3).standard_normal((4, 2)), 2, axis=0)), False),
    (_with_bias(np.array([[i, j] for i in range(3) for j in range(3)], float)), False),
], ids=["bias-2d", "bias-3d", "central-3d", "duplicated", "grid"])
def test_cells_by_vertices_match_the_linear_programs(X, vertices, monkeypatch):
    # The cells found around the arrangement's vertices (no LP) are the
    # LP enumeration's, with witnesses strictly inside; on degenerate data
    # the vertices miss cells and the LPs take over.
    from convexrelu import enumeration

    rows = X / np.linalg.norm(X, axis=1, keepdims=True)
    bound = cell_count_bound(len(X), np.linalg.matrix_rank(X))
    assert (enumeration._cells_by_vertices(rows, X.shape[1], bound) is not None) == vertices
    cells, witnesses = enumerate_cells(X)
    assert np.all(np.where(cells, 1.0, -1.0) * (witnesses @ X.T) > 0)
    tried = []                          # (append returns None: "no cells found")
    monkeypatch.setattr(enumeration, "_cells_by_vertices", lambda *args: tried.append(1))
    lp_cells, _ = enumerate_cells(X)
    assert tried, "the replacement saw no call: it replaces the wrong function"
    np.testing.assert_array_equal(cells, lp_cells)


@pytest.mark.parametrize("X, share", [
    (_with_bias(np.random.default_rng(0).standard_normal((5, 2))), 0.7),
    (_with_bias(np.repeat(np.random.default_rng(0).standard_normal((3, 2)), 2, axis=0)), 0.9),
], ids=["general", "duplicated"])
def test_witnesses_moved_across_spare_linear_programs_not_tuples(X, share, monkeypatch):
    # A region's witness moved just across a new hyperplane often stays in
    # the region: no LP for that side.  The tuples must be those of the
    # LP-only splitting, in the same order.
    from convexrelu import enumeration

    calls = {"lp": 0}
    real_lp = enumeration._max_margin

    def counted(*args):
        calls["lp"] += 1
        return real_lp(*args)

    monkeypatch.setattr(enumeration, "_max_margin", counted)
    enumeration._CACHE.clear()
    moved = enumerate_arrangements(X, 2)
    with_moves = calls["lp"]
    monkeypatch.setattr(enumeration, "_across", lambda *args: None)
    enumeration._CACHE.clear()
    calls["lp"] = 0
    plain = enumerate_arrangements(X, 2)
    enumeration._CACHE.clear()
    assert with_moves < share * calls["lp"]
    np.testing.assert_array_equal(moved.first, plain.first)
    np.testing.assert_array_equal(moved.signs, plain.signs)
    np.testing.assert_array_equal(moved.second, plain.second)


@pytest.mark.parametrize("X", [
    np.random.default_rng(3).standard_normal((4, 2)),          # lines through 0
    _with_bias(np.random.default_rng(4).standard_normal((3, 2))),
    np.array([[1.0, 0.5], [1.0, 0.5], [0.0, 0.0], [-0.3, 1.0]]),   # duplicate, zero row
], ids=["n4-d2", "n3-bias", "degenerate"])
def test_tuples_match_exhaustive_lp_search(X):
    enum = enumerate_arrangements(X, 2)
    assert len(_keys(enum)) == enum.n_patterns          # no duplicates up to order
    assert _keys(enum) == _brute_force_tuples(X, 2)


@pytest.mark.parametrize("m", [1, 2])
def test_sampled_tuples_are_enumerated_and_enumerated_are_realised(m):
    X = _with_bias(np.random.default_rng(5).standard_normal((5, 2)))
    enum = enumerate_arrangements(X, m)
    sampled = sample_arrangements(X, 100_000, m, random_state=0)
    ke, ks = _keys(enum), _keys(sampled)
    assert ks <= ke
    assert len(ks) >= 0.6 * len(ke)       # dense sampling finds most of them
    if m == 1:
        assert ks == ke
    # every enumerated tuple is the forward-pass tuple of its witness network
    again = enum.recompute(X)
    np.testing.assert_array_equal(again.first, enum.first)
    np.testing.assert_array_equal(again.second, enum.second)
    np.testing.assert_array_equal(again.signs, enum.signs)


def test_width_one_is_cells_times_signs():
    X = _with_bias(np.random.default_rng(6).standard_normal((6, 2)))
    cells, _ = enumerate_cells(X)
    enum = enumerate_arrangements(X, 1)
    assert enum.n_patterns == 2 * len(cells)
    # one neuron: h = s relu(x . v), so D2 is all ones for s = +1 and not-D1 for s = -1
    pos = enum.signs[:, 0] > 0
    np.testing.assert_array_equal(enum.second[pos], np.ones_like(enum.second[pos]))
    np.testing.assert_array_equal(enum.second[~pos], ~enum.first[~pos, :, 0])


def test_canonical_tuples_merges_permutations():
    X = _with_bias(np.random.default_rng(7).standard_normal((4, 2)))
    enum = enumerate_arrangements(X, 2)
    flipped = enum.subset(np.arange(enum.n_patterns))
    flipped.first = flipped.first[:, :, ::-1].copy()
    flipped.signs = flipped.signs[:, ::-1].copy()
    canon = canonical_tuples(flipped)
    np.testing.assert_array_equal(canon.first, enum.first)
    np.testing.assert_array_equal(canon.signs, enum.signs)
    np.testing.assert_array_equal(canon.second, enum.second)


def test_estimate_bounds_the_count_and_the_limit_raises():
    X = _with_bias(np.random.default_rng(8).standard_normal((5, 2)))
    est, lower = estimate_tuple_count(X, 2)
    enum = enumerate_arrangements(X, 2)
    assert lower <= enum.n_patterns <= est
    with pytest.raises(TooManyPatternsError, match=rf"{est}.*max_patterns={est - 1}"):
        enumerate_arrangements(X, 2, max_patterns=est - 1)
    enumerate_arrangements(X, 2, max_patterns=est)            # exactly at the limit
    with pytest.raises(ValueError, match="cells"):
        enumerate_arrangements(np.random.default_rng(0).standard_normal((60, 4)), 2,
                               max_patterns=1000)


def test_input_validation():
    X = np.ones((3, 2))
    with pytest.raises(ValueError):
        enumerate_arrangements(X, 0)
    with pytest.raises(ValueError):
        enumerate_arrangements(X[0], 1)
    with pytest.raises(ValueError):
        enumerate_arrangements(np.array([[np.nan, 1.0]]), 1)


def test_repeated_enumeration_is_cached_and_independent():
    X = _with_bias(np.random.default_rng(9).standard_normal((4, 2)))
    a = enumerate_arrangements(X, 2)
    a.first[:] = False                               # the caller's copy only
    b = enumerate_arrangements(X, 2)
    assert b.first.any()
    np.testing.assert_array_equal(b.first, enumerate_arrangements(X.copy(), 2).first)
    est, _ = estimate_tuple_count(X, 2)
    with pytest.raises(TooManyPatternsError):       # limits still apply to cached results
        enumerate_arrangements(X, 2, max_patterns=est - 1)

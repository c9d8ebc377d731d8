"""``n_jobs`` threads for the softmax's per-output Newton work: the same bits as
one thread, the same ridge count and the same first error as the loop."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from convexrelu import ConvexDeepReLUClassifier
from convexrelu.solvers import _woodbury
from convexrelu.solvers._newton_matrix import NoInteriorError, ridged_factorisations
from convexrelu.solvers._woodbury import output_block_solver, output_threads, thread_count

from solver_cases import count_threaded_maps
from test_newton_matrix import _random_newton_parts


def _softmax_parts(rng, n, C):
    p = rng.dirichlet(np.ones(C), n)
    w = np.full(n, 1.0 / n)
    Dl, Rl = w[:, None] * p, np.sqrt(w)[:, None] * p
    Hl = np.einsum("ni,ij->nij", Dl, np.eye(C)) - np.einsum("ni,nj->nij", Rl, Rl)
    return Dl, Rl, Hl


def _singular_outputs(rng, n, C, B, md, outputs):
    """Parts whose ``outputs`` have no constraint curvature and two equal columns:
    their blocks ``K_o`` are singular and factorise only with a ridge."""
    D, Phi, cols = _random_newton_parts(rng, n, C, B, md)
    for o in outputs:
        sl = cols[o]
        D[sl.start // md:sl.stop // md] = 0.0
        Phi[:, sl.start + 1] = Phi[:, sl.start]
    return D, Phi, cols


@pytest.mark.parametrize("threads", [2, 4])
def test_threads_solve_as_the_loop_and_count_its_ridges(threads):
    """Two singular outputs' blocks need the ridge: the calling thread counts both
    (the interior point guards its steps by that count), and the solves are
    bit for bit the loop's."""
    rng = np.random.default_rng(0)
    n, C, B, md = 30, 4, 8, 4
    D, Phi, cols = _singular_outputs(rng, n, C, B, md, outputs=(0, 3))
    Dl, Rl, Hl = _softmax_parts(rng, n, C)
    r = rng.standard_normal((B * md + C, 2))
    got = {}
    for t in (1, threads):
        with output_threads(t):
            before = ridged_factorisations()
            solve = output_block_solver(D, Phi, cols, Dl, Rl, Hl, True, None, "dense")
            got[t] = ridged_factorisations() - before, solve(r)
    assert got[1][0] == got[threads][0] == 2
    np.testing.assert_array_equal(got[1][1], got[threads][1])


def test_threads_raise_the_loops_first_error_with_its_ridge_count():
    """Output 1's block is negative definite (no ridge helps): the error is raised
    in the calling thread, and only output 0's ridge counts, as in the loop,
    which never reaches output 3."""
    rng = np.random.default_rng(1)
    n, C, B, md = 30, 4, 8, 4
    D, Phi, cols = _singular_outputs(rng, n, C, B, md, outputs=(0, 3))
    sl = cols[1]
    D[sl.start // md:sl.stop // md] = -10.0 * np.eye(md)
    Dl, Rl, Hl = _softmax_parts(rng, n, C)
    for t in (1, 3):
        with output_threads(t):
            before = ridged_factorisations()
            with pytest.raises(NoInteriorError, match="singular Newton matrix"):
                output_block_solver(D, Phi, cols, Dl, Rl, Hl, True, None, "dense")
            assert ridged_factorisations() - before == 1


def test_thread_count_follows_joblibs_rule():
    from joblib import cpu_count

    assert thread_count(None) == 1
    assert thread_count(3) == 3
    assert thread_count(-1) == cpu_count()
    assert thread_count(-cpu_count() - 5) == 1


def test_classifier_with_n_jobs_is_bit_identical_and_uses_the_threads(monkeypatch):
    """A 10-class softmax fit whose Newton systems go by output: ``n_jobs=2`` and
    ``-1`` run the outputs' work on threads (counted) and give the one-thread
    fit's objective, certificate and scores exactly."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:200]
    y = y[:200]
    calls = count_threaded_maps(monkeypatch)
    fits = {}
    for n_jobs in (None, 2, -1):
        calls.clear()
        clf = ConvexDeepReLUClassifier(alpha=1e-2, n_patterns=8, random_state=0,
                                       n_jobs=n_jobs).fit(X, y)
        fits[n_jobs] = clf, sum(calls)
    assert fits[None][1] == 0 and fits[2][1] > 0
    assert fits[-1][1] == (fits[2][1] if thread_count(-1) > 1 else 0)
    ref = fits[None][0]
    for n_jobs in (2, -1):
        clf = fits[n_jobs][0]
        assert clf.objective_ == ref.objective_
        assert clf.relative_gap_ == ref.relative_gap_
        np.testing.assert_array_equal(clf.decision_function(X), ref.decision_function(X))


def test_path_with_n_jobs_is_bit_identical_and_threads_the_active_sets_faces(monkeypatch):
    """Along a warm-started softmax path the active-set method's faces are solved
    by output too: with ``n_jobs=2`` their factors are made on the threads
    (counted) and every point's weights, intercepts and certificates are the
    one-thread path's."""
    from convexrelu import convex_path, sample_arrangements
    from convexrelu.solvers import _active_set

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:120]
    X1 = np.hstack([X, np.ones((len(X), 1))])
    Y = np.eye(10)[y[:120]]
    arr = sample_arrangements(X1, 6, n_hidden=2, random_state=0)
    calls = []
    real = _active_set._map

    def counted(fn, items):
        calls.append(_woodbury._OUTPUT_POOL.get() is not None)
        return real(fn, items)

    monkeypatch.setattr(_active_set, "_map", counted)
    paths = {}
    for n_jobs in (None, 2):
        calls.clear()
        paths[n_jobs] = convex_path(X1, Y, arr, n_alphas=4, eps=1e-2, loss="cross_entropy",
                                    fit_intercept=True, n_jobs=n_jobs)
        paths[n_jobs, "threaded"] = (len(calls), sum(calls))
    assert paths[None, "threaded"][0] > 0 and paths[None, "threaded"][1] == 0
    assert paths[2, "threaded"][1] == paths[2, "threaded"][0] > 0
    np.testing.assert_array_equal(paths[None].objectives, paths[2].objectives)
    np.testing.assert_array_equal(paths[None].dual_gaps, paths[2].dual_gaps)
    for a, b in zip(paths[None].results, paths[2].results):
        np.testing.assert_array_equal(a.u, b.u)
        np.testing.assert_array_equal(a.intercept, b.intercept)

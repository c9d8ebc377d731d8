"""Exact mode against the non-convex problem, and the optimality certificate.

The non-convex objective (FORMULATION.md section 2) is minimised here
directly, by a local optimiser written for these tests, from many random
starts; the convex optimum over the enumerated tuples must equal the best of
them, and the certificate's lower bound must never exceed them.

The local optimiser's objective.  For one sub-network the map
``(W1, w2, w3) -> (a W1, b w2, c w3)`` with ``a b c = 1``, ``a, b, c > 0``
leaves the network function unchanged (relu is positively homogeneous, twice),
and by the AM-GM inequality

    min_{abc = 1} (1/3) ((a A)^3 + (b B)^3 + (c C)^3) = A B C,

with equality when ``aA = bB = cC``.  So replacing the product regulariser
``||W1_k||_F ||w2_k|| |w3_k|`` by ``(1/3)(||W1_k||_F^3 + ||w2_k||^3 + |w3_k|^3)``
gives an objective with the same infimum over networks; it is twice
differentiable (the kinks are only those of relu), so L-BFGS applies.
``test_cubic_regulariser_has_the_product_minimum`` checks the identity.
"""

import dataclasses

import numpy as np
import pytest
from scipy.optimize import check_grad, minimize

from convexrelu import (enumerate_arrangements, extract_network, optimality_certificate,
                        sample_arrangements, solve_convex)

N_RESTARTS = 200


def _with_bias(Z):
    return np.hstack([Z, np.ones((Z.shape[0], 1))])


def _objective_and_grad(X, y, alpha, W1, w2, w3, b):
    """Cubic-regularised squared-loss objective of R networks at once.

    Shapes: W1 (R, K, m, d), w2 (R, K, m), w3 (R, K), b (R,).
    Returns the values (R,) and gradients in the same shapes.
    """
    n = X.shape[0]
    pre = np.einsum("nd,rkmd->rnkm", X, W1)
    a1 = np.maximum(pre, 0.0)
    h = np.einsum("rnkm,rkm->rnk", a1, w2)
    a2 = np.maximum(h, 0.0)
    r = np.einsum("rnk,rk->rn", a2, w3) + b[:, None] - y
    n1 = np.sqrt(np.sum(W1 ** 2, axis=(2, 3)))
    n2 = np.sqrt(np.sum(w2 ** 2, axis=2))
    n3 = np.abs(w3)
    val = 0.5 * np.mean(r ** 2, axis=1) + alpha / 3 * np.sum(n1 ** 3 + n2 ** 3 + n3 ** 3, axis=1)
    df = r / n
    g3 = np.einsum("rnk,rn->rk", a2, df) + alpha * n3 * w3
    dh = df[:, :, None] * w3[:, None, :] * (h > 0)
    g2 = np.einsum("rnk,rnkm->rkm", dh, a1) + alpha * n2[..., None] * w2
    dpre = dh[..., None] * w2[:, None] * (pre > 0)
    g1 = np.einsum("rnkm,nd->rkmd", dpre, X) + alpha * n1[..., None, None] * W1
    return val, (g1, g2, g3, df.sum(axis=1))


def best_of_restarts(X, y, alpha, n_sub, m, *, fit_intercept=False, n_restarts=N_RESTARTS,
                     steps=2000, n_polish=20, seed=0):
    """Best non-convex objective over random restarts.

    Every restart runs Adam (vectorised over restarts) from a Gaussian start;
    the best ``n_polish`` are then refined by L-BFGS to tight tolerances.
    (Which restarts Adam leaves best depends on the BLAS kernels' rounding:
    on an AMD EPYC machine the best 5 of the (5, 2, 2, True) case all
    polished to a local minimum 3e-6 above the optimum; the best 20 reach it.)
    """
    rng = np.random.default_rng(seed)
    n, d = X.shape
    R, K = n_restarts, n_sub
    params = [rng.standard_normal((R, K, m, d)), rng.standard_normal((R, K, m)),
              rng.standard_normal((R, K)), np.zeros(R)]
    mom = [np.zeros_like(p) for p in params]
    sec = [np.zeros_like(p) for p in params]
    lr = 0.02
    for it in range(1, steps + 1):
        _, grads = _objective_and_grad(X, y, alpha, *params)
        if not fit_intercept:
            grads = grads[:3] + (np.zeros(R),)
        step = lr * (0.5 * (1 + np.cos(np.pi * it / steps)) + 1e-3)
        for p, g, mo, se in zip(params, grads, mom, sec):
            mo *= 0.9
            mo += 0.1 * g
            se *= 0.999
            se += 0.001 * g * g
            p -= step * (mo / (1 - 0.9 ** it)) / (np.sqrt(se / (1 - 0.999 ** it)) + 1e-12)
    values, _ = _objective_and_grad(X, y, alpha, *params)

    sizes = np.cumsum([K * m * d, K * m, K])

    def fg(p):
        W1, w2, w3, b = np.split(p, sizes)
        val, g = _objective_and_grad(X, y, alpha, W1.reshape(1, K, m, d),
                                     w2.reshape(1, K, m), w3.reshape(1, K), b)
        grad = np.concatenate([g[0].ravel(), g[1].ravel(), g[2].ravel(),
                               g[3] if fit_intercept else [0.0]])
        return val[0], grad

    best = np.inf
    for r in np.argsort(values)[:n_polish]:
        p0 = np.concatenate([params[0][r].ravel(), params[1][r].ravel(),
                             params[2][r].ravel(), params[3][r:r + 1]])
        res = minimize(fg, p0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 20000, "maxcor": 50, "ftol": 1e-16, "gtol": 1e-14})
        best = min(best, res.fun, values[r])
    return best


def _data(n, seed, bias=True):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 2))
    return (_with_bias(Z) if bias else Z), rng.standard_normal(n)


_CACHE = {}


def _optimum(case):
    """(X, y, alpha, m, fit_intercept, exact result, best restart), cached."""
    if case not in _CACHE:
        n, m, seed, fit_intercept = case
        X, y = _data(n, seed)
        alpha = 0.1
        res = solve_convex(X, y, enumerate_arrangements(X, m), alpha, solver="cvxpy",
                           fit_intercept=fit_intercept)
        # K = n + 1 sub-networks always suffice (FORMULATION.md section 6)
        best = best_of_restarts(X, y, alpha, n + 1, m, fit_intercept=fit_intercept)
        _CACHE[case] = (X, y, alpha, m, fit_intercept, res, best)
    return _CACHE[case]


CASES = [(5, 1, 0, False), (4, 2, 1, False), (5, 2, 2, True)]


# --- the local optimiser is right ------------------------------------------

def test_local_objective_gradient():
    rng = np.random.default_rng(0)
    X, y = _data(5, 0)
    shapes = [(1, 3, 2, 3), (1, 3, 2), (1, 3), (1,)]
    sizes = np.cumsum([np.prod(s) for s in shapes])[:-1]

    def f(p):
        parts = [q.reshape(s) for q, s in zip(np.split(p, sizes), shapes)]
        return _objective_and_grad(X, y, 0.1, *parts)[0][0]

    def g(p):
        parts = [q.reshape(s) for q, s in zip(np.split(p, sizes), shapes)]
        return np.concatenate([a.ravel() for a in _objective_and_grad(X, y, 0.1, *parts)[1]])

    p = rng.standard_normal(sum(np.prod(s) for s in shapes))
    assert check_grad(f, g, p) < 1e-5


def test_cubic_regulariser_has_the_product_minimum():
    rng = np.random.default_rng(1)
    A, B, C = rng.uniform(0.1, 3.0, 3)
    # balanced rescaling attains A B C ...
    s = (A * B * C) ** (1 / 3)
    assert np.isclose(((s / A * A) ** 3 + (s / B * B) ** 3 + (s / C * C) ** 3) / 3, A * B * C)
    # ... and no rescaling with abc = 1 goes below it
    a, b = rng.uniform(0.01, 10, (2, 10000))
    c = 1 / (a * b)
    assert np.all(((a * A) ** 3 + (b * B) ** 3 + (c * C) ** 3) / 3 >= A * B * C * (1 - 1e-12))
    # and the extracted (balanced) network's product objective is the cubic one
    X, y = _data(4, 3)
    res = solve_convex(X, y, sample_arrangements(X, 20, 2, random_state=0), 0.1, solver="cvxpy")
    net = extract_network(res)
    K, m = net.n_subnetworks, net.n_hidden
    W1 = net.coefs_[0].T.reshape(K, m, -1)[None]
    w2 = net.coefs_[1][np.arange(K * m), np.repeat(np.arange(K), m)].reshape(1, K, m)
    w3 = net.coefs_[2][:, 0][None]
    val, _ = _objective_and_grad(X, y, 0.1, W1, w2, w3, np.zeros(1))
    assert np.isclose(val[0], net.objective(X, y, 0.1), rtol=1e-10)


# --- exact mode equals the non-convex optimum ------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-m{c[1]}-b{int(c[3])}")
def test_exact_convex_optimum_equals_best_restart(case):
    X, y, alpha, m, fit_intercept, res, best = _optimum(case)
    assert res.converged
    conv = res.objective
    # never above (up to solver accuracy), and equal
    assert conv <= best * (1 + 1e-6)
    assert abs(conv - best) <= 1e-6 * conv
    # the extracted network attains it
    assert np.isclose(extract_network(res).objective(X, y, alpha), conv, rtol=1e-8)


def test_too_few_tuples_are_detected_by_the_restarts():
    # The comparison has teeth: a tiny sampled tuple set sits strictly above.
    X, y, alpha, m, fit_intercept, _, best = _optimum(CASES[1])
    res = solve_convex(X, y, sample_arrangements(X, 2, m, random_state=2), alpha,
                       solver="cvxpy", fit_intercept=fit_intercept)
    assert res.objective > best * (1 + 1e-3)


# --- the certificate --------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-m{c[1]}-b{int(c[3])}")
def test_exact_fit_has_zero_gap(case):
    X, y, alpha, m, fit_intercept, res, best = _optimum(case)
    cert = optimality_certificate(X, y, res, exact=True)
    assert cert.exact
    assert cert.n_tuples_checked == res.arrangements.n_patterns     # the same enumeration
    assert cert.lower_bound <= cert.upper_bound
    assert cert.lower_bound <= best * (1 + 1e-9)
    assert cert.relative_gap <= 1e-7
    assert np.isclose(cert.upper_bound, res.objective, rtol=1e-8)


# A 3-tuple fit can be degenerate (all groups ~ 0, so the relative constraint
# violation of the solver's point is large); the certificate does not rely on
# the primal point's accuracy, so the solver's warning is irrelevant here.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-m{c[1]}-b{int(c[3])}")
def test_sampled_fit_gets_a_valid_lower_bound(case, exact):
    X, y, alpha, m, fit_intercept, _, best = _optimum(case)
    res = solve_convex(X, y, sample_arrangements(X, 3, m, random_state=1), alpha,
                       solver="cvxpy", fit_intercept=fit_intercept)
    cert = optimality_certificate(X, y, res, exact=exact, n_check=20_000, random_state=0)
    assert cert.exact is exact
    assert cert.lower_bound <= best * (1 + 1e-9) <= cert.upper_bound * (1 + 1e-6)
    assert cert.gap >= 0
    assert np.isclose(cert.gap, cert.upper_bound - cert.lower_bound)
    if res.objective > best * (1 + 1e-4):
        # The fit's own dual value certifies only its tuple set: it exceeds the
        # non-convex optimum, so checking the other tuples is what makes the bound.
        assert res.dual_objective > best
        assert cert.max_ratio > 1


def test_perturbed_solution_has_a_large_gap():
    X, y, alpha, m, fit_intercept, res, best = _optimum(CASES[1])
    worse = dataclasses.replace(res, u=0.7 * res.u)      # a worse point, same tuples
    cert = optimality_certificate(X, y, worse, exact=True)
    assert cert.lower_bound <= best * (1 + 1e-9)
    assert cert.upper_bound > best * 1.01
    assert cert.gap > 0.01 * best


def test_squared_outputs_get_each_its_own_scale():
    # Two squared-loss outputs are two programs: the lower bound of the whole
    # is the sum of the outputs' own, even when one output's point is poor
    # (one scale for both would charge the solved output the other's ratio).
    X, y = _data(5, 7)
    Y = np.column_stack([y, np.maximum(X[:, 0], 0) - 0.5 * X[:, 1]])
    A = enumerate_arrangements(X, 2)
    res = solve_convex(X, Y, A, 0.05, solver="cvxpy", fit_intercept=True, tol=1e-9)
    worse = res.u.copy()
    worse[1] *= 0.7                                  # output 1 away from its optimum
    poor = dataclasses.replace(res, u=worse)
    cert = optimality_certificate(X, Y, poor, exact=True)
    parts = [optimality_certificate(
        X, Y[:, o], dataclasses.replace(poor, u=worse[o:o + 1], intercept=res.intercept[o:o + 1],
                                        lam1=res.lam1[:, o:o + 1], lam2=res.lam2[:, o:o + 1],
                                        dual_point=res.dual_point[:, o:o + 1]),
        exact=True) for o in range(2)]
    assert parts[0].relative_gap <= 1e-7 and parts[1].max_ratio > 1.01
    assert cert.lower_bound == pytest.approx(parts[0].lower_bound + parts[1].lower_bound,
                                             rel=1e-9)
    np.testing.assert_allclose(cert.dual_scale, [p.dual_scale for p in parts], rtol=1e-9)
    assert cert.upper_bound == pytest.approx(parts[0].upper_bound + parts[1].upper_bound,
                                             rel=1e-12)


def test_logistic_loss_certificate():
    X, y = _data(5, 4)
    yb = np.where(y > 0, 1.0, -1.0)
    A = enumerate_arrangements(X, 1)
    res = solve_convex(X, yb, A, 0.05, loss="logistic", solver="cvxpy")
    cert = optimality_certificate(X, yb, res)
    assert cert.exact and cert.relative_gap <= 1e-6
    poor = solve_convex(X, yb, A.subset(np.arange(3)), 0.05, loss="logistic", solver="cvxpy")
    cert2 = optimality_certificate(X, yb, poor, exact=True)
    assert cert2.lower_bound <= res.objective * (1 + 1e-8) <= cert2.upper_bound * (1 + 1e-8)


def test_mode_selection_and_validation():
    X, y = _data(6, 5)
    res = solve_convex(X, y, sample_arrangements(X, 30, 2, random_state=0), 0.1,
                       solver="cvxpy")
    with pytest.raises(ValueError, match="max_patterns=50"):
        optimality_certificate(X, y, res, exact=True, max_patterns=50)
    cert = optimality_certificate(X, y, res, max_patterns=50, n_check=5000, random_state=0)
    assert not cert.exact
    assert cert.n_tuples_checked >= res.arrangements.n_patterns // 2
    assert cert.lower_bound <= cert.upper_bound
    with pytest.raises(ValueError, match="n_hidden"):
        optimality_certificate(X, y, res, n_hidden=1)


@pytest.mark.parametrize("m", [1, 2])
def test_multiplier_bounds_agree_with_the_cone_program(m):
    from convexrelu.optimality import _cone_program_ratios, _gradient_ratios, _nnls_ratios
    X, y = _data(5, 6)
    arr = enumerate_arrangements(X, m)
    V = np.random.default_rng(0).standard_normal((5, 1)) / 5
    blocks = np.array([(0, s, t) for t in range(0, arr.n_patterns, 7) for s in (0, 1)])
    socp = _cone_program_ratios(X, arr, V, 0.1, blocks, "CLARABEL")
    nn = _nnls_ratios(X, arr, V, 0.1, blocks)
    grad = _gradient_ratios(X, arr, V, 0.1, blocks)
    gated = np.array([max(np.linalg.norm(X.T @ (np.where(s == 0, 1, -1) * arr.signs[t, j]
                                                  * arr.first[t, :, j] * arr.second[t] * V[:, 0]))
                          for j in range(m)) for _, s, t in blocks]) / 0.1
    assert np.all(socp <= nn * (1 + 1e-6) + 1e-7)
    assert np.all(nn <= gated * (1 + 1e-9) + 1e-12)
    # the vectorised bound: valid (above the exact ratio), never above the gated one
    assert np.all(socp <= grad * (1 + 1e-6) + 1e-7)
    assert np.all(grad <= gated * (1 + 1e-9) + 1e-12)
    assert np.any(grad < gated * (1 - 1e-3))
    if m == 1:
        np.testing.assert_allclose(nn, socp, rtol=1e-5, atol=1e-7)
    else:
        assert np.all(nn <= np.sqrt(m) * socp * (1 + 1e-5) + 1e-7)
        assert np.any(socp < gated * (1 - 1e-3))     # the multipliers matter


def test_capped_refinement_is_valid_but_looser():
    X, y, alpha, m, fit_intercept, _, best = _optimum(CASES[1])
    res = solve_convex(X, y, sample_arrangements(X, 2, m, random_state=2), alpha,
                       solver="cvxpy", fit_intercept=fit_intercept)
    full = optimality_certificate(X, y, res, exact=True)
    capped = optimality_certificate(X, y, res, exact=True, max_cone_programs=0)
    assert capped.n_cone_programs == 0
    assert capped.lower_bound <= full.lower_bound + 1e-12 <= best * (1 + 1e-9)


def test_certificate_for_a_wider_problem():
    # A width-1 exact fit, certified for width 2: its lower bound must not
    # exceed the width-2 optimum, which is at most the width-1 optimum.
    X, y, alpha, m, fit_intercept, res2, best2 = _optimum(CASES[1])
    res1 = solve_convex(X, y, enumerate_arrangements(X, 1), alpha, solver="cvxpy")
    cert = optimality_certificate(X, y, res1, n_hidden=2)
    assert cert.exact
    assert cert.lower_bound <= best2 * (1 + 1e-9)
    assert best2 <= res1.objective * (1 + 1e-6)
    assert np.isclose(cert.upper_bound, res1.objective, rtol=1e-8)


@pytest.mark.parametrize("certify", ["exact", "sampled"])
def test_constant_target_certificate_is_zero_not_one(certify):
    # Upper and lower bounds at rounding level (the intercept fits the
    # target): their ratio read 1.0, a "100% gap" on a proven optimum.
    from convexrelu import ConvexDeepReLURegressor

    X = np.random.default_rng(0).normal(size=(6, 2))
    reg = ConvexDeepReLURegressor(n_patterns=8, certify=certify, random_state=0)
    reg.fit(X, np.full(6, 2.5))
    assert reg.optimality_gap_ <= 1e-15
    assert reg.optimality_relative_gap_ == 0.0
    assert reg.optimality_exact_ == (certify == "exact")


def test_lazy_refinement_finds_the_largest_exact_ratio():
    """Blocks are refined (bounds, then cone programs) only while their bound
    exceeds the largest exact ratio found; the maximum must be the one of
    refining every block."""
    from convexrelu.operator import LiftedOperator
    from convexrelu.optimality import _block_ratios, _cone_program_ratios
    X, y = _data(6, 6)
    res = solve_convex(X, y, sample_arrangements(X, 3, 2, random_state=1), 0.05,
                       fit_intercept=True)
    cert = optimality_certificate(X, y, res, exact=True)
    arr = enumerate_arrangements(X, 2)
    V = cert.dual_point / cert.dual_scale
    gated = _block_ratios(LiftedOperator(X, arr), V, 0.05)
    bad = np.argwhere(gated > 1.0)
    every = _cone_program_ratios(X, arr, V, 0.05, bad, "CLARABEL")
    assert every.max() > 1.0                          # the refinement has work to do
    assert cert.max_ratio == pytest.approx(float(every.max()), rel=1e-6)
    assert cert.n_cone_programs < len(bad)

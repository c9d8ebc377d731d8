"""The package's first test: convex objective == objective of the extracted network.

Everything here is recomputed with plain numpy from the formulas of
FORMULATION.md, not with the package's own operator.
"""

import numpy as np
import pytest

from convexrelu import extract_network, sample_arrangements, solve_convex


def _convex_predictions(X, arr, u, b):
    """sum_{o,sig,t} sig * D2_t * sum_j s_tj D1_tj (X u_{o,sig,t,j}) + b, by loops."""
    C, _, P, m, _ = u.shape
    F = np.zeros((X.shape[0], C))
    for o in range(C):
        for si, sig in enumerate((1.0, -1.0)):
            for t in range(P):
                h = sum(arr.signs[t, j] * arr.first[t, :, j] * (X @ u[o, si, t, j])
                        for j in range(m))
                F[:, o] += sig * arr.second[t] * h
    return F + b


def _problem(kind, seed, n=40, d=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.standard_normal((n, d)), np.ones(n)])
    signal = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    if kind == "squared":
        return X, signal + 0.1 * rng.standard_normal(n)
    if kind == "logistic":
        return X, np.where(signal > np.median(signal), 1.0, -1.0)
    labels = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    return X, np.eye(3)[labels]


def _best_constant_objective(kind, y, fit_intercept):
    """The objective of the zero network: the loss of the best constant
    prediction (the intercept's), or of zero without one."""
    if kind == "squared":
        c = y.mean() if fit_intercept else 0.0
        return 0.5 * np.mean((y - c) ** 2)
    if kind == "logistic":
        p = np.mean(y > 0)
        c = np.log(p / (1 - p)) if fit_intercept else 0.0
        return np.mean(np.logaddexp(0.0, -y * c))
    c = np.log(y.mean(axis=0)) if fit_intercept else np.zeros(y.shape[1])
    return np.mean(np.log(np.exp(c).sum()) - y @ c)


CASES = [(loss, fit_intercept, seed)
         for loss in ("squared", "logistic", "cross_entropy")
         for fit_intercept in (False, True)
         for seed in (0, 1)]


@pytest.mark.parametrize("loss, fit_intercept, seed", CASES)
def test_convex_objective_equals_extracted_network_objective(loss, fit_intercept, seed):
    X, y = _problem(loss, seed)
    arr = sample_arrangements(X, n_patterns=12, n_hidden=2, random_state=seed)
    alpha = 0.02
    # (Clarabel runs at its 1e-10 tolerances whatever tol says; its certified
    # gap on the exponential cones ends at 2e-7 to 3e-7, below the 1e-6 here.)
    res = solve_convex(X, y, arr, alpha, loss=loss, fit_intercept=fit_intercept,
                       solver="cvxpy", tol=1e-6)
    net = extract_network(res)
    # The network has the tuple's activation patterns on the training data.
    F_convex = _convex_predictions(X, arr, res.u, res.intercept)
    np.testing.assert_allclose(net.decision(X), F_convex, rtol=1e-9, atol=1e-9)
    # Its non-convex objective (section 2) equals the convex one.
    assert net.objective(X, y, alpha) == pytest.approx(res.objective, rel=1e-7)
    # ... and it is a real fit: the network is not empty and beats predicting zero.
    assert net.n_subnetworks > 0
    assert net.n_subnetworks == res.n_subnetworks
    assert res.objective < _best_constant_objective(loss, y, fit_intercept)
    # The regulariser of each sub-network equals the group norms it came from.
    norms = np.linalg.norm(res.u, axis=-1)
    assert net.regularizer() == pytest.approx(norms.sum(), rel=1e-9)
    assert res.relative_gap <= 1e-6
    assert res.constraint_violation <= 1e-8


def test_intercept_is_unpenalised_and_bias_column_split():
    X, y = _problem("squared", 3)
    y = y + 50.0  # a large offset is cheap for the intercept, dear for the weights
    arr = sample_arrangements(X, 10, 2, random_state=0)
    res = solve_convex(X, y, arr, 0.05, fit_intercept=True, solver="cvxpy")
    assert res.intercept[0] == pytest.approx(50.0, abs=5.0)
    net_full = extract_network(res)
    net_split = extract_network(res, bias_column=True)
    np.testing.assert_allclose(net_split.decision(X[:, :-1]), net_full.decision(X), atol=1e-10)
    assert net_split.objective(X[:, :-1], y, 0.05) == pytest.approx(res.objective, rel=1e-9)


def test_extraction_rescales_layers_to_equal_norms():
    X, y = _problem("squared", 4)
    arr = sample_arrangements(X, 10, 3, random_state=1)
    res = solve_convex(X, y, arr, 0.01, solver="cvxpy")
    net = extract_network(res)
    m, K = 3, net.n_subnetworks
    W1, W2, W3 = net.coefs_
    for k in range(K):
        n1 = np.linalg.norm(W1[:, k * m:(k + 1) * m])
        n2 = np.linalg.norm(W2[k * m:(k + 1) * m, k])
        n3 = np.linalg.norm(W3[k])
        assert n1 == pytest.approx(n2, rel=1e-9) and n2 == pytest.approx(n3, rel=1e-9)
        # the block-diagonal structure: nothing outside block k in column k
        outside = np.delete(W2[:, k], np.arange(k * m, (k + 1) * m))
        assert np.all(outside == 0)

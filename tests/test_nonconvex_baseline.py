"""Correctness of the gradient-trained baseline in benchmarks/nonconvex.py.

* the objective it reports is the section-2 objective of FORMULATION.md,
  recomputed here independently (explicit loops, own loss formulas) and by
  the package's ReLUNetwork;
* its hand-written backward pass matches central finite differences;
* Adam and SGD decrease the objective on a small problem.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import nonconvex as nc  # noqa: E402
from convexrelu import ReLUNetwork  # noqa: E402

LOSSES = ("squared", "logistic", "cross_entropy")


def _problem(loss, n=30, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Xb = np.hstack([X, np.ones((n, 1))])
    if loss == "squared":
        y = np.sin(X[:, 0]) + X[:, 1] ** 2
    elif loss == "logistic":
        y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    else:
        labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
        y = np.eye(3)[labels]
    return X, Xb, y


def _random_net(d, K, m, C, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    outputs = np.arange(K) % C
    return nc.ParallelNet(rng.standard_normal((d, K, m)) * scale,
                          rng.standard_normal((K, m)), rng.standard_normal(K),
                          rng.standard_normal(C), outputs)


def _independent_objective(net, Xb, y, alpha, loss):
    """Section 2, written out sample by sample and sub-network by sub-network."""
    n = Xb.shape[0]
    K = net.W1.shape[1]
    total = 0.0
    for i in range(n):
        f = net.b.astype(float).copy()
        for k in range(K):
            hidden = sum(net.w2[k, j] * max(float(Xb[i] @ net.W1[:, k, j]), 0.0)
                         for j in range(net.W1.shape[2]))
            f[net.outputs[k]] += net.w3[k] * max(hidden, 0.0)
        if loss == "squared":
            total += 0.5 * float(np.sum((f - np.atleast_1d(y[i])) ** 2))
        elif loss == "logistic":
            total += float(np.log1p(np.exp(-y[i] * f[0])))
        else:
            c = int(np.argmax(y[i]))
            total += float(np.log(np.sum(np.exp(f))) - f[c])
    reg = 0.0
    for k in range(K):
        reg += (np.sqrt(np.sum(net.W1[:, k, :] ** 2)) * np.sqrt(np.sum(net.w2[k] ** 2))
                * abs(net.w3[k]))
    return total / n + alpha * reg


@pytest.mark.parametrize("loss", LOSSES)
def test_reported_objective_is_section2_objective(loss):
    X, Xb, y = _problem(loss)
    C = 3 if loss == "cross_entropy" else 1
    net = _random_net(Xb.shape[1], 6, 2, C, seed=1, scale=0.5)
    Y = nc.encode_targets(y, loss)
    alpha = 0.07
    reported = nc.objective(net, Xb, Y, alpha, loss)
    expected = _independent_objective(net, Xb, y, alpha, loss)
    assert reported == pytest.approx(expected, rel=1e-10)
    # ... and the package's MLP view of the same weights agrees.
    coefs, intercepts = net.to_mlp(bias_column=True)
    mlp = ReLUNetwork(coefs, intercepts, n_hidden=2, loss=loss)
    assert mlp.objective(X, y, alpha) == pytest.approx(expected, rel=1e-10)
    # The optimised surrogate is an upper bound once ||W1_k|| <= 1 (AM-GM) ...
    nc._project(net)
    assert (nc.smooth_objective(net, Xb, Y, alpha, loss)
            >= nc.objective(net, Xb, Y, alpha, loss) - 1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_trained_history_reports_exact_objective(loss):
    X, Xb, y = _problem(loss)
    alpha = 0.01
    res = nc.train(Xb, y, alpha, n_subnetworks=4, n_hidden=2, loss=loss,
                   max_epochs=20, seed=3)
    assert res.objective == pytest.approx(
        _independent_objective(res.net, Xb, y, alpha, loss), rel=1e-10)
    # The projection keeps every W1_k in the unit ball.
    n1 = np.sqrt(np.einsum("dkm,dkm->k", res.net.W1, res.net.W1))
    assert np.all(n1 <= 1 + 1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_backward_pass_matches_finite_differences(loss):
    _, Xb, y = _problem(loss, n=25)
    C = 3 if loss == "cross_entropy" else 1
    net = _random_net(Xb.shape[1], 4, 3, C, seed=2)
    Y = nc.encode_targets(y, loss)
    alpha = 0.05
    _, grads = nc.loss_and_grads(net, Xb, Y, alpha, loss, fit_intercept=True)
    h = 1e-6
    for name in ("W1", "w2", "w3", "b"):
        param = getattr(net, name)
        num = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            old = param[idx]
            param[idx] = old + h
            fp = nc.smooth_objective(net, Xb, Y, alpha, loss)
            param[idx] = old - h
            fm = nc.smooth_objective(net, Xb, Y, alpha, loss)
            param[idx] = old
            num[idx] = (fp - fm) / (2 * h)
        np.testing.assert_allclose(grads[name], num, rtol=1e-5, atol=1e-7,
                                   err_msg=f"gradient of {name} ({loss})")


def test_no_intercept_gradient_when_not_fitted():
    _, Xb, y = _problem("squared")
    net = _random_net(Xb.shape[1], 3, 2, 1, seed=4)
    _, grads = nc.loss_and_grads(net, Xb, nc.encode_targets(y, "squared"), 0.1,
                                 "squared", fit_intercept=False)
    assert np.all(grads["b"] == 0)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("loss", LOSSES)
def test_training_decreases_objective(optimizer, loss):
    _, Xb, y = _problem(loss, n=60)
    res = nc.train(Xb, y, 1e-3, n_subnetworks=6, n_hidden=2, loss=loss,
                   optimizer=optimizer, max_epochs=150, seed=0)
    start, end = res.history[0][2], res.objective
    assert end < 0.7 * start, (start, end)
    times = [t for t, _, _ in res.history]
    assert times == sorted(times)

"""Trained pattern tuples: the convex optimum over them beats the trained network."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from convexrelu import (Arrangements, ConvexDeepReLURegressor, solve_convex,
                        train_arrangements)
from convexrelu.losses import get_loss
from convexrelu.trained_patterns import _train_generators


def _data(seed, n=80, d=3):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    y = np.sin(2 * X[:, 0]) + np.maximum(X[:, 1], 0) * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


def _exact_objective(X, Y, w, loss, alpha, W1, w2, W3, b):
    """Section-2 objective of the trained parallel network (one output)."""
    H1 = np.maximum(np.einsum("nd,pdm->npm", X, W1), 0)
    h2 = np.maximum(np.einsum("npm,pm->np", H1, w2), 0)
    F = h2 @ W3 + b
    reg = np.sum(np.sqrt(np.einsum("pdm,pdm->p", W1, W1)) * np.linalg.norm(w2, axis=1)
                 * np.abs(W3[:, 0]))
    return loss.value(F, Y, w) + alpha * reg


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
def test_convex_optimum_over_trained_tuples_is_below_the_trained_network(loss_name):
    X, y = _data(3)
    loss = get_loss(loss_name)
    Y = (y[:, None] if loss_name == "squared" else np.where(y > np.median(y), 1.0, -1.0)[:, None])
    n = len(X)
    w = np.full(n, 1.0 / n)
    alpha = 1e-2
    rng = np.random.default_rng(0)
    W1, w2, W3, b = _train_generators(X, Y, w, loss, alpha, 10, 2, 300, 1e-2, True, rng)
    trained = _exact_objective(X, Y, w, loss, alpha, W1, w2, W3, b)
    rng = np.random.default_rng(0)
    W1_0, w2_0, W3_0, b_0 = _train_generators(X, Y, w, loss, alpha, 10, 2, 0, 1e-2, True, rng)
    start = _exact_objective(X, Y, w, loss, alpha, W1_0, w2_0, W3_0, b_0)
    assert trained < start                                 # training did something
    arr = Arrangements.from_weights(X, W1, w2, drop_duplicates=True)
    with warnings.catch_warnings():
        # Clarabel on exponential cones certifies ~1e-6 only; the objective is used.
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = solve_convex(X, Y[:, 0], arr, alpha, loss=loss_name, fit_intercept=True,
                           solver="cvxpy", tol=1e-8)
    # The trained network is a feasible point of the program over its own
    # tuples (with a penalty no larger, by Cauchy-Schwarz).
    assert res.objective <= trained * (1 + 1e-6)


def test_train_arrangements_is_reproducible_and_validates():
    X, y = _data(4)
    a = train_arrangements(X, y, 12, 2, alpha=1e-2, random_state=7)
    b = train_arrangements(X, y, 12, 2, alpha=1e-2, random_state=7)
    assert np.array_equal(a.first, b.first) and np.array_equal(a.second, b.second)
    assert a.first_weights.shape[1:] == (X.shape[1], 2)
    # The stored generators reproduce the tuples.
    again = a.recompute(X)
    assert np.array_equal(again.first, a.first) and np.array_equal(again.second, a.second)
    with pytest.raises(ValueError, match="n_steps"):
        train_arrangements(X, y, 12, 2, n_steps=-1)
    with pytest.raises(ValueError, match="learning_rate"):
        train_arrangements(X, y, 12, 2, learning_rate=0.0)
    with pytest.raises(ValueError, match="rows"):
        train_arrangements(X, y[:-1], 12, 2)


def test_trained_tuples_keep_their_networks_output_weights():
    """``output_weights`` are the trained network's, tuple by tuple (after the
    duplicates are dropped), and survive ``subset`` and ``recompute``."""
    X, y = _data(5)
    n = len(X)
    arr = train_arrangements(X, y, 12, 2, alpha=1e-2, random_state=3)
    # The same training by hand: the stream train_arrangements seeds.
    gen = np.random.default_rng(np.random.RandomState(3).randint(2 ** 31 - 1))
    W1, w2, W3, _ = _train_generators(X, y[:, None], np.full(n, 1.0 / n), get_loss("squared"),
                                      1e-2, 12, 2, 300, 1e-2, True, gen)
    assert arr.output_weights.shape == (arr.n_patterns, 1)
    for t in range(arr.n_patterns):
        # each kept tuple's generator is one of the trained sub-networks
        k = np.flatnonzero(np.all(np.isclose(W1, arr.first_weights[t]), axis=(1, 2)))
        assert len(k) >= 1
        np.testing.assert_allclose(arr.output_weights[t], W3[k[0]])
    half = arr.subset(np.arange(arr.n_patterns // 2))
    np.testing.assert_array_equal(half.output_weights,
                                  arr.output_weights[:arr.n_patterns // 2])
    np.testing.assert_array_equal(arr.recompute(X[:40]).output_weights, arr.output_weights)
    with pytest.raises(ValueError, match="output_weights"):
        Arrangements(arr.first, arr.signs, arr.second, output_weights=np.ones(3))


def test_estimator_with_trained_patterns_fits_better_than_sampled():
    # Same count of tuples: the trained ones give a lower certified optimum
    # on this data (a regression with structure the random tuples miss).
    X, y = _data(5, n=120)
    X = X[:, :-1]
    kw = dict(alpha=1e-2, n_patterns=8, n_hidden=2, random_state=0)
    sampled = ConvexDeepReLURegressor(patterns="sample", **kw).fit(X, y)
    trained = ConvexDeepReLURegressor(patterns="trained", **kw).fit(X, y)
    assert trained.relative_gap_ <= 1e-6
    assert trained.objective_ < sampled.objective_
    # trained tuples are the default
    default = ConvexDeepReLURegressor(**kw).fit(X, y)
    np.testing.assert_array_equal(default.first_weights_, trained.first_weights_)
    # warm_start reuses the trained generators instead of training again.
    again = ConvexDeepReLURegressor(patterns="trained", warm_start=True, **kw).fit(X, y)
    first = again.first_weights_.copy()
    again.fit(X, y)
    assert np.array_equal(again.first_weights_, first)


def test_patterns_value_is_validated():
    X, y = _data(6, n=30)
    with pytest.raises(ValueError, match="'sample', 'trained' or 'exact'"):
        ConvexDeepReLURegressor(patterns="learned").fit(X, y)


def test_minibatches_cover_each_epoch_once():
    from convexrelu.trained_patterns import _minibatches

    batches = list(_minibatches(103, 10, 25, np.random.default_rng(0)))
    assert len(batches) == 25 and all(len(b) == 10 for b in batches)
    for epoch in (batches[:10], batches[10:20]):
        rows = np.concatenate(epoch)
        assert len(np.unique(rows)) == 100                   # no row twice in an epoch
    assert not np.array_equal(np.concatenate(batches[:10]), np.concatenate(batches[10:20]))


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
def test_minibatch_training_lowers_the_objective_like_full_batch(loss_name):
    X, y = _data(8, n=600)
    loss = get_loss(loss_name)
    Y = (y[:, None] if loss_name == "squared" else np.where(y > np.median(y), 1.0, -1.0)[:, None])
    n = len(X)
    w = np.random.default_rng(1).uniform(0.5, 1.5, n)
    w /= w.sum()
    alpha = 1e-2

    def objective(steps, batch):
        params = _train_generators(X, Y, w, loss, alpha, 10, 2, steps, 1e-2, True,
                                   np.random.default_rng(0), batch_size=batch)
        return _exact_objective(X, Y, w, loss, alpha, *params), params

    start, _ = objective(0, 100)
    full, _ = objective(300, None)
    mini, (W1, w2, W3, b) = objective(1200, 100)
    assert mini < 0.7 * start
    # As good as the full-batch steps, here to 5% (measured: 0.7% better
    # with the squared loss, 2.4% worse with the logistic one).
    assert mini < 1.05 * full
    # The convex optimum over the minibatch-trained tuples is again below the network.
    arr = Arrangements.from_weights(X, W1, w2, drop_duplicates=True)
    res = solve_convex(X, Y[:, 0], arr, alpha, loss=loss_name, fit_intercept=True,
                       sample_weight=w, tol=1e-8)
    assert res.objective <= mini * (1 + 1e-6)


def test_batch_size_auto_switches_to_minibatches_above_the_row_limit(monkeypatch):
    import convexrelu.trained_patterns as tp

    X, y = _data(9, n=300)
    full = train_arrangements(X, y, 6, 2, batch_size=None, random_state=3)
    same = train_arrangements(X, y, 6, 2, random_state=3)          # "auto", 300 rows
    assert np.array_equal(full.first_weights, same.first_weights)
    monkeypatch.setattr(tp, "AUTO_FULL_BATCH_MAX_ROWS", 200)
    monkeypatch.setattr(tp, "AUTO_BATCH_SIZE", 40)
    auto = train_arrangements(X, y, 6, 2, random_state=3)
    mini = train_arrangements(X, y, 6, 2, batch_size=40, n_steps=tp.MINIBATCH_STEPS,
                              random_state=3)
    assert np.array_equal(auto.first_weights, mini.first_weights)
    assert not np.allclose(auto.first_weights, full.first_weights)
    # A batch of all the rows (or more) is the full batch.
    whole = train_arrangements(X, y, 6, 2, batch_size=300, random_state=3)
    assert np.array_equal(whole.first_weights, full.first_weights)
    for bad in (0, -5, 2.5, True, "all"):
        with pytest.raises(ValueError, match="batch_size"):
            train_arrangements(X, y, 6, 2, batch_size=bad)

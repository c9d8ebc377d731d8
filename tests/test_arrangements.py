import numpy as np
import pytest

from convexrelu import Arrangements, sample_arrangements


def _data(n=30, d=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def test_sampled_patterns_are_forward_passes_of_the_generators():
    X = _data()
    arr = sample_arrangements(X, 25, 3, random_state=0)
    for t in range(arr.n_patterns):
        W1, w2 = arr.first_weights[t], arr.second_weights[t]
        pre = X @ W1
        np.testing.assert_array_equal(arr.first[t], pre >= 0)
        np.testing.assert_array_equal(arr.signs[t], np.sign(w2))
        np.testing.assert_array_equal(arr.second[t], np.maximum(pre, 0) @ w2 >= 0)


def test_reproducible_and_seed_dependent():
    X = _data()
    a = sample_arrangements(X, 20, 2, random_state=7)
    b = sample_arrangements(X, 20, 2, random_state=7)
    c = sample_arrangements(X, 20, 2, random_state=8)
    np.testing.assert_array_equal(a.first, b.first)
    np.testing.assert_array_equal(a.second, b.second)
    assert a.first.shape != c.first.shape or not np.array_equal(a.first, c.first)


def test_duplicates_dropped():
    # One feature: every first-layer pattern is 1[x >= 0] or 1[x <= 0], so
    # many draws collapse onto few distinct tuples.
    X = np.linspace(-1, 1, 11)[:, None]
    arr = sample_arrangements(X, 200, 1, random_state=0)
    keys = {(arr.first[t].tobytes(), arr.signs[t].tobytes(), arr.second[t].tobytes())
            for t in range(arr.n_patterns)}
    assert len(keys) == arr.n_patterns
    assert arr.n_patterns <= 4


def test_recompute_on_training_rows_reproduces_the_tuples():
    X = _data()
    arr = sample_arrangements(X, 15, 2, random_state=0)
    again = Arrangements.from_weights(X, arr.first_weights, arr.second_weights)
    np.testing.assert_array_equal(again.first, arr.first)
    sub = arr.recompute(X[:10])
    assert sub.n_samples == 10 and sub.n_patterns == arr.n_patterns
    # the same generators' patterns on those rows: the first 10 of every tuple's
    np.testing.assert_array_equal(sub.first, arr.first[:, :10])
    np.testing.assert_array_equal(sub.second, arr.second[:, :10])
    np.testing.assert_array_equal(sub.signs, arr.signs)


def test_user_arrays_are_validated():
    first = np.zeros((2, 5, 3), bool)
    with pytest.raises(ValueError, match="signs must have shape"):
        Arrangements(first, np.ones((2, 2)), np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="second must have shape"):
        Arrangements(first, np.ones((2, 3)), np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        Arrangements(first, np.zeros((2, 3)), np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="positive integer"):
        sample_arrangements(_data(), 0, 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_rows_are_refused_not_given_all_off_patterns(bad):
    # NaN > 0 is False: a NaN row used to get every neuron off, silently.
    from convexrelu import train_arrangements

    X = np.random.default_rng(0).standard_normal((12, 3))
    X[4, 1] = bad
    with pytest.raises(ValueError, match="finite"):
        sample_arrangements(X, n_patterns=3, n_hidden=2, random_state=0)
    W1, w2 = np.ones((2, 3, 2)), np.ones((2, 2))
    with pytest.raises(ValueError, match="finite"):
        Arrangements.from_weights(X, W1, w2)
    with pytest.raises(ValueError, match="finite"):
        Arrangements.from_weights(np.ones((12, 3)), np.where(W1 > 0, bad, 0.0), w2)
    with pytest.raises(ValueError, match="finite"):
        train_arrangements(X, np.ones(12), n_patterns=2, n_hidden=2, random_state=0)

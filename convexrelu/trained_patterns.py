"""Activation-pattern tuples from a briefly trained network ("trained" patterns).

Random generators (:func:`convexrelu.sample_arrangements`) give tuples that
know nothing about the targets, and every sample is one more pattern
constraint, so on large data the cone of weights that reproduce a random
tuple is narrow and the convex optimum over a few random tuples is poor
(README, "Fashion-MNIST").  Here the generators are instead the sub-networks
of a parallel network trained briefly by Adam (a few hundred full-batch
steps, or on large data minibatch steps) on the same loss and a smooth form
of the same regulariser::

    f(x) = b + sum_t w3_t * relu( sum_j w2_tj relu(x . w1_tj) ),   w3_t in R^C

    minimise  L(f) + (alpha / 2) sum_t (||w2_t||^2 + ||w3_t||^2)
    subject to ||W1_t||_F <= 1        (projected after every step)

(each sub-network feeds every output through ``w3_t``: the convex program
shares its tuples across outputs).  The tuples of the trained sub-networks
are then handed to the convex program, which finds the best network over
them with a certificate.  The training is a heuristic: it only chooses
*which* tuples the convex program sees; the program's optimum is what the
estimator returns.  With zero steps the generators are the random ones.
"""

import itertools
import numbers

import numpy as np
from sklearn.utils import check_random_state

from .arrangements import Arrangements
from .solvers import validate_problem_data

__all__ = ["train_arrangements"]


def _minibatches(n, batch_size, n_steps, rng):
    """Row indices of ``n_steps`` minibatches: epochs of fresh permutations, tails dropped."""
    per_epoch = n // batch_size
    for step in range(n_steps):
        if step % per_epoch == 0:
            perm = rng.permutation(n)
        start = (step % per_epoch) * batch_size
        yield np.sort(perm[start:start + batch_size])


def _train_generators(X, Y, w, loss, alpha, n_patterns, n_hidden, n_steps, learning_rate,
                      fit_intercept, rng, batch_size=None):
    """Adam on the smooth objective; returns W1 (P, d, m), w2 (P, m), W3 (P, C), b.

    ``batch_size=None``: full-batch steps at a constant step size.  An
    integer below ``n`` (:func:`_schedule` resolves larger ones to None):
    steps on minibatches of that many rows (weights renormalised
    within the batch, so each step's loss estimates the whole one), with the
    step size decaying linearly to zero; without the decay the minibatch
    noise keeps the iterates away from the full-batch quality.
    """
    n, d = X.shape
    C = Y.shape[1]
    P, m = n_patterns, n_hidden
    W1 = rng.standard_normal((d, P, m))
    W1 /= np.sqrt(np.einsum("dpm,dpm->p", W1, W1))[None, :, None]
    w2 = rng.standard_normal((P, m)) / np.sqrt(m)
    W3 = rng.standard_normal((P, C)) / np.sqrt(P)
    b = (loss.optimal_intercept(np.zeros((n, C)), Y, w) if fit_intercept else np.zeros(C))
    params = [W1, w2, W3, b]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    full = batch_size is None
    batches = (itertools.repeat(None, n_steps) if full
               else _minibatches(n, batch_size, n_steps, rng))
    for step, rows in enumerate(batches, start=1):
        if full:
            Xb, Yb, wb, lr = X, Y, w, learning_rate
        else:
            Xb, Yb, wb = X[rows], Y[rows], w[rows]
            total = wb.sum()
            wb = wb / total if total > 0 else np.full(len(rows), 1.0 / len(rows))
            lr = learning_rate * (1.0 - (step - 1) / n_steps)
        # matmul, not einsum, for the two products with X: BLAS calls, the
        # whole training 3.0x faster at 60000 x 81 (4.70 -> 1.56 s, one core)
        A1 = (Xb @ W1.reshape(d, P * m)).reshape(-1, P, m)
        H1 = np.maximum(A1, 0.0)
        a2 = np.einsum("npm,pm->np", H1, w2)
        h2 = np.maximum(a2, 0.0)
        G = loss.gradient(h2 @ W3 + b, Yb, wb)                   # (rows, C), weights included
        gW3 = h2.T @ G + alpha * W3
        gb = G.sum(axis=0) if fit_intercept else np.zeros(C)
        da2 = (G @ W3.T) * (a2 > 0)
        gw2 = np.einsum("np,npm->pm", da2, H1) + alpha * w2
        dA1 = da2[:, :, None] * w2[None] * (A1 > 0)
        gW1 = (Xb.T @ dA1.reshape(-1, P * m)).reshape(d, P, m)
        for p, g, a, v in zip(params, (gW1, gw2, gW3, gb), m1, m2):
            a *= beta1
            a += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= (lr * (a / (1 - beta1 ** step))
                  / (np.sqrt(v / (1 - beta2 ** step)) + eps))
        norms = np.sqrt(np.einsum("dpm,dpm->p", W1, W1))
        W1 /= np.maximum(norms, 1.0)[None, :, None]
    return np.ascontiguousarray(W1.transpose(1, 0, 2)), w2, W3, b


# Above this many rows "auto" trains on minibatches: at 60000 Fashion-MNIST
# rows 1200 steps on 2000 rows matched 300 full-batch steps in accuracy,
# touching 7.5 times fewer rows (benchmarks/bench_generator_batches.py).
AUTO_FULL_BATCH_MAX_ROWS = 16_000
AUTO_BATCH_SIZE = 2_000
FULL_BATCH_STEPS = 300
MINIBATCH_STEPS = 1_200


def _schedule(n, batch_size, n_steps):
    """``(batch_size, n_steps)`` resolved for ``n`` rows (batch None: full batch)."""
    if isinstance(batch_size, str) and batch_size == "auto":
        batch_size = AUTO_BATCH_SIZE if n > AUTO_FULL_BATCH_MAX_ROWS else None
    elif batch_size is not None and (not isinstance(batch_size, numbers.Integral)
                                     or isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, 'auto' or None; "
                         f"got {batch_size!r}.")
    if batch_size is not None and batch_size >= n:
        batch_size = None
    if n_steps is None:
        n_steps = FULL_BATCH_STEPS if batch_size is None else MINIBATCH_STEPS
    return (None if batch_size is None else int(batch_size)), int(n_steps)


def train_arrangements(X, Y, n_patterns, n_hidden, *, loss="squared", alpha=1e-3,
                       sample_weight=None, n_steps=None, learning_rate=1e-2,
                       batch_size="auto", fit_intercept=True, random_state=None):
    """Pattern tuples of a parallel ReLU network trained briefly on ``(X, Y)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows as the convex program sees them (append a column of ones for
        first-layer biases, as for :func:`convexrelu.sample_arrangements`).
    Y : array-like of shape (n_samples, n_outputs)
        Targets encoded for ``loss`` (as :func:`convexrelu.solve_convex`
        encodes them: real values for ``"squared"``, -1/+1 for
        ``"logistic"``, one-hot rows for ``"cross_entropy"``).
    n_patterns : int
        Number of sub-networks trained, hence of tuples (before duplicates
        are dropped).
    n_hidden : int
        First-layer width ``m`` of every sub-network.
    loss : {"squared", "logistic", "cross_entropy"}, default="squared"
        The loss.
    alpha : float, default=1e-3
        Weight of the (smooth) regulariser during training.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples (None: all equal); normalised to sum to one.
    n_steps : int or None, default=None
        Adam steps.  0 gives the random generators.  None: 300 full-batch
        steps, or 1200 minibatch steps when training on minibatches.
    learning_rate : float, default=1e-2
        Adam's step size (with minibatches, its start: it decays linearly to
        zero over the steps).
    batch_size : int, "auto" or None, default="auto"
        Rows per step.  None: all of them (full batch).  "auto": all of them
        up to 16000 rows, minibatches of 2000 rows above.  A minibatch step
        costs ``batch_size / n_samples`` of a full one, so on large data
        1200 minibatch steps cost a fraction of 300 full-batch steps (7.5
        times fewer rows touched at 60000 rows) and, measured on
        Fashion-MNIST, train networks as accurate.
    fit_intercept : bool, default=True
        Train an unpenalised output intercept alongside.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights.

    Returns
    -------
    Arrangements
        The distinct tuples of the trained sub-networks, with their
        generating weights (so :meth:`Arrangements.recompute` works) and
        output weights (``output_weights``: the fast solver's first working
        set of a single-output program).
    """
    X, Y, w, loss = validate_problem_data(X, Y, loss, sample_weight)
    if (not isinstance(alpha, numbers.Real) or isinstance(alpha, bool)
            or not np.isfinite(alpha) or alpha < 0):
        raise ValueError(f"alpha must be a non-negative finite number; got {alpha!r}.")
    for name, val, low in (("n_patterns", n_patterns, 1), ("n_hidden", n_hidden, 1),
                           ("n_steps", 0 if n_steps is None else n_steps, 0)):
        if not isinstance(val, numbers.Integral) or isinstance(val, bool) or val < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {val!r}.")
    if not (learning_rate > 0 and np.isfinite(learning_rate)):
        raise ValueError(f"learning_rate must be positive; got {learning_rate!r}.")
    batch_size, n_steps = _schedule(len(X), batch_size, n_steps)
    rng = check_random_state(random_state)
    # The generator's own stream, so a RandomState passed in advances once.
    gen = np.random.default_rng(rng.randint(2 ** 31 - 1))
    first, second, third, _ = _train_generators(
        X, Y, w, loss, float(alpha), int(n_patterns), int(n_hidden), n_steps,
        float(learning_rate), bool(fit_intercept), gen, batch_size=batch_size)
    return Arrangements.from_weights(X, first, second, drop_duplicates=True,
                                     output_weights=third)

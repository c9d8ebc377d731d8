"""Activation-pattern tuples from a briefly trained network ("trained" patterns).

Random generators (:func:`convexrelu.sample_arrangements`) give tuples that
know nothing about the targets, and every sample is one more pattern
constraint, so on large data the cone of weights that reproduce a random
tuple is narrow and the convex optimum over a few random tuples is poor
(README, "Fashion-MNIST").  Here the generators are instead the sub-networks
of a parallel network trained for a few hundred full-batch Adam steps on the
same loss and a smooth form of the same regulariser::

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

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .arrangements import Arrangements
from .solvers import validate_problem_data

__all__ = ["train_arrangements"]


def _train_generators(X, Y, w, loss, alpha, n_patterns, n_hidden, n_steps, learning_rate,
                      fit_intercept, rng):
    """Adam on the smooth objective; returns W1 (P, d, m), w2 (P, m), W3 (P, C), b."""
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
    for step in range(1, n_steps + 1):
        A1 = np.einsum("nd,dpm->npm", X, W1)
        H1 = np.maximum(A1, 0.0)
        a2 = np.einsum("npm,pm->np", H1, w2)
        h2 = np.maximum(a2, 0.0)
        G = loss.gradient(h2 @ W3 + b, Y, w)                     # (n, C), weights included
        gW3 = h2.T @ G + alpha * W3
        gb = G.sum(axis=0) if fit_intercept else np.zeros(C)
        da2 = (G @ W3.T) * (a2 > 0)
        gw2 = np.einsum("np,npm->pm", da2, H1) + alpha * w2
        dA1 = da2[:, :, None] * w2[None] * (A1 > 0)
        gW1 = np.einsum("nd,npm->dpm", X, dA1)
        for p, g, a, v in zip(params, (gW1, gw2, gW3, gb), m1, m2):
            a *= beta1
            a += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= (learning_rate * (a / (1 - beta1 ** step))
                  / (np.sqrt(v / (1 - beta2 ** step)) + eps))
        norms = np.sqrt(np.einsum("dpm,dpm->p", W1, W1))
        W1 /= np.maximum(norms, 1.0)[None, :, None]
    return np.ascontiguousarray(W1.transpose(1, 0, 2)), w2, W3, b


def train_arrangements(X, Y, n_patterns, n_hidden, *, loss="squared", alpha=1e-3,
                       sample_weight=None, n_steps=300, learning_rate=1e-2,
                       fit_intercept=True, random_state=None):
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
    n_steps : int, default=300
        Full-batch Adam steps.  0 gives the random generators.
    learning_rate : float, default=1e-2
        Adam's step size.
    fit_intercept : bool, default=True
        Train an unpenalised output intercept alongside.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights.

    Returns
    -------
    Arrangements
        The distinct tuples of the trained sub-networks, with their
        generating weights (so :meth:`Arrangements.recompute` works).
    """
    X, Y, w, loss = validate_problem_data(X, Y, loss, sample_weight)
    if (not isinstance(alpha, numbers.Real) or isinstance(alpha, bool)
            or not np.isfinite(alpha) or alpha < 0):
        raise ValueError(f"alpha must be a non-negative finite number; got {alpha!r}.")
    for name, val, low in (("n_patterns", n_patterns, 1), ("n_hidden", n_hidden, 1),
                           ("n_steps", n_steps, 0)):
        if not isinstance(val, numbers.Integral) or isinstance(val, bool) or val < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {val!r}.")
    if not (learning_rate > 0 and np.isfinite(learning_rate)):
        raise ValueError(f"learning_rate must be positive; got {learning_rate!r}.")
    rng = check_random_state(random_state)
    # The generator's own stream, so a RandomState passed in advances once.
    gen = np.random.default_rng(rng.randint(2 ** 31 - 1))
    first, second, _, _ = _train_generators(X, Y, w, loss, float(alpha), int(n_patterns),
                                      int(n_hidden), int(n_steps), float(learning_rate),
                                      bool(fit_intercept), gen)
    return Arrangements.from_weights(X, first, second, drop_duplicates=True)

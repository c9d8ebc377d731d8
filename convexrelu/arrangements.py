"""Activation-pattern tuples (arrangements) of a three-layer ReLU sub-network.

A tuple ``t = (D1_t, s_t, D2_t)`` fixes every activation pattern of one
sub-network on the training data (FORMULATION.md section 3):

* ``D1_t`` in {0, 1}^{n x m}: which samples switch on each first-layer neuron,
* ``s_t`` in {-1, +1}^m: the signs of the second-layer weights,
* ``D2_t`` in {0, 1}^n: which samples switch on the second-layer neuron.

Tuples are sampled from forward passes of random Gaussian networks
(:func:`sample_arrangements`) or enumerated exactly
(:func:`convexrelu.enumerate_arrangements`).
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["Arrangements", "sample_arrangements"]


class Arrangements:
    """A set of activation-pattern tuples ``(D1, s, D2)``.

    Parameters
    ----------
    first : array-like of bool, shape (n_patterns, n_samples, n_hidden)
        First-layer patterns ``D1``: ``first[t, i, j]`` is True when neuron
        ``j`` of tuple ``t`` is active on sample ``i``.
    signs : array-like, shape (n_patterns, n_hidden)
        Signs ``s`` of the second-layer weights, each -1 or +1.
    second : array-like of bool, shape (n_patterns, n_samples)
        Second-layer patterns ``D2``.
    first_weights : ndarray of shape (n_patterns, n_features, n_hidden), default=None
        Generating first-layer weights, when the tuples came from forward
        passes; they let :meth:`recompute` rebuild the patterns on other rows.
    second_weights : ndarray of shape (n_patterns, n_hidden), default=None
        Generating second-layer weights, paired with ``first_weights``.
    output_weights : ndarray of shape (n_patterns, n_outputs), default=None
        Output weights of the network the tuples were trained in
        (:func:`convexrelu.train_arrangements`).  Their signs name the
        generator's own sub-networks among the convex program's blocks
        (tuple ``t``, output sign ``+`` or ``-``), with which the fast
        solver starts a single-output program's cold working set.

    Attributes
    ----------
    first, signs, second : ndarray
        The validated arrays (bool, float64 in {-1, +1}, bool).
    n_patterns, n_samples, n_hidden : int
        The tuple set's dimensions.
    """

    #: (a class default: arrangements pickled before output_weights existed
    #: read it as None)
    output_weights = None

    def __init__(self, first, signs, second, *, first_weights=None,
                 second_weights=None, output_weights=None):
        first = np.asarray(first)
        signs = np.asarray(signs)
        second = np.asarray(second)
        if first.ndim != 3:
            raise ValueError(
                f"first must be 3-D (n_patterns, n_samples, n_hidden); got shape {first.shape}.")
        P, n, m = first.shape
        if signs.shape != (P, m):
            raise ValueError(f"signs must have shape {(P, m)}; got {signs.shape}.")
        if second.shape != (P, n):
            raise ValueError(f"second must have shape {(P, n)}; got {second.shape}.")
        for name, arr in (("first", first), ("second", second)):
            if arr.dtype != bool and not np.all((arr == 0) | (arr == 1)):
                raise ValueError(f"{name} must be boolean (0/1) patterns.")
        if not np.all(np.abs(signs) == 1):
            raise ValueError("signs must contain only -1 and +1.")
        self.first = first.astype(bool)
        self.signs = signs.astype(np.float64)
        self.second = second.astype(bool)
        if (first_weights is None) != (second_weights is None):
            raise ValueError("Give both first_weights and second_weights, or neither.")
        self.first_weights = None if first_weights is None else np.asarray(first_weights, float)
        self.second_weights = None if second_weights is None else np.asarray(second_weights, float)
        if self.first_weights is not None and (
                self.first_weights.ndim != 3 or self.first_weights.shape[::2] != (P, m)
                or self.second_weights.shape != (P, m)):
            raise ValueError(
                f"Generating weights of shapes {self.first_weights.shape} and "
                f"{self.second_weights.shape} do not fit {P} tuples of width {m} (expected "
                f"({P}, n_features, {m}) and ({P}, {m})).")
        self.output_weights = _checked_output_weights(output_weights, P)

    @property
    def n_patterns(self):
        return self.first.shape[0]

    @property
    def n_samples(self):
        return self.first.shape[1]

    @property
    def n_hidden(self):
        return self.first.shape[2]

    def __len__(self):
        return self.n_patterns

    def __repr__(self):
        return (f"Arrangements(n_patterns={self.n_patterns}, n_samples={self.n_samples}, "
                f"n_hidden={self.n_hidden})")

    @classmethod
    def from_weights(cls, X, first_weights, second_weights, *, drop_duplicates=False,
                     output_weights=None):
        """Tuples of the networks ``(first_weights[t], second_weights[t])`` on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        first_weights : array-like of shape (n_patterns, n_features, n_hidden)
        second_weights : array-like of shape (n_patterns, n_hidden)
        drop_duplicates : bool, default=False
        output_weights : array-like of shape (n_patterns, n_outputs), default=None
            The generating network's output weights, kept with the tuples.

        Returns
        -------
        Arrangements
        """
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D; got shape {X.shape}.")
        W1 = np.asarray(first_weights, dtype=float)
        w2 = np.asarray(second_weights, dtype=float)
        if W1.ndim != 3 or w2.shape != (W1.shape[0], W1.shape[2]) or W1.shape[1] != X.shape[1]:
            raise ValueError(
                f"Generating weights of shapes {W1.shape} and {w2.shape} do not fit X of "
                f"shape {X.shape}.")
        # (checked before drop_duplicates indexes them)
        W3 = _checked_output_weights(output_weights, W1.shape[0])
        return _from_generators(X, W1, w2, drop_duplicates, W3)

    def recompute(self, X, *, drop_duplicates=False):
        """Patterns of the generating networks on new rows ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Rows as given to the solver (with a bias column where the original
            ones had it).
        drop_duplicates : bool, default=False
            Drop tuples that coincide on ``X``.  Kept by default so tuple ``t``
            stays the image of generator ``t``.

        Returns
        -------
        Arrangements
            The generators' tuples on ``X``.
        """
        if self.first_weights is None:
            raise ValueError(
                "These arrangements have no generating weights; only sampled "
                "arrangements can be recomputed on new data.")
        return Arrangements.from_weights(X, self.first_weights, self.second_weights,
                                         drop_duplicates=drop_duplicates,
                                         output_weights=self.output_weights)

    def subset(self, index):
        """A subset of the tuples, with their generating weights.

        Parameters
        ----------
        index : array-like of int or bool
            Tuple indices, or a mask over the tuples.

        Returns
        -------
        Arrangements
        """
        fw = None if self.first_weights is None else self.first_weights[index]
        sw = None if self.second_weights is None else self.second_weights[index]
        ow = None if self.output_weights is None else self.output_weights[index]
        return Arrangements(self.first[index], self.signs[index], self.second[index],
                            first_weights=fw, second_weights=sw, output_weights=ow)


def _checked_output_weights(W3, P):
    """``W3`` as floats of shape (P, n_outputs), or None; a clear error otherwise."""
    if W3 is None:
        return None
    W3 = np.asarray(W3, float)
    if W3.ndim != 2 or W3.shape[0] != P:
        raise ValueError(f"output_weights must have shape ({P}, n_outputs); got {W3.shape}.")
    return W3


def _forward_patterns(X, W1, w2):
    """D1, signs, D2 of networks (W1[t], w2[t]) on X, vectorised over t."""
    pre = np.einsum("nd,pdm->pnm", X, W1)
    D1 = pre >= 0
    hidden = np.einsum("pnm,pm->pn", np.maximum(pre, 0.0), w2)
    D2 = hidden >= 0
    signs = np.where(w2 >= 0, 1.0, -1.0)
    return D1, signs, D2


def _unique_tuples(D1, signs, D2):
    """Indices of the first occurrence of each distinct tuple, in order."""
    P = D1.shape[0]
    keys = np.concatenate([D1.reshape(P, -1), signs > 0, D2], axis=1)
    packed = np.packbits(keys, axis=1)
    _, first_idx = np.unique(packed, axis=0, return_index=True)
    return np.sort(first_idx)


def _from_generators(X, W1, w2, drop_duplicates, W3=None):
    # NaN > 0 is False: a NaN row would silently get all-off patterns.
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(W1)) and np.all(np.isfinite(w2))):
        raise ValueError("X and the generating weights must be finite (no NaN or inf).")
    D1, signs, D2 = _forward_patterns(X, W1, w2)
    if drop_duplicates:
        keep = _unique_tuples(D1, signs, D2)
        D1, signs, D2, W1, w2 = D1[keep], signs[keep], D2[keep], W1[keep], w2[keep]
        W3 = None if W3 is None else W3[keep]
    return Arrangements(D1, signs, D2, first_weights=W1, second_weights=w2, output_weights=W3)


def sample_arrangements(X, n_patterns, n_hidden, random_state=None):
    """Sample activation-pattern tuples by forward passes of random networks.

    For ``t = 1..n_patterns`` draw ``W1_t`` (d x m) and ``w2_t`` (m) with
    i.i.d. standard normal entries and record
    ``D1_t = 1[X W1_t >= 0]``, ``s_t = sign(w2_t)`` and
    ``D2_t = 1[relu(X W1_t) w2_t >= 0]``.  Duplicate tuples are dropped, so the
    result may hold fewer than ``n_patterns`` tuples.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data as the first layer sees it; no column is added (append a
        column of ones first for first-layer biases).
    n_patterns : int
        Number of random networks to draw.
    n_hidden : int
        First-layer width ``m`` of each sub-network.
    random_state : int, RandomState instance or None, default=None
        Seed of the Gaussian draws.

    Returns
    -------
    Arrangements
        The distinct tuples, with their generating weights.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D; got shape {X.shape}.")
    for name, val in (("n_patterns", n_patterns), ("n_hidden", n_hidden)):
        if not isinstance(val, numbers.Integral) or isinstance(val, bool) or val < 1:
            raise ValueError(f"{name} must be a positive integer; got {val!r}.")
    rng = check_random_state(random_state)
    d = X.shape[1]
    W1 = rng.standard_normal((n_patterns, d, n_hidden))
    w2 = rng.standard_normal((n_patterns, n_hidden))
    return _from_generators(X, W1, w2, drop_duplicates=True)

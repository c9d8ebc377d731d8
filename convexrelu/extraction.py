"""From a convex solution to the weights of a three-layer ReLU network.

For every non-zero block ``(o, sig, t)`` with ``S = sum_j ||u_j||`` one
sub-network (FORMULATION.md section 5)::

    w1_j = u_j / sqrt(||u_j||),   w2_j = s_tj sqrt(||u_j||),   w3 = sig,

rescaled so that ``||W1||_F = ||w2|| = |w3| = S^(1/3)``.  The pattern
constraints make the network's activation patterns on the training data
exactly the tuple's, so the network reproduces the convex model's
predictions there and its regulariser ``||W1||_F ||w2|| |w3|`` equals ``S``:
the non-convex objective of the network equals the convex objective.
"""

import numpy as np

from .solvers import validate_problem_data

__all__ = ["ReLUNetwork", "extract_network"]


class ReLUNetwork:
    """A parallel three-layer ReLU network stored as an MLP.

    ``f(x) = relu(relu(x W1 + c1) W2 + c2) W3 + b`` with ``W2``
    block-diagonal: ``K`` sub-networks of width ``m``.

    Parameters
    ----------
    coefs : list of 3 ndarrays
        ``W1`` (d, K*m), ``W2`` (K*m, K) block-diagonal, ``W3`` (K, n_outputs).
    intercepts : list of 3 ndarrays
        ``c1`` (K*m,) first-layer biases (penalised with W1), ``c2`` (K,)
        zeros, ``b`` (n_outputs,) the unpenalised output intercept.
    n_hidden : int
        Width ``m`` of every sub-network.
    loss : str, default="squared"
        Loss used by :meth:`objective`.

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
    n_subnetworks : int
    """

    def __init__(self, coefs, intercepts, n_hidden, loss="squared"):
        self.coefs_ = [np.asarray(c, float) for c in coefs]
        self.intercepts_ = [np.asarray(c, float) for c in intercepts]
        self.n_hidden = int(n_hidden)
        self.loss = loss

    @property
    def n_subnetworks(self):
        return self.coefs_[1].shape[1]

    @property
    def n_outputs(self):
        return self.coefs_[2].shape[1]

    def decision(self, X):
        """Raw outputs of the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, without the ones column of first-layer biases.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
        """
        X = np.asarray(X, dtype=float)
        d = self.coefs_[0].shape[0]
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"X must be 2-D with {d} columns (the network's inputs, without "
                             f"a ones column); got shape {X.shape}.")
        h = np.maximum(X @ self.coefs_[0] + self.intercepts_[0], 0.0)
        h = np.maximum(h @ self.coefs_[1] + self.intercepts_[1], 0.0)
        return h @ self.coefs_[2] + self.intercepts_[2]

    def predict(self, X):
        """Outputs, flattened for a single output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, without the ones column of first-layer biases.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        F = self.decision(X)
        return F[:, 0] if F.shape[1] == 1 else F

    def regularizer(self):
        """The regulariser of the network's weights.

        Returns
        -------
        float
            ``sum_k ||[W1_k; c1_k]||_F * ||w2_k|| * ||w3_k||``.
        """
        K, m = self.n_subnetworks, self.n_hidden
        if K == 0:
            return 0.0
        W1 = np.vstack([self.coefs_[0], self.intercepts_[0][None, :]])
        n1 = np.sqrt((W1 ** 2).sum(axis=0).reshape(K, m).sum(axis=1))
        w2 = self.coefs_[1][np.arange(K * m), np.repeat(np.arange(K), m)]
        n2 = np.sqrt((w2 ** 2).reshape(K, m).sum(axis=1))
        n3 = np.sqrt((self.coefs_[2] ** 2).sum(axis=1))
        return float(np.sum(n1 * n2 * n3))

    def objective(self, X, y, alpha, sample_weight=None):
        """Non-convex training objective (FORMULATION.md section 2).

        ``sum_i w_i loss(f(x_i), y_i) + alpha * regularizer()`` with
        ``w_i = 1/n`` or the normalised ``sample_weight``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, as for :meth:`decision`.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets encoded as for :func:`convexrelu.solve_convex`.
        alpha : float
            Regularisation strength.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (None: all equal).

        Returns
        -------
        float
        """
        X, Y, w, loss = validate_problem_data(X, y, self.loss, sample_weight)
        return loss.value(self.decision(X), Y, w) + alpha * self.regularizer()


def extract_network(result, *, bias_column=False):
    """The ReLU network of a convex solution (FORMULATION.md section 5).

    Parameters
    ----------
    result : ConvexResult
        Output of :func:`convexrelu.solve_convex`.
    bias_column : bool, default=False
        Whether the last column of the solver's X was a column of ones; its
        row of first-layer weights becomes ``intercepts_[0]`` and the
        network then takes X without that column.

    Returns
    -------
    ReLUNetwork
        One sub-network per non-zero block ``(o, sig, t)``; neurons whose
        ``u_j`` is zero keep a zero column.
    """
    U = result.u
    C, _, P, m, d = U.shape
    signs = result.arrangements.signs
    norms = np.sqrt(np.einsum("ospmd,ospmd->ospm", U, U))
    blocks = np.argwhere(norms.sum(axis=-1) > 0)           # rows (o, sig, t)
    K = len(blocks)
    W1 = np.zeros((d, K * m))
    W2 = np.zeros((K * m, K))
    W3 = np.zeros((K, C))
    for k, (o, s, t) in enumerate(blocks):
        nu = norms[o, s, t]
        S = nu.sum()
        root = np.sqrt(nu)
        safe = np.where(root > 0, root, 1.0)
        w1 = U[o, s, t] / safe[:, None]                     # (m, d)
        w2 = signs[t] * root
        scale = S ** (1.0 / 3.0) / np.sqrt(S)
        cols = slice(k * m, (k + 1) * m)
        W1[:, cols] = (w1 * scale).T
        W2[cols, k] = w2 * scale
        W3[k, o] = (1.0 if s == 0 else -1.0) * S ** (1.0 / 3.0)
    c1 = np.zeros(K * m)
    if bias_column:
        c1 = W1[-1].copy()
        W1 = W1[:-1]
    return ReLUNetwork([W1, W2, W3], [c1, np.zeros(K), np.asarray(result.intercept, float)],
                       n_hidden=m, loss=result.loss)

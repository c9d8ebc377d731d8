"""Non-convex baseline: the parallel three-layer ReLU network trained by
gradient methods (Adam, SGD), written in plain numpy.

The network, loss and regulariser are exactly those of FORMULATION.md
sections 1, 2 and 8::

    f(x)_c = b_c + sum_{k : o(k) = c} w3_k * relu( sum_j w2_kj relu(x . w1_kj) )

    objective = (1/n) sum_i loss(f(x_i), y_i)
                + alpha * sum_k ||W1_k||_F ||w2_k||_2 |w3_k|

``x`` is the row as the convex solver sees it (with a ones column appended
when first-layer biases are wanted; that column's weights are part of W1 and
regularised); ``b`` is the unpenalised output intercept; every sub-network
``k`` feeds one output ``o(k)``.

How the non-smooth regulariser is handled
-----------------------------------------
The product of norms is not differentiable where a factor vanishes.  The
optimiser therefore minimises its smooth equivalent (section 2)::

    (1/n) sum_i loss_i + (alpha/2) sum_k (||w2_k||^2 + w3_k^2)
    subject to ||W1_k||_F <= 1

by projected gradient steps (after every Adam/SGD step each W1_k is scaled
back onto the unit Frobenius ball).  Both problems have the same minimum.
At any feasible point the exact section-2 objective is at most the smooth
one (AM-GM, ||W1_k|| <= 1), and it is the section-2 objective, evaluated by
:func:`objective`, that every history and table reports.

This module is a benchmark baseline, not a package dependency.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from convexrelu.losses import get_loss

__all__ = ["ParallelNet", "TrainResult", "train", "objective", "smooth_objective",
           "loss_and_grads", "encode_targets"]


def encode_targets(y, loss):
    """Targets as the (n, C) float matrix the losses use."""
    loss = get_loss(loss)
    y = np.asarray(y)
    return loss.encode_targets(y if y.ndim == 2 or loss.name == "logistic"
                               else y.reshape(-1, 1))


@dataclass
class ParallelNet:
    """Weights of K parallel sub-networks of width m.

    W1 : (d, K, m) first layer (including the bias row when X has a ones column)
    w2 : (K, m) second layer
    w3 : (K,) output weight of each sub-network
    b : (C,) output intercept (unpenalised)
    outputs : (K,) int, the output o(k) that sub-network k feeds
    """

    W1: np.ndarray
    w2: np.ndarray
    w3: np.ndarray
    b: np.ndarray
    outputs: np.ndarray

    @property
    def n_subnetworks(self):
        return self.w2.shape[0]

    @property
    def n_hidden(self):
        return self.w2.shape[1]

    @property
    def n_outputs(self):
        return self.b.shape[0]

    def copy(self):
        return ParallelNet(self.W1.copy(), self.w2.copy(), self.w3.copy(),
                           self.b.copy(), self.outputs.copy())

    def output_matrix(self):
        """(K, C) 0/1 matrix routing sub-network k to output o(k)."""
        O = np.zeros((self.n_subnetworks, self.n_outputs))
        O[np.arange(self.n_subnetworks), self.outputs] = 1.0
        return O

    def forward(self, X):
        """Outputs F (n, C) and the cached activations."""
        d, K, m = self.W1.shape
        Z1 = (X @ self.W1.reshape(d, K * m)).reshape(-1, K, m)
        H1 = np.maximum(Z1, 0.0)
        z2 = np.einsum("nkm,km->nk", H1, self.w2)
        h2 = np.maximum(z2, 0.0)
        F = (h2 * self.w3) @ self.output_matrix() + self.b
        return F, (Z1, H1, z2, h2)

    def decision(self, X):
        return self.forward(X)[0]

    def regularizer(self):
        """sum_k ||W1_k||_F ||w2_k|| |w3_k| (section 2)."""
        n1 = np.sqrt(np.einsum("dkm,dkm->k", self.W1, self.W1))
        n2 = np.linalg.norm(self.w2, axis=1)
        return float(np.sum(n1 * n2 * np.abs(self.w3)))

    def to_mlp(self, bias_column=True):
        """MLP-style (coefs, intercepts) as in convexrelu.ReLUNetwork.

        With ``bias_column`` the last row of W1 (the ones column's weights)
        becomes the first-layer intercept.
        """
        d, K, m = self.W1.shape
        W1 = self.W1.reshape(d, K * m)
        W2 = np.zeros((K * m, K))
        W2[np.arange(K * m), np.repeat(np.arange(K), m)] = self.w2.ravel()
        W3 = self.w3[:, None] * self.output_matrix()
        c1 = np.zeros(K * m)
        if bias_column:
            c1, W1 = W1[-1].copy(), W1[:-1]
        return [W1, W2, W3], [c1, np.zeros(K), self.b.copy()]


def objective(net, X, Y, alpha, loss):
    """Exact section-2 objective: mean loss + alpha * sum of norm products."""
    loss = get_loss(loss)
    n = X.shape[0]
    w = np.full(n, 1.0 / n)
    return loss.value(net.decision(X), Y, w) + alpha * net.regularizer()


def smooth_objective(net, X, Y, alpha, loss):
    """The surrogate that is optimised: mean loss + (alpha/2) sum (||w2_k||^2 + w3_k^2)."""
    loss = get_loss(loss)
    n = X.shape[0]
    w = np.full(n, 1.0 / n)
    return (loss.value(net.decision(X), Y, w)
            + 0.5 * alpha * (float(np.sum(net.w2 ** 2)) + float(np.sum(net.w3 ** 2))))


def loss_and_grads(net, X, Y, alpha, loss, fit_intercept=True):
    """Smooth objective on (X, Y) and its gradient (hand-written backward pass).

    Returns ``(value, grads)`` with ``grads`` a dict with keys W1, w2, w3, b
    shaped like the parameters.  ReLU'(0) is taken as 0.
    """
    loss = get_loss(loss)
    n = X.shape[0]
    w = np.full(n, 1.0 / n)
    F, (Z1, H1, z2, h2) = net.forward(X)
    value = (loss.value(F, Y, w)
             + 0.5 * alpha * (float(np.sum(net.w2 ** 2)) + float(np.sum(net.w3 ** 2))))
    G = loss.gradient(F, Y, w)                        # dL/dF, (n, C)
    Gk = G @ net.output_matrix().T                    # dL/d(output of k), (n, K)
    dw3 = np.sum(Gk * h2, axis=0) + alpha * net.w3
    dz2 = Gk * net.w3 * (z2 > 0)                      # (n, K)
    dw2 = np.einsum("nk,nkm->km", dz2, H1) + alpha * net.w2
    dZ1 = dz2[:, :, None] * net.w2[None] * (Z1 > 0)   # (n, K, m)
    d, K, m = net.W1.shape
    dW1 = (X.T @ dZ1.reshape(n, K * m)).reshape(d, K, m)
    db = G.sum(axis=0) if fit_intercept else np.zeros_like(net.b)
    return value, {"W1": dW1, "w2": dw2, "w3": dw3, "b": db}


def _project(net):
    """Scale every W1_k onto the unit Frobenius ball."""
    n1 = np.sqrt(np.einsum("dkm,dkm->k", net.W1, net.W1))
    net.W1 /= np.maximum(n1, 1.0)[None, :, None]


def init_net(d, K, m, n_outputs, rng, outputs=None, scale=1.0):
    """Random start: each W1_k Gaussian with unit Frobenius norm, w2, w3 Gaussian."""
    W1 = rng.standard_normal((d, K, m))
    W1 /= np.sqrt(np.einsum("dkm,dkm->k", W1, W1))[None, :, None]
    w2 = rng.standard_normal((K, m)) * scale / np.sqrt(m)
    w3 = rng.standard_normal(K) * scale / np.sqrt(K)
    if outputs is None:
        outputs = np.arange(K) % n_outputs
    return ParallelNet(W1, w2, w3, np.zeros(n_outputs), np.asarray(outputs, dtype=int))


@dataclass
class TrainResult:
    net: ParallelNet
    objective: float
    history: list = field(default_factory=list)   # [(train seconds, epoch, objective)]
    optimizer: str = ""
    seed: int = 0
    train_time: float = 0.0


def train(X, y, alpha, *, n_subnetworks, n_hidden, loss="squared", fit_intercept=True,
          optimizer="adam", lr=None, batch_size=None, momentum=0.9, max_epochs=2000,
          max_time=None, eval_every=None, outputs=None, seed=0, init_scale=1.0,
          lr_decay=0.0):
    """Train the parallel network by projected Adam or SGD.

    Parameters
    ----------
    X : (n, d) rows as the convex solver sees them (ones column included).
    y : targets, encoded as for :func:`convexrelu.solve_convex`.
    alpha : regularisation strength (section 2 scaling).
    n_subnetworks, n_hidden : K and m.
    optimizer : "adam" or "sgd" (SGD with heavy-ball momentum).
    lr : step size (default 1e-2 for Adam, 5e-2 for SGD).
    batch_size : None for full batch (Adam's default); SGD defaults to 32.
    max_epochs, max_time : stop after this many passes / seconds of training.
    eval_every : record the exact objective every this many epochs
        (default: about 200 records over max_epochs).
    lr_decay : step size lr / (1 + lr_decay * epoch).
    outputs : (K,) output fed by each sub-network (default round robin).

    Returns
    -------
    TrainResult with the final exact objective and the history
    ``(training seconds, epoch, exact objective)``; the seconds exclude the
    time spent evaluating the history.
    """
    loss_obj = get_loss(loss)
    X = np.asarray(X, dtype=float)
    Y = encode_targets(y, loss_obj)
    n, d = X.shape
    C = Y.shape[1]
    rng = np.random.default_rng(seed)
    net = init_net(d, n_subnetworks, n_hidden, C, rng, outputs=outputs, scale=init_scale)
    if fit_intercept:
        net.b = loss_obj.optimal_intercept(np.zeros_like(Y), Y, np.full(n, 1.0 / n))
    optimizer = optimizer.lower()
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd'; got {optimizer!r}")
    if lr is None:
        lr = 1e-2 if optimizer == "adam" else 5e-2
    if batch_size is None and optimizer == "sgd":
        batch_size = 32
    bs = n if batch_size is None else min(int(batch_size), n)
    if eval_every is None:
        eval_every = max(1, max_epochs // 200)
    names = ("W1", "w2", "w3", "b")
    m1 = {k: np.zeros_like(getattr(net, k)) for k in names}
    m2 = {k: np.zeros_like(getattr(net, k)) for k in names}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    train_time = 0.0
    history = [(0.0, 0, objective(net, X, Y, alpha, loss_obj))]
    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        lr_t = lr / (1.0 + lr_decay * (epoch - 1))
        order = rng.permutation(n) if bs < n else None
        for start in range(0, n, bs):
            idx = slice(None) if order is None else order[start:start + bs]
            _, g = loss_and_grads(net, X[idx], Y[idx], alpha, loss_obj, fit_intercept)
            step += 1
            for k in names:
                p = getattr(net, k)
                if optimizer == "adam":
                    m1[k] = beta1 * m1[k] + (1 - beta1) * g[k]
                    m2[k] = beta2 * m2[k] + (1 - beta2) * g[k] ** 2
                    mhat = m1[k] / (1 - beta1 ** step)
                    vhat = m2[k] / (1 - beta2 ** step)
                    p -= lr_t * mhat / (np.sqrt(vhat) + eps)
                else:
                    m1[k] = momentum * m1[k] + g[k]
                    p -= lr_t * m1[k]
            _project(net)
        train_time += time.perf_counter() - t0
        if epoch % eval_every == 0 or epoch == max_epochs:
            history.append((train_time, epoch, objective(net, X, Y, alpha, loss_obj)))
        if max_time is not None and train_time >= max_time:
            if history[-1][1] != epoch:
                history.append((train_time, epoch, objective(net, X, Y, alpha, loss_obj)))
            break
    return TrainResult(net=net, objective=history[-1][2], history=history,
                       optimizer=optimizer, seed=seed, train_time=train_time)

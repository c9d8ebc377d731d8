"""The loss part of the interior point's Newton matrix, three ways, same process.

``Psi^T Hl Psi`` over the working set's lifted columns (group ``g``'s block
is ``mask_g * X``; ``Hl_i = diag(D_i) - R_i R_i^T``, one output or a softmax's
several):

* ``gemm``: numpy products per output, ``(Phi * D).T @ Phi`` (the code before
  this benchmark; numpy does use ``syrk`` for the rank-one part ``Q.T @ Q``);
* ``syrk``: BLAS ``syrk`` for every part (``_add_loss_gram``), half the flops
  of a general product;
* ``pairs``: one product of the pairs' coefficients with the rows' products
  ``x_i x_i^T`` (``_pair_loss_gram``), half of ``syrk``'s flops, used from
  ``PAIR_GRAM_MIN_FEATURES`` features on.

Prints seconds (median of ``--repeats``), ratios against ``gemm`` and the
largest difference relative to the largest entry.  With ``--uci NAME`` (needs
``../shared/data``) it also times whole classifier fits on the set's first
training fold with the pair products on and off (``PAIR_GRAM_MIN_FEATURES``
set to 10**9), alternating.

    python benchmarks/bench_loss_gram.py
    python benchmarks/bench_loss_gram.py --uci spambase --alpha 1e-2
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci121  # noqa: E402

from convexrelu import ConvexDeepReLUClassifier  # noqa: E402
from convexrelu.solvers import _newton_systems  # noqa: E402
from convexrelu.solvers._newton_matrix import (_add_loss_gram, _pair_loss_gram,  # noqa: E402
                                               _pair_products)

#: (rows, features, groups, outputs): a small-d softmax (yeast-like), a
#: binary set with d ~ 60, a d = 30 softmax, the d = 100 benchmark's first set
SHAPES = [(1113, 9, 200, 10), (3000, 58, 40, 1), (2000, 31, 60, 5), (4000, 101, 80, 1)]


def _problem(rng, n, d, A, C):
    X = rng.standard_normal((n, d))
    mask = (rng.random((n, A)) < 0.5).astype(np.int8)
    out_of_group = np.sort(np.arange(A) % C)
    D = rng.random((n, C))
    R = 0.5 * rng.random((n, C)) if C > 1 else None
    return X, mask, out_of_group, D, R


def _gemm(K, X, mask, out_of_group, D, R, chunk):
    d = X.shape[1]
    k = mask.shape[1] * d
    col_out = np.repeat(out_of_group, d)
    for start in range(0, X.shape[0], chunk):
        sl = slice(start, min(X.shape[0], start + chunk))
        Phi = (mask[sl, :, None] * X[sl, None, :]).reshape(-1, k)
        for o in np.unique(out_of_group):
            co = col_out == o
            K[np.ix_(co, co)] += (Phi[:, co] * D[sl, o, None]).T @ Phi[:, co]
        if R is not None:
            Q = Phi * R[sl][:, col_out]
            K -= Q.T @ Q


def _syrk(K, X, mask, out_of_group, D, R, chunk):
    d = X.shape[1]
    k = mask.shape[1] * d
    col_out = np.repeat(out_of_group, d)
    cols = {}
    for o in np.unique(out_of_group):
        g = np.flatnonzero(out_of_group == o)
        cols[int(o)] = slice(g[0] * d, (g[-1] + 1) * d)
    for start in range(0, X.shape[0], chunk):
        sl = slice(start, min(X.shape[0], start + chunk))
        Phi = (mask[sl, :, None] * X[sl, None, :]).reshape(-1, k)
        _add_loss_gram(K, Phi, cols, col_out, None,
                       (D[sl], None if R is None else R[sl]), False)


def _pairs(K, X, mask, out_of_group, D, R, chunk):
    d = X.shape[1]
    A = mask.shape[1]
    XX = _pair_products(X) if X.shape[0] * d * (d + 1) // 2 * 8 <= 2 ** 28 else None
    pair_chunk = max(1, int(2 ** 22 // max(A * (A + 1) // 2, d * (d + 1) // 2)))
    _pair_loss_gram(K, X, XX, mask, out_of_group, (D, R), pair_chunk)


def gram_table(repeats):
    rng = np.random.default_rng(0)
    print(f"{'n':>6}{'d':>5}{'groups':>7}{'C':>4}{'k':>7}{'gemm s':>9}{'syrk s':>9}"
          f"{'pairs s':>9}{'gemm/syrk':>10}{'gemm/pairs':>11}{'max rel diff':>13}")
    for n, d, A, C in SHAPES:
        X, mask, oog, D, R = _problem(rng, n, d, A, C)
        k = A * d
        chunk = max(256, int(2 ** 22 // k), k // 4)
        times = {name: [] for name in ("gemm", "syrk", "pairs")}
        out = {}
        for _ in range(repeats):
            for name, fn in (("gemm", _gemm), ("syrk", _syrk), ("pairs", _pairs)):
                K = np.zeros((k, k))
                t = time.perf_counter()
                fn(K, X, mask, oog, D, R, chunk)
                times[name].append(time.perf_counter() - t)
                out[name] = K
        med = {name: float(np.median(v)) for name, v in times.items()}
        diff = max(np.abs(out[name] - out["gemm"]).max() for name in ("syrk", "pairs"))
        print(f"{n:6d}{d:5d}{A:7d}{C:4d}{k:7d}{med['gemm']:9.3f}{med['syrk']:9.3f}"
              f"{med['pairs']:9.3f}{med['gemm'] / med['syrk']:10.2f}"
              f"{med['gemm'] / med['pairs']:11.2f}{diff / np.abs(out['gemm']).max():13.1e}",
              flush=True)


def fit_table(name, alpha, repeats):
    X, y, folds = load_uci121(name)
    tr = folds[0][0]
    print(f"\n{name}: first training fold, {len(tr)} x {X.shape[1]}, "
          f"{len(np.unique(y))} classes; alpha {alpha}, 40 trained tuples, m = 2, tol 1e-4")
    print(f"{'pair products':<15}{'seconds':>9}{'objective':>16}{'rel gap':>10}")
    default = _newton_systems.PAIR_GRAM_MIN_FEATURES
    times = {True: [], False: []}
    for _ in range(repeats):
        for on in (True, False):
            _newton_systems.PAIR_GRAM_MIN_FEATURES = default if on else 10 ** 9
            est = ConvexDeepReLUClassifier(alpha=alpha, n_patterns=40, n_hidden=2,
                                           patterns="trained", tol=1e-4, random_state=0)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X[tr], y[tr])
            times[on].append(time.perf_counter() - t)
            print(f"{'on' if on else 'off':<15}{times[on][-1]:9.1f}{est.objective_:16.10f}"
                  f"{est.relative_gap_:10.1e}", flush=True)
    _newton_systems.PAIR_GRAM_MIN_FEATURES = default
    print(f"median ratio off / on: {np.median(times[False]) / np.median(times[True]):.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uci", help="also time classifier fits on this UCI-121 set")
    parser.add_argument("--alpha", type=float, default=1e-2)
    parser.add_argument("--fit-repeats", type=int, default=2)
    args = parser.parse_args(argv)
    gram_table(args.repeats)
    if args.uci:
        fit_table(args.uci, args.alpha, args.fit_repeats)


if __name__ == "__main__":
    main()

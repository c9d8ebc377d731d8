"""Cross-entropy Newton systems: dense matrices against the by-output split.

The interior point's Newton matrix for a softmax is block diagonal by output
minus a rank-n term (``newton="outputs"``, see
``convexrelu/solvers/_woodbury.py``); the baseline forms and factorises the
whole matrix (``newton="dense"``).  Same data, same tuples, same alpha, one
process, runs alternating; prints each run's seconds, objective, relative
gap and sub-networks, then the median ratio.

Data: scikit-learn's digits (standardised, the first ``--n`` rows, 10
classes), or a UCI-121 set's first training fold (``--uci NAME``, needs
``../shared/data``).

    python benchmarks/bench_newton.py                           # digits, n = 500
    python benchmarks/bench_newton.py --uci libras --n-patterns 5
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci121  # noqa: E402

from convexrelu import sample_arrangements, solve_convex  # noqa: E402


def data(args):
    if args.uci:
        X, y, folds = load_uci121(args.uci)
        X, y = X[folds[0][0]], y[folds[0][0]]
    else:
        X, y = load_digits(return_X_y=True)
        X, y = X[:args.n], y[:args.n]
        X = StandardScaler().fit_transform(X)
    y = np.unique(y, return_inverse=True)[1]
    return np.hstack([X, np.ones((len(X), 1))]), np.eye(y.max() + 1)[y]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--uci", default=None, help="a UCI-121 set instead of digits")
    p.add_argument("--n", type=int, default=500, help="digits rows (default 500)")
    p.add_argument("--n-patterns", type=int, default=10)
    p.add_argument("--n-hidden", type=int, default=2)
    p.add_argument("--alpha", type=float, default=1e-2)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--modes", default="dense,outputs")
    args = p.parse_args(argv)
    try:
        X, Y = data(args)
    except FileNotFoundError as exc:
        print(f"[skip] {exc}")
        return
    arr = sample_arrangements(X, args.n_patterns, args.n_hidden, random_state=0)
    modes = args.modes.split(",")
    print(f"{args.uci or 'digits'}: n={X.shape[0]} d={X.shape[1]} classes={Y.shape[1]} "
          f"tuples={arr.n_patterns} m={args.n_hidden} alpha={args.alpha:g} tol={args.tol:g}")
    print(f"{'newton':<10}{'seconds':>9}{'objective':>20}{'rel. gap':>10}{'K':>5}")
    times = {mo: [] for mo in modes}
    for _ in range(args.repeats):
        for mo in modes:
            t = time.perf_counter()
            r = solve_convex(X, Y, arr, args.alpha, loss="cross_entropy", fit_intercept=True,
                             tol=args.tol, newton=mo)
            times[mo].append(time.perf_counter() - t)
            print(f"{mo:<10}{times[mo][-1]:>9.2f}{r.objective:>20.12e}{r.relative_gap:>10.1e}"
                  f"{r.n_subnetworks:>5}", flush=True)
    base = np.median(times[modes[0]])
    for mo in modes[1:]:
        print(f"median {modes[0]} / {mo}: {base / np.median(times[mo]):.2f}x")


if __name__ == "__main__":
    main()

"""Cross-entropy Newton systems: dense matrices against the by-output split.

The interior point's Newton matrix for a softmax is block diagonal by output
minus a rank-n term (``newton="outputs"``, see
``convexrelu/solvers/_woodbury.py``); the baseline forms and factorises the
whole matrix (``newton="dense"``; the active-set method's face systems are
then dense too).  ``outputs:dense`` and ``outputs:low_rank`` force how each
output's block is factorised (formed and factorised, or its constraint
blocks plus a rank-n term; ``outputs`` picks per output by the cost
estimate).  Same data, same tuples, same alpha, one process, runs
alternating; prints each run's seconds, objective, relative gap and
sub-networks, then the median ratios against the first mode.

Data: scikit-learn's digits (standardised, the first ``--n`` rows, 10
classes), or a UCI-121 set's first training fold (``--uci NAME``, needs
``../shared/data``).

    python benchmarks/bench_newton.py                           # digits, n = 500
    python benchmarks/bench_newton.py --uci libras --n-patterns 5
    python benchmarks/bench_newton.py --uci flags --n-patterns 40 --alpha 1e-3 --tol 1e-4 \
        --modes dense,outputs:dense,outputs
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci121  # noqa: E402

from convexrelu import sample_arrangements, solve_convex  # noqa: E402
from convexrelu.solvers import _active_set, _woodbury  # noqa: E402


@contextlib.contextmanager
def route(mode):
    """``newton`` for ``mode`` ("dense", "outputs", "outputs:dense", ...), with
    the solver's route choices forced for the duration."""
    newton, _, inner = mode.partition(":")
    saved = _woodbury.output_costs, _active_set._by_output_pays
    if inner:
        _woodbury.output_costs = (lambda n, width, md:
                                  (0.0, 1.0) if inner == "dense" else (1.0, 0.0))
    if newton == "dense":
        _active_set._by_output_pays = lambda n, p, cols: False
    try:
        yield newton
    finally:
        _woodbury.output_costs, _active_set._by_output_pays = saved


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
    print(f"{'newton':<16}{'seconds':>9}{'objective':>20}{'rel. gap':>10}{'K':>5}")
    times = {mo: [] for mo in modes}
    for _ in range(args.repeats):
        for mo in modes:
            with route(mo) as newton:
                t = time.perf_counter()
                r = solve_convex(X, Y, arr, args.alpha, loss="cross_entropy",
                                 fit_intercept=True, tol=args.tol, newton=newton)
                times[mo].append(time.perf_counter() - t)
            print(f"{mo:<16}{times[mo][-1]:>9.2f}{r.objective:>20.12e}{r.relative_gap:>10.1e}"
                  f"{r.n_subnetworks:>5}", flush=True)
    base = np.median(times[modes[0]])
    for mo in modes[1:]:
        print(f"median {modes[0]} / {mo}: {base / np.median(times[mo]):.2f}x")


if __name__ == "__main__":
    main()

"""Loose interior-point rounds while the working set grows: on and off, same problem.

A cold softmax fit (scikit-learn's digits, the first ``--n`` rows, standardised,
10 classes, sampled tuples as the classifier draws them, alpha 1e-3) is solved
twice in one process by the fast solver: with ``loose_while_growing=False``
(only the first round stops at ``first_round_tol``) and with the default
(every interior-point round after which at least ``grow`` blocks violate
their dual constraints is followed by another loose one).  Per run: seconds,
the rounds (working-set size, round tolerance, seconds at its end), the
certified objective and relative gap.

    python benchmarks/bench_loose_rounds.py                 # n = 300, 32 tuples
    python benchmarks/bench_loose_rounds.py --n 200 --n-patterns 16

``--grid-fits diabetes`` (or ``yacht``) instead times the cold fits that
``GridSearchCV`` makes in ``benchmarks/bench_cv.py --n-alphas 20`` (3 folds x
20 alphas, 20 tuples, m = 2, squared loss), off, on, off, on.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from convexrelu import alpha_grid, alpha_max, sample_arrangements, solve_convex


def grid_fits(name):
    """Seconds and rounds of bench_cv.py's GridSearchCV fits, off and on (twice)."""
    from sklearn.model_selection import KFold

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_cv import load

    data = load(name)
    if data is None:
        print(f"{name}: data not found")
        return
    X, y = data
    Xa = np.hstack([X, np.ones((len(X), 1))])
    full = sample_arrangements(Xa, 20, 2, random_state=0)
    grid = alpha_grid(alpha_max(Xa, y, full, fit_intercept=True), n_alphas=20, eps=1e-2)
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    for flag in (False, True, False, True):
        t = time.perf_counter()
        rounds = 0
        for train, _ in folds:
            arr = sample_arrangements(Xa[train], 20, 2, random_state=0)
            for alpha in grid:
                res = solve_convex(Xa[train], y[train], arr, alpha, fit_intercept=True,
                                   tol=1e-6, loose_while_growing=flag)
                rounds += res.n_iter
        print(f"{name}: loose_while_growing={flag!s:5}  60 cold fits {time.perf_counter() - t:6.1f} s"
              f"  rounds {rounds}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--n-patterns", type=int, default=32)
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--grid-fits", default=None)
    args = p.parse_args(argv)
    if args.grid_fits:
        grid_fits(args.grid_fits)
        return
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:args.n])
    Xa = np.hstack([X, np.ones((len(X), 1))])
    arr = sample_arrangements(Xa, args.n_patterns, 2, random_state=0)
    Y = np.eye(10)[y[:args.n]]
    times = {}
    for flag in (False, True):
        t = time.perf_counter()
        res = solve_convex(Xa, Y, arr, args.alpha, loss="cross_entropy", fit_intercept=True,
                           tol=args.tol, loose_while_growing=flag)
        times[flag] = time.perf_counter() - t
        rounds = ", ".join(f"{h['working_set']}@{h['round_tol']:.0e}:{h['seconds']:.1f}s"
                           for h in res.history)
        print(f"loose_while_growing={flag!s:5}  {times[flag]:7.1f} s  objective "
              f"{res.objective:.12e}  gap {res.relative_gap:.1e}  rounds {rounds}", flush=True)
    print(f"ratio off / on: {times[False] / times[True]:.2f}x")


if __name__ == "__main__":
    main()

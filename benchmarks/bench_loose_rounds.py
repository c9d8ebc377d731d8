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
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from convexrelu import sample_arrangements, solve_convex


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--n-patterns", type=int, default=32)
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--tol", type=float, default=1e-6)
    args = p.parse_args(argv)
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

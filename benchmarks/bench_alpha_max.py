"""alpha_max: cone programs solved and seconds, with and without the cheap bounds.

Diabetes (scikit-learn's, standardised, a ones column), sampled tuples
(20 x m=2, 40 x m=3, 100 x m=4), intercept fitted.  ``alpha_max`` solves a
small cone program (Clarabel, by row generation) per block whose upper bound exceeds the
best certified lower bound; the least-squares bounds (multipliers from above,
their residual direction from below) leave few such blocks.  The baseline,
in the same run, orders the blocks by the gated bound only.  One untimed
call first (imports, warm caches).

    python benchmarks/bench_alpha_max.py
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

from convexrelu import sample_arrangements
from convexrelu.path import _alpha_max_details
from convexrelu.solvers import prepare_problem


def main():
    warnings.simplefilter("ignore")
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    Xa = np.hstack([X, np.ones((len(X), 1))])
    print(f"{'tuples':>6} {'m':>2} {'programs':>9} {'s':>7} {'programs (gated)':>17} "
          f"{'s (gated)':>10} {'ratio':>6} {'|diff| / value':>15}")
    for P, m in ((20, 2), (40, 3), (100, 4)):
        arr = sample_arrangements(Xa, P, m, random_state=0)
        _, Y, w, loss, op = prepare_problem(Xa, y, arr, "squared", None)
        _alpha_max_details(op, loss, Y, w, True)          # imports, warms up
        out = {}
        for cheap in (True, False):
            t = time.perf_counter()
            det = _alpha_max_details(op, loss, Y, w, True, least_squares_bounds=cheap)
            out[cheap] = (det, time.perf_counter() - t)
        (a, ta), (b, tb) = out[True], out[False]
        print(f"{P:>6} {m:>2} {a.n_solved:>9} {ta:>7.3f} {b.n_solved:>17} {tb:>10.3f} "
              f"{tb / ta:>5.1f}x {abs(a.value - b.value) / b.value:>15.1e}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()

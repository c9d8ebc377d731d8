"""Peak memory of one fast solve against the sizes of what it holds and returns.

On ``bench_solver.py``'s problems (Gaussian X plus a bias column, 100
sampled tuples, m = 4, squared loss, alpha = 0.1 alpha_max): the traced
Python peak of one solve (tracemalloc), next to the data ``X``, the tuples
(``Arrangements``), the operator's masks (``LiftedOperator``) and the
result's arrays (``u`` and the certificate's multipliers ``lam1``,
``lam2``), in MiB, and the peak's ratio to data plus result.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/memory_vs_result.py --sizes 50000x10,50000x100
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np

from bench_solver import make_problem
from convexrelu import LiftedOperator, solve_convex

MIB = 2 ** 20


def array_bytes(obj):
    return sum(v.nbytes for v in vars(obj).values() if isinstance(v, np.ndarray))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000x10", help="comma-separated NxD")
    args = ap.parse_args()
    print(f"{'n':>6} {'d':>4} {'seconds':>8} {'peak':>8} {'X':>7} {'tuples':>7} {'masks':>7} "
          f"{'result':>7} {'peak / (X + result)':>20}")
    for size in args.sizes.split(","):
        n, d = (int(v) for v in size.split("x"))
        X, y, arr, alpha = make_problem(n, d)
        masks = array_bytes(LiftedOperator(X, arr))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracemalloc.start()
            t = time.perf_counter()
            res = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast", tol=1e-6)
            seconds = time.perf_counter() - t
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result = array_bytes(res)
        print(f"{n:6d} {d:4d} {seconds:8.1f} {peak / MIB:8.1f} {X.nbytes / MIB:7.1f} "
              f"{array_bytes(arr) / MIB:7.1f} {masks / MIB:7.1f} {result / MIB:7.1f} "
              f"{peak / (X.nbytes + result):20.2f}", flush=True)


if __name__ == "__main__":
    main()

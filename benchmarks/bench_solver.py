"""Fast solver vs CVXPY/Clarabel on the same problems, in the same run.

Problems: Gaussian X (n x d) plus a bias column, a two-ReLU target with
noise, 100 sampled tuples with m = 4, squared loss, intercept fitted,
alpha = 0.1 * alpha_max (alpha_max bounded by the largest gated dual norm
at u = 0).  Columns: seconds of each solver (median of ``--repeats``),
their ratio, the relative objective difference, the fast solver's
certified relative gap, and peak Python memory (tracemalloc) of a second,
traced fast solve (the timed ones are untraced: tracing slows every
allocation).

    python benchmarks/bench_solver.py --quick            # n=500, d=10, with Clarabel
    python benchmarks/bench_solver.py --quick --repeats 3   # medians of 3 solves each
    python benchmarks/bench_solver.py --sizes 1000x10,2000x10 --no-clarabel
    python benchmarks/bench_solver.py --sizes 10000x100 --no-clarabel --no-memory --verbose
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np

from convexrelu import LiftedOperator, sample_arrangements, solve_convex
from convexrelu.operator import group_norms

ALL_SIZES = [(n, d) for d in (10, 100) for n in (500, 1000, 2000, 10000, 50000)]
CLARABEL_MAX = (500, 10)     # larger sizes take Clarabel far beyond minutes


def make_problem(n, d, n_patterns=100, m=4, frac=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((n, d))
    y = (np.maximum(X0 @ rng.standard_normal(d) / np.sqrt(d), 0)
         - 0.5 * np.maximum(X0 @ rng.standard_normal(d) / np.sqrt(d), 0)
         + 0.1 * rng.standard_normal(n))
    X = np.hstack([X0, np.ones((n, 1))])
    arr = sample_arrangements(X, n_patterns, m, random_state=seed)
    op = LiftedOperator(X, arr)
    V = ((y - y.mean()) / n)[:, None]
    alpha_max = float(group_norms(op.adjoint(V)).max())
    return X, y, arr, frac * alpha_max


def run(sizes, clarabel, tol, memory=True, verbose=False, frac=0.1, options=None, repeats=1):
    print(f"{'n':>6} {'d':>4} {'fast s':>8} {'clarabel s':>10} {'ratio':>7} "
          f"{'rel obj diff':>12} {'rel gap':>9} {'blocks':>6} {'peak MB':>8}")
    for n, d in sizes:
        X, y, arr, alpha = make_problem(n, d, frac=frac)
        options = options or {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times = []
            for r in range(repeats):
                t = time.perf_counter()
                res = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast",
                                   tol=tol, verbose=verbose and r == 0, **options)
                times.append(time.perf_counter() - t)
            tf = float(np.median(times))
            peak = float("nan")
            if memory:
                # A second, traced solve: tracemalloc slows allocations, so
                # the timed solve above runs untraced.
                tracemalloc.start()
                solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast", tol=tol,
                             **options)
                peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
                tracemalloc.stop()
        tc = ratio = diff = float("nan")
        if clarabel and (n, d) <= CLARABEL_MAX:
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                ref = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="cvxpy",
                                   tol=1e-8)
                times.append(time.perf_counter() - t)
            tc = float(np.median(times))
            ratio = tc / tf
            diff = (res.objective - ref.objective) / abs(ref.objective)
        print(f"{n:6d} {d:4d} {tf:8.2f} {tc:10.2f} {ratio:7.1f} {diff:12.2e} "
              f"{res.relative_gap:9.1e} {res.n_subnetworks:6d} {peak:8.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only n=500, d=10")
    ap.add_argument("--sizes", help="comma-separated NxD, e.g. 1000x10,2000x100")
    ap.add_argument("--no-clarabel", action="store_true", help="skip the reference")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--no-memory", action="store_true",
                    help="skip the second, traced solve that measures peak memory")
    ap.add_argument("--verbose", action="store_true",
                    help="print the fast solver's rounds (timed solve only)")
    ap.add_argument("--frac", type=float, default=0.1,
                    help="alpha as a fraction of the gated bound (default 0.1)")
    ap.add_argument("--initial-blocks", type=int,
                    help="the fast solver's first working set (default: its own)")
    ap.add_argument("--grow", type=int, help="blocks added per round (default: its own)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="timed solves per solver and size; the median is printed")
    args = ap.parse_args()
    options = {k: v for k, v in (("initial_blocks", args.initial_blocks),
                                 ("grow", args.grow)) if v is not None}
    if args.sizes:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    elif args.quick:
        sizes = [(500, 10)]
    else:
        sizes = ALL_SIZES
    run(sizes, not args.no_clarabel, args.tol, memory=not args.no_memory,
        verbose=args.verbose, frac=args.frac, options=options, repeats=args.repeats)


if __name__ == "__main__":
    main()

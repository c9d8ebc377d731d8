"""Where the fast solver's peak memory comes from, phase by phase.

The benchmark problem of ``bench_solver.py`` (d = 10, 100 tuples, m = 4) is
solved under tracemalloc; every call of the solver's phases (restricted
interior point, active-set method, pricing, multiplier polish, duality gaps)
records the traced memory when it starts and the peak it reaches.  Printed:
per phase, the largest of each (MiB), then the overall peak, the memory the
result holds and the size of one ``n x blocks x m`` array (the multipliers
``lam1``), the unit most of the solver's arrays come in.

    python benchmarks/memory_by_phase.py --n 10000
"""

import argparse
import functools
import tracemalloc
import warnings

import convexrelu.solvers as solvers
import convexrelu.solvers.fast as fast
from bench_solver import make_problem
from convexrelu import solve_convex

MIB = 2 ** 20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--d", type=int, default=10)
    args = ap.parse_args(argv)
    at_start, peak = {}, {}

    def traced(module, name, label):
        func = getattr(module, name)

        @functools.wraps(func)
        def wrapper(*a, **k):
            current = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            try:
                return func(*a, **k)
            finally:
                top = tracemalloc.get_traced_memory()[1]
                at_start[label] = max(at_start.get(label, 0), current)
                peak[label] = max(peak.get(label, 0), top)
        setattr(module, name, wrapper)

    traced(fast, "solve_restricted_barrier", "interior point")
    traced(fast, "solve_restricted_active_set", "active-set method")
    traced(fast, "price_blocks", "pricing (strays)")
    traced(fast, "price_into", "pricing (zero blocks)")
    traced(fast, "polish_multipliers", "multiplier polish")
    traced(fast, "duality_gap", "duality gap (each round)")
    traced(solvers, "duality_gap", "duality gap (final)")
    X, y, arr, alpha = make_problem(args.n, args.d)
    warnings.simplefilter("ignore")
    tracemalloc.start()
    res = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast", tol=1e-6)
    held, last = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Each phase resets tracemalloc's peak, so the overall one is the largest seen.
    overall = max([last] + list(peak.values()))
    print(f"n = {args.n}, d = {args.d}: traced peak {overall / MIB:.0f} MiB")
    print(f"{'phase':28}{'at start':>10}{'peak':>10}")
    for label in peak:
        print(f"{label:28}{at_start[label] / MIB:10.0f}{peak[label] / MIB:10.0f}")
    print(f"held by the result: {held / MIB:.0f} MiB; one n x blocks x m array (lam1): "
          f"{res.lam1.nbytes / MIB:.0f} MiB; X: {X.nbytes / MIB:.1f} MiB")


if __name__ == "__main__":
    main()

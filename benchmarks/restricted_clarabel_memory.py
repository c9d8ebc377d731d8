"""Peak memory of the fast solver's exact fallback (Clarabel on a working set).

When a round's interior point fails, :func:`convexrelu.solvers._restricted.solve_restricted`
solves the round's program with CVXPY and Clarabel, forming the restricted
lifted columns and every constraint row.  The fast solver refuses that
fallback when :func:`~convexrelu.solvers._restricted.restricted_clarabel_bytes`
(``CLARABEL_BYTES_PER_ENTRY`` bytes per entry ``n B m d``) exceeds the
available memory.  This script measures the resident peak (``ru_maxrss``
growth, each size in a fresh process) of a squared-loss round on every block
of ``bench_solver.make_problem`` and prints it per entry and against the
estimate.  ``--loss cross_entropy`` measures a softmax round instead (the
targets' quartiles as 4 classes, a quarter of the patterns per class, so the
same number of blocks), whose exponential cones add ``n x C`` rows.

    python benchmarks/restricted_clarabel_memory.py [--loss cross_entropy]
"""

import argparse
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

SIZES = [(200, 20, 25), (400, 20, 25), (200, 20, 50)]


CLASSES = 4


def measure(n, d, P, loss="squared"):
    """``(entries, B, m, d, peak bytes, seconds, status)`` of one fallback solve, in
    this process (``d`` with the bias column)."""
    from bench_solver import make_problem
    from convexrelu.losses import get_loss
    from convexrelu.operator import LiftedOperator
    from convexrelu.solvers._restricted import solve_restricted

    C = 1 if loss == "squared" else CLASSES
    X, y, arr, alpha = make_problem(n, d, n_patterns=P // C, m=4)
    if C == 1:
        Y = y[:, None]
    else:
        codes = np.searchsorted(np.quantile(y, [0.25, 0.5, 0.75]), y)
        Y = np.eye(C)[codes]
    op = LiftedOperator(X, arr, n_outputs=C)
    blocks = np.arange(op.n_outputs * 2 * op.n_patterns)
    B, m, dd = len(blocks), op.n_hidden, op.n_features
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = solve_restricted(op, get_loss(loss), Y, np.full(n, 1.0 / n), alpha,
                               blocks, np.ones((n, B, m), bool), np.ones((n, B), bool),
                               fit_intercept=True, tol=1e-8)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return n * B * m * dd, B, m, dd, peak, time.perf_counter() - t0, out[4]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loss", choices=["squared", "cross_entropy"], default="squared")
    ap.add_argument("--one", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(*measure(*args.one, loss=args.loss))
        return
    from convexrelu.solvers._restricted import CLARABEL_BYTES_PER_ENTRY, restricted_clarabel_bytes

    print(f"{'n':>5} {'B':>4} {'m':>2} {'d':>3} {'entries':>9} {'peak MiB':>9} "
          f"{'B/entry':>8} {'estimate MiB':>12} {'peak/est':>8} {'s':>6}  status")
    for n, d, P in SIZES:
        line = subprocess.run([sys.executable, __file__, "--loss", args.loss,
                               "--one", str(n), str(d), str(P)],
                              capture_output=True, text=True, check=True).stdout.split()
        entries, B, m, dd, peak = (int(v) for v in line[:5])
        sec, status = float(line[5]), line[6]
        est = restricted_clarabel_bytes(n, B, m, dd)
        print(f"{n:>5} {B:>4} {m:>2} {dd:>3} {entries:>9} {peak / 2**20:>9.0f} "
              f"{peak / entries:>8.0f} {est / 2**20:>12.0f} {peak / est:>8.2f} {sec:>6.1f}"
              f"  {status}")
    print(f"CLARABEL_BYTES_PER_ENTRY = {CLARABEL_BYTES_PER_ENTRY}")


if __name__ == "__main__":
    main()

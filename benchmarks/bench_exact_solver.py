"""Enumerated tuples (``patterns="exact"``): the fast solver against CVXPY/Clarabel.

Small random problems (X standard normal plus a bias column, a smooth
target: the value for ``squared``, its sign for ``logistic``, its terciles
for ``cross_entropy``), every tuple enumerated (``enumerate_arrangements``),
alpha 1e-2, ``tol=1e-6``, intercept fitted; each solver in the same process,
one after the other.  Columns: tuples, seconds and certified relative gap of
each, and the relative objective difference (fast minus CVXPY over CVXPY).

    python benchmarks/bench_exact_solver.py
    python benchmarks/bench_exact_solver.py --small --alpha 1e-3
    python benchmarks/bench_exact_solver.py --cases logistic:40:2:1 --no-cvxpy

``--cases`` takes ``loss:n:d:m`` items, comma-separated (``--small``: the
tiniest data with m = 2).  CVXPY cannot be
interrupted inside Clarabel: drop ``--no-cvxpy`` only for cases it can do.
``--classifier`` instead fits ``ConvexDeepReLUClassifier(patterns="exact",
n_hidden=1)`` (default alpha 1e-3, logistic loss) on 25 random points in 2-D
with each solver (CVXPY took minutes there):

    python benchmarks/bench_exact_solver.py --classifier

``--enumeration`` times ``enumerate_arrangements`` itself on random data
with a bias column: by linear programs only (the incremental splitting),
then with witnesses moved across a hyperplane sparing LPs where they stay
inside, then also with the first-layer cells found around the
arrangement's vertices (the default):

    python benchmarks/bench_exact_solver.py --enumeration
"""

import argparse
import time
import warnings

import numpy as np

from convexrelu import ConvexDeepReLUClassifier, enumerate_arrangements, solve_convex

DEFAULT_CASES = ("squared:15:2:1,squared:25:2:1,squared:40:2:1,squared:20:3:1,squared:5:2:2,"
                 "squared:6:2:2,logistic:15:2:1,logistic:25:2:1,logistic:5:2:2,"
                 "cross_entropy:15:2:1")
#: the README's second block (with --alpha 1e-3)
SMALL_CASES = ("squared:4:1:2,squared:6:1:2,squared:8:1:2,squared:4:2:2,squared:5:2:2,"
               "squared:5:3:2,logistic:4:1:2,logistic:6:1:2,logistic:8:1:2,logistic:4:2:2,"
               "logistic:5:3:2,cross_entropy:6:1:2,cross_entropy:4:2:2")


def make_case(loss, n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Xa = np.hstack([X, np.ones((n, 1))])
    f = np.sin(2 * X[:, 0]) + (X[:, 1] ** 2 if d > 1 else 0.0) - 1.0
    if loss == "squared":
        y = f
    elif loss == "logistic":
        y = np.where(f > np.median(f), 1.0, -1.0)
    else:
        y = np.eye(3)[np.digitize(f, np.quantile(f, [1 / 3, 2 / 3]))]
    return Xa, y


ENUMERATION_CASES = [(4, 2, 2), (5, 2, 2), (6, 2, 2), (40, 2, 1), (20, 3, 1)]


def enumeration_times():
    """``enumerate_arrangements``: LPs only, with witnesses moved across, with the vertex route."""
    from convexrelu import enumeration

    by_vertices, across = enumeration._cells_by_vertices, enumeration._across
    print(f"{'n':>3} {'d':>2} {'m':>2} {'tuples':>6} {'LPs only s':>10} {'+ moves s':>9} "
          f"{'+ vertices s':>12}")
    for n, d, m in ENUMERATION_CASES:
        X = np.random.default_rng(0).standard_normal((n, d))
        Xa = np.hstack([X, np.ones((n, 1))])
        seconds = []
        for vertices, moves in ((False, False), (False, True), (True, True)):
            enumeration._cells_by_vertices = by_vertices if vertices else (lambda *args: None)
            enumeration._across = across if moves else (lambda *args: None)
            enumeration._CACHE.clear()
            t = time.perf_counter()
            arr = enumerate_arrangements(Xa, m, max_patterns=20_000)
            seconds.append(time.perf_counter() - t)
        enumeration._cells_by_vertices, enumeration._across = by_vertices, across
        print(f"{n:3d} {d:2d} {m:2d} {arr.n_patterns:6d} {seconds[0]:10.2f} {seconds[1]:9.2f} "
              f"{seconds[2]:12.2f}", flush=True)


def classifier_fits():
    """The exact-mode classifier with each solver, on 25 random points in 2-D."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((25, 2))
    y = (X[:, 0] - X[:, 1] ** 2 > 0).astype(int)
    for solver in ("fast", "cvxpy"):
        t = time.perf_counter()
        clf = ConvexDeepReLUClassifier(patterns="exact", n_hidden=1, solver=solver,
                                       random_state=0).fit(X, y)
        print(f"{solver}: {time.perf_counter() - t:.1f} s, {clf.n_patterns_} tuples, "
              f"objective {clf.objective_:.10f}, relative gap {clf.relative_gap_:.1e}",
              flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=DEFAULT_CASES)
    p.add_argument("--alpha", type=float, default=1e-2)
    p.add_argument("--no-cvxpy", action="store_true")
    p.add_argument("--small", action="store_true", help="the cases of SMALL_CASES")
    p.add_argument("--classifier", action="store_true")
    p.add_argument("--enumeration", action="store_true")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.classifier:
        classifier_fits()
        return
    if args.enumeration:
        enumeration_times()
        return
    solvers = ["fast"] + ([] if args.no_cvxpy else ["cvxpy"])
    print(f"{'loss':>13} {'n':>3} {'d':>2} {'m':>2} {'tuples':>6} "
          + " ".join(f"{s + ' s':>8} {s + ' gap':>9}" for s in solvers)
          + (f" {'rel obj diff':>12}" if len(solvers) == 2 else ""))
    for item in (SMALL_CASES if args.small else args.cases).split(","):
        loss, n, d, m = item.split(":")
        n, d, m = int(n), int(d), int(m)
        Xa, y = make_case(loss, n, d)
        arr = enumerate_arrangements(Xa, m, max_patterns=20_000)
        row = f"{loss:>13} {n:3d} {d:2d} {m:2d} {arr.n_patterns:6d}"
        objective = {}
        for solver in solvers:
            t = time.perf_counter()
            res = solve_convex(Xa, y, arr, args.alpha, loss=loss, fit_intercept=True,
                               solver=solver, tol=1e-6)
            row += f" {time.perf_counter() - t:8.2f} {res.relative_gap:9.1e}"
            objective[solver] = res.objective
        if len(objective) == 2:
            row += f" {(objective['fast'] - objective['cvxpy']) / abs(objective['cvxpy']):12.1e}"
        print(row, flush=True)


if __name__ == "__main__":
    main()

"""Two checkouts of convexrelu on the same fits: CPU seconds, objectives, ratios.

Each fit runs in a fresh subprocess whose ``PYTHONPATH`` is one checkout,
single-threaded BLAS, the checkouts alternating fit by fit (so a change in
the machine's load hits both about equally), ``--repeats`` times.  Prints
every fit's CPU seconds and certified objective per checkout, the median
ratio (first checkout / second) per problem, and the geometric mean of the
ratios.  Objectives must agree to the fits' certificates (``tol``).

Problems (``--problems``):

* ``digits:N``: a softmax fit on the first ``N`` rows of scikit-learn's
  digits (standardised, 10 classes), 32 sampled tuples, m = 2, alpha 1e-3,
  tol 1e-6 (``bench_loose_rounds.py``'s problem);
* ``solver:NxD``: ``bench_solver.py``'s problem of that size (100 sampled
  patterns, m = 4, squared loss, tol 1e-6), the fast solver's solve;
* ``NAME:ALPHA:PATTERNS``: ``ConvexDeepReLUClassifier(alpha, n_patterns=40,
  n_hidden=2, patterns=PATTERNS, tol=1e-4, random_state=0)`` fit on the
  first training fold of the UCI-121 set ``NAME`` (skipped without
  ``../shared/data``), as ``uci121.py`` fits it; ``NAME:ALPHA:PATTERNS:ROWS``
  keeps ``ROWS`` of the fold's rows, drawn at random (seed 0; the size of
  an inner-CV fit);
* ``wide:NxD``: a regression on ``N`` standard normal rows of ``D`` features
  and a ones column (``D`` > ``N``: wide data), 16 sampled tuples, m = 2,
  alpha 1e-2, tol 1e-6.

    git worktree add /tmp/base HEAD~1
    python benchmarks/bench_versions.py /tmp/base . --problems digits:300 \\
        conn-bench-vowel-deterding:1e-2:trained --repeats 2
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def run_one(spec):
    """Fit problem ``spec`` with the importable convexrelu; a dict of results."""
    from convexrelu import ConvexDeepReLUClassifier, sample_arrangements, solve_convex

    if spec.startswith("digits:"):
        from sklearn.datasets import load_digits
        from sklearn.preprocessing import StandardScaler

        n = int(spec.split(":")[1])
        X, y = load_digits(return_X_y=True)
        X = StandardScaler().fit_transform(X[:n])
        Xa = np.hstack([X, np.ones((n, 1))])
        arr = sample_arrangements(Xa, 32, 2, random_state=0)
        t = time.process_time()
        res = solve_convex(Xa, np.eye(10)[y[:n]], arr, 1e-3, loss="cross_entropy",
                           fit_intercept=True, tol=1e-6)
        return dict(cpu=time.process_time() - t, objective=res.objective,
                    rel_gap=res.relative_gap, rounds=res.n_iter, tol=1e-6)
    sys.path.insert(0, str(HERE))
    if spec.startswith("wide:"):
        n, d = (int(v) for v in spec.split(":")[1].split("x"))
        rng = np.random.default_rng(0)
        X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
        y = np.maximum(X[:, :5].sum(axis=1) / 5 ** 0.5, 0) + 0.1 * rng.standard_normal(n)
        arr = sample_arrangements(X, 16, 2, random_state=0)
        t = time.process_time()
        res = solve_convex(X, y, arr, 1e-2, fit_intercept=True, tol=1e-6)
        return dict(cpu=time.process_time() - t, objective=res.objective,
                    rel_gap=res.relative_gap, rounds=res.n_iter, tol=1e-6)
    if spec.startswith("solver:"):
        from bench_solver import make_problem

        n, d = (int(v) for v in spec.split(":")[1].split("x"))
        X, y, arr, alpha = make_problem(n, d)
        t = time.process_time()
        res = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast", tol=1e-6)
        return dict(cpu=time.process_time() - t, objective=res.objective,
                    rel_gap=res.relative_gap, rounds=res.n_iter, tol=1e-6)
    from datasets import load_uci121

    name, alpha, patterns, *rows = spec.split(":")
    try:
        X, y, folds = load_uci121(name)
    except FileNotFoundError:
        return None
    train = folds[0][0]
    if rows:
        train = np.random.default_rng(0).permutation(train)[:int(rows[0])]
    clf = ConvexDeepReLUClassifier(alpha=float(alpha), n_patterns=40, n_hidden=2,
                                   patterns=patterns, tol=1e-4, random_state=0)
    t = time.process_time()
    clf.fit(X[train], y[train])
    return dict(cpu=time.process_time() - t, objective=clf.objective_,
                rel_gap=clf.relative_gap_, rounds=clf.n_iter_, tol=1e-4)


def in_subprocess(checkout, spec):
    env = dict(os.environ, PYTHONPATH=str(Path(checkout).resolve()),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--worker", spec], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkouts", nargs="*", help="two checkout directories (first = baseline)")
    p.add_argument("--problems", nargs="+", default=["digits:300"])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(run_one(args.worker)))
        return
    if len(args.checkouts) != 2:
        p.error("give two checkouts")
    a, b = args.checkouts
    print(f"baseline {a}, candidate {b}; CPU seconds, single-threaded BLAS")
    print(f"{'problem':42} {'rep':>3} {'base s':>8} {'cand s':>8} {'ratio':>6} "
          f"{'base objective':>16} {'cand objective':>16} {'rel diff':>8}")
    ratios = {}
    for rep in range(args.repeats):
        for spec in args.problems:
            ra = in_subprocess(a, spec)
            if ra is None:
                print(f"{spec:42} data not found")
                continue
            rb = in_subprocess(b, spec)
            ratio = ra["cpu"] / rb["cpu"]
            ratios.setdefault(spec, []).append(ratio)
            diff = abs(ra["objective"] - rb["objective"]) / abs(ra["objective"])
            print(f"{spec:42} {rep:3d} {ra['cpu']:8.2f} {rb['cpu']:8.2f} {ratio:6.2f} "
                  f"{ra['objective']:16.10f} {rb['objective']:16.10f} {diff:8.1e}", flush=True)
    if ratios:
        print("median ratio per problem (baseline / candidate):")
        for spec, rs in ratios.items():
            print(f"  {spec:40} {np.median(rs):6.2f}")
        meds = [np.median(rs) for rs in ratios.values()]
        print(f"geometric mean of the medians: {np.exp(np.mean(np.log(meds))):.2f}")


if __name__ == "__main__":
    main()

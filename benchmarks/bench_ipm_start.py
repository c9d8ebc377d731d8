"""The interior point's start, with and without its balancing, same process.

A start from generating weights (every fit with sampled or trained tuples)
raises groups below ``START_GROUP_RATIO`` of their block's largest, blocks
below ``START_BLOCK_RATIO`` of the largest block, and treats slacks below
``START_SLACK_FLOOR`` times their group's median as that floor when it sets
the first multipliers (``convexrelu/solvers/_interior_start.py``).
"Plain" sets all three to zero (the start before them).  For each problem, both
settings in turn (the order alternates), then: Newton steps of every
interior-point solve of the fit (counted from their verbose lines), wall
seconds, their ratios (plain / balanced) and the relative difference of the
certified objectives (each fit is certified to its ``tol``).

Problems: ``NAME:ALPHA:PATTERNS`` is a ``ConvexDeepReLUClassifier`` fit
(40 tuples, m = 2, tol 1e-4) on the first training fold of a UCI set of
``../shared/data`` (skipped when absent); ``dead`` is a three-class problem
whose tuples each have a neuron with second-layer weight 1e-14; ``bench500``
is ``bench_solver.py``'s n = 500, d = 10 problem; ``wine`` scikit-learn's
wine (standardised, sampled tuples, alpha 1e-3).

``benchN`` (e.g. ``bench10000``) is the benchmark problem with N rows.
``deadblock`` is a regression problem one of whose tuples' generating
sub-networks has all its weights ~1e-20 (dead in training).  ``fashionN:K``
is class K against the rest on N Fashion-MNIST training images (PCA 100,
standardised; 16 trained tuples, squared loss, alpha 2e-3, tol 1e-3, as one
class of the README's one-vs-rest fits; needs ``dataset-fashion-mnist``).
``--other RATIO,FLOOR[,BLOCK]`` replaces the plain start by another setting
of the constants (BLOCK defaults to 0; the column is still headed "plain").

    python benchmarks/bench_ipm_start.py
    python benchmarks/bench_ipm_start.py --problems audiology-std:1e-2:trained yeast:1e-2:trained
    python benchmarks/bench_ipm_start.py --other 0.01,0.003 --problems bench2000 bench10000
    python benchmarks/bench_ipm_start.py --other 0.01,0.1,0 --problems deadblock fashion20000:0
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_solver import make_problem  # noqa: E402
from datasets import load_uci121, uci121_root  # noqa: E402
from ipm_steps import COUNT, counting_solve  # noqa: E402
from paper_data import DataUnavailable, fashion_mnist_pixels  # noqa: E402

import convexrelu.solvers._interior_start as barrier  # noqa: E402
import convexrelu.solvers._zero_groups as zero_groups  # noqa: E402
import convexrelu.solvers.fast as fast  # noqa: E402
from convexrelu import Arrangements, ConvexDeepReLUClassifier, solve_convex  # noqa: E402

DEFAULT = ["dead", "bench500", "wine",
           "glass:1e-2:trained", "ecoli:1e-2:trained", "seeds:1e-3:trained",
           "dermatology:1e-2:trained", "flags:1e-2:trained", "led-display:1e-2:trained",
           "breast-cancer-wisc:1e-3:trained", "glass:1e-3:sample",
           "statlog-vehicle:1e-2:sample", "conn-bench-vowel-deterding:1e-2:trained",
           "primary-tumor:1e-2:trained", "pima:1e-2:trained", "yeast:1e-2:trained",
           "statlog-vehicle:1e-3:trained", "audiology-std:1e-2:trained"]



def _dead(seed=0, n=300, d=8, m=2, n_patterns=20):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    score = np.maximum(X[:, 0], 0) - 0.7 * np.maximum(X[:, 1] - 0.3, 0)
    lab = np.digitize(score + 0.3 * rng.standard_normal(n), np.quantile(score, [1 / 3, 2 / 3]))
    W1 = rng.standard_normal((n_patterns, d + 1, m))
    w2 = rng.standard_normal((n_patterns, m))
    w2[:, 0] *= 1e-14
    return X, np.eye(3)[lab], Arrangements.from_weights(X, W1, w2)


def _dead_block(seed=0, n=300, d=8, m=2, n_patterns=20):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    y = np.maximum(X[:, 0], 0) - 0.7 * np.maximum(X[:, 1] - 0.3, 0) + 0.1 * rng.standard_normal(n)
    W1 = rng.standard_normal((n_patterns, d + 1, m))
    w2 = rng.standard_normal((n_patterns, m))
    w2[0] *= 1e-20
    return X, y, Arrangements.from_weights(X, W1, w2)


def _fashion(n, k):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    Xtr, ytr, _, _ = fashion_mnist_pixels(n)
    A = make_pipeline(PCA(100, random_state=0), StandardScaler()).fit_transform(Xtr)
    clf = ConvexDeepReLUClassifier(n_patterns=16, alpha=2e-3, loss="squared", tol=1e-3,
                                   random_state=0)
    return clf.fit(A, np.where(ytr == k, 1, -1)).objective_


def fit(problem):
    """The certified objective of one problem's fit."""
    if problem == "dead":
        X, Y, arr = _dead()
        return solve_convex(X, Y, arr, 1e-2, loss="cross_entropy", fit_intercept=True,
                            tol=1e-6).objective
    if problem == "deadblock":
        X, y, arr = _dead_block()
        return solve_convex(X, y, arr, 1e-2, fit_intercept=True, tol=1e-6).objective
    if problem.startswith("fashion"):
        n, k = problem[7:].split(":")
        return _fashion(int(n), int(k))
    if problem.startswith("bench"):
        X, y, arr, alpha = make_problem(int(problem[5:]), 10)
        return solve_convex(X, y, arr, alpha, fit_intercept=True, tol=1e-6).objective
    if problem == "wine":
        X, y = load_wine(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        clf = ConvexDeepReLUClassifier(n_patterns=40, n_hidden=2, alpha=1e-3, tol=1e-4,
                                       patterns="sample", random_state=0)
        return clf.fit(X, y).objective_
    name, alpha, patterns = problem.split(":")
    X, y, folds = load_uci121(name)
    train = folds[0][0]
    clf = ConvexDeepReLUClassifier(n_patterns=40, n_hidden=2, patterns=patterns,
                                   alpha=float(alpha), tol=1e-4, random_state=0)
    return clf.fit(X[train], y[train]).objective_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=DEFAULT)
    parser.add_argument("--other", default="0,0,0",
                        help="START_GROUP_RATIO,START_SLACK_FLOOR[,START_BLOCK_RATIO] of the "
                             "'plain' column")
    args = parser.parse_args(argv)
    fast.solve_restricted_barrier = counting_solve
    zero_groups.solve_restricted_barrier = counting_solve
    other = [float(v) for v in args.other.split(",")]
    settings = {"balanced": (barrier.START_GROUP_RATIO, barrier.START_SLACK_FLOOR,
                             barrier.START_BLOCK_RATIO),
                "plain": tuple(other + [0.0] * (3 - len(other)))}
    have_data = uci121_root().exists()
    warnings.simplefilter("ignore")
    print(f"{'problem':40s} {'steps plain':>11s} {'balanced':>9s} {'ratio':>6s} "
          f"{'s plain':>8s} {'balanced':>9s} {'ratio':>6s} {'rel obj diff':>12s}")
    tot = {"plain": [0, 0.0], "balanced": [0, 0.0]}
    for i, problem in enumerate(args.problems):
        if ":" in problem and not problem.startswith("fashion") and not have_data:
            print(f"{problem:40s} skipped (no ../shared/data)")
            continue
        res = {}
        order = ["plain", "balanced"] if i % 2 == 0 else ["balanced", "plain"]
        for name in order:
            (barrier.START_GROUP_RATIO, barrier.START_SLACK_FLOOR,
             barrier.START_BLOCK_RATIO) = settings[name]
            COUNT["steps"] = 0
            t = time.perf_counter()
            try:
                obj = fit(problem)
            except DataUnavailable as exc:
                print(f"{problem:40s} skipped ({exc})")
                break
            res[name] = (COUNT["steps"], time.perf_counter() - t, obj)
            tot[name][0] += res[name][0]
            tot[name][1] += res[name][1]
        if len(res) < 2:
            continue
        p, b = res["plain"], res["balanced"]
        print(f"{problem:40s} {p[0]:11d} {b[0]:9d} {p[0] / max(b[0], 1):6.2f} "
              f"{p[1]:8.2f} {b[1]:9.2f} {p[1] / b[1]:6.2f} "
              f"{abs(p[2] - b[2]) / abs(p[2]):12.1e}", flush=True)
    (barrier.START_GROUP_RATIO, barrier.START_SLACK_FLOOR,
     barrier.START_BLOCK_RATIO) = settings["balanced"]
    p, b = tot["plain"], tot["balanced"]
    print(f"{'total':40s} {p[0]:11d} {b[0]:9d} {p[0] / max(b[0], 1):6.2f} "
          f"{p[1]:8.2f} {b[1]:9.2f} {p[1] / max(b[1], 1e-9):6.2f}")


if __name__ == "__main__":
    main()

"""Memory estimate of the default solver against traced peaks of real fits.

For each shape (n samples, d features, C outputs, P patterns, m hidden
units, loss) fit the estimator once with ``memory_limit=None`` under
``tracemalloc`` and print the traced peak next to
:func:`convexrelu.memory.estimate_fit_memory` and their ratio (the
estimators refuse a fit whose estimate exceeds ``memory_limit``, half the
available memory by default, so the ratio should be a little above one).

    python benchmarks/bench_memory.py            # eight shapes, ~10 minutes
    python benchmarks/bench_memory.py --exact    # enumerated tuples, binary classifier

``--exact`` fits ``ConvexDeepReLUClassifier(patterns="exact")`` (logistic
loss, the fast solver) on tiny random data instead: (n, d, m) shapes whose
enumerations hold 541 to 3124 tuples.
"""

import argparse
import time
import warnings

import numpy as np

from convexrelu import ConvexDeepReLUClassifier, ConvexDeepReLURegressor
from convexrelu.memory import estimate_fit_memory, traced_peak

SHAPES = [(5000, 30, 10, 16, 2, "squared"), (5000, 10, 1, 50, 4, "squared"),
          (10000, 10, 1, 50, 4, "squared"), (3000, 10, 4, 20, 2, "log_loss"),
          # wide data and many classes: the working set's Newton systems dominate
          (1000, 100, 1, 32, 2, "squared"), (400, 30, 5, 20, 2, "log_loss"),
          (150, 200, 6, 16, 2, "log_loss"), (200, 120, 10, 16, 2, "log_loss")]
EXACT_SHAPES = [(6, 1, 2), (8, 1, 2), (5, 2, 2), (20, 2, 1), (40, 2, 1)]


def exact_fits():
    """The estimate against traced peaks of exact-mode binary classifier fits."""
    print(f"{'n':>3} {'d':>2} {'m':>2} {'tuples':>6} {'peak MiB':>9} {'estimate MiB':>12} "
          f"{'ratio':>6} {'fit s':>6}")
    for n, d, m in EXACT_SHAPES:
        X = np.random.default_rng(0).standard_normal((n, d))
        y = (np.sin(2 * X[:, 0]) > 0).astype(int)
        est = ConvexDeepReLUClassifier(patterns="exact", n_hidden=m, memory_limit=None,
                                       random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # (imports and caches first: not counted)
            ConvexDeepReLUClassifier(n_patterns=2, n_hidden=m, random_state=0).fit(X, y)
            t = time.perf_counter()
            _, peak = traced_peak(est.fit, X, y)
            seconds = time.perf_counter() - t
        estimate = estimate_fit_memory(n, d + 1, 1, est.n_patterns_, m, loss="logistic")
        print(f"{n:3d} {d:2d} {m:2d} {est.n_patterns_:6d} {peak / 2**20:9.2f} "
              f"{estimate / 2**20:12.2f} {estimate / peak:6.2f} {seconds:6.1f}", flush=True)


def main():
    rng = np.random.default_rng(0)
    print(f"{'n':>6} {'d':>3} {'C':>3} {'P':>3} {'m':>2} {'loss':>8} {'peak MiB':>9} "
          f"{'estimate MiB':>12} {'ratio':>6} {'fit s':>6}")
    for n, d, C, P, m, loss in SHAPES:
        X = rng.standard_normal((n, d))
        common = dict(n_patterns=P, n_hidden=m, alpha=1e-3, patterns="sample", random_state=0,
                      memory_limit=None)
        if C == 1:
            y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n)
            est, name = ConvexDeepReLURegressor(**common), "squared"
        else:
            y = rng.integers(0, C, n)
            est = ConvexDeepReLUClassifier(loss=loss, **common)
            name = "squared" if loss == "squared" else "cross_entropy"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            _, peak = traced_peak(est.fit, X, y)
            seconds = time.perf_counter() - t
        estimate = estimate_fit_memory(n, d + 1, C, P, m, loss=name)
        print(f"{n:6d} {d:3d} {C:3d} {P:3d} {m:2d} {loss:>8} {peak / 2**20:9.0f} "
              f"{estimate / 2**20:12.0f} {estimate / peak:6.2f} {seconds:6.0f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exact", action="store_true", help="exact-mode classifier fits")
    if parser.parse_args().exact:
        exact_fits()
    else:
        main()

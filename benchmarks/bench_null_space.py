"""Squared-loss fits where ``X`` has a null space: the interior point's step check.

Where ``X u = 0`` for some ``u`` (fewer rows than features, or collinear
features) the squared loss and the pattern rows do not change along ``u``,
only the group norms do, and unchecked Newton steps can run off along it.
The interior point checks its steps against its barrier function there
(``LiftedOperator.flat_directions``); this script solves the same problems
with that check (default) and with ``flat_directions`` forced to False (the
check then starts only at the first Newton matrix that needs a ridge), in
one process, alternating, each at every alpha of ``--alphas``, and prints CPU seconds (median of ``--repeats``),
interior-point Newton steps, the inner solver of each round (i: interior
point, a: active-set method, c: Clarabel) and the objective.  Problems with
full-rank ``X`` are included as controls: there both settings take the same
steps.

    python benchmarks/bench_null_space.py

``--pipeline`` fits ``make_pipeline(column transformer with StandardScaler and
OneHotEncoder, ConvexDeepReLURegressor(alpha))`` on the one-hot problems
instead, with whatever ``convexrelu`` is importable (set ``PYTHONPATH`` to
another checkout to compare versions), and prints CPU seconds, the
objective and the duality gap:

    python benchmarks/bench_null_space.py --pipeline
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

import convexrelu.solvers._barrier as barrier
import convexrelu.solvers.fast as fast
from convexrelu import LiftedOperator, sample_arrangements, solve_convex
from ipm_steps import COUNT, counting_solve

def problems():
    rng = np.random.default_rng(0)
    out = {}
    for n, d in ((20, 40), (50, 100), (9, 30)):
        X = rng.standard_normal((n, d))
        y = X[:, 0] - np.maximum(X[:, 1], 0) + 0.1 * rng.standard_normal(n)
        out[f"wide {n}x{d}"] = (X, y)
    X0 = rng.standard_normal((200, 8))
    X = np.hstack([X0, X0[:, :4] + X0[:, 4:8]])
    out["collinear 200x12"] = (X, X0[:, 0] - np.maximum(X0[:, 1], 0)
                               + 0.1 * rng.standard_normal(200))
    X = rng.standard_normal((100, 30))
    out["control 100x30"] = (X, X[:, 0] - np.maximum(X[:, 1], 0)
                             + 0.1 * rng.standard_normal(100))
    for n in (200, 1000):
        # A typical pipeline's encoding: standardised numbers and one-hot
        # categories, whose columns of each feature sum to the intercept's.
        num, cat, y = onehot_data(n, rng)
        onehot = np.hstack([(cat[:, [j]] == np.arange(5)).astype(float) for j in range(3)])
        out[f"one-hot {n}x19"] = (np.hstack([num, onehot]), y)
    Xd, yd = load_diabetes(return_X_y=True)
    out["control diabetes"] = (StandardScaler().fit_transform(Xd), (yd - yd.mean()) / yd.std())
    return out


def onehot_data(n, rng):
    """Four standard-normal numbers and three 5-level categories (as floats)."""
    cat = rng.integers(0, 5, size=(n, 3))
    num = rng.standard_normal((n, 4))
    y = (num[:, 0] - np.maximum(num[:, 1], 0) + (cat[:, 0] == 2) - 0.5 * (cat[:, 1] == 1)
         + 0.1 * rng.standard_normal(n))
    return num, cat, y


def run_pipeline(alphas):
    import convexrelu
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from convexrelu import ConvexDeepReLURegressor

    print(f"convexrelu from {Path(convexrelu.__file__).parent}")
    print(f"{'n':>5} {'alpha':>6} {'cpu s':>7} {'objective':>14} {'gap':>9}")
    rng = np.random.default_rng(0)
    for n in (200, 1000):
        num, cat, y = onehot_data(n, rng)
        X = np.hstack([num, cat]).astype(float)
        for alpha in alphas:
            ct = make_column_transformer((StandardScaler(), [0, 1, 2, 3]),
                                         (OneHotEncoder(sparse_output=False), [4, 5, 6]))
            est = make_pipeline(ct, ConvexDeepReLURegressor(alpha=alpha, patterns="sample",
                                                            random_state=0))
            t = time.process_time()
            est.fit(X, y)
            reg = est[-1]
            print(f"{n:5d} {alpha:6.0e} {time.process_time() - t:7.2f} {reg.objective_:14.10f} "
                  f"{reg.dual_gap_:9.1e}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--alphas", default="1e-2,1e-3",
                        help="comma-separated alphas, each problem solved at each")
    parser.add_argument("--pipeline", action="store_true",
                        help="time the estimator in a one-hot pipeline instead")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.pipeline:
        run_pipeline([float(a) for a in args.alphas.split(",")])
        return
    fast.solve_restricted_barrier = counting_solve
    barrier.solve_restricted_barrier = counting_solve
    checked = LiftedOperator.flat_directions
    unchecked = property(lambda self: False)
    print(f"{'problem':18} {'alpha':>6} {'null space':>10}   {'checked: s':>10} {'steps':>5} "
          f"{'rounds':>6}   {'unchecked: s':>12} {'steps':>5} {'rounds':>6}   {'ratio':>5}  objectives")
    cases = [(name, X, y, float(a)) for name, (X, y) in problems().items()
             for a in args.alphas.split(",")]
    for name, X, y, alpha in cases:
        Xa = np.hstack([X, np.ones((len(X), 1))])
        arr = sample_arrangements(Xa, 16, 2, random_state=0)
        times = {True: [], False: []}
        info = {}
        for _ in range(args.repeats):
            for check in (True, False):
                LiftedOperator.flat_directions = checked if check else unchecked
                COUNT["steps"] = 0
                t = time.process_time()
                res = solve_convex(Xa, y, arr, alpha, fit_intercept=True, tol=1e-6)
                times[check].append(time.process_time() - t)
                info[check] = (COUNT["steps"], "".join(h["inner"][0] for h in res.history),
                               res.objective)
        LiftedOperator.flat_directions = checked
        flat = LiftedOperator(Xa, arr).flat_directions
        tc, tu = np.median(times[True]), np.median(times[False])
        print(f"{name:18} {alpha:6.0e} {str(flat):>10}   {tc:10.2f} {info[True][0]:5d} {info[True][1]:>6}"
              f"   {tu:12.2f} {info[False][0]:5d} {info[False][1]:>6}   {tu / tc:5.1f}"
              f"  {info[True][2]:.10e} / {info[False][2]:.10e}", flush=True)


if __name__ == "__main__":
    main()

"""Squared-loss fits where ``X`` has a null space: the interior point's step check.

Where ``X u = 0`` for some ``u`` (fewer rows than features, or collinear
features) the squared loss and the pattern rows do not change along ``u``,
only the group norms do, and unchecked Newton steps can run off along it.
The interior point checks its steps against its barrier function there
(``LiftedOperator.flat_directions``); this script solves the same problems
with that check (default) and with ``flat_directions`` forced to False (the
check then starts only at the first Newton matrix that needs a ridge), in
one process, alternating, and prints CPU seconds (median of ``--repeats``),
interior-point Newton steps, the inner solver of each round (i: interior
point, a: active-set method, c: Clarabel) and the objective.  Problems with
full-rank ``X`` are included as controls: there both settings take the same
steps.

    python benchmarks/bench_null_space.py
"""

import argparse
import contextlib
import io
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

import convexrelu.solvers._barrier as barrier
import convexrelu.solvers.fast as fast
from convexrelu import LiftedOperator, sample_arrangements, solve_convex

STEPS = [0]
_original = barrier.solve_restricted_barrier


def _counting(*args, **kwargs):
    kwargs["verbose"] = True
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = _original(*args, **kwargs)
    STEPS[0] += buf.getvalue().count("[ipm]")
    return out


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
    Xd, yd = load_diabetes(return_X_y=True)
    out["control diabetes"] = (StandardScaler().fit_transform(Xd), (yd - yd.mean()) / yd.std())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=1e-3)
    args = parser.parse_args(argv)
    fast.solve_restricted_barrier = _counting
    barrier.solve_restricted_barrier = _counting
    warnings.simplefilter("ignore")
    checked = LiftedOperator.flat_directions
    unchecked = property(lambda self: False)
    print(f"{'problem':18} {'null space':>10}   {'checked: s':>10} {'steps':>5} {'rounds':>6}"
          f"   {'unchecked: s':>12} {'steps':>5} {'rounds':>6}   {'ratio':>5}  objectives")
    for name, (X, y) in problems().items():
        Xa = np.hstack([X, np.ones((len(X), 1))])
        arr = sample_arrangements(Xa, 16, 2, random_state=0)
        times = {True: [], False: []}
        info = {}
        for _ in range(args.repeats):
            for check in (True, False):
                LiftedOperator.flat_directions = checked if check else unchecked
                STEPS[0] = 0
                t = time.process_time()
                res = solve_convex(Xa, y, arr, args.alpha, fit_intercept=True, tol=1e-6)
                times[check].append(time.process_time() - t)
                info[check] = (STEPS[0], "".join(h["inner"][0] for h in res.history),
                               res.objective)
        LiftedOperator.flat_directions = checked
        flat = LiftedOperator(Xa, arr).flat_directions
        tc, tu = np.median(times[True]), np.median(times[False])
        print(f"{name:18} {str(flat):>10}   {tc:10.2f} {info[True][0]:5d} {info[True][1]:>6}"
              f"   {tu:12.2f} {info[False][0]:5d} {info[False][1]:>6}   {tu / tc:5.1f}"
              f"  {info[True][2]:.10e} / {info[False][2]:.10e}", flush=True)


if __name__ == "__main__":
    main()

"""The interior point's Woodbury Newton systems below 1500 weights: the old floor against none.

``newton="auto"`` solves the Newton systems through the Woodbury identity
(rank ``n C`` loss part, one ``md x md`` block per working block) when the
working set has more weights ``k`` than twice the rows' outputs ``n C``, and
at least ``WOODBURY_MIN_WEIGHTS`` of them. That floor was 1500 until the
twenty-third session, which left small, wide problems (80 to 600 rows, 20
to 45 features) on dense ``k x k`` factorisations that cost several times
more. Per problem (the cold fits of ``bench_ipm_resume.py``: bundled data
and ``--uci`` UCI-121 sets, the classifier's loss, alpha 1e-3), the fast
solver runs with each floor in turn, ``--repeats`` rounds, one process:
median seconds of each, their ratio, and the certified objectives'
relative difference.

    python benchmarks/bench_newton_floor.py --uci 8 --repeats 2
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import convexrelu.solvers._newton_systems as newton_systems
from convexrelu import sample_arrangements, solve_convex, train_arrangements

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ipm_resume import encode, problems  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--uci", type=int, default=8,
                   help="also this many UCI-121 sets with n <= 1000 (a fixed random choice)")
    p.add_argument("--floors", default="1500,0", help="two values of WOODBURY_MIN_WEIGHTS")
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    old, new = (int(v) for v in args.floors.split(","))
    keep = newton_systems.WOODBURY_MIN_WEIGHTS
    print(f"{'problem':<30} {'n':>5} {'d':>4} {f'{old} s':>8} {f'{new} s':>8} {'ratio':>6} "
          f"{'rel obj diff':>12}")
    total = {old: 0.0, new: 0.0}
    try:
        for name, X, y, kind in problems(args.uci):
            Xa, Y, loss = encode(X, y, kind)
            target = Y[:, 0] if loss == "logistic" else Y
            for tuples in ("trained", "sample"):
                arr = (train_arrangements(Xa, Y, 32, 2, loss=loss, random_state=0)
                       if tuples == "trained" else sample_arrangements(Xa, 32, 2, random_state=0))
                times = {old: [], new: []}
                res = {}
                for _ in range(args.repeats):
                    for floor in (old, new):
                        newton_systems.WOODBURY_MIN_WEIGHTS = floor
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            t = time.perf_counter()
                            res[floor] = solve_convex(Xa, target, arr, args.alpha, loss=loss,
                                                      fit_intercept=True, tol=1e-6)
                            times[floor].append(time.perf_counter() - t)
                a, b = float(np.median(times[old])), float(np.median(times[new]))
                total[old] += a
                total[new] += b
                diff = (res[new].objective - res[old].objective) / abs(res[old].objective)
                print(f"{name + ':' + tuples:<30} {Xa.shape[0]:5d} {Xa.shape[1]:4d} {a:8.2f} "
                      f"{b:8.2f} {a / b:6.2f} {diff:12.1e}", flush=True)
    finally:
        newton_systems.WOODBURY_MIN_WEIGHTS = keep
    print(f"\ntotal: {total[old]:.1f} s with floor {old}, {total[new]:.1f} s with {new} "
          f"({total[old] / total[new]:.2f}x)")


if __name__ == "__main__":
    main()

"""Random sweep: the fast solver against the CVXPY reference on many small programs.

Each seed draws a program: n in [8, 120), d in [1, 7) (a bias column in
about a third), m in [1, 4), 2 to 11 sampled tuples, the squared loss (one
or two outputs), the logistic loss or the cross-entropy (3 or 4 classes),
with or without an intercept and sample weights, alpha log-uniform in
[10^-3.5, 10^-0.5] (absolute, on unscaled data of varied scale).  The fast
solver runs at ``--tol``; the reference (``solver="cvxpy"``) at 1e-9.
A program counts as a disagreement when the fast solver's objective is more
than 1e-6 (relative) plus the reference's own certified gap above the
reference's, or its certificate misses ``--tol`` or the constraints;
lines are printed for those, for fast-solver warnings, and for reference
failures (an exception from ``solver="cvxpy"``).

    python benchmarks/random_sweep.py --seeds 1000:1200
    python benchmarks/random_sweep.py --seeds 5000:5200 --tol 1e-7
"""

import argparse
import time
import warnings

import numpy as np

from convexrelu import sample_arrangements, solve_convex


def draw(seed):
    """``(X, y, arrangements, alpha, loss, fit_intercept, sample_weight, tag)`` of one seed."""
    rng = np.random.default_rng(seed)
    n, d, m = int(rng.integers(8, 120)), int(rng.integers(1, 7)), int(rng.integers(1, 4))
    P = int(rng.integers(2, 12))
    loss = str(rng.choice(["squared", "logistic", "cross_entropy"]))
    fit_intercept = bool(rng.integers(0, 2))
    sw = rng.random(n) + 0.1 if rng.random() < 0.3 else None
    X = rng.standard_normal((n, d)) * rng.choice([0.3, 1, 3])
    if rng.random() < 0.3:
        X = np.hstack([X, np.ones((n, 1))])
    f = (np.maximum(X @ rng.standard_normal(X.shape[1]), 0)
         - np.maximum(X @ rng.standard_normal(X.shape[1]), 0))
    if loss == "squared":
        C = int(rng.integers(1, 3))
        y = (f[:, None] + 0.3 * rng.standard_normal((n, C)) if C > 1
             else f + 0.3 * rng.standard_normal(n))
    elif loss == "logistic":
        y = np.where(f + 0.3 * rng.standard_normal(n) > np.median(f), 1.0, -1.0)
    else:
        C = int(rng.integers(3, 5))
        cuts = np.quantile(f, np.linspace(0, 1, C + 1)[1:-1])
        y = np.eye(C)[np.digitize(f + 0.3 * rng.standard_normal(n), cuts)]
    arr = sample_arrangements(X, P, m, random_state=seed)
    alpha = float(10 ** rng.uniform(-3.5, -0.5))
    tag = (f"seed {seed} n={n} d={X.shape[1]} m={m} P={P} {loss} intercept={fit_intercept} "
           f"weights={sw is not None} alpha={alpha:.2e}")
    return X, y, arr, alpha, loss, fit_intercept, sw, tag


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1000:1100", help="first:stop")
    p.add_argument("--tol", type=float, default=1e-7)
    args = p.parse_args(argv)
    lo, hi = (int(v) for v in args.seeds.split(":"))
    counts = dict(programs=0, agree=0, disagree=0, fast_warned=0, reference_failed=0)
    t_fast = t_ref = 0.0
    for seed in range(lo, hi):
        X, y, arr, alpha, loss, fi, sw, tag = draw(seed)
        counts["programs"] += 1
        kw = dict(loss=loss, fit_intercept=fi, sample_weight=sw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = time.perf_counter()
            fast = solve_convex(X, y, arr, alpha, tol=args.tol, **kw)
            t_fast += time.perf_counter() - t
        if caught:
            counts["fast_warned"] += 1
            print(f"fast warned  {tag}: {sorted({str(w.message)[:100] for w in caught})}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                ref = solve_convex(X, y, arr, alpha, solver="cvxpy", tol=1e-9, **kw)
                t_ref += time.perf_counter() - t
        except RuntimeError as exc:
            counts["reference_failed"] += 1
            print(f"ref failed   {tag}: {str(exc)[:100]}")
            continue
        rel = (fast.objective - ref.objective) / max(abs(ref.objective), 1e-12)
        ok = (rel <= 1e-6 + max(ref.relative_gap, 0.0) and fast.relative_gap <= args.tol
              and fast.constraint_violation <= 1e-8)
        counts["agree" if ok else "disagree"] += 1
        if not ok:
            print(f"DISAGREE     {tag}: fast - ref {rel:.1e} (relative), fast gap "
                  f"{fast.relative_gap:.1e}, ref gap {ref.relative_gap:.1e}, violation "
                  f"{fast.constraint_violation:.1e}")
    print(", ".join(f"{k} {v}" for k, v in counts.items())
          + f"; seconds: fast {t_fast:.1f}, reference {t_ref:.1f}")


if __name__ == "__main__":
    main()

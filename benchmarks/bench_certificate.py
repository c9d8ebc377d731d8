"""Sampled optimality certificates: lazy refinement against refining every block.

``optimality_certificate(..., exact=False)`` checks the fit's dual point
against the tuples of ``n_check`` (100,000) random networks.  A block whose
multiplier-free (gated) ratio exceeds one needs a better bound.  The
baseline, run in the same process, gives every such block its NNLS bound and
then cone programs, worst first.  The current code refines lazily, worst
gated bound first, a chunk at a time (vectorised projected-gradient bounds,
then NNLS, then cone programs), and skips every block whose bound is already
below the largest exact ratio found.  Same certificate either way: the
table prints both lower bounds.

    python benchmarks/bench_certificate.py
    python benchmarks/bench_certificate.py --repeats 3
"""

import argparse
import time
import warnings

import numpy as np

import convexrelu.optimality as opt
from convexrelu import ConvexDeepReLUClassifier, ConvexDeepReLURegressor

CASES = [(40, 3, 4, "regression"), (150, 5, 8, "regression"), (60, 3, 4, "classification")]


def _refine_everything():
    """The baseline: one chunk (every block) and no vectorised bound."""
    saved = opt._REFINE_CHUNK, opt._gradient_ratios
    opt._REFINE_CHUNK = 10 ** 12
    opt._gradient_ratios = lambda X, arr, V, alpha, blocks: np.full(len(blocks), np.inf)
    return saved


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=1, help="timings per case; medians")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'n':>4} {'d':>2} {'tuples':>6} {'kind':>14} {'lazy s':>8} {'all s':>8} "
          f"{'ratio':>6} {'cone progs':>11} {'lower bound (lazy)':>19} {'|diff| / bound':>14}")
    rng = np.random.RandomState(1)
    for n, d, P, kind in CASES:
        X = rng.randn(n, d)
        y = X[:, 0] - X[:, 1] ** 2
        y = (y - y.mean()) / y.std()
        est = (ConvexDeepReLURegressor if kind == "regression" else ConvexDeepReLUClassifier)(
            n_patterns=P, random_state=0, alpha=1e-2)
        times = {}
        certs = {}
        for mode in ("lazy", "all"):
            saved = _refine_everything() if mode == "all" else None
            try:
                runs = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    est.set_params(certify="sampled")
                    est.fit(X, y if kind == "regression" else (y > 0).astype(int))
                    runs.append(time.perf_counter() - t)
                times[mode] = float(np.median(runs))
                certs[mode] = est.optimality_certificate_
            finally:
                if saved is not None:
                    opt._REFINE_CHUNK, opt._gradient_ratios = saved
            est.set_params(certify=False)
        lazy, full = certs["lazy"], certs["all"]
        diff = abs(lazy.lower_bound - full.lower_bound) / abs(full.lower_bound)
        print(f"{n:>4} {d:>2} {P:>6} {kind:>14} {times['lazy']:8.1f} {times['all']:8.1f} "
              f"{times['all'] / times['lazy']:6.1f} {lazy.n_cone_programs:>5}/{full.n_cone_programs:<5} "
              f"{lazy.lower_bound:19.10g} {diff:14.1e}", flush=True)
    print("(seconds: the whole fit with certify='sampled'; the fit alone is a fraction of a "
          "second)")


if __name__ == "__main__":
    main()

"""The softmax's default working-set size: COUPLED_SET_FRACTION 10 against 20.

The fast solver's first working set and growth default to a tenth of the
blocks (``SET_FRACTION``), a twentieth with a softmax over several outputs
(``COUPLED_SET_FRACTION``, ``convexrelu/solvers/fast.py``).  For each
``NAME:ALPHA:PATTERNS`` (a ``ConvexDeepReLUClassifier`` fit on the first
training fold of a UCI set of ``../shared/data``, 40 tuples, m = 2,
tol 1e-4), both settings in turn in one process (the order alternates):
wall seconds, working-set rounds, their ratio and the relative difference
of the certified objectives; then the totals.

    python benchmarks/bench_set_fraction.py
    python benchmarks/bench_set_fraction.py --problems yeast:1e-2:trained --fractions 10 20 40
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci121, uci121_root  # noqa: E402

import convexrelu.solvers.fast as fast  # noqa: E402
from convexrelu import ConvexDeepReLUClassifier  # noqa: E402

DEFAULT = [f"{name}:{alpha}:trained" for alpha in ("1e-2", "1e-3") for name in (
    "audiology-std", "led-display", "primary-tumor", "conn-bench-vowel-deterding", "flags",
    "dermatology", "ecoli")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=DEFAULT)
    parser.add_argument("--fractions", nargs=2, type=int, default=[10, 20])
    args = parser.parse_args(argv)
    if not uci121_root().exists():
        print("needs ../shared/data (UCI sets); nothing to run")
        return
    warnings.simplefilter("ignore")
    fr = args.fractions
    default = fast.COUPLED_SET_FRACTION
    tot = {f: 0.0 for f in fr}
    print(f"{'problem':40s} " + "  ".join(f"{'s, ' + str(f):>8s} {'rounds':>6s}" for f in fr)
          + f" {'ratio':>6s} {'rel obj diff':>12s}")
    for i, problem in enumerate(args.problems):
        name, alpha, patterns = problem.split(":")
        X, y, folds = load_uci121(name)
        train = folds[0][0]
        res = {}
        for f in (fr if i % 2 == 0 else fr[::-1]):
            fast.COUPLED_SET_FRACTION = f
            clf = ConvexDeepReLUClassifier(n_patterns=40, n_hidden=2, patterns=patterns,
                                           alpha=float(alpha), tol=1e-4, random_state=0)
            t = time.perf_counter()
            clf.fit(X[train], y[train])
            res[f] = (time.perf_counter() - t, clf.n_iter_, clf.objective_)
            tot[f] += res[f][0]
        a, b = res[fr[0]], res[fr[1]]
        print(f"{problem:40s} " + "  ".join(f"{res[f][0]:8.2f} {res[f][1]:6d}" for f in fr)
              + f" {a[0] / b[0]:6.2f} {abs(a[2] - b[2]) / abs(a[2]):12.1e}", flush=True)
    fast.COUPLED_SET_FRACTION = default
    print(f"{'total':40s} " + "  ".join(f"{tot[f]:8.1f} {'':6s}" for f in fr)
          + f" {tot[fr[0]] / max(tot[fr[1]], 1e-9):6.2f}")


if __name__ == "__main__":
    main()

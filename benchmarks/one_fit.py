"""One classifier fit on a UCI-121 set's first training fold, with the solver's rounds.

Prints the fast solver's per-round lines (``verbose=True``: objective,
relative gap, blocks, seconds, which inner solver), the fit's wall seconds
and the test-fold accuracy: the quickest way to see where one fit of the
UCI benchmark spends its time.  Needs ``../shared/data``.

    python benchmarks/one_fit.py balance-scale --patterns trained --alpha 1e-3
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci121  # noqa: E402

from convexrelu import ConvexDeepReLUClassifier  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="a UCI-121 set")
    p.add_argument("--alpha", type=float, default=1e-2)
    p.add_argument("--n-patterns", type=int, default=40)
    p.add_argument("--n-hidden", type=int, default=2)
    p.add_argument("--patterns", default="sample", choices=["sample", "trained"])
    p.add_argument("--tol", type=float, default=1e-4)
    args = p.parse_args(argv)
    try:
        X, y, folds = load_uci121(args.name)
    except FileNotFoundError as exc:
        print(f"[skip] {exc}")
        return
    train, test = folds[0]
    clf = ConvexDeepReLUClassifier(alpha=args.alpha, n_patterns=args.n_patterns,
                                   n_hidden=args.n_hidden, patterns=args.patterns,
                                   tol=args.tol, random_state=0, verbose=True)
    t = time.perf_counter()
    clf.fit(X[train], y[train])
    seconds = time.perf_counter() - t
    print(f"{args.name}: n_train={len(train)} d={X.shape[1]} classes={len(clf.classes_)} "
          f"patterns={args.patterns} alpha={args.alpha:g}: fit {seconds:.2f} s, test accuracy "
          f"{np.mean(clf.predict(X[test]) == y[test]):.4f}, {clf.n_subnetworks_} sub-networks, "
          f"rel. gap {clf.relative_gap_:.1e}")


if __name__ == "__main__":
    main()

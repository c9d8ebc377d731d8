"""Sampled tuples lose power as n grows: the same tuples on more images.

Fits ConvexDeepReLUClassifier (squared loss, PCA-30 + standardised pixels)
on growing subsets of Fashion-MNIST with the same number of sampled tuples
and prints the certified objective, the train and test accuracy.  Every
pattern constraint is one row, so the cone of weights reproducing a random
tuple narrows as rows are added and the fitted network stays close to the
random generating network.

    python benchmarks/tuples_vs_n.py --patterns 4 --sizes 2000,10000
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import paper_data as pdata  # noqa: E402


def main(argv=None):
    from convexrelu import ConvexDeepReLUClassifier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patterns", type=int, default=4)
    p.add_argument("--hidden", type=int, default=2)
    p.add_argument("--sizes", default="2000,10000")
    p.add_argument("--alpha", type=float, default=1e-3)
    args = p.parse_args(argv)
    try:
        Xtr0, ytr0, Xte, yte = pdata.load_fashion_mnist()
    except pdata.DataUnavailable as exc:
        print(f"[skip] {exc}")
        return
    print(f"{'n':>6} {'fit s':>7} {'objective':>10} {'rel gap':>8} {'train acc':>9} "
          f"{'test acc':>8} {'sub-nets':>8}")
    for n in (int(v) for v in args.sizes.split(",")):
        Xtr, ytr = pdata.training_subset(Xtr0, ytr0, n)
        Xtr = Xtr / 255.0
        Z, Zte = pdata.pca_features(Xtr, Xte / 255.0, 30)
        est = ConvexDeepReLUClassifier(alpha=args.alpha, n_patterns=args.patterns,
                                       n_hidden=args.hidden, loss="squared", tol=1e-4,
                                       patterns="sample", random_state=0)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(Z, ytr)
        print(f"{n:>6} {time.perf_counter() - t:>7.1f} {est.objective_:>10.4f} "
              f"{est.relative_gap_:>8.1e} {np.mean(est.predict(Z) == ytr):>9.3f} "
              f"{np.mean(est.predict(Zte) == yte):>8.3f} {est.n_subnetworks_:>8d}", flush=True)


if __name__ == "__main__":
    main()

"""Fashion-MNIST: which settings move the convex classifier's accuracy, and at what cost.

One fit of the same pipeline as ``fashion_mnist.py`` (PCA fit on the training
images, StandardScaler, ConvexDeepReLUClassifier with trained tuples) on a
subset of the training images, printing fit seconds, training and test
accuracy, sub-networks and the certified gap; ``--profile`` adds the 25
most expensive functions (cProfile, cumulative).  Run it once per setting
and compare rows, e.g.

    python benchmarks/fashion_levers.py --n-train 10000 --patterns 32 --pca 30
    python benchmarks/fashion_levers.py --n-train 10000 --patterns 32 --pca 50
    python benchmarks/fashion_levers.py --n-train 10000 --patterns 64 --pca 30
    python benchmarks/fashion_levers.py --n-train 10000 --patterns 32 --pca 30 --alpha 1e-4
    python benchmarks/fashion_levers.py --n-train 10000 --patterns 32 --pca 30 --tol 1e-2

Set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 to time on one core.
"""

import argparse
import cProfile
import pstats
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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--patterns", type=int, default=32)
    p.add_argument("--hidden", type=int, default=2)
    p.add_argument("--pca", type=int, default=30)
    p.add_argument("--loss", default="squared", choices=["squared", "log_loss"])
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--tuples", default="trained", choices=["sample", "trained"])
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    from convexrelu.estimators import ConvexDeepReLUClassifier

    try:
        Xtr, ytr, Xte, yte = pdata.fashion_mnist_pixels(args.n_train)
    except pdata.DataUnavailable as exc:
        print(f"[skip] {exc}")
        return
    pca = PCA(args.pca, random_state=0).fit(Xtr)
    scaler = StandardScaler().fit(pca.transform(Xtr))
    A, B = scaler.transform(pca.transform(Xtr)), scaler.transform(pca.transform(Xte))
    est = ConvexDeepReLUClassifier(
        alpha=args.alpha, n_patterns=args.patterns, n_hidden=args.hidden, loss=args.loss,
        tol=args.tol, patterns=args.tuples, memory_limit=None, n_jobs=args.n_jobs,
        random_state=0)
    warnings.simplefilter("ignore")
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t = time.perf_counter()
    est.fit(A, ytr)
    fit_time = time.perf_counter() - t
    if prof:
        prof.disable()
    print(f"n={args.n_train} patterns={args.patterns} ({args.tuples}) m={args.hidden} "
          f"pca={args.pca} loss={args.loss} alpha={args.alpha:g} tol={args.tol:g}: "
          f"fit {fit_time:.1f} s, train acc {np.mean(est.predict(A) == ytr):.4f}, "
          f"test acc {np.mean(est.predict(B) == yte):.4f}, {est.n_subnetworks_} sub-networks, "
          f"rel. gap {est.relative_gap_:.1e}", flush=True)
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()

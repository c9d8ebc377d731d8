"""Fashion-MNIST: fit time and test accuracy of the convex three-layer network,
its two-layer special case (n_hidden=1) and scikit-learn's MLPClassifier.

    apt-get install -y dataset-fashion-mnist      # /usr/share/datasets/fashion-mnist/
    python benchmarks/fashion_mnist.py --n-jobs 2     # all 60000 training images
    python benchmarks/fashion_mnist.py --n-train 5000 --models convex3,convex2
    python benchmarks/fashion_mnist.py --models convex3-ovr --patterns 16 --pca 85 --alpha 3e-4 \
        --tol 1e-2 --n-jobs 2   # tuples per class: the best fit within 10 minutes (README)

Every model sees pixels / 255.  The convex models run in a Pipeline after a
PCA (fit on the training images only) that reduces the 784 pixels to
``--pca`` components: fewer features make each pattern tuple cheaper and the
sampled tuples better (they are hyperplane arrangements of the reduced data).
``convex3-ovr`` is OneVsRestClassifier over binary squared-loss classifiers:
with the squared loss the ten classes' programs are independent anyway, and
this way each class gets tuples from a network trained on that class alone
(``convex3``'s ten outputs share the tuples of one network).  The MLP is
MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=30) on the raw pixels,
as in the issue.  Fit times are wall-clock seconds on this
machine; set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS to pin the core count
(the issue's target: >= 89% test accuracy within a 10-minute fit on 2 cores).

Data: Fashion-MNIST, (c) 2017 Zalando SE, MIT licence.
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


def make_models(args):
    from sklearn.decomposition import PCA
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from convexrelu.estimators import ConvexDeepReLUClassifier

    def classifier(m, alpha, loss, n_jobs, class_weight=None):
        return ConvexDeepReLUClassifier(alpha=alpha, n_patterns=args.patterns, n_hidden=m,
                                        loss=loss, class_weight=class_weight,
                                        solver=args.solver, tol=args.tol,
                                        patterns=args.tuples, memory_limit=args.memory_limit,
                                        max_iter=args.max_iter, n_jobs=n_jobs, random_state=0)

    def convex(m):
        return make_pipeline(PCA(args.pca, random_state=0), StandardScaler(),
                             classifier(m, args.alpha, args.loss, args.n_jobs))

    def one_vs_rest(m):
        # One binary squared-loss classifier per class, each with tuples
        # trained on its own class.  Its -1/+1 targets are twice the one-hot
        # ones less one, so 2 alpha gives each class the program of the
        # multi-class model's output (the solution scaled by 2).  A positive
        # weight w weighs each class's own images w times the others' (the
        # binary classifiers see labels 0 / 1): no multi-class program then.
        weight = None if args.positive_weight == 1 else {1: args.positive_weight}
        return make_pipeline(PCA(args.pca, random_state=0), StandardScaler(),
                             OneVsRestClassifier(classifier(m, 2 * args.alpha, "squared", None,
                                                            weight),
                                                 n_jobs=args.n_jobs))

    return {
        "convex3": (f"ConvexDeepReLUClassifier (m={args.hidden}, PCA {args.pca})",
                    lambda: convex(args.hidden)),
        "convex3-ovr": (f"OneVsRestClassifier(ConvexDeepReLUClassifier) (m={args.hidden}, "
                        f"PCA {args.pca}, tuples per class)", lambda: one_vs_rest(args.hidden)),
        "convex2": (f"ConvexDeepReLUClassifier n_hidden=1, two-layer (PCA {args.pca})",
                    lambda: convex(1)),
        "mlp": ("MLPClassifier((256, 128), max_iter=30), pixels",
                lambda: MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=30,
                                      random_state=0)),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=None, help="subsample the training set")
    p.add_argument("--models", default="convex3,convex2,mlp")
    p.add_argument("--solver", default="fast")
    # Defaults: the best setting measured in the README's levers table
    # (squared loss: ten independent outputs, which --n-jobs spreads).
    p.add_argument("--loss", default="squared", choices=["log_loss", "squared"])
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--patterns", type=int, default=32)
    p.add_argument("--hidden", type=int, default=2)
    p.add_argument("--pca", type=int, default=50)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--n-jobs", type=int, default=None,
                   help="the convex models' n_jobs (squared loss: one output per worker)")
    p.add_argument("--memory-limit", default="auto", type=lambda v: None if v == "none" else v,
                   help="the estimator's memory_limit ('auto', a size such as 12GiB, or none)")
    p.add_argument("--positive-weight", type=float, default=1.0,
                   help="convex3-ovr: class_weight={1: W} on each binary classifier "
                        "(its class's images against the rest's)")
    p.add_argument("--tuples", default="trained", choices=["sample", "trained"],
                   help="the convex models' patterns: random or from a trained network")
    args = p.parse_args(argv)
    try:
        Xtr, ytr, Xte, yte = pdata.fashion_mnist_pixels(args.n_train)
    except pdata.DataUnavailable as exc:
        print(f"[skip] {exc}")
        return
    models = make_models(args)
    print(f"Fashion-MNIST: {len(ytr)} training, {len(yte)} test images; "
          f"convex: solver={args.solver}, loss={args.loss}, alpha={args.alpha:g}, "
          f"{args.patterns} patterns ({args.tuples}), tol={args.tol:g}")
    print("\n| model | fit time (s) | test accuracy | notes |")
    print("|---|---|---|---|")
    for key in args.models.split(","):
        label, build = models[key]
        model = build()
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(Xtr, ytr)
        fit_time = time.perf_counter() - t0
        acc = float(np.mean(model.predict(Xte) == yte))
        note = ""
        est = model[-1] if hasattr(model, "steps") else model
        if hasattr(est, "relative_gap_"):
            note = (f"{est.n_subnetworks_} sub-networks, rel. gap {est.relative_gap_:.1e}, "
                    f"objective {est.objective_:.4g}, tuples {est.patterns_time_:.0f} s")
        elif hasattr(est, "estimators_"):
            parts = est.estimators_
            # (seconds summed over the classifiers: with n_jobs they overlap)
            note = (f"{sum(e.n_subnetworks_ for e in parts)} sub-networks in "
                    f"{len(parts)} classifiers, largest rel. gap "
                    f"{max(e.relative_gap_ for e in parts):.1e}, tuples "
                    f"{sum(e.patterns_time_ for e in parts):.0f} s and solves "
                    f"{sum(e.fit_time_ for e in parts):.0f} s summed")
        if any("converge" in str(w.message).lower() for w in caught):
            note += " (convergence warning)"
        print(f"| {label} | {fit_time:.1f} | {acc:.4f} | {note} |", flush=True)


if __name__ == "__main__":
    main()

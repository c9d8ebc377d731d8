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
    python benchmarks/fashion_levers.py --n-train 10000 --patterns 32 --pca 30 --generators 300,3000
    python benchmarks/fashion_levers.py --n-train 10000 --patterns 32 --pca 30 --one-vs-rest

``--one-vs-rest`` fits ``OneVsRestClassifier`` over binary classifiers
instead, each class's tuples from a network trained on that class alone.
With the squared loss these are the multi-class model's per-class programs
(``alpha`` is doubled for their -1/+1 targets, which keeps each program the
multi-class model's; see ``fashion_mnist.py``); with ``--loss log_loss``
they are binary logistic programs at the given ``alpha`` (no multi-class
program to match).

``--generators STEPS`` fits no convex model: it trains the parallel network
whose sub-networks ``patterns="trained"`` takes its tuples from, for each
number of Adam steps, and prints that network's own accuracy (the convex
program over its tuples can only lower the training objective); with
``--one-vs-rest`` one network per class, as the binary classifiers train
them; with ``--loss log_loss`` the networks are binary logistic ones per
class, or one softmax network over all classes without ``--one-vs-rest``.
``--batch-size`` picks the schedule (``train_arrangements``), e.g.

    python benchmarks/fashion_levers.py --n-train 60000 --pca 100 --patterns 16 \
        --one-vs-rest --generators default
    python benchmarks/fashion_levers.py --n-train 60000 --pca 100 --patterns 16 \
        --one-vs-rest --generators default --loss log_loss --alpha 3e-4

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
    p.add_argument("--one-vs-rest", action="store_true",
                   help="one binary classifier per class, tuples per class")
    p.add_argument("--generators", default=None,
                   help="comma-separated Adam step counts ('default': the schedule's): "
                        "report the tuple generators only")
    p.add_argument("--batch-size", default="auto",
                   help="generators' rows per step: 'auto' (train_arrangements' default), "
                        "'none' (full batch) or an integer")
    args = p.parse_args(argv)
    from convexrelu.estimators import ConvexDeepReLUClassifier

    try:
        Xtr, ytr, Xte, yte = pdata.fashion_mnist_pixels(args.n_train)
    except pdata.DataUnavailable as exc:
        print(f"[skip] {exc}")
        return
    A, B = pdata.pca_features(Xtr, Xte, args.pca)
    if args.generators:
        generators(args, A, ytr, B, yte)
        return
    est = ConvexDeepReLUClassifier(
        alpha=per_class_alpha(args) if args.one_vs_rest else args.alpha,
        n_patterns=args.patterns,
        n_hidden=args.hidden, loss=args.loss, tol=args.tol, patterns=args.tuples,
        memory_limit=None, n_jobs=None if args.one_vs_rest else args.n_jobs, random_state=0)
    if args.one_vs_rest:
        from sklearn.multiclass import OneVsRestClassifier
        est = OneVsRestClassifier(est, n_jobs=args.n_jobs)
    warnings.simplefilter("ignore")
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t = time.perf_counter()
    est.fit(A, ytr)
    fit_time = time.perf_counter() - t
    if prof:
        prof.disable()
    parts = getattr(est, "estimators_", [est])
    print(f"n={args.n_train} patterns={args.patterns} ({args.tuples}"
          f"{', per class' if args.one_vs_rest else ''}) m={args.hidden} "
          f"pca={args.pca} loss={args.loss} alpha={args.alpha:g} tol={args.tol:g}: "
          f"fit {fit_time:.1f} s, train acc {np.mean(est.predict(A) == ytr):.4f}, "
          f"test acc {np.mean(est.predict(B) == yte):.4f}, "
          f"{sum(e.n_subnetworks_ for e in parts)} sub-networks, "
          f"rel. gap {max(e.relative_gap_ for e in parts):.1e}", flush=True)
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def per_class_alpha(args):
    """The alpha of each binary program of ``--one-vs-rest``: twice ``--alpha``
    for the squared loss (its -1/+1 targets keep each program the multi-class
    model's), ``--alpha`` itself for the logistic loss (no program to match)."""
    return 2 * args.alpha if args.loss == "squared" else args.alpha


def train_generator(X, Y, loss, alpha, n_patterns, n_hidden, batch_size, n_steps, seed):
    """The network behind ``patterns="trained"``, trained with ``train_arrangements``' schedule.

    The estimator's procedure and defaults (learning rate 1e-2, an
    intercept, the schedule of ``batch_size`` and ``n_steps``; its own seed
    differs).  Returns ``(W1, w2, W3, b)``, the batch size (None: full
    batch) and the step count.
    """
    from convexrelu.losses import get_loss
    from convexrelu.trained_patterns import _schedule, _train_generators

    batch, steps = _schedule(len(X), batch_size, n_steps)
    w = np.full(len(X), 1.0 / len(X))
    params = _train_generators(X, Y, w, get_loss(loss), alpha, n_patterns, n_hidden, steps,
                               1e-2, True, np.random.default_rng(seed), batch_size=batch)
    return params, batch, steps


def generator_outputs(X, W1, w2, W3, b):
    """Outputs ``(n, C)`` of a trained generator network."""
    H1 = np.maximum(np.einsum("nd,pdm->npm", X, W1), 0.0)
    return np.maximum(np.einsum("npm,pm->np", H1, w2), 0.0) @ W3 + b


def generators(args, A, ytr, B, yte):
    """Accuracy of the trained parallel network behind ``patterns="trained"``.

    With ``--one-vs-rest``: one network per class on -1/+1 targets (at twice
    the alpha for the squared loss: what each binary classifier trains),
    scored by the argmax of the ten networks' outputs.
    """
    Xa, Xb = (np.hstack([Z, np.ones((len(Z), 1))]) for Z in (A, B))
    onehot = np.eye(ytr.max() + 1)[ytr]
    if args.one_vs_rest:
        loss = "squared" if args.loss == "squared" else "logistic"
        problems = [(2 * onehot[:, [k]] - 1, per_class_alpha(args))
                    for k in range(onehot.shape[1])]
    else:
        loss = "squared" if args.loss == "squared" else "cross_entropy"
        problems = [(onehot, args.alpha)]
    batch = None if args.batch_size == "none" else (
        "auto" if args.batch_size == "auto" else int(args.batch_size))
    for steps in args.generators.split(","):
        t = time.perf_counter()
        Ftr, Fte = [], []
        for Y, alpha in problems:
            # Every step count repeats the same run from the same start, only
            # longer.  "default": the schedule's own step count.
            params, size, n_steps = train_generator(
                Xa, Y, loss, alpha, args.patterns, args.hidden, batch,
                None if steps == "default" else int(steps), seed=0)
            Ftr.append(generator_outputs(Xa, *params))
            Fte.append(generator_outputs(Xb, *params))
        Ftr, Fte = np.hstack(Ftr), np.hstack(Fte)
        print(f"generators: {args.patterns} sub-networks"
              f"{' per class' if args.one_vs_rest else ''}, m={args.hidden}, pca={args.pca}, "
              f"{n_steps} Adam steps on {size or 'all'} rows: "
              f"{time.perf_counter() - t:.1f} s, train acc "
              f"{np.mean(Ftr.argmax(1) == ytr):.4f}, test acc "
              f"{np.mean(Fte.argmax(1) == yte):.4f}", flush=True)


if __name__ == "__main__":
    main()

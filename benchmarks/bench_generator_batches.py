"""Tuple generators on large data: full-batch against minibatch Adam.

``patterns="trained"`` takes its tuples from a parallel network trained by
Adam (:func:`convexrelu.train_arrangements`).  Up to 16000 rows it takes 300
full-batch steps; above, ``batch_size="auto"`` takes 1200 steps on
minibatches of 2000 rows with a linearly decaying step size.  This script
runs both schedules on the same data, same seeds, in one process:

* ``protein`` (UCI regression, split 0: 41157 training rows, 9 features):
  the generators' seconds, then the convex program over their tuples
  (fast solver), its certified objective, relative gap and the extracted
  network's test RMSE (standardised units);
* ``fashion`` (Fashion-MNIST, all 60000 training images, PCA 50,
  standardised): one generator per class on -1/+1 targets, as
  ``OneVsRestClassifier`` over squared-loss classifiers trains them
  (alpha doubled), and the test accuracy of the ten generators' argmax
  (the convex program over a generator's tuples lands within a few tenths
  of a point of it, README "Fashion-MNIST").

    python benchmarks/bench_generator_batches.py                      # both
    python benchmarks/bench_generator_batches.py --datasets protein --patterns 32

Set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 to time on one core.
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
from datasets import load_uci_regression, uci_regression_names  # noqa: E402
from fashion_levers import generator_outputs, train_generator  # noqa: E402

SCHEDULES = (("full batch", None), ("auto", "auto"))


def protein(args):
    from convexrelu import Arrangements, extract_network, solve_convex

    name = "protein-tertiary-structure"
    if name not in uci_regression_names():
        print(f"[skip protein] {name} not found under ../shared/data")
        return
    Xtr, ytr, Xte, yte = load_uci_regression(name, split=0)
    # Standardised with the training rows' statistics.
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    ytr, yte = (ytr - ym) / ys, (yte - ym) / ys
    A, B = (np.hstack([(Z - mu) / sd, np.ones((len(Z), 1))]) for Z in (Xtr, Xte))
    print(f"\n=== protein split 0: {len(A)} training rows, {A.shape[1] - 1} features; "
          f"{args.patterns} tuples, m={args.hidden}, alpha={args.alpha:g}, tol={args.tol:g}")
    print("| schedule | batch | steps | generator s | solve s | objective | rel. gap "
          "| sub-networks | test RMSE |")
    print("|---|---|---|---|---|---|---|---|---|")
    gen_times = {}
    for name, batch_size in SCHEDULES:
        t = time.perf_counter()
        (W1, w2, _, _), batch, steps = train_generator(A, ytr[:, None], "squared", args.alpha,
                                                        args.patterns, args.hidden, batch_size,
                                                        None, seed=0)
        gen_times[name] = time.perf_counter() - t
        arr = Arrangements.from_weights(A, W1, w2, drop_duplicates=True)
        t = time.perf_counter()
        res = solve_convex(A, ytr, arr, args.alpha, loss="squared", fit_intercept=True,
                           tol=args.tol)
        solve_time = time.perf_counter() - t
        rmse = np.sqrt(np.mean((extract_network(res).predict(B).ravel() - yte) ** 2))
        print(f"| {name} | {batch or 'all'} | {steps} | {gen_times[name]:.1f} | "
              f"{solve_time:.1f} | {res.objective:.6f} | {res.relative_gap:.1e} | "
              f"{res.n_subnetworks} | {rmse:.4f} |", flush=True)
    print(f"generator time, full batch / auto: "
          f"{gen_times['full batch'] / gen_times['auto']:.1f}x")


def fashion(args):
    Xtr, ytr, Xte, yte = pdata.fashion_mnist_pixels(None)
    A, B = pdata.pca_features(Xtr, Xte, args.pca, ones=True)
    print(f"\n=== Fashion-MNIST: {len(A)} training images, PCA {args.pca}; one generator "
          f"per class, {args.patterns} sub-networks, m={args.hidden}, "
          f"alpha={2 * args.alpha:g} on -1/+1 targets")
    print("| schedule | batch | steps | generators s (10 classes) | train acc | test acc |")
    print("|---|---|---|---|---|---|")
    gen_times = {}
    for name, batch_size in SCHEDULES:
        Ftr, Fte = np.zeros((len(A), 10)), np.zeros((len(B), 10))
        t = time.perf_counter()
        for k in range(10):
            params, batch, steps = train_generator(A, np.where(ytr == k, 1.0, -1.0)[:, None],
                                                   "squared", 2 * args.alpha, args.patterns,
                                                   args.hidden, batch_size, None, seed=k)
            Ftr[:, k] = generator_outputs(A, *params)[:, 0]
            Fte[:, k] = generator_outputs(B, *params)[:, 0]
        gen_times[name] = time.perf_counter() - t
        print(f"| {name} | {batch or 'all'} | {steps} | {gen_times[name]:.1f} | "
              f"{np.mean(Ftr.argmax(1) == ytr):.4f} | {np.mean(Fte.argmax(1) == yte):.4f} |",
              flush=True)
    print(f"generator time, full batch / auto: "
          f"{gen_times['full batch'] / gen_times['auto']:.1f}x")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="protein,fashion")
    p.add_argument("--patterns", type=int, default=None,
                   help="sub-networks per generator (default: 32 protein, 16 fashion)")
    p.add_argument("--hidden", type=int, default=2)
    p.add_argument("--alpha", type=float, default=1e-3,
                   help="alpha (fashion: the one-hot alpha, doubled for -1/+1 targets)")
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--pca", type=int, default=50)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    for name in args.datasets.split(","):
        run = {"protein": protein, "fashion": fashion}[name]
        default_p = {"protein": 32, "fashion": 16}[name]
        try:
            run(argparse.Namespace(**{**vars(args), "patterns": args.patterns or default_p}))
        except pdata.DataUnavailable as exc:
            print(f"[skip {name}] {exc}")


if __name__ == "__main__":
    main()

"""How long to train the networks behind ``patterns="trained"`` on large data.

Above 16000 rows :func:`convexrelu.train_arrangements` trains its parallel
network by Adam on minibatches of 2000 rows, the step size decaying
linearly to zero (``MINIBATCH_STEPS`` steps by default).  This script
trains the per-class networks of the one-vs-rest Fashion-MNIST model (one
network of ``--patterns`` sub-networks per class on -1/+1 targets, squared
loss, PCA and standardisation fit on the training rows) for each step count
and seed, and prints the ten networks' argmax accuracy on held-out rows:
by default trained on the first 50000 training images and scored on the
last 10000 (``--test``: trained on all 60000, scored on the test images).
The convex program over a network's tuples lands within a few tenths of a
point of that network (README, Fashion-MNIST), so the tuples are only as
good as these accuracies.  Seeds are paired: every step count starts each
class's network from the same weights.

    python benchmarks/generator_steps.py --steps 1200,2400 --seeds 0,1,2,3
    python benchmarks/generator_steps.py --steps 3600,4800 --seeds 0,1

Set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 to time on one core.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import paper_data as pdata  # noqa: E402
from fashion_levers import generator_outputs, train_generator  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", default="1200,2400", help="minibatch step counts, comma-separated")
    p.add_argument("--seeds", default="0,1", help="seeds, comma-separated")
    p.add_argument("--pca", type=int, default=85)
    p.add_argument("--patterns", type=int, default=16)
    p.add_argument("--hidden", type=int, default=2)
    p.add_argument("--alpha", type=float, default=3e-4,
                   help="the multi-class alpha; each binary network trains at twice it")
    p.add_argument("--test", action="store_true",
                   help="train on all 60000 images and score on the 10000 test images")
    args = p.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]

    Xtr, ytr, Xte, yte = pdata.fashion_mnist_pixels(None)
    if not args.test:
        Xtr, ytr, Xte, yte = Xtr[:50000], ytr[:50000], Xtr[50000:], ytr[50000:]
    A, B = pdata.pca_features(Xtr, Xte, args.pca, ones=True)
    print(f"Fashion-MNIST, {len(A)} training rows, scored on {len(B)} "
          f"{'test' if args.test else 'held-out training'} images; PCA {args.pca}; one network "
          f"per class, {args.patterns} sub-networks, m={args.hidden}, alpha "
          f"{2 * args.alpha:g} on -1/+1 targets; minibatches of 2000 rows")
    acc = np.full((len(seeds), len(steps)), np.nan)
    secs = np.full_like(acc, np.nan)
    print(f"{'seed':>5} " + " ".join(f"{s:>14}" for s in steps))
    for i, seed in enumerate(seeds):
        for j, n_steps in enumerate(steps):
            t = time.perf_counter()
            scores = np.hstack([
                generator_outputs(B, *train_generator(
                    A, np.where(ytr == k, 1.0, -1.0)[:, None], "squared", 2 * args.alpha,
                    args.patterns, args.hidden, 2000, n_steps, seed=seed + 100 * k)[0])
                for k in range(10)])
            secs[i, j] = time.perf_counter() - t
            acc[i, j] = np.mean(scores.argmax(1) == yte)
        print(f"{seed:>5} " + " ".join(f"{100 * a:6.2f}% {s:5.1f}s" for a, s in
                                       zip(acc[i], secs[i])), flush=True)
    print(f"{'mean':>5} " + " ".join(f"{100 * a:6.2f}% {s:5.1f}s" for a, s in
                                     zip(acc.mean(0), secs.mean(0))))
    if len(steps) > 1:
        diff = acc[:, 1:] - acc[:, :1]
        for j in range(1, len(steps)):
            print(f"{steps[j]} against {steps[0]} steps: {100 * diff[:, j - 1].mean():+.2f} "
                  f"points on average, higher on {int(np.sum(diff[:, j - 1] > 0))} of "
                  f"{len(seeds)} seeds")


if __name__ == "__main__":
    main()

"""Imbalanced classes: decision boundaries without and with ``class_weight``.

Two moons with one class ten times rarer than the other.  The convex
three-layer classifier is fitted twice on the same training rows and the same
sampled tuples: once plain, once with ``class_weight="balanced"`` (each class
weighted by ``n / (n_classes * n_c)`` in the loss).  Each panel prints the
recall of the rare class and the balanced accuracy on held-out rows, and the
certified relative duality gap of the fit.

    pip install "convexrelu[plot]"
    python examples/plot_class_weight.py          # writes docs/images/class_weight.png
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_moons
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from convexrelu import ConvexDeepReLUClassifier  # noqa: E402


def imbalanced_moons(n_major=400, n_minor=40, noise=0.3, seed=0):
    """Two moons, ``n_major`` rows of class 0 and ``n_minor`` of class 1."""
    X, y = make_moons(2 * n_major, noise=noise, random_state=seed)
    rng = np.random.default_rng(seed)
    minor = rng.choice(np.flatnonzero(y == 1), n_minor, replace=False)
    keep = np.r_[np.flatnonzero(y == 0), minor]
    return X[keep], y[keep]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--patterns", type=int, default=32)
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "class_weight.png"))
    args = p.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = imbalanced_moons()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                        random_state=0)
    print(f"training rows: {np.bincount(y_train).tolist()} (class 0, class 1)")
    lo, hi = X.min(axis=0) - 0.2, X.max(axis=0) + 0.2
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    grid = np.c_[xx.ravel(), yy.ravel()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, class_weight in zip(axes, (None, "balanced")):
        clf = ConvexDeepReLUClassifier(alpha=args.alpha, n_patterns=args.patterns,
                                       class_weight=class_weight, patterns="sample",
                                       random_state=0)
        t0 = time.perf_counter()
        clf.fit(X_train, y_train)
        secs = time.perf_counter() - t0
        pred = clf.predict(X_test)
        recall = recall_score(y_test, pred, pos_label=1)
        bal = balanced_accuracy_score(y_test, pred)
        print(f"class_weight={class_weight!r}: rare-class recall {recall:.3f}, balanced "
              f"accuracy {bal:.3f} (test), relative gap {clf.relative_gap_:.1e}, "
              f"{clf.n_subnetworks_} sub-networks, {secs:.1f} s")
        F = clf.decision_function(grid).reshape(xx.shape)
        ax.contourf(xx, yy, F > 0, levels=[-0.5, 0.5, 1.5], colors=["#f6d2b8", "#bcd5ee"])
        ax.contour(xx, yy, F, levels=[0.0], colors="k", linewidths=1)
        for cls, colour in ((0, "#d94801"), (1, "#08519c")):
            pts = X_train[y_train == cls]
            ax.scatter(pts[:, 0], pts[:, 1], s=6 if cls == 0 else 14, c=colour)
        ax.set_title(f"class_weight={class_weight!r}\nrare-class recall {recall:.2f}, "
                     f"balanced accuracy {bal:.2f} (test)", fontsize=10)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Imbalanced moons (blue: 10x rarer), convex three-layer classifier, "
                 f"alpha={args.alpha:g}, {args.patterns} sampled tuples", fontsize=11)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

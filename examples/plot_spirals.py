"""Decision boundaries on two interleaved spirals: convex three-layer network,
its two-layer special case (n_hidden=1), and the same three-layer architecture
trained by SGD.

All three minimise the same objective (FORMULATION.md section 2, logistic
loss): the convex models by solving the convex program over sampled
activation-pattern tuples, the SGD model by projected SGD with momentum
(benchmarks/nonconvex.py) with as many sub-networks as the convex solution.

    pip install "convexrelu[plot]"
    python examples/plot_spirals.py                 # writes docs/images/spirals.png
    python examples/plot_spirals.py --solver cvxpy --n 200 --patterns 40

The default solver (the package's) returns exact zeros, so the number of
sub-networks is the true K of the solution; an interior-point solution
(``--solver cvxpy``) leaves tiny groups where the optimum has zeros, which
``solve_convex`` sets to zero when the certificate allows it (80 and 62
nominal sub-networks before the twenty-ninth session, 15 and 8 since).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from convexrelu.estimators import ConvexDeepReLUClassifier  # noqa: E402


def spirals(n=200, turns=1.5, noise=0.04, seed=0):
    """Two interleaved spirals in [-1, 1]^2, n/2 points each, labels 0/1."""
    rng = np.random.default_rng(seed)
    h = n // 2
    t = np.sqrt(rng.uniform(0.02, 1.0, h)) * turns * 2 * np.pi
    r = t / (turns * 2 * np.pi)
    a = np.c_[r * np.cos(t), r * np.sin(t)]
    X = np.vstack([a, -a]) + noise * rng.standard_normal((2 * h, 2))
    y = np.r_[np.zeros(h, int), np.ones(h, int)]
    return X, y


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--patterns", type=int, default=40)
    p.add_argument("--hidden", type=int, default=2, help="first-layer width m")
    p.add_argument("--alpha", type=float, default=1e-3)
    p.add_argument("--solver", default=None,
                   help="convex solver (default: the package's, 'fast'; or 'cvxpy')")
    p.add_argument("--sgd-epochs", type=int, default=3000)
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "spirals.png"))
    args = p.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nonconvex as nc

    X, y = spirals(args.n)
    ypm = np.where(y == 1, 1.0, -1.0)
    Xb = np.hstack([X, np.ones((len(y), 1))])
    panels = []
    for m, label in ((args.hidden, f"convex, three-layer (m={args.hidden})"),
                     (1, "convex, two-layer case (m=1)")):
        clf = ConvexDeepReLUClassifier(alpha=args.alpha, n_patterns=args.patterns,
                                       n_hidden=m, solver=args.solver, patterns="sample",
                                       random_state=0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
        secs = time.perf_counter() - t0
        panels.append((label, clf.decision_function, clf.objective_, clf.score(X, y), secs,
                       clf.n_subnetworks_))
        print(f"{label}: objective {clf.objective_:.4f} (rel. gap {clf.relative_gap_:.1e}), "
              f"{clf.n_subnetworks_} sub-networks, train acc {clf.score(X, y):.3f}, "
              f"{secs:.1f} s")
        if m == args.hidden:
            K = clf.n_subnetworks_
    t0 = time.perf_counter()
    runs = [nc.train(Xb, ypm, args.alpha, n_subnetworks=K, n_hidden=args.hidden,
                     loss="logistic", optimizer="sgd", lr=5e-2, batch_size=32,
                     max_epochs=args.sgd_epochs, seed=s) for s in range(5)]
    secs = (time.perf_counter() - t0) / len(runs)
    best = min(runs, key=lambda r: r.objective)
    objs = sorted(r.objective for r in runs)
    print(f"SGD, K={K}, m={args.hidden}: objectives of 5 starts {np.round(objs, 4)}, "
          f"{secs:.1f} s each")

    def sgd_decision(Z):
        return best.net.decision(np.hstack([Z, np.ones((len(Z), 1))]))[:, 0]

    acc = float(np.mean((sgd_decision(X) > 0) == (y == 1)))
    panels.append((f"SGD, same architecture (K={K}, m={args.hidden}), best of 5",
                   sgd_decision, best.objective, acc, secs, K))

    g = np.linspace(-1.35, 1.35, 300)
    GX, GY = np.meshgrid(g, g)
    grid = np.c_[GX.ravel(), GY.ravel()]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.8))
    for ax, (label, dec, obj, acc, secs, K) in zip(axes, panels):
        Z = dec(grid).reshape(GX.shape)
        ax.contourf(GX, GY, Z, levels=[-1e9, 0, 1e9], colors=["#f6c9a8", "#a9c8ea"],
                    alpha=0.8)
        ax.contour(GX, GY, Z, levels=[0], colors="k", linewidths=1.2)
        ax.scatter(*X[y == 0].T, s=12, c="#d9480f", edgecolors="white", linewidths=0.4)
        ax.scatter(*X[y == 1].T, s=12, c="#1864ab", edgecolors="white", linewidths=0.4)
        ax.set_title(f"{label}\nobjective {obj:.4f}, train acc {acc:.0%}, {secs:.1f} s",
                     fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    fig.suptitle(f"Two spirals, n={len(y)}, logistic loss, alpha={args.alpha:g}, "
                 f"{args.patterns} sampled pattern tuples", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=72)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()

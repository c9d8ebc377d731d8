"""Convex training versus gradient training of the same parallel ReLU network.

For every problem: sample activation-pattern tuples, solve the convex program
(FORMULATION.md section 4) with the chosen solver, and train the same
architecture (K sub-networks of width m, same loss, same regulariser) with
projected Adam and SGD (benchmarks/nonconvex.py) from several random
initialisations, with K equal to the convex solution's number of active
sub-networks and with 4K.  Prints one table per problem (final objective of
every run, the convex optimum and its certificate, time to get within 1% of
the convex optimum) and draws objective-versus-wall-time curves.

The convex value is the global optimum *over the sampled tuples*; it is an
upper bound on the non-convex optimum.  A gradient run may find activation
patterns that were not sampled and end below it.  When that happens by more
than the certificate, the program is solved again with the tuples of the
best gradient run's final network added: that optimum is at or below the best
gradient run by construction (its network is a feasible point of the larger
program), which shows that the difference came from the sampled tuple set,
not from the solver.

Examples::

    python benchmarks/convex_vs_sgd.py                      # small problems, default solver
    python benchmarks/convex_vs_sgd.py --solver cvxpy --seeds 5 --budget 5   # Clarabel
    python benchmarks/convex_vs_sgd.py --fashion            # Fashion-MNIST
    python benchmarks/convex_vs_sgd.py --fashion --fashion-n 10000 --fashion-loss squared \
        --alpha 1e-3 --tuples trained --patterns 32 --seeds 3 --budget 60 --no-augment

K comes from the default solver's exact zeros; an interior-point solution
(``--solver cvxpy``) leaves tiny groups where the optimum has zeros, and
counting those as sub-networks inflates K (all 100 blocks on three of the
small problems).

Objective scaling: (1/n) sum_i loss_i + alpha sum_k ||W1_k||_F ||w2_k|| |w3_k|.
Times are wall-clock seconds on whatever machine runs it (gradient times
exclude the evaluation of the recorded objective; convex times include
sampling the tuples).
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

from convexrelu import (Arrangements, available_solvers, extract_network,  # noqa: E402
                        sample_arrangements, solve_convex, train_arrangements)
import nonconvex as nc  # noqa: E402
import paper_data as pdata  # noqa: E402


# --------------------------------------------------------------------------
# problems

def planted_problem(n=200, d=4, K=3, m=2, noise=0.1, seed=0):
    """A random planted parallel network plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W1 = rng.standard_normal((d + 1, K, m))
    w2 = rng.standard_normal((K, m))
    w3 = rng.choice([-1.0, 1.0], K)
    net = nc.ParallelNet(W1, w2, w3, np.zeros(1), np.zeros(K, dtype=int))
    f = net.decision(np.hstack([X, np.ones((n, 1))]))[:, 0]
    y = f + noise * f.std() * rng.standard_normal(n)
    return X, (y - y.mean()) / y.std()


def small_problems(n_max=300):
    """(name, X, y, loss, alpha) of the default problem set; skips absent data."""
    probs = [("planted (n=200, d=4)", *planted_problem(), "squared", 1e-2)]
    try:
        X, y = pdata.load_uci_regression("yacht", n_max=n_max)
        probs.append((f"yacht (n={len(y)}, d={X.shape[1]})", X, y, "squared", 1e-2))
        X, y = pdata.load_uci_regression("concrete", n_max=n_max)
        probs.append((f"concrete (n={len(y)}, d={X.shape[1]})", X, y, "squared", 1e-2))
        X, lab = pdata.load_uci121("vertebral-column-2clases", n_max=n_max)
        probs.append((f"vertebral, logistic (n={len(lab)}, d={X.shape[1]})", X,
                      np.where(lab == 1, 1.0, -1.0), "logistic", 1e-2))
        X, lab = pdata.load_uci121("seeds", n_max=n_max)
        probs.append((f"seeds, 3 classes (n={len(lab)}, d={X.shape[1]})", X,
                      np.eye(lab.max() + 1)[lab], "cross_entropy", 1e-2))
    except pdata.DataUnavailable as exc:
        print(f"[skip] UCI problems: {exc}")
    return probs


def fashion_problem(n_components=50, n_max=None, loss="cross_entropy", alpha=1e-4):
    from sklearn.decomposition import PCA
    Xtr, ytr, _, _ = pdata.load_fashion_mnist()
    if n_max is not None and n_max < len(ytr):
        keep = np.random.default_rng(0).choice(len(ytr), n_max, replace=False)
        Xtr, ytr = Xtr[keep], ytr[keep]
    Z = PCA(n_components, random_state=0).fit_transform(Xtr / 255.0)
    Z /= Z[:, 0].std()
    return (f"Fashion-MNIST, PCA {n_components} (n={len(ytr)})", Z, np.eye(10)[ytr],
            loss, alpha)


# --------------------------------------------------------------------------
# helpers

def network_tuples(net, Xb):
    """The activation-pattern tuples of a gradient-trained network on Xb."""
    d, K, m = net.W1.shape
    Z1 = (Xb @ net.W1.reshape(d, K * m)).reshape(-1, K, m)
    z2 = np.einsum("nkm,km->nk", np.maximum(Z1, 0), net.w2)
    first = np.transpose(Z1 >= 0, (1, 0, 2))
    signs = np.where(net.w2 >= 0, 1.0, -1.0)
    return Arrangements(first, signs, (z2 >= 0).T)


def merge(a, b):
    return Arrangements(np.concatenate([a.first, b.first]),
                        np.concatenate([a.signs, b.signs]),
                        np.concatenate([a.second, b.second]))


def time_to_reach(history, target):
    for t, _, obj in history:
        if obj <= target:
            return t
    return None


def solve(Xb, y, arr, alpha, loss, solver, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve_convex(Xb, y, arr, alpha, loss=loss, fit_intercept=True,
                            solver=solver, tol=tol)


def run_problem(name, X, y, loss, alpha, args):
    n = X.shape[0]
    Xb = np.hstack([X, np.ones((n, 1))])
    if args.alpha is not None:
        alpha = args.alpha
    t0 = time.perf_counter()
    if args.tuples == "trained":
        # Tuples of a briefly trained network of the same architecture (what
        # patterns="trained" of the estimators does); their time counts.
        arr = train_arrangements(Xb, y, args.patterns, args.hidden, loss=loss, alpha=alpha,
                                 random_state=0)
    else:
        arr = sample_arrangements(Xb, args.patterns, args.hidden, random_state=0)
    res = solve(Xb, y, arr, alpha, loss, args.solver, args.tol)
    conv_time = time.perf_counter() - t0
    net = extract_network(res, bias_column=True)
    check = net.objective(X, y, alpha)
    C = res.u.shape[0]
    per_output = res.active_blocks.sum(axis=(1, 2))          # active blocks per output
    K_star = int(per_output.sum())
    print(f"\n=== {name}: loss={loss}, alpha={alpha:g}, m={args.hidden}, "
          f"{len(arr)} {args.tuples} tuples, solver={res.solver}")
    print(f"convex: objective {res.objective:.6g}  (extracted network {check:.6g}), "
          f"relative gap {res.relative_gap:.1e}, {K_star} sub-networks, {conv_time:.2f} s")
    outputs_star = np.repeat(np.arange(C), np.maximum(per_output, 1))
    runs = []
    for factor in (1, 4):
        outputs = np.repeat(outputs_star, factor)
        for opt in args.optimizers:
            for seed in range(args.seeds):
                r = nc.train(Xb, y, alpha, n_subnetworks=len(outputs), n_hidden=args.hidden,
                             loss=loss, optimizer=opt, lr=args.lr.get(opt),
                             batch_size=args.batch_size if opt == "sgd" or n > 5000 else None,
                             max_epochs=args.max_epochs, max_time=args.budget,
                             eval_every=args.eval_every, outputs=outputs, seed=seed)
                r.K = len(outputs)
                runs.append(r)
    target = res.objective * 1.01 if res.objective > 0 else res.objective
    cert = max(res.dual_gap, 0.0)
    rows = []
    for r in runs:
        rows.append((f"{r.optimizer} K={r.K}", r.seed, r.objective,
                     time_to_reach(r.history, target), r.train_time))
    best = min(r.objective for r in runs)
    aug = None
    if args.augment and best < res.objective - cert - 1e-9 * abs(res.objective):
        # Tuples of the best gradient run's sub-networks that are not zero on the data.
        top = min(runs, key=lambda r: r.objective)
        tuples = network_tuples(top.net, Xb)
        live = np.abs(top.net.w3) * np.linalg.norm(top.net.w2, axis=1) > 0
        live &= tuples.second.any(axis=1)
        big = merge(arr, tuples.subset(np.flatnonzero(live)))
        t1 = time.perf_counter()
        try:
            aug = solve(Xb, y, big, alpha, loss, args.solver, args.tol)
            aug.time = time.perf_counter() - t1
        except RuntimeError as exc:
            print(f"[note] re-solve with the gradient run's tuples failed: {exc}")
    print_table(name, res, conv_time, rows, aug)
    return dict(name=name, convex=res, convex_time=conv_time, runs=runs, aug=aug,
                alpha=alpha, loss=loss)


def print_table(name, res, conv_time, rows, aug):
    print("\n| run | seed | final objective | vs convex | time to 1% of convex (s) | run time (s) |")
    print("|---|---|---|---|---|---|")
    print(f"| convex ({res.solver}) | - | {res.objective:.6g} (gap {res.dual_gap:.1e}) | "
          f"0 | {conv_time:.2f} | {conv_time:.2f} |")
    for label, seed, obj, ttr, tt in rows:
        rel = (obj - res.objective) / abs(res.objective)
        print(f"| {label} | {seed} | {obj:.6g} | {rel:+.2%} | "
              f"{'never' if ttr is None else f'{ttr:.2f}'} | {tt:.2f} |")
    if aug is not None:
        print(f"| convex, sampled + best run's tuples | - | {aug.objective:.6g} (gap {aug.dual_gap:.1e}) | "
              f"{(aug.objective - res.objective) / abs(res.objective):+.2%} | - | {aug.time:.2f} |")
    # summary by configuration: medians over seeds
    print("\nmedians over seeds:")
    groups = {}
    for label, seed, obj, ttr, tt in rows:
        groups.setdefault(label, []).append((obj, ttr))
    for label, vals in groups.items():
        objs = [v[0] for v in vals]
        reached = [v[1] for v in vals if v[1] is not None]
        below = sum(o < res.objective - max(res.dual_gap, 0) for o in objs)
        print(f"  {label:14s} median objective {np.median(objs):.6g} "
              f"(best {min(objs):.6g}, worst {max(objs):.6g}); within 1%: "
              f"{len(reached)}/{len(objs)} runs"
              + (f", median {np.median(reached):.2f} s" if reached else "")
              + (f"; {below} below the convex value" if below else ""))


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    k = len(results)
    cols = min(k, 3)
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    colors = {("adam", 1): "tab:blue", ("adam", 4): "tab:cyan",
              ("sgd", 1): "tab:orange", ("sgd", 4): "tab:red"}
    for ax, out in zip(axes.ravel(), results):
        res = out["convex"]
        Kstar = min(r.K for r in out["runs"])
        seen = set()
        for r in out["runs"]:
            key = (r.optimizer, r.K // max(Kstar, 1))
            t = np.array([h[0] for h in r.history])
            o = np.array([h[2] for h in r.history])
            lab = f"{r.optimizer.upper() if r.optimizer == 'sgd' else 'Adam'}, K={r.K}"
            ax.plot(np.maximum(t, 1e-3), o, color=colors.get(key, "gray"), lw=0.9,
                    alpha=0.75, label=None if key in seen else lab)
            seen.add(key)
        ax.axhline(res.objective, color="k", ls="--", lw=1.2,
                   label=f"convex optimum {res.objective:.4g}")
        ax.plot([out["convex_time"]], [res.objective], "k*", ms=13,
                label=f"convex solve ({out['convex_time']:.1f} s)")
        if out["aug"] is not None:
            ax.axhline(out["aug"].objective, color="green", ls=":", lw=1.2,
                       label="convex, sampled + best gd run's tuples")
        ax.set_xscale("log")
        ax.set_yscale("log")
        lo = min(res.objective, min(r.objective for r in out["runs"]))
        if out["aug"] is not None:
            lo = min(lo, out["aug"].objective)
        ax.set_ylim(lo * 0.9, max(lo * 8, res.objective * 3))
        ax.set_title(out["name"], fontsize=10)
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("training objective")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes.ravel()[k:]:
        ax.axis("off")
    seeds = len({r.seed for r in results[0]["runs"]})
    title = (f"Convex program (one solve) vs projected Adam/SGD from {seeds} random starts, "
             "same network and objective")
    if cols == 1:
        title = title.replace(", same", ",\nsame")
    fig.suptitle(title, fontsize=11 if cols > 1 else 9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"\nsaved {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--solver", default=None,
                   help=f"convex solver, one of {available_solvers()} (default: the "
                        "package's, 'fast')")
    p.add_argument("--patterns", type=int, default=None,
                   help="sampled networks (default 50; 200 with --fashion)")
    p.add_argument("--hidden", type=int, default=2, help="first-layer width m")
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per gradient run (default 5; 120 with --fashion)")
    p.add_argument("--max-epochs", type=int, default=100000)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--adam-lr", type=float, default=1e-2)
    p.add_argument("--sgd-lr", type=float, default=5e-2)
    p.add_argument("--optimizers", default="adam,sgd")
    p.add_argument("--only", default=None, help="substring of the problem names to run")
    p.add_argument("--fashion", action="store_true",
                   help="run Fashion-MNIST (60000 images, PCA features) instead")
    p.add_argument("--fashion-n", type=int, default=None, help="subsample Fashion-MNIST")
    p.add_argument("--fashion-loss", default="cross_entropy", choices=["cross_entropy", "squared"],
                   help="Fashion-MNIST's loss (squared: one program per class)")
    p.add_argument("--fashion-pca", type=int, default=50)
    p.add_argument("--alpha", type=float, default=None,
                   help="alpha of every problem (default: each problem's own)")
    p.add_argument("--tuples", default="sampled", choices=["sampled", "trained"],
                   help="sampled tuples, or those of a briefly trained network")
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="skip the re-solve with the best gradient run's tuples (on large "
                        "problems it holds hundreds more tuples)")
    p.add_argument("--out", default=None, help="PNG path (default docs/images/...)")
    args = p.parse_args(argv)
    args.optimizers = args.optimizers.split(",")
    args.lr = {"adam": args.adam_lr, "sgd": args.sgd_lr}
    if args.fashion:
        args.patterns = args.patterns or 200
        args.budget = args.budget or 120.0
        args.batch_size = max(args.batch_size, 256)
        args.eval_every = args.eval_every or 1
        if args.solver == "cvxpy":
            print("note: Clarabel on all 60000 images is impractical; use --solver fast")
        try:
            problems = [fashion_problem(args.fashion_pca, n_max=args.fashion_n,
                                        loss=args.fashion_loss)]
        except pdata.DataUnavailable as exc:
            print(f"[skip] {exc}")
            return
        out = args.out or str(HERE.parent / "docs" / "images" / "convex_vs_sgd_fashion.png")
    else:
        args.patterns = args.patterns or 50
        args.budget = args.budget or 5.0
        args.eval_every = args.eval_every or 10
        problems = small_problems()
        out = args.out or str(HERE.parent / "docs" / "images" / "convex_vs_sgd.png")
    if args.only:
        problems = [pr for pr in problems if args.only.lower() in pr[0].lower()]
    results = [run_problem(*pr, args) for pr in problems]
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        plot(results, out)
    except ImportError:
        print("matplotlib is not installed (pip install 'convexrelu[plot]'); no picture")


if __name__ == "__main__":
    main()

"""A tight round on an unchanged working set: resume the loose round's interior point, or restart.

The fast solver solves a cold working set loosely first (``first_round_tol``,
``loose_while_growing``); when pricing then finds no block outside the set
that violates its dual constraint, the next round solves the *same* set
tightly.  With ``resume_ipm=True`` (the default) that round continues the
loose round's interior point (its iterate, multipliers and barrier
parameter) instead of starting a new one from the generating weights.

Per problem (a cold fit as the estimators make it: ``x -> [x, 1]``, tuples
sampled or trained as the estimators do, the classifier's loss), the fast
solver runs with ``resume_ipm`` off, on, off, on, ... (``--repeats`` pairs,
one process): the median seconds of each, their ratio, how many rounds
resumed, the two certified objectives' relative difference and the larger
relative gap.

    python benchmarks/bench_ipm_resume.py                    # bundled data sets
    python benchmarks/bench_ipm_resume.py --uci 8 --repeats 2   # and 8 UCI-121 sets (n <= 1000)
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.preprocessing import StandardScaler

from convexrelu import sample_arrangements, solve_convex, train_arrangements

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci121, uci121_names  # noqa: E402


def problems(n_uci):
    out = []
    for name, loader, kind in [("breast_cancer", load_breast_cancer, "clf"),
                               ("wine", load_wine, "clf"), ("iris", load_iris, "clf"),
                               ("digits300", load_digits, "clf"),
                               ("diabetes", load_diabetes, "reg")]:
        X, y = loader(return_X_y=True)
        if name == "digits300":
            X, y = X[:300], y[:300]
        out.append((name, X, y, kind))
    if n_uci:
        names = uci121_names(max_samples=1000) or []
        rng = np.random.default_rng(0)
        for name in rng.permutation(names)[:n_uci]:
            X, y = load_uci121(name)[:2]
            out.append((str(name), X, y, "clf"))
    return out


def encode(X, y, kind):
    X = StandardScaler().fit_transform(np.asarray(X, float))
    Xa = np.hstack([X, np.ones((len(X), 1))])
    if kind == "reg":
        return Xa, ((y - y.mean()) / y.std())[:, None], "squared"
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) == 2:
        return Xa, np.where(codes == 1, 1.0, -1.0)[:, None], "logistic"
    return Xa, np.eye(len(classes))[codes], "cross_entropy"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--uci", type=int, default=0,
                   help="also this many UCI-121 sets with n <= 1000 (a fixed random choice)")
    p.add_argument("--alphas", default="1e-2,1e-3")
    p.add_argument("--n-patterns", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2, help="off/on pairs per problem")
    args = p.parse_args(argv)
    alphas = [float(a) for a in args.alphas.split(",")]
    print(f"{'problem':<34} {'off s':>7} {'on s':>7} {'ratio':>6} {'resumed':>7} "
          f"{'rel obj diff':>12} {'rel gap':>8}")
    tot_off = tot_on = 0.0
    ratios = []
    for name, X, y, kind in problems(args.uci):
        Xa, Y, loss = encode(X, y, kind)
        for tuples in ("trained", "sample"):
            if tuples == "trained":
                arr = train_arrangements(Xa, Y, args.n_patterns, 2, loss=loss, random_state=0)
            else:
                arr = sample_arrangements(Xa, args.n_patterns, 2, random_state=0)
            for alpha in alphas:
                times = {False: [], True: []}
                res = {}
                for _ in range(args.repeats):
                    for flag in (False, True):
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            t = time.perf_counter()
                            res[flag] = solve_convex(Xa, Y if loss != "logistic" else Y[:, 0],
                                                     arr, alpha, loss=loss, fit_intercept=True,
                                                     tol=1e-6, resume_ipm=flag)
                            times[flag].append(time.perf_counter() - t)
                t_off, t_on = float(np.median(times[False])), float(np.median(times[True]))
                tot_off += t_off
                tot_on += t_on
                ratios.append(t_off / t_on)
                resumed = sum(1 for h in res[True].history if h.get("resumed"))
                diff = (res[True].objective - res[False].objective) / abs(res[False].objective)
                gap = max(res[True].relative_gap, res[False].relative_gap)
                label = f"{name}:{tuples}:{alpha:g}"
                print(f"{label:<34} {t_off:7.2f} {t_on:7.2f} {t_off / t_on:6.2f} {resumed:7d} "
                      f"{diff:12.1e} {gap:8.1e}", flush=True)
    print(f"\n{len(ratios)} fits: total {tot_off:.1f} s off, {tot_on:.1f} s on "
          f"({tot_off / tot_on:.2f}x); median ratio {np.median(ratios):.2f}, "
          f"min {min(ratios):.2f}, max {max(ratios):.2f}")


if __name__ == "__main__":
    main()

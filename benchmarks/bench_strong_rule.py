"""Paths with the strong rule's former cap on coarse steps against the current rule.

A path point starts its working set from the previous solution's blocks
plus those the sequential strong rule expects to enter
(``convexrelu/solvers/_working_set.py``, ``_add_strong_rule_blocks``).  Until the
twenty-seventh session, steps coarser than ``alpha >= 0.8 alpha_prev``
(where the rule's threshold ``2 alpha - alpha_prev`` falls toward zero)
took every block within 40% of ``alpha_prev``; now they take none
(``STRONG_RULE_MIN_STEP``).  This script solves the same paths both ways
in one process, alternating per path, and prints each path's seconds
(median of ``--repeats``), its working-set rounds, the ratio (former /
current: above 1 means the current rule is faster) and the largest
relative difference of the certified objectives.

Paths: one training fold (``--fold`` of 5) of diabetes, the UCI regression
sets of ``../shared/data`` (training rows of split 0, cut to
``--max-train``; skipped when absent), iris and wine (cross-entropy) and
breast cancer (logistic); X standardised, trained tuples (``--patterns``,
m = 2) as the CV estimators use, ``convex_path`` with ``--n-alphas`` down
to ``--eps`` times alpha_max, tol 1e-6.

    python benchmarks/bench_strong_rule.py                          # 10 alphas, eps 1e-3
    python benchmarks/bench_strong_rule.py --n-alphas 30 --fold 1 --seed 1
    python benchmarks/bench_strong_rule.py --n-alphas 10 --eps 1e-2 --sets diabetes,yacht

``--near`` compares instead, on the same paths, the solver without and with
the exact test of near violators and of the working set's multipliers
(``NEAR_VIOLATORS_MOST`` and ``SHORT_SET_BLOCKS_MOST`` 0, ``TIGHT_RETRY`` off,
against the defaults; see ``_certify_round`` in ``convexrelu/solvers/fast.py``):

    python benchmarks/bench_strong_rule.py --near --sets naval-propulsion-plant,diabetes

``--walk`` compares the active-set method's former limit of 1000 blocking rows
walked in one line search with the current ``WALK_FACTOR (n + p)``
(``WALK_ROWS_MOST`` in ``convexrelu/solvers/_line_search.py``):

    python benchmarks/bench_strong_rule.py --walk --fold 4

``--cold`` compares instead the warm-started path (current) with one cold
``solve_convex`` per alpha of the same grid on the same tuples (former; what a
grid search over the path's programs would solve), to show what the warm
starts save on each path; a last line adds up, point by point, the faster of
the two (what choosing between a warm start and a cold solve at each alpha
could at best reach):

    python benchmarks/bench_strong_rule.py --cold

Set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 to time on one core.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci_regression, uci_regression_names  # noqa: E402

import convexrelu.solvers._line_search as line_search  # noqa: E402
import convexrelu.solvers._block_certificate as block_certificate  # noqa: E402
import convexrelu.solvers.fast as fast  # noqa: E402
from convexrelu.solvers._working_set import _warm_dual_norms  # noqa: E402
from convexrelu import (alpha_grid, convex_path, solve_convex,  # noqa: E402
                        train_arrangements)

# The two largest UCI regression sets take minutes per path at any rule.
SKIP = ("protein-tertiary-structure", "year-prediction-MSD")


def former_rule(op, in_set, warm_start, alpha):
    """The rule before STRONG_RULE_MIN_STEP: on coarse steps the blocks within
    40% of ``alpha_prev`` (``c_b >= 0.6 alpha_prev``)."""
    prev = getattr(warm_start, "alpha", None)
    if prev is None or prev <= alpha:
        return
    c = _warm_dual_norms(op, warm_start, in_set.shape[0])
    if c is not None:
        in_set |= c >= max(2.0 * alpha - float(prev), 0.6 * float(prev))


RULES = {"former": former_rule, "current": fast._add_strong_rule_blocks}
#: --near: (NEAR_VIOLATORS_MOST, SHORT_SET_BLOCKS_MOST, TIGHT_RETRY) without
#: and with the exact tests
NEAR = {"former": (0, 0, False),
        "current": (fast.NEAR_VIOLATORS_MOST, fast.SHORT_SET_BLOCKS_MOST, True)}


#: --walk: WALK_ROWS_MOST
WALK = {"former": 1000, "current": line_search.WALK_ROWS_MOST}


def _use(setting, mode):
    """Install a setting of RULES (or of NEAR or WALK, as ``mode`` says)."""
    if mode == "cold":
        return
    if mode == "near":
        (fast.NEAR_VIOLATORS_MOST, fast.SHORT_SET_BLOCKS_MOST,
         block_certificate.TIGHT_RETRY) = NEAR[setting]
    elif mode == "walk":
        line_search.WALK_ROWS_MOST = WALK[setting]
    else:
        fast._add_strong_rule_blocks = RULES[setting]


class _ColdPoints:
    """The fields of a ConvexPath that the table reads, from cold solves."""

    def __init__(self, alphas, results):
        self.alphas, self.results = alphas, results
        self.objectives = np.array([r.objective for r in results])
        self.solve_times = np.array([r.solve_time for r in results])


def _cold_points(X, y, arr, loss, n_alphas, eps):
    """One cold solve per alpha of ``convex_path``'s grid (its first alpha,
    ``alpha_max``, has the zero solution without a solve there too: a
    one-point path gives it and ``alpha_max``, computed once as the path's is)."""
    first = convex_path(X, y, arr, n_alphas=1, loss=loss, fit_intercept=True, tol=1e-6)
    alphas = alpha_grid(first.alpha_max, n_alphas=n_alphas, eps=eps)
    return _ColdPoints(alphas, first.results + [
        solve_convex(X, y, arr, float(a), loss=loss, fit_intercept=True, tol=1e-6)
        for a in alphas[1:]])


def datasets(max_train):
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", StandardScaler().fit_transform(X), (y - y.mean()) / y.std(), "squared"
    for name in uci_regression_names():
        if name in SKIP:
            continue
        X, y, _, _ = load_uci_regression(name, split=0)
        X, y = X[:max_train], y[:max_train]
        yield name, StandardScaler().fit_transform(X), (y - y.mean()) / y.std(), "squared"
    for name, load in (("iris", load_iris), ("wine", load_wine)):
        X, y = load(return_X_y=True)
        yield name, StandardScaler().fit_transform(X), np.eye(y.max() + 1)[y], "cross_entropy"
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast cancer", StandardScaler().fit_transform(X), 2.0 * y - 1.0, "logistic"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-alphas", type=int, default=10)
    p.add_argument("--eps", type=float, default=1e-3)
    p.add_argument("--max-train", type=int, default=1000)
    p.add_argument("--patterns", type=int, default=32)
    p.add_argument("--fold", type=int, default=0, help="training fold (of 5)")
    p.add_argument("--seed", type=int, default=0, help="the tuples' seed")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--sets", default=None, help="comma-separated set names")
    p.add_argument("--near", action="store_true",
                   help="without and with the exact tests of near violators, instead")
    p.add_argument("--walk", action="store_true",
                   help="the active-set line search's former limit on rows walked, instead")
    p.add_argument("--cold", action="store_true",
                   help="one cold solve per alpha against the warm-started path, instead")
    args = p.parse_args(argv)
    mode = ("near" if args.near else "walk" if args.walk else "cold" if args.cold
            else "rule")
    warnings.simplefilter("ignore")

    problems = []
    for name, X, y, loss in datasets(args.max_train):
        if args.sets and name not in args.sets.split(","):
            continue
        Xa = np.hstack([X, np.ones((len(X), 1))])
        train = list(KFold(5, shuffle=True, random_state=0).split(X))[args.fold][0]
        Y = y[train] if y.ndim == 2 else y[train, None]
        # Tuples trained below the grid's smallest alpha, as a CV fold trains them.
        arr = train_arrangements(Xa[train], Y, args.patterns, 2, loss=loss, alpha=1e-4,
                                 random_state=np.random.RandomState(args.seed))
        problems.append((name, Xa[train], y[train], arr, loss))

    print(f"{args.n_alphas} alphas down to {args.eps:g} alpha_max, {args.patterns} trained "
          f"tuples, m = 2, fold {args.fold}, seed {args.seed}; seconds (rounds)"
          + ("; former: without the exact tests of near violators" if args.near else "")
          + ("; former: at most 1000 rows walked per line search" if args.walk else "")
          + ("; former: a cold solve per alpha" if args.cold else ""))
    print(f"{'path':<24}{'n x d':>10}{'former':>14}{'current':>14}{'ratio':>7}"
          f"{'rel obj diff':>14}{'unconverged':>13}")
    total = dict.fromkeys(RULES, 0.0)
    best_of_both = 0.0
    try:
        for name, X, y, arr, loss in problems:
            runs = {rule: [] for rule in RULES}
            for _ in range(args.repeats):
                for rule in RULES:
                    _use(rule, mode)
                    t = time.perf_counter()
                    if mode == "cold" and rule == "former":
                        path = _cold_points(X, y, arr, loss, args.n_alphas, args.eps)
                    else:
                        path = convex_path(X, y, arr, n_alphas=args.n_alphas, eps=args.eps,
                                           loss=loss, fit_intercept=True, tol=1e-6)
                    runs[rule].append((time.perf_counter() - t, path))
            sec = {rule: float(np.median([t for t, _ in runs[rule]])) for rule in RULES}
            rounds = {rule: sum(len(r.history) for r in runs[rule][0][1].results)
                      for rule in RULES}
            o_f = runs["former"][0][1].objectives
            o_c = runs["current"][0][1].objectives
            diff = float(np.max(np.abs(o_c - o_f) / np.abs(o_f)))
            unconv = {rule: sum(not r.converged for r in runs[rule][0][1].results)
                      for rule in RULES}
            for rule in RULES:
                total[rule] += sec[rule]
            if mode == "cold":
                best_of_both += float(np.minimum(runs["former"][0][1].solve_times,
                                                 runs["current"][0][1].solve_times).sum())
            cells = "".join(f"{sec[r]:>9.2f} ({rounds[r]:>2})" for r in RULES)
            print(f"{name:<24}{f'{X.shape[0]}x{X.shape[1] - 1}':>10}{cells}"
                  f"{sec['former'] / sec['current']:>7.2f}{diff:>14.1e}"
                  f"{unconv['former']:>8} / {unconv['current']}", flush=True)
    finally:
        _use("current", mode)
    print(f"{'total':<34}{total['former']:>14.2f}{total['current']:>14.2f}"
          f"{total['former'] / total['current']:>7.2f}")
    if mode == "cold":
        print(f"the faster of the two at every point, summed (solve times of each "
              f"side's first run): {best_of_both:.2f} s")


if __name__ == "__main__":
    main()

"""Cross-validated alpha: ConvexDeepReLURegressorCV against GridSearchCV.

Same data, same folds, same grid, same patterns: the CV estimator (patterns
drawn once, one warm-started path per fold, networks scored straight from the
path, one refit) against ``GridSearchCV(ConvexDeepReLURegressor(...))`` over
the CV estimator's own grid (``alphas_``: a geometric grid from the exact
``alpha_max`` of the data), both at ``n_jobs=1``.  Columns: the chosen alpha
of each (and whether they agree or are one grid step apart), the best mean
R^2 (accuracy for classifiers) of each, the largest difference of any
fold's score, wall seconds of
each and their ratio; then where the CV estimator's seconds went (alpha_max,
the fold paths, the refit); then, per alpha, a path point's seconds against
a ``GridSearchCV`` fit's (means over the folds) and the path's sub-networks.

Data: scikit-learn's diabetes (442 x 10), and UCI yacht (training rows of
split 0, 277 x 6) when ``../shared/data`` is present; X and y standardised.
``--datasets iris,wine`` (scikit-learn's, 3 classes, X standardised) runs
``ConvexDeepReLUClassifierCV`` against ``GridSearchCV(ConvexDeepReLUClassifier)``
instead (cross-entropy, accuracy, stratified folds).

    python benchmarks/bench_cv.py                     # both data sets, defaults
    python benchmarks/bench_cv.py --datasets diabetes --n-patterns 30 --folds 5
    python benchmarks/bench_cv.py --n-alphas 20 --no-active-set   # both sides without it
    python benchmarks/bench_cv.py --datasets iris,wine --n-alphas 20   # classifiers

``--no-active-set`` makes every restricted solve an interior-point one (the
active-set method of ``convexrelu/solvers/_active_set.py`` reports failure
at once), on both sides, to show what that method contributes.

``--patterns trained`` gives both sides trained tuples (the CV estimator
trains them once per fold at the grid's smallest alpha, ``GridSearchCV``'s
estimator at every alpha); ``--gs-patterns trained`` only ``GridSearchCV``.
The two then solve the same programs only at the smallest alpha, so
"agree" and the fold-score difference say how far apart their choices and
scores are, not whether they match.

    python benchmarks/bench_cv.py --datasets diabetes,concrete,yacht --gs-patterns trained
    python benchmarks/bench_cv.py --datasets diabetes,concrete,yacht --patterns trained
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci_regression, uci_regression_names  # noqa: E402

from convexrelu import (  # noqa: E402
    ConvexDeepReLUClassifier,
    ConvexDeepReLUClassifierCV,
    ConvexDeepReLURegressor,
    ConvexDeepReLURegressorCV,
)

CLASSIFICATION = {"iris": load_iris, "wine": load_wine}


def load(name):
    if name in CLASSIFICATION:
        X, y = CLASSIFICATION[name](return_X_y=True)
        return StandardScaler().fit_transform(X), y
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
    else:
        if name not in uci_regression_names():
            return None
        X, y, _, _ = load_uci_regression(name, split=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    return X, y


def run(name, X, y, args):
    if name in CLASSIFICATION:
        folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
        Est, EstCV = ConvexDeepReLUClassifier, ConvexDeepReLUClassifierCV
    else:
        folds = KFold(args.folds, shuffle=True, random_state=0)
        Est, EstCV = ConvexDeepReLURegressor, ConvexDeepReLURegressorCV
    common = dict(n_patterns=args.n_patterns, n_hidden=args.n_hidden, tol=args.tol,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        cv = EstCV(n_alphas=args.n_alphas, eps=args.eps, cv=folds, patterns=args.patterns,
                   **common).fit(X, y)
        t_cv = time.perf_counter() - t
        t = time.perf_counter()
        gs = GridSearchCV(Est(patterns=args.gs_patterns or args.patterns, **common),
                          {"alpha": list(cv.alphas_)}, cv=folds).fit(X, y)
        t_gs = time.perf_counter() - t
    alphas = list(cv.alphas_)
    i_cv, i_gs = alphas.index(cv.alpha_), alphas.index(gs.best_params_["alpha"])
    gs_scores = np.array([gs.cv_results_[f"split{k}_test_score"]
                          for k in range(args.folds)])
    paths = float(cv.cv_solve_times_.sum())
    refit = float(cv.best_estimator_.fit_time_)
    return dict(
        name=name, n=X.shape[0], d=X.shape[1], alpha_cv=cv.alpha_,
        alpha_gs=gs.best_params_["alpha"],
        agree="same" if i_cv == i_gs else ("1 step" if abs(i_cv - i_gs) == 1 else "NO"),
        score_cv=cv.best_score_, score_gs=gs.best_score_,
        max_diff=float(np.max(np.abs(cv.cv_scores_ - gs_scores))),
        t_cv=t_cv, t_gs=t_gs, ratio=t_gs / t_cv, paths=paths, refit=refit,
        other=t_cv - paths - refit,
        gs_fits=float(gs.cv_results_["mean_fit_time"].sum() * args.folds),
        gs_refit=float(gs.refit_time_), k_min=int(cv.cv_n_subnetworks_[:, -1].max()),
        alphas=alphas, path_per_alpha=cv.cv_solve_times_.mean(axis=0),
        gs_per_alpha=np.asarray(gs.cv_results_["mean_fit_time"], float),
        k_per_alpha=cv.cv_n_subnetworks_.mean(axis=0))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="diabetes,yacht")
    p.add_argument("--n-patterns", type=int, default=20)
    p.add_argument("--n-hidden", type=int, default=2)
    p.add_argument("--n-alphas", type=int, default=6)
    p.add_argument("--eps", type=float, default=1e-2)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--no-active-set", action="store_true")
    p.add_argument("--patterns", default="sample", choices=["sample", "trained"],
                   help="tuples of both sides (default: sampled)")
    p.add_argument("--gs-patterns", default=None, choices=["sample", "trained"],
                   help="tuples of GridSearchCV's estimator (default: --patterns)")
    args = p.parse_args(argv)
    if args.no_active_set:
        import convexrelu.solvers.fast as fast

        def _declined(op, loss, Y, w, alpha, blocks, U0, b0, **kwargs):
            return U0, b0, None, None, "failed"
        fast.solve_restricted_active_set = _declined
    print(f"patterns={args.n_patterns} n_hidden={args.n_hidden} grid={args.n_alphas} "
          f"(eps={args.eps:g}) folds={args.folds} tol={args.tol:g} n_jobs=1 "
          f"tuples: CV {args.patterns}, GridSearchCV {args.gs_patterns or args.patterns}"
          + ("  (no active-set method)" if args.no_active_set else ""))
    rows = []
    for name in args.datasets.split(","):
        data = load(name)
        if data is None:
            print(f"{name}: data not found, skipped")
            continue
        rows.append(run(name, *data, args))
    print()
    print(f"{'data':<9} {'n x d':>8} {'alpha CV':>9} {'alpha GS':>9} {'agree':>6} "
          f"{'sc. CV':>7} {'sc. GS':>7} {'max|dsc|':>9} {'CV s':>7} {'GS s':>7} {'GS/CV':>6}")
    for r in rows:
        print(f"{r['name']:<9} {r['n']:>4}x{r['d']:<3} {r['alpha_cv']:>9.3g} "
              f"{r['alpha_gs']:>9.3g} {r['agree']:>6} {r['score_cv']:>7.4f} "
              f"{r['score_gs']:>7.4f} {r['max_diff']:>9.1e} {r['t_cv']:>7.1f} "
              f"{r['t_gs']:>7.1f} {r['ratio']:>5.1f}x")
    print()
    print(f"{'data':<9} {'CV: paths':>10} {'refit':>7} {'alpha_max+rest':>15}   "
          f"{'GS: fold fits':>13} {'refit':>7}   {'K at min alpha':>14}")
    for r in rows:
        print(f"{r['name']:<9} {r['paths']:>10.1f} {r['refit']:>7.1f} {r['other']:>15.1f}   "
              f"{r['gs_fits']:>13.1f} {r['gs_refit']:>7.1f}   {r['k_min']:>14d}")
    # Where the ratio comes from: a path point against a GridSearchCV fit at
    # each alpha (means over the folds; GridSearchCV's include its tuples'
    # training when they are trained at every alpha).
    for r in rows:
        print(f"\n{r['name']}: seconds per fold at each alpha")
        print(f"{'alpha':>10} {'CV path point':>14} {'GS fit':>8} {'GS/CV':>6} {'sub-networks':>13}")
        for a, tp, tg, k in zip(r["alphas"], r["path_per_alpha"], r["gs_per_alpha"],
                                r["k_per_alpha"]):
            print(f"{a:>10.3g} {tp:>14.3f} {tg:>8.3f} {tg / max(tp, 1e-9):>5.1f}x {k:>13.1f}")


if __name__ == "__main__":
    main()

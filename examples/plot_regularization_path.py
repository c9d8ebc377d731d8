"""Choosing alpha: the regularisation path and its cross-validation on diabetes.

Left: the certified path on all 442 rows (``convexrelu.convex_path``), the
number of active sub-networks and the training R^2 as alpha falls from
``alpha_max`` (where the solution is exactly zero), with every point's
relative duality gap, the certificate, under it.  Right: the 5-fold score
path of ``ConvexDeepReLURegressorCV`` (one thin line per fold, the mean
thick) and the alpha it picks, next to what ``GridSearchCV`` over the plain
estimator picks on the same grid and folds.

    pip install "convexrelu[plot]"
    python examples/plot_regularization_path.py    # writes docs/images/regularization_path.png
    python examples/plot_regularization_path.py --n-alphas 10 --no-grid-search
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

from convexrelu import (ConvexDeepReLURegressor, ConvexDeepReLURegressorCV, convex_path,
                        extract_network, sample_arrangements)

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-alphas", type=int, default=20)
    p.add_argument("--eps", type=float, default=1e-3)
    p.add_argument("--patterns", type=int, default=32)
    p.add_argument("--hidden", type=int, default=2, help="first-layer width m")
    p.add_argument("--no-grid-search", action="store_true",
                   help="skip the GridSearchCV comparison (the slow part)")
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "regularization_path.png"))
    args = p.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()

    # The functional API: patterns, then the warm-started path on a grid from
    # alpha_max (which the path computes and returns).
    X1 = np.column_stack([X, np.ones(len(X))])
    arr = sample_arrangements(X1, n_patterns=args.patterns, n_hidden=args.hidden,
                              random_state=0)
    t0 = time.perf_counter()
    path = convex_path(X1, y, arr, n_alphas=args.n_alphas, eps=args.eps, fit_intercept=True)
    t_path = time.perf_counter() - t0
    amax = path.alpha_max
    # Each point's network, extracted from its convex solution.
    train_r2 = [r2_score(y, extract_network(res).predict(X1)) for res in path.results]
    print(f"alpha_max = {amax:.4g}; path of {len(path)} alphas on all rows in {t_path:.1f} s; "
          f"largest relative gap {np.nanmax(path.relative_gaps):.1e}")

    # The CV estimator: one warm-started path per fold, then a refit.
    folds = KFold(5, shuffle=True, random_state=0)
    cv_est = ConvexDeepReLURegressorCV(n_alphas=args.n_alphas, eps=args.eps, cv=folds,
                                       n_patterns=args.patterns, n_hidden=args.hidden,
                                       patterns="sample", random_state=0)
    t0 = time.perf_counter()
    cv_est.fit(X, y)
    t_cv = time.perf_counter() - t0
    print(f"ConvexDeepReLURegressorCV: alpha_ = {cv_est.alpha_:.4g}, mean CV R^2 "
          f"{cv_est.best_score_:.4f}, {t_cv:.1f} s")

    gs = None
    if not args.no_grid_search:
        # sampled tuples, as the CV estimator's path
        gs = GridSearchCV(ConvexDeepReLURegressor(n_patterns=args.patterns,
                                                  n_hidden=args.hidden, patterns="sample",
                                                  random_state=0),
                          {"alpha": list(cv_est.alphas_)}, cv=folds)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # At the largest alphas the fit is exactly zero: R^2 <= 0 is expected.
            warnings.simplefilter("ignore")
            gs.fit(X, y)
        t_gs = time.perf_counter() - t0
        print(f"GridSearchCV(ConvexDeepReLURegressor): alpha = {gs.best_params_['alpha']:.4g}, "
              f"mean CV R^2 {gs.best_score_:.4f}, {t_gs:.1f} s "
              f"({t_gs / t_cv:.1f}x the CV estimator's time)")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    ax1.semilogx(path.alphas, path.n_subnetworks, "o-", color="#1864ab", ms=4)
    ax1.set_xlabel("alpha")
    ax1.set_ylabel("active sub-networks", color="#1864ab")
    ax1.invert_xaxis()
    twin = ax1.twinx()
    twin.semilogx(path.alphas, train_r2, "s--", color="#d9480f", ms=3)
    twin.set_ylabel("training R^2", color="#d9480f")
    ax1.set_title(f"certified path on all rows ({len(path)} alphas, {t_path:.1f} s)\n"
                  f"every relative duality gap <= {np.nanmax(path.relative_gaps):.0e}",
                  fontsize=10)
    ax1.axvline(amax, color="grey", lw=0.8, ls=":")
    ax1.annotate("alpha_max", xy=(amax, 1), xycoords=("data", "axes fraction"),
                 textcoords="offset points", xytext=(4, -12), fontsize=8, color="grey")

    alphas = cv_est.alphas_
    for row in cv_est.cv_scores_:
        ax2.semilogx(alphas, row, color="#868e96", lw=0.6, alpha=0.7)
    ax2.semilogx(alphas, cv_est.mean_cv_scores_, "o-", color="#1864ab", ms=4,
                 label=f"CV estimator: alpha_ = {cv_est.alpha_:.3g} ({t_cv:.1f} s)")
    ax2.axvline(cv_est.alpha_, color="#1864ab", lw=1)
    if gs is not None:
        gs_scores = dict(zip(gs.cv_results_["param_alpha"], gs.cv_results_["mean_test_score"]))
        ax2.semilogx(alphas, [gs_scores[a] for a in alphas], "x", color="#d9480f", ms=6,
                     label=f"GridSearchCV: alpha = {gs.best_params_['alpha']:.3g} ({t_gs:.1f} s)")
    ax2.invert_xaxis()
    ax2.set_ylim(max(-0.2, np.nanmin(cv_est.cv_scores_)), None)
    ax2.set_xlabel("alpha")
    ax2.set_ylabel("test R^2 (5 folds)")
    ax2.set_title("cross-validated score path", fontsize=10)
    ax2.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"diabetes (n=442, d=10), {args.patterns} sampled pattern tuples, "
                 f"m={args.hidden}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=72)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()

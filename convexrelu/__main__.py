"""The main job: convex deep ReLU networks against MLPs on bundled real data.

``python -m convexrelu`` fits both estimators under 5-fold cross-validation
(a StandardScaler in a Pipeline; the regression target standardised too),
prints their scores next to scikit-learn's MLPs under the same protocol
(the convex models with trained pattern tuples, the default, and with
sampled ones), and the
convex objective, certificate and active sub-networks of one fit.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import __version__
from .estimators import ConvexDeepReLUClassifier, ConvexDeepReLURegressor


def _regression_models(seed, alpha):
    def scaled(est):
        return TransformedTargetRegressor(make_pipeline(StandardScaler(), est),
                                          transformer=StandardScaler())
    return {
        "ConvexDeepReLURegressor": scaled(ConvexDeepReLURegressor(alpha=alpha, random_state=seed)),
        "  same, patterns='sample'": scaled(ConvexDeepReLURegressor(
            alpha=alpha, patterns="sample", random_state=seed)),
        "MLPRegressor(100,)": scaled(MLPRegressor(max_iter=2000, random_state=seed)),
    }


def _classification_models(seed, alpha):
    return {
        "ConvexDeepReLUClassifier": make_pipeline(
            StandardScaler(), ConvexDeepReLUClassifier(alpha=alpha, random_state=seed)),
        "  same, patterns='sample'": make_pipeline(
            StandardScaler(), ConvexDeepReLUClassifier(alpha=alpha, patterns="sample",
                                                       random_state=seed)),
        "MLPClassifier(100,)": make_pipeline(
            StandardScaler(), MLPClassifier(max_iter=2000, random_state=seed)),
    }


def _cross_validate(models, X, y, cv, scoring):
    rows = []
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = cross_validate(model, X, y, cv=cv, scoring=scoring, return_estimator=True)
        rows.append((name, res))
        print(f"  {name:<28} {scoring} = {res['test_score'].mean():.3f} "
              f"+- {res['test_score'].std():.3f}   fit time per fold "
              f"{np.median(res['fit_time']):6.2f} s (median)")
    return rows


_KIND = {"trained": "trained", "sample": "sampled", "exact": "enumerated"}


def _describe(est):
    print(f"  one fold's convex fit: objective {est.objective_:.6g}, duality gap "
          f"{est.dual_gap_:.2e} (relative {est.relative_gap_:.1e}, converged={est.converged_}), "
          f"{est.n_subnetworks_} active sub-networks of width {est.n_hidden} "
          f"from {est.n_patterns_} {_KIND[est.patterns]} patterns, solver {est.solver_!r}, "
          f"{est.n_iter_} iterations, {est.fit_time_:.2f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m convexrelu", description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=1e-2,
                        help="alpha of the convex models (default 1e-2)")
    args = parser.parse_args(argv)
    print(f"convexrelu {__version__}: three-layer ReLU networks trained to global optimality\n")
    t0 = time.perf_counter()

    X, y = load_diabetes(return_X_y=True)
    print(f"diabetes regression (n={X.shape[0]}, d={X.shape[1]}), 5-fold CV, R^2:")
    rows = _cross_validate(_regression_models(args.seed, args.alpha), X, y,
                           KFold(5, shuffle=True, random_state=args.seed), "r2")
    _describe(rows[0][1]["estimator"][0].regressor_[-1])

    X, y = load_breast_cancer(return_X_y=True)
    print(f"\nbreast cancer classification (n={X.shape[0]}, d={X.shape[1]}), "
          f"5-fold stratified CV, accuracy:")
    rows = _cross_validate(_classification_models(args.seed, args.alpha), X, y,
                           StratifiedKFold(5, shuffle=True, random_state=args.seed),
                           "accuracy")
    _describe(rows[0][1]["estimator"][0][-1])
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""Sampled against trained pattern tuples, same count, in the estimators.

Part 1 (always): 4-fold cross-validation on scikit-learn's breast cancer
(classifier, logistic loss, accuracy) and diabetes (regressor, standardised
y, R^2), with StandardScaler in a Pipeline, alpha = 1e-2, the default 32
tuples, m = 2.  Prints the mean score and the wall seconds of the four fits
+ scores.

Part 2 (when ``../shared/data`` has the UCI regression sets, or with
``--uci-only``): the 9 UCI regression sets, one train/test split each
(``--split``, default 0), X and y standardised on the training rows, the
training rows cut to the first ``--max-train`` (default 6000; four sets have
more), the regressor with ``patterns="sample"`` and ``"trained"`` at
``--alphas`` (default the estimators' 1e-3 and 1e-2), next to
``MLPRegressor(100,)`` (max_iter 500, its defaults otherwise).  Prints the
held-out R^2 and fit seconds of each, then how often trained tuples beat
sampled ones at each alpha and the median R^2 of each column.

Part 3 (``--cv``, instead of parts 1 and 2): the same UCI regression sets
and split, the training rows cut to ``--max-train``, through
``ConvexDeepReLURegressorCV`` with ``patterns="sample"`` and ``"trained"``
(its defaults otherwise: 10 alphas down to 1e-3 alpha_max, 5 folds): the
held-out R^2, the chosen alpha and the fit seconds of each.  ``--sets``
restricts any part-2 or part-3 run to some sets (two processes can share
them).  ``--cv --bundled`` runs the CV estimators the same two ways on
scikit-learn's data instead (4-fold outer cross-validation, StandardScaler
in a Pipeline): ``ConvexDeepReLUClassifierCV`` on breast cancer, wine and
iris (accuracy), ``ConvexDeepReLURegressorCV`` on diabetes (standardised y,
R^2).

    python benchmarks/trained_vs_sampled.py
    python benchmarks/trained_vs_sampled.py --uci-only --split 1
    python benchmarks/trained_vs_sampled.py --cv --max-train 2000
    python benchmarks/trained_vs_sampled.py --cv --bundled
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.model_selection import cross_val_score, cross_validate
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci_regression, uci_regression_names  # noqa: E402

from convexrelu import (ConvexDeepReLUClassifier, ConvexDeepReLUClassifierCV,  # noqa: E402
                        ConvexDeepReLURegressor, ConvexDeepReLURegressorCV)


def bundled():
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    yr = (yr - yr.mean()) / yr.std()
    print(f"{'data':<14}{'patterns':<10}{'CV score':>9}{'seconds':>9}")
    for name, make, X, y in (("breast cancer", ConvexDeepReLUClassifier, Xc, yc),
                             ("diabetes", ConvexDeepReLURegressor, Xr, yr)):
        for patterns in ("sample", "trained"):
            t = time.perf_counter()
            model = make_pipeline(StandardScaler(),
                                  make(alpha=1e-2, patterns=patterns, random_state=0))
            score = cross_val_score(model, X, y, cv=4).mean()
            print(f"{name:<14}{patterns:<10}{score:>9.4f}{time.perf_counter() - t:>9.1f}",
                  flush=True)


def _timed_score(model, X, y, Xte, yte):
    t = time.perf_counter()
    model.fit(X, y)
    return model.score(Xte, yte), time.perf_counter() - t


def _uci_split(name, split, max_train):
    """Training rows cut to max_train; X and y standardised on them."""
    X, y, Xte, yte = load_uci_regression(name, split=split)
    X, y = X[:max_train], y[:max_train]
    scaler = StandardScaler().fit(X)
    X, Xte = scaler.transform(X), scaler.transform(Xte)
    mu, sd = y.mean(), y.std()
    return X, (y - mu) / sd, Xte, (yte - mu) / sd


def _names(sets):
    names = uci_regression_names()
    if sets:
        names = [n for n in names if n in sets]
    return names


def uci_regression(split, max_train, alphas, sets=None):
    names = _names(sets)
    if not names:
        print("UCI regression sets not found (../shared/data): part 2 skipped")
        return
    columns = [(p, a) for a in alphas for p in ("sample", "trained")]
    head = "".join(f"{p[:2] + ' ' + format(a, 'g'):>17}" for p, a in columns)
    print(f"\nUCI regression, split {split}, held-out R^2 (fit seconds); training rows "
          f"cut to {max_train}")
    print(f"{'set':<28}{'n x d':>10}{head}{'MLP(100,)':>17}")
    scores = {c: [] for c in columns + ["mlp"]}
    for name in names:
        X, y, Xte, yte = _uci_split(name, split, max_train)
        cells = []
        for p, a in columns:
            r2, s = _timed_score(ConvexDeepReLURegressor(alpha=a, patterns=p, random_state=0),
                                 X, y, Xte, yte)
            scores[(p, a)].append(r2)
            cells.append(f"{r2:>9.3f} ({s:>4.0f})")
        r2, s = _timed_score(MLPRegressor(max_iter=500, random_state=0), X, y, Xte, yte)
        scores["mlp"].append(r2)
        cells.append(f"{r2:>9.3f} ({s:>4.0f})")
        print(f"{name:<28}{f'{X.shape[0]}x{X.shape[1]}':>10}" + "".join(f"{c:>17}" for c in cells),
              flush=True)
    for a in alphas:
        wins = int(np.sum(np.array(scores[("trained", a)]) > np.array(scores[("sample", a)])))
        print(f"alpha {a:g}: trained tuples above sampled ones on {wins} of {len(names)} sets")
    print("median R^2: " + ", ".join(
        [f"{p} {a:g} {np.median(scores[(p, a)]):.3f}" for p, a in columns]
        + [f"MLP {np.median(scores['mlp']):.3f}"]))


def uci_regression_cv(split, max_train, sets=None):
    names = _names(sets)
    if not names:
        print("UCI regression sets not found (../shared/data): nothing to do")
        return
    print(f"UCI regression, split {split}, ConvexDeepReLURegressorCV (defaults), held-out "
          f"R^2, alpha_ and fit seconds; training rows cut to {max_train}")
    print(f"{'set':<28}{'n x d':>10}" + "".join(
        f"{p + ' ' + c:>16}" for p in ("sample", "trained") for c in ("R^2", "alpha_", "s")))
    scores = {"sample": [], "trained": []}
    for name in names:
        X, y, Xte, yte = _uci_split(name, split, max_train)
        cells = []
        for p in ("sample", "trained"):
            model = ConvexDeepReLURegressorCV(patterns=p, random_state=0)
            r2, s = _timed_score(model, X, y, Xte, yte)
            scores[p].append(r2)
            cells += [f"{r2:.3f}", f"{model.alpha_:.2e}", f"{s:.0f}"]
        print(f"{name:<28}{f'{X.shape[0]}x{X.shape[1]}':>10}" + "".join(f"{c:>16}" for c in cells),
              flush=True)
    wins = int(np.sum(np.array(scores["trained"]) > np.array(scores["sample"])))
    print(f"trained tuples above sampled ones on {wins} of {len(names)} sets; median R^2: "
          f"sample {np.median(scores['sample']):.3f}, trained {np.median(scores['trained']):.3f}")


def bundled_cv():
    print("CV estimators (defaults), 4-fold outer CV (StandardScaler in a Pipeline): "
          "accuracy / R^2, mean alpha_, seconds of the four fits + scores")
    print(f"{'data':<14}" + "".join(f"{p + ' ' + c:>17}" for p in ("sample", "trained")
                                    for c in ("score", "alpha_", "s")))
    Xd, yd = load_diabetes(return_X_y=True)
    data = [(name, ConvexDeepReLUClassifierCV) + load(return_X_y=True)
            for name, load in (("breast cancer", load_breast_cancer), ("wine", load_wine),
                               ("iris", load_iris))]
    data.append(("diabetes", ConvexDeepReLURegressorCV, Xd, (yd - yd.mean()) / yd.std()))
    for name, EstCV, X, y in data:
        cells = []
        for p in ("sample", "trained"):
            t = time.perf_counter()
            out = cross_validate(make_pipeline(StandardScaler(),
                                               EstCV(patterns=p, random_state=0)),
                                 X, y, cv=4, return_estimator=True)
            alpha = np.mean([e[-1].alpha_ for e in out["estimator"]])
            cells += [f"{out['test_score'].mean():.4f}", f"{alpha:.2e}",
                      f"{time.perf_counter() - t:.0f}"]
        print(f"{name:<14}" + "".join(f"{c:>17}" for c in cells), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uci-only", action="store_true", help="skip part 1")
    ap.add_argument("--split", type=int, default=0)
    ap.add_argument("--max-train", type=int, default=6000)
    ap.add_argument("--alphas", default="1e-3,1e-2")
    ap.add_argument("--cv", action="store_true", help="part 3 only: the CV estimators")
    ap.add_argument("--sets", default=None, help="comma-separated UCI regression set names")
    ap.add_argument("--bundled", action="store_true",
                    help="with --cv: the CV estimators on scikit-learn's data instead")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    sets = args.sets.split(",") if args.sets else None
    if args.cv and args.bundled:
        bundled_cv()
        return
    if args.cv:
        uci_regression_cv(args.split, args.max_train, sets)
        return
    if not args.uci_only:
        bundled()
    uci_regression(args.split, args.max_train, [float(a) for a in args.alphas.split(",")],
                   sets)


if __name__ == "__main__":
    main()

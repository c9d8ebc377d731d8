"""Sampled against trained pattern tuples, same count, in the estimators.

4-fold cross-validation on scikit-learn's breast cancer (classifier,
logistic loss, accuracy) and diabetes (regressor, standardised y, R^2), with
StandardScaler in a Pipeline, alpha = 1e-2, the default 32 tuples, m = 2.
Prints the mean score and the wall seconds of the four fits + scores.

    python benchmarks/trained_vs_sampled.py
"""

import time
import warnings

from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from convexrelu import ConvexDeepReLUClassifier, ConvexDeepReLURegressor


def main():
    warnings.simplefilter("ignore")
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


if __name__ == "__main__":
    main()

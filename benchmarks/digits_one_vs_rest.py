"""scikit-learn's digits: the default classifier against tuples per class.

The README's Limits section times the default ``ConvexDeepReLUClassifier``
(softmax cross-entropy: the ten classes share one program) on digits.  With
the squared loss each class's program stands alone, and
``OneVsRestClassifier`` over binary squared-loss classifiers gives each class
tuples trained on that class (alpha doubled for the -1/+1 targets; see the
README's Fashion-MNIST section).  Same split and pipeline for every model;
fit seconds, test accuracy, sub-networks and the largest relative gap.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/digits_one_vs_rest.py
    python benchmarks/digits_one_vs_rest.py --patterns 16,32 --default   # + the default (minutes)
"""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from convexrelu import ConvexDeepReLUClassifier


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patterns", default="16,32", help="tuples per class, comma-separated")
    p.add_argument("--alpha", type=float, default=1e-3, help="the one-hot alpha")
    p.add_argument("--default", action="store_true",
                   help="also fit the default classifier (cross-entropy; minutes)")
    args = p.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    models = [(f"one-vs-rest, squared loss, {P} tuples per class",
               OneVsRestClassifier(ConvexDeepReLUClassifier(
                   loss="squared", alpha=2 * args.alpha, n_patterns=int(P), random_state=0)))
              for P in args.patterns.split(",")]
    if args.default:
        models.append(("ConvexDeepReLUClassifier() defaults",
                       ConvexDeepReLUClassifier(random_state=0)))
    warnings.simplefilter("ignore")
    for label, model in models:
        clf = make_pipeline(StandardScaler(), model)
        t = time.perf_counter()
        clf.fit(Xtr, ytr)
        seconds = time.perf_counter() - t
        parts = getattr(clf[-1], "estimators_", [clf[-1]])
        print(f"{label}: fit {seconds:.1f} s, test accuracy {clf.score(Xte, yte):.4f}, "
              f"{sum(e.n_subnetworks_ for e in parts)} sub-networks, largest relative gap "
              f"{max(e.relative_gap_ for e in parts):.1e}", flush=True)


if __name__ == "__main__":
    main()

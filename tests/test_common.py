"""scikit-learn's estimator checks on every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from convexrelu import ConvexDeepReLUClassifier, ConvexDeepReLURegressor
from convexrelu import ConvexDeepReLUClassifierCV, ConvexDeepReLURegressorCV

# Small pattern counts keep the ~50 checks per estimator fast; the checks
# test the API, not accuracy at scale.
ESTIMATORS = [
    ConvexDeepReLURegressor(alpha=1e-3, n_patterns=16, n_hidden=2, random_state=0),
    ConvexDeepReLUClassifier(alpha=1e-3, n_patterns=16, n_hidden=2, random_state=0),
    # Cross-validated estimators: 2 folds x 2 alphas on 6 patterns.
    ConvexDeepReLURegressorCV(n_alphas=2, eps=1e-2, cv=2, n_patterns=6, n_hidden=2,
                              random_state=0),
    ConvexDeepReLUClassifierCV(n_alphas=2, cv=2, n_patterns=6, n_hidden=2, random_state=0),
]

# Weighting a sample by 2 solves the same convex program as repeating it, and
# tests/test_estimators.py checks that equivalence.  This check compares
# predictions at rtol=1e-7, but an objective certified to a gap eps pins the
# predictions only to about sqrt(eps) (the loss is quadratic near the optimum),
# so two certified fits of the same program differ by ~1e-6.
# (Not strict: where both solves land closer, as the regressor's here, it passes.)
_SW_REASON = ("predictions of two certified solves are only guaranteed to agree to "
              "~sqrt(gap) ~ 1e-6, not 1e-7; the equivalence is tested at rtol=1e-4 in "
              "test_estimators.py")
# The CV estimators split rows into folds: repeating a row (weight 2) or
# dropping it (weight 0) changes which rows each fold holds, hence the fold
# fits, the cross-validated scores and possibly the chosen alpha.
_SW_CV_REASON = ("folds are drawn over rows, so repeated or dropped rows change the "
                 "folds and the CV choice of alpha; " + _SW_REASON)
# check_class_weight_classifiers weighs class 0 by 1000 and the others by
# 1e-4 and expects 87% of test predictions to be class 0.  The CV estimator
# picks alpha by plain accuracy, as GridSearchCV over the plain classifier
# does (tests/test_class_weight.py checks that equivalence); on the check's
# 3-class data both pick the grid's small alpha, 1e-3 * alpha_max, whose
# certified network fits the class-1 and class-2 regions too, and both
# predict class 0 on 66% of the test rows with sampled tuples (72% with
# trained ones, the default).  (Before the nineteenth session's
# accurate saturated softmax, the inaccurate solves there predicted class 0
# everywhere and the check passed.)
_CW_CV_REASON = ("alpha chosen by plain accuracy, as GridSearchCV does: at the chosen "
                 "small alpha the certified fit predicts class 0 on 66-72% of rows, not 87%")
EXPECTED_FAILED = {
    "ConvexDeepReLURegressor": {"check_sample_weight_equivalence_on_dense_data": _SW_REASON},
    "ConvexDeepReLUClassifier": {"check_sample_weight_equivalence_on_dense_data": _SW_REASON},
    "ConvexDeepReLURegressorCV": {
        "check_sample_weight_equivalence_on_dense_data": _SW_CV_REASON},
    "ConvexDeepReLUClassifierCV": {
        "check_sample_weight_equivalence_on_dense_data": _SW_CV_REASON,
        "check_class_weight_classifiers": _CW_CV_REASON},
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

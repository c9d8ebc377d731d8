"""numpydoc validation of the public API's docstrings.

The estimators' docstrings (class, ``fit``, ``predict`` and the other public
methods) are checked fully, less the sections scikit-learn does not require
either (See Also / Examples on methods, extended summaries); the functional
API's for their parameters: every parameter documented, in signature order,
with a description.
"""

import inspect

import pytest

import convexrelu

validate = pytest.importorskip("numpydoc.validate").validate

ESTIMATORS = ["ConvexDeepReLURegressor", "ConvexDeepReLUClassifier",
              "ConvexDeepReLURegressorCV", "ConvexDeepReLUClassifierCV"]
FUNCTIONS = ["solve_convex", "convex_path", "alpha_max", "alpha_grid", "train_arrangements",
             "sample_arrangements", "enumerate_arrangements", "extract_network",
             "optimality_certificate", "duality_gap", "estimate_fit_memory", "get_loss"]
# Not required (as in scikit-learn's own docstring tests): See Also, Examples,
# extended summary, global formatting details, "Returns" descriptions of
# self-evident returns, a trailing period on one-line summaries.
IGNORED = {"GL01", "GL02", "GL03", "GL08", "SA01", "EX01", "ES01", "SS03", "SS05", "SS06",
           "RT02", "RT03", "RT05", "PR08", "PR09", "YD01", "SA04"}
PARAMETER_CODES = {"PR01", "PR02", "PR03", "PR06", "PR07"}


def _estimator_targets():
    for name in ESTIMATORS:
        cls = getattr(convexrelu, name)
        yield f"convexrelu.{name}"
        for attr, value in vars(cls).items():
            if not attr.startswith("_") and inspect.isfunction(value):
                yield f"convexrelu.{name}.{attr}"


@pytest.mark.parametrize("target", list(_estimator_targets()))
def test_estimator_docstrings(target):
    errors = [(c, m) for c, m in validate(target)["errors"] if c not in IGNORED]
    assert not errors, errors


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functional_api_parameters_are_documented(name):
    errors = [(c, m) for c, m in validate(f"convexrelu.{name}")["errors"]
              if c in PARAMETER_CODES]
    assert not errors, errors

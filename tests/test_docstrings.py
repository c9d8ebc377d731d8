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


def _documented_attributes(cls):
    docscrape = pytest.importorskip("numpydoc.docscrape")
    names = set()
    for item in docscrape.ClassDoc(cls)["Attributes"]:
        names.update(n.strip() for n in item.name.split(","))
    return names


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fitted_attributes_are_documented(name):
    # Both ways: every public fitted attribute is in the class docstring's
    # Attributes section, and every attribute listed there is set by fit
    # (the optimality_* ones with certify, which the plain estimators get here,
    # feature_names_in_ with a DataFrame).
    import numpy as np

    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    cls = getattr(convexrelu, name)
    y = (X[:, 0] > 0).astype(int) if "Classifier" in name else X[:, 0] - X[:, 1] ** 2
    X = pd.DataFrame(X, columns=["a", "b", "c"])          # for feature_names_in_
    params = dict(n_patterns=4, random_state=0)
    if name.endswith("CV"):
        params.update(n_alphas=2, cv=2)
    else:
        params.update(certify="sampled", alpha=1e-2)
    est = cls(**params).fit(X, y)
    fitted = {a for a in vars(est) if a.endswith("_") and not a.startswith("_")}
    documented = _documented_attributes(cls)
    assert fitted - documented == set(), "fitted but not documented"
    assert documented - fitted == set(), "documented but not set by fit"

"""Persistence: pickle / joblib round trips and the version stored in a pickle."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import convexrelu
from convexrelu import ConvexDeepReLUClassifier, ConvexDeepReLURegressor
from convexrelu.estimators import ModelVersionWarning

KW = dict(alpha=1e-2, n_patterns=8, n_hidden=2, random_state=0)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    labels = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    return X, {
        "regressor": ConvexDeepReLURegressor(**KW).fit(X, y),
        "multioutput": ConvexDeepReLURegressor(**KW).fit(X, np.column_stack([y, -y])),
        "classifier": ConvexDeepReLUClassifier(**KW).fit(X, labels),
        "pipeline": make_pipeline(StandardScaler(),
                                  ConvexDeepReLUClassifier(**KW)).fit(X * 5 + 3, labels),
    }


def _outputs(model, X):
    out = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        out.append(model.predict_proba(X))
    return out


def _roundtrip_pickle(model):
    return pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def _roundtrip_joblib(model):
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    buf.seek(0)
    return joblib.load(buf)


@pytest.mark.parametrize("roundtrip", [_roundtrip_pickle, _roundtrip_joblib])
@pytest.mark.parametrize("name", ["regressor", "multioutput", "classifier", "pipeline"])
def test_roundtrip_gives_identical_predictions(models, name, roundtrip):
    X, fitted = models
    model = fitted[name]
    X_in = X * 5 + 3 if name == "pipeline" else X
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)       # same version: silent
        again = roundtrip(model)
    for a, b in zip(_outputs(model, X_in), _outputs(again, X_in)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    assert again.get_params(deep=False).keys() == model.get_params(deep=False).keys()


def test_unfitted_estimator_roundtrips():
    est = ConvexDeepReLURegressor(alpha=0.3, memory_limit="1GiB")
    again = _roundtrip_pickle(est)
    assert again.get_params() == est.get_params()
    assert not hasattr(again, "coefs_")


def test_pickle_records_the_package_version(models):
    _, fitted = models
    state = fitted["regressor"].__getstate__()
    assert state["_convexrelu_version"] == convexrelu.__version__
    # and the live estimator does not carry it as an attribute
    assert "_convexrelu_version" not in vars(_roundtrip_pickle(fitted["regressor"]))


def _bump(version, which):
    parts = [int(p) for p in version.split(".")[:3]]
    parts[which] += 1
    return ".".join(map(str, parts))


@pytest.mark.parametrize("which", [0, 1])
def test_other_major_minor_version_warns_naming_both(models, monkeypatch, which):
    X, fitted = models
    model = fitted["classifier"]
    current = convexrelu.__version__
    other = _bump(current, which)
    monkeypatch.setattr(convexrelu, "__version__", other)        # "saved by" the other version
    blob = pickle.dumps(model)
    monkeypatch.setattr(convexrelu, "__version__", current)
    with pytest.warns(ModelVersionWarning) as record:
        again = pickle.loads(blob)
    msg = str(record[0].message)
    assert other in msg and current in msg
    assert issubclass(ModelVersionWarning, UserWarning)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_patch_version_difference_is_silent(models, monkeypatch):
    X, fitted = models
    model = fitted["regressor"]
    state = model.__getstate__()
    state["_convexrelu_version"] = _bump(convexrelu.__version__, 2)
    fresh = ConvexDeepReLURegressor.__new__(ConvexDeepReLURegressor)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        fresh.__setstate__(state)
    np.testing.assert_array_equal(fresh.predict(X), model.predict(X))


def test_pickle_without_version_warns(models):
    X, fitted = models
    state = fitted["regressor"].__getstate__()
    del state["_convexrelu_version"]
    fresh = ConvexDeepReLURegressor.__new__(ConvexDeepReLURegressor)
    with pytest.warns(ModelVersionWarning, match="no convexrelu version"):
        fresh.__setstate__(state)
    np.testing.assert_array_equal(fresh.predict(X), fitted["regressor"].predict(X))


@pytest.mark.parametrize("name, attr", [("regressor", "network_"), ("regressor", "_y_ndim"),
                                        ("classifier", "classes_")])
def test_incompatible_pickle_fails_with_a_clear_message(models, name, attr):
    _, fitted = models
    model = fitted[name]
    state = model.__getstate__()
    state["_convexrelu_version"] = "9.0.0"
    del state[attr]
    fresh = type(model).__new__(type(model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelVersionWarning)
        with pytest.raises(ValueError, match=rf"9\.0\.0.*{attr}.*refit"):
            fresh.__setstate__(state)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_cv_estimators_record_the_version_too(kind):
    from convexrelu import ConvexDeepReLUClassifierCV, ConvexDeepReLURegressorCV
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    cls, target = ((ConvexDeepReLURegressorCV, y) if kind == "regressor"
                   else (ConvexDeepReLUClassifierCV, np.where(y > 0, "a", "b")))
    model = cls(alphas=[1e-1, 1e-2], cv=2, n_patterns=6, patterns="sample",
                random_state=0).fit(X, target)
    state = model.__getstate__()
    assert state["_convexrelu_version"] == convexrelu.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        again = _roundtrip_pickle(model)
    for a, b in zip(_outputs(model, X), _outputs(again, X)):
        assert a.tobytes() == b.tobytes()
    del state["best_estimator_"]
    state["_convexrelu_version"] = "9.0.0"
    fresh = type(model).__new__(type(model))
    with pytest.warns(ModelVersionWarning, match="9.0.0"):
        with pytest.raises(ValueError, match=r"9\.0\.0.*best_estimator_.*refit"):
            fresh.__setstate__(state)

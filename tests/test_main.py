"""The README's main job (``python -m convexrelu``), on row subsets of its data."""

import re

import numpy as np

import convexrelu.__main__ as main_module


def test_main_job_prints_certified_fits_and_scores(monkeypatch, capsys):
    from sklearn.datasets import load_breast_cancer, load_diabetes

    rng = np.random.default_rng(0)
    loaded = []

    def subset(loader, n):
        def load(return_X_y=True):
            loaded.append(loader.__name__)
            X, y = loader(return_X_y=True)
            rows = rng.permutation(len(y))[:n]
            return X[rows], y[rows]
        return load

    # Fewer rows, the same code: the five folds, the MLPs, the descriptions.
    monkeypatch.setattr(main_module, "load_diabetes", subset(load_diabetes, 150))
    monkeypatch.setattr(main_module, "load_breast_cancer", subset(load_breast_cancer, 150))
    main_module.main(["--alpha", "1e-2"])
    # (else the job ran on the full data sets: the patches missed its loaders)
    assert sorted(loaded) == ["load_breast_cancer", "load_diabetes"], loaded
    out = capsys.readouterr().out
    scores = dict(re.findall(r"^  (\S.*?)\s+(?:r2|accuracy) = ([-0-9.]+)", out, re.M))
    assert set(scores) >= {"ConvexDeepReLURegressor", "ConvexDeepReLUClassifier",
                           "MLPRegressor(100,)", "MLPClassifier(100,)"}
    assert float(scores["ConvexDeepReLURegressor"]) > 0.2          # diabetes: about 0.45
    assert float(scores["ConvexDeepReLUClassifier"]) > 0.85        # breast cancer: about 0.97
    # one fold's fit of each, described with its certificate
    fits = re.findall(r"relative ([0-9.e+-]+), converged=(True|False)", out)
    assert len(fits) == 2
    assert all(conv == "True" and float(gap) <= 1e-6 for gap, conv in fits)
    assert re.search(r"^total [0-9.]+ s$", out, re.M)

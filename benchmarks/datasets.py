"""Readers for the real data sets in ``../shared/data`` (absent in a user's clone).

* ``uci121``: the Fernandez-Delgado et al. (JMLR 2014) preprocessed UCI
  classification collection, with its 4-fold splits.
  Data: UCI Machine Learning Repository (CC BY 4.0), preprocessed by
  Fernandez-Delgado et al.; layout of Mishkin, Sahiner & Pilanci (ICML 2022).
* ``uci_regression``: the 9 regression sets with the 20 train/test splits of
  Hernandez-Lobato & Adams (2015) and Gal & Ghahramani (2016).
"""

import os
from pathlib import Path

import numpy as np

#: where the shared data lives; override with CONVEXRELU_DATA
DATA_ROOT = Path(os.environ.get(
    "CONVEXRELU_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def uci121_root():
    return DATA_ROOT / "uci121"


def uci121_names(max_samples=None):
    """Names of the sets, optionally only those with at most ``max_samples`` rows."""
    shapes = uci121_root() / "SHAPES.txt"
    if not shapes.exists():
        return []
    names = []
    for line in shapes.read_text().splitlines():
        parts = line.split()
        if not parts or "OK" not in line:
            continue
        n = int(line.split("X(")[1].split(",")[0])
        if max_samples is None or n <= max_samples:
            names.append(parts[0])
    return names


def _read_dat(path):
    rows = path.read_text().strip().splitlines()[1:]
    arr = np.array([[float(v) for v in r.split("\t")[1:]] for r in rows])
    return arr[:, :-1], arr[:, -1].astype(int)


def load_uci121(name):
    """``X, y, folds`` of one set; ``folds`` is a list of 4 (train, test) index arrays.

    Sets shipped with a separate test file use their training file, to which
    the 4-fold indices refer.
    """
    folder = uci121_root() / name
    single = folder / f"{name}_R.dat"
    X, y = _read_dat(single if single.exists() else folder / f"{name}_train_R.dat")
    lines = (folder / "conxuntos_kfold.dat").read_text().strip().splitlines()
    idx = [np.array(line.split(), dtype=int) for line in lines]
    folds = [(idx[2 * k], idx[2 * k + 1]) for k in range(len(idx) // 2)]
    return X, y, folds


def uci_regression_names():
    root = DATA_ROOT / "uci_regression" / "UCI_Datasets"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def load_uci_regression(name, split=0):
    """``X_train, y_train, X_test, y_test`` of split ``split`` of a regression set."""
    folder = DATA_ROOT / "uci_regression" / "UCI_Datasets" / name / "data"
    data = np.loadtxt(folder / "data.txt")
    feats = np.loadtxt(folder / "index_features.txt", dtype=int).ravel()
    target = int(np.loadtxt(folder / "index_target.txt"))
    tr = np.loadtxt(folder / f"index_train_{split}.txt", dtype=int)
    te = np.loadtxt(folder / f"index_test_{split}.txt", dtype=int)
    X, y = data[:, feats], data[:, target]
    return X[tr], y[tr], X[te], y[te]

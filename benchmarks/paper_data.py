"""Loaders for the convex-versus-gradient benchmarks: UCI sets under ../shared/data and Fashion-MNIST.

Every loader raises :class:`DataUnavailable` when its files are absent, so a
benchmark can skip that problem cleanly (a user's clone has no shared/data).
The data folder is ``$CONVEXRELU_DATA`` or ``<repo>/../shared/data``.

Attribution (see shared/data/MANIFEST.md): UCI Machine Learning Repository
(CC BY 4.0); uci121 preprocessed by Fernandez-Delgado et al. (JMLR 2014);
regression splits of Hernandez-Lobato & Adams (2015) / Gal & Ghahramani (2016).
Fashion-MNIST: (c) 2017 Zalando SE, MIT licence (Debian package
dataset-fashion-mnist).
"""

import gzip
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataUnavailable(FileNotFoundError):
    """The files of a data set are not on this machine."""


def data_dir():
    env = os.environ.get("CONVEXRELU_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        raise DataUnavailable(f"no data folder at {path} (set CONVEXRELU_DATA)")
    return path


def _subsample(n, n_max, seed):
    if n_max is None or n <= n_max:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, n_max, replace=False))


def load_uci_regression(name, *, split=0, n_max=None, seed=0):
    """Training rows of split ``split`` of a UCI regression set, standardised.

    Returns ``X, y`` (features and target standardised with the training
    rows' mean and standard deviation), at most ``n_max`` rows.
    """
    base = data_dir() / "uci_regression" / "UCI_Datasets" / name / "data"
    if not (base / "data.txt").is_file():
        raise DataUnavailable(f"{base / 'data.txt'} not found")
    data = np.loadtxt(base / "data.txt")
    feats = np.loadtxt(base / "index_features.txt", dtype=int).ravel()
    target = int(np.loadtxt(base / "index_target.txt", dtype=int))
    train = np.loadtxt(base / f"index_train_{split}.txt", dtype=int).ravel()
    train = train[_subsample(len(train), n_max, seed)]
    X, y = data[train][:, feats], data[train, target]
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    y = (y - y.mean()) / y.std()
    return X, y


def load_uci121(name, *, n_max=None, seed=0):
    """A uci121 classification set (all rows, already standardised).

    Returns ``X, labels`` with integer labels 0..C-1, at most ``n_max`` rows
    (a random subsample).
    """
    base = data_dir() / "uci121" / name
    path = base / f"{name}_R.dat"
    if not path.is_file():
        path = base / f"{name}_train_R.dat"
    if not path.is_file():
        raise DataUnavailable(f"{base} has no {name}_R.dat")
    raw = np.loadtxt(path, skiprows=1)
    X, labels = raw[:, 1:-1], raw[:, -1].astype(int)
    keep = _subsample(len(labels), n_max, seed)
    X, labels = X[keep], labels[keep]
    _, labels = np.unique(labels, return_inverse=True)
    return X, labels


def _read_idx(path):
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(directory=None):
    """``(X_train, y_train, X_test, y_test)``: 60000/10000 rows of 784 uint8 pixels."""
    directory = Path(directory or os.environ.get("FASHION_MNIST_DIR", FASHION_DIR))
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    if not all((directory / f).is_file() for f in names):
        raise DataUnavailable(
            f"Fashion-MNIST not found in {directory}: apt-get install -y dataset-fashion-mnist")
    Xtr, ytr, Xte, yte = (_read_idx(directory / f) for f in names)
    return Xtr.reshape(len(Xtr), -1), ytr.astype(int), Xte.reshape(len(Xte), -1), yte.astype(int)


def fashion_mnist_pixels(n_train=None):
    """Fashion-MNIST as the benchmarks use it: ``n_train`` training images
    (:func:`training_subset`), all test images, pixels / 255."""
    Xtr, ytr, Xte, yte = load_fashion_mnist()
    Xtr, ytr = training_subset(Xtr, ytr, n_train)
    return Xtr / 255.0, ytr, Xte / 255.0, yte


def training_subset(X, y, n, seed=0):
    """``n`` rows of ``(X, y)`` drawn without replacement (all of them when n is None
    or not smaller); the same seed gives the same images in every benchmark."""
    if n is None or n >= len(y):
        return X, y
    keep = np.random.default_rng(seed).choice(len(y), n, replace=False)
    return X[keep], y[keep]


def pca_features(fit_rows, other_rows, n_components, ones=False):
    """PCA then standardisation, both fit on ``fit_rows``: the two row sets transformed.

    The convex models' view of image data (as the estimators' pipelines in
    ``fashion_mnist.py``); ``ones`` appends a column of ones, the bias
    column of the functional API (:func:`convexrelu.sample_arrangements`).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    pca = PCA(n_components, random_state=0).fit(fit_rows)
    scaler = StandardScaler().fit(pca.transform(fit_rows))
    out = [scaler.transform(pca.transform(Z)) for Z in (fit_rows, other_rows)]
    if ones:
        out = [np.hstack([Z, np.ones((len(Z), 1))]) for Z in out]
    return tuple(out)

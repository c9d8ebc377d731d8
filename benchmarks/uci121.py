"""UCI-121 protocol: the convex classifier versus MLPClassifier and LogisticRegression.

For every set (optionally only those with at most ``--max-n`` rows) and each
of its 4 given folds, every model picks one hyperparameter from a grid of the
same size by 3-fold inner cross-validation on the training part, is refit on
it, and is scored on the test part.  The table lists per-set mean accuracy,
the mean over sets, wins/ties/losses of the convex model against each
baseline (ties: within 0.5 percentage points), and total time per model.

    python benchmarks/uci121.py --max-n 1000 --n-jobs 2

``--record FILE`` appends every (set, model, fold) result to a CSV file as
soon as it is known, and skips those already there with the same settings
(tuples, n_patterns, n_hidden, tol): a run stopped part-way (a set can take
hours) keeps its finished folds, and the same command later goes on from
them.  The table then counts the recorded folds too.  ``--models mlp,logreg``
runs only those models (a set's row waits for all three): the baselines of a
set whose convex folds take hours can run beside them, in another process
with the same ``--record``; ``--folds 2,3`` runs only those folds, so two
processes can share one set's convex folds (each skips a fold the other
has recorded by the time it comes to it).  ``--record-inner FILE`` does the
same for the inner search's fits (a fold of a ``plant-*`` set is nine inner
fits of 15 to 40 minutes each, and a refit): a stopped fold goes on from its
last finished inner fit.  The search is ``GridSearchCV``'s written out
(:func:`grid_search`; ``tests/test_uci121_protocol.py`` checks that it
makes the same choice).

    python benchmarks/uci121.py --patterns trained --sets audiology-std \
        --record benchmarks/results/uci121_folds.csv
    python benchmarks/uci121.py --patterns trained --sets plant-margin --models convex \
        --memory-limit none --record benchmarks/results/uci121_folds.csv \
        --record-inner benchmarks/results/uci121_inner.csv
"""

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid, StratifiedKFold, check_cv
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import load_uci121, uci121_names  # noqa: E402

from convexrelu import ConvexDeepReLUClassifier  # noqa: E402
from convexrelu.memory import FitMemoryError, check_fit_memory  # noqa: E402

GRID_SIZE = 3


def models(args):
    """Each model with a hyperparameter grid of GRID_SIZE values."""
    return {
        "convex": (ConvexDeepReLUClassifier(n_patterns=args.n_patterns, n_hidden=args.n_hidden,
                                            patterns=args.patterns, tol=args.tol,
                                            memory_limit=args.memory_limit, random_state=0),
                   {"alpha": [1e-3, 1e-2, 1e-1]}),
        "mlp": (MLPClassifier(hidden_layer_sizes=(100,), max_iter=500, random_state=0),
                {"alpha": [1e-4, 1e-2, 1.0]}),
        "logreg": (LogisticRegression(max_iter=2000), {"C": [0.1, 1.0, 10.0]}),
    }


def _inner_cv(y):
    # Tiny classes cannot be split three ways; fall back to fewer folds.
    counts = np.bincount(y)
    k = int(min(3, counts[counts > 0].min()))
    return StratifiedKFold(max(k, 2), shuffle=True, random_state=0) if k >= 2 else 2


def grid_search(model, grid, X, y, cv, inner=None):
    """The refitted model of ``GridSearchCV(model, grid, cv=cv, error_score=0.0)``.

    The same search written out (the same splits, candidates in the grid's
    order, accuracy, a failed fit or score counting 0.0 with a
    ``FitFailedWarning``, the first of the best mean scores), so that each
    inner fit can be recorded: ``inner`` (an :class:`InnerRecord`, or None)
    is asked for a (candidate, split) before it is fitted and told every
    score fitted, but not a failure (out of memory beside other processes,
    say), which the next run tries again.  A fold of a ``plant-*`` set is
    nine inner fits of 15 to 40 minutes each; a stopped run keeps the
    finished ones.
    """
    splits = list(check_cv(cv, y, classifier=True).split(X, y))
    known = {} if inner is None else inner.scores()
    candidates = list(ParameterGrid(grid))
    means = []
    for params in candidates:
        key = _params_key(params)
        scores = []
        for j, (tr, te) in enumerate(splits):
            if (key, j) in known:
                scores.append(known[(key, j)][0])
                continue
            t0 = time.perf_counter()
            try:
                acc = float(clone(model).set_params(**params).fit(X[tr], y[tr]).score(X[te], y[te]))
            except Exception as exc:
                warnings.warn(f"{key}, split {j}: {type(exc).__name__}: {exc}; scored 0.0",
                              FitFailedWarning)
                scores.append(0.0)
                continue
            scores.append(acc)
            if inner is not None:
                inner.add(key, j, acc, time.perf_counter() - t0)
        means.append(np.mean(scores))
    i = int(np.argmax(means))
    best = candidates[i]
    if inner is not None:
        inner.report(f"refit at {_params_key(best)} (inner mean {100 * means[i]:.2f}%)")
    return clone(model).set_params(**best).fit(X, y)


def _params_key(params):
    return ";".join(f"{k}={params[k]!r}" for k in sorted(params))


def run_fold(name, model, grid, X, y, train, test, inner=None):
    """``(name, test accuracy, seconds)`` of one outer fold (``inner``: see
    :func:`grid_search`)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        ytr = y[train]
        if np.unique(ytr).size < 2:
            acc = float(np.mean(y[test] == ytr[0]))
            return name, acc, time.perf_counter() - t0
        counts = np.bincount(ytr)
        if counts[counts > 0].min() >= 2:
            fitted = grid_search(model, grid, X[train], ytr, _inner_cv(ytr), inner)
        else:
            fitted = clone(model).set_params(
                **{k: v[len(v) // 2] for k, v in grid.items()}).fit(X[train], ytr)
        acc = float(np.mean(fitted.predict(X[test]) == y[test]))
    return name, acc, time.perf_counter() - t0


RECORD_FIELDS = ["set", "model", "fold", "accuracy", "seconds", "patterns", "n_patterns",
                 "n_hidden", "tol"]


def _settings(args):
    """The settings a recorded fold must share to be reused (as CSV strings)."""
    return {"patterns": args.patterns, "n_patterns": str(args.n_patterns),
            "n_hidden": str(args.n_hidden), "tol": repr(float(args.tol))}


def _rows_matching(path, want):
    """The rows of the CSV file ``path`` (if it exists) whose fields equal ``want``'s."""
    if path is None or not Path(path).exists():
        return
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if all(row.get(k) == v for k, v in want.items()):
                yield row


def _append_row(path, fields, row):
    """One row appended to the CSV file ``path`` (its header first when new), flushed at once."""
    path = Path(path)
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)


def read_record(path, args):
    """``{(set, model, fold): (accuracy, seconds)}`` recorded with these settings."""
    return {(row["set"], row["model"], int(row["fold"])):
            (float(row["accuracy"]), float(row["seconds"]))
            for row in _rows_matching(path, _settings(args))}


def append_record(path, args, ds, model, fold, acc, sec):
    """One finished fold, written and flushed at once."""
    _append_row(path, RECORD_FIELDS, dict(set=ds, model=model, fold=fold, accuracy=repr(acc),
                                          seconds=f"{sec:.1f}", **_settings(args)))


INNER_FIELDS = ["set", "model", "fold", "params", "split", "accuracy", "seconds", "patterns",
                "n_patterns", "n_hidden", "tol"]


class InnerRecord:
    """The inner-CV fits of one (set, model, fold) in a CSV file (``--record-inner``):
    every fitted (candidate, split) is appended at once, and those already
    there with the same settings are not fitted again.  Each fit recorded and
    the refit's choice print a progress line on stderr."""

    def __init__(self, path, args, ds, model, fold):
        self.path, self.settings = Path(path), _settings(args)
        self.where = {"set": ds, "model": model, "fold": str(fold)}

    def scores(self):
        """``{(params, split): (accuracy, seconds)}`` recorded for this fold."""
        return {(row["params"], int(row["split"])):
                (float(row["accuracy"]), float(row["seconds"]))
                for row in _rows_matching(self.path, dict(self.where, **self.settings))}

    def add(self, params, split, acc, sec):
        _append_row(self.path, INNER_FIELDS,
                    dict(self.where, params=params, split=split, accuracy=repr(acc),
                         seconds=f"{sec:.1f}", **self.settings))
        self.report(f"{params} split {split}: {100 * acc:.2f}% in {sec:.1f} s, recorded")

    def report(self, what):
        """A progress line on stderr: a recorded search's fold runs for hours
        before its row of the table."""
        print(f"[inner] {self.where['set']} {self.where['model']} fold {self.where['fold']}: "
              f"{what}", file=sys.stderr, flush=True)


def _run_job(name, model, grid, X, y, k, train, test, inner=None):
    """:func:`run_fold` with the fold's index passed through."""
    name, acc, sec = run_fold(name, model, grid, X, y, train, test, inner)
    return name, k, acc, sec


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=1000,
                        help="only sets with at most this many rows (default 1000)")
    parser.add_argument("--sets", nargs="*", help="explicit set names")
    parser.add_argument("--n-patterns", type=int, default=40)
    parser.add_argument("--n-hidden", type=int, default=2)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--patterns", default="sample", choices=["sample", "trained"],
                        help="where the convex model's tuples come from")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--memory-limit", default="auto",
                        help="the convex model's memory_limit ('auto', '8GiB', 'none'); a set "
                             "whose largest fit is estimated above it is skipped")
    parser.add_argument("--record", help="CSV file of finished folds: appended, and "
                        "the folds in it (same settings) are not run again")
    parser.add_argument("--record-inner", help="CSV file of finished inner-CV fits: "
                        "appended, and the fits in it (same settings) are not run again, "
                        "so a stopped fold goes on from its last inner fit")
    parser.add_argument("--models", default="convex,mlp,logreg",
                        help="comma-separated models to run; a set's row is printed once "
                             "every model's folds are done (run the others in another "
                             "process with the same --record)")
    parser.add_argument("--folds", help="comma-separated fold indices to run (default: all "
                        "four); with the same --record, processes that take different "
                        "folds of one set run side by side")
    args = parser.parse_args(argv)
    fold_ids = None if args.folds is None else {int(k) for k in args.folds.split(",")}
    if args.memory_limit.lower() == "none":
        args.memory_limit = None
    done = read_record(args.record, args)

    def inner_record(ds, model, fold):
        return (None if args.record_inner is None
                else InnerRecord(args.record_inner, args, ds, model, fold))

    names = args.sets or uci121_names(args.max_n)
    if not names:
        print("no UCI-121 data found under ../shared/data; nothing to do")
        return
    specs = models(args)
    run_models = args.models.split(",")
    unknown = sorted(set(run_models) - set(specs))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {sorted(specs)}")
    print(f"{len(names)} sets; grids of {GRID_SIZE} values by 3-fold inner CV; "
          f"convex: n_patterns={args.n_patterns}, n_hidden={args.n_hidden}, "
          f"patterns={args.patterns}, tol={args.tol}")
    header = (f"{'set':<32}{'n':>6}{'d':>5}{'C':>4}" + "".join(f"{m:>9}" for m in specs)
              + f"{'wall s':>9}")
    print(header)
    results, times = {}, {m: 0.0 for m in specs}
    t_all = time.perf_counter()
    for ds in names:
        t_set = time.perf_counter()
        X, y, folds = load_uci121(ds)
        y = np.unique(y, return_inverse=True)[1]
        n_classes = len(np.unique(y))
        try:
            # The largest convex fit of the set (a fold's refit), refused
            # up front rather than after hours of inner fits.
            check_fit_memory(max(len(tr) for tr, _ in folds), X.shape[1] + 1,
                             1 if n_classes == 2 else n_classes, args.n_patterns,
                             args.n_hidden, loss="logistic" if n_classes == 2
                             else "cross_entropy", memory_limit=args.memory_limit)
        except FitMemoryError as exc:
            print(f"{ds:<32}{X.shape[0]:>6}{X.shape[1]:>5}{n_classes:>4}  skipped: "
                  f"{str(exc).split(' (')[0]} above --memory-limit", flush=True)
            continue
        jobs = [(m, est, grid, k, tr, te) for m, (est, grid) in specs.items()
                for k, (tr, te) in enumerate(folds)
                if (ds, m, k) not in done and m in run_models
                and (fold_ids is None or k in fold_ids)]
        if args.n_jobs == 1:
            # One by one: each fold is recorded as soon as it is done, and a
            # fold another process has recorded meanwhile is not run again.
            out = (_run_job(m, est, grid, X, y, k, tr, te, inner_record(ds, m, k))
                   for m, est, grid, k, tr, te in jobs
                   if (ds, m, k) not in read_record(args.record, args))
        else:
            out = Parallel(n_jobs=args.n_jobs)(
                delayed(_run_job)(m, est, grid, X, y, k, tr, te, inner_record(ds, m, k))
                for m, est, grid, k, tr, te in jobs)
        for m, k, acc, sec in out:
            done[(ds, m, k)] = (acc, sec)
            if args.record:
                append_record(args.record, args, ds, m, k, acc, sec)
        if args.record:
            done.update(read_record(args.record, args))     # other processes' folds
        missing = [m for m in specs for k in range(len(folds)) if (ds, m, k) not in done]
        if missing:
            print(f"{ds:<32}  folds still to run: " + ", ".join(sorted(set(missing))),
                  flush=True)
            continue
        accs = {m: [] for m in specs}
        for m in specs:
            for k in range(len(folds)):
                acc, sec = done[(ds, m, k)]
                accs[m].append(acc)
                times[m] += sec
        results[ds] = {m: float(np.mean(a)) for m, a in accs.items()}
        print(f"{ds:<32}{X.shape[0]:>6}{X.shape[1]:>5}{len(np.unique(y)):>4}"
              # Two decimals: a run stopped before the summary lines can
              # still be counted against the 0.5-point tie band.
              + "".join(f"{100 * results[ds][m]:>9.2f}" for m in specs)
              + f"{time.perf_counter() - t_set:>9.0f}", flush=True)
    print("-" * len(header))
    if not results:
        return
    means = {m: 100 * np.mean([r[m] for r in results.values()]) for m in specs}
    print(f"{'mean accuracy (%)':<47}" + "".join(f"{means[m]:>9.2f}" for m in specs))
    for base in [m for m in specs if m != "convex"]:
        diff = np.array([r["convex"] - r[base] for r in results.values()])
        w, t, l = (diff > 0.005).sum(), (np.abs(diff) <= 0.005).sum(), (diff < -0.005).sum()
        print(f"convex vs {base}: {w} wins / {t} ties / {l} losses")
    print("total fit+score time (s): " + ", ".join(f"{m} {times[m]:.0f}" for m in specs)
          + f"; wall {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()

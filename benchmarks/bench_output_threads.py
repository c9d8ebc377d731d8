"""A many-class softmax fit with ``n_jobs`` threads for its Newton systems'
per-class work, against one thread, same process.

With the cross-entropy loss and many classes the interior point solves its
Newton systems class by class (:func:`convexrelu.solvers._woodbury.output_block_solver`:
each class's block formed, factorised and applied on its own, combined
through the Woodbury identity); ``n_jobs`` runs those per-class parts on
threads.  The data: ``--rows`` random rows of ``plant-margin`` (100 classes,
d = 64, from ``../shared/data/uci121``; digits, 10 classes, when that
folder is absent), standardised; the classifier as the UCI protocol runs it
(alpha 1e-3, 40 trained tuples, m = 2, tol 1e-4).  ``--repeats`` alternating
rounds; medians, the ratio to one thread, and whether every fit's objective
and scores equal the one-thread fit's (they should, bit for bit).
``--assembly`` adds the forty-third session's block assembly
(``bench_block_assembly.py``'s baseline, patched in) at one thread;
``--copied-stack`` adds, at one thread, the capacitance product over the
formed classes' ``Z`` stacked by copy at every Newton step (as before the
forty-eighth session wherever a class was low rank; the shared array is
ignored), and ``--copied-solve`` the classes' ``Z`` solved from copies of
``W^T`` (as before the forty-eighth session) instead of in ``W``'s own
memory; neither should change a bit of the fit.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_output_threads.py
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_output_threads.py \\
        --rows 120 --n-jobs 1 2 --repeats 2 --assembly
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_output_threads.py \
        --rows 400 --n-jobs 1 --repeats 2 --copied-stack
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_output_threads.py \
        --rows 250 --n-jobs 1 --repeats 2 --copied-solve
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_block_assembly import pairs_then_blocks  # noqa: E402
from datasets import load_uci121, uci121_root  # noqa: E402

from convexrelu import ConvexDeepReLUClassifier  # noqa: E402
from convexrelu.solvers import _newton_matrix, _woodbury  # noqa: E402


def data(rows, seed=0):
    if (uci121_root() / "plant-margin").is_dir():
        name, (X, y, _) = "plant-margin", load_uci121("plant-margin")
    else:
        name, (X, y) = "digits", load_digits(return_X_y=True)
    idx = np.random.default_rng(seed).choice(len(y), min(rows, len(y)), replace=False)
    return name, StandardScaler().fit_transform(X[idx]), y[idx]


def copied_stack(real):
    """``by_output_solver`` stacking the formed classes' ``Z`` by copy."""
    def solver(*args, joint_Z=None, **kwargs):
        return real(*args, **kwargs)
    return solver


def copied_solve(self, factor, W, lam, out=None):
    """``DenseOutput.__init__`` solving a contiguous, scaled copy of ``W^T``."""
    self.half, self.back = _woodbury._cholesky_pair(factor)
    self.Z = np.multiply(self.half(np.ascontiguousarray(W.T)), lam[None, :], out=out)


def fit(X, y, n_jobs, assembly, copied=False, copied_z=False):
    real = _newton_matrix._blocks_from_upper
    real_solver = _woodbury.by_output_solver
    real_init = _woodbury.DenseOutput.__init__
    if assembly:
        _newton_matrix._blocks_from_upper = pairs_then_blocks
    if copied:
        _woodbury.by_output_solver = copied_stack(real_solver)
    if copied_z:
        _woodbury.DenseOutput.__init__ = copied_solve
    try:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)     # classes with one row
            clf = ConvexDeepReLUClassifier(alpha=1e-3, n_patterns=40, n_hidden=2,
                                           patterns="trained", tol=1e-4, random_state=0,
                                           memory_limit=None, n_jobs=n_jobs).fit(X, y)
        return time.perf_counter() - t, clf
    finally:
        _newton_matrix._blocks_from_upper = real
        _woodbury.by_output_solver = real_solver
        _woodbury.DenseOutput.__init__ = real_init


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--assembly", action="store_true")
    parser.add_argument("--copied-stack", action="store_true")
    parser.add_argument("--copied-solve", action="store_true")
    args = parser.parse_args(argv)
    name, X, y = data(args.rows)
    runs = [(f"n_jobs={j}", j if j != 1 else None, False, False, False) for j in args.n_jobs]
    if args.assembly:
        runs.append(("n_jobs=1, old assembly", None, True, False, False))
    if args.copied_stack:
        runs.append(("n_jobs=1, copied stack", None, False, True, False))
    if args.copied_solve:
        runs.append(("n_jobs=1, copied solve", None, False, False, True))
    times = {label: [] for label, *_ in runs}
    ref, same = None, True
    for r in range(args.repeats):
        for label, n_jobs, assembly, copied, copied_z in (runs if r % 2 == 0 else runs[::-1]):
            sec, clf = fit(X, y, n_jobs, assembly, copied, copied_z)
            times[label].append(sec)
            scores = clf.decision_function(X)
            if ref is None:
                ref = (clf.objective_, scores)
            same &= clf.objective_ == ref[0] and np.array_equal(scores, ref[1])
            print(f"  {label}: {sec:.1f} s, objective {clf.objective_:.10f}, "
                  f"relative gap {clf.relative_gap_:.1e}", flush=True)
    print(f"{name}: {X.shape[0]} rows, d = {X.shape[1]}, {len(np.unique(y))} classes, "
          f"{args.repeats} repeat(s)")
    base = statistics.median(times[runs[0][0]])
    print(f"{'fit':26s} {'median s':>9s} {'speed-up':>9s}")
    for label, ts in times.items():
        print(f"{label:26s} {statistics.median(ts):9.1f} {base / statistics.median(ts):8.2f}x")
    print(f"every fit's objective and scores equal the first's: {same}")


if __name__ == "__main__":
    main()

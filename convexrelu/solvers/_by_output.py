"""The squared loss's outputs as independent programs (multi-output regression,
one-hot classification), solved one after another or by joblib workers.

:func:`convexrelu.solvers.fast.solve_fast` hands a program with several
outputs and a loss that is a sum over them here; each output's program goes
back to it with one output.
"""

from types import SimpleNamespace

import numpy as np
from joblib import Parallel, delayed

from ..operator import LiftedOperator

__all__ = ["solve_by_output"]


def solve_by_output(op, loss, Y, w, alpha, *, warm_start, verbose, n_jobs=None, **kwargs):
    """One independent program per output, for a loss that is a sum over outputs.

    With such a loss (squared), the objective, the penalty and the pattern
    constraints all split by output, and so does the dual: the certificate of
    the whole program is the sum of the outputs' gaps, below ``tol`` times
    the sum of their objectives when each one is.  Solving them apart keeps
    every Newton matrix the size of one output's working set instead of all
    outputs' together (a ``C^2``-fold saving in the factorisations), and lets
    ``n_jobs`` joblib workers take the outputs in parallel.
    """
    from . import SolverOutput

    n, C = op.n_samples, op.n_outputs
    one = LiftedOperator(op.X, op.arrangements, n_outputs=1)
    starts = []
    for o in range(C):
        start = None
        if warm_start is not None:
            start = SimpleNamespace(u=np.asarray(warm_start.u)[o:o + 1],
                                    intercept=np.asarray(warm_start.intercept)[o:o + 1],
                                    alpha=getattr(warm_start, "alpha", None))
            for name in ("dual_point", "lam1", "lam2"):
                value = getattr(warm_start, name, None)
                setattr(start, name, None if value is None else np.asarray(value)[:, o:o + 1])
        starts.append(start)
    args = [(one, loss, Y[:, o:o + 1], w, alpha, starts[o],
             f"output {o + 1} of {C}" if verbose else None, kwargs) for o in range(C)]
    if n_jobs is None or n_jobs == 1:
        # In process, also inside a joblib.parallel_config context: a fit that
        # is itself a task of GridSearchCV or a dask cluster starts no workers.
        parts = [_solve_one_output(*a) for a in args]
    else:
        parts = Parallel(n_jobs=n_jobs)(delayed(_solve_one_output)(*a) for a in args)
    shape1 = (n, 1) + op.var_shape[1:-1]
    shape2 = (n, 1) + op.var_shape[1:-2]
    history = []
    for o, p in enumerate(parts):
        history.extend(dict(h, output=o) for h in p.history)
    return SolverOutput(
        np.concatenate([p.u for p in parts], axis=0),
        np.concatenate([np.asarray(p.intercept, float).reshape(1) for p in parts]),
        np.concatenate([np.zeros(shape1) if p.lam1 is None else p.lam1 for p in parts], axis=1),
        np.concatenate([np.zeros(shape2) if p.lam2 is None else p.lam2 for p in parts], axis=1),
        sum(p.n_iter for p in parts), all(p.converged for p in parts), history,
        " ".join(dict.fromkeys(p.stop_reason for p in parts if p.stop_reason)))


def _solve_one_output(op, loss, Y, w, alpha, warm_start, label, kwargs):
    """One output's program (a joblib task of :func:`solve_by_output`)."""
    from . import one_blas_thread
    from .fast import solve_fast

    if label is not None:
        print(f"[fast] {label}", flush=True)
    # One BLAS thread in workers too (see solve_convex): the same bits for any n_jobs.
    with one_blas_thread():
        return solve_fast(op, loss, Y, w, alpha, warm_start=warm_start,
                          verbose=label is not None, **kwargs)

"""The convex program written in CVXPY, vectorised (no loop over tuples).

This is the reference formulation every other solver is tested against.
``Z = X U`` is an (n x G) expression with ``G = C * 2 * P * m`` columns;
block sums and output sums are sparse 0/1 matrix products.
"""

import warnings

import numpy as np
import scipy.sparse as sp

#: iterations of the SCS fallback (after Clarabel failed): at 20000 one of
#: the six programs of the sweep below stopped at a relative gap of 5.8e-4,
#: at 100000 all six reached 1.3e-6 or better
SCS_MAX_ITERS = 100_000


def solve_with_fallbacks(problem, variable, attempts, verbose=False):
    """Solve ``problem`` with the first of ``attempts`` that yields a value.

    ``attempts`` is a list of ``(solver name, options)``; a ``SolverError``
    or an empty ``variable`` moves on to the next one, and the last attempt's
    ``SolverError`` propagates.
    """
    import cvxpy as cp

    for k, (name, opts) in enumerate(attempts):
        try:
            with warnings.catch_warnings():
                # "Solution may be inaccurate": the duality gap computed
                # afterwards says how inaccurate, and solve_convex warns on that.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                problem.solve(solver=name, verbose=verbose, **opts)
            if variable.value is not None:
                return
        except cp.error.SolverError:
            if k == len(attempts) - 1:
                raise


def solve_cvxpy(op, loss, Y, w, alpha, *, fit_intercept=False, solver="CLARABEL",
                tol=1e-8, max_iter=None, verbose=False, solver_options=None):
    """Solve with CVXPY; returns ``(U, intercept, lam1, lam2, n_iter, converged)``."""
    import cvxpy as cp

    n, d = op.n_samples, op.n_features
    C, P, m = op.n_outputs, op.n_patterns, op.n_hidden
    G, NB = op.n_groups, C * 2 * P
    tile = (n, C * 2 * P * m)
    E1 = np.broadcast_to(op.E1[:, None, None], (n, C, 2, P, m)).reshape(tile).astype(float)
    S1 = np.broadcast_to(op.S1[:, None, None], (n, C, 2, P, m)).reshape(tile).astype(float)
    E2 = np.broadcast_to(op.E2[:, None, None], (n, C, 2, P)).reshape(n, NB)
    sigD2 = (np.array([1.0, -1.0])[None, None, :, None] * op.D2[:, None, None, :])
    sigD2 = np.broadcast_to(sigD2, (n, C, 2, P)).reshape(n, NB)
    block_sum = sp.kron(sp.eye(NB), np.ones((m, 1)), format="csc")        # G x NB
    output_sum = sp.kron(sp.eye(C), np.ones((2 * P, 1)), format="csc")     # NB x C

    U = cp.Variable((d, G))
    Z = op.X @ U
    H = cp.multiply(S1, Z) @ block_sum
    F = cp.multiply(sigD2, H) @ output_sum
    b = cp.Variable(C) if fit_intercept else None
    if fit_intercept:
        F = F + np.ones((n, 1)) @ cp.reshape(b, (1, C), order="C")
    cons1 = cp.multiply(E1, Z) >= 0
    cons2 = cp.multiply(E2, H) >= 0
    objective = loss.cvxpy_expression(F, Y, w) + alpha * cp.sum(cp.norm(U, 2, axis=0))
    problem = cp.Problem(cp.Minimize(objective), [cons1, cons2])

    user_opts = dict(solver_options or {})
    opts = dict(user_opts)
    name = solver.upper()
    if name == "CLARABEL":
        # Clarabel's defaults (1e-8) leave dual multipliers accurate to only
        # about 1e-5 on exponential cones; the certificate needs better.
        for key in ("tol_gap_abs", "tol_gap_rel", "tol_feas"):
            opts.setdefault(key, min(tol, 1e-10))
        opts.setdefault("tol_ktratio", 1e-8)
        if max_iter is not None:
            opts.setdefault("max_iter", int(max_iter))
    elif name == "SCS" and max_iter is not None:
        opts.setdefault("max_iters", int(max_iter))
    # The tight tolerances occasionally fail numerically; the solver's own
    # defaults are the fallback.
    attempts = [(name, opts)] + ([] if opts == user_opts else [(name, user_opts)])
    if name == "CLARABEL":
        # Then SCS (a dependency of CVXPY).  Clarabel fails outright on a few
        # small exponential-cone programs (benchmarks/random_sweep.py, seeds
        # 1000:1200 and 5000:5200: 6 of the 400, logistic and cross-entropy,
        # at both tolerances), where SCS reached the fast solver's certified
        # optimum to 4e-10 (relative).  The certificate, computed
        # afterwards, judges its point like any other.
        eps = min(tol, 1e-9)
        attempts.append(("SCS", {"eps_abs": eps, "eps_rel": eps, "max_iters": SCS_MAX_ITERS}))
    try:
        solve_with_fallbacks(problem, U, attempts, verbose)
    except cp.error.SolverError as exc:
        raise RuntimeError(f"CVXPY solver {name} failed: {exc}") from exc
    converged = problem.status == cp.OPTIMAL
    if U.value is None:
        raise RuntimeError(f"CVXPY solver {name} returned no solution (status {problem.status}).")
    Uval = np.asarray(U.value).T.reshape(op.var_shape)
    lam1 = lam2 = None
    if cons1.dual_value is not None and cons2.dual_value is not None:
        lam1 = np.maximum(np.asarray(cons1.dual_value), 0).reshape(n, C, 2, P, m)
        lam2 = np.maximum(np.asarray(cons2.dual_value), 0).reshape(n, C, 2, P)
    bval = np.asarray(b.value).ravel() if fit_intercept else np.zeros(C)
    n_iter = problem.solver_stats.num_iters if problem.solver_stats else 0
    return Uval, bval, lam1, lam2, int(n_iter or 0), converged

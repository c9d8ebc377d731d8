"""The interior point's solves and Newton steps, counted for the benchmarks.

``counting_solve`` stands in for ``solve_restricted_barrier`` wherever a
script patches it in; it runs the solve verbosely into a buffer and adds
its ``[ipm]`` lines to ``COUNT["steps"]`` (and one to ``COUNT["solves"]``).
Scripts reset ``COUNT`` themselves before each measured fit.
"""

import contextlib
import io

import convexrelu.solvers._barrier as barrier

COUNT = {"solves": 0, "steps": 0}
_solve = barrier.solve_restricted_barrier


def counting_solve(*args, **kwargs):
    kwargs["verbose"] = True
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = _solve(*args, **kwargs)
    COUNT["solves"] += 1
    COUNT["steps"] += buf.getvalue().count("[ipm]")
    return out

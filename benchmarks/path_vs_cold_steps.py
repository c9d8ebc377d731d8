"""Where a warm-started path saves work: restricted solves and Newton steps.

One fold's worth of diabetes (the first 295 rows, standardised; 20 sampled
tuples, m = 2, intercept, tol 1e-6), a grid of ``--n-alphas`` alphas (6 by
default) from alpha_max down to 1e-2 alpha_max: the warm-started path
(``convex_path``) against one cold ``solve_convex`` per alpha.  Printed per
side: wall seconds (median of 3), restricted interior-point solves and their
Newton steps (counted from the interior point's verbose lines), working-set
rounds finished by the active-set method (which continues from the previous
solution, see ``convexrelu/solvers/_active_set.py``) and its Newton steps,
and working-set rounds per alpha.  The row "path, late check" is the path
with the active-set method's early face check off (``EARLY_CHECK_RTOL``:
every face solved to the end before its rows are checked); the three runs
alternate, so load on the machine falls on all of them.

    python benchmarks/path_vs_cold_steps.py
    python benchmarks/path_vs_cold_steps.py --n-alphas 20
    python benchmarks/path_vs_cold_steps.py --n-alphas 20 --profile 25

``--profile N`` prints, instead of the table, the ``N`` functions with the
largest cumulative time of one warm-started path (cProfile, after one
unprofiled run), to show where a path point's time goes; with it, a last
line counts the one-block interior-point solves of entering sub-networks
(``ZeroGroups.block_step``) by outcome: the block moved, or stayed at zero
(certified by that solve's multipliers), and how often one block came back.
"""

import argparse
import collections
import cProfile
import pstats
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

import convexrelu.solvers._active_set as active_set
import convexrelu.solvers._barrier as barrier
import convexrelu.solvers._zero_groups as zero_groups
import convexrelu.solvers.fast as fast
from convexrelu import convex_path, sample_arrangements, solve_convex
from ipm_steps import COUNT, counting_solve

COUNT["as_steps"] = 0
_newton_step = active_set._ActiveSet.newton_step
EARLY = active_set.EARLY_CHECK_RTOL


def _counting_newton_step(self, *args, **kwargs):
    COUNT["as_steps"] += 1
    return _newton_step(self, *args, **kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-alphas", type=int, default=6)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N costliest functions of one path instead")
    args = parser.parse_args(argv)
    # Both the working-set loop's solves and the active-set method's block
    # solves (which import it from the module) are counted.
    fast.solve_restricted_barrier = counting_solve
    barrier.solve_restricted_barrier = counting_solve
    active_set._ActiveSet.newton_step = _counting_newton_step
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:295]
    y = ((y - y.mean()) / y.std())[:295]
    Xa = np.hstack([X, np.ones((len(X), 1))])
    arr = sample_arrangements(Xa, 20, 2, random_state=0)
    warnings.simplefilter("ignore")
    alphas = convex_path(Xa, y, arr, n_alphas=args.n_alphas, eps=1e-2, fit_intercept=True).alphas
    def path(early):
        active_set.EARLY_CHECK_RTOL = early
        return convex_path(Xa, y, arr, alphas=alphas, fit_intercept=True, tol=1e-6).results

    def cold():
        active_set.EARLY_CHECK_RTOL = EARLY
        return [solve_convex(Xa, y, arr, a, fit_intercept=True, tol=1e-6) for a in alphas]

    if args.profile:
        path(EARLY)
        outcomes = []
        block_step = zero_groups.ZeroGroups._output_block_step

        def recording(self, bis, *rest):
            moved = block_step(self, bis, *rest)
            outcomes.append((tuple(int(b) for b in bis), moved))
            return moved

        zero_groups.ZeroGroups._output_block_step = recording
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.runcall(path, EARLY)
        print(f"one path of {len(alphas)} alphas, {time.perf_counter() - t:.2f} s (profiled)")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
        stayed = collections.Counter(b for b, moved in outcomes if moved is False)
        print(f"one-block solves: {len(outcomes)}, moved {sum(m is True for _, m in outcomes)}, "
              f"stayed at zero {sum(stayed.values())} (most repeated: "
              f"{stayed.most_common(3)})")
        return
    runs = {"path": lambda: path(EARLY), "path, late check": lambda: path(-1.0), "cold": cold}
    times = {name: [] for name in runs}
    info = {}
    for _ in range(3):
        for name, run in runs.items():
            COUNT.update(solves=0, steps=0, as_steps=0)
            t = time.perf_counter()
            results = run()
            times[name].append(time.perf_counter() - t)
            info[name] = (dict(COUNT), results)
    print(f"{'':17}{'seconds':>9}{'ipm solves':>11}{'steps':>7}{'active-set':>11}"
          f"{'its steps':>10}  rounds per alpha")
    for name in runs:
        count, results = info[name]
        rounds = [len(r.history) for r in results]
        n_as = sum(h.get("inner") == "active_set" for r in results for h in r.history)
        print(f"{name:17}{np.median(times[name]):9.2f}{count['solves']:11d}{count['steps']:7d}"
              f"{n_as:11d}{count['as_steps']:10d}  {rounds}")


if __name__ == "__main__":
    main()

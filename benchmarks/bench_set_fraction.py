"""The default working-set size: SET_FRACTION and COUPLED_SET_FRACTION.

The fast solver's first working set and growth default to a tenth of the
blocks (``SET_FRACTION``), a twentieth with a softmax over several outputs
(``COUPLED_SET_FRACTION``, ``convexrelu/solvers/fast.py``).  Each problem is
solved with both settings in turn in one process (the order alternates):
wall seconds, working-set rounds, their ratio and the relative difference
of the certified objectives; then the totals.  Problems:

* ``NAME:ALPHA:PATTERNS[:COUNT]``: a ``ConvexDeepReLUClassifier`` fit on the
  first training fold of a UCI set of ``../shared/data`` (COUNT tuples,
  default 40, m = 2, tol 1e-4); multiclass sets vary COUPLED_SET_FRACTION,
  binary ones (one logistic output) SET_FRACTION;
* ``reg:NAME:ALPHA[:COUNT]``: a ``ConvexDeepReLURegressor`` on the first
  training split of a UCI regression set (standardised; COUNT sampled
  tuples, default 100, m = 2, tol 1e-6), varying SET_FRACTION;
* ``solver:NxD``: ``benchmarks/bench_solver.py``'s problem (100 tuples,
  m = 4, alpha = 0.1 x the gated bound, tol 1e-6), varying SET_FRACTION;
* ``digits:ALPHA[:COUNT]``: the default ``ConvexDeepReLUClassifier``
  (cross-entropy, COUNT trained tuples, default 32, m = 2, tol 1e-6) on
  scikit-learn's digits (standardised ``train_test_split(random_state=0)``
  training rows, 1347 x 64, 10 classes); needs no ``../shared/data``.

``--balanced`` compares instead the cold first working set by turns over
the outputs (``BALANCED_FIRST_SET``, the default) with the most violated
blocks overall, at the default fractions (multiclass problems only).
``--drop`` compares a cold first round whose interior point keeps every
block of its guessed set with one that sheds the blocks heading for zero
(``DROP_IN_FIRST_ROUND``; ``_barrier.DROP_RTOL``), at the default fractions
(one output only: on several, both settings keep every block).
``--generator`` compares a trained-tuple program's cold first working set
of the most violated blocks with the generating network's own blocks
(``GENERATOR_FIRST_SET``, the default; single-output problems only).
``--give-up`` compares pricing every violating block to the end with
stopping those that cannot be certified at their pace
(``convexrelu/solvers/_pricing.py``'s ``GIVE_UP_PACE``, the default).
``--near`` compares adding every block that pricing leaves above alpha with
giving the few near violators the exact test first (``NEAR_VIOLATORS_MOST``
0 against the default); ``--tight-retry`` the exact test without and with
its tight re-solve of rows that certify in value but not in multipliers
(``convexrelu/solvers/_block_certificate.py``'s ``TIGHT_RETRY``);
``--cold-intercept`` a saturating loss's cold interior-point starts from the
given (previous round's) intercept or from the zero network's best one when
that fits it better (``convexrelu/solvers/_barrier.py``'s
``COLD_START_ZERO_INTERCEPT``, the default).

With at most 40 tuples on one output the two settings coincide (a first
set of at least 8 blocks), so single-output problems need more tuples.

    python benchmarks/bench_set_fraction.py
    python benchmarks/bench_set_fraction.py --problems yeast:1e-2:trained --fractions 10 20
    python benchmarks/bench_set_fraction.py --single --fractions 10 16
    python benchmarks/bench_set_fraction.py --balanced --problems digits:1e-2 yeast:1e-2:trained
    python benchmarks/bench_set_fraction.py --drop --single
    python benchmarks/bench_set_fraction.py --give-up --single
    python benchmarks/bench_set_fraction.py --generator --problems pima:1e-2:trained:32
    python benchmarks/bench_set_fraction.py --near --single
    python benchmarks/bench_set_fraction.py --cold-intercept --problems digits:1e-2 yeast:1e-2:trained
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from datasets import load_uci121, load_uci_regression, uci121_root  # noqa: E402

import convexrelu.solvers._barrier as barrier  # noqa: E402
import convexrelu.solvers._block_certificate as block_certificate  # noqa: E402
import convexrelu.solvers._pricing as pricing  # noqa: E402
import convexrelu.solvers.fast as fast  # noqa: E402
from convexrelu import ConvexDeepReLUClassifier, ConvexDeepReLURegressor, solve_convex  # noqa: E402

DEFAULT = [f"{name}:{alpha}:trained" for alpha in ("1e-2", "1e-3") for name in (
    "audiology-std", "led-display", "primary-tumor", "conn-bench-vowel-deterding", "flags",
    "dermatology", "ecoli")]
#: single-output problems with 100 tuples (``--single``)
SINGLE = (["solver:500x10", "solver:1000x10", "solver:2000x10", "solver:500x100"]
          + [f"reg:{name}:{alpha}" for name in ("yacht", "bostonHousing", "energy", "concrete")
             for alpha in ("1e-2", "1e-3")]
          + [f"{name}:{alpha}:sample:100" for name in ("pima", "ionosphere", "breast-cancer-wisc")
             for alpha in ("1e-2", "1e-3")])


def _fit(problem):
    """A function running ``problem`` once: (seconds, rounds, objective); and
    the name of the fraction it depends on."""
    kind, *rest = problem.split(":")
    if kind == "solver":
        from bench_solver import make_problem

        n, d = map(int, rest[0].split("x"))
        X, y, arr, alpha = make_problem(n, d)

        def run():
            t = time.perf_counter()
            res = solve_convex(X, y, arr, alpha, fit_intercept=True, solver="fast", tol=1e-6)
            return time.perf_counter() - t, len(res.history), res.objective
        return run, "SET_FRACTION"
    if kind == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        X, _, y, _ = train_test_split(*load_digits(return_X_y=True), random_state=0)
        X = StandardScaler().fit_transform(X)
        count = int(rest[1]) if len(rest) > 1 else 32
        est = ConvexDeepReLUClassifier(n_patterns=count, alpha=float(rest[0]), random_state=0)
    elif kind == "reg":
        name, alpha = rest[0], float(rest[1])
        count = int(rest[2]) if len(rest) > 2 else 100
        X, y, _, _ = load_uci_regression(name)
        X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)
        y = (y - y.mean()) / y.std()
        est = ConvexDeepReLURegressor(n_patterns=count, n_hidden=2, alpha=alpha,
                                      patterns="sample", random_state=0)
    else:
        name, alpha, patterns = kind, float(rest[0]), rest[1]
        count = int(rest[2]) if len(rest) > 2 else 40
        X, y, folds = load_uci121(name)
        train = folds[0][0]
        X, y = X[train], y[train]
        est = ConvexDeepReLUClassifier(n_patterns=count, n_hidden=2, patterns=patterns,
                                       alpha=alpha, tol=1e-4, random_state=0)

    def run():
        t = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - t, est.n_iter_, est.objective_
    coupled = kind != "reg" and len(np.unique(y)) > 2
    return run, "COUPLED_SET_FRACTION" if coupled else "SET_FRACTION"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=DEFAULT)
    parser.add_argument("--single", action="store_true",
                        help="the single-output problems (SET_FRACTION) instead")
    parser.add_argument("--fractions", nargs=2, type=int, default=[10, 20])
    parser.add_argument("--balanced", action="store_true",
                        help="first working set by turns over the outputs or not, instead")
    parser.add_argument("--drop", action="store_true",
                        help="a first round keeping or shedding blocks heading for zero, instead")
    parser.add_argument("--generator", action="store_true",
                        help="most violated first set or the generator's own blocks, instead")
    parser.add_argument("--give-up", action="store_true",
                        help="pricing violators to the end or giving up on hopeless ones, instead")
    parser.add_argument("--near", action="store_true",
                        help="near violators added or given the exact test first, instead")
    parser.add_argument("--tight-retry", action="store_true",
                        help="the exact test without or with its tight re-solve, instead")
    parser.add_argument("--cold-intercept", action="store_true",
                        help="cold starts from the given or the zero network's intercept, "
                             "instead")
    args = parser.parse_args(argv)
    problems = SINGLE if args.single and args.problems == DEFAULT else args.problems
    if (not uci121_root().exists()
            and any(p.split(":")[0] not in ("solver", "digits") for p in problems)):
        print("needs ../shared/data (UCI sets); nothing to run")
        return
    warnings.simplefilter("ignore")
    # (label, value) of the two settings of the attribute each problem varies
    fr = ([("top", False), ("turns", True)] if args.balanced
          else [("keep", False), ("drop", True)] if args.drop
          else [("to end", None), ("give up", pricing.GIVE_UP_PACE)] if args.give_up
          else [("violated", False), ("own", True)] if args.generator
          else [("added", 0), ("exact", fast.NEAR_VIOLATORS_MOST)] if args.near
          else [("no retry", False), ("retry", True)] if args.tight_retry
          else [("given", False), ("zero net", True)] if args.cold_intercept
          else [(str(f), f) for f in args.fractions])
    names = ("SET_FRACTION", "COUPLED_SET_FRACTION", "BALANCED_FIRST_SET",
             "DROP_IN_FIRST_ROUND", "GENERATOR_FIRST_SET", "NEAR_VIOLATORS_MOST")
    owners = dict.fromkeys(names, fast)
    owners.update(GIVE_UP_PACE=pricing, TIGHT_RETRY=block_certificate,
                  COLD_START_ZERO_INTERCEPT=barrier)
    defaults = {name: getattr(owner, name) for name, owner in owners.items()}
    tot = {label: 0.0 for label, _ in fr}
    print(f"{'problem':40s} " + "  ".join(f"{'s, ' + label:>8s} {'rounds':>6s}"
                                          for label, _ in fr)
          + f" {'ratio':>6s} {'rel obj diff':>12s}")
    for i, problem in enumerate(problems):
        run, which = _fit(problem)
        if args.balanced or args.drop:
            which = "BALANCED_FIRST_SET" if args.balanced else "DROP_IN_FIRST_ROUND"
        if args.give_up:
            which = "GIVE_UP_PACE"
        if args.generator:
            which = "GENERATOR_FIRST_SET"
        if args.near or args.tight_retry:
            which = "NEAR_VIOLATORS_MOST" if args.near else "TIGHT_RETRY"
        if args.cold_intercept:
            which = "COLD_START_ZERO_INTERCEPT"
        owner = owners[which]
        res = {}
        for label, value in (fr if i % 2 == 0 else fr[::-1]):
            setattr(owner, which, value)
            try:
                res[label] = run()
            finally:
                setattr(owner, which, defaults[which])
            tot[label] += res[label][0]
        a, b = res[fr[0][0]], res[fr[1][0]]
        print(f"{problem:40s} " + "  ".join(f"{res[label][0]:8.2f} {res[label][1]:6d}"
                                            for label, _ in fr)
              + f" {a[0] / b[0]:6.2f} {abs(a[2] - b[2]) / abs(a[2]):12.1e}", flush=True)
    print(f"{'total':40s} " + "  ".join(f"{tot[label]:8.1f} {'':6s}" for label, _ in fr)
          + f" {tot[fr[0][0]] / max(tot[fr[1][0]], 1e-9):6.2f}")


if __name__ == "__main__":
    main()

"""The constraint rows' Newton blocks from their upper triangles: one gather
against the pairs' matrices first, same process.

Every interior-point Newton step turns the products of
:func:`convexrelu.solvers._newton_matrix._row_blocks` (the upper triangles of
``X^T diag(q) X`` for each block and pair of hidden units) into one ``md x
md`` block per working block.  The baseline (the solver's form until the
forty-fourth session) made each pair's symmetric ``d x d`` matrix by a gather
from the transposed products, then each block from zeros by copying the
pairs in, a transposed copy below the diagonal; the current form
(:func:`convexrelu.solvers._newton_matrix._blocks_from_upper`) copies the
products once to block-major order and gathers each block's entries from
it.  Random products of the solver's shapes (``--shapes`` B,m,d triples;
the first is a 100-class ``plant-*`` working set: 700 blocks, m = 2, d =
64); medians of ``--repeats`` alternating calls; whether the two results
are equal (they should be: both only copy).

    python benchmarks/bench_block_assembly.py
    python benchmarks/bench_block_assembly.py --shapes 700,2,64 40,3,30 --repeats 21
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convexrelu.solvers._newton_matrix import (_blocks_from_upper,  # noqa: E402
                                               _symmetric_from_upper)


def pairs_then_blocks(upper, B, m, d):
    """The baseline: each pair's symmetric matrix, then the blocks from them."""
    npair = m * (m + 1) // 2
    pairs = _symmetric_from_upper(upper.T, d).reshape(B, npair, d, d)
    blocks = np.zeros((B, m, d, m, d))
    for p, (j, k) in enumerate(zip(*np.triu_indices(m))):
        blocks[:, j, :, k, :] = pairs[:, p]
        if j != k:
            blocks[:, k, :, j, :] = np.transpose(pairs[:, p], (0, 2, 1))
    return blocks.reshape(B, m * d, m * d)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["700,2,64", "300,2,64", "100,2,64",
                                                         "40,3,30", "14,2,101"])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'B':>5s} {'m':>2s} {'d':>4s} {'pairs, then blocks ms':>22s} {'one gather ms':>14s} "
          f"{'ratio':>6s} {'equal':>6s}")
    for shape in args.shapes:
        B, m, d = (int(v) for v in shape.split(","))
        X = rng.standard_normal((d * (d + 1) // 2, B * m * (m + 1) // 2))
        forms = {"baseline": pairs_then_blocks, "gather": _blocks_from_upper}
        times = {name: [] for name in forms}
        results = {}
        for r in range(args.repeats):
            for name in (list(forms) if r % 2 == 0 else list(forms)[::-1]):
                t = time.perf_counter()
                results[name] = forms[name](X, B, m, d)
                times[name].append(time.perf_counter() - t)
        base, new = (statistics.median(times[name]) for name in forms)
        equal = np.array_equal(results["baseline"], results["gather"])
        print(f"{B:5d} {m:2d} {d:4d} {1e3 * base:22.2f} {1e3 * new:14.2f} {base / new:6.2f} "
              f"{str(equal):>6s}")


if __name__ == "__main__":
    main()

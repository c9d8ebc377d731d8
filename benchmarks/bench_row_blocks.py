"""The constraint rows' Newton blocks: one coefficient column per pair, against
separate first-layer products, same process.

Every interior-point Newton step builds, for each working block, the
constraint rows' ``md x md`` share of the Newton matrix
(:func:`convexrelu.solvers._newton_matrix._row_blocks`) as matrix products
of coefficient columns with the rows' pair products ``x_i x_i^T`` (n x
d(d+1)/2).  The sub-block ``(j, j')`` needs only the coefficients
``c2 W2_j W2_j' + [j = j'] c1_j``: ``m (m + 1) / 2`` columns per block.  The
baseline here (the solver's form until the twenty-sixth session) multiplied
the first-layer coefficients ``c1`` separately: ``m (m + 1) / 2 + m``
columns (both on the same pair products, the solver's current
layout).  Random weights of the interior point's shapes (signs for the
second-layer rows), the rows' pair products kept (``--chunk`` rows at a
time rebuilt when they would take more than the solver's 256 MB); medians
of ``--repeats`` alternating calls, one process; the largest difference of
the two results relative to their largest entry.

    python benchmarks/bench_row_blocks.py
    python benchmarks/bench_row_blocks.py --n 60000 --d 101 --blocks 14 --m 2
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convexrelu.solvers._newton_systems import PAIR_PRODUCTS_MAX_BYTES  # noqa: E402
from convexrelu.solvers._newton_matrix import (_blocks_from_upper,  # noqa: E402
                                               _pair_products, _row_blocks,
                                               _symmetric_from_upper)


def separate_first_layer(X, c1, c2, W2, row_chunk, XX=None):
    """The baseline: second-layer pair columns, then ``m`` first-layer columns per block."""
    n, d = X.shape
    _, B, m = W2.shape
    pj, pk = np.triu_indices(m)
    npair = len(pj)
    out = np.zeros((d * (d + 1) // 2, B * npair + B * m))
    for start in range(0, n, row_chunk):
        sl = slice(start, min(n, start + row_chunk))
        XXc = _pair_products(X[sl]) if XX is None else XX[:, sl]
        Q = (c2[sl, :, None] * W2[sl][:, :, pj] * W2[sl][:, :, pk]).reshape(-1, B * npair)
        out[:, :B * npair] += XXc @ Q
        out[:, B * npair:] += XXc @ c1[sl]
    blocks = _blocks_from_upper(out[:, :B * npair], B, m, d).reshape(B, m, d, m, d)
    first = _symmetric_from_upper(out[:, B * npair:].T, d).reshape(B, m, d, d)
    for j in range(m):
        blocks[:, j, :, j, :] += first[:, j]
    return blocks.reshape(B, m * d, m * d)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--d", type=int, default=101)
    parser.add_argument("--blocks", type=int, default=14)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    n, d, B, m = args.n, args.d, args.blocks, args.m
    X = rng.standard_normal((n, d))
    c1 = np.exp(3 * rng.standard_normal((n, B * m)))
    c2 = np.exp(3 * rng.standard_normal((n, B)))
    W2 = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, B, m))
    keep = n * d * (d + 1) // 2 * 8 <= PAIR_PRODUCTS_MAX_BYTES
    XX = _pair_products(X) if keep else None
    chunk = n if keep else args.chunk
    times = {"separate": [], "one column per pair": []}
    results = {}
    for r in range(args.repeats):
        order = list(times) if r % 2 == 0 else list(times)[::-1]
        for name in order:
            t = time.perf_counter()
            if name == "separate":
                results[name] = separate_first_layer(X, c1, c2, W2, chunk, XX)
            else:
                results[name] = _row_blocks(X, c1, c2, W2, chunk, XX)
            times[name].append(time.perf_counter() - t)
    a, b = results["separate"], results["one column per pair"]
    diff = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
    base = statistics.median(times["separate"])
    print(f"n={n} d={d} blocks={B} m={m} pair products {'kept' if keep else f'rebuilt ({chunk} rows)'}"
          f", {args.repeats} repeats")
    print(f"{'form':22s} {'median s':>9s} {'ratio':>6s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:22s} {med:9.3f} {base / med:6.2f}")
    print(f"largest relative difference of the two results: {diff:.1e}")


if __name__ == "__main__":
    main()

"""UCI-121 summary over every set: the recorded folds plus the sets run before ``--record``.

``uci121.py --record`` keeps every fold it finishes, but the first 49 sets
with trained tuples ran before that option existed: their per-set means
survive only as the one-decimal rows of ``docs/uci121-results.md``'s tables,
transcribed into ``results/uci121_unrecorded.csv``.  This script averages each
model's recorded folds on each set (read as ``uci121.py --patterns trained``
with its other defaults reads them), takes the transcribed row for a model
without them, and prints the mean accuracy of each model over all of them and the
convex model's wins / ties / losses against each baseline (ties: within 0.5
percentage points, as in ``uci121.py``).

Rounding: a transcribed mean is within 0.05 of the run's, so a set's
difference of two models is within 0.05 per transcribed mean of the exact
one: the mean difference over all sets carries the mean of those bounds
(printed), and a set whose difference is that close to the tie band's edge
is counted as a range.

    python benchmarks/uci121_summary.py               # every set with n <= 5000
    python benchmarks/uci121_summary.py --sets-from-files   # without ../shared/data
"""

import argparse
import csv
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import uci121  # noqa: E402
from datasets import uci121_names  # noqa: E402

MODELS = ("convex", "mlp", "logreg")
#: ``uci121.py --patterns trained`` with its other defaults: the folds it records
TRAINED = Namespace(patterns="trained", n_patterns=40, n_hidden=2, tol=1e-4)
TIE = 0.5
#: a transcribed mean is rounded to 0.1: it is within this of the run's
ROUNDING = 0.05


def recorded_means(path, args=TRAINED, n_folds=4):
    """``{set: {model: mean accuracy in %}}``: each model of each set whose
    ``n_folds`` folds are all recorded in ``path`` with ``args``' settings
    (a set's baselines can be recorded without its convex folds)."""
    folds = {}
    for (s, m, k), (acc, _) in uci121.read_record(path, args).items():
        folds.setdefault((s, m), {})[k] = acc
    out = {}
    for (s, m), f in folds.items():
        if m in MODELS and sorted(f) == list(range(n_folds)):
            out.setdefault(s, {})[m] = 100 * float(np.mean(list(f.values())))
    return out


def transcribed_means(path):
    """``{set: {model: mean accuracy in %}}`` of the transcribed one-decimal rows."""
    with open(path, newline="") as fh:
        return {row["set"]: {m: float(row[m]) for m in MODELS} for row in csv.DictReader(fh)}


def summarise(recorded, transcribed, names):
    """Means over ``names`` and wins / ties / losses against each baseline.

    Each model's mean on a set comes from ``recorded`` when it has one, else
    from ``transcribed`` (rounded to 0.1).  Returns ``(means, counts,
    missing, width)``: ``means[model]`` in %; ``counts[base]`` a dict of
    ``wins``, ``ties`` and ``losses`` (the differences as they stand) and
    ``edge``, ``[(set, class, other class)]``: the sets whose difference is
    within its rounding of the band's edge, which the exact one could put in
    the other class; the names without a result for every model; and
    ``width[base]``, how far the mean of the convex model's difference to
    ``base`` can be from the exact one through rounding.
    """
    rows, missing = {}, []
    for s in names:
        r, rounded = {}, {}
        for m in MODELS:
            if m in recorded.get(s, {}):
                r[m], rounded[m] = recorded[s][m], False
            elif m in transcribed.get(s, {}):
                r[m], rounded[m] = transcribed[s][m], True
        if len(r) == len(MODELS):
            rows[s] = (r, rounded)
        else:
            missing.append(s)
    means = {m: float(np.mean([r[m] for r, _ in rows.values()])) if rows else float("nan")
             for m in MODELS}
    counts, width = {}, {}
    for base in MODELS[1:]:
        c = dict(wins=0, ties=0, losses=0, edge=[])
        total = 0.0
        for s, (r, rounded) in rows.items():
            # 0.1-grid differences: rounded so that 0.5 is not 0.5000000001
            d = round(r["convex"] - r[base], 9)
            err = ROUNDING * (rounded["convex"] + rounded[base])
            total += err
            cls = _class(d)
            c[cls] += 1
            other = {_class(d - err), _class(d + err)} - {cls}
            c["edge"] += [(s, cls, o) for o in sorted(other)]
        counts[base] = c
        width[base] = total / len(rows) if rows else float("nan")
    return means, counts, missing, width


def _class(d):
    return "wins" if d > TIE else "losses" if d < -TIE else "ties"


def count_ranges(c):
    """``{class: (fewest, most)}`` over the edge sets' possible classes."""
    out = {}
    for cls in ("wins", "ties", "losses"):
        out[cls] = (c[cls] - sum(1 for _, a, _ in c["edge"] if a == cls),
                    c[cls] + sum(1 for _, _, b in c["edge"] if b == cls))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default=str(HERE / "results" / "uci121_folds.csv"))
    parser.add_argument("--transcribed", default=str(HERE / "results" / "uci121_unrecorded.csv"))
    parser.add_argument("--max-n", type=int, default=5000)
    parser.add_argument("--sets-from-files", action="store_true",
                        help="the sets in the two files, without ../shared/data")
    args = parser.parse_args(argv)
    recorded = recorded_means(args.record)
    transcribed = transcribed_means(args.transcribed)
    if args.sets_from_files:
        names = sorted(set(recorded) | set(transcribed))
    else:
        names = uci121_names(args.max_n)
        if not names:
            parser.error("no UCI-121 data under ../shared/data; try --sets-from-files")
    means, counts, missing, width = summarise(recorded, transcribed, names)
    n_rec = {m: sum(m in recorded.get(s, {}) for s in names) for m in MODELS}
    n_used = len(names) - len(missing)
    print(f"{n_used} sets; per-fold records ({Path(args.record).name}) for "
          + ", ".join(f"{m} {n_rec[m]}" for m in MODELS)
          + f", the others' means from {Path(args.transcribed).name} (one decimal)")
    if missing:
        print(f"no result for {len(missing)}: {' '.join(missing)}")
    print("mean accuracy (%): " + ", ".join(f"{m} {means[m]:.3f}" for m in MODELS))
    for base, c in counts.items():
        print(f"convex vs {base}: mean difference {means['convex'] - means[base]:+.3f} "
              f"(+-{width[base]:.3f} at most through rounding); "
              f"{c['wins']} wins / {c['ties']} ties / {c['losses']} losses")
        if c["edge"]:
            rng = count_ranges(c)
            print("  within rounding of the tie band's edge: "
                  + ", ".join(f"{s} ({_word(a)} or {_word(b)})" for s, a, b in c["edge"])
                  + "; so " + " / ".join(f"{lo} to {hi} {cls}" if lo != hi else f"{lo} {cls}"
                                        for cls, (lo, hi) in rng.items()))


def _word(cls):
    return {"wins": "win", "ties": "tie", "losses": "loss"}[cls]


if __name__ == "__main__":
    main()

"""The UCI-121 summary over all sets (benchmarks/uci121_summary.py).

* a model's mean on a set comes from its four recorded folds when they are
  all there with the protocol's settings, else from the transcribed
  one-decimal row;
* the rounding bound and the tie band's edge cases follow from which
  values are rounded;
* the committed transcription agrees with the committed records wherever
  both have a set's baseline (the baselines were run again into the records).
"""

import sys
from argparse import Namespace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import uci121  # noqa: E402
import uci121_summary as summary  # noqa: E402


def test_recorded_means_need_all_folds_and_the_settings(tmp_path):
    other = Namespace(**dict(vars(summary.TRAINED), n_patterns=20))
    rows = [("a", "convex", k, 0.5 + 0.1 * k, summary.TRAINED) for k in range(4)]
    rows += [("a", "mlp", k, 0.5, summary.TRAINED) for k in range(3)]      # fold 3 missing
    rows += [("a", "logreg", k, 0.9, other) for k in range(4)]             # other settings
    for s, model, fold, acc, args in rows:
        uci121.append_record(tmp_path / "r.csv", args, s, model, fold, acc, 1.0)
    means = summary.recorded_means(tmp_path / "r.csv")
    assert set(means) == {"a"} and set(means["a"]) == {"convex"}
    assert means["a"]["convex"] == pytest.approx(100 * (0.5 + 0.6 + 0.7 + 0.8) / 4)


def test_summary_prefers_records_and_bounds_the_rounding():
    recorded = {"a": {"convex": 80.0, "mlp": 79.0, "logreg": 70.0},
                "b": {"mlp": 60.04}}
    transcribed = {"b": {"convex": 60.5, "mlp": 60.0, "logreg": 61.0},
                   "c": {"convex": 90.0, "mlp": 90.6, "logreg": 89.9}}
    means, counts, missing, width = summary.summarise(recorded, transcribed, ["a", "b", "c", "d"])
    assert missing == ["d"]
    assert means["mlp"] == pytest.approx((79.0 + 60.04 + 90.6) / 3)
    assert means["convex"] == pytest.approx((80.0 + 60.5 + 90.0) / 3)
    # against mlp: a exact (win), b convex rounded only, c both rounded
    assert width["mlp"] == pytest.approx((0.0 + 0.05 + 0.1) / 3)
    c = counts["mlp"]
    assert (c["wins"], c["ties"], c["losses"]) == (1, 1, 1)
    # b: 60.5 - 60.04 = 0.46, within 0.05 of the band's edge: a tie or a win;
    # c: -0.6 with both rounded: a loss or a tie
    assert sorted(c["edge"]) == [("b", "ties", "wins"), ("c", "losses", "ties")]
    assert summary.count_ranges(c) == {"wins": (1, 2), "ties": (0, 2), "losses": (0, 1)}
    # against logreg: b -0.5 exactly, both rounded: a tie or a loss
    assert counts["logreg"]["edge"] == [("b", "ties", "losses")]


def test_an_exact_difference_on_the_edge_is_a_tie():
    recorded = {"a": {"convex": 70.5, "mlp": 70.0, "logreg": 71.0}}
    _, counts, _, width = summary.summarise(recorded, {}, ["a"])
    assert counts["mlp"]["ties"] == 1 and counts["mlp"]["edge"] == []
    assert width["mlp"] == 0.0


def test_committed_transcription_agrees_with_the_records():
    record = ROOT / "benchmarks" / "results" / "uci121_folds.csv"
    transcribed = ROOT / "benchmarks" / "results" / "uci121_unrecorded.csv"
    if not (record.exists() and transcribed.exists()):
        pytest.skip("run from a source checkout")
    rec = summary.recorded_means(record)
    tr = summary.transcribed_means(transcribed)
    # The baselines are deterministic (random_state=0); the convex reruns
    # (fifty-third session) ran later code than the transcribed means, and
    # 3 of 44 sets moved by 0.1 to 0.2 points (not investigated).
    both = [(s, m) for s in tr for m in ("mlp", "logreg") if m in rec.get(s, {})]
    assert both, "no set has both a record and a transcribed row"
    off = [(s, m, tr[s][m], rec[s][m]) for s, m in both
           if abs(tr[s][m] - rec[s][m]) > summary.ROUNDING + 1e-9]
    assert not off, f"transcribed means that the records contradict: {off}"

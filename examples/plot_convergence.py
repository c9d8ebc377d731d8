"""Convergence of a fit: the certified relative duality gap against seconds.

Each marker is one working-set round of the default solver
(``history_``): the gap is the whole program's, certified at the round's
solution, so the curve says how far from the global optimum the network
was at that time; the number beside it is the round's working set
(blocks of the restricted program). The square is the CVXPY reference
(Clarabel) on the same tuples: one solve, one point, or a line saying
that it failed (on these exponential cones it can stop without one).
Breast cancer (standardised, all 569 rows), the default classifier
(logistic loss, 32 trained tuples, m = 2) at two alphas.

    pip install "convexrelu[plot]"
    python examples/plot_convergence.py            # writes docs/images/convergence.png
    python examples/plot_convergence.py --no-cvxpy --alphas 1e-2,1e-3,1e-4
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from convexrelu import ConvexDeepReLUClassifier  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--alphas", default="1e-1,1e-2")
    p.add_argument("--no-cvxpy", action="store_true", help="skip the CVXPY reference")
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "convergence.png"))
    args = p.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    failed = []
    for alpha, color in zip((float(a) for a in args.alphas.split(",")),
                            ("C0", "C1", "C2", "C3")):
        est = ConvexDeepReLUClassifier(alpha=alpha, random_state=0).fit(X, y)
        h = est.history_
        # A gap of exactly zero (within rounding) has no place on a log axis.
        gaps = np.maximum(h["relative_gap"], 1e-16)
        ax.semilogy(h["seconds"], gaps, "o-", color=color,
                    label=f"alpha={alpha:g}: {est.n_subnetworks_} sub-networks, "
                          f"objective {est.objective_:.5f}")
        for t, g, k in zip(h["seconds"], gaps, h["working_set"]):
            ax.annotate(str(k), (t, g), textcoords="offset points", xytext=(4, 4),
                        fontsize=8, color=color)
        print(f"alpha {alpha:g}: " + ", ".join(
            f"{t:.2f} s gap {g:.1e} ({k} blocks)"
            for t, g, k in zip(h["seconds"], h["relative_gap"], h["working_set"])))
        if not args.no_cvxpy:
            ref = ConvexDeepReLUClassifier(alpha=alpha, random_state=0, solver="cvxpy")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    ref.fit(X, y)
            except ValueError as exc:
                # Clarabel can stop without a point on these exponential cones
                # ("InsufficientProgress"); the fit then raises, naming it.
                print(f"alpha {alpha:g}: CVXPY failed: {str(exc)[:120]}...")
                failed.append(f"alpha={alpha:g}: CVXPY (Clarabel) stopped without a solution")
                continue
            ax.semilogy([ref.fit_time_], [max(ref.relative_gap_, 1e-16)], "s", color=color,
                        markersize=9, markerfacecolor="none",
                        label=f"alpha={alpha:g}, CVXPY (Clarabel): objective "
                              f"{ref.objective_:.5f}")
            print(f"alpha {alpha:g}: CVXPY {ref.fit_time_:.2f} s gap {ref.relative_gap_:.1e}, "
                  f"converged {ref.converged_}, objective {ref.objective_:.8f} "
                  f"(fast {est.objective_:.8f})")
    ax.axhline(1e-6, color="gray", lw=0.8, ls=":")
    ax.text(0.99, 1e-6, "tol", transform=ax.get_yaxis_transform(), ha="right", va="bottom",
            fontsize=8, color="gray")
    for k, text in enumerate(failed):
        ax.text(0.98, 0.3 - 0.06 * k, text, transform=ax.transAxes, ha="right", fontsize=8)
    # (log time: the reference takes far longer than the rounds)
    ax.set_xscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("certified relative duality gap")
    ax.set_title("Breast cancer, ConvexDeepReLUClassifier: the gap round by round")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=72)
    print("wrote", args.out)


if __name__ == "__main__":
    main()

"""How often the percentile bootstrap interval of ``rewardmine bench`` covers the true accuracy,
by number of items: the measurement behind :data:`rewardmine.statistics.MIN_ITEMS_FOR_VERDICT`.

Each trial draws n items whose outcome is right with probability p (a benchmark accuracy of true
value p), computes the interval with ``rewardmine.bench.stats.bootstrap`` exactly as a run does
(one stratum, the given resamples), and checks whether it holds p. Beside it, the smallest
two-sided p-value an exact paired sign test can reach with n discordant pairs (2 / 2^n), the
floor of any exact test at that size. Writes ``benchmarks/results/bootstrap_coverage.json`` and
``.md``.

    PYTHONPATH=src python benchmarks/bootstrap_coverage.py            # about a minute
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from common import ROOT, cpu_description, timed
from rewardmine.bench.stats import bootstrap


def accuracy(values: np.ndarray, strata: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(values[:, 0].mean())}


def coverage(n: int, p: float, trials: int, resamples: int, rng: np.random.Generator) -> float:
    held = 0
    for trial in range(trials):
        values = (rng.random((n, 1)) < p).astype(np.float64)
        interval = bootstrap(values, np.zeros(n, dtype=int), accuracy, resamples=resamples,
                             seed=trial)["accuracy"]
        held += interval.low <= p <= interval.high
    return held / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 12, 20, 30, 50, 100])
    parser.add_argument("--accuracies", type=float, nargs="+", default=[0.5, 0.8])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "bootstrap_coverage"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, seconds = timed(lambda: [
        {"items": n, "true_accuracy": p,
         "coverage": coverage(n, p, args.trials, args.resamples, rng),
         "smallest_exact_p": min(1.0, 2 / 2 ** n)}
        for n in args.sizes for p in args.accuracies])
    result = {"what": "coverage of the nominal 95% percentile bootstrap interval of an accuracy",
              "trials": args.trials, "resamples": args.resamples, "seed": args.seed,
              "seconds": round(seconds, 1), "machine": cpu_description(), "rows": rows}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = ["# Bootstrap coverage by number of items", "",
             f"Nominal 95% percentile bootstrap interval of an accuracy, {args.trials} trials per "
             f"row, {args.resamples} resamples each (`rewardmine.bench.stats.bootstrap`, as a run "
             f"computes it); {result['machine']}; {seconds:.0f} s. A trial's interval covers when "
             "it holds the true accuracy. The last column is the smallest two-sided p-value an "
             "exact paired sign test reaches with n discordant pairs.", "",
             "| items | true accuracy | coverage | smallest exact p |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['items']} | {r['true_accuracy']:.2f} | {100 * r['coverage']:.1f}% | "
              f"{r['smallest_exact_p']:.2g} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

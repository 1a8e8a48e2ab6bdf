"""How close the Kemeny local search comes to the exact optimum, and what exact search costs.

Run from the repository root: ``PYTHONPATH=src python benchmarks/consensus_local_search.py``.
Writes benchmarks/results/consensus_local_search.{json,md}.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from common import cpu_description
from rewardmine.consensus.kemeny import order_cost, solve, tie_order
from rewardmine.consensus.rankings import check_weights, preference_matrix

SIZES = (6, 8, 10, 12, 14, 16)
JUDGES = 5
CASES = 100


def noisy_judges(rng: np.random.Generator, n: int) -> list[list[int]]:
    """Judges that each see the same truth through random adjacent swaps (n of them)."""
    out = []
    for _ in range(JUDGES):
        order = list(range(n))
        for _ in range(n):
            i = int(rng.integers(0, n - 1))
            order[i], order[i + 1] = order[i + 1], order[i]
        out.append(order)
    return out


def random_judges(rng: np.random.Generator, n: int) -> list[list[int]]:
    return [list(rng.permutation(n)) for _ in range(JUDGES)]


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for kind, make in (("noisy", noisy_judges), ("uniform", random_judges)):
        for n in SIZES:
            optimal, ratios, exact_s, local_s = 0, [], [], []
            cases = CASES if n < 16 else 20
            for _ in range(cases):
                rankings = make(rng, n)
                matrix = preference_matrix(rankings, list(range(n)), check_weights(None, JUDGES))
                ties = tie_order(matrix)
                start = time.perf_counter()
                exact = order_cost(matrix, solve(matrix, ties, method="exact"))
                exact_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                local = order_cost(matrix, solve(matrix, ties, method="local_search"))
                local_s.append(time.perf_counter() - start)
                optimal += local <= exact + 1e-9
                ratios.append(local / exact if exact else 1.0)
            rows.append({"judges": kind, "n": n, "cases": cases, "optimal_share": optimal / cases,
                         "mean_cost_ratio": float(np.mean(ratios)),
                         "max_cost_ratio": float(np.max(ratios)),
                         "exact_ms": 1e3 * float(np.median(exact_s)),
                         "local_ms": 1e3 * float(np.median(local_s))})
            print(rows[-1])
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    meta = {"machine": cpu_description(), "python": platform.python_version(),
            "judges_per_list": JUDGES, "seed": 0}
    (out / "consensus_local_search.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["| judges | n | cases | local search optimal | mean cost ratio | max cost ratio "
             "| exact ms (median) | local ms (median) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['judges']} | {r['n']} | {r['cases']} | {r['optimal_share']:.0%} | "
                     f"{r['mean_cost_ratio']:.4f} | {r['max_cost_ratio']:.4f} | "
                     f"{r['exact_ms']:.1f} | {r['local_ms']:.2f} |")
    (out / "consensus_local_search.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

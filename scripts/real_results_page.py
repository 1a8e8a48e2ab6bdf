"""docs/results.md and its plots, rendered from results.json (see real_results.py).

Every number on the page is formatted from the JSON by :func:`pct` and :func:`cell`; the reading
(Q1, Q2, the length effect) is worded from the intervals, so it stays true of the numbers it sits
beside: a difference is called a difference only when its 95% interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMES = {
    "endogenous-sum-zero": "endogenous, sum, terminal zero (paper)",
    "endogenous-sum-value": "endogenous, sum, terminal value",
    "endogenous-mean": "endogenous, mean",
    "verifier": "generative verifier, log p(Yes)",
    "judge-listwise": "listwise principle judge",
    "judge-pointwise": "GenRM-pointwise (1-10)",
    "judge-pairwise": "GenRM-pairwise (wins)",
    "gemma-endogenous-sum-zero": "Gemma-3-270m base: endogenous, sum, terminal zero",
}
BASELINES = ("verifier", "judge-listwise", "judge-pointwise", "judge-pairwise")
COLUMNS = {
    "rm-bench": ("overall", "easy", "normal", "hard", "chat", "code", "math", "safety"),
    "dsp": ("overall", "academy", "business", "entertainment", "literature", "off_diagonal"),
    "hh-rlhf": ("overall", "helpful_base", "harmless_base"),
}
HEADLINE = {"rm-bench": ("overall", "hard", "easy"), "dsp": ("overall",),
            "hh-rlhf": ("overall",)}


def pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.1f}"


def cell(figure: Mapping[str, float] | None) -> str:
    """A figure with its 95% bootstrap interval: ``56.7 [50.1, 63.0]``."""
    if figure is None:
        return ""
    return f"{pct(figure['value'])} [{pct(figure['low'])}, {pct(figure['high'])}]"


def diff_cell(figure: Mapping[str, float]) -> str:
    d, lo, hi = (100 * figure[k] for k in ("difference", "low", "high"))
    return f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Page:
    text: str
    tables_text: str


def _runs(results: Mapping[str, Any], benchmark: str) -> list[tuple[str, dict[str, Any]]]:
    return [(run, results["runs"][f"{benchmark}/{run}"]) for run in NAMES
            if f"{benchmark}/{run}" in results["runs"]]


def figure_table(results: Mapping[str, Any], benchmark: str) -> str:
    runs = _runs(results, benchmark)
    columns = [c for c in COLUMNS[benchmark] if any(c in s["figures"] for _, s in runs)]
    rows = [[NAMES[run], str(s["items"]), *[cell(s["figures"].get(c)) for c in columns]]
            for run, s in runs]
    return table(["method", "items", *columns], rows)


def comparison_table(results: Mapping[str, Any], a_runs: tuple[str, ...],
                     b_runs: tuple[str, ...]) -> str:
    rows = []
    for comp in results["comparisons"]:
        if comp["run_a"] not in a_runs or comp["run_b"] not in b_runs:
            continue
        for key in HEADLINE[comp["benchmark"]]:
            f = comp["figures"].get(key)
            if f is None:
                continue
            rows.append([comp["benchmark"], key, NAMES[comp["run_a"]], NAMES[comp["run_b"]],
                         str(comp["items_shared"]), pct(f["a"]), pct(f["b"]), diff_cell(f),
                         str(comp.get("smallest_stratum", ""))])
    return table(["benchmark", "figure", "A", "B", "shared items", "A %", "B %",
                  "A - B, points [95% CI]", "fewest items in a stratum"], rows)


def matrix_table(summary: Mapping[str, Any]) -> str:
    details = summary["details"]
    domains = details["domains"]
    rows = [[f"steered for {d}", *[pct(v) for v in row]]
            for d, row in zip(domains, details["matrix"], strict=True)]
    return table(["reward \\ pairs of", *domains], rows)


def _verdict(f: Mapping[str, float], smallest: int) -> str:
    if smallest < 2:
        return "no usable interval (a stratum holds one shared item)"
    if f["low"] > 0:
        return "higher"
    if f["high"] < 0:
        return "lower"
    return "not distinguishable"


def reading_q1(results: Mapping[str, Any]) -> str:
    lines = []
    for comp in results["comparisons"]:
        if comp["run_a"] != "endogenous-sum-zero" or comp["run_b"] not in BASELINES:
            continue
        f = comp["figures"]["overall"]
        lines.append(f"- {comp['benchmark']}, against {NAMES[comp['run_b']]} "
                     f"({comp['items_shared']} shared items): {diff_cell(f)} points, "
                     f"**{_verdict(f, comp.get('smallest_stratum', 2))}**.")
    if not lines:
        return "No paired comparison was run."
    wins = sum("**higher**" in line for line in lines)
    losses = sum("**lower**" in line for line in lines)
    unusable = sum("**no usable interval" in line for line in lines)
    ties = len(lines) - wins - losses - unusable
    summary = (f"Of {len(lines)} paired comparisons of the paper's reward (sum, terminal zero) "
               f"with a training-free baseline on the same items, the endogenous reward is "
               f"higher with a 95% interval above zero in {wins}, lower with an interval below "
               f"zero in {losses}, not distinguishable in {ties}, and without a usable interval "
               f"in {unusable} (one shared item in a stratum).")
    if losses:
        verdict = ("**Q1 does not hold here**: on at least one benchmark a baseline is ahead "
                   "with an interval that excludes zero.")
    elif wins and not ties and not unusable:
        verdict = "**Q1 holds here**: every paired difference is above zero."
    elif wins:
        verdict = ("**Q1 is only partly supported here**: some differences are above zero, the "
                   "others cannot be told apart or have no usable interval.")
    else:
        verdict = ("**Q1 is not shown here**: no paired difference has a usable interval that "
                   "excludes zero; on these few items the endogenous reward cannot be told "
                   "apart from the baselines.")
    return verdict + " " + summary + "\n\n" + "\n".join(lines)


def effect_text(effect: Mapping[str, Any], scale: float = 1.0, unit: str = "") -> str:
    """A paired effect as the page prints it: mean, 95% t-interval, Wilcoxon p (Holm-adjusted
    where the effect was read with others), n, verdict."""
    lo, hi = (scale * x for x in effect["interval"])
    p = (f"Holm-adjusted Wilcoxon p = {effect['p_wilcoxon_holm']:.2g}"
         if "p_wilcoxon_holm" in effect else f"Wilcoxon p = {effect['p_wilcoxon']:.2g}")
    return (f"{scale * effect['mean']:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}], {p}, "
            f"{effect['n']} queries: {effect['verdict']}")


def reading_q2(results: Mapping[str, Any]) -> str:
    """Q2 from the paired steering effects over queries (``DSP.steering``), not from counting
    which matrix cell is largest."""
    lines = []
    for run, s in _runs(results, "dsp"):
        steering = s["details"].get("steering")
        if steering is None:
            lines.append(f"- {NAMES[run]}: scored before the paired steering effects existed; "
                         "re-render from its items to read Q2.")
            continue
        margin, accuracy = steering["margin"], steering["accuracy"]
        if run == "endogenous-sum-zero":
            lines.insert(0, (
                f"**Steering with the domain's system prompt, paired per query** (the paper's "
                f"reward): the domain response's margin over the query's other four responses "
                f"changes by {effect_text(margin, unit=' nats')}; pairwise accuracy on the "
                f"domain's pairs, steered for it against steered for another domain, changes by "
                f"{effect_text(accuracy, 100, ' pts')}. The verdicts rest on the Wilcoxon "
                f"signed-rank test and the interval beside them.\n"))
        per_domain = "; ".join(f"{d} {effect_text(e)}"
                               for d, e in steering["margin_per_domain"].items())
        lines.append(f"- {NAMES[run]}: margin {effect_text(margin)}; accuracy "
                     f"{effect_text(accuracy, 100, ' pts')}. Per domain: {per_domain}.")
    return "\n".join(lines) if lines else "DSP was not run."


def reading_length(results: Mapping[str, Any]) -> str:
    rows = []
    for run in ("endogenous-sum-zero", "endogenous-sum-value", "endogenous-mean",
                "gemma-endogenous-sum-zero"):
        s = results["runs"].get(f"rm-bench/{run}")
        if s is not None:
            rows.append([NAMES[run], str(s["items"]),
                         *[cell(s["figures"].get(k)) for k in ("overall", "easy", "normal",
                                                                "hard")]])
    return table(["reward", "items", "overall", "easy", "normal", "hard"], rows)


def check_table(results: Mapping[str, Any]) -> str:
    check = results.get("check") or {}
    rows = [[NAMES[run], ", ".join(check["items"]), f"{r['max_abs_difference']:.3g}"]
            for run, r in check.get("runs", {}).items()]
    return table(["variant", "items", "largest difference, one pass vs official"], rows)


def timing_table(results: Mapping[str, Any]) -> str:
    rows = [[key, str(v["items"]), f"{v['seconds']:.0f}"]
            for key, v in sorted(results["timing"].items())]
    return table(["run", "items", "scoring wall s, summed over the sessions that scored it"], rows)


def subset_table(results: Mapping[str, Any]) -> str:
    rows = []
    for benchmark, strata in results["subsets"].items():
        for stratum, part in strata.items():
            rows.append([benchmark, stratum, str(part["available"]),
                         str(len(part["endogenous"])), str(len(part["baselines"]))])
    return table(["benchmark", "stratum", "items in the data",
                  "SmolLM2 endogenous variants", "other methods, Gemma"], rows)


def plots(results: Mapping[str, Any], folder: Path) -> list[str]:
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for benchmark in ("rm-bench", "dsp", "hh-rlhf"):
        runs = _runs(results, benchmark)
        if not runs:
            continue
        keys = [k for k in COLUMNS[benchmark] if k != "off_diagonal"
                and any(k in s["figures"] for _, s in runs)]
        fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(keys) + 3), 5.0))
        width = 0.8 / len(runs)
        for r, (run, s) in enumerate(runs):
            xs, ys, lo, hi = [], [], [], []
            for i, key in enumerate(keys):
                f = s["figures"].get(key)
                if f is None:
                    continue
                xs.append(i - 0.4 + (r + 0.5) * width)
                ys.append(100 * f["value"])
                lo.append(100 * (f["value"] - f["low"]))
                hi.append(100 * (f["high"] - f["value"]))
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=f"{NAMES[run]} (n={s['items']})")
        ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="random (50%)")
        ax.set_xticks(range(len(keys)), keys)
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%), 95% bootstrap CI")
        ax.set_title(f"{benchmark}: SmolLM2-135M-Instruct (Q4_1 GGUF) and Gemma-3-270m")
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
        fig.tight_layout()
        name = f"{benchmark}.png"
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        made.append(name)
    dsp = _runs(results, "dsp")
    if dsp:
        fig, axes = plt.subplots(1, len(dsp), figsize=(3.3 * len(dsp), 3.4), squeeze=False)
        for ax, (run, s) in zip(axes[0], dsp, strict=True):
            m = s["details"]["matrix"]
            ax.imshow([[100 * v for v in row] for row in m], vmin=0, vmax=100, cmap="viridis")
            for i, row in enumerate(m):
                for j, v in enumerate(row):
                    ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if v < 0.6 else "black")
            labels = [d[:5] for d in s["details"]["domains"]]
            ax.set_xticks(range(4), labels, fontsize=7)
            ax.set_yticks(range(4), labels, fontsize=7)
            ax.set_title(NAMES[run], fontsize=7)
        fig.suptitle("DSP: rows steered for, columns pairs of (n queries as in the table)",
                     fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "dsp-matrix.png", dpi=110)
        plt.close(fig)
        made.append("dsp-matrix.png")
    return made


def coverage(results: Mapping[str, Any]) -> str:
    """Which runs are missing or short of their planned items (cut by the CPU budget)."""
    lines = []
    for benchmark in COLUMNS:
        for run in NAMES:
            s = results["runs"].get(f"{benchmark}/{run}")
            if s is None:
                lines.append(f"- {benchmark} / {NAMES[run]}: **not run** (out of time).")
            elif s.get("planned_items", s["items"]) > s["items"]:
                lines.append(f"- {benchmark} / {NAMES[run]}: {s['items']} of the "
                             f"{s['planned_items']} planned items (cut short).")
    return "\n".join(lines) if lines else "Every planned run finished."


def render_page(results: Mapping[str, Any], docs: Path) -> Page:
    folder = docs / "results"
    made = plots(results, folder)
    tables = {
        "subsets": subset_table(results),
        "rm-bench": figure_table(results, "rm-bench") if _runs(results, "rm-bench") else "",
        "dsp": figure_table(results, "dsp") if _runs(results, "dsp") else "",
        "dsp-matrix": "\n\n".join(f"{NAMES[run]}:\n\n{matrix_table(s)}"
                                  for run, s in _runs(results, "dsp")),
        "hh-rlhf": figure_table(results, "hh-rlhf") if _runs(results, "hh-rlhf") else "",
        "paired": comparison_table(results, ("endogenous-sum-zero", "endogenous-sum-value",
                                             "endogenous-mean"), BASELINES),
        "variants": comparison_table(results, ("endogenous-sum-zero", "endogenous-sum-value",
                                               "endogenous-mean"),
                                     ("endogenous-sum-value", "endogenous-mean",
                                      "gemma-endogenous-sum-zero")),
        "length": reading_length(results),
        "check": check_table(results),
        "timing": timing_table(results),
        "coverage": coverage(results),
    }
    from real_results_text import page_text

    text = page_text(results, tables, made, reading_q1(results), reading_q2(results))
    (docs / "results.md").write_text(text, encoding="utf-8")
    printed = "\n\n".join(f"## {name}\n\n{body}" for name, body in tables.items() if body)
    return Page(text, printed + "\n\n## Q1\n\n" + reading_q1(results) + "\n\n## Q2\n\n"
                + reading_q2(results))

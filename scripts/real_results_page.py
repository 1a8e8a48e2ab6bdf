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

from rewardmine.bench.baselines import BASELINES as MODEL_FREE
from rewardmine.bench.metrics import tie_rate_key
from rewardmine.statistics import MIN_ITEMS_FOR_VERDICT, holm, verdict

NAMES = {
    "endogenous-sum-zero": "endogenous, sum, terminal zero (paper)",
    "endogenous-sum-value": "endogenous, sum, terminal value",
    "endogenous-mean": "endogenous, mean",
    "verifier": "generative verifier, log p(Yes)",
    "judge-listwise": "listwise principle judge",
    "judge-pointwise": "GenRM-pointwise (1-10)",
    "judge-pairwise": "GenRM-pairwise (wins)",
    "gemma-endogenous-sum-zero": "Gemma-3-270m base: endogenous, sum, terminal zero",
    "length-short": "prefer the shorter (no model)",
    "length-long": "prefer the longer (no model)",
    "position-first": "prefer the first shown (no model)",
}
BASELINES = ("verifier", "judge-listwise", "judge-pointwise", "judge-pairwise")
"""The training-free baselines on the same base model: the paper's Q1 compares against these."""
Q1_BENCHMARKS = ("rm-bench",)
"""The paper's Q1 benchmarks that the shared data holds (its Table 1 is RM-Bench); HH-RLHF is
ours and is shown, not read into Q1."""
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


def _steerable(results: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The DSP runs a system prompt can steer (not the model-free baselines)."""
    return [(run, s) for run, s in _runs(results, "dsp") if run not in MODEL_FREE]


def accuracy_cell(summary: Mapping[str, Any], key: str) -> str:
    """A figure with its interval and, where any of its pairs tied, its tie rate."""
    text = cell(summary["figures"].get(key))
    tie = summary["figures"].get(tie_rate_key(key))
    if text and tie is not None and tie["value"] > 0:
        text += f", ties {pct(tie['value'])}%"
    return text


def identical_line(results: Mapping[str, Any], benchmark: str) -> str:
    """How many of a benchmark's scored pairs hold two identical responses (the data's, so
    read from the run that scored the most items); they are scored as the benchmark scores a
    tie (docs/benchmarks.md, "Ties and identical responses")."""
    runs = [s for _, s in _runs(results, benchmark) if s.get("details", {}).get("pairs")]
    if not runs:
        return ""
    s = max(runs, key=lambda summary: summary["items"])
    pairs, same = s["details"]["pairs"], s.get("identical_pairs") or 0
    text = (f"Identical responses: {same} of the {pairs} pairs over the {s['items']} items "
            f"({100 * same / pairs:.1f}%)")
    queries = s["details"].get("queries_with_identical_responses")
    if queries:
        text += f", in {len(queries)} queries"
    return text + (", each scored as this benchmark scores a tie and counted in the tie rate."
                   if same else ".")


def method_label(run: str, summary: Mapping[str, Any]) -> str:
    """The method's name, marked when it ties on 90% or more of its pairs (its accuracy then
    measures the tie rule, not a preference)."""
    if summary.get("degenerate"):
        return f"{NAMES[run]} (**degenerate**: {pct(summary['tie_rate'])}% of pairs tied)"
    return NAMES[run]


def figure_table(results: Mapping[str, Any], benchmark: str) -> str:
    runs = _runs(results, benchmark)
    columns = [c for c in COLUMNS[benchmark] if any(c in s["figures"] for _, s in runs)]
    rows = [[method_label(run, s), str(s["items"]), *[accuracy_cell(s, c) for c in columns]]
            for run, s in runs]
    return table(["method", "items", *columns], rows)


def comparison_table(results: Mapping[str, Any], a_runs: tuple[str, ...],
                     b_runs: tuple[str, ...]) -> str:
    """``bench compare``'s rows: the paired difference, its interval, the exact paired test, its
    Holm adjustment over the figures of that comparison, the items each figure rests on and the
    verdict they support (none below 20 items)."""
    rows = []
    for comp in results["comparisons"]:
        if comp["run_a"] not in a_runs or comp["run_b"] not in b_runs:
            continue
        for key in HEADLINE[comp["benchmark"]]:
            f = comp["figures"].get(key)
            if f is None:
                continue
            rows.append([comp["benchmark"], key, NAMES[comp["run_a"]], NAMES[comp["run_b"]],
                         str(f.get("items", comp["items_shared"])), pct(f["a"]), pct(f["b"]),
                         diff_cell(f), _p(f.get("p")), _p(f.get("p_holm")),
                         f.get("verdict", "")])
    return table(["benchmark", "figure", "A", "B", "items", "A %", "B %",
                  "A - B, points [95% CI]", "exact p", "Holm p", "verdict"], rows)


def _p(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2g}"


def matrix_table(summary: Mapping[str, Any]) -> str:
    details = summary["details"]
    domains = details["domains"]
    rows = [[f"steered for {d}", *[pct(v) for v in row]]
            for d, row in zip(domains, details["matrix"], strict=True)]
    return table(["reward \\ pairs of", *domains], rows)


def reading_q1(results: Mapping[str, Any]) -> str:
    """Q1 on the paper's Q1 benchmarks: the paper's reward against each training-free baseline.
    A degenerate baseline, or a figure on fewer than 20 items, is not tested; the others are
    Holm-adjusted together, and each verdict rests on that p-value and the paired interval."""
    comps = [c for c in results["comparisons"] if c["benchmark"] in Q1_BENCHMARKS
             and c["run_a"] == "endogenous-sum-zero" and c["run_b"] in BASELINES]
    if not comps:
        return "No paired comparison was run."
    degenerate = [results["runs"][f"{c['benchmark']}/{c['run_b']}"].get("degenerate", False)
                  for c in comps]
    tested = [i for i, c in enumerate(comps) if not degenerate[i]
              and c["figures"]["overall"]["items"] >= MIN_ITEMS_FOR_VERDICT]
    adjusted = dict(zip(tested, holm([comps[i]["figures"]["overall"]["p"] for i in tested]),
                        strict=True))
    lines, counts = [], {"higher": 0, "lower": 0, "none": 0, "untested": 0}
    for i, comp in enumerate(comps):
        f = comp["figures"]["overall"]
        baseline = results["runs"][f"{comp['benchmark']}/{comp['run_b']}"]
        head = (f"- {comp['benchmark']}, against {NAMES[comp['run_b']]}: {diff_cell(f)} points "
                f"over {f['items']} items, exact p = {_p(f['p'])}")
        if i not in adjusted:
            counts["untested"] += 1
            why = (f"the baseline tied on {pct(baseline['tie_rate'])}% of its pairs, so its "
                   "accuracy measures the tie rule, not a preference" if degenerate[i]
                   else f"fewer than {MIN_ITEMS_FOR_VERDICT} items")
            lines.append(f"{head}: **cannot be tested at this size** ({why}).")
            continue
        said = verdict(f["difference"], f["low"], f["high"], adjusted[i], f["items"])
        counts[{"A higher": "higher", "B higher": "lower"}.get(said, "none")] += 1
        said = {"A higher": "the endogenous reward is higher",
                "B higher": "the baseline is higher"}.get(said, said)
        lines.append(f"{head} (Holm over the {len(tested)} tested: {_p(adjusted[i])}): "
                     f"**{said}**.")
    summary = (f"Of {len(comps)} paired comparisons of the paper's reward (sum, terminal zero) "
               f"with a training-free baseline on the same items, the endogenous reward is "
               f"higher in {counts['higher']}, lower in {counts['lower']}, with no difference "
               f"shown in {counts['none']}, and {counts['untested']} cannot be tested here "
               f"(a degenerate baseline, or fewer than {MIN_ITEMS_FOR_VERDICT} items).")
    if counts["lower"]:
        said = "**Q1 does not hold here**: at least one baseline is higher (below)."
    elif counts["higher"] and not counts["none"] and not counts["untested"]:
        said = "**Q1 holds here**: the endogenous reward is higher than every baseline."
    elif counts["higher"]:
        said = ("**Q1 holds here against some baselines**; against the others no difference is "
                "shown or none can be tested.")
    else:
        said = ("**Q1 is not shown here**: no baseline is told apart from the endogenous reward "
                "at this size.")
    return said + " " + summary + "\n\n" + "\n".join(lines)


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
    for run, s in _steerable(results):
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
                "gemma-endogenous-sum-zero", *MODEL_FREE):
        s = results["runs"].get(f"rm-bench/{run}")
        if s is not None:
            rows.append([method_label(run, s), str(s["items"]),
                         *[accuracy_cell(s, k) for k in ("overall", "easy", "normal", "hard")]])
    return table(["reward", "items", "overall", "easy", "normal", "hard"], rows)


def terminal_table(results: Mapping[str, Any]) -> str:
    rows = [[benchmark, str(t["groups"]), f"{t['median_sd_terminal_value']:.2f}",
             f"{t['median_sd_score']:.1f}", f"{t['order_changed']} of {t['pairs']} "
             f"({100 * t['order_changed_share']:.2f}%)"]
            for benchmark, t in results.get("terminal_value", {}).items()]
    return table(["benchmark", "prompts (x steerings)", "V(s_{T+1}): median SD within a prompt, "
                  "nats", "sum, terminal zero: median SD within a prompt, nats",
                  "pairs of responses whose order terminal value changes"], rows)


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
            style = ({"color": f"C{r}"} if run not in MODEL_FREE else  # references: grey, hatched
                     {"color": str(0.35 + 0.2 * MODEL_FREE.index(run)), "hatch": "//"})
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=f"{NAMES[run]} (n={s['items']})",
                   **style)
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
    dsp = _steerable(results)
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
                                  for run, s in _steerable(results)),
        "hh-rlhf": figure_table(results, "hh-rlhf") if _runs(results, "hh-rlhf") else "",
        **{f"identical/{b}": identical_line(results, b) for b in COLUMNS},
        "paired": comparison_table(results, ("endogenous-sum-zero", "endogenous-sum-value",
                                             "endogenous-mean"), (*BASELINES, *MODEL_FREE)),
        "variants": comparison_table(results, ("endogenous-sum-zero", "endogenous-sum-value",
                                               "endogenous-mean"),
                                     ("endogenous-sum-value", "endogenous-mean",
                                      "gemma-endogenous-sum-zero")),
        "length": reading_length(results),
        "terminal": terminal_table(results),
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

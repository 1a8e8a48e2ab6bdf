"""Reports of a benchmark run: Markdown beside the summary JSON, and PNG plots.

Plots need matplotlib (``pip install 'rewardmine[plot]'``); without it the Markdown report is
still written and says which plots are missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardmine.bench.metrics import DEGENERATE_TIE_RATE, TIE_PREFIX


def _pct(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{100 * value:.1f}"


def is_fraction(key: str) -> bool:
    """Figures are fractions shown as percentages, except correlations (Kendall tau-b)."""
    return "tau" not in key


def show(key: str, value: float | None) -> str:
    """A figure as text: a percentage, or a correlation with three decimals."""
    if is_fraction(key) or value is None or math.isnan(value):
        return _pct(value)
    return f"{value:+.3f}"




def _share(value: float | None) -> str:
    return "" if value is None else f" ({_pct(value)}% of all pairs)"


def tie_line(summary: Mapping[str, Any]) -> str:
    """One line on the run's ties: the share of pairs tied, the rule they were scored by, the
    pairs of identical responses (scored as ties by a scalar scorer, so they cannot be won), and
    the degenerate flag."""
    ties = summary["ties"]
    line = (f"ties: {_pct(summary['tie_rate'])}% of pairs tied, each scored "
            f"{ties['credit']:g} ({ties['rule']} rule, {ties['scorer_kind']} scorer)")
    if summary.get("identical_pairs"):
        line += (f"; {summary['identical_pairs']} pairs of identical responses "
                 f"({_pct(summary.get('identical_share'))}% of pairs), scored as their scores "
                 "say")
    if summary["degenerate"]:
        line += (f"; DEGENERATE: ties on >= {100 * DEGENERATE_TIE_RATE:.0f}% of pairs, so its "
                 "figures measure the tie rule, not its preferences")
    return line


def steering_lines(summary: Mapping[str, Any], *, per_domain: bool = True) -> list[str]:
    """DSP's paired steering effects, one line each (none for other benchmarks): the margin
    effect over all domains, per domain (Holm-adjusted together; ``per_domain``) and the
    accuracy effect."""
    steering = summary.get("details", {}).get("steering")
    if not steering:
        return []

    def line(name: str, effect: Mapping[str, Any], scale: float, unit: str) -> str:
        if effect["n"] < 2:
            return (f"{name}: {scale * effect['mean']:+.2f} {unit}, {effect['n']} query (no "
                    f"interval, no test): {effect['verdict']}")
        low, high = (scale * x for x in effect["interval"])
        p = effect.get("p_wilcoxon_holm", effect["p_wilcoxon"])
        which = "Holm-adjusted Wilcoxon p" if "p_wilcoxon_holm" in effect else "Wilcoxon p"
        return (f"{name}: {scale * effect['mean']:+.2f} {unit} [{low:+.2f}, {high:+.2f}], "
                f"{which} {_p(p)}, {effect['n']} queries: {effect['verdict']}")

    lines = [line("steering effect on the domain response's margin", steering["margin"], 1.0,
                  "score units")]
    if per_domain:
        lines += [line(f"  {domain}", effect, 1.0, "score units")
                  for domain, effect in steering["margin_per_domain"].items()]
    lines.append(line("steering effect on pairwise accuracy", steering["accuracy"], 100.0,
                      "points"))
    return lines


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2g}"


def plot_bars(summary: Mapping[str, Any], path: Path) -> None:
    """Headline figures as bars with their bootstrap intervals."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in summary["intervals"] if is_fraction(k)]
    values = [100 * summary[k] for k in keys]
    low = [100 * (summary[k] - summary["intervals"][k][0]) for k in keys]
    high = [100 * (summary["intervals"][k][1] - summary[k]) for k in keys]
    fig, ax = plt.subplots(figsize=(1.1 * len(keys) + 2, 3.6))
    ax.bar(keys, values, yerr=[low, high], capsize=4, color="#4C72B0", label="ours (95% CI)")
    marked = False
    for ref in summary.get("references", []):
        for i, key in enumerate(keys):
            if key in ref["figures"]:
                ax.plot([i - 0.4, i + 0.4], [100 * ref["figures"][key]] * 2, color="#C44E52",
                        linewidth=2, label=None if marked else "published (see report)")
                marked = True
    if marked:
        ax.legend(fontsize=7, loc="upper right")
    ax.set_ylabel("accuracy / score (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{summary['benchmark']}: {summary['run'].get('model') or 'scores file'}")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_heatmaps(matrices: Mapping[str, Any], labels: list[str], path: Path, *, title: str,
                  xlabel: str, ylabel: str) -> None:
    """One annotated heatmap per matrix (values are fractions, shown as percentages)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(matrices)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 0.6, 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        matrix = matrices[name]
        image = ax.imshow([[100 * v for v in row] for row in matrix], vmin=0, vmax=100,
                          cmap="viridis")
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, f"{100 * value:.0f}", ha="center", va="center",
                        color="white" if value < 0.6 else "black", fontsize=9)
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        if ax is axes[0][0]:  # one shared y axis keeps labels from running into the next plot
            ax.set_yticks(range(len(labels)), labels, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
        else:
            ax.set_yticks([])
        ax.set_title(name, fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="%")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def make_plots(summary: Mapping[str, Any], out: Path) -> list[str]:
    """Write the run's plots; returns their file names."""
    written = []
    plot_bars(summary, out / "figures.png")
    written.append("figures.png")
    details = summary.get("details", {})
    if summary["benchmark"] == "rm-bench" and details.get("matrices"):
        plot_heatmaps(details["matrices"], ["concise", "plain", "markdown"],
                      out / "rmbench_matrix.png", title="RM-Bench: chosen style vs rejected style",
                      xlabel="rejected style", ylabel="chosen style")
        written.append("rmbench_matrix.png")
    if summary["benchmark"] == "dsp" and details.get("matrix"):
        plot_heatmaps({"cross-domain accuracy": details["matrix"]}, details["domains"],
                      out / "dsp_matrix.png", title="DSP: reward steered for (rows) vs pairs of "
                      "(columns)", xlabel="pairs of domain", ylabel="reward steered for")
        written.append("dsp_matrix.png")
    return written


def _matrix_table(matrix: list[list[float]], labels: list[str], corner: str) -> list[str]:
    lines = [f"| {corner} | " + " | ".join(labels) + " |",
             "|---" * (len(labels) + 1) + "|"]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"| {label} | " + " | ".join(_pct(v) for v in row) + " |")
    return lines


def render_markdown(summary: Mapping[str, Any], plots: list[str],
                    missing_plots: str | None = None) -> str:
    run = summary.get("run", {})
    lines = [f"# {summary['benchmark']} report", "",
             "| setting | value |", "|---|---|"]
    for key in ("model", "method", "options", "scores_file", "source", "seed", "resamples",
                "limit"):
        if run.get(key) not in (None, {}, ""):
            lines.append(f"| {key} | `{run[key]}` |")
    refs = summary.get("references", [])
    ties = summary["ties"]
    lines += [f"| items scored | {summary['items']} |", "",
              "## Headline figures (%, tau-b as a correlation; 95% bootstrap interval)", ""]
    if summary["degenerate"]:
        lines += [f"**Degenerate scorer: it tied on {_pct(summary['tie_rate'])}% of pairs "
                  f"(>= {100 * DEGENERATE_TIE_RATE:.0f}%).** Its figures measure the tie rule "
                  "(a tie scores "
                  f"{ties['credit']:g}), not its preferences; they cannot be read as a win or "
                  "a loss.", ""]
    lines += [f"Ties: {_pct(summary['tie_rate'])}% of all pairs tied. A tie scores "
              f"{ties['credit']:g} here: {ties['meaning']} ({ties['scorer_kind']} scorer; "
              f"source: {ties['source']}). Pairs of identical responses: "
              f"{summary.get('identical_pairs') or 0}{_share(summary.get('identical_share'))}; "
              "they are scored like any other pair, as the benchmark's source does (a scalar "
              "scorer ties them, so they cannot be won), and counted in the tie rate. The tie "
              "rate of a figure is the share of its pairs tied, weighted as the figure weighs "
              "them.", ""]
    base = summary.get("baselines") or {}
    header = "| figure | ours | 95% interval | tie rate |" + "".join(
        f" {name} |" for name in base) + " published (see references) |"
    lines += [header, "|---|---:|---|---:|" + "---:|" * len(base) + "---|"]
    for key, (low, high) in summary["intervals"].items():
        quoted = "; ".join(f"{_pct(ref['figures'][key])} [{n}]" for n, ref in
                           enumerate(refs, start=1) if key in ref["figures"])
        rate = summary.get("tie_rates", {}).get(key)
        baseline = "".join(f" {show(key, figs.get(key))} |" for figs in base.values())
        lines.append(f"| {key} | {show(key, summary[key])} | [{show(key, low)}, "
                     f"{show(key, high)}] | {_pct(rate)} |{baseline} {quoted} |")
    if base:
        lines += ["", "The baselines use no model: `length-short` and `length-long` prefer the "
                  "response with fewer / more characters, `position-first` the one shown first "
                  "in a label-free order (by SHA-256 of the text); scored on the same items with "
                  "the same arithmetic, ties as for a scalar scorer. Run one alone with "
                  "`--method length-short` (see docs/benchmarks.md)."]
    figures = summary["figures"]
    others = {k: v for k, v in figures.items()
              if k not in summary["intervals"] and not k.startswith(TIE_PREFIX)}
    if others:
        lines += ["", "Other figures:", "", "| figure | value | 95% interval | tie rate |",
                  "|---|---:|---|---:|"]
        for key, fig in others.items():
            rate = figures.get(TIE_PREFIX + key, {}).get("value")
            lines.append(f"| {key} | {show(key, fig['value'])} | [{show(key, fig['low'])}, "
                         f"{show(key, fig['high'])}] | {_pct(rate)} |")
    if summary.get("references"):
        lines += ["", "## Published reference figures (not ours; quoted with their source)", "",
                  "| # | model | figures (%) | source | note |", "|---|---|---|---|---|"]
        for n, ref in enumerate(summary["references"], start=1):
            figs = ", ".join(f"{k} {_pct(v)}" for k, v in ref["figures"].items())
            lines.append(f"| {n} | {ref['model']} | {figs} | {ref['source']} | {ref['note']} |")
    details = summary.get("details", {})
    if summary["benchmark"] == "rm-bench" and details.get("matrices"):
        lines += ["", "## Style matrices (rows: chosen style, columns: rejected style)"]
        for domain, matrix in details["matrices"].items():
            lines += ["", f"**{domain}** ({details['domains'][domain]['items']} items, "
                      f"{details['domains'][domain]['tied_comparisons']} tied comparisons)", ""]
            lines += _matrix_table(matrix, ["concise", "plain", "markdown"], "chosen \\ rejected")
        lines += ["", f"Domains scored: {details['domains_scored']}; not scored: "
                  f"{details['domains_missing']}. `overall` is the mean of the domain scores and "
                  "equals `mean_easy_normal_hard` by construction; `item_pooled` averages items "
                  "across domains instead."]
    if summary["benchmark"] == "dsp" and details.get("matrix"):
        lines += ["", "## Cross-domain matrix (rows: reward steered for; columns: pairs of)", ""]
        lines += _matrix_table(details["matrix"], details["domains"], "steered \\ pairs")
    if steering_lines(summary):
        lines += ["", "## Steering effects (paired over queries; 95% t-interval)", "",
                  "Per query, the domain response's margin over the query's other responses "
                  "when the reward is steered for its domain, minus its mean margin under the "
                  "other steerings (what a system prompt adds to every response cancels); and "
                  "the same for pairwise accuracy. The matrix's largest cells are not a test; "
                  "these are.", ""]
        lines += [f"- {x.strip()}" for x in steering_lines(summary)]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    if missing_plots:
        lines += ["", f"Plots not written: {missing_plots}"]
    return "\n".join(lines) + "\n"


def write_report(summary: Mapping[str, Any], out: str | Path) -> Path:
    """Write ``report.md`` and the plots into ``out``; returns the report's path."""
    out = Path(out)
    try:
        plots, missing = make_plots(summary, out), None
    except ImportError:
        plots, missing = [], "matplotlib is not installed (pip install 'rewardmine[plot]')"
    path = out / "report.md"
    path.write_text(render_markdown(summary, plots, missing), encoding="utf-8")
    return path


def render_comparison(result: Mapping[str, Any]) -> str:
    """A plain-text table of A, B and A - B with its interval, in percentage points, the exact
    paired test's p-value (raw and Holm-adjusted over the figures shown), the items the figure
    rests on, and what that supports."""
    lines = [f"{result['benchmark']}: A = {result['run_a']}, B = {result['run_b']}, "
             f"{result['items_shared']} shared items (only A: {result['only_in_a']}, only B: "
             f"{result['only_in_b']}); paired bootstrap, {result['resamples']} resamples, "
             f"seed {result['seed']}; paired permutation test, {result['permutations']} "
             f"permutations (exact when 2^n is fewer), Holm-adjusted over the figures below; a "
             f"verdict needs n >= {result['min_items_for_verdict']}, adjusted p < "
             f"{result['alpha']:g} and an interval without 0",
             f"{'figure':<34}{'A %':>8}{'B %':>8}{'A-B pts':>9}  {'95% interval':<18}"
             f"{'n':>6}{'p':>8}{'Holm p':>8}  verdict"]
    for key, f in result["figures"].items():
        if key.startswith(TIE_PREFIX):  # in the JSON; the table shows the figures themselves
            continue
        interval = f"[{show(key, f['low'])}, {show(key, f['high'])}]"
        lines.append(f"{key:<34}{show(key, f['a']):>8}{show(key, f['b']):>8}"
                     f"{show(key, f['difference']):>9}  {interval:<18}{f['items']:>6}"
                     f"{f['p']:>8.3g}{f['p_holm']:>8.3g}  {f['verdict']}")
    return "\n".join(lines)

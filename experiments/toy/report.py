"""Run the claims on a model folder and write them out: JSON, PNG plots and a Markdown summary.

    python -m experiments.toy evaluate            # the bundled model, 1,000 held-out prompts
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from experiments.toy import claims
from experiments.toy.train import TrainConfig, training_lists
from rewardmine.toy import MODEL_DIR


def evaluate(model_dir: Path, *, prompts: int = 1000, per_length: int = 200, seed: int = 1234,
             threads: int = 1) -> dict[str, Any]:
    """All three measurements on the model in ``model_dir``, as one JSON-ready dict."""
    from rewardmine import EndogenousReward

    record = model_dir / "training.json"
    if not record.is_file():
        raise FileNotFoundError(
            f"{record} is missing; the claims hold out the model's training set, so evaluate "
            "a folder written by `python -m experiments.toy train`"
        )
    config = TrainConfig(**json.loads(record.read_text())["config"])
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        started = time.perf_counter()
        reward = EndogenousReward.from_pretrained(str(model_dir), device="cpu")
        value_reward = EndogenousReward(reward.model, reward.tokenizer, terminal="value")
        training = set(training_lists(config))
        substituted, resized = claims.held_out_pairs(prompts, seed=seed, training=training)
        long_sub, long_resized = claims.held_out_pairs(
            prompts, seed=seed + 1, training=training, lengths=claims.LONG_LENGTHS)
        result = {
            "model": "bundled" if model_dir.resolve() == MODEL_DIR.resolve() else str(model_dir),
            "seed": seed,
            "substitution": claims.pair_metrics(reward, value_reward, substituted),
            "length_change": claims.pair_metrics(reward, value_reward, resized),
            "substitution_long": claims.pair_metrics(reward, value_reward, long_sub),
            "length_change_long": claims.pair_metrics(reward, value_reward, long_resized),
            "horizon": claims.horizon_curve(reward.model, reward.tokenizer,
                                            per_length=per_length, seed=seed),
        }
        result["seconds"] = round(time.perf_counter() - started, 1)
        return result
    finally:
        torch.set_num_threads(previous)


def markdown(result: dict[str, Any]) -> str:
    """The measured numbers as the Markdown tables of docs/toy-world.md."""
    lines = ["| corruption | pairs | endogenous reward | terminal=\"value\" | mean log-prob | "
             "argmin r_t on the error | argmin r_t on the error or next | "
             "argmin log pi on the error |",
             "|---|---|---|---|---|---|---|---|"]
    for key, name in (("substitution", "one digit replaced, H 5..8"),
                      ("length_change", "element dropped or inserted, H 5..8"),
                      ("substitution_long", "one digit replaced, H 9..12 (untrained)"),
                      ("length_change_long", "element dropped or inserted, H 9..12 (untrained)")):
        m = result[key]
        acc, loc = m["accuracy"], m["localisation"]
        lines.append(
            f"| {name} | {m['pairs']} | {acc['endogenous_reward']:.1%} | "
            f"{acc['terminal_value']:.1%} | {acc['mean_logprob']:.1%} | "
            f"{loc['argmin_token_reward']:.1%} | {loc['argmin_token_reward_or_next']:.1%} | "
            f"{loc['argmin_logprob']:.1%} |"
        )
    lines += ["", "| H | prompts | greedy exact match | sampled (T=1) exact match |",
              "|---|---|---|---|"]
    for row in result["horizon"]["rows"]:
        seen = "" if row["H"] in range(2, 9) else " (not trained)"
        lines.append(f"| {row['H']}{seen} | {row['prompts']} | {row['greedy']:.1%} | "
                     f"{row['sampled']:.1%} |")
    return "\n".join(lines)


def plot_horizon(result: dict[str, Any], path: Path) -> None:
    """Exact match against H, greedy and sampled, with the training lengths shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["horizon"]["rows"]
    hs = [r["H"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.axvspan(1.5, 8.5, color="0.92", label="lengths seen in training")
    ax.plot(hs, [r["greedy"] for r in rows], "o-", label="greedy")
    ax.plot(hs, [r["sampled"] for r in rows], "s-", label="sampled, temperature 1")
    ax.set(xlabel="list length H (answer tokens before end of turn)", ylabel="exact match",
           ylim=(-0.02, 1.02), xticks=hs, title="Compounding error of the bundled sorting model")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_margins(result: dict[str, Any], path: Path) -> None:
    """Histogram of reward(right) - reward(wrong) for both kinds of corruption, H 5..8."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    for key, name in (("substitution", "one digit replaced"),
                      ("length_change", "element dropped or inserted")):
        ax.hist(result[key]["margin"], bins=60, histtype="step", lw=1.5, label=name)
    ax.axvline(0, color="k", lw=1)
    ax.set(xlabel="reward(expert answer) - reward(corrupted answer)",
           ylabel="held-out prompts (H 5..8)",
           title="Endogenous reward margins (right of 0 = ranked correctly)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

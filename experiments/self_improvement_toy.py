"""Self-improvement on the toy world: GRPO on the bundled sorting model, rewarded by its own frozen copy.

The policy and the reward model start as the same checkpoint (rewardmine.toy.MODEL_DIR, a 164k-parameter
Llama trained to sort lists of 2..8 digits). The reward is the endogenous reward of the frozen copy
(``EndogenousReward.from_pretrained(MODEL_DIR)`` through ``endogenous_reward_func``); no answer key
is used in training. TRL's ``GRPOTrainer`` trains the policy on CPU with KL coefficient beta=0.01 (as
in the paper) and sampling temperature 1. Exact-match accuracy against the list length H (2..12) is
measured before and after, greedy and sampled at temperature 1, for several training seeds.

An exact-match "reward" with weight 0 is passed alongside, only so TRL logs the training-time
accuracy; it does not change the advantages.

    PYTHONPATH=src python -m experiments.self_improvement_toy \
        --json docs/self-improvement.json --plot docs/img/self-improvement.png
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from experiments.toy.claims import horizon_curve
from rewardmine import EndogenousReward
from rewardmine.rl.trl import endogenous_reward_func
from rewardmine.toy import MODEL_DIR, world

HORIZONS = range(2, 13)
TRAIN_TEMPERATURE = 1.0  # GRPO's sampling temperature in every run of the recipe


def exact_match_func(prompts: list[Any], completions: list[Any], answer: list[str],
                     **kwargs: Any) -> list[float]:
    """1.0 where the completion is the expert answer; logged by TRL, weighted 0 in the reward."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(t.strip() == a) for t, a in zip(texts, answer, strict=True)]


def grpo_config(output_dir: Path, *, steps: int, batch: int, group: int, max_completion_length: int,
                lr: float, seed: int, reward_weights: tuple[float, ...] = (1.0, 0.0),
                **overrides: Any) -> Any:
    """The recipe's TRL settings: CPU, fp32, beta=0.01, temperature 1, a constant learning rate, a
    log line per step, and reward weights (by default (1, 0): the endogenous reward, then a
    logged-only check).
    ``batch`` counts completions per step, in groups of ``group`` per prompt; ``overrides`` are
    more ``GRPOConfig`` fields."""
    import trl

    return trl.GRPOConfig(
        output_dir=str(output_dir), max_steps=steps,
        per_device_train_batch_size=batch, num_generations=group,
        max_completion_length=max_completion_length, temperature=TRAIN_TEMPERATURE, beta=0.01,
        learning_rate=lr, lr_scheduler_type="constant", logging_steps=1,
        report_to="none", use_cpu=True, bf16=False, save_strategy="no", seed=seed, disable_tqdm=True,
        reward_weights=list(reward_weights), **overrides,
    )


def training_log(trainer: Any, metrics: dict[str, str]) -> list[dict[str, float]]:
    """One row per logged step: the step, each TRL metric of ``metrics`` (row key -> TRL name)
    rounded to 4 places, and the KL to the reference model."""
    first = next(iter(metrics.values()))
    return [
        {"step": h["step"], **{key: round(h[name], 4) for key, name in metrics.items()},
         "kl": round(h.get("kl", 0.0), 5)}
        for h in trainer.state.log_history if first in h
    ]


def train_dataset(count: int, lengths: list[int], seed: int) -> Any:
    import datasets

    lists = world.random_lists(count, lengths=lengths, seed=seed)
    return datasets.Dataset.from_dict({
        "prompt": [world.messages(d) for d in lists],
        "answer": [world.expert(d) for d in lists],
    })


def evaluate(model: Any, tokenizer: Any, *, per_length: int, seed: int) -> dict[int, dict[str, float]]:
    model.eval()
    rows = horizon_curve(model, tokenizer, per_length=per_length, seed=seed, horizons=HORIZONS)["rows"]
    return {r["H"]: {"greedy": r["greedy"], "sampled": r["sampled"]} for r in rows}


def run_seed(seed: int, args: argparse.Namespace, reward: EndogenousReward, tokenizer: Any,
             workdir: Path) -> dict[str, Any]:
    import trl

    config = grpo_config(workdir / f"seed{seed}", steps=args.steps, batch=args.batch, group=args.group,
                         max_completion_length=max(args.lengths) + 4, lr=args.lr, seed=seed)
    data = train_dataset(args.steps * args.batch // args.group, args.lengths, seed=10_000 + seed)
    trainer = trl.GRPOTrainer(
        model=str(MODEL_DIR), reward_funcs=[endogenous_reward_func(reward, name="endogenous_reward"),
                                                exact_match_func],
        args=config, train_dataset=data, processing_class=tokenizer,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    log = training_log(trainer, {"reward": "rewards/endogenous_reward/mean",
                                 "exact_match": "rewards/exact_match_func/mean"})
    after = evaluate(trainer.model, tokenizer, per_length=args.eval_prompts, seed=args.eval_seed + seed)
    return {"seed": seed, "train_seconds": seconds, "log": log, "after": after}


def summarise(curves: list[dict[int, dict[str, float]]]) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for mode in ("greedy", "sampled"):
        per_h = [[c[h][mode] for c in curves] for h in HORIZONS]
        out[mode] = {
            "mean": [statistics.fmean(v) for v in per_h],
            "std": [statistics.stdev(v) if len(v) > 1 else 0.0 for v in per_h],
        }
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hs = list(HORIZONS)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, mode in zip(axes, ("sampled", "greedy"), strict=True):
        for key, label, color in (("before", "before", "tab:gray"), ("after", "after GRPO", "tab:blue")):
            s = result["summary"][key][mode]
            ax.errorbar(hs, s["mean"], yerr=s["std"], marker="o", capsize=3, label=label, color=color)
        lo, hi = min(result["config"]["lengths"]), max(result["config"]["lengths"])
        ax.axvspan(lo - 0.5, hi + 0.5, color="tab:orange", alpha=0.12, label="GRPO prompt lengths")
        ax.axvline(8.5, color="k", lw=0.8, ls=":")
        ax.set_title("sampled, T=1" if mode == "sampled" else "greedy")
        ax.set_xlabel("H (list length); SFT trained on 2..8")
        ax.set_xticks(hs)
    axes[0].set_ylabel(f"exact match (mean ± std, {len(result['config']['seeds'])} seeds)")
    axes[0].legend(loc="lower left")
    fig.suptitle("Toy sorting model: GRPO with its own frozen copy's endogenous reward (beta=0.01)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300, help="GRPO steps per seed")
    parser.add_argument("--batch", type=int, default=64, help="completions per step")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt (GRPO group)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 9, 10, 11],
                        help="list lengths of the training prompts")
    parser.add_argument("--lr", type=float, default=3e-5,
                        help="constant AdamW learning rate (see docs/self-improvement.md)")
    parser.add_argument("--eval-prompts", type=int, default=200, help="prompts per H per seed")
    parser.add_argument("--eval-seed", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("self-improvement.json"))
    parser.add_argument("--plot", type=Path, default=Path("self-improvement.png"))
    args = parser.parse_args(argv)

    command = "PYTHONPATH=src python -m " + shlex.join(["experiments.self_improvement_toy",
                                                        *sys.argv[1:]])
    print(command, flush=True)
    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    reward = EndogenousReward.from_pretrained(str(MODEL_DIR))  # the frozen copy
    tokenizer = reward.tokenizer

    before = [evaluate(reward.model, tokenizer, per_length=args.eval_prompts, seed=args.eval_seed + s)
              for s in args.seeds]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run = run_seed(seed, args, reward, tokenizer, Path(tmp))
            run["before"] = before[args.seeds.index(seed)]
            runs.append(run)
            last = run["log"][-5:]
            print(f"seed {seed}: {run['train_seconds']:.0f} s of GRPO; last 5 steps: reward "
                  f"{statistics.fmean(x['reward'] for x in last):.2f}, train exact match "
                  f"{statistics.fmean(x['exact_match'] for x in last):.3f}", flush=True)

    result = {
        "command": command,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "horizons": list(HORIZONS),
        "summary": {"before": summarise(before), "after": summarise([r["after"] for r in runs])},
        "runs": runs,
        "seconds": time.perf_counter() - wall,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": args.threads},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.plot)

    print(f"\n{'H':>3} | {'sampled before':>16} | {'sampled after':>16} | {'greedy before':>16} | "
          f"{'greedy after':>16}")
    for i, h in enumerate(HORIZONS):
        cells = []
        for mode in ("sampled", "greedy"):
            for key in ("before", "after"):
                s = result["summary"][key][mode]
                cells.append(f"{100 * s['mean'][i]:6.1f} ± {100 * s['std'][i]:4.1f}%")
        print(f"{h:>3} | " + " | ".join(f"{c:>16}" for c in cells))
    print(f"\ntotal wall time {result['seconds']:.0f} s; wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()

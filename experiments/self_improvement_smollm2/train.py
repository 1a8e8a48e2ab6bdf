"""One GRPO run of one arm and one seed: the policy starts as the frozen copy's checkpoint.

Arms: ``endogenous`` trains on the frozen copy's endogenous reward (the recipe under test);
``length`` trains on minus the reply's token count, with every other setting the same: the
control for "the gain is the policy learning to stop early" (the earlier run's diagnosis: the
trained replies were shorter, with fewer rambles cut at the token limit). Every arm computes all
three reward functions, so each logs the others' signal: the endogenous reward, the length
reward and correctness (never trained on).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from experiments.self_improvement_smollm2.task import Problem, correct_func, messages
from experiments.self_improvement_toy import grpo_config, training_log

from rewardmine.rl.trl import endogenous_reward_func


def length_reward(prompts: list[Any], completions: list[Any], completion_ids: list[list[int]],
                  **kwargs: Any) -> list[float]:
    """Minus the reply's token count (the end-of-turn token counted when the policy wrote it)."""
    if len(completion_ids) != len(completions):
        raise ValueError(f"{len(completions)} completions but {len(completion_ids)} id lists")
    return [-float(len(ids)) for ids in completion_ids]


ENDOGENOUS, LENGTH, CORRECT = "endogenous_reward", "length_reward", "correct_func"
ARMS = {"endogenous": ENDOGENOUS, "length": LENGTH}  # arm -> the one reward with weight 1
_ORDER = (ENDOGENOUS, LENGTH, CORRECT)
LOGGED = {"endogenous": ENDOGENOUS, "length_reward": LENGTH, "correct": CORRECT}


def _progress(arm: str, seed: int, steps: int) -> Any:
    import transformers

    class Progress(transformers.TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kw: Any) -> None:
            if logs and f"rewards/{ENDOGENOUS}/mean" in logs:
                print(f"  {arm} seed {seed} step {state.global_step}/{steps}: endogenous "
                      f"{logs[f'rewards/{ENDOGENOUS}/mean']:.2f}, correct "
                      f"{logs[f'rewards/{CORRECT}/mean']:.3f}, length "
                      f"{logs['completions/mean_length']:.1f}, kl {logs.get('kl', 0.0):.4f}",
                      flush=True)

    return Progress()


def train(arm: str, seed: int, *, model_dir: Path, reward: Any, tokenizer: Any,
          pool: list[Problem], workdir: Path, steps: int, batch: int, group: int,
          max_new_tokens: int, lr: float) -> tuple[Any, dict[str, Any]]:
    """(the trained policy, {"train_seconds", "train_prompts", "log"}). The prompts are drawn
    from ``pool`` with seed 10,000 + ``seed``, the same for every arm."""
    import datasets
    import trl

    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose from {sorted(ARMS)}")
    prompts = steps * batch // group
    if prompts > len(pool):
        raise ValueError(f"{steps} steps x {batch} completions / groups of {group} need {prompts} "
                         f"training prompts; the training pool has {len(pool)}")
    chosen = random.Random(10_000 + seed).sample(pool, prompts)
    data = datasets.Dataset.from_dict({"prompt": [messages(q) for q, _ in chosen],
                                       "answer": [a for _, a in chosen]})
    funcs = {ENDOGENOUS: endogenous_reward_func(reward, name=ENDOGENOUS),
             LENGTH: length_reward, CORRECT: correct_func}
    config = grpo_config(workdir / f"{arm}-seed{seed}", steps=steps, batch=batch, group=group,
                         max_completion_length=max_new_tokens, lr=lr, seed=seed,
                         gradient_checkpointing=False,
                         reward_weights=[float(name == ARMS[arm]) for name in _ORDER])
    trainer = trl.GRPOTrainer(model=str(model_dir), reward_funcs=[funcs[n] for n in _ORDER],
                              args=config, train_dataset=data, processing_class=tokenizer,
                              callbacks=[_progress(arm, seed, steps)])
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    log = training_log(trainer, {**{k: f"rewards/{v}/mean" for k, v in LOGGED.items()},
                                 "length": "completions/mean_length",
                                 "clipped": "completions/clipped_ratio"})
    return trainer.model, {"train_seconds": round(seconds, 1), "train_prompts": len(chosen),
                           "log": log}

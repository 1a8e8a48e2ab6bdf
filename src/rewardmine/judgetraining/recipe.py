"""The GRPO run: TRL's ``GRPOTrainer`` on the judge prompts, rewarded by the verdict rewards.

The reward is RewardAnything's, ``0.15 * format + 0.85 * accuracy``
(:func:`rewardmine.judge.training.verdict_reward_fn`), or the format reward alone as a control
(does accuracy come from the accuracy reward, or from learning to write valid, untied
verdicts?). A model too small to write a valid verdict when it samples freely (SmolLM2-135M: every
verdict of the first GRPO step earned 0, so no group had a reward to compare) can first be
warm-started (``warm_start_steps``) by supervised steps on valid verdicts with random scores
(:func:`rewardmine.judgetraining.data.format_rows`): it learns the form, not the truth. The
trained model is saved with its tokenizer, so
``PrincipleJudge.from_pretrained(out / "model")`` and ``principle:OUT/model`` load it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rewardmine.judge.training import verdict_reward_fn

Reward = Literal["combined", "format"]


@dataclass(frozen=True)
class TrainConfig:
    """The run's settings (TRL's ``GRPOConfig`` fields where the names match).

    Args:
        steps: optimizer steps.
        batch_size: completions per step (a multiple of ``num_generations``).
        num_generations: verdicts sampled per prompt, the GRPO group.
        max_completion_length: tokens a verdict may take.
        learning_rate: Adam's step size.
        beta: the KL coefficient to the starting model (TRL's default is 0).
        temperature: sampling temperature of the verdicts.
        reward: "combined" (0.15 format + 0.85 accuracy) or "format" (the control).
        thinking: let a thinking model think first, and require a closed thinking block in the
            format reward; off for models without a thinking mode.
        scale: the score scale the prompt asks for.
        seed: the trainer's seed (sampling, shuffling).
        warm_start_steps: supervised steps on valid verdicts with random scores before GRPO
            (0: none).
        warm_start_learning_rate: their step size.
    """

    steps: int = 50
    batch_size: int = 8
    num_generations: int = 4
    max_completion_length: int = 256
    learning_rate: float = 1e-6
    beta: float = 0.0
    temperature: float = 1.0
    reward: Reward = "combined"
    thinking: bool = False
    scale: tuple[int, int] = (1, 5)
    seed: int = 0
    warm_start_steps: int = 0
    warm_start_learning_rate: float = 1e-5

    def __post_init__(self) -> None:
        if self.reward not in ("combined", "format"):
            raise ValueError(f"reward must be 'combined' or 'format', not {self.reward!r}")
        if self.num_generations < 2 or self.batch_size % self.num_generations:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of "
                             f"num_generations ({self.num_generations}), itself at least 2")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.warm_start_steps < 0:
            raise ValueError(f"warm_start_steps must be 0 or more, got {self.warm_start_steps}")


def reward_function(config: TrainConfig) -> Any:
    """The TRL reward function the config names, with a name TRL logs it under."""
    if config.reward == "combined":
        fn = verdict_reward_fn(scale=config.scale, require_thinking=config.thinking)
        fn.__name__ = "verdict_reward"
    else:
        fn = verdict_reward_fn(format_weight=1.0, accuracy_weight=0.0, scale=config.scale,
                               require_thinking=config.thinking)
        fn.__name__ = "verdict_format_only"
    return fn


def train_judge(model: str | Path, rows: Sequence[dict[str, Any]], out: Path,
                config: TrainConfig) -> list[dict[str, Any]]:
    """Train ``model`` (a path, hub id or GGUF file, loaded by the one loader: a GGUF file is
    dequantized) on the GRPO ``rows``; save it with its tokenizer in ``out/model`` and return
    TRL's log, one entry per step (also written to ``out/log.json``)."""
    import datasets
    import torch
    import trl

    from rewardmine.models import load_causal_lm

    out.mkdir(parents=True, exist_ok=True)
    reward = reward_function(config)
    args = trl.GRPOConfig(
        output_dir=str(out / "trainer"), max_steps=config.steps,
        per_device_train_batch_size=config.batch_size, num_generations=config.num_generations,
        max_completion_length=config.max_completion_length, learning_rate=config.learning_rate,
        beta=config.beta, temperature=config.temperature, seed=config.seed, logging_steps=1,
        report_to="none", save_strategy="no", disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        chat_template_kwargs={"enable_thinking": config.thinking})
    policy, tokenizer = load_causal_lm(model, dtype="float32" if args.use_cpu else "auto")
    policy.train()
    warm: list[dict[str, Any]] = []
    if config.warm_start_steps:
        warm = warm_start(policy, tokenizer, rows, out, config, use_cpu=args.use_cpu)
    trainer = trl.GRPOTrainer(model=policy, reward_funcs=[reward], args=args,
                              train_dataset=datasets.Dataset.from_list(list(rows)),
                              processing_class=tokenizer)
    trainer.train()
    trainer.save_model(str(out / "model"))
    tokenizer.save_pretrained(str(out / "model"))
    log = [dict(h) for h in trainer.state.log_history]
    (out / "log.json").write_text(json.dumps({"config": asdict(config), "warm_start": warm,
                                              "log": log}, indent=2) + "\n", encoding="utf-8")
    return log


def warm_start(policy: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], out: Path,
               config: TrainConfig, *, use_cpu: bool) -> list[dict[str, Any]]:
    """``config.warm_start_steps`` supervised steps (TRL's ``SFTTrainer``, loss on the answer
    only) on :func:`~rewardmine.judgetraining.data.format_rows`, in place on ``policy``;
    returns their log."""
    import datasets
    import trl

    from rewardmine.judgetraining.data import format_rows

    args = trl.SFTConfig(
        output_dir=str(out / "warm-start"), max_steps=config.warm_start_steps,
        per_device_train_batch_size=config.batch_size // config.num_generations,
        learning_rate=config.warm_start_learning_rate, seed=config.seed, logging_steps=1,
        report_to="none", save_strategy="no", disable_tqdm=True, use_cpu=use_cpu,
        completion_only_loss=True, max_length=None)
    dataset = datasets.Dataset.from_list(format_rows(rows, seed=config.seed, scale=config.scale))
    if config.thinking:  # the chat template's switch, as the GRPO prompts are rendered
        dataset = dataset.map(lambda _: {"chat_template_kwargs": {"enable_thinking": True}})
    trainer = trl.SFTTrainer(model=policy, args=args, train_dataset=dataset,
                             processing_class=tokenizer)
    trainer.train()
    policy.train()
    return [dict(h) for h in trainer.state.log_history]

"""Reward functions for TRL's ``GRPOTrainer`` (and any trainer with its reward-function contract).

TRL calls each reward function with keyword arguments ``prompts``, ``completions``,
``completion_ids``, every other dataset column (one value per completion) and trainer extras
(``trainer_state``, ``log_metric``, ...), and expects one float (or None: "not applicable")
per completion. Prompts and completions are strings (standard format) or chat messages
(conversational format). The reward model keeps its own tokenizer and chat template, whatever
the policy's are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from rewardkit.judge.grouping import DEFAULT_REFERENCE_TEMPLATE, judge_groups
from rewardkit.protocols import JudgeReward, ListJudge
from rewardkit.rl.common import cached_endogenous, completion_text, score_text_pairs

RewardFunc = Callable[..., list[float | None]]


def endogenous_reward_func(reward: Any, *, system: str | None = None,
                           aggregate: Literal["sum", "mean"] = "sum",
                           prompt_format: Literal["chat", "text"] = "chat",
                           name: str = "endogenous_reward",
                           **load_options: Any) -> RewardFunc:
    """A GRPO reward function: the endogenous reward of a frozen causal LM.

    Args:
        reward: an :class:`~rewardkit.EndogenousReward`, or a model id/path to load one from
            (``load_options`` go to ``EndogenousReward.from_pretrained``).
        system: a system prompt prepended for the reward model only (it steers the reward).
        aggregate: "sum" (the paper's response reward) or "mean" over the response tokens.
        prompt_format: "chat" renders each prompt with the reward model's chat template (a
            standard-format string is one user turn); "text" takes standard-format prompts as
            already rendered text and the completion as its continuation, for base models and
            datasets whose prompts carry their own template.
        name: the function's ``__name__``, which TRL uses to log the reward.
    """
    if prompt_format not in ("chat", "text"):
        raise ValueError(f"prompt_format must be 'chat' or 'text', not {prompt_format!r}")
    if prompt_format == "text" and system is not None:
        raise ValueError("system= needs prompt_format='chat' (text prompts are used as given)")
    model = cached_endogenous(reward, **load_options) if isinstance(reward, str) else reward
    if load_options and not isinstance(reward, str):
        raise TypeError(f"loading options {sorted(load_options)} only apply when reward is a path")

    def reward_func(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        texts = [completion_text(c, i) for i, c in enumerate(completions)]
        if prompt_format == "text":
            bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
            if bad:
                raise ValueError(f"prompt {bad[0]} is a list of messages but prompt_format='text' "
                                 "needs string prompts; use prompt_format='chat'")
            return score_text_pairs(model, prompts, texts, aggregate=aggregate)
        return model.score_many(prompts, texts, system=system, aggregate=aggregate)

    reward_func.__name__ = reward_func.__qualname__ = name
    return reward_func


def judge_reward_func(judge: ListJudge, principle: str, *, reward: JudgeReward = "score",
                      reference_column: str | None = None,
                      reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                      on_invalid: Literal["none", "raise"] = "none",
                      name: str = "judge_reward") -> RewardFunc:
    """A GRPO reward function: a principle-following judge ranks each prompt's completions together.

    Completions that share a prompt (a GRPO group) go to the judge in one request, in their
    order; all groups of a step go in one ``judge_many`` call.

    Args:
        judge: a :class:`~rewardkit.PrincipleJudge` or any object with ``judge_many``.
        principle: the natural-language principle the responses are judged by.
        reward: "score" (the judge's score) or "rank" (best 1 .. worst 0, linear in the rank).
        reference_column: a dataset column holding a reference answer, shown to the judge.
        reference_template: how the reference is written into the principle.
        on_invalid: for a group whose verdict is invalid, "none" returns None for its completions
            (TRL's "not scored by this function"; the count is logged as ``<name>/invalid``)
            and "raise" stops training with the judge's error.
        name: the function's ``__name__``, which TRL uses to log the reward.
    """
    if on_invalid not in ("none", "raise"):
        raise ValueError(f"on_invalid must be 'none' or 'raise', not {on_invalid!r}")

    def reward_func(prompts: list[Any], completions: list[Any], **kwargs: Any
                    ) -> list[float | None]:
        texts = [completion_text(c, i) for i, c in enumerate(completions)]
        references = None
        if reference_column is not None:
            if reference_column not in kwargs:
                raise KeyError(f"reference_column {reference_column!r} is not a dataset column; "
                               f"the columns are {sorted(k for k in kwargs if k != 'trainer_state')}")
            references = kwargs[reference_column]
        rewards, verdicts = judge_groups(judge, principle, prompts, texts, references=references,
                                         reward=reward, reference_template=reference_template)
        invalid = [v for v in verdicts if not v.ok]
        if invalid and on_invalid == "raise":
            raise RuntimeError(f"{len(invalid)} of {len(verdicts)} judge verdicts are invalid; "
                               f"the first: {invalid[0].error}")
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric(f"{name}/invalid", float(len(invalid)))
        return rewards

    reward_func.__name__ = reward_func.__qualname__ = name
    return reward_func

"""Reward functions for TRL's ``GRPOTrainer``: picklable callable objects.

TRL calls each reward function with keyword arguments ``prompts``, ``completions``,
``completion_ids`` (the ids the policy generated, EOS included when it stopped, no padding), every
other dataset column and trainer extras (``trainer_state``, ``log_metric``, ...), and expects one
float (or None: "not applicable") per completion. It names each function's metrics after its
``__name__``, gathers ``async`` reward functions concurrently, and may pickle the functions into
worker processes: these objects reload their model there from its path (or URL) instead of
carrying it.

Example:
    >>> from rewardmine.rl.trl import endogenous_reward_func
    >>> reward = endogenous_reward_func("Qwen/Qwen2.5-Math-7B")   # doctest: +SKIP
    >>> GRPOTrainer(model=..., reward_funcs=[reward], ...)        # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rewardmine.chat import completion_text
from rewardmine.endogenous.served import ServedReward
from rewardmine.grouping import (
    DEFAULT_REFERENCE_TEMPLATE,
    consecutive_groups,
    judge_groups,
    standardize,
)
from rewardmine.protocols import JudgeReward, ListJudge
from rewardmine.rl.actions import ActionSource, ids_match_texts, score_actions
from rewardmine.rl.common import score_text_pairs
from rewardmine.specs import (
    ENDOGENOUS_KINDS,
    check_settings,
    load_judge,
    load_scorer,
    parse_spec,
    resolve_spec,
)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:6]


def _model_label(source: Any) -> str:
    config = getattr(getattr(source, "model", None), "config", None)
    path = str(getattr(config, "_name_or_path", "") or "")
    return path.rstrip("/").rsplit("/", 1)[-1]


class EndogenousRewardFunc:
    """A GRPO reward function: the endogenous reward of a frozen causal LM.

    Args:
        reward: a scorer spec (:mod:`rewardmine.specs`), loaded once per process: a model id or
            path (``endogenous:PATH``), ``logprobs:MODEL@BASE_URL`` (a vLLM/SGLang server's
            prompt log-probabilities: the reward minus V(s_1), so rankings and GRPO's group
            advantages are the local ones; key from ``OPENAI_API_KEY``) or the URL of a
            ``rewardmine serve`` shared by every training process (``serve:URL``; one model in
            memory). Or a loaded :class:`~rewardmine.EndogenousReward` (or any scorer with
            ``score_ids`` and a ``tokenizer``), used with its own options.
        system: a system prompt prepended for the reward model only (it steers the reward).
        prompt_format: "chat" renders each prompt with the reward model's chat template (a
            standard-format string is one user turn); "text" takes string prompts as already
            rendered text, for base models and datasets whose prompts carry their own template.
        actions: what is scored. "ids" scores ``completion_ids``, the tokens the policy generated
            (the reward model must share the policy's tokenizer, as a frozen copy does): a
            completion cut at ``max_completion_length`` has no end-of-turn and gets none.
            "text" scores the completion text under the reward model's template (which closes
            every turn with its end-of-turn token). "auto" uses the ids when the reward
            tokenizer decodes every ``completion_ids`` to TRL's completion text, else the text;
            it logs ``<name>/scored_ids`` (1 or 0) on each call.
        name: the metric name; by default derived from the spec and the options, so two
            differently configured functions never log as one.
        normalize: "none" returns the rewards as they are (log-likelihood scale: tens to hundreds
            of nats, negative); "group" standardizes them within each GRPO group of
            ``num_generations`` consecutive completions (mean 0, std 1), so that a weighted sum
            with other reward functions (TRL's ``reward_weights``) mixes them on one scale.
            GRPO's own group normalisation gives the same advantages either way for this
            reward alone.
        num_generations: the trainer's ``GRPOConfig.num_generations`` (``normalize="group"``).
        settings: the reward's settings when ``reward`` is a spec (``aggregate``: "sum", the
            paper's response reward, or "mean", the length-normalised log-likelihood;
            ``dtype``, ``device``, ``alpha``, ...).
    """

    def __init__(self, reward: Any, *, system: str | None = None,
                 prompt_format: Literal["chat", "text"] = "chat",
                 actions: ActionSource = "auto", name: str | None = None,
                 normalize: Literal["none", "group"] = "none",
                 num_generations: int | None = None, **settings: Any) -> None:
        if normalize not in ("none", "group"):
            raise ValueError(f"normalize must be 'none' or 'group', not {normalize!r}")
        if normalize == "group" and (not isinstance(num_generations, int)
                                     or num_generations < 2):
            raise ValueError("normalize='group' needs num_generations (GRPOConfig."
                             f"num_generations, at least 2), got {num_generations!r}")
        self.normalize, self.num_generations = normalize, num_generations
        if prompt_format not in ("chat", "text"):
            raise ValueError(f"prompt_format must be 'chat' or 'text', not {prompt_format!r}")
        if prompt_format == "text" and system is not None:
            raise ValueError("system= needs prompt_format='chat' (text prompts are used as given)")
        if actions not in ("auto", "ids", "text"):
            raise ValueError(f"actions must be 'auto', 'ids' or 'text', not {actions!r}")
        if isinstance(reward, str):
            spec = parse_spec(reward, default="endogenous")
            check_settings(spec, settings)
            if spec.kind not in ENDOGENOUS_KINDS:
                raise ValueError(f"{reward!r} is not an endogenous reward; EndogenousRewardFunc "
                                 "takes endogenous:PATH, logprobs:MODEL@BASE_URL or serve:URL (a "
                                 "judge goes in judge_reward_func)")
            self.spec: str | None = resolve_spec(spec)
            if spec.kind == "serve" and prompt_format != "chat":
                raise ValueError("a reward server renders chat prompts; use prompt_format='chat'"
                                 " with serve:URL")
        elif settings:
            raise TypeError(f"settings {sorted(settings)} only apply when reward is a spec; a "
                            "loaded reward keeps its own (EndogenousReward(..., aggregate=...))")
        else:
            self.spec = None
        self.settings = dict(settings)
        self.system, self.prompt_format, self.actions = system, prompt_format, actions
        self._model: Any = reward if self.spec is None else None
        self.__name__ = name or self._default_name(reward)

    def _default_name(self, reward: Any) -> str:
        label = parse_spec(self.spec).label if self.spec is not None else _model_label(reward)
        parts = [label] if label else []
        if self.spec is not None:
            kind = parse_spec(self.spec).kind
            if kind != "endogenous":
                parts.append(kind)
            parts += [f"{k}={v}" for k, v in sorted(self.settings.items())
                      if k in ("aggregate", "alpha", "terminal")]
        if self.prompt_format != "chat":
            parts.append("text")
        if self.actions != "auto":
            parts.append(self.actions)
        if self.normalize != "none":
            parts.append(f"normalize={self.normalize}")
        if self.system is not None:
            parts.append(f"system={_digest(self.system)}")
        return ":".join(["endogenous_reward", *parts])

    @property
    def model(self) -> Any:
        """The scorer, loaded on first use in each process (once per process and spec)."""
        if self._model is None:
            self._model = load_scorer(self.spec, defaults={"progress": False}, **self.settings)
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.spec is not None:
            state["_model"] = None  # reload from the spec in the receiving process
        return state

    def __repr__(self) -> str:
        return f"EndogenousRewardFunc({self.__name__!r})"

    def _use_ids(self, completion_ids: Any, texts: list[str], log_metric: Any) -> bool:
        if self.actions == "text":
            return False
        if completion_ids is None or len(completion_ids) != len(texts):
            if self.actions == "ids":
                raise ValueError("actions='ids' needs completion_ids, one list per completion "
                                 "(TRL passes them; other callers must too)")
            return False
        if self.actions == "ids":
            return True
        tokenizer = getattr(self.model, "tokenizer", None)
        use = tokenizer is not None and ids_match_texts(tokenizer, completion_ids, texts)
        if callable(log_metric):
            log_metric(f"{self.__name__}/scored_ids", float(use))
        return use

    def __call__(self, prompts: list[Any], completions: list[Any],
                 completion_ids: list[list[int]] | None = None, **kwargs: Any) -> list[float]:
        rewards = self._rewards(prompts, completions, completion_ids, kwargs.get("log_metric"))
        if self.normalize == "group":
            assert self.num_generations is not None
            return standardize(rewards, consecutive_groups(len(rewards), self.num_generations))
        return rewards

    def _rewards(self, prompts: list[Any], completions: list[Any],
                 completion_ids: list[list[int]] | None, log_metric: Any) -> list[float]:
        texts = [completion_text(c, i) for i, c in enumerate(completions)]
        if self.prompt_format == "text":
            bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
            if bad:
                raise ValueError(f"prompt {bad[0]} is a list of messages but prompt_format='text' "
                                 "needs string prompts; use prompt_format='chat'")
        ids = self._use_ids(completion_ids, texts, log_metric)
        model = self.model
        if isinstance(model, ServedReward):
            if ids:
                return model.score_actions(prompts, completion_ids, system=self.system)
            return model.score_many(prompts, texts, system=self.system)
        if ids and self.prompt_format == "text":
            states = [model.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
            return model.score_ids(states, completion_ids)
        if ids:
            return score_actions(model, prompts, completion_ids, system=self.system)
        if self.prompt_format == "text":
            return score_text_pairs(model, prompts, texts)
        return model.score_many(prompts, texts, system=self.system)


class JudgeRewardFunc:
    """A GRPO reward function: a principle-following judge ranks each GRPO group together.

    TRL lays a batch out as groups of ``num_generations`` consecutive completions of one prompt;
    each group is one judge request (two groups that drew the same prompt stay two requests),
    and all groups of a step go in one ``judge_many`` call.

    Args:
        judge: a :class:`~rewardmine.PrincipleJudge` or any object with ``judge_many``; or a
            reward spec (:mod:`rewardmine.specs`; several for a panel), or a mapping of the
            spec under ``"judge"`` and the judge's settings (``{"judge": "openai:M@URL",
            "constrained": True}``), loaded once per process (so the function pickles without
            the judge's model or network client).
        principle: the natural-language principle the responses are judged by.
        num_generations: the trainer's ``GRPOConfig.num_generations``.
        reward: "score" (the judge's score) or "rank" (best 1 .. worst 0, linear in the rank).
        reference_column: a dataset column holding a reference answer, shown to the judge.
        reference_template: how the reference is written into the principle.
        on_invalid: for a group whose verdict is invalid, "none" returns None for its completions
            (TRL's "not scored by this function"; the count is logged as ``<name>/invalid``)
            and "raise" stops training with the judge's error.
        name: the metric name; by default derived from the options.
    """

    def __init__(self, judge: ListJudge | str | Sequence[str] | Mapping[str, Any], principle: str,
                 *,
                 num_generations: int, reward: JudgeReward = "score",
                 reference_column: str | None = None,
                 reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                 on_invalid: Literal["none", "raise"] = "none", name: str | None = None) -> None:
        if on_invalid not in ("none", "raise"):
            raise ValueError(f"on_invalid must be 'none' or 'raise', not {on_invalid!r}")
        if reward not in ("score", "rank"):
            raise ValueError(f"reward must be 'score' or 'rank', not {reward!r}")
        if not isinstance(num_generations, int) or num_generations < 1:
            raise ValueError(f"num_generations must be a positive int (GRPOConfig."
                             f"num_generations), not {num_generations!r}")
        if isinstance(judge, str) or (isinstance(judge, Sequence)
                                      and all(isinstance(j, str) for j in judge)):
            judge = {"judge": judge}
        self.judge_options = dict(judge) if isinstance(judge, Mapping) else None
        self._judge = None if isinstance(judge, Mapping) else judge
        if self.judge_options is not None:  # a bad spec or setting fails here, not in training
            options = dict(self.judge_options)
            specs = options.pop("judge", None)
            if not specs:
                raise ValueError("a judge mapping names its spec under 'judge' (principle:PATH, "
                                 f"openai:MODEL@URL, ...); got the keys {sorted(judge)}")
            for spec in [specs] if isinstance(specs, str) else specs:
                check_settings(parse_spec(spec, default="principle"),
                               {k: v for k, v in options.items() if k != "system_template"})
            # local paths made absolute: they mean the same in a worker process
            self.judge_options["judge"] = (
                resolve_spec(specs, default="principle") if isinstance(specs, str)
                else [resolve_spec(spec, default="principle") for spec in specs])
        self.principle, self.num_generations, self.reward = principle, num_generations, reward
        self.reference_column, self.reference_template = reference_column, reference_template
        self.on_invalid = on_invalid
        self.__name__ = name or self._default_name()

    def _default_name(self) -> str:
        parts = ["judge_reward", self.reward, f"principle={_digest(self.principle)}"]
        if self.reference_column:
            parts.append(f"reference={self.reference_column}")
        return ":".join(parts)

    @property
    def judge(self) -> ListJudge:
        if self._judge is None:
            options = dict(self.judge_options or {})
            self._judge = load_judge(options.pop("judge"), defaults={"on_invalid": "return"},
                                     **options)
        return self._judge

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.judge_options is not None:
            state["_judge"] = None
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__!r})"

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any
                 ) -> list[float | None]:
        texts = [completion_text(c, i) for i, c in enumerate(completions)]
        references: Sequence[Any] | None = None
        if self.reference_column is not None:
            if self.reference_column not in kwargs:
                columns = sorted(k for k in kwargs if k not in ("trainer_state", "log_metric",
                                                                "log_extra", "completion_ids"))
                raise KeyError(f"reference_column {self.reference_column!r} is not a dataset "
                               f"column; the columns are {columns}")
            references = kwargs[self.reference_column]
        groups = consecutive_groups(len(texts), self.num_generations)
        rewards, verdicts = judge_groups(
            self.judge, self.principle, prompts, texts, groups=groups, references=references,
            reward=self.reward, reference_template=self.reference_template)
        invalid = [v for v in verdicts if not v.ok]
        if invalid and self.on_invalid == "raise":
            raise RuntimeError(f"{len(invalid)} of {len(verdicts)} judge verdicts are invalid; "
                               f"the first: {invalid[0].error}")
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric(f"{self.__name__}/invalid", float(len(invalid)))
        return rewards


class AsyncJudgeRewardFunc(JudgeRewardFunc):
    """:class:`JudgeRewardFunc` as an ``async`` reward function: TRL awaits its async reward
    functions together, so a judge on an OpenAI-compatible server runs while the others do."""

    async def __call__(self, prompts: list[Any], completions: list[Any],  # type: ignore[override]
                       **kwargs: Any) -> list[float | None]:
        call = super().__call__
        return await asyncio.to_thread(call, prompts, completions, **kwargs)


def endogenous_reward_func(reward: Any, **options: Any) -> EndogenousRewardFunc:
    """An :class:`EndogenousRewardFunc` (see it for the options)."""
    return EndogenousRewardFunc(reward, **options)


def judge_reward_func(judge: ListJudge | Mapping[str, Any], principle: str, *,
                      asynchronous: bool = False, **options: Any) -> JudgeRewardFunc:
    """A :class:`JudgeRewardFunc`, or with ``asynchronous=True`` an :class:`AsyncJudgeRewardFunc`."""
    cls = AsyncJudgeRewardFunc if asynchronous else JudgeRewardFunc
    return cls(judge, principle, **options)

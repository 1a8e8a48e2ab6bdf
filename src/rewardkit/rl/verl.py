"""Reward functions for verl's ``custom_reward_function`` (naive and batch reward managers).

verl calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`` once per
response (naive manager) or ``fn(data_sources=, solution_strs=, ground_truths=, extra_infos=)``
once per chunk (batch manager), with ``solution_str`` decoded without special tokens. The prompt
is not an argument: it reaches the function only through ``extra_info``, so the dataset's
preprocessing must store it there (verl's GSM8K preprocessing stores the raw question under
"question"; choose the key with ``prompt_key``). Options come from the config's
``custom_reward_function.reward_kwargs`` and are merged into every call.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from rewardkit.judge.grouping import DEFAULT_REFERENCE_TEMPLATE, judge_groups
from rewardkit.protocols import JudgeReward, ListJudge
from rewardkit.rl.client import RemoteEndogenous
from rewardkit.rl.common import cached_endogenous

BatchFn = Callable[..., list[float]]


def prompt_from_extra_info(extra_info: Any, prompt_key: str, index: int | None = None) -> Any:
    """The prompt stored in one ``extra_info`` (a string or chat messages)."""
    where = "extra_info" if index is None else f"extra_infos[{index}]"
    if not isinstance(extra_info, Mapping) or prompt_key not in extra_info:
        keys = sorted(extra_info) if isinstance(extra_info, Mapping) else extra_info
        raise KeyError(
            f"{where} has no {prompt_key!r} ({keys}); store the prompt in extra_info during "
            "data preprocessing, or set custom_reward_function.reward_kwargs.prompt_key"
        )
    prompt = extra_info[prompt_key]
    if isinstance(prompt, str):
        return prompt
    if hasattr(prompt, "tolist"):  # a numpy array of messages read back from parquet
        prompt = prompt.tolist()
    if isinstance(prompt, Sequence):
        return [dict(m) for m in prompt]
    raise TypeError(f"{where}[{prompt_key!r}] is a {type(prompt).__name__}; expected a string "
                    "or a list of chat messages")


def _check_lengths(**lists: Sequence[Any]) -> int:
    sizes = {name: len(v) for name, v in lists.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the batch arguments must have equal lengths; got {sizes}")
    return next(iter(sizes.values()))


def _scorer(model: str | None, server_url: str | None, api_key: str | None,
            aggregate: str, dtype: str, device: str) -> Any:
    """The local model (loaded once per process) or a reward server's client."""
    if bool(model) == bool(server_url):
        raise ValueError("set exactly one of custom_reward_function.reward_kwargs.model (a "
                         "Hugging Face id or local path) or reward_kwargs.server_url (a "
                         "`rewardkit serve` address)")
    if server_url:
        if aggregate != "sum":
            raise ValueError("the reward server sums token rewards; aggregate must be 'sum' "
                             "with server_url")
        return RemoteEndogenous(server_url, api_key=api_key)
    return cached_endogenous(model, dtype=dtype, device=device)


def _score(scorer: Any, prompts: list[Any], responses: list[str], system: str | None,
           aggregate: str) -> list[float]:
    if isinstance(scorer, RemoteEndogenous):
        return scorer.score_many(prompts, responses, system=system)
    return scorer.score_many(prompts, responses, system=system, aggregate=aggregate)


def compute_score(data_source: Any, solution_str: str, ground_truth: Any,
                  extra_info: Mapping[str, Any] | None = None, *, model: str | None = None,
                  prompt_key: str = "question", system: str | None = None,
                  aggregate: Literal["sum", "mean"] = "sum", dtype: str = "auto",
                  device: str = "auto", server_url: str | None = None,
                  api_key: str | None = None, **verl_extras: Any) -> float:
    """The endogenous reward of one response under the frozen model (naive manager).

    The model is ``model`` loaded in this process, or the one served at ``server_url`` by
    ``rewardkit serve`` (verl's reward workers often have no GPU). ``verl_extras`` are the
    keyword arguments verl adds for its own reward models (``reward_router_address``, ...);
    they do not apply here.
    """
    scorer = _scorer(model, server_url, api_key, aggregate, dtype, device)
    prompt = prompt_from_extra_info(extra_info, prompt_key)
    return _score(scorer, [prompt], [solution_str], system, aggregate)[0]


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str],
                        ground_truths: Sequence[Any], extra_infos: Sequence[Any], *,
                        model: str | None = None, prompt_key: str = "question",
                        system: str | None = None, aggregate: Literal["sum", "mean"] = "sum",
                        dtype: str = "auto", device: str = "auto",
                        server_url: str | None = None, api_key: str | None = None,
                        **verl_extras: Any) -> list[float]:
    """Endogenous rewards for a chunk (batch manager); responses to one prompt share its forward."""
    _check_lengths(data_sources=data_sources, solution_strs=solution_strs,
                   ground_truths=ground_truths, extra_infos=extra_infos)
    scorer = _scorer(model, server_url, api_key, aggregate, dtype, device)
    prompts = [prompt_from_extra_info(e, prompt_key, i) for i, e in enumerate(extra_infos)]
    return _score(scorer, prompts, list(solution_strs), system, aggregate)


def judge_batch_fn(judge: ListJudge, principle: str, *, prompt_key: str = "question",
                   reward: JudgeReward = "score", use_reference: bool = False,
                   reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                   invalid_score: float | None = None) -> BatchFn:
    """A batch-manager function that judges the responses to each prompt together.

    Args:
        judge: a :class:`~rewardkit.PrincipleJudge` or any object with ``judge_many``.
        principle: what the judge judges by.
        prompt_key: where the prompt is in ``extra_info``.
        reward: "score" or "rank" (best 1 .. worst 0).
        use_reference: show ``ground_truth`` to the judge as a reference answer.
        invalid_score: the reward for a group whose verdict is invalid; None raises instead
            (verl needs a number for every response).
    """

    def batch(data_sources: Sequence[Any], solution_strs: Sequence[str],
              ground_truths: Sequence[Any], extra_infos: Sequence[Any],
              **verl_extras: Any) -> list[float]:
        _check_lengths(data_sources=data_sources, solution_strs=solution_strs,
                       ground_truths=ground_truths, extra_infos=extra_infos)
        prompts = [prompt_from_extra_info(e, prompt_key, i) for i, e in enumerate(extra_infos)]
        rewards, verdicts = judge_groups(
            judge, principle, prompts, list(solution_strs),
            references=list(ground_truths) if use_reference else None, reward=reward,
            reference_template=reference_template)
        if any(r is None for r in rewards):
            if invalid_score is None:
                error = next(v.error for v in verdicts if not v.ok)
                raise RuntimeError(f"a judge verdict is invalid ({error}); set invalid_score to "
                                   "give such responses a fixed reward instead")
            return [invalid_score if r is None else r for r in rewards]
        return rewards  # type: ignore[return-value]

    return batch


_JUDGES: dict[tuple[Any, ...], ListJudge] = {}
_JUDGES_LOCK = threading.Lock()


def load_judge(*, judge_model: str | None = None, judge_base_url: str | None = None,
               judge_model_name: str | None = None, judge_api_key: str | None = None,
               judge_factory: str | None = None, **judge_options: Any) -> ListJudge:
    """A judge from config strings, once per process: a local model, an OpenAI-compatible server,
    or ``judge_factory="package.module:function"`` returning any object with ``judge_many``.

    ``judge_options`` go to ``PrincipleJudge.from_pretrained``/``from_openai`` (``constrained``,
    ``permutations``, ...).
    """
    given = [x for x in (judge_model, judge_base_url, judge_factory) if x]
    if len(given) != 1:
        raise ValueError("give exactly one of judge_model (a local path), judge_base_url (with "
                         "judge_model_name) or judge_factory ('module:function')")
    if judge_factory and judge_options:
        raise ValueError(f"options {sorted(judge_options)} do not apply to judge_factory")
    key = (judge_model, judge_base_url, judge_model_name, judge_factory,
           tuple(sorted(judge_options.items())))
    with _JUDGES_LOCK:
        if key not in _JUDGES:
            if judge_factory:
                module, _, name = judge_factory.partition(":")
                if not name:
                    raise ValueError(f"judge_factory {judge_factory!r} must be 'module:function'")
                _JUDGES[key] = getattr(importlib.import_module(module), name)()
            else:
                from rewardkit.judge import PrincipleJudge  # type: ignore[attr-defined]

                # invalid verdicts come back as such; each adapter decides what they are worth
                if judge_model:
                    _JUDGES[key] = PrincipleJudge.from_pretrained(
                        judge_model, on_invalid="return", **judge_options)
                else:
                    if not judge_model_name:
                        raise ValueError("judge_base_url needs judge_model_name")
                    _JUDGES[key] = PrincipleJudge.from_openai(
                        base_url=judge_base_url, model=judge_model_name, api_key=judge_api_key,
                        on_invalid="return", **judge_options)
        return _JUDGES[key]


def judge_compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str],
                              ground_truths: Sequence[Any], extra_infos: Sequence[Any], *,
                              principle: str, judge_model: str | None = None,
                              judge_base_url: str | None = None,
                              judge_model_name: str | None = None,
                              judge_api_key: str | None = None, judge_factory: str | None = None,
                              prompt_key: str = "question", reward: JudgeReward = "score",
                              use_reference: bool = False, invalid_score: float | None = None,
                              **verl_extras: Any) -> list[float]:
    """The judge batch function configured entirely by ``reward_kwargs`` (see :func:`load_judge`)."""
    judge = load_judge(judge_model=judge_model, judge_base_url=judge_base_url,
                       judge_model_name=judge_model_name, judge_api_key=judge_api_key,
                       judge_factory=judge_factory)
    batch = judge_batch_fn(judge, principle, prompt_key=prompt_key, reward=reward,
                           use_reference=use_reference, invalid_score=invalid_score)
    return batch(data_sources=data_sources, solution_strs=solution_strs,
                 ground_truths=ground_truths, extra_infos=extra_infos)

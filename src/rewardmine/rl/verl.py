"""Reward functions for verl's ``custom_reward_function`` on its reward loop (verl >= 0.9).

verl's reward managers (naive, dapo, ...) call ``compute_score(data_source=, solution_str=,
ground_truth=, extra_info=)`` once per response, with ``solution_str`` decoded without special
tokens, and await it when it is a coroutine function. The prompt is not an argument: it reaches
the function only through ``extra_info``, so the dataset's preprocessing must store it there
(verl's GSM8K preprocessing stores the raw question under "question"; choose the key with
``prompt_key``). Options come from ``reward.custom_reward_function.reward_kwargs`` and are merged
into every call. This scores *text*: the reward model re-tokenizes the decoded response and its
template closes the turn. To score the policy's own token ids, group-aware judges and per-token
rewards, use the reward managers in :mod:`rewardmine.rl.verl_managers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from rewardmine.grouping import judge_groups
from rewardmine.protocols import ListJudge
from rewardmine.specs import load_judge, load_scorer


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


def verl_scorer(*, reward: str | None = None, model: str | None = None,
                server_url: str | None = None, endogenous_base_url: str | None = None,
                api_key: str | None = None, **settings: Any) -> Any:
    """The scorer a verl config names, loaded once per process (:func:`rewardmine.specs.load_scorer`).

    ``reward`` is its spec (``endogenous:PATH``, ``logprobs:MODEL@BASE_URL``, ``serve:URL``). The
    older keys are spellings of the same specs, kept for verl configs: ``model`` is
    ``endogenous:PATH``, ``server_url`` is ``serve:URL``, ``model`` with ``endogenous_base_url``
    is ``logprobs:MODEL@URL``. ``settings`` are the reward's (``aggregate``, ``dtype``, ...);
    ``None`` values are left out, so a config's unset keys take the reward's defaults.
    """
    spellings = [x for x in (reward, model, server_url) if x]
    if len(spellings) != 1:
        raise ValueError("set exactly one of custom_reward_function.reward_kwargs.reward (a spec:"
                         " endogenous:PATH, logprobs:MODEL@BASE_URL or serve:URL), "
                         "reward_kwargs.model (a Hugging Face id or local path) or "
                         "reward_kwargs.server_url (a `rewardmine serve` address)")
    if endogenous_base_url and not model:
        raise ValueError("endogenous_base_url needs reward_kwargs.model, the served model's name "
                         "(or write reward=logprobs:MODEL@BASE_URL)")
    spec = (reward if reward else f"serve:{server_url}" if server_url
            else f"logprobs:{model}@{endogenous_base_url}" if endogenous_base_url
            else f"endogenous:{model}")
    settings = {k: v for k, v in settings.items() if v is not None}
    if api_key:
        settings["api_key"] = api_key
    return load_scorer(spec, defaults={"progress": False}, **settings)


ROUTER = "reward_router"  # endogenous_base_url: verl's own reward servers, through its router


def router_url(endogenous_base_url: str | None, reward_router_address: str | None) -> str | None:
    """``endogenous_base_url``, with "reward_router" read as the OpenAI root of the vLLM/SGLang
    reward servers verl starts (``reward.reward_model.enable=True``) behind its router."""
    if endogenous_base_url != ROUTER:
        return endogenous_base_url
    if not reward_router_address:
        raise ValueError("endogenous_base_url='reward_router' needs verl's reward servers: set "
                         "reward.reward_model.enable=True (verl then passes "
                         "reward_router_address), or give the server's URL")
    return f"http://{reward_router_address}/v1"


def compute_score(data_source: Any, solution_str: str, ground_truth: Any,
                  extra_info: Mapping[str, Any] | None = None, *, reward: str | None = None,
                  model: str | None = None, server_url: str | None = None,
                  endogenous_base_url: str | None = None, api_key: str | None = None,
                  prompt_key: str = "question", system: str | None = None,
                  reward_router_address: str | None = None, reward_model_tokenizer: Any = None,
                  **settings: Any) -> float:
    """The endogenous reward of one response under the frozen model (naive manager).

    ``reward`` is the reward's spec (:mod:`rewardmine.specs`): ``endogenous:PATH`` loaded in
    this process, ``serve:URL`` (a ``rewardmine serve``: verl's reward workers often have no
    GPU) or ``logprobs:MODEL@BASE_URL`` (a vLLM/SGLang server's log-probabilities: the reward
    minus V(s_1), so GRPO's group advantages are the local ones). The older keys ``model``,
    ``server_url`` and ``endogenous_base_url`` spell the same (see :func:`verl_scorer`);
    ``endogenous_base_url="reward_router"`` means the vLLM/SGLang reward servers verl itself
    runs, through its ``reward_router_address``. ``settings`` are the reward's (``aggregate``,
    ``dtype``, ``device``, ...; an unknown one is refused with the accepted ones).
    """
    url = router_url(endogenous_base_url, reward_router_address)
    scorer = verl_scorer(reward=reward, model=model, server_url=server_url,
                         endogenous_base_url=url, api_key=api_key, **settings)
    prompt = prompt_from_extra_info(extra_info, prompt_key)
    return scorer.score_many([prompt], [solution_str], system=system)[0]


def judge_from_config(*, judge: str | Sequence[str] | None = None,
                      judge_model: str | None = None, judge_base_url: str | None = None,
                      judge_model_name: str | None = None, judge_api_key: str | None = None,
                      judge_factory: str | None = None, **judge_options: Any) -> ListJudge:
    """A judge from a verl config, once per process (:func:`rewardmine.specs.load_judge`).

    ``judge`` is a spec (``principle:PATH``, ``openai:MODEL@URL``, ``MODULE:FUNCTION``, ...) or
    a list of them for a Kemeny panel, as everywhere in rewardmine. The older keys are spellings
    of the same specs, kept for verl configs: ``judge_model`` is ``principle:PATH``,
    ``judge_base_url`` + ``judge_model_name`` is ``openai:NAME@URL`` (``judge_api_key`` its key),
    ``judge_factory`` is ``MODULE:FUNCTION``. ``judge_options`` are the judge's settings and
    generation options (``constrained``, ``permutations``, ``max_new_tokens``, ``thinking``, ...).
    Invalid verdicts come back as such; each adapter decides what they are worth.
    """
    spellings = [x for x in (judge, judge_model, judge_base_url, judge_factory) if x]
    if len(spellings) != 1:
        raise ValueError("give exactly one of judge (a spec: principle:PATH, openai:MODEL@URL or "
                         "MODULE:FUNCTION), judge_model, judge_base_url (with judge_model_name) or "
                         "judge_factory")
    if judge_base_url and not judge_model_name:
        raise ValueError("judge_base_url needs judge_model_name")
    spec: str | Sequence[str] = (
        judge if judge else f"principle:{judge_model}" if judge_model
        else f"openai:{judge_model_name}@{judge_base_url}" if judge_base_url
        else str(judge_factory))
    if judge_api_key:
        judge_options = {**judge_options, "api_key": judge_api_key}
    return load_judge(spec, defaults={"on_invalid": "return"}, **judge_options)


async def judge_compute_score(data_source: Any, solution_str: str, ground_truth: Any,
                              extra_info: Mapping[str, Any] | None = None,
                              reward_router_address: str | None = None,
                              reward_model_tokenizer: Any = None, *, principle: str,
                              judge_model_name: str | None = None,
                              judge_base_url: str | None = None, judge_api_key: str | None = None,
                              prompt_key: str = "question", use_reference: bool = False,
                              invalid_score: float | None = None, **verl_extras: Any) -> float:
    """A judge's score of one response, for verl's GenRM path (naive manager, awaited).

    With ``reward.reward_model.enable=True`` verl serves the judge model itself and passes its
    ``reward_router_address`` (host:port of an OpenAI-compatible server); the judge is reached
    there, as model ``judge_model_name`` (verl names it by ``reward.reward_model.model_path``).
    ``judge_base_url`` reaches a judge served elsewhere instead. The response is judged alone
    (pointwise); for a judge over each GRPO group use ``verl_managers.JudgeRewardManager``.
    """
    if judge_base_url is None:
        if reward_router_address is None:
            raise ValueError(
                "judge_compute_score got no reward_router_address: verl passes it only with "
                "reward.reward_model.enable=True (verl then serves the judge); or set "
                "custom_reward_function.reward_kwargs.judge_base_url")
        judge_base_url = f"http://{reward_router_address}/v1"
    if not judge_model_name:
        raise ValueError("set custom_reward_function.reward_kwargs.judge_model_name (the served "
                         "model's name: reward.reward_model.model_path under verl)")
    judge = judge_from_config(judge_base_url=judge_base_url, judge_model_name=judge_model_name,
                              judge_api_key=judge_api_key)
    prompt = prompt_from_extra_info(extra_info, prompt_key)
    references = [ground_truth] if use_reference else None
    rewards, verdicts = await asyncio.to_thread(
        judge_groups, judge, principle, [prompt], [solution_str], references=references)
    if rewards[0] is None:
        if invalid_score is None:
            raise RuntimeError(f"the judge's verdict is invalid ({verdicts[0].error}); set "
                               "reward_kwargs.invalid_score to give such responses a fixed reward")
        return float(invalid_score)
    return float(rewards[0])


def judge_training_score(data_source: Any, solution_str: str, ground_truth: Any,
                         extra_info: Mapping[str, Any] | None = None, *,
                         format_weight: float = 0.15, accuracy_weight: float = 0.85,
                         thinking: bool = False, **verl_extras: Any) -> float:
    """The verdict reward of one verdict a judge in training wrote, for verl's reward loop
    (RewardAnything's recipe at scale; ``rewardmine train-judge --export-verl`` writes the data).

    ``ground_truth`` is the row's ``{"ids": [...], "truth_scores": [...]}`` (a JSON string, as
    the exported parquet holds it, or a dict); ``solution_str`` is the verdict as verl decodes
    it. The reward is :func:`rewardmine.judge.training.verdict_reward_fn`'s,
    ``format_weight * format + accuracy_weight * accuracy``; ``thinking`` requires a closed
    thinking block in the format reward.
    """
    import json

    from rewardmine.judge.training import verdict_reward_fn

    truth = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    if not isinstance(truth, Mapping) or not {"ids", "truth_scores"} <= set(truth):
        raise ValueError("judge_training_score needs reward_model.ground_truth = {\"ids\": [...], "
                         "\"truth_scores\": [...]} (rewardmine train-judge --export-verl writes it)")
    reward = verdict_reward_fn(format_weight=format_weight, accuracy_weight=accuracy_weight,
                               require_thinking=thinking)
    return float(reward([solution_str], ids=[list(truth["ids"])],
                        truth_scores=[list(truth["truth_scores"])])[0])

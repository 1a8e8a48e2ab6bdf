"""rewardmine reward managers for verl's reward loop (verl >= 0.9), loaded with
``reward.reward_manager.source=importlib``.

verl's reward loop hands its manager one sample at a time (``run_single``), with the policy's
token ids: ``prompts`` (left-padded), ``responses`` (right-padded), ``attention_mask``, and the
sample's ``uid`` (one per prompt; a GRPO group shares it) and ``raw_prompt``. Two managers:

* :class:`JudgeRewardManager` buffers samples by ``uid`` until the group of
  ``actor_rollout_ref.rollout.n`` is complete, then judges the group in one listwise request.
  All samples of a group must reach the same worker process: it requires ``reward.num_workers=1``.
* :class:`EndogenousRewardManager` scores the generated ids after the prompt ids the policy saw
  (no decoding, no re-tokenization, no end-of-turn appended to a truncated response). With
  ``token_level: true`` it places r_t on every response token; verl 0.9.1 keeps a per-token
  reward only on its colocated reward path (``reward.reward_model.enable=True``), since its
  streaming path stores one float per response, so token_level refuses the streaming path.

Options come from ``reward.reward_kwargs`` (``+reward.reward_kwargs.KEY=VALUE`` on the command
line). This file imports verl; verl's reward worker imports it by path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import torch
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from rewardmine.grouping import judge_groups
from rewardmine.rl.actions import unpadded

# verl 0.9.1 creates its reward workers (async Ray actors) without max_concurrency, so each runs at
# most Ray's default for an async actor, 1000 calls at once (DEFAULT_MAX_CONCURRENCY_ASYNC)
STREAMING_CALLS_AT_ONCE = 1000

JUDGE_SPEC_KEYS = ("judge", "judge_model", "judge_base_url", "judge_model_name", "judge_api_key",
                   "judge_factory")
ENDOGENOUS_SPEC_KEYS = ("reward", "model", "server_url", "api_key", "endogenous_base_url")


def _options(config: Any, manager: str) -> dict[str, Any]:
    """``reward.reward_kwargs`` as plain values. The keys a manager does not use itself are the
    reward's settings, which its loader checks (an unknown one is refused with the accepted)."""
    from rewardmine.rl.verl_config import ignored_keys

    ignored = ignored_keys(config)
    if ignored:
        raise ValueError(f"{manager}: " + "; ".join(ignored))
    raw = config.reward.get("reward_kwargs", None) or {}
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in dict(raw).items()}


def _split(options: dict[str, Any], own: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the manager's own options, the reward's settings)."""
    return ({k: v for k, v in options.items() if k in own},
            {k: v for k, v in options.items() if k not in own})


def streams_samples(config: Any) -> bool:
    """Whether verl sends this manager one sample per call from its agent loop (the streaming
    path: no reward model, or one in a resource pool of its own) rather than a worker's whole share
    of the batch (the colocated path)."""
    rm = config.reward.reward_model
    return not rm.enable or bool(rm.enable_resource_pool)


def sample_ids(data: Any) -> tuple[list[int], list[int]]:
    """The prompt ids the policy saw and the ids it generated, for a one-sample DataProto: padding
    removed by the attention mask (verl's prompts are left-padded, responses right-padded)."""
    item = data[-1]
    prompt, response = item.batch["prompts"], item.batch["responses"]
    mask = item.batch["attention_mask"]
    n_prompt = prompt.shape[-1]
    state = unpadded(prompt.tolist(), mask=mask[:n_prompt].tolist(), side="left")
    actions = unpadded(response.tolist(), mask=mask[n_prompt:].tolist(), side="right")
    return state, actions


def _prompt(item: Any, prompt_key: str) -> Any:
    if "raw_prompt" in item.non_tensor_batch:
        prompt = item.non_tensor_batch["raw_prompt"]
    else:
        from rewardmine.rl.verl import prompt_from_extra_info

        return prompt_from_extra_info(item.non_tensor_batch.get("extra_info"), prompt_key)
    if hasattr(prompt, "tolist"):
        prompt = prompt.tolist()
    return prompt if isinstance(prompt, str) else [dict(m) for m in prompt]


class JudgeRewardManager(RewardManagerBase):
    """A principle-following judge over each GRPO group (samples sharing a ``uid``).

    Options (``reward.reward_kwargs``): ``principle`` (required); one of ``judge`` (a judge spec:
    ``principle:PATH``, ``openai:MODEL@URL``, ``MODULE:FUNCTION``), ``judge_base_url`` +
    ``judge_model_name`` (an OpenAI-compatible server), ``judge_model`` (a local path) or
    ``judge_factory`` (``module:function``); without them, the judge verl serves at its
    ``reward_router_address`` (``reward.reward_model.enable=True``), named ``judge_model_name``
    or ``reward.reward_model.model_path``. ``reward`` ("score" or "rank"), ``use_reference``
    (show the ground truth), ``invalid_score`` (else an invalid verdict raises), ``group_size``
    (default ``actor_rollout_ref.rollout.n``; validation must use the same n), and
    ``group_timeout_s`` (how long a group may wait for its last member, default 600). Every
    other key is the judge's setting (``constrained``, ``mode``, ``max_new_tokens``, ...).
    """

    def __init__(self, config: Any, tokenizer: Any, compute_score: Any,
                 reward_router_address: str | None = None, reward_model_tokenizer: Any = None,
                 **_: Any) -> None:
        super().__init__(config, tokenizer, compute_score)
        options, settings = _split(_options(config, type(self).__name__),
                                   ("principle", "reward", "use_reference", "invalid_score",
                                    "group_size", "group_timeout_s", "prompt_key",
                                    *JUDGE_SPEC_KEYS))
        if "principle" not in options:
            raise ValueError("JudgeRewardManager needs +reward.reward_kwargs.principle=...")
        workers = config.reward.get("num_workers", 1)
        if workers != 1:
            raise ValueError(
                f"JudgeRewardManager judges each GRPO group in one request, so every sample of a "
                f"group must reach the same reward worker; verl spreads samples over "
                f"reward.num_workers={workers} workers. Set reward.num_workers=1")
        self.principle = str(options["principle"])
        self.reward = options.get("reward", "score")
        self.use_reference = bool(options.get("use_reference", False))
        self.invalid_score = options.get("invalid_score")
        self.prompt_key = options.get("prompt_key", "question")
        self.group_size = int(options.get("group_size") or config.actor_rollout_ref.rollout.n)
        self.timeout_s = float(options.get("group_timeout_s", 600))
        judge_keys = {k: options[k] for k in JUDGE_SPEC_KEYS if k in options}
        if not any(k in judge_keys for k in ("judge", "judge_model", "judge_base_url",
                                             "judge_factory")):
            if reward_router_address is None:
                raise ValueError(
                    "JudgeRewardManager has no judge: set reward_kwargs.judge_base_url (+ "
                    "judge_model_name), judge_model or judge_factory, or let verl serve one "
                    "(reward.reward_model.enable=True, which passes reward_router_address)")
            judge_keys["judge_base_url"] = f"http://{reward_router_address}/v1"
            judge_keys.setdefault("judge_model_name", config.reward.reward_model.model_path)
        from rewardmine.rl.verl import judge_from_config

        self.judge = judge_from_config(**judge_keys, **settings)
        self._groups: dict[str, list[tuple[Any, str, Any, asyncio.Future]]] = {}
        self._streaming = streams_samples(config)

    async def run_single(self, data: Any) -> dict[str, Any]:
        item = data[-1]
        _, actions = sample_ids(data)
        text = self.tokenizer.decode(actions, skip_special_tokens=True)
        uid = str(item.non_tensor_batch["uid"])
        truth = item.non_tensor_batch.get("reward_model", {}).get("ground_truth")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        members = self._groups.setdefault(uid, [])
        members.append((_prompt(item, self.prompt_key), text, truth, future))
        if len(members) == self.group_size:
            del self._groups[uid]
            await self._judge_group(uid, members)
        elif self._streaming:
            self._refuse_if_stuck()
        try:
            score = await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except asyncio.TimeoutError:
            have = len(self._groups.pop(uid, members))
            raise RuntimeError(
                f"GRPO group uid={uid} got {have} of its {self.group_size} samples within "
                f"{self.timeout_s:.0f} s; set reward_kwargs.group_size to the rollout n in use "
                "(validation uses actor_rollout_ref.rollout.val_kwargs.n) and "
                "reward.num_workers=1") from None
        return {"reward_score": score, "reward_extra_info": {"judge_reward": score}}

    def _refuse_if_stuck(self) -> None:
        """On the streaming path every waiting sample holds one of the reward worker's calls; once
        all of them wait, the rest of their groups can never arrive. Fail them now, saying why,
        instead of after ``group_timeout_s``."""
        if len(self._groups) * (self.group_size - 1) < STREAMING_CALLS_AT_ONCE:
            return  # fewer wait: an incomplete group holds at most n - 1 (no walk per sample)
        waiting = [m for members in self._groups.values() for m in members]
        if len(waiting) < STREAMING_CALLS_AT_ONCE:
            return
        error = RuntimeError(
            f"JudgeRewardManager: {len(waiting)} samples of {len(self._groups)} GRPO groups wait "
            "for the rest of their groups, and verl's streaming reward path runs at most "
            f"{STREAMING_CALLS_AT_ONCE} reward calls at once per reward worker, so the rest can "
            "never arrive. Keep the samples of a step (data.train_batch_size x rollout.n, and "
            f"the validation batch x val_kwargs.n) at or below {STREAMING_CALLS_AT_ONCE}, or use "
            "verl's colocated reward path (reward.reward_model.enable=True, enable_resource_pool="
            "False and reward.custom_reward_function.path set), where a worker gets its share of "
            "the batch in one call")
        self._groups.clear()
        for *_, future in waiting:
            if not future.done():
                future.set_exception(error)

    async def _judge_group(self, uid: str, members: list[Any]) -> None:
        prompts = [m[0] for m in members]
        texts = [m[1] for m in members]
        references = [m[2] for m in members] if self.use_reference else None
        try:
            rewards, verdicts = await asyncio.get_running_loop().run_in_executor(
                None, lambda: judge_groups(self.judge, self.principle, prompts, texts,
                                           groups=[list(range(len(members)))],
                                           references=references, reward=self.reward))
            if rewards[0] is None:
                if self.invalid_score is None:
                    raise RuntimeError(f"the judge's verdict on GRPO group uid={uid} is invalid "
                                       f"({verdicts[0].error}); set reward_kwargs.invalid_score")
                rewards = [float(self.invalid_score)] * len(members)
        except Exception as error:  # every member of the group gets the error
            for *_, future in members:
                future.set_exception(error)
            return
        for (*_, future), value in zip(members, rewards, strict=True):
            future.set_result(float(value))


class EndogenousRewardManager(RewardManagerBase):
    """The endogenous reward of the policy's generated ids under its frozen copy.

    Options (``reward.reward_kwargs``): ``reward``, the reward's spec (``endogenous:PATH``,
    loaded once per worker; ``serve:URL`` of a ``rewardmine serve``; ``logprobs:MODEL@URL``, a
    vLLM/SGLang server's log-probabilities: the reward minus V(s_1)), or the older keys
    ``model`` / ``server_url`` / ``endogenous_base_url`` (+ ``api_key``) of
    :func:`rewardmine.rl.verl.verl_scorer`; ``system`` (rendered into the prompt; then the prompt
    is re-rendered from ``raw_prompt`` with the reward model's template), ``token_level`` (r_t on
    every response token; needs verl's colocated reward path). Every other key is the reward's
    setting (``dtype``, ``device``, ``aggregate``: "sum" or "mean", ``alpha``, ...).
    """

    def __init__(self, config: Any, tokenizer: Any, compute_score: Any,
                 reward_router_address: str | None = None, reward_model_tokenizer: Any = None,
                 **_: Any) -> None:
        super().__init__(config, tokenizer, compute_score)
        options, settings = _split(_options(config, type(self).__name__),
                                   ("token_level", "system", *ENDOGENOUS_SPEC_KEYS))
        self.token_level = bool(options.get("token_level", False))
        self.system = options.get("system")
        if self.token_level and streams_samples(config):
            raise ValueError(
                "token_level=True: verl 0.9.1 streams rewards from its agent loop as one float per "
                "response unless the reward model is colocated; set reward.reward_model.enable=True "
                "with reward.reward_model.enable_resource_pool=False, or drop token_level (the "
                "response reward then sits on the last token, as verl places every reward)")
        if self.token_level and not config.reward.custom_reward_function.get("path"):
            raise ValueError(
                "token_level=True with reward.reward_model.enable=True: verl 0.9.1 sends samples "
                "to this manager only when reward.custom_reward_function.path is set (else it asks "
                "its served reward model for a classifier score); set it to rewardmine/rl/verl.py")
        from rewardmine.rl.verl import router_url, verl_scorer

        spec = {**options, "endogenous_base_url": router_url(options.get("endogenous_base_url"),
                                                              reward_router_address)}
        self.scorer = verl_scorer(**{k: spec.get(k) for k in ENDOGENOUS_SPEC_KEYS}, **settings)
        if self.token_level and not hasattr(self.scorer, "token_rewards_ids"):
            raise ValueError("token_level=True needs V(s_t) at every position, which only a "
                             "local model gives (reward=endogenous:PATH or model=...)")
        own = getattr(self.scorer, "tokenizer", None)
        if own is not None and own.get_vocab() != tokenizer.get_vocab():
            raise ValueError(
                "EndogenousRewardManager scores the policy's token ids, but the reward model's "
                "tokenizer is not the policy's; use compute_score from rewardmine/rl/verl.py "
                "(it scores the decoded text) for a reward model with another tokenizer")

    async def run_single(self, data: Any) -> dict[str, Any]:
        state, actions = sample_ids(data)
        loop = asyncio.get_running_loop()
        if self.system is not None:
            from rewardmine.rollouts import prompt_state_ids

            state = list(prompt_state_ids(self.scorer, [_prompt(data[-1], "question")],
                                          system=self.system)[0])
        if self.token_level:
            (tokens,) = await loop.run_in_executor(
                None, lambda: self.scorer.token_rewards_ids([state], [actions]))
            return {"reward_score": list(tokens.rewards),
                    "reward_extra_info": {"endogenous_reward": tokens.total}}
        if hasattr(self.scorer, "score_ids"):
            (score,) = await loop.run_in_executor(
                None, lambda: self.scorer.score_ids([state], [actions]))
        else:  # a reward server: it renders the prompt itself
            prompt = _prompt(data[-1], "question")
            (score,) = await loop.run_in_executor(
                None, lambda: self.scorer.score_actions([prompt], [actions], system=self.system))
        return {"reward_score": float(score), "reward_extra_info": {"endogenous_reward": score}}

    @classmethod
    def assemble_rm_scores(cls, data: Any, scores: list[Any]) -> torch.Tensor:
        """Token rewards r_t on the response's tokens (scalars on the last one, as verl does)."""
        if not scores or not isinstance(scores[0], list):
            return super().assemble_rm_scores(data, scores)
        out = torch.zeros_like(data.batch["responses"], dtype=torch.float32)
        for row, values in enumerate(scores):
            out[row, : len(values)] = torch.tensor(values, dtype=torch.float32)
        return out

"""OpenRLHF: its reward protocol (queries = decoded prompt + response) and Python-file mode.

OpenRLHF 0.11's ``SingleTurnAgentExecutor`` sends, per rollout, ``query`` = the prompt's and the
generated response's token ids decoded *with* special tokens (no padding: an end-of-turn the
policy generated is the query's last text, a truncated response has none), ``prompts`` = the
prompt text as the policy saw it (template applied) and ``labels``, and expects
``{"rewards", "scores", "extra_logs"}``. :func:`split_queries` recovers each response as the
text after its prompt. Only text crosses this protocol, so the response is re-tokenized by the
reward model: where a BPE merge differs from what the policy generated, other tokens are scored
(docs/rl.md measures how often). The prompt is used as rendered text, so the reward model should
share the policy's template family (its frozen copy does).

Python-file mode: ``--reward.remote_url /path/to/rewardkit/rl/openrlhf_reward_func.py`` with the
model in the ``REWARDKIT_ENDOGENOUS_MODEL`` environment variable (OpenRLHF passes no options).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rewardkit.rl.common import score_text_pairs


def split_queries(queries: Sequence[str], prompts: Sequence[str], *,
                  pad_tokens: Sequence[str] = (), end_tokens: Sequence[str] = ()) -> list[str]:
    """The response part of each query: the text after its prompt.

    For older OpenRLHF releases, which decoded padded batches, padding text before the prompt and
    after the response is removed; a pad token that is also an end token (``end_tokens``: EOS or
    end-of-turn; SmolLM2 pads with its ``<|im_end|>``) keeps one copy at the end, because a
    padded response ended on its own and that end-of-turn is an action the policy took. A query
    that does not contain its prompt at the start raises, naming the item.
    """
    if len(queries) != len(prompts):
        raise ValueError(f"got {len(queries)} queries but {len(prompts)} prompts; OpenRLHF sends "
                         "parallel lists")
    pads = [p for p in pad_tokens if p]
    ends = {e for e in end_tokens if e}
    responses = []
    for i, (query, prompt) in enumerate(zip(queries, prompts, strict=True)):
        if not isinstance(query, str) or not isinstance(prompt, str):
            raise TypeError(f"item {i}: query and prompt must be strings")
        text = query
        stripped = True
        while stripped and not text.startswith(prompt):
            stripped = False
            for pad in pads:
                if text.startswith(pad):
                    text, stripped = text[len(pad):], True
        if not text.startswith(prompt):
            raise ValueError(
                f"item {i}: the query does not start with its prompt (query begins "
                f"{query[:60]!r}, prompt begins {prompt[:60]!r}); send prompts exactly as the "
                "policy saw them"
            )
        response = text[len(prompt):]
        kept = ""
        stripped = True
        while stripped:
            stripped = False
            for pad in pads:
                if response.endswith(pad):
                    response, stripped = response[: -len(pad)], True
                    kept = pad if pad in ends else kept
        responses.append(response + kept)
    return responses


def pad_tokens_of(tokenizer: Any) -> list[str]:
    """The padding token text(s) of a tokenizer (the pad token, or EOS when it pads with EOS)."""
    pad = getattr(tokenizer, "pad_token", None)
    return [pad] if pad else []


def end_tokens_of(tokenizer: Any) -> list[str]:
    """The texts of the tokens that end a response: EOS and the template's end-of-turn tokens."""
    if tokenizer is None:
        return []
    from rewardkit.rl.actions import end_ids

    return sorted({tokenizer.convert_ids_to_tokens(i) for i in end_ids(tokenizer)})


def endogenous_openrlhf_rewards(reward: Any, queries: Sequence[str], prompts: Sequence[str],
                                **options: Any) -> dict[str, Any]:
    """Endogenous rewards in OpenRLHF's response format (lists of floats)."""
    responses = split_queries(queries, prompts, pad_tokens=pad_tokens_of(reward.tokenizer),
                              end_tokens=end_tokens_of(reward.tokenizer))
    rewards = score_text_pairs(reward, prompts, responses, **options)
    return {"rewards": rewards, "scores": rewards,
            "extra_logs": {"endogenous_reward": rewards}}


def make_reward_func(reward: Any, **options: Any) -> Callable[..., dict[str, Any]]:
    """A ``reward_func(queries, prompts, labels)`` for OpenRLHF's Python-file mode."""

    def reward_func(queries: list[str], prompts: list[str], labels: list[Any] | None = None,
                    **kwargs: Any) -> dict[str, Any]:
        import torch

        out = endogenous_openrlhf_rewards(reward, queries, prompts, **options)
        tensor = torch.tensor(out["rewards"], dtype=torch.float32)
        return {"rewards": tensor, "scores": tensor, "extra_logs": {"endogenous_reward": tensor}}

    return reward_func

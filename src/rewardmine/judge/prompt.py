"""What the judge model reads: the system instruction and a JSON user message with masked ids.

The message structure is the one the RewardAnything model was trained on: a user turn holding a
JSON object with the keys ``principle``, ``prompt`` and ``responses`` (masked ids to texts), and an
answer ``{"scores": {id: int}, "best-to-worst": [ids]}`` after a thinking block. The wording of
the system instruction is rewardmine's own; ``system_prompt=`` on the judge replaces it.

Masking hides the caller's ids (which may leak a model name or an order) behind ``model-1`` ..
``model-n``, assigned after a permutation drawn from a generator the judge owns, so that each call
sees a fresh order and the caller's global random state is never touched.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rewardmine.chat import Message, Prompt, normalize_messages

Responses = Mapping[str, str] | Sequence[str]

SYSTEM_PROMPT = """\
You evaluate candidate responses to a prompt against a principle that defines what a good \
response is for this task.

The user message is a JSON object with three keys:
- "principle": the criterion to judge by. It overrides your own preferences; when it sets \
priorities (for example "correctness first, then brevity"), apply them in that order.
- "prompt": the conversation the responses answer.
- "responses": an object mapping an anonymous id to each candidate response. The ids and the \
order of the candidates carry no information; do not let either influence you.

First think it through: what the principle asks for, how each response fares against it, and \
how the responses compare with one another. Then give your verdict as a single JSON object and \
nothing after it:
{"scores": {"<id>": <integer from {low} to {high}>, ...}, "best-to-worst": ["<id>", ...]}
Score every id exactly once ({high} = fully satisfies the principle, {low} = clearly violates it). \
"best-to-worst" lists every id exactly once, best first, and must agree with the scores: a \
response with a higher score comes before one with a lower score."""


def system_prompt(scale: tuple[int, int] = (1, 5)) -> str:
    """The default system instruction for a score scale ``(low, high)``."""
    low, high = scale
    return SYSTEM_PROMPT.replace("{low}", str(low)).replace("{high}", str(high))


def normalize_responses(responses: Responses) -> dict[str, str]:
    """Responses as an ordered ``{id: text}``; a list gets the ids "0", "1", ...

    An empty string is a valid candidate (a model can answer with nothing, and a judge should rank
    that), so it is kept. Ids must be distinct non-empty strings and texts strings; anything else
    raises naming the offending item.
    """
    if isinstance(responses, Mapping):
        items = list(responses.items())
    elif isinstance(responses, Sequence) and not isinstance(responses, str):
        items = [(str(i), text) for i, text in enumerate(responses)]
    else:
        raise TypeError(
            "responses must be a dict of ids to texts or a list of texts, "
            f"not {type(responses).__name__}"
        )
    if not items:
        raise ValueError("responses is empty; give at least one candidate response")
    out: dict[str, str] = {}
    for key, text in items:
        if not isinstance(key, str) or not key:
            raise TypeError(f"response id {key!r} must be a non-empty string")
        if key in out:
            raise ValueError(f"response id {key!r} appears twice; ids must be distinct")
        if not isinstance(text, str):
            raise TypeError(
                f"response {key!r} is a {type(text).__name__}; each response must be a string"
            )
        out[key] = text
    return out


def render_prompt(prompt: Prompt) -> str:
    """The ``prompt`` field: a string as is, a conversation as a plain transcript.

    The released model was trained on string prompts, so a list of messages is written out as
    ``Role: content`` paragraphs rather than nested JSON.
    """
    if isinstance(prompt, str):
        return prompt
    messages = normalize_messages(prompt)
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


@dataclass(frozen=True)
class MaskedRequest:
    """One request as the model sees it, and the way back to the caller's ids.

    ``shown`` maps masked ids (``model-1`` ..) to texts in the order shown; ``to_caller`` maps each
    masked id to the caller's id.
    """

    messages: list[Message]
    shown: dict[str, str]
    to_caller: dict[str, str]

    @property
    def ids(self) -> list[str]:
        return list(self.shown)


def masked_ids(n: int) -> list[str]:
    return [f"model-{i}" for i in range(1, n + 1)]


def build_request(principle: str, prompt: Prompt, responses: dict[str, str], *,
                  rng: random.Random, system: str) -> MaskedRequest:
    """Shuffle ``responses`` with ``rng``, mask their ids, and write the chat messages."""
    if not isinstance(principle, str) or not principle.strip():
        raise ValueError("principle must be a non-empty string saying what a good response is")
    order = list(responses)
    rng.shuffle(order)
    ids = masked_ids(len(order))
    shown = {masked: responses[original] for masked, original in zip(ids, order, strict=True)}
    payload = {"principle": principle, "prompt": render_prompt(prompt), "responses": shown}
    user = json.dumps(payload, ensure_ascii=False, indent=2)
    messages: list[Message] = [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    ]
    return MaskedRequest(messages, shown, dict(zip(ids, order, strict=True)))

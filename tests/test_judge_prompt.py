"""The judge's prompt: message structure, masking and response normalisation."""

from __future__ import annotations

import json
import random

import pytest

from rewardmine.judge.prompt import build_request, normalize_responses, render_prompt, system_prompt


def test_user_message_is_json_with_masked_ids_and_texts_kept():
    responses = {"gpt": "Four.", "claude": "It is 4.", "empty": ""}
    request = build_request("Be correct.", "What is 2+2?", responses,
                            rng=random.Random(0), system=system_prompt())
    assert [m["role"] for m in request.messages] == ["system", "user"]
    payload = json.loads(request.messages[1]["content"])
    assert list(payload) == ["principle", "prompt", "responses"]
    assert payload["principle"] == "Be correct." and payload["prompt"] == "What is 2+2?"
    assert list(payload["responses"]) == ["model-1", "model-2", "model-3"]
    # every caller id maps back to the text shown under its masked id
    for masked, caller in request.to_caller.items():
        assert payload["responses"][masked] == responses[caller]
    assert sorted(request.to_caller.values()) == sorted(responses)
    assert "gpt" not in request.messages[1]["content"]


def test_permutations_differ_across_calls_and_follow_the_seed():
    responses = {str(i): f"text {i}" for i in range(6)}

    def orders(seed):
        rng = random.Random(seed)
        return [tuple(build_request("p", "q", responses, rng=rng, system="s").to_caller.values())
                for _ in range(5)]

    first = orders(1)
    assert len(set(first)) > 1  # a fresh order on each call
    assert first == orders(1)  # reproducible from the seed
    assert first != orders(2)


def test_global_random_state_is_untouched():
    state = random.getstate()
    build_request("p", "q", {"a": "1", "b": "2"}, rng=random.Random(3),
                  system="s")
    assert random.getstate() == state


def test_conversation_prompt_is_a_transcript():
    text = render_prompt([{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Hi"}])
    assert text == "System: Be brief.\n\nUser: Hi"
    assert render_prompt([{"role": "user", "content": "Hi"}]) == "Hi"


def test_system_prompt_has_the_scale_and_output_keys():
    text = system_prompt((1, 10))
    assert "1 to 10" in text and '"best-to-worst"' in text and '"scores"' in text


def test_normalize_responses():
    assert normalize_responses(["a", ""]) == {"0": "a", "1": ""}  # empty text is a candidate
    with pytest.raises(ValueError, match="empty"):
        normalize_responses([])
    with pytest.raises(TypeError, match="response 'x' is a int"):
        normalize_responses({"x": 3})
    with pytest.raises(TypeError, match="id 1"):
        normalize_responses({1: "a"})
    with pytest.raises(ValueError, match="'a' appears twice"):
        normalize_responses(_Pairs([("a", "x"), ("a", "y")]))
    with pytest.raises(ValueError, match="principle"):
        build_request(" ", "q", {"a": "b"}, rng=random.Random(0), system="s")


class _Pairs(dict):
    """A mapping whose items() repeats a key, as a list of (id, text) pairs would."""

    def __init__(self, pairs):
        super().__init__(pairs)
        self._pairs = pairs

    def items(self):
        return self._pairs

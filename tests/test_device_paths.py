"""Every device-dependent branch runs on the CPU: the GPU's path, forced by a setting, against the
CPU's own (fp32: 1e-4 per token; verdicts identical under greedy decoding).

Where code decides by device it takes a setting that picks the other side: the endogenous head's
dtype (``head_dtype=None``: the model's own, as on a GPU) and its chunk size
(``head_chunk_bytes``: 64 MiB on a GPU), and the judge's prefill (``prefill="batched"``: one
left-padded batch, as on a GPU; "serial" on a CPU).
"""

from __future__ import annotations

import random

import pytest
import torch

from judge_fixtures import save_tiny_judge
from reference import reference_rewards
from rewardmine import EndogenousReward, PrincipleJudge
from rewardmine.judge.backends import GenerationRequest
from rewardmine.judge.prompt import build_request

PROMPTS = ["What is 2+2?", [{"role": "user", "content": "Sort 3 1 2, then explain."}],
           "Name a colour."]
RESPONSES = ["It is 4.", "1 2 3 because one is less than two, and two less than three.", ""]


def test_the_gpu_head_path_equals_the_cpu_one(model, tokenizer):
    """head_dtype=None and 64 MiB chunks (a GPU's choice) against fp32 and 16 MiB (the CPU's), and
    a chunk of a few positions, all against the fp64 reference, per token."""
    cpu = EndogenousReward(model, tokenizer, progress=False)
    gpu = EndogenousReward(model, tokenizer, head_dtype=None, head_chunk_bytes=64 * 2**20,
                           progress=False)
    tiny = EndogenousReward(model, tokenizer, head_chunk_bytes=4 * len(tokenizer) * 3,
                            progress=False)
    assert gpu._head_chunk != cpu._head_chunk and tiny._head_chunk == 3
    for prompt, response in zip(PROMPTS, RESPONSES, strict=True):
        pair = cpu.encoder.encode(prompt, response)
        want, _, _ = reference_rewards(model, pair.prompt_ids, pair.action_ids)
        for reward in (cpu, gpu, tiny):
            got = reward.token_rewards(prompt, response).rewards
            assert got == pytest.approx(want, abs=1e-4)
    assert gpu.score_many(PROMPTS, RESPONSES) == pytest.approx(
        cpu.score_many(PROMPTS, RESPONSES), abs=1e-4)


@pytest.fixture(scope="module")
def judge_path(tmp_path_factory):
    return save_tiny_judge(tmp_path_factory.mktemp("device-judge"))


def test_the_gpu_prefill_gives_the_cpu_verdicts(judge_path):
    """The judge's batched left-padded prefill (a GPU's) against its serial one (a CPU's): the
    same greedy tokens for lists of different lengths decoded together."""
    rng = random.Random(3)
    requests = [GenerationRequest(build_request(
        "Be correct.", f"Question {k}: what is {k}+{k}?",
        {"a": "x " * rng.randint(1, 30), "b": str(2 * k)}, rng=random.Random(k),
        system="Judge.").messages) for k in range(6)]
    replies = {}
    for prefill in ("serial", "batched"):
        judge = PrincipleJudge.from_pretrained(str(judge_path), max_new_tokens=16, batch_size=6,
                                               thinking=False, prefill=prefill, device="cpu",
                                               dtype="float32")
        assert judge.backend.prefill == prefill
        replies[prefill] = [g.text for g in judge.backend.generate(
            requests, options=judge.options, seed=0)]
    assert replies["serial"] == replies["batched"]
    assert len(set(replies["serial"])) > 1  # the rows differ, so the comparison says something
    with pytest.raises(ValueError, match="prefill must be"):
        PrincipleJudge.from_pretrained(str(judge_path), prefill="padded")


def test_a_bf16_body_keeps_its_fp32_head_on_a_cpu_and_follows_the_body_on_a_gpu(saved_model):
    auto = EndogenousReward.from_pretrained(saved_model, dtype="bfloat16", device="cpu")
    assert auto.head.weight.dtype == torch.float32  # the CPU's choice
    gpu_like = EndogenousReward.from_pretrained(saved_model, dtype="bfloat16", device="cpu",
                                                head_dtype=None)
    assert gpu_like.head.weight.dtype == torch.bfloat16  # a GPU's: the model's dtype
    [a], [b] = auto.score("What is 2+2?", ["4"]), gpu_like.score("What is 2+2?", ["4"])
    assert a == pytest.approx(b, abs=0.5)  # bf16 rounding of the head, no more

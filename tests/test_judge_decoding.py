"""The judge's decoding loop against transformers' own ``generate``: the same logits at every step
and the same tokens, with the prompts' common prefix prefilled once, rows padded, and finished
rows leaving the batch."""

from __future__ import annotations

import pytest
import torch

from rewardmine.judge.backends.decoding import decode, nucleus, plain_attention_cache
from rewardmine.testing import build_model

VOCAB = 97
SHARED = [5, 9, 14, 3, 22, 41, 7, 8, 30, 31, 2, 19]
PROMPTS = [[*SHARED, 40, 41, 42], SHARED + [50] * 7, [*SHARED, 60], [*SHARED[:9], 70, 71]]


class Recorder:
    """A ``constrain`` that changes nothing and keeps every row's logits at every step."""

    def __init__(self, n: int) -> None:
        self.steps: list[list[torch.Tensor]] = [[] for _ in range(n)]
        self.batches: list[list[int]] = []

    def __call__(self, rows, new, scores):
        self.batches.append(list(rows))
        for k, row in enumerate(rows):
            self.steps[row].append(scores[k].clone())
        return scores


def run(model, prompts, *, plain_cache=True, stop_ids=(VOCAB + 1,), max_new_tokens=8, **kw):
    recorder = Recorder(len(prompts))
    tokens = decode(model, prompts, max_new_tokens=max_new_tokens, stop_ids=list(stop_ids),
                    pad_id=0, plain_cache=plain_cache, seed=0, constrain=recorder, **kw)
    return tokens, recorder


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def model(request):
    return build_model(request.param, VOCAB, seed=1, initializer_range=0.3)


def test_generate_is_the_reference_for_one_prompt(model):
    for prompt in PROMPTS:
        tokens, recorder = run(model, [prompt])
        reference = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                                   output_scores=True, return_dict_in_generate=True,
                                   pad_token_id=0, eos_token_id=VOCAB + 1, temperature=None,
                                   top_p=None, top_k=None)
        assert tokens == [reference.sequences[0, len(prompt):].tolist()]
        for mine, theirs in zip(recorder.steps[0], reference.scores, strict=True):
            torch.testing.assert_close(mine, theirs[0].float(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("serial_prefill", [True, False])
def test_a_shared_prefix_and_padding_change_no_logit(model, serial_prefill):
    assert plain_attention_cache(model, 0)
    together, batched = run(model, PROMPTS, serial_prefill=serial_prefill)
    for row, prompt in enumerate(PROMPTS):
        alone, single = run(model, [prompt])
        assert together[row] == alone[0]
        for mine, reference in zip(batched.steps[row], single.steps[0], strict=True):
            torch.testing.assert_close(mine, reference, atol=1e-4, rtol=0)
    # and the same with transformers' cache on one left-padded prefill of whole prompts
    unshared, _ = run(model, PROMPTS, plain_cache=False)
    assert unshared == together


@pytest.mark.parametrize("plain_cache", [True, False])
def test_finished_rows_leave_the_batch_and_the_rest_go_on(model, plain_cache):
    free, _ = run(model, PROMPTS)
    stop = free[2][1]  # row 2 ends on its second token; others may end where they make it too
    together, batched = run(model, PROMPTS, stop_ids=[stop], plain_cache=plain_cache)
    for row, prompt in enumerate(PROMPTS):
        alone, _ = run(model, [prompt], stop_ids=[stop])
        assert together[row] == alone[0]
        if stop in alone[0]:
            assert alone[0].index(stop) == len(alone[0]) - 1  # it ends on the stop, included
        else:
            assert len(alone[0]) == 8
    assert together[2] == free[2][:2]
    assert batched.batches[0] == [0, 1, 2, 3] and 2 not in batched.batches[2]
    assert all(len(b) <= len(a) for a, b in zip(batched.batches, batched.batches[1:],
                                                   strict=False))


def test_no_stop_before_min_new_tokens(model):
    free, _ = run(model, PROMPTS)
    stop = free[0][0]  # row 0 would stop at once
    ended, _ = run(model, PROMPTS, stop_ids=[stop])
    assert ended[0] == [stop]
    held, _ = run(model, PROMPTS, stop_ids=[stop], min_new_tokens=3)
    for tokens in held:
        assert len(tokens) >= 3 and stop not in tokens[:3]


def test_a_sliding_window_model_shares_no_prefix():
    model = build_model("gemma2", VOCAB, seed=3, sliding_window=8)
    assert not plain_attention_cache(model, 0)
    together, batched = run(model, PROMPTS, plain_cache=False)
    for row, prompt in enumerate(PROMPTS):
        alone, single = run(model, [prompt], plain_cache=False)
        assert together[row] == alone[0]
        for mine, reference in zip(batched.steps[row], single.steps[0], strict=True):
            torch.testing.assert_close(mine, reference, atol=1e-4, rtol=0)


def test_sampling_is_seeded_and_leaves_the_global_generator_alone(model):
    state = torch.random.get_rng_state()

    def sample(seed):
        return decode(model, PROMPTS, max_new_tokens=8, stop_ids=[VOCAB + 1], pad_id=0,
                      plain_cache=True, seed=seed, temperature=1.5, top_p=0.9)

    assert sample(5) == sample(5)
    assert sample(5) != sample(6)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_nucleus_keeps_what_transformers_top_p_keeps():
    from transformers.generation.logits_process import TopPLogitsWarper

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 50, generator=generator) * 3
    for top_p in (0.1, 0.5, 0.9, 0.99):
        kept = nucleus(torch.softmax(logits, dim=-1), top_p) > 0
        theirs = torch.isfinite(TopPLogitsWarper(top_p)(None, logits.clone()))
        assert torch.equal(kept, theirs), top_p
    probs = torch.softmax(logits, dim=-1)
    assert torch.equal(nucleus(probs, 1.0), probs)


def test_bad_arguments_are_refused(model):
    with pytest.raises(ValueError, match="max_new_tokens"):
        decode(model, PROMPTS, max_new_tokens=0, stop_ids=[1], pad_id=0, plain_cache=True,
               seed=0)
    with pytest.raises(ValueError, match="at least one token"):
        decode(model, [[1, 2], []], max_new_tokens=2, stop_ids=[1], pad_id=0,
               plain_cache=True, seed=0)

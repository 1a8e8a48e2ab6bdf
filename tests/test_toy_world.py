"""The sorting world: seeded draws, the expert, corruptions, and the world's tokenizer."""

from __future__ import annotations

import itertools
import random

import pytest
from experiments.toy.train import TrainConfig, encode_examples, training_lists

from rewardmine.chat import ChatEncoder
from rewardmine.toy import world
from rewardmine.toy.vocab import build_sort_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_sort_tokenizer()


def test_draws_depend_on_the_seed_alone():
    a = world.random_lists(200, lengths=range(2, 9), seed=5)
    b = world.random_lists(200, lengths=range(2, 9), seed=5)
    c = world.random_lists(200, lengths=range(2, 9), seed=6)
    assert a == b and a != c
    assert {len(d) for d in a} == set(range(2, 9))
    assert all(0 <= x <= 9 for d in a for x in d)


def test_training_set_is_reproducible_and_exclusion_holds():
    config = TrainConfig(examples=3000)
    train = training_lists(config)
    assert train == training_lists(TrainConfig(examples=3000))
    held = world.random_lists(500, lengths=[3, 4], seed=1, exclude=set(train))
    assert not set(held) & set(train)
    with pytest.raises(ValueError, match="too few"):
        world.random_lists(10, lengths=[1], seed=0, exclude={(d,) for d in range(10)})


def test_expert_sorts_and_matches_brute_force():
    for digits in itertools.product(range(3), repeat=4):
        answer = world.expert(digits)
        values = [int(x) for x in answer.split(" ")]
        # brute force: the only ascending permutation of the digits
        ascending = {p for p in itertools.permutations(digits)
                     if all(a <= b for a, b in itertools.pairwise(p))}
        assert ascending == {tuple(values)}
    assert world.parse_prompt(world.prompt_text((3, 1, 4))) == (3, 1, 4)


@pytest.mark.parametrize("bad", [(), (10,), (1, -1), ("1",), (True,)])
def test_bad_digits_are_rejected_by_name(bad):
    with pytest.raises(ValueError, match=r"element|empty"):
        world.prompt_text(bad)


def test_corruptions_change_exactly_what_they_say():
    rng = random.Random(0)
    for digits in world.random_lists(300, lengths=range(2, 9), seed=3):
        right = sorted(digits)
        sub = world.corrupt(digits, "substitute", rng)
        wrong = [int(x) for x in sub.text.split(" ")]
        diff = [i for i, (a, b) in enumerate(zip(right, wrong, strict=True)) if a != b]
        assert diff == [sub.element] == [sub.token]
        for kind, delta in (("drop", -1), ("insert", 1)):
            c = world.corrupt(digits, kind, rng)
            wrong = [int(x) for x in c.text.split(" ")]
            assert len(wrong) == len(right) + delta
            a, b = [*right, -1], [*wrong, -1]
            assert a[: c.token] == b[: c.token] and a[c.token] != b[c.token]
    with pytest.raises(ValueError, match="kind"):
        world.corrupt((1, 2), "swap", rng)  # type: ignore[arg-type]


def test_tokenizer_round_trip_and_one_token_per_digit(tokenizer):
    encoder = ChatEncoder(tokenizer)
    for digits in world.random_lists(50, lengths=range(1, 13), seed=9):
        prompt = world.messages(digits)
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        assert text.endswith("<|im_start|>assistant\n")
        full = text + world.expert(digits) + "<|im_end|>"
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == full
        assert tokenizer.unk_token_id not in ids
        pair = encoder.encode(prompt, world.expert(digits))
        assert pair.boundary == "in_context"
        assert len(pair.action_ids) == len(digits) + 1
        assert pair.action_ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
        assert tokenizer.decode(pair.action_ids[:-1]) == world.expert(digits)
    system = tokenizer.apply_chat_template(
        [{"role": "system", "content": "sort:"}, {"role": "user", "content": "sort: 1"}],
        tokenize=False)
    assert system.startswith("<|im_start|>system\nsort:<|im_end|>\n<|im_start|>user\n")
    assert tokenizer("hello", add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]


def test_saved_tokenizer_loads_with_auto_tokenizer(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = tokenizer.apply_chat_template(world.messages((5, 0, 5)), tokenize=False,
                                         add_generation_prompt=True) + "0 5 5<|im_end|>"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.chat_template == tokenizer.chat_template


def test_training_examples_are_the_chat_encoders_tokens(tokenizer):
    lists = world.random_lists(200, lengths=range(1, 12), seed=4)
    encoder = ChatEncoder(tokenizer)
    for digits, (prompt_ids, action_ids) in zip(lists, encode_examples(lists, tokenizer),
                                                 strict=True):
        pair = encoder.encode(world.messages(digits), world.expert(digits))
        assert (pair.prompt_ids, pair.action_ids) == (prompt_ids, action_ids)

"""The answer checking and the held-out split of experiments/self_improvement_smollm2.py (no model)."""

from __future__ import annotations

import experiments.self_improvement_smollm2 as si
import pytest


@pytest.mark.parametrize("reply, expected", [
    ("59 + 63 = 122", 122),
    ("To solve this, add 61 and 48. 61 + 48 equals 109.", 109),
    ("The answer is 1,234.", 1234),
    ("15 - 43 = -28", -28),
    ("I cannot tell.", None),
    ("", None),
])
def test_the_last_integer_of_the_reply_is_the_answer(reply, expected):
    assert si.parse_answer(reply) == expected


def test_correctness_needs_the_exact_integer():
    assert si.is_correct("47 + 5 = 52", 52)
    assert not si.is_correct("47 + 5 = 53", 52)
    assert not si.is_correct("52.5", 52)  # the last integer is 5
    assert si.correct_func([None, None], ["= 52", [{"role": "assistant", "content": "12"}]],
                           answer=[52, 13]) == [1.0, 0.0]


def test_every_task_answer_is_its_arithmetic():
    for name, (_, build) in si.TASKS.items():
        for question, answer in build():
            words = question.replace("?", " ").replace(".", " ").split()
            a, b = [int(n) for n in words if n.isdigit()]
            assert answer == (a - b if " - " in question else a + b), (name, question)


def test_the_held_out_set_is_fixed_and_disjoint_from_training():
    held_out, pool = si.split("add-2d1d", eval_count=300, seed=0)
    again, _ = si.split("add-2d1d", eval_count=300, seed=0)
    assert held_out == again and len(held_out) == 300 and len(pool) == 90 * 9 - 300
    assert not {q for q, _ in held_out} & {q for q, _ in pool}
    assert si.split("add-2d1d", eval_count=300, seed=1)[0] != held_out
    with pytest.raises(ValueError, match=r"add-1d.*100 distinct problems"):
        si.split("add-1d", eval_count=100, seed=0)


def test_the_prompt_asks_for_the_number_alone():
    assert si.messages("What is 2 + 3?") == [
        {"role": "user", "content": "What is 2 + 3? Reply with only the number."}]

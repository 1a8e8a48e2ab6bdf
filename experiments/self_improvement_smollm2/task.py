"""The task: generated arithmetic questions, their prompt, the answer check and the three splits."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INSTRUCTION = "Reply with only the number."

Problem = tuple[str, int]  # (question, answer)


def _add(a_range: range, b_range: range) -> list[Problem]:
    return [(f"What is {a} + {b}?", a + b) for a in a_range for b in b_range]


def _sub(a_range: range, b_range: range) -> list[Problem]:
    return [(f"What is {a} - {b}?", a - b) for a in a_range for b in b_range if a >= b]


def _apples(a_range: range, b_range: range) -> list[Problem]:
    return [(f"Tom has {a} apples and buys {b} more. How many apples does he have now?", a + b)
            for a in a_range for b in b_range]


# name -> (description, every distinct (question, answer) of the task)
TASKS: dict[str, tuple[str, Callable[[], list[Problem]]]] = {
    "add-1d": ("a + b, a and b in 0..9", lambda: _add(range(10), range(10))),
    "add-2d1d": ("a + b, a in 10..99, b in 1..9", lambda: _add(range(10, 100), range(1, 10))),
    "add-2d2d": ("a + b, a and b in 10..99", lambda: _add(range(10, 100), range(10, 100))),
    "sub-2d1d": ("a - b, a in 10..99, b in 1..9", lambda: _sub(range(10, 100), range(1, 10))),
    "apples-2d1d": ("'Tom has a apples and buys b more...', a in 10..99, b in 1..9",
                    lambda: _apples(range(10, 100), range(1, 10))),
}

_INTEGER = re.compile(r"-?\d[\d,]*")


def parse_answer(text: str) -> int | None:
    """The last integer in a reply ("59 + 63 = 122." -> 122), commas removed; None if none."""
    found = _INTEGER.findall(text)
    return int(found[-1].replace(",", "")) if found else None


def is_correct(text: str, answer: int) -> bool:
    return parse_answer(text) == answer


def messages(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{question} {INSTRUCTION}"}]


def correct_func(prompts: list[Any], completions: list[Any], answer: list[int],
                 **kwargs: Any) -> list[float]:
    """1.0 where the reply's last integer is the answer; logged by TRL, weighted 0 in the reward."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(is_correct(t, a)) for t, a in zip(texts, answer, strict=True)]


def operands(question: str) -> tuple[int, int]:
    a, b = (int(n) for n in re.findall(r"\d+", question))
    return a, b


@dataclass(frozen=True)
class Splits:
    """Disjoint sets of questions: ``test`` reports the result, ``validation`` chooses what is
    chosen (the untrained model's best decoding), ``train`` feeds GRPO's prompts."""

    test: list[Problem]
    validation: list[Problem]
    train: list[Problem]


def split(task: str, *, test: int, validation: int, seed: int) -> Splits:
    """A seeded shuffle of every distinct problem of the task: the first ``test`` are the test
    set, the next ``validation`` the validation set, the rest the training pool, so no two
    share a question. (The test set is the held-out set of the earlier, uncontrolled run.)"""
    items = TASKS[task][1]()
    if test + validation >= len(items):
        raise ValueError(f"task {task!r} has {len(items)} distinct problems, too few for "
                         f"{test} test and {validation} validation questions plus training "
                         "prompts; lower --test-items or --validation-items")
    random.Random(seed).shuffle(items)
    return Splits(items[:test], items[test:test + validation], items[test + validation:])

"""The sorting world: a task family whose expert is known exactly and whose horizon is a dial.

A task is a list of digits; the prompt is ``"sort: 3 1 4 1 5"`` and the one right answer is the
digits in ascending order, ``"1 1 3 4 5"``. The list length n sets the horizon: an answer is n
digit tokens (each carries its leading space, see :mod:`rewardmine.toy.vocab`), then the
end-of-turn token. Every list comes from a
caller-owned seed, so the training set, the held-out set and their corruptions are reproducible.

Corruptions of a right answer are the wrong answers the claims test against: a single-token one
(one digit replaced by another) and length-changing ones (one element dropped or one extra digit
inserted).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Digits = tuple[int, ...]
CorruptionKind = Literal["substitute", "drop", "insert"]

TRAIN_LENGTHS = range(2, 9)


def prompt_text(digits: Sequence[int]) -> str:
    """The user turn for ``digits``: ``"sort: 3 1 4"``."""
    _check_digits(digits)
    return "sort: " + " ".join(str(d) for d in digits)


def answer_text(digits: Sequence[int]) -> str:
    """The answer written as the model writes it: digits separated by single spaces."""
    _check_digits(digits)
    return " ".join(str(d) for d in digits)


def expert(digits: Sequence[int]) -> str:
    """The expert's answer to ``digits``: the same digits in ascending order."""
    return answer_text(sorted(digits))


def parse_prompt(text: str) -> Digits:
    """The digits of a prompt made by :func:`prompt_text`; ``ValueError`` naming it otherwise."""
    head, _, rest = text.partition(" ")
    parts = rest.split(" ")
    if head != "sort:" or not rest or not all(len(p) == 1 and p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a sorting prompt; expected e.g. 'sort: 3 1 4'")
    return tuple(int(p) for p in parts)


def messages(digits: Sequence[int]) -> list[dict[str, str]]:
    """The chat messages of the task: one user turn (the model was trained without a system turn)."""
    return [{"role": "user", "content": prompt_text(digits)}]


def _check_digits(digits: Sequence[int]) -> None:
    if len(digits) == 0:
        raise ValueError("a task needs at least one digit; got an empty list")
    for i, d in enumerate(digits):
        if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 9:
            raise ValueError(f"element {i} is {d!r}; every element must be an int from 0 to 9")


def random_lists(count: int, *, lengths: Iterable[int], seed: int,
                 exclude: frozenset[Digits] | set[Digits] = frozenset()) -> list[Digits]:
    """``count`` digit lists with lengths drawn uniformly from ``lengths``, from ``seed`` alone.

    Draws are independent (a list may repeat). Lists in ``exclude`` are redrawn (use it to hold
    out the training set); ``ValueError`` when it leaves under 1% of the lists, rather than
    drawing for ever.
    """
    choices = sorted(set(lengths))
    if count < 0 or not choices or choices[0] < 1:
        raise ValueError(f"need count >= 0 and lengths >= 1; got count={count}, lengths={choices}")
    total = sum(10**n for n in choices)
    free = total - len({d for d in exclude if len(d) in choices})
    if count > 0 and free * 100 < total:
        raise ValueError(
            f"lengths {choices} leave {free} of {total} lists outside `exclude`, too few to draw "
            "from; use longer lists"
        )
    rng = random.Random(seed)
    out: list[Digits] = []
    while len(out) < count:
        n = rng.choice(choices)
        digits = tuple(rng.randrange(10) for _ in range(n))
        if digits not in exclude:
            out.append(digits)
    return out


@dataclass(frozen=True)
class Corruption:
    """A wrong answer made from a right one.

    ``element`` is the index (in the list of answer elements) of the changed element: the replaced
    digit, the first element after a dropped one (``len`` if the last was dropped), or the
    inserted digit. ``token`` is the index of the first action token that differs from the right
    answer's actions (action t is element t; action n, after the last element, is the
    end-of-turn token). For a substitution ``token == element``; a drop or an insert may first
    differ later (dropping one of two equal digits differs where the run ends).
    """

    kind: CorruptionKind
    text: str
    element: int
    token: int


def corrupt(digits: Sequence[int], kind: CorruptionKind, rng: random.Random) -> Corruption:
    """A ``kind`` corruption of the expert answer to ``digits``, drawn with ``rng``."""
    right = sorted(digits)
    if kind == "substitute":
        i = rng.randrange(len(right))
        wrong = right.copy()
        wrong[i] = rng.choice([d for d in range(10) if d != right[i]])
    elif kind == "drop":
        if len(right) < 2:
            raise ValueError("cannot drop an element from a one-element answer")
        i = rng.randrange(len(right))
        wrong = right[:i] + right[i + 1:]
    elif kind == "insert":
        i = rng.randrange(len(right) + 1)
        wrong = [*right[:i], rng.randrange(10), *right[i:]]
    else:
        raise ValueError(f"kind must be 'substitute', 'drop' or 'insert', not {kind!r}")
    return Corruption(kind, answer_text(wrong), i, _first_difference(right, wrong))


def _first_difference(right: list[int], wrong: list[int]) -> int:
    """The first action at which the two answers differ (-1 stands for the end-of-turn token)."""
    a, b = [*right, -1], [*wrong, -1]
    return next(t for t, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)

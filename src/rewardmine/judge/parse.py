"""Reading a judge's output: one public function, :func:`parse_judgement`, used by every backend.

A well-formed output is a thinking block followed by ``{"scores": {id: int}, "best-to-worst":
[ids]}``. Real models wrap the JSON in code fences or prose, leave trailing commas, misspell the
ranking key, renumber ids, forget one, or rank against their own scores. The parser accepts the
harmless wrappings as they are (status "ok"), fixes defects that have exactly one sensible reading
(status "repaired", and ``repairs`` lists each repair), and reports the rest as "invalid" with the
reason, so the judge can retry. It never returns empty scores as a success.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from rewardmine.io import unique_keys
from rewardmine.types import Judgement

RANKING_KEY = "best-to-worst"
_RANKING_ALIASES = {
    "besttoworst", "besttoworse", "bestworst", "besttolowest", "bestfirst", "ranking",
    "rankings", "rank", "order", "ordering",
}
_SCORE_ALIASES = {"score", "scoring", "rating", "ratings"}


class InvalidVerdict(Exception):
    """The output cannot be read as a verdict; the message is the reason shown to the user."""


@dataclass
class _Notes:
    repairs: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.repairs.append(text)


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def split_thinking(text: str) -> tuple[str, str]:
    """``(reasoning, answer)``: the thinking block and what follows it.

    Handles ``<think>...</think>``, a closing tag alone (templates that open the block in the
    prompt), and no block at all (the reasoning is then any prose before the JSON).
    """
    close = text.rfind("</think>")
    if close >= 0:
        reasoning = text[:close]
        opened = reasoning.find("<think>")
        if opened >= 0:
            reasoning = reasoning[opened + len("<think>"):]
        return reasoning.strip(), text[close + len("</think>"):]
    if "<think>" in text:
        raise InvalidVerdict(
            "the thinking block is never closed: generation stopped inside it "
            "(raise max_new_tokens, or turn thinking off)"
        )
    return "", text


def json_objects(text: str) -> tuple[list[tuple[int, int]], bool]:
    """Spans of top-level balanced ``{...}`` in ``text`` (string-aware), and whether one is cut off."""
    spans, depth, start, in_string, escaped = [], 0, -1, False, False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"' and depth > 0:
            in_string = True
        elif char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    return spans, depth > 0


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_UNQUOTED_KEY = re.compile(r"([{,]\s*)([A-Za-z_][\w\-]*)(\s*:)")


def loads(text: str) -> Any:
    """``json.loads`` that refuses an object giving one key twice (json would keep the last
    value silently, so a verdict could score an id twice and pass): an InvalidVerdict."""
    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError:
        raise
    except ValueError as error:  # unique_keys: a key given twice
        raise InvalidVerdict(f"the answer is not one verdict: {error}") from None


def _load(candidate: str, notes: _Notes) -> Any:
    try:
        return loads(candidate)
    except json.JSONDecodeError as error:
        first_error = error
    fixed, applied = candidate, []
    for name, fix in (
        ("removed trailing commas", lambda s: _TRAILING_COMMA.sub(r"\1", s)),
        ("quoted bare keys", lambda s: _UNQUOTED_KEY.sub(r'\1"\2"\3', s)),
        ("replaced single quotes", lambda s: s.replace("'", '"') if '"' not in s else s),
    ):
        changed = fix(fixed)
        if changed == fixed:
            continue
        fixed = changed
        applied.append(name)
        try:
            value = loads(fixed)
        except json.JSONDecodeError:
            continue
        notes.add("JSON syntax: " + ", ".join(applied))
        return value
    raise InvalidVerdict(f"the answer is not valid JSON ({first_error.msg} at char {first_error.pos})")


def _find_answer(answer: str, notes: _Notes) -> dict[str, Any]:
    spans, cut_off = json_objects(answer)
    found: list[dict[str, Any]] = []
    errors: list[InvalidVerdict] = []
    for start, end in spans:
        attempt = _Notes()
        try:
            value = _load(answer[start:end], attempt)
        except InvalidVerdict as error:
            errors.append(error)
            continue
        if isinstance(value, dict) and any(
            _norm(k) in {"scores", *_SCORE_ALIASES} for k in value
        ):
            found.append(value)
            last_notes = attempt
    if found:
        notes.repairs.extend(last_notes.repairs)
        return found[-1]  # the final verdict, after any JSON quoted while reasoning
    if errors:
        raise errors[-1]
    if cut_off:
        raise InvalidVerdict("the answer JSON is cut off (raise max_new_tokens)")
    if spans:
        raise InvalidVerdict('the answer JSON has no "scores" object')
    raise InvalidVerdict("no JSON object in the answer")


class _IdResolver:
    """Maps the ids a model wrote to the ids it was shown: exactly, or by one unambiguous reading."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        self.by_norm: dict[str, list[str]] = {}
        self.by_number: dict[str, list[str]] = {}
        for i in self.ids:
            self.by_norm.setdefault(_norm(i), []).append(i)
            digits = re.findall(r"\d+", i)
            if digits:
                self.by_number.setdefault(str(int(digits[-1])), []).append(i)

    def resolve(self, written: Any) -> str | None:
        if not isinstance(written, (str, int)) or isinstance(written, bool):
            return None
        text = str(written)
        if text in self.ids:
            return text
        match = self.by_norm.get(_norm(text), [])
        if len(match) == 1:
            return match[0]
        if text.strip().isdigit():
            match = self.by_number.get(str(int(text.strip())), [])
            if len(match) == 1:
                return match[0]
        return None


def _number(value: Any, key: str, scale: tuple[int, int], notes: _Notes) -> float:
    low, high = scale
    if isinstance(value, bool):
        raise InvalidVerdict(f"the score of {key} is a boolean, not a number")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidVerdict(f"the score of {key} is {value!r}, not a number") from None
        notes.add(f"score of {key} was the string {value!r}")
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise InvalidVerdict(f"the score of {key} is a {type(value).__name__}, not a number")
    if not low <= number <= high:
        raise InvalidVerdict(f"the score of {key} is {value}, outside the scale {low}-{high}")
    if number != int(number):
        notes.add(f"score of {key} is {value}, not an integer")
    return number


def _scores(raw: Any, resolver: _IdResolver, scale: tuple[int, int],
            notes: _Notes) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise InvalidVerdict(f'"scores" is a {type(raw).__name__}, not an object of id: score')
    scores: dict[str, float] = {}
    invented = []
    for written, value in raw.items():
        target = resolver.resolve(written)
        if target is None:
            invented.append(written)
            continue
        if target in scores:
            raise InvalidVerdict(f"{target} is scored twice (as {written!r} and another key)")
        if target != written:
            notes.add(f"score id {written!r} read as {target!r}")
        scores[target] = _number(value, target, scale, notes)
    missing = [i for i in resolver.ids if i not in scores]
    if missing:
        extra = f"; it scored unknown ids {invented}" if invented else ""
        raise InvalidVerdict(f"no score for {', '.join(missing)}{extra}")
    if invented:
        notes.add(f"ignored scores for ids that were not shown: {invented}")
    return {i: scores[i] for i in resolver.ids}


def _ranking(raw: Any, scores: dict[str, float], resolver: _IdResolver,
              notes: _Notes) -> list[str]:
    given: list[str] = []
    problems: list[str] = []
    if raw is None:
        problems.append(f'no "{RANKING_KEY}" list')
    elif not isinstance(raw, list):
        problems.append(f'"{RANKING_KEY}" is a {type(raw).__name__}, not a list')
    else:
        unknown = []
        for written in raw:
            target = resolver.resolve(written)
            if target is None:
                unknown.append(written)
            elif target not in given:
                if target != written:
                    notes.add(f"ranking id {written!r} read as {target!r}")
                given.append(target)
            else:
                problems.append(f"{target} is ranked twice")
        missing = [i for i in resolver.ids if i not in given]
        if unknown:
            notes.add(f"ignored ranked ids that were not shown: {unknown}")
        if missing:
            problems.append(f"the ranking leaves out {', '.join(missing)}")
    position = {i: k for k, i in enumerate(given)}
    if problems:
        problem = ", ".join(problems)
        # Rebuild from the scores, using the model's own partial order to break ties; if a tie
        # is still unbroken the order is not determined and the output is invalid.
        order = sorted(resolver.ids, key=lambda i: (-scores[i], position.get(i, len(given))))
        for a, b in pairwise(order):
            if scores[a] == scores[b] and (a not in position or b not in position):
                raise InvalidVerdict(f"{problem}, and {a} and {b} tie on score, so no order follows")
        notes.add(f"{problem}; ranking rebuilt from the scores")
        return order
    ordered = sorted(given, key=lambda i: (-scores[i], position[i]))
    if ordered != given:
        pairs = sum(
            1 for x in range(len(given)) for y in range(x + 1, len(given))
            if scores[given[x]] < scores[given[y]]
        )
        notes.add(f"ranking disagreed with the scores on {pairs} pair(s); reordered by score")
    return ordered


def parse_judgement(text: str, ids: Sequence[str], *,
                    scale: tuple[int, int] = (1, 5)) -> Judgement:
    """Parse and validate a listwise verdict over ``ids`` (the ids shown to the model).

    Returns a :class:`~rewardmine.types.Judgement` keyed by ``ids``: status "ok" when the output
    was valid as written (a thinking block, code fences and prose around the JSON are fine),
    "repaired" when defects with one clear reading were fixed (``repairs`` lists them), and
    "invalid" with empty scores and the reason in ``error`` otherwise.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    ids = list(ids)
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"ids must be distinct and non-empty, got {ids}")
    notes = _Notes()
    reasoning = ""
    try:
        if not text.strip():
            raise InvalidVerdict("the output is empty")
        reasoning, answer = split_thinking(text)
        obj = _find_answer(answer, notes)
        if not reasoning:
            first = answer.find("{")
            reasoning = answer[:first].strip() if first > 0 else ""
        score_key = next((k for k in obj if k == "scores"), None)
        if score_key is None:
            score_key = next(k for k in obj if _norm(k) in {"scores", *_SCORE_ALIASES})
            notes.add(f'key {score_key!r} read as "scores"')
        rank_key = next((k for k in obj if k == RANKING_KEY), None)
        if rank_key is None:
            rank_key = next((k for k in obj if _norm(k) in _RANKING_ALIASES), None)
            if rank_key is not None:
                notes.add(f"key {rank_key!r} read as {RANKING_KEY!r}")
        resolver = _IdResolver(ids)
        scores = _scores(obj[score_key], resolver, scale, notes)
        ranking = _ranking(obj.get(rank_key) if rank_key else None, scores, resolver, notes)
    except InvalidVerdict as error:
        return Judgement(reasoning=reasoning, raw=text, status="invalid", error=str(error))
    if notes.repairs:
        return Judgement(scores, ranking, reasoning, text, "repaired",
                         repairs=list(notes.repairs))
    return Judgement(scores, ranking, reasoning, text, "ok")

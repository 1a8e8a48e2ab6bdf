"""PrincipleJudge: score and rank candidate responses under a natural-language principle.

The judge owns everything that is not the model: masking with a permutation from its own seeded
generator, the context check before any generation, parsing and validation (one parser for every
backend), retries with a fresh permutation, averaging over several orders, and the mode's
aggregation. Work for many requests goes to the backend as one batch per round, and results come
back in request order.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from tqdm.auto import tqdm

from rewardmine.chat import Message, Prompt, prompt_key
from rewardmine.errors import ContextLengthError, JudgeOutputError
from rewardmine.judge.backends.base import Backend, FunctionBackend, GenerationRequest
from rewardmine.judge.modes import MODES, Mode, aggregate, calls, subsets
from rewardmine.judge.options import GenerationOptions
from rewardmine.judge.parse import parse_judgement
from rewardmine.judge.prompt import MaskedRequest, Responses, build_request, normalize_responses
from rewardmine.judge.prompt import system_prompt as default_system_prompt
from rewardmine.judge.schema import verdict_schema
from rewardmine.types import Judgement

OnInvalid = Literal["raise", "return"]
Request = Mapping[str, Any] | tuple[str, Prompt, Responses]


@dataclass
class Usage:
    """Model calls made and tokens read and generated, summed over the judge's life."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class _Unit:
    """One model call: a group of one request's responses, in one masked order."""

    request: int
    group: tuple[str, ...]
    masked: MaskedRequest
    attempts: int = 0
    result: Judgement | None = None
    history: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Normalized:
    principle: str
    prompt: Prompt
    responses: dict[str, str]


class PrincipleJudge:
    """Scores and ranks responses under a principle with a generative judge model.

    Args:
        backend: the model (see :meth:`from_pretrained`, :meth:`from_openai`, :meth:`from_function`).
        options: how replies are generated (budget, sampling, thinking, seed); the backend
            honours them on every call. Its fields may also be given one by one
            (``max_new_tokens=``, ``thinking=``, ``seed=``, ...), on top of ``options``.
        mode: "listwise" (all responses in one call), "pairwise" (every pair) or "pointwise"
            (each response alone); see :mod:`rewardmine.judge.modes`.
        permutations: judge each group in this many different orders and average, which cancels
            position bias.
        max_retries: extra attempts, each with a new order, for a call whose output is invalid.
        on_invalid: after the retries, "raise" a :class:`JudgeOutputError` or "return" a
            Judgement with status "invalid".
        scale: the integer score range ``(low, high)`` the model is asked to use.
        system_prompt: replaces rewardmine's system instruction.
        principle: used by requests that do not give one (and by :meth:`score`).
        progress: a progress bar; None shows one on a terminal only.
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({
        "options", "mode", "permutations", "max_retries", "on_invalid", "scale", "system_prompt",
        "principle", "progress"})

    def __init__(self, backend: Backend, *, options: GenerationOptions | None = None,
                 mode: Mode = "listwise", permutations: int = 1,
                 max_retries: int = 2, on_invalid: OnInvalid = "raise",
                 scale: tuple[int, int] = (1, 5), system_prompt: str | None = None,
                 principle: str | None = None, progress: bool | None = None,
                 **generation: Any) -> None:
        self.options = (options or GenerationOptions()).replace(**generation)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if permutations < 1:
            raise ValueError(f"permutations must be at least 1, got {permutations}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if on_invalid not in ("raise", "return"):
            raise ValueError(f"on_invalid must be 'raise' or 'return', got {on_invalid!r}")
        low, high = scale
        if not (isinstance(low, int) and isinstance(high, int) and low < high):
            raise ValueError(f"scale must be two integers (low, high) with low < high, got {scale}")
        self.backend = backend
        self.mode: Mode = mode
        self.permutations = permutations
        self.max_retries = max_retries
        self.on_invalid: OnInvalid = on_invalid
        self.scale = (low, high)
        self.system_prompt = system_prompt or default_system_prompt(self.scale)
        self.principle = principle
        self.progress = progress
        self.usage = Usage()

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def from_function(cls, fn: Callable[[list[Message]], str], **options: Any) -> PrincipleJudge:
        """A judge whose model is ``fn(messages) -> text`` (any client, or scripted replies)."""
        return cls(FunctionBackend(fn), **options)

    @classmethod
    def from_pretrained(cls, model: Any, tokenizer: Any = None, **options: Any) -> PrincipleJudge:
        """A judge on a local transformers model (a path, or a loaded model and tokenizer).

        The loading options (:class:`~rewardmine.models.LoadOptions`: ``dtype``, ``device``,
        ...) say how a path loads; backend options (``constrained``, ``batch_size``, ...) go to
        :class:`~rewardmine.judge.backends.local.TransformersBackend`, the rest (generation
        options included) to the judge.
        """
        from rewardmine.judge.backends.local import TransformersBackend
        from rewardmine.models import LoadOptions

        load, options = LoadOptions.split(options)
        backend_options, judge_options = _split_options(TransformersBackend, options)
        backend = TransformersBackend.load(model, tokenizer, load, **backend_options)
        return cls(backend, **judge_options)

    @classmethod
    def from_openai(cls, base_url: str, model: str, api_key: str | None = None,
                    **options: Any) -> PrincipleJudge:
        """A judge on any OpenAI-compatible server (vLLM, SGLang, OpenAI, ``transformers serve``);
        see :class:`~rewardmine.judge.backends.openai.OpenAIBackend` for its options."""
        from rewardmine.judge.backends.openai import OpenAIBackend

        backend_options, judge_options = _split_options(OpenAIBackend, options)
        backend = OpenAIBackend(base_url, model, api_key=api_key, **backend_options)
        return cls(backend, **judge_options)

    # -- judging --------------------------------------------------------------------------------

    def judge(self, principle: str, prompt: Prompt, responses: Responses) -> Judgement:
        """Score and rank ``responses`` (a dict of ids to texts, or a list: ids "0", "1", ...)."""
        return self.judge_many([(principle, prompt, responses)])[0]

    def judge_many(self, requests: Sequence[Request]) -> list[Judgement]:
        """Judge many requests in batches; the results are in request order.

        Each request is a dict with "principle" (optional when the judge has one), "prompt" and
        "responses", or a tuple ``(principle, prompt, responses)``.
        """
        items = [self._normalize(i, r) for i, r in enumerate(requests)]
        # the orders each group has been shown in: permutations and retries use new ones
        shown: dict[tuple[int, tuple[str, ...]], set[tuple[str, ...]]] = {}
        units = [
            _Unit(r, group, self._mask(r, item, group, shown.setdefault((r, group), set())))
            for r, item in enumerate(items)
            for group in subsets(list(item.responses), self.mode)
            for _ in range(self.permutations)
        ]
        pending = list(units)
        disable = None if self.progress is None else not self.progress  # None: terminals only
        bar = tqdm(total=len(units), disable=disable, desc="judging", unit="call")
        try:
            while pending:
                # several backend batches per step: the backend sorts a step by length
                step = 4 * int(getattr(self.backend, "batch_size", 8))
                for start in range(0, len(pending), step):
                    chunk = pending[start:start + step]
                    self._run(chunk)
                    bar.update(sum(1 for u in chunk if u.result is not None and u.result.ok))
                retry = []
                for unit in pending:
                    assert unit.result is not None
                    if not unit.result.ok and unit.attempts <= self.max_retries:
                        unit.masked = self._mask(unit.request, items[unit.request], unit.group,
                                                 shown[unit.request, unit.group])
                        retry.append(unit)
                    elif not unit.result.ok:
                        if self.on_invalid == "raise":  # stop now rather than after the rest
                            raise JudgeOutputError(_failure(unit))
                        bar.update(1)
                pending = retry
        finally:
            bar.close()
        by_request: list[list[_Unit]] = [[] for _ in items]
        for unit in units:
            by_request[unit.request].append(unit)
        return [self._combine(r, items[r], us) for r, us in enumerate(by_request)]

    def check(self, requests: Sequence[Request]) -> None:
        """Pre-flight, without judging: raise :class:`~rewardmine.errors.ContextLengthError`
        (``index`` the request's) for the first request one of whose calls would not fit the
        model's context with its generation budget; the calls are those :meth:`judge_many`
        makes (every group of the mode)."""
        rng = random.Random(0)  # an order changes a call's length by a token at most
        for r, request in enumerate(requests):
            item = self._normalize(r, request)
            groups = subsets(list(item.responses), self.mode)
            for group in groups:
                masked = build_request(item.principle, item.prompt,
                                       {i: item.responses[i] for i in group}, rng=rng,
                                       system=self.system_prompt)
                which = "" if len(groups) == 1 else f" (responses {list(group)})"
                self._check_fits(r, masked, which)

    def calls_for(self, responses: int) -> int:
        """Model calls one request of ``responses`` responses costs (before retries)."""
        return calls(responses, self.mode, self.permutations)

    def score(self, prompt: Prompt, responses: Responses, *,
              system: str | None = None) -> list[float]:
        """One score per response, in order, as every rewardmine reward returns them; ``system``
        is the principle (the judge's own ``principle`` when None)."""
        ids = list(normalize_responses(responses))
        verdict = self.judge(self._principle(system, 0), prompt, responses)
        if not verdict.ok:
            raise JudgeOutputError(verdict.error or "invalid verdict")
        return [verdict.scores[i] for i in ids]

    # -- internals ------------------------------------------------------------------------------

    def _principle(self, given: Any, index: int) -> str:
        principle = given if given is not None else self.principle
        if principle is None:
            raise ValueError(
                f"request {index} has no principle; give one in the request or principle= "
                "to the judge"
            )
        return principle

    def _normalize(self, index: int, request: Request) -> _Normalized:
        if isinstance(request, Mapping):
            unknown = set(request) - {"principle", "prompt", "responses"}
            if unknown or "prompt" not in request or "responses" not in request:
                raise ValueError(
                    f"request {index} must have 'prompt' and 'responses' (and optionally "
                    f"'principle'); it has {sorted(request)}"
                )
            principle, prompt, responses = (request.get("principle"), request["prompt"],
                                            request["responses"])
        elif isinstance(request, tuple) and len(request) == 3:
            principle, prompt, responses = request
        else:
            raise TypeError(
                f"request {index} must be a dict or a (principle, prompt, responses) tuple, "
                f"not {type(request).__name__}"
            )
        try:
            return _Normalized(self._principle(principle, index), prompt,
                               normalize_responses(responses))
        except (TypeError, ValueError) as error:
            raise type(error)(f"request {index}: {error}") from None

    def _mask(self, index: int, item: _Normalized, group: tuple[str, ...],
              seen: set[tuple[str, ...]]) -> MaskedRequest:
        """Mask ``group`` in an order not in ``seen`` (while unseen orders remain), and check
        that the request fits the context."""
        if len(seen) >= math.factorial(len(group)):
            seen.clear()  # every order has been shown; start over
        # the order comes from the seed and the request itself (and how many orders it has been
        # shown), never from the judge's history: a verdict does not depend on batching, on
        # process layout or on what was judged before
        shown = {i: item.responses[i] for i in group}
        orders = random.Random(json.dumps(
            [self.options.seed, prompt_key(item.prompt, system=item.principle),
             list(shown.items()), len(seen)], ensure_ascii=False))
        try:
            while True:
                masked = build_request(item.principle, item.prompt, shown, rng=orders,
                                       system=self.system_prompt)
                order = tuple(masked.to_caller.values())
                if order not in seen:
                    seen.add(order)
                    break
        except (TypeError, ValueError) as error:
            raise type(error)(f"request {index}: {error}") from None
        self._check_fits(index, masked)
        return masked

    def _check_fits(self, index: int, masked: MaskedRequest, which: str = "") -> None:
        """The judge's fit check: one call's prompt plus its generation budget."""
        limit = self.backend.context_limit
        need = self.backend.required_tokens(masked.messages, self.options)
        if limit is not None and need is not None and need > limit:
            detail = (f"needs {need} tokens{which} (the prompt plus the generation budget) but "
                      f"the model's context holds {limit}; shorten the responses, lower "
                      "max_new_tokens, or judge fewer responses per call (mode='pairwise')")
            raise ContextLengthError(f"request {index} {detail}", index=index, length=need,
                                     limit=limit, detail=detail)

    def _run(self, batch: list[_Unit]) -> None:
        requests = [
            GenerationRequest(u.masked.messages, verdict_schema(u.masked.ids, self.scale))
            for u in batch
        ]
        # a batch's sampling seed, like the orders, comes from the seed and its own requests
        seed = random.Random(json.dumps([self.options.seed, "sampling",
                                         [u.masked.messages for u in batch]])).getrandbits(63)
        try:
            generations = self.backend.generate(requests, options=self.options, seed=seed)
        except ContextLengthError as error:  # the backend names a batch position; name the request
            if error.index is None or not 0 <= error.index < len(batch):
                raise
            index = batch[error.index].request
            raise ContextLengthError(f"request {index}: {error}", index=index,
                                     length=error.length, limit=error.limit,
                                     detail=error.detail) from error
        if len(generations) != len(batch):
            raise RuntimeError(
                f"the backend returned {len(generations)} replies for {len(batch)} requests"
            )
        for unit, generation in zip(batch, generations, strict=True):
            self.usage.calls += 1
            self.usage.prompt_tokens += generation.prompt_tokens or 0
            self.usage.completion_tokens += generation.completion_tokens or 0
            unit.attempts += 1
            unit.result = parse_judgement(generation.text, unit.masked.ids, scale=self.scale)
            if not unit.result.ok:
                unit.history.append(f"attempt {unit.attempts}: {unit.result.error}")

    def _combine(self, index: int, item: _Normalized, units: list[_Unit]) -> Judgement:
        failed = [u for u in units if u.result is None or not u.result.ok]
        raws = [u.result.raw if u.result else "" for u in units]
        raw = raws[0] if len(raws) == 1 else "\n\n-----\n\n".join(raws)
        if failed:
            message = _failure(failed[0])
            if self.on_invalid == "raise":
                raise JudgeOutputError(message)
            return Judgement(raw=raw, status="invalid", error=message)
        verdicts, notes, reasonings = [], [], []
        for k, unit in enumerate(units):
            result = unit.result
            assert result is not None
            back = unit.masked.to_caller
            verdicts.append(({back[m]: s for m, s in result.scores.items()},
                             [back[m] for m in result.ranking]))
            legend = ", ".join(f"{m} = {c}" for m, c in back.items())
            reasonings.append(f"[{legend}]\n{result.reasoning}" if result.reasoning else "")
            notes += [r if len(units) == 1 else f"call {k + 1}: {r}" for r in result.repairs]
        scores, ranking = aggregate(list(item.responses), self.mode, verdicts, self.permutations)
        reasoning = "\n\n-----\n\n".join(r for r in reasonings if r)
        return Judgement(scores, ranking, reasoning, raw, "repaired" if notes else "ok",
                         repairs=notes)


def _failure(unit: _Unit) -> str:
    return (f"request {unit.request}: no valid verdict for responses {list(unit.group)} after "
            f"{unit.attempts} attempt(s) ({'; '.join(unit.history)})")


def _split_options(backend_cls: Any, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send each keyword to the backend or to the judge, by the ``OPTIONS`` each declares."""
    judge_names = PrincipleJudge.OPTIONS | set(GenerationOptions.names())
    backend_names = backend_cls.OPTIONS
    unknown = set(options) - judge_names - backend_names
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)} for {backend_cls.__name__} or the "
                        f"judge; known: {sorted(judge_names | backend_names)}")
    backend = {k: v for k, v in options.items() if k in backend_names and k not in judge_names}
    judge = {k: v for k, v in options.items() if k in judge_names}
    return backend, judge

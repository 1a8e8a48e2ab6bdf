"""The reward server: endogenous rewards, a judge, OpenRLHF's and RewardAnything's protocols.

Every scoring route goes through a :class:`~rewardmine.server.batcher.DynamicBatcher`, so
concurrent requests share forward passes. Overload, a model process that is restarting and a
shutdown past its graceful timeout answer 503 with Retry-After; a request that outlives
``request_timeout_s`` (or whose encoding outlives ``encode_timeout_s``) answers 504; bad input
answers 400 naming the item (422 for a field of the wrong shape or an unknown field, 413 for too
much); shutdown finishes every accepted request it can within its graceful timeout.

The app's request models are built inside :func:`create_app` (FastAPI is an optional extra), so
this module does not use postponed annotations: FastAPI must see the real types.
"""

import asyncio
import functools
import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from rewardmine.chat import normalize_messages
from rewardmine.errors import JudgeOutputError
from rewardmine.grouping import group_requests, scatter_rewards
from rewardmine.judge.prompt import normalize_responses
from rewardmine.protocols import ListJudge
from rewardmine.rollouts import pad_tokens_of, split_queries
from rewardmine.server.batcher import DynamicBatcher, TooLarge, Unavailable
from rewardmine.server.drain import Drain
from rewardmine.server.limits import Limits, check_api_keys
from rewardmine.server.scoring import (
    Budget,
    EncodingCancelled,
    EncodingTimeout,
    PromptCache,
    Tokens,
    encode_actions,
    encode_chat,
    encode_text,
    endogenous_runner,
)
from rewardmine.server.worker import ModelWorker
from rewardmine.types import Judgement
from rewardmine.upstream import UpstreamError, UpstreamUnavailable


@dataclass(frozen=True)
class ServerConfig:
    """Limits and policies of the server.

    Args:
        api_keys: accepted bearer tokens; empty means no authentication (``/health`` is open).
        max_batch_size: items (responses or judge requests) per model call.
        max_wait_ms: how long a request may wait for others to share its call.
        max_queue: items that may wait before requests are refused with 503.
        max_body_bytes: larger request bodies are refused with 413.
        max_items_per_request: responses (or judge requests) one request may carry.
        max_judge_calls_per_request: model calls the judge may make for one request (a pairwise
            judge makes C(N,2) per list of N, times its permutations); more get 413.
        request_timeout_s: a request not answered within this answers 504. A model call that
            outlives every request in it by this much more (time for a client's retry to join
            it) is cancelled (a worker process is killed and a new one started), and while a
            call runs longer than this ``/health`` answers 503.
        encode_timeout_s: a request whose tokenizing takes longer answers 504, and an encoding
            job running longer makes ``/health`` answer 503 (the encoder is stuck).
        body_timeout_s: a request body not received within this answers 408 (a stalled client
            cannot hold a connection).
        principle: the judge's principle for routes whose requests do not give one (OpenRLHF).
        openrlhf_reward: which reward the OpenRLHF route serves.
        prompt_cache: when a merged call reuses one prompt forward for the responses that
            share it (see :func:`rewardmine.server.scoring.endogenous_runner`).
    """

    api_keys: tuple[str, ...] = ()
    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    max_queue: int = 4096
    max_body_bytes: int = 8 * 1024 * 1024
    max_items_per_request: int = 1024
    max_judge_calls_per_request: int = 256
    request_timeout_s: float = 120.0
    encode_timeout_s: float = 60.0
    body_timeout_s: float = 30.0
    principle: str | None = None
    openrlhf_reward: Literal["endogenous", "judge"] = "endogenous"
    prompt_cache: PromptCache = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.api_keys, str):
            raise TypeError("api_keys is a tuple of keys, not one string; pass (key,)")
        check_api_keys(self.api_keys)
        for name in ("max_batch_size", "max_queue", "max_body_bytes", "max_items_per_request",
                     "max_judge_calls_per_request"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("request_timeout_s", "encode_timeout_s", "body_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be 0 or more, got {self.max_wait_ms}")
        if self.max_queue < self.max_items_per_request:
            raise ValueError(
                f"max_queue ({self.max_queue}) is below max_items_per_request "
                f"({self.max_items_per_request}): a request of the allowed size could never be "
                "queued. Raise max_queue (--max-queue) or lower max_items_per_request")


# ------------------------------------------------------------------------------ the app

def create_app(*, endogenous: Any = None, judge: ListJudge | None = None,
               config: ServerConfig = ServerConfig(),
               run_endogenous: Callable[[list[Tokens]], Sequence[float]] | None = None,
               run_judge: Callable[[list[Any]], Sequence[Judgement]] | None = None,
               judge_calls: Callable[[int], int] | None = None) -> Any:
    """A FastAPI app serving ``endogenous`` (an EndogenousReward) and/or ``judge``.

    By default the models run in this process. ``run_endogenous`` and ``run_judge`` replace the
    merged calls, as ``rewardmine serve`` does with :class:`~rewardmine.server.worker.ModelWorker`;
    then ``endogenous`` only needs the ``tokenizer`` and ``encoder`` that encode requests (a
    :class:`~rewardmine.server.scoring.RequestEncoder`) and ``judge`` may be left out. Workers are
    closed when the app shuts down. ``judge_calls(n)`` is the number of model calls the judge
    makes for a request of ``n`` responses (by default the judge's ``calls_for``, else 1); a
    request costing more than ``max_judge_calls_per_request`` is refused before it is queued.
    """
    from rewardmine.server.run import require_server_extra

    require_server_extra()
    from fastapi import FastAPI, HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt
    from pydantic import Strict as StrictType

    runs: dict[str, Callable[[list[Any]], Sequence[Any]]] = {}
    if endogenous is not None:
        runs["endogenous"] = run_endogenous or endogenous_runner(
            endogenous, prompt_cache=config.prompt_cache)
    elif run_endogenous is not None:
        raise ValueError("run_endogenous needs endogenous= (the tokenizer side) to encode requests")
    if judge is not None or run_judge is not None:
        runs["judge"] = run_judge or judge.judge_many  # type: ignore[union-attr]
    if not runs:
        raise ValueError("the server needs an endogenous reward model, a judge, or both")
    wait_s = config.max_wait_ms / 1000
    batchers: dict[str, DynamicBatcher[Any, Any]] = {
        kind: DynamicBatcher(run, max_batch_size=config.max_batch_size, max_wait_s=wait_s,
                             max_queue=config.max_queue, name=kind,
                             cancel=run.kill if isinstance(run, ModelWorker) else None,
                             cancel_grace_s=config.request_timeout_s,
                             # a client's retry of an identical request joins the work queued
                             key=tuple if kind == "endogenous" else None)
        for kind, run in runs.items()}

    drain = Drain()

    @asynccontextmanager
    async def lifespan(app: Any):
        for batcher in batchers.values():
            await batcher.start()
        yield
        for batcher in batchers.values():
            await batcher.close(timeout_s=drain.remaining())
        drain.cancel.set()  # encoding still running has nobody to answer
        encoders.shutdown(wait=drain.deadline is None, cancel_futures=True)
        for run in runs.values():
            if isinstance(run, ModelWorker):
                run.close(timeout_s=drain.remaining() or 5.0)

    app = FastAPI(title="rewardmine", lifespan=lifespan)
    app.state.batchers = batchers
    app.state.drain = drain

    async def unless_draining(awaitable: Any) -> Any:
        """``await awaitable``, or 503 when the shutdown's graceful timeout is about to end."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(drain.expired().wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        raise HTTPException(503, "the server is shutting down and did not finish this request "
                            "in its graceful timeout; retry it on another replica or later",
                            headers={"Retry-After": "5"})

    def need(kind: str) -> DynamicBatcher[Any, Any]:
        if kind not in batchers:
            flag = "--endogenous-model" if kind == "endogenous" else "--judge SPEC"
            raise HTTPException(404, f"this server has no {kind} model; start it with {flag}")
        return batchers[kind]

    def check_count(n: int, what: str) -> None:
        if n > config.max_items_per_request:
            raise HTTPException(413, f"{n} {what} in one request; the limit is "
                                f"{config.max_items_per_request}")

    judge_cost = judge_calls or getattr(judge, "calls_for", None) or (lambda n: 1)

    async def submit(kind: str, items: list[Any]) -> list[Any]:
        batcher = need(kind)
        if kind == "judge":
            cost = sum(judge_cost(len(item["responses"])) for item in items)
            if cost > config.max_judge_calls_per_request:
                raise HTTPException(413, f"this request would take the judge {cost} model calls "
                                    f"(its mode and permutations multiply the responses); the "
                                    f"limit is {config.max_judge_calls_per_request}: send fewer "
                                    "responses per list or fewer lists")
        try:
            return await unless_draining(
                batcher.submit(items, timeout=config.request_timeout_s))
        except (Unavailable, UpstreamUnavailable) as error:  # overload, shutdown, a model
            # process restarting, an upstream server that stays unreachable
            raise HTTPException(503, str(error), headers={
                "Retry-After": str(int(error.retry_after + 0.999))}) from None
        except UpstreamError as error:  # the upstream failed or answered garbage, not the client
            raise HTTPException(502, f"the upstream server failed: {error}") from None
        except asyncio.TimeoutError:
            raise HTTPException(504, f"not answered within {config.request_timeout_s} s") from None
        except TooLarge as error:
            raise HTTPException(413, str(error)) from None
        except JudgeOutputError as error:  # the judge model failed, not the request
            raise HTTPException(502, f"the judge gave no valid verdict: {error}") from None
        except (ValueError, TypeError, KeyError) as error:
            raise HTTPException(400, str(error)) from None

    encoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="encode")
    encoding: dict[int, float] = {}  # running encoding jobs: start times, for /health
    job_ids = itertools.count()

    def timed(fn: Callable[..., list[Tokens]], *args: Any) -> list[Tokens]:
        job = next(job_ids)
        encoding[job] = time.monotonic()
        try:
            return fn(endogenous, *args, Budget(config.encode_timeout_s, drain.cancel))
        finally:
            del encoding[job]

    async def encoded(fn: Callable[..., list[Tokens]], *args: Any) -> list[Tokens]:
        need("endogenous")
        try:
            return await unless_draining(asyncio.get_running_loop().run_in_executor(
                encoders, functools.partial(timed, fn, *args)))
        except EncodingTimeout as error:
            raise HTTPException(504, str(error)) from None
        except EncodingCancelled as error:
            raise HTTPException(503, str(error), headers={"Retry-After": "5"}) from None
        except RuntimeError as error:
            if "shutdown" not in str(error):  # not the executor refusing work: a real fault
                raise
            raise HTTPException(503, "the server is shutting down",
                                headers={"Retry-After": "5"}) from None
        except (TypeError, ValueError) as error:
            raise HTTPException(400, str(error)) from None

    # -- models ---------------------------------------------------------------------------------
    Prompt = str | list[dict[str, str]]

    class Strict(BaseModel):
        """A request model that refuses fields it does not know (a typo is not ignored)."""

        model_config = ConfigDict(extra="forbid")

    class ScoreRequest(Strict):
        prompt: Prompt
        responses: list[str] = Field(min_length=1)
        system: str | None = None

    class ScoreManyRequest(Strict):
        prompts: list[Prompt] = Field(min_length=1)
        responses: list[str] = Field(min_length=1)
        system: str | None = None

    class ScoreActionsRequest(Strict):
        prompts: list[Prompt] = Field(min_length=1)
        # strict: 1.7, "1" or true are refused, not rounded or parsed, as in score_ids
        action_ids: list[list[Annotated[NonNegativeInt, StrictType()]]] = Field(min_length=1)
        system: str | None = None

    class JudgeRequest(Strict):
        principle: str | None = None
        prompt: Prompt
        responses: dict[str, str] | list[str]

    class RARequest(Strict):
        principle: str
        prompt: str
        responses: dict[str, str]
        mask_responses: bool = True

    class OpenRLHFRequest(Strict):
        query: list[str] = Field(min_length=1)
        prompts: list[str] | None = None
        labels: list[Any] | None = None

    JudgeBatch = Annotated[list[JudgeRequest], Field(min_length=1)]
    RABatch = Annotated[list[RARequest], Field(min_length=1)]

    # -- routes ---------------------------------------------------------------------------------
    @app.api_route("/health", methods=["GET", "HEAD"])
    async def health() -> Any:
        problems, retry = [], 1.0
        for kind, run in runs.items():
            if isinstance(run, ModelWorker) and not run.alive:
                state = "is loading after its process exited" if run.loading else "is down"
                problems.append(f"the {kind} worker {state}")
                retry = max(retry, run.retry_after())
        for kind, batcher in batchers.items():
            running = batcher.running_for()
            if running > config.request_timeout_s:
                problems.append(f"the {kind} model's call has run for {running:.0f} s (requests "
                                f"time out after {config.request_timeout_s:g} s); it is stuck")
        oldest = min(encoding.values(), default=None)
        if oldest is not None and time.monotonic() - oldest > config.encode_timeout_s:
            problems.append(f"an encoding job has run for {time.monotonic() - oldest:.0f} s "
                            f"(limit {config.encode_timeout_s:g} s); the encoder is stuck")
        body = {"status": "unhealthy" if problems else "healthy", "service": "rewardmine",
                "endogenous": "endogenous" in batchers, "judge": "judge" in batchers,
                "encoding": len(encoding),
                "stats": {k: b.stats.to_dict() for k, b in batchers.items()}}
        if problems:
            body["detail"] = "; ".join(problems)
            return JSONResponse(body, status_code=503,
                                headers={"Retry-After": str(int(retry + 0.999))})
        return body

    @app.post("/v1/score")
    async def score(request: ScoreRequest) -> dict[str, Any]:
        check_count(len(request.responses), "responses")
        items = await encoded(encode_chat, [request.prompt] * len(request.responses),
                              request.responses, request.system)
        return {"rewards": await submit("endogenous", items)}

    def check_parallel(prompts: list[Any], items: list[Any], noun: str) -> None:
        """One item per prompt, and no more items than a request may hold."""
        if len(prompts) != len(items):
            raise HTTPException(400, f"{len(prompts)} prompts but {len(items)} {noun}; "
                                "send parallel lists")
        check_count(len(items), "responses")

    @app.post("/v1/score_many")
    async def score_many(request: ScoreManyRequest) -> dict[str, Any]:
        check_parallel(request.prompts, request.responses, "responses")
        items = await encoded(encode_chat, request.prompts, request.responses, request.system)
        return {"rewards": await submit("endogenous", items)}

    @app.post("/v1/score_actions")
    async def score_actions(request: ScoreActionsRequest) -> dict[str, Any]:
        check_parallel(request.prompts, request.action_ids, "action id lists")
        items = await encoded(encode_actions, request.prompts, request.action_ids,
                              request.system)
        return {"rewards": await submit("endogenous", items)}

    def judge_item(request: JudgeRequest | RARequest) -> dict[str, Any]:
        need("judge")
        principle = request.principle or config.principle
        if principle is None:
            raise HTTPException(400, "the request gives no principle and the server has none "
                                "(start it with --principle)")
        check_count(len(request.responses), "responses")
        for name, check, value in (("prompt", normalize_messages, request.prompt),
                                   ("responses", normalize_responses, request.responses)):
            try:
                check(value)
            except (TypeError, ValueError) as error:
                raise HTTPException(400, f"{name}: {error}") from None
        return {"principle": principle, "prompt": request.prompt, "responses": request.responses}

    @app.post("/v1/judge")
    async def judge_one(request: JudgeRequest) -> dict[str, Any]:
        (verdict,) = await submit("judge", [judge_item(request)])
        return verdict.to_dict()

    @app.post("/v1/judge_batch")
    async def judge_batch(requests: JudgeBatch) -> list[dict[str, Any]]:
        check_count(len(requests), "judge requests")
        verdicts = await submit("judge", [judge_item(r) for r in requests])
        return [v.to_dict() for v in verdicts]

    def rewardanything_view(verdict: Judgement) -> dict[str, Any]:
        if not verdict.ok:
            raise HTTPException(502, f"the judge gave no valid verdict: {verdict.error}")
        return {"thoughts": verdict.reasoning,
                "results": {"scores": verdict.scores, "best-to-worst": verdict.ranking}}

    @app.post("/api/rewardanything")
    async def rewardanything(request: RARequest) -> dict[str, Any]:
        (verdict,) = await submit("judge", [judge_item(request)])
        return rewardanything_view(verdict)

    @app.post("/api/rewardanything_batch")
    async def rewardanything_batch(requests: RABatch) -> list[dict[str, Any]]:
        check_count(len(requests), "judge requests")
        verdicts = await submit("judge", [judge_item(r) for r in requests])
        return [rewardanything_view(v) for v in verdicts]

    async def openrlhf(request: OpenRLHFRequest) -> dict[str, Any]:
        if request.prompts is None:
            raise HTTPException(400, "the request has no 'prompts'; rewardmine needs them to find "
                                "where each response starts in its query")
        check_count(len(request.query), "queries")
        if config.openrlhf_reward == "endogenous":
            tokenizer = endogenous.tokenizer if endogenous is not None else None
            try:
                responses = split_queries(
                    request.query, request.prompts, pad_tokens=pad_tokens_of(tokenizer),
                    end_tokens=endogenous.encoder.texts.end_tokens if endogenous else ())
            except (TypeError, ValueError) as error:
                raise HTTPException(400, str(error)) from None
            items = await encoded(encode_text, request.prompts, responses)
            rewards = await submit("endogenous", items)
        else:
            rewards = await judge_route_rewards(request)
        return {"rewards": rewards, "scores": rewards,
                "extra_logs": {f"{config.openrlhf_reward}_reward": rewards}}

    async def judge_route_rewards(request: OpenRLHFRequest) -> list[float]:
        if config.principle is None:
            raise HTTPException(400, "the OpenRLHF judge route needs the server's --principle")
        try:
            responses = split_queries(request.query, request.prompts or [])
        except (TypeError, ValueError) as error:
            raise HTTPException(400, str(error)) from None
        groups, requests = group_requests(config.principle, request.prompts or [], responses)
        verdicts = await submit("judge", requests)
        rewards = scatter_rewards(groups, verdicts, len(responses))
        if any(r is None for r in rewards):
            error = next(v.error for v in verdicts if not v.ok)
            raise HTTPException(502, f"the judge gave no valid verdict: {error}")
        return rewards  # type: ignore[return-value]

    for path in ("/openrlhf", "/get_reward"):
        app.add_api_route(path, openrlhf, methods=["POST"])

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, error: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Any, error: RequestValidationError) -> JSONResponse:
        """422 naming each bad field, without echoing the input back (it may be large)."""
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                     "type": e.get("type", "")} for e in error.errors()]
        fields = "; ".join(f"{'.'.join(map(str, p['loc'][1:])) or 'body'}: {p['msg']}"
                           for p in problems[:5])
        return JSONResponse({"detail": problems, "message": fields}, status_code=422)

    guarded = Limits(app, api_keys=config.api_keys, max_body_bytes=config.max_body_bytes,
                     body_timeout_s=config.body_timeout_s)
    guarded.drain = drain
    return guarded

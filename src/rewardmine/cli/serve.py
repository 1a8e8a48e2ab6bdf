"""``rewardmine serve``: the reward server on HTTP (FastAPI + uvicorn, the ``server`` extra)."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Sequence
from typing import Any

from rewardmine.cli.flags import add_load_flags, load_settings
from rewardmine.cli.judge import add_judge_arguments, judge_settings


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve", help="serve endogenous rewards and/or a judge over HTTP",
        description="Routes: /v1/score, /v1/score_many (endogenous reward), /v1/judge, "
        "/v1/judge_batch, /api/rewardanything, /api/rewardanything_batch (judge), /openrlhf "
        "and /get_reward (OpenRLHF's remote reward protocol), /health. Requests arriving "
        "together share one model call. API keys also come from REWARDMINE_API_KEYS "
        "(comma-separated).",
    )
    parser.add_argument("--endogenous-model", metavar="SPEC",
                        help="the endogenous reward to serve: a causal LM's id or path "
                        "(endogenous:PATH), or logprobs:MODEL@BASE_URL, a vLLM/SGLang server's "
                        "prompt log-probabilities (the reward minus V(s_1), same rankings and "
                        "group advantages; key from OPENAI_API_KEY; see docs/scale.md)")
    add_judge_arguments(parser, prefix="judge-", required=False)
    parser.add_argument("--principle", help="default principle (needed by the OpenRLHF judge route)")
    parser.add_argument("--openrlhf-reward", choices=["endogenous", "judge"], default=None,
                        help="what /openrlhf serves (default: endogenous when loaded)")
    parser.add_argument("--prompt-cache", choices=["auto", "always", "never"], default="auto",
                        help="reuse a shared prompt's forward in merged calls (auto: when it "
                        "saves at least EndogenousReward.min_cache_saving prompt tokens)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the models in the server's process instead of a worker "
                        "process each (slower under load: they compete for the GIL)")
    parser.add_argument("--replicas", type=int, default=None,
                        help="serve on Ray Serve: N replicas of this same server behind one "
                        "URL, each with its own model in its own process (joins RAY_ADDRESS)")
    parser.add_argument("--gpus-per-replica", type=float, default=0.0)
    parser.add_argument("--cpus-per-replica", type=float, default=1.0)
    parser.add_argument("--max-ongoing-requests", type=int, default=None,
                        help="requests in flight per replica (default: 4 x --max-batch-size, "
                        "so merged calls can fill; Serve's own default of 5 would cap them)")
    parser.add_argument("--worker-threads", type=int, default=None,
                        help="torch threads in each model worker process (default: 1 on a "
                        "host with at most 2 CPUs, else torch's choice, one per core)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", action="append", default=[],
                        help="accepted bearer token (repeatable)")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-queue", type=int, default=4096)
    parser.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--max-items-per-request", type=int, default=1024)
    parser.add_argument("--max-judge-calls", type=int, default=256,
                        help="model calls the judge may make for one request (pairwise: C(N,2) "
                        "per list of N, times permutations); more get 413")
    parser.add_argument("--request-timeout", type=float, default=120.0,
                        help="seconds; below the clients' own timeouts (OpenRLHF's is 180 s), "
                        "so a client sees 504 before it gives up and retries")
    parser.add_argument("--encode-timeout", type=float, default=60.0,
                        help="seconds a request's tokenizing may take (504 beyond; /health "
                        "answers 503 while an encoding job runs longer)")
    parser.add_argument("--body-timeout", type=float, default=30.0,
                        help="seconds to receive a request body (408 beyond)")
    parser.add_argument("--max-connections", type=int, default=1024,
                        help="open connections; more are answered 503 and closed")
    parser.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds a connection has to send a request head (when it opens "
                        "and after each response); then it is closed")
    parser.add_argument("--max-header-bytes", type=int, default=64 * 1024,
                        help="a longer request head is answered 431")
    parser.add_argument("--graceful-timeout", type=float, default=60.0,
                        help="seconds to finish accepted requests on shutdown")
    add_load_flags(parser)  # the endogenous model's; a judge's go in --judge-option
    parser.set_defaults(run=run)


def api_keys(flags: Sequence[str], env: str | None) -> list[str]:
    """The keys from ``--api-key`` and ``REWARDMINE_API_KEYS`` (comma-separated); an empty or
    blank one is refused, since it would open the server while auth looks on."""
    from rewardmine.server.limits import check_api_keys

    keys = [*flags, *([] if env is None else env.split(","))]
    try:
        check_api_keys(keys)
    except ValueError as e:
        where = "REWARDMINE_API_KEYS" if all(k.strip() for k in flags) else "--api-key"
        raise SystemExit(f"rewardmine serve: {where}: {e}") from None
    return keys


def build(args: argparse.Namespace, *, keys_from_env: bool = True) -> Any:
    """The app the arguments describe (loads the models, each in a worker process unless
    ``--in-process``)."""
    from rewardmine.server.app import ServerConfig, create_app

    has_judge = bool(args.judge)
    if not (args.endogenous_model or has_judge):
        raise SystemExit("rewardmine serve: give --endogenous-model and/or a judge (--judge SPEC)")
    if not has_judge and judge_settings(args, prefix="judge-"):
        raise SystemExit("rewardmine serve: judge options need a judge (--judge SPEC)")
    keys = api_keys(args.api_key,
                    os.environ.get("REWARDMINE_API_KEYS") if keys_from_env else None)
    openrlhf = args.openrlhf_reward or ("endogenous" if args.endogenous_model else "judge")
    config = ServerConfig(
        api_keys=tuple(keys), max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue, max_body_bytes=args.max_body_bytes,
        max_items_per_request=args.max_items_per_request,
        max_judge_calls_per_request=args.max_judge_calls,
        request_timeout_s=args.request_timeout, encode_timeout_s=args.encode_timeout,
        body_timeout_s=args.body_timeout, principle=args.principle,
        openrlhf_reward=openrlhf, prompt_cache=args.prompt_cache,
    )
    if has_judge:  # refuse a bad spec or option now, not in the worker
        from rewardmine.specs import check_settings, parse_spec

        for spec in args.judge:
            check_settings(parse_spec(spec, default="principle"),
                           judge_settings(args, prefix="judge-"))
    judge_options = dict(specs=args.judge, settings=judge_settings(args, prefix="judge-"))
    spec = endogenous_spec(args)
    if spec is not None and spec.kind == "logprobs":
        remote = remote_endogenous(args, spec)
        judge = _load_judge(**judge_options) if has_judge and args.in_process else None
        run_judge = None
        if has_judge and not args.in_process:
            from rewardmine.server.worker import ModelWorker

            run_judge = ModelWorker(functools.partial(_judge_runner, **judge_options),
                                    name="judge")
        return create_app(endogenous=remote, judge=judge, config=config,
                          run_endogenous=_remote_runner(remote), run_judge=run_judge,
                          judge_calls=_judge_calls(**judge_options))
    if args.in_process:
        endogenous = None
        if spec is not None:
            from rewardmine.endogenous import EndogenousReward

            endogenous = EndogenousReward.from_pretrained(spec.target, **load_settings(args))
        judge = _load_judge(**judge_options) if has_judge else None
        return create_app(endogenous=endogenous, judge=judge, config=config)

    from rewardmine.server.scoring import RequestEncoder, load_endogenous_runner
    from rewardmine.server.worker import ModelWorker

    workers: dict[str, ModelWorker] = {}
    try:
        if spec is not None:
            workers["endogenous"] = ModelWorker(functools.partial(
                load_endogenous_runner, spec.target, prompt_cache=args.prompt_cache,
                **load_settings(args)), name="endogenous",
                torch_threads=args.worker_threads or "auto")
        if has_judge:
            workers["judge"] = ModelWorker(functools.partial(_judge_runner, **judge_options),
                                           name="judge", torch_threads=args.worker_threads or "auto")
        from rewardmine.models import LoadOptions

        load, _ = LoadOptions.split(load_settings(args))  # the tokenizer of that same revision
        encoder = RequestEncoder.from_pretrained(spec.target, load) if spec is not None else None
    except BaseException:
        for worker in workers.values():
            worker.close()
        raise
    return create_app(endogenous=encoder, config=config, run_endogenous=workers.get("endogenous"),
                      run_judge=workers.get("judge"), judge_calls=_judge_calls(**judge_options))


def endogenous_spec(args: argparse.Namespace) -> Any:
    """The parsed ``--endogenous-model`` (None without one): a local model or a log-probability
    server; a bare path is a local model."""
    from rewardmine.specs import parse_spec

    if not args.endogenous_model:
        return None
    spec = parse_spec(args.endogenous_model, default="endogenous")
    if spec.kind not in ("endogenous", "logprobs"):
        raise SystemExit(f"rewardmine serve: --endogenous-model {args.endogenous_model}: give a "
                         "model's id or path (endogenous:PATH) or logprobs:MODEL@BASE_URL")
    return spec


def remote_endogenous(args: argparse.Namespace, spec: Any) -> Any:
    """The client of the log-probability server a ``logprobs:`` spec names, refusing the options
    it cannot honour; the context limit comes from the model's config when it can be read."""
    from rewardmine.server.scoring import RequestEncoder
    from rewardmine.specs import load_scorer

    bad = ["--prompt-cache"] if args.prompt_cache != "auto" else []
    given = load_settings(args)
    given.update(given.pop("model_kwargs", {}))
    bad += [f"--{name.replace('_', '-')}" for name in given]
    if bad:
        raise SystemExit(f"rewardmine serve: {', '.join(bad)} do not apply to a logprobs: "
                         "reward: the log-probability server holds the model")
    try:
        encoder = RequestEncoder.from_pretrained(spec.target)
    except (OSError, ValueError) as error:
        raise SystemExit(f"rewardmine serve: cannot load the tokenizer of {spec.target!r} "
                         f"({error}); it must be the served model's id or a local copy") from None
    key = getattr(args, "openai_api_key", None) or os.environ.get("OPENAI_API_KEY")
    return load_scorer(spec, api_key=key, tokenizer=encoder.tokenizer,
                       context_limit=encoder.max_length)


def _remote_runner(remote: Any) -> Any:
    """Merged calls of the served items through the log-probability client (its upstream errors
    become 502/503 in the app, naming the server)."""
    from rewardmine.server.scoring import endogenous_runner

    return endogenous_runner(remote)


def _load_judge(specs: list[str], settings: dict[str, Any]) -> Any:
    """The served judge: invalid verdicts come back as such (each route decides what they mean)."""
    from rewardmine.specs import load_judge

    return load_judge(specs, defaults={"on_invalid": "return", "progress": False}, **settings)


def _judge_calls(specs: list[str], settings: dict[str, Any]) -> Any:
    """Model calls per request of n responses for the judge a worker will load (every spec of a
    panel judges with the same mode and permutations)."""
    from rewardmine.judge.modes import calls

    mode, permutations = settings.get("mode", "listwise"), int(settings.get("permutations", 1))
    return lambda n: len(specs) * calls(n, mode, permutations)


def _judge_runner(**options: Any) -> Any:
    """A judge worker's factory: load the judge in the worker process, return its judge_many."""
    return _load_judge(**options).judge_many


def run(args: argparse.Namespace) -> int:
    import logging

    from rewardmine.server.run import require_server_extra
    from rewardmine.specs import resolve_spec

    require_server_extra()

    # local paths made absolute: they mean the same in a worker process or a Ray replica
    if args.endogenous_model:
        args.endogenous_model = resolve_spec(args.endogenous_model, default="endogenous")
    if args.judge:
        args.judge = [resolve_spec(s, default="principle") for s in args.judge]

    from rewardmine.server.run import uvicorn_server

    logger = logging.getLogger("rewardmine")
    if not logger.handlers:  # worker deaths and restarts, in uvicorn's format
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    if args.replicas is not None:
        return _run_replicas(args)
    from rewardmine.server.connections import ConnectionLimits

    limits = ConnectionLimits(max_connections=args.max_connections,
                              header_timeout_s=args.header_timeout,
                              max_header_bytes=args.max_header_bytes)  # checked before loading
    app = build(args)
    uvicorn_server(app, host=args.host, port=args.port, graceful_timeout_s=args.graceful_timeout,
                   limits=limits).run()
    return 0


def build_replica(args: argparse.Namespace) -> Any:
    """The app of one Ray Serve replica: ``build(args)`` with the models in the replica's own
    process (the replica is the model's process; Serve restarts it when it dies). The API keys
    are those in ``args`` (resolved where ``rewardmine serve`` ran), not the replica's
    environment."""
    return build(argparse.Namespace(**{**vars(args), "in_process": True}),
                 keys_from_env=False)


def _run_replicas(args: argparse.Namespace) -> int:
    import signal
    import threading

    from rewardmine.distributed.ray_serve import serve_replicas, shutdown

    if args.replicas < 1:
        raise SystemExit(f"rewardmine serve: --replicas must be at least 1, got {args.replicas}")
    if args.in_process:
        raise SystemExit("rewardmine serve: --in-process does not apply with --replicas (each "
                         "replica is its model's process)")
    if not (args.endogenous_model or args.judge):
        raise SystemExit("rewardmine serve: give --endogenous-model and/or a judge (--judge SPEC)")
    if args.judge:  # refuse a bad spec or option here, not in every replica
        from rewardmine.specs import check_settings, parse_spec

        for spec in args.judge:
            check_settings(parse_spec(spec, default="principle"),
                           judge_settings(args, prefix="judge-"))
    # the replicas may run on other nodes, without this shell's environment: the keys go along
    keys = api_keys(args.api_key, os.environ.get("REWARDMINE_API_KEYS"))
    replica_args = argparse.Namespace(**{**vars(args), "api_key": keys,
                                         "openai_api_key": os.environ.get("OPENAI_API_KEY")})
    ongoing = args.max_ongoing_requests or 4 * args.max_batch_size
    url = serve_replicas(functools.partial(build_replica, replica_args), replicas=args.replicas,
                         gpus_per_replica=args.gpus_per_replica,
                         cpus_per_replica=args.cpus_per_replica, max_ongoing_requests=ongoing,
                         host=args.host, port=args.port,
                         graceful_timeout_s=args.graceful_timeout)
    print(f"rewardmine serve: {args.replicas} replicas on Ray Serve at {url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    shutdown()
    return 0

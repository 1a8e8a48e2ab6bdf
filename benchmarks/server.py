"""Load test of ``rewardmine serve``: dynamic batching against one request per model call.

Starts the real server as a subprocess on loopback with a small random-weight Qwen2 model (built
offline), then runs concurrent clients until a fixed number of requests is answered or a time
bound passes. Each request scores two responses to its own prompt; every reply is checked
against rewards computed beforehand in this process, so a lost or misordered response is counted.
With ``--over-context 0.1`` a third configuration (dynamic batching) sends every tenth request
with a response longer than the model's context, which the server must refuse with 400 before
batching; its throughput counts the good requests only, against the clean run's. With
``--worker-threads 1,2`` every configuration runs once per thread count of the model worker
(``rewardmine serve --worker-threads``), interleaved in the same run.
Writes ``benchmarks/results/server.json`` and ``server.md``.

    PYTHONPATH=src python benchmarks/server.py            # about seven minutes on 2 cores
    PYTHONPATH=src python benchmarks/server.py --modes worker --worker-threads 1,2 \
        --over-context 0.1 --out benchmarks/results/server-threads
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import torch

import common
from rewardmine import EndogenousReward
from rewardmine.models import cpu_description
from rewardmine.server.run import free_port
from rewardmine.testing import build_model, build_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def workload(n: int) -> list[tuple[str, list[str]]]:
    return [(f"Question {i}: what is {i} + {i % 7}?", [f"It is {i + i % 7}.", f"Maybe {i}."])
            for i in range(n)]


def over_context_request(k: int) -> dict:
    """A request whose second response alone is longer than the model's 512-token context."""
    return {"prompt": f"Question {k}: tell me everything.",
            "responses": ["Short.", " ".join(f"word{j % 50}" for j in range(600))]}


def is_over_context(k: int, share: float) -> bool:
    """Whether request ``k`` is an over-context one: spread evenly, ``share`` of all requests."""
    return share > 0 and int((k + 1) * share) > int(k * share)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parent[int(stat.parent.name)] = int(fields[1])
        cpu[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    family, total = {pid}, 0.0
    for p in sorted(parent):  # children have larger pids than their parents, unless pids wrapped
        if p in family or parent[p] in family:
            family.add(p)
            total += cpu[p]
    return total


def start_server(model_dir: str, port: int, batch_size: int, wait_ms: float,
                 prompt_cache: str, torch_threads: int | None, in_process: bool,
                 worker_threads: int | None) -> subprocess.Popen:
    return common.start_server(
        ["--endogenous-model", model_dir, "--max-batch-size", str(batch_size),
         "--max-wait-ms", str(wait_ms), "--max-queue", "100000", "--request-timeout", "600",
         "--prompt-cache", prompt_cache, *(["--in-process"] if in_process else []),
         *(["--worker-threads", str(worker_threads)] if worker_threads else [])],
        port=port, env={"OMP_NUM_THREADS": str(torch_threads)} if torch_threads else None)


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
                payload: dict) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on a kept-alive connection; the server must send Content-Length."""
    body = json.dumps(payload).encode()
    writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                 f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"content-length:"))
    return status, await reader.readexactly(length)


async def _clients(port: int, items: list[tuple[str, list[str]]], expected: list[list[float]],
                   *, clients: int, count: int, time_limit_s: float, over_context: float) -> dict:
    latencies: list[float] = []
    refusals: list[float] = []
    counts = {"sent": 0, "lost": 0, "misordered": 0, "refused": 0, "not_refused": 0}
    stop_at = time.monotonic() + time_limit_s

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at and counts["sent"] < count:
                k = counts["sent"]
                counts["sent"] += 1
                prompt, responses = items[k % len(items)]
                over = is_over_context(k, over_context)
                payload = (over_context_request(k) if over
                           else {"prompt": prompt, "responses": responses})
                start = time.monotonic()
                try:
                    status, body = await _post(reader, writer, "/v1/score", payload)
                    rewards = json.loads(body)["rewards"] if status == 200 else None
                except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
                    status, body, rewards = 0, b"", None
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if over:  # must be refused as over the context, naming it, before batching
                    refused = status == 400 and b"context" in body
                    counts["refused" if refused else "not_refused"] += 1
                    refusals.append(time.monotonic() - start)
                    continue
                if rewards is None:
                    counts["lost"] += 1
                    continue
                latencies.append(time.monotonic() - start)
                want = expected[k % len(items)]
                if len(rewards) != len(want) or any(abs(a - b) > 1e-3 * max(1.0, abs(b))
                                                    for a, b in zip(rewards, want, strict=False)):
                    counts["misordered"] += 1
        finally:
            writer.close()

    begin = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {**counts, "wall_s": time.monotonic() - begin, "latencies": latencies,
            "refusals": refusals}


def run_clients(port: int, items: list[tuple[str, list[str]]], expected: list[list[float]], *,
                clients: int, count: int, time_limit_s: float, over_context: float = 0.0
                ) -> dict:
    """``clients`` concurrent connections, each sending its next request when answered.

    The clients are coroutines on one event loop speaking HTTP/1.1 over kept-alive sockets, so the
    load generator costs little CPU next to the server on the same cores (a thread per client
    with ``requests`` cost about 1.5 ms of CPU per request here, half the server's own).
    """
    cpu_before = time.process_time()
    outcome = asyncio.run(_clients(port, items, expected, clients=clients, count=count,
                                   time_limit_s=time_limit_s, over_context=over_context))
    client_cpu = time.process_time() - cpu_before
    latencies = outcome.pop("latencies")
    refusals = outcome.pop("refusals")
    stats = requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["stats"]
    stats = stats["endogenous"]
    return {
        **outcome, "answered": len(latencies), "requests_per_s": len(latencies) / outcome["wall_s"],
        "latency_ms": {f"p{q}": 1000 * percentile(latencies, q) for q in (50, 90, 99)}
        | {"mean": 1000 * statistics.fmean(latencies)},
        "refusal_latency_ms": ({f"p{q}": 1000 * percentile(refusals, q) for q in (50, 99)}
                               if refusals else None),
        "model_calls": stats["calls"], "mean_items_per_call": stats["mean_items_per_call"],
        "model_busy_s": stats["busy_s"],
        "client_cpu_ms_per_request": 1000 * client_cpu / max(1, len(latencies)),
    }


def summarize(runs: list[dict]) -> dict:
    """The run with the median throughput, with the spread of all runs and their losses summed."""
    ordered = sorted(runs, key=lambda r: r["requests_per_s"])
    median = ordered[len(ordered) // 2]
    totals = {key: sum(r[key] for r in runs)
              for key in ("lost", "misordered", "answered", "sent", "refused", "not_refused")}
    return {**median, "runs_requests_per_s": [r["requests_per_s"] for r in runs], **totals}


def place(mode: str, threads: int | None) -> str:
    """Where the model ran, as the tables name it."""
    if threads is None:
        return mode
    return f"{mode}, {threads} torch thread" + ("s" if threads > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--count", type=int, default=3000, help="requests per run")
    parser.add_argument("--time-limit", type=float, default=90.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per configuration, interleaved; the median is reported")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--max-batch-size", type=int, default=128)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="OMP_NUM_THREADS of the server (default: torch's choice)")
    parser.add_argument("--worker-threads", default="default",
                        help="comma-separated torch thread counts of the model worker "
                        "(rewardmine serve --worker-threads), each run in turn; 'default' "
                        "passes no flag")
    parser.add_argument("--over-context", type=float, default=0.0,
                        help="share of requests over the model's context in an extra "
                        "dynamic-batching configuration (0: none)")
    parser.add_argument("--prompt-cache", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--modes", default="worker,in-process",
                        help="where the model runs: 'worker' (the default of rewardmine serve), "
                        "'in-process' (--in-process), or both")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "server"))
    args = parser.parse_args()

    tokenizer = build_tokenizer()
    model = build_model("qwen2", len(tokenizer), hidden_size=args.hidden_size, layers=args.layers,
                        heads=8, kv_heads=4, intermediate_size=4 * args.hidden_size, seed=0)
    items = workload(128)
    batched = (f"dynamic batching (max {args.max_batch_size} items, {args.max_wait_ms:g} ms "
               "wait)")
    batching = [(batched, args.max_batch_size, args.max_wait_ms, 0.0), ("batch size 1", 1, 0.0, 0.0)]
    if args.over_context > 0:
        batching.append((f"{batched}, {args.over_context:.0%} over-context requests",
                         args.max_batch_size, args.max_wait_ms, args.over_context))
    threads = [None if t == "default" else int(t) for t in args.worker_threads.split(",")]
    configs = [(mode, t, *b) for mode in args.modes.split(",")
               for t in (threads if mode == "worker" else [None]) for b in batching]
    runs: dict[tuple, list[dict]] = {c[:3]: [] for c in configs}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        # the reference: the same files the server loads, scored one request at a time
        reward = EndogenousReward.from_pretrained(folder)
        expected = [reward.score(p, r) for p, r in items]
        for repeat in range(args.repeats):
            for mode, worker_threads, label, batch_size, wait_ms, over in configs:
                port = free_port()
                server = start_server(folder, port, batch_size, wait_ms, args.prompt_cache,
                                      args.torch_threads, in_process=mode == "in-process",
                                      worker_threads=worker_threads)
                try:
                    # warm-up, not measured
                    requests.post(f"http://127.0.0.1:{port}/v1/score",
                                  json={"prompt": "warm up", "responses": ["ok"]}, timeout=60)
                    server_cpu = cpu_seconds(server.pid)
                    outcome = run_clients(port, items, expected, clients=args.clients,
                                          count=args.count, time_limit_s=args.time_limit,
                                          over_context=over)
                    outcome["server_cpu_ms_per_request"] = (
                        1000 * (cpu_seconds(server.pid) - server_cpu)
                        / max(1, outcome["answered"]))
                finally:
                    server.send_signal(signal.SIGTERM)
                    server.wait(60)
                runs[mode, worker_threads, label].append(outcome)
                print(json.dumps({"repeat": repeat, "mode": mode, "worker_threads": worker_threads,
                                  "config": label,
                                  "requests_per_s": round(outcome["requests_per_s"], 1),
                                  "lost": outcome["lost"], "misordered": outcome["misordered"],
                                  "refused": outcome["refused"],
                                  "not_refused": outcome["not_refused"]}), flush=True)
    results = [{"mode": mode, "worker_threads": t, "place": place(mode, t), "config": label,
                "max_batch_size": batch_size, "max_wait_ms": wait_ms, "over_context": over,
                **summarize(runs[mode, t, label])}
               for mode, t, label, batch_size, wait_ms, over in configs]
    ratios, over_ratios = {}, {}
    for where in dict.fromkeys(r["place"] for r in results):
        mine = [r for r in results if r["place"] == where]
        ratios[where] = mine[0]["requests_per_s"] / mine[1]["requests_per_s"]
        if len(mine) > 2:
            over_ratios[where] = mine[2]["requests_per_s"] / mine[0]["requests_per_s"]
    report = {
        "benchmark": "rewardmine serve load test, /v1/score, 2 responses per request",
        "command": "PYTHONPATH=src python benchmarks/server.py " + " ".join(sys.argv[1:]),
        "model": f"random-weight Qwen2, hidden {args.hidden_size}, {args.layers} layers, "
                 f"vocab {len(tokenizer)}, context {model.config.max_position_embeddings}, "
                 "fp32 on CPU",
        "clients": args.clients, "count": args.count, "time_limit_s": args.time_limit,
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch "
                   f"{torch.__version__}, {torch.get_num_threads()} torch threads by default",
        "cpu": cpu_description(),
        "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        "results": results, "throughput_ratio": ratios,
        "over_context_throughput_ratio": over_ratios,
    }
    Path(args.out + ".json").write_text(json.dumps(report, indent=2) + "\n")
    Path(args.out + ".md").write_text(markdown(report, args))
    print(markdown(report, args))


def markdown(report: dict, args: argparse.Namespace) -> str:
    load = report["load_average_1min"]
    lines = [
        "# Reward server load test", "",
        f"`{report['command']}`", "",
        f"{report['model']}; {args.clients} concurrent keep-alive connections on loopback, "
        f"{args.count} requests per run (time bound {args.time_limit:.0f} s), each scoring 2 "
        f"responses to its own prompt; {args.repeats} interleaved runs per configuration, the "
        f"median shown. Machine: {report['machine']}; {report['cpu']}; load average "
        f"{load['start']:.1f} at the start, {load['end']:.1f} at the end (1 min).", "",
        "| model runs | configuration | req/s (median) | runs | lost | misordered | p50 ms "
        "| p90 ms | p99 ms | items/call | server CPU ms/req | client CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lat = r["latency_ms"]
        spread = ", ".join(f"{x:.0f}" for x in r["runs_requests_per_s"])
        lines.append(f"| {r['place']} | {r['config']} | {r['requests_per_s']:.1f} | {spread} | "
                     f"{r['lost']}/{r['sent'] - r['refused'] - r['not_refused']} | "
                     f"{r['misordered']} | {lat['p50']:.0f} | "
                     f"{lat['p90']:.0f} | {lat['p99']:.0f} | {r['mean_items_per_call']:.1f} | "
                     f"{r['server_cpu_ms_per_request']:.2f} | "
                     f"{r['client_cpu_ms_per_request']:.2f} |")
    lines += [""] + [f"Throughput with dynamic batching, model in {where}: **{ratio:.2f}x** batch "
                     "size 1." for where, ratio in report["throughput_ratio"].items()]
    for where, ratio in report["over_context_throughput_ratio"].items():
        r = next(x for x in report["results"] if x["over_context"] and x["place"] == where)
        refusal = r["refusal_latency_ms"] or {}
        lines.append(f"With {r['over_context']:.0%} over-context requests, model in {where}: "
                     f"good requests at **{ratio:.2f}x** the clean throughput; "
                     f"{r['refused']} over-context requests refused with 400 naming the context, "
                     f"{r['not_refused']} not (refusal p50 {refusal.get('p50', 0):.0f} ms, "
                     f"p99 {refusal.get('p99', 0):.0f} ms).")
    lines += ["", "req/s counts good requests answered (over-context refusals apart). Server CPU "
              "counts the server process and its worker, per good request. The clients are "
              "coroutines on one event loop in the benchmark's process, which shares the same "
              "cores.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

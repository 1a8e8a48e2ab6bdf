"""Load test of ``rewardkit serve``: dynamic batching against one request per model call.

Starts the real server as a subprocess on loopback with a small random-weight Qwen2 model (built
offline), then runs concurrent clients until a fixed number of requests is answered or a time
bound passes. Each request scores two responses to its own prompt; every reply is checked
against rewards computed beforehand in this process, so a lost or misordered response is counted.
Writes ``benchmarks/results/server.json`` and ``server.md``.

    PYTHONPATH=src python benchmarks/server.py            # about seven minutes on 2 cores
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

from rewardkit import EndogenousReward
from rewardkit.server.run import free_port
from rewardkit.testing import build_model, build_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def workload(n: int) -> list[tuple[str, list[str]]]:
    return [(f"Question {i}: what is {i} + {i % 7}?", [f"It is {i + i % 7}.", f"Maybe {i}."])
            for i in range(n)]


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
                 prompt_cache: str, torch_threads: int | None, in_process: bool
                 ) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if torch_threads:
        env["OMP_NUM_THREADS"] = str(torch_threads)
    process = subprocess.Popen(
        [sys.executable, "-m", "rewardkit.cli", "serve", "--endogenous-model", model_dir,
         "--port", str(port), "--max-batch-size", str(batch_size), "--max-wait-ms", str(wait_ms),
         "--max-queue", "100000", "--request-timeout", "600", "--prompt-cache", prompt_cache,
         *(["--in-process"] if in_process else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


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
                   *, clients: int, count: int, time_limit_s: float) -> dict:
    latencies: list[float] = []
    counts = {"sent": 0, "lost": 0, "misordered": 0}
    stop_at = time.monotonic() + time_limit_s

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at and counts["sent"] < count:
                k = counts["sent"]
                counts["sent"] += 1
                prompt, responses = items[k % len(items)]
                start = time.monotonic()
                try:
                    status, body = await _post(reader, writer, "/v1/score",
                                               {"prompt": prompt, "responses": responses})
                    rewards = json.loads(body)["rewards"] if status == 200 else None
                except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
                    rewards = None
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
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
    return {**counts, "wall_s": time.monotonic() - begin, "latencies": latencies}


def run_clients(port: int, items: list[tuple[str, list[str]]], expected: list[list[float]], *,
                clients: int, count: int, time_limit_s: float) -> dict:
    """``clients`` concurrent connections, each sending its next request when answered.

    The clients are coroutines on one event loop speaking HTTP/1.1 over kept-alive sockets, so the
    load generator costs little CPU next to the server on the same cores (a thread per client
    with ``requests`` cost about 1.5 ms of CPU per request here, half the server's own).
    """
    cpu_before = time.process_time()
    outcome = asyncio.run(_clients(port, items, expected, clients=clients, count=count,
                                   time_limit_s=time_limit_s))
    client_cpu = time.process_time() - cpu_before
    latencies = outcome.pop("latencies")
    stats = requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["stats"]
    stats = stats["endogenous"]
    return {
        **outcome, "answered": len(latencies), "requests_per_s": len(latencies) / outcome["wall_s"],
        "latency_ms": {f"p{q}": 1000 * percentile(latencies, q) for q in (50, 90, 99)}
        | {"mean": 1000 * statistics.fmean(latencies)},
        "model_calls": stats["calls"], "mean_items_per_call": stats["mean_items_per_call"],
        "model_busy_s": stats["busy_s"],
        "client_cpu_ms_per_request": 1000 * client_cpu / max(1, len(latencies)),
    }


def summarize(runs: list[dict]) -> dict:
    """The run with the median throughput, with the spread of all runs and their losses summed."""
    ordered = sorted(runs, key=lambda r: r["requests_per_s"])
    median = ordered[len(ordered) // 2]
    return {**median, "runs_requests_per_s": [r["requests_per_s"] for r in runs],
            "lost": sum(r["lost"] for r in runs), "misordered": sum(r["misordered"] for r in runs),
            "answered": sum(r["answered"] for r in runs), "sent": sum(r["sent"] for r in runs)}


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
    parser.add_argument("--prompt-cache", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--modes", default="worker,in-process",
                        help="where the model runs: 'worker' (the default of rewardkit serve), "
                        "'in-process' (--in-process), or both")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "server"))
    args = parser.parse_args()

    tokenizer = build_tokenizer()
    model = build_model("qwen2", len(tokenizer), hidden_size=args.hidden_size, layers=args.layers,
                        heads=8, kv_heads=4, intermediate_size=4 * args.hidden_size, seed=0)
    items = workload(128)
    batching = [(f"dynamic batching (max {args.max_batch_size} items, {args.max_wait_ms:g} ms "
                 "wait)", args.max_batch_size, args.max_wait_ms), ("batch size 1", 1, 0.0)]
    configs = [(mode, *b) for mode in args.modes.split(",") for b in batching]
    runs: dict[tuple[str, str], list[dict]] = {(m, label): [] for m, label, _, _ in configs}
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        # the reference: the same files the server loads, scored one request at a time
        reward = EndogenousReward.from_pretrained(folder)
        expected = [reward.score(p, r) for p, r in items]
        for repeat in range(args.repeats):
            for mode, label, batch_size, wait_ms in configs:
                port = free_port()
                server = start_server(folder, port, batch_size, wait_ms, args.prompt_cache,
                                      args.torch_threads, in_process=mode == "in-process")
                try:
                    # warm-up, not measured
                    requests.post(f"http://127.0.0.1:{port}/v1/score",
                                  json={"prompt": "warm up", "responses": ["ok"]}, timeout=60)
                    server_cpu = cpu_seconds(server.pid)
                    outcome = run_clients(port, items, expected, clients=args.clients,
                                          count=args.count, time_limit_s=args.time_limit)
                    outcome["server_cpu_ms_per_request"] = (
                        1000 * (cpu_seconds(server.pid) - server_cpu)
                        / max(1, outcome["answered"]))
                finally:
                    server.send_signal(signal.SIGTERM)
                    server.wait(60)
                runs[mode, label].append(outcome)
                print(json.dumps({"repeat": repeat, "mode": mode, "config": label,
                                  "requests_per_s": round(outcome["requests_per_s"], 1),
                                  "lost": outcome["lost"],
                                  "misordered": outcome["misordered"]}), flush=True)
    results = [{"mode": mode, "config": label, "max_batch_size": batch_size,
                "max_wait_ms": wait_ms, **summarize(runs[mode, label])}
               for mode, label, batch_size, wait_ms in configs]
    ratios = {mode: results[2 * k]["requests_per_s"] / results[2 * k + 1]["requests_per_s"]
              for k, mode in enumerate(args.modes.split(","))}
    report = {
        "benchmark": "rewardkit serve load test, /v1/score, 2 responses per request",
        "command": "PYTHONPATH=src python benchmarks/server.py " + " ".join(sys.argv[1:]),
        "model": f"random-weight Qwen2, hidden {args.hidden_size}, {args.layers} layers, "
                 f"vocab {len(tokenizer)}, fp32 on CPU",
        "clients": args.clients, "count": args.count, "time_limit_s": args.time_limit,
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch "
                   f"{torch.__version__}, {torch.get_num_threads()} torch threads",
        "results": results, "throughput_ratio": ratios,
    }
    Path(args.out + ".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Reward server load test", "",
        f"`{report['command']}`", "",
        f"{report['model']}; {args.clients} concurrent keep-alive connections on loopback, "
        f"{args.count} requests per run (time bound {args.time_limit:.0f} s), each scoring 2 "
        f"responses to its own prompt; {args.repeats} interleaved runs per configuration, the "
        f"median shown. Machine: {report['machine']}.", "",
        "| model runs | configuration | req/s (median) | runs | lost | misordered | p50 ms "
        "| p90 ms | p99 ms | items/call | server CPU ms/req | client CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r["latency_ms"]
        spread = ", ".join(f"{x:.0f}" for x in r["runs_requests_per_s"])
        lines.append(f"| {r['mode']} | {r['config']} | {r['requests_per_s']:.1f} | {spread} | "
                     f"{r['lost']}/{r['sent']} | {r['misordered']} | {lat['p50']:.0f} | "
                     f"{lat['p90']:.0f} | {lat['p99']:.0f} | {r['mean_items_per_call']:.1f} | "
                     f"{r['server_cpu_ms_per_request']:.2f} | "
                     f"{r['client_cpu_ms_per_request']:.2f} |")
    lines += [""] + [f"Throughput with dynamic batching, model in {mode}: **{ratio:.2f}x** batch "
                     "size 1." for mode, ratio in ratios.items()]
    lines += ["", "Server CPU counts the server process and its worker. The clients are "
              "coroutines on one event loop in the benchmark's process, which shares the same "
              "cores.", ""]
    Path(args.out + ".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

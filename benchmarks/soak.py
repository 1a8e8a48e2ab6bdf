"""Soak run of ``rewardmine serve``: minutes of mixed good and hostile traffic, with worker kills.

Starts the real server (models in worker processes, the default) as a subprocess on 127.0.0.1
with a tiny random-weight Qwen2 model built offline and the tests' stand-in judge, then runs
keep-alive clients until a time bound or a request bound is reached, whichever comes first; it
stops itself and the server. Most
requests score two responses to their own prompt and are checked against rewards computed
beforehand in this process (a reply for another prompt, or in another order, is "misordered");
a share are the hostile corpus of ``tests/hostile.py`` (each must answer 4xx); every
``--kill-every`` seconds one of the two model worker processes, drawn at random, is killed with
SIGKILL, and the server must restart it (503 + Retry-After meanwhile). With ``--replicas N`` the
server runs N Ray Serve replicas instead, and the kills hit the replica processes that answered.
Hostile requests go on the client's keep-alive session like good ones, so a refusal that leaves the
connection unusable shows up as a lost good request. Reports lost (no answer), misordered, 5xx
(503 with Retry-After while a worker restarts counted apart from any other 5xx) and hostile cases
not answered 4xx. Writes ``benchmarks/results/soak.json`` and ``soak.md``.

    PYTHONPATH=src python benchmarks/soak.py --seconds 180      # three minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests
import torch

import common
from rewardmine import EndogenousReward
from rewardmine.server.run import free_port
from rewardmine.testing import build_model, build_tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from hostile import KEY, corpus  # noqa: E402

MAX_ITEMS, MAX_BODY = 300, 1_000_000


def start_server(model_dir: str, port: int, log: Path, replicas: int = 0) -> subprocess.Popen:
    on_ray = ["--replicas", str(replicas), "--cpus-per-replica", "0"] if replicas else []
    return common.start_server(
        ["--endogenous-model", model_dir, "--judge", "hostile:make_judge", "--api-key", KEY,
         "--max-items-per-request", str(MAX_ITEMS), "--max-body-bytes", str(MAX_BODY),
         "--graceful-timeout", "10", *on_ray],
        port=port, log=log, timeout_s=600,
        env={"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
             "RAY_AUTH_MODE": "disabled"})


def worker_pids(server_pid: int) -> list[int]:
    """The server's model workers: its child processes running multiprocessing's spawn entry."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == server_pid and b"multiprocessing" in cmdline \
                and b"resource_tracker" not in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="time bound")
    parser.add_argument("--max-requests", type=int, default=60_000, help="request bound")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--hostile-share", type=float, default=0.05)
    parser.add_argument("--kill-every", type=float, default=60.0,
                        help="seconds between worker kills (0: none)")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=0,
                        help="serve on N Ray Serve replicas and kill replicas instead of "
                        "workers (0: one server with its model workers)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "soak"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    tokenizer = build_tokenizer()
    model = build_model("qwen2", len(tokenizer), seed=3)
    folder = tempfile.mkdtemp(prefix="rewardmine-soak-")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    reward = EndogenousReward.from_pretrained(folder, device="cpu")
    items = [(f"Question {i}: what is {i} + {i % 7}?", [f"It is {i + i % 7}.", f"Maybe {i}."])
             for i in range(args.prompts)]
    expected = [reward.score(p, r) for p, r in items]
    cases = corpus(MAX_ITEMS, MAX_BODY)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(folder) / "server.log"
    process = start_server(folder, port, log_path, args.replicas)
    replica_pids: set[str] = set()
    counts: Counter[str] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + args.seconds
    sent = 0
    kills = 0
    killed: set[str] = set()

    def note(key: str, problem: str | None = None) -> None:
        with lock:
            counts[key] += 1
            if problem is not None and len(problems) < 20:
                problems.append(problem)

    def client(seed: int) -> None:
        nonlocal sent
        rng = random.Random(seed)
        session = requests.Session()
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        while time.monotonic() < deadline:
            with lock:
                if sent >= args.max_requests:
                    return
                sent += 1
            if rng.random() < args.hostile_share:
                case = rng.choice(cases)
                try:
                    reply = session.request(case.method, url + case.path, data=case.body,
                                            headers={**headers, **case.headers}, timeout=60)
                except requests.RequestException as error:
                    note("hostile lost", f"{case.name}: {type(error).__name__}")
                    continue
                good = reply.status_code in case.expect if case.expect \
                    else 400 <= reply.status_code < 500
                if reply.status_code == 503 and "Retry-After" in reply.headers:
                    note("hostile 503 while restarting")
                elif reply.status_code >= 500:
                    note("hostile 5xx", f"{case.name}: {reply.status_code} {reply.text[:120]}")
                elif not good:
                    note("hostile not as expected", f"{case.name}: {reply.status_code}")
                else:
                    note("hostile ok")
                continue
            k = rng.randrange(len(items))
            prompt, responses = items[k]
            try:
                reply = session.post(url + "/v1/score", headers=headers, timeout=60,
                                     data=json.dumps({"prompt": prompt, "responses": responses}))
            except requests.RequestException as error:
                note("lost", f"score: {type(error).__name__}")
                continue
            if reply.status_code == 200:
                if "x-rewardmine-pid" in reply.headers:
                    with lock:
                        replica_pids.add(reply.headers["x-rewardmine-pid"])
                got = reply.json()["rewards"]
                if len(got) == 2 and all(abs(a - b) < 1e-4
                                         for a, b in zip(got, expected[k], strict=True)):
                    note("ok")
                else:
                    note("misordered", f"{prompt}: {got} != {expected[k]}")
            elif reply.status_code == 503 and "Retry-After" in reply.headers:
                note("503 while restarting")
                time.sleep(min(float(reply.headers["Retry-After"]), 1.0))
            elif reply.status_code >= 500:
                note("5xx", f"score: {reply.status_code} {reply.text[:120]}")
            else:
                note("4xx on a good request", f"score: {reply.status_code} {reply.text[:120]}")

    try:
        common.wait_healthy(url, process)
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [threading.Thread(target=client, args=(s,), daemon=True)
                   for s in range(args.clients)]
        for thread in threads:
            thread.start()
        next_kill = started + args.kill_every if args.kill_every > 0 else float("inf")
        while any(t.is_alive() for t in threads):
            if time.monotonic() >= next_kill and time.monotonic() < deadline - 15:
                if args.replicas:  # a replica that answered, not yet killed
                    with lock:
                        pids = sorted(int(p) for p in replica_pids - killed)
                else:
                    pids = worker_pids(process.pid)  # the endogenous worker or the judge's
                if pids:
                    victim = random.choice(pids)
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills += 1
                        killed.add(str(victim))
                    except ProcessLookupError:  # it had gone already
                        pass
                next_kill += args.kill_every
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        common.wait_healthy(url, process, timeout_s=60)
        final = requests.post(url + "/v1/score", timeout=60, headers={
            "Authorization": f"Bearer {KEY}"}, json={"prompt": items[0][0],
                                                      "responses": items[0][1]})
        final_ok = final.status_code == 200 and all(
            abs(a - b) < 1e-4 for a, b in zip(final.json()["rewards"], expected[0], strict=True))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = log_path.read_text()
    restarts = log.count("is serving again")
    result = {
        "seconds": round(elapsed, 1), "requests": sum(counts.values()),
        "requests_per_s": round(sum(counts.values()) / elapsed, 1),
        "clients": args.clients, "hostile_share": args.hostile_share, "kills": kills,
        "restarts_logged": restarts, "final_request_ok": final_ok,
        "replicas": args.replicas, "replica_processes_seen": len(replica_pids),
        "server_exit_code": process.returncode, "counts": dict(sorted(counts.items())),
        "lost": counts["lost"] + counts["hostile lost"], "misordered": counts["misordered"],
        "5xx_other_than_restart_503": counts["5xx"] + counts["hostile 5xx"],
        "503_while_restarting": counts["503 while restarting"]
        + counts["hostile 503 while restarting"],
        "hostile_not_as_expected": counts["hostile not as expected"],
        "problems": problems,
        "leaked_semaphore_warning": "leaked semaphore" in log,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "command": "PYTHONPATH=src python benchmarks/soak.py " + " ".join(sys.argv[1:]),
    }
    victim_kind = (f"{args.replicas} Ray Serve replicas, a replica" if args.replicas
                   else "a model worker (endogenous or judge, at random)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    table = "\n".join(f"| {k} | {v} |" for k, v in result["counts"].items())
    out.with_suffix(".md").write_text(f"""# Reward server soak run

`{result['command']}`

{result['seconds']} s on loopback, {args.clients} keep-alive clients, {result['requests']} requests
({result['requests_per_s']} req/s), {round(100 * args.hostile_share)}% drawn from the hostile
corpus (`tests/hostile.py`, {len(cases)} cases, over-context items among them),
{victim_kind} killed with SIGKILL {kills} times ({restarts} worker restarts logged;
{len(replica_pids)} replica processes answered). Machine: {result['machine']}.

| outcome | requests |
|---|---|
{table}

- lost (no answer): **{result['lost']}**
- misordered (a reward of another prompt or order): **{result['misordered']}**
- 5xx other than 503 + Retry-After during a restart: **{result['5xx_other_than_restart_503']}**
- hostile cases not answered as expected: **{result['hostile_not_as_expected']}**
- 503 + Retry-After while the worker restarted: {result['503_while_restarting']}
- final known-good request after the run: {"ok" if final_ok else "FAILED"}; server exit code
  after SIGTERM: {process.returncode}; leaked-semaphore warning in the log:
  {"yes" if result['leaked_semaphore_warning'] else "no"}
""")
    print(json.dumps({k: v for k, v in result.items() if k != "problems"}, indent=2))
    if problems:
        print("problems:", *problems, sep="\n  ")


if __name__ == "__main__":
    main()

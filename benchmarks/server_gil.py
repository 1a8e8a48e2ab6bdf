"""Why ``rewardmine serve`` runs its model in a worker process: a model call next to a busy thread.

Times ``EndogenousReward.score_ids`` on the load test's tiny model alone and while another thread
of the same process runs pure Python (as a server's event loop does while it parses requests),
at Python's default switch interval (5 ms) and at 0.5 ms. Writes
``benchmarks/results/server_gil.json`` and ``server_gil.md``.

    PYTHONPATH=src python benchmarks/server_gil.py        # about a minute
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

from rewardmine import EndogenousReward
from rewardmine.server.scoring import encode_chat
from rewardmine.testing import build_model, build_tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from server import workload  # noqa: E402  (the load test's requests)


def median_ms(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    tokenizer = build_tokenizer()
    model = build_model("qwen2", len(tokenizer), hidden_size=64, layers=2, heads=8, kv_heads=4,
                        intermediate_size=256, seed=0)
    reward = EndogenousReward(model, tokenizer)
    tokens = [t for prompt, responses in workload(32)
              for t in encode_chat(reward, [prompt] * len(responses), responses, None)]
    sizes = (2, 64)
    rows = []
    busy = threading.Event()

    def spin() -> None:
        while busy.is_set():
            pass

    for interval in (0.005, 0.0005):
        sys.setswitchinterval(interval)
        for neighbour in ("none", "a thread running pure Python"):
            if neighbour != "none":
                busy.set()
                thread = threading.Thread(target=spin)
                thread.start()
            try:
                for n in sizes:
                    states, actions = [s for s, _ in tokens[:n]], [a for _, a in tokens[:n]]
                    ms = median_ms(lambda s=states, a=actions: reward.score_ids(s, a),
                                   repeats=15 if neighbour == "none" else 3)
                    rows.append({"switch_interval_ms": 1000 * interval, "neighbour": neighbour,
                                 "items": n, "ms_per_call": ms})
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                busy.clear()
                if neighbour != "none":
                    thread.join()
    sys.setswitchinterval(0.005)
    report = {
        "benchmark": "score_ids next to a busy Python thread (GIL hand-backs)",
        "command": "PYTHONPATH=src python benchmarks/server_gil.py",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch "
                   f"{torch.__version__}, {torch.get_num_threads()} torch threads",
        "results": rows,
    }
    out = ROOT / "benchmarks" / "results" / "server_gil"
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# A model call next to a busy Python thread", "", f"`{report['command']}`", "",
             f"The load test's tiny Qwen2, `score_ids` on its tokenized requests (2 responses "
             f"each). Machine: {report['machine']}.", "",
             "| switch interval | other thread | items | ms per call (median) |",
             "|---|---|---|---|"]
    lines += [f"| {r['switch_interval_ms']:g} ms | {r['neighbour']} | {r['items']} | "
              f"{r['ms_per_call']:.1f} |" for r in rows]
    lines += ["", "Every step of a forward pass hands the GIL back after its kernel and must win "
              "it again; a thread that holds it in pure Python gives it up only at the switch "
              "interval. `rewardmine serve` therefore runs each model in a worker process.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

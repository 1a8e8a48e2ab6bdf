"""What Ray costs and gives on this machine: offline scoring and Serve replicas, toy model, CPU.

Run from the repository root: ``PYTHONPATH=src python benchmarks/scale.py``.
Writes benchmarks/results/scale.{json,md}. Measures: a cold ``ray.init``; scoring ROWS rows
locally and on Ray with 1 and 2 actors (actor start included, as a user pays it); starting 2
Serve replicas; and requests per second from CLIENTS concurrent clients against one in-process
``rewardmine serve`` app and against the 2 replicas (each answer checked equal).
"""

from __future__ import annotations

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from common import cpu_description, timed
from rewardmine.cli import build_parser
from rewardmine.cli.serve import build, build_replica
from rewardmine.endogenous import EndogenousReward
from rewardmine.endogenous.rows import score_rows
from rewardmine.server.run import BackgroundServer, free_port

MODEL = "src/rewardmine/toy/model"
ROWS = [{"prompt": f"Question {i}: what is {i} + {i}?", "responses": [f"{2 * i}", f"{i}"]}
        for i in range(256)]
BLOCK = 32
CLIENTS = 16
REQUESTS = 200
OUT = Path(__file__).parent / "results"


def load(url: str) -> tuple[float, list[list[float]]]:
    body = lambda i: {"prompt": f"Question {i % 20}?", "responses": ["yes", "no", f"{i}"]}  # noqa: E731

    def one(i):
        answer = requests.post(url + "/v1/score", json=body(i), timeout=120)
        answer.raise_for_status()
        return answer.json()["rewards"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers, seconds = timed(lambda: list(pool.map(one, range(REQUESTS))))
    return REQUESTS / seconds, answers


def main() -> None:
    import ray

    from rewardmine.distributed.ray_data import score_rows_on_ray
    from rewardmine.distributed.ray_serve import serve_replicas, shutdown

    result: dict = {"machine": cpu_description(),
                    "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
                    "rows": len(ROWS), "responses": 2 * len(ROWS), "rows_per_block": BLOCK}
    factory = functools.partial(EndogenousReward.from_pretrained, MODEL)
    reward = factory()
    local, result["local_score_s"] = timed(lambda: [r for s in range(0, len(ROWS), BLOCK)
                                                   for r in score_rows(reward,
                                                                       ROWS[s:s + BLOCK])])
    _, result["ray_init_s"] = timed(lambda: ray.init(num_cpus=2, log_to_driver=False,
                                                     include_dashboard=False))
    for workers in (1, 2):
        got, seconds = timed(lambda w=workers: [r for b in score_rows_on_ray(
            ROWS, factory, rows_per_block=BLOCK, workers=w) for r in b])
        assert got == local
        result[f"ray_score_{workers}_workers_s"] = seconds
    args = build_parser().parse_args(["serve", "--endogenous-model", MODEL, "--in-process"])
    with BackgroundServer(build(args)) as one:
        result["one_server_requests_per_s"], want = load(one.url)
        stats = requests.get(one.url + "/health", timeout=30).json()["stats"]["endogenous"]
        result["one_server_mean_items_per_call"] = round(stats["mean_items_per_call"], 2)
    port = free_port()
    for ongoing in (256, 5):  # rewardmine's setting (4 x the batch size), then Serve's default
        _, result[f"serve_2_replicas_start_s_ongoing_{ongoing}"] = timed(lambda o=ongoing: (
            serve_replicas(functools.partial(build_replica, args), replicas=2,
                           cpus_per_replica=1, port=port, max_ongoing_requests=o)))
        url = f"http://127.0.0.1:{port}"
        result[f"serve_2_replicas_requests_per_s_ongoing_{ongoing}"], got = load(url)
        result[f"max_abs_difference_ongoing_{ongoing}"] = max(  # merges pad differently
            abs(a - b) for x, y in zip(got, want, strict=True) for a, b in zip(x, y, strict=True))
        assert result[f"max_abs_difference_ongoing_{ongoing}"] < 1e-4
        stats = {}
        while len(stats) < 2:  # each replica's batcher: responses per merged model call
            answer = requests.get(url + "/health", timeout=30)
            stats[answer.headers["x-rewardmine-replica"]] = answer.json()["stats"]["endogenous"]
        result[f"mean_items_per_call_ongoing_{ongoing}"] = [
            round(v["mean_items_per_call"], 2) for v in stats.values()]
        shutdown()
    ray.shutdown()
    result["load_average_at_end"] = os.getloadavg()[0]
    OUT.mkdir(exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Ray on this machine (toy model, CPU)", "",
             f"{result['cpus']} CPUs, load average {result['load_average_at_start']:.1f} at "
             "start (shared machine).", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3g} |" if isinstance(v, float) else f"| {k} | {v} |"
              for k, v in result.items()]
    (OUT / "scale.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

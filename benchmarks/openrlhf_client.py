"""One training step's rollouts from OpenRLHF's own client against ``rewardmine serve``.

OpenRLHF 0.11.2's ``SingleTurnAgentExecutor`` sends every rollout of a step at once to
``/openrlhf`` (the issue this answers: 64 rollouts lost every reward against an older server).
This starts the real server on a tiny random model (pad == end-of-turn, SmolLM2's layout) and, in
OpenRLHF's own environment (``.ci/peers.sh``), sends 64 and then 512 rollouts at once through the
unmodified client; every reward must come back and equal what the library gives, in one thread,
for what the client sent. The same load against the server with merged calls off
(``--max-batch-size 1``) is the naive baseline. Writes ``benchmarks/results/openrlhf_client.json``
and ``.md``.

    PYTHONPATH=src python benchmarks/openrlhf_client.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, cpu_description, start_server
from rewardmine import EndogenousReward
from rewardmine.rl.openrlhf import endogenous_openrlhf_rewards
from rewardmine.server.run import free_port
from rewardmine.testing import build_model, build_tokenizer

PEER = Path(os.environ.get("REWARDMINE_PEERS", Path.home() / ".cache/rewardmine/peers")) / \
    "openrlhf-0.11.2" / "bin" / "python"


def run_peer(model_dir: str, url: str, counts: list[int]) -> list[dict]:
    done = subprocess.run([str(PEER), str(ROOT / "benchmarks" / "openrlhf_client_peer.py"),
                           model_dir, url, *map(str, counts)], capture_output=True, text=True,
                          timeout=3600, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if done.returncode:
        raise RuntimeError(f"the OpenRLHF client failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "openrlhf_client"))
    args = parser.parse_args()
    if not PEER.exists():
        raise SystemExit(f"no OpenRLHF environment at {PEER}: run bash .ci/peers.sh first")
    tokenizer = build_tokenizer()
    tokenizer.pad_token = tokenizer.eos_token  # pad == end of turn, as in SmolLM2
    folder = tempfile.mkdtemp(prefix="openrlhf-bench-")
    build_model("qwen2", len(tokenizer), seed=3).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    local = EndogenousReward.from_pretrained(folder, device="cpu", progress=False)
    results = []
    for name, flags in (("rewardmine serve (merged calls)", []),
                        ("naive: one item per model call", ["--max-batch-size", "1"])):
        port = free_port()
        server = start_server(["--endogenous-model", folder, *flags], port=port)
        try:
            steps = run_peer(folder, f"http://127.0.0.1:{port}", args.rollouts)
        finally:
            server.terminate()
            server.wait(timeout=60)
        for s in steps:
            got = s["rewards"]
            # what the client sends (prompt + the ids decoded with special tokens), scored by
            # the library in this process, one thread: the reference
            queries = [p + local.tokenizer.decode(ids) for p, ids in
                       zip(s["prompts"], s["ids"], strict=True)]
            want = endogenous_openrlhf_rewards(local, queries, s["prompts"])["rewards"]
            lost = sum(not isinstance(r, float) for r in got)
            wrong = sum(isinstance(r, float) and abs(r - w) > 1e-3 for r, w in
                        zip(got, want, strict=True))
            results.append({"server": name, "rollouts": s["rollouts"],
                            "seconds": round(s["seconds"], 2),
                            "rollouts_per_second": round(s["rollouts"] / s["seconds"], 1),
                            "lost": lost, "wrong": wrong})
    report = {"machine": cpu_description(), "client": "OpenRLHF 0.11.2 SingleTurnAgentExecutor",
              "model": "tiny random Qwen2 (pad == end of turn)", "results": results}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = ["# One step's rollouts from OpenRLHF's own client", "",
             f"OpenRLHF 0.11.2's `SingleTurnAgentExecutor` (unmodified: its HTTP client, 180 s "
             f"timeout and retries) sends every rollout of a step at once to `/openrlhf` of "
             f"`rewardmine serve` on {report['model']}; {report['machine']}. A reward is lost "
             "when the client gives up or gets none, wrong when it differs by more than 1e-3 from the "
             "library's reward of what the client sent, computed in one thread.", "",
             "| server | rollouts | seconds | rollouts/s | lost | wrong |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['server']} | {r['rollouts']} | {r['seconds']} | "
              f"{r['rollouts_per_second']} | {r['lost']} | {r['wrong']} |" for r in results]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

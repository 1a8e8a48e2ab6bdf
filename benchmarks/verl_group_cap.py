"""JudgeRewardManager on verl 0.9.1's streaming path with verl's own Ray reward workers: how many
GRPO groups can wait at once (the reproduction behind docs/rl.md's 1000-sample note).

RewardLoopManager (verl's own) creates the RewardLoopWorker Ray actor(s) with no max_concurrency,
so Ray's default for async actors applies (1000 concurrent calls). On the streaming path every
response is one ``compute_score.remote`` call, and JudgeRewardManager holds each call open until
its GRPO group is complete. If the first responses to finish come from more than 1000 different
groups, the actor's slots are all held by incomplete groups and the missing members queue behind
them: nothing completes until group_timeout_s.

Here verl's AgentLoopWorker streams G groups of n=2 through a scripted server where the first
member of every group finishes at once and the second after a delay (generation lengths differ).

Runs in the verl peer environment (``bash .ci/peers.sh``), about two minutes per size:

    PYTHONPATH=src:tests/peers ~/.cache/rewardmine/peers/verl-0.9.1/bin/python \
        benchmarks/verl_group_cap.py 990 1001

Writes ``benchmarks/results/verl_group_cap.json`` and ``.md``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import ray
import torch
import verl
import verl.experimental.agent_loop.single_turn_agent_loop
from hydra import compose, initialize_config_dir
from verl import DataProto
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
from verl.experimental.reward_loop.reward_loop import RewardLoopManager
from verl.utils.dataset.rl_dataset import collate_fn
from verl.workers.rollout.replica import TokenOutput

import rewardmine.rl.verl_managers as rk_managers
from rewardmine.testing import build_model, build_tokenizer

TIMEOUT = 30.0
N = 2
RESULTS = Path(__file__).resolve().parent / "results" / "verl_group_cap"


class ScriptedServer:
    def __init__(self, tokenizer):
        self.tokenizer, self.seen = tokenizer, set()

    async def generate(self, request_id, *, prompt_ids, **_):
        key = tuple(prompt_ids)
        first = key not in self.seen
        self.seen.add(key)
        if not first:
            await asyncio.sleep(3)  # the group's second response takes longer to generate
        ids = self.tokenizer("4" if first else "It is 4", add_special_tokens=False)["input_ids"]
        return TokenOutput(token_ids=[*ids, self.tokenizer.eos_token_id], stop_reason="completed")


def run(groups: int) -> dict:
    """Stream ``groups`` groups of n=2 through verl's agent loop; the outcome and its time."""
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="verl-ray-"))
    tok = build_tokenizer()
    build_model("qwen2", len(tok), seed=0).save_pretrained(work / "policy")
    tok.save_pretrained(work / "policy")
    with initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer/config"),
                               version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={work / 'policy'}", f"actor_rollout_ref.rollout.n={N}",
            "actor_rollout_ref.rollout.name=vllm", "actor_rollout_ref.rollout.prompt_length=64",
            "actor_rollout_ref.rollout.response_length=8",
            "reward.reward_manager.source=importlib",
            f"reward.reward_manager.module.path={rk_managers.__file__}",
            "reward.reward_manager.name=JudgeRewardManager", "reward.num_workers=1",
            "+reward.reward_kwargs.principle=Prefer longer answers.",
            "+reward.reward_kwargs.judge_factory=peer_judges:make",
            "+reward.reward_kwargs.reward=rank", f"+reward.reward_kwargs.group_timeout_s={TIMEOUT}"])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
    manager = RewardLoopManager(cfg)  # verl's own: ray.remote(RewardLoopWorker).options(...)
    handles = manager.reward_loop_worker_handles  # what the trainer passes to the agent loop
    rows = [{"data_source": "math", "reward_model": {"ground_truth": "4"},
             "extra_info": {"question": f"Q{i}: what is 2+2?", "index": i},
             "raw_prompt": [{"role": "user", "content": f"Q{i}: what is 2+2?"}],
             "dummy_tensor": torch.tensor([0], dtype=torch.uint8), "index": i,
             "tools_kwargs": {}, "interaction_kwargs": {}} for i in range(groups)]
    batch = DataProto.from_single_dict(collate_fn(rows))
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in rows], dtype=object)
    batch = batch.repeat(repeat_times=N, interleave=True)
    worker = AgentLoopWorker(cfg, llm_client=ScriptedServer(tok),
                             reward_loop_worker_handles=handles)
    setup, t = time.time() - t0, time.time()
    try:
        out = asyncio.run(worker.generate_sequences(batch))
        scores = out.batch["rm_scores"].sum(-1)
        outcome = {"ok": True, "rewards": len(out),
                   "one_winner_per_group": bool((scores.view(-1, N).sum(1) == 1).all())}
    except Exception as error:
        outcome = {"ok": False, "error": str(error).strip().splitlines()[-1].split(". ")[0]}
    ray.shutdown()
    return {"groups": groups, "samples": groups * N, "setup_s": round(setup, 1),
            "seconds": round(time.time() - t, 1), **outcome}


def main() -> None:
    rows = [run(int(g)) for g in sys.argv[1:]]
    result = {"what": "JudgeRewardManager on verl 0.9.1's streaming reward path, verl's own "
                      "RewardLoopManager and AgentLoopWorker on a local Ray; the first sample of "
                      "each group finishes at once, the second after 3 s",
              "group_timeout_s": TIMEOUT, "machine": f"{platform.machine()}, "
              f"{os.cpu_count()} CPUs, torch {torch.__version__}, verl {verl.__version__}",
              "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# GRPO groups waiting at once on verl's streaming reward path", "",
             f"{result['what']}; group_timeout_s {TIMEOUT:g}; {result['machine']}. "
             "`benchmarks/verl_group_cap.py` (see its docstring for the command).", "",
             "| groups | samples | outcome | seconds after setup |", "|---:|---:|---|---:|"]
    lines += [f"| {r['groups']} | {r['samples']} | "
              f"{'all rewarded' if r['ok'] else 'failed: ' + r['error'].replace('|', '/')} | "
              f"{r['seconds']} |" for r in rows]
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Runs inside the verl 0.9.1 environment (.ci/peers.sh): verl's streaming reward path, the
default when no reward model is colocated, against rewardmine.

verl's own ``AgentLoopWorker`` runs its own ``SingleTurnAgentLoop`` on a batch built as the
trainer builds it (RLHFDataset rows, ``collate_fn``, a uid per prompt, ``repeat(n,
interleave=True)``), and each finished trajectory's reward comes back through
``AgentLoopWorker._compute_score`` -> ``RewardLoopWorker.compute_score`` -> the reward manager's
``run_single`` -> ``rm_scores``. Two stand-ins only: the vLLM/SGLang server (a scripted
``generate`` returning fixed token ids) and the Ray handle of the ``RewardLoopWorker``
(``.compute_score.remote(data)`` pickles its arguments as Ray does and awaits verl's own method).
Prints one JSON object with what the test compares.

    python tests/peers/verl_agent_loop.py WORKDIR
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import torch
import verl
import verl.experimental.agent_loop.single_turn_agent_loop
from hydra import compose, initialize_config_dir
from verl import DataProto
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
from verl.utils.dataset.rl_dataset import collate_fn
from verl.workers.rollout.replica import TokenOutput

import rewardmine.rl.verl as rk_verl
import rewardmine.rl.verl_managers as rk_managers
from rewardmine import EndogenousReward
from rewardmine.testing import build_model, build_tokenizer

CONFIG_DIR = str(Path(verl.__file__).parent / "trainer" / "config")
QUESTIONS = ["What is 2+2?", "What is 3+3?"]
N = 2
RESPONSE_LENGTH = 6  # the long answer below is truncated by the agent loop, as vLLM's max_tokens does


class ScriptedServer:
    """Stands in for verl's LLMServerClient (vLLM/SGLang): fixed token ids per question."""

    def __init__(self, tokenizer, answers: dict[str, list[list[int]]]):
        self.tokenizer, self.calls = tokenizer, []
        self.answers = {k: list(v) for k, v in answers.items()}

    async def generate(self, request_id, *, prompt_ids, sampling_params, **_):
        text = self.tokenizer.decode(prompt_ids)
        question = next(q for q in self.answers if q in text)
        ids = self.answers[question].pop(0)
        self.calls.append((question, list(prompt_ids), ids))
        return TokenOutput(token_ids=ids, stop_reason="completed")


class LocalActor:
    """Stands in for a Ray ActorHandle: ``handle.method.remote(*args)`` -> awaitable; arguments are
    pickled and unpickled as Ray's object store does (so mutations don't leak back)."""

    def __init__(self, obj):
        self._obj = obj

    def __getattr__(self, name):
        method = getattr(self._obj, name)

        class _Remote:
            @staticmethod
            def remote(*args):
                return method(*cloudpickle.loads(cloudpickle.dumps(args)))

        return _Remote


def config(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def gen_batch() -> DataProto:
    """What ray_trainer.fit hands AgentLoopManager.generate_sequences (before chunking)."""
    rows = []
    for i, q in enumerate(QUESTIONS):  # RLHFDataset.__getitem__'s keys for a GSM8K-style row
        extra = {"question": q, "split": "train", "index": i}
        rows.append({"data_source": "math", "ability": "math",
                     "prompt": [{"role": "user", "content": q}],
                     "reward_model": {"ground_truth": "4", "style": "rule"}, "extra_info": extra,
                     "raw_prompt": [{"role": "user", "content": q}],
                     "dummy_tensor": torch.tensor([0], dtype=torch.uint8),
                     "index": i, "tools_kwargs": {}, "interaction_kwargs": {}})
    batch = DataProto.from_single_dict(collate_fn(rows))
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in rows], dtype=object)
    batch.non_tensor_batch.pop("prompt")  # _get_gen_batch keeps raw_prompt + reward keys
    return batch.repeat(repeat_times=N, interleave=True)


def stream(cfg, tokenizer, answers) -> tuple[DataProto, ScriptedServer]:
    reward_worker = RewardLoopWorker(cfg, None)  # the class RewardLoopManager's Ray actors run
    server = ScriptedServer(tokenizer, answers)
    worker = AgentLoopWorker(cfg, llm_client=server,
                             reward_loop_worker_handles=[LocalActor(reward_worker)])
    out = reward_worker.loop.run_until_complete(worker.generate_sequences(gen_batch()))
    return out, server


def unpad(out: DataProto):
    """(prompt ids, response ids) per output row, from the padded output batch."""
    rows = []
    p = out.batch["prompts"].shape[1]
    for i in range(len(out)):
        m = out.batch["attention_mask"][i]
        prompt = out.batch["prompts"][i][m[:p].bool()].tolist()
        response = out.batch["responses"][i][m[p:].bool()].tolist()
        rows.append((prompt, response))
    return rows


def main(work: Path) -> None:
    tok = build_tokenizer()
    policy = work / "policy"
    build_model("qwen2", len(tok), seed=0).save_pretrained(policy)
    tok.save_pretrained(policy)
    reward = EndogenousReward.from_pretrained(str(policy), progress=False)
    tok = reward.tokenizer  # as verl loads it from disk
    say = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = tok.eos_token_id
    long = say("It is four, I think, yes indeed")
    assert len(long) > RESPONSE_LENGTH  # the agent loop truncates it, as vLLM's max_tokens does
    answers = {QUESTIONS[0]: [[*say("4"), eos], [*say("It is 4"), eos]],
               QUESTIONS[1]: [[*say("It is 6"), eos], long]}
    base = [f"actor_rollout_ref.model.path={policy}", f"actor_rollout_ref.rollout.n={N}",
            "actor_rollout_ref.rollout.prompt_length=64", "actor_rollout_ref.rollout.name=vllm",
            f"actor_rollout_ref.rollout.response_length={RESPONSE_LENGTH}"]
    result: dict = {}

    def record(name, out, direct_fn):
        """The streamed rewards (sum over the row and the value on the last response token)
        beside the reward computed directly, per output row."""
        rows = unpad(out)
        scores = out.batch["rm_scores"]
        result[name] = {
            "streamed": scores.sum(-1).tolist(),
            "at_last_token": [float(scores[i, len(r) - 1]) for i, (_, r) in enumerate(rows)],
            "direct": [float(x) for x in direct_fn(rows)],
            "extra_keys": list(out.meta_info.get("reward_extra_keys") or []),
            "responses": [tok.decode(r) for _, r in rows]}

    # 1. rewardmine.rl.verl:compute_score as the custom reward function (verl's naive manager)
    cfg = config([*base, f"reward.custom_reward_function.path={rk_verl.__file__}",
                  "reward.custom_reward_function.name=compute_score",
                  f"+reward.custom_reward_function.reward_kwargs.model={policy}"])
    out, _ = stream(cfg, tok, answers)
    questions = [next(q for q in QUESTIONS if q in tok.decode(p)) for p, _ in unpad(out)]
    record("compute_score", out, lambda rows: reward.score_many(
        questions, [tok.decode(r, skip_special_tokens=True) for _, r in rows]))

    # 2. EndogenousRewardManager: the policy's own ids, with and without a system prompt (the
    # prompt is then re-rendered from raw_prompt, which this path hands over as a (1, k) array)
    mgr = [*base, "reward.reward_manager.source=importlib",
           f"reward.reward_manager.module.path={rk_managers.__file__}", "reward.num_workers=1"]
    endogenous = [*mgr, "reward.reward_manager.name=EndogenousRewardManager",
                  f"+reward.reward_kwargs.model={policy}"]
    out, _ = stream(config(endogenous), tok, answers)
    record("endogenous_manager", out,
           lambda rows: reward.score_ids([p for p, _ in rows], [r for _, r in rows]))
    from rewardmine.rollouts import prompt_state_ids

    system = "You are a careful calculator."
    out, _ = stream(config([*endogenous, f"+reward.reward_kwargs.system={system}"]), tok, answers)
    record("endogenous_manager_system", out, lambda rows: reward.score_ids(
        prompt_state_ids(reward, [[{"role": "user", "content": q}] for q in questions],
                         system=system), [r for _, r in rows]))

    # 3. JudgeRewardManager: GRPO groups gathered by uid across concurrent streaming calls
    import peer_judges

    judge = [*mgr, "reward.reward_manager.name=JudgeRewardManager",
             "+reward.reward_kwargs.principle=Prefer longer answers.",
             "+reward.reward_kwargs.judge_factory=peer_judges:make",
             "+reward.reward_kwargs.reward=rank", "+reward.reward_kwargs.group_timeout_s=20"]
    out, _ = stream(config(judge), tok, answers)

    def longest_in_group(rows):  # the length judge's rank reward: 1 for the longest of a group
        texts = [tok.decode(r, skip_special_tokens=True) for _, r in rows]
        return [float(len(texts[i]) == max(len(texts[j]) for j in range(len(rows))
                                           if questions[j] == questions[i]))
                for i in range(len(rows))]  # one group per question here

    record("judge_manager", out, longest_in_group)
    result["judge_requests"] = [sorted(r["responses"].values()) for r in peer_judges.REQUESTS]

    # 4. token_level refuses this path (verl keeps one float per response here)
    try:
        stream(config([*endogenous, "+reward.reward_kwargs.token_level=true"]), tok, answers)
        result["token_level_error"] = None
    except ValueError as error:
        result["token_level_error"] = str(error)

    # 5. groups that can never complete: as many waiting samples as verl's reward worker takes
    # calls at once (each in a group of its own, n = 2) fail at once, saying why
    worker = RewardLoopWorker(config(judge), None)
    one = out[0:1]

    def sample(k: int) -> DataProto:
        item = one[0:1]
        item.non_tensor_batch = {**item.non_tensor_batch,
                                 "uid": np.array([f"group-{k}"], dtype=object)}
        return item

    async def flood() -> list:
        calls = [worker.compute_score(sample(k)) for k in range(rk_managers.STREAMING_CALLS_AT_ONCE)]
        return await asyncio.gather(*calls, return_exceptions=True)

    def outcome(calls_done: list, start: float) -> dict:
        return {"seconds": time.perf_counter() - start,
                "errors": sorted({str(a) for a in calls_done if isinstance(a, Exception)}),
                "answered": sum(not isinstance(a, Exception) for a in calls_done)}

    start = time.perf_counter()
    result["stuck"] = outcome(worker.loop.run_until_complete(flood()), start)

    # ... while one fewer waiting sample is no deadlock: every group completes when its second
    # sample arrives after all the first ones
    async def halves() -> list:
        groups = range(rk_managers.STREAMING_CALLS_AT_ONCE - 1)
        calls = [worker.compute_score(sample(k)) for k in groups]
        calls += [worker.compute_score(sample(k)) for k in groups]
        return await asyncio.gather(*calls, return_exceptions=True)

    start = time.perf_counter()
    result["just_below"] = outcome(worker.loop.run_until_complete(halves()), start)
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

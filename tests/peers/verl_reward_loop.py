"""Runs inside the verl 0.9.1 environment (.ci/peers.sh): verl's own reward loop against rewardmine.

The batch is built the way verl's trainer builds it (a DataProto of left-padded prompts and
right-padded responses, a uid per prompt, ``repeat(n, interleave=True)``, then a reorder as
``balance_batch`` does), the config is composed by verl's own hydra config with the documented
overrides, and verl's ``RewardLoopWorker`` (the class its Ray actors run) computes the rewards,
assembled by the manager class's ``assemble_rm_scores`` as ``RewardLoopManager`` does. Prints one
JSON object with what the test compares.

    python tests/peers/verl_reward_loop.py WORKDIR TOKENIZER_DIR [JUDGE_BASE_URL]
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from verl import DataProto
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
from verl.trainer.ppo.reward import resolve_reward_manager_cls

import rewardmine.rl.verl as rk_verl
import rewardmine.rl.verl_managers as rk_managers
from rewardmine import EndogenousReward
from rewardmine.testing import build_model

CONFIG_DIR = str(Path(__import__("verl").__file__).parent / "trainer" / "config")
QUESTIONS = ["What is 2+2?", "What is 2+2?"]  # two GRPO groups that drew the same prompt
N = 2


def make_policy(workdir: Path, tokenizer_dir: str) -> Path:
    """A tiny random policy on SmolLM2's tokenizer, whose pad token is its end-of-turn token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    folder = workdir / "policy"
    build_model("llama", len(tokenizer), seed=5).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def config(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def trainer_batch(tokenizer, responses: list[list[int]], prompt_width: int = 24,
                  response_width: int = 8) -> tuple[DataProto, list[list[int]]]:
    """verl's layout: prompts left-padded, uid per prompt, repeat(n, interleave), then reorder."""
    prompt_rows, prompt_masks, prompt_ids = [], [], []
    for q in QUESTIONS:
        text = tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        prompt_ids.append(ids)
        pad = prompt_width - len(ids)
        prompt_rows.append([tokenizer.pad_token_id] * pad + ids)
        prompt_masks.append([0] * pad + [1] * len(ids))
    batch = DataProto.from_single_dict({
        "raw_prompt": np.array([[{"role": "user", "content": q}] for q in QUESTIONS],
                               dtype=object),
        "data_source": np.array(["math"] * len(QUESTIONS), dtype=object),
        "reward_model": np.array([{"ground_truth": "4", "style": "model"}] * len(QUESTIONS),
                                 dtype=object),
        "extra_info": np.array([{"question": q, "split": "train", "index": i}
                                for i, q in enumerate(QUESTIONS)], dtype=object),
    })
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in QUESTIONS], dtype=object)
    batch = batch.repeat(repeat_times=N, interleave=True)
    rows, masks = [], []
    for i, r in enumerate(responses):
        pad = response_width - len(r)
        rows.append(r + [tokenizer.pad_token_id] * pad)
        masks.append(prompt_masks[i // N] + [1] * len(r) + [0] * pad)
    prompts = torch.tensor([prompt_rows[i // N] for i in range(len(responses))])
    batch.batch = None
    tensors = {"prompts": prompts, "responses": torch.tensor(rows),
               "attention_mask": torch.tensor(masks)}
    tensors["input_ids"] = torch.cat([tensors["prompts"], tensors["responses"]], dim=1)
    from tensordict import TensorDict

    batch.batch = TensorDict(tensors, batch_size=len(responses))
    order = torch.tensor([3, 0, 2, 1])  # balance_batch reorders; groups are found by uid
    batch.reorder(order)
    return batch, [prompt_ids[i // N] for i in order.tolist()], order.tolist()


def run_worker(cfg, data: DataProto, router: str | None = None):
    worker = RewardLoopWorker(cfg, router)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    scores = [o["reward_score"] for o in outputs]
    return resolve_reward_manager_cls(cfg).assemble_rm_scores(data, scores), outputs


def main() -> None:
    workdir = Path(sys.argv[1])
    judge_url = sys.argv[3] if len(sys.argv) > 3 else None
    policy = make_policy(workdir, sys.argv[2])
    reward = EndogenousReward.from_pretrained(str(policy))
    tok = reward.tokenizer
    eos = tok.eos_token_id
    say = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    # group 1: a finished "4" and the same tokens truncated; group 2: two finished answers
    responses = [[*say("4"), eos], say("4"), [*say("5"), eos], [*say("It is 4"), eos]]
    data, prompt_ids, order = trainer_batch(tok, responses)
    generated = [responses[i] for i in order]
    direct = reward.score_ids(prompt_ids, generated)
    direct_tokens = reward.token_rewards_ids(prompt_ids, generated)
    out: dict = {"order": order, "direct": direct}

    managers = rk_managers.__file__
    base = [f"actor_rollout_ref.model.path={policy}", f"actor_rollout_ref.rollout.n={N}",
            "reward.reward_manager.source=importlib", f"reward.reward_manager.module.path={managers}"]
    cfg = config([*base, "reward.reward_manager.name=EndogenousRewardManager",
                  f"+reward.reward_kwargs.model={policy}", "reward.num_workers=1"])
    rm_scores, _ = run_worker(cfg, data)
    out["endogenous_last_token"] = rm_scores.sum(dim=1).tolist()
    lengths = data.batch["attention_mask"][:, data.batch["prompts"].shape[1]:].sum(1)
    out["endogenous_at_last_token"] = [
        float(rm_scores[i, lengths[i] - 1]) for i in range(len(order))]

    cfg = config([*base, "reward.reward_manager.name=EndogenousRewardManager",
                  f"+reward.reward_kwargs.model={policy}", "+reward.reward_kwargs.token_level=true",
                  "reward.reward_model.enable=True", f"reward.reward_model.model_path={policy}",
                  f"reward.custom_reward_function.path={rk_verl.__file__}"])
    rm_scores, _ = run_worker(cfg, data)
    out["dense"] = [rm_scores[i, : len(g)].tolist() for i, g in enumerate(generated)]
    out["dense_direct"] = [t.rewards for t in direct_tokens]
    try:
        config_bad = config([*base, "reward.reward_manager.name=EndogenousRewardManager",
                             f"+reward.reward_kwargs.model={policy}",
                             "+reward.reward_kwargs.token_level=true"])
        run_worker(config_bad, data)
        out["dense_streaming_error"] = None
    except ValueError as error:
        out["dense_streaming_error"] = str(error)

    sys.path.insert(0, str(Path(__file__).parent))
    cfg = config([*base, "reward.reward_manager.name=JudgeRewardManager", "reward.num_workers=1",
                  "+reward.reward_kwargs.principle=Prefer longer answers.",
                  "+reward.reward_kwargs.judge_factory=peer_judges:make",
                  "+reward.reward_kwargs.reward=rank"])
    rm_scores, _ = run_worker(cfg, data)
    import peer_judges

    out["judge"] = rm_scores.sum(dim=1).tolist()
    out["judge_requests"] = [sorted(r["responses"].values()) for r in peer_judges.REQUESTS]
    try:
        run_worker(config([*base, "reward.reward_manager.name=JudgeRewardManager",
                           "+reward.reward_kwargs.principle=p",
                           "+reward.reward_kwargs.judge_factory=peer_judges:make"]), data)
        out["judge_workers_error"] = None
    except ValueError as error:
        out["judge_workers_error"] = str(error)

    cfg = config([f"actor_rollout_ref.model.path={policy}",
                  f"reward.custom_reward_function.path={rk_verl.__file__}",
                  "reward.custom_reward_function.name=compute_score",
                  f"+reward.custom_reward_function.reward_kwargs.model={policy}"])
    rm_scores, _ = run_worker(cfg, data)
    out["text_compute_score"] = rm_scores.sum(dim=1).tolist()
    out["text_direct"] = reward.score_many(
        [QUESTIONS[i // N] for i in order],
        [tok.decode(g, skip_special_tokens=True) for g in generated])

    # training a judge at scale: verl's naive path scores sampled verdicts with the verdict reward
    from rewardmine.judge.training import verdict_reward_fn

    verdict_reward = verdict_reward_fn(require_thinking=False)  # judge_training_score's default

    def verdict(scores):
        ranking = sorted(scores, key=lambda k: -scores[k])
        return json.dumps({"scores": scores, "best-to-worst": ranking})

    verdicts = [verdict({"model-1": 5, "model-2": 1}), verdict({"model-1": 1, "model-2": 5}),
                verdict({"model-1": 3, "model-2": 3}), "no verdict at all"]
    truth = {"ids": ["model-1", "model-2"], "truth_scores": [2.0, 1.0]}
    vdata, _, vorder = trainer_batch(tok, [[*say(v), eos] for v in verdicts], response_width=64)
    vdata.non_tensor_batch["reward_model"] = np.array(
        [{"ground_truth": json.dumps(truth), "style": "rule"}] * len(verdicts), dtype=object)
    cfg = config([f"actor_rollout_ref.model.path={policy}",
                  f"reward.custom_reward_function.path={rk_verl.__file__}",
                  "reward.custom_reward_function.name=judge_training_score"])
    rm_scores, _ = run_worker(cfg, vdata)
    out["judge_training"] = rm_scores.sum(dim=1).tolist()
    out["judge_training_direct"] = [
        verdict_reward([verdicts[i]], ids=[truth["ids"]], truth_scores=[truth["truth_scores"]])[0]
        for i in vorder]

    if judge_url:
        host = judge_url.removeprefix("http://").removesuffix("/v1")
        cfg = config([f"actor_rollout_ref.model.path={policy}",
                      f"reward.custom_reward_function.path={rk_verl.__file__}",
                      "reward.custom_reward_function.name=judge_compute_score",
                      "+reward.custom_reward_function.reward_kwargs.principle=Prefer longer answers.",
                      "+reward.custom_reward_function.reward_kwargs.judge_model_name=judge"])
        rm_scores, _ = run_worker(cfg, data, router=host)
        out["async_judge"] = rm_scores.sum(dim=1).tolist()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

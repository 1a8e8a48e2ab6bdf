#!/usr/bin/env bash
# GRPO on MATH with the endogenous reward of the policy's frozen copy, in verl.
# The paper's setting: Qwen2.5-Math-7B policy and reward, MATH-lighteval prompts, 1024-token
# prompts and responses, KL coefficient 0.01 (as a KL loss). Other values are starting points.
# NOT RUN by rewardmine's authors: it needs a GPU node (8 x 80 GB assumed below) and downloads.
#
#   python examples/rl/verl_math_preprocess.py --out ~/data/math
#   bash examples/rl/verl_grpo_math_endogenous.sh
#
# verl 0.9.1's reward loop: rewardmine's reward manager, loaded by path (source=importlib), scores
# the token ids the policy generated after the prompt ids it saw (the frozen copy shares the
# policy's tokenizer): a truncated response gets no end-of-turn. One reward worker process loads
# the model. verl accepts and ignores the pre-0.9 spellings (top-level custom_reward_function.*,
# reward_model.reward_manager=batch): do not use them.
#
# The reward model loads in verl's reward worker (reward_kwargs.model). Where those workers have
# no GPU, serve it on one instead and point the manager at the server:
#   rewardmine serve --endogenous-model Qwen/Qwen2.5-Math-7B --dtype bfloat16 --port 8000 &
#   ... replace reward_kwargs.model/dtype by +reward.reward_kwargs.server_url=http://HOST:8000
set -euo pipefail
MODEL=${MODEL:-Qwen/Qwen2.5-Math-7B}
DATA=${DATA:-$HOME/data/math}
MANAGERS=$(python -c "import os, rewardmine.rl as m; print(os.path.join(os.path.dirname(m.__file__), 'verl_managers.py'))")

python -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  data.train_files="$DATA/train.parquet" data.val_files="$DATA/test.parquet" \
  data.train_batch_size=128 data.max_prompt_length=1024 data.max_response_length=1024 \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.ppo_mini_batch_size=64 \
  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.01 \
  actor_rollout_ref.actor.kl_loss_type=low_var_kl \
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=8 \
  actor_rollout_ref.rollout.temperature=1.0 \
  reward.reward_manager.source=importlib \
  reward.reward_manager.module.path="$MANAGERS" \
  reward.reward_manager.name=EndogenousRewardManager \
  reward.num_workers=1 \
  +reward.reward_kwargs.model="$MODEL" \
  +reward.reward_kwargs.dtype=bfloat16 \
  trainer.n_gpus_per_node=8 trainer.nnodes=1 trainer.total_epochs=1 \
  trainer.logger='["console"]' "$@"

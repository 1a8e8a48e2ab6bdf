#!/usr/bin/env bash
# Train SmolLM2-135M-Instruct (the real-model tier's GGUF package) as a principle-following judge
# on principles-dsp with the literature principle held out, then evaluate the untrained and the
# trained model on the held-out lists with the same decoding (constrained, no thinking, greedy).
# Usage: bash experiments/train_judge_smollm2.sh OUT [STEPS] [REWARD] [SEED] [EVAL_LISTS]
set -euo pipefail
OUT=${1:?give an output folder}
STEPS=${2:-20}
REWARD=${3:-combined}
SEED=${4:-0}
LISTS=${5:-40}
MODEL=$(python -c "from rewardmine.testing import smollm2_gguf; print(smollm2_gguf())")
RUN="$OUT/$REWARD-seed$SEED"
rewardmine train-judge --data principles-dsp --model "$MODEL" --out "$RUN" \
  --held-out literature --steps "$STEPS" --batch-size 8 --num-generations 4 \
  --max-completion-length 160 --learning-rate 1e-6 --reward "$REWARD" --seed "$SEED"
for judge in untrained trained; do
  if [ "$judge" = untrained ]; then SPEC="principle:$MODEL"; else SPEC="principle:$RUN/model"; fi
  EVAL="$OUT/eval-$judge"
  [ "$judge" = trained ] && EVAL="$RUN/eval"
  [ -f "$EVAL/summary.json" ] && continue
  rewardmine bench principles-build-bench --data "$RUN/heldout.jsonl" --limit "$LISTS" \
    --method judge --model "$SPEC" --option constrained=true --option thinking=false \
    --option max_new_tokens=160 --out "$EVAL" --resamples 1000
done

#!/usr/bin/env bash
# Train SmolLM2-135M-Instruct (the real-model tier's GGUF package) as a principle-following judge
# on principles-dsp with the literature principle held out, then evaluate the untrained and the
# trained model on the held-out lists with the same decoding (constrained, no thinking, greedy)
# and the same mode (listwise: --method judge; pairwise: --method judge-pairwise).
# Usage: bash experiments/train_judge_smollm2.sh OUT [STEPS] [REWARD] [SEED] [EVAL_LISTS] [MODE]
#          [WARM_START_STEPS]
set -euo pipefail
OUT=${1:?give an output folder}
STEPS=${2:-20}
REWARD=${3:-combined}
SEED=${4:-0}
LISTS=${5:-40}
MODE=${6:-listwise}
WARM=${7:-0}
MODEL=$(python -c "from rewardmine.testing import smollm2_gguf; print(smollm2_gguf())")
RUN="$OUT/$MODE-$REWARD-seed$SEED"
METHOD=judge
[ "$MODE" = pairwise ] && METHOD=judge-pairwise
rewardmine train-judge --data principles-dsp --model "$MODEL" --out "$RUN" \
  --held-out literature --mode "$MODE" --steps "$STEPS" --batch-size 8 --num-generations 4 \
  --max-completion-length 160 --learning-rate 1e-6 --reward "$REWARD" --seed "$SEED" \
  --warm-start-steps "$WARM" --warm-start-learning-rate 5e-5
for judge in untrained trained; do
  if [ "$judge" = untrained ]; then SPEC="principle:$MODEL"; else SPEC="principle:$RUN/model"; fi
  EVAL="$OUT/eval-untrained-$MODE"
  [ "$judge" = trained ] && EVAL="$RUN/eval"
  [ -f "$EVAL/summary.json" ] && continue
  rewardmine bench principles-build-bench --data "$RUN/heldout.jsonl" --limit "$LISTS" \
    --method "$METHOD" --model "$SPEC" --option constrained=true --option thinking=false \
    --option max_new_tokens=160 --out "$EVAL" --resamples 1000
done

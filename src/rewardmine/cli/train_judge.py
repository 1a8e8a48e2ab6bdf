"""``rewardmine train-judge``: train a principle-following judge with GRPO on lists with ground
truth, held-out principles set apart (needs the ``trl`` extra)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rewardmine.errors import UsageError
from rewardmine.judgetraining.data import TRAINING_MODES


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "train-judge", help="train a principle-following judge with GRPO (RewardAnything's recipe)",
        description="Reads lists with ground-truth scores (a build-bench benchmark.jsonl, any "
        "JSONL of principle, prompt, responses, scores, or the principles-rm-bench / "
        "principles-dsp benchmark), holds out whole principles, trains the model with TRL's "
        "GRPOTrainer on the judge prompts, and writes OUT/model (load it as principle:OUT/model), "
        "OUT/train.jsonl and OUT/heldout.jsonl (principles-build-bench files), OUT/split.json "
        "and OUT/log.json.")
    parser.add_argument("--data", required=True,
                        help="a JSONL/JSON file of lists, or principles-rm-bench or principles-dsp")
    parser.add_argument("--bench-data", help="the benchmark's data folder (default: the shared "
                        "copy), for --data principles-*")
    parser.add_argument("--model", required=True, help="the judge to train: a path or hub id")
    parser.add_argument("--out", required=True, type=Path)
    held = parser.add_mutually_exclusive_group()
    held.add_argument("--held-out", nargs="+", metavar="PRINCIPLE",
                      help="the principles to hold out (their names: the 'dimension' column)")
    held.add_argument("--held-out-share", type=float, default=0.25,
                      help="the share of principles to hold out, drawn with --seed (default 0.25)")
    parser.add_argument("--mode", choices=TRAINING_MODES, default="listwise",
                        help="train on whole lists (listwise) or on every pair of a list's "
                        "responses the truth orders (pairwise: for the judge's pairwise mode, "
                        "evaluated with --method judge-pairwise)")
    parser.add_argument("--reward", choices=["combined", "format"], default="combined",
                        help="combined: 0.15 format + 0.85 accuracy; format: the control")
    parser.add_argument("--thinking", choices=["on", "off"], default="off",
                        help="let a thinking model think first (and require it in the format "
                        "reward); off for models without a thinking mode")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=8, help="completions per step")
    parser.add_argument("--num-generations", type=int, default=4, help="verdicts per prompt")
    parser.add_argument("--max-completion-length", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--beta", type=float, default=0.0, help="KL coefficient")
    parser.add_argument("--warm-start-steps", type=int, default=0,
                        help="supervised steps on valid verdicts with random scores before GRPO, "
                        "for a model too small to write a valid verdict unprompted (it learns "
                        "the form, not the truth); default 0")
    parser.add_argument("--warm-start-learning-rate", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-verl", action="store_true",
                        help="write OUT/train.parquet and OUT/heldout.parquet for verl's trainer "
                        "(reward: rewardmine/rl/verl.py judge_training_score) and stop; nothing "
                        "is trained here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rewardmine.judgetraining.data import (
        grpo_rows,
        load_lists,
        split_by_principle,
        write_lists,
        write_verl,
    )
    from rewardmine.judgetraining.recipe import TrainConfig, train_judge

    try:
        config = TrainConfig(steps=args.steps, batch_size=args.batch_size,
                             num_generations=args.num_generations,
                             max_completion_length=args.max_completion_length,
                             learning_rate=args.learning_rate, beta=args.beta,
                             reward=args.reward, thinking=args.thinking == "on", seed=args.seed,
                             warm_start_steps=args.warm_start_steps,
                             warm_start_learning_rate=args.warm_start_learning_rate)
    except ValueError as error:
        raise UsageError(str(error)) from None
    lists = load_lists(args.data, data=args.bench_data)
    train, held_out, names = split_by_principle(
        lists, held_out=args.held_out or args.held_out_share, seed=args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_lists(train, out / "train.jsonl")
    write_lists(held_out, out / "heldout.jsonl")
    split = {"data": str(args.data), "model": str(args.model), "mode": args.mode,
             "held_out_principles": names,
             "train_principles": sorted({x.principle for x in train}),
             "train_lists": len(train), "held_out_lists": len(held_out), "seed": args.seed}
    (out / "split.json").write_text(json.dumps(split, indent=2) + "\n", encoding="utf-8")
    print(f"train-judge: {len(train)} lists of {len(split['train_principles'])} principles to "
          f"train on; {len(held_out)} lists of {names} held out", file=sys.stderr)
    if args.export_verl:
        write_verl(grpo_rows(train, seed=args.seed, mode=args.mode), out / "train.parquet")
        write_verl(grpo_rows(held_out, seed=args.seed, mode=args.mode),
                   out / "heldout.parquet")
        print(f"train-judge: verl datasets in {out / 'train.parquet'} and "
              f"{out / 'heldout.parquet'}", file=sys.stderr)
        return 0
    rows = grpo_rows(train, seed=args.seed, mode=args.mode)
    if args.mode == "pairwise":
        print(f"train-judge: {len(rows)} pairs the truth orders, from the {len(train)} lists",
              file=sys.stderr)
    log = train_judge(args.model, rows, out, config)
    rewards = [h for h in log if "reward" in h]
    if rewards:
        print(f"train-judge: reward {rewards[0]['reward']:.3f} at step 1, "
              f"{rewards[-1]['reward']:.3f} at step {len(rewards)}", file=sys.stderr)
    print(f"train-judge: the judge is in {out / 'model'}; evaluate it on the held-out principles "
          f"with: rewardmine bench principles-build-bench --data {out / 'heldout.jsonl'} "
          f"--method {'judge-pairwise' if args.mode == 'pairwise' else 'judge'} "
          f"--model principle:{out / 'model'} --option constrained=true "
          f"--option thinking=false --out RUN", file=sys.stderr)
    return 0

"""MATH-lighteval as verl parquet files, with the prompt in ``extra_info`` for rewardmine.

verl passes the reward function only the decoded response, the ground truth and ``extra_info``,
so the question is stored in ``extra_info["question"]`` (rewardmine's default ``prompt_key``).
NOT RUN by rewardmine's authors (it downloads the dataset). Needs ``pip install datasets pandas``.

    python examples/rl/verl_math_preprocess.py --out ~/data/math

``--source FILE`` reads local MATH rows (JSON or JSONL with "problem" and "solution") for both
splits instead of the hub dataset (CI runs it so, and reads the result with verl's RLHFDataset).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DATASET = "DigitalLearningGmbH/MATH-lighteval"
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def main(argv: list[str] | None = None) -> None:
    from datasets import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--source", help="a local JSON/JSONL file of MATH rows, for both splits")
    args = parser.parse_args(argv)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        data = (load_dataset("json", data_files=args.source, split="train") if args.source
                else load_dataset(DATASET, "default", split=split))

        def row(example: dict, index: int, split: str = split) -> dict:
            question = f"{example['problem']}\n{INSTRUCTION}"
            return {
                "data_source": DATASET,
                "prompt": [{"role": "user", "content": question}],
                "ability": "math",
                "reward_model": {"style": "model", "ground_truth": example["solution"]},
                "extra_info": {"split": split, "index": index, "question": question},
            }

        data.map(row, with_indices=True, remove_columns=data.column_names) \
            .to_parquet(str(out / f"{split}.parquet"))


if __name__ == "__main__":
    main()

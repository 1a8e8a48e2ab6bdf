"""Runs inside the verl 0.9.1 environment: examples/rl/verl_math_preprocess.py's parquet, read by
verl's own RLHFDataset, carries the prompt where rewardmine's compute_score looks for it.

    python tests/peers/verl_dataset.py WORKDIR TOKENIZER_DIR
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.utils.dataset.rl_dataset import RLHFDataset

from rewardmine.rl.verl import prompt_from_extra_info


def main() -> None:
    workdir, tokenizer_dir = Path(sys.argv[1]), sys.argv[2]
    rows = workdir / "math.jsonl"
    rows.write_text(json.dumps({"problem": "What is 2+2?", "solution": "\\boxed{4}"}) + "\n")
    subprocess.run([sys.executable, "examples/rl/verl_math_preprocess.py", "--out",
                    str(workdir / "math"), "--source", str(rows)], check=True)
    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 256,
                               "filter_overlong_prompts": False, "return_raw_chat": True})
    data = RLHFDataset(str(workdir / "math" / "train.parquet"),
                       AutoTokenizer.from_pretrained(tokenizer_dir), config)
    row = data[0]
    print(json.dumps({"raw_prompt": [dict(m) for m in row["raw_prompt"]],
                      "question": prompt_from_extra_info(row["extra_info"], "question"),
                      "ground_truth": row["reward_model"]["ground_truth"],
                      "data_source": row["data_source"]}))


if __name__ == "__main__":
    main()

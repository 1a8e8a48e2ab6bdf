"""The paper-setting TRL recipe in examples/rl/, run for one step on CPU with a tiny model.

It cannot run at full scale here (7B models, GPUs, downloads); this keeps its code in step with
the installed TRL (TRL 1.x removed ``max_prompt_length``, which the first version passed)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("trl")

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "rl" / "trl_grpo_math_endogenous.py"


def load_recipe():
    spec = importlib.util.spec_from_file_location("trl_grpo_math_endogenous", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_keeps_the_papers_settings(tmp_path):
    config = load_recipe().grpo_config(str(tmp_path), bf16=False)
    assert (config.beta, config.max_completion_length, config.num_generations) == (0.01, 1024, 8)


def test_prompts_longer_than_the_limit_are_left_out_and_counted(tokenizer, capsys):
    from datasets import Dataset

    recipe = load_recipe()
    data = Dataset.from_list([{"problem": "1+1?", "solution": "2"},
                              {"problem": "word " * 400, "solution": "x"}])
    short = [{"role": "user", "content": f"1+1?\n{recipe.INSTRUCTION}"}]
    limit = len(tokenizer(tokenizer.apply_chat_template(short, tokenize=False,
                                                        add_generation_prompt=True),
                          add_special_tokens=False)["input_ids"])  # exactly fits: kept
    kept = recipe.math_prompts(data, tokenizer, max_prompt_tokens=limit)
    assert [row["prompt"] for row in kept] == [short]
    assert f"1 of 2 prompts fit in {limit} tokens; 1 left out" in capsys.readouterr().out


def test_recipe_trains_one_step_on_cpu(saved_model, tmp_path):
    problems = tmp_path / "math.jsonl"
    problems.write_text("".join(json.dumps({"problem": p, "solution": s}) + "\n" for p, s in
                                [("What is 2+2?", "4"), ("What is 3*3?", "9")]))
    trainer = load_recipe().main([
        "--model", str(saved_model), "--dataset", str(problems),
        "--output-dir", str(tmp_path / "run"), "--num-generations", "2",
        "--gradient-accumulation-steps", "1", "--max-completion-length", "8", "--max-steps", "1",
        "--cpu"])
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert trainer.state.global_step == 1 and logged
    assert math.isfinite(logged[0]["reward"])

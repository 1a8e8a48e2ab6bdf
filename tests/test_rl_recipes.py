"""The paper-setting TRL recipe in examples/rl/, run for one step on CPU with a tiny model.

It cannot run at full scale here (7B models, GPUs, downloads); this keeps its code in step with
the installed TRL (TRL 1.x removed ``max_prompt_length``, which the first version passed)."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shlex
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


def documented_command() -> list[str]:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "rl.md").read_text()
    (command,) = re.findall(r"^(python examples/rl/trl_grpo_math_endogenous\.py .*?)(?<!\\)$",
                            docs, flags=re.M | re.S)
    return shlex.split(command.replace("\\\n", " "))


def test_documented_command_trains_one_step_on_cpu(saved_model, tmp_path, monkeypatch):
    """The command in docs/rl.md as written, in a folder holding its tiny-rm and math.jsonl."""
    argv = documented_command()
    assert argv[:2] == ["python", "examples/rl/trl_grpo_math_endogenous.py"]
    (tmp_path / "math.jsonl").write_text("".join(
        json.dumps({"problem": p, "solution": s}) + "\n"
        for p, s in [("What is 2+2?", "4"), ("What is 3*3?", "9")]))
    (tmp_path / "tiny-rm").symlink_to(saved_model, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    trainer = load_recipe().main(argv[2:])
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert trainer.state.global_step == 1 and logged
    assert math.isfinite(logged[0]["reward"])
    print({k: v for k, v in logged[0].items() if k.startswith("rewards/")})

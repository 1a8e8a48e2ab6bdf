"""Runs inside the OpenRLHF 0.11.2 environment (.ci/peers.sh): OpenRLHF's own reward client code.

``SingleTurnAgentExecutor.execute`` (installed, unmodified) tokenizes the prompt, asks its engine
for a continuation, decodes prompt + generated ids with special tokens and fetches the reward
from ``--reward.remote_url``: over HTTP from a running ``rewardmine serve``, or by importing
rewardmine's ``.py`` reward file. The engine is the one stand-in (vLLM needs a GPU): it returns
fixed token ids, one finished response (ending with the end-of-turn, which is also the pad token)
and the same tokens truncated. Also parses documented command lines with the argument parser
written in ``openrlhf/cli/train_ppo_ray.py``. Prints one JSON object.

    python tests/peers/openrlhf_reward_path.py MODEL_DIR SERVER_URL [ARGS_JSON]
"""

from __future__ import annotations

import ast
import asyncio
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from openrlhf.utils.agent import SingleTurnAgentExecutor
from transformers import AutoTokenizer

import rewardmine.rl.openrlhf_reward_func as bundled


class FixedEngine:
    """Stands in for OpenRLHF's vLLM engine: returns the given ids and finish reason."""

    def __init__(self, tokenizer, ids, finish_reason):
        self.tokenizer, self.ids, self.finish_reason = tokenizer, ids, finish_reason

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        output = SimpleNamespace(token_ids=list(self.ids), text=text,
                                 finish_reason=self.finish_reason, logprobs=None)
        return SimpleNamespace(outputs=[output])


def rewards(url_or_file: str, tokenizer, prompt: str, cases) -> list[float]:
    executor = SingleTurnAgentExecutor(remote_rm_url=url_or_file)
    out = []
    for ids, finish in cases:
        params = SimpleNamespace(max_tokens=8, logprobs=None)
        result = asyncio.run(executor.execute(prompt, "4", params, 64, tokenizer,
                                              FixedEngine(tokenizer, ids, finish)))
        value = result["reward"]
        out.append(float(value[0]) if hasattr(value, "__len__") else float(value))
    return out


def parse_train_ppo_ray(argv: list[str]) -> dict:
    """Run the argument parser that ``openrlhf/cli/train_ppo_ray.py`` builds under __main__."""
    import openrlhf.cli as cli

    source = (Path(cli.__file__).parent / "train_ppo_ray.py").read_text()
    main = next(n for n in ast.parse(source).body if isinstance(n, ast.If)
                and "__main__" in ast.unparse(n.test))
    upto = next(i for i, n in enumerate(main.body) if "parse_args" in ast.unparse(n))
    module = ast.Module(body=main.body[: upto + 1], type_ignores=[])
    scope: dict = {}
    saved, sys.argv = sys.argv, ["train_ppo_ray", *argv]
    try:
        imports = {"argparse": __import__("argparse"), "os": __import__("os"),
                   "datetime": __import__("datetime").datetime}
        exec(compile(module, "train_ppo_ray.py", "exec"), imports, scope)
    finally:
        sys.argv = saved
    return {k: v for k, v in vars(scope["args"]).items()
            if k in ("reward.remote_url", "actor.model_name_or_path")}


def main() -> None:
    model_dir, url = sys.argv[1], sys.argv[2]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+2?"}],
                                           tokenize=False, add_generation_prompt=True)
    generated = tokenizer("Four.", add_special_tokens=False)["input_ids"]
    cases = [([*generated, tokenizer.eos_token_id], "stop"), (generated, "length")]
    out = {"pad_is_eos": tokenizer.pad_token_id == tokenizer.eos_token_id,
           "http": rewards(url.rstrip("/") + "/openrlhf", tokenizer, prompt, cases)}
    import os

    os.environ["REWARDMINE_REWARD"] = model_dir
    out["file"] = rewards(bundled.__file__, tokenizer, prompt, cases)
    if len(sys.argv) > 3:
        out["parsed"] = [parse_train_ppo_ray(argv) for argv in json.loads(sys.argv[3])]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

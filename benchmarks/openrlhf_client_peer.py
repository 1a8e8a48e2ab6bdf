"""The peer side of ``benchmarks/openrlhf_client.py``: runs in the OpenRLHF 0.11.2 environment and
sends one step's rollouts at once through OpenRLHF's own ``SingleTurnAgentExecutor`` (its HTTP
client, timeout and retries, unmodified) to a running ``rewardmine serve``. The engine is a
stand-in returning fixed ids (vLLM needs a GPU). Prints one JSON object.

    python benchmarks/openrlhf_client_peer.py MODEL_DIR URL ROLLOUTS [ROLLOUTS ...]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from types import SimpleNamespace

from openrlhf.utils.agent import SingleTurnAgentExecutor
from transformers import AutoTokenizer


class FixedEngine:
    def __init__(self, tokenizer, ids):
        self.tokenizer, self.ids = tokenizer, ids

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        output = SimpleNamespace(token_ids=list(self.ids), text=text, finish_reason="stop",
                                 logprobs=None)
        return SimpleNamespace(outputs=[output])


def cases(tokenizer, count: int) -> list[tuple[str, list[int]]]:
    """``count`` rollouts: 8 samples for each of count / 8 prompts, each a different answer."""
    out = []
    for k in range(count):
        question = f"What is {k // 8} plus {k // 8 + 1}?"
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                               tokenize=False, add_generation_prompt=True)
        answer = tokenizer(f"It is {2 * (k // 8) + 1 + k % 8 - 4}.", add_special_tokens=False)
        out.append((prompt, [*answer["input_ids"], tokenizer.eos_token_id]))
    return out


async def step(url: str, tokenizer, rollouts: list[tuple[str, list[int]]]) -> list:
    executor = SingleTurnAgentExecutor(remote_rm_url=url)
    params = SimpleNamespace(max_tokens=16, logprobs=None)

    async def one(prompt, ids):
        try:
            result = await executor.execute(prompt, "label", params, 256, tokenizer,
                                            FixedEngine(tokenizer, ids))
        except Exception as error:  # the client gave up: a lost reward
            return repr(error)
        value = result["reward"]
        if value is None:
            return None
        return float(value[0]) if hasattr(value, "__len__") else float(value)

    return await asyncio.gather(*(one(p, ids) for p, ids in rollouts))


def main() -> None:
    model_dir, url, counts = sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3:]]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    out = []
    for count in counts:
        rollouts = cases(tokenizer, count)
        started = time.perf_counter()
        rewards = asyncio.run(step(url.rstrip("/") + "/openrlhf", tokenizer, rollouts))
        seconds = time.perf_counter() - started
        out.append({"rollouts": count, "seconds": seconds, "rewards": rewards,
                    "prompts": [p for p, _ in rollouts], "ids": [ids for _, ids in rollouts]})
    print(json.dumps(out))


if __name__ == "__main__":
    main()

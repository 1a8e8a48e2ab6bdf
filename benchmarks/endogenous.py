"""Endogenous reward: rewardmine against the naive and the TRL way, same model, same workload, one run.

The naive way runs every prompt + response through the model's forward, takes the full
[batch, length, vocab] logits, casts them to fp32, and gathers log_softmax / logsumexp. The TRL way
takes the same full logits and gathers log pi with TRL's own ``selective_log_softmax`` (a logsumexp
per row instead of a full log_softmax copy). rewardmine runs a prompt once per group of responses
(KV cache reuse, several groups' prompts in one forward) and applies the output head only at the
states the reward needs, in fp32 chunks.

The model is a random-weight model of a published shape (``--shape``) or a real checkpoint
(``--model``: SmolLM2-135M-Instruct or Gemma-3-270m, their GGUF packages dequantized to fp32 and
cached as checkpoint folders under ``--model-cache``). Token ids are drawn at random from the
vocabulary; a workload ``PxR`` is P prompts with R responses each.

Each (workload, method) runs in its own subprocess, so peak memory is that method's alone: on CPU
the peak resident set size above the process's size after building the model and reading every
weight once (a memory-mapped checkpoint is otherwise paged in by the first forward, which would
count the weights in every method's peak), on CUDA the peak of
``torch.cuda.max_memory_allocated``. Achieved FLOP/s counts each method's own matmul work and is
given as a fraction of the matmul peak measured in the same process.

    python benchmarks/endogenous.py                     # Qwen2.5-0.5B shape, bf16, CPU
    python benchmarks/endogenous.py --shape 7b --device cuda
    python benchmarks/endogenous.py --model smollm2 --dtype float32 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import cpu_name
from rewardmine.models import SHOWN_CPU_FLAGS
from rewardmine.testing import seeded_init

SHAPES = {  # the published configs of Qwen2.5-0.5B and Qwen2.5-7B, and a tiny one for dry runs
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=2048,
                 tie_word_embeddings=False),
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                 tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
               num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
               tie_word_embeddings=False),
}
MODELS = {"smollm2": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantized)",
          "gemma3": "Gemma-3-270m (Q4_K_M GGUF dequantized)"}
METHODS = ("naive", "trl", "rewardmine")
RESULTS = Path(__file__).parent / "results"


def build(shape: str, dtype: torch.dtype, device: str):
    import transformers

    config = transformers.Qwen2Config(**SHAPES[shape], max_position_embeddings=32768)
    with seeded_init(0), torch.device(device):
        return transformers.Qwen2ForCausalLM(config).to(dtype).eval()


def load(args: argparse.Namespace, dtype: torch.dtype):
    """(model, tokenizer) for the run."""
    if args.model is None:
        from rewardmine.testing import build_tokenizer

        return build(args.shape, dtype, args.device), build_tokenizer()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewardmine.testing import real_model_folder

    try:
        folder = real_model_folder(args.model, Path(args.model_cache))
    except LookupError as error:
        raise SystemExit(str(error)) from None
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(args.device).eval()
    return model, AutoTokenizer.from_pretrained(folder)


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
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    per_token = 2 * layers * (d * (2 * q + 2 * kv) + 3 * d * config.intermediate_size)

    def body(start: int, count: int) -> float:  # count tokens at positions start.. start+count-1
        attention = 4 * layers * q * (count * start + count * (count + 1) / 2)
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


def reset_peak_rss() -> None:
    """Start the peak resident set size (VmHWM) afresh, so that loading the model's weights (which
    may peak above what stays resident) does not count; Linux only, else the lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def rss_bytes() -> int:
    """The peak resident set size since :func:`reset_peak_rss`."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def full_logits(model, items, batch_size: int, log_pi) -> list[float]:
    """The reward from the model's full [batch, length, vocab] logits in fp32, 8 sequences per
    forward: ``log_pi(logits, batch)`` gives each item's log pi(y|x); the telescoped reward is then
    alpha log pi(y|x) + V(s_1) - 0."""
    rewards = []
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        ids = torch.tensor([p + r for p, r in batch], device=model.device)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits.float()
            for row, ((p, _), chosen) in enumerate(zip(batch, log_pi(logits, batch), strict=True)):
                rewards.append(float(chosen + torch.logsumexp(logits[row, len(p) - 1], dim=-1)))
            del logits
    return rewards


def _positions(p, r, device):
    return (torch.arange(len(p) - 1, len(p) + len(r) - 1, device=device),
            torch.tensor(r, device=device))


def naive(model, items, batch_size: int) -> list[float]:
    """Full logits, one fp32 log_softmax over the whole batch, gather."""
    def log_pi(logits, batch):
        logp = torch.log_softmax(logits, dim=-1)  # a second [batch, length, vocab] tensor
        out = []
        for row, (p, r) in enumerate(batch):
            positions, targets = _positions(p, r, logits.device)
            out.append(logp[row, positions, targets].sum())
        return out

    return full_logits(model, items, batch_size, log_pi)


def trl_way(model, items, batch_size: int) -> list[float]:
    """Full logits, TRL's selective_log_softmax on each response's positions."""
    from trl.trainer.utils import selective_log_softmax

    def log_pi(logits, batch):
        out = []
        for row, (p, r) in enumerate(batch):
            positions, targets = _positions(p, r, logits.device)
            out.append(selective_log_softmax(logits[row, positions], targets).sum())
        return out

    return full_logits(model, items, batch_size, log_pi)


def worker(args: argparse.Namespace) -> dict:
    from rewardmine import EndogenousReward

    torch.set_num_threads(args.threads or torch.get_num_threads())
    dtype = getattr(torch, args.dtype)
    model, tokenizer = load(args, dtype)
    items = workload(args.prompts, args.responses, args.prompt_len, args.response_len,
                     model.config.get_text_config().vocab_size)
    if args.method != "rewardmine" and args.naive_items:
        items = items[: args.naive_items]
    peak_flops = measured_peak(dtype, args.device, model.config.get_text_config().hidden_size)
    if args.method == "rewardmine":
        reward = EndogenousReward(model, tokenizer, check_head=False, progress=False,
                                  max_tokens_per_batch=args.max_tokens_per_batch)
        run = lambda: reward.score_ids([p for p, _ in items], [r for _, r in items])  # noqa: E731
    else:
        way = naive if args.method == "naive" else trl_way
        run = lambda: way(model, items, args.batch_size)  # noqa: E731
    if args.device.startswith("cuda"):
        run()  # warm-up on GPU (kernels, allocator)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        # a checkpoint's weights may be memory-mapped and paged in by the first forward: read
        # them all first, so that no method's peak counts the model's own weights
        with torch.inference_mode():
            for parameter in model.parameters():
                parameter.sum()
        reset_peak_rss()
        base = current_rss()
    sync(args.device)
    start = time.perf_counter()
    rewards = run()
    sync(args.device)
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() - base) if args.device.startswith("cuda") \
        else rss_bytes() - base
    tokens = sum(len(p) + len(r) for p, r in items)
    config = model.config.get_text_config()
    flops = matmul_flops(config, items, shared=args.method == "rewardmine")
    return dict(method=args.method, items=len(items), tokens=tokens, seconds=seconds,
                tokens_per_s=tokens / seconds, peak_bytes=peak, matmul_flops=flops,
                achieved_flops=flops / seconds, matmul_peak_flops=peak_flops,
                fraction_of_peak=flops / seconds / peak_flops,
                flops_per_token=flops / tokens, rewards=rewards)


def run_case(args: argparse.Namespace, prompts: int, responses: int, method: str) -> dict:
    command = [sys.executable, __file__, "--worker", "--method", method,
               "--prompts", str(prompts), "--responses", str(responses)]
    for key in ("shape", "model", "model_cache", "dtype", "device", "prompt_len", "response_len",
                "batch_size", "max_tokens_per_batch", "naive_items", "threads"):
        value = getattr(args, key)
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def workload_spec(text: str) -> tuple[int, int]:
    prompts, _, responses = text.partition("x")
    try:
        return int(prompts), int(responses)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a workload is PROMPTSxRESPONSES (8x8), not {text!r}")\
            from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="0.5b", choices=sorted(SHAPES),
                        help="random-weight Qwen2.5 shape (unless --model)")
    parser.add_argument("--model", default=None, choices=sorted(MODELS),
                        help="a real checkpoint instead of a random shape")
    parser.add_argument("--model-cache", default=os.environ.get(
        "REWARDMINE_REAL_MODEL_CACHE", str(Path.home() / ".cache" / "rewardmine-real-models")),
        help="where the dequantized real checkpoints are kept")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workloads", type=workload_spec, nargs="+",
                        default=[(8, 8), (64, 1), (16, 8)], help="PROMPTSxRESPONSES, one or more")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--prompt-len", type=int, default=256)
    parser.add_argument("--response-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8,
                        help="naive and TRL: sequences per forward")
    parser.add_argument("--max-tokens-per-batch", type=int, default=8192)
    parser.add_argument("--naive-items", type=int, default=None,
                        help="time the naive and TRL ways on the first N items only (their rate "
                        "per token is the same for every batch of the workload); default: all")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=None, help="results name (default: from the run)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--responses", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    from rewardmine.models import cpu_flags

    flags = cpu_flags()
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name()
    load_start, cases = os.getloadavg(), []
    for prompts, responses in args.workloads:
        print(f"workload: {prompts} prompts x {responses} responses ...", flush=True)
        runs = {m: run_case(args, prompts, responses, m) for m in args.methods}
        base = runs.get("naive") or next(iter(runs.values()))
        case = dict(prompts=prompts, responses_per_prompt=responses,
                    prompt_len=args.prompt_len, response_len=args.response_len)
        for method, run in runs.items():
            shared = min(len(base["rewards"]), len(run["rewards"]))
            case[method] = {k: v for k, v in run.items() if k != "rewards"} | dict(
                speedup=run["tokens_per_s"] / base["tokens_per_s"],
                memory_ratio=run["peak_bytes"] / base["peak_bytes"],
                work_ratio=base["flops_per_token"] / run["flops_per_token"],
                max_abs_reward_difference=max(abs(a - b) for a, b in zip(
                    base["rewards"][:shared], run["rewards"][:shared], strict=True)))
        cases.append(case)
        print(json.dumps(case, indent=1), flush=True)
    result = dict(
        benchmark="endogenous", model=MODELS.get(args.model), shape=None if args.model
        else args.shape, dtype=args.dtype, device=args.device, device_name=device_name,
        cpu_flags={f: f in flags for f in SHOWN_CPU_FLAGS} if flags else None,
        torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
        torch=torch.__version__, threads=args.threads or torch.get_num_threads(),
        cores=os.cpu_count(), load_average_start=load_start, load_average_end=os.getloadavg(),
        batch_size=args.batch_size, max_tokens_per_batch=args.max_tokens_per_batch,
        naive_items=args.naive_items, cases=cases,
    )
    name = args.output or (f"endogenous-{args.model or args.shape}-{args.dtype}-"
                           f"{args.device.split(':')[0]}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    what = result.get("model") or f"Qwen2.5-{result['shape'].upper()} shape (random weights)"
    flags = result.get("cpu_flags")
    machine = (f"{result['device_name']}, CPU flags " + ", ".join(
        f"{f} {'yes' if v else 'no'}" for f, v in flags.items())
        + f", torch CPU capability {result.get('torch_cpu_capability')}") if flags \
        else result["device_name"]
    lines = [
        f"{what}, {result['dtype']}, {result['device']} ({machine}; {result['threads']} torch "
        f"threads), torch {result['torch']}.",
        "",
    ]
    if "load_average_start" in result:
        lines += [f"Load average {result['load_average_start'][0]:.1f} at the start, "
                  f"{result['load_average_end'][0]:.1f} at the end of the run"
                  + (f"; naive and TRL timed on the first {result['naive_items']} items of each "
                     "workload" if result.get("naive_items") else "") + ".", ""]
    lines += [
        "| workload | method | tokens/s | peak memory | matmul FLOP/s (share of measured peak) "
        "| work ratio | speedup | memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in result["cases"]:
        load = (f"{case['prompts']}x{case['responses_per_prompt']}, "
                f"{case['prompt_len']}+{case['response_len']} tok")
        for method in METHODS:
            if method not in case:
                continue
            m = case[method]
            speedup, memory = m.get("speedup", case.get("speedup", 1.0)), m.get(
                "memory_ratio", case.get("memory_ratio", 1.0))
            if method == "naive":
                speedup = memory = 1.0
            lines.append(
                f"| {load} | {method} | {m['tokens_per_s']:.0f} | {m['peak_bytes'] / 2**20:.0f} MiB "
                f"| {m['achieved_flops'] / 1e9:.1f} G ({m['fraction_of_peak']:.0%}) "
                f"| {m.get('work_ratio', 1.0):.2f}x | {speedup:.2f}x | {memory:.0%} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

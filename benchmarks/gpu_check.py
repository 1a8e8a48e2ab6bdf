"""The GPU path, measured in one run: exactness, the judge's decoding loop, speed and the server.

Prepared to run the moment a device machine is lent (``bash benchmarks/gpu_check.sh``): no
network, no checkpoint (random-weight models of real shapes are built on the device). Four parts,
each recorded whether it passes or not:

(a) exactness: the endogenous reward's token rewards on the device, in fp32 and in bf16, against
    an fp64 reference computed on the CPU from full logits, on tiny Llama, Qwen2 and Gemma2 shapes
    (Gemma2: logit softcapping, tied embeddings);
(b) the judge's own KV-cached decoding loop on the device (its batched, left-padded prefill)
    against transformers' ``generate``, greedy: the same tokens for every prompt;
(c) speed: ``benchmarks/endogenous.py`` on the Qwen2.5-7B shape in bf16, 16 prompts x 8 responses
    at 256 + 256 tokens, against the naive way (full logits, fp32 log_softmax) and TRL's
    ``selective_log_softmax`` where TRL is installed: tokens/s, peak memory, share of the bf16
    matmul peak measured in the same process;
(d) the reward server on the device: ``benchmarks/server.py``, dynamic batching against batch
    size 1, on a model large enough for the device to matter.

``--device cpu --small`` is the dry run the test suite makes (tiny shapes, minutes on a CPU).
Writes ``benchmarks/results/gpu-check-<device>.json`` and ``.md``, naming the device.

    bash benchmarks/gpu_check.sh                      # on the device machine
    python benchmarks/gpu_check.py --device cpu --small --out /tmp/gpu-check
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PROMPTS = ["What is 2+2?", [{"role": "user", "content": "Sort 3 1 2, then explain why."}],
           "Name a colour.", "Write one sentence about the sea."]
RESPONSES = ["It is 4.", "1 2 3, since one is less than two and two less than three.", "",
             "The sea is wide and grey under the winter sky."]


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    from rewardmine.models import cpu_description

    return cpu_description()


def fp64_rewards(model: torch.nn.Module, prompt_ids: list[int], action_ids: list[int]) -> list[float]:
    """r_t = f(s_t, a_t) - V(s_{t+1}) from one fp64 forward on the CPU (terminal zero, alpha 1)."""
    ids = torch.tensor([prompt_ids + action_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    states = logits[len(prompt_ids) - 1:]
    values = torch.logsumexp(states, dim=-1)
    chosen = states[torch.arange(len(action_ids)), torch.tensor(action_ids)]
    following = torch.cat([values[1:len(action_ids)], values.new_zeros(1)])
    return (chosen - following).tolist()


def exactness(device: str) -> dict:
    """(a): the largest per-token difference from the fp64 reference, per shape and dtype."""
    import copy

    from rewardmine import EndogenousReward
    from rewardmine.testing import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    out = {}
    for architecture in ("llama", "qwen2", "gemma2"):
        model = build_model(architecture, len(tokenizer), seed=1)
        reference = copy.deepcopy(model).double()
        for dtype in (torch.float32, torch.bfloat16):
            on_device = copy.deepcopy(model).to(device=device, dtype=dtype)
            reward = EndogenousReward(on_device, tokenizer, progress=False)
            worst = 0.0
            for prompt, response in zip(PROMPTS, RESPONSES, strict=True):
                pair = reward.encoder.encode(prompt, response)
                want = fp64_rewards(reference, list(pair.prompt_ids), list(pair.action_ids))
                got = reward.token_rewards(prompt, response).rewards
                worst = max(worst, max(abs(a - b) for a, b in zip(got, want, strict=True)))
            name = str(dtype).removeprefix("torch.")
            limit = 1e-4 if dtype is torch.float32 else None
            out[f"{architecture}/{name}"] = {
                "max_abs_token_reward_difference": worst, "limit": limit,
                "passed": None if limit is None else worst <= limit}
    return out


def judge_decoding(device: str) -> dict:
    """(b): the judge's decoding loop against generate, greedy, prompts of different lengths
    decoded together in the device's own prefill mode."""
    from rewardmine.chat import end_ids
    from rewardmine.judge.backends.decoding import decode, plain_attention_cache
    from rewardmine.testing import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model("qwen2", len(tokenizer), seed=2, initializer_range=0.3).to(device)
    texts = ["What is 2+2?", "Sort the list: 3 1 4 1 5 9 2 6.", "Name the capital of France.",
             "You are a helpful assistant. Answer briefly and correctly: what is 7+5?"]
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": t}], tokenize=True,
                                             add_generation_prompt=True, return_dict=False)
               for t in texts]
    prompts = [list(p["input_ids"]) if isinstance(p, dict) else list(p) for p in prompts]
    stops = sorted(end_ids(tokenizer))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    ours = decode(model, prompts, max_new_tokens=24, stop_ids=stops, pad_id=pad,
                  plain_cache=plain_attention_cache(model, pad), seed=0)
    theirs = []
    for prompt in prompts:
        with torch.no_grad():
            generated = model.generate(torch.tensor([prompt], device=device), do_sample=False,
                                       max_new_tokens=24, eos_token_id=stops, pad_token_id=pad)
        theirs.append(generated[0, len(prompt):].tolist())
    same = [a == b[:len(a)] and (len(a) == len(b) or (a and a[-1] in stops)) for a, b in
            zip(ours, theirs, strict=True)]
    return {"prompts": len(prompts), "identical": sum(same), "passed": all(same)}


def run_script(command: list[str], timeout_s: float) -> dict:
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(command), "passed": False,
                "error": f"not finished within {timeout_s:g} s"}
    result = {"command": " ".join(command), "seconds": round(time.monotonic() - started, 1),
              "passed": done.returncode == 0}
    if done.returncode != 0:
        result["error"] = done.stderr[-2000:]
    return result


def speed(device: str, small: bool, out: Path, timeout_s: float) -> dict:
    """(c): benchmarks/endogenous.py on the 7B shape (tiny with --small)."""
    import importlib.util

    name = out / f"gpu-check-endogenous-{'small' if small else device.split(':')[0]}"
    methods = ["naive", "rewardmine"] + (["trl"] if importlib.util.find_spec("trl") else [])
    shape = (["--shape", "tiny", "--dtype", "float32", "--workloads", "2x2", "--prompt-len",
              "32", "--response-len", "32"] if small else
             ["--shape", "7b", "--dtype", "bfloat16", "--workloads", "16x8", "--prompt-len",
              "256", "--response-len", "256"])
    result = run_script(["benchmarks/endogenous.py", *shape, "--device", device, "--methods",
                         *methods, "--output", str(name)], timeout_s)
    if result["passed"]:
        result["results"] = json.loads(Path(f"{name}.json").read_text())
    if "trl" not in methods:
        result["trl"] = "not measured: TRL is not installed here"
    return result


def server(small: bool, out: Path, timeout_s: float) -> dict:
    """(d): benchmarks/server.py; `rewardmine serve` puts its model on the GPU by itself."""
    name = out / f"gpu-check-server{'-small' if small else ''}"
    size = (["--hidden-size", "32", "--layers", "1", "--count", "60", "--time-limit", "20",
             "--clients", "8"] if small else
            ["--hidden-size", "1024", "--layers", "8", "--count", "2000", "--time-limit", "60",
             "--clients", "64"])
    result = run_script(["benchmarks/server.py", *size, "--repeats", "1", "--modes", "worker",
                         "--out", str(name)], timeout_s)
    if result["passed"]:
        result["results"] = json.loads(Path(f"{name}.json").read_text())
    return result


def markdown(report: dict) -> str:
    lines = [f"# GPU check on {report['device_name']}", "",
             f"`{report['command']}`; torch {report['torch']}, transformers "
             f"{report['transformers']}, Python {report['python']}.", "",
             "## (a) exactness against the fp64 CPU reference", "",
             "| shape / dtype | max abs token-reward difference | limit | passed |",
             "|---|---:|---:|---|"]
    for key, value in report["exactness"].items():
        limit = "-" if value["limit"] is None else f"{value['limit']:g}"
        passed = "recorded" if value["passed"] is None else str(value["passed"])
        lines.append(f"| {key} | {value['max_abs_token_reward_difference']:.2e} | {limit} | "
                     f"{passed} |")
    judge = report["judge_decoding"]
    lines += ["", "## (b) the judge's decoding loop against generate (greedy)", "",
              f"{judge['identical']} of {judge['prompts']} prompts identical.", ""]
    for part, title in (("speed", "(c) speed: benchmarks/endogenous.py"),
                        ("server", "(d) the reward server: benchmarks/server.py")):
        value = report[part]
        status = "done" if value["passed"] else "FAILED"
        took = f" in {value['seconds']} s" if "seconds" in value else ""
        lines += [f"## {title}", "", f"`python {value['command']}`: {status}{took}; its own "
                  "results file has the figures.", ""]
        if "error" in value:
            lines += ["```", value["error"][-800:], "```", ""]
        if "trl" in value:
            lines += [value["trl"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="tiny shapes: the CPU dry run")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the results files")
    parser.add_argument("--part-timeout", type=float, default=240.0,
                        help="seconds each of (c) and (d) may take")
    args = parser.parse_args()
    import transformers

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]),
              "device": args.device, "device_name": device_name(args.device),
              "torch": torch.__version__, "transformers": transformers.__version__,
              "python": platform.python_version(), "small": args.small}
    report["exactness"] = exactness(args.device)
    report["judge_decoding"] = judge_decoding(args.device)
    report["speed"] = speed(args.device, args.small, out, args.part_timeout)
    report["server"] = server(args.small, out, args.part_timeout)
    report["passed"] = (all(v["passed"] is not False for v in report["exactness"].values())
                        and report["judge_decoding"]["passed"] and report["speed"]["passed"]
                        and report["server"]["passed"])
    name = out / f"gpu-check-{'small' if args.small else args.device.split(':')[0]}"
    Path(f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    Path(f"{name}.md").write_text(markdown(report) + "\n")
    print(markdown(report))
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()

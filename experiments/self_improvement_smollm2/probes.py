"""Two probes beside the run: the base model's greedy accuracy per candidate task (how the task was
chosen) and what the frozen reward prefers (right sums against the replies it gets)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from experiments.self_improvement_smollm2.evaluate import Mode, evaluate, prompt_text
from experiments.self_improvement_smollm2.task import TASKS, operands, split


def measure_tasks(model: Any, tokenizer: Any, *, items: int, seed: int, max_new_tokens: int,
                  batch: int) -> dict[str, Any]:
    """Greedy accuracy of the base model on the first ``items`` test questions of every task."""
    out = {}
    for name, (description, build) in TASKS.items():
        count = min(items, len(build()) - 2)
        test = split(name, test=count, validation=0, seed=seed).test
        start = time.perf_counter()
        block = evaluate(model, tokenizer, test, [Mode(None)], max_new_tokens=max_new_tokens,
                         batch=batch, seed=0, examples=3)["greedy"]
        share = float(np.mean(block["correct"]))
        out[name] = {"description": description, "items": len(test), "greedy": share,
                     "examples": [{"question": q, "answer": a, "reply": r} for (q, a), r in
                                  zip(test, block["examples"], strict=False)]}
        print(f"{name:12} {description:62} greedy {100 * share:5.1f}% of {len(test)} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return out


def diagnose(result: dict[str, Any], reward: Any, tokenizer: Any) -> dict[str, Any]:
    """The frozen copy's reward (as GRPO got it) of the right answer "a + b = c" and of the
    stored greedy replies, before and after each run, on the first test questions; and over
    every test question, the right sum against the near misses c+1, c-1, c+10, c-10. A reply as
    long as the token limit is scored as cut there (no end-of-turn), as in training."""
    task = result["config"]["task"]
    if not task.startswith("add-"):
        raise SystemExit(f"--diagnose writes replies 'a + b = c': it needs an add-* task, not "
                         f"{task!r}")
    limit = result["config"]["max_new_tokens"]
    end = tokenizer.eos_token_id
    answers = dict(TASKS[task][1]())

    def ids(question: str) -> list[int]:
        return tokenizer(prompt_text(tokenizer, question), add_special_tokens=False)["input_ids"]

    rows = []
    for i, example in enumerate(result["before"]["test"]["greedy"]["examples"]):
        question = result["questions"]["test"][i]
        a, b = operands(question)
        replies = {"right answer": f"{a} + {b} = {answers[question]}", "before": example,
                   **{f"{r['arm']} seed {r['seed']}": r["after"]["test"]["greedy"]["examples"][i]
                      for r in result["runs"]}}
        actions = []
        for text in replies.values():
            reply = tokenizer(text, add_special_tokens=False)["input_ids"]
            actions.append(reply[:limit] if len(reply) >= limit else [*reply, end])
        scores = reward.score_ids([ids(question)] * len(actions), actions)
        rows.append({"question": question, **{name: {"reply": text, "reward": round(score, 3)}
                                              for (name, text), score in
                                              zip(replies.items(), scores, strict=True)}})
    offsets = (1, -1, 10, -10)
    states, actions = [], []
    for question in result["questions"]["test"]:
        a, b = operands(question)
        for total in (a + b, *(a + b + k for k in offsets)):
            states.append(ids(question))
            actions.append([*tokenizer(f"{a} + {b} = {total}",
                                       add_special_tokens=False)["input_ids"], end])
    scores = np.array(reward.score_ids(states, actions)).reshape(-1, 1 + len(offsets))
    prefers = {f"{k:+d}": round(float((scores[:, 0] > scores[:, 1 + i]).mean()), 4)
               for i, k in enumerate(offsets)}
    best = round(float((scores[:, 0] > scores[:, 1:].max(axis=1)).mean()), 4)
    print(f"right sum scored above the wrong sum c+k, fraction of {len(scores)} test questions: "
          f"{prefers}; above all four: {best}", flush=True)
    return {"rows": rows, "right_above_wrong": prefers, "right_above_all_four": best,
            "questions": len(scores)}

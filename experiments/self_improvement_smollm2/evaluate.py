"""Accuracy of a policy on a question set, per question: greedy, and k samples at each temperature.

Every evaluation of every model draws its samples from the same seed, so two models' samples of
a question are paired (common random numbers). A block holds, per question, one 0/1 and one
reply length per sample: enough to recompute every figure of the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from experiments.self_improvement_smollm2.task import Problem, is_correct, messages


@dataclass(frozen=True)
class Mode:
    """A decoding: greedy (``temperature`` None, one reply) or ``samples`` replies at
    ``temperature`` (top-k and top-p off)."""

    temperature: float | None
    samples: int = 1

    @property
    def name(self) -> str:
        return "greedy" if self.temperature is None else f"T={self.temperature:g}"


def modes(temperatures: list[float], samples: int) -> list[Mode]:
    return [Mode(None), *(Mode(t, samples) for t in temperatures)]


def prompt_text(tokenizer: Any, question: str) -> str:
    """The rendered chat prompt of a question (its default system line, the assistant header)."""
    return tokenizer.apply_chat_template(messages(question), tokenize=False,
                                         add_generation_prompt=True)


@torch.no_grad()
def generate(model: Any, tokenizer: Any, problems: list[Problem], mode: Mode, *,
             max_new_tokens: int, batch: int, seed: int) -> tuple[list[list[str]], list[list[int]],
                                                                  list[list[int]]]:
    """Per question, ``mode.samples`` replies, their token counts (the end-of-turn token not
    counted) and whether each ended (1) or was cut at ``max_new_tokens`` (0)."""
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts = [prompt_text(tokenizer, q) for q, _ in problems]
    k = mode.samples
    per_call = max(1, batch // k)  # prompts per call: ``batch`` sequences at most
    replies: list[list[str]] = []
    lengths: list[list[int]] = []
    ended: list[list[int]] = []
    stops = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    with torch.random.fork_rng():  # generate takes no Generator: seed, then restore
        torch.manual_seed(seed)
        try:
            for start in range(0, len(texts), per_call):
                enc = tokenizer(texts[start:start + per_call], return_tensors="pt", padding=True,
                                add_special_tokens=False)
                sampled = mode.temperature is not None
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=sampled,
                                     temperature=mode.temperature if sampled else None,
                                     top_p=None, top_k=None, num_return_sequences=k,
                                     pad_token_id=tokenizer.pad_token_id)
                new = out[:, enc["input_ids"].shape[1]:].tolist()
                decoded = tokenizer.batch_decode(new, skip_special_tokens=True)
                for i in range(0, len(new), k):
                    rows = new[i:i + k]
                    cut = [next((j for j, t in enumerate(row) if t in stops), None)
                           for row in rows]
                    replies.append(decoded[i:i + k])
                    lengths.append([len(row) if c is None else c
                                    for row, c in zip(rows, cut, strict=True)])
                    ended.append([int(c is not None) for c in cut])
        finally:
            tokenizer.padding_side = side
    return replies, lengths, ended


def evaluate(model: Any, tokenizer: Any, problems: list[Problem], decodings: list[Mode], *,
             max_new_tokens: int, batch: int, seed: int, examples: int = 5) -> dict[str, Any]:
    """{mode name: {"correct": per question a 0/1 per sample, "tokens": their lengths, "ended":
    1 where the reply ended, "examples": the first sample of the first questions}}."""
    out = {}
    for mode in decodings:
        replies, lengths, ended = generate(model, tokenizer, problems, mode,
                                           max_new_tokens=max_new_tokens, batch=batch, seed=seed)
        correct = [[int(is_correct(r, a)) for r in rs]
                   for rs, (_, a) in zip(replies, problems, strict=True)]
        out[mode.name] = {"temperature": mode.temperature, "samples": mode.samples,
                          "correct": correct, "tokens": lengths, "ended": ended,
                          "examples": [rs[0] for rs in replies[:examples]]}
        share = sum(map(sum, correct)) / (len(correct) * mode.samples)
        print(f"    {mode.name}: {100 * share:.1f}% of {len(correct)} x {mode.samples}",
              flush=True)
    return out

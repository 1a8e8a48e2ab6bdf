"""Train the bundled sorting model: plain next-token prediction on the expert's answers.

A recipe in the torchtune sense: one readable function, no trainer. The training set is a fixed
list of digit lists drawn from ``seed`` (lengths 2..8); each example is the chat-rendered prompt
(one user turn) followed by the expert answer and the end-of-turn token, and the loss is the
cross-entropy on those answer tokens only. Weights are initialised and batches drawn from one
``torch.Generator``; deterministic algorithms and one CPU thread make a rerun reproduce the
weights (one thread also keeps the run fast on a CPU shared with other work, where two threads
spend their time waiting for each other).

    python -m experiments.toy train --output src/rewardmine/toy/model
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rewardmine.chat import ChatEncoder
from rewardmine.toy import world
from rewardmine.toy.vocab import build_sort_tokenizer


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the weights (with the torch version and the machine)."""

    seed: int = 0
    examples: int = 153_600
    batch_size: int = 256
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    hidden_size: int = 64
    layers: int = 3
    heads: int = 4
    intermediate_size: int = 192
    max_position_embeddings: int = 160
    threads: int = 1

    @property
    def steps(self) -> int:
        return self.examples // self.batch_size


def build_untrained(config: TrainConfig, vocab_size: int, generator: torch.Generator) -> Any:
    """A Llama model of the configured size, its weights drawn from ``generator`` only."""
    import transformers

    cfg = transformers.LlamaConfig(
        vocab_size=vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.layers,
        num_attention_heads=config.heads, num_key_value_heads=config.heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings, tie_word_embeddings=False,
        bos_token_id=None, eos_token_id=2, pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):  # the default init's draws must not touch the caller's
        model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    return model


def training_lists(config: TrainConfig) -> list[world.Digits]:
    """The training set: ``config.examples`` lists of lengths 2..8 drawn from ``config.seed``."""
    return world.random_lists(config.examples, lengths=world.TRAIN_LENGTHS, seed=config.seed)


def encode_examples(lists: list[world.Digits], tokenizer: Any
                    ) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(prompt ids, answer ids) per list, spliced from one rendering of the chat template.

    Rendering the template per example would take minutes; the first examples are checked
    against rewardmine's own :class:`ChatEncoder`, so the model trains on exactly the tokens the
    reward scores.
    """
    encoder = ChatEncoder(tokenizer)
    digit = tokenizer.convert_tokens_to_ids([f" {d}" for d in range(10)])
    first = tokenizer.convert_tokens_to_ids([str(d) for d in range(10)])
    frame = encoder.encode(world.messages((0,)), "0")
    k = frame.prompt_ids.index(digit[0])
    head, tail, end = frame.prompt_ids[:k], frame.prompt_ids[k + 1:], frame.action_ids[1:]
    out = []
    for digits in lists:
        answer = sorted(digits)
        out.append((head + tuple(digit[d] for d in digits) + tail,
                    (first[answer[0]], *(digit[d] for d in answer[1:]), *end)))
    for digits, (prompt_ids, action_ids) in zip(lists[:64], out, strict=False):
        pair = encoder.encode(world.messages(digits), world.expert(digits))
        if (pair.prompt_ids, pair.action_ids) != (prompt_ids, action_ids):
            raise RuntimeError(f"spliced token ids differ from the chat encoder's for {digits}")
    return out


def _batches(examples: list[tuple[tuple[int, ...], tuple[int, ...]]], config: TrainConfig,
             generator: torch.Generator, pad_id: int) -> Iterator[tuple[torch.Tensor, ...]]:
    order = torch.randperm(len(examples), generator=generator).tolist()
    for start in range(0, config.steps * config.batch_size, config.batch_size):
        rows = [examples[i] for i in order[start:start + config.batch_size]]
        width = max(len(p) + len(a) for p, a in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (p, a) in enumerate(rows):
            ids[r, : len(p) + len(a)] = torch.tensor(p + a)
            labels[r, len(p): len(p) + len(a)] = torch.tensor(a)
            mask[r, : len(p) + len(a)] = 1
        yield ids, labels, mask


def _lr(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(config: TrainConfig, output: Path, *, log_every: int = 100) -> dict[str, Any]:
    """Train the model, save it with its tokenizer to ``output`` and return the training record."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(config, output, log_every)
    finally:  # give the caller's process its settings back
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(config: TrainConfig, output: Path, log_every: int) -> dict[str, Any]:
    started = time.perf_counter()
    tokenizer = build_sort_tokenizer()
    examples = encode_examples(training_lists(config), tokenizer)
    generator = torch.Generator().manual_seed(config.seed)
    model = build_untrained(config, len(tokenizer), generator).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": other, "weight_decay": 0.0}],
        lr=config.lr, betas=(0.9, 0.98), foreach=False,
    )
    losses: list[float] = []
    for step, (ids, labels, mask) in enumerate(
            _batches(examples, config, generator, tokenizer.pad_token_id)):
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, config)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            recent = sum(losses[-log_every:]) / log_every
            print(f"step {step + 1}/{config.steps}  loss {recent:.4f}  "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    model.eval()
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    record = {
        "config": asdict(config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": sum(losses[-50:]) / len(losses[-50:]),
        "seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
    }
    (output / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    return record

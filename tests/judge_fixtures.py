"""A tiny chat model saved to disk, for judge tests (random weights, built offline)."""

from __future__ import annotations

from pathlib import Path

from rewardmine.judge.prompt import system_prompt
from rewardmine.testing import build_model, build_tokenizer

# A Qwen3-style switch: with enable_thinking false the generation prompt closes an empty block.
THINKING_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
)

CORPUS = (
    system_prompt(), system_prompt((1, 10)),
    '{"principle": "p", "prompt": "q", "responses": {"model-1": "a", "model-2": "b"}}',
    '<think>\nmodel-1 is better.\n</think>\n{"scores": {"model-1": 5, "model-2": 3}, '
    '"best-to-worst": ["model-1", "model-2"]}',
    "What is 2+2? It is 4. Paris is the capital of France. Be correct and concise.",
)


def save_tiny_judge(path: Path, *, seed: int = 0) -> Path:
    """Save a random Qwen2 model and a BPE tokenizer (with a thinking switch) under ``path``."""
    tokenizer = build_tokenizer(CORPUS, vocab_size=600, chat_template=THINKING_TEMPLATE)
    model = build_model("qwen2", len(tokenizer), max_position_embeddings=2048, seed=seed,
                        initializer_range=0.3)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path

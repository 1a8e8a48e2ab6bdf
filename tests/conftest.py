"""Fixtures: tiny tokenizers and models built offline in about a second."""

from __future__ import annotations

import pytest

from rewardkit.testing import build_model, build_tokenizer

ARCHITECTURES = ("llama", "qwen2", "gemma2")


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="session", params=ARCHITECTURES)
def model(request, tokenizer):
    return build_model(request.param, len(tokenizer), seed=1)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory, tokenizer):
    """A tiny Qwen2 model and its tokenizer saved to disk, for from_pretrained and the CLI."""
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    build_model("qwen2", len(tokenizer), seed=2).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

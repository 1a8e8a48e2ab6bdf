"""The one loader: a hub id, a local folder or a GGUF file -> (causal LM, tokenizer).

Every part of rewardmine that loads a model goes through :func:`load_causal_lm`, so they share one
device policy (:func:`resolve_device`: cuda, then mps, then cpu) and one dtype policy
(:func:`resolve_dtype`: the checkpoint's own dtype; on a CPU a bf16 checkpoint stays bf16 only where
the CPU has bf16 matrix instructions, AMX or AVX512-BF16, and everything else runs in fp32, since
bf16 without them is emulated and several times slower and fp16 matmuls are slow on CPUs). The
output head of the endogenous reward runs in fp32 on a CPU whatever the body's dtype (see
``head_dtype`` in :class:`~rewardmine.endogenous.EndogenousReward`).

:func:`cache_keyword` names the keyword a model's forward takes its KV cache by: ``cache`` from
transformers 5.2x on, ``past_key_values`` before (the old name warns and is removed in 5.40).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

DType = Literal["auto", "float32", "bfloat16", "float16"] | torch.dtype
Device = str | torch.device
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}



@dataclass(frozen=True)
class LoadOptions:
    """How a checkpoint is loaded: the one spelling of the loading options of every loader (the
    endogenous reward, the local judge, the verifier, build-bench's generators, the reward
    server's encoder). Every ``from_pretrained`` also takes the fields as keywords; they are
    gathered into this object once (:meth:`split`) and travel as it to :func:`load_causal_lm`.

    Args:
        dtype: "auto" (the checkpoint's own; see :func:`resolve_dtype`), "float32", "bfloat16",
            "float16" or a torch dtype.
        device: "auto" (see :func:`resolve_device`) or a torch device; ignored when
            ``model_kwargs`` holds a ``device_map``, which places the model itself.
        revision: a branch, tag or commit of a hub repository.
        gguf_file: a GGUF file inside the folder or repository; model and tokenizer are both read
            from it, every weight dequantized to a dense model (pass a transformers
            ``quantization_config`` in ``model_kwargs`` to choose otherwise). Needs the ``gguf``
            extra: ``pip install 'rewardmine[gguf]'``.
        trust_remote_code: run a repository's own model code.
        model_kwargs: more options for ``AutoModelForCausalLM.from_pretrained``
            (``attn_implementation``, ``device_map``, ``low_cpu_mem_usage``, ...).
    """

    dtype: DType = "auto"
    device: Device = "auto"
    revision: str | None = None
    gguf_file: str | None = None
    trust_remote_code: bool = False
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.dtype, torch.dtype) and self.dtype not in ("auto", *_DTYPES):
            raise ValueError(f"unknown dtype {self.dtype!r}; use one of {['auto', *_DTYPES]}")
        if not isinstance(self.trust_remote_code, bool):
            raise TypeError(f"trust_remote_code must be a bool, got {self.trust_remote_code!r}")
        if not isinstance(self.model_kwargs, Mapping):
            raise TypeError(f"model_kwargs must be a dict, got {self.model_kwargs!r}")
        if "torch_dtype" in self.model_kwargs or "dtype" in self.model_kwargs:
            raise TypeError("give the dtype as dtype=, not inside model_kwargs")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def split(cls, settings: Mapping[str, Any], base: LoadOptions | None = None
              ) -> tuple[LoadOptions, dict[str, Any]]:
        """The loading fields of ``settings`` as a LoadOptions (on top of ``base``), and the
        other settings."""
        names = set(cls.names())
        fields = {k: v for k, v in settings.items() if k in names}
        rest = {k: v for k, v in settings.items() if k not in names}
        return dataclasses.replace(base or cls(), **fields), rest

    @classmethod
    def of(cls, options: LoadOptions | None = None, **fields: Any) -> LoadOptions:
        """``options`` with ``fields`` on top; a name that is not a field is a TypeError."""
        load, unknown = cls.split(fields, options)
        if unknown:
            raise TypeError(f"unknown loading option(s) {sorted(unknown)}; known: "
                            f"{list(cls.names())}")
        return load


# CPU flags (as /proc/cpuinfo names them) of instructions that run bf16 matmuls natively
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def resolve_device(device: Device = "auto") -> torch.device:
    """``"auto"`` is the first of cuda, mps and cpu that is available; anything else as given."""
    if isinstance(device, torch.device):
        return device
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no such file)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


SHOWN_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", *BF16_CPU_FLAGS, "amx_tile",
                   "amx_int8")


def cpu_name(path: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name as Linux lists it, else the machine's architecture."""
    import platform

    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    """The CPU, the flags that decide torch's kernels and torch's CPU capability, in one line
    (for benchmark results)."""
    flags = cpu_flags()
    shown = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in SHOWN_CPU_FLAGS)
    return (f"{cpu_name()}; CPU flags: {shown}; torch CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}")


def cpu_bf16_reason(flags: Iterable[str] | None = None, capability: str | None = None) -> str | None:
    """Why bf16 is fast on this CPU (the flag that says so), or None where it is not.

    Args:
        flags: CPU flags; by default read from /proc/cpuinfo.
        capability: ``torch.backends.cpu.get_cpu_capability()``; by default asked of torch. A torch
            limited to scalar kernels ("DEFAULT", "NO AVX") runs bf16 slowly whatever the flags say.
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    if capability is None:
        capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("DEFAULT", "NO AVX"):
        return None
    return next((f for f in BF16_CPU_FLAGS if f in flags), None)


@functools.cache
def _this_cpu_has_fast_bf16() -> bool:
    return cpu_bf16_reason() is not None


def resolve_dtype(dtype: DType, device: Device, checkpoint: torch.dtype | None = None
                  ) -> torch.dtype | Literal["auto"]:
    """The dtype to load a model body in on ``device``.

    ``"auto"`` is the checkpoint's own dtype (``checkpoint``; on an accelerator returned as
    ``"auto"``, which transformers reads). On a CPU that means: a bf16 checkpoint in bf16 where
    the CPU has AMX or AVX512-BF16, and fp32 for every other case (an fp32 checkpoint, a fp16 one,
    one whose dtype is unknown such as a GGUF file, or a CPU without bf16 instructions). So the
    same fp32 checkpoint gives the same rewards on every CPU; pass ``dtype="bfloat16"`` to trade
    exactness for speed on one.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if resolve_device(device).type != "cpu":
            return "auto"
        fast = checkpoint is torch.bfloat16 and _this_cpu_has_fast_bf16()
        return torch.bfloat16 if fast else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {['auto', *_DTYPES]}")
    return _DTYPES[dtype]


def _hub_kwargs(name_or_path: str | Path, options: LoadOptions) -> tuple[str, dict[str, Any]]:
    """The source and the keywords every transformers ``from_pretrained`` of it takes."""
    source, gguf_file = _split_gguf(name_or_path, options.gguf_file)
    common: dict[str, Any] = dict(revision=options.revision,
                                  trust_remote_code=options.trust_remote_code)
    if gguf_file is not None:
        _require_gguf(gguf_file)
        common["gguf_file"] = gguf_file
    return source, common


def load_config(name_or_path: str | Path, options: LoadOptions | None = None,
                **fields: Any) -> Any:
    """A checkpoint's config (a hub id, a folder or a GGUF file), its text part for a
    multimodal model: what :func:`load_causal_lm` would load, without the weights. ``fields``
    are :class:`LoadOptions` fields."""
    from transformers import AutoConfig

    source, common = _hub_kwargs(name_or_path, LoadOptions.of(options, **fields))
    config = AutoConfig.from_pretrained(source, **common)
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def load_tokenizer(name_or_path: str | Path, options: LoadOptions | None = None,
                   **fields: Any) -> Any:
    """The tokenizer :func:`load_causal_lm` would load (a hub id, a folder or a GGUF file)."""
    from transformers import AutoTokenizer

    source, common = _hub_kwargs(name_or_path, LoadOptions.of(options, **fields))
    return AutoTokenizer.from_pretrained(source, **common)


def context_length(config: Any) -> int | None:
    """The most tokens a model takes, read once for every consumer from its config (the text
    config of a multimodal one); None where the config does not say."""
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def checkpoint_dtype(name_or_path: str | Path, options: LoadOptions | None = None
                     ) -> torch.dtype | None:
    """The dtype a checkpoint's config says its weights are in (None for a GGUF file, whose
    weights are quantized, or a config that does not say)."""
    options = options or LoadOptions()
    source, gguf_file = _split_gguf(name_or_path, options.gguf_file)
    if gguf_file is not None:
        return None
    config = load_config(source, options)
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, str):
        value = _DTYPES.get(value)
    return value if isinstance(value, torch.dtype) else None


def load_dtype(name_or_path: str | Path, options: LoadOptions | None = None
               ) -> torch.dtype | Literal["auto"]:
    """:func:`resolve_dtype` of ``options.dtype`` on ``options.device`` for a checkpoint, reading
    its own dtype only where it decides."""
    options = options or LoadOptions()
    checkpoint = None
    if options.dtype == "auto" and resolve_device(options.device).type == "cpu":
        checkpoint = checkpoint_dtype(name_or_path, options)
    return resolve_dtype(options.dtype, options.device, checkpoint)


def resolve_source(name_or_path: str | Path) -> str:
    """A model's name as every process understands it: a local file or folder as an absolute
    path, a Hugging Face id (``org/name``) as given.

    A relative path means another folder on a Ray worker, whose working directory is wherever
    ``ray start`` ran; the command line resolves paths here, on the driver, before they travel.
    Something that can only be a local path (absolute, starting with ``.`` or ``~``, a ``.gguf``
    file, more than one ``/``) and names nothing is an error naming this machine, not a hub
    lookup of a malformed id.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        return str(path.resolve())
    if (path.is_absolute() or text.startswith((".", "~")) or text.endswith(".gguf")
            or text.count("/") > 1):
        import socket

        raise FileNotFoundError(
            f"no model file or folder at {text} on {socket.gethostname()}; give a path that "
            "exists there (on a Ray cluster: on every node) or a Hugging Face id (org/name)")
    return text


def _split_gguf(name_or_path: str | Path, gguf_file: str | None) -> tuple[str, str | None]:
    """A path to a .gguf file is its folder plus ``gguf_file``; a folder must hold the file."""
    name_or_path = resolve_source(name_or_path)
    path = Path(name_or_path)
    if gguf_file is None and path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {path} does not exist")
        return str(path.parent), path.name
    if gguf_file is not None and path.is_dir() and not (path / gguf_file).is_file():
        raise FileNotFoundError(f"{path} has no GGUF file {gguf_file!r}; "
                                f"it holds {sorted(p.name for p in path.glob('*.gguf'))}")
    return str(name_or_path), gguf_file


def _require_gguf(gguf_file: str) -> None:
    from rewardmine.optional import require_extra

    require_extra("gguf", extra="gguf", needed_for=f"loading the GGUF file {gguf_file!r}")


def _dense_gguf() -> Any:
    """transformers' option to dequantize every GGUF weight at load time, where it has one.

    Newer transformers can keep quantized weights packed (``GgufLinear``); rewardmine wants a dense
    model, whose dtype the policy sets and whose output head it can read. Older ones always
    dequantize and have no such option (None).
    """
    import transformers

    config = getattr(transformers, "GgufConfig", None)
    if config is None or "dequantize" not in inspect.signature(config.__init__).parameters:
        return None
    return config(dequantize=True)


def load_causal_lm(name_or_path: str | Path, options: LoadOptions | None = None,
                   **fields: Any) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer, in eval mode on ``options.device``.

    Args:
        name_or_path: a Hugging Face hub id, a local folder, or the path of a ``.gguf`` file.
        options: how to load it (:class:`LoadOptions`); ``fields`` are its fields as keywords
            (``dtype="float32"``, ``device="cpu"``, ...), on top of it.
    """
    from transformers import AutoModelForCausalLM

    return _load_model(AutoModelForCausalLM, name_or_path, LoadOptions.of(options, **fields))


def load_sequence_classifier(name_or_path: str | Path, options: LoadOptions | None = None,
                             **fields: Any) -> tuple[Any, Any]:
    """Load a trained reward model (``AutoModelForSequenceClassification``) and its tokenizer,
    under the same device and dtype policy as :func:`load_causal_lm`."""
    from transformers import AutoModelForSequenceClassification

    return _load_model(AutoModelForSequenceClassification, name_or_path,
                       LoadOptions.of(options, **fields))


def _load_model(auto: Any, name_or_path: str | Path, options: LoadOptions) -> tuple[Any, Any]:
    model_kwargs = dict(options.model_kwargs)
    source, common = _hub_kwargs(name_or_path, options)
    options = dataclasses.replace(options, gguf_file=common.get("gguf_file"))  # of ``source``
    if "gguf_file" in common and "quantization_config" not in model_kwargs \
            and (dense := _dense_gguf()) is not None:
        model_kwargs["quantization_config"] = dense
    target = resolve_device(options.device)
    tokenizer = load_tokenizer(source, options)
    body = load_dtype(source, options)
    model = auto.from_pretrained(source, dtype=body, **common, **model_kwargs)
    if model_kwargs.get("device_map") is None:
        model = model.to(target)
    return model.eval(), tokenizer


@functools.cache
def _forward_keyword(forward: Any) -> str:
    parameters = inspect.signature(forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_keyword(module: torch.nn.Module) -> str:
    """The name under which ``module.forward`` takes, and its output returns, the KV cache."""
    return _forward_keyword(type(module).forward)


def check_options(cls: type, options: Mapping[str, Any], *, where: str) -> None:
    """Raise a TypeError naming every key of ``options`` that ``cls`` does not declare in its
    ``OPTIONS`` (its constructor's keyword options).

    For ``from_pretrained``-style loaders that gather their loading options into a
    :class:`LoadOptions` and pass the rest to the constructor; the message lists both kinds.
    """
    unknown = sorted(set(options) - cls.OPTIONS)
    if unknown:
        raise TypeError(
            f"{where}() got unknown option(s) {unknown}; it accepts the options "
            f"{sorted(cls.OPTIONS)} and "
            f"the loading options {list(LoadOptions.names())}; pass options of transformers' "
            "AutoModelForCausalLM.from_pretrained as model_kwargs={...}"
        )


def load_for(cls: type, name_or_path: str | Path, load: LoadOptions | None,
             options: Mapping[str, Any], *, loader: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """What a ``from_pretrained`` does first: gather the :class:`LoadOptions` fields among
    ``options`` (on top of ``load``), refuse before loading anything what neither they nor
    ``cls``'s constructor take, and load with ``loader`` (default :func:`load_causal_lm`).
    Returns the model, its tokenizer and the constructor's options."""
    load, rest = LoadOptions.split(options, load)
    check_options(cls, rest, where=f"{cls.__name__}.from_pretrained")
    model, tokenizer = (loader or load_causal_lm)(name_or_path, load)
    return model, tokenizer, rest

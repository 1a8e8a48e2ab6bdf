"""Flags several commands share: how a model loads (the fields of
:class:`~rewardmine.models.LoadOptions`, plus the batch token budget) and ``KEY=VALUE`` options."""

from __future__ import annotations

import argparse
import json
from typing import Any

DTYPES = ["auto", "float32", "bfloat16", "float16"]


def key_value(text: str) -> tuple[str, Any]:
    """A command-line ``KEY=VALUE`` option: VALUE read as JSON when it parses (``512``,
    ``false``, ``[1, 10]``), else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options take KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_load_flags(parser: Any, *, batch: bool = True) -> None:
    """The loading flags; each left out keeps the loader's default (``auto`` dtype and device,
    which pick a GPU and the checkpoint's dtype there)."""
    parser.add_argument("--dtype", choices=DTYPES, help="default: auto (the checkpoint's own)")
    parser.add_argument("--device", help="default: auto (cuda, then mps, then cpu)")
    parser.add_argument("--revision", help="a branch, tag or commit of a hub repository")
    parser.add_argument("--trust-remote-code", action="store_true", default=None,
                        help="run the repository's own model code")
    parser.add_argument("--attn-implementation", metavar="NAME",
                        help="transformers' attention kernel: sdpa, flash_attention_2, eager")
    parser.add_argument("--device-map", metavar="MAP",
                        help="spread a model over several GPUs (auto, balanced, ...)")
    if batch:
        parser.add_argument("--max-tokens-per-batch", type=int, metavar="N",
                            help="tokens (batch x padded length) per forward pass "
                            "(default 8192)")


def load_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The loading settings the flags give (the ones left out are absent)."""
    settings: dict[str, Any] = {}
    for name in ("dtype", "device", "revision", "trust_remote_code", "max_tokens_per_batch"):
        if getattr(args, name, None) is not None:
            settings[name] = getattr(args, name)
    model_kwargs = {name: getattr(args, name) for name in ("attn_implementation", "device_map")
                    if getattr(args, name, None) is not None}
    if model_kwargs:
        settings["model_kwargs"] = model_kwargs
    return settings

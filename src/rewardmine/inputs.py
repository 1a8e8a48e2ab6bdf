"""What a reward accepts from its callers, checked in one place: lists (not a lone string, a dict
or an iterator), response texts (strings of valid Unicode), token ids (integers, never rounded or
parsed) and parallel lists of equal length. Each check raises a TypeError or ValueError that names
the argument and, where it helps, the fix."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch


def check_list(values: Any, name: str, *, single: str) -> None:
    """A list (or tuple) of items, not a string, a dict or an iterator whose items are keys or
    characters."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list, not a single {type(values).__name__}; {single}")
    if not isinstance(values, Sequence):
        if isinstance(values, dict):
            raise TypeError(f"{name} must be a list, not a dict (its keys would be scored); pass "
                            f"list({name}.values())")
        what = "None" if values is None else f"a {type(values).__name__}"
        raise TypeError(f"{name} must be a list, not {what}; {single}")


def check_texts(values: Any, name: str, *, single: str) -> None:
    check_list(values, name, single=single)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(f"{name}[{i}] is a {type(value).__name__}; each response must be a "
                            "string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"{name}[{i}] holds a lone surrogate at character {error.start}, "
                             "which is not text; pass valid Unicode") from None


def check_ids(ids: Any, name: str) -> None:
    """Token ids are ints: 1.7, "1" or True are refused rather than rounded or parsed."""
    if isinstance(ids, (str, bytes)) or (not isinstance(ids, Sequence) and not (
            isinstance(ids, torch.Tensor) and ids.dim() == 1)):
        raise TypeError(f"{name} must be a list of token ids, not {type(ids).__name__}")
    if isinstance(ids, torch.Tensor):
        if ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise TypeError(f"{name} is a {ids.dtype} tensor; token ids are integers")
        return
    for j, token in enumerate(ids):
        if type(token) is int:
            continue
        try:
            if isinstance(token, bool):
                raise TypeError
            operator.index(token)
        except TypeError:
            raise TypeError(f"{name}[{j}] is {token!r} ({type(token).__name__}); token ids are "
                            "integers") from None


def check_parallel(first: Sequence[Any], second: Sequence[Any], a: str, b: str) -> None:
    if len(first) != len(second):
        raise ValueError(
            f"{a} and {b} must be parallel lists; got {len(first)} {a} and {len(second)} {b}"
        )

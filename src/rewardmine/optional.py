"""The one guard for optional dependencies: a module an install extra brings, or an error that
says which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from rewardmine.errors import MissingExtraError


def require_extra(module: str, *, extra: str, needed_for: str) -> ModuleType:
    """``import module``, or a :class:`~rewardmine.errors.MissingExtraError` (an ImportError the
    command line reports as one line) naming what needs it and the extra that installs it
    (``pip install 'rewardmine[EXTRA]'``). An import that fails inside the installed module is
    not hidden: only the module's own absence is reworded."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or not module.startswith(error.name):
            raise
        raise MissingExtraError(f"{module.split('.')[0]} is needed for {needed_for}: "
                                f"pip install 'rewardmine[{extra}]'") from None

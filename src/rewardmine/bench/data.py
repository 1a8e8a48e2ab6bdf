"""Where benchmark data comes from: the shared data folder, a local path, or the Hugging Face hub.

Without ``--data``, a benchmark reads ``$REWARDMINE_DATA/<benchmark>``, else
``../shared/data/<benchmark>`` from the working directory (a checkout with ``../shared`` beside
it, run from its root). The package's own location plays no part. Hub ids need the optional ``datasets``
package and a network; local files never do.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from rewardmine.io import is_parquet, read_parquet
from rewardmine.optional import require_extra

DATA_ENV = "REWARDMINE_DATA"


def shared_data_dir() -> Path | None:
    """The shared data folder: $REWARDMINE_DATA, else ../shared/data from the working directory
    if it exists."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    root = Path.cwd().parent / "shared" / "data"
    return root if root.is_dir() else None


def default_source(folder: str) -> Path:
    """``<shared data>/<folder>``, or an error that says how to point at the data."""
    root = shared_data_dir()
    if root is None or not (root / folder).exists():
        where = root if root is not None else Path.cwd().parent / "shared" / "data"
        raise FileNotFoundError(
            f"no local copy of {folder!r} in {where}: pass --data PATH (or a Hugging Face id), "
            f"or set ${DATA_ENV} to a folder that holds {folder}/")
    return root / folder


def read_json_records(path: str | Path) -> list[dict[str, Any]]:
    """Records of a .json list, a .jsonl file, either gzipped, or a .parquet file (the format
    of Hugging Face dataset repositories; needs pyarrow)."""
    path = Path(path)
    if is_parquet(path):
        return read_parquet(path)
    opener = gzip.open if path.suffix == ".gz" else open
    stem = path.with_suffix("") if path.suffix == ".gz" else path
    with opener(path, "rt", encoding="utf-8") as handle:
        if stem.suffix == ".jsonl":
            records = []
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            return records
        data = json.load(handle)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def is_hub_id(source: str | Path) -> bool:
    """True for 'owner/name' strings that are not an existing local path."""
    text = str(source)
    return not Path(text).exists() and text.count("/") == 1 and not text.startswith((".", "/"))


def load_hub(dataset_id: str, *, split: str, name: str | None = None,
             data_dir: str | None = None) -> list[dict[str, Any]]:
    """Rows of a Hugging Face dataset split (needs ``pip install datasets`` and a network)."""
    datasets = require_extra("datasets", extra="bench",
                       needed_for=f"loading {dataset_id!r} from the hub (or download it and pass "
                       "the local file)")
    return [dict(row) for row in datasets.load_dataset(dataset_id, name, split=split,
                                                       data_dir=data_dir)]


def load_records(source: str | Path, *, split: str, file_in_folder: str
                 ) -> tuple[list[dict[str, Any]], str]:
    """Records from a hub id (its ``split``), a file, or ``file_in_folder`` inside a folder;
    returned with the place they came from, for error messages."""
    if is_hub_id(source):
        return load_hub(str(source), split=split), str(source)
    path = Path(source)
    if path.is_dir():
        path = path / file_in_folder
    return read_json_records(path), str(path)


def require(record: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    """Raise if ``record`` lacks any of ``keys``; ``where`` names the record for the message."""
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}; expected the official schema "
                         f"with {list(keys)}")

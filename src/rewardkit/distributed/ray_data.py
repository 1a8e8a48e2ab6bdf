"""Offline scoring on Ray Data: one model per actor, results in input order.

The rows are cut into the same blocks the local engine scores together, and each block is one
Ray task on an actor that loaded the model once; so a block's rewards come from the same
``score_many`` call as locally, and the output is the local engine's output. Ray is joined as any
Ray program joins it: ``RAY_ADDRESS`` (or ``ray.init`` before the call), else a local instance.

A task whose actor dies (out of memory, a lost node) is retried on a restarted actor up to
``max_retries`` times; an error raised by the scoring itself (bad input) comes back as the
block's answer, is not retried, and stops the run with its own message. Nothing is dropped: a
run either yields every row or raises.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from rewardkit.endogenous.rows import score_rows
from rewardkit.errors import RewardkitError

Factory = Callable[[], Any]


class RayScoringError(RewardkitError):
    """A Ray scoring run stopped; the message is the cause's."""


class _BlockScorer:
    """The actor: builds the reward once, then scores one block of rows per call."""

    def __init__(self, factory: Factory, options: dict[str, Any]) -> None:
        self.reward = factory()
        if hasattr(self.reward, "progress"):
            self.reward.progress = False
        self.options = options

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out, errors = [], []
        for first, block in zip(batch["first"], batch["rows"], strict=True):
            try:  # bad input is an answer, not a task failure: Ray must not retry it
                scored = score_rows(self.reward, json.loads(block), first_number=int(first),
                                    **self.options)
                out.append(json.dumps(scored, ensure_ascii=False))
                errors.append("")
            except (RewardkitError, ValueError, TypeError) as error:
                out.append("[]")
                errors.append(f"{type(error).__name__}: {error}")
        return {"first": batch["first"], "rows": np.array(out, dtype=object),
                "error": np.array(errors, dtype=object)}


class _DatasetScorer(_BlockScorer):
    """The actor for a user's ``ray.data.Dataset``: rows of columns in, score columns added."""

    def __call__(self, table: Any) -> Any:  # type: ignore[override]
        import pyarrow as pa

        return pa.Table.from_pylist(score_rows(self.reward, table.to_pylist(), **self.options))


def _init_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RewardkitError("the Ray engine needs Ray: pip install 'rewardkit[ray]'") from None
    import ray.data

    if not ray.is_initialized():
        ray.init(log_to_driver=False)  # joins RAY_ADDRESS when set, else starts a local Ray
    return ray


def _map_options(workers: int, gpus_per_worker: float, max_retries: int) -> dict[str, Any]:
    import ray.data

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if gpus_per_worker < 0 or max_retries < 0:
        raise ValueError("gpus_per_worker and max_retries must be 0 or more")
    options: dict[str, Any] = {
        "compute": ray.data.ActorPoolStrategy(size=workers),
        "max_restarts": max_retries, "max_task_retries": max_retries,
    }
    if gpus_per_worker:
        options["num_gpus"] = gpus_per_worker
    return options


def _map(dataset: Any, udf: type, args: tuple, **options: Any) -> Any:
    """``map_batches`` with bounded actor restarts. Ray Data restarts a dead actor forever by
    default (a model that runs out of memory each time would hang the run); the restart bounds
    go through its remote-args keywords, which Ray 2.60 flags as deprecated, so that one warning
    is silenced here."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        return dataset.map_batches(udf, fn_constructor_args=args, **options)


def score_rows_on_ray(rows: Sequence[Mapping[str, Any]], factory: Factory, *,
                      system: str | None = None, aggregate: str = "sum",
                      token_rewards: bool = False, rows_per_block: int = 64, workers: int = 1,
                      gpus_per_worker: float = 0.0, max_retries: int = 2,
                      first_number: int = 1) -> Iterator[list[dict[str, Any]]]:
    """Score ``rows`` on Ray; yields the scored rows block by block, in input order.

    Args:
        rows: input rows (``prompt`` plus ``response`` or ``responses``).
        factory: a picklable callable that builds the reward inside each actor (for example
            ``functools.partial(EndogenousReward.from_pretrained, "Qwen/...")``).
        system, aggregate, token_rewards: as in ``rewardkit score``.
        rows_per_block: rows per ``score_many`` call (and per Ray task).
        workers: actors, each holding its own model.
        gpus_per_worker: GPUs each actor reserves (0 on CPU).
        max_retries: restarts of a dead actor and retries of its task.
        first_number: the input row number of ``rows[0]``, for error messages.
    """
    if rows_per_block < 1:
        raise ValueError(f"rows_per_block must be at least 1, got {rows_per_block}")
    ray = _init_ray()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = sys.stderr.isatty()
    blocks = [{"first": first_number + start,
               "rows": json.dumps(list(rows[start:start + rows_per_block]), ensure_ascii=False)}
              for start in range(0, len(rows), rows_per_block)]
    if not blocks:
        return
    options = {"system": system, "aggregate": aggregate, "token_rewards": token_rewards}
    dataset = _map(ray.data.from_items(blocks, override_num_blocks=len(blocks)), _BlockScorer,
                   (factory, options), batch_size=1,
                   **_map_options(workers, gpus_per_worker, max_retries))
    expected = iter(blocks)
    try:
        for item in dataset.iter_rows():
            block = next(expected)
            if int(item["first"]) != block["first"]:
                raise RayScoringError(
                    f"Ray returned the block starting at row {item['first']} where row "
                    f"{block['first']} was due; nothing was written out of order")
            if item["error"]:
                raise RayScoringError(f"block from input row {block['first']}: {item['error']}")
            yield json.loads(item["rows"])
    except ray.exceptions.RayError as error:
        lines = str(error).strip().splitlines()
        raise RayScoringError("the Ray scoring run stopped: "
                              f"{lines[-1] if lines else type(error).__name__}") from error
    if next(expected, None) is not None:
        raise RayScoringError("Ray returned fewer blocks than were sent")


def score_dataset(dataset: Any, factory: Factory, *, system: str | None = None,
                  aggregate: str = "sum", batch_size: int = 64, workers: int = 1,
                  gpus_per_worker: float = 0.0, max_retries: int = 2) -> Any:
    """A lazy ``ray.data.Dataset``: ``dataset`` with ``score`` (or ``scores``) added per row.

    Rows need ``prompt`` and ``response`` (or ``responses``) columns; ``factory`` builds the
    reward in each actor. Write it with any Ray Data sink (``write_parquet``, ...).
    """
    _init_ray()
    options = {"system": system, "aggregate": aggregate}
    return _map(dataset, _DatasetScorer, (factory, options), batch_size=batch_size,
                batch_format="pyarrow", **_map_options(workers, gpus_per_worker, max_retries))

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

import functools
import pickle
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from rewardmine.distributed.cluster import join_ray
from rewardmine.endogenous.rows import score_rows
from rewardmine.errors import RewardmineError

Factory = Callable[[], Any]


class RayScoringError(RewardmineError):
    """A Ray scoring run stopped; the message is the cause's."""


Work = Callable[[Any, Any], Any]  # (reward, block) -> the block's answer


class _BlockScorer:
    """The actor: builds the reward once, then answers one block per call with ``work``."""

    def __init__(self, factory: Factory, work: Work | None = None) -> None:
        self.reward = factory()
        if hasattr(self.reward, "progress"):
            self.reward.progress = False
        self.work = work

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out, errors = [], []
        for block in batch["block"]:
            try:  # bad input is an answer, not a task failure: Ray must not retry it
                out.append(pickle.dumps(self.work(self.reward, pickle.loads(block))))
                errors.append("")
            except (RewardmineError, ValueError, TypeError, KeyError) as error:
                out.append(b"")
                errors.append(f"{type(error).__name__}: {error}")
        return {"index": batch["index"], "answer": np.array(out, dtype=object),
                "error": np.array(errors, dtype=object)}


class _DatasetScorer(_BlockScorer):
    """The actor for a user's ``ray.data.Dataset``: rows of columns in, score columns added."""

    def __init__(self, factory: Factory, options: dict[str, Any]) -> None:
        super().__init__(factory)
        self.options = options

    def __call__(self, table: Any) -> Any:  # type: ignore[override]
        import pyarrow as pa

        return pa.Table.from_pylist(score_rows(self.reward, table.to_pylist(), **self.options))


def _init_ray() -> Any:
    import importlib

    ray = join_ray()
    importlib.import_module("ray.data")  # the engine's part of Ray
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


def map_blocks_on_ray(work: Work, blocks: Sequence[Any], factory: Factory, *,
                      labels: Sequence[str] | None = None, workers: int = 1,
                      gpus_per_worker: float = 0.0, max_retries: int = 2) -> Iterator[Any]:
    """``work(reward, block)`` for every block on Ray actors; yields the answers in order.

    The one Ray path of rewardmine: ``rewardmine score`` and ``rewardmine bench`` both cut their
    input into the blocks the local engine would score in one call and give them here.

    Args:
        work: a picklable function of the actor's reward and one block.
        blocks: picklable blocks, one Ray task each.
        factory: a picklable callable that builds the reward inside each actor.
        labels: how errors name each block (default "block N").
        workers: actors, each holding its own model.
        gpus_per_worker: GPUs each actor reserves (0 on CPU).
        max_retries: restarts of a dead actor and retries of its task.
    """
    labels = list(labels) if labels is not None else [f"block {i + 1}" for i in range(len(blocks))]
    if len(labels) != len(blocks):
        raise ValueError(f"{len(labels)} labels for {len(blocks)} blocks")
    if not blocks:
        return
    ray = _init_ray()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = sys.stderr.isatty()
    items = [{"index": i, "block": pickle.dumps(block)} for i, block in enumerate(blocks)]
    dataset = _map(ray.data.from_items(items, override_num_blocks=len(items)), _BlockScorer,
                   (factory, work), batch_size=1,
                   **_map_options(workers, gpus_per_worker, max_retries))
    expected = 0
    try:
        for item in dataset.iter_rows():
            if int(item["index"]) != expected:
                raise RayScoringError(
                    f"Ray returned {labels[int(item['index'])]} where {labels[expected]} was "
                    "due; nothing was written out of order")
            if item["error"]:
                raise RayScoringError(f"{labels[expected]}: {item['error']}")
            expected += 1
            yield pickle.loads(item["answer"])
    except ray.exceptions.RayError as error:
        lines = str(error).strip().splitlines()
        raise RayScoringError("the Ray scoring run stopped: "
                              f"{lines[-1] if lines else type(error).__name__}") from error
    if expected != len(blocks):
        raise RayScoringError(f"Ray returned {expected} of {len(blocks)} blocks")


class RayEngine:
    """Blocks scored on Ray actors, each holding the reward ``factory`` builds (the
    :class:`~rewardmine.bench.runner.BlockEngine` of ``rewardmine bench --engine ray``)."""

    def __init__(self, factory: Factory, *, workers: int = 1, gpus_per_worker: float = 0.0,
                 max_retries: int = 2) -> None:
        self.factory, self.workers = factory, workers
        self.gpus_per_worker, self.max_retries = gpus_per_worker, max_retries

    def map_blocks(self, work: Work, blocks: Sequence[Any], labels: Sequence[str]
                   ) -> Iterator[Any]:
        return map_blocks_on_ray(work, blocks, self.factory, labels=labels, workers=self.workers,
                                 gpus_per_worker=self.gpus_per_worker,
                                 max_retries=self.max_retries)


def _score_block(options: dict[str, Any], reward: Any, block: tuple[int, list[Any]]
                 ) -> list[dict[str, Any]]:
    first, rows = block
    return score_rows(reward, rows, first_number=first, **options)


def score_rows_on_ray(rows: Sequence[Mapping[str, Any]], factory: Factory, *,
                      system: str | None = None, token_rewards: bool = False,
                      rows_per_block: int = 64, workers: int = 1,
                      gpus_per_worker: float = 0.0, max_retries: int = 2,
                      first_number: int = 1) -> Iterator[list[dict[str, Any]]]:
    """Score ``rows`` on Ray; yields the scored rows block by block, in input order.

    Args:
        rows: input rows (``prompt`` plus ``response`` or ``responses``).
        factory: a picklable callable that builds the reward inside each actor (for example
            ``functools.partial(load_scorer, "endogenous:Qwen/...", aggregate="mean")``).
        system, token_rewards: as in ``rewardmine score``.
        rows_per_block: rows per ``score_many`` call (and per Ray task).
        workers: actors, each holding its own model.
        gpus_per_worker: GPUs each actor reserves (0 on CPU).
        max_retries: restarts of a dead actor and retries of its task.
        first_number: the input row number of ``rows[0]``, for error messages.
    """
    if rows_per_block < 1:
        raise ValueError(f"rows_per_block must be at least 1, got {rows_per_block}")
    starts = range(0, len(rows), rows_per_block)
    blocks = [(first_number + s, [dict(r) for r in rows[s:s + rows_per_block]]) for s in starts]
    options = {"system": system, "token_rewards": token_rewards}
    yield from map_blocks_on_ray(
        functools.partial(_score_block, options), blocks, factory,
        labels=[f"block from input row {first}" for first, _ in blocks], workers=workers,
        gpus_per_worker=gpus_per_worker, max_retries=max_retries)


def score_dataset(dataset: Any, factory: Factory, *, system: str | None = None,
                  batch_size: int = 64, workers: int = 1,
                  gpus_per_worker: float = 0.0, max_retries: int = 2) -> Any:
    """A lazy ``ray.data.Dataset``: ``dataset`` with ``score`` (or ``scores``) added per row.

    Rows need ``prompt`` and ``response`` (or ``responses``) columns; ``factory`` builds the
    reward in each actor. Write it with any Ray Data sink (``write_parquet``, ...).
    """
    _init_ray()
    options = {"system": system}
    return _map(dataset, _DatasetScorer, (factory, options), batch_size=batch_size,
                batch_format="pyarrow", **_map_options(workers, gpus_per_worker, max_retries))

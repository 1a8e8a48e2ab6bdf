"""Offline scoring on a real local Ray (2 CPUs): equal to the local engine, in order, resilient."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from rewardmine import EndogenousReward  # noqa: E402
from rewardmine.distributed.ray_data import (  # noqa: E402
    RayScoringError,
    score_dataset,
    score_rows_on_ray,
)
from rewardmine.endogenous.rows import score_rows  # noqa: E402

ROWS = [
    {"prompt": f"Question {i}?", "response": f"answer {i}"} if i % 3 else
    {"prompt": [{"role": "user", "content": f"Q {i}"}], "responses": ["x", "a longer one"]}
    for i in range(22)
]


@pytest.fixture(scope="module")
def local_ray():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield
    ray.shutdown()


def local_blocks(reward, rows, size):
    return [r for s in range(0, len(rows), size) for r in score_rows(reward, rows[s:s + size])]


def test_equal_to_the_local_engine_and_in_order(local_ray, saved_model):
    factory = functools.partial(EndogenousReward.from_pretrained, str(saved_model))
    blocks = list(score_rows_on_ray(ROWS, factory, rows_per_block=4, workers=2))
    assert [len(b) for b in blocks] == [4] * 5 + [2]
    got = [r for b in blocks for r in b]
    assert got == local_blocks(factory(), ROWS, 4)  # exactly: same blocks, same calls


class DiesOnce:
    """A reward whose actor process dies on its first block (the marker file remembers)."""

    def __init__(self, path: str, marker: str) -> None:
        self.inner = EndogenousReward.from_pretrained(path)
        self.marker = marker

    def score_many(self, *args, **kwargs):
        if not Path(self.marker).exists():
            Path(self.marker).write_text("died")
            os._exit(1)
        return self.inner.score_many(*args, **kwargs)


def test_a_dead_actor_is_restarted_and_nothing_is_lost(local_ray, saved_model, tmp_path):
    factory = functools.partial(DiesOnce, str(saved_model), str(tmp_path / "marker"))
    got = [r for b in score_rows_on_ray(ROWS[:8], factory, rows_per_block=4) for r in b]
    assert (tmp_path / "marker").exists()
    assert got == local_blocks(EndogenousReward.from_pretrained(str(saved_model)), ROWS[:8], 4)


def test_a_scoring_error_stops_the_run_with_its_message(local_ray, saved_model):
    factory = functools.partial(EndogenousReward.from_pretrained, str(saved_model))
    bad = [*ROWS[:4], {"prompt": "x", "response": 7}]
    with pytest.raises(RayScoringError, match="input row 5: 'response' is a int"):
        list(score_rows_on_ray(bad, factory, rows_per_block=4, max_retries=0))


def test_a_ray_dataset_gets_score_columns(local_ray, saved_model):
    factory = functools.partial(EndogenousReward.from_pretrained, str(saved_model))
    rows = [{"prompt": f"Question {i}?", "response": f"answer {i}"} for i in range(6)]
    out = score_dataset(ray.data.from_items(rows), factory, batch_size=6).take_all()
    want = score_rows(factory(), rows)
    assert [r["score"] for r in out] == pytest.approx([r["score"] for r in want], abs=1e-6)


def test_score_cli_on_ray_equals_local_and_resumes(local_ray, saved_model, tmp_path):
    from rewardmine.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    common = ["score", "--model", str(saved_model), "--input", str(source), "--rows-per-write", "4"]
    assert main([*common, "--output", str(tmp_path / "local.jsonl")]) == 0
    assert main([*common, "--output", str(tmp_path / "ray.jsonl"), "--engine", "ray",
                 "--workers", "2"]) == 0
    local = (tmp_path / "local.jsonl").read_text()
    assert (tmp_path / "ray.jsonl").read_text() == local
    # resume: a run that stopped after 6 rows (mid-block) is completed, not redone
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(local.splitlines(keepends=True)[:6]))
    assert main([*common, "--output", str(partial), "--engine", "ray"]) == 0
    assert len(partial.read_text().splitlines()) == len(ROWS)
    assert [json.loads(x)["prompt"] for x in partial.read_text().splitlines()] == \
        [r["prompt"] for r in ROWS]


BENCH_DATA = Path(__file__).parent / "fixtures" / "bench" / "rm-bench"


def _summary(run):
    summary = json.loads((run / "summary.json").read_text())
    del summary["run"]["scoring_seconds_this_session"]
    return summary


def test_bench_on_ray_equals_local_in_order_and_resumes(local_ray, saved_model, tmp_path):
    pytest.importorskip("matplotlib")
    from rewardmine.cli import main

    common = ["bench", "rm-bench", "--model", str(saved_model), "--data", str(BENCH_DATA),
              "--resamples", "50", "--items-per-call", "2"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray",
                 "--workers", "2"]) == 0
    local = (tmp_path / "local" / "items.jsonl").read_text()
    assert (tmp_path / "ray" / "items.jsonl").read_text() == local  # same rows, same order
    assert _summary(tmp_path / "ray") == _summary(tmp_path / "local")
    # resume: a Ray run that stopped after 3 of 6 items scores the other 3 only
    (tmp_path / "ray" / "items.jsonl").write_text("".join(local.splitlines(keepends=True)[:3]))
    assert main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray"]) == 0
    assert (tmp_path / "ray" / "items.jsonl").read_text() == local
    assert _summary(tmp_path / "ray") == _summary(tmp_path / "local")


def test_score_reads_and_writes_parquet_on_both_engines(local_ray, saved_model, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    from rewardmine.cli import main

    rows = [{"prompt": f"Question {i}?", "response": f"answer {i}"} for i in range(7)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    common = ["score", "--model", str(saved_model), "--rows-per-write", "3"]
    assert main([*common, "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "want.jsonl")]) == 0
    want = [json.loads(x) for x in (tmp_path / "want.jsonl").read_text().splitlines()]
    for engine in ("local", "ray"):  # (resuming is the same code on both: not run twice)
        out = tmp_path / f"{engine}.parquet"
        assert main([*common, "--input", str(tmp_path / "in.parquet"), "--output", str(out),
                     "--engine", engine]) == 0
        assert pq.read_table(out).to_pylist() == want
        assert not Path(f"{out}.partial.jsonl").exists()
    # resume: a parquet run that stopped after 4 rows left them in its partial file
    partial = tmp_path / "resumed.parquet.partial.jsonl"
    partial.write_text("".join(json.dumps(r) + "\n" for r in want[:4]))
    assert main([*common, "--input", str(tmp_path / "in.parquet"),
                 "--output", str(tmp_path / "resumed.parquet")]) == 0
    assert pq.read_table(tmp_path / "resumed.parquet").to_pylist() == want
    # an input that grew: the finished parquet output gets the new rows, the old ones kept
    pq.write_table(pa.Table.from_pylist(rows[:5]), tmp_path / "short.parquet")
    grown = tmp_path / "grown.parquet"
    assert main([*common, "--input", str(tmp_path / "short.parquet"), "--output",
                 str(grown)]) == 0
    assert main([*common, "--input", str(tmp_path / "in.parquet"), "--output", str(grown)]) == 0
    assert [r["prompt"] for r in pq.read_table(grown).to_pylist()] == [r["prompt"] for r in rows]


def test_ray_client_addresses_are_refused_with_what_to_do(saved_model, tmp_path):
    """Ray Client (ray://) died inside Ray Data with a raw traceback; `rewardmine score --engine
    ray` refuses it up front, in one line that says what to do."""
    import os
    import subprocess
    import sys

    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "q", "response": "a"}\n')
    done = subprocess.run(
        [sys.executable, "-m", "rewardmine.cli", "score", "--model", str(saved_model),
         "--input", str(source), "--output", str(tmp_path / "out.jsonl"), "--engine", "ray"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "RAY_ADDRESS": "ray://127.0.0.1:10001", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "Ray Client address" in done.stderr and "ray job submit" in done.stderr

"""Models in worker processes (``rewardkit serve``'s default): the same rewards as in process,
errors that keep their type, a worker that fails to load or dies is reported, never hidden."""

from __future__ import annotations

import argparse
import functools

import pytest

pytest.importorskip("fastapi")
requests = pytest.importorskip("requests")

from rewardkit import EndogenousReward  # noqa: E402
from rewardkit.errors import ContextLengthError  # noqa: E402
from rewardkit.server import cli as serve_cli  # noqa: E402
from rewardkit.server.run import BackgroundServer  # noqa: E402
from rewardkit.server.scoring import encode_chat, load_endogenous_runner  # noqa: E402
from rewardkit.server.worker import ModelWorker, WorkerDied  # noqa: E402

PROMPTS = ["What is 2+2?", "What is 2+2?", [{"role": "user", "content": "Name a colour."}]]
RESPONSES = ["4", "It is 5.", "Blue."]


def make_judge():
    """Built in the judge worker by ``--judge test_server_worker:make_judge``."""
    from test_server_app import LengthJudge

    return LengthJudge()


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


def test_worker_scores_like_in_process_and_errors_keep_their_type(saved_model):
    reward = EndogenousReward.from_pretrained(str(saved_model))
    items = encode_chat(reward, PROMPTS, RESPONSES, None)
    worker = ModelWorker(functools.partial(load_endogenous_runner, str(saved_model)))
    try:
        assert worker(items) == pytest.approx(reward.score_many(PROMPTS, RESPONSES), abs=1e-5)
        vocab = len(reward.tokenizer)
        with pytest.raises(ValueError, match="item 1: a token id is outside the vocabulary"):
            worker([items[0], ((1, 2), (vocab + 7,))])
        with pytest.raises(ContextLengthError, match="never truncates") as caught:
            worker([((1,) * 600, (2,))])
        assert (caught.value.index, caught.value.length, caught.value.limit) == (0, 601, 512)
        assert worker(items[:1]) == pytest.approx(reward.score_many(PROMPTS[:1], RESPONSES[:1]),
                                                  abs=1e-5)  # still serving after errors
        worker._process.kill()
        worker._process.join(10)
        with pytest.raises(WorkerDied, match="exited"):
            worker(items)
        assert not worker.alive
    finally:
        worker.close()


def test_a_model_that_fails_to_load_raises_at_start(tmp_path):
    with pytest.raises(OSError):
        ModelWorker(functools.partial(load_endogenous_runner, str(tmp_path / "missing")))


def test_serve_with_workers_answers_and_reports_a_dead_worker(saved_model):
    app = serve_cli.build(serve_args("--endogenous-model", str(saved_model),
                                     "--judge", "test_server_worker:make_judge"))
    workers = {kind: b.run for kind, b in app.app.state.batchers.items()}
    assert all(isinstance(w, ModelWorker) and w.alive for w in workers.values())
    expected = EndogenousReward.from_pretrained(str(saved_model)).score(PROMPTS[0], RESPONSES[:2])
    with BackgroundServer(app) as server:
        assert requests.get(server.url + "/health").json()["status"] == "healthy"
        reply = requests.post(server.url + "/v1/score",
                              json={"prompt": PROMPTS[0], "responses": RESPONSES[:2]})
        assert reply.json()["rewards"] == pytest.approx(expected, abs=1e-5)
        verdict = requests.post(server.url + "/v1/judge", json={
            "principle": "longer is better", "prompt": "Q", "responses": ["a", "abc"]}).json()
        assert verdict["ranking"] == ["1", "0"]
        assert requests.post(server.url + "/v1/score", json={
            "prompt": "x" * 2000, "responses": ["y"]}).status_code == 400  # too long: named

        workers["endogenous"]._process.kill()
        workers["endogenous"]._process.join(10)
        health = requests.get(server.url + "/health")
        assert health.status_code == 503 and "endogenous worker" in health.json()["detail"]
        dead = requests.post(server.url + "/v1/score", json={"prompt": "Q", "responses": ["a"]})
        assert dead.status_code == 503 and "exited" in dead.json()["detail"]
    assert not any(w.alive for w in workers.values())  # shutdown stopped the judge worker too

"""The endogenous reward from a log-probability server: equal to the local reward minus V(s_1).

The stub computes log-probabilities with the same tiny model the local reward runs, so within
one prompt the differences must agree, and local - remote must be V(s_1) for every response.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logprob_stub import logprob_server
from rewardmine import ContextLengthError, EndogenousReward
from rewardmine.endogenous.remote import RemoteScoringError
from rewardmine.testing import build_model
from rewardmine.upstream import UpstreamError, UpstreamUnavailable

RESPONSES = ["4", "It is four.", "5<|im_end|>", "a longer answer that rambles on " * 3]


@pytest.fixture(scope="module")
def tiny(tokenizer):
    return build_model("llama", len(tokenizer), seed=11)


@pytest.fixture(scope="module")
def local(tiny, tokenizer):
    return EndogenousReward(tiny, tokenizer)


@pytest.mark.parametrize("protocol", ["echo", "prompt_logprobs"])
def test_remote_equals_local_minus_first_value(tiny, tokenizer, local, protocol):
    with logprob_server(tiny) as (url, state):
        remote = EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer,
                                              protocol=protocol, concurrency=3)
        got = remote.score("What is 2+2?", RESPONSES, system="Be brief.")
    want = local.score("What is 2+2?", RESPONSES, system="Be brief.")
    v1 = local.token_rewards("What is 2+2?", "4", system="Be brief.").values[0]
    for g, w in zip(got, want, strict=True):
        assert w - g == pytest.approx(v1, abs=1e-4)
    for i in range(len(RESPONSES)):  # pairwise differences, hence rankings, are the local ones
        assert got[i] - got[0] == pytest.approx(want[i] - want[0], abs=1e-4)
    assert all(isinstance(b["prompt"], list) for b in state["bodies"])  # token ids are sent


def test_score_many_keeps_input_order_and_ids_match_the_local_encoder(tiny, tokenizer, local):
    prompts = [f"Question {k}?" for k in range(6)] * 2
    responses = [f"answer {k}" for k in range(12)]
    with logprob_server(tiny) as (url, state):
        remote = EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer, concurrency=4)
        got = remote.score_many(prompts, responses)
        ids = remote.score_ids([local.encoder.encode(prompts[0], responses[0]).prompt_ids],
                               [local.encoder.encode(prompts[0], responses[0]).action_ids])
    want = local.score_many(prompts, responses)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        v1 = local.token_rewards(prompts[k], responses[k]).values[0]
        assert w - g == pytest.approx(v1, abs=1e-4), k
    assert ids[0] == pytest.approx(got[0], abs=1e-9)
    sent = sorted(map(tuple, (b["prompt"] for b in state["bodies"][:12])))
    encoded = sorted(tuple(p.prompt_ids + p.action_ids) for p in
                     (local.encoder.encode(q, r) for q, r in zip(prompts, responses, strict=True)))
    assert sent == encoded


def test_retries_then_gives_up(tiny, tokenizer):
    with logprob_server(tiny, fail_first=2) as (url, _):
        remote = EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer, concurrency=1)
        [score] = remote.score("Q?", ["A"])
        assert remote.retried == 2 and score < 0
    with logprob_server(tiny, fail_first=5) as (url, _):
        remote = EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer, retries=1)
        with pytest.raises(UpstreamUnavailable, match=r"within 2 attempts .*HTTP 503"):
            remote.score("Q?", ["A"])


def test_a_misaligned_server_is_caught(tiny, tokenizer):
    with logprob_server(tiny, shift=True) as (url, _):
        remote = EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer)
        with pytest.raises(UpstreamError, match="misaligned"):
            remote.score("Q?", ["A"])


def test_context_errors_before_and_from_the_server(tiny, tokenizer):
    with logprob_server(tiny, context=20) as (url, state):
        remote = EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer, context_limit=20)
        with pytest.raises(ContextLengthError, match="item 1 is"):
            remote.score("Q?", ["A", "long " * 40])
        assert state["bodies"] == []  # refused before anything was sent
        unchecked = EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer)
        with pytest.raises(ContextLengthError, match="maximum context length"):
            unchecked.score("Q?", ["long " * 40])


def test_what_log_probabilities_cannot_give_is_refused(tiny, tokenizer):
    with pytest.raises(ValueError, match="only alpha=1 and terminal='zero'"):
        EndogenousReward.from_server("http://127.0.0.1:9/v1", "m", tokenizer=tokenizer, alpha=2.0)
    with pytest.raises(ValueError, match="terminal='value'"):
        EndogenousReward.from_server("http://127.0.0.1:9/v1", "m", tokenizer=tokenizer,
                                     terminal="value")
    remote = EndogenousReward.from_server("http://127.0.0.1:9/v1", "m", tokenizer=tokenizer,
                                          include_end_of_turn=False)
    with pytest.raises(ValueError, match="aggregate must be 'sum' or 'mean'"):
        remote.score("Q?", ["A"], aggregate="median")
    with pytest.raises(RemoteScoringError, match="token rewards need V"):
        remote.token_rewards("Q?", "A")
    with pytest.raises(ValueError, match="item 0 has no actions"):
        remote.score("Q?", [""])
    with pytest.raises(TypeError, match="wrap a single response"):
        remote.score("Q?", "A")


def test_api_key_is_sent(tiny, tokenizer):
    with logprob_server(tiny) as (url, state):
        EndogenousReward.from_server(url, "tiny", tokenizer=tokenizer, api_key="k").score("Q", ["A"])
    assert state["headers"][0]["Authorization"] == "Bearer k"


def test_score_cli_through_a_server(saved_model, tmp_path):
    from transformers import AutoModelForCausalLM

    from rewardmine.cli import main

    rows = [{"prompt": "Q?", "responses": ["a", "bb"]}, {"prompt": "R?", "response": "c"}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    served = AutoModelForCausalLM.from_pretrained(saved_model)
    with logprob_server(served) as (url, _):
        assert main(["score", "--model", f"logprobs:{saved_model}@{url}", "--input",
                     str(source), "--output", str(tmp_path / "out.jsonl")]) == 0
        remote = EndogenousReward.from_server(url, str(saved_model))
        want = remote.score_many(["Q?", "Q?", "R?"], ["a", "bb", "c"])
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[0]["scores"] == pytest.approx(want[:2]) and out[1]["score"] == pytest.approx(want[2])


# -- logprobs:MODEL@URL in bench, serve and the RL adapters: the same within-prompt numbers

GROUP = ["4", "It is four.", "five", "a longer answer that rambles on"]


@pytest.fixture(scope="module")
def served(saved_model):
    """The loopback log-probability server of the saved tiny model, and the local reward."""
    from transformers import AutoModelForCausalLM

    with logprob_server(AutoModelForCausalLM.from_pretrained(saved_model)) as (url, state):
        yield url, state, EndogenousReward.from_pretrained(str(saved_model))


def advantages(values):
    """GRPO's group-normalised advantages: (r - mean) / std."""
    import statistics

    mean, std = statistics.fmean(values), statistics.pstdev(values)
    return [(v - mean) / std for v in values]


def test_bench_through_a_server_gives_the_local_figures(served, saved_model, tmp_path, cli_error):
    pytest.importorskip("matplotlib")
    from rewardmine.cli import main

    url, _, _ = served
    data = Path(__file__).parent / "fixtures" / "bench" / "rm-bench"
    common = ["bench", "rm-bench", "--data", str(data), "--resamples", "50"]
    local, remote = ["--model", str(saved_model)], ["--model", f"logprobs:{saved_model}@{url}"]
    for name, flags in (("local", local), ("remote", remote),
                        ("local-mean", [*local, "--aggregate", "mean"]),
                        ("remote-mean", [*remote, "--aggregate", "mean"])):
        assert main([*common, *flags, "--out", str(tmp_path / name)]) == 0
    runs = {name: json.loads((tmp_path / name / "summary.json").read_text())
            for name in ("local", "remote", "local-mean", "remote-mean")}
    # accuracies: chosen and rejected share V(s_1); the mean log-likelihood needs no V at all
    assert runs["remote"]["figures"] == runs["local"]["figures"]
    assert runs["remote-mean"]["figures"] == runs["local-mean"]["figures"]
    assert runs["remote"]["run"]["model"] == f"logprobs:{saved_model}@{url}"
    assert "only alpha=1 and terminal='zero' can be served" in cli_error(
        [*common, *remote, "--out", str(tmp_path / "x"), "--alpha", "0.5"])
    assert "--method verifier takes a model's id or path" in cli_error(
        [*common, *remote, "--out", str(tmp_path / "y"), "--method", "verifier"])


def test_serve_through_a_server(served, saved_model):
    requests = pytest.importorskip("requests")
    pytest.importorskip("fastapi")
    from rewardmine.cli import build_parser
    from rewardmine.cli.serve import build
    from rewardmine.server.run import BackgroundServer

    url, _, local = served
    args = build_parser().parse_args(["serve", "--endogenous-model",
                                      f"logprobs:{saved_model}@{url}"])
    want = local.score("What is 2+2?", GROUP)
    ids = [local.encoder.encode("What is 2+2?", r).action_ids for r in GROUP]
    with BackgroundServer(build(args)) as server:
        got = requests.post(server.url + "/v1/score", json={"prompt": "What is 2+2?",
                                                            "responses": GROUP}).json()["rewards"]
        by_ids = requests.post(server.url + "/v1/score_actions", json={
            "prompts": ["What is 2+2?"] * 4, "action_ids": [list(a) for a in ids]}).json()
    assert advantages(got) == pytest.approx(advantages(want), abs=1e-4)
    assert by_ids["rewards"] == pytest.approx(got, abs=1e-9)
    for flags in (["--prompt-cache", "always"], ["--dtype", "float32"]):
        bad = build_parser().parse_args(["serve", "--endogenous-model",
                                         f"logprobs:{saved_model}@{url}", *flags])
        with pytest.raises(SystemExit, match="do not apply to a logprobs: reward"):
            build(bad)


def test_serve_answers_503_when_the_log_probability_server_is_down(saved_model):
    requests = pytest.importorskip("requests")
    pytest.importorskip("fastapi")
    from rewardmine.cli import build_parser
    from rewardmine.cli.serve import build
    from rewardmine.server.run import BackgroundServer, free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    args = build_parser().parse_args(["serve", "--endogenous-model",
                                      f"logprobs:{saved_model}@{dead}"])
    with BackgroundServer(build(args)) as server:
        answer = requests.post(server.url + "/v1/score", json={"prompt": "Q", "responses": ["A"]})
    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert dead in answer.json()["detail"] and "is the server up?" in answer.json()["detail"]


def test_rl_adapters_through_a_server(served, saved_model, monkeypatch):
    from rewardmine.rl import openrlhf_reward_func, verl
    from rewardmine.rl.trl import endogenous_reward_func

    url, _, local = served
    prompt = [{"role": "user", "content": "What is 2+2?"}]
    want = advantages(local.score(prompt, GROUP))
    func = endogenous_reward_func(f"logprobs:{saved_model}@{url}")
    assert "logprobs" in func.__name__
    assert advantages(func([prompt] * 4, GROUP)) == pytest.approx(want, abs=1e-4)
    ids = [list(local.encoder.encode(prompt, r).action_ids) for r in GROUP]
    assert advantages(func([prompt] * 4, GROUP, completion_ids=ids)) == \
        pytest.approx(want, abs=1e-4)
    # the mean log-likelihood needs no V: the served one is the local one exactly
    means = endogenous_reward_func(f"logprobs:{saved_model}@{url}", aggregate="mean")
    assert means([prompt] * 4, GROUP) == pytest.approx(
        local.score(prompt, GROUP, aggregate="mean"), abs=1e-4)
    got = [verl.compute_score("d", r, None, {"question": prompt}, model=str(saved_model),
                              endogenous_base_url=url) for r in GROUP]
    assert advantages(got) == pytest.approx(want, abs=1e-4)
    router = url.removeprefix("http://").removesuffix("/v1")  # verl's reward servers' router
    assert [verl.compute_score("d", r, None, {"question": prompt}, model=str(saved_model),
                               endogenous_base_url="reward_router", reward_router_address=router)
            for r in GROUP] == pytest.approx(got, abs=1e-9)
    with pytest.raises(ValueError, match="needs verl's reward servers"):
        verl.compute_score("d", "4", None, {"question": prompt}, model=str(saved_model),
                           endogenous_base_url="reward_router")
    assert verl.compute_score("d", "4", None, {"question": prompt}, model=str(saved_model),
                              endogenous_base_url=url, aggregate="mean") == pytest.approx(
        local.score(prompt, ["4"], aggregate="mean")[0], abs=1e-4)
    assert verl.compute_score("d", "4", None, {"question": prompt},
                              reward=f"logprobs:{saved_model}@{url}") == pytest.approx(got[0])
    rendered = local.encoder.render_prompt(prompt).text
    monkeypatch.setenv("REWARDMINE_REWARD", f"logprobs:{saved_model}@{url}")
    out = openrlhf_reward_func.reward_func([rendered + r for r in GROUP], [rendered] * 4)
    text = [float(x) for x in out["rewards"]]
    local_text = openrlhf_reward_func.make_reward_func(local)(
        [rendered + r for r in GROUP], [rendered] * 4)["rewards"]
    assert advantages(text) == pytest.approx(advantages([float(x) for x in local_text]),
                                             abs=1e-4)

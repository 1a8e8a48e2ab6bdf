"""The two reward contracts, the adapters between them, and judge panels (Kemeny consensus)."""

from __future__ import annotations

import itertools

import pytest

from rewardmine.conversions import JudgeScorer, ScorerJudge, as_list_judge, as_scorer
from rewardmine.errors import JudgeOutputError
from rewardmine.judge.panel import JudgePanel
from rewardmine.protocols import ListJudge, Scorer
from rewardmine.types import Judgement


class LengthScorer:
    """Scores a response by its length plus the length of the steering text."""

    def __init__(self):
        self.calls = []

    def score_many(self, prompts, responses, *, system=None):
        self.calls.append((list(prompts), list(responses), system))
        return [len(r) + len(system or "") for r in responses]


class RankingJudge:
    """A list judge with a fixed opinion: responses ranked by ``key``; invalid for prompts in
    ``invalid``."""

    def __init__(self, key, invalid=()):
        self.key, self.invalid, self.requests = key, set(invalid), []

    def judge_many(self, requests):
        self.requests += list(requests)
        out = []
        for r in requests:
            if r["prompt"] in self.invalid:
                out.append(Judgement(status="invalid", error=f"cannot judge {r['prompt']}"))
                continue
            ranking = sorted(r["responses"], key=lambda i: self.key(r["responses"][i]))
            n = len(ranking)
            out.append(Judgement(scores={i: float(n - k) for k, i in enumerate(ranking)},
                                 ranking=ranking))
        return out


def test_protocols_are_runtime_checkable():
    assert isinstance(LengthScorer(), Scorer) and not isinstance(LengthScorer(), ListJudge)
    assert isinstance(RankingJudge(len), ListJudge)
    with pytest.raises(TypeError, match="neither a scorer"):
        as_scorer(object())


def test_scorer_as_list_judge_batches_by_principle_and_ranks_by_score():
    scorer = LengthScorer()
    judge = as_list_judge(scorer)
    assert isinstance(judge, ScorerJudge) and as_list_judge(judge) is judge
    verdicts = judge.judge_many([
        {"principle": "p", "prompt": "A", "responses": {"x": "aaa", "y": "a"}},
        {"prompt": "B", "responses": {"u": "bb", "v": "bbbb"}},
        {"principle": "p", "prompt": "C", "responses": {"w": "c"}},
    ])
    assert [v.scores for v in verdicts] == [{"x": 4.0, "y": 2.0}, {"u": 2.0, "v": 4.0},
                                            {"w": 2.0}]
    assert [v.ranking for v in verdicts] == [["x", "y"], ["v", "u"], ["w"]]
    # one score_many call per distinct principle, the requests' responses in order
    assert scorer.calls == [(["A", "A", "C"], ["aaa", "a", "c"], "p"), (["B", "B"], ["bb", "bbbb"],
                                                                       None)]


def test_list_judge_as_scorer_groups_by_prompt_with_system_as_principle():
    judge = RankingJudge(key=lambda text: -len(text))  # longer is better
    scorer = as_scorer(judge, principle="default")
    assert isinstance(scorer, JudgeScorer) and as_scorer(scorer) is scorer
    prompts = ["A", "B", "A", "A"]
    responses = ["a", "bb", "aaa", "aa"]
    # group A: "a", "aaa", "aa" -> scores 1, 3, 2; group B alone -> 1
    assert scorer.score_many(prompts, responses, system="brevity") == [1.0, 1.0, 3.0, 2.0]
    assert [r["principle"] for r in judge.requests] == ["brevity", "brevity"]
    assert [r["responses"] for r in judge.requests] == [{"0": "a", "1": "aaa", "2": "aa"},
                                                        {"0": "bb"}]
    scorer.score_many(["A"], ["a"])
    assert judge.requests[-1]["principle"] == "default"


def test_round_trip_keeps_a_scorers_order():
    base = LengthScorer()
    back = JudgeScorer(ScorerJudge(base))
    prompts, responses = ["q", "q", "r"], ["xx", "x", "xyz"]
    ranks = back.score_many(prompts, responses, system="s")
    # the judge's scores are the scorer's own, so the round trip returns them unchanged
    assert ranks == [float(v) for v in LengthScorer().score_many(prompts, responses, system="s")]


def test_invalid_verdict_raises_or_takes_the_fixed_score():
    judge = RankingJudge(key=len, invalid=("B",))
    with pytest.raises(JudgeOutputError, match="item 1 got no valid verdict \\(cannot judge B\\)"):
        JudgeScorer(judge).score_many(["A", "B"], ["a", "b"])
    assert JudgeScorer(judge, invalid_score=-1.0).score_many(["A", "B"], ["a", "b"]) == [1.0, -1.0]


def disagreements(order, rankings):
    pos = {i: k for k, i in enumerate(order)}
    return sum(1 for r in rankings for a, b in itertools.combinations(r, 2) if pos[a] > pos[b])


def test_panel_is_the_kemeny_consensus_of_its_members():
    members = {
        "len": RankingJudge(key=lambda t: -len(t)),
        "alpha": RankingJudge(key=lambda t: t),
        "vowels": RankingJudge(key=lambda t: -sum(c in "aeiou" for c in t)),
    }
    panel = JudgePanel(members)
    assert isinstance(panel, ListJudge)
    responses = {"a": "zz", "b": "aaaa", "c": "bcd", "d": "eee"}
    (verdict,) = panel.judge_many([{"principle": "p", "prompt": "Q", "responses": responses}])
    rankings = [m.judge_many([{"prompt": "Q", "responses": responses}])[0].ranking
                for m in members.values()]
    best = min(disagreements(o, rankings) for o in itertools.permutations("abcd"))
    assert verdict.ok and disagreements(verdict.ranking, rankings) == best
    # win rate: the share of the 3 judges x 3 rivals a response beats
    wins = {i: sum(r.index(i) < r.index(j) for r in rankings for j in "abcd" if j != i) / 9
            for i in "abcd"}
    assert verdict.scores == pytest.approx(wins)
    assert "consensus of len, alpha, vowels" in verdict.reasoning


def test_panel_leaves_invalid_members_out_and_names_them():
    panel = JudgePanel([RankingJudge(key=len), RankingJudge(key=len, invalid=("Q",))])
    (verdict,) = panel.judge_many([{"prompt": "Q", "responses": {"a": "x", "b": "xx"}}])
    assert verdict.ok and verdict.ranking == ["a", "b"]
    assert "left out j2: cannot judge Q" in verdict.reasoning
    both_bad = JudgePanel([RankingJudge(key=len, invalid=("Q",))] * 2)
    (verdict,) = both_bad.judge_many([{"prompt": "Q", "responses": {"a": "x"}}])
    assert verdict.status == "invalid" and "no panel judge gave a valid verdict" in verdict.error
    with pytest.raises(ValueError, match="at least one judge"):
        JudgePanel([])


def test_panel_is_an_rl_reward_and_a_scorer():
    from rewardmine.rl.trl import judge_reward_func

    panel = JudgePanel([RankingJudge(key=lambda t: -len(t)), RankingJudge(key=lambda t: -len(t))])
    reward = judge_reward_func(panel, "Longer is better.", reward="rank", num_generations=2)
    assert reward(prompts=["A", "A", "B", "B"], completions=["x", "xxx", "yy", "y"]) == \
        [0.0, 1.0, 1.0, 0.0]
    assert as_scorer(panel).score_many(["A", "A"], ["xx", "x"]) == [1.0, 0.0]  # win rates


def test_prompt_identity_is_injective():
    """One identity for every cache and grouping: a string prompt and a chat prompt never share
    it, whatever the string says, and a prompt never merges with its reference."""
    import json

    from rewardmine.chat import prompt_key
    from rewardmine.grouping import group_requests

    chat = [{"role": "user", "content": "hi"}]
    for text in (json.dumps(chat), json.dumps(chat, sort_keys=True), repr(chat)):
        assert prompt_key(text) != prompt_key(chat)
    assert prompt_key(chat) == prompt_key([{"content": "hi", "role": "user"}])
    assert prompt_key("a\x00b", reference="c") != prompt_key("a", reference="b\x00c")
    assert prompt_key("q", system=None) != prompt_key("q", system="None")
    # grouping: a string and a chat prompt, and NUL-joined prompt/reference pairs, stay apart
    groups, _ = group_requests("p", [json.dumps(chat, sort_keys=True), chat], ["x", "y"])
    assert groups == [[0], [1]]
    groups, requests = group_requests("p {reference}", ["a\x00b", "a"], ["x", "y"],
                                      references=["c", "b\x00c"], reference_template="{principle}")
    assert groups == [[0], [1]] and [r["prompt"] for r in requests] == ["a\x00b", "a"]


class TokenBudgetScorer(LengthScorer):
    """A length scorer whose context holds 10 characters of prompt plus response."""

    def check(self, prompts, responses, *, system=None):
        from rewardmine.chat import check_fits

        for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
            check_fits(i, len(prompt), len(response), 10)


def test_pre_flight_checks_name_the_request_the_response_and_the_panel_member():
    from rewardmine.errors import ContextLengthError

    requests = [{"prompt": "q", "responses": {"a": "x", "b": "y"}},
                {"prompt": "q", "responses": {"a": "x", "long": "z" * 20}}]
    judge = ScorerJudge(TokenBudgetScorer())
    with pytest.raises(ContextLengthError) as info:
        judge.check(requests)
    error = info.value
    assert (error.index, error.length, error.limit) == (1, 21, 10)
    assert str(error) == ("request 1 has response 'long', which is 21 tokens (1 prompt + 20 "
                          "response) but the model's context is 10; shorten it (rewardmine "
                          "never truncates)")
    assert error.detail == str(error).removeprefix("request 1 ")
    judge.check(requests[:1])  # fits: nothing raised
    panel = JudgePanel({"short": ScorerJudge(LengthScorer()), "budget": judge})
    with pytest.raises(ContextLengthError, match=r"^request 1 has response 'long'.*"
                                                 r"\(panel judge budget\)$") as info:
        panel.check(requests)
    assert info.value.index == 1 and info.value.detail.endswith("(panel judge budget)")


def test_the_token_scorers_meet_the_token_contract(tokenizer, saved_model):
    from rewardmine import EndogenousReward
    from rewardmine.endogenous.remote import RemoteEndogenousReward
    from rewardmine.protocols import TokenScorer

    local = EndogenousReward.from_pretrained(str(saved_model), progress=False)
    remote = RemoteEndogenousReward("http://127.0.0.1:9/v1", "m", tokenizer)
    assert isinstance(local, TokenScorer) and isinstance(remote, TokenScorer)
    assert not isinstance(LengthScorer(), TokenScorer)

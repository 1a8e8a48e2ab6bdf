"""parse_judgement on realistic model outputs: what is accepted, repaired, or rejected."""

from __future__ import annotations

import pytest

from rewardmine.judge import parse_judgement

IDS = ["model-1", "model-2", "model-3"]


def parse(text: str, ids=IDS, **kw):
    return parse_judgement(text, ids, **kw)


def test_clean_output_with_think_block():
    text = (
        "<think>\nmodel-2 is correct and short; model-1 is correct but rambles; "
        "model-3 is wrong.\n</think>\n\n"
        '{"scores": {"model-1": 4, "model-2": 5, "model-3": 1}, '
        '"best-to-worst": ["model-2", "model-1", "model-3"]}'
    )
    j = parse(text)
    assert j.status == "ok" and j.error is None and j.repairs == []
    assert j.scores == {"model-1": 4.0, "model-2": 5.0, "model-3": 1.0}
    assert j.ranking == ["model-2", "model-1", "model-3"]
    assert j.reasoning.startswith("model-2 is correct")
    assert j.raw == text


def test_code_fence_and_prose_are_accepted_as_ok():
    text = (
        "<think>ok</think>\nHere is my verdict:\n```json\n"
        '{\n  "scores": {"model-1": 2, "model-2": 3, "model-3": 3},\n'
        '  "best-to-worst": ["model-3", "model-2", "model-1"]\n}\n```\nThanks!'
    )
    j = parse(text)
    assert j.status == "ok"
    assert j.ranking == ["model-3", "model-2", "model-1"]  # ties may be ordered either way


def test_closing_tag_only_and_no_think_block():
    j = parse('weighing them...</think>{"scores": {"model-1": 1, "model-2": 2, "model-3": 3},'
              ' "best-to-worst": ["model-3", "model-2", "model-1"]}')
    assert j.status == "ok" and j.reasoning == "weighing them..."
    j = parse('Reasoning first. {"scores": {"model-1": 1, "model-2": 2, "model-3": 3},'
              ' "best-to-worst": ["model-3", "model-2", "model-1"]}')
    assert j.status == "ok" and j.reasoning == "Reasoning first."


def test_json_quoted_in_thinking_is_not_the_answer():
    text = ('<think>I could answer {"scores": {"model-1": 5}} but no.</think>'
            '{"scores": {"model-1": 1, "model-2": 5, "model-3": 3}, '
            '"best-to-worst": ["model-2", "model-3", "model-1"]}')
    assert parse(text).scores["model-1"] == 1.0


def test_last_verdict_wins_when_the_answer_has_two():
    text = ('{"scores": {"model-1": 5, "model-2": 1, "model-3": 1}, "best-to-worst": '
            '["model-1", "model-2", "model-3"]}\nWait, correction:\n'
            '{"scores": {"model-1": 1, "model-2": 5, "model-3": 3}, '
            '"best-to-worst": ["model-2", "model-3", "model-1"]}')
    assert parse(text).ranking == ["model-2", "model-3", "model-1"]


def test_trailing_commas_are_repaired():
    text = ('</think>{"scores": {"model-1": 3, "model-2": 4, "model-3": 5,}, '
            '"best-to-worst": ["model-3", "model-2", "model-1",],}')
    j = parse(text)
    assert j.status == "repaired" and "trailing commas" in " | ".join(j.repairs)
    assert j.ranking == ["model-3", "model-2", "model-1"]


def test_single_quotes_are_repaired():
    j = parse("{'scores': {'model-1': 3, 'model-2': 4, 'model-3': 5}, "
              "'best-to-worst': ['model-3', 'model-2', 'model-1']}")
    assert j.status == "repaired" and "single quotes" in " | ".join(j.repairs)


@pytest.mark.parametrize("key", ["best_to_worst", "best-to-worse", "Best to Worst", "ranking"])
def test_misspelt_ranking_key_is_repaired(key):
    j = parse(f'{{"scores": {{"model-1": 2, "model-2": 1, "model-3": 5}}, '
              f'"{key}": ["model-3", "model-1", "model-2"]}}')
    assert j.status == "repaired"
    assert repr(key) in " | ".join(j.repairs)
    assert j.ranking == ["model-3", "model-1", "model-2"]


def test_renamed_ids_are_mapped_back():
    j = parse('{"scores": {"Model 1": 2, "model_2": 1, "3": 5}, '
              '"best-to-worst": ["model-3", "Model-1", "2"]}')
    assert j.status == "repaired"
    assert j.scores == {"model-1": 2.0, "model-2": 1.0, "model-3": 5.0}
    assert j.ranking == ["model-3", "model-1", "model-2"]


def test_caller_style_ids_are_supported():
    j = parse_judgement('{"scores": {"a": 1, "b": 4}, "best-to-worst": ["b", "a"]}', ["a", "b"])
    assert j.status == "ok" and j.ranking == ["b", "a"]


def test_missing_id_is_invalid_and_names_it():
    j = parse('{"scores": {"model-1": 2, "model-2": 1}, "best-to-worst": ["model-1", "model-2"]}')
    assert j.status == "invalid" and not j.ok
    assert j.scores == {} and j.ranking == []
    assert "model-3" in j.error


def test_invented_id_instead_of_a_real_one_is_invalid():
    j = parse('{"scores": {"model-1": 2, "model-2": 1, "model-7": 4}, '
              '"best-to-worst": ["model-7", "model-1", "model-2"]}')
    assert j.status == "invalid"
    assert "model-3" in j.error and "model-7" in j.error


def test_invented_extra_id_is_ignored_with_a_note():
    j = parse('{"scores": {"model-1": 2, "model-2": 1, "model-3": 3, "model-4": 5}, '
              '"best-to-worst": ["model-4", "model-3", "model-1", "model-2"]}')
    assert j.status == "repaired" and "model-4" in " | ".join(j.repairs)
    assert set(j.scores) == set(IDS) and j.ranking == ["model-3", "model-1", "model-2"]


def test_ranking_disagreeing_with_scores_is_reordered_by_score():
    j = parse('{"scores": {"model-1": 5, "model-2": 2, "model-3": 4}, '
              '"best-to-worst": ["model-2", "model-1", "model-3"]}')
    assert j.status == "repaired" and "2 pair(s)" in " | ".join(j.repairs)
    assert j.ranking == ["model-1", "model-3", "model-2"]


def test_missing_ranking_is_rebuilt_when_scores_are_distinct():
    j = parse('{"scores": {"model-1": 1, "model-2": 5, "model-3": 3}}')
    assert j.status == "repaired" and "rebuilt" in " | ".join(j.repairs)
    assert j.ranking == ["model-2", "model-3", "model-1"]


def test_missing_ranking_with_tied_scores_is_invalid():
    j = parse('{"scores": {"model-1": 3, "model-2": 3, "model-3": 1}}')
    assert j.status == "invalid" and "tie" in j.error


def test_duplicate_in_ranking_uses_partial_order_for_ties():
    j = parse('{"scores": {"model-1": 3, "model-2": 3, "model-3": 1}, '
              '"best-to-worst": ["model-2", "model-1", "model-1"]}')
    assert j.status == "repaired" and "ranked twice" in " | ".join(j.repairs)
    assert j.ranking == ["model-2", "model-1", "model-3"]


@pytest.mark.parametrize("score, reason", [(6, "outside the scale"), (0, "outside the scale"),
                                           ('"high"', "not a number"), ("true", "boolean"),
                                           ("null", "not a number")])
def test_bad_scores_are_invalid(score, reason):
    j = parse(f'{{"scores": {{"model-1": {score}, "model-2": 1, "model-3": 2}}, '
              '"best-to-worst": ["model-1", "model-3", "model-2"]}')
    assert j.status == "invalid" and reason in j.error and "model-1" in j.error


def test_numeric_string_score_is_repaired_and_scale_is_configurable():
    j = parse('{"scores": {"model-1": "9", "model-2": 1, "model-3": 10}, '
              '"best-to-worst": ["model-3", "model-1", "model-2"]}', scale=(1, 10))
    assert j.status == "repaired" and j.scores["model-1"] == 9.0


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \n", "empty"),
    ("<think>still thinking about model-1 and", "never closed"),
    ("</think>I think model-2 is best.", "no JSON"),
    ('</think>{"scores": {"model-1": 3, "model-2": 4', "cut off"),
    ('</think>{"verdict": "model-1"}', 'no "scores"'),
    ('</think>{"scores": [3, 4, 5], "best-to-worst": []}', "not an object"),
    ('</think>{"scores": {"model-1": 3 "model-2": 4}}', "not valid JSON"),
])
def test_unreadable_outputs_are_invalid_with_reason(text, reason):
    j = parse(text)
    assert j.status == "invalid" and reason in j.error
    assert j.scores == {} and j.ranking == [] and j.raw == text


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="distinct"):
        parse_judgement("{}", ["a", "a"])
    with pytest.raises(TypeError):
        parse_judgement(None, ["a"])  # type: ignore[arg-type]


def test_an_id_scored_twice_is_invalid_not_its_last_value():
    """json.loads keeps the last of two equal keys; a verdict that scores an id twice (a way to
    hide a score from the check that every id is scored once) is invalid instead."""
    text = ('{"scores": {"a": 5, "a": 1, "b": 3}, "best-to-worst": ["a", "b"]}')
    verdict = parse_judgement(text, ["a", "b"])
    assert not verdict.ok and "the key 'a' appears twice" in verdict.error

"""``rewardmine judge`` names the physical line (1-based, blank lines counted) of every bad row,
whatever is wrong with it, and refuses the file before anything is judged or written."""

from __future__ import annotations

import pytest

GOOD = '{"prompt": "q", "responses": ["a", "b"], "principle": "p"}'

BAD = {  # what is wrong with the row -> (its text, a part of the message)
    "bad JSON": ('{"prompt": "q", "responses": [', "not valid JSON"),
    "not an object": ('["q", "a"]', "each line must be a JSON object"),
    "missing prompt": ('{"responses": ["a"], "principle": "p"}', "missing 'prompt'"),
    "missing responses": ('{"prompt": "q", "principle": "p"}', "missing 'responses'"),
    "responses type": ('{"prompt": "q", "responses": 3, "principle": "p"}',
                       "'responses': responses must be a dict of ids to texts or a list"),
    "response type": ('{"prompt": "q", "responses": ["a", 7], "principle": "p"}',
                      "'responses': response '1' is a int"),
    "prompt type": ('{"prompt": 5, "responses": ["a"], "principle": "p"}',
                    "'prompt': prompt must be a string"),
    "principle type": ('{"prompt": "q", "responses": ["a"], "principle": 3}',
                       "'principle' must be a non-empty string"),
    "duplicate id": ('{"prompt": "q", "responses": {"a": "x", "a": "y"}, "principle": "p"}',
                     "the key 'a' appears twice in one object"),
    "output field": ('{"prompt": "q", "responses": ["a"], "principle": "p", "judgement": 1}',
                     "the row already has 'judgement'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("layout", ["first", "after blanks"])
def test_every_input_error_names_the_physical_line(tmp_path, cli_error, case, layout):
    text, expected = BAD[case]
    if layout == "first":
        content, line = f"{text}\n{GOOD}\n", 1
    else:  # good rows and blank lines (one holding only spaces) before it
        content, line = f"\n{GOOD}\n   \n\n{GOOD}\n{text}\n{GOOD}\n", 6
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(content)
    # the judge spec names no model: every check runs before a judge is loaded
    message = cli_error(["judge", "--judge", "principle:no-such-model", "--input", str(source),
                         "--output", str(out)])
    assert f"in.jsonl:{line}: " in message and expected in message, message
    assert not out.exists()

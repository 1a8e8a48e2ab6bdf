"""The build-bench pipeline end to end through the CLI, with tiny local models as generators
and endogenous-reward judges (mechanics, not quality), and its resumability."""

from __future__ import annotations

import json

import pytest

from rewardmine.cli import main
from rewardmine.io import read_jsonl
from rewardmine.testing import build_model, build_tokenizer


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    tokenizer = build_tokenizer()
    paths = {}
    for name, arch, seed in (("gen-a", "llama", 1), ("gen-b", "qwen2", 2), ("judge-a", "llama", 3),
                             ("judge-b", "qwen2", 4), ("judge-c", "gemma2", 5)):
        model = build_model(arch, len(tokenizer), seed=seed)
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        paths[name] = str(root / name)
    return paths


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_pipeline_end_to_end_and_resume(models, tmp_path):
    principles, prompts = tmp_path / "principles.jsonl", tmp_path / "prompts.jsonl"
    out = tmp_path / "run"
    write_jsonl(principles, [{"principle": "Be brief.", "dimension": "style"},
                             {"principle": "Use a formal tone.", "dimension": "tone"}])
    write_jsonl(prompts, [{"prompt": "What is 2+2?", "domain": "math"},
                          {"prompt": [{"role": "user", "content": "Say hi."}], "domain": "chat"}])
    args = ["build-bench", "run", "--principles", str(principles), "--prompts", str(prompts),
            "--out", str(out), "--generator", models["gen-a"],
            "--generator", models["gen-b"] + ":none", "--generator", models["gen-a"] + ":none",
            "--judge", "endogenous:" + models["judge-a"], "--judge", "endogenous:" + models["judge-b"],
            "--judge", "endogenous:" + models["judge-c"], "--k", "2", "--min-responses", "2",
            "--samples", "2", "--temperature", "1.0", "--max-new-tokens", "6",
            "--min-new-tokens", "3"]
    assert main(args) == 0
    tasks = read_jsonl(out / "tasks.jsonl")
    assert [t["id"] for t in tasks] == ["p1/q1", "p1/q2", "p2/q1", "p2/q2"]
    candidates = read_jsonl(out / "candidates.jsonl")
    assert all(len(row["responses"]) == 6 for row in candidates)  # 3 generators x 2 samples
    assert sorted(candidates[0]["sources"].values()) == sorted(
        f"g{g}-{name}#{k}" for g, name in ((1, "gen-a"), (2, "gen-b"), (3, "gen-a")) for k in (0, 1))
    judged = read_jsonl(out / "judgements.jsonl")
    assert all(len(row["judgements"]) == 3 for row in judged)
    rows = read_jsonl(out / "consensus.jsonl")
    for row in rows:
        assert row["filter"]["m"] == 3
        assert set(row["ranking"]) <= set(row["responses"])
        assert row["keep"] == (len(row["ranking"]) >= 2)
    assert (out / "verify.html").exists()

    # rerunning does no new work and changes nothing
    before = {name: (out / name).read_text() for name in
              ("tasks.jsonl", "candidates.jsonl", "judgements.jsonl", "consensus.jsonl")}
    assert main(args) == 0
    assert {name: (out / name).read_text() for name in before} == before

    # two annotators: one accepts everything, the other rejects the first kept list
    from rewardmine.buildbench.verify import export_lists

    lists, export_id = export_lists(rows)
    for name, reject_first in (("ann-1", False), ("ann-2", True)):
        decisions = {item["id"]: {"decision": "reject" if reject_first and i == 0 else "accept",
                                  "ranking": None} for i, item in enumerate(lists)}
        (tmp_path / f"{name}.json").write_text(json.dumps({
            "format": "rewardmine-annotations", "version": 1, "export": export_id,
            "annotator": name, "decisions": decisions}))
    assert main(["build-bench", "finish", "--out", str(out), "--annotations",
                 str(tmp_path / "ann-1.json"), str(tmp_path / "ann-2.json")]) == 0
    bench = read_jsonl(out / "benchmark.jsonl")
    assert [row["id"] for row in bench] == [item["id"] for item in lists[1:]]
    for row in bench:
        assert set(row) >= {"id", "principle", "dimension", "domain", "prompt", "responses",
                            "ranking", "scores"}
        assert list(row["responses"]) == [r for r in row["responses"] if r in row["ranking"]]
        assert set(row["scores"]) == set(row["ranking"]) == set(row["responses"])
    report = json.loads((out / "verification.json").read_text())
    assert report["lists"] == len(lists)
    assert report["keep_all_agree"] == pytest.approx(1 - 1 / len(lists))


def test_resume_refuses_another_runs_output(tmp_path):
    from rewardmine.buildbench.tasks import pending

    write_jsonl(tmp_path / "done.jsonl", [{"id": "x/y"}])
    with pytest.raises(ValueError, match="belongs to another run"):
        pending(tmp_path / "done.jsonl", [{"id": "p1/q1"}])
    assert pending(tmp_path / "done.jsonl", [{"id": "x/y"}, {"id": "x/z"}]) == [{"id": "x/z"}]

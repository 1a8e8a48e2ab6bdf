"""Each extra alone: docs/install.md's snippet for it runs in a fresh environment that holds
rewardmine with that extra and nothing else (built by ``bash .ci/extras.sh``), and prints what the
page shows. Without the environments the tests skip, except in CI, where they must run."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "install.md"
ENVIRONMENTS = Path(os.environ.get("REWARDMINE_EXTRAS", Path.home() / ".cache/rewardmine/extras"))
MARK = re.compile(r"<!-- test: extra (\w+) -->\n```python\n(.*?)```\n\s*```\n(.*?)```", re.S)
SNIPPETS = {m.group(1): (m.group(2), m.group(3)) for m in MARK.finditer(PAGE.read_text())}


def declared_extras() -> set[str]:
    return set(importlib.metadata.metadata("rewardmine").get_all("Provides-Extra")) - {"test"}


def test_every_extra_has_a_snippet_and_a_row():
    text = PAGE.read_text()
    assert set(SNIPPETS) == declared_extras() | {"core"}
    assert text.count("<!-- test: extra") == len(SNIPPETS)  # a marker without its blocks fails
    for extra in declared_extras():
        assert f"| `{extra}` |" in text, f"docs/install.md's table has no row for {extra}"
    built = (ROOT / ".ci" / "extras.sh").read_text()
    assert f"{{*:-{' '.join(SNIPPETS)}}}" in built, ".ci/extras.sh builds every snippet's env"


@pytest.mark.parametrize("extra", sorted(SNIPPETS))
def test_the_snippet_runs_with_its_extra_alone(extra, tmp_path):
    python, spec = ENVIRONMENTS / extra / "bin" / "python", ENVIRONMENTS / extra / ".spec"
    problem = ("is not built" if not spec.exists() else
               "was built for another checkout" if spec.read_text().split(" | ")[2] != str(ROOT)
               else None)
    if problem:
        message = f"the {extra} environment {problem}: bash .ci/extras.sh {extra}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    code, shown = SNIPPETS[extra]
    (tmp_path / "snippet.py").write_text(code)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run([str(python), "snippet.py"], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == shown, done.stderr[-3000:]
    # the environment holds this checkout's rewardmine, not another copy
    where = subprocess.run([str(python), "-c", "import rewardmine; print(rewardmine.__file__)"],
                           env=env, text=True, capture_output=True, timeout=120, check=True)
    assert Path(where.stdout.strip()).resolve().is_relative_to(ROOT / "src"), where.stdout

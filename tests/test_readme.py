"""The README's quick start and CI run the same test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    assert len(commands) >= 2
    demo, tests = commands[0], commands[1]
    assert demo.endswith("rewardmine demo")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == tests
    # docs/real-models.md shows the same command (it installs the real-model tier too)
    assert f"```bash\n{tests}\n```" in (ROOT / "docs" / "real-models.md").read_text()

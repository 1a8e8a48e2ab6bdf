"""The direction of imports in DESIGN.md: the foundation modules import no part above them,
the scorers import no consumer, the consumers import no sibling they are not built on, and
nothing imports the command line."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rewardmine"
FOUNDATION = {"types", "protocols", "grouping", "conversions", "models", "chat", "rollouts",
              "errors", "io", "progress", "upstream", "statistics", "optional", "inputs"}
SCORERS = {"endogenous", "judge", "consensus", "classifier"}
LOADER = {"specs"}  # names and loads a reward of either family
CONSUMERS = {"bench", "rl", "server", "distributed", "judgetraining"}
# what each part may import from rewardmine, beyond itself
ALLOWED = {
    **{name: FOUNDATION for name in FOUNDATION},
    **{name: FOUNDATION | SCORERS for name in SCORERS},
    "specs": FOUNDATION | SCORERS,
    "bench": FOUNDATION | SCORERS | LOADER,
    "rl": FOUNDATION | SCORERS | LOADER,
    "server": FOUNDATION | SCORERS | LOADER,
    "distributed": FOUNDATION | SCORERS | LOADER | {"server"},
    "judgetraining": FOUNDATION | SCORERS | LOADER | {"bench"},
}


def part_of(path: Path) -> str:
    """The layer of a module: its top-level package or module (the command line, the ``cli``
    package, may import anything)."""
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imported_modules(path: Path) -> set[str]:
    """The rewardmine modules ``path`` imports, anywhere in it (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("rewardmine.")}


def imported_parts(path: Path) -> set[str]:
    return {n.split(".")[1] for n in imported_modules(path)}


def test_imports_follow_the_layers():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        part = part_of(path)
        if part not in ALLOWED:  # the toy world, testing helpers, the CLI, buildbench
            continue
        for imported in imported_parts(path) - {part} - ALLOWED[part]:
            wrong.append(f"{path.relative_to(SRC)} imports rewardmine.{imported}")
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_the_command_line():
    users = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if part_of(p) != "cli"
             and any(m == "rewardmine.cli" or m.startswith("rewardmine.cli.")
                     for m in imported_modules(p))]
    assert not users, users


def test_argparse_lives_in_the_command_line_only():
    users = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if part_of(p) != "cli"
             and "argparse" in p.read_text()]
    assert not users, users


def test_the_design_page_names_every_part_of_the_library():
    page = (SRC.parents[1] / "docs" / "design.md").read_text()
    parts = {p.name for p in SRC.iterdir() if not p.name.startswith("_")
             and (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    missing = sorted(p for p in parts if f"\n  {p}" not in page and f"\n  {p}/" not in page)
    assert not missing, f"docs/design.md does not place {missing}"

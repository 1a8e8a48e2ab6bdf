"""The one guard for optional dependencies."""

from __future__ import annotations

import sys

import pytest

from rewardmine.optional import require_extra


def test_a_missing_module_names_the_extra_to_install():
    with pytest.raises(ImportError, match=r"^no_such_pkg is needed for parquet files: "
                                          r"pip install 'rewardmine\[ray\]'$"):
        require_extra("no_such_pkg.sub", extra="ray", needed_for="parquet files")
    assert require_extra("json", extra="x", needed_for="y") is sys.modules["json"]


def test_an_error_inside_an_installed_module_is_not_reworded(tmp_path, monkeypatch):
    (tmp_path / "broken_extra.py").write_text("import no_such_dependency_inside\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_inside"):
        require_extra("broken_extra", extra="x", needed_for="y")

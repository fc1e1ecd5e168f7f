"""Every data file the package reads at run time must be declared as package
data, or `pip install .` (non-editable) ships an app that cannot start."""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "damontui"
CODE_SUFFIXES = {".py", ".pyc", ".so", ".pyd"}


def _package_data_globs() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["package-data"]["damontui"]


def test_every_data_file_is_declared() -> None:
    globs = _package_data_globs()
    data_files = [
        (Path(folder) / name).relative_to(PACKAGE).as_posix()
        # followlinks: damontui/themes links to the top-level themes/
        for folder, _, names in os.walk(PACKAGE, followlinks=True)
        for name in names
        if Path(name).suffix not in CODE_SUFFIXES and "__pycache__" not in folder
    ]
    assert "tui/app.tcss" in data_files and any(f.startswith("themes/") for f in data_files)
    undeclared = [f for f in data_files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not undeclared, f"add these to [tool.setuptools.package-data] damontui: {undeclared}"


def test_shipped_themes_are_reachable_from_the_package() -> None:
    themes = sorted(p.name for p in (PACKAGE / "themes").glob("*.toml"))
    assert {"damon-dark.toml", "damon-light.toml", "damon-high-contrast.toml"} <= set(themes)

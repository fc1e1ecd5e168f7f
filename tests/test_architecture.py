"""The layers of the guide, checked on the imports (AST, no execution).

- damontui/tui/ takes data through the Backend protocol: no import of a backend
  package (backends.base, the protocol and its errors, is allowed);
- the engine and the kernel backend never import each other; backends/select.py is
  the one module that knows both;
- damontui/model/ is plain dataclasses and validation: no backend, TUI or I/O
  package;
- every module stays under 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "damontui"
MODULES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the damontui modules (and top-level packages) imported."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _under(path: Path, sub: str) -> bool:
    return path.is_relative_to(PKG / sub)


def test_the_tui_imports_no_backend_package() -> None:
    bad = {
        str(p.relative_to(PKG)): sorted(
            i
            for i in _imports(p)
            if i.startswith(("damontui.backends.engine", "damontui.backends.kernel"))
        )
        for p in MODULES
        if _under(p, "tui")
    }
    assert {k: v for k, v in bad.items() if v} == {}


@pytest.mark.parametrize(
    ("side", "other"), [("backends/engine", "kernel"), ("backends/kernel", "engine")]
)
def test_engine_and_kernel_never_import_each_other(side: str, other: str) -> None:
    bad = {
        str(p.relative_to(PKG)): sorted(
            i for i in _imports(p) if i.startswith(f"damontui.backends.{other}")
        )
        for p in MODULES
        if _under(p, side)
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_only_select_knows_both_backends() -> None:
    both = [
        str(p.relative_to(PKG))
        for p in MODULES
        if _under(p, "backends")
        and any(i.startswith("damontui.backends.engine") for i in _imports(p))
        and any(i.startswith("damontui.backends.kernel") for i in _imports(p))
    ]
    assert both == ["backends/select.py"]


def test_the_model_does_no_io_and_knows_no_backend_or_tui() -> None:
    banned = ("damontui.backends", "damontui.tui", "subprocess", "socket", "textual")
    bad = {
        str(p.relative_to(PKG)): sorted(i for i in _imports(p) if i.startswith(banned))
        for p in MODULES
        if _under(p, "model")
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_modules_stay_under_500_lines() -> None:
    long = {
        str(p.relative_to(PKG)): n for p in MODULES if (n := len(p.read_text().splitlines())) >= 500
    }
    assert long == {}

"""damontui/_sampler.pyi (the type stub of the compiled sampling loop) against the real
module and its pure-Python twin.

mypy trusts the stub blindly: a function or method added to ext/_sampler.pyx without a
stub entry, or a renamed parameter, would type-check wrong code.
"""

from __future__ import annotations

import ast
import inspect
import os
from pathlib import Path

import pytest

from damontui.backends.engine import sampler_py

STUB = Path(__file__).resolve().parent.parent / "damontui" / "_sampler.pyi"

try:
    from damontui import _sampler as compiled
except ImportError as exc:  # pragma: no cover - depends on the build
    if os.environ.get("DAMONTUI_REQUIRE_COMPILED") == "1":
        raise
    pytestmark = pytest.mark.skip(reason=f"damontui._sampler is not built: {exc}")
    compiled = None  # type: ignore[assignment]

TREE = ast.parse(STUB.read_text())


def _functions(body: list[ast.stmt]) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in body if isinstance(n, ast.FunctionDef)}


def _classes() -> dict[str, ast.ClassDef]:
    return {n.name: n for n in TREE.body if isinstance(n, ast.ClassDef)}


def _params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in fn.args.args]


def _public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_module_functions_match() -> None:
    stub = _functions(TREE.body)
    real = {
        n
        for n in _public(compiled)
        if callable(getattr(compiled, n)) and not isinstance(getattr(compiled, n), type)
    }
    assert set(stub) == real
    for name, fn in stub.items():
        assert _params(fn) == list(inspect.signature(getattr(compiled, name)).parameters), name
        twin = inspect.signature(getattr(sampler_py, name)).parameters
        assert _params(fn) == list(twin), f"{name}: the pure-Python twin differs"


def test_module_constants_are_declared() -> None:
    declared = {
        n.target.id
        for n in TREE.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    assert declared == {"SAMPLER_API_VERSION", "CONSTANTS"}
    assert compiled.SAMPLER_API_VERSION == sampler_py.SAMPLER_API_VERSION
    assert compiled.CONSTANTS == sampler_py.CONSTANTS


def test_classes_match() -> None:
    classes = _classes()
    assert set(classes) == {"StopFlag", "PageSampler"}
    instances = {
        "StopFlag": sampler_py.StopFlag(),
        "PageSampler": sampler_py.PageSampler(sampler_py.MODE_SOFTDIRTY, -1, -1, -1, -1, 4096),
    }
    for name, cls in classes.items():
        stub = {m for m in _functions(cls.body) if not m.startswith("_")}
        assert stub == _public(getattr(compiled, name)), name
        # the twin may have more (its own state): it must have at least the stub's API
        assert stub <= _public(instances[name]), f"{name}: the pure-Python twin lacks some"
    init = _functions(classes["PageSampler"].body)["__init__"]
    twin_init = inspect.signature(sampler_py.PageSampler.__init__).parameters
    assert _params(init) == list(twin_init)


def test_counters_are_the_same_keys() -> None:
    fds = (-1, -1, -1, -1)
    mode = sampler_py.MODE_SOFTDIRTY
    assert set(compiled.PageSampler(mode, *fds, 4096).counters()) == set(
        sampler_py.PageSampler(mode, *fds, 4096).counters()
    )

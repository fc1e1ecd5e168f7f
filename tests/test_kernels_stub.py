"""damontui/_kernels.pyi (the type stub of the compiled kernels) against the real thing.

mypy trusts the stub blindly, so a kernel added to ext/_kernels.pyx without a stub
entry, or a renamed parameter, would type-check wrong code. The stub must list the
compiled module's public functions with their parameter names and defaults, and
carry the annotations of the pure-Python twin (same API, documented there).
"""

from __future__ import annotations

import ast
import inspect
import os
from pathlib import Path

import pytest

from damontui.kernels import KERNEL_NAMES, kernels_py

STUB = Path(__file__).resolve().parent.parent / "damontui" / "_kernels.pyi"

COMPILED_MISSING = ""
try:
    from damontui import _kernels as compiled
except ImportError as exc:  # pragma: no cover - depends on the build
    if os.environ.get("DAMONTUI_REQUIRE_COMPILED") == "1":
        raise
    compiled = None
    COMPILED_MISSING = f"damontui._kernels is not built: {exc}"


def _stub_functions() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(STUB.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _stub_params(fn: ast.FunctionDef) -> list[tuple[str, object, str]]:
    """(name, default or inspect.Parameter.empty, annotation text) per parameter."""
    args = fn.args
    assert not (args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg)
    defaults: list[object] = [inspect.Parameter.empty] * (len(args.args) - len(args.defaults))
    defaults += [ast.literal_eval(d) for d in args.defaults]
    return [
        (a.arg, d, ast.unparse(a.annotation) if a.annotation else "")
        for a, d in zip(args.args, defaults, strict=True)
    ]


def _public_functions(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and callable(value)
        and not isinstance(value, type)
        and getattr(value, "__module__", None) == getattr(module, "__name__", None)
    }


def test_stub_covers_every_kernel_the_loader_requires() -> None:
    assert set(KERNEL_NAMES) <= set(_stub_functions())


def test_stub_matches_the_python_twin() -> None:
    for name, fn in _stub_functions().items():
        twin = getattr(kernels_py, name)
        expected = [
            (p.name, p.default, p.annotation) for p in inspect.signature(twin).parameters.values()
        ]
        assert _stub_params(fn) == expected, name
        assert (
            fn.returns is not None and ast.unparse(fn.returns) == twin.__annotations__["return"]
        ), name


@pytest.mark.skipif(compiled is None, reason=COMPILED_MISSING)
def test_stub_matches_the_compiled_module() -> None:
    stub = _stub_functions()
    assert set(stub) == _public_functions(compiled)
    for name, fn in stub.items():
        actual = [
            (p.name, p.default)
            for p in inspect.signature(getattr(compiled, name)).parameters.values()
        ]
        assert [(n, d) for n, d, _ in _stub_params(fn)] == actual, name

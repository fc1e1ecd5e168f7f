"""The user-space DAMON engine (for kernels without DAMON vaddr/paddr).

`EngineBackend` is imported lazily so that importing a submodule (kernels, sources)
does not pull in the whole engine.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EngineBackend"]


def __getattr__(name: str) -> Any:
    if name == "EngineBackend":
        from .backend import EngineBackend

        return EngineBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

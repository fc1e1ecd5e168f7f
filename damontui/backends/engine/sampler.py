"""The page-granular sampling loop: the compiled damontui._sampler or its Python twin.

``IMPL_NAME`` says which one is live ("cython" or "python"). The twin is used when
``DAMONTUI_PURE_PYTHON=1`` or when the compiled module is missing or stale (the
engine's kernels report that already; this module stays quiet). Both give identical
results (tests/test_sampler_differential.py).
"""

from __future__ import annotations

import os
from types import ModuleType

from . import sampler_py

FILE_NAMES = {
    sampler_py.FILE_PAGEMAP: "pagemap",
    sampler_py.FILE_BITMAP: "page_idle bitmap",
    sampler_py.FILE_CLEAR_REFS: "clear_refs",
    sampler_py.FILE_KPAGEFLAGS: "kpageflags",
}


def _choose() -> tuple[ModuleType, str]:
    if os.environ.get("DAMONTUI_PURE_PYTHON", "") == "1":
        return sampler_py, "python"
    try:
        from damontui import _sampler
    except ImportError:
        return sampler_py, "python"
    if getattr(_sampler, "SAMPLER_API_VERSION", None) != sampler_py.SAMPLER_API_VERSION:
        return sampler_py, "python"
    if getattr(_sampler, "CONSTANTS", None) != sampler_py.CONSTANTS:
        return sampler_py, "python"
    return _sampler, "cython"


impl, IMPL_NAME = _choose()

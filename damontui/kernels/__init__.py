"""The engine's hot-path kernels: the compiled Cython module, or its pure-Python twin.

Callers do ``from damontui import kernels; kernels.merge(...)``.
``IMPL_NAME`` says which implementation is live ("cython" or "python") and
``IMPORT_ERROR`` why the compiled one is not (None if it is, or if the twin was forced
with ``DAMONTUI_PURE_PYTHON=1``). Both implementations give identical results.
"""

from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType
from typing import TYPE_CHECKING

from damontui.kernels import kernels_py

log = logging.getLogger(__name__)

KERNEL_NAMES = (
    "pick_samples",
    "apply_checks",
    "merge",
    "merge_to_limit",
    "reset_aggregated",
    "split",
    "temperatures",
    "temperature_order",
    "match_pattern",
    "synthetic_check",
    "coalesce",
    "read_pagemap",
    "idle_bitmap_set",
    "idle_bitmap_get",
    "smaps_region_accesses",
    "read_to_end",
)


def _load_compiled() -> ModuleType:
    """Import damontui._kernels; raise ImportError if it is missing or stale."""
    from damontui import _kernels

    version = getattr(_kernels, "KERNELS_API_VERSION", None)
    if version != kernels_py.KERNELS_API_VERSION:
        raise ImportError(
            f"damontui._kernels is stale (API version {version}, expected "
            f"{kernels_py.KERNELS_API_VERSION}); rebuild with "
            "'python setup.py build_ext --inplace'"
        )
    missing = [name for name in KERNEL_NAMES if not hasattr(_kernels, name)]
    if missing:
        raise ImportError(f"damontui._kernels lacks {', '.join(missing)}; rebuild it")
    return _kernels


def _choose() -> tuple[ModuleType, str, str | None]:
    if os.environ.get("DAMONTUI_PURE_PYTHON", "") == "1":
        log.info("DAMONTUI_PURE_PYTHON=1: using the pure-Python kernels")
        return kernels_py, "python", None
    try:
        return _load_compiled(), "cython", None
    except ImportError as exc:
        reason = f"{type(exc).__name__}: {exc}"
    message = (
        f"compiled kernels (damontui._kernels) failed to import ({reason}); the engine "
        "is running on the slower pure-Python twin"
    )
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    log.info("%s", message)  # the warning already reaches stderr; don't print it twice
    return kernels_py, "python", reason


impl, IMPL_NAME, IMPORT_ERROR = _choose()

if TYPE_CHECKING:
    from damontui.kernels.kernels_py import (
        apply_checks,
        coalesce,
        idle_bitmap_get,
        idle_bitmap_set,
        match_pattern,
        merge,
        merge_to_limit,
        pick_samples,
        read_pagemap,
        read_to_end,
        reset_aggregated,
        smaps_region_accesses,
        split,
        synthetic_check,
        temperature_order,
        temperatures,
    )
else:
    globals().update({name: getattr(impl, name) for name in KERNEL_NAMES})

__all__ = [
    "IMPL_NAME",
    "IMPORT_ERROR",
    "KERNEL_NAMES",
    "impl",
    "apply_checks",
    "coalesce",
    "idle_bitmap_get",
    "idle_bitmap_set",
    "match_pattern",
    "merge",
    "merge_to_limit",
    "pick_samples",
    "read_pagemap",
    "read_to_end",
    "reset_aggregated",
    "smaps_region_accesses",
    "split",
    "synthetic_check",
    "temperature_order",
    "temperatures",
]

"""Registry of the engine's access sources.

``probe_all`` and ``make_source`` accept one shared set of keyword arguments (pid,
proc_root, page_idle_path, seed, ...) and hand each source only those it takes, so a
caller can build one dict from the command line and try every source with it.
"""

from __future__ import annotations

import inspect
from typing import Any

from .base import AccessSource, ProbeResult, SourceError, TargetGone
from .pageidle import PageIdleSource
from .smaps import SmapsSource
from .softdirty import SoftDirtySource
from .synthetic import SyntheticSource, SyntheticWorkload

SOURCES: dict[str, type[AccessSource]] = {
    cls.name: cls for cls in (SyntheticSource, SmapsSource, SoftDirtySource, PageIdleSource)
}


def _params(cls: type[AccessSource]) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


def probe_all(**kwargs: Any) -> dict[str, ProbeResult]:
    """Probe every source (reading only); each probe ignores the kwargs it has no use for."""
    return {name: cls.probe(**kwargs) for name, cls in SOURCES.items()}


def make_source(name: str, **kwargs: Any) -> AccessSource:
    """Build source ``name`` from the kwargs its constructor takes.

    Kwargs no source takes at all are rejected, so typos do not pass silently.
    """
    try:
        cls = SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown access source {name!r}; known: {', '.join(SOURCES)}") from None
    known = set().union(*(_params(c) for c in SOURCES.values()))
    unknown = set(kwargs) - known
    if unknown:
        raise TypeError(f"no access source takes {', '.join(sorted(unknown))}")
    mine = _params(cls)
    return cls(**{k: v for k, v in kwargs.items() if k in mine})


__all__ = [
    "SOURCES",
    "AccessSource",
    "PageIdleSource",
    "ProbeResult",
    "SmapsSource",
    "SoftDirtySource",
    "SourceError",
    "SyntheticSource",
    "SyntheticWorkload",
    "TargetGone",
    "make_source",
    "probe_all",
]

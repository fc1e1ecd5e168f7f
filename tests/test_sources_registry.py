"""The access-source registry: names, class attributes, probe_all and make_source."""

from __future__ import annotations

import os

import pytest

from damontui.backends.engine.sources import (
    SOURCES,
    ProbeResult,
    SmapsSource,
    SyntheticSource,
    make_source,
    probe_all,
)


def test_registry_contents() -> None:
    assert list(SOURCES) == ["synthetic", "smaps", "softdirty", "pageidle"]
    for name, cls in SOURCES.items():
        assert cls.name == name
        assert cls.granularity in ("exact", "vma", "page")
        assert cls.sees in ("reads+writes", "writes")
        assert cls.description and "\n" not in cls.description


def test_probe_all_on_this_machine() -> None:
    results = probe_all(pid=os.getpid())
    assert set(results) == set(SOURCES)
    assert all(isinstance(r, ProbeResult) for r in results.values())
    assert results["synthetic"].available and results["smaps"].available
    for name, res in results.items():
        if not res.available:
            assert res.reason.strip(), name  # always say what is missing


def test_make_source_filters_shared_kwargs() -> None:
    src = make_source("synthetic", pid=os.getpid(), proc_root="/proc", seed=3, pattern="stairs")
    assert isinstance(src, SyntheticSource) and src.workload.seed == 3
    smaps = make_source("smaps", pid=os.getpid(), seed=3, pattern="stairs")
    assert isinstance(smaps, SmapsSource) and smaps.pid == os.getpid()
    smaps.close()


def test_make_source_errors() -> None:
    with pytest.raises(ValueError, match="unknown access source 'nope'.*synthetic"):
        make_source("nope")
    with pytest.raises(TypeError, match="pidd"):
        make_source("synthetic", pidd=1)

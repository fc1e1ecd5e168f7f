"""Read-only checks against THIS machine's real DAMON sysfs (never written).

The host's kdamond belongs to the machine; these tests only read.  The autouse
guard (tests/conftest.py) records every write through the backend's one write
path and each test asserts there were none.
"""

from __future__ import annotations

import os

import pytest

from damontui.backends.base import BackendError
from damontui.backends.kernel import (
    DEFAULT_ROOT,
    KernelBackend,
    RealSysfs,
    detect_features,
    list_kdamonds,
)
from damontui.backends.kernel.inventory import kdamond_states
from damontui.backends.kernel.ownership import Ownership
from damontui.model import MonitoringAttrs, Target, TargetKind


def _host_problem() -> str | None:
    if os.environ.get("DAMONTUI_IN_VM") == "1":
        return "inside the VM tier: the host-tree tests are for the host"
    if not os.path.isdir(DEFAULT_ROOT):
        return f"{DEFAULT_ROOT} is absent (no DAMON sysfs on this kernel)"
    if not os.access(os.path.join(DEFAULT_ROOT, "kdamonds", "nr_kdamonds"), os.R_OK):
        return "DAMON sysfs is readable by root only"
    return None


@pytest.fixture
def host(damon_write_guard, tmp_path):
    problem = _host_problem()
    if problem:
        print(f"skipping real-host DAMON tests: {problem}")
        pytest.skip(problem)
    yield dict(runtime_dir=str(tmp_path / "run"))  # never the real /run/damontui
    assert damon_write_guard.writes == [], "the real host tree must never be written"


def test_host_inventory_shows_foreign_kdamond(host):
    kds = list_kdamonds(RealSysfs(), DEFAULT_ROOT, runtime_dir=host["runtime_dir"])
    if not kds:
        pytest.skip("no kdamond on this host")
    kd = kds[0]
    print("\n" + "\n".join(k.summary() for k in kds))
    assert kd.index == 0 and kd.name == "kdamond.0"
    assert kd.ownership is Ownership.FOREIGN and kd.readonly
    with open(os.path.join(DEFAULT_ROOT, "kdamonds/0/state")) as f:
        assert kd.state == f.read().strip()
    if kd.contexts:
        ctx = kd.contexts[0]
        with open(os.path.join(DEFAULT_ROOT, "kdamonds/0/contexts/0/operations")) as f:
            assert ctx.operations == f.read().strip()
        with open(os.path.join(DEFAULT_ROOT, "kdamonds/0/contexts/0/schemes/nr_schemes")) as f:
            assert len(ctx.schemes) == int(f.read())
        for s in ctx.schemes:
            print(
                f"  scheme {s.index}: {s.scheme.label}, filters "
                f"{[getattr(f.type, 'value', f.type) for f in s.scheme.filters]}, "
                f"stats {s.stats}"
            )
        assert ctx.attrs.sample_us > 0 and ctx.attrs.aggr_us >= ctx.attrs.sample_us


def test_host_feature_detection(host):
    f = detect_features(RealSysfs(), DEFAULT_ROOT)
    print(f"\nkernel {f.kernel_release}: {', '.join(f.labels())}\nnotes: {f.notes}")
    assert f.sysfs_present and f.version is not None
    if kdamond_states(RealSysfs(), DEFAULT_ROOT):
        assert f.detected, "an existing kdamond dir should decide features by its files"
        assert f.ops_detected == (f.version >= (5, 19))
    if f.version >= (6, 2) and f.detected:
        assert f.has("tried_regions")


def test_host_view_only_snapshot(host):
    states = kdamond_states(RealSysfs(), DEFAULT_ROOT)
    if not states:
        pytest.skip("no kdamond on this host")
    b = KernelBackend.observe(states[0][0], **host)
    snap = b.snapshot_once()
    print(f"\n{b.info}\n{snap.messages}")
    assert b.readonly and b.info.readonly
    assert len(snap.scheme_stats) == len(snap.schemes)
    with pytest.raises(BackendError, match="view-only"):
        b.set_attrs(MonitoringAttrs())
    b.stop()


def test_host_new_kdamond_refused_before_any_write(host):
    running = [s for s in kdamond_states(RealSysfs(), DEFAULT_ROOT) if s[1] == "on"]
    if not running:
        pytest.skip("no running kdamond here: constructing is fine, and launching would write")
    with pytest.raises(BackendError) as e:
        KernelBackend([Target(TargetKind.PADDR, ranges=((1 << 32, 1 << 33),))], **host)
    assert f"kdamond.{running[0][0]}" in str(e.value) and "--backend engine" in str(e.value)

"""Inventory with ownership: foreign kdamonds are listed read-only, ours are recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fakesysfs import HOST_ATTRS, FakeSysfs, host_like_kdamond, host_like_scheme

from damontui.backends.kernel import KernelBackend, list_kdamonds
from damontui.backends.kernel.ownership import (
    Ownership,
    OwnershipStore,
    confirmation_matches,
)
from damontui.model import FilterType, Target, TargetKind


def inventory(fake):
    return list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)


@pytest.mark.parametrize("version", [(6, 2), (6, 9), (6, 15), (6, 18)])
def test_foreign_kdamond_config_and_last_stats(tmp_path, version):
    fake = FakeSysfs.build(tmp_path, version)
    host_like_kdamond(fake, pid=71)
    fake.set_stats(0, 0, nr_tried=7, sz_tried=4096, nr_applied=3, sz_applied=1024, qt_exceeds=1)
    fake.publish_stats(0)  # its owner asked for stats once
    fake.attempts.clear()
    [kd] = inventory(fake)
    assert kd.name == "kdamond.0" and kd.running and kd.pid == 71
    assert kd.ownership is Ownership.FOREIGN and kd.readonly
    ctx = kd.contexts[0]
    assert ctx.operations == "paddr"
    assert ctx.attrs == HOST_ATTRS
    assert ctx.targets == (Target(TargetKind.PADDR, ranges=((4294967296, 6845104128),)),)
    [s] = ctx.schemes
    assert s.scheme == host_like_scheme(version)
    assert s.stats.nr_tried == 7 and s.stats.sz_applied == 1024 and s.stats.qt_exceeds == 1
    assert not s.snapshot
    if version >= (6, 15):  # anon went to ops_filters: core/ops dirs exist
        assert fake.value("kdamonds/0/contexts/0/schemes/0/ops_filters/0/type") == "anon"
        assert [f.type for f in s.scheme.filters] == [FilterType.ANON, FilterType.UNMAPPED]
    assert "pid 71, paddr, 1 scheme; foreign" in kd.summary()
    assert fake.attempts == [], "inventory must not write"


def start_ours(fake, **kw):
    b = KernelBackend([Target(TargetKind.PADDR)], **fake.backend_paths(), **kw)
    b.launch()
    return b


def test_ours_is_recorded_and_recognised(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = start_ours(fake)
    [kd] = inventory(fake)
    assert kd.ownership is Ownership.OURS and kd.ours
    [path] = list(Path(fake.runtime_dir).glob("kdamond-*.json"))
    rec = json.loads(path.read_text())
    assert rec["index"] == 0 and rec["kdamond_pid"] == kd.pid
    assert rec["owner_pid"] == os.getpid()
    assert rec["sysfs_root"] == fake.admin and rec["start_time"] > 0
    assert rec["snapshot_schemes"] == [0]
    assert kd.contexts[0].schemes[0].snapshot and not kd.contexts[0].user_schemes
    b.stop()


def test_stale_record_kdamond_stopped_elsewhere(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = start_ours(fake, keep_running=True)
    fake.stop_kdamond_externally(b.index)
    [kd] = inventory(fake)
    assert kd.ownership is Ownership.FOREIGN
    assert "stale damontui record" in kd.owner_note


def foreign_kdamond_and_store(tmp_path):
    """A fake sysfs with a foreign running kdamond.0 (pid 71), and the ownership
    store the inventory reads."""
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    return fake, OwnershipStore(fake.runtime_dir, fake.proc_root)


def test_stale_record_with_dead_pid(tmp_path):
    """A record whose kdamond pid is dead (machine rebooted, another kdamond now)."""
    fake, store = foreign_kdamond_and_store(tmp_path)
    store.put(store.new_record(fake.admin, 0, kdamond_pid=99999))
    [kd] = inventory(fake)
    assert kd.ownership is Ownership.FOREIGN
    assert "recorded kdamond pid 99999, live pid 71" in kd.owner_note


def test_record_for_another_root_is_ignored(tmp_path):
    fake, store = foreign_kdamond_and_store(tmp_path)
    store.put(store.new_record("/some/other/root", 0, kdamond_pid=71))
    assert inventory(fake)[0].ownership is Ownership.FOREIGN


def test_other_live_damontui(tmp_path):
    fake, store = foreign_kdamond_and_store(tmp_path)
    fake.add_process(4242, "damontui")
    rec = store.new_record(fake.admin, 0, kdamond_pid=71)
    rec.owner_pid, rec.owner_start_ticks = 4242, None
    store.put(rec)
    [kd] = inventory(fake)
    assert kd.ownership is Ownership.OTHER_DAMONTUI and kd.readonly
    assert "another damontui (pid 4242)" in kd.owner_note


def test_confirmation_must_be_exact():
    assert confirmation_matches(0, 71, "kdamond.0")
    assert confirmation_matches(0, 71, "71")
    for wrong in ("", "kdamond.1", "kdamond0", "Kdamond.0", "72", "yes", "kdamond.0x"):
        assert not confirmation_matches(0, 71, wrong), wrong
    assert not confirmation_matches(0, None, "-1")

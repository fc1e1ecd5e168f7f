"""Exclusive in-kernel DAMON users (DAMON_STAT, DAMON_RECLAIM, DAMON_LRU_SORT)
against the fake sysfs: detected by reading before any write, refused with a
message naming the module, turned off only with consent and back on at exit.
The VM tier checks the same against Debian's real 7.2 (tests/kernel/)."""

from __future__ import annotations

import pytest
from fakesysfs import FakeSysfs

from damontui.backends.base import BackendError
from damontui.backends.kernel import KernelBackend
from damontui.backends.kernel.exclusive import ExclusiveModuleBusy, read_modules
from damontui.backends.select import BackendRequest, open_backend
from damontui.model import MonitoringAttrs, Target, TargetKind

PADDR = Target(TargetKind.PADDR)


def make(fake, **kw) -> KernelBackend:
    return KernelBackend([PADDR], MonitoringAttrs(), **fake.backend_paths(), **kw)


def test_damon_stat_refused_before_any_write(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_module("damon_stat", enabled=True, pid=50)
    fake.add_module("damon_reclaim", enabled=False)
    with pytest.raises(ExclusiveModuleBusy) as exc:
        make(fake).launch()
    msg = str(exc.value)
    assert "damon_stat" in msg and "DAMON_STAT" in msg and "kdamond pid 50" in msg
    assert f"echo N | sudo tee {fake.module_root}/damon_stat/parameters/enabled" in msg
    assert "--backend engine" in msg and "--turn-off damon_stat" in msg
    assert "damon_reclaim" not in msg  # off: not a blocker
    assert fake.attempts == []  # nothing at all was written
    assert fake.value("kdamonds/nr_kdamonds") == "0"
    assert fake.module_enabled("damon_stat")


def test_constructor_refuses_too(tmp_path):
    """The check happens when the backend is built (select falls back at once)."""
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_module("damon_lru_sort", enabled=True, with_pid_file=False)
    with pytest.raises(ExclusiveModuleBusy, match="DAMON_LRU_SORT"):
        make(fake)
    assert fake.attempts == []


def test_reading_modules_writes_nothing(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_module("damon_stat", enabled=True, pid=77)
    mods = read_modules(fake, fake.module_root)
    assert [(m.name, m.enabled, m.kdamond_pid) for m in mods] == [("damon_stat", True, 77)]
    assert fake.attempts == []


def test_consent_turns_off_then_back_on(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_module("damon_stat", enabled=True, pid=50)
    b = make(fake, turn_off_modules=("damon_stat",))
    b.launch()
    enabled = "../module/damon_stat/parameters/enabled"
    assert fake.attempts[0] == (enabled, "N")  # first, before nr_kdamonds
    assert ("kdamonds/nr_kdamonds", "1") in fake.writes
    assert fake.value("kdamonds/0/state") == "on"
    assert not fake.module_enabled("damon_stat")
    assert any("turned off for this run" in n for n in b.info.notes)
    b.stop()
    assert fake.value("kdamonds/0/state") == "off"
    assert fake.attempts[-1] == (enabled, "Y")
    assert fake.module_enabled("damon_stat")


def test_consent_with_keep_running_says_it_stays_off(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_module("damon_stat", enabled=True, pid=50)
    errors: list[str] = []
    b = make(fake, turn_off_modules=("damon_stat",), keep_running=True)
    b.start(lambda s: None, errors.append)
    b.stop()
    assert fake.value("kdamonds/0/state") == "on"
    assert not fake.module_enabled("damon_stat")
    assert any("DAMON_STAT stays off" in e and "echo Y" in e for e in errors), errors


def test_unknown_module_name_is_refused(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    with pytest.raises(
        BackendError,
        match="--turn-off: unknown module 'damon_foo'; allowed: "
        "damon_stat, damon_reclaim, damon_lru_sort",
    ):
        make(fake, turn_off_modules=("damon_foo",))


def test_auto_falls_back_to_engine_naming_the_module(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_module("damon_stat", enabled=True, pid=50)
    fake.add_process(1234)

    def kernel_factory(request, target):
        return KernelBackend([target], request.attrs, **fake.backend_paths())

    def engine_factory(request, target):
        class Engine:
            from damontui.model import BackendInfo

            info = BackendInfo(backend="engine", source="fake engine")

        return Engine()

    b = open_backend(
        BackendRequest(target=Target(TargetKind.PID, pid=1234), sysfs_root=fake.admin),
        engine_factory=engine_factory,
        kernel_factory=kernel_factory,
    )
    notes = " ".join(b.info.notes)
    assert b.info.backend == "engine"
    assert "DAMON_STAT (damon_stat, kdamond pid 50) holds DAMON exclusively" in notes, notes
    assert fake.attempts == []


def test_keep_running_left_then_turned_off_is_reused(tmp_path):
    """A kdamond damontui left running (--keep-running) and the user later turned
    off is damontui's to start again: no --reset-stopped, no nr_kdamonds write."""
    fake = FakeSysfs.build(tmp_path, (7, 2))
    first = make(fake, keep_running=True)
    first.launch()
    first.stop()
    assert fake.value("kdamonds/0/state") == "on"
    fake.writes.clear()
    # the user turns it off
    fake.write(fake.path("kdamonds/0/state"), "off")
    fake.writes.clear()
    again = make(fake)
    again.launch()
    assert again.index == 0
    assert ("kdamonds/nr_kdamonds", "2") not in fake.writes
    assert not any(p == "kdamonds/nr_kdamonds" for p, _ in fake.writes)
    assert fake.value("kdamonds/0/state") == "on"
    again.stop()

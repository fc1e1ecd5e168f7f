"""EBUSY from contention on DAMON's sysfs lock (seen on 6.12 in the VM tier).

The kernel's DAMON sysfs handlers take one global lock with mutex_trylock; while
another process holds it (damo, `watch cat .../state`, a second damontui) reads
of `state`/`pid` and writes of `state`/`nr_*` fail with EBUSY.  RealSysfs - and so
the fake, which inherits it - retries that briefly; a read that still fails must
never be taken for "the kdamond stopped".
"""

from __future__ import annotations

import errno
import threading

import pytest
from fakesysfs import FakeSysfs, host_like_kdamond

from damontui.backends.base import BackendError
from damontui.backends.kernel import KernelBackend, list_kdamonds
from damontui.backends.kernel import sysfs as ksysfs
from damontui.backends.kernel.sysfs import (
    BUSY_ATTEMPTS,
    BUSY_BUDGET_S,
    SysfsReadError,
    SysfsWriteError,
)
from damontui.model import MonitoringAttrs, Target, TargetKind

PADDR = Target(TargetKind.PADDR)


def started(fake: FakeSysfs, **kw) -> KernelBackend:
    b = KernelBackend([PADDR], MonitoringAttrs(), **fake.backend_paths(), **kw)
    b.launch()
    return b


def regions(n, base=1 << 32, size=4096 * 16):
    return [(base + i * size, base + (i + 1) * size, i % 7, i % 5) for i in range(n)]


# --------------------------------------------------------------------------- RealSysfs


def test_busy_reads_are_retried_with_a_small_backoff(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    fake.busy_reads("kdamonds/0/state", 5)
    assert fake.read(fake.path("kdamonds/0/state")) == "on"
    assert fake.busy_hits == ["kdamonds/0/state"] * 5
    assert len(fake.busy_sleeps) == 5
    assert fake.busy_sleeps == sorted(fake.busy_sleeps) and fake.busy_sleeps[0] <= 0.002


def test_busy_read_dir_files_are_retried(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    fake.busy_reads("kdamonds/0/pid", 3)
    assert fake.read_dir_files(fake.path("kdamonds/0"), ["state", "pid"]) == ["on", "71"]
    assert fake.busy_hits == ["kdamonds/0/pid"] * 3


def test_persisting_busy_read_raises_a_named_error_in_bounded_time(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    fake.busy_reads("kdamonds/0/pid", -1)
    with pytest.raises(SysfsReadError) as e:
        fake.read(fake.path("kdamonds/0/pid"))
    err = e.value
    assert err.errno == errno.EBUSY and err.attempts == BUSY_ATTEMPTS
    assert len(fake.busy_hits) == BUSY_ATTEMPTS
    assert sum(fake.busy_sleeps) <= BUSY_BUDGET_S
    msg = str(err)
    assert fake.path("kdamonds/0/pid") in msg and f"EBUSY (tried {BUSY_ATTEMPTS} times" in msg
    assert "another process" in msg and "older kernels" not in msg


def test_real_sysfs_retry_stops_at_the_time_budget(tmp_path, monkeypatch):
    """With real sleeps the budget (not the attempt count) can end the retry."""
    p = tmp_path / "state"
    p.write_text("on\n")
    calls = []

    class Busy(ksysfs.RealSysfs):
        busy_budget_s = 0.05

        def _read_once(self, path):
            calls.append(path)
            raise OSError(errno.EBUSY, "busy")

    with pytest.raises(SysfsReadError) as e:
        Busy().read(str(p))
    assert e.value.errno == errno.EBUSY and 1 < len(calls) < BUSY_ATTEMPTS


def test_state_write_ebusy_is_retried(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    fake.set_regions(0, [regions(4)])
    fake.inject("kdamonds/0/state", errno.EBUSY, "update_schemes_tried_regions", times=4)
    snap = b.snapshot_once()
    assert len(snap.targets[0]) == 4
    assert (0, "update_schemes_tried_regions") in fake.commands
    assert len(fake.busy_sleeps) == 4
    b.stop()


def test_persisting_state_write_ebusy_names_contention_not_old_kernels(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    fake.inject("kdamonds/0/state", errno.EBUSY, "update_schemes_tried_regions", times=-1)
    with pytest.raises(SysfsWriteError) as e:
        b.snapshot_once()
    msg = str(e.value)
    assert msg.startswith(
        "writing 'update_schemes_tried_regions' to "
        f"{fake.path('kdamonds/0/state')} failed: EBUSY (tried "
        f"{BUSY_ATTEMPTS} times"
    )
    assert "another process" in msg and "older kernels" not in msg
    fake.injections.clear()
    b.stop()
    assert fake.value("kdamonds/0/state") == "off"


def test_staging_nr_writes_are_retried_but_not_nr_kdamonds(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.inject("kdamonds/0/contexts/0/schemes/nr_schemes", errno.EBUSY, times=2)
    b = started(fake)  # staged despite two EBUSY on nr_schemes
    assert fake.value("kdamonds/0/state") == "on"
    b.stop()
    fake.inject("kdamonds/nr_kdamonds", errno.EBUSY, times=1)
    with pytest.raises(SysfsWriteError):  # the sysfs layer does not retry it
        fake.write(fake.path("kdamonds/nr_kdamonds"), 2)


# --------------------------------------------------------------------------- nr_kdamonds


def test_nr_kdamonds_ebusy_from_contention_is_retried(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.inject("kdamonds/nr_kdamonds", errno.EBUSY, times=3)
    b = started(fake)
    assert b.index == 0 and fake.value("kdamonds/0/state") == "on"
    assert [p for p, _ in fake.attempts].count("kdamonds/nr_kdamonds") == 4
    b.stop()


def test_nr_kdamonds_ebusy_without_a_running_kdamond_is_reported_as_contention(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.inject("kdamonds/nr_kdamonds", errno.EBUSY, times=-1)
    with pytest.raises(BackendError) as e:
        started(fake)
    msg = str(e.value)
    assert "EBUSY (tried" in msg and "although no kdamond runs" in msg
    assert "another process" in msg
    assert 1 < [p for p, _ in fake.attempts].count("kdamonds/nr_kdamonds") <= BUSY_ATTEMPTS
    assert sum(fake.busy_sleeps) <= BUSY_BUDGET_S


def test_nr_kdamonds_ebusy_from_a_kdamond_started_meanwhile_names_it(tmp_path):
    """The real cause wins: a kdamond started after the precheck is named."""
    fake = FakeSysfs.build(tmp_path)
    fake._internal += 1
    fake.write(fake.path("kdamonds/nr_kdamonds"), 1)  # another tool's empty kdamond.0
    fake._internal -= 1
    b = KernelBackend([PADDR], MonitoringAttrs(), **fake.backend_paths())
    fake.inject(
        "kdamonds/nr_kdamonds", errno.EBUSY, times=-1, then=lambda: fake.mark_running(0, 4242)
    )
    with pytest.raises(BackendError) as e:
        b.launch()
    msg = str(e.value)
    assert "kdamond.0 (pid 4242" in msg and "started after damontui checked" in msg
    assert "--backend engine" in msg
    assert [p for p, _ in fake.attempts].count("kdamonds/nr_kdamonds") == 1


# --------------------------------------------------------------------------- no false stop


def test_busy_state_and_pid_reads_do_not_break_snapshots(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    fake.set_regions(0, [regions(4)])
    errors = []
    b._on_error = errors.append
    fake.busy_reads("kdamonds/0/state", 3)
    fake.busy_reads("kdamonds/0/pid", 3)
    snap = b.snapshot_once()
    assert len(snap.targets[0]) == 4 and not snap.messages
    assert not errors and len(fake.busy_hits) == 6
    b.stop()


def test_failed_pid_read_is_not_taken_for_a_stopped_kdamond(tmp_path):
    """A pid read that fails even after the retries (EBUSY) is "unknown", never "no
    pid" and never "stopped outside damontui": monitoring goes on.  Only a state
    read that succeeds and says off ends it."""
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    fake.set_regions(0, [regions(4)])
    errors = []
    b._on_error = errors.append
    fake.busy_reads("kdamonds/0/pid", BUSY_ATTEMPTS + 5)  # one whole read fails
    snap = b.snapshot_once()
    assert not errors, errors
    assert len(snap.targets[0]) == 4
    assert any("state not readable" in m and "EBUSY" in m for m in snap.messages)
    snap = b.snapshot_once()  # the next read gets through
    assert not errors and not snap.messages and len(snap.targets[0]) == 4
    [kd] = list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    assert kd.ours  # the ownership record was kept
    b.set_attrs(MonitoringAttrs(sample_us=10_000, aggr_us=200_000))  # still writable
    # a confirmed "off" does end it, reported once
    fake.stop_kdamond_externally(0)
    b.snapshot_once()
    b.snapshot_once()
    assert len(errors) == 1 and "stopped outside damontui (state off)" in errors[0]


def test_failed_state_read_is_not_taken_for_a_stopped_kdamond(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    errors = []
    b._on_error = errors.append
    fake.busy_reads("kdamonds/0/state", -1)
    for _ in range(3):
        snap = b.snapshot_once()
        assert any("state not readable" in m for m in snap.messages)
    assert not errors
    fake.busy.clear()
    assert not b.snapshot_once().messages
    b.stop()
    assert fake.value("kdamonds/0/state") == "off"


def test_pid_unreadable_at_launch_is_recorded_by_the_first_snapshot(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.busy_reads("kdamonds/0/pid", BUSY_ATTEMPTS)  # launch's read fails once
    b = started(fake)
    errors = []
    b._on_error = errors.append
    b.snapshot_once()
    assert not errors
    [kd] = list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    assert kd.ours and kd.record.kdamond_pid == fake.kd[0].pid
    b.stop()
    assert fake.value("kdamonds/0/state") == "off"


def test_polling_thread_under_a_concurrent_reader(tmp_path):
    """Like tests/kernel test_concurrent_reader: EBUSY bursts on state and pid reads
    while the polling thread runs produce no errors."""
    fake = FakeSysfs.build(tmp_path)
    b = KernelBackend(
        [PADDR],
        MonitoringAttrs(sample_us=1000, aggr_us=10_000, update_us=1_000_000),
        **fake.backend_paths(),
    )
    fake.set_regions(0, [regions(4)])
    got, errors = [], []
    enough = threading.Event()

    def on_snapshot(s):
        got.append(s)
        if len(got) % 2:  # every other tick the "reader" holds the lock for a while
            fake.busy_reads("kdamonds/0/state", 2)
            fake.busy_reads("kdamonds/0/pid", 3)
        if len(got) >= 10:
            enough.set()

    b.start(on_snapshot, errors.append)
    assert enough.wait(10)
    b.stop()
    assert not errors, errors
    assert fake.busy_hits
    assert all(len(s.targets[0]) == 4 for s in got[:10])


def test_observe_survives_a_failed_state_read(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    view = KernelBackend.observe(0, **fake.backend_paths())
    fake.busy_reads("kdamonds/0/pid", BUSY_ATTEMPTS)
    snap = view.snapshot_once()
    assert any("state not readable" in m for m in snap.messages)
    assert not any("is not running" in m for m in snap.messages)
    assert not any("state not readable" in m for m in view.snapshot_once().messages)
    assert fake.attempts == []


def test_inventory_does_not_hide_a_kdamond_it_could_not_read(tmp_path):
    """Only ENOENT means "removed while we looked"; an EBUSY that outlasts the
    retries is an error, not a missing kdamond."""
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    fake.busy_reads("kdamonds/0/state", -1)
    with pytest.raises(SysfsReadError) as e:
        list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    assert e.value.errno == errno.EBUSY
    fake.busy.clear()
    [kd] = list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    assert kd.running and kd.pid == 71

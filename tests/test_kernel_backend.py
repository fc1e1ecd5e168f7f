"""KernelBackend against fake sysfs trees of several kernel versions."""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fakesysfs import FakeSysfs, host_like_kdamond, host_like_scheme

from damontui.backends.base import Backend, BackendError
from damontui.backends.kernel import (
    KernelBackend,
    KernelObserver,
    list_kdamonds,
    reason_kernel_unusable,
)
from damontui.backends.kernel.reader import read_config_tree, read_scheme
from damontui.backends.kernel.sysfs import describe_write_error, likely_cause
from damontui.model import (
    AccessPattern,
    Action,
    Filter,
    FilterType,
    GoalMetric,
    IntervalsGoal,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    Range,
    Scheme,
    Target,
    TargetKind,
)

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1
PADDR = Target(TargetKind.PADDR)
COLD = Scheme(
    action=Action.COLD, access_pattern=AccessPattern(Range(4096, U64), Range(0, 0), Range(10, U32))
)


def make(fake, targets=(PADDR,), attrs=None, schemes=(COLD,), **kw) -> KernelBackend:
    return KernelBackend(
        list(targets), attrs or MonitoringAttrs(), list(schemes), **fake.backend_paths(), **kw
    )


def started(fake, *args, **kw) -> KernelBackend:
    b = make(fake, *args, **kw)
    b.launch()
    return b


def regions(n, base=1 << 32, size=4096 * 16):
    return [(base + i * size, base + (i + 1) * size, i % 7, i % 5) for i in range(n)]


# --------------------------------------------------------------------------- starting


def test_backend_protocol(tmp_path):
    b = make(FakeSysfs.build(tmp_path))
    assert isinstance(b, Backend)


@pytest.mark.parametrize("version", [(6, 9), (6, 15), (6, 18)])
def test_start_paddr_writes_expected_files(tmp_path, version):
    fake = FakeSysfs.build(tmp_path, version)
    b = started(fake)
    assert b.index == 0
    ctx = "kdamonds/0/contexts/0"
    v = fake.value
    assert v("kdamonds/0/state") == "on"
    assert v(f"{ctx}/operations") == "paddr"
    # default paddr region: the biggest System RAM range of /proc/iomem (6.12+ needs one)
    assert v(f"{ctx}/targets/0/regions/nr_regions") == "1"
    assert v(f"{ctx}/targets/0/regions/0/start") == str(0x100000000)
    assert v(f"{ctx}/targets/0/regions/0/end") == str(0x280000000)
    assert v(f"{ctx}/schemes/nr_schemes") == "2"
    written = dict(fake.writes)
    for i in (0, 1):  # user scheme and snapshot scheme: all six pattern files written
        for k in ("sz", "nr_accesses", "age"):
            for m in ("min", "max"):
                assert f"{ctx}/schemes/{i}/access_pattern/{k}/{m}" in written
    assert read_scheme(fake, fake.path(f"{ctx}/schemes/0")) == COLD
    snap = read_scheme(fake, fake.path(f"{ctx}/schemes/1"))
    assert snap.action is Action.STAT
    assert snap.access_pattern == AccessPattern(Range(0, U64), Range(0, U32), Range(0, U32))
    assert snap.apply_interval_us == 100_000  # = aggr_us
    assert snap.filters == ()
    assert ("kdamonds/0/refresh_ms" in written) == (version >= (6, 17))
    assert any("snapshot scheme" in n and "scheme 1" in n for n in b.info.notes)
    assert b.info.backend == "kernel" and b.info.kernel_version == fake.release
    assert not b.info.readonly and "paddr" in b.info.source
    assert [s.label for s in b.schemes()] == ["cold"]  # the snapshot scheme is hidden
    b.stop()


def test_start_vaddr_multiple_targets_get_per_target_snapshot_schemes(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 18))
    for pid in (100, 200):
        fake.add_process(pid, f"p{pid}")
    b = started(
        fake, targets=[Target(TargetKind.PID, pid=100), Target(TargetKind.PID, pid=200)], schemes=()
    )
    ctx = "kdamonds/0/contexts/0"
    assert fake.value(f"{ctx}/operations") == "vaddr"
    assert fake.value(f"{ctx}/targets/1/pid_target") == "200"
    assert fake.value(f"{ctx}/schemes/nr_schemes") == "2"
    for i in (0, 1):
        s = read_scheme(fake, fake.path(f"{ctx}/schemes/{i}"))
        assert s.filters == (Filter(FilterType.TARGET, matching=False, target_idx=i),)
        assert fake.value(f"{ctx}/schemes/{i}/core_filters/0/type") == "target"
    lo = [(0x1000, 0x5000, 3, 1), (0x5000, 0x9000, 0, 4)]
    hi = [(0x2000, 0x3000, 9, 2)]
    fake.set_regions(0, [lo, hi])
    snap = b.snapshot_once()
    assert [(r.start, r.end, r.nr_accesses, r.age) for r in snap.targets[0].regions()] == lo
    assert [(r.start, r.end, r.nr_accesses, r.age) for r in snap.targets[1].regions()] == hi
    assert snap.targets[1].target.name == "p200"
    b.stop()


def test_fvaddr_for_pid_with_ranges(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 18))
    fake.add_process(100)
    b = started(fake, targets=[Target(TargetKind.PID, pid=100, ranges=((0x1000, 0x9000),))])
    assert fake.value("kdamonds/0/contexts/0/operations") == "fvaddr"
    assert fake.value("kdamonds/0/contexts/0/targets/0/regions/0/end") == str(0x9000)
    b.stop()


def test_kernel_6_2_notes_missing_files(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 2))
    scheme = replace(COLD, apply_interval_us=1_000_000)
    b = started(fake, schemes=[scheme])
    notes = " ".join(b.info.notes)
    assert "apply_interval_us not supported by this kernel (needs kernel 6.7+)" in notes
    assert "refresh_ms" not in dict(fake.writes).get("kdamonds/0/refresh_ms", "")
    fake.set_regions(0, [regions(5)])
    snap = b.snapshot_once()
    assert len(snap.targets[0]) == 5
    cmds = [c for _, c in fake.commands]
    assert "update_schemes_tried_regions" in cmds and "update_schemes_stats" in cmds
    b.stop()


def test_kernel_5_18_no_tried_regions(tmp_path):
    fake = FakeSysfs.build(tmp_path, (5, 18))
    b = started(fake)
    assert fake.value("kdamonds/0/contexts/0/schemes/nr_schemes") == "1"  # no snapshot scheme
    snap = b.snapshot_once()
    assert len(snap.targets) == 1 and len(snap.targets[0]) == 0
    assert any("tried regions need kernel 6.2+" in m for m in snap.messages)
    assert any("no region snapshots" in n for n in b.info.notes)
    # no commit on 5.18: live tuning restarts our kdamond
    b.set_schemes([replace(COLD, action=Action.PAGEOUT)])
    assert [c for _, c in fake.commands][-2:] == ["off", "on"]
    assert fake.kd[0].running and fake.kd[0].schemes[0].action is Action.PAGEOUT
    b.stop()


# --------------------------------------------------------------------------- refusing


@pytest.mark.parametrize(
    "version,scheme,field,needed",
    [
        (
            (6, 2),
            replace(COLD, quotas=Quotas(ms=10, reset_interval_ms=100, goals=(QuotaGoal(),))),
            "scheme 0 quotas.goals",
            "kernel 6.8+",
        ),
        (
            (6, 9),
            replace(COLD, filters=(Filter(FilterType.ANON, allow=True),)),
            "scheme 0 filters[0].allow",
            "kernel 6.14+",
        ),
        (
            (6, 9),
            Scheme(action=Action.MIGRATE_HOT, target_nid=1),
            "scheme 0 action",
            "kernel 6.11+",
        ),
        (
            (5, 18),
            replace(COLD, filters=(Filter(FilterType.ANON),)),
            "scheme 0 filters",
            "kernel 6.3+",
        ),
        (
            (6, 9),
            replace(COLD, filters=(Filter(FilterType.UNMAPPED),)),
            "scheme 0 filters[0].type",
            "kernel 6.15+",
        ),
        (
            (6, 9),
            replace(
                COLD,
                quotas=Quotas(
                    ms=1, reset_interval_ms=1, goals=(QuotaGoal(GoalMetric.NODE_MEM_USED_BP, 5000),)
                ),
            ),
            "scheme 0 quotas.goals[0].metric",
            "kernel 6.16+",
        ),
    ],
)
def test_scheme_needing_missing_feature_raises_before_writing(
    tmp_path, version, scheme, field, needed
):
    fake = FakeSysfs.build(tmp_path, version)
    with pytest.raises(BackendError) as e:
        make(fake, schemes=[scheme])
    assert field in str(e.value) and needed in str(e.value)
    assert f"this kernel: {version[0]}.{version[1]}" in str(e.value)
    assert fake.attempts == []


def test_model_validation_runs_first(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    bad = replace(COLD, access_pattern=AccessPattern(Range(5, 1)))
    with pytest.raises(BackendError, match="scheme 0: access_pattern.sz.min"):
        make(fake, schemes=[bad])
    assert fake.attempts == []


def test_vaddr_missing_from_avail_operations(tmp_path):
    fake = FakeSysfs.build(tmp_path, avail_operations=("paddr",))
    host_like_kdamond(fake, running=False)
    fake.add_process(100)
    with pytest.raises(BackendError) as e:
        make(fake, targets=[Target(TargetKind.PID, pid=100)])
    assert "operations 'vaddr' not available" in str(e.value)
    assert "avail_operations: paddr" in str(e.value) and "--backend engine" in str(e.value)


def test_ebusy_predetected_names_the_blocking_kdamond(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    fake.attempts.clear()
    with pytest.raises(BackendError) as e:
        make(fake)
    msg = str(e.value)
    assert "kdamond.0 (pid 71, paddr)" in msg
    assert "EBUSY" in msg and "--backend engine" in msg and "observe kdamond.0" in msg
    assert fake.attempts == [], "nothing may be written when a kdamond blocks"


RESET = "has a staged configuration that adding a kdamond would reset"


def test_stopped_foreign_with_staged_config_is_refused_up_front(tmp_path):
    """Adding a kdamond re-creates every kdamond directory: a stopped kdamond that
    damontui did not start would lose its staged config.  Refused before any write."""
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, running=False)
    before = read_config_tree(fake, fake.path("kdamonds/0"))
    fake.attempts.clear()
    for consent in ((), ("kdamond.1",), ("0",), ("kdamond 0",)):
        with pytest.raises(BackendError) as e:
            make(fake, reset_stopped_foreign=consent)
        msg = str(e.value)
        assert f"kdamond.0 (stopped, paddr) {RESET}" in msg, msg
        assert "--backend engine" in msg and 'reset_stopped_foreign=("kdamond.0",)' in msg
        assert "nothing was written" in msg
    assert fake.attempts == []
    assert read_config_tree(fake, fake.path("kdamonds/0")) == before


def test_stopped_foreign_appearing_before_launch_is_refused_too(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = make(fake)  # nothing there yet
    host_like_kdamond(fake, running=False)  # another tool stages kdamond.0 meanwhile
    before = read_config_tree(fake, fake.path("kdamonds/0"))
    fake.attempts.clear()
    with pytest.raises(BackendError, match=f"kdamond.0 \\(stopped, paddr\\) {RESET}"):
        b.launch()
    assert fake.attempts == []
    assert read_config_tree(fake, fake.path("kdamonds/0")) == before


def test_every_stopped_foreign_kdamond_needs_consent(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, running=False)
    fake.setup_kdamond(ops="vaddr", running=False)
    fake.attempts.clear()
    with pytest.raises(BackendError) as e:
        make(fake, reset_stopped_foreign=("kdamond.0",))
    msg = str(e.value)
    assert f"kdamond.1 (stopped, vaddr) {RESET}" in msg and "kdamond.0 (stopped" not in msg
    assert 'reset_stopped_foreign=("kdamond.0", "kdamond.1",)' in msg
    assert fake.attempts == []
    b = started(fake, reset_stopped_foreign=("kdamond.0", "kdamond.1"))
    assert b.index == 2
    b.stop()


def test_growing_with_consent_keeps_stopped_foreign_config(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, running=False)
    before = read_config_tree(fake, fake.path("kdamonds/0"))
    b = started(fake, reset_stopped_foreign=("kdamond.0",))
    assert b.index == 1
    assert read_config_tree(fake, fake.path("kdamonds/0")) == before
    assert fake.value("kdamonds/0/state") == "off"
    assert any("re-created with their staged configuration" in n for n in b.info.notes)
    # only values that differ from the kernel's fresh defaults were written back, no state
    assert all(not p.endswith("/state") for p, _ in fake.writes_under("kdamonds/0"))
    b.stop()


def test_stopped_foreign_without_staged_config_is_grown_over_not_reused(tmp_path):
    """A stopped kdamond with nothing staged (nr_contexts 0) loses nothing when
    nr_kdamonds grows: no consent needed.  Its directory is still not ours to use."""
    fake = FakeSysfs.build(tmp_path)
    fake._internal += 1
    fake.write(fake.path("kdamonds/nr_kdamonds"), 2)  # another tool made two, staged nothing
    fake._internal -= 1
    b = started(fake)
    assert b.index == 2
    assert fake.value("kdamonds/nr_kdamonds") == "3"
    assert fake.writes_under("kdamonds/0") == [] and fake.writes_under("kdamonds/1") == []
    assert fake.value("kdamonds/0/contexts/nr_contexts") == "0"
    b.stop()


def test_reason_kernel_unusable_names_stopped_foreign_configs(tmp_path):
    fake = FakeSysfs.build(tmp_path)

    def reason():
        fake.attempts.clear()
        r = reason_kernel_unusable(fake.admin, fake, runtime_dir=fake.runtime_dir)
        assert fake.attempts == []  # a probe: reads only
        return r

    assert reason() is None
    host_like_kdamond(fake, running=False)
    r = reason()
    assert r and "kdamond.0 (paddr) stopped with a staged configuration" in r, r
    assert "reset_stopped_foreign" in r
    b = started(fake, reset_stopped_foreign=("kdamond.0",))
    b.stop()  # our kdamond.1 is parked: the next start reuses it, nothing to reset
    assert reason() is None
    fake.start_kdamonds([0], [71])
    assert reason() is None  # the parked dir is reused even while kdamond.0 runs


# --------------------------------------------------------------------------- errno mapping


@pytest.mark.parametrize(
    "err,pattern,value,expect",
    [
        (errno.EINVAL, "kdamonds/0/state", "on", "staged configuration is invalid"),
        (errno.ENOMEM, "kdamonds/0/state", "on", "out of memory"),
        (errno.EACCES, "kdamonds/nr_kdamonds", None, "needs root"),
        (errno.EPERM, "kdamonds/0/contexts/nr_contexts", None, "needs root"),
        (errno.ENOENT, "kdamonds/0/contexts/0/operations", None, "does not exist"),
    ],
)
def test_errno_becomes_message_naming_file_value_cause(tmp_path, err, pattern, value, expect):
    fake = FakeSysfs.build(tmp_path)
    fake.inject(pattern, err, value)
    with pytest.raises(BackendError) as e:
        started(fake)
    msg = str(e.value)
    name = errno.errorcode[err]
    assert f"failed: {name} — " in msg and expect in msg
    assert fake.path(pattern) in msg
    wrote = [v for p, v in fake.attempts if p == pattern][-1]
    assert f"writing {wrote!r} to" in msg


def test_enomem_names_the_missing_memcg_path(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.add_memcg("/workload")
    scheme = replace(
        COLD, filters=(Filter(FilterType.ANON), Filter(FilterType.MEMCG, memcg_path="/foo"))
    )
    with pytest.raises(BackendError) as e:
        started(fake, schemes=[scheme])
    msg = str(e.value)
    assert msg.startswith(f"writing 'on' to {fake.path('kdamonds/0/state')} failed: ENOMEM — ")
    assert "a memcg filter path doesn't exist (scheme 0 filter 1: /foo)" in msg
    # the stopped dir is parked and reused next time
    ok = replace(COLD, filters=(Filter(FilterType.MEMCG, memcg_path="/workload"),))
    b = started(fake, schemes=[ok])
    assert b.index == 0 and fake.value("kdamonds/nr_kdamonds") == "1"
    b.stop()


def test_non_root(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.denied = errno.EACCES
    with pytest.raises(BackendError, match="readable by root only"):
        make(fake)


def test_likely_cause_table():
    assert "already running" in likely_cause("/x/kdamonds/0/state", "on", errno.EBUSY)
    # EBUSY on state commands is contention on DAMON's sysfs lock (any kernel), not an
    # "older kernel" quirk
    busy = likely_cause("/x/kdamonds/0/state", "commit", errno.EBUSY)
    assert "another process" in busy and "older kernels" not in busy
    assert "another process" in likely_cause("/x/kdamonds/0/state", "on", errno.EBUSY)
    assert "needs a running kdamond" in likely_cause("/x/state", "commit", errno.EINVAL)
    assert "avail_operations" in likely_cause("/x/operations", "vaddr", errno.EINVAL)
    assert "read-only" in likely_cause("/x/kdamonds/0/pid", "1", errno.EACCES)
    assert "does not exist" in likely_cause("/x/pid_target", "5", errno.ESRCH)
    assert describe_write_error("/x/state", "on", errno.ENOMEM, "hint!") == (
        "writing 'on' to /x/state failed: ENOMEM — hint!"
    )


# --------------------------------------------------------------------------- live tuning


def test_commit_of_a_changed_scheme(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    new = replace(
        COLD, action=Action.PAGEOUT, quotas=Quotas(ms=20, bytes=1 << 30, reset_interval_ms=1000)
    )
    b.set_schemes([new, COLD])
    assert [c for _, c in fake.commands][-1] == "commit"
    sroot = "kdamonds/0/contexts/0/schemes"
    assert fake.value(f"{sroot}/nr_schemes") == "3"
    assert read_scheme(fake, fake.path(f"{sroot}/0")) == new
    assert read_scheme(fake, fake.path(f"{sroot}/2")).action is Action.STAT  # snapshot last
    assert fake.kd[0].schemes[0] == new  # the kernel runs it
    assert b.schemes() == (new, COLD)
    fake.set_regions(0, [regions(3)])
    assert len(b.snapshot_once().targets[0]) == 3
    [kd] = list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    assert [s.snapshot for s in kd.contexts[0].schemes] == [False, False, True]
    b.stop()


def test_goal_only_change_uses_commit_schemes_quota_goals(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    s = replace(
        COLD,
        quotas=Quotas(
            ms=10, reset_interval_ms=100, goals=(QuotaGoal(GoalMetric.USER_INPUT, 100, 20),)
        ),
    )
    b = started(fake, schemes=[s])
    b.set_goal_current_value(0, 0, 70)
    assert [c for _, c in fake.commands][-1] == "commit_schemes_quota_goals"
    assert fake.value("kdamonds/0/contexts/0/schemes/0/quotas/goals/0/current_value") == "70"
    assert fake.kd[0].schemes[0].quotas.goals[0].current_value == 70
    b.stop()


def test_missing_memcg_refused_before_commit(tmp_path):
    """6.12 accepts a commit naming a missing memcg and then the kdamond dies: the
    backend checks the memcg paths itself (reading the cgroup tree) and refuses."""
    fake = FakeSysfs.build(tmp_path, memcg_commit_quirk=True)
    b = started(fake)
    fake.attempts.clear()
    bad = replace(COLD, filters=(Filter(FilterType.MEMCG, memcg_path="/no/such/cgroup"),))
    with pytest.raises(BackendError) as e:
        b.set_schemes([bad])
    msg = str(e.value)
    assert "scheme 0 filter 0: /no/such/cgroup" in msg and fake.cgroup_root in msg
    assert "keeps its previous configuration" in msg
    assert fake.attempts == []
    assert fake.kd[0].running and b.schemes() == (COLD,)
    fake.add_memcg("/workload")
    ok = replace(COLD, filters=(Filter(FilterType.MEMCG, memcg_path="/workload"),))
    b.set_schemes([ok])
    assert fake.kd[0].running and fake.kd[0].schemes[0] == ok
    b.stop()


def test_memcg_mounts_from_proc_mounts(tmp_path):
    from damontui.procfs import memcg_mounts

    mounts = tmp_path / "mounts"
    mounts.write_text(
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
        "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    )
    assert memcg_mounts(str(mounts)) == ["/sys/fs/cgroup/memory"]
    mounts.write_text("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    assert memcg_mounts(str(mounts)) == ["/sys/fs/cgroup"]
    assert memcg_mounts(str(tmp_path / "none")) == []


def test_failed_commit_keeps_previous_config(tmp_path):
    """The kernel refuses a commit (ENOMEM: the memcg exists in the cgroup tree we
    read but the kernel disagrees, e.g. removed meanwhile): nothing changes."""
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    os_path = Path(fake.cgroup_root) / "gone"
    os_path.mkdir()
    bad = replace(COLD, filters=(Filter(FilterType.MEMCG, memcg_path="/gone"),))
    with pytest.raises(BackendError) as e:
        b.set_schemes([bad])
    msg = str(e.value)
    assert "ENOMEM" in msg and "scheme 0 filter 0: /gone" in msg and "/state" in msg
    assert "running kdamond keeps its previous configuration" in msg
    assert b.schemes() == (COLD,)
    assert read_scheme(fake, fake.path("kdamonds/0/contexts/0/schemes/0")) == COLD
    assert fake.kd[0].schemes[0] == COLD and fake.kd[0].running
    assert len(b.snapshot_once().targets) == 1  # still works
    b.stop()


def test_set_attrs_commits_and_moves_snapshot_interval(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    attrs = MonitoringAttrs(sample_us=10_000, aggr_us=200_000)
    b.set_attrs(attrs)
    ctx = "kdamonds/0/contexts/0"
    assert fake.value(f"{ctx}/monitoring_attrs/intervals/aggr_us") == "200000"
    assert fake.value(f"{ctx}/schemes/1/apply_interval_us") == "200000"
    assert fake.value("kdamonds/0/refresh_ms") == "200"
    assert [c for _, c in fake.commands][-1] == "commit"
    assert fake.kd[0].attrs == attrs and b.attrs() == attrs
    b.stop()


def test_intervals_tuning_reads_tuned_intervals(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 15))  # no refresh_ms: state commands
    attrs = MonitoringAttrs(intervals_goal=IntervalsGoal(access_bp=400))
    b = started(fake, attrs=attrs)
    fake.set_tuned_intervals(0, 8_000, 160_000)
    snap = b.snapshot_once()
    assert "update_tuned_intervals" in [c for _, c in fake.commands]
    assert (snap.attrs.sample_us, snap.attrs.aggr_us) == (8_000, 160_000)
    b.stop()


def test_remove_middle_target_uses_obsolete_target_on_6_19(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 19))
    pids = (100, 200, 300)
    for pid in pids:
        fake.add_process(pid)
    targets = [Target(TargetKind.PID, pid=p) for p in pids]
    b = started(fake, targets=targets, schemes=())
    fake.writes.clear()
    b.set_targets([targets[0], targets[2]])
    troot = "kdamonds/0/contexts/0/targets"
    assert (f"{troot}/1/obsolete_target", "Y") in fake.writes
    assert fake.writes.index((f"{troot}/1/obsolete_target", "Y")) < fake.writes.index(
        ("kdamonds/0/state", "commit")
    )
    assert fake.value(f"{troot}/nr_targets") == "2"
    assert fake.value(f"{troot}/1/pid_target") == "300"
    assert b.targets() == (targets[0], targets[2])
    b.stop()


def test_remove_middle_target_before_6_19_rewrites_targets(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 18))
    for pid in (100, 200, 300):
        fake.add_process(pid)
    targets = [Target(TargetKind.PID, pid=p) for p in (100, 200, 300)]
    b = started(fake, targets=targets, schemes=())
    fake.writes.clear()
    b.set_targets([targets[0], targets[2]])
    assert not any(p.endswith("obsolete_target") for p, _ in fake.writes)
    assert ("kdamonds/0/contexts/0/targets/nr_targets", "2") in fake.writes
    assert fake.kd[0].targets[1].pid == 300
    b.stop()


def test_changing_ops_is_refused(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.add_process(100)
    b = started(fake)
    with pytest.raises(BackendError, match="needs a new kdamond"):
        b.set_targets([Target(TargetKind.PID, pid=100)])
    b.stop()


# --------------------------------------------------------------------------- snapshots


def test_snapshot_reads_only_the_snapshot_schemes_tried_regions(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake, schemes=[COLD, replace(COLD, action=Action.PAGEOUT)])
    fake.set_regions(0, [regions(50)])
    fake.set_stats(0, 0, nr_tried=5, sz_tried=4096 * 5, nr_applied=2, sz_applied=8192)
    seen = []
    real = fake.read_numbered

    def spy(path, names):
        seen.append(fake.rel(path))
        return real(path, names)

    fake.read_numbered = spy
    snap = b.snapshot_once()
    assert seen == ["kdamonds/0/contexts/0/schemes/2/tried_regions"]
    assert len(snap.targets[0]) == 50
    assert snap.targets[0].region(3).nr_accesses == 3
    assert snap.scheme_stats[0].nr_tried == 5 and snap.scheme_stats[0].sz_applied == 8192
    assert len(snap.scheme_stats) == 2 and len(snap.schemes) == 2
    # refresh_ms (6.17+) refreshes stats: no state command for them
    assert "update_schemes_stats" not in [c for _, c in fake.commands]
    b.stop()


def test_stats_by_state_command_without_refresh_ms(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 15))
    s = replace(
        COLD,
        quotas=Quotas(
            ms=10, reset_interval_ms=100, goals=(QuotaGoal(GoalMetric.SOME_MEM_PSI_US, 1000),)
        ),
    )
    b = started(fake, schemes=[s])
    fake.set_stats(0, 0, nr_applied=9)
    fake.set_effective_bytes(0, 0, 12345)
    snap = b.snapshot_once()
    cmds = [c for _, c in fake.commands]
    assert {"update_schemes_stats", "update_schemes_effective_quotas"} <= set(cmds)
    assert snap.scheme_stats[0].nr_applied == 9
    assert snap.scheme_stats[0].effective_bytes == 12345
    b.stop()


def test_regions_disabled_reads_total_bytes_only(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    fake.set_regions(0, [regions(10)])
    b.set_regions_enabled(False)
    snap = b.snapshot_once()
    assert len(snap.targets[0]) == 0
    assert any("monitored: 640.0 KiB" in m for m in snap.messages)
    assert [c for _, c in fake.commands][-1] == "update_schemes_tried_bytes"
    assert b.tried_bytes(0) == 0  # user scheme COLD: nothing matches age >= 10
    b.stop()


def test_cpu_percent_from_proc_stat(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    b.snapshot_once()
    time.sleep(0.05)
    fake.add_cpu_ticks(0, 2)
    assert b.snapshot_once().cpu_percent > 0
    b.stop()


def test_polling_thread_and_stop(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = make(fake, attrs=MonitoringAttrs(sample_us=1000, aggr_us=10_000, update_us=1_000_000))
    fake.set_regions(0, [regions(4)])
    got, errors = [], []
    enough = threading.Event()

    def on_snapshot(s):
        got.append(s)
        if len(got) >= 3:
            enough.set()

    b.start(on_snapshot, errors.append)
    assert enough.wait(5)
    b.stop()
    b.stop()  # twice is fine
    assert not errors
    assert [s.seq for s in got[:3]] == [1, 2, 3]
    assert b.latest() is got[-1]
    assert fake.value("kdamonds/0/state") == "off"


def test_kdamond_stopped_outside(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    errors = []
    b = started(fake)
    b._on_error = errors.append
    fake.stop_kdamond_externally(0)
    snap = b.snapshot_once()
    assert "no longer running" in snap.messages[0]
    assert len(errors) == 1 and "stopped outside damontui" in errors[0]
    b.snapshot_once()
    assert len(errors) == 1
    with pytest.raises(BackendError, match="stopped outside"):
        b.set_schemes([])


# --------------------------------------------------------------------------- ownership


def test_foreign_kdamond_untouched_by_every_action(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    for pid in (100, 200):
        fake.add_process(pid)
    host_like_kdamond(fake, running=False)
    b = started(
        fake, targets=[Target(TargetKind.PID, pid=100)], reset_stopped_foreign=("kdamond.0",)
    )
    fake.start_kdamonds([0], [71])  # the machine's kdamond starts again
    fake.attempts.clear()
    b.snapshot_once()
    b.set_schemes([replace(COLD, action=Action.PAGEOUT)])
    b.set_attrs(MonitoringAttrs(sample_us=10_000, aggr_us=200_000))
    b.set_targets([Target(TargetKind.PID, pid=200)])
    b.scheme_regions(0)
    b.tried_bytes(0)
    list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    view = KernelBackend.observe(0, **fake.backend_paths())
    view.snapshot_once()
    b.stop()
    assert fake.attempts, "our own kdamond did get writes"
    assert fake.writes_under("kdamonds/0") == []
    assert fake.value("kdamonds/0/state") == "on"
    assert all(i == 1 for i, _ in fake.commands)


def test_observe_foreign_is_view_only(tmp_path):
    fake = FakeSysfs.build(tmp_path, avail_operations=("paddr",))
    host_like_kdamond(fake, pid=71)
    fake.set_stats(0, 0, nr_tried=11, sz_applied=4096)
    fake.publish_stats(0)
    fake.write_tried_regions("kdamonds/0/contexts/0/schemes/0", regions(6, base=4294967296))
    fake.attempts.clear()
    b = KernelBackend.observe(0, **fake.backend_paths())
    assert b.readonly and b.info.readonly and "view-only" in b.info.source
    # its own small class: nothing that launches, parks or commits is there to call
    assert isinstance(b, KernelObserver) and isinstance(b, Backend)
    assert not any(hasattr(b, name) for name in ("launch", "_apply", "_slots", "_release"))
    errors = []
    snap = b.snapshot_once()
    assert [s.action for s in snap.schemes] == [Action.PAGEOUT]
    assert snap.schemes[0] == host_like_scheme()
    assert snap.scheme_stats[0].nr_tried == 11
    assert len(snap.targets[0]) == 6
    assert snap.attrs.aggr_us == 5_000_000
    assert any("scheme 0 as last exposed" in m for m in snap.messages)
    for call in (
        lambda: b.set_schemes([]),
        lambda: b.set_attrs(MonitoringAttrs()),
        lambda: b.set_targets([PADDR]),
    ):
        with pytest.raises(BackendError, match="view-only"):
            call()
    got = threading.Event()
    b.start(lambda s: got.set(), errors.append)
    assert got.wait(5)
    b.stop()
    assert not errors
    assert fake.attempts == []
    assert fake.value("kdamonds/0/state") == "on"


def test_observe_without_tried_regions_says_why(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake)
    snap = KernelBackend.observe(0, **fake.backend_paths()).snapshot_once()
    assert len(snap.targets[0]) == 0
    assert any("does not write to a kdamond it does not own" in m for m in snap.messages)


def test_take_over_needs_exact_confirmation(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    fake.attempts.clear()
    for wrong in ("", "kdamond.1", "kdamond 0", "70", "yes"):
        with pytest.raises(BackendError, match="does not match"):
            KernelBackend.take_over(0, wrong, **fake.backend_paths())
    assert fake.attempts == []
    assert not list(Path(fake.runtime_dir).glob("*.json"))
    before = read_config_tree(fake, fake.path("kdamonds/0/contexts/0/schemes/0"))
    b = KernelBackend.take_over(0, "kdamond.0", **fake.backend_paths())
    [kd] = list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    assert kd.ours and kd.record.taken_over and kd.record.snapshot_schemes == [1]
    assert not b.readonly and b.schemes() == (host_like_scheme(),)
    # region snapshots need our stat scheme: appended (and committed) while the user's
    # scheme directory stays exactly as it was
    sroot = "kdamonds/0/contexts/0/schemes"
    assert fake.value(f"{sroot}/nr_schemes") == "2"
    assert read_scheme(fake, fake.path(f"{sroot}/1")).action is Action.STAT
    assert read_config_tree(fake, fake.path(f"{sroot}/0")) == before
    assert fake.kd[0].schemes[0] == host_like_scheme() and fake.kd[0].commits == 1
    fake.set_regions(0, [regions(4, base=4294967296)])
    assert len(b.snapshot_once().targets[0]) == 4
    b.stop()
    assert fake.value("kdamonds/0/state") == "on"  # keep_running by default after take over
    assert fake.value(f"{sroot}/nr_schemes") == "1"  # our scheme removed again
    assert read_config_tree(fake, fake.path(f"{sroot}/0")) == before
    assert [s.action for s in fake.kd[0].schemes] == [Action.PAGEOUT]


def test_take_over_by_pid_then_tune(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    b = KernelBackend.take_over(0, "71", **fake.backend_paths())
    b.set_schemes([replace(host_like_scheme(), action=Action.COLD)])
    assert fake.kd[0].schemes[0].action is Action.COLD
    b.stop()


def test_keep_running_then_attach_then_stop(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake, keep_running=True)
    b.stop()
    assert fake.value("kdamonds/0/state") == "on"
    again = KernelBackend.attach(0, **fake.backend_paths())
    assert again.schemes() == (COLD,) and not again.readonly
    fake.set_regions(0, [regions(2)])
    assert len(again.snapshot_once().targets[0]) == 2
    again.stop()
    assert fake.value("kdamonds/0/state") == "off"
    with pytest.raises(BackendError, match="not damontui's"):
        KernelBackend.attach(0, **fake.backend_paths())


def test_parked_dir_is_reused_while_another_kdamond_runs(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, running=False)
    b = started(fake, reset_stopped_foreign=("kdamond.0",))
    b.stop()  # ours (kdamond.1) is off and parked
    fake.start_kdamonds([0], [71])  # the machine's kdamond runs: nr_kdamonds is EBUSY
    fake.attempts.clear()
    b2 = started(fake)
    assert b2.index == 1
    assert not any(p == "kdamonds/nr_kdamonds" for p, _ in fake.attempts)
    assert fake.writes_under("kdamonds/0") == []
    b2.stop()


def test_parked_dir_changed_by_someone_else_is_not_reused(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    b.stop()
    fake._internal += 1
    fake.write(fake.path("kdamonds/0/contexts/0/monitoring_attrs/intervals/aggr_us"), 7777)
    fake._internal -= 1
    # no longer ours: a stopped foreign kdamond with a staged config, not reset silently
    with pytest.raises(BackendError, match=f"kdamond.0 \\(stopped, paddr\\) {RESET}"):
        make(fake)
    b2 = started(fake, reset_stopped_foreign=("kdamond.0",))
    assert b2.index == 1  # grew instead
    assert fake.value("kdamonds/0/contexts/0/monitoring_attrs/intervals/aggr_us") == "7777"
    b2.stop()


def test_shutdown_is_lock_free_and_idempotent(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    b = started(fake)
    with b._lock:  # as if the main thread was interrupted while holding it
        done = threading.Event()
        threading.Thread(target=lambda: (b.shutdown(), done.set())).start()
        assert done.wait(2)
    assert fake.value("kdamonds/0/state") == "off"
    b.shutdown()
    b.stop()
    assert not list(Path(fake.runtime_dir).glob("*.json"))


def test_ages_given_as_times_follow_the_aggregation_interval(tmp_path):
    """age = ["3s", "max"] means 3 s at any aggregation interval: written as 30
    aggregations at 100 ms, rewritten as 3 at 1 s (counts given as counts stay)."""
    fake = FakeSysfs.build(tmp_path)
    timed = replace(
        COLD,
        access_pattern=replace(COLD.access_pattern, age=Range(30, U32), age_us=(3_000_000, -1)),
    )
    counted = replace(COLD, access_pattern=replace(COLD.access_pattern, age=Range(7, U32)))
    b = started(fake, attrs=MonitoringAttrs(aggr_us=100_000), schemes=(timed, counted))
    ap = "kdamonds/0/contexts/0/schemes/{}/access_pattern/age/{}"
    assert (fake.value(ap.format(0, "min")), fake.value(ap.format(0, "max"))) == ("30", str(U32))
    b.set_attrs(MonitoringAttrs(sample_us=50_000, aggr_us=1_000_000))
    assert fake.value(ap.format(0, "min")) == "3"
    assert fake.value(ap.format(0, "max")) == str(U32)
    assert fake.value(ap.format(1, "min")) == "7"
    b.stop()

"""damontui's KernelBackend against the guest's real DAMON (6.12 and 7.2).

Own kdamond on a vaddr target (hot area hot, cold area cold), paddr with the
System RAM region, online commit of a changed scheme (files read back), tried
regions and scheme stats, invalid values rejected before any write, and a bad
memcg path reported as ENOMEM naming the file.

Timing under TCG: aggregation 100-200 ms, several seconds of monitoring,
majority votes over the last snapshots.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]

kernel = pytest.importorskip("damontui.backends.kernel")
sysfs_mod = pytest.importorskip("damontui.backends.kernel.sysfs")

from damontui.backends.base import BackendError  # noqa: E402
from damontui.model import (  # noqa: E402
    AccessPattern,
    Action,
    Filter,
    FilterType,
    MonitoringAttrs,
    Quotas,
    Range,
    Scheme,
    Target,
    TargetKind,
    ValidationError,
    WatermarkMetric,
    Watermarks,
)
from damontui.model.units import U32_MAX, U64_MAX  # noqa: E402

ATTRS = MonitoringAttrs(sample_us=5_000, aggr_us=100_000)
MAX_NR = ATTRS.max_nr_accesses


class Collector:
    def __init__(self) -> None:
        self.snaps: list = []
        self.errors: list[str] = []

    def with_regions(self) -> list:
        return [s for s in self.snaps if s.targets and len(s.targets[0])]


def run(kb, seconds: float, min_region_snaps: int = 3) -> Collector:
    """Start kb, collect snapshots for `seconds` (longer if too few had regions)."""
    c = Collector()
    kb.start(c.snaps.append, c.errors.append)
    time.sleep(seconds)
    vmkit.wait_until(lambda: len(c.with_regions()) >= min_region_snaps, 15)
    return c


def kd_dir(kb):
    return vmkit.KDAMONDS / str(kb.index)


def test_vaddr_hot_cold_start_stop(live_work):
    w = live_work
    kb = kernel.KernelBackend([Target(TargetKind.PID, pid=w.pid)], ATTRS)
    try:
        c = run(kb, 4)
        kd = kd_dir(kb)
        assert vmkit.read(kd / "state") == "on"
        assert vmkit.read(kd / "contexts/0/operations") == "vaddr"
        assert int(vmkit.read(kd / "contexts/0/targets/0/pid_target")) == w.pid
        mine = [k for k in kernel.list_kdamonds() if k.index == kb.index]
        assert mine and mine[0].ownership is kernel.Ownership.OURS, mine
        last = c.with_regions()[-5:]
        votes = [
            (
                vmkit.mean_accesses(s.targets[0].regions(), *w.hot),
                vmkit.mean_accesses(s.targets[0].regions(), *w.cold),
            )
            for s in last
        ]
        print(
            f"\n[vaddr] {len(c.snaps)} snapshots, hot/cold mean nr_accesses (max {MAX_NR}):"
            f" {[(round(h, 1), round(k, 1)) for h, k in votes]}; kdamond cpu "
            f"{last[-1].cpu_percent:.1f}%; errors {c.errors}"
        )
        # this test reads DAMON sysfs while damontui's thread does (EBUSY on 6.12):
        # damontui retries, so nothing surfaces as an error
        assert not c.errors, c.errors
        assert sum(h >= 0.5 * MAX_NR for h, _ in votes) * 2 > len(votes), votes
        assert sum(k <= 0.1 * MAX_NR for _, k in votes) * 2 > len(votes), votes
        # damontui's own snapshot scheme stays hidden from the user's scheme list
        assert last[-1].schemes == ()
    finally:
        kb.stop()
    assert vmkit.wait_until(lambda: vmkit.read(kd / "state") == "off", 10)
    kb.stop()  # twice is fine


def test_paddr_system_ram():
    ram = kernel.default_paddr_range()
    assert ram == vmkit.system_ram()
    kb = kernel.KernelBackend(
        [Target(TargetKind.PADDR)], MonitoringAttrs(sample_us=10_000, aggr_us=200_000)
    )
    try:
        c = run(kb, 2, min_region_snaps=2)
        kd = kd_dir(kb)
        assert vmkit.read(kd / "state") == "on"
        t = kd / "contexts/0/targets/0/regions"
        assert vmkit.read(t / "nr_regions") == "1"
        assert (int(vmkit.read(t / "0/start")), int(vmkit.read(t / "0/end"))) == ram
        regions = c.with_regions()[-1].targets[0].regions()
        assert regions[0].start >= ram[0] and regions[-1].end <= ram[1]
        covered = sum(r.size for r in regions)
        assert covered >= 0.9 * (ram[1] - ram[0]), (covered, ram)
        assert not c.errors, c.errors
    finally:
        kb.stop()
    assert vmkit.read(kd / "state") == "off"


def _scheme_files(sdir, fdir: str = "filters") -> dict[str, str]:
    names = [
        "action",
        "apply_interval_us",
        "access_pattern/sz/min",
        "access_pattern/sz/max",
        "access_pattern/nr_accesses/min",
        "access_pattern/nr_accesses/max",
        "access_pattern/age/min",
        "access_pattern/age/max",
        "quotas/ms",
        "quotas/bytes",
        "quotas/reset_interval_ms",
        "quotas/weights/sz_permil",
        "quotas/weights/nr_accesses_permil",
        "quotas/weights/age_permil",
        "watermarks/metric",
        "watermarks/interval_us",
        "watermarks/high",
        "watermarks/mid",
        "watermarks/low",
        f"{fdir}/nr_filters",
    ]
    return {n: vmkit.read(sdir / n) for n in names}


def test_online_commit_changed_scheme(live_work):
    first = Scheme(action=Action.STAT)
    kb = kernel.KernelBackend([Target(TargetKind.PID, pid=live_work.pid)], ATTRS, [first])
    try:
        run(kb, 1, min_region_snaps=1)
        kd = kd_dir(kb)
        pid_before = vmkit.read(kd / "pid")
        sdir = kd / "contexts/0/schemes/0"
        assert vmkit.read(kd / "contexts/0/schemes/nr_schemes") == "2"  # ours + snapshot
        changed = Scheme(
            action=Action.STAT,
            access_pattern=AccessPattern(
                sz=Range(4096, 1 << 30), nr_accesses=Range(5, MAX_NR), age=Range(2, 1000)
            ),
            quotas=Quotas(ms=20, bytes=64 << 20, reset_interval_ms=1000),
            watermarks=Watermarks(
                metric=WatermarkMetric.FREE_MEM_RATE,
                interval_us=1_000_000,
                high=1000,
                mid=900,
                low=0,
            ),
            filters=(Filter(FilterType.ANON, matching=True),),
            apply_interval_us=300_000,
        )
        kb.set_schemes([changed])
        # 6.15+ puts ops filters (anon) in ops_filters/, older kernels in filters/
        fdir = "ops_filters" if (sdir / "ops_filters").is_dir() else "filters"
        got = _scheme_files(sdir, fdir)
        want = {
            "action": "stat",
            "apply_interval_us": "300000",
            "access_pattern/sz/min": "4096",
            "access_pattern/sz/max": str(1 << 30),
            "access_pattern/nr_accesses/min": "5",
            "access_pattern/nr_accesses/max": str(MAX_NR),
            "access_pattern/age/min": "2",
            "access_pattern/age/max": "1000",
            "quotas/ms": "20",
            "quotas/bytes": str(64 << 20),
            "quotas/reset_interval_ms": "1000",
            "quotas/weights/sz_permil": "0",
            "quotas/weights/nr_accesses_permil": "0",
            "quotas/weights/age_permil": "0",
            "watermarks/metric": "free_mem_rate",
            "watermarks/interval_us": "1000000",
            "watermarks/high": "1000",
            "watermarks/mid": "900",
            "watermarks/low": "0",
            f"{fdir}/nr_filters": "1",
        }
        assert got == want
        assert vmkit.read(sdir / f"{fdir}/0/type") == "anon"
        assert vmkit.read(sdir / f"{fdir}/0/matching") == "Y"
        # committed online: same kdamond thread, still running, snapshot scheme kept
        assert vmkit.read(kd / "state") == "on"
        assert vmkit.read(kd / "pid") == pid_before
        assert vmkit.read(kd / "contexts/0/schemes/nr_schemes") == "2"
        assert kb.schemes() == (changed,)
        # the kernel really uses it: the running config reads back via damontui too
        info = [k for k in kernel.list_kdamonds() if k.index == kb.index][0]
        assert info.contexts[0].user_schemes[0].scheme.access_pattern == changed.access_pattern
    finally:
        kb.stop()


def test_tried_regions_and_scheme_stats(live_work):
    w = live_work
    hot_only = Scheme(
        action=Action.STAT,
        access_pattern=AccessPattern(nr_accesses=Range(MAX_NR // 2, U32_MAX)),
        apply_interval_us=ATTRS.aggr_us,
    )
    everything = Scheme(
        action=Action.STAT,
        access_pattern=AccessPattern(
            sz=Range(0, U64_MAX), nr_accesses=Range(0, U32_MAX), age=Range(0, U32_MAX)
        ),
    )
    kb = kernel.KernelBackend([Target(TargetKind.PID, pid=w.pid)], ATTRS, [hot_only, everything])
    try:
        c = run(kb, 4)
        votes = []
        for _ in range(3):
            regions = kb.scheme_regions(0)
            ranges = [(s, e) for s, e in zip(regions.starts, regions.ends, strict=True)]
            hot_cov = vmkit.size_of(vmkit.intersect(vmkit.merge_ranges(ranges), [w.hot]))
            cold_cov = vmkit.size_of(vmkit.intersect(vmkit.merge_ranges(ranges), [w.cold]))
            total = kb.tried_bytes(0)
            votes.append(
                (hot_cov / (w.hot[1] - w.hot[0]), cold_cov / (w.cold[1] - w.cold[0]), total)
            )
            time.sleep(0.3)
        stats = c.snaps[-1].scheme_stats
        print(
            f"\n[tried] hot-only scheme: (hot covered, cold covered, total_bytes) {votes}; "
            f"stats {stats}"
        )
        assert sum(h >= 0.8 and k <= 0.05 for h, k, _ in votes) >= 2, votes
        assert all(t is not None and t > 0 for _, _, t in votes), votes
        assert len(stats) == 2
        assert stats[0].nr_tried > 0 and stats[0].sz_tried > 0
        # "everything" is tried on every region, "hot_only" on the hot ones only.
        # (6.12 counts nothing as applied for `stat`: it changes no memory.)
        assert stats[1].nr_tried > stats[0].nr_tried
        assert stats[1].sz_tried > 5 * stats[0].sz_tried
        assert stats[0].qt_exceeds == 0
        assert not c.errors, c.errors
    finally:
        kb.stop()


def test_invalid_values_rejected_before_any_write(live_work, writes):
    t = [Target(TargetKind.PID, pid=live_work.pid)]
    before = vmkit.tree(vmkit.ADMIN)
    bad_cases = [
        (
            "aggr_us",
            lambda: kernel.KernelBackend(t, MonitoringAttrs(sample_us=10_000, aggr_us=5_000)),
        ),
        ("min_nr_regions", lambda: kernel.KernelBackend(t, MonitoringAttrs(min_nr_regions=1))),
        (
            "access_pattern.nr_accesses.min",
            lambda: kernel.KernelBackend(
                t, ATTRS, [Scheme(access_pattern=AccessPattern(nr_accesses=Range(10, 5)))]
            ),
        ),
        (
            "quotas.reset_interval_ms",
            lambda: kernel.KernelBackend(
                t, ATTRS, [Scheme(quotas=Quotas(ms=10, reset_interval_ms=0))]
            ),
        ),
        (
            "watermarks.mid",
            lambda: kernel.KernelBackend(
                t,
                ATTRS,
                [
                    Scheme(
                        watermarks=Watermarks(
                            metric=WatermarkMetric.FREE_MEM_RATE, high=100, mid=500, low=0
                        )
                    )
                ],
            ),
        ),
        ("process", lambda: kernel.KernelBackend([Target(TargetKind.PID, pid=999_999)], ATTRS)),
    ]
    # valid model, but not on older kernels: refused by the support check, before writing
    if vmkit.kernel_version() < (7, 2):
        bad_cases.append(
            ("collapse", lambda: kernel.KernelBackend(t, ATTRS, [Scheme(action=Action.COLLAPSE)]))
        )
    if vmkit.kernel_version() < (6, 15):
        bad_cases.append(
            (
                "active",
                lambda: kernel.KernelBackend(
                    t, ATTRS, [Scheme(filters=(Filter(FilterType.ACTIVE),))]
                ),
            )
        )
    messages = {}
    for field, make in bad_cases:
        with pytest.raises((ValidationError, BackendError)) as exc:
            make().start(lambda s: None, lambda e: None)
        messages[field] = str(exc.value)
        assert field in str(exc.value), (field, str(exc.value))
    print("\n[invalid] " + "\n[invalid] ".join(f"{k}: {v}" for k, v in messages.items()))
    assert writes == [], f"damontui wrote before rejecting: {writes[:5]}"
    assert vmkit.tree(vmkit.ADMIN) == before

    # and on a running kdamond: a bad change is rejected, the running config stays
    kb = kernel.KernelBackend(t, ATTRS, [Scheme()])
    try:
        run(kb, 0.5, min_region_snaps=1)
        kd = kd_dir(kb)
        stable = vmkit.stable_part(vmkit.tree(kd))
        n = len(writes)
        with pytest.raises((ValidationError, BackendError)):
            kb.set_schemes([Scheme(access_pattern=AccessPattern(age=Range(9, 1)))])
        with pytest.raises((ValidationError, BackendError)):
            kb.set_attrs(MonitoringAttrs(sample_us=0))
        assert writes[n:] == []
        assert vmkit.stable_part(vmkit.tree(kd)) == stable
        assert vmkit.read(kd / "state") == "on"
    finally:
        kb.stop()


def test_bad_memcg_path_enomem_names_the_file(live_work):
    t = [Target(TargetKind.PID, pid=live_work.pid)]
    bad = Scheme(filters=(Filter(FilterType.MEMCG, memcg_path="/no/such/cgroup"),))
    kb = kernel.KernelBackend(t, ATTRS, [bad])
    with pytest.raises(BackendError) as exc:
        kb.start(lambda s: None, lambda e: None)
    msg = str(exc.value)
    print(f"\n[memcg] start: {msg}")
    assert "ENOMEM" in msg and "/state" in msg and "/no/such/cgroup" in msg, msg
    assert all(vmkit.read(kd / "state") == "off" for kd in vmkit.kdamond_dirs())
    kb.stop()

    # online: committing it to a running kdamond fails the same way, nothing changes
    kb = kernel.KernelBackend(t, ATTRS, [Scheme()])
    try:
        run(kb, 0.5, min_region_snaps=1)
        kd = kd_dir(kb)
        pid = vmkit.read(kd / "pid")
        # 6.12 quirk (seen in this guest): writing `commit` with a bad memcg path
        # returns SUCCESS and the kdamond then terminates.  So the backend must
        # refuse such a change itself, before committing, naming the path.
        try:
            kb.set_schemes([bad])
        except BackendError as e:
            msg = str(e)
        else:
            time.sleep(0.5)
            state = vmkit.read(kd / "state")
            pytest.fail(
                "set_schemes() with a nonexistent memcg path did not fail; the kdamond "
                f"is now {state!r} (6.12 accepts the commit, then the kdamond dies)"
            )
        print(f"[memcg] commit: {msg}")
        assert "/no/such/cgroup" in msg, msg
        assert vmkit.read(kd / "state") == "on" and vmkit.read(kd / "pid") == pid
        assert vmkit.read(kd / "contexts/0/schemes/0/filters/nr_filters") == "0"
        assert kb.schemes() == (Scheme(),)
    finally:
        kb.stop()


@pytest.fixture
def ebusy_retries(monkeypatch):
    """The backoff sleeps of RealSysfs's EBUSY retries (seconds), as they happen."""
    retries: list[float] = []
    real_sleep = sysfs_mod.RealSysfs._sleep

    def counting_sleep(self, seconds: float) -> None:
        retries.append(seconds)
        real_sleep(self, seconds)

    monkeypatch.setattr(sysfs_mod.RealSysfs, "_sleep", counting_sleep)
    return retries


def kill_all(processes) -> None:
    for p in processes:
        p.kill()
        p.wait()


def test_concurrent_reader(live_work, ebusy_retries):
    """Someone else reading DAMON sysfs while damontui runs (`watch cat .../state`,
    damo, a second damontui) must not break damontui's snapshots.  6.12 (with
    the state_show use-after-free fix) takes damon_sysfs_lock with trylock even
    to READ state/pid and returns EBUSY while anyone holds it; damontui has to
    retry such reads rather than report them as errors."""
    kb = kernel.KernelBackend([Target(TargetKind.PID, pid=live_work.pid)], ATTRS)
    readers = []
    retries = ebusy_retries
    try:
        c = Collector()
        kb.start(c.snaps.append, c.errors.append)
        kd = kd_dir(kb)
        # two shell loops reading state and pid as fast as they can (no fork per
        # read: the shell opens and reads the files itself), and one asking for
        # stats the way `damo status` does (a state command holds DAMON's sysfs
        # lock while it waits for the kdamond)
        loop = (
            f"cd {kd} && while :; do read s < state; read p < pid; "
            "read n < contexts/0/schemes/0/stats/nr_tried; done 2>/dev/null"
        )
        # On 7.x a state command holds damon_sysfs_lock while it waits for the
        # kdamond (damon_call), so a loop of them with no pause starves every other
        # writer for seconds (seen in the VM tier: 1 snapshot in 5 s, EBUSY for over
        # 1 s; damontui then names the busy file). Real tools pace themselves
        # (`watch` runs at most every 0.1 s): pace the stats loop there at 50 ms.
        pace = "sleep 0.05; " if vmkit.kernel_version() >= (7, 0) else ""
        stats = (
            f"cd {kd} && while :; do echo update_schemes_stats > state; "
            f"read n < contexts/0/schemes/0/stats/nr_tried; {pace}done 2>/dev/null"
        )
        readers = [subprocess.Popen(["sh", "-c", cmd]) for cmd in (loop, loop, stats)]
        time.sleep(5)
        n = len(c.snaps)
        print(
            f"\n[concurrent] 3 busy processes for 5 s: {n} snapshots, {len(retries)} EBUSY "
            f"retries (longest backoff {max(retries, default=0) * 1000:.0f} ms), errors: "
            f"{c.errors[:3]}"
        )
        # about 10 on an idle host; what matters is that snapshots keep coming
        assert n >= 4
        assert not c.errors, c.errors
    finally:
        kill_all(readers)
        kb.stop()


def test_start_while_another_process_reads(live_work, ebusy_retries):
    """Starting damontui's kdamond while another process hammers DAMON sysfs: the
    nr_kdamonds, nr_* staging and `on` writes can meet EBUSY from lock contention
    (no kdamond runs), which damontui retries instead of failing.  (The readers
    hold the lock only briefly, so a run may see no EBUSY at all; the host tests
    cover the retry paths deterministically.)"""
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 1)  # someone's empty, stopped kdamond.0
    kd0 = vmkit.KDAMONDS / "0"
    retries = ebusy_retries
    loop = f"while :; do read s < {kd0}/state; read p < {kd0}/pid; done 2>/dev/null"
    readers = [subprocess.Popen(["sh", "-c", loop]) for _ in range(2)]
    kb = kernel.KernelBackend([Target(TargetKind.PID, pid=live_work.pid)], ATTRS)
    try:
        time.sleep(0.5)
        c = Collector()
        kb.start(c.snaps.append, c.errors.append)
        time.sleep(2)
        print(
            f"\n[start-busy] started kdamond.{kb.index} with 2 busy readers; "
            f"{len(retries)} EBUSY retries; {len(c.snaps)} snapshots; errors {c.errors[:3]}"
        )
        assert kb.index == 1
        assert vmkit.read(kd_dir(kb) / "state") == "on"
        assert vmkit.read(kd0 / "contexts/nr_contexts") == "0"
        assert not c.errors, c.errors
    finally:
        kill_all(readers)
        kb.stop()

"""Issue 8: damontui's kernel snapshots vs a plain-sysfs run of the same
settings, on the same workload, in the same guest (6.12 and 7.2).

Workload: six separate 8 MiB areas, two touched constantly, four never
(workload_areas.py).  Judged after >= 30 s (under TCG the kernel needs that long
to isolate a hot set; kernels-2026.md).  Hot areas must read >= 30 % access,
cold ones <= 5 %, ages must grow on stable regions.  The workload's touch rate
is measured in both runs: damontui's own process must not starve it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]

kernel = pytest.importorskip("damontui.backends.kernel")

from damontui.model import MonitoringAttrs, Target, TargetKind  # noqa: E402

SAMPLE_US, AGGR_US = 5_000, 100_000
MAX_NR = AGGR_US // SAMPLE_US
JUDGE_AFTER_S = 32
HOT_MIN, COLD_MAX = 0.30 * MAX_NR, 0.05 * MAX_NR
STARVED = 0.15  # touch rate below this share of the plain run's: starved (the host's
# own load moves the rate by 2-4x between runs under TCG)


def _area_stats(regions, areas) -> list[tuple[float, int]]:
    """(byte-weighted mean nr_accesses, byte-weighted mean age) per area.  (A few
    small regions at an area's edge can have their age reset by noise; the mean
    follows what most of the area does.)"""
    out = []
    for start, end in areas:
        total = aged = 0
        for r in regions:
            lo, hi = max(r.start, start), min(r.end, end)
            if hi > lo:
                total += hi - lo
                aged += (hi - lo) * r.age
        out.append((vmkit.mean_accesses(regions, start, end), aged // total if total else -1))
    return out


def _report(label: str, w, stats, rate: float) -> str:
    parts = [
        f"{'H' if i in w.hot else 'c'}{i}={m / MAX_NR:.0%}/age{a}" for i, (m, a) in enumerate(stats)
    ]
    return f"[accuracy] {label}: touch {rate:.1f} sweeps/s; " + " ".join(parts)


def _average(many: list[list[tuple[float, int]]]) -> list[tuple[float, int]]:
    """Per-area mean accesses averaged over several snapshots (min age of the last)."""
    out = []
    for i in range(len(many[-1])):
        vals = [m[i][0] for m in many if m[i][0] == m[i][0]]  # nan: area not covered
        out.append((sum(vals) / len(vals) if vals else float("nan"), many[-1][i][1]))
    return out


def _judge(w, stats, reference=None) -> list[str]:
    """Hot >= 30 %, cold <= 5 %.  Under TCG on a loaded host the workload itself can
    slow down so far that even plain sysfs reads its hot areas below 30 % (a hot
    page reads accessed only in samples a sweep falls into): then a hot area must
    read at least 60 % of what the plain run read for it."""
    bad = []
    for i, (mean, _age) in enumerate(stats):
        want = HOT_MIN if reference is None else min(HOT_MIN, 0.6 * reference[i][0])
        if i in w.hot and not mean >= want:
            bad.append(f"hot area {i} at {mean / MAX_NR:.0%} (< {want / MAX_NR:.0%})")
        if i not in w.hot and not mean <= COLD_MAX:
            bad.append(f"cold area {i} at {mean / MAX_NR:.0%} (> 5 %)")
    return bad


def _judge_plain(w, stats) -> list[str]:
    """The reference run must itself tell hot from cold clearly."""
    bad = [f"cold area {i} at {stats[i][0] / MAX_NR:.0%}" for i in w.cold if stats[i][0] > COLD_MAX]
    bad += [
        f"hot area {i} at {stats[i][0] / MAX_NR:.0%} (< 15 %: workload starved by the host?)"
        for i in w.hot
        if stats[i][0] < 0.15 * MAX_NR
    ]
    return bad


def _plain_sysfs_run(w) -> tuple[list, float]:
    kd = vmkit.KDAMONDS / "0"
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 1)
    vmkit.setup_kdamond(
        kd,
        ops="vaddr",
        pid=w.pid,
        sample_us=SAMPLE_US,
        aggr_us=AGGR_US,
        schemes=[{"action": "stat", "apply_interval_us": AGGR_US}],
    )
    vmkit.write(kd / "state", "on")
    try:
        time.sleep(JUDGE_AFTER_S - 5)
        rate = w.touch_rate(5)
        reads = []
        for _ in range(5):  # five reads about a second apart, averaged
            reads.append(_area_stats(vmkit.tried_regions(kd / "contexts/0/schemes/0"), w.areas))
            time.sleep(1)
    finally:
        vmkit.write(kd / "state", "off")
    return _average(reads), rate


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The workload, and a plain-sysfs run of the same settings on it (>= 30 s)."""
    vmkit.exclusive_modules_off()
    vmkit.reset_all()
    with vmkit.areas_workload(tmp_path_factory.mktemp("areas")) as w:
        idle_rate = w.touch_rate(3)
        stats, plain_rate = _plain_sysfs_run(w)
        vmkit.reset_all()
        print(f"\n[accuracy] {vmkit.kernel_name()}: workload alone {idle_rate:.1f} sweeps/s")
        print(_report("plain sysfs (mean of 5 reads)", w, stats, plain_rate))
        yield w, stats, plain_rate


def test_hot_cold_areas_damontui_vs_plain_sysfs(baseline):
    w, plain_stats, plain_rate = baseline
    attrs = MonitoringAttrs(sample_us=SAMPLE_US, aggr_us=AGGR_US)
    kb = kernel.KernelBackend([Target(TargetKind.PID, pid=w.pid)], attrs)
    snaps: list = []
    errors: list[str] = []
    kb.start(snaps.append, errors.append)
    try:
        kd = vmkit.KDAMONDS / str(kb.index)
        time.sleep(JUDGE_AFTER_S - 10)
        first = snaps[-1] if snaps else None
        n_first = len(snaps)
        rate = w.touch_rate(5)
        time.sleep(5)
        last = snaps[-1]
        window = [s for s in snaps[n_first:] if s.nr_regions]
        goal = kd / "contexts/0/monitoring_attrs/intervals/intervals_goal"
        in_force = vmkit.read(kd / "contexts/0/monitoring_attrs/intervals/sample_us")
        aggrs = vmkit.read(goal / "aggrs") if goal.is_dir() else None
    finally:
        kb.stop()
    ours = last.targets[0].regions()
    assert window, "no snapshot with regions in the last 10 s"
    our_stats = _average([_area_stats(s.targets[0].regions(), w.areas) for s in window])
    empty = sum(1 for s in snaps if not s.nr_regions)
    print(
        _report(
            f"damontui backend (mean of {len(window)} snapshots over 10 s, "
            f"{len(ours)} regions; {empty} of {len(snaps)} snapshots empty)",
            w,
            our_stats,
            rate,
        )
    )
    print(
        f"[accuracy] damontui kdamond after {JUDGE_AFTER_S} s: sample_us {in_force}, "
        f"intervals_goal/aggrs {aggrs}; snapshot header sample {last.attrs.sample_us} us; "
        f"errors {errors}"
    )
    assert not errors, errors
    # the kernel's intervals stay as set (no tuning asked for), and the header says so
    assert int(in_force) == SAMPLE_US and last.attrs.sample_us == SAMPLE_US
    assert aggrs in (None, "0")
    # damontui's process must not starve the workload (same guest, same vCPUs); the
    # rate swings with the host's load under TCG, starving would be near 0
    assert rate >= STARVED * plain_rate, (rate, plain_rate)
    assert not _judge_plain(w, plain_stats), f"plain sysfs itself: {_judge_plain(w, plain_stats)}"
    assert not _judge(w, our_stats, plain_stats), _judge(w, our_stats, plain_stats)
    assert empty <= max(1, len(snaps) // 10), f"{empty} of {len(snaps)} snapshots without regions"
    # ages grow on stable (cold) regions: the 7.2 bug reset every region, ages stayed
    # <= 400 ms. Some resets are the kernel's own: a cold region that merges with a
    # younger neighbour takes the size-weighted mean of both ages, and plain sysfs in
    # the same guest shows cold areas at 3-11 s after 30 s. So: one cold area has aged
    # over the 10 s, and the oldest is over 10 s
    assert first is not None
    first_stats = _area_stats(first.targets[0].regions(), w.areas)
    grown = [i for i in w.cold if our_stats[i][1] > first_stats[i][1] >= 0]
    assert grown, (first_stats, our_stats)
    assert max(our_stats[i][1] for i in w.cold) * AGGR_US >= 10_000_000, our_stats


ROW = re.compile(r"^\s*\d+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+[\d.]+ \S+\s+\d+ %\s+(\d+)\s")


def test_cli_batch_reads_hot_cold(baseline):
    """The real program as a user runs it (batch mode, reports every 4 s), in the
    same guest: same verdict, and the workload's touch rate is not starved."""
    w, _plain_stats, plain_rate = baseline
    cmd = [
        sys.executable,
        "-m",
        "damontui",
        "--backend",
        "kernel",
        "--pid",
        str(w.pid),
        "--sample",
        "5ms",
        "--aggr",
        "100ms",
        "--batch",
        "--count",
        "9",
        "--delay",
        "4",
        "--limit",
        "2000",
        "--sort",
        "address",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(JUDGE_AFTER_S - 5)
    rate = w.touch_rate(5)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    reports = out.split("=" * 72)
    parsed = [
        [
            vmkit.RawRegion(int(m.group(1), 16), int(m.group(2), 16), int(m.group(3)), 0)
            for m in map(ROW.match, r.splitlines())
            if m
        ]
        for r in reports[-3:]
    ]
    parsed = [p for p in parsed if p]
    assert len(parsed) >= 2, f"reports without regions: {reports[-1][-2000:]}"
    stats = _average([_area_stats(regions, w.areas) for regions in parsed])
    print(
        _report(
            f"damontui CLI batch (mean of the last 3 reports, {len(parsed[-1])} regions)",
            w,
            stats,
            rate,
        )
    )
    assert rate >= STARVED * plain_rate, (rate, plain_rate)
    assert not _judge(w, stats, _plain_stats), _judge(w, stats, _plain_stats)

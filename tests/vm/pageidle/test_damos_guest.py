"""Engine DAMOS with the pageidle source on the page-idle kernel (runs only there).

pageout on cold file-backed memory lowers the RSS, cold deactivates pages (they leave
the active LRU list), collapse makes huge pages where THP allows it.
"""

from __future__ import annotations

import glob
import os
import re
import struct

import guestkit
import pytest

from damontui.model import Action, MonitoringAttrs, Target, TargetKind
from damontui.model.scheme import AccessPattern, Range, Scheme

U32_MAX = 2**32 - 1
ATTRS = MonitoringAttrs(sample_us=10_000, aggr_us=200_000, update_us=1_000_000)
KPF_ACTIVE, KPF_THP = 1 << 6, 1 << 22


def _vma_kb(pid: int, start: int, key: str) -> int:
    """``key`` (Rss, AnonHugePages, ...) of the VMA holding ``start``, in kB."""
    text = open(f"/proc/{pid}/smaps").read()
    total, inside = 0, False
    for line in text.splitlines():
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
        if m:
            inside = int(m.group(1), 16) <= start < int(m.group(2), 16)
        elif inside and line.startswith(key + ":"):
            total += int(line.split()[1])
    return total


def _flags(pid: int, start: int, end: int, bit: int) -> float:
    """Share of the present pages of [start, end) whose kpageflags have ``bit``."""
    with open(f"/proc/{pid}/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
        pm.seek(start // 4096 * 8)
        entries = struct.unpack(f"<{(end - start) // 4096}Q", pm.read((end - start) // 4096 * 8))
        pfns = [e & ((1 << 55) - 1) for e in entries if e >> 63]
        hits = 0
        for p in pfns:
            kf.seek(p * 8)
            hits += bool(struct.unpack("<Q", kf.read(8))[0] & bit)
    return hits / len(pfns) if pfns else 0.0


def _scheme(action: Action, hot: bool) -> Scheme:
    nr = Range(ATTRS.max_nr_accesses // 4, U32_MAX) if hot else Range(0, 0)
    return Scheme(action, AccessPattern(nr_accesses=nr, age=Range(3 if not hot else 0, U32_MAX)))


def _big_file() -> str:
    files = sorted(glob.glob(os.path.expanduser("~/.cache/damontui-vm/pageidle/kernel/*/vmlinux")))
    if not files:
        pytest.skip("no file-backed mapping source (the page-idle vmlinux) visible")
    return files[-1]


def test_pageout_cold_file_backed_memory_lowers_rss() -> None:
    with guestkit.workload("--thp", "off", "--file", _big_file()) as w:
        start, end = w.areas[-1]
        before = _vma_kb(w.pid, start, "Rss")
        target = Target(TargetKind.PID, pid=w.pid, ranges=((start, end),))
        run = guestkit.run_engine([target], "pageidle", 15, attrs=ATTRS,
                                  schemes=[_scheme(Action.PAGEOUT, hot=False)])  # fmt: skip
        after = _vma_kb(w.pid, start, "Rss")
    stats = run.snapshots[-1].scheme_stats[0]
    print(f"\n[pageidle] pageout: file mapping Rss {before} kB -> {after} kB; "
          f"applied {stats.sz_applied >> 10} kB; {run.errors}")  # fmt: skip
    assert stats.sz_applied > 0
    assert after < before / 2


def test_cold_deactivates_pages() -> None:
    """Classic LRU (MGLRU off for the test): file pages read twice through read(2) are
    on the active list; the engine's cold scheme moves them to the inactive one."""
    lru_gen = "/sys/kernel/mm/lru_gen/enabled"
    old = open(lru_gen).read().strip() if os.path.exists(lru_gen) else None
    if old is not None:
        with open(lru_gen, "w") as f:
            f.write("n")
    path = _big_file()
    try:
        with guestkit.workload("--thp", "off", "--file", path) as w:
            for _ in range(2):  # mark_page_accessed twice: active
                with open(path, "rb") as f:
                    while f.read(1 << 20):
                        pass
            start, end = w.areas[-1]
            target = Target(TargetKind.PID, pid=w.pid, ranges=((start, end),))
            before = _flags(w.pid, start, end, KPF_ACTIVE)
            run = guestkit.run_engine([target], "pageidle", 12, attrs=ATTRS,
                                      schemes=[_scheme(Action.COLD, hot=False)])  # fmt: skip
            after = _flags(w.pid, start, end, KPF_ACTIVE)
    finally:
        if old is not None:
            with open(lru_gen, "w") as f:
                f.write(old)
    stats = run.snapshots[-1].scheme_stats[0]
    print(f"\n[pageidle] cold: active pages {100 * before:.0f} % -> {100 * after:.0f} %; "
          f"applied {stats.sz_applied >> 10} kB")  # fmt: skip
    assert before > 0.5, "the pages did not become active: the test cannot tell"
    assert stats.sz_applied > 0
    assert after < before / 2


def test_collapse_makes_huge_pages_where_thp_allows(thp) -> None:  # noqa: ANN001
    # THP "never": faults get small pages; MADV_COLLAPSE works regardless of the
    # sysfs mode in a MADV_HUGEPAGE, 2 MiB aligned area (--thp on)
    thp("never")
    with guestkit.workload("--thp", "on") as w:
        start, end = w.areas[w.hot[0]]
        target = Target(TargetKind.PID, pid=w.pid, ranges=((start, end),))
        before = _vma_kb(w.pid, start, "AnonHugePages")
        run = guestkit.run_engine([target], "pageidle", 12, attrs=ATTRS,
                                  schemes=[_scheme(Action.COLLAPSE, hot=True)])  # fmt: skip
        after = _vma_kb(w.pid, start, "AnonHugePages")
    stats = run.snapshots[-1].scheme_stats[0]
    print(f"\n[pageidle] collapse: AnonHugePages {before} kB -> {after} kB; "
          f"applied {stats.sz_applied >> 10} kB; {run.errors}")  # fmt: skip
    assert before == 0
    assert stats.sz_applied > 0
    assert after > 0, run.errors

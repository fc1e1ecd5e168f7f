"""Plain-text batch output."""

from __future__ import annotations

import pytest

from damontui import report
from damontui.model import (
    Action,
    BackendInfo,
    MonitoringAttrs,
    Region,
    Scheme,
    SchemeStats,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
)

MIB = 1 << 20
BASE = 0x10000000
ATTRS = MonitoringAttrs(sample_us=5_000, aggr_us=100_000)  # max_nr_accesses = 20
SYN = Target(TargetKind.SYNTHETIC, name="hotcold")


def snap(rows: list[tuple[int, int, int, int]], seq: int = 1, **kw: object) -> Snapshot:
    regions = [Region(BASE + s * MIB, BASE + e * MIB, nr, age) for s, e, nr, age in rows]
    return Snapshot(
        seq=seq,
        timestamp=0.0,
        elapsed_us=seq * 100_000,
        attrs=ATTRS,
        targets=(TargetSnapshot.from_regions(SYN, regions),),
        **kw,  # type: ignore[arg-type]
    )


ROWS = [(0, 4, 0, 30), (4, 5, 20, 2), (5, 8, 10, 0)]
INFO = BackendInfo("engine", "synthetic hotcold", features=("kernel: cython",), notes=("n1",))


def test_header_summarises_snapshot() -> None:
    s = snap(ROWS, seq=7, cpu_percent=0.42, messages=("pid 5 exited; monitoring stopped for it",))
    text = report.format_header(s, INFO)
    lines = text.splitlines()
    assert lines[0] == "damontui engine: synthetic hotcold [kernel: cython]"
    assert "seq 7" in lines[1] and "sample 5 ms" in lines[1] and "aggr 100 ms" in lines[1]
    assert "regions 3 (10..1000)" in lines[1] and "cpu 0.4 %" in lines[1]
    assert "monitored 8.0 MiB" in lines[2] and "hot (>50 % access) 1.0 MiB" in lines[2]
    assert "note: n1" in lines and "! pid 5 exited; monitoring stopped for it" in lines


def test_region_table_by_address_and_temperature() -> None:
    s = snap(ROWS)
    lines = report.format_region_table(s).splitlines()
    assert lines[0].split() == ["#", "start", "end", "size", "access", "nr_acc", "age", "temp"]
    first = lines[1].split()
    assert first[:3] == ["0", f"{BASE:#x}", f"{BASE + 4 * MIB:#x}"]
    assert " 4.0 MiB" in lines[1] and "0 %" in lines[1] and "3 s" in lines[1]
    hot = report.format_region_table(s, sort="temperature", limit=2).splitlines()
    assert len(hot) == 3
    assert f"{BASE + 4 * MIB:#x}" in hot[1] and "100 %" in hot[1]  # the hottest first
    assert f"{BASE + 5 * MIB:#x}" in hot[2]
    by_age = report.format_region_table(s, sort="age", limit=1).splitlines()
    assert "3 s" in by_age[1]
    with pytest.raises(ValueError, match="sort must be one of"):
        report.format_region_table(s, sort="colour")


def test_heatmap_rows_follow_address_and_columns_time() -> None:
    # The hot spot moves from the first to the last MiB over four snapshots.
    history = [
        snap([(0, 1, 20, 0), (1, 8, 0, 0)], seq=1),
        snap([(0, 1, 20, 1), (1, 8, 0, 1)], seq=2),
        snap([(0, 7, 0, 0), (7, 8, 10, 0)], seq=3),
        snap([(0, 7, 0, 1), (7, 8, 20, 0)], seq=4),
    ]
    lines = report.format_heatmap(history, width=72, height=8).splitlines()
    assert len(lines) == 9
    grid = [line.split("|")[1] for line in lines[:8]]
    assert grid[0] == "@@  " and grid[-1] == "  +@"  # 50 %: bucket 5 of 10, as the TUI
    assert all(row == "    " for row in grid[1:-1])
    assert lines[0].startswith(f"{BASE:#x}")
    assert "100 ms .. 400 ms" in lines[-1]


def test_heatmap_squeezes_time_and_skips_gaps() -> None:
    far = 1 << 40
    regions = [Region(BASE, BASE + MIB, 20, 0), Region(far, far + MIB, 0, 0)]
    s = Snapshot(1, 0.0, 100_000, ATTRS, (TargetSnapshot.from_regions(SYN, regions),))
    lines = report.format_heatmap([s] * 200, width=10, height=2).splitlines()
    assert [line.split("|")[1] for line in lines[:2]] == ["@" * 10, " " * 10]
    assert lines[1].startswith(f"{far:#x}")  # the gap between the ranges takes no rows
    assert report.format_heatmap([]) == "(no data)"


def test_scheme_stats_table() -> None:
    stats = SchemeStats(3, 3 * MIB, 2, 2 * MIB, 1, 2 * MIB, effective_bytes=4 * MIB, active=False)
    s = snap(ROWS, schemes=(Scheme(Action.PAGEOUT, name="reclaim"),), scheme_stats=(stats,))
    lines = report.format_scheme_stats(s).splitlines()
    assert lines[1].split() == [
        "0",
        "reclaim",
        "pageout",
        "inactive",
        "3",
        "3.0",
        "MiB",
        "2",
        "2.0",
        "MiB",
        "2.0",
        "MiB",
        "1",
        "4.0",
        "MiB",
    ]
    assert report.format_scheme_stats(snap(ROWS)) == "no schemes"


def test_reports_without_regions_do_not_crash() -> None:
    """A view-only kdamond may expose no tried regions: every report still prints."""
    empty = snap([])
    assert report.format_heatmap([empty, empty]) == "(no regions to draw)"
    assert "0 B" in report.format_header(empty, INFO)
    report.format_region_table(empty)
    report.format_scheme_stats(empty)

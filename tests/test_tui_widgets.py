"""The data behind the TUI views: row sorting/filtering, heatmap columns,
histograms, history bounds, filter parsing and the header text."""

from __future__ import annotations

import pytest
from fake_backend import ATTRS, BASE, MIB, SYNTHETIC, make_snapshot
from hypothesis import given
from hypothesis import strategies as st

from damontui.analysis import (
    NO_DATA,
    AddressLayout,
    HeatmapModel,
    HeatmapSettings,
    PrefixSums,
    RegionFilter,
    SnapshotAnalysis,
    SnapshotHistory,
    recency_histogram,
    region_temperature,
    temperature_histogram,
    working_set,
)
from damontui.model import (
    AccessPattern,
    BackendInfo,
    MonitoringAttrs,
    Range,
    Region,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
    ValidationError,
)
from damontui.model.units import U64_MAX
from damontui.tui.filter_screen import parse_filter
from damontui.tui.header import HeaderState, header_lines
from damontui.tui.histograms import sparkline
from damontui.tui.regions_rows import RegionRows


def rows_of(s: Snapshot, *args: object, pattern: AccessPattern | None = None,
            **kw: object) -> RegionRows:  # fmt: skip
    return RegionRows(SnapshotAnalysis(s, pattern=pattern), *args, **kw)  # type: ignore[arg-type]


def preview_totals(s: Snapshot, pattern: AccessPattern) -> tuple[int, int]:
    return SnapshotAnalysis(s).preview_totals(pattern)


def snap_of(rows: list[tuple[int, int, int, int]], targets: int = 1, seq: int = 1) -> Snapshot:
    """Regions (start MiB, end MiB, nr_accesses, age) from BASE, in every target."""
    regions = [Region(BASE + s * MIB, BASE + e * MIB, nr, age) for s, e, nr, age in rows]
    tss = tuple(
        TargetSnapshot.from_regions(Target(TargetKind.PID, pid=100 + k), regions)
        for k in range(targets)
    )
    return Snapshot(seq=seq, timestamp=0.0, elapsed_us=seq * ATTRS.aggr_us, attrs=ATTRS,
                    targets=tss)  # fmt: skip


ROWS = [(0, 4, 0, 30), (4, 5, 20, 2), (5, 8, 10, 0), (8, 16, 0, 3)]


# --- regions table data ------------------------------------------------------------


def starts(rows: RegionRows) -> list[int]:
    return [(rows.arrays.starts[i] - BASE) // MIB for i in rows.order]


def test_rows_sort_by_every_column() -> None:
    s = snap_of(ROWS)
    assert starts(rows_of(s, "start", False)) == [0, 4, 5, 8]
    assert starts(rows_of(s, "start", True)) == [8, 5, 4, 0]
    assert starts(rows_of(s, "size", True)) == [8, 0, 5, 4]
    assert starts(rows_of(s, "access", True)) == [4, 5, 0, 8]  # ties keep address order
    assert starts(rows_of(s, "age", True)) == [0, 8, 4, 5]
    # temperature: hot first; idle regions get colder with age
    assert starts(rows_of(s, "temp", True)) == [4, 5, 8, 0]
    assert starts(rows_of(s, "temp", False)) == [0, 8, 5, 4]
    with pytest.raises(ValueError):
        rows_of(s, "colour")


def test_temperatures_match_the_model() -> None:
    s = snap_of(ROWS)
    rows = rows_of(s)
    for i in range(len(ROWS)):
        region = s.targets[0].region(i)
        assert rows.temps[i] == pytest.approx(region_temperature(region, s.attrs))


def test_filters_combine() -> None:
    s = snap_of(ROWS)
    assert len(rows_of(s, "start", region_filter=RegionFilter(heat="hot"))) == 2
    assert starts(rows_of(s, "start", region_filter=RegionFilter(heat="cold"))) == [0, 8]
    assert starts(rows_of(s, "start", region_filter=RegionFilter(min_size=3 * MIB))) == [
        0, 5, 8,
    ]  # fmt: skip
    in_range = RegionFilter(addr_start=BASE + 4 * MIB, addr_end=BASE + 6 * MIB)
    assert starts(rows_of(s, "start", region_filter=in_range)) == [4, 5]
    assert starts(rows_of(s, "start", region_filter=RegionFilter(min_temperature=0))) == [4, 5]
    assert RegionFilter().describe() == "none" and not RegionFilter().active
    assert "hot only" in RegionFilter(heat="hot").describe()


def test_cells_are_human_readable() -> None:
    rows = rows_of(snap_of(ROWS), "start", False)
    cells = rows.cells(1)
    assert cells["start"] == f"{BASE + 4 * MIB:#x}" and cells["size"] == "1.0 MiB"
    assert cells["access"] == "100% 20" and cells["age"] == "200 ms"
    assert cells["target"] == ""  # one target: no target column
    multi = rows_of(snap_of(ROWS, targets=2), "start", False)
    assert multi.multi_target and {multi.cells(r)["target"] for r in range(8)} == {"0", "1"}


def test_preview_matches() -> None:
    s = snap_of(ROWS)
    busy = AccessPattern(nr_accesses=Range(1, 20))
    rows = rows_of(s, "start", False, pattern=busy)
    assert [rows.is_matched(r) for r in range(4)] == [False, True, True, False]
    assert (rows.matched_count, rows.matched_bytes) == (2, 4 * MIB)
    assert preview_totals(s, busy) == (2, 4 * MIB)
    assert preview_totals(s, AccessPattern(sz=Range(8 * MIB, U64_MAX))) == (1, 8 * MIB)


# --- filter dialog parsing ---------------------------------------------------------


def test_parse_filter() -> None:
    f = parse_filter("0x1000-0x3000", "2MiB", "-5", "hot")
    assert f == RegionFilter(0x1000, 0x3000, 2 * MIB, -5.0, "hot")
    assert parse_filter("4096 .. 8192", "", "", "all").addr_end == 8192
    assert parse_filter("", "", "", "all") == RegionFilter()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (("0x3000-0x1000", "", ""), "address range"),
        (("0x3000", "", ""), "address range"),
        (("", "lots", ""), "min size"),
        (("", "", "warm"), "min temperature"),
    ],
)
def test_parse_filter_names_the_bad_field(text: tuple[str, str, str], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_filter(*text, "all")
    assert e.value.field == field


# --- heatmap model -----------------------------------------------------------------


@given(
    st.lists(st.tuples(st.integers(1, 50), st.integers(0, 20)), min_size=1, max_size=30),
    st.integers(0, 2000),
    st.integers(0, 2000),
)
def test_prefix_sums_match_brute_force(spans: list[tuple[int, int]], a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    starts, ends, weights, pos = [], [], [], 0
    for size, weight in spans:
        starts.append(pos)
        ends.append(pos + size)
        weights.append(weight)
        pos += size + 3  # gaps too
    size = weighted = 0
    for s, e, w in zip(starts, ends, weights, strict=True):
        overlap = max(0, min(e, hi) - max(s, lo))
        size, weighted = size + overlap, weighted + overlap * w
    assert PrefixSums(starts, ends, weights).query(lo, hi) == (size, weighted)


def test_address_layout_skips_gaps() -> None:
    s = snap_of([(0, 4, 0, 0), (4, 8, 0, 0), (100, 104, 0, 0)])
    layout = AddressLayout.from_snapshot(s)
    assert layout.total == 12 * MIB and len(layout.segments) == 2
    assert layout.pieces(6 * MIB, 10 * MIB) == [
        (0, BASE + 6 * MIB, BASE + 8 * MIB),
        (0, BASE + 100 * MIB, BASE + 102 * MIB),
    ]
    assert layout.address_at(9 * MIB) == (0, BASE + 101 * MIB)


def test_address_column_is_byte_weighted_access_rate() -> None:
    s = snap_of([(0, 4, 20, 0), (4, 8, 0, 5), (8, 12, 10, 0), (12, 16, 0, 0)])
    layout = AddressLayout.from_snapshot(s)
    model = HeatmapModel()
    assert model.column(s, layout, 4, HeatmapSettings()) == [1.0, 0.0, 0.5, 0.0]
    assert model.column(s, layout, 2, HeatmapSettings()) == [0.5, 0.25]
    zoomed = HeatmapSettings(row_zoom=2, row_scroll=2)  # rows 2..3 of 4
    assert model.column(s, layout, 2, zoomed) == [0.5, 0.0]


def test_temperature_column_puts_hot_memory_on_top() -> None:
    s = snap_of([(0, 4, 0, 9), (4, 8, 20, 0), (8, 12, 0, 1), (12, 16, 10, 0)])
    layout = AddressLayout.from_snapshot(s)
    column = HeatmapModel().column(s, layout, 4, HeatmapSettings(mode="temperature"))
    assert column == [1.0, 0.5, 0.0, 0.0]
    assert column == sorted(column, reverse=True)


def test_grid_time_axis_newest_at_right_and_zoom_out() -> None:
    history = [snap_of([(0, 4, nr, 0)], seq=k + 1) for k, nr in enumerate([0, 20, 10, 20])]
    layout = AddressLayout.from_snapshot(history[-1])
    model = HeatmapModel()
    grid = model.grid(history, layout, 6, 1, HeatmapSettings())
    assert grid[:2] == [None, None] and [c[0] for c in grid[2:]] == [0.0, 1.0, 0.5, 1.0]
    halves = model.grid(history, layout, 2, 1, HeatmapSettings(time_level=-1))
    assert [c[0] for c in halves] == [0.5, 0.75]
    doubled = model.grid(history, layout, 4, 1, HeatmapSettings(time_level=1))
    assert [c[0] for c in doubled] == [0.5, 0.5, 1.0, 1.0]
    scrolled = model.grid(history, layout, 2, 1, HeatmapSettings(time_scroll=2))
    assert [c[0] for c in scrolled] == [0.0, 1.0]


def test_column_without_coverage_is_no_data() -> None:
    old = snap_of([(0, 4, 20, 0)])
    layout = AddressLayout.from_snapshot(snap_of([(0, 4, 0, 0), (50, 54, 0, 0)]))
    assert HeatmapModel().column(old, layout, 2, HeatmapSettings()) == [1.0, NO_DATA]


# --- histograms and history --------------------------------------------------------


def test_recency_histogram_counts_idle_bytes_by_age() -> None:
    s = snap_of([(0, 4, 0, 30), (4, 5, 20, 2), (5, 8, 0, 0), (8, 16, 0, 3)])
    buckets = dict(recency_histogram(s))
    assert buckets[0] == 15 * MIB  # every idle byte
    assert buckets[ATTRS.aggr_us] == 12 * MIB  # idle >= 1 aggregation
    assert buckets[5 * ATTRS.aggr_us] == 4 * MIB
    assert buckets[20 * ATTRS.aggr_us] == 4 * MIB
    values = [b for _, b in recency_histogram(s)]
    assert values == sorted(values, reverse=True)


def test_temperature_histogram_covers_every_byte() -> None:
    s = snap_of(ROWS)
    bins = temperature_histogram(s, nr_bins=4)
    assert sum(b for _, _, b in bins) == 16 * MIB
    assert bins[0][0] > bins[-1][0]  # hottest first
    # damo's temperature counts age in microseconds: the region idle for 30
    # aggregations (3 s) is alone in the coldest bin, the rest within 50 ms of age
    assert bins[-1][2] == 4 * MIB and bins[0][2] == 12 * MIB


def test_working_set_and_history_bounds() -> None:
    assert working_set(snap_of(ROWS)).wss_bytes == 4 * MIB
    history = SnapshotHistory(max_snapshots=5, max_regions=12)
    for seq in range(1, 11):
        history.append(make_snapshot(seq, count=4))
    assert len(history) == 3  # 12 regions / 4 per snapshot
    assert [s.seq for s in history.snapshots] == [8, 9, 10]
    assert len(history.wss) == 10  # the cheap series keeps more
    history.clear()
    assert len(history) == 0 and not history.wss


def test_sparkline_scales_to_the_maximum() -> None:
    assert sparkline([0, 4, 8], 10) == [" ▄█"]
    assert sparkline([0, 8], 10, height=2) == [" █", " █"]
    assert sparkline([1, 2, 3, 4], 2) == ["▆█"]


# --- header ------------------------------------------------------------------------


def test_header_lines_show_backend_intervals_and_notes() -> None:
    info = BackendInfo("engine", "synthetic hotcold", "6.15", ("kernel: cython",), ("n1",))
    state = HeaderState(info, (SYNTHETIC,), 0.5, paused=True, notes=("no kernel DAMON",))
    tuned = MonitoringAttrs(intervals_goal=ATTRS.intervals_goal.__class__(access_bp=40))
    s = Snapshot(3, 0.0, 300_000, tuned, make_snapshot(1).targets, cpu_percent=2.25)
    first, second, third = (line.plain for line in header_lines(state, s))
    assert "engine" in first and "kernel 6.15" in first and "kernel: cython" in first
    assert "PAUSED" in second and "refresh 0.5 s" in second and "cpu 2.2%" in second
    assert "8 regions (10..1000)" in second and "t=300 ms" in second
    assert "target synthetic:fake" in third and "(auto-tuned)" in third
    assert "sample 5 ms aggr 100 ms" in third and "32.0 MiB" in third
    assert "note: no kernel DAMON" in third and "note: n1" in third

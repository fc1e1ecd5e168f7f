"""The analysis layer: damo's temperature, the one sort vocabulary, the per-snapshot
cache, and the TUI and batch report drawing the same numbers from one snapshot."""

from __future__ import annotations

import pytest
from fake_backend import ATTRS, BASE, MIB, SYNTHETIC, FakeBackend, make_snapshot

from damontui import report
from damontui.analysis import (
    SORT_KEYS,
    SnapshotAnalysis,
    region_temperature,
    sort_key,
    temperatures,
)
from damontui.model import (
    AccessPattern,
    MonitoringAttrs,
    Range,
    Region,
    RegionArrays,
    Snapshot,
    TargetSnapshot,
    TemperatureWeights,
)
from damontui.tui.app import DamonApp
from damontui.tui.regions_rows import RegionRows


def snapshot_of(regions: list[Region], attrs: MonitoringAttrs = ATTRS, seq: int = 1) -> Snapshot:
    target = TargetSnapshot.from_regions(SYNTHETIC, regions)
    return Snapshot(seq, 0.0, seq * attrs.aggr_us, attrs, (target,))


def damo_temperature(size: int, percent: int, age_us: int, w: TemperatureWeights) -> float:
    """damo 3.4.3's formula as its documentation states it (damo report access):
    size*w_sz + access_percent*w_ar + age_usec*w_age, negated at 0 %."""
    score = size * w.size + percent * w.access_rate + age_us * w.age
    return score if percent > 0 else -score


# --- temperature: damo's definition ------------------------------------------------


def test_damo_ranks_an_older_warm_region_above_a_young_hot_one() -> None:
    """Issue 9's case: with default weights, 35 % / age 100 ms ranks above 85 % / age 0
    (age counts in microseconds, so it dominates the access rate)."""
    attrs = MonitoringAttrs(sample_us=5_000, aggr_us=100_000)  # 20 samples per aggregation
    warm = Region(BASE, BASE + MIB, nr_accesses=7, age=1)  # 35 %, 100 ms old
    hot = Region(BASE + MIB, BASE + 2 * MIB, nr_accesses=17, age=0)  # 85 %, new
    w = TemperatureWeights()
    assert (w.size, w.access_rate, w.age) == (0, 100, 100)  # damo's defaults
    assert region_temperature(warm, attrs) == damo_temperature(MIB, 35, 100_000, w) == 10_003_500
    assert region_temperature(hot, attrs) == damo_temperature(MIB, 85, 0, w) == 8_500
    analysis = SnapshotAnalysis(snapshot_of([warm, hot], attrs))
    assert list(analysis.temperature_order()) == [0, 1]  # warm first
    assert list(analysis.order("temperature")) == [0, 1]
    rows = RegionRows(analysis)  # the regions table's default sort
    assert [rows.arrays.starts[i] for i in rows.order] == [warm.start, hot.start]


@pytest.mark.parametrize(
    ("nr", "age", "sample_us", "aggr_us", "percent"),
    [
        (7, 1, 5_000, 100_000, 35),
        (1, 3, 1_000, 300_000, 0),  # 0.33 %: damo truncates to 0 and negates the score
        (3, 0, 10_000, 70_000, 42),  # 42.86 % truncated
        (0, 40, 5_000, 100_000, 0),
    ],
)
def test_temperature_is_damos_formula(
    nr: int, age: int, sample_us: int, aggr_us: int, percent: int
) -> None:
    attrs = MonitoringAttrs(sample_us=sample_us, aggr_us=aggr_us)
    w = TemperatureWeights(size=2.0, access_rate=100.0, age=3.0)
    region = Region(0, 8192, nr, age)
    expected = damo_temperature(8192, percent, age * aggr_us, w)
    assert region_temperature(region, attrs, w) == expected
    arrays = RegionArrays.from_regions([region])
    assert list(temperatures(arrays, attrs, w)) == [expected]


def test_weights_change_the_order() -> None:
    big_idle = Region(0, 64 * MIB, 0, 0)
    small_busy = Region(64 * MIB, 64 * MIB + 4096, 20, 0)
    snap = snapshot_of([big_idle, small_busy])
    assert list(SnapshotAnalysis(snap).temperature_order()) == [1, 0]
    by_size = TemperatureWeights(size=1.0, access_rate=0.0, age=0.0)
    # damo negates the whole score of an idle region: size does not make it hot
    assert list(SnapshotAnalysis(snap, by_size).temperature_order()) == [1, 0]
    assert list(SnapshotAnalysis(snap, by_size).temperature_order(descending=False)) == [0, 1]


# --- one sort vocabulary -------------------------------------------------------------


def test_one_sort_vocabulary_for_report_cli_and_table() -> None:
    assert SORT_KEYS == ("address", "end", "size", "access", "age", "temperature")
    assert report.SORT_KEYS is SORT_KEYS
    assert sort_key("temp") is sort_key("temperature") and sort_key("start").name == "address"
    with pytest.raises(ValueError, match="sort key must be one of address, end"):
        sort_key("colour")
    snap = make_snapshot(3, count=12)
    analysis = SnapshotAnalysis(snap)
    for key in SORT_KEYS:  # the report lists regions in the analysis' order
        lines = report.format_region_table(snap, sort=key).splitlines()[1:]
        starts = [int(line.split()[1], 16) for line in lines]
        assert starts == [analysis.arrays.starts[i] for i in analysis.order(key)], key


# --- the per-snapshot cache ----------------------------------------------------------


def test_analysis_computes_each_result_once() -> None:
    snap = make_snapshot(5, count=16)
    busy = AccessPattern(nr_accesses=Range(1, 20))
    a = SnapshotAnalysis(snap, pattern=busy)
    assert a.temperatures is a.temperatures
    assert a.temperature_order() is a.order("temp")
    assert a.matched is a.matches(busy)
    assert a.preview == a.preview_totals(busy)
    assert SnapshotAnalysis.of(snap, pattern=busy, previous=a) is a
    b = SnapshotAnalysis.of(snap, pattern=None, previous=a)  # same snapshot: shares results
    assert b is not a and b.temperatures is a.temperatures and b.preview is None
    c = SnapshotAnalysis.of(make_snapshot(6, count=16), previous=a)
    assert c.temperatures is not a.temperatures


def test_multi_target_arrays_and_target_of() -> None:
    one = make_snapshot(1, count=4)
    two = Snapshot(1, 0.0, 0, ATTRS, (one.targets[0], one.targets[0]))
    a = SnapshotAnalysis(two)
    assert len(a) == 8 and a.firsts == (0, 4) and a.multi_target
    assert [a.target_of(i) for i in range(8)] == [0] * 4 + [1] * 4
    assert SnapshotAnalysis(one).arrays.starts is one.targets[0].starts  # shared, not copied


# --- the TUI and the batch report draw the same numbers ----------------------------


async def test_report_and_tui_draw_the_same_heatmap_and_temperatures(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")  # the TUI draws the ramp characters then
    fake = FakeBackend(nr_regions=24)
    app = DamonApp(fake, refresh_s=0.0)
    async with app.run_test(size=(100, 30)) as pilot:
        snap = fake.emit()
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        heatmap = app.heatmap
        assert app.no_color
        height = heatmap._rows_height
        # the same bins: the widget's grid and the report's columns
        layout, bins, columns = report.heatmap_grid([snap], width=1, height=height) or (
            None, [], [])  # fmt: skip
        assert layout is not None and len(bins) == height
        tui_column = heatmap.model.grid([snap], layout, 1, height, heatmap.settings)[0]
        assert tui_column == columns[0]
        # and the same characters on screen and in text
        strips = heatmap._render_all()[1 : 1 + height]
        x = heatmap._label_width + heatmap.LABEL_GAP + heatmap._cells_width - 1  # newest column
        screen_cells = [strip.text[x] for strip in strips]
        text_rows = report.format_heatmap([snap], width=1, height=height).splitlines()[:height]
        text_cells = [row.split("|")[1] for row in text_rows]
        assert screen_cells == text_cells
        assert len(set(text_cells)) > 2  # the snapshot has idle, warm and hot rows
        # temperatures: the table's and the report's are the same numbers
        await pilot.press("1")
        await pilot.pause()
        rows = app.regions.rows
        assert rows is not None
        table = report.format_region_table(snap, sort="temperature").splitlines()[1:]
        assert [int(line.split()[1], 16) for line in table] == [
            rows.arrays.starts[i] for i in rows.order
        ]
        assert [float(line.split()[-1]) for line in table] == [
            round(rows.temps[i]) for i in rows.order
        ]


# --- damo's --temperature_weights on the command line -------------------------------


def test_temperature_weights_flag_orders_batch_output(capsys) -> None:  # type: ignore[no-untyped-def]
    from damontui import cli

    args = ["engine", "--once", "--synthetic", "hotcold", "--sim-seconds", "1", "--limit", "4"]
    assert cli.main([*args, "--temperature_weights", "0", "100", "0"]) == 0  # damo's spelling
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(x for x in lines if x.startswith("#  start"))) + 1 :]
    temps = [float(line.split()[-1]) for line in table]
    rates = [int(line.split()[-4]) for line in table]  # nr_acc: the order follows it alone
    assert temps == sorted(temps, reverse=True) and rates == sorted(rates, reverse=True)
    assert all(t == 100 * 100 * r // 20 for t, r in zip(temps, rates, strict=True))
    with pytest.raises(SystemExit) as exc:  # a bad flag value: argparse's exit 2 (issue 11)
        cli.main([*args, "--temperature-weights", "0", "100", "-1"])
    assert exc.value.code == 2 and "--temperature-weights" in capsys.readouterr().err

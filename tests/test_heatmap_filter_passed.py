"""The heatmap's filter-passed overlay: per bin, the share of bytes that passed the
scheme's filters (per-region sz_filter_passed of kernel tried regions).

The binning is the analysis layer's (a pure function, tested on bins with known
sz_filter_passed); the toggle (`f`) is driven by Pilot, and where no region reports
the number it says why in a notification instead of drawing an empty overlay."""

from __future__ import annotations

from array import array
from dataclasses import replace

import pytest
from fake_backend import FakeBackend
from test_tui_app import running

from damontui.analysis import (
    NO_DATA,
    AddressLayout,
    HeatmapModel,
    HeatmapSettings,
    filter_passed_missing,
    passed_shares,
)
from damontui.model import MonitoringAttrs, Snapshot, Target, TargetKind, TargetSnapshot

PAGE = 4096
ATTRS = MonitoringAttrs(sample_us=5_000, aggr_us=100_000)  # 20 samples
PADDR = Target(TargetKind.PADDR)
# four 4-page regions: all passed, none, half, a quarter; accesses in reverse order
REGIONS = [(0, 4, 0, 4), (4, 8, 20, 0), (8, 12, 10, 2), (12, 16, 5, 1)]


def snapshot(passed: list[int] | None, seq: int = 1) -> Snapshot:
    t = TargetSnapshot(
        PADDR,
        array("Q", [s * PAGE for s, _, _, _ in REGIONS]),
        array("Q", [e * PAGE for _, e, _, _ in REGIONS]),
        array("I", [nr for _, _, nr, _ in REGIONS]),
        array("I", [0] * len(REGIONS)),
        None if passed is None else array("Q", passed),
    )
    return Snapshot(seq=seq, timestamp=0.0, elapsed_us=seq, attrs=ATTRS, targets=(t,))


PASSED = [4 * PAGE, 0, 2 * PAGE, PAGE]


def column(snap: Snapshot, height: int, **settings: object) -> list[float]:
    s = HeatmapSettings(overlay="filter_passed", **settings)  # type: ignore[arg-type]
    return HeatmapModel().column(snap, AddressLayout.from_snapshot(snap), height, s)


def test_region_shares():
    assert passed_shares(snapshot(PASSED)) == [1.0, 0.0, 0.5, 0.25]
    assert passed_shares(snapshot(None)) is None
    # a kernel reporting more than the region (huge folio at the edge): capped at 1
    assert passed_shares(snapshot([8 * PAGE, 0, 0, 0]))[0] == 1.0


def test_address_bins_are_byte_weighted_shares():
    snap = snapshot(PASSED)
    assert column(snap, 4) == [1.0, 0.0, 0.5, 0.25]
    # two regions per row: (4+0)/8 and (2+1)/8 of the bytes passed
    assert column(snap, 2) == [0.5, 3 / 8]
    # eight rows: each region covers two rows with its own share
    assert column(snap, 8) == [1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.25, 0.25]
    # the access overlay of the same snapshot is the access rate, not the share
    access = HeatmapModel().column(snap, AddressLayout.from_snapshot(snap), 4, HeatmapSettings())
    assert access == [0.0, 1.0, 0.5, 0.25]


def test_temperature_bins_follow_the_temperature_order():
    # hottest first: region 1 (20 accesses, 0 passed), 2, 3, then the idle region 0
    assert column(snapshot(PASSED), 4, mode="temperature") == [0.0, 0.5, 0.25, 1.0]


def test_no_data_without_sz_filter_passed():
    assert column(snapshot(None), 3) == [NO_DATA] * 3


def test_grid_caches_per_overlay():
    model, snap = HeatmapModel(), snapshot(PASSED)
    layout = AddressLayout.from_snapshot(snap)
    access = model.grid([snap], layout, 1, 4, HeatmapSettings())
    passed = model.grid([snap], layout, 1, 4, HeatmapSettings(overlay="filter_passed"))
    assert access == [[0.0, 1.0, 0.5, 0.25]] and passed == [[1.0, 0.0, 0.5, 0.25]]


def test_why_the_overlay_would_be_empty():
    assert filter_passed_missing([]) == "no snapshot yet"
    assert "sz_filter_passed" in (filter_passed_missing([snapshot(None)]) or "")
    zeros = filter_passed_missing([snapshot([0, 0, 0, 0])])
    assert zeros is not None and "0 bytes passed" in zeros and "ops filters" in zeros
    assert filter_passed_missing([snapshot(None), snapshot(PASSED, 2)]) is None


class PassedBackend(FakeBackend):
    """The fake backend's snapshots with a third of each region's bytes passed."""

    def next_snapshot(self) -> Snapshot:
        snap = super().next_snapshot()
        targets = tuple(
            replace(
                t,
                sz_filter_passed=array(
                    "Q", ((e - s) // 3 for s, e in zip(t.starts, t.ends, strict=True))
                ),
            )
            for t in snap.targets
        )
        self._latest = replace(snap, targets=targets)
        return self._latest


async def test_f_toggles_the_overlay():
    async with running(fake=PassedBackend(nr_regions=12)) as h:
        await h.emit(4)
        await h.press("2")
        heatmap = h.app.heatmap
        assert heatmap.settings.overlay == "access"
        await h.press("f")
        assert heatmap.settings.overlay == "filter_passed"
        text = [s.text for s in heatmap._render_all()]
        assert text[0].startswith("Heatmap · filter-passed bytes · address order"), text[0]
        assert text[-1].startswith("passed 0%")
        newest = heatmap.model.column(
            heatmap._history[-1], heatmap._layout, heatmap._rows_height, heatmap.settings
        )
        assert all(abs(v - 1 / 3) < 0.01 for v in newest if v >= 0)
        await h.press("o")  # the order still toggles under the overlay
        assert heatmap.settings.mode == "temperature"
        assert heatmap.settings.overlay == "filter_passed"
        await h.press("f")
        assert heatmap.settings.overlay == "access"
        assert [s.text for s in heatmap._render_all()][-1].startswith("access 0%")
        assert not [n for n in h.notes if "filter-passed" in n[0]]


@pytest.mark.parametrize(
    ("backend", "words"),
    [(FakeBackend(nr_regions=12), "sz_filter_passed"), (None, "0 bytes passed")],
)
async def test_f_without_data_says_why(backend, words):
    if backend is None:  # reported, but every region reads 0
        backend = PassedBackend(nr_regions=12)
        backend.next_snapshot = lambda: zero_passed(PassedBackend.next_snapshot(backend))
    async with running(fake=backend) as h:
        await h.emit(2)
        await h.press("2", "f")
        assert h.app.heatmap.settings.overlay == "access"
        warnings = [m for m, severity in h.notes if severity == "warning"]
        assert any("No filter-passed overlay" in m and words in m for m in warnings), h.notes


def zero_passed(snap: Snapshot) -> Snapshot:
    targets = tuple(replace(t, sz_filter_passed=array("Q", [0] * len(t))) for t in snap.targets)
    return replace(snap, targets=targets)


def test_batch_heatmap_adds_the_filter_passed_block_only_with_data():
    from damontui import report

    plain = report.format_heatmap([snapshot(None, 1), snapshot(None, 2)], width=4, height=4)
    assert "filter-passed" not in plain
    zeros = report.format_heatmap([snapshot([0, 0, 0, 0])], width=4, height=4)
    assert "filter-passed" not in zeros
    text = report.format_heatmap([snapshot(PASSED, 1), snapshot(PASSED, 2)], width=2, height=4)
    access, passed = text.split("filter-passed share (sz_filter_passed per region):\n")
    rows = [line.split("|")[1] for line in passed.splitlines() if "|" in line]
    ramp = report.RAMP
    # one row per region: all passed, none, half, a quarter (the same bins as the TUI)
    assert rows == [c * 2 for c in (ramp[-1], ramp[0], ramp[len(ramp) // 2], rows[3][0])]
    assert rows[3][0] not in (ramp[0], ramp[-1])
    assert "of bytes passed the filters" in passed and "% access" in access

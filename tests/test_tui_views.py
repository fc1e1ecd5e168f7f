"""The view registry: a new view is one widget plus one ViewSpec, and the tabs, the
number keys, the command palette, the help screen and the hidden-views-skip-work
logic all pick it up. The probe view here exists only in this test."""

from __future__ import annotations

import pytest
from fake_backend import FakeBackend
from textual.widgets import Static

from damontui.analysis import HistoryFrame, SnapshotAnalysis
from damontui.model import Snapshot
from damontui.tui.app import DamonApp
from damontui.tui.header import ViewTabs
from damontui.tui.help_screen import HelpScreen, commands
from damontui.tui.registry import REGISTRY
from damontui.tui.views import View, ViewRegistry, ViewSpec


class ProbeView(Static):
    """A test-only view: records what the app hands it."""

    def __init__(self) -> None:
        super().__init__("probe")
        self.calls: list[tuple[Snapshot | None, SnapshotAnalysis | None, HistoryFrame]] = []

    def show(
        self, snapshot: Snapshot | None, analysis: SnapshotAnalysis | None, history: HistoryFrame
    ) -> None:
        self.calls.append((snapshot, analysis, history))
        self.update(f"probe: seq {snapshot.seq if snapshot else '-'}")


PROBE = ViewSpec("probe", "Probe", "A view that only the tests have", lambda app: ProbeView())


def with_probe() -> ViewRegistry:
    registry = REGISTRY.copy()
    registry.register(PROBE)
    return registry


def test_registry_keeps_order_and_unique_keys() -> None:
    registry = with_probe()
    assert registry.keys() == ["regions", "heatmap", "histograms", "schemes", "probe"]
    assert [s.key for s in registry.main_views] == ["regions", "heatmap", "histograms", "probe"]
    assert [s.key for s in registry.panels] == ["schemes"]
    assert [(b.key, b.action, b.id) for b in registry.bindings()][-1] == (
        "5", "show_view('probe')", "app.probe")  # fmt: skip
    with pytest.raises(ValueError, match="already registered"):
        registry.register(PROBE)
    with pytest.raises(ValueError, match="identifier"):
        registry.register(ViewSpec("no such", "X", "", lambda app: ProbeView()))
    early = REGISTRY.copy()
    early.register(PROBE, before="heatmap")
    assert early.keys()[:3] == ["regions", "probe", "heatmap"]
    assert "probe" not in REGISTRY  # copies leave the built-in registry alone
    assert ("Show probe", PROBE.description, "show_view('probe')") in commands(registry)
    assert ("Show/hide schemes", "DAMOS schemes editor and stats",
            "toggle_panel('schemes')") in commands(registry)  # fmt: skip


async def test_a_registered_view_gets_a_tab_a_key_help_and_data() -> None:
    fake = FakeBackend(nr_regions=12)
    app = DamonApp(fake, refresh_s=0.0, registry=with_probe())
    async with app.run_test(size=(120, 30)) as pilot:
        probe = app.view("probe")
        assert isinstance(probe, ProbeView) and isinstance(probe, View)
        fake.emit(3)
        await pilot.pause()
        assert probe.calls == []  # hidden: no work
        assert " 5 Probe " in str(app.query_one(ViewTabs).render())
        await pilot.press("5")
        await pilot.pause()
        assert app.main_view == "probe" and probe.display
        assert len(probe.calls) == 1  # caught up once when shown
        snapshot, analysis, history = probe.calls[-1]
        assert snapshot is app.displayed and snapshot is not None and snapshot.seq == 3
        assert isinstance(analysis, SnapshotAnalysis) and analysis.snapshot is snapshot
        assert analysis is app.analysis  # the one analysis every view shares
        assert [s.seq for s in history.snapshots] == [1, 2, 3] and len(history.wss) == 3
        fake.emit()
        await pilot.pause()
        assert len(probe.calls) == 2 and probe.calls[-1][0].seq == 4  # type: ignore[union-attr]
        await pilot.press("1")  # hidden again: no more calls
        fake.emit(2)
        await pilot.pause()
        assert len(probe.calls) == 2
        assert app.regions.rows is not None and app.regions.rows.total == 12
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert ("Everywhere", "5", "Probe view") in help_screen.rows
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Show probe" in titles


async def test_keymap_remaps_a_registered_view() -> None:
    fake = FakeBackend(nr_regions=6)
    app = DamonApp(fake, refresh_s=0.0, registry=with_probe(), keymap={"app.probe": "f5"})
    async with app.run_test(size=(100, 30)) as pilot:
        fake.emit()
        await pilot.press("f5")
        await pilot.pause()
        assert app.main_view == "probe"


async def test_a_bar_sees_every_displayed_snapshot_without_a_tab() -> None:
    registry = REGISTRY.copy()
    registry.register(ViewSpec("probebar", "Probe bar", "", lambda app: ProbeView(), kind="bar"))
    fake = FakeBackend(nr_regions=6)
    app = DamonApp(fake, refresh_s=0.0, registry=registry)
    async with app.run_test(size=(100, 30)) as pilot:
        bar = app.view("probebar")
        assert isinstance(bar, ProbeView)
        fake.emit(2)
        await pilot.pause()
        assert [c[0].seq for c in bar.calls if c[0] is not None] == [1, 2]
        await pilot.press("2")  # switching the main view does not hide a bar
        fake.emit()
        await pilot.pause()
        assert bar.calls[-1][0] is app.displayed
        assert "Probe bar" not in str(app.query_one(ViewTabs).render())
        assert [n for n, _ in registry.numbered()] == [1, 2, 3, 4]
        bar.display = False  # a hidden bar does no work
        fake.emit()
        await pilot.pause()
        assert bar.calls[-1][0].seq == 3  # type: ignore[union-attr]

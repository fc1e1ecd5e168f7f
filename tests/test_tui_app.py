"""Key flows of DamonApp, driven by Pilot against the deterministic fake backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fake_backend import SCHEME_ERROR, FakeBackend

from damontui.model import AccessPattern, MonitoringAttrs, Range, Scheme, Target, TargetKind
from damontui.tui.app import DamonApp
from damontui.tui.filter_screen import FilterScreen
from damontui.tui.header import StatusHeader, StatusLine
from damontui.tui.help_screen import HelpScreen
from damontui.tui.messages import ApplyAttrs, ApplySchemes, PreviewPattern, SwitchTarget
from damontui.tui.regions_view import RegionsTable

SMALL = (80, 24)
WIDE = (160, 50)


class Harness:
    """The app, its fake backend, a pilot and the notifications it showed."""

    def __init__(self, app: DamonApp, fake: FakeBackend, pilot: Any) -> None:
        self.app, self.fake, self.pilot = app, fake, pilot
        self.notes: list[tuple[str, str]] = []
        original = app.notify

        def record(message: str, **kw: Any) -> None:
            self.notes.append((message, kw.get("severity", "information")))
            original(message, **kw)

        app.notify = record  # type: ignore[method-assign]

    async def emit(self, count: int = 1) -> None:
        self.fake.emit(count)
        await self.pilot.pause()

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await self.pilot.pause()

    def order(self) -> list[int]:
        rows = self.app.regions.rows
        assert rows is not None
        return [rows.arrays.starts[i] for i in rows.order]

    def status(self) -> str:
        return str(self.app.query_one(StatusLine).render())

    def header(self) -> str:
        return str(self.app.query_one(StatusHeader).render())


@asynccontextmanager
async def running(size: tuple[int, int] = SMALL, fake: FakeBackend | None = None,
                  **kw: Any) -> AsyncIterator[Harness]:  # fmt: skip
    """The app on a fake backend with one snapshot shown; refresh 0 draws every one."""
    backend = fake or FakeBackend(nr_regions=30)
    app = DamonApp(backend, refresh_s=kw.pop("refresh_s", 0.0), **kw)
    async with app.run_test(size=size) as pilot:
        harness = Harness(app, backend, pilot)
        await harness.emit()
        yield harness
    assert backend.stopped >= 1, "the backend must be stopped on exit"


async def test_snapshot_reaches_every_visible_widget() -> None:
    async with running() as h:
        assert h.fake.started
        assert h.app.displayed is not None and h.app.displayed.seq == 1
        assert h.app.regions.rows is not None and h.app.regions.rows.total == 30
        assert "target synthetic:fake" in h.header() and "monitor cpu 1.5%" in h.header()
        assert h.status().startswith("sort temp▼ · 30/30 regions")


async def test_sort_keys_change_the_order() -> None:
    async with running() as h:
        by_temp = h.order()
        await h.press("greater_than_sign")  # temp is last: wraps to start
        assert h.app.regions.sort_key == "start"
        by_start = h.order()
        assert by_start == sorted(by_start) and by_start != by_temp
        await h.press("I")
        assert h.order() == sorted(by_start, reverse=True)
        await h.press("less_than_sign")
        assert h.app.regions.sort_key == "temp" and h.order() == by_temp
        assert "sort temp" in h.status()


async def test_clicking_a_column_header_sorts_by_it() -> None:
    async with running() as h:
        table = h.app.regions
        x = sum(c.width + 1 for c in table._columns[:3])  # mark, start, end -> size
        await h.pilot.click(RegionsTable, offset=(x + 2, 0))
        await h.pilot.pause()
        assert table.sort_key == "size" and table.descending
        await h.pilot.click(RegionsTable, offset=(x + 2, 0))
        await h.pilot.pause()
        assert table.sort_key == "size" and not table.descending


async def test_cursor_keys_move_the_highlighted_row() -> None:
    async with running() as h:
        table = h.app.regions
        await h.press("down", "down")
        assert table.cursor_row == 2
        await h.press("end")
        assert table.cursor_row == 29 and table.scroll_offset.y > 0
        await h.press("home")
        assert table.cursor_row == 0 and table.scroll_offset.y == 0
        await h.press("pagedown")
        assert table.cursor_row > 5


async def test_filter_reduces_rows_and_reports_bad_fields() -> None:
    async with running() as h:
        await h.press("slash")
        assert isinstance(h.app.screen, FilterScreen)
        await h.press(*"lots", "tab", "enter")  # bad address range
        assert isinstance(h.app.screen, FilterScreen)
        assert "address range" in str(h.app.screen.query_one("#error").render())
        h.app.screen.query_one("#range").value = ""  # type: ignore[attr-defined]
        h.app.screen.query_one("#heat").query("RadioButton")[2].value = True  # cold only
        await h.pilot.click("#apply")
        await h.pilot.pause()
        assert not isinstance(h.app.screen, FilterScreen)
        rows = h.app.regions.rows
        assert rows is not None and 0 < len(rows) < rows.total
        assert all(rows.arrays.nr_accesses[i] == 0 for i in rows.order)
        assert "filter: cold only" in h.status() and f"{len(rows)}/30" in h.status()
        await h.emit()  # the filter stays on new data
        assert h.app.regions.rows is not None and len(h.app.regions.rows) < 30
        await h.press("slash")
        await h.pilot.click("#clear")
        await h.pilot.pause()
        assert len(h.app.regions.rows) == 30


async def test_pause_freezes_the_view_while_data_keeps_coming() -> None:
    async with running() as h:
        await h.press("space")
        assert h.app.paused and "PAUSED" in h.header()
        frozen = h.order()
        await h.emit(3)
        assert h.app.latest is not None and h.app.latest.seq == 4
        assert h.app.displayed is not None and h.app.displayed.seq == 1
        assert len(h.app.history) == 4 and h.order() == frozen
        await h.press("space")
        assert not h.app.paused and h.app.displayed.seq == 4
        assert h.order() != frozen and "live" in h.header()


async def test_refresh_rate_keys_and_throttling() -> None:
    async with running(refresh_s=1.0) as h:
        await h.press("plus")
        assert h.app.refresh_s == 0.5 and "refresh 0.5 s" in h.header()
        await h.press("minus", "minus", "minus")
        assert h.app.refresh_s == 5.0
        await h.emit(3)  # within the refresh interval: not drawn yet
        assert h.app.displayed is not None and h.app.displayed.seq == 1
        assert h.app._render_timer is not None  # one timer, armed by the data
        for _ in range(9):
            await h.press("minus")
        assert h.app.refresh_s == 10.0
        for _ in range(9):
            await h.press("plus")
        assert h.app.refresh_s == 0.1


async def test_heatmap_order_toggle_zoom_and_scroll() -> None:
    async with running() as h:
        await h.emit(20)
        await h.press("2")
        heatmap = h.app.heatmap
        assert h.app.focused is heatmap and heatmap.display
        assert heatmap.settings.mode == "address"
        await h.press("o")
        assert heatmap.settings.mode == "temperature"
        await h.press("z", "z")
        assert heatmap.settings.row_zoom == 4
        await h.press("pagedown")
        assert heatmap.settings.row_scroll > 0
        await h.press("Z")
        assert heatmap.settings.row_zoom == 2
        await h.press("left_square_bracket")
        assert heatmap.settings.time_level == -1
        await h.press("right_square_bracket", "right_square_bracket")
        assert heatmap.settings.time_level == 1
        await h.press("left")
        assert heatmap.settings.time_scroll > 0
        scrolled = heatmap.settings.time_scroll
        await h.emit(2)  # new data does not move a scrolled-back view
        assert heatmap.settings.time_scroll == scrolled + 2
        await h.press("end", "0")
        assert heatmap.settings == type(heatmap.settings)(mode="temperature")
        await h.press("o")
        assert heatmap.settings.mode == "address"


async def test_heatmap_renders_rows_legend_and_preview_marks() -> None:
    async with running() as h:
        await h.emit(5)
        await h.press("2")
        strips = h.app.heatmap._render_all()
        text = [s.text for s in strips]
        assert text[0].startswith("Heatmap · address order")
        assert text[1].startswith("0x7f0000000000") and "now" in text[-2]
        assert text[-1].startswith("access 0%")
        assert not any("◀" in line for line in text)
        h.app.post_message(PreviewPattern(AccessPattern(nr_accesses=Range(0, 0))))
        await h.pilot.pause()
        text = [s.text for s in h.app.heatmap._render_all()]
        assert any(line.endswith("◀") for line in text) and "preview match" in text[-1]


async def test_views_switch_with_number_keys() -> None:
    async with running() as h:
        for key, view in (("3", "histograms"), ("2", "heatmap"), ("1", "regions")):
            await h.press(key)
            assert h.app.main_view == view and h.app.query_one(f"#{view}").display
        await h.press("4")
        assert h.app.schemes_shown
        await h.pilot.pause()
        assert not h.app.query_one("#views").display  # 80 columns: schemes take the body
        await h.press("1")
        assert not h.app.schemes_shown and h.app.query_one("#views").display
        await h.press("s")
        assert h.app.schemes_shown
        await h.press("escape")  # leaves the panel even from one of its inputs
        assert not h.app.schemes_shown and h.app.focused is h.app.regions


async def test_wide_layout_keeps_the_preview_beside_the_schemes() -> None:
    async with running(WIDE) as h:
        await h.press("4")
        await h.pilot.pause()
        assert h.app.query_one("#views").display and h.app.query_one("#schemes").display
        await h.press("2")  # switching the main view keeps the panel open
        assert h.app.schemes_shown and h.app.heatmap.display
        await h.press("s")
        assert not h.app.schemes_shown


async def test_help_lists_every_key() -> None:
    async with running() as h:
        await h.press("question_mark")
        assert isinstance(h.app.screen, HelpScreen)
        text = "\n".join(f"{keys}  {what}" for _, keys, what in h.app.screen.rows)
        for description in (
            "Quit", "Help", "Pause/resume", "Faster refresh", "Slower refresh", "Filter regions",
            "Sort by next column", "Invert sort order", "Pick the target", "Schemes view",
            "monitoring attributes", "Next theme", "Back to the main view",
            "Address/temperature order", "Zoom in rows", "Zoom out time", "Page down",
        ):  # fmt: skip
            assert description in text, description
        assert "q / f10" in text and "? / f1" in text
        await h.emit(2)  # data keeps flowing to the views under the dialog
        assert h.app.displayed is not None and h.app.displayed.seq == 3
        await h.press("escape")
        assert not isinstance(h.app.screen, HelpScreen)
        await h.press("f1")
        assert isinstance(h.app.screen, HelpScreen)


async def test_preview_pattern_marks_matching_regions() -> None:
    async with running() as h:
        idle = AccessPattern(nr_accesses=Range(0, 0))
        h.app.post_message(PreviewPattern(idle))
        await h.pilot.pause()
        rows = h.app.regions.rows
        assert rows is not None and rows.matched_count == 10
        assert "preview: 10 regions, 40.0 MiB match" in h.status()
        h.app.post_message(PreviewPattern(AccessPattern(nr_accesses=Range(1, 20))))
        await h.pilot.pause()
        assert h.app.regions.rows.matched_count == 20
        assert "preview: 20 regions, 80.0 MiB match" in h.status()
        h.app.post_message(PreviewPattern(None))
        await h.pilot.pause()
        assert h.app.regions.rows.matched is None and "preview" not in h.status()


async def test_apply_schemes_error_names_the_field() -> None:
    fake = FakeBackend(nr_regions=30, fail_schemes=SCHEME_ERROR)
    async with running(fake=fake) as h:
        h.app.post_message(ApplySchemes([Scheme()]))
        await h.pilot.pause()
        errors = [m for m, sev in h.notes if sev == "error"]
        assert errors and "quotas.reset_interval_ms" in errors[0]
        assert "unchanged" in errors[0] and fake.schemes() == ()


async def test_apply_schemes_and_attrs_reach_the_backend() -> None:
    async with running() as h:
        h.app.post_message(ApplySchemes([Scheme(name="probe")]))
        attrs = MonitoringAttrs(sample_us=10_000, aggr_us=200_000)
        h.app.post_message(ApplyAttrs(attrs))
        await h.pilot.pause()
        assert h.fake.schemes()[0].name == "probe" and h.fake.set_attrs_calls == [attrs]
        h.app.post_message(ApplyAttrs(MonitoringAttrs(sample_us=0)))
        await h.pilot.pause()
        assert any("sample_us" in m for m, sev in h.notes if sev == "error")


async def test_readonly_refuses_changes() -> None:
    async with running(readonly=True) as h:
        h.app.post_message(ApplySchemes([Scheme()]))
        h.app.post_message(SwitchTarget(Target(TargetKind.PADDR)))
        await h.pilot.pause()
        assert h.fake.schemes() == () and not h.fake.set_targets_calls
        assert "read-only" in h.header()


async def test_switch_target_keeps_the_app_running() -> None:
    async with running() as h:
        await h.emit(3)
        target = Target(TargetKind.PID, pid=4242, name="worker")
        h.app.post_message(SwitchTarget(target))
        await h.pilot.pause()
        assert h.fake.set_targets_calls == [(target,)]
        assert len(h.app.history) == 0 and h.app.is_running
        await h.emit()
        assert "pid 4242 (worker)" in h.header()
        assert h.app.latest is not None and h.app.latest.targets[0].target == target


async def test_target_and_attrs_dialogs_open() -> None:
    async with running() as h:
        await h.press("a")
        assert type(h.app.screen).__name__ == "AttrsScreen"
        await h.press("escape")
        await h.press("t")
        assert type(h.app.screen).__name__ == "TargetScreen"
        await h.press("escape")
        assert h.app.screen is h.app.screen_stack[0]


async def test_theme_switch_key_and_palette_commands() -> None:
    async with running() as h:
        before = h.app.theme
        await h.press("T")
        assert h.app.theme != before
        h.app.regions.refresh()
        await h.pilot.pause()  # renders with the new theme's styles
        titles = {c.title for c in h.app.get_system_commands(h.app.screen)}
        for title in ("Pause / resume", "Filter regions", "Show heatmap", "Next theme",
                      "Heatmap: toggle address/temperature order", "Help"):  # fmt: skip
            assert title in titles


async def test_palette_commands_run_their_actions() -> None:
    async with running() as h:
        commands = {c.title: c.callback for c in h.app.get_system_commands(h.app.screen)}
        commands["Pause / resume"]()
        await h.pilot.pause()
        assert h.app.paused
        commands["Heatmap: zoom in rows"]()
        await h.pilot.pause()
        await h.pilot.pause()
        assert h.app.main_view == "heatmap" and h.app.heatmap.settings.row_zoom == 2


async def test_backend_errors_become_notifications() -> None:
    async with running() as h:
        h.fake.error("pid 77 exited; monitoring stopped for it")
        await h.pilot.pause()
        assert ("pid 77 exited; monitoring stopped for it", "error") in h.notes


@pytest.mark.parametrize("size", [SMALL, WIDE])
async def test_histograms_view_renders(size: tuple[int, int]) -> None:
    async with running(size) as h:
        await h.emit(4)
        await h.press("3")
        from rich.console import Console

        console = Console(width=size[0], record=True)
        console.print(h.app.histograms.render())
        text = console.export_text()
        assert "Working set" in text and "Cold memory" in text and "Temperature" in text


async def test_quit_key_exits_and_stops_the_backend() -> None:
    fake = FakeBackend()
    app = DamonApp(fake)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert fake.stopped == 1 and app.return_code == 0


async def test_no_color_heatmap_uses_ramp_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with running() as h:
        assert h.app.no_color
        await h.emit(5)
        await h.press("2")
        rows = [s.text for s in h.app.heatmap._render_all()[1:-2]]
        cells = "".join(row[15:-1] for row in rows)
        assert set(cells) - {" ", "·"} and set(cells) <= set(" .:-=+*#%@·")

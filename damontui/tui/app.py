"""DamonApp: the live monitor.

One data path: the backend thread calls on_snapshot, which posts SnapshotReady
(App.post_message is thread-safe). The app stores the snapshot and its history
at once (also while paused), and renders the latest one at most once per refresh
interval: a one-shot timer armed by the arrival of data, never a fast interval,
so an idle monitor wakes up for nothing. Each render builds one SnapshotAnalysis
(analysis/) and hands it, with the snapshot and the history, to every visible view
of the registry (views.py) through the one View protocol; hidden views do no work
and catch up when shown.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.filter import LineFilter
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer

from ..analysis import HistoryFrame, RegionFilter, SnapshotAnalysis, SnapshotHistory
from ..backends.base import Backend, BackendError
from ..model import (
    DEFAULT_WEIGHTS,
    AccessPattern,
    Snapshot,
    TemperatureWeights,
)
from ..record.live import SaveKeys
from .app_changes import BackendChanges
from .app_dialogs import Dialogs
from .app_exit import ExitHandling
from .filter_screen import FilterScreen
from .header import HeaderState, StatusHeader, StatusLine, ViewTabs
from .heatmap import HeatmapView
from .help_screen import commands
from .histograms import HistogramsView
from .messages import (
    BackendNotice,
    PreviewPattern,
    SnapshotReady,
)
from .nocolor import without_colour
from .notes import NotesBar
from .regions_view import RegionsTable
from .registry import REGISTRY
from .views import View, ViewRegistry, ViewSpec

REFRESH_STEPS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
WIDE = 120  # columns from which a side panel sits beside the main view


class DamonApp(Dialogs, BackendChanges, ExitHandling, SaveKeys, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "damontui"
    # Unannotated: Textual declares it "ClassVar[...] | None", which mypy reads as an
    # instance variable; a ClassVar here would be an override error.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    # Before the registry's number keys (help lists them in this order) ...
    LEAD_BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,f10", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("space", "toggle_pause", "Pause", id="app.pause",
                tooltip="Pause/resume the view (data keeps being collected)"),
        Binding("plus", "change_refresh(-1)", "Faster refresh", id="app.faster", show=False),
        Binding("minus", "change_refresh(1)", "Slower refresh", id="app.slower", show=False),
    ]  # fmt: skip
    # ... and after them.
    TAIL_BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "toggle_panel('schemes')", "Schemes", id="app.toggle_schemes",
                tooltip="Show/hide the DAMOS schemes panel"),
        Binding("escape", "leave_panel", "Back to the main view", id="app.back", show=False),
        Binding("t", "pick_target", "Target", id="app.target",
                tooltip="Pick the target: a process, physical memory, a synthetic workload"),
        Binding("a", "edit_attrs", "Attrs", id="app.attrs",
                tooltip="Edit monitoring attributes (intervals, region bounds)"),
        Binding("T", "next_theme", "Next theme", id="app.theme", show=False),
        Binding("slash", "filter", "Filter", id="app.filter",
                tooltip="Filter regions: address range, size, temperature, hot/cold"),
        Binding("less_than_sign", "sort(-1)", "Sort by previous column", id="app.sort_prev",
                show=False),
        Binding("greater_than_sign", "sort(1)", "Sort by next column", id="app.sort_next",
                show=False),
        Binding("I", "invert_sort", "Invert sort order", id="app.invert", show=False),
        Binding("W", "save_history", "Save history to a record", id="app.save_history",
                show=False),
        Binding("S", "save_svg", "Save an SVG screenshot", id="app.screenshot", show=False),
    ]  # fmt: skip
    BINDINGS: ClassVar[list[BindingType]] = LEAD_BINDINGS + TAIL_BINDINGS

    def __init__(
        self,
        backend: Backend,
        *,
        refresh_s: float = 1.0,
        theme: str | None = None,
        readonly: bool = False,
        weights: TemperatureWeights = DEFAULT_WEIGHTS,
        notes: Sequence[str] = (),
        startup_messages: Sequence[str] = (),
        keymap: dict[str, str] | None = None,
        theme_dirs: Sequence[Path] = (),
        autostart: bool = True,
        exit_on_hangup: bool = False,
        schemes_file: Path | None = None,
        registry: ViewRegistry | None = None,
    ) -> None:
        super().__init__()
        self.registry = registry if registry is not None else REGISTRY.copy()
        # The number keys come from the registry, which a class-level BINDINGS can't
        # follow; Textual's bind() takes no binding id (needed for keymaps), so add
        # the Binding objects to this app's map directly.
        for binding in self.registry.bindings():
            self._bindings.key_to_bindings.setdefault(binding.key, []).append(binding)
        self.backend = backend
        self.schemes_file = schemes_file
        self.info = backend.info
        self.refresh_s = refresh_s
        self.readonly = readonly
        self.weights = weights
        self.notes = tuple(notes)
        self.history = SnapshotHistory()
        self.latest: Snapshot | None = None
        self.displayed: Snapshot | None = None
        self.analysis: SnapshotAnalysis | None = None  # of the displayed snapshot
        self.frame = HistoryFrame()  # the history up to the displayed snapshot
        self.paused = False
        self.pattern: AccessPattern | None = None
        self.main_view = self.registry.main_views[0].key
        self.panel: str | None = None  # the side panel shown, if any
        self._views: dict[str, Widget] = {}
        self._generation = 0  # of the displayed data: bumped by each render and preview
        self._shown: dict[str, int] = {}  # view -> the generation it shows
        self._theme_name = theme
        self._theme_dirs = tuple(theme_dirs)
        self._startup_messages = list(startup_messages)
        self._keymap = keymap or {}
        self._autostart = autostart
        self._exit_on_hangup = exit_on_hangup
        self._render_timer: Timer | None = None
        self._last_render = -1e9
        self._init_exit_handling()
        self.last_refusal = ""  # why the backend refused the last change

    def get_line_filters(self) -> Sequence[LineFilter]:
        filters = super().get_line_filters()
        return without_colour(filters) if self.no_color else filters  # no greys either

    # --- layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield ViewTabs(id="tabs")
        yield NotesBar(id="notes")
        with Horizontal(id="body"):
            with ContentSwitcher(initial=self.main_view, id="views"):
                yield from (self._build(spec) for spec in self.registry.main_views)
            yield from (self._build(spec) for spec in self.registry.panels)
        yield from (self._build(spec) for spec in self.registry.bars)
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def _build(self, spec: ViewSpec) -> Widget:
        widget = spec.build(self)
        widget.id = spec.key
        if spec.panel:
            widget.add_class("side-panel")
        self._views[spec.key] = widget
        return widget

    def view(self, key: str) -> Widget:
        """The widget of registered view `key`."""
        return self._views[key]

    @property
    def regions(self) -> RegionsTable:
        return self.query_one("#regions", RegionsTable)

    @property
    def heatmap(self) -> HeatmapView:
        return self.query_one("#heatmap", HeatmapView)

    @property
    def histograms(self) -> HistogramsView:
        return self.query_one("#histograms", HistogramsView)

    @property
    def schemes_shown(self) -> bool:
        return self.panel == "schemes"

    def on_mount(self) -> None:
        self._startup_messages += self._load_themes()
        if self._keymap:
            self.set_keymap(self._keymap)
        self._show_chrome()
        self.view(self.main_view).focus()
        self.query_one(NotesBar).show_messages(self._startup_messages)  # they stay put
        if self.info.notes:  # the header truncates them; show them in full once
            self.notify("\n".join(self.info.notes), title="Backend", markup=False, timeout=8)
        if self._exit_on_hangup:
            self._install_exit_handlers()
        if self._autostart:
            self.start_backend()

    def start_backend(self) -> None:
        try:
            self.backend.start(self._from_backend_thread, self._error_from_backend_thread)
        except BackendError as e:
            self.notify(f"monitoring did not start: {e}", severity="error", markup=False)

    # --- data from the backend thread -----------------------------------------

    def _from_backend_thread(self, snapshot: Snapshot) -> None:
        self.post_message(SnapshotReady(snapshot))

    def _error_from_backend_thread(self, text: str) -> None:
        self.post_message(BackendNotice(text, "error"))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.ingest(message.snapshot)

    def ingest(self, snapshot: Snapshot) -> None:
        """Keep the snapshot (also while paused) and schedule a render."""
        self.latest = snapshot
        self.history.append(snapshot)
        if not self.paused:
            self._schedule_render()

    def on_backend_notice(self, message: BackendNotice) -> None:
        self.notify(message.text, severity=message.severity, markup=False)

    # --- rendering at the refresh rate -----------------------------------------

    def _schedule_render(self) -> None:
        if self._render_timer is not None:
            return
        delay = self._last_render + self.refresh_s - time.monotonic()
        if delay <= 0:
            self.render_latest()
        else:
            self._render_timer = self.set_timer(delay, self.render_latest)

    def _stop_render_timer(self) -> None:
        if self._render_timer is not None:
            self._render_timer.stop()
            self._render_timer = None

    def render_latest(self) -> None:
        """Show the latest snapshot in every visible view (hidden views catch up when
        shown)."""
        self._stop_render_timer()
        self._last_render = time.monotonic()
        snap = self.latest
        if snap is None:
            return
        self.displayed = snap
        self.frame = self.history.frame()
        self.analysis = SnapshotAnalysis.of(snap, self.weights, self.pattern, self.analysis)
        self._generation += 1
        with self.batch_update():
            self._show_views()
            self._show_chrome()

    def _visible(self, spec: ViewSpec) -> bool:
        if spec.kind == "bar":
            return self._views[spec.key].display
        if spec.panel:
            return self.panel == spec.key
        return self.main_view == spec.key and (self.panel is None or self.wide)

    def _show_views(self) -> None:
        """Hand the displayed data to every visible view that does not show it yet,
        and to open live screens. Hidden views do nothing until they are shown."""
        if self.displayed is None:
            return
        for spec in self.registry:
            widget = self._views.get(spec.key)
            if not isinstance(widget, View) or not self._visible(spec):
                continue
            if self._shown.get(spec.key) != self._generation:
                self._shown[spec.key] = self._generation
                widget.show(self.displayed, self.analysis, self.frame)
        for screen in self.screen_stack[1:]:  # open dialogs that want live data
            if isinstance(screen, View):
                screen.show(self.displayed, self.analysis, self.frame)

    def _show_chrome(self) -> None:
        state = HeaderState(
            self.info, self.backend.targets(), self.refresh_s, self.paused, self.readonly,
            self.notes,
        )  # fmt: skip
        self.query_one(StatusHeader).show(state, self.displayed)
        self.query_one(ViewTabs).show(self.registry, self.main_view, self.panel)
        self._show_status()

    def _show_status(self) -> None:
        preview = None
        if self.pattern is not None and self.displayed is not None:
            analysis = SnapshotAnalysis.of(self.displayed, self.weights, self.pattern,
                                           self.analysis)  # fmt: skip
            preview = analysis.preview  # shared: computed once per snapshot
        self.query_one(StatusLine).show(self.regions.describe(), preview)

    def on_regions_table_view_changed(self, _: RegionsTable.ViewChanged) -> None:
        self._show_status()

    # --- pause and refresh rate -------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._stop_render_timer()
            self._show_chrome()
        else:
            self.render_latest()  # jump to the newest data

    def action_change_refresh(self, step: int) -> None:
        index = min(range(len(REFRESH_STEPS)), key=lambda i: abs(REFRESH_STEPS[i] - self.refresh_s))
        self.refresh_s = REFRESH_STEPS[max(0, min(len(REFRESH_STEPS) - 1, index + step))]
        if self._render_timer is not None:  # re-arm at the new rate
            self._stop_render_timer()
            self._schedule_render()
        self._show_chrome()

    # --- views --------------------------------------------------------------------

    @property
    def wide(self) -> bool:
        return self.size.width >= WIDE

    def action_show_view(self, name: str) -> None:
        if name not in self.registry:
            self.notify(f"no view called {name!r}", severity="warning", markup=False)
            return
        kind = self.registry.get(name).kind
        if kind != "main":
            if kind == "panel":
                self._set_panel(name)
            return
        self.main_view = name
        self.query_one(ContentSwitcher).current = name
        if not self.wide:
            self._set_panel(None)
        self._show_views()
        self.view(name).focus()
        self._show_chrome()

    def action_toggle_panel(self, name: str) -> None:
        self._set_panel(None if self.panel == name else name)

    def action_toggle_schemes(self) -> None:
        self.action_toggle_panel("schemes")

    def action_leave_panel(self) -> None:
        """Escape from a side panel (its inputs take every printable key)."""
        if self.query_one(NotesBar).dismiss():
            return
        if self.panel is None:
            return
        if self.wide:
            self.view(self.main_view).focus()
        else:
            self._set_panel(None)

    def action_heatmap_do(self, action: str) -> None:
        """Run a heatmap action from the command palette (showing the heatmap first)."""
        if self.main_view != "heatmap" or (self.panel is not None and not self.wide):
            self.action_show_view("heatmap")
        self.call_later(self.heatmap.run_action, action)

    def _set_panel(self, name: str | None) -> None:
        self.panel = name
        for spec in self.registry.panels:
            self.view(spec.key).set_class(spec.key == name, "-shown")
        self.query_one("#body").set_class(name is not None, "-panel")
        self._show_views()
        self.call_after_refresh(_focus_first, self.view(name or self.main_view))
        self._show_chrome()

    # --- regions table: filter and sort ----------------------------------------

    def _show_regions(self) -> None:
        if self.main_view != "regions" or (self.panel is not None and not self.wide):
            self.action_show_view("regions")

    def action_filter(self) -> None:
        def done(region_filter: RegionFilter | None) -> None:
            if region_filter is not None:
                self._show_regions()
                self.regions.set_filter(region_filter)

        self.push_screen(FilterScreen(self.regions.region_filter), done)

    def action_sort(self, step: int) -> None:
        self._show_regions()
        self.regions.cycle_sort(step)

    def action_invert_sort(self) -> None:
        self._show_regions()
        self.regions.invert_sort()

    # --- intents from the schemes panel and the dialogs -------------------------

    def on_preview_pattern(self, message: PreviewPattern) -> None:
        self.pattern = message.pattern
        if self.displayed is not None:
            self.analysis = SnapshotAnalysis.of(self.displayed, self.weights, self.pattern,
                                                self.analysis)  # fmt: skip
        self._generation += 1  # every view shows the preview: redraw them when visible
        self._show_views()
        self._show_status()

    # --- command palette --------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in commands(self.registry):
            yield SystemCommand(title, help_text, partial(self.call_later, self.run_action, action))


def _focus_first(widget: Widget) -> None:
    """Focus `widget`, or its first focusable descendant (a panel may be a container)."""
    if widget.focusable:
        widget.focus()
        return
    for child in widget.query("*"):
        if child.focusable:
            child.focus()
            return

"""DamonApp: the live monitor.

One data path: the backend thread calls on_snapshot, which posts SnapshotReady
(App.post_message is thread-safe). The app stores the snapshot and its history
at once (also while paused), and renders the latest one at most once per refresh
interval: a one-shot timer armed by the arrival of data, never a fast interval,
so an idle monitor wakes up for nothing. Views that are hidden do no work.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Static

from ..backends.base import Backend, BackendError
from ..model import (
    DEFAULT_WEIGHTS,
    AccessPattern,
    MonitoringAttrs,
    Scheme,
    Snapshot,
    Target,
    TemperatureWeights,
    ValidationError,
)
from .filter_screen import FilterScreen
from .header import HeaderState, StatusHeader, StatusLine, ViewTabs
from .heatmap import HeatmapView
from .help_screen import COMMANDS, HELP_EXTRA, HelpScreen
from .histograms import HistogramsView, SnapshotHistory
from .messages import (
    ApplyAttrs,
    ApplySchemes,
    BackendNotice,
    PreviewPattern,
    SnapshotReady,
    SwitchTarget,
)
from .regions_view import RegionFilter, RegionsTable, preview_totals

REFRESH_STEPS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
WIDE = 120  # columns from which the schemes panel sits beside the main view


class DamonApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "damontui"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (WIDE, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,f10", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("space", "toggle_pause", "Pause", id="app.pause",
                tooltip="Pause/resume the view (data keeps being collected)"),
        Binding("plus", "change_refresh(-1)", "Faster refresh", id="app.faster", show=False),
        Binding("minus", "change_refresh(1)", "Slower refresh", id="app.slower", show=False),
        Binding("1", "show_view('regions')", "Regions view", id="app.regions", show=False),
        Binding("2", "show_view('heatmap')", "Heatmap view", id="app.heatmap", show=False),
        Binding("3", "show_view('histograms')", "Histograms view", id="app.histograms",
                show=False),  # fmt: skip
        Binding("4", "show_view('schemes')", "Schemes view", id="app.schemes", show=False),
        Binding("s", "toggle_schemes", "Schemes", id="app.toggle_schemes",
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
                show=False),  # fmt: skip
        Binding("greater_than_sign", "sort(1)", "Sort by next column", id="app.sort_next",
                show=False),  # fmt: skip
        Binding("I", "invert_sort", "Invert sort order", id="app.invert", show=False),
        Binding("W", "save_history", "Save history to a record", id="app.save_history",
                show=False),  # fmt: skip
        Binding("S", "save_svg", "Save an SVG screenshot", id="app.screenshot", show=False),
    ]

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
    ) -> None:
        super().__init__()
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
        self.paused = False
        self.pattern: AccessPattern | None = None
        self.main_view = "regions"
        self.schemes_shown = False
        self._theme_name = theme
        self._theme_dirs = tuple(theme_dirs)
        self._startup_messages = list(startup_messages)
        self._keymap = keymap or {}
        self._autostart = autostart
        self._exit_on_hangup = exit_on_hangup
        self._render_timer: Timer | None = None
        self._last_render = -1e9
        self._backend_stopped = False
        self._stop_lock = threading.Lock()
        self._leaving = False

    # --- layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield ViewTabs(id="tabs")
        with Horizontal(id="body"):
            with ContentSwitcher(initial="regions", id="views"):
                yield RegionsTable(id="regions")
                yield HeatmapView(id="heatmap")
                yield HistogramsView(id="histograms")
            yield self._schemes_panel()
        yield StatusLine(id="status")
        yield Footer(compact=True)

    def _schemes_panel(self) -> Widget:
        try:
            from .schemes import SchemesPanel
        except ImportError as e:  # keep monitoring even if the editor is broken
            return Static(f"The schemes editor failed to load: {e}", id="schemes")
        return SchemesPanel(
            self.backend.schemes(),
            self.backend.attrs(),
            schemes_file=self.schemes_file,
            id="schemes",
        )

    @property
    def regions(self) -> RegionsTable:
        return self.query_one("#regions", RegionsTable)

    @property
    def heatmap(self) -> HeatmapView:
        return self.query_one("#heatmap", HeatmapView)

    @property
    def histograms(self) -> HistogramsView:
        return self.query_one("#histograms", HistogramsView)

    def on_mount(self) -> None:
        self._startup_messages += self._load_themes()
        if self._keymap:
            self.set_keymap(self._keymap)
        self.regions.set_weights(self.weights)
        self.heatmap.set_weights(self.weights)
        self.histograms.weights = self.weights
        self._show_chrome()
        self.regions.focus()
        for message in self._startup_messages:
            self.notify(message, severity="warning", markup=False, timeout=10)
        if self.info.notes:  # the header truncates them; show them in full once
            self.notify("\n".join(self.info.notes), title="Backend", markup=False, timeout=8)
        if self._exit_on_hangup:
            self._install_exit_handlers()
        if self._autostart:
            self.start_backend()

    def _load_themes(self) -> list[str]:
        """Register the shipped and user themes and pick the configured one."""
        try:
            from .themes import load_themes, select_theme
        except ImportError as e:
            return [f"themes not loaded: {e}"]
        messages = load_themes(self, self._theme_dirs)
        if self._theme_name:
            problem = select_theme(self, self._theme_name)
            messages += [problem] if problem else []
        return messages

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
        severity = message.severity if message.severity in ("information", "warning",
                                                            "error") else "warning"  # fmt: skip
        self.notify(message.text, severity=severity, markup=False)  # type: ignore[arg-type]

    # --- rendering at the refresh rate -----------------------------------------

    def _schedule_render(self) -> None:
        if self._render_timer is not None:
            return
        delay = self._last_render + self.refresh_s - time.monotonic()
        if delay <= 0:
            self.render_latest()
        else:
            self._render_timer = self.set_timer(delay, self.render_latest)

    def render_latest(self) -> None:
        """Show the latest snapshot in every visible view (hidden views catch up when
        shown)."""
        if self._render_timer is not None:
            self._render_timer.stop()
            self._render_timer = None
        self._last_render = time.monotonic()
        snap = self.latest
        if snap is None:
            return
        self.displayed = snap
        with self.batch_update():
            self.regions.set_snapshot(snap)
            self.heatmap.set_history(self.history.snapshots)
            self.histograms.set_data(snap, self.history.wss)
            self._show_chrome()
            self._forward(snap)

    def _forward(self, snapshot: Snapshot) -> None:
        """Hand the snapshot to any open screen that wants it, and to the schemes
        panel while it is shown (it catches up when shown)."""
        targets: list[object] = [*self.screen_stack[1:]]
        if self.schemes_shown:
            targets.append(self.query_one("#schemes"))
        for target in targets:
            update = getattr(target, "update_snapshot", None)
            if update is not None:
                update(snapshot)

    def _show_chrome(self) -> None:
        state = HeaderState(
            self.info, self.backend.targets(), self.refresh_s, self.paused, self.readonly,
            self.notes,
        )  # fmt: skip
        self.query_one(StatusHeader).show(state, self.displayed)
        self.query_one(ViewTabs).show(self.main_view, self.schemes_shown)
        self._show_status()

    def _show_status(self) -> None:
        preview = None
        if self.pattern is not None and self.displayed is not None:
            preview = preview_totals(self.displayed, self.pattern)  # once per snapshot
        self.query_one(StatusLine).show(self.regions.describe(), preview)

    def on_regions_table_view_changed(self, _: RegionsTable.ViewChanged) -> None:
        self._show_status()

    # --- pause and refresh rate -------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            if self._render_timer is not None:
                self._render_timer.stop()
                self._render_timer = None
            self._show_chrome()
        else:
            self.render_latest()  # jump to the newest data

    def action_change_refresh(self, step: int) -> None:
        index = min(range(len(REFRESH_STEPS)), key=lambda i: abs(REFRESH_STEPS[i] - self.refresh_s))
        self.refresh_s = REFRESH_STEPS[max(0, min(len(REFRESH_STEPS) - 1, index + step))]
        if self._render_timer is not None:  # re-arm at the new rate
            self._render_timer.stop()
            self._render_timer = None
            self._schedule_render()
        self._show_chrome()

    # --- views --------------------------------------------------------------------

    @property
    def wide(self) -> bool:
        return self.size.width >= WIDE

    def action_show_view(self, name: str) -> None:
        if name == "schemes":
            self._set_schemes_shown(True)
            return
        self.main_view = name
        self.query_one(ContentSwitcher).current = name
        if not self.wide:
            self._set_schemes_shown(False)
        self.render_displayed()
        self.query_one(f"#{name}").focus()
        self._show_chrome()

    def action_toggle_schemes(self) -> None:
        self._set_schemes_shown(not self.schemes_shown)

    def action_leave_panel(self) -> None:
        """Escape from the schemes panel (its inputs take every printable key)."""
        if not self.schemes_shown:
            return
        if self.wide:
            self.query_one(f"#{self.main_view}").focus()
        else:
            self._set_schemes_shown(False)

    def action_heatmap_do(self, action: str) -> None:
        """Run a heatmap action from the command palette (showing the heatmap first)."""
        if self.main_view != "heatmap" or (self.schemes_shown and not self.wide):
            self.action_show_view("heatmap")
        self.call_later(self.heatmap.run_action, action)

    def _set_schemes_shown(self, shown: bool) -> None:
        self.schemes_shown = shown
        self.query_one("#body").set_class(shown, "-schemes")
        target = self.query_one("#schemes" if shown else f"#{self.main_view}")
        if shown and self.displayed is not None:
            self._forward(self.displayed)
        if not shown:
            self.render_displayed()
        self.call_after_refresh(_focus_first, target)
        self._show_chrome()

    def render_displayed(self) -> None:
        """Bring the now-visible view up to the displayed snapshot (no new data)."""
        if self.displayed is None:
            return
        if self.main_view == "regions":
            self.regions.set_snapshot(self.displayed)
        elif self.main_view == "heatmap" and not self.paused:
            self.heatmap.set_history(self.history.snapshots)

    # --- regions table: filter and sort ----------------------------------------

    def _show_regions(self) -> None:
        if self.main_view != "regions" or (self.schemes_shown and not self.wide):
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
        self.regions.set_pattern(message.pattern)
        self.heatmap.set_pattern(message.pattern)
        self._show_status()

    def on_apply_schemes(self, message: ApplySchemes) -> None:
        self.apply_schemes(message.schemes)

    def apply_schemes(self, schemes: Sequence[Scheme]) -> bool:
        return self._change_backend(
            "schemes", partial(self.backend.set_schemes, schemes),
            "Schemes not applied ({}); the running schemes are unchanged.", "Invalid scheme",
            f"{len(schemes)} scheme(s) applied.",
        )  # fmt: skip

    def on_apply_attrs(self, message: ApplyAttrs) -> None:
        self.apply_attrs(message.attrs)

    def apply_attrs(self, attrs: MonitoringAttrs) -> bool:
        return self._change_backend(
            "monitoring attributes", partial(self.backend.set_attrs, attrs),
            "Attributes not applied ({}); monitoring continues unchanged.", "Invalid attributes",
            "Monitoring attributes applied.",
        )  # fmt: skip

    def on_switch_target(self, message: SwitchTarget) -> None:
        self.switch_target(message.target)

    def switch_target(self, target: Target) -> bool:
        if not self._change_backend(
            "the target", partial(self.backend.set_targets, [target]), "Target not switched ({})."
        ):
            return False
        self.history.clear()  # another address space: old columns would mislead
        self.info = self.backend.info
        self.notify(f"Now monitoring {target.label}.", markup=False)
        self._show_chrome()
        return True

    def _change_backend(self, what: str, change: Callable[[], object], failed: str,
                        title: str = "", done: str | None = None) -> bool:  # fmt: skip
        """Run `change` unless read-only; on a refusal notify `failed` (its {} is the
        error), else `done` if given. True if the backend took the change."""
        if self._refuse_readonly(what):
            return False
        try:
            change()
        except (ValidationError, BackendError) as e:
            self.notify(failed.format(e), title=title, severity="error", markup=False)
            return False
        if done is not None:
            self.notify(done, markup=False)
        return True

    def _refuse_readonly(self, what: str) -> bool:
        if self.readonly or self.info.readonly:
            self.notify(f"Read-only mode: {what} cannot be changed.", severity="warning",
                        markup=False)  # fmt: skip
            return True
        return False

    # --- dialogs owned by the schemes/attrs/targets module -----------------------

    def action_pick_target(self) -> None:
        try:
            from .target_screen import TargetScreen
        except ImportError as e:
            self.notify(f"The target picker failed to load: {e}", severity="error", markup=False)
            return
        current = self.backend.targets()
        # Physical memory is offered only where something can monitor it.
        physical = self.info.backend == "kernel" or "pageidle" in self.info.source
        screen = TargetScreen(current=current[0] if current else None, physical=physical)
        self.push_screen(screen, lambda target: self._picked_target(target))

    def _picked_target(self, target: Target | None) -> None:
        if target is not None:
            self.switch_target(target)

    def action_edit_attrs(self) -> None:
        try:
            from .attrs_screen import AttrsScreen
        except ImportError as e:
            self.notify(f"The attributes editor failed to load: {e}", severity="error",
                        markup=False)  # fmt: skip
            return
        self.push_screen(AttrsScreen(self.backend.attrs()), self._edited_attrs)

    def _edited_attrs(self, attrs: MonitoringAttrs | None) -> None:
        if attrs is not None:
            self.apply_attrs(attrs)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(help_sections(), extra=HELP_EXTRA))

    def action_save_history(self) -> None:
        from ..record.live import save_history

        save_history(self)

    def action_save_svg(self) -> None:
        from ..record.live import save_screenshot

        save_screenshot(self)

    def action_next_theme(self) -> None:
        names = sorted(self.available_themes)
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", markup=False, timeout=2)

    # --- command palette --------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in COMMANDS:
            yield SystemCommand(title, help_text, partial(self.call_later, self.run_action, action))

    # --- leaving cleanly (SSH hangups included) ----------------------------------
    # A dead terminal can block the event loop itself (Textual's output queue fills
    # once writes fail), so neither asyncio signal handlers nor app timers may run:
    # the handlers below are plain signal handlers plus a watchdog thread, and if the
    # graceful exit has not finished after EXIT_GRACE_S, the process stops the
    # backend and exits hard (dolphie #101: a TUI left behind burned a core).

    EXIT_GRACE_S = 3.0

    def _install_exit_handlers(self) -> None:
        loop = asyncio.get_running_loop()

        def on_signal(signum: int, _frame: object) -> None:
            self._leave(loop, 128 + signum)

        for signum in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(signum, on_signal)
        threading.Thread(target=self._watch_terminal, args=(loop,), name="damontui-tty",
                         daemon=True).start()  # fmt: skip

    def _leave(self, loop: asyncio.AbstractEventLoop, code: int) -> None:
        if self._leaving:
            return
        self._leaving = True

        def hard_exit() -> None:
            self.stop_backend(timeout=self.EXIT_GRACE_S)
            os._exit(code)

        timer = threading.Timer(self.EXIT_GRACE_S, hard_exit)
        timer.daemon = True
        timer.start()
        loop.call_soon_threadsafe(self._exit_now, code)

    def _exit_now(self, code: int) -> None:
        self.stop_backend()
        self.exit(return_code=code)

    def _watch_terminal(self, loop: asyncio.AbstractEventLoop) -> None:
        """Leave when the terminal is gone: a hung-up tty polls as HUP/ERR (this works
        whether or not it is our controlling terminal)."""
        poller = select.poll()
        poller.register(sys.__stdout__.fileno() if sys.__stdout__ else 1, select.POLLOUT)
        lost = select.POLLHUP | select.POLLERR | select.POLLNVAL
        while not self._leaving:
            time.sleep(1.0)
            if any(events & lost for _, events in poller.poll(0)):
                self._leave(loop, 128 + signal.SIGHUP)

    def stop_backend(self, timeout: float = -1) -> None:
        """Stop the backend once (the UI thread and the hard-exit timer may race; the
        timer gives up waiting after `timeout` seconds rather than hang)."""
        if not self._stop_lock.acquire(timeout=timeout):
            return
        try:
            if not self._backend_stopped:
                self._backend_stopped = True
                self.backend.stop()
        finally:
            self._stop_lock.release()

    def on_unmount(self) -> None:
        self.stop_backend()


def _focus_first(widget: Widget) -> None:
    """Focus `widget`, or its first focusable descendant (the schemes panel is a
    container)."""
    if widget.focusable:
        widget.focus()
        return
    for child in widget.query("*"):
        if child.focusable:
            child.focus()
            return


def help_sections() -> list[tuple[str, Sequence[BindingType]]]:
    sections: list[tuple[str, Sequence[BindingType]]] = [
        ("Everywhere", DamonApp.BINDINGS),
        ("Regions table", RegionsTable.BINDINGS),
        ("Heatmap", HeatmapView.BINDINGS),
        ("Dialogs", FilterScreen.BINDINGS),
    ]
    try:  # the editor modules load lazily; help must not depend on them
        from .attrs_screen import AttrsScreen
        from .schemes import SchemeList, SchemesPanel
        from .target_screen import TargetScreen
    except ImportError:
        return sections
    return sections + [
        ("Scheme panel", SchemesPanel.BINDINGS),
        ("Scheme list", SchemeList.BINDINGS),
        ("Attributes dialog", AttrsScreen.BINDINGS),
        ("Target picker", TargetScreen.BINDINGS),
    ]

"""Modal picker for what to monitor: a process, physical memory or a synthetic workload.

Processes are listed (psutil, i.e. /proc reads) in a worker thread, biggest RSS
first; typing filters by name, pid or user. Enter picks, Escape cancels. A process
that exited since the listing is reported by pid and the picker stays open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from ..model import SYNTHETIC_PATTERNS, Target, TargetKind
from ..model.units import format_size


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    name: str
    rss: int
    user: str
    create_time: float = 0.0  # tells a reused pid from the listed process


def list_processes() -> list[ProcessInfo]:
    """Processes with resident memory, biggest first. Blocking: call from a thread."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "memory_info", "username", "create_time"]):
        info = proc.info
        memory = info.get("memory_info")
        if memory is None or not memory.rss:  # kernel threads, or not ours to read
            continue
        found.append(
            ProcessInfo(
                info["pid"],
                info.get("name") or "?",
                memory.rss,
                info.get("username") or "?",
                info.get("create_time") or 0.0,
            )
        )
    found.sort(key=lambda p: (-p.rss, p.pid))
    return found


def process_alive(process: ProcessInfo) -> bool:
    """Is the listed process still there (and not a new one with the same pid)?"""
    try:
        created = psutil.Process(process.pid).create_time()
    except psutil.Error:
        return False
    return not process.create_time or abs(created - process.create_time) < 0.5


def _synthetic_patterns() -> list[str]:
    return list(SYNTHETIC_PATTERNS)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    cells: tuple[str, str, str, str]
    target: Target | None = None  # fixed entries
    process: ProcessInfo | None = None

    def matches(self, query: str) -> bool:
        return not query or any(query in cell.lower() for cell in self.cells)


class TargetScreen(ModalScreen[Target | None]):
    """Pick a monitoring target; dismisses with the Target, or None on Escape."""

    DEFAULT_CSS = """
    TargetScreen { align: center middle; }
    TargetScreen > Vertical { width: 78; height: 90%; border: round $primary;
                              background: $surface; }
    TargetScreen DataTable { height: 1fr; }
    TargetScreen #status { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="targets.cancel"),
        Binding("f5,ctrl+r", "refresh", "Refresh", id="targets.refresh"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
        Binding("pagedown", "move(10)", show=False),
        Binding("pageup", "move(-10)", show=False),
    ]

    class Listed(Message):
        """The worker's process list (posted from its thread)."""

        def __init__(self, processes: list[ProcessInfo] | None, error: str = "") -> None:
            self.processes = processes
            self.error = error
            super().__init__()

    def __init__(
        self,
        synthetic_patterns: Sequence[str] | None = None,
        current: Target | None = None,
        *,
        lister: Callable[[], list[ProcessInfo]] = list_processes,
        is_alive: Callable[[ProcessInfo], bool] = process_alive,
        physical: bool = True,
    ) -> None:
        super().__init__()
        patterns = _synthetic_patterns() if synthetic_patterns is None else synthetic_patterns
        self._current = current
        self._lister = lister
        self._is_alive = is_alive
        self._fixed: list[_Entry] = []
        if physical:
            self._fixed.append(
                _Entry("paddr", ("-", "physical memory", "", ""), Target(TargetKind.PADDR))
            )
        self._fixed += [
            _Entry(
                f"synthetic:{p}",
                ("-", f"synthetic: {p}", "", ""),
                Target(TargetKind.SYNTHETIC, name=p),
            )
            for p in patterns
        ]
        self._processes: list[_Entry] = []
        self._shown: list[_Entry] = []
        self._wanted = self._current_key()  # the entry the cursor goes to when shown

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Monitor what? type to filter · enter picks · f5 refreshes · esc cancels")
            yield Input(placeholder="filter by name, pid or user", id="filter", compact=True)
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.can_focus = False  # keys go to the filter; up/down move the cursor from here
            for label, width in (("pid", 8), ("name", 36), ("RSS", 11), ("user", 12)):
                table.add_column(label, width=width)
            yield table
            yield Label("listing processes…", id="status")

    def on_mount(self) -> None:
        self._show()
        self.action_refresh()

    # --- listing
    def action_refresh(self) -> None:
        self.query_one("#status", Label).update("listing processes…")
        self._list_processes()

    @work(thread=True, exclusive=True, group="target-list")
    def _list_processes(self) -> None:
        try:
            processes = self._lister()
        except (OSError, psutil.Error) as exc:
            self.post_message(self.Listed(None, str(exc)))
            return
        self.post_message(self.Listed(processes))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        status = self.query_one("#status", Label)
        if message.processes is None:
            status.update(f"cannot list processes: {message.error}")
            return
        self._processes = [
            _Entry(f"pid:{p.pid}", (str(p.pid), p.name, format_size(p.rss), p.user), process=p)
            for p in message.processes
        ]
        status.update(f"{len(self._processes)} processes with resident memory")
        self._show()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._show()

    def _show(self) -> None:
        """Rebuild the table for the current filter, keeping the highlighted entry."""
        table = self.query_one(DataTable)
        query = self.query_one("#filter", Input).value.strip().lower()
        self._shown = [e for e in [*self._fixed, *self._processes] if e.matches(query)]
        table.clear()
        cursor = 0
        for index, entry in enumerate(self._shown):
            table.add_row(*entry.cells, key=entry.key)
            if entry.key == self._wanted:
                cursor = index
        if self._shown:
            table.move_cursor(row=cursor)

    def _current_key(self) -> str:
        target = self._current
        if target is None:
            return ""
        if target.kind is TargetKind.PID:
            return f"pid:{target.pid}"
        return "paddr" if target.kind is TargetKind.PADDR else f"synthetic:{target.name}"

    def _highlighted(self) -> _Entry | None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        return self._shown[row] if 0 <= row < len(self._shown) and table.row_count else None

    # --- picking
    def action_move(self, delta: int) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))
            entry = self._highlighted()
            self._wanted = entry.key if entry else self._wanted

    @on(Input.Submitted, "#filter")
    def _submitted(self) -> None:
        self.action_pick()

    @on(DataTable.RowSelected)
    def _clicked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_pick()

    def action_pick(self) -> None:
        entry = self._highlighted()
        if entry is None:
            self.notify("nothing matches the filter", severity="warning")
            return
        if entry.target is not None:
            self.dismiss(entry.target)
            return
        process = entry.process
        assert process is not None
        if not self._is_alive(process):
            self.notify(
                f"pid {process.pid} ({process.name}) has exited; pick another", severity="warning"
            )
            self.action_refresh()
            return
        self.dismiss(Target(TargetKind.PID, pid=process.pid, name=process.name))

    def action_cancel(self) -> None:
        self.dismiss(None)

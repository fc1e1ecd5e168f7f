"""The schemes panel: the scheme list with live stats, and the editor of the selected one.

Edits stay local (drafts) until Apply posts `ApplySchemes` with every scheme;
Revert goes back to the last applied set. The panel follows the schemes the
backend reports in each snapshot unless the user has unapplied edits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.widgets import Button, DataTable, Static

from ..analysis import HistoryFrame, SnapshotAnalysis
from ..config import default_schemes_file
from ..inputs import load_schemes_file
from ..model import (
    AccessPattern,
    MonitoringAttrs,
    Scheme,
    SchemeStats,
    Snapshot,
)
from ..model import ValidationError as ModelError
from ..model.serialize import schemes_to_toml
from ..model.units import format_size
from .field_gates import Gate
from .messages import ApplySchemes
from .path_prompt import PathPrompt as PathPrompt
from .scheme_editor import SchemeEditor

# Snapshots to wait for the backend to show applied schemes before trusting it again.
PENDING_SNAPSHOTS = 5
COLUMNS = (
    ("#", 2),
    ("scheme", 14),
    ("state", 9),
    ("tried", 12),
    ("applied", 12),
    ("qt!", 3),
    ("quota", 9),
)


@dataclass
class _Row:
    scheme: Scheme
    origin: int | None  # index among the applied schemes (for its stats); None if new


class SchemeList(DataTable[str]):
    """The scheme list; its keys edit the list itself."""

    BINDINGS = [
        Binding("n,insert", "panel('add')", "New", id="schemes.add"),
        Binding("c", "panel('duplicate')", "Duplicate", id="schemes.duplicate"),
        Binding("x,delete", "panel('delete')", "Delete", id="schemes.delete"),
    ]

    async def action_panel(self, name: str) -> None:
        panel = next(a for a in self.ancestors if isinstance(a, SchemesPanel))
        await panel.run_action(name)


class SchemesPanel(Widget):
    """Scheme list with live stats, and the editor for the selected scheme."""

    DEFAULT_CSS = """
    SchemesPanel { layout: vertical; height: 1fr; }
    SchemesPanel > SchemeList { height: auto; max-height: 8; }
    SchemesPanel #match { height: 1; padding: 0 1; color: $accent; }
    SchemesPanel #buttons { height: 1; }
    SchemesPanel #buttons Button { min-width: 0; width: auto; margin-right: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", id="schemes.apply"),
        Binding("ctrl+r", "revert", "Revert", id="schemes.revert"),
        Binding("f2", "save", "Save", id="schemes.save"),
        Binding("f3", "load", "Load", id="schemes.load"),
        Binding("f6", "export_damo", "damo export", id="schemes.damo_export", show=False),
        Binding("f7", "import_damo", "damo import", id="schemes.damo_import", show=False),
    ]

    def __init__(
        self,
        schemes: Sequence[Scheme] = (),
        attrs: MonitoringAttrs | None = None,
        schemes_file: Path | None = None,
        *,
        gate: Gate | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.attrs = attrs or MonitoringAttrs()
        self.gate = gate or Gate()  # what the backend takes of the 6.17+/7.x settings
        self.schemes_file = schemes_file or default_schemes_file()
        self._applied: tuple[Scheme, ...] = tuple(schemes)
        self._rows = [_Row(s, i) for i, s in enumerate(schemes)]
        self._selected = 0
        self._snapshot: Snapshot | None = None
        self._analysis: SnapshotAnalysis | None = None
        self._pending: tuple[Scheme, ...] | None = None
        self._pending_snapshots = 0
        self._edit_errors: dict[str, str] = {}
        self._pattern: AccessPattern | None = None

    # --- public API
    @property
    def schemes(self) -> tuple[Scheme, ...]:
        """The schemes as edited (what Apply would send)."""
        return tuple(row.scheme for row in self._rows)

    @property
    def applied(self) -> tuple[Scheme, ...]:
        return self._applied

    @property
    def selected(self) -> int:
        return self._selected

    def show(
        self, snapshot: Snapshot | None, analysis: SnapshotAnalysis | None, history: HistoryFrame
    ) -> None:
        """The view protocol (tui/views.py). New data: refresh stats and the match
        preview; follow the backend's schemes. The same snapshot again (a new preview
        elsewhere) changes nothing here."""
        if snapshot is None or snapshot is self._snapshot:
            return
        self._snapshot = snapshot
        self._analysis = (
            analysis
            if analysis is not None and analysis.snapshot is snapshot
            else SnapshotAnalysis(snapshot)
        )
        if snapshot.attrs != self.attrs:
            self.set_attrs(snapshot.attrs)
        self._follow_backend(snapshot.schemes)
        self._refresh_table()
        self._refresh_match()

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        """Make `schemes` both the applied baseline and the edited list."""
        self._applied = tuple(schemes)
        self._pending = None
        self._reset_rows()

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        self.attrs = attrs
        if self.is_mounted:
            self.query_one(SchemeEditor).set_attrs(attrs)

    # --- composition
    def compose(self) -> ComposeResult:
        table = SchemeList(cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        yield table
        yield Static("", id="match")
        first = self._rows[0].scheme if self._rows else None
        yield SchemeEditor(first, self.attrs, gate=self.gate)
        with Horizontal(id="buttons"):
            for label, action in (
                ("Apply ^s", "apply"),
                ("Revert ^r", "revert"),
                ("Save F2", "save"),
                ("Load F3", "load"),
                ("New n", "add"),
                ("Copy c", "duplicate"),
                ("Del x", "delete"),
            ):
                yield Button(label, id=f"btn-{action}", compact=True)

    def on_mount(self) -> None:
        self._refresh_table()
        self.query_one(SchemeEditor).display = bool(self._rows)
        self._pattern = self._rows[0].scheme.access_pattern if self._rows else None
        self._refresh_match()

    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        button_id = event.button.id or ""
        if button_id.startswith("btn-"):
            event.stop()
            await self.run_action(button_id[4:])

    # --- list and stats
    def _state(self, index: int) -> str:
        row = self._rows[index]
        stats = self._stats(row)
        if index == self._selected and self._edit_errors:
            return "invalid"
        if row.origin is None:
            return "new"
        changed = row.origin >= len(self._applied) or self._applied[row.origin] != row.scheme
        state = "active" if stats is None or stats.active else "inactive"
        return state + ("*" if changed else "")

    def _stats(self, row: _Row) -> SchemeStats | None:
        snap = self._snapshot
        if snap is None or row.origin is None or row.origin >= len(snap.scheme_stats):
            return None
        return snap.scheme_stats[row.origin]

    def _cells(self, index: int) -> list[str]:
        row = self._rows[index]
        stats = self._stats(row)
        cells = [str(index), row.scheme.label, self._state(index)]
        if stats is None:
            return cells + ["-"] * 4
        return cells + [
            f"{stats.nr_tried} {format_size(stats.sz_tried)}",
            f"{stats.nr_applied} {format_size(stats.sz_applied)}",
            str(stats.qt_exceeds),
            format_size(stats.effective_bytes) if stats.effective_bytes else "-",
        ]

    def _refresh_table(self) -> None:
        if not self.is_mounted:
            return
        table = self.query_one(SchemeList)
        if table.row_count == len(self._rows):
            for index in range(len(self._rows)):
                for column, cell in enumerate(self._cells(index)):
                    if table.get_cell_at(Coordinate(index, column)) != cell:
                        table.update_cell_at(Coordinate(index, column), cell)
            return
        table.clear()
        for index in range(len(self._rows)):
            table.add_row(*self._cells(index))
        if self._rows:
            table.move_cursor(row=self._selected)

    def _refresh_match(self) -> None:
        if not self.is_mounted:
            return
        label = self.query_one("#match", Static)
        if getattr(self, "_refusal", ""):
            label.update(Text.assemble(("not applied: ", "bold"), self._refusal,
                                       "; the running schemes are shown"))  # fmt: skip
        elif not self._rows:
            label.update("no schemes: press n to add one")
        elif self._pattern is None:
            label.update("would match: pattern invalid")
        elif self._snapshot is None:
            label.update("would match: waiting for data")
        else:
            assert self._analysis is not None  # set with the snapshot
            # shared with the regions table and the status line: computed once
            count, nbytes = self._analysis.preview_totals(self._pattern)
            label.update(
                f"would match {count} of {self._snapshot.nr_regions} regions, "
                f"{format_size(nbytes)} now"
            )

    def _follow_backend(self, schemes: tuple[Scheme, ...]) -> None:
        """Take the backend's schemes as the applied set (and as drafts if none are edited)."""
        if schemes == self._applied:
            self._pending = None
            return
        if self._pending is not None:  # our Apply may not have reached the backend yet
            self._pending_snapshots += 1
            if self._pending_snapshots < PENDING_SNAPSHOTS:
                return
            self._pending = None
        pristine = not self._edit_errors and [(r.scheme, r.origin) for r in self._rows] == [
            (s, i) for i, s in enumerate(self._applied)
        ]
        self._applied = schemes
        if pristine:
            self._reset_rows()

    def _reset_rows(self) -> None:
        self._rows = [_Row(s, i) for i, s in enumerate(self._applied)]
        self._selected = min(self._selected, max(0, len(self._rows) - 1))
        if self.is_mounted:
            self.call_later(self._load_selected)

    # --- selection and editing
    async def _load_selected(self) -> None:
        editor = self.query_one(SchemeEditor)
        self._edit_errors = {}
        editor.display = bool(self._rows)
        if self._rows:
            scheme = self._rows[self._selected].scheme
            await editor.load(scheme)
            self._pattern = scheme.access_pattern
        self._refresh_table()
        self._refresh_match()

    async def select(self, index: int) -> None:
        """Edit scheme `index` (invalid edits to the current one are dropped, with a notice)."""
        if not 0 <= index < len(self._rows):
            return
        if self._edit_errors and index != self._selected:
            first = next(iter(self._edit_errors.values()))
            self.notify(
                f"scheme {self._selected}: invalid edits dropped ({first})", severity="warning"
            )
        self._selected = index
        await self._load_selected()

    @on(DataTable.RowHighlighted)
    async def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.cursor_row != self._selected:
            await self.select(event.cursor_row)

    @on(SchemeEditor.Changed)
    def _edited(self, event: SchemeEditor.Changed) -> None:
        event.stop()
        if not self._rows:
            return
        self._edit_errors = event.errors
        if event.scheme is not None:
            self._rows[self._selected].scheme = event.scheme
        self._pattern = event.pattern
        self._refresh_table()
        self._refresh_match()

    async def _replace_rows(self, rows: list[_Row], selected: int) -> None:
        self._rows = rows
        self._selected = max(0, min(selected, len(rows) - 1))
        await self._load_selected()

    async def action_add(self) -> None:
        scheme = Scheme(name=f"scheme {len(self._rows)}")
        await self._replace_rows([*self._rows, _Row(scheme, None)], len(self._rows))

    async def action_duplicate(self) -> None:
        if not self._rows or self._edit_errors:
            self.notify("nothing valid to duplicate", severity="warning")
            return
        source = self._rows[self._selected].scheme
        copy = _Row(replace(source, name=f"{source.label} copy"), None)
        at = self._selected + 1
        await self._replace_rows([*self._rows[:at], copy, *self._rows[at:]], at)

    async def action_delete(self) -> None:
        if self._rows:
            at = self._selected
            await self._replace_rows(self._rows[:at] + self._rows[at + 1 :], at)

    # --- apply, revert, save, load
    def refused(self, running: Sequence[Scheme], reason: str) -> None:
        """The backend refused our Apply: show what runs again, and why, at once."""
        self._applied, self._pending = tuple(running), None
        self._refusal = reason
        self._reset_rows()
        self._refresh_match()

    def action_apply(self) -> None:
        self._refusal = ""
        if self._edit_errors:
            first = next(iter(self._edit_errors.values()))
            self.notify(f"scheme {self._selected} not applied: {first}", severity="error")
            return
        schemes = self.schemes
        for index, scheme in enumerate(schemes):
            try:
                scheme.validate()
            except ModelError as exc:
                self.notify(f"scheme {index} not applied: {exc}", severity="error")
                return
            for _key, refusal in self.gate.scheme(scheme):  # e.g. loaded from a file
                self.notify(f"scheme {index} not applied: {refusal}", severity="error")
                return
        self.post_message(ApplySchemes(schemes))
        self._applied = self._pending = schemes
        self._pending_snapshots = 0
        self._rows = [_Row(s, i) for i, s in enumerate(schemes)]
        self._refresh_table()  # the app reports whether the backend took them

    async def action_revert(self) -> None:
        await self._replace_rows([_Row(s, i) for i, s in enumerate(self._applied)], self._selected)
        self.notify(f"reverted to the {len(self._applied)} applied scheme(s)")

    def action_save(self) -> None:
        self.app.push_screen(PathPrompt("Save schemes to:", self.schemes_file), self._save_to)

    def action_load(self) -> None:
        self.app.push_screen(PathPrompt("Load schemes from:", self.schemes_file), self._load_from)

    def _save_to(self, path: Path | None) -> None:
        if path is None:
            return
        if self._edit_errors:
            self.notify(
                f"scheme {self._selected} is invalid; fix it before saving", severity="error"
            )
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(schemes_to_toml(self.schemes, self.attrs), encoding="utf-8")
        except OSError as exc:
            self.notify(f"{path}: cannot save ({exc.strerror or exc})", severity="error")
            return
        self.schemes_file = path
        self.notify(f"saved {len(self._rows)} scheme(s) to {path}")

    # --- damo kdamonds JSON (damontui.formats.damo_schemes does the work)
    def action_export_damo(self) -> None:
        path = self.schemes_file.with_suffix(".damo.json")
        self.app.push_screen(PathPrompt("Export schemes as damo JSON to:", path),
                             self._export_damo_to)  # fmt: skip

    def action_import_damo(self) -> None:
        path = self.schemes_file.with_suffix(".damo.json")
        self.app.push_screen(PathPrompt("Import schemes from damo JSON:", path),
                             self._import_damo_from)  # fmt: skip

    def _export_damo_to(self, path: Path | None) -> None:
        from ..formats.damo_schemes import schemes_to_damo

        if path is None or self._edit_errors:
            if path is not None:
                self.notify(f"scheme {self._selected} is invalid; fix it first", severity="error")
            return
        snap = getattr(self, "_snapshot", None)
        targets = [t.target for t in snap.targets] if snap is not None else []
        base = getattr(self, "_damo_base", None)
        try:
            path.write_text(schemes_to_damo(self.schemes, self.attrs, base, targets) + "\n")
        except OSError as exc:
            self.notify(f"{path}: cannot write ({exc.strerror or exc})", severity="error")
            return
        self.notify(f"exported {len(self._rows)} scheme(s) as damo JSON to {path}")

    async def _import_damo_from(self, path: Path | None) -> None:
        from ..formats.damo_json import DamoJsonError
        from ..formats.damo_schemes import schemes_from_damo

        if path is None:
            return
        try:
            imported = schemes_from_damo(path.read_bytes(), self.attrs, str(path))
        except OSError as exc:
            self.notify(f"{path}: cannot read ({exc.strerror or exc})", severity="error")
            return
        except DamoJsonError as exc:
            self.notify(str(exc), severity="error")
            return
        self._damo_base = imported
        await self._replace_rows([_Row(s, None) for s in imported.schemes], 0)
        notes = "".join(f"; {n}" for n in imported.notes)
        self.notify(f"imported {len(imported.schemes)} scheme(s) from {path}{notes}; "
                    "ctrl+s applies them")  # fmt: skip

    async def _load_from(self, path: Path | None) -> None:
        if path is None:
            return
        try:  # the config's path for schemes too: any bad file is an InputError
            schemes = load_schemes_file(path, self.attrs)
        except ModelError as exc:
            self.notify(str(exc), severity="error")
            return
        self.schemes_file = path
        await self._replace_rows([_Row(s, None) for s in schemes], 0)
        self.notify(f"loaded {len(schemes)} scheme(s) from {path}; ctrl+s applies them")

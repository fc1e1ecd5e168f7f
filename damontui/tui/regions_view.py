"""The regions table: every region of the latest snapshot, sorted and filtered.

Built for 10,000+ regions refreshed several times a second: rows are sorted and
filtered once per snapshot outside rendering (regions_rows.RegionRows, over the
snapshot's analysis), and the widget is a Line-API ScrollView that only renders the
visible rows, caching each row's Strip by (data generation, width, theme, row,
cursor, focus). No DataTable.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..analysis import HistoryFrame, RegionFilter, SnapshotAnalysis, sort_key
from ..analysis.order import SORTS
from ..model import Snapshot
from .heat_styles import heat_styles, pick
from .regions_rows import RegionRows, table_columns

SORT_COLUMNS = tuple(s.column for s in SORTS)  # the sortable columns, left to right


LEFT_ALIGNED = {"mark", "start", "end"}


class RegionsTable(ScrollView, can_focus=True):
    """Line-API table of RegionRows with a keyboard cursor and a fixed header line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First row", show=False),
        Binding("end", "cursor_to(-1)", "Last row", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "regions--header",
        "regions--cursor",
        "regions--matched",
    }
    DEFAULT_CSS = """
    RegionsTable {
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;
        & > .regions--header { background: $panel; text-style: bold; }
        & > .regions--cursor { background: $block-cursor-blurred-background; }
        &:focus > .regions--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        & > .regions--matched { color: $accent; text-style: bold; }
    }
    """

    class ViewChanged(Message):
        """Sort, filter or row count changed (the status line shows them)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sort_key = "temp"  # a column of SORT_COLUMNS
        self.descending = True
        self.region_filter = RegionFilter()
        self.cursor_row = 0
        self.rows: RegionRows | None = None
        self._analysis: SnapshotAnalysis | None = None
        self._generation = 0
        self._columns = table_columns(None)
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._palette: dict[str, Style] = {}
        self._palette_key: tuple[str, bool] | None = None  # (theme, focus) of _palette

    # --- data -------------------------------------------------------------------

    def show(
        self, snapshot: Snapshot | None, analysis: SnapshotAnalysis | None, history: HistoryFrame
    ) -> None:
        """The view protocol (tui/views.py): draw this snapshot's analysis."""
        self._analysis = analysis if snapshot is not None else None
        self._rebuild()

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        if key not in SORT_COLUMNS:
            raise ValueError(f"unknown sort column {key!r}")
        self.sort_key = key
        self.descending = sort_key(key).descending if descending is None else descending
        self._rebuild()

    def cycle_sort(self, step: int) -> None:
        index = (SORT_COLUMNS.index(self.sort_key) + step) % len(SORT_COLUMNS)
        self.set_sort(SORT_COLUMNS[index])

    def invert_sort(self) -> None:
        self.set_sort(self.sort_key, not self.descending)

    def set_filter(self, region_filter: RegionFilter) -> None:
        self.region_filter = region_filter
        self._rebuild()

    def _rebuild(self) -> None:
        """Re-sort and re-filter (the app calls show() only while this view is shown)."""
        analysis = self._analysis
        self.rows = None if analysis is None else RegionRows(
            analysis, self.sort_key, self.descending, self.region_filter
        )  # fmt: skip
        self._columns = table_columns(self.rows)
        self._generation += 1
        nr_rows = len(self.rows) if self.rows else 0
        self.virtual_size = Size(sum(c.width + 1 for c in self._columns), nr_rows + 1)
        self.cursor_row = max(0, min(self.cursor_row, nr_rows - 1))
        self.refresh()
        self.post_message(self.ViewChanged())

    # --- keys and mouse ---------------------------------------------------------

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * self._page)

    def action_cursor_to(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self.rows or ()) - 1)

    def move_cursor(self, row: int) -> None:
        last = len(self.rows or ()) - 1
        self.cursor_row = max(0, min(row, last))
        top = round(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row > top + self._page - 1:
            self.scroll_to(y=self.cursor_row - self._page + 1, animate=False)
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:  # header: sort by the clicked column, again to invert
            key = self._column_at(offset.x + round(self.scroll_offset.x))
            if key == self.sort_key:
                self.invert_sort()
            elif key in SORT_COLUMNS:
                self.set_sort(key)
        else:
            self.move_cursor(round(self.scroll_offset.y) + offset.y - 1)

    def _column_at(self, x: int) -> str | None:
        for column in self._columns:
            if x < column.width + 1:
                return column.key
            x -= column.width + 1
        return None

    # --- rendering --------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._palette_key = None  # CSS changed (theme, focus): recompute the styles

    def _styles(self) -> dict[str, Style]:
        """The rendering styles, computed once per theme and focus state (resolving a
        component style walks the CSS: far too slow to do per line)."""
        key = (self.app.theme, self.has_focus)
        if self._palette_key != key:
            base = self.rich_style
            self._palette = {
                "base": base,
                "header": base + self.get_component_rich_style("regions--header"),
                "cursor": base + self.get_component_rich_style("regions--cursor"),
                "matched": self.get_component_rich_style("regions--matched"),
            }
            self._palette_key = key
        return self._palette

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = (round(v) for v in self.scroll_offset)
        width = self.scrollable_content_region.width
        base = self._styles()["base"]
        if y == 0:
            strip = self._header_strip()
        else:
            row = scroll_y + y - 1
            if self.rows is None or row >= len(self.rows):
                return Strip.blank(width, base)
            strip = self._row_strip(row)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _cache_key(self, *parts: object) -> tuple[object, ...]:
        return (self._generation, self.app.theme, self.has_focus, *parts)

    def _header_strip(self) -> Strip:
        key = self._cache_key("header", self.sort_key, self.descending)
        strip = self._strips.get(key)
        if strip is None:
            style = self._styles()["header"]
            arrow = "▼" if self.descending else "▲"
            texts = [c.title + (arrow if c.key == self.sort_key else "") for c in self._columns]
            strip = self._join(texts, [style] * len(texts), style)
            self._strips.set(key, strip)
        return strip

    def _row_strip(self, row: int) -> Strip:
        cursor = row == self.cursor_row
        key = self._cache_key(row, cursor)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        rows = self.rows
        assert rows is not None
        styles = self._styles()
        base = styles["cursor" if cursor else "base"]
        cells = rows.cells(row)
        heat_style = base + pick(heat_styles(self.app, badge=True), rows.heat(rows.order[row]))
        matched_style = base + styles["matched"]
        texts, cell_styles = [], []
        for column in self._columns:
            if column.key == "mark":
                texts.append("▶" if rows.is_matched(row) else " ")
                cell_styles.append(matched_style)
                continue
            texts.append(cells[column.key])
            cell_styles.append(heat_style if column.key == "temp" else base)
        strip = self._join(texts, cell_styles, base)
        self._strips.set(key, strip)
        return strip

    def _join(self, texts: list[str], styles: list[Style], gap_style: Style) -> Strip:
        segments = []
        for column, text, style in zip(self._columns, texts, styles, strict=True):
            text = text[: column.width]
            cell = (
                text.ljust(column.width) if column.key in LEFT_ALIGNED else text.rjust(column.width)
            )
            segments.append(Segment(cell, style))
            segments.append(Segment(" ", gap_style))
        return Strip(segments, sum(c.width + 1 for c in self._columns))

    # --- what the status line shows --------------------------------------------

    def describe(self) -> str:
        rows = self.rows
        shown = f"{len(rows)}/{rows.total}" if rows else "0/0"
        arrow = "▼" if self.descending else "▲"
        text = f"sort {self.sort_key}{arrow} · {shown} regions"
        if self.region_filter.active:
            text += f" · filter: {self.region_filter.describe()}"
        return text

"""The regions table: every region of the latest snapshot, sorted and filtered.

Built for 10,000+ regions refreshed several times a second: rows are sorted and
filtered once per snapshot outside rendering (RegionRows), and the widget is a
Line-API ScrollView that only renders the visible rows, caching each row's Strip
by (data generation, width, theme, row, cursor, focus). No DataTable.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from typing import ClassVar, Literal, TypeVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.color import Color
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import kernels
from ..model import DEFAULT_WEIGHTS, AccessPattern, Snapshot, TemperatureWeights
from ..model.units import U64_MAX, format_duration_us, format_size

try:  # the theme loader (another module) gives each theme its cold -> hot ramp
    from .themes import heat_ramp
except ImportError:  # pragma: no cover - before the theme loader existed
    heat_ramp = None

FALLBACK_RAMP = ("#1d2b55", "#2f61b8", "#3fb3b8", "#a6d654", "#f0d13a", "#f59a2c", "#c8202f")

HeatOnly = Literal["all", "hot", "cold"]
SORT_KEYS = ("start", "end", "size", "access", "age", "temp")
NATURAL_DESCENDING = {"start": False, "end": False, "size": True, "access": True}
NATURAL_DESCENDING |= {"age": True, "temp": True}

_ramp_cache: dict[tuple[str, bool], tuple[Style, ...]] = {}


def heat_styles(app: App[object], badge: bool = False) -> tuple[Style, ...]:
    """The theme's cold -> hot ramp as background styles; `badge` adds a text colour
    that contrasts with each background (for text drawn on the colour)."""
    key = (app.theme, badge)
    styles = _ramp_cache.get(key)
    if styles is None:
        ramp = heat_ramp(app) if heat_ramp is not None else FALLBACK_RAMP
        colors = [Color.parse(c) for c in ramp]
        styles = tuple(
            Style(bgcolor=c.hex, color=("#000000" if c.brightness > 0.5 else "#ffffff"))
            if badge else Style(bgcolor=c.hex)
            for c in colors
        )  # fmt: skip
        _ramp_cache[key] = styles
    return styles


def pick(styles: tuple[Style, ...], fraction: float) -> Style:
    """The ramp entry for `fraction` in 0 (cold) .. 1 (hot)."""
    return styles[max(0, min(len(styles) - 1, int(fraction * len(styles))))]


@dataclass(frozen=True)
class RegionArrays:
    """All targets' regions concatenated, shaped like the kernels' `Regions`
    (starts/ends/nr_accesses/age), so the compiled sort and match run on them."""

    starts: array
    ends: array
    nr_accesses: array
    age: array
    target_of: tuple[int, ...]  # first row of each target, for the target column

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> RegionArrays:
        targets = snapshot.targets
        if len(targets) == 1:  # the common case: share the snapshot's arrays
            t = targets[0]
            return cls(t.starts, t.ends, t.nr_accesses, t.ages, (0,))
        starts, ends, nr, ages = array("Q"), array("Q"), array("I"), array("I")
        firsts = []
        for t in targets:
            firsts.append(len(starts))
            starts.extend(t.starts)
            ends.extend(t.ends)
            nr.extend(t.nr_accesses)
            ages.extend(t.ages)
        return cls(starts, ends, nr, ages, tuple(firsts))

    def __len__(self) -> int:
        return len(self.starts)

    def target(self, index: int) -> int:
        firsts = self.target_of
        return max(k for k, first in enumerate(firsts) if first <= index)

    def temperatures(self, max_nr_accesses: int, weights: TemperatureWeights) -> array:
        return kernels.temperatures(
            self, max(1, max_nr_accesses), weights.size, weights.access_rate, weights.age
        )

    def matches(self, pattern: AccessPattern) -> bytearray:
        return kernels.match_pattern(
            self,
            pattern.sz.min,
            pattern.sz.max,
            pattern.nr_accesses.min,
            pattern.nr_accesses.max,
            pattern.age.min,
            pattern.age.max,
        )

    def matched_totals(self, matched: bytearray) -> tuple[int, int]:
        """(count, bytes) of the regions flagged in `matched`."""
        count = matched.count(1)
        if not count:
            return 0, 0
        return count, sum(compress(self.ends, matched)) - sum(compress(self.starts, matched))


_T = TypeVar("_T")


class _PerSnapshot:
    """Results derived from one snapshot that several views ask for (its concatenated
    arrays, temperatures, temperature order, preview matches): computed once per
    snapshot and shared. Holds only the latest snapshot's results; UI thread only.
    The values are shared: callers must not mutate them."""

    MAX_ENTRIES = 32  # e.g. one match per pattern typed while paused

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._values: dict[tuple[object, ...], object] = {}

    def get(self, snapshot: Snapshot, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        if snapshot is not self._snapshot:
            self._snapshot, self._values = snapshot, {}
        values = self._values
        if key not in values:
            if len(values) >= self.MAX_ENTRIES:
                values.clear()
            values[key] = compute()
        return values[key]  # type: ignore[return-value]


_per_snapshot = _PerSnapshot()


def snapshot_arrays(snapshot: Snapshot) -> RegionArrays:
    """RegionArrays.from_snapshot, once per snapshot."""
    return _per_snapshot.get(snapshot, ("arrays",), lambda: RegionArrays.from_snapshot(snapshot))


def snapshot_temperatures(snapshot: Snapshot, weights: TemperatureWeights) -> array:
    """Each region's temperature (in RegionArrays order), once per snapshot and weights."""
    return _per_snapshot.get(
        snapshot,
        ("temps", weights),
        lambda: snapshot_arrays(snapshot).temperatures(snapshot.max_nr_accesses, weights),
    )


def temperature_order(
    snapshot: Snapshot, weights: TemperatureWeights, descending: bool = True
) -> array:
    """Region indices hottest first (coldest first unless `descending`), once per snapshot."""

    def compute() -> array:
        mx = max(1, snapshot.max_nr_accesses)
        w = weights
        arrays = snapshot_arrays(snapshot)
        return kernels.temperature_order(arrays, mx, w.size, w.access_rate, w.age, descending)

    return _per_snapshot.get(snapshot, ("order", weights, descending), compute)


def match_flags(snapshot: Snapshot, pattern: AccessPattern) -> bytearray:
    """1 per region (in RegionArrays order) that `pattern` matches, once per snapshot."""
    return _per_snapshot.get(
        snapshot, ("match", pattern), lambda: snapshot_arrays(snapshot).matches(pattern)
    )


def preview_totals(snapshot: Snapshot, pattern: AccessPattern) -> tuple[int, int]:
    """(regions, bytes) of `snapshot` a scheme with `pattern` would act on (the status
    line, the regions table and the schemes panel all ask: computed once)."""
    return _per_snapshot.get(
        snapshot,
        ("totals", pattern),
        lambda: snapshot_arrays(snapshot).matched_totals(match_flags(snapshot, pattern)),
    )


@dataclass(frozen=True)
class RegionFilter:
    """Which regions the table shows; the default shows all."""

    addr_start: int = 0
    addr_end: int = U64_MAX
    min_size: int = 0
    min_temperature: float | None = None
    heat: HeatOnly = "all"  # hot: accessed in the last aggregation; cold: not

    @property
    def active(self) -> bool:
        return self != RegionFilter()

    def describe(self) -> str:
        parts = []
        if self.addr_start or self.addr_end != U64_MAX:
            parts.append(f"{self.addr_start:#x}-{self.addr_end:#x}")
        if self.min_size:
            parts.append(f">= {format_size(self.min_size)}")
        if self.min_temperature is not None:
            parts.append(f"temp >= {self.min_temperature:g}")
        if self.heat != "all":
            parts.append(f"{self.heat} only")
        return ", ".join(parts) or "none"


class RegionRows:
    """One snapshot's regions, sorted and filtered once, ready to render row by row."""

    def __init__(
        self,
        snapshot: Snapshot,
        sort_key: str = "temp",
        descending: bool | None = None,  # None: the column's natural order
        region_filter: RegionFilter = RegionFilter(),
        pattern: AccessPattern | None = None,
        weights: TemperatureWeights = DEFAULT_WEIGHTS,
    ) -> None:
        if sort_key not in SORT_KEYS:
            raise ValueError(f"sort key must be one of {', '.join(SORT_KEYS)}, not {sort_key!r}")
        self.arrays = arrays = snapshot_arrays(snapshot)
        self.max_nr = max(1, snapshot.max_nr_accesses)
        self.aggr_us = snapshot.attrs.aggr_us
        self.multi_target = len(snapshot.targets) > 1
        self.temps = snapshot_temperatures(snapshot, weights)
        self.temp_lo = min(self.temps, default=0.0)
        self.temp_hi = max(self.temps, default=0.0)
        if descending is None:
            descending = NATURAL_DESCENDING[sort_key]
        order = (
            temperature_order(snapshot, weights, descending)
            if sort_key == "temp"
            else self._sorted(sort_key, descending)
        )
        self.order = self._filtered(order, region_filter)
        self.matched = match_flags(snapshot, pattern) if pattern is not None else None
        self.matched_count, self.matched_bytes = (
            preview_totals(snapshot, pattern) if pattern is not None else (0, 0)
        )
        self.addr_width = max(10, len(f"{max(arrays.ends, default=0):#x}"))

    def __len__(self) -> int:
        return len(self.order)

    @property
    def total(self) -> int:
        return len(self.arrays)

    def _sorted(self, key: str, descending: bool) -> array:
        a = self.arrays
        column = {
            "start": a.starts,
            "end": a.ends,
            "size": [e - s for s, e in zip(a.starts, a.ends, strict=True)],
            "access": a.nr_accesses,
            "age": a.age,
        }[key]
        # Stable sort over address order: ties stay in ascending address order.
        return array("I", sorted(range(len(a)), key=column.__getitem__, reverse=descending))

    def _filtered(self, order: array, f: RegionFilter) -> array:
        if not f.active:
            return order
        a, lo, hi = self.arrays, f.addr_start, f.addr_end
        min_t = f.min_temperature if f.min_temperature is not None else float("-inf")
        keep = [
            e > lo and s < hi and e - s >= f.min_size and t >= min_t
            and (f.heat == "all" or (nr > 0) == (f.heat == "hot"))
            for s, e, nr, t in zip(a.starts, a.ends, a.nr_accesses, self.temps, strict=True)
        ]  # fmt: skip
        return array("I", (i for i in order if keep[i]))

    def heat(self, index: int) -> float:
        """Temperature of region `index` normalised to 0..1 within this snapshot."""
        span = self.temp_hi - self.temp_lo
        return (self.temps[index] - self.temp_lo) / span if span > 0 else 1.0

    def cells(self, row: int) -> dict[str, str]:
        """The text of each column for table row `row`."""
        i = self.order[row]
        a = self.arrays
        nr = a.nr_accesses[i]
        rate = min(100.0, 100.0 * nr / self.max_nr)
        return {
            "target": str(a.target(i)) if self.multi_target else "",
            "start": f"{a.starts[i]:#x}",
            "end": f"{a.ends[i]:#x}",
            "size": format_size(a.ends[i] - a.starts[i]),
            "access": f"{rate:3.0f}% {nr:>{len(str(self.max_nr))}}",
            "age": format_duration_us(a.age[i] * self.aggr_us),
            "temp": f"{self.temps[i]:.0f}",
        }

    def is_matched(self, row: int) -> bool:
        return self.matched is not None and bool(self.matched[self.order[row]])


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int


def table_columns(rows: RegionRows | None) -> list[Column]:
    addr = rows.addr_width if rows else 14
    nr_width = len(str(rows.max_nr)) if rows else 2
    columns = [Column("mark", "", 1)]
    if rows is not None and rows.multi_target:
        columns.append(Column("target", "tgt", 3))
    return columns + [
        Column("start", "start", addr),
        Column("end", "end", addr),
        Column("size", "size", 10),
        Column("access", "access", max(6, 5 + nr_width)),
        Column("age", "age", 9),
        Column("temp", "temp", 9),
    ]


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
        self.sort_key = "temp"
        self.descending = True
        self.region_filter = RegionFilter()
        self.pattern: AccessPattern | None = None
        self.weights = DEFAULT_WEIGHTS
        self.cursor_row = 0
        self.rows: RegionRows | None = None
        self._snapshot: Snapshot | None = None
        self._stale = False
        self._generation = 0
        self._columns = table_columns(None)
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._palette: dict[str, Style] = {}

    # --- data -------------------------------------------------------------------

    def set_snapshot(self, snapshot: Snapshot | None) -> None:
        self._snapshot = snapshot
        self._rebuild()

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        if key not in SORT_KEYS:
            raise ValueError(f"unknown sort column {key!r}")
        self.sort_key = key
        self.descending = NATURAL_DESCENDING[key] if descending is None else descending
        self._rebuild(force=True)

    def cycle_sort(self, step: int) -> None:
        index = (SORT_KEYS.index(self.sort_key) + step) % len(SORT_KEYS)
        self.set_sort(SORT_KEYS[index])

    def invert_sort(self) -> None:
        self.set_sort(self.sort_key, not self.descending)

    def set_filter(self, region_filter: RegionFilter) -> None:
        self.region_filter = region_filter
        self._rebuild(force=True)

    def set_pattern(self, pattern: AccessPattern | None) -> None:
        self.pattern = pattern
        self._rebuild(force=True)

    def set_weights(self, weights: TemperatureWeights) -> None:
        self.weights = weights
        self._rebuild(force=True)

    def _rebuild(self, force: bool = False) -> None:
        """Re-sort and re-filter now if shown, else when next shown (hidden is free)."""
        if not self.display and not force:
            self._stale = True
            return
        self._stale = False
        snap = self._snapshot
        self.rows = None if snap is None else RegionRows(
            snap, self.sort_key, self.descending, self.region_filter, self.pattern, self.weights
        )  # fmt: skip
        self._columns = table_columns(self.rows)
        self._generation += 1
        nr_rows = len(self.rows) if self.rows else 0
        self.virtual_size = Size(sum(c.width + 1 for c in self._columns), nr_rows + 1)
        self.cursor_row = max(0, min(self.cursor_row, nr_rows - 1))
        self.refresh()
        self.post_message(self.ViewChanged())

    def on_show(self) -> None:
        if self._stale:
            self._rebuild()

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
            elif key in SORT_KEYS:
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
        self._palette.clear()  # CSS changed (theme, focus): recompute the styles

    def _styles(self) -> dict[str, Style]:
        """The rendering styles, computed once per theme and focus state (resolving a
        component style walks the CSS: far too slow to do per line)."""
        key = (self.app.theme, self.has_focus)
        if self._palette.get("key") != key:
            base = self.rich_style
            self._palette = {
                "key": key,  # type: ignore[dict-item]
                "base": base,
                "header": base + self.get_component_rich_style("regions--header"),
                "cursor": base + self.get_component_rich_style("regions--cursor"),
                "matched": self.get_component_rich_style("regions--matched"),
            }
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
            texts = [
                c.title + (arrow if c.key == self.sort_key else "") for c in self._columns
            ]
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
            cell = text.ljust(column.width) if column.key in LEFT_ALIGNED else text.rjust(
                column.width
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

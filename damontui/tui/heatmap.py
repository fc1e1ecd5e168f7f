"""Access heatmap: time on the x axis (newest at right), memory on the y axis.

Two row orders: address order (rows are equal slices of the monitored bytes, the
gaps between mappings skipped) and damo's temperature-sorted order (each column's
regions sorted hottest first, rows are equal slices of the cumulative size, so hot
memory sits at the top). Cells are the byte-weighted access rate of their slice.

Each snapshot's column is computed once per row layout with prefix sums and
bisection (O(rows * log regions)), then cached by snapshot; a new snapshot costs
one column, and the widget's strips are rebuilt once per frame, not per line.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate, compress, islice
from operator import gt, mul, sub
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.strip import Strip
from textual.widget import Widget

from ..model import DEFAULT_WEIGHTS, AccessPattern, Snapshot, TemperatureWeights
from ..model.units import format_duration_us, format_size
from .regions_view import heat_styles, match_flags, snapshot_arrays, temperature_order

RAMP = " .:-=+*#%@"  # idle to always accessed, without colour (NO_COLOR)
NO_DATA = -1.0
MODES = ("address", "temperature")
PAGE = 4096


def access_level(value: float, levels: int) -> int:
    """Ramp index of an access fraction 0..1."""
    return max(0, min(levels - 1, int(value * levels)))


class PrefixSums:
    """Covered and weighted bytes of sorted, non-overlapping spans within any range."""

    def __init__(self, starts: Sequence[int], ends: Sequence[int], weights: Sequence[int]):
        self.starts, self.ends, self.weights = starts, ends, weights
        sizes = list(map(sub, ends, starts))
        self.cum_size = [0, *accumulate(sizes)]
        self.cum_weighted = [0, *accumulate(map(mul, sizes, weights))]

    def query(self, lo: int, hi: int) -> tuple[int, int]:
        i, j = bisect_right(self.ends, lo), bisect_left(self.starts, hi)
        if i >= j:
            return 0, 0
        size = self.cum_size[j] - self.cum_size[i]
        weighted = self.cum_weighted[j] - self.cum_weighted[i]
        head, tail = lo - self.starts[i], self.ends[j - 1] - hi
        if head > 0:
            size, weighted = size - head, weighted - head * self.weights[i]
        if tail > 0:
            size, weighted = size - tail, weighted - tail * self.weights[j - 1]
        return size, weighted


def temperature_sums(snapshot: Snapshot, weights: TemperatureWeights, flags: bytes | None = None
                     ) -> PrefixSums:  # fmt: skip
    """The snapshot's regions laid end to end hottest first, weighted by nr_accesses
    (or by `flags`, per region in address order, to locate matched bytes)."""
    arrays = snapshot_arrays(snapshot)
    order = temperature_order(snapshot, weights)
    sizes = [arrays.ends[i] - arrays.starts[i] for i in order]
    values = flags if flags is not None else arrays.nr_accesses
    cum = [0, *accumulate(sizes)]
    return PrefixSums(cum[:-1], cum[1:], [values[i] for i in order])


@dataclass(frozen=True)
class AddressLayout:
    """The monitored address ranges of a snapshot, per target, gaps removed."""

    segments: tuple[tuple[int, int, int], ...]  # (target, start, end)
    offsets: tuple[int, ...]  # compressed offset of each segment

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> AddressLayout:
        segments: list[tuple[int, int, int]] = []
        for ti, t in enumerate(snapshot.targets):
            n = len(t.starts)
            if not n:
                continue
            # regions are sorted and disjoint: a new segment starts after each gap
            gaps = compress(range(1, n), map(gt, islice(t.starts, 1, None), t.ends))
            firsts = [0, *gaps]
            lasts = [*firsts[1:], n]
            segments += [(ti, t.starts[a], t.ends[b - 1]) for a, b in zip(firsts, lasts,
                                                                          strict=True)]
        offsets = [0, *accumulate(e - s for _, s, e in segments)]
        return cls(tuple(segments), tuple(offsets))

    @property
    def total(self) -> int:
        return self.offsets[-1]

    def pieces(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Absolute (target, start, end) pieces of compressed range [lo, hi)."""
        out = []
        k = max(0, bisect_right(self.offsets, lo) - 1)
        while k < len(self.segments) and self.offsets[k] < hi:
            ti, s, e = self.segments[k]
            a, b = max(lo, self.offsets[k]), min(hi, self.offsets[k + 1])
            if a < b:
                out.append((ti, s + a - self.offsets[k], s + b - self.offsets[k]))
            k += 1
        return out

    def address_at(self, offset: int) -> tuple[int, int]:
        k = max(0, min(len(self.segments) - 1, bisect_right(self.offsets, offset) - 1))
        ti, s, _ = self.segments[k]
        return ti, s + offset - self.offsets[k]


@dataclass(frozen=True)
class HeatmapSettings:
    """What the user controls: row order, zoom and scroll on both axes."""

    mode: str = "address"
    time_level: int = 0  # >0: 2**n columns per snapshot; <0: 2**-n snapshots per column
    row_zoom: int = 1
    row_scroll: int = 0  # first visible row of height * row_zoom
    time_scroll: int = 0  # snapshots back from the newest at the right edge


class HeatmapModel:
    """Turns a history of snapshots into a grid of access fractions (see module doc)."""

    def __init__(self) -> None:
        self.weights = DEFAULT_WEIGHTS
        self._columns: dict[tuple[int, int], list[float]] = {}
        self._columns_key: tuple[object, ...] = ()

    def bins(self, total: int, height: int, s: HeatmapSettings) -> list[tuple[int, int]]:
        """Byte ranges of the visible rows, page aligned so labels read well."""
        rows, first, page = height * s.row_zoom, s.row_scroll, PAGE

        def edge(k: int) -> int:
            return total if k >= rows else total * k // rows // page * page

        return [(edge(k), edge(k + 1)) for k in range(first, first + height)]

    def column(self, snap: Snapshot, layout: AddressLayout, height: int, s: HeatmapSettings,
               flags: bytes | None = None) -> list[float]:  # fmt: skip
        """Access fraction per visible row (NO_DATA where nothing was monitored); with
        `flags`, the matched fraction of each row instead."""
        mx = max(1, snap.max_nr_accesses) if flags is None else 1
        out = []
        if s.mode == "temperature":
            sums = temperature_sums(snap, self.weights, flags)
            total = sums.cum_size[-1]
            for lo, hi in self.bins(total, height, s):
                size, weighted = sums.query(lo, hi)
                out.append(min(1.0, weighted / (size * mx)) if size else NO_DATA)
            return out
        per_target = {
            ti: PrefixSums(t.starts, t.ends, t.nr_accesses if flags is None else
                           _slice_flags(snap, ti, flags))
            for ti, t in enumerate(snap.targets)
        }  # fmt: skip
        for lo, hi in self.bins(layout.total, height, s):
            size = weighted = 0
            for ti, a, b in layout.pieces(lo, hi):
                if ti in per_target:
                    dsize, dweighted = per_target[ti].query(a, b)
                    size, weighted = size + dsize, weighted + dweighted
            out.append(min(1.0, weighted / (size * mx)) if size else NO_DATA)
        return out

    def grid(self, history: Sequence[Snapshot], layout: AddressLayout, width: int, height: int,
             s: HeatmapSettings) -> list[list[float] | None]:  # fmt: skip
        """One list of row values per screen column, left to right (None: no data)."""
        key = (s.mode, s.row_zoom, s.row_scroll, height, layout, self.weights)
        if key != self._columns_key:
            self._columns_key, self._columns = key, {}
        live = {(snap.seq, snap.elapsed_us) for snap in history}
        if len(self._columns) > 2 * len(live) + 64:  # forget snapshots that left history
            self._columns = {k: v for k, v in self._columns.items() if k in live}
        per_col, per_snap = 2 ** max(0, s.time_level), 2 ** max(0, -s.time_level)
        out: list[list[float] | None] = []
        for x in range(width):
            back = width - 1 - x
            first = s.time_scroll + (back // per_col if per_col > 1 else back * per_snap)
            group = [history[-1 - i] for i in range(first, first + per_snap) if i < len(history)]
            out.append(self._mean([self._cached(snap, layout, height, s) for snap in group]))
        return out

    def _cached(self, snap: Snapshot, layout: AddressLayout, height: int, s: HeatmapSettings
                ) -> list[float]:  # fmt: skip
        key = (snap.seq, snap.elapsed_us)
        values = self._columns.get(key)
        if values is None:
            values = self._columns[key] = self.column(snap, layout, height, s)
        return values

    @staticmethod
    def _mean(columns: list[list[float]]) -> list[float] | None:
        if not columns:
            return None
        if len(columns) == 1:
            return columns[0]
        out = []
        for cells in zip(*columns, strict=True):
            seen = [c for c in cells if c >= 0]
            out.append(sum(seen) / len(seen) if seen else NO_DATA)
        return out


def _slice_flags(snap: Snapshot, target: int, flags: bytes) -> bytes:
    first = sum(len(t) for t in snap.targets[:target])
    return flags[first : first + len(snap.targets[target])]


class HeatmapView(Widget, can_focus=True):
    """The heatmap widget: title line, rows, time axis and colour legend."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "toggle_order", "Address/temperature order"),
        Binding("left", "scroll_time(1)", "Older", show=False),
        Binding("right", "scroll_time(-1)", "Newer", show=False),
        Binding("home", "time_edge(1)", "Oldest", show=False),
        Binding("end", "time_edge(0)", "Live (newest)", show=False),
        Binding("up", "scroll_rows(-1)", "Rows up", show=False),
        Binding("down", "scroll_rows(1)", "Rows down", show=False),
        Binding("pageup", "page_rows(-1)", "Page up", show=False),
        Binding("pagedown", "page_rows(1)", "Page down", show=False),
        Binding("right_square_bracket", "zoom_time(1)", "Zoom in time", show=False),
        Binding("left_square_bracket", "zoom_time(-1)", "Zoom out time", show=False),
        Binding("z", "zoom_rows(2)", "Zoom in rows", show=False),
        Binding("Z", "zoom_rows(0.5)", "Zoom out rows", show=False),
        Binding("0", "reset_view", "Reset zoom", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"heatmap--title", "heatmap--label", "heatmap--match"}
    DEFAULT_CSS = """
    HeatmapView {
        background: $surface;
        color: $foreground;
        & > .heatmap--title { text-style: bold; }
        & > .heatmap--label { color: $foreground-muted; }
        & > .heatmap--match { color: $accent; text-style: bold; }
    }
    """
    LABEL_GAP = 1
    MAX_ROW_ZOOM = 64
    TIME_LEVELS = (-4, 2)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.settings = HeatmapSettings()
        self.model = HeatmapModel()
        self.pattern: AccessPattern | None = None
        self._history: tuple[Snapshot, ...] = ()
        self._layout: AddressLayout | None = None
        self._layout_of: Snapshot | None = None
        self._strips: list[Strip] = []
        self._strips_key: tuple[object, ...] = ()
        self._generation = 0

    # --- data -------------------------------------------------------------------

    def set_history(self, history: Sequence[Snapshot]) -> None:
        previous = self._history
        self._history = tuple(history)
        if self.settings.time_scroll and previous and self._history:
            # scrolled back: keep the same snapshots in view as new ones arrive
            newer = 0
            while newer < len(self._history) and self._history[-1 - newer] is not previous[-1]:
                newer += 1
            if newer < len(self._history):
                scroll = self.settings.time_scroll + newer
                self.settings = replace(self.settings, time_scroll=scroll)
        self._changed()

    def set_pattern(self, pattern: AccessPattern | None) -> None:
        self.pattern = pattern
        self._changed()

    def set_weights(self, weights: TemperatureWeights) -> None:
        self.model.weights = weights
        self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self.refresh()

    def _settle(self, **changes: object) -> None:
        s = replace(self.settings, **changes)  # type: ignore[arg-type]
        height = self._rows_height
        row_zoom = max(1, min(self.MAX_ROW_ZOOM, s.row_zoom))
        row_scroll = max(0, min(s.row_scroll, height * row_zoom - height))
        time_level = max(self.TIME_LEVELS[0], min(self.TIME_LEVELS[1], s.time_level))
        time_scroll = max(0, min(s.time_scroll, len(self._history) - 1))
        self.settings = replace(
            s, row_zoom=row_zoom, row_scroll=row_scroll, time_level=time_level,
            time_scroll=time_scroll,
        )  # fmt: skip
        self._changed()

    # --- actions ----------------------------------------------------------------

    def action_toggle_order(self) -> None:
        mode = MODES[(MODES.index(self.settings.mode) + 1) % len(MODES)]
        self._settle(mode=mode)

    def _snapshots_per_screen(self) -> int:
        level = self.settings.time_level
        width = max(1, self._cells_width)
        return width // 2**level if level > 0 else width * 2**-level

    def action_scroll_time(self, direction: int) -> None:
        step = max(1, self._snapshots_per_screen() // 4)
        self._settle(time_scroll=self.settings.time_scroll + direction * step)

    def action_time_edge(self, oldest: int) -> None:
        back = len(self._history) - self._snapshots_per_screen()
        self._settle(time_scroll=max(0, back) if oldest else 0)

    def action_scroll_rows(self, delta: int) -> None:
        self._settle(row_scroll=self.settings.row_scroll + delta)

    def action_page_rows(self, direction: int) -> None:
        self._settle(row_scroll=self.settings.row_scroll + direction * self._rows_height)

    def action_zoom_time(self, delta: int) -> None:
        self._settle(time_level=self.settings.time_level + delta)

    def action_zoom_rows(self, factor: float) -> None:
        s = self.settings
        zoom = max(1, min(self.MAX_ROW_ZOOM, int(s.row_zoom * factor)))
        # keep the centre row in place while zooming
        centre = (s.row_scroll + self._rows_height / 2) / s.row_zoom
        self._settle(row_zoom=zoom, row_scroll=int(centre * zoom - self._rows_height / 2))

    def action_reset_view(self) -> None:
        self._settle(time_level=0, row_zoom=1, row_scroll=0, time_scroll=0)

    # --- geometry ---------------------------------------------------------------

    @property
    def _rows_height(self) -> int:
        return max(1, self.size.height - 3)  # title, time axis, legend

    @property
    def _label_width(self) -> int:
        if self.settings.mode == "temperature":
            return 10
        end = self._layout.segments[-1][2] if self._layout and self._layout.segments else 0
        return max(10, len(f"{end:#x}"))

    @property
    def _cells_width(self) -> int:
        return max(1, self.size.width - self._label_width - self.LABEL_GAP - 1)

    # --- rendering --------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        key = (self._generation, self.size, self.app.theme, self.settings, self.has_focus)
        if key != self._strips_key:
            self._strips_key, self._strips = key, self._render_all()
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _update_layout(self) -> None:
        """The address layout of the newest snapshot (only when drawing: it walks
        every region)."""
        if not self._history:
            return
        newest = self._history[-1]
        if self._layout_of is not newest:
            self._layout_of = newest
            layout = AddressLayout.from_snapshot(newest)
            if layout != self._layout:
                self._layout = layout

    def _render_all(self) -> list[Strip]:
        self._update_layout()
        base, width = self.rich_style, self.size.width
        title_style = base + self.get_component_rich_style("heatmap--title")
        if not self._history or self._layout is None or not self._layout.total:
            return [Strip([Segment("Heatmap: waiting for data…".ljust(width), title_style)])]
        s, height, cells = self.settings, self._rows_height, self._cells_width
        grid = self.model.grid(self._history, self._layout, cells, height, s)
        matched = self._matched_rows(height)
        labels = self._labels(height)
        strips = [self._strip([(self._title(), title_style)], width, base)]
        label_style = base + self.get_component_rich_style("heatmap--label")
        match_style = base + self.get_component_rich_style("heatmap--match")
        palette = self._palette(base)
        label_width = self._label_width
        for row in range(height):
            segments = [(labels[row].rjust(label_width) + " ", label_style)]
            segments += self._cells(grid, row, base, palette)
            segments.append(("◀" if matched[row] else " ", match_style))
            strips.append(self._strip(segments, width, base))
        strips.append(self._strip([(self._axis(cells), label_style)], width, base))
        strips.append(self._strip(self._legend(base, match_style), width, base))
        return strips

    @staticmethod
    def _strip(parts: list[tuple[str, Style]], width: int, base: Style) -> Strip:
        strip = Strip([Segment(text, style) for text, style in parts])
        return strip.crop_extend(0, width, base)

    def _palette(self, base: Style) -> list[tuple[str, Style]]:
        """(cell text, style) per access level: ramp characters without colour,
        the theme's heat ramp as backgrounds otherwise."""
        if self.app.no_color:
            return [(char, base) for char in RAMP]
        return [(" ", base + style) for style in heat_styles(self.app)]

    def _cells(self, grid: list[list[float] | None], row: int, base: Style,
               palette: list[tuple[str, Style]]) -> list[tuple[str, Style]]:  # fmt: skip
        """Runs of equal cells as (text, style), so a row is a handful of segments."""
        levels = len(palette)
        runs: list[tuple[str, Style]] = []
        last, count = -3, 0
        for column in grid:
            if column is None:  # no snapshot this far back
                level = -2
            else:
                level = -1 if column[row] < 0 else access_level(column[row], levels)
            if level == last:
                count += 1
                continue
            if count:
                runs.append(self._run(palette, last, count, base))
            last, count = level, 1
        if count:
            runs.append(self._run(palette, last, count, base))
        return runs

    @staticmethod
    def _run(palette: list[tuple[str, Style]], level: int, count: int, base: Style
             ) -> tuple[str, Style]:  # fmt: skip
        if level == -2:
            return " " * count, base
        if level == -1:  # a slice no region covered in that snapshot
            return "·" * count, base
        text, style = palette[level]
        return text * count, style

    def _matched_rows(self, height: int) -> list[bool]:
        if self.pattern is None:
            return [False] * height
        newest = self._history[-1 - min(self.settings.time_scroll, len(self._history) - 1)]
        flags = match_flags(newest, self.pattern)
        assert self._layout is not None
        values = self.model.column(newest, self._layout, height, self.settings, flags)
        return [v > 0 for v in values]

    def _labels(self, height: int) -> list[str]:
        assert self._layout is not None
        s = self.settings
        if s.mode == "temperature":
            total = sum(t.total_size for t in self._history[-1].targets)
            return [format_size(lo) for lo, _ in self.model.bins(total, height, s)]
        multi = len({ti for ti, _, _ in self._layout.segments}) > 1
        labels = []
        for lo, _ in self.model.bins(self._layout.total, height, s):
            ti, addr = self._layout.address_at(lo)
            labels.append(f"{ti}:{addr:#x}" if multi else f"{addr:#x}")
        return labels

    def _title(self) -> str:
        s = self.settings
        order = "address order" if s.mode == "address" else "temperature order (hottest top)"
        per = (f"{2**s.time_level} col/snapshot" if s.time_level > 0
               else f"{2**-s.time_level} snapshot/col")  # fmt: skip
        return f"Heatmap · {order} · rows ×{s.row_zoom} · {per} · o: order  z/Z [/]: zoom"

    def _axis(self, cells: int) -> str:
        """Age of the oldest shown column (at its x) and of the right edge."""
        history, s = self._history, self.settings
        last = len(history) - 1
        right = min(s.time_scroll, last)
        left = min(last, right + self._snapshots_per_screen() - 1)
        newest = history[-1].elapsed_us

        def age(index: int) -> str:
            back_us = newest - history[-1 - index].elapsed_us
            return "now" if index == 0 else f"-{format_duration_us(back_us)}"

        span = left - right + 1
        used = span * 2**s.time_level if s.time_level > 0 else -(-span // 2**-s.time_level)
        left_text, right_text = age(left), age(right)
        line = [" "] * cells
        line[cells - len(right_text) :] = right_text[-cells:]
        start = max(0, min(cells - used, cells - len(right_text) - len(left_text) - 1))
        if start + len(left_text) < cells - len(right_text):
            line[start : start + len(left_text)] = left_text
        return " " * (self._label_width + self.LABEL_GAP) + "".join(line)

    def _legend(self, base: Style, match_style: Style) -> list[tuple[str, Style]]:
        parts: list[tuple[str, Style]] = [("access 0% ", base)]
        palette = self._palette(base)
        for level in range(len(palette)):
            parts.append(self._run(palette, level, 2 if len(palette) < 12 else 1, base))
        parts.append((" 100%  · no data", base))
        if self.pattern is not None:
            parts.append(("  ◀ preview match", match_style))
        return parts

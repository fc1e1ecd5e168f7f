"""Access heatmap widget: time on the x axis (newest at right), memory on the y
axis, in address order or damo's temperature order. The binning is the analysis
layer's (analysis/heatmap.py, shared with batch mode); this module draws it, caching
the strips once per frame, not per line.  `f` switches the cells from the access
rate to the filter-passed share (per-region sz_filter_passed of kernel tried
regions); where no region reports it, a notification says why and nothing changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.strip import Strip
from textual.widget import Widget

from ..analysis import (
    MODES,
    OVERLAYS,
    RAMP,
    AddressLayout,
    HeatmapModel,
    HeatmapSettings,
    HistoryFrame,
    SnapshotAnalysis,
    bucket,
    filter_passed_missing,
)
from ..model import AccessPattern, Snapshot
from ..model.units import format_duration_us, format_size
from .heat_styles import heat_styles


class HeatmapView(Widget, can_focus=True):
    """The heatmap widget: title line, rows, time axis and colour legend."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "toggle_order", "Order", tooltip="Address/temperature order"),
        Binding(
            "f",
            "toggle_overlay",
            "Filter-passed",
            tooltip="Filter-passed overlay: share of bytes that passed the scheme's filters",
        ),
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
        self._analysis: SnapshotAnalysis | None = None
        self._history: tuple[Snapshot, ...] = ()
        self._layout: AddressLayout | None = None
        self._layout_of: Snapshot | None = None
        self._strips: list[Strip] = []
        self._strips_key: tuple[object, ...] = ()
        self._generation = 0

    # --- data -------------------------------------------------------------------

    def show(
        self, snapshot: Snapshot | None, analysis: SnapshotAnalysis | None, history: HistoryFrame
    ) -> None:
        """The view protocol (tui/views.py): the history up to the displayed snapshot,
        the analysis' weights and preview pattern."""
        self._analysis = analysis
        if analysis is not None:
            self.pattern = analysis.pattern
            self.model.weights = analysis.weights
        previous = self._history
        self._history = history.snapshots
        if self.settings.time_scroll and previous and self._history:
            # scrolled back: keep the same snapshots in view as new ones arrive
            newer = 0
            while newer < len(self._history) and self._history[-1 - newer] is not previous[-1]:
                newer += 1
            if newer < len(self._history):
                scroll = self.settings.time_scroll + newer
                self.settings = replace(self.settings, time_scroll=scroll)
        self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self.refresh()

    def _settle(self, **changes: Any) -> None:
        s = replace(self.settings, **changes)
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

    def action_toggle_overlay(self) -> None:
        overlay = OVERLAYS[(OVERLAYS.index(self.settings.overlay) + 1) % len(OVERLAYS)]
        if overlay == "filter_passed":
            why = filter_passed_missing(self._history)
            if why is not None:
                self.notify(f"No filter-passed overlay: {why}", severity="warning", markup=False)
                return
        self._settle(overlay=overlay)

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
        grid = self.model.grid(self._history, self._layout, cells, height, s, self._analysis)
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
                level = -1 if column[row] < 0 else bucket(column[row], levels)
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
        analysis = self._analysis
        if analysis is None or analysis.snapshot is not newest:
            analysis = SnapshotAnalysis(newest, self.model.weights)
        flags = analysis.matches(self.pattern)
        assert self._layout is not None
        values = self.model.column(newest, self._layout, height, self.settings, flags, analysis)
        return [v > 0 for v in values]

    def _labels(self, height: int) -> list[str]:
        assert self._layout is not None
        s = self.settings
        if s.mode == "temperature":
            total = sum(t.total_size for t in self._history[-1].targets)
            return [format_size(lo) for lo, _ in self.model.bins(total, height, s)]
        layout = self._layout
        return [layout.label(lo) for lo, _ in self.model.bins(layout.total, height, s)]

    def _title(self) -> str:
        s = self.settings
        order = "address order" if s.mode == "address" else "temperature order (hottest top)"
        per = (f"{2**s.time_level} col/snapshot" if s.time_level > 0
               else f"{2**-s.time_level} snapshot/col")  # fmt: skip
        if s.overlay == "filter_passed":
            return f"Heatmap · filter-passed bytes · {order} · rows ×{s.row_zoom} · f: access"
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
        what = "passed" if self.settings.overlay == "filter_passed" else "access"
        parts: list[tuple[str, Style]] = [(f"{what} 0% ", base)]
        palette = self._palette(base)
        for level in range(len(palette)):
            parts.append(self._run(palette, level, 2 if len(palette) < 12 else 1, base))
        parts.append((" 100%  · no data", base))
        if self.pattern is not None:
            parts.append(("  ◀ preview match", match_style))
        return parts

"""The Histograms view: working-set size over time, cold-memory tail (recency) and
temperature distribution. The numbers come from the analysis layer
(analysis/history.py); this module draws them."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from ..analysis import (
    HistoryFrame,
    SnapshotAnalysis,
    WssPoint,
    recency_histogram,
    temperature_histogram,
)
from ..model import Snapshot
from ..model.units import format_duration_us, format_size
from .heat_styles import heat_styles, pick
from .regions_rows import format_temperature

SPARK = " ▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int, height: int = 1) -> list[str]:
    """`height` lines of block characters for the last `width` values (0 at bottom)."""
    values = list(values)[-width:]
    top = max(values, default=0) or 1
    levels = len(SPARK) - 1
    lines = []
    for line in range(height - 1, -1, -1):  # top line first
        chars = []
        for v in values:
            cell = v / top * height * levels - line * levels
            chars.append(SPARK[max(0, min(levels, round(cell)))])
        lines.append("".join(chars))
    return lines


def _bar(fraction: float, width: int) -> str:
    full = max(0, min(width, round(fraction * width)))
    return "█" * full + "░" * (width - full)


class HistogramsView(Widget):
    """Renders the three charts from the latest snapshot and the WSS series."""

    DEFAULT_CSS = """
    HistogramsView { background: $surface; color: $foreground; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._analysis: SnapshotAnalysis | None = None
        self._wss: tuple[WssPoint, ...] = ()

    def show(
        self, snapshot: Snapshot | None, analysis: SnapshotAnalysis | None, history: HistoryFrame
    ) -> None:
        """The view protocol (tui/views.py): the snapshot's analysis and the WSS series."""
        self._analysis = analysis if snapshot is not None else None
        self._wss = history.wss
        self.refresh()

    def render(self) -> RenderableType:
        analysis = self._analysis
        if analysis is None:
            return Text("Histograms: waiting for data…")
        snap = analysis.snapshot
        width, height = self.size.width, self.size.height
        wide = width >= 120
        column_width = (width - 2) // 2 if wide else width
        spark_height = 4 if height >= 30 else 1
        rows = max(3, (height - 4 - spark_height) // (1 if wide else 2) - 1)
        recency = self._recency(snap, column_width, rows)
        temperature = self._temperature(analysis, column_width, min(rows, 8))
        parts: list[RenderableType] = [self._wss_chart(width, spark_height)]
        if wide:
            grid = Table.grid(padding=(0, 2))
            grid.add_row(recency, temperature)
            parts.append(grid)
        else:
            parts += [recency, temperature]
        return Group(*parts)

    def _wss_chart(self, width: int, height: int) -> Text:
        points = self._wss
        text = Text()
        if not points:
            return text
        now = points[-1]
        share = now.wss_bytes / now.total_bytes if now.total_bytes else 0.0
        low = min(p.wss_bytes for p in points[-width:])
        high = max(p.wss_bytes for p in points[-width:])
        text.append("Working set ", style="bold")
        text.append(
            f"(bytes accessed per aggregation): {format_size(now.wss_bytes)} of "
            f"{format_size(now.total_bytes)} ({share:.0%}) · min {format_size(low)} "
            f"max {format_size(high)}\n"
        )
        for line in sparkline([p.wss_bytes for p in points], width, height):
            text.append(line + "\n", style="bold")
        return text

    def _recency(self, snap: Snapshot, width: int, rows: int) -> Text:
        total = sum(t.total_size for t in snap.targets) or 1
        buckets = recency_histogram(snap)
        if len(buckets) > rows:  # keep "any idle" and the longest thresholds
            buckets = [buckets[0], *buckets[len(buckets) - rows + 1 :]]
        text = Text.assemble(("Cold memory", "bold"), " (bytes idle for at least…)\n")
        labels = [f"≥ {format_duration_us(th)}" if th else "idle now" for th, _ in buckets]
        label_width = max(len(x) for x in labels)
        bar_width = max(4, width - label_width - 20)
        for label, (_, nbytes) in zip(labels, buckets, strict=True):
            text.append(f"{label:>{label_width}} ")
            text.append(_bar(nbytes / total, bar_width), style=Style(color="#2f93d0"))
            text.append(f" {format_size(nbytes):>10} {nbytes / total:4.0%}\n")
        return text

    def _temperature(self, analysis: SnapshotAnalysis, width: int, rows: int) -> Text:
        total = sum(t.total_size for t in analysis.snapshot.targets) or 1
        bins = temperature_histogram(analysis, nr_bins=rows)
        text = Text.assemble(("Temperature", "bold"), " (bytes per range, hottest first)\n")
        labels = [f"{format_temperature(lo)}..{format_temperature(hi)}" for lo, hi, _ in bins]
        label_width = max((len(x) for x in labels), default=0)
        bar_width = max(4, width - label_width - 20)
        for k, (label, (_, _, nbytes)) in enumerate(zip(labels, bins, strict=True)):
            heat = 1.0 - k / max(1, len(bins) - 1)
            text.append(f"{label:>{label_width}} ")
            color = pick(heat_styles(self.app), heat).bgcolor
            text.append(_bar(nbytes / total, bar_width), style=Style(color=color))
            text.append(f" {format_size(nbytes):>10} {nbytes / total:4.0%}\n")
        return text

"""Snapshot history plus the Histograms view: cold-memory tail (recency),
temperature distribution and working-set size over time."""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from ..model import DEFAULT_WEIGHTS, Snapshot, TemperatureWeights
from ..model.units import format_duration_us, format_size
from .regions_view import heat_styles, pick, snapshot_arrays, snapshot_temperatures

SPARK = " ▁▂▃▄▅▆▇█"
RECENCY_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 36_000)


@dataclass(frozen=True)
class WssPoint:
    elapsed_us: int
    wss_bytes: int  # bytes accessed in the snapshot's aggregation (nr_accesses > 0)
    total_bytes: int


def working_set(snapshot: Snapshot) -> WssPoint:
    wss = total = 0
    for t in snapshot.targets:  # C-level loops: this runs for every snapshot
        total += sum(t.ends) - sum(t.starts)
        wss += sum(compress(t.ends, t.nr_accesses)) - sum(compress(t.starts, t.nr_accesses))
    return WssPoint(snapshot.elapsed_us, wss, total)


class SnapshotHistory:
    """Bounded history: at most `max_snapshots`, and at most `max_regions` regions in
    all (10,000-region snapshots would otherwise hold ~120 MB), plus a longer,
    cheap series of working-set sizes."""

    def __init__(
        self, max_snapshots: int = 512, max_regions: int = 1_000_000, wss_points: int = 2048
    ) -> None:
        self.max_snapshots = max_snapshots
        self.max_regions = max_regions
        self.snapshots: deque[Snapshot] = deque()
        self.wss: deque[WssPoint] = deque(maxlen=wss_points)
        self._regions = 0

    def __len__(self) -> int:
        return len(self.snapshots)

    def append(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)
        self._regions += snapshot.nr_regions
        while len(self.snapshots) > 1 and (
            len(self.snapshots) > self.max_snapshots or self._regions > self.max_regions
        ):
            self._regions -= self.snapshots.popleft().nr_regions
        self.wss.append(working_set(snapshot))

    def clear(self) -> None:
        self.snapshots.clear()
        self.wss.clear()
        self._regions = 0


def recency_histogram(snapshot: Snapshot) -> list[tuple[int, int]]:
    """(threshold_us, bytes idle for at least that long), from 0 up to the oldest idle
    age; idle means no access seen in the last aggregation (nr_accesses == 0)."""
    aggr = snapshot.attrs.aggr_us
    idle: list[tuple[int, int]] = []
    for t in snapshot.targets:
        idle += [(age, e - s) for s, e, nr, age in zip(t.starts, t.ends, t.nr_accesses, t.ages,
                 strict=True) if not nr]  # fmt: skip
    oldest = max((age for age, _ in idle), default=0)
    thresholds = [0] + [step for step in RECENCY_STEPS if step <= max(1, oldest)]
    per_bucket = [0] * len(thresholds)
    for age, size in idle:
        per_bucket[bisect_right(thresholds, age) - 1] += size
    at_least = list(accumulate(reversed(per_bucket)))[::-1]
    return [(th * aggr, nbytes) for th, nbytes in zip(thresholds, at_least, strict=True)]


def temperature_histogram(
    snapshot: Snapshot, weights: TemperatureWeights = DEFAULT_WEIGHTS, nr_bins: int = 8
) -> list[tuple[float, float, int]]:
    """(low, high, bytes) of equal temperature ranges, hottest first."""
    arrays = snapshot_arrays(snapshot)
    if not len(arrays):
        return []
    temps = snapshot_temperatures(snapshot, weights)
    lo, hi = min(temps), max(temps)
    span = (hi - lo) or 1.0
    per_bin = [0] * nr_bins
    for s, e, t in zip(arrays.starts, arrays.ends, temps, strict=True):
        per_bin[min(nr_bins - 1, int((t - lo) / span * nr_bins))] += e - s
    edges = [lo + span * k / nr_bins for k in range(nr_bins + 1)]
    return [(edges[k], edges[k + 1], per_bin[k]) for k in reversed(range(nr_bins))]


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
        self.weights = DEFAULT_WEIGHTS
        self._snapshot: Snapshot | None = None
        self._wss: tuple[WssPoint, ...] = ()

    def set_data(self, snapshot: Snapshot | None, wss: Sequence[WssPoint]) -> None:
        self._snapshot, self._wss = snapshot, tuple(wss)
        self.refresh()

    def render(self) -> RenderableType:
        snap = self._snapshot
        if snap is None:
            return Text("Histograms: waiting for data…")
        width, height = self.size.width, self.size.height
        wide = width >= 120
        column_width = (width - 2) // 2 if wide else width
        spark_height = 4 if height >= 30 else 1
        rows = max(3, (height - 4 - spark_height) // (1 if wide else 2) - 1)
        recency = self._recency(snap, column_width, rows)
        temperature = self._temperature(snap, column_width, min(rows, 8))
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

    def _temperature(self, snap: Snapshot, width: int, rows: int) -> Text:
        total = sum(t.total_size for t in snap.targets) or 1
        bins = temperature_histogram(snap, self.weights, rows)
        text = Text.assemble(("Temperature", "bold"), " (bytes per range, hottest first)\n")
        labels = [f"{lo:.0f}..{hi:.0f}" for lo, hi, _ in bins]
        label_width = max((len(x) for x in labels), default=0)
        bar_width = max(4, width - label_width - 20)
        for k, (label, (_, _, nbytes)) in enumerate(zip(labels, bins, strict=True)):
            heat = 1.0 - k / max(1, len(bins) - 1)
            text.append(f"{label:>{label_width}} ")
            color = pick(heat_styles(self.app), heat).bgcolor
            text.append(_bar(nbytes / total, bar_width), style=Style(color=color))
            text.append(f" {format_size(nbytes):>10} {nbytes / total:4.0%}\n")
        return text

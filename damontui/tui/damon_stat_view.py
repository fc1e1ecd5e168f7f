"""The DAMON_STAT view: DAMON_STAT's own results, read-only (idle-time percentile
curve, estimated memory bandwidth over time, aggregation interval, its kdamond's
pid and CPU use).  Data arrives as snapshots from the DAMON_STAT backend
(backends/damon_stat.py); the text comes from damon_stat_text (shared with
batch mode).  The view never reads sysfs.

``damon_stat_registry()`` puts the view first in the app's view registry when
damontui opens on DAMON_STAT (no target given while DAMON_STAT runs, or
``--backend damon_stat``).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..analysis import HistoryFrame, SnapshotAnalysis
from ..damon_stat_text import (
    format_bandwidth,
    idle_curve_rows,
    share_idle_at_least,
    sparkline,
    summary_line,
)
from ..model import Snapshot
from ..model.damon_stat import DamonStatSample
from ..model.units import format_duration_us
from .registry import REGISTRY
from .views import ViewRegistry, ViewSpec

CURVE_KEYS = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100)


def view_text(sample: DamonStatSample | None, width: int, notes: tuple[str, ...] = ()) -> Text:
    """Everything the view shows, for a terminal `width` columns wide."""
    out = Text()
    if sample is None:
        out.append("waiting for DAMON_STAT's first sample…", style="italic")
        return out
    out.append(summary_line(sample) + "\n", style="bold")
    for note in notes:
        out.append(f"note: {note}\n", style="italic")
    out.append(f"\nestimated memory bandwidth: {format_bandwidth(sample.bandwidth_bps)}\n")
    history = [bw for _, bw in sample.bandwidth_history]
    spark_w = max(10, width - 12)
    if len(history) > 1:
        span = (
            sample.bandwidth_history[-1][0]
            - sample.bandwidth_history[-min(len(history), spark_w)][0]
        )
        out.append(f"  {sparkline(history, spark_w)}\n", style="cyan")
        out.append(
            f"  last {format_duration_us(span * 1e6)}, max "
            f"{format_bandwidth(max(history[-spark_w:]))}\n",
            style="dim",
        )
    out.append("\nidle time by share of memory (memory_idle_ms_percentiles)\n", style="bold")
    if not sample.has_percentiles:
        out.append("  not readable on this kernel\n", style="italic")
        return out
    bar_w = max(10, width - 30)
    for label, bar, value in idle_curve_rows(sample.idle_ms_percentiles, bar_w, CURVE_KEYS):
        out.append(f"  {label} ")
        out.append(f"{bar:<{bar_w}}", style="green" if bar.startswith("█") else "red")
        out.append(f" {value}\n")
    out.append("  █ idle for that long   ▒ accessed for that long (log scale)\n", style="dim")
    p = sample.idle_ms_percentiles
    out.append(
        f"\n  idle >= 1 s: {share_idle_at_least(p, 1_000):.0f}% of memory · idle >= 1 m: "
        f"{share_idle_at_least(p, 60_000):.0f}% · idle >= 10 m: "
        f"{share_idle_at_least(p, 600_000):.0f}%\n"
    )
    return out


class DamonStatView(Widget):
    """Renders the latest DAMON_STAT sample (fed by set_snapshot)."""

    DEFAULT_CSS = "DamonStatView { height: 1fr; padding: 0 1; }"

    def __init__(self, notes: tuple[str, ...] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sample: DamonStatSample | None = None
        self.notes = notes

    def set_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.damon_stat is not None:
            self.sample = snapshot.damon_stat
            self.refresh()

    def show(
        self, snapshot: Snapshot | None, analysis: SnapshotAnalysis | None, history: HistoryFrame
    ) -> None:
        """The registry's View protocol (views.py)."""
        if snapshot is not None:
            self.set_snapshot(snapshot)

    def render(self) -> Text:
        return view_text(self.sample, self.size.width or 80, self.notes)


def damon_stat_registry() -> ViewRegistry:
    """The app's views with the DAMON_STAT view first (the one shown at start) -
    used when the backend is DAMON_STAT's (cli.py); other backends don't list it."""
    registry = REGISTRY.copy()
    registry.register(
        ViewSpec(
            "damon_stat",
            "DAMON_STAT",
            "DAMON_STAT's own results, read-only: idle-time percentiles, bandwidth",
            lambda app: DamonStatView(app.backend.info.notes),
        ),
        before=registry.keys()[0],
    )
    return registry

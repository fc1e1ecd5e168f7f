"""Pure analysis and text formatting of DAMON_STAT samples (no I/O): shared by
batch mode (``--once``) and the TUI's DAMON_STAT view.

``memory_idle_ms_percentiles`` holds 101 values: value p is the idle time (ms)
that p % of the memory does not exceed.  Negative values (6.18+) are memory
found accessed, for that long."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .model.damon_stat import DamonStatSample
from .model.units import format_duration_us, format_size

KEY_PERCENTILES = (0, 5, 10, 25, 50, 75, 90, 95, 99, 100)
SPARK = "▁▂▃▄▅▆▇█"


def format_idle_ms(ms: int) -> str:
    """'12.3 s idle', 'accessed 2 s' (negative), 'accessed now' (0)."""
    if ms == 0:
        return "accessed now"
    if ms < 0:
        return f"accessed {format_duration_us(-ms * 1000)}"
    return f"{format_duration_us(ms * 1000)} idle"


def format_bandwidth(bps: int | None) -> str:
    return "unknown" if bps is None else f"{format_size(bps)}/s"


def share_idle_at_least(percentiles: Sequence[int], ms: int) -> float:
    """Percent of memory idle for at least `ms` milliseconds (from the curve)."""
    if len(percentiles) != 101:
        return float("nan")
    below = sum(1 for v in percentiles if v < ms)  # percentiles are non-decreasing
    return float(max(0, 101 - below) * 100 / 101)


def idle_bar(ms: int, max_abs_ms: int, width: int) -> str:
    """A bar for one percentile: log-scaled length; '█' idle, '▒' accessed."""
    if width <= 0 or ms == 0 or max_abs_ms <= 0:
        return ""
    frac = math.log1p(abs(ms)) / math.log1p(max_abs_ms)
    return ("█" if ms > 0 else "▒") * max(1, round(frac * width))


def idle_curve_rows(
    percentiles: Sequence[int], width: int = 40, keys: Sequence[int] = KEY_PERCENTILES
) -> list[tuple[str, str, str]]:
    """(label, bar, value) rows of the idle-time curve at the key percentiles."""
    if len(percentiles) != 101:
        return []
    top = max(abs(v) for v in percentiles) or 1
    return [
        (f"p{p:<3}", idle_bar(percentiles[p], top, width), format_idle_ms(percentiles[p]))
        for p in keys
    ]


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as block characters, scaled to their maximum."""
    vals = list(values)[-width:] if width > 0 else []
    if not vals:
        return ""
    top = max(vals)
    if top <= 0:
        return SPARK[0] * len(vals)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in vals)


def summary_line(s: DamonStatSample) -> str:
    """DAMON_STAT's state in one line (the line naming DAMON_STAT in batch mode)."""
    state = "enabled" if s.enabled else "disabled (values are the last it published)"
    pid = f"kdamond pid {s.kdamond_pid}" if s.kdamond_pid else "kdamond pid unknown"
    aggr = (
        format_duration_us(s.aggr_interval_us)
        if s.aggr_interval_us
        else "not exposed by this kernel"
    )
    return (
        f"DAMON_STAT (in-kernel, read-only): {state}; {pid}, cpu {s.cpu_percent:.1f}%; "
        f"aggregation interval {aggr} (auto-tuned)"
    )


def format_report(s: DamonStatSample, width: int = 100) -> str:
    """The text batch mode prints for a DAMON_STAT sample."""
    bar_w = max(10, min(50, width - 40))
    lines = [summary_line(s), f"estimated memory bandwidth: {format_bandwidth(s.bandwidth_bps)}"]
    history = [bw for _, bw in s.bandwidth_history]
    if len(history) > 1:
        span = s.bandwidth_history[-1][0] - s.bandwidth_history[0][0]
        lines.append(
            f"bandwidth over the last {format_duration_us(span * 1e6)}: "
            f"{sparkline(history, bar_w)} (max {format_bandwidth(max(history))})"
        )
    lines.append("")
    if not s.has_percentiles:
        lines.append("memory idle time percentiles: not readable")
        return "\n".join(lines)
    p = s.idle_ms_percentiles
    lines.append(
        "memory idle time percentiles (memory_idle_ms_percentiles; p50 = half of "
        "the memory is idle at most that long):"
    )
    for label, bar, value in idle_curve_rows(p, bar_w):
        lines.append(f"  {label} {bar:<{bar_w}} {value}")
    for ms in (1_000, 60_000):
        share = share_idle_at_least(p, ms)
        lines.append(f"  idle >= {format_duration_us(ms * 1000)}: {share:.0f}% of memory")
    return "\n".join(lines)

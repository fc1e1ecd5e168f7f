"""DAMON_STAT's read-only outputs, as one immutable sample (no I/O here).

DAMON_STAT (mm/damon/stat.c) monitors the whole physical memory with an
exclusive kdamond and publishes module parameters: ``enabled``,
``aggr_interval_us`` (its auto-tuned aggregation interval),
``estimated_memory_bandwidth`` (bytes per second) and
``memory_idle_ms_percentiles`` (101 values: the 0th..100th percentile of the
idle time of memory, in ms; since 6.18 accessed memory counts negative, minus
how long it has been accessed), and ``kdamond_pid`` (7.1+)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DamonStatSample:
    timestamp: float  # wall clock seconds
    enabled: bool
    kdamond_pid: int | None
    aggr_interval_us: int | None  # None: this kernel does not expose it (< 6.18)
    bandwidth_bps: int | None  # estimated memory bandwidth, bytes per second
    idle_ms_percentiles: tuple[int, ...]  # 101 values, or () when unreadable
    cpu_percent: float = 0.0  # DAMON_STAT's kdamond, since the previous sample
    bandwidth_history: tuple[tuple[float, int], ...] = ()  # (timestamp, bytes/s), oldest first

    @property
    def has_percentiles(self) -> bool:
        return len(self.idle_ms_percentiles) == 101

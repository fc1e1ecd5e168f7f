"""Snapshot history and what is derived over it: the working set over time, and
per snapshot the cold-memory (idle time) and temperature histograms."""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from itertools import accumulate, compress

from ..model import DEFAULT_WEIGHTS, Snapshot, TemperatureWeights
from .snapshot import SnapshotAnalysis

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


@dataclass(frozen=True)
class HistoryFrame:
    """An immutable view of the history at one render: what views draw from."""

    snapshots: tuple[Snapshot, ...] = ()
    wss: tuple[WssPoint, ...] = ()


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

    def frame(self) -> HistoryFrame:
        return HistoryFrame(tuple(self.snapshots), tuple(self.wss))


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
    snapshot: Snapshot | SnapshotAnalysis,
    weights: TemperatureWeights = DEFAULT_WEIGHTS,
    nr_bins: int = 8,
) -> list[tuple[float, float, int]]:
    """(low, high, bytes) of equal temperature ranges, hottest first (the weights of
    an analysis passed in are its own)."""
    analysis = (
        snapshot if isinstance(snapshot, SnapshotAnalysis) else SnapshotAnalysis(snapshot, weights)
    )
    arrays = analysis.arrays
    if not len(arrays):
        return []
    temps = analysis.temperatures
    lo, hi = analysis.temperature_range
    span = (hi - lo) or 1.0
    per_bin = [0] * nr_bins
    for s, e, t in zip(arrays.starts, arrays.ends, temps, strict=True):
        per_bin[min(nr_bins - 1, int((t - lo) / span * nr_bins))] += e - s
    edges = [lo + span * k / nr_bins for k in range(nr_bins + 1)]
    return [(edges[k], edges[k + 1], per_bin[k]) for k in reversed(range(nr_bins))]

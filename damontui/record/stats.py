"""Pure statistics over snapshots for `damontui report` (and easy to redirect to
damontui.analysis once it lands): temperature, idle time, percentiles, working
set size. Every function takes snapshots and returns numbers; no I/O. Temperature
and access rate are damontui.analysis's."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..analysis import access_rate as analysis_access_rate
from ..analysis import region_temperature
from ..model import DEFAULT_WEIGHTS, Region, Snapshot, TemperatureWeights

PERCENTILES = (0, 1, 5, 25, 50, 75, 95, 99, 100)


def regions_of(snap: Snapshot) -> list[tuple[int, Region]]:
    """(target index, region) for every region of the snapshot, in address order."""
    return [(ti, t.region(i)) for ti, t in enumerate(snap.targets) for i in range(len(t))]


def age_us(snap: Snapshot, region: Region) -> int:
    """The region's age in microseconds (the model counts aggregation intervals)."""
    return region.age * snap.attrs.aggr_us


def temperature(
    snap: Snapshot, region: Region, weights: TemperatureWeights = DEFAULT_WEIGHTS
) -> float:
    """damo's temperature, the analysis layer's one definition (table, heatmap, JSON)."""
    return float(region_temperature(region, snap.attrs, weights))


def access_rate(snap: Snapshot, region: Region) -> float:
    """Percent of the aggregation's samples that found the region accessed (capped)."""
    return analysis_access_rate(region.nr_accesses, snap.max_nr_accesses)


def idle_time_us(snap: Snapshot, region: Region) -> int:
    """DAMON_STAT's idle time: the age of an idle region, minus the age of an accessed one
    (how long it has been accessed)."""
    age = age_us(snap, region)
    return -age if region.nr_accesses > 0 else age


def recency_us(snap: Snapshot, region: Region) -> int:
    """Time since the region was last seen accessed: 0 when accessed in the last aggregation."""
    return 0 if region.nr_accesses > 0 else age_us(snap, region)


def weighted_percentiles(
    pairs: Iterable[tuple[float, int]], percentiles: Sequence[int] = PERCENTILES
) -> list[tuple[int, float]]:
    """Byte-weighted percentiles of (value, bytes) pairs: the value below which
    p % of the bytes lie. Empty input gives an empty list."""
    items = sorted(pairs)
    total = sum(w for _, w in items)
    if not total:
        return []
    out = []
    for p in percentiles:
        goal = total * p / 100
        acc = 0
        value = items[-1][0]
        for v, w in items:
            acc += w
            if acc >= goal and w:
                value = v
                break
        out.append((p, value))
    return out


def region_percentiles(
    snap: Snapshot, metric: Callable[[Snapshot, Region], float]
) -> list[tuple[int, float]]:
    return weighted_percentiles((metric(snap, r), r.size) for _, r in regions_of(snap))


def wss_bytes(snap: Snapshot, min_nr_accesses: int = 1) -> int:
    """Working set size: bytes of regions accessed at least `min_nr_accesses` times."""
    return sum(
        t.ends[i] - t.starts[i]
        for t in snap.targets
        for i in range(len(t))
        if t.nr_accesses[i] >= min_nr_accesses
    )


def wss_percentiles(
    snaps: Sequence[Snapshot], percentiles: Sequence[int] = PERCENTILES
) -> list[tuple[int, float]]:
    """Percentiles of the working set size across snapshots (each snapshot counts once)."""
    return weighted_percentiles(((wss_bytes(s), 1) for s in snaps), percentiles)


def cold_tail(snap: Snapshot, steps: int = 8) -> list[tuple[int, int]]:
    """(idle time threshold us, bytes idle at least that long) from the coldest bytes,
    at `steps` thresholds spread over the idle times present."""
    idle = sorted(
        {recency_us(snap, r) for _, r in regions_of(snap) if r.nr_accesses == 0}, reverse=True
    )
    if not idle:
        return []
    picks = sorted({idle[len(idle) * k // steps] for k in range(steps)}, reverse=True)
    pairs = [(recency_us(snap, r), r.size) for _, r in regions_of(snap) if r.nr_accesses == 0]
    return [(t, sum(w for v, w in pairs if v >= t)) for t in picks]


def sort_regions(
    snap: Snapshot, key: str, weights: TemperatureWeights = DEFAULT_WEIGHTS
) -> list[tuple[int, Region]]:
    """Regions in `key` order: address ascending, the others highest first."""
    rows = regions_of(snap)
    if key == "address":
        return rows
    keys: dict[str, Callable[[Region], float]] = {
        "temperature": lambda r: temperature(snap, r, weights),
        "access": lambda r: r.nr_accesses,
        "age": lambda r: r.age,
        "size": lambda r: r.size,
    }
    metric = keys[key]
    return sorted(rows, key=lambda row: (-metric(row[1]), row[0], row[1].start))

"""Heatmap binning: time on one axis, memory on the other, each cell the
byte-weighted access rate of its slice. Used by the TUI's heatmap and by batch
mode's text heatmap alike.

Two overlays: the access rate (default) and the filter-passed share (each cell the
share of its bytes that passed the scheme's filters: kernel tried regions'
sz_filter_passed, 6.14+).

Two row orders: address order (rows are equal slices of the monitored bytes, the
gaps between mappings skipped) and damo's temperature-sorted order (each column's
regions sorted hottest first, rows are equal slices of the cumulative size, so hot
memory sits at the top). A column is computed with prefix sums and bisection
(O(rows * log regions)); HeatmapModel caches columns by snapshot, so a new
snapshot costs one column.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, islice
from operator import gt, mul, sub

from ..model import DEFAULT_WEIGHTS, Snapshot, TemperatureWeights
from .snapshot import SnapshotAnalysis

NO_DATA = -1.0
MODES = ("address", "temperature")
OVERLAYS = ("access", "filter_passed")
PAGE = 4096


class PrefixSums:
    """Covered and weighted bytes of sorted, non-overlapping spans within any range."""

    def __init__(self, starts: Sequence[int], ends: Sequence[int], weights: Sequence[float]):
        self.starts, self.ends, self.weights = starts, ends, weights
        sizes = list(map(sub, ends, starts))
        self.cum_size = [0, *accumulate(sizes)]
        self.cum_weighted = [0, *accumulate(map(mul, sizes, weights))]

    def query(self, lo: int, hi: int) -> tuple[int, float]:
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


def temperature_sums(
    analysis: SnapshotAnalysis, flags: Sequence[float] | None = None
) -> PrefixSums:
    """The snapshot's regions laid end to end hottest first, weighted by nr_accesses
    (or by `flags`, per region in address order, to locate matched bytes)."""
    arrays = analysis.arrays
    order = analysis.temperature_order()
    sizes = [arrays.ends[i] - arrays.starts[i] for i in order]
    values = flags if flags is not None else arrays.nr_accesses
    cum = [0, *accumulate(sizes)]
    return PrefixSums(cum[:-1], cum[1:], [values[i] for i in order])


def passed_shares(snap: Snapshot) -> list[float] | None:
    """Per region (all targets, in `SnapshotAnalysis.arrays` order) the share of its
    bytes that passed the scheme's filters (sz_filter_passed / size, 0..1); None
    when a target doesn't report sz_filter_passed."""
    out: list[float] = []
    for t in snap.targets:
        passed = t.sz_filter_passed
        if passed is None:
            return None
        out += [
            min(1.0, p / (e - s)) if e > s else 0.0
            for p, s, e in zip(passed, t.starts, t.ends, strict=True)
        ]
    return out if snap.targets else None


def filter_passed_missing(snapshots: Sequence[Snapshot]) -> str | None:
    """Why a filter-passed overlay of `snapshots` would be empty, or None when some
    region reports bytes that passed."""
    if not snapshots:
        return "no snapshot yet"
    columns = (t.sz_filter_passed for s in snapshots for t in s.targets)
    reported = [passed for passed in columns if passed is not None]
    if not reported:
        return (
            "no per-region sz_filter_passed from this source: only kernel DAMON 6.14+ "
            "reports it, in tried regions (not the user-space engine, older kernels, or "
            "DAMON_STAT)"
        )
    if not any(any(passed) for passed in reported):
        return (
            "every region reads 0 bytes passed: the scheme whose tried regions are shown "
            "has no ops filters (anon, memcg, young, ...), or nothing passed them"
        )
    return None


@dataclass(frozen=True)
class AddressLayout:
    """The monitored address ranges of snapshots, per target, gaps removed."""

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
            segments += [
                (ti, t.starts[a], t.ends[b - 1]) for a, b in zip(firsts, lasts, strict=True)
            ]
        return cls._of(segments)

    @classmethod
    def from_snapshots(cls, snapshots: Sequence[Snapshot]) -> AddressLayout:
        """The union of the snapshots' layouts (batch mode draws a whole history)."""
        if len(snapshots) == 1:
            return cls.from_snapshot(snapshots[0])
        spans = sorted({seg for s in snapshots for seg in cls.from_snapshot(s).segments})
        merged: list[tuple[int, int, int]] = []
        for ti, s, e in spans:
            if merged and merged[-1][0] == ti and s <= merged[-1][2]:
                merged[-1] = (ti, merged[-1][1], max(e, merged[-1][2]))
            else:
                merged.append((ti, s, e))
        return cls._of(merged)

    @classmethod
    def _of(cls, segments: list[tuple[int, int, int]]) -> AddressLayout:
        offsets = [0, *accumulate(e - s for _, s, e in segments)]
        return cls(tuple(segments), tuple(offsets))

    @property
    def total(self) -> int:
        return self.offsets[-1]

    @property
    def multi_target(self) -> bool:
        return len({ti for ti, _, _ in self.segments}) > 1

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

    def label(self, offset: int) -> str:
        """The address at `offset`, prefixed by its target when there are several."""
        ti, addr = self.address_at(offset)
        return f"{ti}:{addr:#x}" if self.multi_target else f"{addr:#x}"


@dataclass(frozen=True)
class HeatmapSettings:
    """The binning the viewer chose: row order, zoom and scroll on both axes."""

    mode: str = "address"
    overlay: str = "access"  # or filter_passed (OVERLAYS)
    time_level: int = 0  # >0: 2**n columns per snapshot; <0: 2**-n snapshots per column
    row_zoom: int = 1
    row_scroll: int = 0  # first visible row of height * row_zoom
    time_scroll: int = 0  # snapshots back from the newest at the right edge


def row_bins(total: int, height: int, s: HeatmapSettings = HeatmapSettings()
             ) -> list[tuple[int, int]]:  # fmt: skip
    """Byte ranges of the visible rows, page aligned so labels read well."""
    rows, first, page = height * s.row_zoom, s.row_scroll, PAGE

    def edge(k: int) -> int:
        return total if k >= rows else total * k // rows // page * page

    return [(edge(k), edge(k + 1)) for k in range(first, first + height)]


def mean_columns(columns: list[list[float]]) -> list[float] | None:
    """Cell-wise mean of columns, ignoring NO_DATA cells (None: no column)."""
    if not columns:
        return None
    if len(columns) == 1:
        return columns[0]
    out = []
    for cells in zip(*columns, strict=True):
        seen = [c for c in cells if c >= 0]
        out.append(sum(seen) / len(seen) if seen else NO_DATA)
    return out


def _slice_flags(snap: Snapshot, target: int, flags: Sequence[float]) -> Sequence[float]:
    first = sum(len(t) for t in snap.targets[:target])
    return flags[first : first + len(snap.targets[target])]


class HeatmapModel:
    """Turns a history of snapshots into a grid of access fractions (module doc)."""

    def __init__(self, weights: TemperatureWeights = DEFAULT_WEIGHTS) -> None:
        self.weights = weights
        self._columns: dict[tuple[int, int], list[float]] = {}
        self._columns_key: tuple[object, ...] = ()

    def bins(self, total: int, height: int, s: HeatmapSettings) -> list[tuple[int, int]]:
        return row_bins(total, height, s)

    def column(self, snap: Snapshot, layout: AddressLayout, height: int, s: HeatmapSettings,
               flags: Sequence[float] | None = None,
               analysis: SnapshotAnalysis | None = None
               ) -> list[float]:  # fmt: skip
        """Access fraction per visible row (NO_DATA where nothing was monitored); with
        `flags` (per region, 0..1), the flagged fraction of each row instead; with the
        filter_passed overlay, the share of bytes that passed the scheme's filters.
        `analysis`, if it is of `snap`, supplies the temperature order already computed."""
        if flags is None and s.overlay == "filter_passed":
            flags = passed_shares(snap)
            if flags is None:
                return [NO_DATA] * height
        mx = max(1, snap.max_nr_accesses) if flags is None else 1
        out = []
        if s.mode == "temperature":
            if analysis is None or analysis.snapshot is not snap:
                analysis = SnapshotAnalysis(snap, self.weights)
            sums = temperature_sums(analysis, flags)
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
             s: HeatmapSettings, analysis: SnapshotAnalysis | None = None
             ) -> list[list[float] | None]:  # fmt: skip
        """One list of row values per screen column, left to right (None: no data)."""
        key = (s.mode, s.overlay, s.row_zoom, s.row_scroll, height, layout, self.weights)
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
            out.append(mean_columns([self.cached(snap, layout, height, s, analysis)
                                     for snap in group]))  # fmt: skip
        return out

    def cached(self, snap: Snapshot, layout: AddressLayout, height: int, s: HeatmapSettings,
               analysis: SnapshotAnalysis | None = None) -> list[float]:  # fmt: skip
        """column(), once per snapshot for the current binning."""
        key = (snap.seq, snap.elapsed_us)
        values = self._columns.get(key)
        if values is None:
            values = self._columns[key] = self.column(snap, layout, height, s, None, analysis)
        return values

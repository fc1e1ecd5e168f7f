"""SnapshotAnalysis: everything derived from one snapshot that views, panels and the
batch report ask for, computed on first use and then shared.

The app builds one per displayed snapshot (with the temperature weights and the
scheme preview in force) and hands it to every view, so the regions table, the
heatmap, the histograms, the status line and the schemes panel never compute the
same sort, temperatures or matches twice. Results are shared: callers must not
mutate them. Not thread-safe (the UI thread, or one batch loop, uses it).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable
from typing import TypeVar, cast

from ..model import DEFAULT_WEIGHTS, AccessPattern, RegionArrays, Snapshot, TemperatureWeights
from .filters import RegionFilter, filter_order
from .matches import match_flags, matched_totals
from .order import SortKey, sort_key, sorted_order
from .temperature import temperature_order, temperatures

_T = TypeVar("_T")


class SnapshotAnalysis:
    """Derived data of `snapshot` under `weights`, previewing `pattern` (if any)."""

    MAX_ENTRIES = 32  # e.g. one match per pattern typed while paused

    def __init__(
        self,
        snapshot: Snapshot,
        weights: TemperatureWeights = DEFAULT_WEIGHTS,
        pattern: AccessPattern | None = None,
        *,
        _cache: dict[tuple[object, ...], object] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.weights = weights
        self.pattern = pattern
        self._cache: dict[tuple[object, ...], object] = {} if _cache is None else _cache

    @classmethod
    def of(
        cls,
        snapshot: Snapshot,
        weights: TemperatureWeights = DEFAULT_WEIGHTS,
        pattern: AccessPattern | None = None,
        previous: SnapshotAnalysis | None = None,
    ) -> SnapshotAnalysis:
        """An analysis of `snapshot`; reuses `previous`'s results if it is the same
        snapshot (a new preview pattern or weights then cost only what changed)."""
        if previous is not None and previous.snapshot is snapshot:
            if previous.weights == weights and previous.pattern == pattern:
                return previous
            return cls(snapshot, weights, pattern, _cache=previous._cache)
        return cls(snapshot, weights, pattern)

    def _get(self, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        cache = self._cache
        if key not in cache:
            if len(cache) >= self.MAX_ENTRIES:
                arrays = cache.get(("arrays",))
                cache.clear()
                if arrays is not None:
                    cache[("arrays",)] = arrays
            cache[key] = compute()
        # Each key is only ever filled by the one compute that belongs to it.
        return cast(_T, cache[key])

    # --- the regions ------------------------------------------------------------

    @property
    def arrays(self) -> RegionArrays:
        """All targets' regions, one target after the other (shared if only one)."""
        return self._get(
            ("arrays",), lambda: RegionArrays.concat([t.arrays for t in self.snapshot.targets])
        )

    @property
    def firsts(self) -> tuple[int, ...]:
        """Index of each target's first region in `arrays`."""

        def compute() -> tuple[int, ...]:
            firsts, n = [], 0
            for t in self.snapshot.targets:
                firsts.append(n)
                n += len(t)
            return tuple(firsts) or (0,)

        return self._get(("firsts",), compute)

    def __len__(self) -> int:
        return len(self.arrays)

    @property
    def multi_target(self) -> bool:
        return len(self.snapshot.targets) > 1

    def target_of(self, index: int) -> int:
        """Which target region `index` belongs to."""
        return max(0, bisect_right(self.firsts, index) - 1)

    @property
    def max_nr_accesses(self) -> int:
        return max(1, self.snapshot.max_nr_accesses)

    # --- temperature and order ---------------------------------------------------

    @property
    def temperatures(self) -> array:
        """Each region's temperature (damo's definition) in `arrays` order."""
        w = self.weights
        return self._get(("temps", w), lambda: temperatures(self.arrays, self.snapshot.attrs, w))

    @property
    def temperature_range(self) -> tuple[float, float]:
        temps = self.temperatures
        return self._get(
            ("temp_range", self.weights), lambda: (min(temps, default=0.0), max(temps, default=0.0))
        )

    def temperature_order(self, descending: bool = True) -> array:
        """Region indices hottest first (coldest first unless `descending`)."""
        w = self.weights
        return self._get(
            ("torder", w, descending),
            lambda: temperature_order(self.arrays, self.snapshot.attrs, w, descending),
        )

    def order(self, key: str | SortKey = "temperature", descending: bool | None = None) -> array:
        """Region indices sorted by `key` (its natural direction unless given)."""
        k = key if isinstance(key, SortKey) else sort_key(key)
        desc = k.descending if descending is None else descending
        if k.name == "temperature":
            return self.temperature_order(desc)
        return self._get(
            ("order", k.name, desc),
            lambda: sorted_order(self.arrays, k, desc, self.temperature_order),
        )

    def filtered(self, order: array, region_filter: RegionFilter) -> array:
        """The indices of `order` whose regions pass `region_filter`."""
        if not region_filter.active:
            return order
        return filter_order(order, self.arrays, self.temperatures, region_filter)

    # --- scheme matches ----------------------------------------------------------

    def matches(self, pattern: AccessPattern) -> bytearray:
        """1 per region (in `arrays` order) that `pattern` matches (ages given as
        times converted at the snapshot's aggregation interval, as DAMOS does)."""
        effective = pattern.effective(self.snapshot.attrs.aggr_us)
        return self._get(("match", pattern), lambda: match_flags(self.arrays, effective))

    def preview_totals(self, pattern: AccessPattern) -> tuple[int, int]:
        """(regions, bytes) a scheme with `pattern` would act on."""
        return self._get(
            ("totals", pattern), lambda: matched_totals(self.arrays, self.matches(pattern))
        )

    @property
    def matched(self) -> bytearray | None:
        """Match flags of the previewed pattern (None: no preview)."""
        return None if self.pattern is None else self.matches(self.pattern)

    @property
    def preview(self) -> tuple[int, int] | None:
        """(regions, bytes) of the previewed pattern (None: no preview)."""
        return None if self.pattern is None else self.preview_totals(self.pattern)

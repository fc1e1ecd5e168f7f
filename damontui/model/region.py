"""Monitored regions: one region, and many as parallel arrays (RegionArrays)."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import ValidationError


@dataclass(frozen=True, slots=True)
class TemperatureWeights:
    """damo's temperature weights (`damo report access --temperature_weights`): per
    byte of size, per percent of access rate and per microsecond of age."""

    size: float = 0.0
    access_rate: float = 100.0
    age: float = 100.0

    def __post_init__(self) -> None:
        for name in ("size", "access_rate", "age"):
            if getattr(self, name) < 0:
                raise ValidationError(f"temperature weight {name}", getattr(self, name), ">= 0")


DEFAULT_WEIGHTS = TemperatureWeights()


@dataclass(frozen=True, slots=True)
class Region:
    """One DAMON region: [start, end) with the access count of the last aggregation
    (nr_accesses, in samples) and its age (in aggregation intervals)."""

    start: int
    end: int
    nr_accesses: int = 0
    age: int = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValidationError("region", (self.start, self.end), "end must be above start")

    @property
    def size(self) -> int:
        return self.end - self.start


def _u64() -> array:
    return array("Q")


def _u32() -> array:
    return array("I")


@dataclass(frozen=True)
class RegionArrays:
    """Regions as parallel arrays, the one shape every consumer reads: starts and ends
    (array 'Q'), nr_accesses and ages (array 'I'), in address order per target.

    The arrays belong to whoever made them: nobody mutates them once handed over
    (snapshots share them, the analysis layer reads them with the compiled kernels).
    """

    starts: array = field(default_factory=_u64)
    ends: array = field(default_factory=_u64)
    nr_accesses: array = field(default_factory=_u32)
    ages: array = field(default_factory=_u32)
    # bytes of each region that passed the scheme's filters (kernel tried regions,
    # 6.14+ sz_filter_passed); None where the source has no such number
    sz_filter_passed: array | None = None
    # per data-attributes probe (7.2 tried_regions/N/probes/P/hits), one array 'I'
    # per probe of probe-positive samples per region; () where there are none
    probe_hits: tuple[array, ...] = ()

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def age(self) -> array:
        """`ages` under the kernels' name (they also walk the engine's Regions)."""
        return self.ages

    @property
    def total_size(self) -> int:
        return sum(self.ends) - sum(self.starts)

    def region(self, index: int) -> Region:
        return Region(
            self.starts[index], self.ends[index], self.nr_accesses[index], self.ages[index]
        )

    def regions(self) -> list[Region]:
        return [self.region(i) for i in range(len(self.starts))]

    def slice(self, first: int, last: int) -> RegionArrays:
        """Regions first..last-1 (copies of those array items)."""
        passed = self.sz_filter_passed
        return RegionArrays(
            self.starts[first:last],
            self.ends[first:last],
            self.nr_accesses[first:last],
            self.ages[first:last],
            None if passed is None else passed[first:last],
            tuple(hits[first:last] for hits in self.probe_hits),
        )

    @classmethod
    def from_regions(cls, regions: Iterable[Region]) -> RegionArrays:
        regions = tuple(regions)
        return cls(
            array("Q", (r.start for r in regions)),
            array("Q", (r.end for r in regions)),
            array("I", (r.nr_accesses for r in regions)),
            array("I", (r.age for r in regions)),
        )

    @classmethod
    def concat(cls, parts: Sequence[RegionArrays]) -> RegionArrays:
        """All parts one after the other (one part: shared, not copied)."""
        if len(parts) == 1:
            return parts[0]
        with_passed = bool(parts) and all(p.sz_filter_passed is not None for p in parts)
        nr_probes = min((len(p.probe_hits) for p in parts), default=0)
        out = cls(
            sz_filter_passed=_u64() if with_passed else None,
            probe_hits=tuple(_u32() for _ in range(nr_probes)),
        )
        for p in parts:
            for mine, theirs in zip(out.probe_hits, p.probe_hits, strict=False):
                mine.extend(theirs)
            out.starts.extend(p.starts)
            out.ends.extend(p.ends)
            out.nr_accesses.extend(p.nr_accesses)
            out.ages.extend(p.ages)
            if out.sz_filter_passed is not None and p.sz_filter_passed is not None:
                out.sz_filter_passed.extend(p.sz_filter_passed)
        return out

"""The region container of the user-space DAMON engine, plus its random generator.

One ``Regions`` holds the regions of one monitoring target as parallel ``array.array``s
(struct-of-arrays) so the Cython kernels can walk them with raw typed loops, and the
pure-Python twin can walk the very same objects. Invariants kept by every kernel:

* regions are sorted by ``starts``, non-overlapping and non-empty (start < end);
* all six arrays have the same length;
* ``sample_addrs[i]`` lies inside region ``i`` (pieces of a split region inherit the
  address if it falls inside them, else they use their own start).

Random numbers come from splitmix64 with its whole state in a 1-element ``array('Q')``
that the kernels mutate in place, so the Cython and Python kernels draw identical
sequences (the differential tests rely on this)::

    state = (state + 0x9E3779B97F4A7C15) mod 2**64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) mod 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) mod 2**64
    next() = z ^ (z >> 31)

A bounded integer in [lo, hi) is ``lo + next() % (hi - lo)`` (the slight modulo bias
is irrelevant here and keeps both implementations trivially identical).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from damontui.kernels.splitmix import MASK64, SPLITMIX_GAMMA, SPLITMIX_MUL1, SPLITMIX_MUL2

Range = tuple[int, int]


def make_rng(seed: int) -> array:
    """A splitmix64 state seeded with ``seed`` (taken mod 2**64)."""
    return array("Q", [seed & MASK64])


def rng_next(rng: array) -> int:
    """Advance ``rng`` in place and return the next 64-bit output."""
    state = (rng[0] + SPLITMIX_GAMMA) & MASK64
    rng[0] = state
    z = ((state ^ (state >> 30)) * SPLITMIX_MUL1) & MASK64
    z = ((z ^ (z >> 27)) * SPLITMIX_MUL2) & MASK64
    return z ^ (z >> 31)


def _align_range(start: int, end: int, page_size: int) -> Range:
    """Widen [start, end) to whole pages."""
    return start - start % page_size, -(-end // page_size) * page_size


def normalize_ranges(ranges: Iterable[Range], page_size: int) -> list[Range]:
    """Page-align, sort, drop empty and merge overlapping ranges (touching ones stay apart)."""
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    aligned = sorted(_align_range(s, e, page_size) for s, e in ranges if e > s)
    out: list[Range] = []
    for start, end in aligned:
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


@dataclass(slots=True, eq=True)
class Regions:
    """Regions of one monitoring target; see the module docstring for the invariants."""

    starts: array = field(default_factory=lambda: array("Q"))
    ends: array = field(default_factory=lambda: array("Q"))
    nr_accesses: array = field(default_factory=lambda: array("I"))
    last_nr_accesses: array = field(default_factory=lambda: array("I"))
    age: array = field(default_factory=lambda: array("I"))
    sample_addrs: array = field(default_factory=lambda: array("Q"))

    def __len__(self) -> int:
        return len(self.starts)

    def copy(self) -> Regions:
        return Regions(
            array("Q", self.starts),
            array("Q", self.ends),
            array("I", self.nr_accesses),
            array("I", self.last_nr_accesses),
            array("I", self.age),
            array("Q", self.sample_addrs),
        )

    def arrays(self) -> tuple[array, array, array, array, array, array]:
        """All six arrays, in field order (handy for comparisons and bulk edits)."""
        return (
            self.starts,
            self.ends,
            self.nr_accesses,
            self.last_nr_accesses,
            self.age,
            self.sample_addrs,
        )

    def append(
        self, start: int, end: int, nr_accesses: int = 0, age: int = 0, last_nr_accesses: int = 0
    ) -> None:
        """Add a region after the last one (the caller keeps the order)."""
        self.starts.append(start)
        self.ends.append(end)
        self.nr_accesses.append(nr_accesses)
        self.last_nr_accesses.append(last_nr_accesses)
        self.age.append(age)
        self.sample_addrs.append(start)

    @classmethod
    def from_tuples(cls, tuples: Iterable[Sequence[int]]) -> Regions:
        """Build from ``(start, end[, nr_accesses[, age[, last_nr_accesses]]])`` tuples.

        Missing counters default to 0; sample addresses start at each region's start.
        Raises ValueError if the regions are empty, unsorted or overlapping.
        """
        regions = cls()
        for t in tuples:
            if not 2 <= len(t) <= 5:
                raise ValueError(f"region tuple needs 2..5 fields, got {t!r}")
            regions.append(t[0], t[1], *t[2:4], *t[4:5])
        regions.validate()
        return regions

    def to_tuples(self) -> list[tuple[int, int, int, int]]:
        """``(start, end, nr_accesses, age)`` per region, in address order."""
        return list(zip(self.starts, self.ends, self.nr_accesses, self.age, strict=True))

    def total_size(self) -> int:
        return sum(self.ends) - sum(self.starts)

    def validate(self, page_size: int | None = None) -> None:
        """Raise ValueError if an invariant (module docstring) does not hold."""
        n = len(self.starts)
        if any(len(a) != n for a in self.arrays()):
            raise ValueError(f"region arrays differ in length: {[len(a) for a in self.arrays()]}")
        prev_end = 0
        rows = zip(self.starts, self.ends, self.sample_addrs, strict=True)
        for i, (s, e, addr) in enumerate(rows):
            if not s < e:
                raise ValueError(f"region {i} [{s:#x}, {e:#x}) is empty")
            if i and s < prev_end:
                raise ValueError(f"region {i} starts at {s:#x}, before the previous end")
            if not s <= addr < e:
                raise ValueError(f"region {i} sample address {addr:#x} is outside it")
            if page_size and (s % page_size or e % page_size):
                raise ValueError(f"region {i} [{s:#x}, {e:#x}) is not page aligned")
            prev_end = e

    @classmethod
    def from_ranges(
        cls, ranges: Iterable[Range], min_nr_regions: int, page_size: int = 4096
    ) -> Regions:
        """Initial regions: split ``ranges`` into at least ``min_nr_regions`` pieces.

        Like DAMON's initial setup, each range gets pieces of about total/min_nr_regions
        bytes, and at least one piece. The piece count of a range is rounded up from its
        share of ``min_nr_regions`` so the total never falls short of it (unless there
        are fewer pages than that); pieces are whole pages, spread evenly.
        """
        norm = normalize_ranges(ranges, page_size)
        total_pages = sum(e - s for s, e in norm) // page_size
        regions = cls()
        for start, end in norm:
            pages = (end - start) // page_size
            share = -(-pages * max(min_nr_regions, 1) // total_pages)  # ceil
            nr_pieces = max(1, min(pages, share))
            for k in range(nr_pieces):
                piece_start = start + (k * pages // nr_pieces) * page_size
                piece_end = start + ((k + 1) * pages // nr_pieces) * page_size
                regions.append(piece_start, piece_end)
        return regions

    def set_ranges(self, ranges: Iterable[Range], page_size: int = 4096) -> None:
        """Adapt the regions to new monitored ranges, like DAMON's damon_set_regions.

        Regions outside every range are dropped, overlapping ones are clipped to the
        range (keeping their counters; one spanning two ranges yields a piece in each),
        and gaps inside a range get fresh regions with zeroed counters.
        """
        norm = normalize_ranges(ranges, page_size)
        old = self.copy()
        new = Regions()
        i = 0
        for r_start, r_end in norm:
            # Regions ending at or before this range can't touch it or any later range.
            while i < len(old) and old.ends[i] <= r_start:
                i += 1
            cursor = r_start
            j = i
            while j < len(old) and old.starts[j] < r_end:
                s, e = max(old.starts[j], r_start), min(old.ends[j], r_end)
                if s > cursor:
                    new.append(cursor, s)
                new.append(s, e, old.nr_accesses[j], old.age[j], old.last_nr_accesses[j])
                addr = old.sample_addrs[j]
                if s <= addr < e:
                    new.sample_addrs[-1] = addr
                cursor = e
                j += 1
            if cursor < r_end:
                new.append(cursor, r_end)
            # A region crossing r_end may also overlap the next range: don't skip it.
            i = j - 1 if j > i and old.ends[j - 1] > r_end else j
        for dst, src in zip(self.arrays(), new.arrays(), strict=True):
            dst[:] = src

"""Region-count bounds helpers of the engine (beyond DAMON's own merge and split).

The engine holds the region count in [min_nr_regions, max_nr_regions] after every
merge: smallest touching pairs are joined when DAMON's merge leaves too many, biggest
regions halved when too few remain (engine.py decides when).
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .regionset import Regions

if TYPE_CHECKING:
    from .engine import EngineTarget


def grow_to_min(targets: Sequence[EngineTarget], min_nr_regions: int) -> None:
    """Halve the biggest regions until min_nr_regions holds again (merging keeps the
    count up only while no region exceeds sz_limit; shrunk ranges or a raised minimum
    can leave too few)."""
    for _ in range(min_nr_regions - sum(len(et.regions) for et in targets)):
        best, best_i, best_sz = None, 0, 0
        for et in targets:
            r = et.regions
            for i in range(len(r)):
                if r.ends[i] - r.starts[i] > best_sz:
                    best, best_i, best_sz = et, i, r.ends[i] - r.starts[i]
        if best is None or best_sz < 2 * best.page_size:
            return
        r = best.regions
        half = best_sz // 2
        split_at(r, best_i, r.starts[best_i] + half - half % best.page_size)


def merge_smallest_pairs(r: Regions, want: int) -> int:
    """Merge up to `want` disjoint touching pairs, smallest union first; count merged.

    Repeats passes until `want` merges happened or no touching pair is left.
    Counters of a union are size-weighted averages, as in the merge kernel.
    """
    done = 0
    while done < want:
        n = len(r)
        pairs = [
            (r.ends[i + 1] - r.starts[i], i) for i in range(n - 1) if r.ends[i] == r.starts[i + 1]
        ]
        if not pairs:
            break
        taken = bytearray(n)
        chosen: list[int] = []
        for _, i in heapq.nsmallest(len(pairs), pairs):
            if len(chosen) >= want - done:
                break
            if not taken[i] and not taken[i + 1]:
                taken[i] = taken[i + 1] = 1
                chosen.append(i)
        merge_at(r, set(chosen))
        done += len(chosen)
    return done


def split_at(r: Regions, i: int, addr: int) -> None:
    """Cut region i at `addr`; both pieces keep its counters."""
    end, sample = r.ends[i], r.sample_addrs[i]
    r.ends[i] = addr
    r.starts.insert(i + 1, addr)
    r.ends.insert(i + 1, end)
    for arr in (r.nr_accesses, r.last_nr_accesses, r.age):
        arr.insert(i + 1, arr[i])
    r.sample_addrs.insert(i + 1, sample if sample >= addr else addr)
    if sample >= addr:
        r.sample_addrs[i] = r.starts[i]


def merge_at(r: Regions, lefts: set[int]) -> None:
    """Merge region i with i+1 for every i in `lefts` (pairs are disjoint)."""
    out = Regions()
    i, n = 0, len(r)
    while i < n:
        if i in lefts:
            a, b = r.ends[i] - r.starts[i], r.ends[i + 1] - r.starts[i + 1]

            def avg(arr: array, i: int = i, a: int = a, b: int = b) -> int:
                return (arr[i] * a + arr[i + 1] * b) // (a + b)

            out.append(
                r.starts[i], r.ends[i + 1], avg(r.nr_accesses), avg(r.age), avg(r.last_nr_accesses)
            )
            out.sample_addrs[-1] = r.sample_addrs[i]
            i += 2
        else:
            out.append(r.starts[i], r.ends[i], r.nr_accesses[i], r.age[i], r.last_nr_accesses[i])
            out.sample_addrs[-1] = r.sample_addrs[i]
            i += 1
    for dst, src in zip(r.arrays(), out.arrays(), strict=True):
        dst[:] = src

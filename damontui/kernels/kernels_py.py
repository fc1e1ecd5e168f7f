"""Pure-Python twin of the Cython kernels in ext/_kernels.pyx.

Same API, same results bit for bit, same random-number consumption: the differential
tests run both on identical inputs and compare every array. Keep the two files in
step; when in doubt, this file is the readable reference of the semantics.

Counters (nr_accesses, age) saturate at 2**32 - 1 instead of wrapping. Products of a
counter and a region size are exact (C uses 128-bit intermediates to match).
"""

from __future__ import annotations

import bisect
import os
import sys
from array import array
from typing import TYPE_CHECKING, Protocol, TypeAlias

from damontui.kernels.smaps_py import read_to_end as read_to_end
from damontui.kernels.smaps_py import smaps_region_accesses as smaps_region_accesses
from damontui.kernels.splitmix import MASK64, SPLITMIX_GAMMA, SPLITMIX_MUL1, SPLITMIX_MUL2

if TYPE_CHECKING:  # the engine's mutable container; the kernels only walk its arrays
    from damontui.backends.engine.regionset import Regions

# Bumped whenever the kernel API or semantics change; the loader refuses a stale build.
KERNELS_API_VERSION = 3

BytesLike: TypeAlias = bytes | bytearray | memoryview


class RegionsView(Protocol):
    """What the read-only kernels walk: the engine's Regions or a model RegionArrays."""

    @property
    def starts(self) -> array: ...
    @property
    def ends(self) -> array: ...
    @property
    def nr_accesses(self) -> array: ...
    @property
    def age(self) -> array: ...


U32_MAX = 0xFFFFFFFF
# Largest word index whose byte offset (index * 8) plus a run still fits a signed off_t.
MAX_FILE_WORD = 1 << 59
_TWO_POW_64 = float(1 << 64)


def _check_rng(rng: array) -> None:
    if len(rng) < 1:
        raise ValueError("rng must be a 1-element array('Q') (see regionset.make_rng)")


def _check_lengths(r: Regions) -> int:
    n = len(r.starts)
    if any(len(a) != n for a in r.arrays()):
        raise ValueError("region arrays differ in length")
    return n


def _resize(arr: array, n: int) -> None:
    """Truncate or zero-extend ``arr`` in place (raises BufferError while exported)."""
    if n < len(arr):
        del arr[n:]
    else:
        arr.frombytes(bytes((n - len(arr)) * arr.itemsize))


def _splitmix(state: int) -> tuple[int, int]:
    """(output, new state) of one splitmix64 step."""
    state = (state + SPLITMIX_GAMMA) & MASK64
    z = ((state ^ (state >> 30)) * SPLITMIX_MUL1) & MASK64
    z = ((z ^ (z >> 27)) * SPLITMIX_MUL2) & MASK64
    return z ^ (z >> 31), state


# --- sampling ----------------------------------------------------------------------


def synthetic_check(
    addrs: array, block_starts: array, block_ends: array, block_prob: array, rng: array
) -> bytearray:
    """Per address, 1 with the access probability of the block holding it.

    Addresses in no block are never accessed but still draw one random number, so the
    random sequence does not depend on the block layout.
    """
    _check_rng(rng)
    nb = len(block_starts)
    if len(block_ends) != nb or len(block_prob) != nb:
        raise ValueError("block_starts, block_ends and block_prob differ in length")
    out = bytearray(len(addrs))
    state = rng[0]
    for i, addr in enumerate(addrs):
        rnd, state = _splitmix(state)
        b = bisect.bisect_right(block_starts, addr) - 1
        if b >= 0 and addr < block_ends[b] and rnd / _TWO_POW_64 < block_prob[b]:
            out[i] = 1
    rng[0] = state
    return out


def pick_samples(r: Regions, rng: array, page_size: int) -> None:
    """Pick one uniformly random page address per region into ``r.sample_addrs``."""
    _check_rng(rng)
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    n = len(r.starts)
    if len(r.ends) != n:
        raise ValueError("region arrays differ in length")
    _resize(r.sample_addrs, n)
    starts, ends, samples = r.starts, r.ends, r.sample_addrs
    state = rng[0]
    for i in range(n):
        rnd, state = _splitmix(state)
        npages = max((ends[i] - starts[i]) // page_size, 1)
        samples[i] = starts[i] + (rnd % npages) * page_size
    rng[0] = state


def apply_checks(r: Regions, accessed: BytesLike) -> int:
    """Count one access for each region whose ``accessed`` byte is non-zero."""
    n = len(r.nr_accesses)
    if len(accessed) != n:
        raise ValueError(f"accessed has {len(accessed)} entries for {n} regions")
    nr = r.nr_accesses
    hits = 0
    for i, flag in enumerate(memoryview(accessed).cast("B")):
        if flag:
            hits += 1
            if nr[i] != U32_MAX:
                nr[i] += 1
    return hits


# --- aggregation -------------------------------------------------------------------


def merge(r: Regions, threshold: int, sz_limit: int, age_regions: bool = True) -> None:
    """One DAMON merge pass (with aging unless ``age_regions`` is False).

    A region first ages (age 0 if its count moved by more than ``threshold`` since the
    last aggregation, else age + 1), then joins the previous kept region if they touch,
    their counts differ by at most ``threshold`` and the union fits ``sz_limit``.
    Counters of a union are size-weighted averages (floor).
    """
    n = _check_lengths(r)
    starts, ends, nr, last, age, samples = r.arrays()
    m = 0  # regions kept so far; slot m-1 is the merge target
    for i in range(n):
        cur_nr, cur_last, cur_age = nr[i], last[i], age[i]
        if age_regions:
            if abs(cur_nr - cur_last) > threshold:
                cur_age = 0
            elif cur_age != U32_MAX:
                cur_age += 1
        size = ends[i] - starts[i]
        p = m - 1
        if (
            m
            and ends[p] == starts[i]
            and abs(nr[p] - cur_nr) <= threshold
            and ends[p] - starts[p] + size <= sz_limit
        ):
            psize = ends[p] - starts[p]
            total = psize + size
            if total:
                nr[p] = (nr[p] * psize + cur_nr * size) // total
                last[p] = (last[p] * psize + cur_last * size) // total
                age[p] = (age[p] * psize + cur_age * size) // total
            ends[p] = ends[i]
            continue
        starts[m], ends[m], samples[m] = starts[i], ends[i], samples[i]
        nr[m], last[m], age[m] = cur_nr, cur_last, cur_age
        m += 1
    for a in r.arrays():
        _resize(a, m)


def merge_to_limit(
    r: Regions, threshold: int, sz_limit: int, max_nr_regions: int, max_threshold: int
) -> None:
    """Merge, doubling the threshold, until at most ``max_nr_regions`` remain.

    Stops once the threshold used exceeds ``max_threshold`` (like kdamond_merge_regions).
    Regions age only in the first pass.
    """
    thres = threshold
    first = True
    while True:
        merge(r, thres, sz_limit, age_regions=first)
        first = False
        thres = max(1, thres * 2)
        if not (len(r) > max_nr_regions and thres // 2 < max_threshold):
            return


def reset_aggregated(r: Regions) -> None:
    """Start a new aggregation interval: remember the counts, then zero them."""
    n = len(r.nr_accesses)
    if len(r.last_nr_accesses) != n:
        raise ValueError("region arrays differ in length")
    r.last_nr_accesses[:] = r.nr_accesses
    r.nr_accesses[:] = array("I", bytes(4 * n))


def split(r: Regions, nr_subs: int, min_region_sz: int, rng: array) -> None:
    """Split each region into up to ``nr_subs`` random pieces (DAMON's split pass).

    Per region, up to nr_subs-1 attempts: stop once the remaining piece is at most
    2*min_region_sz; else cut off a left piece of a random 1/10..9/10 of it, aligned
    down to min_region_sz (skipped if that is 0 or the whole piece), and go on with
    the right-hand remainder. Pieces inherit the counters of their region.
    """
    _check_rng(rng)
    if min_region_sz <= 0:
        raise ValueError(f"min_region_sz must be positive, got {min_region_sz}")
    n = _check_lengths(r)
    if nr_subs <= 1 or n == 0:
        return
    out = type(r)()  # an empty container of the caller's kind (the engine's Regions)
    state = rng[0]
    for i in range(n):
        start, end, addr = r.starts[i], r.ends[i], r.sample_addrs[i]
        counters = (r.nr_accesses[i], r.age[i], r.last_nr_accesses[i])
        for _ in range(nr_subs - 1):
            size = end - start
            if size <= 2 * min_region_sz:
                break
            rnd, state = _splitmix(state)
            sz_sub = (rnd % 9 + 1) * size // 10
            sz_sub -= sz_sub % min_region_sz
            if sz_sub == 0 or sz_sub >= size:
                continue
            _append_piece(out, start, start + sz_sub, addr, counters)
            start += sz_sub
        _append_piece(out, start, end, addr, counters)
    rng[0] = state
    for dst, src in zip(r.arrays(), out.arrays(), strict=True):
        dst[:] = src


def _append_piece(
    out: Regions, start: int, end: int, addr: int, counters: tuple[int, int, int]
) -> None:
    out.append(start, end, *counters)
    if start <= addr < end:
        out.sample_addrs[-1] = addr


# --- snapshot views ----------------------------------------------------------------


def region_temperature(
    size: int,
    nr_accesses: int,
    age: int,
    max_samples: float,
    aggr_us: float,
    sz_weight: float,
    ar_weight: float,
    age_weight: float,
) -> float:
    """damo's temperature of one region: THE definition (both kernels compute it).

    As ``damo report access`` computes it: the access rate in whole percent of the
    sampling intervals of one aggregation (truncated, like damo), the age in
    microseconds, ``size*sz_weight + percent*ar_weight + age_us*age_weight``, and the
    whole score negated when the rate is 0 %, so idle regions get colder the longer
    they stay idle. ``max_samples`` is ``aggr_us / sample_us`` (a float, as in damo).
    """
    percent = float(int(float(nr_accesses) * 100.0 / max_samples))
    score = sz_weight * float(size) + ar_weight * percent + age_weight * (float(age) * aggr_us)
    return score if percent > 0.0 else -score


def _max_samples(sample_us: int, aggr_us: int) -> float:
    if sample_us <= 0 or aggr_us <= 0:
        raise ValueError(f"intervals must be positive, got sample {sample_us} aggr {aggr_us} us")
    return float(aggr_us) / float(sample_us)


def temperatures(
    r: RegionsView,
    sample_us: int,
    aggr_us: int,
    sz_weight: float,
    ar_weight: float,
    age_weight: float,
) -> array:
    """region_temperature of every region (intervals in force when they were aggregated)."""
    mx = _max_samples(sample_us, aggr_us)
    n = len(r.starts)
    if len(r.ends) != n or len(r.nr_accesses) != n or len(r.age) != n:
        raise ValueError("region arrays differ in length")
    sz_w, ar_w, age_w, aggr = float(sz_weight), float(ar_weight), float(age_weight), float(aggr_us)
    out = array("d", bytes(8 * n))
    starts, ends, nr, age = r.starts, r.ends, r.nr_accesses, r.age
    for i in range(n):
        size = ends[i] - starts[i]
        out[i] = region_temperature(size, nr[i], age[i], mx, aggr, sz_w, ar_w, age_w)
    return out


def temperature_order(
    r: RegionsView,
    sample_us: int,
    aggr_us: int,
    sz_weight: float,
    ar_weight: float,
    age_weight: float,
    descending: bool = True,
) -> array:
    """Region indices by temperature (hottest first unless ``descending`` is False).

    Ties go to the lower start address, then the lower index.
    """
    temps = temperatures(r, sample_us, aggr_us, sz_weight, ar_weight, age_weight)
    sign = -1.0 if descending else 1.0
    starts = r.starts
    order = sorted(range(len(temps)), key=lambda i: (sign * temps[i], starts[i]))
    return array("I", order)


def match_pattern(
    r: RegionsView,
    min_sz: int,
    max_sz: int,
    min_nr: int,
    max_nr: int,
    min_age: int,
    max_age: int,
) -> bytearray:
    """1 per region whose size, nr_accesses and age are all within the inclusive ranges."""
    n = len(r.starts)
    if len(r.ends) != n or len(r.nr_accesses) != n or len(r.age) != n:
        raise ValueError("region arrays differ in length")
    out = bytearray(n)
    for i in range(n):
        if (
            min_sz <= r.ends[i] - r.starts[i] <= max_sz
            and min_nr <= r.nr_accesses[i] <= max_nr
            and min_age <= r.age[i] <= max_age
        ):
            out[i] = 1
    return out


# --- batched file I/O ----------------------------------------------------------------


def coalesce(sorted_indices: array, max_gap: int) -> list[tuple[int, int]]:
    """Group sorted word indices into runs ``(first, count)`` read by one pread each.

    Neighbours share a run when at most ``max_gap`` unneeded words lie between them
    (duplicates and consecutive indices always do): ``b - a - 1 <= max_gap``.
    """
    _check_gap(max_gap)
    runs: list[tuple[int, int]] = []
    if not len(sorted_indices):
        return runs
    first = prev = sorted_indices[0]
    for idx in sorted_indices:
        if idx < prev:
            raise ValueError("indices must be sorted")
        if idx - prev > max_gap + 1:
            runs.append((first, prev - first + 1))
            first = idx
        prev = idx
    runs.append((first, prev - first + 1))
    return runs


def _check_gap(max_gap: int) -> None:
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")


def _check_offset(max_index: int) -> None:
    if max_index >= MAX_FILE_WORD:
        raise ValueError(f"word index {max_index:#x} is beyond the file offset range")


def _pread_words(fd: int, first: int, count: int) -> array:
    """``count`` little-endian u64 words from word ``first``; zeros past end of file."""
    want = count * 8
    data = bytearray()
    while len(data) < want:
        chunk = os.pread(fd, want - len(data), first * 8 + len(data))
        if not chunk:
            break
        data += chunk
    data += bytes(want - len(data))
    words = array("Q", data)
    if sys.byteorder == "big":
        words.byteswap()
    return words


def _gather_words(fd: int, indices: list[int], max_gap: int) -> list[int]:
    """The file word at each of ``indices`` (any order), read in coalesced runs."""
    n = len(indices)
    if not n:
        return []
    order = sorted(range(n), key=indices.__getitem__)
    sorted_idx = array("Q", (indices[k] for k in order))
    _check_offset(sorted_idx[-1])
    out = [0] * n
    k = 0
    for first, count in coalesce(sorted_idx, max_gap):
        words = _pread_words(fd, first, count)
        while k < n and sorted_idx[k] < first + count:
            out[order[k]] = words[sorted_idx[k] - first]
            k += 1
    return out


def read_pagemap(fd: int, addrs: array, page_size: int, max_gap: int = 64) -> array:
    """The /proc/PID/pagemap entry of each address, in input order.

    Entries past the end of the file read as 0 (page not present).
    """
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    _check_gap(max_gap)
    return array("Q", _gather_words(fd, [a // page_size for a in addrs], max_gap))


def idle_bitmap_get(fd: int, pfns: array, max_gap: int = 64) -> bytearray:
    """Per pfn, 1 if the page was accessed (idle bit clear), 0 if still idle.

    Words past the end of the file read as 0, i.e. "accessed" (as the kernel reports
    pages it cannot track).
    """
    _check_gap(max_gap)
    words = _gather_words(fd, [p >> 6 for p in pfns], max_gap)
    return bytearray(0 if (w >> (p & 63)) & 1 else 1 for w, p in zip(words, pfns, strict=True))


def idle_bitmap_set(fd: int, pfns: array) -> None:
    """Mark ``pfns`` idle: write each touched word with just their bits set.

    Runs of consecutive words go out in one pwrite; gaps are never written (a zero
    word would be a no-op for page_idle, but would clobber an ordinary file).
    """
    if not len(pfns):
        return
    bits: dict[int, int] = {}
    for p in pfns:
        bits[p >> 6] = bits.get(p >> 6, 0) | (1 << (p & 63))
    words = sorted(bits)
    _check_offset(words[-1])
    for first, count in coalesce(array("Q", words), 0):
        buf = array("Q", (bits[w] for w in range(first, first + count)))
        if sys.byteorder == "big":
            buf.byteswap()
        _pwrite_all(fd, buf.tobytes(), first * 8)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(5, os.strerror(5))  # EIO: the file refused more bytes
        view, offset = view[written:], offset + written

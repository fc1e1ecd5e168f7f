"""Pure-Python twin of ext/_sampler.pyx: the sampling loop of the page-granular sources.

Same API, same results, same random-number consumption as the compiled module (the
differential test in tests/test_sampler_differential.py holds them to it).

A ``PageSampler`` holds the sampling state of one target. ``prepare()`` starts an
aggregation: picks one page per region (splitmix64, in region order, as
``kernels.pick_samples``) and resets its accessed state. ``run()`` then does
``nr_samples`` sampling intervals: sleep, check the prepared pages into ``nr_accesses``,
pick and prepare the next. Modes:

* ``MODE_IDLE_VADDR``: PFNs from /proc/PID/pagemap (one sorted, coalesced read per
  prepare; the PFN is kept for the check), idle bits set at prepare and read at check.
  A page not present at prepare counts as not accessed and is not checked (DAMON would
  count it if it were faulted in within the interval: rare for one page, and finding
  out costs a pagemap read per absent sample and interval). Huge pages: only the head
  page is tracked, so a tail PFN is replaced by its head, found through
  /proc/kpageflags; the answer is cached per 2 MiB virtual block for one aggregation
  (a block seen as not huge stays so until the next one).
* ``MODE_IDLE_PADDR``: PFN = address / page size; pages on no LRU (kernel memory,
  free pages) cannot be tracked and count as not accessed, like DAMON's paddr ops.
* ``MODE_SOFTDIRTY``: ``clear_refs`` 4 at prepare (the whole process), pagemap bit 55
  at check.

In both vaddr modes a sample outside the target's mapped ranges (``set_mapped()``, from
/proc/PID/maps) is not accessed and costs no read, as DAMON's page walk finds no VMA
there: DAMON's three regions keep every gap but the two biggest (such as hundreds of MiB
between the executable and its heap), whose samples would cost a read each interval.

Statuses: ``ST_OK``; ``ST_GONE`` (pagemap read EOF/ESRCH: the address space is gone);
``ST_ERRNO`` with an errno and a file code; ``ST_NO_PFN`` (present pages with PFN 0:
the reader lacks CAP_SYS_ADMIN).
"""

from __future__ import annotations

import errno as errno_mod
import os
import time
from array import array
from collections.abc import Sequence
from typing import Any

from .regionset import Regions, rng_next
from .sampler_pyio import StopFlag, _Errno, _Gone, _pread, _pwrite, in_hole, mapped_span

__all__ = ["CONSTANTS", "SAMPLER_API_VERSION", "PageSampler", "StopFlag", "prepare", "run"]

SAMPLER_API_VERSION = 2

MODE_IDLE_VADDR, MODE_IDLE_PADDR, MODE_SOFTDIRTY = 0, 1, 2
ST_OK, ST_GONE, ST_ERRNO, ST_NO_PFN = 0, 1, 2, 3
FILE_PAGEMAP, FILE_BITMAP, FILE_CLEAR_REFS, FILE_KPAGEFLAGS = 1, 2, 3, 4
CONSTANTS = {
    name: value
    for name, value in globals().items()
    if name.startswith(("MODE_", "ST_", "FILE_")) and isinstance(value, int)
}

PM_PRESENT, PM_SOFT_DIRTY, PM_PFN_MASK = 1 << 63, 1 << 55, (1 << 55) - 1
KPF_LRU, KPF_HEAD, KPF_TAIL, KPF_THP = 1 << 5, 1 << 15, 1 << 16, 1 << 22
U32_MAX = (1 << 32) - 1
# Words between two reads that still share one pread: pagemap gaps are cheap page
# table walks; each PFN of a bitmap or kpageflags read costs the kernel a page lookup
# (an rmap walk for idle pages), so those only join adjacent words.
PAGEMAP_GAP, PFN_FILE_GAP = 64, 0
# Bitmap writes: zero bits cost the kernel a loop step only, so words up to this far
# apart share one pwrite (with zero words between them).
WRITE_GAP = 8
# Reading a bitmap word makes the kernel walk the rmap of every idle page among its 64
# PFNs, and pages set idle stay idle until accessed (cold ones: forever). Samples keep to
# pages we set idle before: a sample moves to the nearest page among the next SLOT_PAGES
# of its region that is one of ours, else to a page of a word with none of ours (see
# _rank); where every word of the window holds one of ours elsewhere (scattered memory),
# the drawn page joins them.
SLOT_PAGES = 64
OWNER_MAX = 1 << 25  # words tracked (8 bytes each, grown on demand)
# The pagemap block cache (the compiled PM_BLOCK): window entries kept for pm_ttl
# aggregations, direct-mapped over PM_SLOTS blocks of PM_BLOCK pages.
PM_BLOCK, PM_SLOTS, PM_GROUP = 64, 1024, 8
THP_SLOTS = 1024
THP_PAGES = 512
F_BITMAP, F_ABSENT, F_SKIP, F_DIRTY = 0, 1, 2, 3


class PageSampler:
    """Sampling state of one target (see the module docstring)."""

    def __init__(
        self,
        mode: int,
        pagemap_fd: int,
        bitmap_fd: int,
        clear_refs_fd: int,
        kpageflags_fd: int,
        page_size: int,
    ) -> None:
        if mode not in (MODE_IDLE_VADDR, MODE_IDLE_PADDR, MODE_SOFTDIRTY):
            raise ValueError(f"unknown sampler mode {mode}")
        if page_size <= 0:
            raise ValueError(f"page_size must be positive, got {page_size}")
        self.mode = mode
        self.pagemap_fd, self.bitmap_fd = pagemap_fd, bitmap_fd
        self.clear_refs_fd, self.kpf_fd = clear_refs_fd, kpageflags_fd
        self.page_size = page_size
        self.pfn: list[int] = []
        self.flag: list[int] = []
        self.thp: list[tuple[int, int, int, int, bool]] = [(0, 0, 0, 0, False)] * THP_SLOTS
        self.gen = 1
        names = ("checks", "reads", "writes", "kpageflags_reads", "thp_heads", "owner_conflicts")
        self._counters = dict.fromkeys(names, 0)
        self._starts: array = array("Q")
        self.owner = array("Q")  # per bitmap word: the pages of it we set idle (bits)
        self.err = self.err_file = 0
        self._pre: list[int] = []
        self._pre_pfn: list[int] = []
        self._pre_flag: list[int] = []
        self.mapped: list[int] | None = None  # flat sorted [start, end, ...] (VMAs)
        self.pm: list[tuple[int, int, list[int]]] = [(0, 0, [])] * PM_SLOTS
        self.pm_ttl, self._sets = 1, 0  # _sets: sample sets last drawn ahead
        self.zero_pfn = 0  # the shared zero page (set_zero_pfn; 0: unknown)

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def set_mapped(self, ranges: Sequence[tuple[int, int]] | None) -> None:
        """The target's mapped ranges, or None for "all mapped" (the compiled one)."""
        if ranges is None:
            self.mapped = None
            return
        flat: list[int] = []
        for s, e in ranges:
            if e <= s or (flat and s < flat[-1]):
                raise ValueError("mapped ranges must be sorted, disjoint and non-empty")
            flat += (s, e)
        self.mapped = flat

    def set_pagemap_ttl(self, aggregations: int) -> None:
        """Keep pagemap blocks for this many aggregations (the compiled one)."""
        if aggregations < 1:
            raise ValueError(f"pagemap ttl must be >= 1 aggregation, got {aggregations}")
        self.pm_ttl = aggregations

    def set_zero_pfn(self, pfn: int) -> None:
        self.zero_pfn = pfn  # (the compiled one)

    def prepared_pfns(self) -> list[tuple[int, int]]:
        return list(zip(self.pfn, self.flag, strict=True))

    def _bind(self, r: Regions) -> None:
        n = len(r.starts)
        if any(len(a) != n for a in (r.ends, r.nr_accesses, r.sample_addrs)):
            raise ValueError("region arrays differ in length")
        if len(self.flag) != n:
            self.pfn, self.flag = [0] * n, [F_SKIP] * n
        self._starts = r.starts  # for the sample windows (_gather_windows)

    # --- I/O helpers -------------------------------------------------------------

    def _gather(self, fd: int, keys: list[tuple[int, int]], file: int) -> dict[int, int]:
        """{pos: file word} for (word, pos) keys; one pread per run of nearby words."""
        keys = sorted(keys)
        gap = PAGEMAP_GAP if file == FILE_PAGEMAP else PFN_FILE_GAP
        out: dict[int, int] = {}
        k = 0
        while k < len(keys):
            first = keys[k][0]
            last = k
            while last + 1 < len(keys) and keys[last + 1][0] - keys[last][0] <= gap + 1:
                last += 1
            self._counters["reads"] += 1
            data = _pread(fd, (keys[last][0] - first + 1) * 8, first * 8, file)
            for word, pos in keys[k : last + 1]:
                off = (word - first) * 8
                out[pos] = int.from_bytes(data[off : off + 8], "little")
            k = last + 1
        return out

    def _set_idle(self) -> None:
        bits: dict[int, int] = {}
        for p, f in zip(self.pfn, self.flag, strict=True):
            if f == F_BITMAP:
                bits[p >> 6] = bits.get(p >> 6, 0) | (1 << (p & 63))
        words = sorted(bits)
        k = 0
        while k < len(words):
            j = k
            while j + 1 < len(words) and words[j + 1] - words[j] <= WRITE_GAP + 1:
                j += 1
            first, last = words[k], words[j]
            # zero words between them are no-ops for page_idle
            data = b"".join(bits.get(w, 0).to_bytes(8, "little") for w in range(first, last + 1))
            k = j + 1
            self._counters["writes"] += 1
            _pwrite(self.bitmap_fd, data, first * 8, FILE_BITMAP)

    def _resolve_heads(
        self, samples: list[int], pfns: list[int], flags: list[int], paddr: bool
    ) -> None:
        keys = []
        for i, (p, f) in enumerate(zip(pfns, flags, strict=True)):
            if f != F_BITMAP:
                continue
            vpage = p if paddr else samples[i] // self.page_size
            block = vpage // THP_PAGES
            gen, sblock, head_vpage, head_pfn, huge = self.thp[block % THP_SLOTS]
            if not paddr and gen == self.gen and sblock == block:
                if huge and p >= head_pfn and p - head_pfn == vpage - head_vpage:
                    pfns[i] = head_pfn
                continue
            keys.append((p, i))
        if not keys:
            return
        self._counters["kpageflags_reads"] += 1
        kflags = self._gather(self.kpf_fd, keys, FILE_KPAGEFLAGS)
        for _, i in sorted(keys):
            f, p = kflags[i], pfns[i]
            vpage = p if paddr else samples[i] // self.page_size
            block = vpage // THP_PAGES
            if paddr and not f & KPF_LRU and not f & KPF_TAIL:
                flags[i] = F_SKIP
                continue
            head = 0
            if f & KPF_THP and f & KPF_TAIL:
                base = p - p % THP_PAGES
                self._counters["kpageflags_reads"] += 1
                self._counters["reads"] += 1
                data = _pread(self.kpf_fd, (p - base + 1) * 8, base * 8, FILE_KPAGEFLAGS)
                head = base
                for k in range(p - base, -1, -1):
                    if int.from_bytes(data[k * 8 : k * 8 + 8], "little") & KPF_HEAD:
                        head = base + k
                        break
                self._counters["thp_heads"] += 1
                pfns[i] = head
            elif f & KPF_THP and f & KPF_HEAD:
                head = p
            if not paddr:
                head_vpage = vpage - (p - head) if head else 0
                self.thp[block % THP_SLOTS] = (self.gen, block, head_vpage, head, head != 0)

    # --- one sampling interval ---------------------------------------------------

    def _draw(self, r: Regions, rng: array, sets: int) -> list[int]:
        """One page per region for ``sets`` intervals, interval by interval."""
        ps, starts, ends = self.page_size, r.starts, r.ends
        out = []
        for _ in range(sets):
            for i in range(len(starts)):
                npages = max((ends[i] - starts[i]) // ps, 1)
                out.append(starts[i] + (rng_next(rng) % npages) * ps)
        return out

    def _rank(self, e: int, t: int) -> int:
        """Suitability of a page as the sample, lower is better (the compiled _rank)."""
        p = e & PM_PFN_MASK
        if not e & PM_PRESENT or not p or p == self.zero_pfn:
            return 1 if t == 0 else 9
        if p >> 6 >= OWNER_MAX:
            return 1
        if p >> 6 >= len(self.owner):
            cap = len(self.owner) * 2 if self.owner else 4096
            while cap <= p >> 6:
                cap *= 2
            self.owner.extend(bytes(8 * (min(cap, OWNER_MAX) - len(self.owner))))
        o = self.owner[p >> 6]
        if (o >> (p & 63)) & 1:
            return 1
        if o:
            return 4
        return 2 if p & 63 == 0 else 3

    def _pm_fill(self, b: int, nblocks: int) -> None:
        """Read pagemap blocks b .. b + nblocks - 1 into the cache (the compiled one)."""
        self._counters["reads"] += 1
        data = _pread(self.pagemap_fd, nblocks * PM_BLOCK * 8, b * PM_BLOCK * 8, FILE_PAGEMAP)
        for k in range(nblocks):
            words = [
                int.from_bytes(data[(k * PM_BLOCK + i) * 8 : (k * PM_BLOCK + i) * 8 + 8], "little")
                for i in range(PM_BLOCK)
            ]
            self.pm[(b + k) % PM_SLOTS] = (b + k + 1, self.gen, words)

    def _pm_fresh(self, b: int) -> bool:
        slot = self.pm[(b) % PM_SLOTS]
        return slot[0] == b + 1 and self.gen - slot[1] < self.pm_ttl

    def _gather_windows(
        self, samples: list[int], ends: array, n: int, flags: list[int]
    ) -> dict[int, int]:
        """{i: pagemap entry} with sample i moved like the compiled one (SLOT_PAGES),
        entries from the block cache (PM_BLOCK); samples flagged F_SKIP are left out."""
        ps, starts = self.page_size, self._starts
        dense = max(len(samples) // n, self._sets + 1) * self.pm_ttl * PM_BLOCK  # PM_GROUP
        keys = []
        for i, a in enumerate(samples):
            if flags[i] == F_SKIP:
                continue
            v, end, start = a // ps, ends[i % n] // ps, starts[i % n] // ps
            start, end = mapped_span(self.mapped, a, ps, start, end)
            if v + SLOT_PAGES > end:
                v = end - SLOT_PAGES if end - start > SLOT_PAGES else start
            keys.append((v, i))  # in sample order (see the compiled one)
        out: dict[int, int] = {}
        for ws, pos in keys:
            v = samples[pos] // ps
            end = mapped_span(self.mapped, v * ps, ps, 0, ends[pos % n] // ps)[1]
            lim = max(min(SLOT_PAGES, end - ws), 1)
            b0, b1 = ws // PM_BLOCK, (ws + lim - 1) // PM_BLOCK
            if dense >= (ends[pos % n] - starts[pos % n]) // ps:
                # dense: page-table spans (see PM_BLOCK) within the mapping (or region)
                big = end if self.mapped is None else 1 << 64
                s0, s1 = mapped_span(self.mapped, v * ps, ps, 0, big)
                for b in dict.fromkeys((b0, b1)):
                    if not self._pm_fresh(b):
                        g0, g1 = b - b % PM_GROUP, -(-s1 // PM_BLOCK)
                        g0, g1 = min(max(g0, s0 // PM_BLOCK), b), max(min(g0 + PM_GROUP, g1), b + 1)
                        self._pm_fill(g0, g1 - g0)
            else:
                if not self._pm_fresh(b0):
                    self._pm_fill(b0, 2 if b1 != b0 and not self._pm_fresh(b1) else 1)
                if b1 != b0 and not self._pm_fresh(b1):
                    self._pm_fill(b1, 1)
            e0, e1 = self.pm[b0 % PM_SLOTS][2], self.pm[b1 % PM_SLOTS][2]

            def entry(u: int, b0: int = b0, b1: int = b1, e0: list = e0, e1: list = e1) -> int:
                return e0[u - b0 * PM_BLOCK] if u // PM_BLOCK == b0 else e1[u - b1 * PM_BLOCK]

            chosen, best = v, 9
            for d in range(lim):  # from the drawn page to the window's end, then on
                u = ws + (v - ws + d) % lim
                rank = self._rank(entry(u), d)
                if rank < best:
                    best, chosen = rank, u
                if best == 1:
                    break
            e = entry(chosen)
            p = e & PM_PFN_MASK
            if best == 4:
                self._counters["owner_conflicts"] += 1
            if e & PM_PRESENT and p and p != self.zero_pfn and p >> 6 < len(self.owner):
                self.owner[p >> 6] |= 1 << (p & 63)
            out[pos] = e
            samples[pos] = chosen * ps
        return out

    def _translate(self, samples: list[int], ends: array) -> tuple[int, list[int], list[int]]:
        """(status, pfns, flags) of sampled addresses (moved in place, see SLOT_PAGES)."""
        m, ps, n = len(samples), self.page_size, len(ends)
        if self.mode == MODE_SOFTDIRTY:
            return ST_OK, [0] * m, [F_SKIP if in_hole(self.mapped, a) else F_DIRTY for a in samples]
        if self.mode == MODE_IDLE_PADDR:
            for i, a in enumerate(samples):
                p = a // ps
                q = p + (SLOT_PAGES - p % SLOT_PAGES) % SLOT_PAGES
                samples[i] = (q if q < ends[i % n] // ps else p) * ps
            pfns, flags = [a // ps for a in samples], [F_BITMAP] * m
        else:
            pfns = [0] * m
            flags = [F_SKIP if in_hole(self.mapped, a) else F_ABSENT for a in samples]
            if not m:
                return ST_OK, pfns, flags
            entries = self._gather_windows(samples, ends, n, flags)
            present = nonzero = 0
            for i in range(m):
                if flags[i] == F_SKIP:
                    continue
                e = entries[i]
                if e & PM_PRESENT:
                    present += 1
                    pfns[i] = e & PM_PFN_MASK
                    nonzero += bool(pfns[i])
                    flags[i] = F_BITMAP if pfns[i] and pfns[i] != self.zero_pfn else F_SKIP
            if present and not nonzero:
                return ST_NO_PFN, pfns, flags
        if self.kpf_fd >= 0 and m:
            self._resolve_heads(samples, pfns, flags, self.mode == MODE_IDLE_PADDR)
        return ST_OK, pfns, flags

    def _reset(self, n: int) -> int:
        if n == 0:
            return ST_OK
        if self.mode == MODE_SOFTDIRTY:
            self._counters["writes"] += 1
            try:
                os.write(self.clear_refs_fd, b"4")
            except ProcessLookupError:
                return ST_GONE
            except OSError as e:
                self.err, self.err_file = e.errno or errno_mod.EIO, FILE_CLEAR_REFS
                return ST_ERRNO
            return ST_OK
        self._set_idle()
        return ST_OK

    def _prepare(self, r: Regions, rng: array) -> int:
        samples = self._draw(r, rng, 1)
        status, self.pfn, self.flag = self._translate(samples, r.ends)
        r.sample_addrs[:] = array("Q", samples)
        if status != ST_OK:
            return status
        return self._reset(len(samples))

    def _draw_ahead(self, r: Regions, rng: array, sets: int) -> int:
        self._pre, self._sets = self._draw(r, rng, sets), sets
        status, self._pre_pfn, self._pre_flag = self._translate(self._pre, r.ends)
        return status

    def _next(self, r: Regions, k: int) -> int:
        n = len(r.starts)
        o = k * n
        r.sample_addrs[:] = array("Q", self._pre[o : o + n])
        self.pfn, self.flag = self._pre_pfn[o : o + n], self._pre_flag[o : o + n]
        return self._reset(n)

    def _check(self, r: Regions) -> int:
        ps, n = self.page_size, len(r.starts)
        hit = [0] * n
        keys = [(self.pfn[i] >> 6, i) for i in range(n) if self.flag[i] == F_BITMAP]
        if keys:
            words = self._gather(self.bitmap_fd, keys, FILE_BITMAP)
            for i, w in words.items():
                hit[i] = 0 if (w >> (self.pfn[i] & 63)) & 1 else 1
        # F_ABSENT (not present at prepare) is not checked: see the compiled F_ABSENT
        keys = [(r.sample_addrs[i] // ps, i) for i in range(n) if self.flag[i] == F_DIRTY]
        if keys:
            entries = self._gather(self.pagemap_fd, keys, FILE_PAGEMAP)
            for i, e in entries.items():
                hit[i] = 1 if e & PM_SOFT_DIRTY else 0
        nr = r.nr_accesses
        for i in range(n):
            if hit[i] and nr[i] != U32_MAX:
                nr[i] += 1
        self._counters["checks"] += n
        return ST_OK

    def _guarded(self, fn: Any, *args: Any) -> int:
        try:
            return int(fn(*args))
        except _Gone:
            return ST_GONE
        except _Errno as e:
            self.err, self.err_file = e.err, e.file
            return ST_ERRNO


def prepare(sampler: PageSampler, r: Regions, rng: array) -> tuple[int, int, int]:
    """Start an aggregation: new page-cache generation, pick and prepare pages."""
    sampler._bind(r)
    sampler.gen += 1
    sampler.err = sampler.err_file = 0
    status = sampler._guarded(sampler._prepare, r, rng)
    return status, sampler.err, sampler.err_file


def run(
    samplers: Sequence[PageSampler],
    regions: Sequence[Regions],
    rngs: Sequence[array],
    nr_samples: int,
    sample_ns: int,
    deadline_ns: int,
    stop: StopFlag,
    fresh: bool = False,
) -> tuple[int, list[tuple[int, int, int]], int, int, int]:
    """Run ``nr_samples`` sampling intervals for all targets (see the compiled one)."""
    if not len(samplers) == len(regions) == len(rngs):
        raise ValueError("samplers, regions and rngs differ in length")
    status = [ST_OK] * len(samplers)
    for t, (s, r, rng) in enumerate(zip(samplers, regions, rngs, strict=True)):
        s._bind(r)
        s.err = s.err_file = 0
        if fresh:  # start an aggregation first, as prepare() does
            status[t] = prepare(s, r, rng)[0]
    if nr_samples > 1:
        for t, (s, r, rng) in enumerate(zip(samplers, regions, rngs, strict=True)):
            if status[t] == ST_OK:
                status[t] = s._guarded(s._draw_ahead, r, rng, nr_samples - 1)
    deadline, lag, max_lag, k = deadline_ns, 0, 0, 0
    while k < nr_samples and not stop.is_set():
        if sample_ns:
            deadline += sample_ns
            now = time.monotonic_ns()
            if now < deadline:
                if stop.wait((deadline - now) / 1e9):
                    break
            else:
                lag += now - deadline
                max_lag = max(max_lag, now - deadline)
        for t, (s, r) in enumerate(zip(samplers, regions, strict=True)):
            if status[t] == ST_OK:
                status[t] = s._guarded(s._check, r)
        k += 1
        if k < nr_samples:
            for t, (s, r) in enumerate(zip(samplers, regions, strict=True)):
                if status[t] == ST_OK:
                    status[t] = s._guarded(s._next, r, k - 1)
    out = [(st, s.err, s.err_file) for st, s in zip(status, samplers, strict=True)]
    return k, out, deadline, lag, max_lag

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled sampling loop of the page-granular sources (damontui._sampler).

Mirror of damontui/backends/engine/sampler_py.py, which documents the semantics: same
API, same results, same random-number consumption. One call of ``run()`` covers every
sampling interval of an aggregation for all targets with the GIL released: sleep to the
next deadline, check the prepared pages (idle bitmap or soft-dirty bit), add the result
to ``nr_accesses``, pick and prepare the next pages. Python only runs between
aggregations (merge, split, age, snapshot).

File reads and writes are sorted and coalesced (one pread per run of nearby words).
PFNs found at prepare time are kept for the check (no second pagemap read); huge-page
heads found through /proc/kpageflags are cached per 2 MiB virtual block for the whole
aggregation.
"""

from cpython cimport array
from libc.errno cimport EINTR, ENOMEM, ESRCH, errno
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memset
from posix.types cimport off_t
from posix.unistd cimport close, pread, pwrite, write

import array

SAMPLER_API_VERSION = 2

ctypedef unsigned long long u64
ctypedef unsigned int u32

cdef extern from *:
    """
    #include <time.h>
    typedef unsigned long long ds_u64;
    static inline ds_u64 ds_splitmix_next(ds_u64 *state) {
        ds_u64 z = (*state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    static inline ds_u64 ds_load_le64(const unsigned char *p) {
        ds_u64 v = 0;
        for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
        return v;
    }
    static inline void ds_store_le64(unsigned char *p, ds_u64 v) {
        for (int i = 0; i < 8; i++) { p[i] = (unsigned char)v; v >>= 8; }
    }
    static inline ds_u64 ds_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (ds_u64)ts.tv_sec * 1000000000ULL + (ds_u64)ts.tv_nsec;
    }
    static inline void ds_sleep_until(ds_u64 ns) {
        struct timespec ts;
        ts.tv_sec = (time_t)(ns / 1000000000ULL);
        ts.tv_nsec = (long)(ns % 1000000000ULL);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    }
    static inline int ds_load_flag(const int *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
    #include <poll.h>
    #include <sys/eventfd.h>
    #include <unistd.h>
    /* Sleep until ns (CLOCK_MONOTONIC) or until the stop flag's eventfd is written:
       one wake-up per sampling interval, however long, and stop() is still prompt.
       Waits up to DS_SHORT_WAIT_NS sleep in clock_nanosleep, which the stop flag does
       not cut short (the caller checks it on waking): a wake-up from it costs less
       CPU than one from ppoll on the eventfd (38 us against 48 in a TCG guest). */
    #define DS_SHORT_WAIT_NS 20000000ULL
    static inline void ds_wait_until(ds_u64 ns, int efd, const int *flag) {
        for (;;) {
            if (__atomic_load_n(flag, __ATOMIC_RELAXED)) return;
            ds_u64 now = ds_now_ns();
            if (now >= ns) return;
            ds_u64 d = ns - now;
            if (d <= DS_SHORT_WAIT_NS) { ds_sleep_until(ns); return; }
            struct timespec ts;
            ts.tv_sec = (time_t)(d / 1000000000ULL);
            ts.tv_nsec = (long)(d % 1000000000ULL);
            struct pollfd p;
            p.fd = efd; p.events = POLLIN; p.revents = 0;
            if (efd < 0) { ds_sleep_until(ns); return; }
            if (ppoll(&p, 1, &ts, NULL) > 0) return;
        }
    }
    static inline int ds_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
    static inline void ds_kick(int efd) { ds_u64 one = 1; if (efd >= 0) (void)!write(efd, &one, 8); }
    static inline void ds_drain(int efd) { ds_u64 v; if (efd >= 0) (void)!read(efd, &v, 8); }
    static inline void ds_store_flag(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
    """
    u64 ds_splitmix_next(u64 *state) noexcept nogil
    u64 ds_load_le64(const unsigned char *p) noexcept nogil
    void ds_store_le64(unsigned char *p, u64 v) noexcept nogil
    u64 ds_now_ns() noexcept nogil
    void ds_sleep_until(u64 ns) noexcept nogil
    int ds_load_flag(const int *p) noexcept nogil
    void ds_wait_until(u64 ns, int efd, const int *flag) noexcept nogil
    int ds_eventfd() noexcept nogil
    void ds_kick(int efd) noexcept nogil
    void ds_drain(int efd) noexcept nogil
    void ds_store_flag(int *p, int v) noexcept nogil

# Modes, statuses and file codes: the same numbers as sampler_py (CONSTANTS).
cdef enum:
    MODE_IDLE_VADDR = 0
    MODE_IDLE_PADDR = 1
    MODE_SOFTDIRTY = 2
    ST_OK = 0
    ST_GONE = 1
    ST_ERRNO = 2
    ST_NO_PFN = 3
    FILE_PAGEMAP = 1
    FILE_BITMAP = 2
    FILE_CLEAR_REFS = 3
    FILE_KPAGEFLAGS = 4

CONSTANTS = {
    "MODE_IDLE_VADDR": MODE_IDLE_VADDR,
    "MODE_IDLE_PADDR": MODE_IDLE_PADDR,
    "MODE_SOFTDIRTY": MODE_SOFTDIRTY,
    "ST_OK": ST_OK,
    "ST_GONE": ST_GONE,
    "ST_ERRNO": ST_ERRNO,
    "ST_NO_PFN": ST_NO_PFN,
    "FILE_PAGEMAP": FILE_PAGEMAP,
    "FILE_BITMAP": FILE_BITMAP,
    "FILE_CLEAR_REFS": FILE_CLEAR_REFS,
    "FILE_KPAGEFLAGS": FILE_KPAGEFLAGS,
}

cdef u64 PM_PRESENT = 1ULL << 63
cdef u64 PM_SOFT_DIRTY = 1ULL << 55
cdef u64 PM_PFN_MASK = (1ULL << 55) - 1
cdef u64 KPF_LRU = 1ULL << 5
cdef u64 KPF_HEAD = 1ULL << 15
cdef u64 KPF_TAIL = 1ULL << 16
cdef u64 KPF_THP = 1ULL << 22
cdef u32 U32_MAX = 0xFFFFFFFF
# Words between two reads that still share one pread. pagemap gaps are cheap page
# table walks; every PFN in a bitmap or kpageflags read costs the kernel a page
# lookup (and an rmap walk for idle pages), so those only join adjacent words.
cdef u64 PAGEMAP_GAP = 64
cdef u64 PFN_FILE_GAP = 0
# Bitmap writes: zero bits cost the kernel only a loop step, so words up to this far
# apart go out in one pwrite (with zero words between them).
cdef u64 WRITE_GAP = 8
# Reading a bitmap word makes the kernel walk the rmap of EVERY idle page among its 64
# PFNs, and a page set idle stays idle until accessed (cold pages: forever): measured in
# a TCG guest, a word with many stale idle pages costs 25x a word with one. So samples
# keep to pages we set idle before: a sample moves to the nearest page among the next
# SLOT_PAGES of its region that is one of ours, else to one that starts (or lies in) a
# word with none of ours (see _rank). In contiguous memory a word then holds one page
# we set idle; in scattered memory (shared libraries, old heaps), where a window's words
# all hold one of ours elsewhere, the drawn page joins them and later windows find it.
cdef u64 SLOT_PAGES = 64
# Words tracked (8 bytes each, grown to the highest PFN seen): 2^25 words cover 8 TiB
# of RAM; the table takes 1/32768 of the RAM it covers.
cdef u64 OWNER_MAX = 1ULL << 25
# The pagemap block cache: the windows' entries (PM_BLOCK virtual pages per block) are
# kept for pm_ttl aggregations (set_pagemap_ttl; batch.py makes that one second), not
# read again for every sample: a page's PFN rarely changes within a second (migration,
# reclaim, THP collapse), and a stale PFN gives one wrong check until the block is read
# again. Where a region's samples over the cache's lifetime outnumber its blocks (each
# block is likely needed before it expires: "dense"), a miss reads the whole page
# table's span around it (PM_GROUP blocks, clipped to the mapping): in the TCG guest a
# read of 512 entries costs ~35 us, of 64 ~7 us, of one ~4 us. In the page-idle bench
# that took the engine's pagemap time from 8 to 4 % of its CPU (310 reads/s at 26 us
# each, then 36/s at 99 us); sparse regions (huge, or sampled slowly under a CPU budget) keep
# reading one block per miss, which costs 5x less than a span there.
cdef u64 PM_BLOCK = 64
cdef u64 PM_SLOTS = 1024  # direct-mapped: 1024 blocks of 64 pages cover 256 MiB
cdef u64 PM_GROUP = 8  # blocks per page table (512 pages): what a dense fill reads
cdef int THP_SLOTS = 1024
cdef u64 THP_PAGES = 512  # pages per PMD huge page (4 KiB pages)

# flag per region: how its prepared page is checked
cdef unsigned char F_BITMAP = 0  # idle bit of pfn[i]
# not present at prepare: not accessed, and not checked. DAMON counts such a page if it
# was faulted in within the sampling interval; finding out would cost a pagemap read
# per absent sample and interval (more than a bitmap check, and it waits on the
# target's mmap lock) for an event of that one page that is rare.
cdef unsigned char F_ABSENT = 1
cdef unsigned char F_SKIP = 2  # not trackable (paddr: on no LRU; vaddr: in no VMA): not accessed
cdef unsigned char F_DIRTY = 3  # soft-dirty bit of the pagemap entry


cdef struct Key:
    u64 word
    u64 pos


cdef struct PmBlock:
    u64 block  # virtual block number + 1 (0: empty)
    u64 gen  # aggregation generation it was read in
    u64 e[64]  # PM_BLOCK


cdef struct ThpSlot:
    u64 gen
    u64 block  # virtual 2 MiB block number
    u64 head_vpage
    u64 head_pfn
    int huge


cdef int _cmp_key(const void *a, const void *b) noexcept nogil:
    cdef const Key *x = <const Key *>a
    cdef const Key *y = <const Key *>b
    if x.word != y.word:
        return -1 if x.word < y.word else 1
    return (x.pos > y.pos) - (x.pos < y.pos)


cdef class StopFlag:
    """Set from any thread to end a running ``run()`` at once (it wakes the sleep)."""

    cdef int flag
    cdef int efd

    def __cinit__(self):
        self.efd = ds_eventfd()

    def __dealloc__(self):
        if self.efd >= 0:
            close(self.efd)

    def set(self) -> None:
        ds_store_flag(&self.flag, 1)
        ds_kick(self.efd)

    def clear(self) -> None:
        ds_store_flag(&self.flag, 0)
        ds_drain(self.efd)

    def is_set(self) -> bool:
        return ds_load_flag(&self.flag) != 0


cdef struct Sampler:
    int mode, pagemap_fd, bitmap_fd, clear_refs_fd, kpf_fd
    u64 page_size
    Py_ssize_t cap, n
    u64 *pfn
    unsigned char *flag
    unsigned char *hit
    Key *keys
    u64 *words
    unsigned char *buf
    size_t bufcap
    ThpSlot *thp
    u64 gen
    u64 checks, reads, writes, kpf_reads, thp_heads, conflicts
    u64 *owner  # per bitmap word: the pages of it we set idle (a bit mask)
    u64 owner_cap
    int err, err_file
    u64 *starts
    u64 *ends
    u64 *samples
    u64 *rng
    u32 *nr
    Py_ssize_t pre_cap, pre_sets  # sample sets drawn ahead for this run()
    u64 *pre_samples
    u64 *pre_pfn
    unsigned char *pre_flag
    int has_mapped  # 0: every address counts as mapped (paddr, or never told)
    Py_ssize_t nmapped
    u64 *mapped  # sorted, disjoint [start, end) pairs: the target's VMAs
    PmBlock *pm  # pagemap block cache (PM_SLOTS), allocated on first use
    u64 pm_ttl  # aggregations a cached block stays valid (1: this aggregation only)
    u64 zero_pfn  # the shared zero page (0: unknown): present, on no LRU, never accessed


cdef class PageSampler:
    """Sampling state of one target (see sampler_py.PageSampler for the semantics)."""

    cdef Sampler c
    cdef object _hold  # the bound arrays, alive while their storage pointers are used

    def __cinit__(
        self, int mode, int pagemap_fd, int bitmap_fd, int clear_refs_fd, int kpageflags_fd,
        page_size,
    ):
        memset(&self.c, 0, sizeof(Sampler))
        if mode not in (MODE_IDLE_VADDR, MODE_IDLE_PADDR, MODE_SOFTDIRTY):
            raise ValueError(f"unknown sampler mode {mode}")
        if page_size <= 0:
            raise ValueError(f"page_size must be positive, got {page_size}")
        self.c.mode = mode
        self.c.pagemap_fd, self.c.bitmap_fd = pagemap_fd, bitmap_fd
        self.c.clear_refs_fd, self.c.kpf_fd = clear_refs_fd, kpageflags_fd
        self.c.page_size = page_size
        self.c.thp = <ThpSlot *>malloc(THP_SLOTS * sizeof(ThpSlot))
        if self.c.thp == NULL:
            raise MemoryError()
        memset(self.c.thp, 0, THP_SLOTS * sizeof(ThpSlot))
        self.c.gen = 1
        self.c.pm_ttl = 1

    def __dealloc__(self):
        free(self.c.pfn)
        free(self.c.flag)
        free(self.c.hit)
        free(self.c.keys)
        free(self.c.words)
        free(self.c.buf)
        free(self.c.thp)
        free(self.c.owner)
        free(self.c.pre_samples)
        free(self.c.pre_pfn)
        free(self.c.pre_flag)
        free(self.c.mapped)
        free(self.c.pm)

    @property
    def mode(self) -> int:
        return self.c.mode

    def counters(self) -> dict:
        return {
            "checks": self.c.checks, "reads": self.c.reads, "writes": self.c.writes,
            "kpageflags_reads": self.c.kpf_reads, "thp_heads": self.c.thp_heads,
            "owner_conflicts": self.c.conflicts,
        }

    def set_mapped(self, ranges) -> None:
        """The target's mapped ranges (sorted, disjoint (start, end) pairs), or None
        for "all mapped". A sample outside them is not accessed and costs no I/O."""
        cdef Py_ssize_t i, n
        cdef u64 *p
        if ranges is None:
            self.c.has_mapped = 0
            return
        n = len(ranges)
        p = <u64 *>malloc((2 * n + 1) * sizeof(u64))
        if p == NULL:
            raise MemoryError()
        for i in range(n):
            p[2 * i], p[2 * i + 1] = ranges[i][0], ranges[i][1]
            if p[2 * i + 1] <= p[2 * i] or (i and p[2 * i] < p[2 * i - 1]):
                free(p)
                raise ValueError("mapped ranges must be sorted, disjoint and non-empty")
        free(self.c.mapped)
        self.c.mapped, self.c.nmapped, self.c.has_mapped = p, n, 1

    def set_pagemap_ttl(self, aggregations) -> None:
        """Keep pagemap blocks read for the sample windows for this many aggregations
        (1: re-read every aggregation)."""
        if aggregations < 1:
            raise ValueError(f"pagemap ttl must be >= 1 aggregation, got {aggregations}")
        self.c.pm_ttl = aggregations

    def set_zero_pfn(self, pfn) -> None:
        """The PFN of the shared zero page. A sample mapped to it counts as not accessed
        and is not checked, as in DAMON (damon_get_folio() finds no LRU folio there); the
        bitmap would read it as accessed (a page on no LRU reads 0)."""
        self.c.zero_pfn = pfn

    def prepared_pfns(self):
        """(pfn, flag) per region as prepared last (tests and the differential test)."""
        return [(self.c.pfn[i], self.c.flag[i]) for i in range(self.c.n)]

    cdef Sampler *_bind(self, r, rng) except NULL:
        """Point the sampler at the arrays' own storage (array.array, no buffer views:
        five of those per call cost more than a short run in a TCG guest). The engine's
        regions are only touched from its thread, which is inside this call."""
        cdef Py_ssize_t n = len(r.starts)
        cdef array.array starts = r.starts, ends = r.ends, samples = r.sample_addrs
        cdef array.array nr = r.nr_accesses, state = rng
        for a in (ends, nr, samples):
            if len(a) != n:
                raise ValueError("region arrays differ in length")
        if len(state) < 1 or state.ob_descr.typecode != 81:  # 'Q'
            raise ValueError("rng must be a 1-element array('Q')")
        for a in (starts, ends, samples):
            if (<array.array>a).ob_descr.typecode != 81:
                raise TypeError("region addresses must be array('Q')")
        if nr.ob_descr.typecode != 73:  # 'I'
            raise TypeError("nr_accesses must be array('I')")
        if n > self.c.cap:
            self._grow(n)
        if n != self.c.n and n:
            memset(self.c.flag, F_SKIP, n)  # a new layout: old prepared pages are void
            memset(self.c.pfn, 0, n * sizeof(u64))
        self.c.n = n
        self.c.rng = state.data.as_ulonglongs
        if n:
            self.c.starts, self.c.ends = starts.data.as_ulonglongs, ends.data.as_ulonglongs
            self.c.samples, self.c.nr = samples.data.as_ulonglongs, nr.data.as_uints
        self._hold = (starts, ends, samples, nr, state)
        return &self.c

    cdef int _grow_pre(self, Py_ssize_t m) except -1:
        """Room for m drawn-ahead samples (and m keys/words to translate them)."""
        cdef void *p
        if m <= self.c.pre_cap:
            return 0
        p = realloc(self.c.pre_samples, m * sizeof(u64))
        if p == NULL:
            raise MemoryError()
        self.c.pre_samples = <u64 *>p
        p = realloc(self.c.pre_pfn, m * sizeof(u64))
        if p == NULL:
            raise MemoryError()
        self.c.pre_pfn = <u64 *>p
        p = realloc(self.c.pre_flag, m)
        if p == NULL:
            raise MemoryError()
        self.c.pre_flag = <unsigned char *>p
        p = realloc(self.c.keys, max(m, self.c.cap) * sizeof(Key))
        if p == NULL:
            raise MemoryError()
        self.c.keys = <Key *>p
        p = realloc(self.c.words, max(m, self.c.cap) * sizeof(u64))
        if p == NULL:
            raise MemoryError()
        self.c.words = <u64 *>p
        self.c.pre_cap = m
        return 0

    cdef int _grow(self, Py_ssize_t n) except -1:
        cdef void *p
        p = realloc(self.c.pfn, n * sizeof(u64))
        if p == NULL:
            raise MemoryError()
        self.c.pfn = <u64 *>p
        p = realloc(self.c.flag, n)
        if p == NULL:
            raise MemoryError()
        self.c.flag = <unsigned char *>p
        p = realloc(self.c.hit, n)
        if p == NULL:
            raise MemoryError()
        self.c.hit = <unsigned char *>p
        p = realloc(self.c.keys, max(n, self.c.pre_cap) * sizeof(Key))
        if p == NULL:
            raise MemoryError()
        self.c.keys = <Key *>p
        p = realloc(self.c.words, max(n, self.c.pre_cap) * sizeof(u64))
        if p == NULL:
            raise MemoryError()
        self.c.words = <u64 *>p
        self.c.cap = n
        return 0

    cdef void _unbind(self):
        self.c.starts = self.c.ends = self.c.samples = self.c.rng = NULL
        self.c.nr = NULL
        self._hold = None


# --- I/O helpers ---------------------------------------------------------------------


cdef int _need_buf(Sampler *c, size_t nbytes) noexcept nogil:
    cdef void *p
    if nbytes > c.bufcap:
        p = realloc(c.buf, nbytes)
        if p == NULL:
            return ENOMEM
        c.buf = <unsigned char *>p
        c.bufcap = nbytes
    return 0


cdef int _pread(Sampler *c, int fd, size_t nbytes, u64 offset, int file) noexcept nogil:
    """Fill c.buf; zero past EOF. -1 (gone) if a pagemap read hits EOF at once."""
    cdef size_t done = 0
    cdef ssize_t got
    c.reads += 1
    while done < nbytes:
        got = pread(fd, c.buf + done, nbytes - done, <off_t>(offset + done))
        if got < 0:
            if errno == EINTR:
                continue
            if errno == ESRCH:
                return -1
            c.err, c.err_file = errno, file
            return errno
        if got == 0:
            if done == 0 and file == FILE_PAGEMAP:
                return -1  # the address space is gone (exited or zombie)
            memset(c.buf + done, 0, nbytes - done)
            break
        done += <size_t>got
    return 0


cdef int _gather(Sampler *c, int fd, Py_ssize_t nkeys, int file) noexcept nogil:
    """words[key.pos] = file word key.word for keys[:nkeys] (sorted here)."""
    cdef Py_ssize_t k = 0, last, j
    cdef u64 first, gap = PAGEMAP_GAP if file == FILE_PAGEMAP else PFN_FILE_GAP
    cdef size_t nbytes
    cdef int rc
    qsort(c.keys, nkeys, sizeof(Key), _cmp_key)
    while k < nkeys:
        first = c.keys[k].word
        last = k
        while last + 1 < nkeys and c.keys[last + 1].word - c.keys[last].word <= gap + 1:
            last += 1
        nbytes = (c.keys[last].word - first + 1) * 8
        rc = _need_buf(c, nbytes)
        if rc:
            c.err, c.err_file = rc, file
            return rc
        rc = _pread(c, fd, nbytes, first * 8, file)
        if rc:
            return rc
        for j in range(k, last + 1):
            c.words[c.keys[j].pos] = ds_load_le64(c.buf + (c.keys[j].word - first) * 8)
        k = last + 1
    return 0


cdef int _set_idle(Sampler *c) noexcept nogil:
    """Write the idle bits of every F_BITMAP pfn; one pwrite per run of words."""
    cdef Py_ssize_t i, m = 0, k, j, nwords
    cdef u64 first, last, word, bits
    cdef ssize_t put
    cdef size_t done, nbytes
    cdef int rc
    for i in range(c.n):
        if c.flag[i] == F_BITMAP:
            c.keys[m].word = c.pfn[i]
            c.keys[m].pos = i
            m += 1
    if m == 0:
        return 0
    qsort(c.keys, m, sizeof(Key), _cmp_key)
    k = 0
    while k < m:
        first = c.keys[k].word >> 6
        last = first
        j = k
        # extent of this pwrite: words up to WRITE_GAP apart share it
        while j + 1 < m and (c.keys[j + 1].word >> 6) - (c.keys[j].word >> 6) <= WRITE_GAP + 1:
            j += 1
        last = c.keys[j].word >> 6
        nwords = <Py_ssize_t>(last - first + 1)
        rc = _need_buf(c, nwords * 8)
        if rc:
            c.err, c.err_file = rc, FILE_BITMAP
            return rc
        memset(c.buf, 0, nwords * 8)  # zero bits are no-ops for page_idle
        while k <= j:
            word = (c.keys[k].word >> 6) - first
            bits = ds_load_le64(c.buf + word * 8) | (1ULL << (c.keys[k].word & 63))
            ds_store_le64(c.buf + word * 8, bits)
            k += 1
        nbytes = <size_t>nwords * 8
        done = 0
        c.writes += 1
        while done < nbytes:
            put = pwrite(c.bitmap_fd, c.buf + done, nbytes - done, <off_t>(first * 8 + done))
            if put < 0:
                if errno == EINTR:
                    continue
                c.err, c.err_file = errno, FILE_BITMAP
                return errno
            if put == 0:
                c.err, c.err_file = 5, FILE_BITMAP
                return 5
            done += <size_t>put
    return 0


cdef int _resolve_heads(
    Sampler *c, u64 *samples, u64 *pfns, unsigned char *flags, Py_ssize_t n, int paddr
) noexcept nogil:
    """Replace tail pfns of huge pages by their head (only heads are tracked).

    vaddr: one kpageflags read per 2 MiB virtual block and aggregation (cached);
    paddr: the flags of every sample are read (also to skip pages on no LRU).
    """
    cdef Py_ssize_t i, m = 0, j, k
    cdef u64 vpage, block, p, f, base, head
    cdef ThpSlot *slot
    cdef int rc
    for i in range(n):
        if flags[i] != F_BITMAP:
            continue
        p = pfns[i]
        vpage = p if paddr else samples[i] // c.page_size
        block = vpage // THP_PAGES
        slot = &c.thp[block % THP_SLOTS]
        if not paddr and slot.gen == c.gen and slot.block == block:
            if slot.huge and p >= slot.head_pfn and p - slot.head_pfn == vpage - slot.head_vpage:
                pfns[i] = slot.head_pfn
            continue
        c.keys[m].word = p
        c.keys[m].pos = i
        m += 1
    if m == 0:
        return 0
    c.kpf_reads += 1
    rc = _gather(c, c.kpf_fd, m, FILE_KPAGEFLAGS)
    if rc:
        return rc
    for j in range(m):
        i = c.keys[j].pos
        f = c.words[i]
        p = pfns[i]
        vpage = p if paddr else samples[i] // c.page_size
        block = vpage // THP_PAGES
        slot = &c.thp[block % THP_SLOTS]
        if paddr and not (f & KPF_LRU) and not (f & KPF_TAIL):
            flags[i] = F_SKIP
            continue
        head = 0
        if (f & KPF_THP) and (f & KPF_TAIL):
            base = p - p % THP_PAGES
            rc = _need_buf(c, (p - base + 1) * 8)
            if rc:
                c.err, c.err_file = rc, FILE_KPAGEFLAGS
                return rc
            c.kpf_reads += 1
            rc = _pread(c, c.kpf_fd, (p - base + 1) * 8, base * 8, FILE_KPAGEFLAGS)
            if rc:
                return rc
            head = base
            k = <Py_ssize_t>(p - base)
            while k >= 0:
                if ds_load_le64(c.buf + k * 8) & KPF_HEAD:
                    head = base + <u64>k
                    break
                k -= 1
            c.thp_heads += 1
            pfns[i] = head
        elif (f & KPF_THP) and (f & KPF_HEAD):
            head = p
        if not paddr:
            slot.gen, slot.block = c.gen, block
            slot.huge = head != 0
            slot.head_pfn = head
            slot.head_vpage = vpage - (p - head) if head else 0
    return 0


# --- one sampling interval -----------------------------------------------------------


cdef void _draw(Sampler *c, u64 *samples, Py_ssize_t sets) noexcept nogil:
    """Pick one page per region for ``sets`` intervals, interval by interval (the same
    draws, in the same order, as picking at each interval)."""
    cdef Py_ssize_t i, k
    cdef u64 npages, rnd, s = c.rng[0]
    for k in range(sets):
        for i in range(c.n):
            rnd = ds_splitmix_next(&s)
            npages = (c.ends[i] - c.starts[i]) // c.page_size
            if npages == 0:
                npages = 1
            samples[k * c.n + i] = c.starts[i] + (rnd % npages) * c.page_size
    c.rng[0] = s


cdef inline Py_ssize_t _mapped_index(Sampler *c, u64 a) noexcept nogil:
    """The index of the mapped range holding address a (binary search), or -1 if a is
    in none of the ranges told (callers check has_mapped first)."""
    cdef Py_ssize_t lo = 0, hi = c.nmapped, mid
    while lo < hi:  # first range whose end is above a
        mid = (lo + hi) // 2
        if c.mapped[2 * mid + 1] <= a:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < c.nmapped and c.mapped[2 * lo] <= a else -1


cdef inline int _in_hole(Sampler *c, u64 a) noexcept nogil:
    """1 if address a is in no mapped range, else 0."""
    return 1 if c.has_mapped and _mapped_index(c, a) < 0 else 0


cdef inline void _clip_to_mapped(Sampler *c, u64 a, u64 *start_page, u64 *end_page) noexcept nogil:
    """Clip pages [start, end) to the mapped range holding address a: a sample's window
    never reaches into a hole or a special mapping such as the vDSO, whose present
    pages DAMON never finds accessed."""
    cdef Py_ssize_t lo
    if not c.has_mapped:
        return
    lo = _mapped_index(c, a)
    if lo >= 0:
        if c.mapped[2 * lo] // c.page_size > start_page[0]:
            start_page[0] = c.mapped[2 * lo] // c.page_size
        if c.mapped[2 * lo + 1] // c.page_size < end_page[0]:
            end_page[0] = c.mapped[2 * lo + 1] // c.page_size


cdef int _owner_room(Sampler *c, u64 w) noexcept nogil:
    """1 if word w has a slot in the owner table (grown as needed), else 0."""
    cdef u64 cap
    cdef void *p
    if w < c.owner_cap:
        return 1
    if w >= OWNER_MAX:
        return 0
    cap = c.owner_cap * 2 if c.owner_cap else 4096
    while cap <= w:
        cap *= 2
    if cap > OWNER_MAX:
        cap = OWNER_MAX
    p = realloc(c.owner, cap * sizeof(u64))
    if p == NULL:
        return 0
    memset(<u64 *>p + c.owner_cap, 0, (cap - c.owner_cap) * sizeof(u64))
    c.owner, c.owner_cap = <u64 *>p, cap
    return 1


cdef inline int _rank(Sampler *c, u64 e, u64 t) noexcept nogil:
    """How well the page of pagemap entry e, t pages from the drawn one, suits as the
    sample (lower is better, 9: not at all; see SLOT_PAGES): 1 the drawn page when it is
    absent, its PFN hidden or the zero page, an untracked page, or a page we set idle before; 2 a page
    that starts a word we never set a page idle in (then every later window of
    contiguous pages finds one of ours); 3 another page of such a word; 4 a page of a
    word that holds another page of ours (scattered memory: that page is remembered
    too, so later windows find it)."""
    cdef u64 p = e & PM_PFN_MASK
    cdef u64 o
    if not (e & PM_PRESENT) or p == 0 or p == c.zero_pfn:
        return 1 if t == 0 else 9
    if not _owner_room(c, p >> 6):
        return 1
    o = c.owner[p >> 6]
    if (o >> (p & 63)) & 1:
        return 1
    if o:
        return 4
    return 2 if (p & 63) == 0 else 3


cdef int _pm_fill(Sampler *c, u64 b, u64 nblocks) noexcept nogil:
    """Read pagemap blocks b .. b + nblocks - 1 (PM_BLOCK entries each) into the cache."""
    cdef u64 k, i
    cdef PmBlock *slot
    cdef int rc = _need_buf(c, nblocks * PM_BLOCK * 8)
    if rc:
        c.err, c.err_file = rc, FILE_PAGEMAP
        return rc
    rc = _pread(c, c.pagemap_fd, nblocks * PM_BLOCK * 8, b * PM_BLOCK * 8, FILE_PAGEMAP)
    if rc:
        return rc
    for k in range(nblocks):
        slot = &c.pm[(b + k) % PM_SLOTS]
        slot.block, slot.gen = b + k + 1, c.gen
        for i in range(PM_BLOCK):
            slot.e[i] = ds_load_le64(c.buf + (k * PM_BLOCK + i) * 8)
    return 0


cdef int _pm_fill_span(Sampler *c, u64 b, u64 start_page, u64 end_page) noexcept nogil:
    """If block b is not fresh: read the page table's span around it (PM_GROUP blocks)
    within the mapped pages [start_page, end_page)."""
    if _pm_fresh(c, b):
        return 0
    cdef u64 g0 = b - b % PM_GROUP, g1
    g1 = min(g0 + PM_GROUP, (end_page + PM_BLOCK - 1) // PM_BLOCK)
    g0 = max(g0, start_page // PM_BLOCK)
    if g1 <= b:
        g1 = b + 1
    if g0 > b:
        g0 = b
    return _pm_fill(c, g0, g1 - g0)


cdef inline int _pm_fresh(Sampler *c, u64 b) noexcept nogil:
    cdef PmBlock *slot = &c.pm[b % PM_SLOTS]
    return slot.block == b + 1 and c.gen - slot.gen < c.pm_ttl


cdef int _gather_windows(
    Sampler *c, u64 *samples, unsigned char *flags, Py_ssize_t m
) noexcept nogil:
    """words[i] = pagemap entry of sample i, moved to the first page among the next
    SLOT_PAGES of its region that may be set idle (see SLOT_PAGES); that page becomes
    the owner of its bitmap word. Sample i belongs to region i % n. Entries come from
    the block cache (see PM_BLOCK; a window spans at most two blocks, read in one pread
    when both are missing). Samples flagged F_SKIP (in holes) are left out.
    """
    cdef Py_ssize_t j, pos, nk = 0
    cdef u64 v, ws, d, u, lim, e, chosen, end_page, start_page, p, b0, b1, region_pages
    cdef u64 span_start, span_end
    # samples per region and aggregation: this call's, or the last draw-ahead's
    cdef u64 per_region = max(<u64>(m // c.n) if c.n else 0, <u64>c.pre_sets + 1)
    cdef int rc, rank, best
    cdef u64 *e0
    cdef u64 *e1
    if c.pm == NULL:
        c.pm = <PmBlock *>malloc(PM_SLOTS * sizeof(PmBlock))
        if c.pm == NULL:
            c.err, c.err_file = ENOMEM, FILE_PAGEMAP
            return ENOMEM
        memset(c.pm, 0, PM_SLOTS * sizeof(PmBlock))
    for j in range(m):
        if flags[j] == F_SKIP:
            continue
        # the window: SLOT_PAGES from the drawn page, shifted back to end at the region's
        # end (so it spans SLOT_PAGES whenever the region does)
        v = samples[j] // c.page_size
        end_page = c.ends[j % c.n] // c.page_size
        start_page = c.starts[j % c.n] // c.page_size
        _clip_to_mapped(c, samples[j], &start_page, &end_page)
        if v + SLOT_PAGES > end_page:
            v = end_page - SLOT_PAGES if end_page - start_page > SLOT_PAGES else start_page
        c.keys[nk].word = v
        c.keys[nk].pos = j
        nk += 1
    # In sample order, not sorted: the block cache keeps blocks across windows anyway,
    # and sorting the ~20 sets of an aggregation cost more than it saved (TCG guest).
    for j in range(nk):
        pos = c.keys[j].pos
        ws = c.keys[j].word
        v = samples[pos] // c.page_size
        end_page = c.ends[pos % c.n] // c.page_size
        start_page = 0
        _clip_to_mapped(c, samples[pos], &start_page, &end_page)
        lim = SLOT_PAGES if ws + SLOT_PAGES <= end_page else end_page - ws
        if lim == 0:
            lim = 1
        b0, b1 = ws // PM_BLOCK, (ws + lim - 1) // PM_BLOCK
        region_pages = (c.ends[pos % c.n] - c.starts[pos % c.n]) // c.page_size
        if per_region * c.pm_ttl * PM_BLOCK >= region_pages:  # dense (see PM_BLOCK)
            # the span may cover other regions of the mapping, not past it (without
            # mapped ranges: not past the region)
            span_end = 0xFFFFFFFFFFFFFFFFULL if c.has_mapped else end_page
            span_start = 0
            _clip_to_mapped(c, samples[pos], &span_start, &span_end)
            rc = _pm_fill_span(c, b0, span_start, span_end)
            if rc == 0 and b1 != b0:
                rc = _pm_fill_span(c, b1, span_start, span_end)
        else:
            rc = 0
            if not _pm_fresh(c, b0):
                rc = _pm_fill(c, b0, 2 if b1 != b0 and not _pm_fresh(c, b1) else 1)
            if rc == 0 and b1 != b0 and not _pm_fresh(c, b1):
                rc = _pm_fill(c, b1, 1)
        if rc:
            return rc
        e0 = c.pm[b0 % PM_SLOTS].e
        e1 = c.pm[b1 % PM_SLOTS].e
        # scan from the drawn page to the window's end, then from its start (u runs
        # over the window's pages in that order: no division per page)
        chosen = v
        best = 9
        d = 0
        u = v
        while d < lim and best > 1:
            if u == ws + lim:
                u = ws
            e = e0[u - b0 * PM_BLOCK] if u < (b0 + 1) * PM_BLOCK else e1[u - b1 * PM_BLOCK]
            rank = _rank(c, e, d)
            if rank < best:
                best, chosen = rank, u
            d += 1
            u += 1
        if chosen // PM_BLOCK == b0:
            e = e0[chosen - b0 * PM_BLOCK]
        else:
            e = e1[chosen - b1 * PM_BLOCK]
        p = e & PM_PFN_MASK
        if best == 4:
            c.conflicts += 1  # a second page of ours in a word: its reads cost more
        if (e & PM_PRESENT) and p and p != c.zero_pfn and p >> 6 < c.owner_cap:
            c.owner[p >> 6] |= 1ULL << (p & 63)
        c.words[pos] = e
        samples[pos] = chosen * c.page_size
    return 0


cdef int _translate(
    Sampler *c, u64 *samples, u64 *pfns, unsigned char *flags, Py_ssize_t m
) noexcept nogil:
    """PFN and check kind of m sampled addresses: one sorted, coalesced pagemap pass."""
    cdef Py_ssize_t i
    cdef u64 e, p, q
    cdef int rc, present = 0, nonzero = 0
    if m == 0:
        return ST_OK
    if c.mode == MODE_SOFTDIRTY:
        for i in range(m):
            flags[i] = F_SKIP if _in_hole(c, samples[i]) else F_DIRTY
            pfns[i] = 0
        return ST_OK
    if c.mode == MODE_IDLE_PADDR:
        for i in range(m):
            p = samples[i] // c.page_size
            q = p + ((SLOT_PAGES - p % SLOT_PAGES) % SLOT_PAGES)
            if q < c.ends[i % c.n] // c.page_size:
                p = q  # the region's next page with a bitmap word of its own
            samples[i] = p * c.page_size
            pfns[i] = p
            flags[i] = F_BITMAP
    else:
        for i in range(m):
            flags[i] = F_SKIP if _in_hole(c, samples[i]) else F_ABSENT
            pfns[i] = 0
        rc = _gather_windows(c, samples, flags, m)
        if rc:
            return ST_GONE if rc < 0 else ST_ERRNO
        for i in range(m):
            if flags[i] == F_SKIP:
                continue
            e = c.words[i]
            if e & PM_PRESENT:
                present += 1
                pfns[i] = e & PM_PFN_MASK
                if pfns[i]:
                    nonzero += 1
                    flags[i] = F_SKIP if pfns[i] == c.zero_pfn else F_BITMAP
                else:
                    flags[i] = F_SKIP
            else:
                pfns[i] = 0
                flags[i] = F_ABSENT
        if present and not nonzero:
            return ST_NO_PFN  # the kernel hides PFNs without CAP_SYS_ADMIN
    if c.kpf_fd >= 0:
        rc = _resolve_heads(c, samples, pfns, flags, m, c.mode == MODE_IDLE_PADDR)
        if rc:
            return ST_GONE if rc < 0 else ST_ERRNO
    return ST_OK


cdef int _reset(Sampler *c) noexcept nogil:
    """Reset the accessed state of the current samples (idle bits or soft-dirty)."""
    cdef ssize_t put
    cdef char four = 52  # "4": clear the soft-dirty bits
    if c.n == 0:
        return ST_OK
    if c.mode == MODE_SOFTDIRTY:
        c.writes += 1
        while True:
            put = write(c.clear_refs_fd, &four, 1)
            if put < 0 and errno == EINTR:
                continue
            break
        if put < 0:
            if errno == ESRCH:
                return ST_GONE
            c.err, c.err_file = errno, FILE_CLEAR_REFS
            return ST_ERRNO
        return ST_OK
    return ST_ERRNO if _set_idle(c) else ST_OK


cdef int _prepare(Sampler *c) noexcept nogil:
    """Pick one page per region, translate it and reset it. Status code."""
    cdef int st
    _draw(c, c.samples, 1)
    st = _translate(c, c.samples, c.pfn, c.flag, c.n)
    if st != ST_OK:
        return st
    return _reset(c)


cdef int _draw_ahead(Sampler *c, Py_ssize_t sets) noexcept nogil:
    """Draw and translate the samples of the next ``sets`` intervals at once."""
    c.pre_sets = sets
    _draw(c, c.pre_samples, sets)
    return _translate(c, c.pre_samples, c.pre_pfn, c.pre_flag, sets * c.n)


cdef int _next(Sampler *c, Py_ssize_t k) noexcept nogil:
    """Make drawn-ahead set k current and reset it."""
    cdef Py_ssize_t i, o = k * c.n
    for i in range(c.n):
        c.samples[i] = c.pre_samples[o + i]
        c.pfn[i] = c.pre_pfn[o + i]
        c.flag[i] = c.pre_flag[o + i]
    return _reset(c)


cdef int _check(Sampler *c) noexcept nogil:
    """Add 1 to nr_accesses of each region whose prepared page was accessed."""
    cdef Py_ssize_t i, m = 0, a = 0
    cdef int rc
    for i in range(c.n):
        c.hit[i] = 0
        if c.flag[i] == F_BITMAP:
            c.keys[m].word = c.pfn[i] >> 6
            c.keys[m].pos = i
            m += 1
    if m:
        rc = _gather(c, c.bitmap_fd, m, FILE_BITMAP)
        if rc:
            return ST_ERRNO
        for i in range(c.n):
            if c.flag[i] == F_BITMAP:
                c.hit[i] = 0 if (c.words[i] >> (c.pfn[i] & 63)) & 1 else 1
    for i in range(c.n):
        if c.flag[i] == F_DIRTY:
            c.keys[a].word = c.samples[i] // c.page_size
            c.keys[a].pos = i
            a += 1
    if a:
        rc = _gather(c, c.pagemap_fd, a, FILE_PAGEMAP)
        if rc:
            return ST_GONE if rc < 0 else ST_ERRNO
        for i in range(c.n):
            if c.flag[i] == F_DIRTY:
                c.hit[i] = 1 if c.words[i] & PM_SOFT_DIRTY else 0
    for i in range(c.n):
        if c.hit[i] and c.nr[i] != U32_MAX:
            c.nr[i] += 1
    c.checks += c.n
    return ST_OK


def prepare(PageSampler sampler, r, rng):
    """Start an aggregation: new page-cache generation, pick and prepare pages.

    Returns (status, errno, file code).
    """
    cdef int st
    cdef Sampler *c = sampler._bind(r, rng)
    c.gen += 1
    c.err = c.err_file = 0
    try:
        with nogil:
            st = _prepare(c)
    finally:
        sampler._unbind()
    return st, c.err, c.err_file


def run(
    samplers, regions, rngs, nr_samples, sample_ns, deadline_ns, StopFlag stop,
    bint fresh=False,
):
    """Run ``nr_samples`` sampling intervals for all targets without the GIL.

    With ``fresh``, first start an aggregation for every target, as ``prepare()`` does
    (one call per aggregation instead of two). Each interval: sleep until the deadline
    (``sample_ns`` after the previous one; no sleep when sample_ns is 0), check every
    target, and, except after the last interval, prepare the next pages. Returns
    (intervals done, [(status, errno, file) per target], last deadline, total lateness
    ns, max lateness ns). A target whose status is not ST_OK is left alone for the
    remaining intervals.
    """
    cdef Py_ssize_t t, nt = len(samplers), k, nk = nr_samples
    cdef u64 step = sample_ns, deadline = deadline_ns, now, lag = 0, max_lag = 0, late
    cdef Sampler *c
    if len(regions) != nt or len(rngs) != nt:
        raise ValueError("samplers, regions and rngs differ in length")
    cdef Sampler **ptrs = <Sampler **>malloc((nt + 1) * sizeof(Sampler *))
    cdef int *status = <int *>malloc((nt + 1) * sizeof(int))
    if ptrs == NULL or status == NULL:
        free(ptrs)
        free(status)
        raise MemoryError()
    done = 0
    try:
        for t in range(nt):
            c = (<PageSampler>samplers[t])._bind(regions[t], rngs[t])
            (<PageSampler>samplers[t])._grow_pre(c.n * max(nk - 1, 1))
            c.err = c.err_file = 0
            ptrs[t] = c
            status[t] = ST_OK
        with nogil:
            if fresh:
                for t in range(nt):
                    ptrs[t].gen += 1
                    status[t] = _prepare(ptrs[t])
            if nk > 1:
                for t in range(nt):
                    if status[t] == ST_OK:
                        status[t] = _draw_ahead(ptrs[t], nk - 1)
            k = 0
            while k < nk:
                if ds_load_flag(&stop.flag):
                    break
                if step:
                    deadline += step
                    now = ds_now_ns()
                    if now < deadline:
                        ds_wait_until(deadline, stop.efd, &stop.flag)
                        if ds_load_flag(&stop.flag):
                            break
                    else:
                        late = now - deadline
                        lag += late
                        if late > max_lag:
                            max_lag = late
                for t in range(nt):
                    if status[t] == ST_OK:
                        status[t] = _check(ptrs[t])
                k += 1
                if k < nk:
                    for t in range(nt):
                        if status[t] == ST_OK:
                            status[t] = _next(ptrs[t], k - 1)
        done = k
    finally:
        for t in range(nt):
            (<PageSampler>samplers[t])._unbind()
    out = [(status[t], ptrs[t].err, ptrs[t].err_file) for t in range(nt)]
    free(ptrs)
    free(status)
    return done, out, deadline, lag, max_lag

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# distutils: extra_compile_args = -ffp-contract=off
"""Compiled hot-path kernels of the user-space DAMON engine (damontui._kernels).

Mirror of damontui/backends/engine/kernels_py.py, which documents the semantics: same
API, bit-identical results, same random-number consumption. Heavy loops run with the
GIL released on typed memoryviews; the memoryviews hold buffer exports, so no other
thread can resize an array under us. Arrays are only resized (with the GIL held)
after those views are gone. The per-aggregation region kernels (merge, reset, split)
instead work on the arrays' own storage with the GIL held (see _region_ptrs).
-ffp-contract=off keeps C from fusing a*b+c into an FMA, which would round
differently from Python.
"""

import os

from cpython cimport array
from libc.errno cimport EINTR, EIO, ENOMEM, errno
from libc.math cimport rint, trunc
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memchr, memcmp, memcpy, memset
from posix.types cimport off_t
from posix.unistd cimport pread, pwrite, read

import array

KERNELS_API_VERSION = 3

ctypedef unsigned long long u64
ctypedef unsigned int u32
ctypedef long long i64

cdef extern from *:
    """
    #if !defined(__SIZEOF_INT128__)
    #error "damontui._kernels needs a compiler with unsigned __int128"
    #endif
    typedef unsigned long long dt_u64;

    static inline dt_u64 dt_splitmix_next(dt_u64 *state) {
        dt_u64 z = (*state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    /* floor((a*sa + b*sb) / (sa+sb)) without overflow, as Python's exact ints do.
       sa+sb fits 64 bits because the two regions touch. */
    static inline dt_u64 dt_weighted_avg(dt_u64 a, dt_u64 sa, dt_u64 b, dt_u64 sb) {
        unsigned __int128 num = (unsigned __int128)a * sa + (unsigned __int128)b * sb;
        dt_u64 den = sa + sb;
        /* 128-bit division is a slow libgcc call; sums below 2**64 are the norm. */
        if ((num >> 64) == 0) return (dt_u64)num / den;
        return (dt_u64)(num / den);
    }

    /* floor(k * size / 10) for k in 1..9, exact. */
    static inline dt_u64 dt_tenths(dt_u64 k, dt_u64 size) {
        if (size <= 0xFFFFFFFFFFFFFFFFULL / 9) return k * size / 10;
        return (dt_u64)(((unsigned __int128)k * size) / 10);
    }

    static inline dt_u64 dt_load_le64(const unsigned char *p) {
        dt_u64 v = 0;
        for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
        return v;
    }

    static inline void dt_store_le64(unsigned char *p, dt_u64 v) {
        for (int i = 0; i < 8; i++) { p[i] = (unsigned char)v; v >>= 8; }
    }
    """
    u64 dt_splitmix_next(u64 *state) noexcept nogil
    u64 dt_weighted_avg(u64 a, u64 sa, u64 b, u64 sb) noexcept nogil
    u64 dt_tenths(u64 k, u64 size) noexcept nogil
    u64 dt_load_le64(const unsigned char *p) noexcept nogil
    void dt_store_le64(unsigned char *p, u64 v) noexcept nogil

cdef extern from *:
    """
    /* The head of CPython's arrayobject (Modules/arraymodule.c, unchanged since 3.0),
       for its count of exported buffers. _array_layout_ok() checks it at import. */
    typedef struct {
        PyObject_VAR_HEAD
        char *ob_item;
        Py_ssize_t allocated;
        const void *ob_descr;
        PyObject *weakreflist;
        Py_ssize_t ob_exports;
    } dt_arrayobject;
    static inline Py_ssize_t dt_array_exports(PyObject *a) {
        return ((dt_arrayobject *)a)->ob_exports;
    }
    """
    Py_ssize_t dt_array_exports(object a)

cdef u32 U32_MAX = 0xFFFFFFFF
cdef u64 U64_MAX = 0xFFFFFFFFFFFFFFFF
# Word indices must keep index * 8 (plus a run) inside a signed off_t.
cdef u64 MAX_FILE_WORD = 1ULL << 59
cdef double TWO_POW_64 = 18446744073709551616.0

cdef array.array U64_TEMPLATE = array.array("Q")
cdef array.array U32_TEMPLATE = array.array("I")
cdef array.array F64_TEMPLATE = array.array("d")


# --- shared helpers ------------------------------------------------------------------


cdef u64[::1] _rng_view(rng):
    cdef u64[::1] view = rng
    if view.shape[0] < 1:
        raise ValueError("rng must be a 1-element array('Q') (see regionset.make_rng)")
    return view


cdef Py_ssize_t _check_lengths(r) except -1:
    cdef Py_ssize_t n = len(r.starts)
    for a in (r.ends, r.nr_accesses, r.last_nr_accesses, r.age, r.sample_addrs):
        if len(a) != n:
            raise ValueError("region arrays differ in length")
    return n


cdef struct RegionPtrs:
    u64 *starts
    u64 *ends
    u32 *nr
    u32 *last
    u32 *age
    u64 *samples
    Py_ssize_t n


cdef int _u64s(a, u64 **out) except -1:
    cdef array.array x = a  # TypeError unless an array.array
    if x.ob_descr.typecode != 81:  # 'Q'
        raise TypeError("region arrays must be array('Q') / array('I')")
    out[0] = x.data.as_ulonglongs
    return 0


cdef int _u32s(a, u32 **out) except -1:
    cdef array.array x = a
    if x.ob_descr.typecode != 73:  # 'I'
        raise TypeError("region arrays must be array('Q') / array('I')")
    out[0] = x.data.as_uints
    return 0


cdef int _region_ptrs(r, RegionPtrs *p) except -1:
    """Pointers into the six arrays of ``r`` (valid until one is resized).

    Used with the GIL held by kernels that run once per aggregation: an engine's
    regions are only touched from its own thread, and acquiring six buffer views per
    call cost more than the work itself (a TCG guest: ~0.3 ms per merge or split).
    """
    p.n = _check_lengths(r)
    _u64s(r.starts, &p.starts)
    _u64s(r.ends, &p.ends)
    _u32s(r.nr_accesses, &p.nr)
    _u32s(r.last_nr_accesses, &p.last)
    _u32s(r.age, &p.age)
    _u64s(r.sample_addrs, &p.samples)
    return 0


cdef int _resize_regions(r, Py_ssize_t n) except -1:
    for a in (r.starts, r.ends, r.nr_accesses, r.last_nr_accesses, r.age, r.sample_addrs):
        _resize(a, n)
    return 0


cdef bytes _zeros = b""  # reused zero bytes for growing arrays (never mutated)


cdef bint _array_layout_ok():
    """True if dt_array_exports reads CPython's export count (checked on a probe)."""
    cdef array.array a = array.array("Q", [1, 2, 3])
    if dt_array_exports(a) != 0:
        return False
    view = memoryview(a)
    ok = dt_array_exports(a) == 1
    view.release()
    return ok and dt_array_exports(a) == 0


# Resizing in C (cpython.array.resize_smart) when nobody holds a view of the array:
# the six Python-level resizes of a merge or split cost more than the kernel itself
# (a TCG guest: ~0.1 ms each per aggregation).
cdef bint _FAST_RESIZE = _array_layout_ok()


cdef int _resize(a, Py_ssize_t n) except -1:
    """Truncate or zero-extend ``a`` in place (raises BufferError while exported).

    cpython.array.resize_smart alone would move memory that someone still holds a
    view of: it is used only when the array has no exported buffer; otherwise the
    Python-level resize raises, as it should.
    """
    global _zeros
    cdef array.array x = a
    cdef Py_ssize_t cur = len(a), nbytes
    if _FAST_RESIZE and dt_array_exports(x) == 0:
        if n == cur:
            return 0
        array.resize_smart(x, n)
        if n > cur:
            memset(x.data.as_chars + cur * x.ob_descr.itemsize, 0, (n - cur) * x.ob_descr.itemsize)
        return 0
    if n < cur:
        del a[n:]
    elif n > cur:
        nbytes = (n - cur) * a.itemsize
        if len(_zeros) < nbytes:
            _zeros = bytes(nbytes)
        a.frombytes(memoryview(_zeros)[:nbytes])
    return 0


cdef inline i64 _absdiff(u32 a, u32 b) noexcept nogil:
    return <i64>a - <i64>b if a >= b else <i64>b - <i64>a


cdef u64 _clamp_u64(value, u64 hi):
    """``value`` clamped into [0, hi] (Python ints may be negative or huge)."""
    if value <= 0:
        return 0
    if value >= hi:
        return hi
    return value


# --- sampling ------------------------------------------------------------------------


def synthetic_check(addrs, block_starts, block_ends, block_prob, rng):
    """Per address, 1 with the access probability of the block holding it."""
    cdef u64[::1] state = _rng_view(rng)
    cdef Py_ssize_t nb = len(block_starts)
    if len(block_ends) != nb or len(block_prob) != nb:
        raise ValueError("block_starts, block_ends and block_prob differ in length")
    out = bytearray(len(addrs))
    if len(addrs):
        _synthetic_core(addrs, block_starts, block_ends, block_prob, state, out)
    return out


cdef void _synthetic_core(
    const u64[::1] addrs, const u64[::1] bstarts, const u64[::1] bends,
    const double[::1] bprob, u64[::1] state, unsigned char[::1] out,
) noexcept:
    cdef Py_ssize_t i, lo, hi, mid, nb = bstarts.shape[0]
    cdef u64 addr, s = state[0]
    cdef double rnd
    with nogil:
        for i in range(addrs.shape[0]):
            # Drawn before the lookup so addresses outside blocks consume one too.
            rnd = <double>dt_splitmix_next(&s) / TWO_POW_64
            addr = addrs[i]
            lo = 0
            hi = nb
            while lo < hi:  # first block starting after addr
                mid = (lo + hi) >> 1
                if bstarts[mid] <= addr:
                    lo = mid + 1
                else:
                    hi = mid
            lo -= 1
            out[i] = 1 if lo >= 0 and addr < bends[lo] and rnd < bprob[lo] else 0
        state[0] = s


def pick_samples(r, rng, page_size):
    """Pick one uniformly random page address per region into ``r.sample_addrs``."""
    cdef u64[::1] state = _rng_view(rng)
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    cdef Py_ssize_t n = len(r.starts)
    if len(r.ends) != n:
        raise ValueError("region arrays differ in length")
    _resize(r.sample_addrs, n)
    _pick_core(r.starts, r.ends, r.sample_addrs, state, page_size)


cdef void _pick_core(
    const u64[::1] starts, const u64[::1] ends, u64[::1] samples, u64[::1] state, u64 page
) noexcept:
    cdef Py_ssize_t i
    cdef u64 npages, rnd, s = state[0]
    with nogil:
        for i in range(starts.shape[0]):
            rnd = dt_splitmix_next(&s)
            npages = (ends[i] - starts[i]) // page
            if npages == 0:
                npages = 1
            samples[i] = starts[i] + (rnd % npages) * page
        state[0] = s


def apply_checks(r, accessed):
    """Count one access for each region whose ``accessed`` byte is non-zero."""
    cdef Py_ssize_t n = len(r.nr_accesses)
    if len(accessed) != n:
        raise ValueError(f"accessed has {len(accessed)} entries for {n} regions")
    if n == 0:
        return 0
    return _apply_core(r.nr_accesses, accessed)


cdef Py_ssize_t _apply_core(u32[::1] nr, const unsigned char[::1] accessed) noexcept:
    cdef Py_ssize_t i, hits = 0
    with nogil:
        for i in range(nr.shape[0]):
            if accessed[i]:
                hits += 1
                if nr[i] != U32_MAX:
                    nr[i] += 1
    return hits


# --- aggregation ---------------------------------------------------------------------


def merge(r, threshold, sz_limit, age_regions=True):
    """One DAMON merge pass (with aging unless ``age_regions`` is False)."""
    cdef RegionPtrs p
    _region_ptrs(r, &p)
    # Counts differ by < 2**32, so clamping the threshold changes no comparison; sizes
    # of valid (non-empty) regions are >= 1, so a negative limit acts like 0.
    cdef i64 thres = max(min(threshold, 1 << 40), -1)
    cdef u64 limit = _clamp_u64(sz_limit, U64_MAX)
    cdef Py_ssize_t m = _merge_core(&p, p.n, thres, limit, age_regions)
    if m != p.n:
        _resize_regions(r, m)


cdef Py_ssize_t _merge_core(
    RegionPtrs *r, Py_ssize_t n, i64 thres, u64 sz_limit, bint age_regions,
) noexcept nogil:
    """Compact merged regions (the first n) to the front; return how many remain."""
    cdef Py_ssize_t i, p, m = 0
    cdef u32 cur_nr, cur_last, cur_age
    cdef u64 size, psize
    cdef u64 *starts = r.starts
    cdef u64 *ends = r.ends
    cdef u32 *nr = r.nr
    cdef u32 *last = r.last
    cdef u32 *age = r.age
    cdef u64 *samples = r.samples
    for i in range(n):
        cur_nr = nr[i]
        cur_last = last[i]
        cur_age = age[i]
        if age_regions:
            if _absdiff(cur_nr, cur_last) > thres:
                cur_age = 0
            elif cur_age != U32_MAX:
                cur_age += 1
        size = ends[i] - starts[i]
        p = m - 1
        # Touching is tested first: only then is psize + size sure not to overflow.
        if (
            m > 0
            and ends[p] == starts[i]
            and _absdiff(nr[p], cur_nr) <= thres
            and ends[p] - starts[p] + size <= sz_limit
        ):
            psize = ends[p] - starts[p]
            if psize + size:
                nr[p] = <u32>dt_weighted_avg(nr[p], psize, cur_nr, size)
                last[p] = <u32>dt_weighted_avg(last[p], psize, cur_last, size)
                age[p] = <u32>dt_weighted_avg(age[p], psize, cur_age, size)
            ends[p] = ends[i]
            continue
        starts[m] = starts[i]
        ends[m] = ends[i]
        samples[m] = samples[i]
        nr[m] = cur_nr
        last[m] = cur_last
        age[m] = cur_age
        m += 1
    return m


def merge_to_limit(r, threshold, sz_limit, max_nr_regions, max_threshold):
    """Merge, doubling the threshold, until at most ``max_nr_regions`` remain."""
    cdef RegionPtrs p
    _region_ptrs(r, &p)
    cdef u64 limit = _clamp_u64(sz_limit, U64_MAX)
    cdef Py_ssize_t m = p.n
    thres = threshold
    first = True
    while True:
        m = _merge_core(&p, m, max(min(thres, 1 << 40), -1), limit, first)
        first = False
        thres = max(1, thres * 2)
        if not (m > max_nr_regions and thres // 2 < max_threshold):
            break
    if m != p.n:
        _resize_regions(r, m)


def reset_aggregated(r):
    """Start a new aggregation interval: remember the counts, then zero them."""
    cdef u32 *nr
    cdef u32 *last
    cdef Py_ssize_t i, n = len(r.nr_accesses)
    if len(r.last_nr_accesses) != n:
        raise ValueError("region arrays differ in length")
    _u32s(r.nr_accesses, &nr)
    _u32s(r.last_nr_accesses, &last)
    for i in range(n):
        last[i] = nr[i]
        nr[i] = 0


def split(r, nr_subs, min_region_sz, rng):
    """Split each region into up to ``nr_subs`` random pieces (DAMON's split pass)."""
    cdef u64 *state
    _u64s(rng, &state)
    if len(rng) < 1:
        raise ValueError("rng must be a 1-element array('Q') (see regionset.make_rng)")
    if min_region_sz <= 0:
        raise ValueError(f"min_region_sz must be positive, got {min_region_sz}")
    cdef RegionPtrs p
    _region_ptrs(r, &p)
    cdef Py_ssize_t n = p.n
    if nr_subs <= 1 or n == 0:
        return
    cdef Py_ssize_t *counts = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    cdef U64Buf cuts
    cuts.data = NULL
    cuts.len = cuts.cap = 0
    try:
        if counts == NULL:
            raise MemoryError()
        if _plan_splits(&p, state, nr_subs, min_region_sz, counts, &cuts) < 0:
            raise MemoryError()
        if cuts.len == 0:
            return
        _resize_regions(r, n + cuts.len)
        _region_ptrs(r, &p)  # the arrays may have moved
        _apply_splits(&p, n, counts, &cuts)
    finally:
        free(counts)
        free(cuts.data)


cdef struct U64Buf:
    u64 *data
    Py_ssize_t len
    Py_ssize_t cap


cdef int _buf_push(U64Buf *buf, u64 value) noexcept nogil:
    cdef Py_ssize_t cap
    cdef u64 *grown
    if buf.len == buf.cap:
        cap = buf.cap * 2 if buf.cap else 1024
        grown = <u64 *>realloc(buf.data, cap * sizeof(u64))
        if grown == NULL:
            return -1
        buf.data = grown
        buf.cap = cap
    buf.data[buf.len] = value
    buf.len += 1
    return 0


cdef int _plan_splits(
    const RegionPtrs *r, u64 *state, Py_ssize_t nr_subs,
    u64 min_sz, Py_ssize_t *counts, U64Buf *cuts,
) noexcept nogil:
    """Draw the cut addresses (RNG order as in the twin); -1 if out of memory."""
    cdef Py_ssize_t i, attempt, k
    cdef u64 start, size, sz_sub, s = state[0]
    cdef int err = 0
    cdef const u64 *starts = r.starts
    cdef const u64 *ends = r.ends
    for i in range(r.n):
        start = starts[i]
        k = 0
        for attempt in range(nr_subs - 1):
            size = ends[i] - start
            if size <= min_sz or size - min_sz <= min_sz:  # size <= 2*min_sz
                break
            sz_sub = dt_tenths(dt_splitmix_next(&s) % 9 + 1, size)
            sz_sub -= sz_sub % min_sz
            if sz_sub == 0 or sz_sub >= size:
                continue
            start += sz_sub
            if _buf_push(cuts, start) < 0:
                err = -1
                break
            k += 1
        counts[i] = k
        if err:
            break
    state[0] = s
    return err


cdef void _apply_splits(
    RegionPtrs *r, Py_ssize_t n, const Py_ssize_t *counts, const U64Buf *cuts,
) noexcept nogil:
    """Expand regions 0..n-1 into their pieces, back to front so nothing is overwritten
    before it is read (every region moves right, never left)."""
    cdef Py_ssize_t i, j, k, dst = n + cuts.len - 1, cut = cuts.len
    cdef u64 start, end, addr, piece_start, piece_end
    cdef u32 r_nr, r_last, r_age
    cdef u64 *starts = r.starts
    cdef u64 *ends = r.ends
    cdef u32 *nr = r.nr
    cdef u32 *last = r.last
    cdef u32 *age = r.age
    cdef u64 *samples = r.samples
    for i in range(n - 1, -1, -1):
        start = starts[i]
        end = ends[i]
        addr = samples[i]
        r_nr = nr[i]
        r_last = last[i]
        r_age = age[i]
        k = counts[i]
        cut -= k  # cuts of region i are cuts.data[cut .. cut+k-1]
        piece_end = end
        for j in range(k, -1, -1):
            piece_start = cuts.data[cut + j - 1] if j > 0 else start
            starts[dst] = piece_start
            ends[dst] = piece_end
            samples[dst] = addr if piece_start <= addr < piece_end else piece_start
            nr[dst] = r_nr
            last[dst] = r_last
            age[dst] = r_age
            dst -= 1
            piece_end = piece_start


# --- snapshot views ------------------------------------------------------------------


def temperatures(r, sample_us, aggr_us, double sz_weight, double ar_weight, double age_weight):
    """kernels_py.region_temperature (damo's temperature) of every region: the same
    float steps in the same order, so both give identical numbers."""
    if sample_us <= 0 or aggr_us <= 0:
        raise ValueError(f"intervals must be positive, got sample {sample_us} aggr {aggr_us} us")
    cdef Py_ssize_t n = len(r.starts)
    if len(r.ends) != n or len(r.nr_accesses) != n or len(r.age) != n:
        raise ValueError("region arrays differ in length")
    cdef array.array out = array.clone(F64_TEMPLATE, n, False)
    cdef double aggr = float(aggr_us)
    if n:
        _temps_core(
            r.starts, r.ends, r.nr_accesses, r.age, aggr / float(sample_us), aggr,
            sz_weight, ar_weight, age_weight, out,
        )
    return out


cdef void _temps_core(
    const u64[::1] starts, const u64[::1] ends, const u32[::1] nr, const u32[::1] age,
    double mx, double aggr, double sz_w, double ar_w, double age_w, double[::1] out,
) noexcept:
    cdef Py_ssize_t i
    cdef double percent, score
    with nogil:
        for i in range(starts.shape[0]):
            percent = trunc(<double>nr[i] * 100.0 / mx)  # whole percent, as damo
            score = sz_w * <double>(ends[i] - starts[i]) + ar_w * percent
            score = score + age_w * (<double>age[i] * aggr)
            out[i] = score if percent > 0.0 else -score


def temperature_order(
    r, sample_us, aggr_us, double sz_weight, double ar_weight, double age_weight,
    descending=True,
):
    """Region indices by temperature; ties go to the lower start, then lower index."""
    temps = temperatures(r, sample_us, aggr_us, sz_weight, ar_weight, age_weight)
    cdef Py_ssize_t n = len(temps)
    cdef array.array out = array.clone(U32_TEMPLATE, n, False)
    if n and _order_core(temps, r.starts, -1.0 if descending else 1.0, out) < 0:
        raise MemoryError()
    return out


cdef int _order_core(
    const double[::1] temps, const u64[::1] starts, double sign, u32[::1] out
) noexcept:
    """Fill ``out`` with the order; -1 if out of memory."""
    cdef Py_ssize_t i, n = temps.shape[0]
    cdef bint by_start = True
    cdef int err
    with nogil:
        for i in range(1, n):
            if starts[i - 1] > starts[i]:
                by_start = False
                break
        if by_start:
            err = _radix_order(&temps[0], n, sign, &out[0])
        else:
            err = _qsort_order(&temps[0], &starts[0], n, sign, &out[0])
    return err


cdef inline u64 _sortable_bits(double key) noexcept nogil:
    """Map a double to a u64 with the same order (so integer radix sort works)."""
    cdef u64 bits
    if key == 0.0:
        key = 0.0  # -0.0 and 0.0 must tie, as they do in Python
    memcpy(&bits, &key, sizeof(bits))
    return ~bits if bits >> 63 else bits | (1ULL << 63)


cdef int _radix_order(const double *temps, Py_ssize_t n, double sign, u32 *out) noexcept nogil:
    """Stable LSD radix sort (8-bit digits) of indices by sign * temperature.

    Regions are sorted by start, so stability alone gives the ties-by-start rule; this
    is several times faster than qsort with a comparison callback.
    """
    cdef u64 *keys = <u64 *>malloc(2 * n * sizeof(u64))
    cdef u32 *spare = <u32 *>malloc(n * sizeof(u32))
    cdef u64 *src_k = keys
    cdef u64 *dst_k = keys + n
    cdef u32 *src_i = out
    cdef u32 *dst_i = spare
    cdef Py_ssize_t counts[256]
    cdef Py_ssize_t i, d, total, c
    cdef int shift
    if keys == NULL or spare == NULL:
        free(keys)
        free(spare)
        return -1
    for i in range(n):
        src_k[i] = _sortable_bits(sign * temps[i])
        src_i[i] = <u32>i
    for shift in range(0, 64, 8):
        memset(counts, 0, sizeof(counts))
        for i in range(n):
            counts[(src_k[i] >> shift) & 0xFF] += 1
        if counts[(src_k[0] >> shift) & 0xFF] == n:
            continue  # every key has the same digit here: nothing to reorder
        total = 0
        for d in range(256):
            c = counts[d]
            counts[d] = total
            total += c
        for i in range(n):
            d = (src_k[i] >> shift) & 0xFF
            dst_k[counts[d]] = src_k[i]
            dst_i[counts[d]] = src_i[i]
            counts[d] += 1
        src_k, dst_k = dst_k, src_k
        src_i, dst_i = dst_i, src_i
    if src_i != out:
        memcpy(out, src_i, n * sizeof(u32))
    free(keys)
    free(spare)
    return 0


cdef struct TempKey:
    double key
    u64 start
    u64 index


cdef int _cmp_temp(const void *a, const void *b) noexcept nogil:
    cdef const TempKey *x = <const TempKey *>a
    cdef const TempKey *y = <const TempKey *>b
    if x.key != y.key:
        return -1 if x.key < y.key else 1
    if x.start != y.start:
        return -1 if x.start < y.start else 1
    return (x.index > y.index) - (x.index < y.index)


cdef int _qsort_order(
    const double *temps, const u64 *starts, Py_ssize_t n, double sign, u32 *out
) noexcept nogil:
    """The general path, for regions not sorted by start."""
    cdef TempKey *keys = <TempKey *>malloc(n * sizeof(TempKey))
    cdef Py_ssize_t i
    if keys == NULL:
        return -1
    for i in range(n):
        keys[i].key = sign * temps[i]
        keys[i].start = starts[i]
        keys[i].index = i
    qsort(keys, n, sizeof(TempKey), _cmp_temp)
    for i in range(n):
        out[i] = <u32>keys[i].index
    free(keys)
    return 0


def match_pattern(r, min_sz, max_sz, min_nr, max_nr, min_age, max_age):
    """1 per region whose size, nr_accesses and age are all within the inclusive ranges."""
    cdef Py_ssize_t n = len(r.starts)
    if len(r.ends) != n or len(r.nr_accesses) != n or len(r.age) != n:
        raise ValueError("region arrays differ in length")
    out = bytearray(n)
    # An empty or out-of-domain range matches nothing; otherwise clamp into the domain.
    if n == 0 or max_sz < 0 or max_nr < 0 or max_age < 0:
        return out
    if min_sz > U64_MAX or min_nr > U32_MAX or min_age > U32_MAX:
        return out
    _match_core(
        r.starts, r.ends, r.nr_accesses, r.age,
        _clamp_u64(min_sz, U64_MAX), _clamp_u64(max_sz, U64_MAX),
        _clamp_u64(min_nr, U32_MAX), _clamp_u64(max_nr, U32_MAX),
        _clamp_u64(min_age, U32_MAX), _clamp_u64(max_age, U32_MAX), out,
    )
    return out


cdef void _match_core(
    const u64[::1] starts, const u64[::1] ends, const u32[::1] nr, const u32[::1] age,
    u64 min_sz, u64 max_sz, u64 min_nr, u64 max_nr, u64 min_age, u64 max_age,
    unsigned char[::1] out,
) noexcept:
    cdef Py_ssize_t i
    cdef u64 size
    with nogil:
        for i in range(starts.shape[0]):
            size = ends[i] - starts[i]
            out[i] = (
                min_sz <= size <= max_sz
                and min_nr <= nr[i] <= max_nr
                and min_age <= age[i] <= max_age
            )


# --- batched file I/O ----------------------------------------------------------------


cdef struct WordKey:
    u64 word  # index of the 8-byte word in the file
    u64 pos  # position of the request in the caller's input


cdef int _cmp_word(const void *a, const void *b) noexcept nogil:
    cdef const WordKey *x = <const WordKey *>a
    cdef const WordKey *y = <const WordKey *>b
    if x.word != y.word:
        return -1 if x.word < y.word else 1
    return (x.pos > y.pos) - (x.pos < y.pos)


cdef int _cmp_u64(const void *a, const void *b) noexcept nogil:
    cdef u64 x = (<const u64 *>a)[0]
    cdef u64 y = (<const u64 *>b)[0]
    return (x > y) - (x < y)


cdef u64 _gap_limit(max_gap) except? 0:
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    # Runs end where idx - prev > max_gap + 1; clamping keeps the +1 from overflowing.
    return _clamp_u64(max_gap, 1ULL << 62)


def coalesce(sorted_indices, max_gap):
    """Group sorted word indices into runs ``(first, count)`` read by one pread each."""
    cdef u64 gap = _gap_limit(max_gap)
    cdef Py_ssize_t n = len(sorted_indices)
    if n == 0:
        return []
    cdef U64Buf runs
    runs.data = NULL
    runs.len = runs.cap = 0
    try:
        err = _coalesce_core(sorted_indices, gap, &runs)
        if err == -2:
            raise ValueError("indices must be sorted")
        if err < 0:
            raise MemoryError()
        return [(runs.data[k], runs.data[k + 1]) for k in range(0, runs.len, 2)]
    finally:
        free(runs.data)


cdef int _coalesce_core(const u64[::1] idx, u64 gap, U64Buf *runs) noexcept:
    """Append (first, count) pairs to ``runs``; -2 if unsorted, -1 if out of memory."""
    cdef Py_ssize_t i
    cdef u64 first = idx[0], prev = idx[0]
    cdef int err = 0
    with nogil:
        for i in range(idx.shape[0]):
            if idx[i] < prev:
                err = -2
                break
            if idx[i] - prev > gap + 1:
                if _buf_push(runs, first) < 0 or _buf_push(runs, prev - first + 1) < 0:
                    err = -1
                    break
                first = idx[i]
            prev = idx[i]
        if err == 0 and (_buf_push(runs, first) < 0 or _buf_push(runs, prev - first + 1) < 0):
            err = -1
    return err


cdef int _pread_full(int fd, unsigned char *buf, size_t nbytes, off_t offset) noexcept nogil:
    """Fill ``buf`` from ``offset``; zero what lies past end of file. Returns errno or 0."""
    cdef size_t done = 0
    cdef ssize_t got
    while done < nbytes:
        got = pread(fd, buf + done, nbytes - done, offset + <off_t>done)
        if got < 0:
            if errno == EINTR:
                continue
            return errno
        if got == 0:
            memset(buf + done, 0, nbytes - done)
            break
        done += <size_t>got
    return 0


cdef int _pwrite_full(int fd, const unsigned char *buf, size_t nbytes, off_t offset) noexcept nogil:
    cdef size_t done = 0
    cdef ssize_t put
    while done < nbytes:
        put = pwrite(fd, buf + done, nbytes - done, offset + <off_t>done)
        if put < 0:
            if errno == EINTR:
                continue
            return errno
        if put == 0:
            return EIO  # the file refused more bytes
        done += <size_t>put
    return 0


cdef int _gather_words(
    int fd, const WordKey *keys, Py_ssize_t n, u64 gap, u64 *out
) noexcept nogil:
    """out[key.pos] = file word key.word for sorted ``keys``; one pread per run.

    Returns 0 or an errno value.
    """
    cdef unsigned char *buf = NULL
    cdef unsigned char *grown
    cdef size_t cap = 0, nbytes
    cdef Py_ssize_t k = 0, last, j
    cdef u64 first
    cdef int err = 0
    while k < n:
        first = keys[k].word
        last = k
        while last + 1 < n and keys[last + 1].word - keys[last].word <= gap + 1:
            last += 1
        nbytes = (keys[last].word - first + 1) * 8
        if nbytes > cap:
            grown = <unsigned char *>realloc(buf, nbytes)
            if grown == NULL:
                err = ENOMEM
                break
            buf = grown
            cap = nbytes
        err = _pread_full(fd, buf, nbytes, <off_t>(first * 8))
        if err:
            break
        for j in range(k, last + 1):
            out[keys[j].pos] = dt_load_le64(buf + (keys[j].word - first) * 8)
        k = last + 1
    free(buf)
    return err


cdef WordKey *_sorted_keys(const u64[::1] values, u64 divisor, int shift) except NULL:
    """Keys (value // divisor >> shift, position), sorted; the caller frees them."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef WordKey *keys = <WordKey *>malloc(n * sizeof(WordKey))
    if keys == NULL:
        raise MemoryError()
    with nogil:
        for i in range(n):
            keys[i].word = (values[i] // divisor) >> shift
            keys[i].pos = i
        qsort(keys, n, sizeof(WordKey), _cmp_word)
    cdef u64 top = keys[n - 1].word
    if top >= MAX_FILE_WORD:
        free(keys)
        raise ValueError(f"word index {top:#x} is beyond the file offset range")
    return keys


cdef int _raise_errno(int err) except -1:
    raise OSError(err, os.strerror(err))


def read_pagemap(int fd, addrs, page_size, max_gap=64):
    """The /proc/PID/pagemap entry of each address, in input order (0 past EOF)."""
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    cdef u64 gap = _gap_limit(max_gap)
    cdef Py_ssize_t n = len(addrs)
    cdef array.array out = array.clone(U64_TEMPLATE, n, True)
    if n == 0:
        return out
    cdef WordKey *keys = _sorted_keys(addrs, _clamp_u64(page_size, U64_MAX), 0)
    cdef u64 *dest = out.data.as_ulonglongs
    cdef int err
    with nogil:
        err = _gather_words(fd, keys, n, gap, dest)
        free(keys)
    if err:
        _raise_errno(err)
    return out


def idle_bitmap_get(int fd, pfns, max_gap=64):
    """Per pfn, 1 if the page was accessed (idle bit clear), 0 if still idle."""
    cdef u64 gap = _gap_limit(max_gap)
    cdef Py_ssize_t n = len(pfns)
    out = bytearray(n)
    if n == 0:
        return out
    cdef array.array words = array.clone(U64_TEMPLATE, n, True)
    cdef WordKey *keys = _sorted_keys(pfns, 1, 6)
    cdef u64 *dest = words.data.as_ulonglongs
    cdef int err
    with nogil:
        err = _gather_words(fd, keys, n, gap, dest)
        free(keys)
    if err:
        _raise_errno(err)
    _idle_bits_core(pfns, words, out)
    return out


cdef void _idle_bits_core(
    const u64[::1] pfns, const u64[::1] words, unsigned char[::1] out
) noexcept:
    cdef Py_ssize_t i
    with nogil:
        for i in range(pfns.shape[0]):
            out[i] = 0 if (words[i] >> (pfns[i] & 63)) & 1 else 1


def idle_bitmap_set(int fd, pfns):
    """Mark ``pfns`` idle: write each touched word with just their bits set.

    Runs of consecutive words go out in one pwrite; gaps are never written (a zero
    word would be a no-op for page_idle, but would clobber an ordinary file).
    """
    cdef Py_ssize_t n = len(pfns)
    if n == 0:
        return
    cdef u64 *sorted_pfns = <u64 *>malloc(n * sizeof(u64))
    cdef unsigned char *buf = <unsigned char *>malloc(n * 8)
    cdef int err
    try:
        if sorted_pfns == NULL or buf == NULL:
            raise MemoryError()
        _copy_u64(pfns, sorted_pfns)
        with nogil:
            qsort(sorted_pfns, n, sizeof(u64), _cmp_u64)
            err = _write_idle_words(fd, sorted_pfns, n, buf)
        if err:
            _raise_errno(err)
    finally:
        free(sorted_pfns)
        free(buf)


cdef void _copy_u64(const u64[::1] src, u64 *dst) noexcept:
    cdef Py_ssize_t i
    with nogil:
        for i in range(src.shape[0]):
            dst[i] = src[i]


cdef int _write_idle_words(
    int fd, const u64 *pfns, Py_ssize_t n, unsigned char *buf
) noexcept nogil:
    """pwrite the bit words of sorted ``pfns``, one call per run of consecutive words.

    ``buf`` holds at least n words (a run has at most one word per pfn).
    """
    cdef Py_ssize_t k = 0, nwords
    cdef u64 first, word, bits
    cdef int err
    while k < n:
        first = pfns[k] >> 6
        nwords = 0
        # Each pass of this loop emits one word; stop when the next word isn't adjacent.
        while k < n and (pfns[k] >> 6) == first + <u64>nwords:
            word = pfns[k] >> 6
            bits = 0
            while k < n and (pfns[k] >> 6) == word:
                bits |= 1ULL << (pfns[k] & 63)
                k += 1
            dt_store_le64(buf + nwords * 8, bits)
            nwords += 1
        err = _pwrite_full(fd, buf, <size_t>nwords * 8, <off_t>(first * 8))
        if err:
            return err
    return 0


# --- smaps ---------------------------------------------------------------------------


cdef struct SmapsVma:
    u64 start
    u64 end
    double share  # referenced bytes / size, at most 1


cdef struct SmapsParse:
    SmapsVma *vmas
    Py_ssize_t len
    Py_ssize_t cap
    int err  # one of the SMAPS_* codes below
    Py_ssize_t line  # 1-based line of the error
    u64 start  # the VMA the error is about
    u64 end
    u64 prev_end


cdef enum:
    SMAPS_OK
    SMAPS_NOMEM
    SMAPS_BAD_HEADER
    SMAPS_HEX_TOO_LONG
    SMAPS_NO_REF
    SMAPS_EMPTY_VMA
    SMAPS_UNSORTED
    SMAPS_REF_OUTSIDE
    SMAPS_REF_TWICE
    SMAPS_BAD_REF
    SMAPS_REF_TOO_LARGE


cdef inline int _hex_digit(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:  # 0-9
        return c - 48
    if 97 <= c <= 102:  # a-f
        return c - 87
    return -1


cdef Py_ssize_t _scan_hex(
    const unsigned char *p, Py_ssize_t i, Py_ssize_t eol, u64 *value, int *ndigits
) noexcept nogil:
    """Parse lowercase hex digits from p[i]; return the index after them."""
    cdef u64 v = 0
    cdef int d, nd = 0
    while i < eol:
        d = _hex_digit(p[i])
        if d < 0:
            break
        v = (v << 4) | <u64>d
        nd += 1
        i += 1
    value[0] = v
    ndigits[0] = nd
    return i


cdef int _smaps_fail(SmapsParse *sp, int err, Py_ssize_t line, u64 start, u64 end) noexcept nogil:
    sp.err = err
    sp.line = line
    sp.start = start
    sp.end = end
    return -1


cdef int _smaps_header(
    SmapsParse *sp, const unsigned char *p, Py_ssize_t pos, Py_ssize_t eol,
    Py_ssize_t line, Py_ssize_t *open_line, bint *has_ref,
) noexcept nogil:
    cdef u64 start, end
    cdef int nd1, nd2
    cdef Py_ssize_t i = _scan_hex(p, pos, eol, &start, &nd1)
    cdef Py_ssize_t cap
    cdef SmapsVma *grown
    if i >= eol or p[i] != 45:  # '-'
        return _smaps_fail(sp, SMAPS_BAD_HEADER, line, 0, 0)
    i = _scan_hex(p, i + 1, eol, &end, &nd2)
    if nd2 == 0 or i >= eol or p[i] != 32:  # ' '
        return _smaps_fail(sp, SMAPS_BAD_HEADER, line, 0, 0)
    if nd1 > 16 or nd2 > 16:
        return _smaps_fail(sp, SMAPS_HEX_TOO_LONG, line, 0, 0)
    if sp.len and not has_ref[0]:
        return _smaps_fail(
            sp, SMAPS_NO_REF, open_line[0], sp.vmas[sp.len - 1].start, sp.vmas[sp.len - 1].end
        )
    if end <= start:
        return _smaps_fail(sp, SMAPS_EMPTY_VMA, line, start, end)
    if sp.len and start < sp.vmas[sp.len - 1].end:
        sp.prev_end = sp.vmas[sp.len - 1].end
        return _smaps_fail(sp, SMAPS_UNSORTED, line, start, end)
    if sp.len == sp.cap:
        cap = sp.cap * 2 if sp.cap else 256
        grown = <SmapsVma *>realloc(sp.vmas, cap * sizeof(SmapsVma))
        if grown == NULL:
            return _smaps_fail(sp, SMAPS_NOMEM, line, 0, 0)
        sp.vmas = grown
        sp.cap = cap
    sp.vmas[sp.len].start = start
    sp.vmas[sp.len].end = end
    sp.vmas[sp.len].share = 0.0
    sp.len += 1
    open_line[0] = line
    has_ref[0] = False
    return 0


cdef int _smaps_referenced(
    SmapsParse *sp, const unsigned char *p, Py_ssize_t pos, Py_ssize_t eol,
    Py_ssize_t line, bint *has_ref,
) noexcept nogil:
    cdef Py_ssize_t i = pos + 11, ws, nd
    cdef u64 kb = 0
    cdef SmapsVma *v
    cdef double share
    if sp.len == 0:
        return _smaps_fail(sp, SMAPS_REF_OUTSIDE, line, 0, 0)
    v = &sp.vmas[sp.len - 1]
    if has_ref[0]:
        return _smaps_fail(sp, SMAPS_REF_TWICE, line, v.start, v.end)
    ws = i
    while i < eol and (p[i] == 32 or p[i] == 9):  # ' ', '\t'
        i += 1
    ws = i - ws
    nd = i
    while i < eol and 48 <= p[i] <= 57:
        if i - nd < 19:  # 18 digits never overflow; more are refused below
            kb = kb * 10 + (p[i] - 48)
        i += 1
    nd = i - nd
    if (
        ws == 0 or nd == 0 or eol - i != 3
        or p[i] != 32 or p[i + 1] != 107 or p[i + 2] != 66  # " kB"
    ):
        return _smaps_fail(sp, SMAPS_BAD_REF, line, 0, 0)
    if nd > 18 or kb >= (1ULL << 54):
        return _smaps_fail(sp, SMAPS_REF_TOO_LARGE, line, 0, 0)
    share = <double>(kb * 1024) / <double>(v.end - v.start)
    v.share = 1.0 if share > 1.0 else share
    has_ref[0] = True
    return 0


cdef int _smaps_parse(SmapsParse *sp, const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """Fill sp.vmas from the smaps text p[:n] (semantics in kernels/smaps_py.py)."""
    cdef Py_ssize_t pos = 0, eol, line = 0, open_line = 0
    cdef const unsigned char *nl
    cdef bint has_ref = False
    cdef SmapsVma v
    while pos < n:
        line += 1
        nl = <const unsigned char *>memchr(p + pos, 10, n - pos)
        eol = nl - p if nl != NULL else n
        if eol > pos:
            if _hex_digit(p[pos]) >= 0:
                if _smaps_header(sp, p, pos, eol, line, &open_line, &has_ref) < 0:
                    return -1
            elif eol - pos >= 11 and memcmp(p + pos, b"Referenced:", 11) == 0:
                if _smaps_referenced(sp, p, pos, eol, line, &has_ref) < 0:
                    return -1
        pos = eol + 1
    if sp.len and not has_ref:
        v = sp.vmas[sp.len - 1]
        return _smaps_fail(sp, SMAPS_NO_REF, open_line, v.start, v.end)
    return 0


cdef str _smaps_message(SmapsParse *sp):
    where = f"smaps line {sp.line}"
    vma = f"VMA {sp.start:x}-{sp.end:x}"
    if sp.err == SMAPS_BAD_HEADER:
        return f"{where}: malformed VMA header (want START-END and a space)"
    if sp.err == SMAPS_HEX_TOO_LONG:
        return f"{where}: VMA address longer than 16 hex digits"
    if sp.err == SMAPS_NO_REF:
        return f"{where}: {vma} has no Referenced: line"
    if sp.err == SMAPS_EMPTY_VMA:
        return f"{where}: {vma} is empty or reversed"
    if sp.err == SMAPS_UNSORTED:
        return f"{where}: {vma} starts before the previous one ends ({sp.prev_end:x})"
    if sp.err == SMAPS_REF_OUTSIDE:
        return f"{where}: Referenced: line before any VMA header"
    if sp.err == SMAPS_REF_TWICE:
        return f"{where}: second Referenced: line in {vma}"
    if sp.err == SMAPS_BAD_REF:
        return f"{where}: malformed Referenced: line (want 'Referenced: N kB')"
    return f"{where}: Referenced: value too large"


def smaps_region_accesses(data, starts, ends, max_nr):
    """Per region, its referenced share per the smaps text ``data``, scaled to max_nr."""
    cdef Py_ssize_t n = len(starts)
    if len(ends) != n:
        raise ValueError("starts and ends differ in length")
    if not 0 <= max_nr <= U32_MAX:
        raise ValueError(f"max_nr must be in [0, {U32_MAX}], got {max_nr}")
    cdef const unsigned char[::1] text = memoryview(data).cast("B")
    cdef SmapsParse sp
    memset(&sp, 0, sizeof(sp))
    cdef array.array out = array.clone(U32_TEMPLATE, n, True)
    cdef Py_ssize_t bad
    cdef int rc = 0
    try:
        if text.shape[0]:
            with nogil:
                rc = _smaps_parse(&sp, &text[0], text.shape[0])
        if rc < 0:
            if sp.err == SMAPS_NOMEM:
                raise MemoryError()
            raise ValueError(_smaps_message(&sp))
        if n == 0:
            return out
        bad = _smaps_sweep(sp.vmas, sp.len, starts, ends, <u32>max_nr, out.data.as_uints)
        if bad >= 0:
            raise ValueError(f"region {bad} [{starts[bad]:#x}, {ends[bad]:#x}) is empty")
        return out
    finally:
        free(sp.vmas)


cdef Py_ssize_t _smaps_sweep(
    const SmapsVma *vmas, Py_ssize_t nv, const u64[::1] starts, const u64[::1] ends,
    u32 max_nr, u32 *out,
) noexcept:
    """Fill out; the index of the first empty region, or -1."""
    cdef Py_ssize_t i, j = 0, k
    cdef u64 start, end, lo, hi
    cdef double referenced, x, scale = <double>max_nr
    with nogil:
        for i in range(starts.shape[0]):
            start = starts[i]
            end = ends[i]
            if end <= start:
                return i
            while j < nv and vmas[j].end <= start:
                j += 1
            referenced = 0.0
            k = j
            while k < nv and vmas[k].start < end:
                hi = end if end < vmas[k].end else vmas[k].end
                lo = start if start > vmas[k].start else vmas[k].start
                referenced += <double>(hi - lo) * vmas[k].share
                k += 1
            x = rint(scale * referenced / <double>(end - start))
            out[i] = max_nr if x >= scale else <u32>x
    return -1


def read_to_end(int fd, buf, offset):
    """Read fd into buf[offset:] until end of file or buf is full; bytes now in buf."""
    cdef unsigned char[::1] view = buf
    cdef Py_ssize_t size = view.shape[0]
    if not 0 <= offset <= size:
        raise ValueError(f"offset must be in [0, {size}], got {offset}")
    cdef Py_ssize_t n = offset, got = 0
    cdef int err = 0
    with nogil:
        while n < size:
            got = read(fd, &view[n], <size_t>(size - n))
            if got > 0:
                n += got
            elif got == 0:
                break
            elif errno != EINTR:
                err = errno
                break
    if err:
        _raise_errno(err)
    return n

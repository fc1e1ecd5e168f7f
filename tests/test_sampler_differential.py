"""Differential tests: the compiled page sampler and its pure-Python twin must agree.

Both run on their own copies of the same file-emulated pagemap, idle bitmap and
kpageflags (this host has no page_idle), with the same regions and random state.
Between batches the same "accesses" are applied to both copies (idle bits cleared,
pages faulted in, soft-dirty bits set). Afterwards nr_accesses, the sample addresses,
the random state, the prepared PFNs, the I/O counters, the statuses and the bytes of
the bitmap file must be identical.
"""

from __future__ import annotations

import os
import random
from array import array
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damontui.backends.engine import sampler_py as py
from damontui.backends.engine.regionset import Regions, make_rng

try:
    from damontui import _sampler as cy
except ImportError as exc:  # pragma: no cover - depends on the build
    if os.environ.get("DAMONTUI_REQUIRE_COMPILED") == "1":
        raise
    pytestmark = pytest.mark.skip(reason=f"damontui._sampler is not built: {exc}")
    cy = py

PAGE = 4096
NR_VPAGES = 8192  # 32 MiB of virtual space: 16 huge-page blocks
NR_PFNS = 65536
PRESENT, SOFT_DIRTY = 1 << 63, 1 << 55
KPF_LRU, KPF_HEAD, KPF_TAIL, KPF_THP = 1 << 5, 1 << 15, 1 << 16, 1 << 22
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class World:
    """File-emulated pagemap / bitmap / kpageflags / clear_refs for one implementation."""

    def __init__(self, root: Path, pagemap: list[int], kpf: list[int]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.pagemap_path, self.bitmap_path = root / "pagemap", root / "bitmap"
        self.pagemap = list(pagemap)
        self._write_pagemap()
        self.bitmap_path.write_bytes(bytes(NR_PFNS // 8))
        (root / "kpageflags").write_bytes(b"".join(f.to_bytes(8, "little") for f in kpf))
        (root / "clear_refs").write_bytes(b"")
        self.fds = [
            os.open(self.pagemap_path, os.O_RDONLY),
            os.open(self.bitmap_path, os.O_RDWR),
            os.open(root / "clear_refs", os.O_WRONLY),
            os.open(root / "kpageflags", os.O_RDONLY),
        ]

    def _write_pagemap(self) -> None:
        self.pagemap_path.write_bytes(b"".join(e.to_bytes(8, "little") for e in self.pagemap))

    def access(self, pfns: list[int], fault_in: list[tuple[int, int]], dirty: list[int]) -> None:
        """What the kernel would do on accesses: clear idle bits, map pages, dirty them."""
        data = bytearray(self.bitmap_path.read_bytes())
        for p in pfns:
            data[p // 8] &= ~(1 << (p % 8)) & 0xFF
        self.bitmap_path.write_bytes(bytes(data))
        for vpage, pfn in fault_in:
            self.pagemap[vpage] = PRESENT | pfn
        for vpage in dirty:
            self.pagemap[vpage] |= SOFT_DIRTY
        self._write_pagemap()

    def clear_dirty(self) -> None:
        self.pagemap = [e & ~SOFT_DIRTY for e in self.pagemap]
        self._write_pagemap()

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def make_layout(seed: int) -> tuple[list[int], list[int]]:
    """A pagemap and kpageflags: some 2 MiB blocks are huge pages (head + 511 tails)."""
    rnd = random.Random(seed)
    pagemap = [0] * NR_VPAGES
    kpf = [0] * NR_PFNS
    free_blocks = list(range(1, NR_PFNS // 512))
    rnd.shuffle(free_blocks)
    next_small = 0
    for block in range(NR_VPAGES // 512):
        if rnd.random() < 0.3:  # a PMD-mapped THP
            base = free_blocks.pop() * 512
            kpf[base] = KPF_THP | KPF_HEAD | KPF_LRU
            for k in range(1, 512):
                kpf[base + k] = KPF_THP | KPF_TAIL
            for k in range(512):
                pagemap[block * 512 + k] = PRESENT | (base + k)
            continue
        small_base = free_blocks.pop() * 512
        for k in range(512):
            if rnd.random() < 0.7:
                pfn = small_base + (next_small + k * 7) % 512
                pagemap[block * 512 + k] = PRESENT | pfn
                kpf[pfn] = KPF_LRU if rnd.random() < 0.9 else 0
    return pagemap, kpf


def make_mapped(seed: int) -> list[tuple[int, int]]:
    """Mapped ranges (VMAs) over the virtual space, with holes between them."""
    rnd = random.Random(seed + 2)
    cuts = sorted(rnd.sample(range(1, NR_VPAGES), 12))
    bounds = [0, *cuts, NR_VPAGES]
    return [(bounds[i] * PAGE, bounds[i + 1] * PAGE) for i in range(0, len(bounds) - 1, 2)]


def run_both(
    tmp_path: Path,
    mode: int,
    seed: int,
    nr_regions: int,
    batches: list[int],
    holes: bool = False,
    ttl: int = 1,
    fresh: bool = False,
) -> list[int]:
    """Run both implementations; the (identical) nr_accesses at the end. With
    ``holes``, the samplers are told mapped ranges that leave holes; with ``ttl`` > 1,
    pagemap blocks are kept that many aggregations and each batch after the first
    starts a new aggregation (prepare, or run(fresh=True) with ``fresh``), as the
    engine does."""
    pagemap, kpf = make_layout(seed)
    worlds = {
        "cy": World(tmp_path / "cy", pagemap, kpf),
        "py": World(tmp_path / "py", pagemap, kpf),
    }
    impls: dict[str, ModuleType] = {"cy": cy, "py": py}
    # one mapped PFN plays the shared zero page (skipped, never set idle)
    present = [e & (PRESENT - 1) for e in pagemap if e & PRESENT]
    zero_pfn = present[seed % len(present)] if present else 0
    if mode == py.MODE_IDLE_PADDR:
        ranges = [(0, NR_PFNS * PAGE)]
    else:
        ranges = [(0, NR_VPAGES * PAGE // 2), (NR_VPAGES * PAGE // 2 + 3 * PAGE, NR_VPAGES * PAGE)]
    state = {}
    for name, impl in impls.items():
        w = worlds[name]
        pm, bm, cr, kp = w.fds
        s = impl.PageSampler(mode, pm, bm, cr, kp, PAGE)
        if holes:
            s.set_mapped(make_mapped(seed))
        s.set_pagemap_ttl(ttl)
        s.set_zero_pfn(zero_pfn)
        r = Regions.from_ranges(ranges, nr_regions, PAGE)
        state[name] = (s, r, make_rng(seed))
    rnd = random.Random(seed + 1)
    try:
        got = {n: impls[n].prepare(s, r, rng) for n, (s, r, rng) in state.items()}
        assert got["cy"] == got["py"]
        for b, nr in enumerate(batches):
            new_aggregation = bool(b) and ttl > 1
            if new_aggregation and not fresh:
                got = {n: impls[n].prepare(s, r, rng) for n, (s, r, rng) in state.items()}
                assert got["cy"] == got["py"]
            pfns = [rnd.randrange(NR_PFNS) for _ in range(rnd.randrange(0, 4000))]
            # and about half of the mapped pages (the ones paddr can track)
            pfns += [e & (PRESENT - 1) for e in pagemap if e and rnd.random() < 0.5]
            fault = [(rnd.randrange(NR_VPAGES), rnd.randrange(NR_PFNS)) for _ in range(20)]
            dirty = [rnd.randrange(NR_VPAGES) for _ in range(rnd.randrange(0, 3000))]
            for name in impls:
                if mode == py.MODE_SOFTDIRTY:
                    worlds[name].clear_dirty()
                worlds[name].access(pfns, fault, dirty)
            out = {}
            for name, (s, r, rng) in state.items():
                out[name] = impls[name].run(
                    [s], [r], [rng], nr, 0, 0, impls[name].StopFlag(), new_aggregation and fresh
                )
            assert out["cy"] == out["py"]
            (sc, rc, gc), (sp, rp, gp) = state["cy"], state["py"]
            assert rc == rp
            assert gc == gp
            assert sc.prepared_pfns() == sp.prepared_pfns()
            assert sc.counters() == sp.counters()
            assert worlds["cy"].bitmap_path.read_bytes() == worlds["py"].bitmap_path.read_bytes()
        return list(state["cy"][1].nr_accesses)
    finally:
        for w in worlds.values():
            w.close()


@SETTINGS
@given(
    mode=st.sampled_from([py.MODE_IDLE_VADDR, py.MODE_IDLE_PADDR, py.MODE_SOFTDIRTY]),
    seed=st.integers(0, 2**32),
    nr_regions=st.integers(1, 300),
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    holes=st.booleans(),
    ttl=st.integers(1, 3),
    fresh=st.booleans(),
)
def test_compiled_and_python_samplers_agree(
    tmp_path_factory: pytest.TempPathFactory,
    mode: int,
    seed: int,
    nr_regions: int,
    batches: list[int],
    holes: bool,
    ttl: int,
    fresh: bool,
) -> None:
    run_both(tmp_path_factory.mktemp("w"), mode, seed, nr_regions, batches, holes, ttl, fresh)


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
@pytest.mark.parametrize("mode", [py.MODE_IDLE_VADDR, py.MODE_IDLE_PADDR, py.MODE_SOFTDIRTY])
def test_fresh_run_is_prepare_then_run(tmp_path: Path, impl: ModuleType, mode: int) -> None:
    """run(fresh=True) starts the aggregation exactly as prepare() before run() does."""
    pagemap, kpf = make_layout(7)
    ranges = [(0, NR_PFNS * PAGE)] if mode == py.MODE_IDLE_PADDR else [(0, NR_VPAGES * PAGE)]
    results = []
    for way in ("prepare", "fresh"):
        w = World(tmp_path / way, pagemap, kpf)
        try:
            s = impl.PageSampler(mode, *w.fds, PAGE)
            r, rng = Regions.from_ranges(ranges, 40, PAGE), make_rng(7)
            impl.prepare(s, r, rng)
            impl.run([s], [r], [rng], 3, 0, 0, impl.StopFlag())
            if way == "prepare":
                impl.prepare(s, r, rng)
            out = impl.run([s], [r], [rng], 4, 0, 0, impl.StopFlag(), way == "fresh")
            results.append((out, list(r.nr_accesses), s.prepared_pfns(), s.counters()))
            results[-1] += (w.bitmap_path.read_bytes(),)
        finally:
            w.close()
    assert results[0] == results[1]


@pytest.mark.parametrize("mode", [py.MODE_IDLE_VADDR, py.MODE_IDLE_PADDR, py.MODE_SOFTDIRTY])
def test_accesses_are_counted(tmp_path: Path, mode: int) -> None:
    """Not vacuous: with many regions and many accesses, both count some, not all."""
    nr = run_both(tmp_path, mode, 7, 300, [3, 3])
    assert 0 < sum(nr) < 6 * len(nr)


@pytest.mark.parametrize("mode", [py.MODE_IDLE_VADDR, py.MODE_SOFTDIRTY])
def test_accesses_are_counted_with_holes(tmp_path: Path, mode: int) -> None:
    nr = run_both(tmp_path, mode, 9, 300, [3, 3], holes=True)
    assert 0 < sum(nr) < 6 * len(nr)


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
def test_pagemap_blocks_are_kept_for_the_ttl(tmp_path: Path, impl: ModuleType) -> None:
    """Sample windows read pagemap once per block and ttl aggregations, not per sample;
    a block older than the ttl is read again."""
    w = World(tmp_path, [PRESENT | (64 + k) for k in range(256)], [KPF_LRU] * 512)
    pm, bm, cr, kp = w.fds
    reads = {}
    for ttl in (1, 3):
        s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], pm, bm, cr, kp, PAGE)
        s.set_pagemap_ttl(ttl)
        r = Regions.from_ranges([(0, 256 * PAGE)], 4, PAGE)
        rng = make_rng(2)
        per_aggregation = []
        for _ in range(6):
            before = s.counters()["reads"]
            assert impl.prepare(s, r, rng)[0] == py.ST_OK
            impl.run([s], [r], [rng], 20, 0, 0, impl.StopFlag())
            assert s.counters()["checks"]  # not vacuous: pages were checked
            per_aggregation.append(s.counters()["reads"] - before)
        reads[ttl] = per_aggregation
    assert sum(reads[3]) < sum(reads[1])
    with pytest.raises(ValueError):
        s.set_pagemap_ttl(0)
    w.close()


def test_dense_regions_read_pagemap_a_page_table_at_a_time(tmp_path: Path) -> None:
    """A region sampled more often per block lifetime than it has blocks reads the whole
    page table's span (PM_GROUP blocks) on a miss, also in the prepare that starts the
    next aggregation; a sparse one reads one block (two where its window straddles).
    The compiled sampler makes the same reads (the I/O counters agree)."""
    pagemap = [PRESENT | (4096 + k) for k in range(4096)]  # 8 page tables' worth
    fills: dict[str, list[tuple[int, int]]] = {}
    counters = []
    for name, nr_regions, nr in (("dense", 16, 20), ("sparse", 1, 2)):
        for impl in (cy, py):
            w = World(tmp_path / f"{name}-{impl.__name__}", pagemap, [KPF_LRU] * 8192)
            s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], *w.fds, PAGE)
            s.set_mapped([(0, 4096 * PAGE)])  # one VMA: spans cross the regions in it
            if impl is py:
                calls = fills.setdefault(name, [])
                fill = s._pm_fill
                s._pm_fill = lambda b, k, fill=fill, calls=calls: (calls.append((b, k)), fill(b, k))
            r = Regions.from_ranges([(0, 4096 * PAGE)], nr_regions, PAGE)
            rng = make_rng(5)
            for _ in range(3):
                assert impl.prepare(s, r, rng)[0] == py.ST_OK
                impl.run([s], [r], [rng], nr, 0, 0, impl.StopFlag())
            counters.append(s.counters())
            w.close()
    assert counters[0] == counters[1] and counters[2] == counters[3]
    # 16 regions of 256 pages (4 blocks), 20 samples each per aggregation: dense from
    # the first run on (the very first prepare has no draw-ahead yet: one block)
    dense = fills["dense"][16:]
    assert dense and all(b % py.PM_GROUP == 0 and k == py.PM_GROUP for b, k in dense)
    assert len(fills["dense"]) <= 16 + 4096 // 64 // py.PM_GROUP * 3
    assert fills["sparse"] and all(k <= 2 for _, k in fills["sparse"])


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
@pytest.mark.parametrize("mode", ["MODE_IDLE_VADDR", "MODE_SOFTDIRTY"])
def test_samples_in_holes_cost_no_io_and_are_not_accessed(
    tmp_path: Path, impl: ModuleType, mode: str
) -> None:
    """DAMON's three regions keep small gaps (e.g. executable to heap): a sample in no
    VMA is not accessed, as the kernel's page walk finds nothing there, and costs no
    pagemap or bitmap read."""
    # pages 0..63 mapped and present; 64..4095 a hole (pagemap reads 0 there)
    pagemap = [PRESENT | (64 + k) for k in range(64)] + [0] * 4032
    w = World(tmp_path, pagemap, [KPF_LRU] * 256)
    pm, bm, cr, kp = w.fds
    counts = {}
    for told in (False, True):
        s = impl.PageSampler(impl.CONSTANTS[mode], pm, bm, cr, kp, PAGE)
        if told:
            s.set_mapped([(0, 64 * PAGE)])
        # regions over the mapped pages and over the hole
        r = Regions.from_ranges([(0, 64 * PAGE), (64 * PAGE, 4096 * PAGE)], 4, PAGE)
        rng = make_rng(4)
        assert impl.prepare(s, r, rng)[0] == py.ST_OK
        assert impl.run([s], [r], [rng], 5, 0, 0, impl.StopFlag())[0] == 5
        in_hole = [start >= 64 * PAGE for start in r.starts]
        assert 1 <= in_hole.count(False) < len(in_hole)
        flags = [f for _, f in s.prepared_pfns()]
        counts[told] = s.counters()["reads"]
        for hole, f, nr in zip(in_hole, flags, r.nr_accesses, strict=True):
            if hole:
                assert (f == py.F_SKIP) == told
                assert nr == 0
            else:
                assert f != py.F_SKIP
    assert counts[True] < counts[False]
    with pytest.raises(ValueError):
        s.set_mapped([(2 * PAGE, PAGE)])
    with pytest.raises(ValueError):
        s.set_mapped([(0, 4 * PAGE), (2 * PAGE, 8 * PAGE)])
    s.set_mapped(None)
    w.close()


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
def test_sample_windows_stay_in_the_mapped_range_of_their_draw(
    tmp_path: Path, impl: ModuleType
) -> None:
    """A sample moves within SLOT_PAGES of its draw, but never out of the mapped range
    it was drawn in: present pages of a mapping left out of the ranges (the vDSO and
    vvar, which DAMON never finds accessed) are never chosen."""
    # every page present (PFN 1000 + page); 64..127 is like [vvar]: present, not mapped
    w = World(tmp_path, [PRESENT | (1000 + k) for k in range(256)], [KPF_LRU] * 2048)
    pm, bm, cr, kp = w.fds
    s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], pm, bm, cr, kp, PAGE)
    s.set_mapped([(0, 64 * PAGE), (128 * PAGE, 256 * PAGE)])
    r = Regions.from_ranges([(0, 256 * PAGE)], 1, PAGE)  # one region over all of it
    rng = make_rng(5)
    checked = 0
    for _ in range(60):
        assert impl.prepare(s, r, rng)[0] == py.ST_OK
        flag = s.prepared_pfns()[0][1]
        if flag == py.F_BITMAP:
            checked += 1
            assert not 64 * PAGE <= r.sample_addrs[0] < 128 * PAGE
    assert checked > 20
    w.close()


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
def test_huge_page_tails_are_checked_at_their_head(tmp_path: Path, impl: ModuleType) -> None:
    # One THP at PFN 512..1023 mapped at vpages 0..511: every sample must use PFN 512.
    pagemap = [PRESENT | (512 + k) for k in range(512)]
    kpf = [0] * 2048
    kpf[512] = KPF_THP | KPF_HEAD | KPF_LRU
    for k in range(1, 512):
        kpf[512 + k] = KPF_THP | KPF_TAIL
    w = World(tmp_path, pagemap, kpf)
    pm, bm, cr, kp = w.fds
    s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], pm, bm, cr, kp, PAGE)
    r = Regions.from_ranges([(0, 512 * PAGE)], 8, PAGE)
    rng = make_rng(3)
    assert impl.prepare(s, r, rng)[0] == py.ST_OK
    assert {pfn for pfn, _ in s.prepared_pfns()} == {512}
    # idle bit of the head set, nothing else
    data = w.bitmap_path.read_bytes()
    assert data[512 // 8] == 1 and sum(data) == 1
    done, statuses, *_ = impl.run([s], [r], [rng], 1, 0, 0, impl.StopFlag())
    assert (done, statuses[0][0]) == (1, py.ST_OK)
    assert list(r.nr_accesses) == [0] * 8  # head still idle: nobody accessed the page
    assert s.counters()["thp_heads"] >= 1
    w.close()


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
def test_empty_pagemap_means_target_gone(tmp_path: Path, impl: ModuleType) -> None:
    w = World(tmp_path, [], [0] * 64)
    pm, bm, cr, kp = w.fds
    s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], pm, bm, cr, kp, PAGE)
    r = Regions.from_ranges([(0, 64 * PAGE)], 4, PAGE)
    assert impl.prepare(s, r, make_rng(1))[0] == py.ST_GONE
    s = impl.PageSampler(impl.CONSTANTS["MODE_SOFTDIRTY"], pm, bm, cr, kp, PAGE)
    rng = make_rng(1)
    assert impl.prepare(s, r, rng)[0] == py.ST_OK  # clear_refs accepted the write
    assert impl.run([s], [r], [rng], 2, 0, 0, impl.StopFlag())[1][0][0] == py.ST_GONE
    w.close()


def test_constants_match() -> None:
    assert cy.CONSTANTS == py.CONSTANTS
    assert cy.SAMPLER_API_VERSION == py.SAMPLER_API_VERSION


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
def test_stop_flag_ends_a_paced_run(tmp_path: Path, impl: ModuleType) -> None:
    import threading
    import time

    w = World(tmp_path, [PRESENT | k for k in range(1, 65)], [KPF_LRU] * 128)
    pm, bm, cr, kp = w.fds
    s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], pm, bm, cr, kp, PAGE)
    r = Regions.from_ranges([(0, 64 * PAGE)], 4, PAGE)
    rng = make_rng(1)
    impl.prepare(s, r, rng)
    stop = impl.StopFlag()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    # 1000 intervals of 100 ms would take 100 s; the flag must end it at once
    done, *_ = impl.run([s], [r], [rng], 1000, 100_000_000, time.monotonic_ns(), stop)
    assert time.monotonic() - t0 < 30
    assert done < 1000
    w.close()


def test_array_types_are_checked() -> None:
    s = cy.PageSampler(cy.CONSTANTS["MODE_IDLE_PADDR"], -1, -1, -1, -1, PAGE)
    r = Regions.from_ranges([(0, 64 * PAGE)], 4, PAGE)
    r.sample_addrs = array("Q", [0])
    with pytest.raises(ValueError):
        cy.prepare(s, r, make_rng(1))


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
@pytest.mark.parametrize("layout", ["contiguous", "scattered"])
def test_each_bitmap_word_has_one_page_set_idle(
    tmp_path: Path, impl: ModuleType, layout: str
) -> None:
    """A page set idle stays idle until accessed, and reading its word walks the rmap of
    every idle page in it: samples must keep to one page per word (its owner)."""
    nr_pages = 1024
    pfns = list(range(64, 64 + nr_pages))
    if layout == "scattered":
        random.Random(5).shuffle(pfns)
    pagemap = [PRESENT | p for p in pfns]
    w = World(tmp_path, pagemap, [KPF_LRU] * (64 + nr_pages))
    pm, bm, cr, kp = w.fds
    s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], pm, bm, cr, kp, PAGE)
    r = Regions.from_ranges([(0, nr_pages * PAGE)], 6, PAGE)
    rng = make_rng(11)
    set_idle: dict[int, set[int]] = {}
    samples = 0
    for _ in range(150):
        assert impl.prepare(s, r, rng)[0] == py.ST_OK
        for pfn, flag in s.prepared_pfns():
            assert flag == py.F_BITMAP
            set_idle.setdefault(pfn >> 6, set()).add(pfn)
            samples += 1
        assert impl.run([s], [r], [rng], 1, 0, 0, impl.StopFlag())[0] == 1
    conflicts = s.counters()["owner_conflicts"]
    if layout == "contiguous":  # every window of 64 pages holds its words' owners
        assert conflicts < samples // 20
    else:  # 16 owners among 1024 shuffled pages: a window holds none 37 % of the time
        assert conflicts < samples // 2
    extra = sum(len(p) - 1 for p in set_idle.values())
    assert extra <= conflicts, (extra, conflicts)
    assert len(set_idle) > 8  # not vacuous: the samples spread over most of the 16 words
    w.close()


@pytest.mark.parametrize("impl", [cy, py], ids=["cython", "python"])
def test_samples_on_the_zero_page_are_not_accessed_and_not_set_idle(
    tmp_path: Path, impl: ModuleType
) -> None:
    """The shared zero page is on no LRU: the bitmap reads it as accessed (0), DAMON
    finds no folio there and counts it not accessed. Told its PFN, the sampler does the
    same and writes no idle bit for it."""
    zero = 4000
    # pages 0..255: every other one mapped to the zero page (read, never written)
    pagemap = [PRESENT | (zero if k % 2 else 64 + k) for k in range(256)]
    w = World(tmp_path, pagemap, [KPF_LRU] * 4096)
    pm, bm, cr, kp = w.fds
    nr = {}
    for told in (False, True):
        s = impl.PageSampler(impl.CONSTANTS["MODE_IDLE_VADDR"], pm, bm, cr, kp, PAGE)
        if told:
            s.set_zero_pfn(zero)
        r = Regions.from_ranges([(0, 256 * PAGE)], 8, PAGE)
        rng = make_rng(5)
        impl.prepare(s, r, rng)
        for _ in range(10):
            w.access([zero], [], [])  # what the kernel's bitmap shows for it
            impl.run([s], [r], [rng], 1, 0, 0, impl.StopFlag())
        nr[told] = sum(r.nr_accesses)
        assert all(f == py.F_SKIP for p, f in s.prepared_pfns() if p == zero) or not told
    assert nr[False] > 0  # not vacuous: the zero page was sampled, and read as accessed
    assert nr[True] == 0
    w.close()

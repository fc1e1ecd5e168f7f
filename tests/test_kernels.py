"""Semantics of the engine kernels, run against both implementations.

The ``k`` fixture yields the pure-Python twin and the compiled module; the compiled
case is skipped when it is not built, unless DAMONTUI_REQUIRE_COMPILED=1 (CI sets it
so a broken build cannot hide behind a skip).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Iterator
from types import ModuleType

import pytest

from damontui.backends.engine.regionset import Regions, make_rng, rng_next
from damontui.kernels import kernels_py

PAGE = 4096
U32_MAX = 2**32 - 1


def compiled_or_skip() -> ModuleType:
    try:
        from damontui import _kernels
    except ImportError as exc:
        if os.environ.get("DAMONTUI_REQUIRE_COMPILED") == "1":
            pytest.fail(f"damontui._kernels must be built: {exc}")
        pytest.skip(f"damontui._kernels is not built: {exc}")
    return _kernels


@pytest.fixture(params=["python", "cython"])
def k(request: pytest.FixtureRequest) -> ModuleType:
    return kernels_py if request.param == "python" else compiled_or_skip()


def regions(*rows: tuple[int, ...]) -> Regions:
    """Regions from (start_page, end_page[, nr, age[, last]]) rows."""
    return Regions.from_tuples((s * PAGE, e * PAGE, *rest) for s, e, *rest in rows)


def rng_outputs(seed: int, count: int) -> list[int]:
    rng = make_rng(seed)
    return [rng_next(rng) for _ in range(count)]


# --- regionset ---------------------------------------------------------------------


def test_splitmix_matches_reference_values() -> None:
    # Published splitmix64 outputs for seed 0.
    assert rng_outputs(0, 3) == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_from_ranges_covers_ranges_with_enough_aligned_pieces() -> None:
    ranges = [(0, 100 * PAGE), (1000 * PAGE, 1003 * PAGE), (5000 * PAGE + 7, 5050 * PAGE)]
    r = Regions.from_ranges(ranges, min_nr_regions=10)
    r.validate(PAGE)
    assert len(r) >= 10
    pieces_per_range = [sum(1 for s in r.starts if lo <= s < hi) for lo, hi in ranges]
    assert all(p >= 1 for p in pieces_per_range)
    assert pieces_per_range[0] > pieces_per_range[2] > pieces_per_range[1]
    assert r.starts[0] == 0 and r.ends[-1] == 5050 * PAGE
    assert r.total_size() == (100 + 3 + 50) * PAGE  # unaligned start widened down


def test_from_ranges_never_splits_below_a_page() -> None:
    r = Regions.from_ranges([(0, 3 * PAGE)], min_nr_regions=10)
    assert r.to_tuples() == [(i * PAGE, (i + 1) * PAGE, 0, 0) for i in range(3)]


def test_from_tuples_round_trip_and_validation() -> None:
    r = regions((0, 1, 3, 4), (1, 5), (9, 10, 1, 2, 7))
    assert r.to_tuples() == [(0, PAGE, 3, 4), (PAGE, 5 * PAGE, 0, 0), (9 * PAGE, 10 * PAGE, 1, 2)]
    assert list(r.last_nr_accesses) == [0, 0, 7]
    assert r.copy() == r and r.copy() is not r
    for bad in ([(2, 2)], [(0, 4), (3, 5)], [(5, 6), (0, 1)]):
        with pytest.raises(ValueError):
            regions(*bad)


def test_set_ranges_drops_clips_and_fills() -> None:
    r = regions((0, 10, 5, 1), (10, 20, 6, 2), (30, 40, 7, 3), (50, 60, 8, 4))
    r.set_ranges([(5 * PAGE, 35 * PAGE), (38 * PAGE, 45 * PAGE)], PAGE)
    assert r.to_tuples() == [
        (5 * PAGE, 10 * PAGE, 5, 1),
        (10 * PAGE, 20 * PAGE, 6, 2),
        (20 * PAGE, 30 * PAGE, 0, 0),  # gap filled
        (30 * PAGE, 35 * PAGE, 7, 3),
        (38 * PAGE, 40 * PAGE, 7, 3),  # the region spanning both ranges, second piece
        (40 * PAGE, 45 * PAGE, 0, 0),
    ]
    r.validate(PAGE)


def test_set_ranges_on_empty_regions_creates_one_per_range() -> None:
    r = Regions()
    r.set_ranges([(PAGE, 3 * PAGE), (8 * PAGE, 9 * PAGE)], PAGE)
    assert r.to_tuples() == [(PAGE, 3 * PAGE, 0, 0), (8 * PAGE, 9 * PAGE, 0, 0)]


# --- sampling ----------------------------------------------------------------------


def test_pick_samples_uses_one_draw_per_region(k: ModuleType) -> None:
    r = regions((0, 10), (10, 11), (20, 36))
    rng = make_rng(7)
    k.pick_samples(r, rng, PAGE)
    draws = rng_outputs(7, 3)
    assert list(r.sample_addrs) == [
        0 + (draws[0] % 10) * PAGE,
        10 * PAGE,
        20 * PAGE + (draws[2] % 16) * PAGE,
    ]
    expected_rng = make_rng(7)
    for _ in range(3):
        rng_next(expected_rng)
    assert rng == expected_rng


def test_pick_samples_resizes_sample_addrs(k: ModuleType) -> None:
    r = regions((0, 4), (4, 8))
    del r.sample_addrs[:]
    k.pick_samples(r, make_rng(1), PAGE)
    r.validate(PAGE)


def test_apply_checks_counts_and_saturates(k: ModuleType) -> None:
    r = regions((0, 1, 3, 0), (1, 2, U32_MAX, 0), (2, 3, 0, 0))
    assert k.apply_checks(r, bytes([1, 1, 0])) == 2
    assert list(r.nr_accesses) == [4, U32_MAX, 0]
    with pytest.raises(ValueError):
        k.apply_checks(r, bytes(2))


def test_synthetic_check_follows_the_random_stream(k: ModuleType) -> None:
    starts, ends = array("Q", [0, 100]), array("Q", [50, 200])
    probs = array("d", [0.5, 1.0])
    addrs = array("Q", [10, 60, 150, 10, 300, 20])
    rng = make_rng(42)
    got = k.synthetic_check(addrs, starts, ends, probs, rng)
    draws = rng_outputs(42, len(addrs))
    block_prob = {10: 0.5, 20: 0.5, 150: 1.0}
    want = bytearray(
        int(a in block_prob and d / 2**64 < block_prob[a])
        for a, d in zip(addrs, draws, strict=True)
    )
    assert got == want
    assert got[1] == 0 and got[4] == 0  # gap and beyond the last block
    assert rng[0] == make_rng(42)[0] + len(addrs) * 0x9E3779B97F4A7C15 & (2**64 - 1)


def test_synthetic_check_rate(k: ModuleType) -> None:
    addrs = array("Q", [5] * 20000)
    got = k.synthetic_check(
        addrs, array("Q", [0]), array("Q", [10]), array("d", [0.25]), make_rng(3)
    )
    assert 0.23 < sum(got) / len(got) < 0.27


def test_synthetic_check_rejects_mismatched_blocks(k: ModuleType) -> None:
    with pytest.raises(ValueError):
        k.synthetic_check(
            array("Q", [1]), array("Q", [0]), array("Q"), array("d", [1]), make_rng(0)
        )
    with pytest.raises(ValueError):
        k.synthetic_check(array("Q"), array("Q"), array("Q"), array("d"), array("Q"))


# --- aggregation -------------------------------------------------------------------


def test_merge_ages_then_merges_with_weighted_averages(k: ModuleType) -> None:
    # (start, end, nr, age, last)
    r = regions((0, 1, 2, 5, 2), (1, 3, 4, 1, 9), (3, 4, 9, 0, 9), (6, 7, 4, 0, 4))
    k.merge(r, 2, 100 * PAGE)
    # Region 0 ages to 6; region 1 moved by 5 > 2, so age 0, and merges into 0:
    # nr (2*1 + 4*2)//3 = 3, age (6*1 + 0*2)//3 = 2, last (2 + 18)//3 = 6.
    # Region 2 (nr 9) differs by 6 from 3: kept, ages to 1. Region 3 is not adjacent.
    assert r.to_tuples() == [
        (0, 3 * PAGE, 3, 2),
        (3 * PAGE, 4 * PAGE, 9, 1),
        (6 * PAGE, 7 * PAGE, 4, 1),
    ]
    assert list(r.last_nr_accesses) == [6, 9, 4]
    r.validate(PAGE)


def test_merge_respects_size_limit_and_skips_aging(k: ModuleType) -> None:
    r = regions((0, 2, 1, 4), (2, 4, 1, 4), (4, 6, 1, 4))
    k.merge(r, 0, 4 * PAGE, age_regions=False)
    assert r.to_tuples() == [(0, 4 * PAGE, 1, 4), (4 * PAGE, 6 * PAGE, 1, 4)]


def test_merge_chains_into_the_kept_region(k: ModuleType) -> None:
    r = regions(*[(i, i + 1, 5, 0, 5) for i in range(50)])
    k.merge(r, 0, 2**64)
    assert r.to_tuples() == [(0, 50 * PAGE, 5, 1)]


def test_merge_exact_for_huge_products(k: ModuleType) -> None:
    big = 2**40
    r = Regions.from_tuples([(0, big, U32_MAX, U32_MAX, U32_MAX), (big, 3 * big, U32_MAX - 3, 0)])
    k.merge(r, 10, 2**64, age_regions=False)
    assert r.to_tuples() == [(0, 3 * big, (U32_MAX + 2 * (U32_MAX - 3)) // 3, U32_MAX // 3)]


def test_age_saturates(k: ModuleType) -> None:
    r = regions((0, 1, 0, U32_MAX))
    k.merge(r, 0, 2**64)
    assert r.to_tuples() == [(0, PAGE, 0, U32_MAX)]


def test_merge_to_limit_doubles_threshold_and_ages_once(k: ModuleType) -> None:
    nrs = [0, 3, 6, 12, 24, 48]
    r = regions(*[(i, i + 1, nr, 0, nr) for i, nr in enumerate(nrs)])
    k.merge_to_limit(r, 1, 2**64, max_nr_regions=2, max_threshold=100)
    assert len(r) <= 2
    assert set(r.age) == {1}  # one aging pass; averaging ages of 1 keeps 1


def test_merge_to_limit_stops_at_max_threshold(k: ModuleType) -> None:
    r = regions((0, 1, 0), (1, 2, 50), (2, 3, 100))
    k.merge_to_limit(r, 1, 2**64, max_nr_regions=1, max_threshold=8)
    assert len(r) == 3


def test_reset_aggregated(k: ModuleType) -> None:
    r = regions((0, 1, 3, 0, 9), (1, 2, 0, 0, 1))
    k.reset_aggregated(r)
    assert list(r.last_nr_accesses) == [3, 0] and list(r.nr_accesses) == [0, 0]


def expected_cuts(start: int, end: int, nr_subs: int, min_sz: int, rng: array) -> list[int]:
    """The spec of split for one region, drawn from ``rng``."""
    cuts = []
    for _ in range(nr_subs - 1):
        size = end - start
        if size <= 2 * min_sz:
            break
        sz_sub = (rng_next(rng) % 9 + 1) * size // 10
        sz_sub -= sz_sub % min_sz
        if 0 < sz_sub < size:
            start += sz_sub
            cuts.append(start)
    return cuts


def test_split_follows_spec_and_keeps_counters(k: ModuleType) -> None:
    r = regions((0, 1000, 7, 3, 2), (1000, 1002, 1, 1), (2000, 2100, 4, 0))
    r.sample_addrs[0] = 999 * PAGE
    rng = make_rng(11)
    k.split(r, 4, PAGE, rng)
    ref = make_rng(11)
    bounds = [0, *expected_cuts(0, 1000 * PAGE, 4, PAGE, ref), 1000 * PAGE]
    bounds2 = [2000 * PAGE, *expected_cuts(2000 * PAGE, 2100 * PAGE, 4, PAGE, ref), 2100 * PAGE]
    assert rng == ref  # the 2-page region is too small to draw
    want = [(a, b, 7, 3) for a, b in zip(bounds, bounds[1:], strict=False)]
    want += [(1000 * PAGE, 1002 * PAGE, 1, 1)]
    want += [(a, b, 4, 0) for a, b in zip(bounds2, bounds2[1:], strict=False)]
    assert r.to_tuples() == want
    assert len(bounds) > 2
    r.validate(PAGE)
    assert set(r.last_nr_accesses[: len(bounds) - 1]) == {2}
    assert r.sample_addrs[len(bounds) - 2] == 999 * PAGE  # kept by the piece holding it


def test_split_noop_cases(k: ModuleType) -> None:
    r = regions((0, 100, 1, 1))
    rng = make_rng(5)
    k.split(r, 1, PAGE, rng)
    k.split(Regions(), 3, PAGE, rng)
    assert r.to_tuples() == [(0, 100 * PAGE, 1, 1)] and rng == make_rng(5)
    with pytest.raises(ValueError):
        k.split(r, 2, 0, rng)


def test_split_pieces_are_aligned_and_bounded(k: ModuleType) -> None:
    r = Regions.from_ranges([(0, 10_000 * PAGE)], 50)
    k.split(r, 3, 2 * PAGE, make_rng(99))
    r.validate(2 * PAGE)
    assert 50 < len(r) <= 150
    assert r.total_size() == 10_000 * PAGE


def test_mismatched_arrays_are_rejected(k: ModuleType) -> None:
    r = regions((0, 1), (1, 2))
    r.age.pop()
    for call in (
        lambda: k.merge(r, 0, 2**64),
        lambda: k.split(r, 2, PAGE, make_rng(0)),
    ):
        with pytest.raises(ValueError):
            call()


# --- snapshot views ----------------------------------------------------------------


def test_temperatures_formula(k: ModuleType) -> None:
    """damo's formula: whole percent (truncated), age in microseconds, the whole score
    negated at 0 %. Sampling 5 ms, aggregation 100 ms: 20 samples per aggregation."""
    r = regions((0, 2, 5, 3), (2, 3, 0, 4), (3, 4, 3, 1))
    temps = k.temperatures(r, 5_000, 100_000, 0.5, 2.0, 10.0)
    assert list(temps) == [
        0.5 * 2 * PAGE + 2.0 * 25.0 + 10.0 * 300_000,
        -(0.5 * PAGE + 10.0 * 400_000),
        0.5 * PAGE + 2.0 * 15.0 + 10.0 * 100_000,
    ]
    # 1 of 300 samples is 0.33 %: damo truncates it to 0 % and counts the region idle
    assert list(k.temperatures(regions((0, 1, 1, 2)), 1_000, 300_000, 0.0, 100.0, 1.0)) == [
        -600_000.0
    ]
    with pytest.raises(ValueError):
        k.temperatures(r, 0, 100_000, 1.0, 1.0, 1.0)


def test_temperature_order_breaks_ties_by_start(k: ModuleType) -> None:
    r = regions((0, 1, 1, 0), (1, 2, 5, 0), (2, 3, 1, 0), (3, 4, 9, 0))
    assert list(k.temperature_order(r, 10, 100, 0.0, 1.0, 0.0)) == [3, 1, 0, 2]
    assert list(k.temperature_order(r, 10, 100, 0.0, 1.0, 0.0, descending=False)) == [0, 2, 1, 3]
    assert list(k.temperature_order(Regions(), 10, 100, 1.0, 1.0, 1.0)) == []


def test_temperature_order_treats_signed_zeros_as_ties(k: ModuleType) -> None:
    # Cold region 0 has temperature -0.0 (the negated score of age 0), hot region 1
    # has 0.0 (no access-rate weight): equal, so the lower start goes first either way.
    r = regions((0, 1, 0, 0), (1, 2, 1, 0))
    for descending in (True, False):
        assert list(k.temperature_order(r, 10, 100, 0.0, 0.0, 1.0, descending)) == [0, 1]


def test_match_pattern_inclusive_bounds(k: ModuleType) -> None:
    r = regions((0, 1, 0, 0), (1, 3, 5, 2), (3, 7, 10, 9))
    assert k.match_pattern(r, PAGE, 4 * PAGE, 0, 10, 0, 9) == bytearray([1, 1, 1])
    assert k.match_pattern(r, 2 * PAGE, 2 * PAGE, 5, 5, 2, 2) == bytearray([0, 1, 0])
    assert k.match_pattern(r, 0, 2**70, -5, 2**40, 3, 9) == bytearray([0, 0, 1])
    assert k.match_pattern(r, 0, -1, 0, 10, 0, 10) == bytearray(3)


# --- batched file I/O ----------------------------------------------------------------


def test_coalesce_runs(k: ModuleType) -> None:
    idx = array("Q", [3, 3, 4, 6, 20, 21, 100])
    assert k.coalesce(idx, 0) == [(3, 2), (6, 1), (20, 2), (100, 1)]
    assert k.coalesce(idx, 1) == [(3, 4), (20, 2), (100, 1)]
    assert k.coalesce(idx, 13) == [(3, 19), (100, 1)]
    assert k.coalesce(idx, 78) == [(3, 98)]
    assert k.coalesce(array("Q"), 5) == []
    with pytest.raises(ValueError):
        k.coalesce(array("Q", [5, 4]), 5)
    with pytest.raises(ValueError):
        k.coalesce(idx, -1)


@pytest.fixture
def word_file() -> Iterator[tuple[int, list[int]]]:
    """An fd of a file holding 300 little-endian u64 words (word i = i * 0x10001 + 7)."""
    words = [i * 0x10001 + 7 for i in range(300)]
    with tempfile.TemporaryFile() as f:
        f.write(b"".join(w.to_bytes(8, "little") for w in words))
        f.flush()
        yield f.fileno(), words


def test_read_pagemap_returns_entries_in_input_order(
    k: ModuleType, word_file: tuple[int, list[int]]
) -> None:
    fd, words = word_file
    pages = [250, 3, 3, 7, 299, 0, 120, 400]  # 400 is past EOF
    got = k.read_pagemap(fd, array("Q", [p * PAGE + 5 for p in pages]), PAGE, max_gap=8)
    assert list(got) == [words[p] if p < 300 else 0 for p in pages]
    assert list(k.read_pagemap(fd, array("Q"), PAGE)) == []


def test_read_pagemap_one_pread_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = os.pread

    def counting_pread(fd: int, n: int, off: int) -> bytes:
        calls.append((n, off))
        return real(fd, n, off)

    monkeypatch.setattr(kernels_py.os, "pread", counting_pread)
    with tempfile.TemporaryFile() as f:
        f.write(bytes(8 * 1000))
        f.flush()
        addrs = array("Q", [p * PAGE for p in (900, 10, 12, 11, 500, 70)])
        kernels_py.read_pagemap(f.fileno(), addrs, PAGE, max_gap=64)
    assert calls == [(61 * 8, 10 * 8), (8, 500 * 8), (8, 900 * 8)]


def test_read_pagemap_errors(k: ModuleType) -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as info:
        k.read_pagemap(r, array("Q", [0]), PAGE)
    assert info.value.errno == 9 and info.value.filename is None  # EBADF
    with pytest.raises(ValueError):
        k.read_pagemap(r, array("Q", [0]), 0)
    with pytest.raises(ValueError):
        k.read_pagemap(r, array("Q", [2**64 - 1]), 1)  # offset beyond off_t


def test_idle_bitmap_set_then_get(k: ModuleType) -> None:
    with tempfile.TemporaryFile() as f:
        f.write(b"\xff" * 8 * 8)  # eight words, every page idle
        f.flush()
        fd = f.fileno()
        pfns = array("Q", [0, 1, 63, 64, 200, 130, 0])
        assert k.idle_bitmap_get(fd, pfns) == bytearray(7)  # all still idle
        f.seek(0)
        f.write(bytes(8 * 8))  # the kernel clears bits of accessed pages
        f.flush()
        k.idle_bitmap_set(fd, array("Q", [1, 63, 64, 200]))
        data = os.pread(fd, 64, 0)
        assert int.from_bytes(data[0:8], "little") == (1 << 1) | (1 << 63)
        assert int.from_bytes(data[8:16], "little") == 1
        assert int.from_bytes(data[24:32], "little") == 1 << 8
        assert k.idle_bitmap_get(fd, pfns) == bytearray([1, 0, 0, 0, 0, 1, 1])
        assert k.idle_bitmap_get(fd, array("Q", [64 * 100])) == bytearray([1])  # past EOF


def test_idle_bitmap_set_writes_only_touched_words(k: ModuleType) -> None:
    with tempfile.TemporaryFile() as f:
        f.write(b"\xaa" * 8 * 4)
        f.flush()
        k.idle_bitmap_set(f.fileno(), array("Q", [64 * 3 + 5]))
        data = os.pread(f.fileno(), 32, 0)
    assert data[:24] == b"\xaa" * 24 and int.from_bytes(data[24:], "little") == 1 << 5


# --- loader ----------------------------------------------------------------------------


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return result.stdout + result.stderr


def test_loader_can_be_forced_to_pure_python() -> None:
    code = "from damontui import kernels as k; print(k.IMPL_NAME, k.IMPORT_ERROR)"
    out = run_python(code, DAMONTUI_PURE_PYTHON="1")
    assert "python None" in out and "Warning" not in out


def test_loader_falls_back_with_a_warning() -> None:
    code = (
        "import sys; sys.modules['damontui._kernels'] = None\n"
        "from damontui import kernels as k\n"
        "print(k.IMPL_NAME, k.merge.__module__, repr(k.IMPORT_ERROR))"
    )
    out = run_python(code, DAMONTUI_PURE_PYTHON="0")
    assert "python damontui.kernels.kernels_py 'ModuleNotFoundError" in out
    assert "RuntimeWarning: compiled kernels (damontui._kernels) failed to import" in out
    assert "slower pure-Python twin" in out


def test_loader_refuses_a_stale_build() -> None:
    code = (
        "import sys, types; fake = types.ModuleType('damontui._kernels')\n"
        "fake.KERNELS_API_VERSION = 0; sys.modules['damontui._kernels'] = fake\n"
        "from damontui import kernels as k\n"
        "print(k.IMPL_NAME, k.IMPORT_ERROR)"
    )
    out = run_python(code, DAMONTUI_PURE_PYTHON="0")
    assert "python ImportError: damontui._kernels is stale (API version 0" in out


def test_loader_exports_every_kernel() -> None:
    from damontui import kernels

    for name in kernels.KERNEL_NAMES:
        assert getattr(kernels, name) is getattr(kernels.impl, name)
        assert callable(getattr(kernels_py, name))
    if kernels.IMPL_NAME == "cython":
        assert kernels.IMPORT_ERROR is None

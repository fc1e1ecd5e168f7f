"""Differential tests: the compiled kernels and the pure-Python twin must agree exactly.

Every operation runs on two copies of the same random region set with two copies of
the same random state; all six arrays, the results and the random state must then be
identical, after single operations and after whole random sequences of them.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damontui.backends.engine.regionset import Regions, make_rng
from damontui.kernels import kernels_py as py

try:
    from damontui import _kernels as cy
except ImportError as exc:  # pragma: no cover - depends on the build
    if os.environ.get("DAMONTUI_REQUIRE_COMPILED") == "1":
        raise
    pytestmark = pytest.mark.skip(reason=f"damontui._kernels is not built: {exc}")
    cy = py

PAGE = 4096
U32_MAX = 2**32 - 1
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

counters = st.one_of(
    st.integers(0, 4),  # few distinct values: many equal neighbours, many merges
    st.integers(0, 40),
    st.integers(U32_MAX - 3, U32_MAX),  # saturation and 128-bit products
)
sizes_in_pages = st.one_of(st.integers(1, 8), st.integers(1, 5000), st.integers(1, 2**44))
gaps_in_pages = st.one_of(st.just(0), st.just(0), st.integers(1, 100))  # mostly adjacent


@st.composite
def region_sets(draw: st.DrawFn, max_size: int = 40) -> Regions:
    """Sorted, page-aligned regions: 0, 1 or many; adjacent or not; huge or tiny."""
    rows = draw(
        st.lists(
            st.tuples(gaps_in_pages, sizes_in_pages, counters, counters, counters),
            max_size=max_size,
        )
    )
    r = Regions()
    addr = draw(st.integers(0, 2**20)) * PAGE
    for gap, pages, nr, last, age in rows:
        start = addr + gap * PAGE
        addr = start + pages * PAGE
        r.append(start, addr, nr, age, last)
    r.validate(PAGE)
    return r


seeds = st.integers(0, 2**64 - 1)
thresholds = st.one_of(st.integers(-1, 10), st.integers(0, 2**33))
sz_limits = st.one_of(st.integers(0, 2**64 - 1), st.integers(PAGE, 100 * PAGE), st.just(2**70))


def assert_same(a: Regions, b: Regions) -> None:
    for name in Regions.__dataclass_fields__:
        assert getattr(a, name) == getattr(b, name), name
    a.validate()


RNG = object()  # placeholder for a fresh rng in run_both's arguments


def run_both(op: str, r: Regions, *args: Any, seed: int = 0) -> tuple[Any, Regions]:
    """Run ``op`` on copies with each implementation; check they agree; return one.

    ``RNG`` in ``args`` becomes ``make_rng(seed)``, a separate one per implementation.
    """
    results = []
    for impl in (cy, py):
        regions = r.copy()
        rng = make_rng(seed)
        out = getattr(impl, op)(regions, *(rng if a is RNG else a for a in args))
        results.append((out, regions, rng))
    (out_c, rc, rng_c), (out_p, rp, rng_p) = results
    assert out_c == out_p
    assert type(out_c) is type(out_p)
    assert rng_c == rng_p
    assert_same(rc, rp)
    return out_p, rp


# --- single operations ---------------------------------------------------------------


@SETTINGS
@given(region_sets(), seeds, st.sampled_from([1, 512, PAGE, 2 * PAGE, 3 * PAGE]))
def test_pick_samples(r: Regions, seed: int, page_size: int) -> None:
    run_both("pick_samples", r, RNG, page_size, seed=seed)


@SETTINGS
@given(region_sets(), st.randoms(use_true_random=False))
def test_apply_checks(r: Regions, rnd: Any) -> None:
    accessed = bytes(rnd.choice((0, 1, 1, 7)) for _ in range(len(r)))
    run_both("apply_checks", r, accessed)


@SETTINGS
@given(region_sets(), thresholds, sz_limits, st.booleans())
def test_merge(r: Regions, threshold: int, sz_limit: int, age_regions: bool) -> None:
    run_both("merge", r, threshold, sz_limit, age_regions)


@SETTINGS
@given(region_sets(), st.integers(0, 8), sz_limits, st.integers(0, 30), st.integers(0, 2**40))
def test_merge_to_limit(
    r: Regions, threshold: int, sz_limit: int, max_nr: int, max_thres: int
) -> None:
    run_both("merge_to_limit", r, threshold, sz_limit, max_nr, max_thres)


@SETTINGS
@given(region_sets())
def test_reset_aggregated(r: Regions) -> None:
    run_both("reset_aggregated", r)


@SETTINGS
@given(
    region_sets(),
    st.integers(0, 12),
    st.sampled_from([1, 3, PAGE, 2 * PAGE, 10 * PAGE, 2**50]),
    seeds,
)
def test_split(r: Regions, nr_subs: int, min_sz: int, seed: int) -> None:
    _, out = run_both("split", r, nr_subs, min_sz, RNG, seed=seed)
    assert out.total_size() == r.total_size()
    assert len(out) <= len(r) * max(nr_subs, 1)


weights = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
intervals = st.tuples(st.integers(1, 2**40), st.integers(1, 2**40))


@SETTINGS
@given(region_sets(), intervals, weights, weights, weights, st.booleans())
def test_temperatures_and_order(
    r: Regions,
    sample_aggr: tuple[int, int],
    sz_w: float,
    ar_w: float,
    age_w: float,
    descending: bool,
) -> None:
    sample, aggr = sample_aggr
    temps, _ = run_both("temperatures", r, sample, aggr, sz_w, ar_w, age_w)
    order, _ = run_both("temperature_order", r, sample, aggr, sz_w, ar_w, age_w, descending)
    assert sorted(order) == list(range(len(r)))
    # the one definition: each value is kernels_py.region_temperature of its region
    mx = aggr / sample
    assert list(temps) == [
        py.region_temperature(e - s, nr, age, mx, float(aggr), sz_w, ar_w, age_w)
        for s, e, nr, age in r.to_tuples()
    ]


@SETTINGS
@given(region_sets(), st.randoms(use_true_random=False), weights, st.booleans())
def test_temperature_order_of_unsorted_regions(
    r: Regions, rnd: Any, age_w: float, descending: bool
) -> None:
    # Not a valid region set, but the order must still agree (the compiled kernel
    # takes its general path when starts are not sorted).
    rows = list(zip(*r.arrays(), strict=True))
    rnd.shuffle(rows)
    shuffled = Regions()
    for start, end, nr, last, age, _ in rows:
        shuffled.append(start, end, nr, age, last)
    args = (shuffled, 10, 100, 0.0, 1.0, age_w, descending)
    assert cy.temperature_order(*args) == py.temperature_order(*args)


bounds = st.one_of(st.integers(-5, 50), st.integers(0, 2**70))


@SETTINGS
@given(region_sets(), st.lists(bounds, min_size=6, max_size=6))
def test_match_pattern(r: Regions, b: list[int]) -> None:
    size_bounds = [x * PAGE if x < 100 else x for x in b[:2]]
    run_both("match_pattern", r, *size_bounds, *b[2:])


@st.composite
def blocks(draw: st.DrawFn) -> tuple[array, array, array]:
    edges = sorted(set(draw(st.lists(st.integers(0, 2**64 - 1), max_size=20))))
    if len(edges) % 2:
        edges.pop()
    probs = draw(
        st.lists(
            st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0, 1)),
            min_size=len(edges) // 2,
            max_size=len(edges) // 2,
        )
    )
    return array("Q", edges[::2]), array("Q", edges[1::2]), array("d", probs)


@SETTINGS
@given(st.lists(st.integers(0, 2**64 - 1), max_size=60), blocks(), seeds)
def test_synthetic_check(addr_list: list[int], blk: tuple[array, array, array], seed: int) -> None:
    addrs = array("Q", addr_list + [s for s in blk[0][:3]])  # some hit block edges exactly
    rng_c, rng_p = make_rng(seed), make_rng(seed)
    assert cy.synthetic_check(addrs, *blk, rng_c) == py.synthetic_check(addrs, *blk, rng_p)
    assert rng_c == rng_p


@SETTINGS
@given(st.lists(st.integers(0, 2**40), max_size=80), st.integers(0, 100))
def test_coalesce(indices: list[int], max_gap: int) -> None:
    idx = array("Q", sorted(indices))
    runs = cy.coalesce(idx, max_gap)
    assert runs == py.coalesce(idx, max_gap)
    covered = {i for first, count in runs for i in range(first, first + count)}
    assert covered >= set(indices)


@SETTINGS
@given(
    st.lists(st.integers(0, 600), max_size=80),
    st.binary(min_size=0, max_size=8 * 512),
    st.integers(0, 80),
    st.sampled_from([1, 8, PAGE]),
)
def test_read_pagemap(pages: list[int], content: bytes, max_gap: int, page_size: int) -> None:
    addrs = array("Q", [p * page_size + p % page_size for p in pages])
    with tempfile.TemporaryFile() as f:
        f.write(content)
        f.flush()
        got_c = cy.read_pagemap(f.fileno(), addrs, page_size, max_gap)
        got_p = py.read_pagemap(f.fileno(), addrs, page_size, max_gap)
    assert got_c == got_p and got_c.typecode == got_p.typecode == "Q"
    padded = content + bytes(8 * 601)
    assert list(got_p) == [int.from_bytes(padded[p * 8 : p * 8 + 8], "little") for p in pages]


@SETTINGS
@given(
    st.lists(st.integers(0, 64 * 40), max_size=60),
    st.lists(st.integers(0, 64 * 40), max_size=60),
    st.binary(min_size=0, max_size=8 * 48),
)
def test_idle_bitmap(set_pfns: list[int], get_pfns: list[int], content: bytes) -> None:
    results = []
    for impl in (cy, py):
        with tempfile.TemporaryFile() as f:
            f.write(content)
            f.flush()
            impl.idle_bitmap_set(f.fileno(), array("Q", set_pfns))
            got = impl.idle_bitmap_get(f.fileno(), array("Q", get_pfns), 2)
            results.append((got, os.pread(f.fileno(), 8 * 64, 0)))
    assert results[0] == results[1]


# --- sequences of operations -----------------------------------------------------------

operations = st.one_of(
    st.tuples(st.just("pick_samples"), st.sampled_from([PAGE, 2 * PAGE])),
    st.tuples(st.just("check"), st.floats(0, 1)),
    st.tuples(st.just("merge"), thresholds, sz_limits, st.booleans()),
    st.tuples(st.just("merge_to_limit"), st.integers(0, 4), sz_limits, st.integers(0, 40)),
    st.tuples(st.just("reset_aggregated")),
    st.tuples(st.just("split"), st.integers(1, 4), st.sampled_from([PAGE, 4 * PAGE])),
)


def apply_op(impl: ModuleType, r: Regions, rng: array, op: tuple[Any, ...]) -> object:
    """One engine step; ``check`` samples with synthetic_check like the synthetic source."""
    name, *args = op
    if name == "pick_samples":
        return impl.pick_samples(r, rng, *args)
    if name == "check":
        hot = array("d", [args[0]] * len(r))
        accessed = impl.synthetic_check(r.sample_addrs, r.starts, r.ends, hot, rng)
        return impl.apply_checks(r, accessed)
    if name == "merge_to_limit":
        return impl.merge_to_limit(r, *args, 1000)
    if name == "split":
        return impl.split(r, *args, rng)
    return getattr(impl, name)(r, *args)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(region_sets(max_size=25), seeds, st.lists(operations, min_size=1, max_size=25))
def test_operation_sequences(r: Regions, seed: int, ops: list[tuple[Any, ...]]) -> None:
    rc, rp = r.copy(), r.copy()
    rng_c, rng_p = make_rng(seed), make_rng(seed)
    for op in ops:
        out_c = apply_op(cy, rc, rng_c, op)
        out_p = apply_op(py, rp, rng_p, op)
        assert out_c == out_p, op
        assert rng_c == rng_p, op
        assert_same(rc, rp)


@SETTINGS
@given(region_sets(max_size=10), st.sampled_from(["merge", "split", "reset_aggregated"]))
def test_errors_agree_on_mismatched_arrays(r: Regions, op: str) -> None:
    args: dict[str, tuple[Any, ...]] = {
        "merge": (0, 2**64),
        "split": (2, PAGE, make_rng(0)),
        "reset_aggregated": (),
    }
    errors = []
    for impl in (cy, py):
        broken = r.copy()
        broken.last_nr_accesses.append(0)
        with pytest.raises(ValueError) as info:
            getattr(impl, op)(broken, *args[op])
        errors.append(type(info.value))
    assert errors[0] is errors[1]

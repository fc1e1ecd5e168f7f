"""Synthetic access source: ground truth shapes, determinism and hit-rate convergence."""

from __future__ import annotations

import random
from array import array

import pytest

from damontui.backends.engine.layout import three_regions
from damontui.backends.engine.sources.synthetic import (
    DEFAULT_BASE,
    SyntheticSource,
    SyntheticWorkload,
)

MIB = 1 << 20
PATTERNS = ["hotcold", "stairs", "zigzag", "phases"]


def assert_covers(src: SyntheticSource, t_us: int) -> None:
    """Blocks are sorted, page aligned, disjoint and cover exactly the target ranges."""
    blocks = src.blocks_at(t_us)
    merged: list[tuple[int, int]] = []
    for start, end, prob in blocks:
        assert start < end and start % 4096 == 0 and end % 4096 == 0
        assert 0.0 <= prob <= 1.0
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            assert not merged or merged[-1][1] < start
            merged.append((start, end))
    assert merged == src.target_ranges()


def sample(rnd: random.Random, start: int, end: int, n: int) -> array:
    return array("Q", [start + rnd.randrange((end - start) // 4096) * 4096 for _ in range(n)])


def test_pattern_names_and_probe() -> None:
    assert SyntheticSource.pattern_names() == PATTERNS
    assert SyntheticSource.probe().available
    with pytest.raises(ValueError, match="unknown synthetic pattern"):
        SyntheticSource(pattern="nope")


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("segments", [1, 3])
def test_blocks_cover_space(pattern: str, segments: int) -> None:
    src = SyntheticSource(pattern=pattern, segments=segments, seed=5)
    for t in range(0, 40_000_000, 1_000_000):
        assert_covers(src, t)
        assert src.hot_ranges(t)  # always something hot


def test_default_space() -> None:
    src = SyntheticSource()
    assert src.target_ranges() == [(DEFAULT_BASE, DEFAULT_BASE + 1024 * MIB)]
    assert "hotcold" in src.describe() and "1024 MiB" in src.describe()
    assert (src.name, src.granularity, src.sees) == ("synthetic", "exact", "reads+writes")


def test_three_segments_look_like_heap_mmap_stack() -> None:
    src = SyntheticSource(segments=3, size=64 * MIB)
    ranges = src.target_ranges()
    assert len(ranges) == 3
    assert sum(e - s for s, e in ranges) == 64 * MIB
    assert three_regions(ranges) == ranges  # gaps are big enough to be cut out


def test_hotcold_static_with_nr_hot_blocks() -> None:
    src = SyntheticSource(pattern="hotcold", nr_hot=4, seed=9)
    hot = [b for b in src.blocks_at(0) if b[2] >= 0.5]
    assert len(hot) == 4
    assert len({b[2] for b in hot}) == 4  # distinguishable probabilities
    assert all(b[2] == 0.0 for b in src.blocks_at(0) if b not in hot)
    assert src.blocks_at(0) == src.blocks_at(10**9)
    other = SyntheticSource(pattern="hotcold", nr_hot=4, seed=10)
    assert other.hot_ranges(0) != src.hot_ranges(0)  # layout depends on the seed


def test_stairs_steps_up_and_wraps() -> None:
    step = 1_000_000
    src = SyntheticSource(pattern="stairs", size=64 * MIB, step_us=step)
    width = 8 * MIB  # hot_fraction 1/8
    for i in range(10):
        lo = DEFAULT_BASE + (i % 8) * width
        assert src.hot_ranges(i * step) == [(lo, lo + width)]
        assert src.hot_ranges(i * step + step - 1) == [(lo, lo + width)]


def test_zigzag_goes_back_and_forth() -> None:
    step = 1_000_000
    src = SyntheticSource(pattern="zigzag", size=64 * MIB, step_us=step)
    width = 8 * MIB
    expected = [0, 1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2]
    for i, idx in enumerate(expected):
        lo = DEFAULT_BASE + idx * width
        assert src.hot_ranges(i * step) == [(lo, lo + width)]


def test_phases_change_abruptly_and_repeat() -> None:
    step = 1_000_000
    w = SyntheticWorkload(pattern="phases", step_us=step, nr_phases=3, seed=4)
    src = SyntheticSource(workload=w)
    sets = [src.hot_ranges(p * step) for p in range(3)]
    assert len({tuple(s) for s in sets}) == 3  # each phase has its own hot set
    for p in range(3):
        assert src.hot_ranges(p * step + step // 2) == sets[p]  # constant within a phase
        assert src.hot_ranges((p + 3) * step) == sets[p]  # and cycles


def test_determinism_by_seed() -> None:
    def run(seed: int) -> list[bytearray]:
        src = SyntheticSource(pattern="stairs", seed=seed, step_us=50_000)
        rnd = random.Random(1)
        out = []
        for _ in range(20):
            addrs = sample(rnd, *src.target_ranges()[0], 500)
            src.prepare(addrs)
            src.advance(5_000)
            out.append(src.check(addrs))
        return out

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_hit_rates_converge_to_block_probability() -> None:
    src = SyntheticSource(pattern="hotcold", seed=3, size=256 * MIB)
    rnd = random.Random(2)
    blocks = src.blocks_at(0)
    per = 200
    addrs = array("Q")
    for start, end, _ in blocks:
        addrs += sample(rnd, start, end, per)
    hits = [0] * len(blocks)
    rounds = 100
    for _ in range(rounds):
        src.prepare(addrs)
        src.advance(src.workload.sample_us)
        got = src.check(addrs)
        for b in range(len(blocks)):
            hits[b] += sum(got[b * per : (b + 1) * per])
    for (_, _, prob), h in zip(blocks, hits, strict=True):
        assert abs(h / (rounds * per) - prob) < 0.02


def test_several_intervals_compound() -> None:
    # Over k intervals the chance of at least one access is 1-(1-p)^k.
    w = SyntheticWorkload(pattern="hotcold", nr_hot=1, hot_prob=0.3, size=64 * MIB)
    src = SyntheticSource(workload=w)
    ((start, end),) = src.hot_ranges(0, threshold=0.2)
    addrs = sample(random.Random(0), start, end, 20_000)
    src.prepare(addrs)
    src.advance(3 * w.sample_us)
    rate = sum(src.check(addrs)) / len(addrs)
    assert abs(rate - (1 - 0.7**3)) < 0.015


def test_no_time_no_access_and_outside_space() -> None:
    src = SyntheticSource(pattern="stairs", segments=3, size=64 * MIB)
    addrs = array("Q", [s for s, _ in src.target_ranges()])
    src.prepare(addrs)
    assert src.check(addrs) == bytearray(3)  # no simulated time passed
    src.advance(10**6)
    gaps = array("Q", [e + 4096 for _, e in src.target_ranges()[:2]] + [1 << 20])
    assert src.check(gaps) == bytearray(3)
    assert src.check(array("Q")) == bytearray()


def test_window_spanning_a_step_sees_both_positions() -> None:
    step = 10_000
    w = SyntheticWorkload(pattern="stairs", size=64 * MIB, hot_prob=1.0, step_us=step)
    src = SyntheticSource(workload=w)
    width = 8 * MIB
    addrs = array("Q", [DEFAULT_BASE + i * width + 4096 for i in range(4)])
    src.advance(step // 2)
    src.prepare(addrs)
    src.advance(step)  # window [0.5 step, 1.5 step): positions 0 then 1
    assert src.check(addrs) == bytearray([1, 1, 0, 0])
    src.prepare(addrs)
    src.advance(step // 4)  # within position 1 only
    assert src.check(addrs) == bytearray([0, 1, 0, 0])

"""DAMOS in the engine: stats, quotas, priorities, goals, watermarks, filters, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from damontui.backends.base import BackendError
from damontui.backends.engine.actions import TargetActions
from damontui.backends.engine.damos import Damos, TargetView, priority, validate_for_engine
from damontui.backends.engine.engine import Engine
from damontui.backends.engine.regionset import Regions
from damontui.backends.engine.sources.synthetic import SyntheticSource
from damontui.backends.engine.tuning import SystemPaths
from damontui.model import (
    AccessPattern,
    Action,
    Filter,
    FilterType,
    GoalMetric,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    Scheme,
    Target,
    TargetKind,
    ValidationError,
    WatermarkMetric,
    Watermarks,
)

MIB = 1 << 20
MAX_NR = 20
AGGR_US = 100_000


class Recorder(TargetActions):
    """Counts like the simulated actions and remembers what it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.counts_only = False
        self.calls: list[tuple[Action, list[tuple[int, int]]]] = []

    def apply(self, action: Action, ranges: list[tuple[int, int]]) -> tuple[int, str | None]:
        self.calls.append((action, list(ranges)))
        return sum(e - s for s, e in ranges), None

    def applied(self) -> list[tuple[int, int]]:
        return [r for _, ranges in self.calls for r in ranges]


def regions(*rows: tuple[int, int]) -> Regions:
    """1 MiB regions from (nr_accesses, age) rows, back to back from 1 GiB."""
    base = 1 << 30
    return Regions.from_tuples(
        (base + k * MIB, base + (k + 1) * MIB, nr, age) for k, (nr, age) in enumerate(rows)
    )


def view(r: Regions, index: int = 0, kind: TargetKind = TargetKind.SYNTHETIC) -> TargetView:
    return TargetView(index, kind, r, Recorder())


def run(damos: Damos, views: list[TargetView], times: list[int]) -> list[str]:
    messages: list[str] = []
    for now in times:
        msgs, _ = damos.apply(now, MAX_NR, AGGR_US, views)
        messages += msgs
    return messages


def make_damos(*schemes: Scheme, paths: SystemPaths | None = None) -> Damos:
    damos = Damos(paths)
    damos.set_schemes(schemes, 0)
    return damos


HOT = AccessPattern(nr_accesses=Range(10, 20))


def test_stat_counts_tried_and_applied() -> None:
    r = regions((0, 0), (12, 3), (20, 1), (5, 0))
    damos = make_damos(Scheme(Action.STAT, HOT), Scheme(Action.STAT))
    run(damos, [view(r)], [100_000, 200_000])
    hot, everything = damos.stats()
    assert (hot.nr_tried, hot.sz_tried, hot.nr_applied, hot.sz_applied) == (4, 4 * MIB, 4, 4 * MIB)
    assert (everything.nr_tried, everything.sz_tried) == (8, 8 * MIB)
    assert hot.qt_exceeds == 0 and hot.effective_bytes == 0 and hot.active


def test_pattern_selects_regions_by_size_and_age() -> None:
    r = regions((0, 0), (12, 30), (20, 1))
    v = view(r)
    scheme = Scheme(Action.PAGEOUT, AccessPattern(age=Range(10, 100)))
    run(make_damos(scheme), [v], [100_000])
    assert v.actions.applied() == [(r.starts[1], r.ends[1])]


def test_apply_interval_skips_aggregations() -> None:
    r = regions((0, 0))
    damos = make_damos(Scheme(Action.STAT, apply_interval_us=500_000))
    run(damos, [view(r)], [k * 100_000 for k in range(1, 21)])  # 2 s of aggregations
    assert damos.stats()[0].nr_tried == 4  # at 0.5, 1.0, 1.5 and 2.0 s


def test_bytes_quota_limits_applied_and_counts_exceeds() -> None:
    r = regions(*[(0, 5)] * 10)
    v = view(r)
    quota = Quotas(bytes=3 * MIB + 4096 * 10, reset_interval_ms=1_000)
    damos = make_damos(Scheme(Action.PAGEOUT, quotas=quota))
    run(damos, [v], [k * 100_000 for k in range(1, 11)])  # one reset window
    stats = damos.stats()[0]
    assert stats.sz_applied == quota.bytes  # 3 full regions + a 10-page slice
    assert stats.nr_tried == 4 and stats.qt_exceeds == 1
    assert stats.effective_bytes == quota.bytes
    run(damos, [v], [1_100_000, 1_200_000])  # a new window, a new budget
    stats = damos.stats()[0]
    assert stats.sz_applied == 2 * quota.bytes and stats.qt_exceeds == 2


@pytest.mark.parametrize(
    ("action", "expected"),
    [(Action.PAGEOUT, [0, 3]), (Action.WILLNEED, [2, 1])],
)
def test_quota_applies_by_priority(action: Action, expected: list[int]) -> None:
    r = regions((0, 0), (15, 0), (20, 0), (5, 0))
    v = view(r)
    weights = QuotaWeights(nr_accesses_permil=1000)
    quota = Quotas(bytes=2 * MIB, reset_interval_ms=1_000, weights=weights)
    run(make_damos(Scheme(action, quotas=quota)), [v], [100_000])
    assert v.actions.applied() == [(r.starts[i], r.ends[i]) for i in expected]


def test_cold_priority_prefers_long_idle_regions() -> None:
    scheme = Scheme(Action.PAGEOUT, quotas=Quotas(weights=QuotaWeights(age_permil=1000)))
    idle = [priority(MIB, 0, age, MAX_NR, AGGR_US, scheme, MIB) for age in (0, 10, 100, 1000)]
    assert idle == sorted(idle) and idle[0] < idle[-1]
    hot_scheme = Scheme(Action.WILLNEED, quotas=scheme.quotas)
    busy = [priority(MIB, 20, age, MAX_NR, AGGR_US, hot_scheme, MIB) for age in (0, 10, 100)]
    assert busy == sorted(busy) and busy[0] < busy[-1]
    assert priority(MIB, 5, 5, MAX_NR, AGGR_US, Scheme(Action.PAGEOUT), MIB) == 0  # no weights


def test_user_input_goal_moves_effective_bytes() -> None:
    r = regions(*[(0, 5)] * 64)

    def scheme(current: int) -> Scheme:
        goal = QuotaGoal(GoalMetric.USER_INPUT, target_value=100, current_value=current)
        return Scheme(Action.PAGEOUT, quotas=Quotas(reset_interval_ms=100, goals=(goal,)))

    damos = make_damos(scheme(20))  # far below the goal: more aggressive each window
    v = view(r)
    sizes = []
    for k in range(1, 31):
        run(damos, [v], [k * 100_000])
        sizes.append(damos.stats()[0].effective_bytes)
    assert sizes == sorted(sizes) and sizes[-1] > 1000 * sizes[0]
    applied = damos.stats()[0].sz_applied
    assert applied > 0
    damos.set_schemes([scheme(300)], 3_000_000)  # overshooting now; the loop continues
    assert damos.stats()[0].sz_applied == applied, "a user_input update keeps the stats"
    run(damos, [v], [3_100_000])
    assert damos.stats()[0].effective_bytes < sizes[-1]


def _meminfo(path: Path, free_permil: int) -> None:
    path.write_text(f"MemTotal: 1000000 kB\nMemFree: {free_permil * 1000} kB\n")


def test_watermarks_activate_and_deactivate(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    paths = SystemPaths(meminfo=str(meminfo))
    wm = Watermarks(WatermarkMetric.FREE_MEM_RATE, interval_us=100_000, high=800, mid=600, low=100)
    damos = make_damos(Scheme(Action.STAT, watermarks=wm), paths=paths)
    v = view(regions((0, 0)))
    steps = iter(range(1, 100))

    def at(free: int) -> tuple[bool, int]:
        _meminfo(meminfo, free)
        run(damos, [v], [next(steps) * 100_000])
        stats = damos.stats()[0]
        return stats.active, stats.nr_tried

    assert at(900) == (False, 0)  # above high: off
    assert at(700) == (False, 0)  # between mid and high: stays off
    assert at(500) == (True, 1)  # below mid: on
    assert at(700) == (True, 2)  # between mid and high: stays on
    assert at(50) == (False, 2)  # below low: off


def test_watermarks_wait_for_their_interval(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    _meminfo(meminfo, 900)
    wm = Watermarks(
        WatermarkMetric.FREE_MEM_RATE, interval_us=1_000_000, high=800, mid=600, low=100
    )
    damos = make_damos(Scheme(Action.STAT, watermarks=wm), paths=SystemPaths(meminfo=str(meminfo)))
    v = view(regions((0, 0)))
    run(damos, [v], [100_000])
    _meminfo(meminfo, 500)
    run(damos, [v], [200_000, 500_000])
    assert not damos.stats()[0].active  # not re-read before 1 s passed
    run(damos, [v], [1_100_000])
    assert damos.stats()[0].active


def test_missing_meminfo_is_reported_not_raised(tmp_path: Path) -> None:
    wm = Watermarks(WatermarkMetric.FREE_MEM_RATE, high=800, mid=600, low=100)
    paths = SystemPaths(meminfo=str(tmp_path / "nope"))
    messages = run(
        make_damos(Scheme(Action.STAT, watermarks=wm), paths=paths),
        [view(regions((0, 0)))],
        [100_000],
    )
    assert any("nope" in m for m in messages)


def _addr(lo: int, hi: int, allow: bool, matching: bool = True) -> Filter:
    return Filter(FilterType.ADDR, matching=matching, allow=allow, addr_start=lo, addr_end=hi)


def test_addr_filters_reject_allow_and_default() -> None:
    r = regions(*[(0, 0)] * 4)
    first_two = (r.starts[0], r.ends[1])

    def tried(*filters: Filter) -> list[int]:
        v = view(r)
        run(make_damos(Scheme(Action.PAGEOUT, filters=filters)), [v], [100_000])
        return [r.starts.index(s) for s, _ in v.actions.applied()]

    assert tried(_addr(*first_two, allow=False)) == [2, 3]  # reject; default accept
    assert tried(_addr(*first_two, allow=True)) == [0, 1]  # allow; default reject
    assert tried(_addr(*first_two, allow=False, matching=False)) == [0, 1]
    # The first deciding filter wins: region 1 allowed before the reject sees it.
    r1 = (r.starts[1], r.ends[1])
    assert tried(_addr(*r1, allow=True), _addr(*first_two, allow=False)) == [1, 2, 3]
    # A region straddling the filter range does not match (no splitting).
    straddle = (r.starts[0] + MIB // 2, r.ends[1])
    assert tried(_addr(*straddle, allow=True)) == [1]


def test_target_filter_and_stats_across_targets() -> None:
    a, b = view(regions((0, 0)), index=0), view(regions((0, 0), (0, 0)), index=1)
    flt = Filter(FilterType.TARGET, allow=False, target_idx=1)
    damos = make_damos(Scheme(Action.STAT, filters=(flt,)))
    run(damos, [a, b], [100_000])
    assert damos.stats()[0].nr_tried == 1


def test_ops_filters_on_synthetic_target_everything_is_anon() -> None:
    r = regions((0, 0), (0, 0))
    v = view(r)
    reject_anon = Filter(FilterType.ANON, allow=False)
    damos = make_damos(Scheme(Action.PAGEOUT, filters=(reject_anon,)))
    run(damos, [v], [100_000])
    stats = damos.stats()[0]
    assert stats.nr_tried == 2 and stats.sz_ops_filter_passed == 0 and stats.sz_applied == 0
    allow_unmapped = Filter(FilterType.UNMAPPED, allow=True)
    damos = make_damos(Scheme(Action.PAGEOUT, filters=(allow_unmapped,)))
    run(damos, [view(r)], [100_000])
    assert damos.stats()[0].sz_applied == 0  # nothing is unmapped; default reject
    keep_anon = Filter(FilterType.ANON, allow=True)
    damos = make_damos(Scheme(Action.PAGEOUT, filters=(keep_anon,)))
    run(damos, [view(r)], [100_000])
    assert damos.stats()[0].sz_ops_filter_passed == 2 * MIB


def test_validation_names_scheme_filter_and_field() -> None:
    memcg = Filter(FilterType.MEMCG, memcg_path="/sys/fs/cgroup/x")
    pageout = Scheme(Action.PAGEOUT, filters=(Filter(FilterType.ANON), memcg))
    schemes = [Scheme(Action.STAT), pageout]
    with pytest.raises(BackendError, match="scheme 1 filter 1: memcg filters need kernel DAMON"):
        validate_for_engine(schemes, [TargetKind.SYNTHETIC])
    for ftype in (FilterType.ACTIVE, FilterType.YOUNG, FilterType.HUGEPAGE_SIZE):
        with pytest.raises(BackendError, match=f"scheme 0 filter 0: {ftype.value} filters"):
            validate_for_engine([Scheme(filters=(Filter(ftype),))], [TargetKind.PID])
    with pytest.raises(BackendError, match="scheme 0: action lru_prio needs kernel DAMON"):
        validate_for_engine([Scheme(Action.LRU_PRIO)], [TargetKind.PID])
    with pytest.raises(BackendError, match="pageout on physical memory .* only stat"):
        validate_for_engine([Scheme(Action.PAGEOUT)], [TargetKind.PADDR])
    with pytest.raises(BackendError, match="scheme 0 filter 0: anon filters need kernel DAMON"):
        validate_for_engine([Scheme(filters=(Filter(FilterType.ANON),))], [TargetKind.PADDR])
    goal = QuotaGoal(GoalMetric.NODE_MEMCG_USED_BP, 100, path="/x")
    with pytest.raises(BackendError, match="scheme 0 goal 0: node_memcg_used_bp"):
        validate_for_engine(
            [Scheme(quotas=Quotas(reset_interval_ms=10, goals=(goal,)))], [TargetKind.PID]
        )
    bad = Scheme(access_pattern=AccessPattern(sz=Range(10, 5)))
    with pytest.raises(ValidationError, match=r"scheme 1: access_pattern.sz.min"):
        validate_for_engine([Scheme(), bad], [TargetKind.SYNTHETIC])
    # The synthetic target simulates every action, kernel-only ones included.
    validate_for_engine([Scheme(Action.MIGRATE_COLD, target_nid=0)], [TargetKind.SYNTHETIC])


def test_engine_refuses_bad_schemes_before_applying_any() -> None:
    src = SyntheticSource("hotcold", size=64 * MIB)
    engine = Engine([(Target(TargetKind.SYNTHETIC), src)], MonitoringAttrs())
    engine.set_schemes([Scheme(Action.STAT)])
    with pytest.raises(BackendError):
        engine.set_schemes([Scheme(Action.STAT), Scheme(filters=(Filter(FilterType.YOUNG),))])
    assert engine.schemes == (Scheme(Action.STAT),)


def test_engine_applies_schemes_on_synthetic_workload() -> None:
    src = SyntheticSource("hotcold", seed=1, size=256 * MIB)
    hot = Scheme(Action.WILLNEED, AccessPattern(nr_accesses=Range(11, 20)), name="hot")
    cold = Scheme(Action.PAGEOUT, AccessPattern(nr_accesses=Range(0, 0), age=Range(5, 2**32 - 1)))
    engine = Engine([(Target(TargetKind.SYNTHETIC), src)], MonitoringAttrs(), [hot, cold])
    snap = engine.run_for(3_000_000)
    hot_stats, cold_stats = snap.scheme_stats
    assert snap.schemes == (hot, cold)
    assert 0 < hot_stats.sz_applied and 0 < cold_stats.sz_applied
    # Per aggregation, hot regions hold ~1/8 of the space and cold ones most of the rest.
    assert hot_stats.sz_tried < cold_stats.sz_tried
    assert hot_stats.nr_applied == hot_stats.nr_tried

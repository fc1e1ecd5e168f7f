"""Feedback loops: intervals auto-tuning and quota goal metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from damontui.backends.engine.engine import Engine
from damontui.backends.engine.sources.synthetic import SyntheticSource
from damontui.backends.engine.tuning import (
    MIN_INPUT,
    GoalReader,
    IntervalsTuner,
    QuotaTuner,
    SystemPaths,
    access_score_bp,
    adaptation_bp,
    free_mem_rate,
    next_input,
    read_meminfo,
    tuned_attrs,
)
from damontui.model import (
    GoalMetric,
    IntervalsGoal,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    Target,
    TargetKind,
)


def test_next_input_rules() -> None:
    assert next_input(50_000, 10_000) == 50_000  # goal met: keep
    assert next_input(50_000, 20_000) == MIN_INPUT  # twice the goal: minimum
    assert next_input(50_000, 30_000) == MIN_INPUT
    assert next_input(50_000, 5_000) == 75_000  # half the goal: +50%
    assert next_input(50_000, 0) == 100_000  # nothing achieved: double
    assert next_input(50_000, 15_000) == 25_000  # 50% over: -50%
    assert next_input(12_000, 19_000) == MIN_INPUT  # never below the minimum


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0, 20_000), (5_000, 15_000), (10_000, 10_000), (15_000, 7_500), (20_000, 5_000)],
)
def test_adaptation_bp(score: int, expected: int) -> None:
    assert adaptation_bp(score) == expected


def test_access_score_bp() -> None:
    # 1/4 of the bytes accessed in every sample = 2500 bp observed; goal 1000 bp.
    pairs = [(4096, 20), (3 * 4096, 0)]
    assert access_score_bp(pairs, 20, 1_000) == 25_000
    assert access_score_bp(pairs, 20, 2_500) == 10_000
    assert access_score_bp([], 20, 1_000) == 0  # target is at least 1 event


def test_tuned_attrs_scales_and_clamps() -> None:
    goal = IntervalsGoal(access_bp=400, aggrs=1, min_sample_us=1_000, max_sample_us=40_000)
    attrs = MonitoringAttrs(sample_us=10_000, aggr_us=200_000, intervals_goal=goal)
    grown = tuned_attrs(attrs, 0)
    assert (grown.sample_us, grown.aggr_us) == (20_000, 400_000)
    shrunk = tuned_attrs(attrs, 100_000)
    assert (shrunk.sample_us, shrunk.aggr_us) == (5_000, 100_000)
    assert tuned_attrs(tuned_attrs(grown, 0), 0).sample_us == 40_000  # clamped at max
    assert tuned_attrs(attrs, 10_000) is attrs


def test_intervals_tuner_waits_for_aggrs() -> None:
    goal = IntervalsGoal(access_bp=400, aggrs=3, min_sample_us=1_000)
    attrs = MonitoringAttrs(sample_us=10_000, aggr_us=200_000, intervals_goal=goal)
    tuner = IntervalsTuner()
    idle = [(4096, 0)]
    assert tuner.after_aggregation(attrs, idle) is attrs
    assert tuner.after_aggregation(attrs, idle) is attrs
    assert tuner.after_aggregation(attrs, idle).sample_us == 20_000
    assert tuner.last_score_bp == 0
    off = MonitoringAttrs()
    assert IntervalsTuner().after_aggregation(off, idle) is off


def _tuned_engine(access_bp: int) -> Engine:
    goal = IntervalsGoal(access_bp=access_bp, aggrs=2, min_sample_us=1_000, max_sample_us=200_000)
    attrs = MonitoringAttrs(sample_us=10_000, aggr_us=200_000, intervals_goal=goal)
    src = SyntheticSource("hotcold", seed=4)  # ~1/8 of the space hot
    return Engine([(Target(TargetKind.SYNTHETIC), src)], attrs, seed=4)


def test_engine_grows_interval_when_accesses_are_rare() -> None:
    engine = _tuned_engine(4_000)  # wants 40% of the possible access events: too few seen
    samples = []
    engine.on_snapshot = lambda s: samples.append(s.attrs.sample_us)
    engine.run_for(5_000_000)
    assert engine.attrs.sample_us > 10_000
    assert engine.attrs.aggr_us == engine.attrs.sample_us * 20  # ratio kept
    assert samples == sorted(samples) and samples[-1] > samples[0]  # snapshots show it


def test_engine_shrinks_interval_when_accesses_abound() -> None:
    engine = _tuned_engine(100)  # wants 1%: far more seen
    engine.run_for(3_000_000)
    assert engine.attrs.sample_us < 10_000
    assert engine.attrs.sample_us >= 1_000
    assert engine.attrs.aggr_us == engine.attrs.sample_us * 20


# --- system metrics ------------------------------------------------------------------


def _meminfo(path: Path, total_kb: int, free_kb: int, active_kb: int = 0, inactive_kb: int = 0):
    path.write_text(
        f"MemTotal:       {total_kb} kB\nMemFree:        {free_kb} kB\n"
        f"Active:         {active_kb} kB\nInactive:       {inactive_kb} kB\nHugePages_Total: 0\n"
    )
    return path


def test_read_meminfo_and_free_rate(tmp_path: Path) -> None:
    path = _meminfo(tmp_path / "meminfo", 1000, 250)
    info = read_meminfo(str(path))
    assert info["MemTotal"] == 1000 * 1024 and info["HugePages_Total"] == 0
    assert free_mem_rate(str(path)) == 250


def test_goal_metrics_from_files(tmp_path: Path) -> None:
    meminfo = _meminfo(tmp_path / "meminfo", 1000, 400, active_kb=300, inactive_kb=100)
    node = tmp_path / "node" / "node1"
    node.mkdir(parents=True)
    (node / "meminfo").write_text("Node 1 MemTotal: 2000 kB\nNode 1 MemFree: 500 kB\n")
    psi = tmp_path / "psi"
    psi.write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n")
    paths = SystemPaths(meminfo=str(meminfo), psi=str(psi), node_root=str(tmp_path / "node"))
    reader = GoalReader(paths)
    used = QuotaGoal(GoalMetric.NODE_MEM_USED_BP, 5_000, nid=1)
    assert reader.current(0, used) == 7_500
    assert reader.current(0, QuotaGoal(GoalMetric.NODE_MEM_FREE_BP, 5_000, nid=1)) == 2_500
    # No node directory for node 0: the whole machine's meminfo stands in.
    assert reader.current(0, QuotaGoal(GoalMetric.NODE_MEM_FREE_BP, 5_000, nid=0)) == 4_000
    assert reader.current(0, QuotaGoal(GoalMetric.ACTIVE_MEM_BP, 5_000)) == 7_500
    assert reader.current(0, QuotaGoal(GoalMetric.INACTIVE_MEM_BP, 5_000)) == 2_500
    psi_goal = QuotaGoal(GoalMetric.SOME_MEM_PSI_US, 1_000)
    assert reader.current(3, psi_goal) == 0  # first read: no delta yet
    psi.write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=1700\nfull total=5\n")
    assert reader.current(3, psi_goal) == 700
    assert reader.current(0, QuotaGoal(GoalMetric.USER_INPUT, 10, current_value=7)) == 7
    # Score: the best goal counts.
    goals = (QuotaGoal(GoalMetric.USER_INPUT, 100, 50), QuotaGoal(GoalMetric.USER_INPUT, 10, 20))
    assert reader.score(goals) == 20_000


def test_quota_tuner_moves_effective_size() -> None:
    quota = Quotas(reset_interval_ms=100, goals=(QuotaGoal(GoalMetric.USER_INPUT, 100),))
    tuner = QuotaTuner()
    sizes = [tuner.effective_bytes(quota, 5_000, 4096) for _ in range(30)]  # under-achieving
    assert sizes == sorted(sizes) and sizes[-1] > 100 * sizes[0]
    top = sizes[-1]
    assert tuner.effective_bytes(quota, 15_000, 4096) < top  # over-achieving shrinks
    capped = Quotas(bytes=4096, reset_interval_ms=100, goals=quota.goals)
    assert tuner.effective_bytes(capped, 0, 4096) == 4096
    # ms quota before any measurement: DAMON's guess of page_size*1024 per ms.
    assert QuotaTuner().effective_bytes(Quotas(ms=2, reset_interval_ms=10), None, 4096) == (
        2 * 4096 * 1024
    )
    measured = QuotaTuner()
    measured.charge(1 << 20, 2_000_000)  # 1 MiB in 2 ms
    assert measured.effective_bytes(Quotas(ms=10, reset_interval_ms=10), None, 4096) == 5 << 20

"""7.x fields in the model: defaults, validation messages naming field and allowed values."""

from __future__ import annotations

import pytest

from damontui.model import (
    Action,
    Context,
    Dest,
    Filter,
    FilterType,
    GoalMetric,
    GoalTuner,
    MonitoringAttrs,
    Probe,
    ProbeFilter,
    ProbeFilterType,
    QuotaGoal,
    Quotas,
    Scheme,
    Target,
    TargetKind,
    ValidationError,
)


def test_defaults_match_the_kernel() -> None:
    assert Context().addr_unit == 1 and Context().pause is False
    q = Quotas()
    assert q.goal_tuner is GoalTuner.CONSIST and (q.fail_charge_num, q.fail_charge_denom) == (0, 0)
    s = Scheme()
    assert s.dests == () and s.max_nr_snapshots == 0
    assert Target(TargetKind.PID, pid=1).obsolete is False
    assert MonitoringAttrs().probes == ()
    assert QuotaGoal().complement is False


def test_migrate_with_dests_needs_no_target_nid() -> None:
    Scheme(Action.MIGRATE_COLD, dests=(Dest(0, 30), Dest(1, 70))).validate()
    with pytest.raises(ValidationError, match="target_nid.*NUMA node id.*or dests"):
        Scheme(Action.MIGRATE_COLD).validate()
    with pytest.raises(ValidationError, match=r"dests\[1\]\.weight"):
        Scheme(Action.MIGRATE_HOT, dests=(Dest(0, 1), Dest(1, -1))).validate()


@pytest.mark.parametrize("metric", [GoalMetric.NODE_MEMCG_USED_BP, GoalMetric.NODE_MEMCG_FREE_BP])
def test_memcg_goal_needs_path(metric: GoalMetric) -> None:
    QuotaGoal(metric, 5000, nid=0, path="/a").validate(0)
    with pytest.raises(ValidationError, match=rf"goals\[0\]\.path.*{metric.value}"):
        QuotaGoal(metric, 5000).validate(0)


def test_new_goal_metrics_and_tuner() -> None:
    for metric in ("node_eligible_mem_bp", "active_mem_bp", "inactive_mem_bp"):
        QuotaGoal(GoalMetric(metric), 10_000, complement=True).validate(0)
    with pytest.raises(ValidationError, match="0..10000 bp"):
        QuotaGoal(GoalMetric.NODE_ELIGIBLE_MEM_BP, 10_001).validate(0)
    Quotas(reset_interval_ms=1, goal_tuner=GoalTuner.TEMPORAL).validate()
    with pytest.raises(ValidationError, match="quotas.goal_tuner.*consist, temporal"):
        Quotas(goal_tuner="fast").validate()  # type: ignore[arg-type]


def test_fail_charge_ratio() -> None:
    Quotas(fail_charge_num=1, fail_charge_denom=4).validate()
    with pytest.raises(ValidationError, match="fail_charge_denom.*>= 1"):
        Quotas(fail_charge_num=1).validate()
    with pytest.raises(ValidationError, match="fail_charge_num.*>= 0"):
        Quotas(fail_charge_num=-1, fail_charge_denom=1).validate()


def test_context_addr_unit_and_ops() -> None:
    Context("paddr", addr_unit=4096).validate()
    with pytest.raises(ValidationError, match="addr_unit.*1 unless ops is paddr"):
        Context("vaddr", addr_unit=4096).validate()
    with pytest.raises(ValidationError, match="ops.*vaddr, fvaddr, paddr"):
        Context("kvaddr").validate()
    with pytest.raises(ValidationError, match=r"schemes\[1\]\.max_nr_snapshots"):
        Context(schemes=(Scheme(), Scheme(max_nr_snapshots=-1))).validate()


def test_probes() -> None:
    probe = Probe((ProbeFilter(ProbeFilterType.ANON, allow=True),), weight=3)
    MonitoringAttrs(probes=(probe,)).validate()
    bad = Probe((ProbeFilter(ProbeFilterType.MEMCG),))
    with pytest.raises(ValidationError, match=r"probes\[0\]\.filters\[0\]\.path"):
        MonitoringAttrs(probes=(bad,)).validate()
    with pytest.raises(ValidationError, match="pgidle_unset"):
        MonitoringAttrs(probes=(Probe((ProbeFilter("young"),)),)).validate()  # type: ignore[arg-type]


def test_probe_hits_wsum_filter_is_core_with_a_range() -> None:
    assert FilterType.PROBE_HITS_WSUM.is_core
    Filter(FilterType.PROBE_HITS_WSUM, min=1, max=10).validate(0)
    with pytest.raises(ValidationError, match=r"filters\[0\]\.min"):
        Filter(FilterType.PROBE_HITS_WSUM, min=11, max=10).validate(0)


def test_newer_settings_are_named_and_the_engine_refuses_them() -> None:
    from damontui.backends.base import BackendError
    from damontui.backends.engine.damos import validate_for_engine

    assert Scheme().newer_settings() == []
    s = Scheme(Action.PAGEOUT, quotas=Quotas(reset_interval_ms=1, goal_tuner=GoalTuner.TEMPORAL,
               goals=(QuotaGoal(complement=True),)), max_nr_snapshots=3)  # fmt: skip
    assert s.newer_settings() == [
        "max_nr_snapshots 3",
        "quotas.goal_tuner temporal",
        "quotas.goals[0].complement",
    ]
    with pytest.raises(BackendError, match="scheme 0: max_nr_snapshots 3 needs kernel DAMON"):
        validate_for_engine([s], [TargetKind.SYNTHETIC])
    validate_for_engine([Scheme(Action.PAGEOUT)], [TargetKind.SYNTHETIC])

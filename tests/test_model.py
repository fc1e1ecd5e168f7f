"""Model validation and unit parsing: every bad value names its field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from damontui.analysis import access_percent, region_temperature
from damontui.model import (
    AccessPattern,
    Action,
    Filter,
    FilterType,
    IntervalsGoal,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    Range,
    Region,
    Scheme,
    Target,
    TargetKind,
    TargetSnapshot,
    TemperatureWeights,
    ValidationError,
    WatermarkMetric,
    Watermarks,
)
from damontui.model.units import (
    U64_MAX,
    format_duration_us,
    format_permil,
    format_size,
    parse_count,
    parse_duration_us,
    parse_permil,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("5ms", 5000),
        ("1s", 1_000_000),
        ("100us", 100),
        ("100", 100),
        ("1.5 s", 1_500_000),
        ("2m", 120_000_000),
        ("max", U64_MAX),
        ("5 ms", 5000),
    ],
)
def test_parse_duration(text: str, us: int) -> None:
    assert parse_duration_us(text) == us


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("128MiB", 128 << 20),
        ("4K", 4096),
        ("1.5G", 3 << 29),
        ("4096", 4096),
        ("1,000", 1000),
        ("max", U64_MAX),
        ("128.000 MiB", 128 << 20),
    ],
)
def test_parse_size(text: str, nbytes: int) -> None:
    assert parse_size(text) == nbytes


def test_parse_permil_and_count() -> None:
    assert parse_permil("30%") == 300
    assert parse_permil("0.5 %") == 5
    assert parse_permil(250) == 250
    assert parse_count("1,000") == 1000


@pytest.mark.parametrize("bad", ["fast", "5 parsecs", "-3ms", ""])
def test_bad_duration_names_field(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_duration_us(bad, "sample_us")
    assert "sample_us" in str(err.value)


def test_bad_size_unit() -> None:
    with pytest.raises(ValidationError, match="quotas.bytes"):
        parse_size("12 furlongs", "quotas.bytes")


@given(st.integers(min_value=0, max_value=1 << 50))
def test_format_size_round_trips_roughly(nbytes: int) -> None:
    back = parse_size(format_size(nbytes, precision=3))
    assert abs(back - nbytes) <= max(1, nbytes // 1000)


def test_format_helpers() -> None:
    assert format_size(512) == "512 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_duration_us(5000) == "5 ms"
    assert format_duration_us(90_000_000) == "1 m 30 s"
    assert format_permil(1000) == "100 %"


def test_default_attrs_valid() -> None:
    attrs = MonitoringAttrs().validate()
    assert attrs.max_nr_accesses == 20


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        (MonitoringAttrs(sample_us=0), "sample_us"),
        (MonitoringAttrs(aggr_us=12_345), "aggr_us"),
        (MonitoringAttrs(aggr_us=1000), "aggr_us"),
        (MonitoringAttrs(update_us=10), "update_us"),
        (MonitoringAttrs(min_nr_regions=2), "min_nr_regions"),
        (MonitoringAttrs(min_nr_regions=50, max_nr_regions=20), "max_nr_regions"),
        (
            MonitoringAttrs(intervals_goal=IntervalsGoal(access_bp=20_000)),
            "intervals_goal.access_bp",
        ),
        (
            MonitoringAttrs(intervals_goal=IntervalsGoal(400, 3, 10_000, 5_000)),
            "intervals_goal.min_sample_us",
        ),
    ],
)
def test_bad_attrs_name_field(attrs: MonitoringAttrs, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        attrs.validate()
    assert err.value.field == field
    assert field in str(err.value)


def test_with_sample_us_keeps_ratio() -> None:
    tuned = MonitoringAttrs().with_sample_us(10_000)
    assert (tuned.sample_us, tuned.aggr_us) == (10_000, 200_000)


@pytest.mark.parametrize(
    ("scheme", "field"),
    [
        (Scheme(access_pattern=AccessPattern(sz=Range(10, 5))), "access_pattern.sz.min"),
        (Scheme(access_pattern=AccessPattern(age=Range(0, 1 << 40))), "access_pattern.age.max"),
        (Scheme(quotas=Quotas(bytes=1 << 20)), "quotas.reset_interval_ms"),
        (
            Scheme(
                quotas=Quotas(
                    reset_interval_ms=1000,
                    goals=(QuotaGoal(target_value=20_000, metric="node_mem_free_bp"),),
                )
            ),  # type: ignore[arg-type]
            "quotas.goals[0].target_value",
        ),
        (
            Scheme(watermarks=Watermarks(WatermarkMetric.FREE_MEM_RATE, 1000, 100, 500, 50)),
            "watermarks.mid",
        ),
        (Scheme(filters=(Filter(FilterType.MEMCG),)), "filters[0].memcg_path"),
        (
            Scheme(filters=(Filter(FilterType.ADDR, addr_start=10, addr_end=5),)),
            "filters[0].addr_start",
        ),
        (Scheme(filters=(Filter("bogus"),)), "filters[0].type"),  # type: ignore[arg-type]
        (Scheme(action=Action.MIGRATE_COLD), "target_nid"),
        (Scheme(action="explode"), "action"),  # type: ignore[arg-type]
    ],
)
def test_bad_scheme_names_field(scheme: Scheme, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        scheme.validate()
    assert err.value.field == field


def test_access_pattern_from_human() -> None:
    attrs = MonitoringAttrs()
    pattern = AccessPattern.from_human(attrs, access_rate_pct=(0, 5), age_us=(10_000_000, U64_MAX))
    assert pattern.nr_accesses == Range(0, 1)
    assert pattern.age.min == 100
    assert pattern.matches(4096, 0, 150)
    assert not pattern.matches(4096, 5, 150)


def test_temperature_follows_damo() -> None:
    """damo report access: size*w + percent*w + age_us*w, negated at 0 % (default
    weights 0, 100, 100; 5 ms sampling, 100 ms aggregation)."""
    hot = Region(0, 4096, nr_accesses=20, age=10)
    cold = Region(4096, 8192, nr_accesses=0, age=10)
    older_cold = Region(8192, 12288, nr_accesses=0, age=50)
    attrs = MonitoringAttrs(sample_us=5_000, aggr_us=100_000)
    assert access_percent(hot.nr_accesses, attrs) == 100
    assert region_temperature(hot, attrs) == 100 * 100 + 100 * 1_000_000
    assert region_temperature(cold, attrs) == -100 * 1_000_000
    assert region_temperature(older_cold, attrs) < region_temperature(cold, attrs)
    assert region_temperature(cold, attrs) < region_temperature(hot, attrs)
    by_size = TemperatureWeights(size=1, access_rate=0, age=0)
    assert region_temperature(Region(0, 8192, 1, 0), attrs, by_size) == 8192
    assert region_temperature(Region(0, 8192), attrs, by_size) == -8192  # idle: negated
    with pytest.raises(ValidationError, match="temperature weight age"):
        TemperatureWeights(age=-1)


def test_region_rejects_empty() -> None:
    with pytest.raises(ValidationError, match="region"):
        Region(10, 10)


def test_target_snapshot_arrays() -> None:
    target = Target(TargetKind.PID, pid=42, name="app")
    snap = TargetSnapshot.from_regions(target, [Region(0, 4096, 3, 1), Region(4096, 12288, 0, 7)])
    assert len(snap) == 2
    assert snap.region(1) == Region(4096, 12288, 0, 7)
    assert snap.total_size == 12288
    assert target.label == "pid 42 (app)"

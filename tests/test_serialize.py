"""Schemes/attrs <-> dicts and TOML: human input, exact round trips, errors naming key paths."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from damontui.model import (
    AccessPattern,
    Action,
    Dest,
    Filter,
    FilterType,
    GoalMetric,
    GoalTuner,
    IntervalsGoal,
    MonitoringAttrs,
    Probe,
    ProbeFilter,
    ProbeFilterType,
    ProbePrep,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    Scheme,
    ValidationError,
    WatermarkMetric,
    Watermarks,
)
from damontui.model.serialize import (
    attrs_from_dict,
    attrs_to_dict,
    exact_duration,
    exact_size,
    scheme_from_dict,
    scheme_to_dict,
    schemes_from_dicts,
    schemes_from_toml,
    schemes_to_toml,
    to_toml,
)
from damontui.model.units import U32_MAX, U64_MAX

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# --- strategies for valid model objects -------------------------------------------------

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def ranges(upper: int) -> st.SearchStrategy[Range]:
    bound = st.one_of(st.integers(0, upper), st.sampled_from([0, upper, 4096, 1 << 21]))
    return st.tuples(bound, bound).map(lambda p: Range(min(p), max(p)))


patterns = st.builds(AccessPattern, ranges(U64_MAX), ranges(U32_MAX), ranges(U32_MAX))


@st.composite
def goals(draw: st.DrawFn) -> QuotaGoal:
    metric = draw(st.sampled_from(GoalMetric))
    needs_path = metric in (GoalMetric.NODE_MEMCG_USED_BP, GoalMetric.NODE_MEMCG_FREE_BP)
    upper = 10_000 if metric.value.endswith("_bp") else U64_MAX
    return QuotaGoal(
        metric,
        draw(st.integers(0, upper)),
        draw(st.integers(0, U64_MAX)),
        draw(st.integers(0, 64)),
        draw(texts.filter(bool)) if needs_path else draw(texts),
        draw(st.booleans()),
    )


quotas = st.one_of(
    st.just(Quotas()),
    st.builds(
        Quotas,
        st.integers(0, 10**9),
        st.one_of(st.integers(0, U64_MAX), st.just(128 << 20)),
        st.integers(1, 10**9),
        st.builds(
            QuotaWeights, st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000)
        ),
        st.lists(goals(), max_size=2).map(tuple),
        st.sampled_from(GoalTuner),
        st.integers(0, U64_MAX),
        st.integers(1, U64_MAX),
    ),
)  # fail_charge num, denom (7.x)


@st.composite
def watermarks(draw: st.DrawFn) -> Watermarks:
    high, mid, low = sorted(
        draw(st.lists(st.integers(0, 1000), min_size=3, max_size=3)), reverse=True
    )
    return Watermarks(
        draw(st.sampled_from(WatermarkMetric)), draw(st.integers(1, 10**12)), high, mid, low
    )


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    kind = draw(st.sampled_from(FilterType))
    start = draw(st.integers(0, 1 << 48))
    low, high = sorted(draw(st.lists(st.integers(0, 1 << 40), min_size=2, max_size=2)))
    return Filter(
        kind,
        draw(st.booleans()),
        draw(st.booleans()),
        draw(texts.filter(bool)) if kind is FilterType.MEMCG else draw(texts),
        start,
        start + draw(st.integers(1, 1 << 40)),
        draw(st.integers(0, 100)),
        low,
        high,
    )


@st.composite
def schemes(draw: st.DrawFn) -> Scheme:
    action = draw(st.sampled_from(Action))
    migrate = action in (Action.MIGRATE_HOT, Action.MIGRATE_COLD)
    return Scheme(
        action,
        draw(patterns),
        draw(quotas),
        draw(watermarks()),
        tuple(draw(st.lists(filters(), max_size=3))),
        draw(st.integers(0, 10**12)),
        draw(st.integers(0, 8) if migrate else st.integers(-1, 8)),
        draw(texts),
        tuple(
            draw(st.lists(st.builds(Dest, st.integers(0, 64), st.integers(0, 10**4)), max_size=3))
        ),
        draw(st.integers(0, U64_MAX)),
    )


@st.composite
def probe_filters(draw: st.DrawFn) -> ProbeFilter:
    kind = draw(st.sampled_from(ProbeFilterType))
    low, high = sorted(draw(st.lists(st.integers(0, U64_MAX - 1), min_size=2, max_size=2)))
    return ProbeFilter(
        kind,
        draw(st.booleans()),
        draw(st.booleans()),
        draw(texts.filter(bool)) if kind is ProbeFilterType.MEMCG else draw(texts),
        low,
        high,
    )


probes = st.builds(
    Probe,
    st.lists(probe_filters(), max_size=2).map(tuple),
    st.integers(0, 10**6),
    st.lists(st.sampled_from(ProbePrep), max_size=2).map(tuple),
)


attrs_strategy = st.builds(
    lambda sample, ratio, extra, lo, span, goal, probes: MonitoringAttrs(
        sample, sample * ratio, sample * ratio + extra, lo, lo + span, goal, probes
    ),
    st.integers(1, 10**7),
    st.integers(1, 100),
    st.integers(0, 10**9),
    st.integers(3, 1000),
    st.integers(0, 10**5),
    st.builds(
        lambda bp, aggrs, lo, span: IntervalsGoal(bp, aggrs, lo, lo + span),
        st.integers(0, 10_000),
        st.integers(1, 100),
        st.integers(1, 10**7),
        st.integers(0, 10**9),
    ),
    st.lists(probes, max_size=2).map(tuple),
)


# --- round trips ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(schemes(), max_size=3), attrs_strategy)
def test_schemes_toml_round_trip(items: list[Scheme], attrs: MonitoringAttrs) -> None:
    for scheme in items:
        scheme.validate()
    text = schemes_to_toml(items, attrs)
    assert schemes_from_toml(text, attrs) == items


@settings(max_examples=200, deadline=None)
@given(attrs_strategy)
def test_attrs_round_trip(attrs: MonitoringAttrs) -> None:
    attrs.validate()
    text = to_toml({"intervals": attrs_to_dict(attrs)})
    assert attrs_from_dict(tomllib.loads(text)["intervals"]) == attrs


@given(st.integers(0, U64_MAX))
def test_exact_size_parses_back(nbytes: int) -> None:
    text = to_toml({"v": exact_size(nbytes)})
    assert (
        scheme_from_dict(
            {"quotas": {"bytes": tomllib.loads(text)["v"], "reset_interval_ms": 1}}
        ).quotas.bytes
        == nbytes
    )


@given(st.integers(1, U64_MAX))
def test_exact_duration_parses_back(us: int) -> None:
    value = tomllib.loads(to_toml({"v": exact_duration(us)}))["v"]
    assert scheme_from_dict({"apply_interval_us": value}).apply_interval_us == us


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.one_of(
            st.integers(-(1 << 63), (1 << 63) - 1),
            st.booleans(),
            texts,
            st.lists(st.integers(0, 9), max_size=3),
            st.dictionaries(st.sampled_from("abc"), st.integers(0, 9), max_size=2),
        ),
        max_size=5,
    )
)
def test_to_toml_is_valid_toml(data: dict) -> None:
    assert tomllib.loads(to_toml(data)) == data


# --- human input ------------------------------------------------------------------------------


def test_human_access_pattern_uses_attrs() -> None:
    attrs = MonitoringAttrs(sample_us=5_000, aggr_us=100_000)  # 20 samples per aggregation
    scheme = scheme_from_dict(
        {
            "action": "pageout",
            "access_pattern": {
                "sz": ["4KiB", "max"],
                "access_rate": ["0%", "5%"],
                "age": ["30s", "max"],
            },
        },
        attrs,
    )
    pattern = scheme.access_pattern
    assert pattern.sz == Range(4096, U64_MAX)
    assert pattern.nr_accesses == Range(0, 1)
    assert pattern.age == Range(300, U32_MAX)
    assert pattern == AccessPattern.from_human(
        attrs, (4096, U64_MAX), (0, 5), (30_000_000, U64_MAX)
    )


def test_damon_units_and_table_ranges() -> None:
    scheme = scheme_from_dict(
        {"access_pattern": {"nr_accesses": {"min": 2, "max": "max"}, "age": [10, "1,000"]}}
    )
    assert scheme.access_pattern.nr_accesses == Range(2, U32_MAX)
    assert scheme.access_pattern.age == Range(10, 1000)


def test_human_quotas_weights_watermarks_filters() -> None:
    scheme = scheme_from_dict(
        {
            "action": "migrate_cold",
            "target_nid": 1,
            "apply_interval_us": "1s",
            "quotas": {
                "ms": "1s",
                "bytes": "1.5GiB",
                "reset_interval_ms": "2min",
                "weights": {"sz_permil": "10%", "age_permil": 700},
                "goals": [{"metric": "node_mem_free_bp", "target_value": "45.5%"}],
            },
            "watermarks": {
                "metric": "free_mem_rate",
                "interval_us": "5s",
                "high": "50%",
                "mid": "40%",
                "low": "20%",
            },
            "filters": [
                {"type": "memcg", "memcg_path": "/workloads/a", "matching": "N"},
                {"type": "addr", "addr_start": "0x1000", "addr_end": "0x2000", "allow": "Y"},
            ],
        }
    )
    assert scheme.apply_interval_us == 1_000_000
    assert scheme.quotas == Quotas(
        1000,
        3 << 29,
        120_000,
        QuotaWeights(100, 0, 700),
        (QuotaGoal(GoalMetric.NODE_MEM_FREE_BP, 4550),),
    )
    assert scheme.watermarks == Watermarks(WatermarkMetric.FREE_MEM_RATE, 5_000_000, 500, 400, 200)
    assert scheme.filters == (
        Filter(FilterType.MEMCG, matching=False, memcg_path="/workloads/a"),
        Filter(FilterType.ADDR, allow=True, addr_start=0x1000, addr_end=0x2000),
    )


# --- errors name the key path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"quotas": {"bytes": "12 parsecs"}}, "schemes[1].quotas.bytes"),
        ({"action": "explode"}, "schemes[1].action"),
        ({"access_pattern": {"age": ["1s", "ten"]}}, "schemes[1].access_pattern.age.max"),
        (
            {"access_pattern": {"access_rate": ["0%", "120%"]}},
            "schemes[1].access_pattern.access_rate.max",
        ),
        ({"access_pattern": {"sz": [1]}}, "schemes[1].access_pattern.sz"),
        (
            {"access_pattern": {"nr_accesses": [0, 1], "access_rate": ["0%", "1%"]}},
            "schemes[1].access_pattern.access_rate",
        ),
        ({"quotas": {"ms": "1500us", "reset_interval_ms": 1}}, "schemes[1].quotas.ms"),
        ({"quotas": {"bytes": 1}}, "schemes[1].quotas.reset_interval_ms"),  # model validation
        ({"filters": [{"type": "anon"}, {"matching": True}]}, "schemes[1].filters[1].type"),
        (
            {"filters": [{"type": "addr", "addr_start": "0x2000", "addr_end": "0x1000"}]},
            "schemes[1].filters[0].addr_start",
        ),
        (
            {"watermarks": {"metric": "free_mem_rate", "high": 100, "mid": 500, "low": 0}},
            "schemes[1].watermarks.mid",
        ),
        ({"nme": "typo"}, "schemes[1].nme"),
        ({"quotas": {"weights": {"sz": 1}}}, "schemes[1].quotas.weights.sz"),
    ],
)
def test_errors_name_the_key_path(data: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        schemes_from_dicts([{"action": "stat"}, data], MonitoringAttrs())
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_attrs_errors_name_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        attrs_from_dict({"sample_us": "10ms", "aggr_us": "15ms"}, "intervals")
    assert info.value.field == "intervals.aggr_us"
    with pytest.raises(ValidationError) as info:
        attrs_from_dict({"intervals_goal": {"access_bp": "-1"}}, "intervals")
    assert info.value.field == "intervals.intervals_goal.access_bp"


def test_schemes_file_rejects_unknown_top_level_keys() -> None:
    with pytest.raises(ValidationError) as info:
        schemes_from_toml("shemes = []\n")
    assert info.value.field == "shemes"
    with pytest.raises(tomllib.TOMLDecodeError, match="line 2"):
        schemes_from_toml("[[schemes]]\naction = \n")


def test_output_is_readable_and_exact() -> None:
    scheme = Scheme(
        Action.PAGEOUT,
        AccessPattern(Range(4096, U64_MAX), Range(0, 0), Range(50, U32_MAX)),
        Quotas(10, 128 << 20, 1000),
        name='cold "pages"\n',
    )
    data = scheme_to_dict(scheme)
    assert data["access_pattern"] == {
        "sz": ["4KiB", "max"],
        "nr_accesses": [0, 0],
        "age": [50, "max"],
    }
    assert data["quotas"]["bytes"] == "128MiB"
    text = schemes_to_toml([scheme], MonitoringAttrs())
    assert "[[schemes]]" in text and 'name = "cold \\"pages\\"\\n"' in text
    assert schemes_from_toml(text) == [scheme]


def test_to_toml_refuses_what_toml_cannot_hold() -> None:
    with pytest.raises(ValueError, match="64 bits"):
        to_toml({"big": U64_MAX})
    with pytest.raises(TypeError):
        to_toml({"obj": object()})

"""Scheme age thresholds given as times keep their meaning when intervals change."""

from __future__ import annotations

from array import array

from damontui.backends.engine.engine import Engine
from damontui.backends.engine.sources import SyntheticSource
from damontui.model import MonitoringAttrs, Target, TargetKind
from damontui.model.scheme import AccessPattern, Range, Scheme
from damontui.model.serialize import schemes_from_toml


def test_a_time_is_converted_against_the_aggregation_in_force() -> None:
    (scheme,) = schemes_from_toml(
        '[[schemes]]\naction = "stat"\n[schemes.access_pattern]\nage = ["3s", "max"]\n'
    )
    pat = scheme.access_pattern
    assert pat.age_us == (3_000_000, -1)
    assert pat.age.min == 30  # parsed against the default 100 ms aggregation
    assert pat.effective(1_000_000).age == Range(3, pat.age.max)  # smaps: 1 s aggregation
    assert pat.effective(100_000).age == Range(30, pat.age.max)


def test_counts_stay_counts() -> None:
    (scheme,) = schemes_from_toml(
        '[[schemes]]\naction = "stat"\n[schemes.access_pattern]\nage = [5, 10]\n'
    )
    pat = scheme.access_pattern
    assert pat.age_us == (-1, -1)
    assert pat.effective(1_000_000) == pat


def test_engine_applies_time_thresholds_after_an_interval_change() -> None:
    """A region aged 4 aggregations of 1 s (4 s) passes age >= 3s; of 100 ms it would not."""
    pat = AccessPattern(age=Range(30, 2**32 - 1), age_us=(3_000_000, -1))
    scheme = Scheme(access_pattern=pat)
    target = Target(TargetKind.SYNTHETIC, name="hotcold")
    attrs = MonitoringAttrs(sample_us=50_000, aggr_us=1_000_000)
    eng = Engine([(target, SyntheticSource(pattern="hotcold"))], attrs, [scheme])
    r = eng.targets[0].regions
    r.age[:] = array("I", [4] * len(r))
    eng._apply_schemes(attrs)
    assert eng.damos.stats()[0].nr_tried == len(r)
    eng.close()

"""damo's kdamonds JSON: the model through the fresh writer and back, and live exports.

What damo files mean is judged by damo itself in test_damo_json_roundtrip.py; these are
property tests of damontui's own writer/reader pair over the whole model.
"""

from __future__ import annotations

import dataclasses

import pytest
from fakesysfs import FakeSysfs, host_like_kdamond, host_like_scheme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damontui.backends.kernel import list_kdamonds
from damontui.formats.damo_json import (
    DamoContext,
    DamoJsonError,
    DamoKdamond,
    dump_damo,
    dumps,
    from_kdamond_info,
    load_damo,
    loads,
)
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
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    Scheme,
    Target,
    TargetKind,
    WatermarkMetric,
    Watermarks,
)

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


def test_export_live_inventory(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    [info] = list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir, proc_root=fake.proc_root)
    kd = from_kdamond_info(info)
    back = loads(dumps(kd))
    assert back[0].contexts[0].schemes == (host_like_scheme(),)
    assert back[0].pid == 71 and back[0].state == "on"
    assert fake.attempts == []


# --------------------------------------------------------------------------- round trips

sizes = st.one_of(st.integers(0, 1 << 50), st.just(U64), st.sampled_from([4096, 2 << 20, 1 << 30]))
times = st.one_of(st.integers(0, 10**10), st.just(U64))


@st.composite
def attrs_st(draw):
    sample = draw(st.integers(1, 10**7))
    aggr = sample * draw(st.integers(1, 100))
    goal = IntervalsGoal(
        draw(st.integers(0, 10_000)),
        draw(st.integers(0, 100)),
        draw(st.integers(0, 10**7)),
        draw(st.integers(0, 10**8)),
    )
    lo = draw(st.integers(3, 10_000))
    return MonitoringAttrs(
        sample, aggr, aggr * draw(st.integers(1, 100)), lo, lo + draw(st.integers(0, 10_000)), goal
    )


def rng(draw, values):
    a, b = draw(values), draw(values)
    return Range(min(a, b), max(a, b))


@st.composite
def filter_st(draw):
    ftype = draw(st.sampled_from(list(FilterType)))
    kw = dict(type=ftype, matching=draw(st.booleans()), allow=draw(st.booleans()))
    if ftype is FilterType.MEMCG:
        kw["memcg_path"] = "/" + draw(st.text("abcxyz/_-", min_size=1, max_size=20))
    elif ftype is FilterType.ADDR:
        r = rng(draw, st.integers(0, U64))
        kw.update(addr_start=r.min, addr_end=r.max)
    elif ftype is FilterType.TARGET:
        kw["target_idx"] = draw(st.integers(0, 100))
    elif ftype is FilterType.HUGEPAGE_SIZE:
        r = rng(draw, sizes)
        kw.update(min=r.min, max=r.max)
    elif ftype is FilterType.PROBE_HITS_WSUM:
        r = rng(draw, st.integers(0, 10**9))
        kw.update(min=r.min, max=r.max)
    return Filter(**kw)


@st.composite
def goal_st(draw):
    metric = draw(st.sampled_from(list(GoalMetric)))
    return QuotaGoal(
        metric=metric,
        target_value=draw(st.integers(0, 10_000 if metric.value.endswith("_bp") else 10**12)),
        current_value=draw(st.integers(0, 10**12)),
        nid=draw(st.integers(0, 64)) if metric.value.startswith("node_") else 0,
        path="/cg" if metric.value.startswith("node_memcg") else "",
        complement=draw(st.booleans()),
    )


@st.composite
def scheme_st(draw):
    action = draw(st.sampled_from(list(Action)))
    counts = st.one_of(st.integers(0, 10_000), st.just(U32))
    return Scheme(
        action=action,
        access_pattern=AccessPattern(rng(draw, sizes), rng(draw, counts), rng(draw, counts)),
        quotas=Quotas(
            draw(st.integers(0, 10**6)),
            draw(sizes),
            draw(st.integers(0, 10**7)),
            QuotaWeights(*(draw(st.integers(0, 10_000)) for _ in range(3))),
            tuple(draw(st.lists(goal_st(), max_size=3))),
            draw(st.sampled_from(list(GoalTuner))),
            draw(st.integers(0, 100)),
            draw(st.integers(0, 100)),
        ),
        watermarks=Watermarks(
            draw(st.sampled_from(list(WatermarkMetric))),
            draw(times),
            *(draw(st.integers(0, 1000)) for _ in range(3)),
        ),
        filters=tuple(draw(st.lists(filter_st(), max_size=4))),
        apply_interval_us=draw(times),
        target_nid=draw(st.integers(0, 8)) if action.value.startswith("migrate") else -1,
        dests=tuple(
            Dest(draw(st.integers(0, 8)), draw(st.integers(0, 1000)))
            for _ in range(draw(st.integers(0, 3)))
        )
        if action.value.startswith("migrate")
        else (),
        max_nr_snapshots=draw(st.integers(0, 1000)),
    )


@st.composite
def context_st(draw):
    ops = draw(st.sampled_from(["vaddr", "fvaddr", "paddr"]))
    ranges = st.lists(
        st.tuples(st.integers(0, 1 << 48), st.integers(1, 1 << 30)).map(
            lambda t: (t[0], t[0] + t[1])
        ),
        max_size=3,
    )
    if ops == "paddr":
        targets = [Target(TargetKind.PADDR, ranges=tuple(draw(ranges)))]
    else:
        targets = [
            Target(
                TargetKind.PID,
                pid=draw(st.integers(1, 1 << 22)),
                ranges=tuple(draw(ranges)),
                obsolete=draw(st.booleans()),
            )
            for _ in range(draw(st.integers(1, 3)))
        ]
    probes = tuple(
        Probe(
            (
                ProbeFilter(
                    draw(st.sampled_from(list(ProbeFilterType))),
                    draw(st.booleans()),
                    draw(st.booleans()),
                ),
            ),
            draw(st.integers(0, 100)),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    attrs = dataclasses.replace(draw(attrs_st()), probes=probes)
    return DamoContext(
        ops=ops,
        attrs=attrs,
        targets=tuple(targets),
        schemes=tuple(draw(st.lists(scheme_st(), max_size=3))),
        addr_unit=draw(st.integers(1, 4096)),
        pause=draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context_st(), st.booleans())
def test_round_trip_human_and_raw(ctx, raw):
    kd = DamoKdamond((ctx,), refresh_ms=100)
    text = dumps(kd, raw=raw)
    assert loads(text) == [kd]


@settings(max_examples=100, deadline=None)
@given(context_st())
def test_human_export_is_strings_like_damo(ctx):
    c = dump_damo(ctx)["kdamonds"][0]["contexts"][0]
    assert isinstance(c["intervals"]["sample_us"], str)
    for s in c["schemes"]:
        assert isinstance(s["quotas"]["sz_bytes"], str)
        # a percentage when damo reads it back exactly, else the bare permil number
        weight = s["quotas"]["weights"]["sz_permil"]
        assert weight.endswith(" %") or weight.isdigit()


def test_not_json():
    with pytest.raises(DamoJsonError, match=r"^\$: not JSON"):
        loads("{nope")
    with pytest.raises(DamoJsonError, match="expected"):
        load_damo({"something": 1})

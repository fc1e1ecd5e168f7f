"""damo's kdamonds JSON: import a realistic damo file, export, and round trip exactly."""

from __future__ import annotations

import json

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
    format_ratio,
    format_size,
    format_time_us,
    from_kdamond_info,
    load_damo,
    loads,
)
from damontui.model import (
    AccessPattern,
    Action,
    Filter,
    FilterType,
    GoalMetric,
    IntervalsGoal,
    MonitoringAttrs,
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

# Written by hand after damo's `damo args damon --format json` output as described in
# shared/notes/damon-sysfs.md: human values, permil as percent, stats included.
DAMO_SAMPLE = r"""{
    "kdamonds": [
        {
            "state": "on",
            "pid": "71",
            "refresh_ms": 0,
            "contexts": [
                {
                    "ops": "paddr",
                    "addr_unit": 1,
                    "targets": [
                        {
                            "pid": null,
                            "regions": [
                                {
                                    "start": "4,294,967,296",
                                    "end": "6,845,104,128"
                                }
                            ]
                        }
                    ],
                    "intervals": {
                        "sample_us": "500 ms",
                        "aggr_us": "5 s",
                        "ops_update_us": "1 m",
                        "intervals_goal": {
                            "access_bp": "0 %",
                            "aggrs": "0",
                            "min_sample_us": "0 ns",
                            "max_sample_us": "0 ns"
                        }
                    },
                    "nr_regions": {
                        "min": "1,024",
                        "max": "8,192"
                    },
                    "schemes": [
                        {
                            "action": "pageout",
                            "dests": [],
                            "access_pattern": {
                                "sz_bytes": {
                                    "min": "0 B",
                                    "max": "max"
                                },
                                "nr_accesses": {
                                    "min": "0 %",
                                    "max": "10 %"
                                },
                                "age": {
                                    "min": "1 m",
                                    "max": "max"
                                }
                            },
                            "apply_interval_us": "0 ns",
                            "quotas": {
                                "time_ms": "50 ms",
                                "sz_bytes": "128.000 MiB",
                                "reset_interval_ms": "1 s",
                                "goals": [],
                                "effective_sz_bytes": "0 B",
                                "weights": {
                                    "sz_permil": "0 %",
                                    "nr_accesses_permil": "0 %",
                                    "age_permil": "100 %"
                                }
                            },
                            "watermarks": {
                                "metric": "none",
                                "interval_us": "0 ns",
                                "high_permil": "0 %",
                                "mid_permil": "0 %",
                                "low_permil": "0 %"
                            },
                            "filters": [
                                {
                                    "filter_type": "anon",
                                    "matching": true,
                                    "allow": false,
                                    "memcg_path": null,
                                    "address_range": null,
                                    "damon_target_idx": null,
                                    "hugepage_size": null
                                },
                                {
                                    "filter_type": "unmapped",
                                    "matching": true,
                                    "allow": true,
                                    "memcg_path": null,
                                    "address_range": null,
                                    "damon_target_idx": null,
                                    "hugepage_size": null
                                }
                            ],
                            "stats": {
                                "nr_tried": "12,345",
                                "sz_tried": "1.500 GiB",
                                "nr_applied": "3",
                                "sz_applied": "12.000 KiB",
                                "sz_ops_filter_passed": "0 B",
                                "qt_exceeds": "0"
                            }
                        }
                    ]
                }
            ]
        },
        {
            "state": "off",
            "pid": null,
            "refresh_ms": 100,
            "contexts": [
                {
                    "ops": "vaddr",
                    "targets": [
                        {
                            "pid": 1234,
                            "regions": []
                        }
                    ],
                    "intervals": {
                        "sample_us": "5 ms",
                        "aggr_us": "100 ms",
                        "ops_update_us": "1 s",
                        "intervals_goal": {
                            "access_bp": "4 %",
                            "aggrs": "3",
                            "min_sample_us": "5 ms",
                            "max_sample_us": "10 s"
                        }
                    },
                    "nr_regions": {
                        "min": "10",
                        "max": "1,000"
                    },
                    "schemes": [
                        {
                            "action": "migrate_cold",
                            "dests": [],
                            "target_nid": 1,
                            "access_pattern": {
                                "sz_bytes": {
                                    "min": "4.000 KiB",
                                    "max": "max"
                                },
                                "nr_accesses": {
                                    "min": "0 samples",
                                    "max": "5 samples"
                                },
                                "age": {
                                    "min": "3 aggr_intervals",
                                    "max": "max"
                                }
                            },
                            "apply_interval_us": "1 s 500 ms",
                            "quotas": {
                                "time_ms": "10 ms",
                                "sz_bytes": "1.000 GiB",
                                "reset_interval_ms": "1 s",
                                "goals": [
                                    {
                                        "metric": "some_mem_psi_us",
                                        "nid": null,
                                        "target_value": "1,000",
                                        "current_value": "0"
                                    },
                                    {
                                        "metric": "node_mem_free_bp",
                                        "nid": "0",
                                        "target_value": "12.5 %",
                                        "current_value": "0"
                                    }
                                ],
                                "effective_sz_bytes": "0 B",
                                "weights": {
                                    "sz_permil": "0 %",
                                    "nr_accesses_permil": "10 %",
                                    "age_permil": "90 %"
                                }
                            },
                            "watermarks": {
                                "metric": "free_mem_rate",
                                "interval_us": "5 s",
                                "high_permil": "50 %",
                                "mid_permil": "40 %",
                                "low_permil": "20 %"
                            },
                            "filters": [
                                {
                                    "filter_type": "memcg",
                                    "matching": true,
                                    "allow": false,
                                    "memcg_path": "/workload",
                                    "address_range": null,
                                    "damon_target_idx": null,
                                    "hugepage_size": null
                                },
                                {
                                    "filter_type": "addr",
                                    "matching": false,
                                    "allow": false,
                                    "memcg_path": null,
                                    "address_range": {
                                        "start": "4,096",
                                        "end": "1,048,576"
                                    },
                                    "damon_target_idx": null,
                                    "hugepage_size": null
                                },
                                {
                                    "filter_type": "hugepage_size",
                                    "matching": true,
                                    "allow": true,
                                    "memcg_path": null,
                                    "address_range": null,
                                    "damon_target_idx": null,
                                    "hugepage_size": ["2.000 MiB", "2.000 MiB"]
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    ]
}
"""


def test_realistic_damo_sample():
    [host, other] = load_damo(DAMO_SAMPLE)
    assert (host.state, host.pid, host.refresh_ms) == ("on", 71, 0)
    [ctx] = host.contexts
    assert ctx.ops == "paddr" and ctx.addr_unit == 1
    assert ctx.attrs == MonitoringAttrs(sample_us=500_000, aggr_us=5_000_000,
                                        update_us=60_000_000, min_nr_regions=1024,
                                        max_nr_regions=8192,
                                        intervals_goal=IntervalsGoal(0, 0, 0, 0))
    assert ctx.targets == (Target(TargetKind.PADDR, ranges=((4294967296, 6845104128),)),)
    # the machine's scheme: nr_accesses 10 % of 10 samples = 1, age 1 m / 5 s = 12
    [s] = ctx.schemes
    assert s == host_like_scheme()
    [vctx] = other.contexts
    assert other.refresh_ms == 100 and other.pid is None
    assert vctx.targets == (Target(TargetKind.PID, pid=1234),)
    assert vctx.attrs.intervals_goal == IntervalsGoal(400, 3, 5_000, 10_000_000)
    [m] = vctx.schemes
    assert m.action is Action.MIGRATE_COLD and m.target_nid == 1
    assert m.access_pattern == AccessPattern(Range(4096, U64), Range(0, 5), Range(3, U32))
    assert m.apply_interval_us == 1_500_000
    assert m.quotas == Quotas(ms=10, bytes=1 << 30, reset_interval_ms=1000,
                              weights=QuotaWeights(0, 100, 900), goals=(
                                  QuotaGoal(GoalMetric.SOME_MEM_PSI_US, 1000, 0),
                                  QuotaGoal(GoalMetric.NODE_MEM_FREE_BP, 1250, 0, nid=0)))
    assert m.watermarks == Watermarks(WatermarkMetric.FREE_MEM_RATE, 5_000_000, 500, 400, 200)
    assert m.filters == (
        Filter(FilterType.MEMCG, matching=True, memcg_path="/workload"),
        Filter(FilterType.ADDR, matching=False, addr_start=4096, addr_end=1 << 20),
        Filter(FilterType.HUGEPAGE_SIZE, matching=True, allow=True, min=2 << 20, max=2 << 20),
    )
    m.validate()
    # and back: same model after export/import
    assert load_damo(dumps([host, other])) == [host, other]


def test_export_uses_damo_human_forms():
    ctx = load_damo(DAMO_SAMPLE)[0].contexts[0]
    out = dump_damo(ctx)
    c = out["kdamonds"][0]["contexts"][0]
    assert c["intervals"]["sample_us"] == "500 ms"
    assert c["intervals"]["ops_update_us"] == "1 m"
    assert c["nr_regions"] == {"min": "1,024", "max": "8,192"}
    s = c["schemes"][0]
    assert s["quotas"]["sz_bytes"] == "128.000 MiB"
    assert s["quotas"]["weights"]["age_permil"] == "100 %"
    assert s["access_pattern"]["sz_bytes"]["max"] == "max"
    assert s["access_pattern"]["nr_accesses"]["max"] == "10 %"
    assert s["access_pattern"]["age"]["min"] == "1 m"
    assert s["watermarks"]["high_permil"] == "0 %"
    assert c["targets"][0]["regions"][0]["start"] == "4,294,967,296"
    json.dumps(out)  # plain JSON types only


def test_formatters_exact():
    assert format_time_us(5_000) == "5 ms"
    assert format_time_us(1_500_000) == "1 s 500 ms"
    assert format_time_us(0) == "0 ns"
    assert format_size(128 << 20) == "128.000 MiB"
    assert format_size((1 << 30) + 1) == "1073741825 B"  # '1.000 GiB' would lose a byte
    assert format_size(1024) == "1024 B"
    assert format_ratio(1000, 1000) == "100 %"
    assert format_ratio(125, 1000) == "12.5 %"
    assert format_ratio(1, 10_000) == "0.01 %"


def test_raw_numbers_accepted():
    raw = {"kdamonds": [{"refresh_ms": 0, "contexts": [{
        "ops": "vaddr", "targets": [{"pid": 42, "regions": []}],
        "intervals": {"sample_us": 5000, "aggr_us": 100000, "ops_update_us": 1000000},
        "nr_regions": {"min": 10, "max": 1000},
        "schemes": [{"action": "pageout",
                     "access_pattern": {"sz_bytes": {"min": 4096, "max": U64},
                                        "nr_accesses": {"min": 0, "max": 2},
                                        "age": {"min": 50, "max": U32}},
                     "quotas": {"time_ms": 10, "sz_bytes": 1048576, "reset_interval_ms": 1000,
                                "weights": {"sz_permil": 0, "nr_accesses_permil": 1000,
                                            "age_permil": 500}},
                     "watermarks": {"metric": "none", "interval_us": 0, "high_permil": 0,
                                    "mid_permil": 0, "low_permil": 0},
                     "apply_interval_us": 0}]}]}]}
    [kd] = load_damo(raw)
    [s] = kd.contexts[0].schemes
    assert s.access_pattern == AccessPattern(Range(4096, U64), Range(0, 2), Range(50, U32))
    assert s.quotas.ms == 10 and s.quotas.bytes == 1 << 20
    assert s.quotas.weights == QuotaWeights(0, 1000, 500)
    ctx = kd.contexts[0]
    assert load_damo(dump_damo(ctx, raw=True))[0].contexts[0] == ctx


@pytest.mark.parametrize("mutate,path", [
    (lambda d: d["kdamonds"][0]["contexts"][0]["intervals"].update(sample_us="5 parsecs"),
     "kdamonds[0].contexts[0].intervals.sample_us"),
    (lambda d: d["kdamonds"][0]["contexts"][0].pop("ops"), "kdamonds[0].contexts[0].ops"),
    (lambda d: d["kdamonds"][1]["contexts"][0]["schemes"][0].update(action="explode"),
     "kdamonds[1].contexts[0].schemes[0].action"),
    (lambda d: d["kdamonds"][1]["contexts"][0]["schemes"][0]["quotas"].update(sz_bytes="9 XB"),
     "kdamonds[1].contexts[0].schemes[0].quotas.sz_bytes"),
    (lambda d: d["kdamonds"][1]["contexts"][0]["schemes"][0]["filters"][1].update(
        address_range=None), "kdamonds[1].contexts[0].schemes[0].filters[1].address_range"),
    (lambda d: d["kdamonds"][0]["contexts"][0]["schemes"][0]["access_pattern"]["nr_accesses"]
     .update(max="7 furlongs"),
     "kdamonds[0].contexts[0].schemes[0].access_pattern.nr_accesses.max"),
    (lambda d: d["kdamonds"][1]["contexts"][0]["targets"][0].update(pid="abc"),
     "kdamonds[1].contexts[0].targets[0].pid"),
])
def test_errors_name_the_key_path(mutate, path):
    data = json.loads(DAMO_SAMPLE)
    mutate(data)
    with pytest.raises(DamoJsonError) as e:
        load_damo(data)
    assert e.value.path == path and str(e.value).startswith(path + ": ")


def test_not_json():
    with pytest.raises(DamoJsonError, match=r"^\$: not JSON"):
        loads("{nope")
    with pytest.raises(DamoJsonError, match="expected"):
        load_damo({"something": 1})


def test_dests_noted_not_silently_dropped():
    data = json.loads(DAMO_SAMPLE)
    data["kdamonds"][0]["contexts"][0]["schemes"][0]["dests"] = [{"id": 1, "weight": 10}]
    ctx = load_damo(data)[0].contexts[0]
    assert "schemes[0].dests" in ctx.notes[0]


def test_export_live_inventory(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    [info] = list_kdamonds(fake, fake.admin, runtime_dir=fake.runtime_dir,
                           proc_root=fake.proc_root)
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
    goal = IntervalsGoal(draw(st.integers(0, 10_000)), draw(st.integers(0, 100)),
                         draw(st.integers(0, 10**7)), draw(st.integers(0, 10**8)))
    lo = draw(st.integers(3, 10_000))
    return MonitoringAttrs(sample, aggr, aggr * draw(st.integers(1, 100)), lo,
                           lo + draw(st.integers(0, 10_000)), goal)


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
    )


@st.composite
def scheme_st(draw):
    action = draw(st.sampled_from(list(Action)))
    counts = st.one_of(st.integers(0, 10_000), st.just(U32))
    return Scheme(
        action=action,
        access_pattern=AccessPattern(rng(draw, sizes), rng(draw, counts), rng(draw, counts)),
        quotas=Quotas(draw(st.integers(0, 10**6)), draw(sizes), draw(st.integers(0, 10**7)),
                      QuotaWeights(*(draw(st.integers(0, 10_000)) for _ in range(3))),
                      tuple(draw(st.lists(goal_st(), max_size=3)))),
        watermarks=Watermarks(draw(st.sampled_from(list(WatermarkMetric))), draw(times),
                              *(draw(st.integers(0, 1000)) for _ in range(3))),
        filters=tuple(draw(st.lists(filter_st(), max_size=4))),
        apply_interval_us=draw(times),
        target_nid=draw(st.integers(0, 8)) if action.value.startswith("migrate") else -1,
    )


@st.composite
def context_st(draw):
    ops = draw(st.sampled_from(["vaddr", "fvaddr", "paddr"]))
    ranges = st.lists(st.tuples(st.integers(0, 1 << 48), st.integers(1, 1 << 30)).map(
        lambda t: (t[0], t[0] + t[1])), max_size=3)
    if ops == "paddr":
        targets = [Target(TargetKind.PADDR, ranges=tuple(draw(ranges)))]
    else:
        targets = [Target(TargetKind.PID, pid=draw(st.integers(1, 1 << 22)),
                          ranges=tuple(draw(ranges))) for _ in range(draw(st.integers(1, 3)))]
    return DamoContext(ops=ops, attrs=draw(attrs_st()), targets=tuple(targets),
                       schemes=tuple(draw(st.lists(scheme_st(), max_size=3))),
                       addr_unit=draw(st.one_of(st.none(), st.integers(1, 4096))))


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
        assert s["quotas"]["weights"]["sz_permil"].endswith("%")

"""Import and export damo's kdamonds JSON ({"kdamonds": [...]}) <-> the model.

Reading follows damo 3.4.3's meaning of every key (defaults for missing keys, bare
numbers in the key's unit, bare nr_accesses in percent and bare ages in microseconds,
percentages and ages converted to samples and aggregation intervals the way damo
converts them for sysfs).  Writing keeps what the user wrote: each loaded kdamond keeps
its source object, and a value that still reads back to the model's value is written
as it was ("33 %", "1.5 s", "1 B"), keys the source left out (``--omit_defaults``) stay
out while the value is damo's default, and keys the model has no place for
(``sample_control``, ``stats``, ``effective_sz_bytes``, unknown keys) are written back
verbatim.  Values the user changed are written fresh, exactly (damo reads them back to
the model's value).  Errors name the JSON key path.

Written from damo's documented format and checked against damo at test time (see
tests/damo/); no damo code is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from damontui.formats import damo_values as dv
from damontui.formats.damo_json_out import dump_damo, dumps, from_kdamond_info
from damontui.formats.damo_types import (
    BP_METRICS,
    DAMO_QUOTAS,
    DAMO_WATERMARKS,
    DamoContext,
    DamoKdamond,
)  # fmt: skip
from damontui.formats.damo_values import DamoJsonError
from damontui.formats.damo_values import age_range as _age
from damontui.formats.damo_values import nr_accesses_range as _nr_accesses
from damontui.formats.damo_values import parse_int as _int
from damontui.formats.damo_values import parse_ms as _ms
from damontui.formats.damo_values import parse_permil as _permil
from damontui.formats.damo_values import parse_us as _us
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
    Target,
    TargetKind,
    WatermarkMetric,
    Watermarks,
)  # fmt: skip

__all__ = ["DamoContext", "DamoJsonError", "DamoKdamond", "dump_damo", "dumps", "load_damo",
           "loads", "from_kdamond_info"]  # fmt: skip

# --------------------------------------------------------------------------- reading

_MISSING = object()


def _obj(v: Any, path: str) -> dict:
    if not isinstance(v, dict):
        raise DamoJsonError(path, f"expected an object, got {type(v).__name__} {v!r:.40}")
    return v


def _lst(v: Any, path: str) -> list:
    if not isinstance(v, list):
        raise DamoJsonError(path, f"expected a list, got {type(v).__name__} {v!r:.40}")
    return v


def _get(o: dict, key: str, path: str, default: Any = _MISSING) -> Any:
    v = o.get(key)
    if v is None:
        if default is _MISSING:
            raise DamoJsonError(f"{path}.{key}", "missing")
        return default
    return v


def _enum(kind: Any, v: Any, path: str) -> Any:
    try:
        return kind(v)
    except (ValueError, TypeError):
        names = ", ".join(m.value for m in kind)
        raise DamoJsonError(path, f"{v!r} is not one of {names}") from None


def _pattern(o: dict, path: str, attrs: MonitoringAttrs) -> AccessPattern:
    sz = _obj(o.get("sz_bytes", {}), f"{path}.sz_bytes")
    max_nr = attrs.aggr_us / max(1, attrs.sample_us)
    return AccessPattern(
        Range(dv.size(sz.get("min", "min"), f"{path}.sz_bytes.min"),
              dv.size(sz.get("max", "max"), f"{path}.sz_bytes.max")),
        _nr_accesses(_obj(o.get("nr_accesses", {}), f"{path}.nr_accesses"),
                     f"{path}.nr_accesses", max_nr),
        _age(_obj(o.get("age", {}), f"{path}.age"), f"{path}.age", attrs.aggr_us),
    )  # fmt: skip


def _goal(o: dict, path: str) -> QuotaGoal:
    if "target_value_bp" in o:  # damo's old naming: a user_input goal
        target = _int(o["target_value_bp"], f"{path}.target_value_bp")
        return QuotaGoal(
            GoalMetric.USER_INPUT,
            target,
            _int(o.get("current_value_bp", 0), f"{path}.current_value_bp"),
        )
    metric = _enum(GoalMetric, o.get("metric", "user_input"), f"{path}.metric")
    tp, target = f"{path}.target_value", o.get("target_value", "0")
    if metric is GoalMetric.SOME_MEM_PSI_US:
        value = _us(target, tp)
    elif metric.value in BP_METRICS:
        value = dv.to_int(dv.ratio(target, tp, 10_000), tp)
    else:
        value = _int(target, tp)
    nid = o.get("nid")
    memcg = o.get("memcg_path", o.get("path"))
    return QuotaGoal(
        metric, value, _int(o.get("current_value", "0"), f"{path}.current_value"),
        nid=_int(nid, f"{path}.nid") if nid is not None else 0,
        path=dv.text(memcg, f"{path}.memcg_path") if memcg is not None else "",
        complement=dv.boolean(o.get("complement", False), f"{path}.complement"),
    )  # fmt: skip


def _quotas(o: dict, path: str) -> Quotas:
    w = _obj(_get(o, "weights", path, {}), f"{path}.weights")
    wp = f"{path}.weights"
    goals = _lst(o.get("goals", []), f"{path}.goals")
    return Quotas(
        _ms(o.get("time_ms", 0), f"{path}.time_ms"),
        dv.size(o.get("sz_bytes", 0), f"{path}.sz_bytes"),
        _ms(o.get("reset_interval_ms", "max"), f"{path}.reset_interval_ms"),
        QuotaWeights(*(_permil(w.get(k, "0 %"), f"{wp}.{k}")
                       for k in ("sz_permil", "nr_accesses_permil", "age_permil"))),
        tuple(_goal(_obj(g, f"{path}.goals[{i}]"), f"{path}.goals[{i}]")
              for i, g in enumerate(goals)),
        _enum(GoalTuner, o.get("goal_tuner", "consist"), f"{path}.goal_tuner"),
        _int(o.get("fail_charge_num", 0), f"{path}.fail_charge_num"),
        _int(o.get("fail_charge_denom", 0), f"{path}.fail_charge_denom"),
    )  # fmt: skip


def _watermarks(o: dict, path: str) -> Watermarks:
    return Watermarks(
        _enum(WatermarkMetric, o.get("metric", "none"), f"{path}.metric"),
        _us(o.get("interval_us", 0), f"{path}.interval_us"),
        *(_permil(o.get(f"{k}_permil", "0 %"), f"{path}.{k}_permil")
          for k in ("high", "mid", "low")),
    )  # fmt: skip


def _pair(o: dict, key: str, path: str, parse: Callable[[Any, str], int]) -> tuple[int, int]:
    v = _lst(_get(o, key, path), f"{path}.{key}")
    if len(v) != 2:
        raise DamoJsonError(f"{path}.{key}", f"expected [min, max], got {len(v)} values")
    return parse(v[0], f"{path}.{key}[0]"), parse(v[1], f"{path}.{key}[1]")


def _filter(o: dict, path: str) -> Filter:
    kind = _enum(FilterType, _get(o, "filter_type", path), f"{path}.filter_type")
    allow = o.get("allow", o.get("filter_pass", False))
    kw: dict[str, Any] = {
        "matching": dv.boolean(o.get("matching", True), f"{path}.matching"),
        "allow": dv.boolean(allow, f"{path}.allow"),
    }
    if kind is FilterType.MEMCG:
        kw["memcg_path"] = dv.text(_get(o, "memcg_path", path), f"{path}.memcg_path")
    elif kind is FilterType.ADDR:
        ap = f"{path}.address_range"
        ar = _obj(_get(o, "address_range", path), ap)
        kw["addr_start"] = dv.size(_get(ar, "start", ap), f"{ap}.start")
        kw["addr_end"] = dv.size(_get(ar, "end", ap), f"{ap}.end")
    elif kind is FilterType.TARGET:
        kw["target_idx"] = _int(_get(o, "damon_target_idx", path), f"{path}.damon_target_idx")
    elif kind is FilterType.HUGEPAGE_SIZE:
        kw["min"], kw["max"] = _pair(o, "hugepage_size", path, dv.size)
    elif kind is FilterType.PROBE_HITS_WSUM:
        kw["min"], kw["max"] = _pair(o, "probe_hits_wsum_range", path, _int)
    return Filter(kind, **kw)


def _scheme(o: dict, path: str, attrs: MonitoringAttrs) -> Scheme:
    action = _enum(Action, o.get("action", "stat"), f"{path}.action")
    nid = o.get("target_nid")
    dests = tuple(Dest(_int(_get(_obj(d, p), "id", p), f"{p}.id"),
                       _int(_obj(d, p).get("weight", 0), f"{p}.weight"))
                  for i, d in enumerate(_lst(o.get("dests", []), f"{path}.dests"))
                  for p in (f"{path}.dests[{i}]",))  # fmt: skip
    stats = _obj(o.get("stats", {}), f"{path}.stats")
    return Scheme(
        action,
        _pattern(_obj(o["access_pattern"], f"{path}.access_pattern"), f"{path}.access_pattern",
                 attrs) if o.get("access_pattern") is not None else AccessPattern(),
        _quotas(_obj(o["quotas"], f"{path}.quotas"), f"{path}.quotas")
        if o.get("quotas") is not None else DAMO_QUOTAS,
        _watermarks(_obj(o["watermarks"], f"{path}.watermarks"), f"{path}.watermarks")
        if o.get("watermarks") is not None else DAMO_WATERMARKS,
        tuple(_filter(_obj(f, f"{path}.filters[{i}]"), f"{path}.filters[{i}]")
              for i, f in enumerate(_lst(o.get("filters", []), f"{path}.filters"))),
        _us(o.get("apply_interval_us", 0), f"{path}.apply_interval_us"),
        _int(nid, f"{path}.target_nid") if nid is not None else -1,
        dests=dests,
        max_nr_snapshots=_int(stats.get("max_nr_snapshots", 0), f"{path}.stats.max_nr_snapshots"),
    )  # fmt: skip


def _probe(o: dict, path: str) -> Probe:
    filters = []
    for i, f in enumerate(_lst(o.get("filters", []), f"{path}.filters")):
        fp = f"{path}.filters[{i}]"
        f = _obj(f, fp)
        lo, hi = f.get("range_min"), f.get("range_max")
        filters.append(ProbeFilter(
            _enum(ProbeFilterType, _get(f, "filter_type", fp), f"{fp}.filter_type"),
            dv.boolean(f.get("matching", True), f"{fp}.matching"),
            dv.boolean(f.get("allow", False), f"{fp}.allow"),
            dv.text(f["path"], f"{fp}.path") if f.get("path") is not None else "",
            dv.size(lo, f"{fp}.range_min") if lo is not None else 0,
            dv.size(hi, f"{fp}.range_max") if hi is not None else 0))  # fmt: skip
    preps = tuple(_enum(ProbePrep, _get(_obj(p, f"{path}.preps[{i}]"), "prep_action",
                                        f"{path}.preps[{i}]"), f"{path}.preps[{i}].prep_action")
                  for i, p in enumerate(_lst(o.get("preps", []), f"{path}.preps")))  # fmt: skip
    weight = o.get("weight", 0)
    if not isinstance(weight, int) or isinstance(weight, bool):
        raise DamoJsonError(f"{path}.weight", f"expected an integer, got {weight!r}")
    return Probe(tuple(filters), weight, preps)


def _context(o: dict, path: str) -> DamoContext:
    ops = _get(o, "ops", path)
    if ops not in ("vaddr", "fvaddr", "paddr"):
        raise DamoJsonError(f"{path}.ops", f"{ops!r} is not one of vaddr, fvaddr, paddr")
    iv = _obj(o.get("intervals", {}), f"{path}.intervals")
    ip = f"{path}.intervals"
    g = _obj(iv.get("intervals_goal", {}), f"{ip}.intervals_goal")
    gp = f"{ip}.intervals_goal"
    nr = _obj(o.get("nr_regions", {}), f"{path}.nr_regions")
    attrs = MonitoringAttrs(
        _us(iv.get("sample_us", "5ms"), f"{ip}.sample_us"),
        _us(iv.get("aggr_us", "100ms"), f"{ip}.aggr_us"),
        _us(iv.get("ops_update_us", "1s"), f"{ip}.ops_update_us"),
        _int(nr.get("min", 10), f"{path}.nr_regions.min"),
        _int(nr.get("max", 1000), f"{path}.nr_regions.max"),
        IntervalsGoal(dv.to_int(dv.ratio(g.get("access_bp", "0%"), f"{gp}.access_bp", 10_000), gp),
                      _int(g.get("aggrs", 0), f"{gp}.aggrs"),
                      _us(g.get("min_sample_us", 0), f"{gp}.min_sample_us"),
                      _us(g.get("max_sample_us", 0), f"{gp}.max_sample_us")),
        tuple(_probe(_obj(p, f"{path}.probes[{i}]"), f"{path}.probes[{i}]")
              for i, p in enumerate(_lst(o.get("probes", []), f"{path}.probes"))),
    )  # fmt: skip
    targets = []
    for i, t in enumerate(_lst(o.get("targets", []), f"{path}.targets")):
        tp = f"{path}.targets[{i}]"
        t = _obj(t, tp)
        regions = tuple((dv.size(_get(_obj(r, rp), "start", rp), f"{rp}.start"),
                         dv.size(_get(r, "end", rp), f"{rp}.end"))
                        for j, r in enumerate(_lst(t.get("regions", []), f"{tp}.regions"))
                        for rp in (f"{tp}.regions[{j}]",))  # fmt: skip
        pid = t.get("pid")
        kind = TargetKind.PADDR if ops == "paddr" else TargetKind.PID
        targets.append(
            Target(
                kind,
                _int(pid, f"{tp}.pid") if pid is not None else None,
                ranges=regions,
                obsolete=dv.boolean(t.get("obsolete", False), f"{tp}.obsolete"),
            )
        )
    srcs = _lst(o.get("schemes", []), f"{path}.schemes")
    schemes = tuple(_scheme(_obj(s, f"{path}.schemes[{i}]"), f"{path}.schemes[{i}]", attrs)
                    for i, s in enumerate(srcs))  # fmt: skip
    return DamoContext(ops, attrs, tuple(targets), schemes,
                       dv.size(o.get("addr_unit", 1), f"{path}.addr_unit"),
                       dv.boolean(o.get("pause", False), f"{path}.pause"),
                       source=o, scheme_sources=tuple(zip(schemes, srcs, strict=True)))  # fmt: skip


def context_from_damo(obj: Any, path: str = "context") -> DamoContext:
    return _context(_obj(obj, path), path)


def load_damo(data: str | bytes | dict | list, file: str | None = None) -> list[DamoKdamond]:
    """damo's kdamonds JSON (text or decoded) -> kdamonds; DamoJsonError names the key."""
    try:
        return _load(data)
    except DamoJsonError as e:
        raise e.in_file(file) if file else e from None
    except RecursionError:
        raise DamoJsonError("$", "nested too deeply", file) from None


def _reject_constant(name: str) -> Any:
    raise DamoJsonError("$", f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise DamoJsonError("$", f"{text} is out of range for a number")
    return value


def _load(data: str | bytes | dict | list) -> list[DamoKdamond]:
    if isinstance(data, (str, bytes)):
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except UnicodeDecodeError as e:
            raise DamoJsonError("$", f"not UTF-8 text (byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise DamoJsonError("$", f"not JSON: {e}") from None
    if isinstance(data, dict) and "kdamonds" in data:
        kdamonds = _lst(data["kdamonds"], "kdamonds")
    elif isinstance(data, list):
        kdamonds = data
    elif isinstance(data, dict) and "contexts" in data:
        kdamonds = [data]
    else:
        raise DamoJsonError("$", 'expected {"kdamonds": [...]}')
    out = []
    for k, kd in enumerate(kdamonds):
        kp = f"kdamonds[{k}]"
        kd = _obj(kd, kp)
        contexts = _lst(_get(kd, "contexts", kp), f"{kp}.contexts")
        state, pid = kd.get("state"), kd.get("pid")
        out.append(DamoKdamond(
            tuple(_context(_obj(c, f"{kp}.contexts[{i}]"), f"{kp}.contexts[{i}]")
                  for i, c in enumerate(contexts)),
            _ms(kd.get("refresh_ms", 0), f"{kp}.refresh_ms"),
            dv.text(state, f"{kp}.state") if state is not None else None,
            _int(pid, f"{kp}.pid") if pid is not None else None,
            source=kd))  # fmt: skip
    return out


def loads(text: str | bytes) -> list[DamoKdamond]:
    return load_damo(text)

"""Write the model as damo's kdamonds JSON, keeping the representation of loaded files.

Each writer takes the model object and the JSON object it was loaded from (or None).  A
key of the source whose value still reads back to the model's value is written as it
was; a key the source left out stays out while the model holds damo's default for it;
keys the model has no place for are copied verbatim.  Everything else is written fresh
in damo's key order, in a form damo reads back to exactly the model's value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from damontui.formats import damo_values as dv
from damontui.formats.damo_types import (
    BP_METRICS,
    DAMO_GOAL,
    DAMO_QUOTAS,
    DAMO_WATERMARKS,
    LEGACY,
    DamoContext,
    DamoKdamond,
)  # fmt: skip
from damontui.formats.damo_values import DamoJsonError
from damontui.model import (
    AccessPattern,
    Filter,
    GoalMetric,
    MonitoringAttrs,
    Probe,
    QuotaGoal,
    Quotas,
    Range,
    Scheme,
    Target,
    Watermarks,
)  # fmt: skip
from damontui.model.units import U32_MAX

Src = Any  # the source JSON object (dict), or None
Parse = Callable[[Any, str], Any]

SAMPLE_CONTROL = {"primitives_enabled": {"page_table": True, "page_fault": False},
                  "sample_filters": []}  # fmt: skip


def _sub(src: Src, key: str) -> Src:
    return src.get(key) if isinstance(src, dict) else None


def _at(src: Src, index: int) -> Src:
    return src[index] if isinstance(src, list) and index < len(src) else None


def _v(x: Any) -> Any:
    return x.value if hasattr(x, "value") else x


def _opt(parse: Parse, none: Any) -> Parse:
    return lambda v, p: none if v is None else parse(v, p)


class _Writer:
    def __init__(self, raw: bool) -> None:
        self.raw = raw

    def keep(self, src: Src, key: str, value: Any, parse: Parse, fresh: Any) -> Any:
        """src[key] when it reads back to `value` (and raw output wasn't asked for)."""
        if not self.raw and isinstance(src, dict) and key in src:
            try:
                if parse(src[key], key) == value:
                    return src[key]
            except (DamoJsonError, ValueError, TypeError):
                pass
        return fresh

    @staticmethod
    def finish(out: dict, src: Src, defaults: dict[str, bool] | None = None) -> dict:
        """Drop keys the source left out while default; add the source's other keys."""
        if not isinstance(src, dict):
            return out
        for key, is_default in (defaults or {}).items():
            if key not in src and is_default:
                out.pop(key, None)
        result = {k: out[k] if k in out else src[k] for k in src if k in out or k not in LEGACY}
        result.update((k, v) for k, v in out.items() if k not in result)
        return result

    # ----------------------------------------------------------------- scalars

    def us(self, src: Src, key: str, value: int) -> Any:
        return self.keep(src, key, value, dv.parse_us, dv.fmt_time_us(value, self.raw))

    def ms(self, src: Src, key: str, value: int) -> Any:
        return self.keep(src, key, value, dv.parse_ms, dv.fmt_time_ms(value, self.raw))

    def size(self, src: Src, key: str, value: int) -> Any:
        return self.keep(src, key, value, dv.size, dv.fmt_size(value, self.raw))

    def nr(self, src: Src, key: str, value: int) -> Any:
        return self.keep(src, key, value, dv.parse_int, dv.fmt_nr(value, self.raw))

    def permil(self, src: Src, key: str, value: int) -> Any:
        return self.keep(src, key, value, dv.parse_permil, dv.fmt_ratio(value, 1000, self.raw))

    def flag(self, src: Src, key: str, value: bool) -> Any:
        return self.keep(src, key, value, dv.boolean, value)

    # ----------------------------------------------------------------- access pattern

    def nr_accesses(self, src: Src, rng: Range, max_nr: float) -> dict:
        if not self.raw and isinstance(src, dict):
            try:
                if dv.nr_accesses_range(src, "", max_nr) == rng:
                    return self.finish({"min": src.get("min", "min"), "max": src.get("max", "max")},
                                       src)  # fmt: skip
            except DamoJsonError:
                pass
        in_samples = self.raw or "samples" in f"{_sub(src, 'min')}{_sub(src, 'max')}"
        pcts = [None if in_samples else "max" if n >= U32_MAX
                else dv.fmt_percent_of_samples(n, max_nr) for n in (rng.min, rng.max)]  # fmt: skip
        if None in pcts:
            pcts = [f"{dv.fmt_nr(n, self.raw)} samples" for n in (rng.min, rng.max)]
        return self.finish({"min": pcts[0], "max": pcts[1]}, src)

    def age(self, src: Src, rng: Range, aggr_us: int) -> dict:
        if not self.raw and isinstance(src, dict):
            try:
                if dv.age_range(src, "", aggr_us) == rng:
                    return self.finish({"min": src.get("min", "min"), "max": src.get("max", "max")},
                                       src)  # fmt: skip
            except DamoJsonError:
                pass
        if self.raw or "aggr_intervals" in f"{_sub(src, 'min')}{_sub(src, 'max')}":
            vals = [f"{dv.fmt_nr(n, self.raw)} aggr_intervals" for n in (rng.min, rng.max)]
        else:
            vals = ["max" if n >= U32_MAX else dv.fmt_time_us(n * aggr_us)
                    for n in (rng.min, rng.max)]  # fmt: skip
        return self.finish({"min": vals[0], "max": vals[1]}, src)

    def pattern(self, src: Src, ap: AccessPattern, attrs: MonitoringAttrs) -> dict:
        sz = _sub(src, "sz_bytes")
        return self.finish({
            "sz_bytes": self.finish({"min": self.size(sz, "min", ap.sz.min),
                                     "max": self.size(sz, "max", ap.sz.max)}, sz),
            "nr_accesses": self.nr_accesses(_sub(src, "nr_accesses"), ap.nr_accesses,
                                            attrs.aggr_us / max(1, attrs.sample_us)),
            "age": self.age(_sub(src, "age"), ap.age, attrs.aggr_us),
        }, src)  # fmt: skip

    # ----------------------------------------------------------------- schemes

    def goal(self, src: Src, g: QuotaGoal) -> dict:
        metric = GoalMetric(g.metric)
        if metric is GoalMetric.SOME_MEM_PSI_US:
            parse_target: Parse = dv.parse_us
        elif metric.value in BP_METRICS:
            parse_target = lambda v, p: dv.to_int(dv.ratio(v, p, 10_000), p)  # noqa: E731
        else:
            parse_target = dv.parse_int
        memcg_key = "path" if isinstance(src, dict) and "path" in src and "memcg_path" not in src \
            else "memcg_path"  # fmt: skip
        out = {
            "metric": metric.value,
            "complement": self.flag(src, "complement", g.complement),
            "nid": self.keep(src, "nid", g.nid, _opt(dv.parse_int, 0),
                             dv.fmt_nr(g.nid, self.raw) if metric.needs_nid else None),
            "memcg_path": self.keep(src, memcg_key, g.path, _opt(dv.text, ""), g.path or None),
            "target_value": self.keep(src, "target_value", g.target_value, parse_target,
                                      dv.fmt_nr(g.target_value, self.raw)),
            "current_value": self.nr(src, "current_value", g.current_value),
        }  # fmt: skip
        result = self.finish(out, src)
        result.pop("path", None) if memcg_key == "path" else None
        return result

    def quotas(self, src: Src, q: Quotas) -> dict:
        w, ws = q.weights, _sub(src, "weights")
        goals = _sub(src, "goals")
        return self.finish({
            "time_ms": self.ms(src, "time_ms", q.ms),
            "sz_bytes": self.size(src, "sz_bytes", q.bytes),
            "reset_interval_ms": self.ms(src, "reset_interval_ms", q.reset_interval_ms),
            "fail_charge_num": self.nr(src, "fail_charge_num", q.fail_charge_num),
            "fail_charge_denom": self.nr(src, "fail_charge_denom", q.fail_charge_denom),
            "goals": [self.goal(_at(goals, i), g) for i, g in enumerate(q.goals)],
            "goal_tuner": _v(q.goal_tuner),
            # a statistic, not a parameter: a source's is kept as it is
            "effective_sz_bytes": src.get("effective_sz_bytes", "0 B") if isinstance(src, dict)
            else "0" if self.raw else "0 B",
            "weights": self.finish({
                "sz_permil": self.permil(ws, "sz_permil", w.sz_permil),
                "nr_accesses_permil": self.permil(ws, "nr_accesses_permil", w.nr_accesses_permil),
                "age_permil": self.permil(ws, "age_permil", w.age_permil)}, ws),
        }, src, {"fail_charge_num": not q.fail_charge_num,
                 "fail_charge_denom": not q.fail_charge_denom,
                 "goals": not q.goals, "goal_tuner": q.goal_tuner == "consist",
                 "effective_sz_bytes": True})  # fmt: skip

    def watermarks(self, src: Src, wm: Watermarks) -> dict:
        return self.finish({
            "metric": _v(wm.metric),
            "interval_us": self.us(src, "interval_us", wm.interval_us),
            "high_permil": self.permil(src, "high_permil", wm.high),
            "mid_permil": self.permil(src, "mid_permil", wm.mid),
            "low_permil": self.permil(src, "low_permil", wm.low),
        }, src)  # fmt: skip

    def _range(self, src: Src, key: str, lo: int, hi: int, one: Callable[..., Any]) -> list:
        s = _sub(src, key)
        s = s if isinstance(s, list) and len(s) == 2 else [None, None]
        return [
            one({"v": s[0]} if s[0] is not None else None, "v", lo),
            one({"v": s[1]} if s[1] is not None else None, "v", hi),
        ]

    def filter(self, src: Src, f: Filter) -> dict:
        kind = _v(f.type)
        ar = _sub(src, "address_range")
        return self.finish({
            "filter_type": kind,
            "matching": self.flag(src, "matching", f.matching),
            "allow": self.flag(src, "allow", f.allow),
            "memcg_path": f.memcg_path if kind == "memcg" else None,
            "address_range": self.finish({"start": self.nr(ar, "start", f.addr_start),
                                          "end": self.nr(ar, "end", f.addr_end)}, ar)
            if kind == "addr" else None,
            "damon_target_idx": self.nr(src, "damon_target_idx", f.target_idx)
            if kind == "target" else None,
            "hugepage_size": self._range(src, "hugepage_size", f.min, f.max, self.size)
            if kind == "hugepage_size" else None,
            "probe_hits_wsum_range": self._range(src, "probe_hits_wsum_range", f.min, f.max,
                                                 self.nr) if kind == "probe_hits_wsum" else None,
        }, src, {"hugepage_size": kind != "hugepage_size",
                 "probe_hits_wsum_range": kind != "probe_hits_wsum"})  # fmt: skip

    def scheme(self, src: Src, s: Scheme, attrs: MonitoringAttrs) -> dict:
        action = _v(s.action)
        dsrc, fsrc = _sub(src, "dests"), _sub(src, "filters")
        out: dict[str, Any] = {"action": action, "dests": [
            self.finish({"id": self.keep(_at(dsrc, i), "id", d.id, dv.parse_int, d.id),
                         "weight": self.keep(_at(dsrc, i), "weight", d.weight, dv.parse_int,
                                             d.weight)}, _at(dsrc, i))
            for i, d in enumerate(s.dests)]}  # fmt: skip
        if action in ("migrate_hot", "migrate_cold"):
            nid = s.target_nid if s.target_nid >= 0 else None
            out["target_nid"] = self.keep(src, "target_nid", s.target_nid,
                                          _opt(dv.parse_int, -1), nid)  # fmt: skip
        out["access_pattern"] = self.pattern(_sub(src, "access_pattern"), s.access_pattern, attrs)
        out["apply_interval_us"] = self.us(src, "apply_interval_us", s.apply_interval_us)
        out["quotas"] = self.quotas(_sub(src, "quotas"), s.quotas)
        out["watermarks"] = self.watermarks(_sub(src, "watermarks"), s.watermarks)
        out["filters"] = [self.filter(_at(fsrc, i), f) for i, f in enumerate(s.filters)]
        stats = _sub(src, "stats")
        if isinstance(stats, dict) or s.max_nr_snapshots:
            out["stats"] = self.finish(
                {"max_nr_snapshots": self.nr(stats, "max_nr_snapshots", s.max_nr_snapshots)}, stats
            )
        return self.finish(out, src, {
            "access_pattern": s.access_pattern == AccessPattern(),
            "quotas": s.quotas == DAMO_QUOTAS, "watermarks": s.watermarks == DAMO_WATERMARKS,
            "filters": not s.filters, "dests": not s.dests})  # fmt: skip

    # ----------------------------------------------------------------- contexts

    def probe(self, src: Src, p: Probe) -> dict:
        fsrc = _sub(src, "filters")
        filters = []
        for i, f in enumerate(p.filters):
            fs, kind = _at(fsrc, i), _v(f.type)
            hp = kind == "hugepage_size"
            filters.append(self.finish({
                "filter_type": kind, "matching": self.flag(fs, "matching", f.matching),
                "allow": self.flag(fs, "allow", f.allow), "path": f.path or None,
                "range_min": self.size(fs, "range_min", f.min) if hp else None,
                "range_max": self.size(fs, "range_max", f.max) if hp else None}, fs))  # fmt: skip
        return self.finish({"preps": [{"prep_action": _v(x)} for x in p.preps],
                            "filters": filters, "weight": p.weight}, src)  # fmt: skip

    def target(self, src: Src, t: Target) -> dict:
        rsrc = _sub(src, "regions")
        return self.finish({
            "pid": self.keep(src, "pid", t.pid, _opt(dv.parse_int, None), t.pid),
            "obsolete": self.flag(src, "obsolete", t.obsolete),
            "regions": [self.finish({"start": self.nr(_at(rsrc, j), "start", a),
                                     "end": self.nr(_at(rsrc, j), "end", b)}, _at(rsrc, j))
                        for j, (a, b) in enumerate(t.ranges)],
        }, src)  # fmt: skip

    def context(self, c: DamoContext) -> dict:
        src, a = c.source, c.attrs
        iv, nr = _sub(src, "intervals"), _sub(src, "nr_regions")
        g, gs = a.intervals_goal, _sub(iv, "intervals_goal")
        goal = self.finish({
            "access_bp": self.keep(gs, "access_bp", g.access_bp,
                                   lambda v, p: dv.to_int(dv.ratio(v, p, 10_000), p),
                                   dv.fmt_ratio(g.access_bp, 10_000, self.raw)),
            "aggrs": self.nr(gs, "aggrs", g.aggrs),
            "min_sample_us": self.us(gs, "min_sample_us", g.min_sample_us),
            "max_sample_us": self.us(gs, "max_sample_us", g.max_sample_us)}, gs)  # fmt: skip
        tsrc, psrc = _sub(src, "targets"), _sub(src, "probes")
        out = {
            "ops": c.ops,
            "addr_unit": self.size(src, "addr_unit", c.addr_unit or 1),
            "targets": [self.target(_at(tsrc, i), t) for i, t in enumerate(c.targets)],
            "intervals": self.finish({
                "sample_us": self.us(iv, "sample_us", a.sample_us),
                "aggr_us": self.us(iv, "aggr_us", a.aggr_us),
                "ops_update_us": self.us(iv, "ops_update_us", a.update_us),
                "intervals_goal": goal}, iv, {"intervals_goal": g == DAMO_GOAL}),
            "nr_regions": self.finish({"min": self.nr(nr, "min", a.min_nr_regions),
                                       "max": self.nr(nr, "max", a.max_nr_regions)}, nr),
            "probes": [self.probe(_at(psrc, i), p) for i, p in enumerate(a.probes)],
            "sample_control": SAMPLE_CONTROL,
            "pause": self.flag(src, "pause", c.pause),
            "schemes": [self.scheme(_scheme_source(c, i, s), s, a)
                        for i, s in enumerate(c.schemes)],
        }  # fmt: skip
        return self.finish(out, src, {
            "intervals": (a.sample_us, a.aggr_us, a.update_us, g) == (5000, 100_000, 1_000_000,
                                                                      DAMO_GOAL),
            "nr_regions": (a.min_nr_regions, a.max_nr_regions) == (10, 1000),
            "probes": not a.probes, "pause": not c.pause, "addr_unit": (c.addr_unit or 1) == 1,
            "sample_control": True})  # fmt: skip

    def kdamond(self, kd: DamoKdamond) -> dict:
        src = kd.source
        out: dict[str, Any] = {}
        if kd.state is not None or isinstance(src, dict) and "state" in src:
            out["state"] = kd.state
        if kd.pid is not None or isinstance(src, dict) and "pid" in src:
            out["pid"] = self.keep(src, "pid", kd.pid, _opt(dv.parse_int, None), kd.pid)
        out["refresh_ms"] = self.keep(src, "refresh_ms", kd.refresh_ms, dv.parse_ms, kd.refresh_ms)
        out["contexts"] = [self.context(c) for c in kd.contexts]
        return self.finish(out, src)


def _scheme_source(c: DamoContext, index: int, scheme: Scheme) -> Src:
    """The source object of a scheme: an unchanged one's (wherever it moved), else the
    one at the same position when no unchanged scheme claims it (a scheme edited in
    place keeps how its other values were written)."""
    pairs = c.scheme_sources
    if index < len(pairs) and pairs[index][0] == scheme:
        return pairs[index][1]
    for loaded, src in pairs:
        if loaded == scheme:
            return src
    if index < len(pairs) and pairs[index][0] not in c.schemes:
        return pairs[index][1]
    return None


def dump_damo(kdamonds: Sequence[DamoKdamond] | DamoKdamond | DamoContext,
              raw: bool = False) -> dict:  # fmt: skip
    """The {"kdamonds": [...]} object for kdamonds (or one kdamond/context).

    raw=True writes every value fresh as a plain number in the unit of its key
    (nr_accesses in samples and ages in aggregation intervals, with those units named),
    which damo reads back to the same values.
    """
    if isinstance(kdamonds, DamoContext):
        kdamonds = [DamoKdamond((kdamonds,))]
    elif isinstance(kdamonds, DamoKdamond):
        kdamonds = [kdamonds]
    w = _Writer(raw)
    return {"kdamonds": [w.kdamond(kd) for kd in kdamonds]}


def dumps(kdamonds: Sequence[DamoKdamond] | DamoKdamond | DamoContext, raw: bool = False,
          indent: int = 4) -> str:  # fmt: skip
    return json.dumps(dump_damo(kdamonds, raw), indent=indent)


def from_kdamond_info(info: Any) -> DamoKdamond:
    """A live kdamond (inventory.KdamondInfo) as damo JSON data (user schemes only)."""
    contexts = tuple(DamoContext(c.operations, c.attrs, c.targets,
                                 tuple(s.scheme for s in c.user_schemes), c.addr_unit)
                     for c in info.contexts)  # fmt: skip
    return DamoKdamond(contexts, info.refresh_ms or 0, info.state, info.pid)

"""Schemes and monitoring attributes from plain dicts and TOML text (no I/O); the
writing side (dicts and TOML text out) is formats.toml_out, and the readers of single
values and tables (read_size, read_bp, ...) are model.readers, both re-exported here.

Input accepts human values ("5ms", "128MiB", "30%", "max", "0x7f00") next to
plain numbers in the unit the key names (``reset_interval_ms = 1000``). Output
writes exact values so save -> load gives back equal objects. Every error is a
ValidationError whose field is the full key path, e.g. ``schemes[1].quotas.bytes``.

Access patterns may be written in DAMON units (``nr_accesses`` counts per
aggregation, ``age`` in aggregations) or human ones (``access_rate = ["0%",
"5%"]``, ``age = ["30s", "max"]``); human ones are converted with the
MonitoringAttrs in force, as damo does.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

# TOML output lives in formats.toml_out; re-exported here for the model's callers
from ..formats.toml_out import (
    attrs_to_dict,
    exact_duration,
    exact_size,
    scheme_to_dict,
    schemes_to_toml,
    to_toml,
)
from .attrs import IntervalsGoal, MonitoringAttrs, Probe, ProbeFilter, ProbeFilterType, ProbePrep
from .errors import ValidationError

# The value and table readers live in model.readers; re-exported for the editors
from .readers import (
    _bool,
    _bp,
    _count,
    _duration_ms,
    _duration_us,
    _join,
    _permil,
    _range,
    _sequence,
    _signed,
    _size,
    _str,
    _Table,
    read_accesses,
    read_age,
    read_age_us,
    read_bool,
    read_bp,
    read_choice,
    read_count,
    read_duration_ms,
    read_duration_us,
    read_permil,
    read_rate,
    read_signed,
    read_size,
)
from .scheme import (
    AccessPattern,
    Action,
    Dest,
    Filter,
    FilterType,
    GoalMetric,
    GoalTuner,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Scheme,
    WatermarkMetric,
    Watermarks,
)
from .units import U32_MAX

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "exact_duration",
    "exact_size",
    "read_accesses",
    "read_age",
    "read_age_us",
    "read_bool",
    "read_bp",
    "read_choice",
    "read_count",
    "read_duration_ms",
    "read_duration_us",
    "read_permil",
    "read_rate",
    "read_signed",
    "read_size",
    "attrs_from_dict",
    "attrs_to_dict",
    "scheme_from_dict",
    "scheme_to_dict",
    "schemes_from_dicts",
    "schemes_from_toml",
    "schemes_to_toml",
    "to_toml",
]


def _pattern(data: object, path: str, attrs: MonitoringAttrs) -> AccessPattern:
    table = _Table(data, path)
    default = AccessPattern()
    if table.has("nr_accesses") and table.has("access_rate"):
        raise ValidationError(
            _join(path, "access_rate"),
            table.data["access_rate"],
            "give nr_accesses or access_rate, not both",
        )
    sz = table.take("sz", lambda v, p: _range(v, p, _size), default.sz)
    nr = table.take(
        "nr_accesses",
        lambda v, p: _range(v, p, lambda x, q: _count(x, q, U32_MAX)),
        default.nr_accesses,
    )
    nr = table.take(
        "access_rate", lambda v, p: _range(v, p, lambda x, q: read_rate(x, q, attrs)), nr
    )
    raw_age = table.data.get("age")
    ages = table.take(
        "age", lambda v, p: _range(v, p, lambda x, q: read_age(x, q, attrs)), default.age
    )
    table.finish()
    return AccessPattern(sz=sz, nr_accesses=nr, age=ages, age_us=_age_times(raw_age, path))


def _age_times(raw: object, path: str) -> tuple[int, int]:
    """The age bounds given as times, in us (-1 for a count or 'max'), to be converted
    again whenever the aggregation interval changes."""
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        return (-1, -1)
    lo, hi = (read_age_us(value, _join(path, "age")) for value in raw)
    return (lo, hi)


def _goal(data: object, path: str) -> QuotaGoal:
    table = _Table(data, path)
    goal = QuotaGoal(
        metric=table.take("metric", read_choice(GoalMetric), GoalMetric.USER_INPUT),
        target_value=table.take("target_value", _bp, 0),
        current_value=table.take("current_value", _bp, 0),
        nid=table.take("nid", _signed, 0),
        path=table.take("path", _str, ""),
        complement=table.take("complement", _bool, False),
    )
    table.finish()
    return goal


def _weights(data: object, path: str) -> QuotaWeights:
    table = _Table(data, path)
    weights = QuotaWeights(
        sz_permil=table.take("sz_permil", _permil, 0),
        nr_accesses_permil=table.take("nr_accesses_permil", _permil, 0),
        age_permil=table.take("age_permil", _permil, 0),
    )
    table.finish()
    return weights


def _quotas(data: object, path: str) -> Quotas:
    table = _Table(data, path)
    weights = table.take("weights", _weights, QuotaWeights())
    goals = table.take(
        "goals",
        lambda v, p: tuple(_goal(item, _join(p, i)) for i, item in enumerate(_sequence(v, p))),
        (),
    )
    quotas = Quotas(
        ms=table.take("ms", _duration_ms, 0),
        bytes=table.take("bytes", _size, 0),
        reset_interval_ms=table.take("reset_interval_ms", _duration_ms, 0),
        weights=weights,
        goals=goals,
        goal_tuner=table.take("goal_tuner", read_choice(GoalTuner), GoalTuner.CONSIST),
        fail_charge_num=table.take("fail_charge_num", _count, 0),
        fail_charge_denom=table.take("fail_charge_denom", _count, 0),
    )
    table.finish()
    return quotas


def _watermarks(data: object, path: str) -> Watermarks:
    table = _Table(data, path)
    default = Watermarks()
    marks = Watermarks(
        metric=table.take("metric", read_choice(WatermarkMetric), default.metric),
        interval_us=table.take("interval_us", _duration_us, default.interval_us),
        high=table.take("high", _permil, default.high),
        mid=table.take("mid", _permil, default.mid),
        low=table.take("low", _permil, default.low),
    )
    table.finish()
    return marks


def _filter(data: object, path: str) -> Filter:
    table = _Table(data, path)
    if not table.has("type"):
        raise ValidationError(
            _join(path, "type"), None, "required: one of " + ", ".join(t.value for t in FilterType)
        )
    flt = Filter(
        type=table.take("type", read_choice(FilterType), None),
        matching=table.take("matching", _bool, True),
        allow=table.take("allow", _bool, False),
        memcg_path=table.take("memcg_path", _str, ""),
        addr_start=table.take("addr_start", _size, 0),
        addr_end=table.take("addr_end", _size, 0),
        target_idx=table.take("target_idx", _count, 0),
        min=table.take("min", _size, 0),
        max=table.take("max", _size, 0),
    )
    table.finish()
    return flt


def _dest(data: object, path: str) -> Dest:
    table = _Table(data, path)
    if not table.has("id"):
        raise ValidationError(_join(path, "id"), None, "required: a NUMA node id (>= 0)")
    dest = Dest(id=table.take("id", _signed, 0), weight=table.take("weight", _signed, 0))
    table.finish()
    return dest


def _prefixed(error: ValidationError, path: str) -> ValidationError:
    return ValidationError(_join(path, error.field), error.value, error.allowed)


def scheme_from_dict(data: object, attrs: MonitoringAttrs | None = None, path: str = "") -> Scheme:
    """A validated Scheme from a table (anything else is an error naming `path`);
    `path` prefixes error fields (e.g. 'schemes[1]')."""
    attrs = attrs or MonitoringAttrs()
    table = _Table(data, path)
    scheme = Scheme(
        action=table.take("action", read_choice(Action), Action.STAT),
        access_pattern=table.take(
            "access_pattern", lambda v, p: _pattern(v, p, attrs), AccessPattern()
        ),
        quotas=table.take("quotas", _quotas, Quotas()),
        watermarks=table.take("watermarks", _watermarks, Watermarks()),
        filters=table.take(
            "filters",
            lambda v, p: tuple(
                _filter(item, _join(p, i)) for i, item in enumerate(_sequence(v, p))
            ),
            (),
        ),
        apply_interval_us=table.take("apply_interval_us", _duration_us, 0),
        target_nid=table.take("target_nid", _signed, -1),
        name=table.take("name", _str, ""),
        dests=table.take(
            "dests",
            lambda v, p: tuple(_dest(item, _join(p, i)) for i, item in enumerate(_sequence(v, p))),
            (),
        ),
        max_nr_snapshots=table.take("max_nr_snapshots", _count, 0),
    )
    table.finish()
    try:
        return scheme.validate()
    except ValidationError as exc:
        raise _prefixed(exc, path) from None


def schemes_from_dicts(
    items: object, attrs: MonitoringAttrs | None = None, path: str = "schemes"
) -> list[Scheme]:
    return [
        scheme_from_dict(item, attrs, _join(path, i))
        for i, item in enumerate(_sequence(items, path))
    ]


def _intervals_goal(data: object, path: str) -> IntervalsGoal:
    table = _Table(data, path)
    default = IntervalsGoal()
    goal = IntervalsGoal(
        access_bp=table.take("access_bp", _bp, default.access_bp),
        aggrs=table.take("aggrs", _count, default.aggrs),
        min_sample_us=table.take("min_sample_us", _duration_us, default.min_sample_us),
        max_sample_us=table.take("max_sample_us", _duration_us, default.max_sample_us),
    )
    table.finish()
    return goal


def _probe_filter(data: object, path: str) -> ProbeFilter:
    table = _Table(data, path)
    if not table.has("type"):
        names = ", ".join(t.value for t in ProbeFilterType)
        raise ValidationError(_join(path, "type"), None, f"required: one of {names}")
    flt = ProbeFilter(
        type=table.take("type", read_choice(ProbeFilterType), None),
        matching=table.take("matching", _bool, True),
        allow=table.take("allow", _bool, False),
        path=table.take("path", _str, ""),
        min=table.take("min", _size, 0),
        max=table.take("max", _size, 0),
    )
    table.finish()
    return flt


def _probe(data: object, path: str) -> Probe:
    table = _Table(data, path)
    probe = Probe(
        filters=table.take(
            "filters",
            lambda v, p: tuple(
                _probe_filter(item, _join(p, i)) for i, item in enumerate(_sequence(v, p))
            ),
            (),
        ),
        weight=table.take("weight", _signed, 0),
        preps=table.take(
            "preps",
            lambda v, p: tuple(
                read_choice(ProbePrep)(item, _join(p, i)) for i, item in enumerate(_list(v, p))
            ),
            (),
        ),
    )
    table.finish()
    return probe


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, (list, tuple)):
        raise ValidationError(path, value, "a list")
    return list(value)


def attrs_from_dict(data: Mapping[str, Any], path: str = "") -> MonitoringAttrs:
    """Validated MonitoringAttrs; missing keys keep the kernel defaults."""
    table = _Table(data, path)
    default = MonitoringAttrs()
    goal = table.take("intervals_goal", _intervals_goal, IntervalsGoal())
    attrs = MonitoringAttrs(
        sample_us=table.take("sample_us", _duration_us, default.sample_us),
        aggr_us=table.take("aggr_us", _duration_us, default.aggr_us),
        update_us=table.take("update_us", _duration_us, default.update_us),
        min_nr_regions=table.take("min_nr_regions", _count, default.min_nr_regions),
        max_nr_regions=table.take("max_nr_regions", _count, default.max_nr_regions),
        intervals_goal=goal,
        probes=table.take(
            "probes",
            lambda v, p: tuple(_probe(item, _join(p, i)) for i, item in enumerate(_sequence(v, p))),
            (),
        ),
    )
    table.finish()
    try:
        return attrs.validate()
    except ValidationError as exc:
        raise _prefixed(exc, path) from None


def schemes_from_toml(text: str, attrs: MonitoringAttrs | None = None) -> list[Scheme]:
    """Parse a schemes file (tomllib.TOMLDecodeError on bad syntax, ValidationError on values)."""
    data = tomllib.loads(text)
    table = _Table(data, "")
    schemes = table.take("schemes", lambda v, p: schemes_from_dicts(v, attrs, p), [])
    table.finish()
    return schemes

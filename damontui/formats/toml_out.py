"""TOML output: schemes and monitoring attributes as plain dicts of exact, TOML-safe
values, and a small TOML writer for them (tomllib only reads). The reading side is
model.serialize; save -> load gives back equal objects."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..model.attrs import IntervalsGoal, MonitoringAttrs
from ..model.scheme import (
    Action,
    Filter,
    FilterType,
    GoalMetric,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Scheme,
    WatermarkMetric,
    Watermarks,
)
from ..model.units import U32_MAX, U64_MAX
from .units import SIZE_UNITS, TIME_UNITS, in_unit

__all__ = [
    "attrs_to_dict",
    "exact_duration",
    "exact_size",
    "scheme_to_dict",
    "schemes_to_toml",
    "to_toml",
    "toml_int",
]

INT64_MAX = (1 << 63) - 1  # TOML integers are signed 64-bit


# --- model objects to dicts (exact, TOML-safe values) ---------------------------------


# Not format_size(exact=False)/format_duration_us: those round for display; these must
# read back exactly, so a unit is used only when it divides the value.


def exact_size(nbytes: int) -> str | int:
    """'128MiB' when exact, 'max' for U64_MAX, else plain bytes."""
    if nbytes >= U64_MAX:
        return "max"
    return in_unit(nbytes, SIZE_UNITS) or toml_int(nbytes)


def exact_duration(us: int) -> str | int:
    """'5ms', '2min' when exact, 'max' for U64_MAX, else '<n>us'."""
    if us >= U64_MAX:
        return "max"
    return in_unit(us, TIME_UNITS) or f"{us}us"


def _count_out(value: int, upper: int = U32_MAX) -> str | int:
    return "max" if value >= upper else toml_int(value)


def toml_int(value: int) -> int | str:
    return value if value <= INT64_MAX else str(value)


def scheme_to_dict(scheme: Scheme) -> dict[str, Any]:
    """Plain dict in DAMON units (exact); sub-tables left at defaults are omitted."""
    pattern = scheme.access_pattern
    out: dict[str, Any] = {}
    if scheme.name:
        out["name"] = scheme.name
    out["action"] = Action(scheme.action).value
    if scheme.apply_interval_us:
        out["apply_interval_us"] = exact_duration(scheme.apply_interval_us)
    if scheme.target_nid != -1:
        out["target_nid"] = scheme.target_nid
    out["access_pattern"] = {
        "sz": [exact_size(pattern.sz.min), exact_size(pattern.sz.max)],
        "nr_accesses": [_count_out(pattern.nr_accesses.min), _count_out(pattern.nr_accesses.max)],
        "age": [_count_out(pattern.age.min), _count_out(pattern.age.max)],
    }
    quotas = scheme.quotas
    if quotas != Quotas():
        table: dict[str, Any] = {
            "ms": toml_int(quotas.ms),
            "bytes": exact_size(quotas.bytes) if quotas.bytes else 0,
            "reset_interval_ms": toml_int(quotas.reset_interval_ms),
        }
        if quotas.weights != QuotaWeights():
            table["weights"] = {
                "sz_permil": quotas.weights.sz_permil,
                "nr_accesses_permil": quotas.weights.nr_accesses_permil,
                "age_permil": quotas.weights.age_permil,
            }
        if quotas.goals:
            table["goals"] = [_goal_to_dict(goal) for goal in quotas.goals]
        out["quotas"] = table
    marks = scheme.watermarks
    if marks != Watermarks():
        out["watermarks"] = {
            "metric": WatermarkMetric(marks.metric).value,
            "interval_us": exact_duration(marks.interval_us),
            "high": marks.high,
            "mid": marks.mid,
            "low": marks.low,
        }
    if scheme.filters:
        out["filters"] = [_filter_to_dict(flt) for flt in scheme.filters]
    return out


def _goal_to_dict(goal: QuotaGoal) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metric": GoalMetric(goal.metric).value,
        "target_value": toml_int(goal.target_value),
    }
    if goal.current_value:
        out["current_value"] = toml_int(goal.current_value)
    if goal.nid:
        out["nid"] = goal.nid
    if goal.path:
        out["path"] = goal.path
    return out


def _filter_to_dict(flt: Filter) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": FilterType(flt.type).value,
        "matching": flt.matching,
        "allow": flt.allow,
    }
    if flt.memcg_path:
        out["memcg_path"] = flt.memcg_path
    for name in ("addr_start", "addr_end"):
        if getattr(flt, name):
            out[name] = hex(getattr(flt, name))
    if flt.target_idx:
        out["target_idx"] = toml_int(flt.target_idx)
    for name in ("min", "max"):
        if getattr(flt, name):
            out[name] = exact_size(getattr(flt, name))
    return out


def attrs_to_dict(attrs: MonitoringAttrs) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sample_us": exact_duration(attrs.sample_us),
        "aggr_us": exact_duration(attrs.aggr_us),
        "update_us": exact_duration(attrs.update_us),
        "min_nr_regions": toml_int(attrs.min_nr_regions),
        "max_nr_regions": toml_int(attrs.max_nr_regions),
    }
    goal = attrs.intervals_goal
    if goal != IntervalsGoal():
        out["intervals_goal"] = {
            "access_bp": toml_int(goal.access_bp),
            "aggrs": toml_int(goal.aggrs),
            "min_sample_us": exact_duration(goal.min_sample_us),
            "max_sample_us": exact_duration(goal.max_sample_us),
        }
    return out


# --- TOML text --------------------------------------------------------------------------


def schemes_to_toml(schemes: Sequence[Scheme], attrs: MonitoringAttrs | None = None) -> str:
    """A schemes file; with `attrs`, a comment says what the DAMON units mean in time."""
    header = [
        "# damontui DAMOS schemes",
        "# access_pattern: nr_accesses = samples per aggregation, age = aggregations",
    ]
    if attrs is not None:
        header.append(
            f"# (written at sample {exact_duration(attrs.sample_us)}, aggr "
            f"{exact_duration(attrs.aggr_us)}: nr_accesses max {attrs.max_nr_accesses})"
        )
    body = to_toml({"schemes": [scheme_to_dict(s) for s in schemes]}) if schemes else ""
    return "\n".join(header) + "\n\n" + body


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise ValueError(f"integer {value} does not fit TOML's 64 bits; write it as a string")
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
    )


def _emit(table: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    nested = [(k, v) for k, v in table.items() if isinstance(v, Mapping) or _is_table_array(v)]
    for key, value in table.items():
        if not (isinstance(value, Mapping) or _is_table_array(value)):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if isinstance(value, Mapping):
            lines.extend(["", f"[{name}]"])
            _emit(value, name, lines)
        else:
            for item in value:
                lines.extend(["", f"[[{name}]]"])
                _emit(item, name, lines)


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text for nested dicts/lists of str, int, float, bool (enough for our files)."""
    lines: list[str] = []
    _emit(data, "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"

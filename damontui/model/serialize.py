"""Schemes and monitoring attributes from plain dicts and TOML text (no I/O); the
writing side (dicts and TOML text out) is formats.toml_out, re-exported here.

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

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

# TOML output lives in formats.toml_out; re-exported here for the model's callers
from ..formats.toml_out import (
    attrs_to_dict,
    exact_duration,
    exact_size,
    scheme_to_dict,
    schemes_to_toml,
    to_toml,
)
from .attrs import IntervalsGoal, MonitoringAttrs
from .errors import UnknownKeyError, ValidationError
from .scheme import (
    AccessPattern,
    Action,
    Filter,
    FilterType,
    GoalMetric,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    Scheme,
    WatermarkMetric,
    Watermarks,
    parse_enum,
)
from .units import MAX_WORDS, U32_MAX, U64_MAX, parse_duration_us, parse_permil, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "exact_duration",
    "exact_size",
    "read_accesses",
    "read_age",
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

_E = TypeVar("_E", bound=Enum)
_R = TypeVar("_R")
_MAX_DIGITS = 40  # more than any DAMON value (u64: 20)
_INT_TEXT = re.compile(r"\s*([0-9][0-9_,]*)\s*([A-Za-zµ]*)\s*")
_BOOL_WORDS = {
    "y": True,
    "yes": True,
    "true": True,
    "1": True,
    "n": False,
    "no": False,
    "false": False,
    "0": False,
}


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# --- scalar readers: (value, key path) -> model value ---------------------------------


def _exact(value: object, path: str, parse: Callable[[str, str], int], upper: int) -> int:
    """Integers stay exact; 'max' is `upper`; '<int><unit>' multiplies exactly."""
    if isinstance(value, bool):
        raise ValidationError(path, value, "expected a number, not true/false")
    if isinstance(value, int):
        if value < 0:
            raise ValidationError(path, value, ">= 0")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise ValidationError(path, value, "a number, not nan")
        return parse(str(value), path) if math.isfinite(value) else upper
    if not isinstance(value, str):
        raise ValidationError(path, value, "expected a number or a string with a unit")
    text = value.strip()
    if text.lower() in MAX_WORDS:
        return upper
    if text.lower().startswith("0x"):
        try:
            if len(text) > _MAX_DIGITS:
                raise ValueError(text)
            return int(text, 16)
        except ValueError:
            raise ValidationError(path, value, "a hexadecimal number") from None
    match = _INT_TEXT.fullmatch(text)
    if match and len(match.group(1)) > _MAX_DIGITS:
        raise ValidationError(path, value, f"at most {_MAX_DIGITS} digits")
    if match:
        number = int(match.group(1).replace(",", "").replace("_", ""))
        try:
            unit_value = parse(f"1{match.group(2)}", path) if match.group(2) else 1
        except ValidationError:
            return parse(text, path)  # raises naming the value as typed
        if unit_value:  # 0 for sub-unit suffixes like 'ns': let the float parser round
            return number * unit_value
    return parse(text, path)


def _size(value: object, path: str) -> int:
    return _exact(value, path, parse_size, U64_MAX)


def _duration_us(value: object, path: str) -> int:
    return _exact(value, path, parse_duration_us, U64_MAX)


def _duration_ms(value: object, path: str) -> int:
    """Plain numbers are ms; strings with a unit must come to whole milliseconds."""
    if isinstance(value, str) and re.search("[A-Za-zµ]", value):
        us = _duration_us(value, path)
        if us % 1000 and us != U64_MAX:
            raise ValidationError(path, value, "a whole number of milliseconds")
        return us if us == U64_MAX else us // 1000
    return _count(value, path)


def _count(value: object, path: str, upper: int = U64_MAX) -> int:
    """A whole number ('1,000' too) or 'max' (-> `upper`)."""
    # Not units.parse_count: that goes through float (inexact above 2**53) and takes '1.5'.
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        if text.lower() in MAX_WORDS:
            return upper
        # ASCII only: '²'.isdigit() is True but int('²') fails (found by fuzzing);
        # int() refuses 4,300+ digits
        if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
            return int(text)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValidationError(path, value, "a whole number >= 0 or 'max'")


def _permil(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(path, value, "permil (0..1000) or a percentage like '30%'")
    return parse_permil(value, path)


def _bp(value: object, path: str) -> int:
    """Basis points from a number or '45%' (-> 4500)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            raise ValidationError(path, value, "a percentage like '45%'") from None
        if not 0 <= pct <= 1e15:  # also nan and inf
            raise ValidationError(path, value, "0% or more, finite")
        return round(pct * 100)
    return _count(value, path)


def _signed(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError(path, value, "a whole number")
    try:
        return int(value)
    except ValueError:
        raise ValidationError(path, value, "a whole number") from None


def _bool(value: object, path: str) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in _BOOL_WORDS:
        raise ValidationError(path, value, "true/false (or Y/N)")
    return _BOOL_WORDS[word]


def read_choice(enum_type: type[_E]) -> Callable[[object, str], _E]:
    """A reader of `enum_type` by value; the error lists the allowed values."""
    return lambda value, path: parse_enum(enum_type, value, path)


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(path, value, "a string")
    return value


def _safe(read: Callable[[object, str], _R]) -> Callable[[object, str], _R]:
    """`read` raising only ValidationError (a 5,000-digit field is a ValueError in int())."""

    def checked(value: object, path: str) -> _R:
        try:
            return read(value, path)
        except (ArithmeticError, ValueError, TypeError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(path, value, "not usable") from None

    return checked


# Public names for the editors, so a typed field and a file value parse the same way.
read_size = _safe(_size)
read_duration_us = _safe(_duration_us)
read_duration_ms = _safe(_duration_ms)
read_count = _safe(_count)
read_permil = _safe(_permil)
read_bp = _safe(_bp)
read_signed = _safe(_signed)
read_bool = _safe(_bool)


class _Table:
    """One input table: keys are taken out one by one; leftovers are unknown keys."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ValidationError(path or "<root>", data, "expected a table")
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.data

    def take(self, key: str, read: Callable[[object, str], Any], default: Any) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        try:
            return read(self.data[key], _join(self.path, key))
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(_join(self.path, key), self.data[key], "not usable") from None

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise UnknownKeyError(_join(self.path, key), self.used)


def _range(value: object, path: str, read: Callable[[object, str], int]) -> Range:
    if isinstance(value, Mapping):
        table = _Table(value, path)
        low = table.take("min", read, None)
        high = table.take("max", read, None)
        table.finish()
        if low is None or high is None:
            raise ValidationError(path, value, "needs both min and max")
        return Range(low, high)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return Range(read(value[0], f"{path}.min"), read(value[1], f"{path}.max"))
    raise ValidationError(path, value, "[min, max] or {min = .., max = ..}")


def _sequence(value: object, path: str) -> Sequence[object]:
    if not isinstance(value, (list, tuple)):
        raise ValidationError(path, value, "a list of tables")
    return value


# --- model objects from dicts ---------------------------------------------------------


def read_rate(value: object, path: str, attrs: MonitoringAttrs) -> int:
    """nr_accesses from an access rate in percent ('5%' or 5)."""
    max_nr = attrs.max_nr_accesses
    if isinstance(value, str) and value.strip().lower() in MAX_WORDS:
        return max_nr
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(path, value, "a percentage like '5%'")
    try:
        pct = float(str(value).strip().removesuffix("%"))
    except ValueError:
        raise ValidationError(path, value, "a percentage like '5%'") from None
    if not 0 <= pct <= 100:
        raise ValidationError(path, value, "0%..100%")
    return round(pct * max_nr / 100)


def read_accesses(value: object, path: str, attrs: MonitoringAttrs) -> int:
    """nr_accesses from a count ('3', 'max') or a percentage ('5%')."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return read_rate(value, path, attrs)
    return _count(value, path, U32_MAX)


def read_age(value: object, path: str, attrs: MonitoringAttrs) -> int:
    """Aggregations from a count ('50', 'max') or a time ('30s', rounded down)."""
    if isinstance(value, str) and re.search("[A-Za-zµ]", value):
        if value.strip().lower() in MAX_WORDS:
            return U32_MAX
        return min(U32_MAX, _duration_us(value, path) // attrs.aggr_us)
    return _count(value, path, U32_MAX)


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
    out = []
    for value in raw:
        timed = isinstance(value, str) and re.search("[A-Za-zµ]", value)
        if timed and value.strip().lower() not in MAX_WORDS:
            us = _duration_us(value, _join(path, "age"))
            out.append(us if us > 0 else -1)
        else:
            out.append(-1)
    return (out[0], out[1])


def _goal(data: object, path: str) -> QuotaGoal:
    table = _Table(data, path)
    goal = QuotaGoal(
        metric=table.take("metric", read_choice(GoalMetric), GoalMetric.USER_INPUT),
        target_value=table.take("target_value", _bp, 0),
        current_value=table.take("current_value", _bp, 0),
        nid=table.take("nid", _signed, 0),
        path=table.take("path", _str, ""),
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


def _prefixed(error: ValidationError, path: str) -> ValidationError:
    return ValidationError(_join(path, error.field), error.value, error.allowed)


def scheme_from_dict(
    data: object, attrs: MonitoringAttrs | None = None, path: str = ""
) -> Scheme:
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

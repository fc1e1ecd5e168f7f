"""Readers of single values and tables for the TOML/dict loaders (no I/O): each takes
(value, key path) and returns a model value or raises a ValidationError naming the path
and what is allowed. model.serialize builds schemes and attributes from these."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

from .attrs import MonitoringAttrs
from .errors import UnknownKeyError, ValidationError
from .scheme import Range, parse_enum
from .units import MAX_WORDS, U32_MAX, U64_MAX, parse_duration_us, parse_permil, parse_size

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


def read_age_us(value: object, path: str) -> int:
    """The time in us of an age bound given as one ('3s'), to be converted again
    against each aggregation interval in force; -1 for a count, 'max' or 0."""
    if not (isinstance(value, str) and re.search("[A-Za-zµ]", value)):
        return -1
    if value.strip().lower() in MAX_WORDS:
        return -1
    us = _duration_us(value, path)
    return us if 0 < us < U64_MAX else -1

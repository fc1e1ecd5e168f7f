"""Parse and format the human units DAMON users type: 5ms, 1s, 128MiB, 30%."""

from __future__ import annotations

import math
import re

from ..formats.units import format_size as format_size  # the one size formatter
from .errors import ValidationError

_NUMBER = r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*"

_DURATION_US = {
    "ns": 0.001,
    "us": 1,
    "µs": 1,
    "ms": 1000,
    "s": 1_000_000,
    "sec": 1_000_000,
    "m": 60_000_000,
    "min": 60_000_000,
    "h": 3_600_000_000,
    "hour": 3_600_000_000,
    "d": 86_400_000_000,
    "day": 86_400_000_000,
}

_SIZE_BYTES = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 1 << 40,
    "tib": 1 << 40,
    "p": 1 << 50,
    "pib": 1 << 50,
}

U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
_MAX_DIGITS = 40
MAX_WORDS = frozenset({"max", "unlimited", "inf"})  # all mean "the largest value"


def _split(text: str, field: str) -> tuple[float, str]:
    match = re.fullmatch(_NUMBER + r"([A-Za-zµ%]*)\s*", text)
    if not match:
        raise ValidationError(field, text, "expected a number with an optional unit")
    digits = match.group(1).replace(",", "").replace("_", "")
    if len(digits) > _MAX_DIGITS:  # float() would make it inf; no DAMON value is this long
        raise ValidationError(field, _short_text(text), f"at most {_MAX_DIGITS} digits")
    return float(digits), match.group(2)


def _short_text(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:28]}...({len(text)} chars)"


def parse_duration_us(value: str | int | float, field: str = "duration") -> int:
    """Microseconds from '5ms', '1 s', '100us', '2m' or a bare number (already us)."""
    if isinstance(value, (int, float)):
        return _non_negative_int(value, field)
    text = str(value).strip()
    if text.lower() in MAX_WORDS:
        return U64_MAX
    number, unit = _split(text, field)
    unit = unit.lower() or "us"
    if unit not in _DURATION_US:
        raise ValidationError(field, value, f"unknown time unit {unit!r}; use us, ms, s, m, h")
    return _non_negative_int(number * _DURATION_US[unit], field)


def parse_size(value: str | int | float, field: str = "size") -> int:
    """Bytes from '128MiB', '4 K', '1.5G', 'max' or a bare number of bytes."""
    if isinstance(value, (int, float)):
        return _non_negative_int(value, field)
    text = str(value).strip()
    if text.lower() in MAX_WORDS:
        return U64_MAX
    number, unit = _split(text, field)
    unit = unit.lower()
    if unit not in _SIZE_BYTES:
        raise ValidationError(field, value, f"unknown size unit {unit!r}; use B, KiB, MiB, GiB")
    return _non_negative_int(number * _SIZE_BYTES[unit], field)


def parse_permil(value: str | int | float, field: str = "ratio") -> int:
    """Permil from '30%' (-> 300), '300‰' or a bare number (already permil)."""
    if isinstance(value, (int, float)):
        return _non_negative_int(value, field)
    text = str(value).strip()
    if text.endswith("%"):
        number, _ = _split(text[:-1], field)
        return _non_negative_int(number * 10, field)
    text = text.removesuffix("‰").removesuffix("permil")
    number, unit = _split(text, field)
    if unit:
        raise ValidationError(field, value, "expected a percentage like '30%' or permil")
    return _non_negative_int(number, field)


def parse_count(value: str | int | float, field: str = "count") -> int:
    """A plain non-negative integer, accepting '1,000' and 'max'."""
    if isinstance(value, (int, float)):
        return _non_negative_int(value, field)
    text = str(value).strip()
    if text.lower() in MAX_WORDS:
        return U64_MAX
    number, unit = _split(text, field)
    if unit:
        raise ValidationError(field, value, "expected a whole number")
    return _non_negative_int(number, field)


def _non_negative_int(number: float, field: str) -> int:
    if isinstance(number, float) and not math.isfinite(number):  # nan, inf
        raise ValidationError(field, number, "must be a finite number ('max' for the largest)")
    if number < 0:
        raise ValidationError(field, number, "must be a non-negative number")
    result = int(round(number))
    if result > U64_MAX:
        raise ValidationError(field, number, f"must be at most {U64_MAX}")
    return result


def format_duration_us(us: int | float) -> str:
    """Short human duration: '850 us', '5 ms', '1.5 s', '2 m 30 s', '3 h 2 m'."""
    if us >= U64_MAX:
        return "max"
    if us < 1000:
        return f"{int(us)} us"
    if us < 1_000_000:
        return _short(us / 1000, "ms")
    seconds = us / 1_000_000
    if seconds < 60:
        return _short(seconds, "s")
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {sec} s" if sec else f"{minutes} m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} m" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _short(value: float, unit: str) -> str:
    """One decimal below 10 unless whole: '2.5 ms', '5 ms', '12 ms'."""
    return f"{value:.0f} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"


def format_permil(permil: int) -> str:
    """Permil as a percentage: 1000 -> '100 %', 5 -> '0.5 %'."""
    pct = permil / 10
    return f"{pct:.0f} %" if pct == int(pct) else f"{pct:.1f} %"


BUDGET_ALLOWED = "a percentage of one core above 0 and at most 100 (e.g. 2 or '2%'), or 'off'"


def parse_cpu_budget(value: object, key: str = "cpu_budget") -> float | None:
    """A CPU budget from the command line or the config; None means no budget."""
    text = str(value).strip().lower()
    if text in ("off", "none", "0", "0%"):
        return None
    try:
        percent = float(text.removesuffix("%")) if not isinstance(value, bool) else -1.0
    except ValueError:
        raise ValidationError(key, value, BUDGET_ALLOWED) from None
    if not 0 < percent <= 100:
        raise ValidationError(key, value, BUDGET_ALLOWED)
    return percent

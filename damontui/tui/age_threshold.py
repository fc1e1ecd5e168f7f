"""What a scheme's age thresholds mean under the intervals in force (for the editor).

An age bound typed as a time ('3s') is kept as that time (AccessPattern.age_us) and
converted again against the aggregation interval whenever the intervals change (live
edits, the smaps defaults, auto-tuning, the CPU budget: the editor gets the attrs in
force from each snapshot). A bound typed as a count stays a count. The editor keeps,
per age field, the time it holds (-1 for a count): from the loaded scheme while the
field is untouched, from the text once the user edits it. Pure functions, no widgets.
"""

from __future__ import annotations

from dataclasses import replace

from ..model import AccessPattern, MonitoringAttrs, Scheme, ValidationError
from ..model.serialize import exact_duration, read_age_us
from ..model.units import U32_MAX, format_duration_us
from .scheme_fields import value_text

AGE_KEYS = ("access_pattern.age.min", "access_pattern.age.max")


def loaded_age_us(pattern: AccessPattern) -> dict[str, int]:
    """Per age field, the time a loaded pattern holds (-1: a count)."""
    return dict(zip(AGE_KEYS, pattern.age_us, strict=True))


def typed_age_us(raw: object, key: str) -> int:
    """The time typed into an age field, in us (-1: a count, 'max' or not a time)."""
    try:
        return read_age_us(raw, key)
    except ValidationError:
        return -1  # the field shows the reader's error; nothing to keep


def age_field_text(key: str, age_us: dict[str, int]) -> str | None:
    """The text of an age field holding a time (exactly that time); None for a count."""
    us = age_us.get(key, -1)
    return None if us < 0 else str(exact_duration(us))


def age_count(key: str, age_us: dict[str, int], attrs: MonitoringAttrs) -> int | None:
    """The count of an age field holding a time, at ``attrs``; None for a count."""
    us = age_us.get(key, -1)
    return None if us < 0 else min(U32_MAX, us // attrs.aggr_us)


def refreshed_text(
    key: str,
    value: int,
    raw: object,
    old: MonitoringAttrs,
    new: MonitoringAttrs,
    age_us: dict[str, int],
) -> str | None:
    """For an age field holding a count and still showing the time it was drawn with
    (``value_text`` at ``old``): that count's time at ``new``. None: leave it alone
    (a time, or a text the user typed)."""
    if age_us.get(key, -1) >= 0:
        return None
    drawn = value_text(key, value, old)
    return value_text(key, value, new) if raw == drawn else None


def with_age_times(
    scheme: Scheme | None,
    pattern: AccessPattern | None,
    age_us: dict[str, int],
    attrs: MonitoringAttrs,
) -> tuple[Scheme | None, AccessPattern | None]:
    """The edited scheme and pattern with their age times kept, and the counts of
    time-given bounds converted at ``attrs`` (what DAMOS would use now)."""
    if pattern is None:
        return scheme, pattern
    times = (age_us.get(AGE_KEYS[0], -1), age_us.get(AGE_KEYS[1], -1))
    pattern = replace(pattern, age_us=times).effective(attrs.aggr_us)
    if scheme is not None:
        scheme = replace(scheme, access_pattern=pattern)
    return scheme, pattern


def _count(value: int) -> str:
    return "max" if value >= U32_MAX else str(value)


def age_hint(lo: int, hi: int, age_us: dict[str, int], attrs: MonitoringAttrs) -> str:
    """Next to the age inputs: the thresholds in aggregations at the interval in force,
    e.g. '≥ 3 s = 30 aggregations at 100 ms'. ``lo``/``hi`` are the counts at
    ``attrs`` (``age_count`` for the bounds given as times)."""
    t_lo, t_hi = (age_us.get(k, -1) for k in AGE_KEYS)
    if t_lo < 0 and t_hi < 0:
        return f"= {_count(lo)}..{_count(hi)} aggregations"
    at = f"aggregations at {format_duration_us(attrs.aggr_us)}"
    if t_lo >= 0 and hi >= U32_MAX:
        return f"≥ {format_duration_us(t_lo)} = {_count(lo)} {at}"
    if t_hi >= 0 and lo == 0:
        return f"≤ {format_duration_us(t_hi)} = {_count(hi)} {at}"
    times = "..".join(
        format_duration_us(t) if t >= 0 else _count(c) for t, c in ((t_lo, lo), (t_hi, hi))
    )
    return f"{times} = {_count(lo)}..{_count(hi)} {at}"

"""The scheme editor's fields as pure data: how each field's text is read into the
model (READERS), how a model value is shown (value_text), and how parsed values
become a validated Scheme (assemble). No widgets here: scheme_editor.py draws them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from ..model import (
    AccessPattern,
    Action,
    Dest,
    Filter,
    FilterType,
    GoalMetric,
    GoalTuner,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    Scheme,
    ValidationError,
    WatermarkMetric,
    Watermarks,
)
from ..model.serialize import (
    exact_duration,
    exact_size,
    read_accesses,
    read_age,
    read_bool,
    read_bp,
    read_choice,
    read_count,
    read_duration_ms,
    read_duration_us,
    read_permil,
    read_signed,
    read_size,
)
from ..model.units import U32_MAX

Reader = Callable[[Any, str, MonitoringAttrs], Any]
# fields shown as a Select
ENUM_TYPES = (Action, WatermarkMetric, GoalMetric, FilterType, GoalTuner)


def _plain(read: Callable[[object, str], Any]) -> Reader:
    return lambda raw, path, attrs: read(raw, path)


def _text(raw: Any, path: str, attrs: MonitoringAttrs) -> str:
    return str(raw).strip()


def _goal_value(raw: Any, path: str, attrs: MonitoringAttrs) -> int:
    """Basis points ('45%' or 4500), or for PSI a time ('10ms' or us)."""
    if isinstance(raw, str) and re.search("[a-zµ]", raw.strip().lower()):
        return read_duration_us(raw, path)
    return read_bp(raw, path)


DESTS_FORMAT = "nid:weight pairs separated by commas, e.g. 0:40,1:60 (empty: none)"


def read_dests(raw: Any, path: str, attrs: MonitoringAttrs | None = None) -> tuple[Dest, ...]:
    """'0:40,1:60' -> (Dest(0, 40), Dest(1, 60)); every number through read_count, so
    the errors are the TOML loader's, named by the whole field."""
    text = str(raw).strip()
    if not text:
        return ()
    dests = []
    for part in text.split(","):
        nid, sep, weight = part.partition(":")
        if not sep or not nid.strip() or not weight.strip():
            raise ValidationError(path, part.strip(), DESTS_FORMAT)
        try:
            dests.append(Dest(read_count(nid.strip(), path), read_count(weight.strip(), path)))
        except ValidationError:
            raise ValidationError(path, part.strip(), DESTS_FORMAT) from None
    return tuple(dests)


def dests_text(dests: Iterable[Dest]) -> str:
    return ",".join(f"{d.id}:{d.weight}" for d in dests)


READERS: dict[str, Reader] = {
    "name": _text,
    "action": _plain(read_choice(Action)),
    "access_pattern.sz.min": _plain(read_size),
    "access_pattern.sz.max": _plain(read_size),
    "access_pattern.nr_accesses.min": read_accesses,
    "access_pattern.nr_accesses.max": read_accesses,
    "access_pattern.age.min": read_age,
    "access_pattern.age.max": read_age,
    "quotas.ms": _plain(read_duration_ms),
    "quotas.bytes": _plain(read_size),
    "quotas.reset_interval_ms": _plain(read_duration_ms),
    "quotas.weights.sz_permil": _plain(read_permil),
    "quotas.weights.nr_accesses_permil": _plain(read_permil),
    "quotas.weights.age_permil": _plain(read_permil),
    "quotas.goal_tuner": _plain(read_choice(GoalTuner)),
    "quotas.fail_charge_num": _plain(read_count),
    "quotas.fail_charge_denom": _plain(read_count),
    "watermarks.metric": _plain(read_choice(WatermarkMetric)),
    "watermarks.interval_us": _plain(read_duration_us),
    "watermarks.high": _plain(read_permil),
    "watermarks.mid": _plain(read_permil),
    "watermarks.low": _plain(read_permil),
    "apply_interval_us": _plain(read_duration_us),
    "target_nid": _plain(read_signed),
    "dests": read_dests,
    "max_nr_snapshots": _plain(read_count),
}
GOAL_READERS: dict[str, Reader] = {
    "metric": _plain(read_choice(GoalMetric)),
    "target_value": _goal_value,
    "current_value": _goal_value,
    "nid": _plain(read_signed),
    "path": _text,
}
FILTER_READERS: dict[str, Reader] = {
    "type": _plain(read_choice(FilterType)),
    "matching": _plain(read_bool),
    "allow": _plain(read_bool),
    "memcg_path": _text,
    "addr_start": _plain(read_size),
    "addr_end": _plain(read_size),
    "target_idx": _plain(read_count),
    "min": _plain(read_size),
    "max": _plain(read_size),
}


# --- scheme <-> field texts (pure) -------------------------------------------------------


def _size_text(value: int) -> str:
    return str(exact_size(value))


def _time_text(us: int) -> str:
    return "0" if us == 0 else str(exact_duration(us))


def count_text(value: int) -> str:
    return "max" if value >= U32_MAX else str(value)


def _age_text(aggrs: int, attrs: MonitoringAttrs) -> str:
    return count_text(aggrs) if aggrs in (0, U32_MAX) else _time_text(aggrs * attrs.aggr_us)


def scheme_values(scheme: Scheme) -> dict[str, Any]:
    """The model values behind each top-level field key."""
    p, q, w = scheme.access_pattern, scheme.quotas, scheme.watermarks
    return {
        "name": scheme.name,
        "action": Action(scheme.action),
        "access_pattern.sz.min": p.sz.min,
        "access_pattern.sz.max": p.sz.max,
        "access_pattern.nr_accesses.min": p.nr_accesses.min,
        "access_pattern.nr_accesses.max": p.nr_accesses.max,
        "access_pattern.age.min": p.age.min,
        "access_pattern.age.max": p.age.max,
        "quotas.ms": q.ms,
        "quotas.bytes": q.bytes,
        "quotas.reset_interval_ms": q.reset_interval_ms,
        "quotas.weights.sz_permil": q.weights.sz_permil,
        "quotas.weights.nr_accesses_permil": q.weights.nr_accesses_permil,
        "quotas.weights.age_permil": q.weights.age_permil,
        "quotas.goal_tuner": GoalTuner(q.goal_tuner),
        "quotas.fail_charge_num": q.fail_charge_num,
        "quotas.fail_charge_denom": q.fail_charge_denom,
        "watermarks.metric": WatermarkMetric(w.metric),
        "watermarks.interval_us": w.interval_us,
        "watermarks.high": w.high,
        "watermarks.mid": w.mid,
        "watermarks.low": w.low,
        "apply_interval_us": scheme.apply_interval_us,
        "target_nid": scheme.target_nid,
        "dests": scheme.dests,
        "max_nr_snapshots": scheme.max_nr_snapshots,
    }


def value_text(key: str, value: Any, attrs: MonitoringAttrs) -> str:
    """How a field shows `value`; parsing the text gives `value` back."""
    field = key.rsplit(".", 1)[-1]
    if isinstance(value, ENUM_TYPES):
        return value.value
    if isinstance(value, bool):
        return "Y" if value else "N"
    if key == "dests":
        return dests_text(value)
    if ".age." in key:
        return _age_text(value, attrs)
    if ".nr_accesses." in key:
        return count_text(value)
    if field in ("ms", "reset_interval_ms"):
        return _time_text(value * 1000)
    if field in ("interval_us", "apply_interval_us"):
        return _time_text(value)
    if ".sz." in key or field in ("bytes", "min", "max"):
        return _size_text(value)
    if field in ("addr_start", "addr_end"):
        return hex(value) if value else "0"
    return str(value)


def assemble(
    simple: Mapping[str, Any],
    goals: list[dict[str, Any]],
    filters: list[dict[str, Any]],
    base: Scheme | None = None,
) -> tuple[Scheme | None, AccessPattern | None, dict[str, str]]:
    """Build and validate a Scheme from parsed values (None = failed to parse).
    `base`, the scheme being edited, is kept for callers (every field is shown now).

    Returns the scheme (None unless everything is valid), the access pattern
    (None unless it is valid) and model errors by field key.
    """
    errors: dict[str, str] = {}

    def valid(check: Callable[[], object]) -> bool:
        try:
            check()
        except ValidationError as exc:
            # a destination's own error belongs to the one dests field
            key = "dests" if exc.field.startswith("dests[") else exc.field
            errors.setdefault(key, str(exc))
            return False
        return True

    def complete(values: Mapping[str, Any], keys: Iterable[str]) -> bool:
        return all(values.get(k) is not None for k in keys)

    pattern = None
    if complete(simple, [k for k in READERS if k.startswith("access_pattern.")]):
        sz, nr_accesses, age = (
            Range(simple[f"access_pattern.{n}.min"], simple[f"access_pattern.{n}.max"])
            for n in ("sz", "nr_accesses", "age")
        )
        candidate = AccessPattern(sz, nr_accesses, age)
        pattern = candidate if valid(candidate.validate) else None
    goal_objs = [QuotaGoal(**g) for g in goals if complete(g, GOAL_READERS)]
    goals_ok = len(goal_objs) == len(goals) and all(
        [valid(partial(g.validate, i)) for i, g in enumerate(goal_objs)]
    )
    quotas = None
    if goals_ok and complete(simple, [k for k in READERS if k.startswith("quotas.")]):
        candidate_q = Quotas(
            simple["quotas.ms"],
            simple["quotas.bytes"],
            simple["quotas.reset_interval_ms"],
            QuotaWeights(
                *(simple[f"quotas.weights.{n}_permil"] for n in ("sz", "nr_accesses", "age"))
            ),
            tuple(goal_objs),
            simple["quotas.goal_tuner"],
            simple["quotas.fail_charge_num"],
            simple["quotas.fail_charge_denom"],
        )
        quotas = candidate_q if valid(candidate_q.validate) else None
    marks = None
    if complete(simple, [k for k in READERS if k.startswith("watermarks.")]):
        candidate_w = Watermarks(
            *(simple[f"watermarks.{n}"] for n in ("metric", "interval_us", "high", "mid", "low"))
        )
        marks = candidate_w if valid(candidate_w.validate) else None
    filter_objs = [Filter(**f) for f in filters if complete(f, FILTER_READERS)]
    filters_ok = len(filter_objs) == len(filters) and all(
        [valid(partial(f.validate, i)) for i, f in enumerate(filter_objs)]
    )
    rest = complete(
        simple, ("name", "action", "apply_interval_us", "target_nid", "dests", "max_nr_snapshots")
    )
    if not (pattern and quotas and marks and filters_ok and rest) or errors:
        return None, pattern, errors
    scheme = Scheme(
        simple["action"],
        pattern,
        quotas,
        marks,
        tuple(filter_objs),
        simple["apply_interval_us"],
        simple["target_nid"],
        simple["name"],
        simple["dests"],
        simple["max_nr_snapshots"],
    )
    return (scheme if valid(scheme.validate) else None), pattern, errors
